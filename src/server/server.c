// SPDX-License-Identifier: MIT
/*
 * wgpunchd — server state: creation, teardown, housekeeping.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "server.h"

void server_config_defaults(struct server_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->port[PORT_MAIN] = WGP_PORT;
	cfg->port[PORT_PROBE] = WGP_PROBE_PORT;
	cfg->ttl = SERVER_DEFAULT_TTL;
	cfg->capacity = SERVER_DEFAULT_CAPACITY;
	cfg->legacy_capacity = SERVER_DEFAULT_LEGACY_CAPACITY;
	cfg->rate = SERVER_DEFAULT_RATE;
	cfg->burst = SERVER_DEFAULT_BURST;
	cfg->dh_rate = SERVER_DEFAULT_DH_RATE;
	cfg->ipv6_prefix = RL_DEFAULT_PREFIX6;
	relay_config_defaults(&cfg->relay);
}

/* x / workers rounded up: a worker's share of a budget, never 0 for a
 * budget that is not 0. */
static uint32_t share(uint32_t x, const struct server_config *cfg)
{
	unsigned int n = cfg->workers > 1 ? cfg->workers : 1;

	return (uint32_t)(((uint64_t)x + n - 1) / n);
}

static size_t share_size(size_t x, const struct server_config *cfg)
{
	size_t n = cfg->workers > 1 ? cfg->workers : 1;

	return (x + n - 1) / n;
}

/* The source and NOTIFY destination tables: same size, rate, burst and
 * IPv6 prefix; separate buckets, so neither can use up the other. In a
 * group each worker has its share of the rate and burst: a source's
 * requests spread over the workers by key (doc/protocol.md §5.1). */
static int limits_init(struct server *srv, const struct server_config *cfg)
{
	size_t sets = cfg->rl_sets ? cfg->rl_sets : SERVER_RL_SETS;
	unsigned int prefix6 = cfg->ipv6_prefix ? cfg->ipv6_prefix :
			       RL_DEFAULT_PREFIX6;
	uint32_t rate = share(cfg->rate, cfg), burst = share(cfg->burst, cfg);
	int ret;

	ret = ratelimit_init(&srv->rl, sets, rate, burst);
	if (ret < 0)
		return ret;
	ret = ratelimit_init(&srv->notify_rl, sets, rate, burst);
	if (ret < 0)
		return ret;
	ret = ratelimit_set_prefix6(&srv->rl, prefix6);
	if (ret < 0)
		return ret;
	return ratelimit_set_prefix6(&srv->notify_rl, prefix6);
}

int server_init(struct server *srv, const struct server_config *cfg,
		const uint8_t priv[static WGP_KEY_LEN], uint64_t now)
{
	uint32_t demand;
	int ret;

	memset(srv, 0, sizeof(*srv));
	if (sodium_init() < 0)
		return -EIO;
	if ((uint64_t)cfg->ttl * 1000000000ULL < WGP_COUNTER_WINDOW_NS)
		return -EINVAL;
	srv->cfg = *cfg;
	srv->start_ns = wgp_now_ns();
	memcpy(srv->priv, priv, WGP_KEY_LEN);
	ret = wgp_key_public(srv->pub, priv);
	if (ret < 0)
		goto err;
	ret = registry_init(&srv->reg, share_size(cfg->capacity, cfg),
			    share_size(cfg->consent_chunks, cfg));
	if (ret < 0)
		goto err;
	if (cfg->legacy) {
		ret = legacy_init(&srv->legacy, cfg->legacy_capacity);
		if (ret < 0)
			goto err;
	}
	ret = limits_init(srv, cfg);
	if (ret < 0)
		goto err;
	token_bucket_init(&srv->dh, cfg->dh_rate, cfg->dh_rate, now);
	/* Demand may run at half the budget, with a burst of 1/64 s of
	 * it (but a few requests at least): a flood's first instant must
	 * not buy it a stall of X25519s, while datagrams pile up behind
	 * them (a whole budget's burst is half a second of CPU). 0 stays
	 * unlimited. */
	demand = cfg->dh_rate ? share((cfg->dh_rate + 1) / 2, cfg) : 0;
	token_bucket_init(&srv->demand, demand,
			  demand / 64 > DEMAND_MIN_BURST ? demand / 64 :
							  DEMAND_MIN_BURST,
			  now);
	cookie_init(&srv->cookies, now);
	seen_init(&srv->seen, now);
	ret = relay_init(&srv->relay, &cfg->relay);
	if (ret < 0)
		goto err;
	return 0;
err:
	server_free(srv);
	return ret;
}

void server_free(struct server *srv)
{
	registry_free(&srv->reg);
	if (srv->legacy.entries)
		legacy_free(&srv->legacy);
	ratelimit_free(&srv->rl);
	ratelimit_free(&srv->notify_rl);
	relay_free(&srv->relay);
	cookie_free(&srv->cookies);
	seen_free(&srv->seen);
	sodium_memzero(srv->priv, sizeof(srv->priv));
}

