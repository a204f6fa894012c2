// SPDX-License-Identifier: MIT
/*
 * wgpunchd — relay allocations and the per-datagram decision (see
 * relay.h). The forwarding path is a handful of compares and one token
 * bucket: the MAC of a bind runs only for bind-shaped datagrams, and
 * only within the side's bind budget, charged first so that a spoofed
 * flood of binds costs a bucket update each and nothing more.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "relay.h"

#define NIL UINT32_MAX

void relay_config_defaults(struct relay_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->idle_s = RELAY_DEFAULT_IDLE_S;
	cfg->rate = RELAY_DEFAULT_RATE;
	cfg->per_key = RELAY_DEFAULT_PER_KEY;
}

int relay_config_check(const struct relay_config *cfg, const char **why)
{
	unsigned int count;

	*why = NULL;
	if (!cfg->first)
		return 0;	/* off */
	if (cfg->last < cfg->first)
		*why = "the range is reversed (FIRST must not exceed LAST)";
	else if ((count = (unsigned int)cfg->last - cfg->first + 1U) % 2)
		*why = "the range must hold an even number of ports (two per "
		       "allocation)";
	else if (count > RELAY_MAX_PORTS)
		*why = "the range holds more than 8192 ports";
	else if (!cfg->idle_s)
		*why = "the idle timeout must be at least 1 second";
	else if (!cfg->per_key)
		*why = "each key needs at least 1 allocation";
	return *why ? -EINVAL : 0;
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

int relay_init(struct relay *r, const struct relay_config *cfg)
{
	const char *why;
	uint32_t i, nb, nkb;

	memset(r, 0, sizeof(*r));
	r->cfg = *cfg;
	if (relay_config_check(cfg, &why) < 0)
		return -EINVAL;
	if (!cfg->first)
		return 0;
	r->n_allocs = ((uint32_t)cfg->last - cfg->first + 1U) / 2;
	nb = pow2_at_least(r->n_allocs);
	nkb = pow2_at_least(2 * r->n_allocs);
	r->allocs = calloc(r->n_allocs, sizeof(*r->allocs));
	r->buckets = malloc(nb * sizeof(*r->buckets));
	r->kc = calloc(2 * r->n_allocs, sizeof(*r->kc));
	r->kc_buckets = malloc(nkb * sizeof(*r->kc_buckets));
	if (!r->allocs || !r->buckets || !r->kc || !r->kc_buckets) {
		relay_free(r);
		return -ENOMEM;
	}
	r->bucket_mask = nb - 1;
	for (i = 0; i < nb; i++)
		r->buckets[i] = NIL;
	for (i = 0; i < nkb; i++)
		r->kc_buckets[i] = NIL;
	/* Free allocations in port order; key count entries on a stack. */
	for (i = 0; i < r->n_allocs; i++)
		r->allocs[i].next = i + 1 < r->n_allocs ? i + 1 : NIL;
	r->free_head = 0;
	r->free_tail = r->n_allocs - 1;
	for (i = 0; i < 2 * r->n_allocs; i++)
		r->kc[i].next = i + 1 < 2 * r->n_allocs ? i + 1 : NIL;
	r->kc_free = 0;
	randombytes_buf(r->hash_key, sizeof(r->hash_key));
	return 0;
}

void relay_free(struct relay *r)
{
	if (r->allocs)
		sodium_memzero(r->allocs, r->n_allocs * sizeof(*r->allocs));
	free(r->allocs);
	free(r->buckets);
	free(r->kc);
	free(r->kc_buckets);
	memset(r, 0, sizeof(*r));
}

/* ---- hashing ------------------------------------------------------- */

/* The pair's keys in side order: side 0 is the smaller. */
static void pair_order(const uint8_t *a, const uint8_t *b,
		       const uint8_t **lo, const uint8_t **hi)
{
	bool a_lo = memcmp(a, b, WGP_KEY_LEN) < 0;

	*lo = a_lo ? a : b;
	*hi = a_lo ? b : a;
}

