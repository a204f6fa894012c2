// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the relay's per-datagram decision (relay_input),
 * RELAY_BIND parsing included, with grants and expiry in between.
 *
 * The input is a script of records  op[1] len[1] bytes[len]  run against
 * a fresh relay of 3 allocations (6 ports) with a fixed clock:
 *   op & 3 == 0  raw datagram (bytes) on port index (op>>2) % 6 from
 *                source (op>>5) (8 sources, both families)
 *   op & 3 == 1  a valid RELAY_BIND for that port under its side's key,
 *                counter from bytes[0..7], then bytes[8..] xored into
 *                it (so the MAC check sees near misses)
 *   op & 3 == 2  advance the clock by bytes[0] seconds, expire
 *   op & 3 == 3  grant between test keys (op>>2)&3 and (op>>4)&3
 * After every datagram the harness checks the decision against a
 * model: a forward goes out of the partner port, to the other side's
 * bound source, only for a datagram from this side's bound source that
 * is not a bind; a bind changes nothing else.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include <sodium.h>

#include "relay.h"
#include "script.h"

#define N_KEYS 4
#define N_PORTS 6

static uint8_t keys[N_KEYS][WGP_KEY_LEN];

static void setup(void)
{
	static bool ready;
	int i;

	if (ready)
		return;
	if (sodium_init() < 0)
		abort();
	for (i = 0; i < N_KEYS; i++)
		memset(keys[i], 0x10 + i, WGP_KEY_LEN);
	ready = true;
}

static struct wgp_endpoint source(unsigned int i)
{
	struct wgp_endpoint ep = { .port = (uint16_t)(51820 + (i & 3)) };

	if (i & 4) {
		ep.family = AF_INET6;
		ep.addr[0] = 0x20;
		ep.addr[1] = 0x01;
		ep.addr[2] = 0x0d;
		ep.addr[3] = 0xb8;
		ep.addr[15] = (uint8_t)i;
	} else {
		ep.family = AF_INET;
		ep.addr[0] = 198;
		ep.addr[1] = 18;
		ep.addr[3] = (uint8_t)i;
	}
	return ep;
}

static void check(const struct relay *r, unsigned int idx,
		  const struct wgp_endpoint *src, const uint8_t *pkt,
		  size_t len, const struct relay_alloc *before,
		  enum relay_verdict v, const struct relay_route *route)
{
	const struct relay_alloc *a = &r->allocs[idx / 2];
	const struct relay_side *me = &before->side[idx & 1];
	const struct relay_side *other = &before->side[!(idx & 1)];

	switch (v) {
	case RELAY_FORWARD:
		if (!before->live || relay_bind_shaped(pkt, len) ||
		    !wgp_endpoint_equal(src, &me->bound) ||
		    !other->bound.family || route->out != (idx ^ 1) ||
		    !wgp_endpoint_equal(&route->dst, &other->bound))
			abort();
		break;
	case RELAY_BOUND:
		if (!before->live || !relay_bind_shaped(pkt, len) ||
		    !wgp_endpoint_equal(&a->side[idx & 1].bound, src) ||
		    a->side[idx & 1].bind_counter <= me->bind_counter)
			abort();
		break;
	case RELAY_DROP:
		/* Nothing moved. */
		if (memcmp(&a->side[0].bound, &before->side[0].bound,
			   sizeof(struct wgp_endpoint)) ||
		    memcmp(&a->side[1].bound, &before->side[1].bound,
			   sizeof(struct wgp_endpoint)))
			abort();
		break;
	}
	/* The other side never changes because of this side's datagram. */
	if (memcmp(&a->side[!(idx & 1)].bound, &other->bound,
		   sizeof(struct wgp_endpoint)))
		abort();
}

static void deliver(struct relay *r, unsigned int idx,
		    struct wgp_endpoint src, const uint8_t *pkt, size_t len,
		    uint64_t now)
{
	struct wgp_endpoint local = { 0 };
	struct relay_alloc before = r->allocs[idx / 2];
	struct relay_route route;
	enum relay_verdict v;

	v = relay_input(r, idx, &src, &local, pkt, len, now, &route);
	check(r, idx, &src, pkt, len, &before, v, &route);
}

static void bind_near_miss(struct relay *r, unsigned int idx,
			   struct wgp_endpoint src, const uint8_t *data,
			   size_t len, uint64_t now)
{
	uint8_t pkt[RELAY_BIND_LEN];
	uint64_t counter = 0;
	size_t i;

	for (i = 0; i < 8 && i < len; i++)
		counter = counter << 8 | data[i];
	relay_bind_encode(pkt, r->allocs[idx / 2].side[idx & 1].bind_key,
			  (uint16_t)(r->cfg.first + idx), counter);
	for (i = 8; i < len && i - 8 < RELAY_BIND_LEN; i++)
		pkt[i - 8] ^= data[i];
	deliver(r, idx, src, pkt, sizeof(pkt), now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relay_ticket t1, t2;
	struct relay_config cfg;
	struct relay r;
	uint64_t now = 1000;
	bool created;
	size_t len;
	uint8_t op;

	setup();
	relay_config_defaults(&cfg);
	cfg.first = 40000;
	cfg.last = 40000 + N_PORTS - 1;
	cfg.rate = 20000;	/* small: the byte bucket runs dry */
	cfg.per_key = 2;
	if (relay_init(&r, &cfg) < 0)
		abort();
	while (script_next(&data, &size, &op, &len)) {
		switch (op & 3) {
		case 0:
			deliver(&r, (op >> 2) % N_PORTS, source(op >> 5), data,
				len, now);
			break;
		case 1:
			bind_near_miss(&r, (op >> 2) % N_PORTS, source(op >> 5),
				       data, len, now);
			break;
		case 2:
			now += (uint64_t)(len ? data[0] : 1) * 1000;
			relay_expire(&r, now, 2);
			break;
		case 3:
			relay_grant(&r, keys[(op >> 2) & 3],
				    keys[(op >> 4) & 3], now, &t1, &t2,
				    &created);
			break;
		}
		if (r.live > r.n_allocs)
			abort();
		data += len;
		size -= len;
	}
	relay_free(&r);
	return 0;
}
