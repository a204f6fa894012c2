// SPDX-License-Identifier: MIT
/*
 * wgpunchd — server state: creation, teardown, housekeeping.
 */
#include <errno.h>
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

/* The source and NOTIFY destination tables: same size, rate, burst and
 * IPv6 prefix; separate buckets, so neither can use up the other. */
static int limits_init(struct server *srv, const struct server_config *cfg)
{
	size_t sets = cfg->rl_sets ? cfg->rl_sets : SERVER_RL_SETS;
	unsigned int prefix6 = cfg->ipv6_prefix ? cfg->ipv6_prefix :
			       RL_DEFAULT_PREFIX6;
	int ret;

	ret = ratelimit_init(&srv->rl, sets, cfg->rate, cfg->burst);
	if (ret < 0)
		return ret;
	ret = ratelimit_init(&srv->notify_rl, sets, cfg->rate, cfg->burst);
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
	ret = registry_init(&srv->reg, cfg->capacity, cfg->consent_chunks);
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
	demand = cfg->dh_rate ? (cfg->dh_rate + 1) / 2 : 0;
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

uint64_t server_next_stamp(struct server *srv, uint64_t now_ns)
{
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