static uint64_t hash_bytes(const struct relay *r, const uint8_t *p,
			   size_t len)
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, p, len, r->hash_key);
	memcpy(&v, h, sizeof(v));
	return v;
}

static uint32_t pair_bucket(const struct relay *r, const uint8_t *lo,
			    const uint8_t *hi)
{
	uint8_t both[2 * WGP_KEY_LEN];

	memcpy(both, lo, WGP_KEY_LEN);
	memcpy(both + WGP_KEY_LEN, hi, WGP_KEY_LEN);
	return (uint32_t)hash_bytes(r, both, sizeof(both)) & r->bucket_mask;
}

static uint32_t key_bucket(const struct relay *r, const uint8_t *key)
{
	uint32_t mask = pow2_at_least(2 * r->n_allocs) - 1;

	return (uint32_t)hash_bytes(r, key, WGP_KEY_LEN) & mask;
}

/* ---- allocations per key ------------------------------------------- */

static uint32_t kc_find(const struct relay *r, const uint8_t *key)
{
	uint32_t i = r->kc_buckets[key_bucket(r, key)];

	while (i != NIL && memcmp(r->kc[i].key, key, WGP_KEY_LEN))
		i = r->kc[i].next;
	return i;
}

static uint32_t kc_count(const struct relay *r, const uint8_t *key)
{
	uint32_t i = kc_find(r, key);

	return i == NIL ? 0 : r->kc[i].count;
}

/* Each live allocation holds at most two entries, and the pool has two
 * per allocation: it cannot run out. */
static void kc_add(struct relay *r, const uint8_t *key)
{
	uint32_t i = kc_find(r, key), b;

	if (i == NIL) {
		i = r->kc_free;
		r->kc_free = r->kc[i].next;
		b = key_bucket(r, key);
		memcpy(r->kc[i].key, key, WGP_KEY_LEN);
		r->kc[i].count = 0;
		r->kc[i].next = r->kc_buckets[b];
		r->kc_buckets[b] = i;
	}
	r->kc[i].count++;
}

static void kc_sub(struct relay *r, const uint8_t *key)
{
	uint32_t b = key_bucket(r, key), *link = &r->kc_buckets[b], i;

	for (i = *link; i != NIL; link = &r->kc[i].next, i = *link) {
		if (memcmp(r->kc[i].key, key, WGP_KEY_LEN))
			continue;
		if (--r->kc[i].count)
			return;
		*link = r->kc[i].next;
		r->kc[i].next = r->kc_free;
		r->kc_free = i;
		return;
	}
}

/* ---- grant --------------------------------------------------------- */

static uint32_t alloc_find(const struct relay *r, const uint8_t *lo,
			   const uint8_t *hi)
{
	uint32_t i = r->buckets[pair_bucket(r, lo, hi)];

	while (i != NIL &&
	       (memcmp(r->allocs[i].side[0].key, lo, WGP_KEY_LEN) ||
		memcmp(r->allocs[i].side[1].key, hi, WGP_KEY_LEN)))
		i = r->allocs[i].next;
	return i;
}

static uint16_t side_port(const struct relay *r, uint32_t alloc, int side)
{
	return (uint16_t)(r->cfg.first + 2 * alloc + (uint32_t)side);
}

/* Log with key prefixes: enough to tell peers apart, short lines. */
static void log_alloc(const struct relay *r, uint32_t i, const char *what)
{
	const struct relay_alloc *a = &r->allocs[i];
	char k0[WGP_KEY_B64_SIZE], k1[WGP_KEY_B64_SIZE];

	if (!log_enabled(LOG_LEVEL_INFO))
		return;
	wgp_key_to_base64(k0, a->side[0].key);
	wgp_key_to_base64(k1, a->side[1].key);
	log_info("relay %s: %.8s... port %u <-> %.8s... port %u, "
		 "%llu packets, %llu bytes", what,
		 k0, side_port(r, i, 0), k1, side_port(r, i, 1),
		 (unsigned long long)a->packets, (unsigned long long)a->bytes);
}