int server_group_init(struct server_group *g, unsigned int n,
		      const struct server_config *cfg,
		      const uint8_t priv[static WGP_KEY_LEN], uint64_t now)
{
	struct server_config wcfg = *cfg;
	unsigned int i;
	int ret;

	memset(g, 0, sizeof(*g));
	if (!n)
		return -EINVAL;
	g->srv = calloc(n, sizeof(*g->srv));
	g->parts = calloc(n, sizeof(*g->parts));
	if (!g->srv || !g->parts) {
		free(g->srv);
		free(g->parts);
		return -ENOMEM;
	}
	wcfg.workers = n;
	atomic_bucket_init(&g->dh, cfg->dh_rate, cfg->dh_rate, now);
	for (i = 0; i < n; i++, g->n++) {
		wcfg.legacy = cfg->legacy && i == 0;
		ret = server_init(&g->srv[i], &wcfg, priv, now);
		if (ret < 0) {
			server_group_free(g);
			return ret;
		}
		/* Before anything is inserted: fingerprints must agree. */
		registry_share_keys(&g->srv[i].reg, &g->srv[0].reg);
		g->srv[i].start_ns = g->srv[0].start_ns;
		g->parts[i] = &g->srv[i].reg;
	}
	for (i = 0; i < n && n > 1; i++) {
		g->srv[i].parts = g->parts;
		g->srv[i].n_parts = n;
		g->srv[i].shared_dh = &g->dh;
		g->srv[i].shared_stamp = &g->last_stamp;
	}
	return 0;
}

void server_group_free(struct server_group *g)
{
	unsigned int i;

	for (i = 0; i < g->n; i++)
		server_free(&g->srv[i]);
	free(g->srv);
	free(g->parts);
	memset(g, 0, sizeof(*g));
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint32_t server_measure_dh_rate(unsigned int n)
{
	uint8_t priv[crypto_scalarmult_SCALARBYTES];
	uint8_t pub[crypto_scalarmult_BYTES], out[crypto_scalarmult_BYTES];
	uint64_t start, ns, rate;
	unsigned int i;

	if (!n)
		return 0;
	randombytes_buf(priv, sizeof(priv));
	crypto_scalarmult_base(pub, priv);
	start = mono_ns();
	/* Chained, as the server's would be on different keys: each
	 * result is the next point, so none can be skipped. */
	for (i = 0; i < n; i++)
		if (crypto_scalarmult(out, priv, pub) == 0)
			memcpy(pub, out, sizeof(pub));
	ns = mono_ns() - start;
	sodium_memzero(priv, sizeof(priv));
	rate = (uint64_t)n * 1000000000ULL / (ns ? ns : 1);
	return rate > UINT32_MAX ? UINT32_MAX : (uint32_t)rate;
}

/* In a group: the same, over all workers at once. */
static uint64_t shared_next_stamp(_Atomic uint64_t *last, uint64_t now_ns)
{
	uint64_t old = atomic_load_explicit(last, memory_order_relaxed), next;

	do {
		next = now_ns > old ? now_ns : old + 1;
	} while (!atomic_compare_exchange_weak_explicit(last, &old, next,
							memory_order_relaxed,
							memory_order_relaxed));
	return next;
}

uint64_t server_next_stamp(struct server *srv, uint64_t now_ns)
{
	if (srv->shared_stamp)
		return shared_next_stamp(srv->shared_stamp, now_ns);
	srv->last_stamp = now_ns > srv->last_stamp ? now_ns :
			  srv->last_stamp + 1;
	return srv->last_stamp;
}

void server_tick(struct server *srv, uint64_t now)
{
	/* Each call examines up to 4 x budget slots: the whole array is
	 * swept within ~16 s, well inside one TTL. */
	size_t budget = srv->reg.bump / 64 + 256;

	registry_expire(&srv->reg, now, budget);
	if (srv->legacy.entries)
		legacy_expire(&srv->legacy, now, srv->legacy.bump / 64 + 256);
	/* At most 4096 allocations: all of them within a few ticks. */
	relay_expire(&srv->relay, now, srv->relay.n_allocs / 4 + 16);
}

struct out_msg *outq_reserve(struct outq *q)
{
	if (q->n == q->cap) {
		if (q->flush)
			q->flush(q, q->ctx);
		if (q->n == q->cap)
			q->n = 0;	/* no way out: drop the batch */
	}
	return &q->msgs[q->n++];
}

_Static_assert(sizeof(struct server_stats) == 21 * sizeof(uint64_t),
	       "server_stats changed: update server_stats_add");

SERVER_RACY_READER
void server_stats_add(struct server_stats *sum, const struct server_stats *s)
{
	sum->rx += s->rx;
	sum->bad += s->bad;
	sum->ratelimited += s->ratelimited;
	sum->dh += s->dh;
	sum->dh_dropped += s->dh_dropped;
	sum->forged += s->forged;
	sum->key_limited += s->key_limited;
	sum->notify_limited += s->notify_limited;
	sum->registers += s->registers;
	sum->lookups += s->lookups;
	sum->probes += s->probes;
	sum->notifies += s->notifies;
	sum->errors += s->errors;
	sum->legacy += s->legacy;
	sum->relays += s->relays;
	sum->tx_dropped += s->tx_dropped;
	sum->cookies += s->cookies;
	sum->cookie_ok += s->cookie_ok;
	sum->replayed += s->replayed;
	sum->full += s->full;
	sum->shed += s->shed;
}