static void side_init(struct relay_side *s, const uint8_t *key,
		      uint64_t now)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->key, key, WGP_KEY_LEN);
	randombytes_buf(s->bind_key, sizeof(s->bind_key));
	token_bucket_init(&s->binds, RELAY_BIND_RATE, RELAY_BIND_BURST, now);
}

static uint32_t alloc_create(struct relay *r, const uint8_t *lo,
			     const uint8_t *hi, uint64_t now)
{
	uint32_t i = r->free_head, b;
	struct relay_alloc *a;

	if (i == NIL || kc_count(r, lo) >= r->cfg.per_key ||
	    kc_count(r, hi) >= r->cfg.per_key)
		return NIL;
	a = &r->allocs[i];
	r->free_head = a->next;
	if (r->free_head == NIL)
		r->free_tail = NIL;
	side_init(&a->side[0], lo, now);
	side_init(&a->side[1], hi, now);
	a->active = now;
	a->refilled = now;
	a->tokens = r->cfg.rate;	/* burst: one second's worth */
	a->packets = a->bytes = 0;
	a->live = true;
	b = pair_bucket(r, lo, hi);
	a->next = r->buckets[b];
	r->buckets[b] = i;
	kc_add(r, lo);
	kc_add(r, hi);
	r->live++;
	r->st.created++;
	log_alloc(r, i, "allocated");
	return i;
}

static void ticket(const struct relay *r, uint32_t i, int side,
		   struct relay_ticket *t)
{
	t->port = side_port(r, i, side);
	memcpy(t->bind_key, r->allocs[i].side[side].bind_key, RELAY_KEY_LEN);
}

int relay_grant(struct relay *r, const uint8_t me[static WGP_KEY_LEN],
		const uint8_t peer[static WGP_KEY_LEN], uint64_t now,
		struct relay_ticket *mine, struct relay_ticket *theirs,
		bool *created)
{
	const uint8_t *lo, *hi;
	uint32_t i;
	int my_side;

	if (!relay_enabled(r) || !memcmp(me, peer, WGP_KEY_LEN))
		return -EINVAL;
	pair_order(me, peer, &lo, &hi);
	my_side = lo == me ? 0 : 1;
	i = alloc_find(r, lo, hi);
	*created = i == NIL;
	if (i == NIL)
		i = alloc_create(r, lo, hi, now);
	if (i == NIL) {
		r->st.full++;
		return -ENOSPC;
	}
	r->allocs[i].active = now;
	r->st.grants++;
	ticket(r, i, my_side, mine);
	ticket(r, i, !my_side, theirs);
	return 0;
}

/* ---- data path ----------------------------------------------------- */

/* Byte bucket of an allocation: rate bytes/s, burst one second. */
static bool bytes_allow(struct relay_alloc *a, uint64_t rate, size_t len,
			uint64_t now)
{
	uint64_t cost = len < RELAY_MIN_CHARGE ? RELAY_MIN_CHARGE : len;

	if (!rate)
		return true;
	if (now > a->refilled) {
		uint64_t dt = now - a->refilled;

		a->tokens = dt >= 1000 ? rate : a->tokens + dt * rate / 1000;
		if (a->tokens > rate)
			a->tokens = rate;
		a->refilled = now;
	}
	if (a->tokens < cost)
		return false;
	a->tokens -= cost;
	return true;
}

/*
 * A bind-shaped datagram for side s of allocation i. The relay never
 * sends a bind-shaped datagram itself (binds are consumed here, never
 * forwarded), so a side cannot be bound to one of the relay's own ports
 * and two allocations cannot be chained into a loop.
 */
static enum relay_verdict side_bind(struct relay *r, struct relay_side *s,
				    uint16_t port,
				    const struct wgp_endpoint *src,
				    const struct wgp_endpoint *local,
				    const uint8_t *pkt, size_t len,
				    uint64_t now)
{
	uint64_t counter;

	if (!token_bucket_take(&s->binds, now)) {
		r->st.drop_bind_rate++;
		return RELAY_DROP;
	}
	if (relay_bind_verify(pkt, len, s->bind_key, port, &counter) < 0 ||
	    counter <= s->bind_counter) {
		r->st.binds_bad++;
		return RELAY_DROP;
	}
	s->bind_counter = counter;
	s->bound = *src;
	s->local = *local;
	r->st.binds_ok++;
	return RELAY_BOUND;
}

enum relay_verdict relay_input(struct relay *r, unsigned int idx,
			       const struct wgp_endpoint *src,
			       const struct wgp_endpoint *local,
			       const uint8_t *pkt, size_t len, uint64_t now,
			       struct relay_route *route)
{
	struct relay_alloc *a;
	struct relay_side *me, *other;

	if (idx >= relay_ports(r)) {
		r->st.drop_free++;
		return RELAY_DROP;
	}
	a = &r->allocs[idx >> 1];
	me = &a->side[idx & 1];
	other = &a->side[!(idx & 1)];
	if (!a->live) {
		r->st.drop_free++;
		return RELAY_DROP;
	}
	if (relay_bind_shaped(pkt, len))
		return side_bind(r, me, (uint16_t)(r->cfg.first + idx), src,
				 local, pkt, len, now);
	/* Never bound: family 0 equals no source. */
	if (!wgp_endpoint_equal(src, &me->bound)) {
		r->st.drop_unbound++;
		return RELAY_DROP;
	}
	if (!other->bound.family) {
		r->st.drop_peer_unbound++;
		return RELAY_DROP;
	}
	if (!bytes_allow(a, r->cfg.rate, len, now)) {
		r->st.drop_rate++;
		return RELAY_DROP;
	}
	a->active = now;
	a->packets++;
	a->bytes += len;
	r->st.fwd_packets++;
	r->st.fwd_bytes += len;
	route->out = idx ^ 1;
	route->dst = other->bound;
	route->src = other->local;
	return RELAY_FORWARD;
}

/* ---- expiry -------------------------------------------------------- */

static void alloc_release(struct relay *r, uint32_t i)
{
	struct relay_alloc *a = &r->allocs[i];
	uint32_t *link = &r->buckets[pair_bucket(r, a->side[0].key,
						 a->side[1].key)];

	while (*link != i)
		link = &r->allocs[*link].next;
	*link = a->next;
	kc_sub(r, a->side[0].key);
	kc_sub(r, a->side[1].key);
	log_alloc(r, i, "expired");
	sodium_memzero(a, sizeof(*a));
	/* To the back of the queue: a freed pair of ports rests while
	 * every other free pair is used, so late datagrams of the old
	 * pair rarely meet a new allocation (they would be dropped
	 * anyway: new sides are unbound). */
	a->next = NIL;
	if (r->free_tail == NIL)
		r->free_head = i;
	else
		r->allocs[r->free_tail].next = i;
	r->free_tail = i;
	r->live--;
	r->st.expired++;
}

size_t relay_expire(struct relay *r, uint64_t now, size_t budget)
{
	uint64_t idle_ms = (uint64_t)r->cfg.idle_s * 1000;
	size_t freed = 0, examined, limit = 4 * budget;

	if (!relay_enabled(r))
		return 0;
	if (limit > r->n_allocs)
		limit = r->n_allocs;
	for (examined = 0; examined < limit && freed < budget; examined++) {
		uint32_t i = r->sweep;
		struct relay_alloc *a = &r->allocs[i];

		r->sweep = i + 1 < r->n_allocs ? i + 1 : 0;
		if (a->live && now >= a->active &&
		    now - a->active >= idle_ms) {
			alloc_release(r, i);
			freed++;
		}
	}
	return freed;
}
