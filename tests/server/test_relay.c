// SPDX-License-Identifier: MIT
/*
 * The relay's allocation table and per-datagram decision (relay.c)
 * without sockets: grants, reuse, limits, binds, forwarding, the byte
 * bucket and idle expiry, driven with real RELAY_BIND datagrams.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include <sodium.h>

#include "relay.h"

#define FIRST 40000

static struct relay *relay_new(uint16_t ports, uint64_t rate,
			       uint32_t per_key)
{
	struct relay *r = calloc(1, sizeof(*r));
	struct relay_config cfg;

	assert_non_null(r);
	relay_config_defaults(&cfg);
	cfg.first = FIRST;
	cfg.last = (uint16_t)(FIRST + ports - 1);
	cfg.rate = rate;
	cfg.per_key = per_key;
	assert_int_equal(relay_init(r, &cfg), 0);
	return r;
}

static void relay_del(struct relay *r)
{
	relay_free(r);
	free(r);
}

static void key(uint8_t k[WGP_KEY_LEN], uint8_t first)
{
	randombytes_buf(k, WGP_KEY_LEN);
	k[0] = first;	/* fixes which key is side 0 */
}

static struct wgp_endpoint v4(uint8_t host, uint16_t port)
{
	return (struct wgp_endpoint){ .family = AF_INET, .port = port,
				      .addr = { 198, 18, 0, host } };
}

static unsigned int idx_of(uint16_t port)
{
	return (unsigned int)(port - FIRST);
}

/* A pair granted: a is the smaller key (side 0). */
struct pair {
	uint8_t a[WGP_KEY_LEN], b[WGP_KEY_LEN];
	struct relay_ticket ta, tb;
};

static void grant_pair(struct relay *r, struct pair *p, uint64_t now)
{
	struct relay_ticket back, other;
	bool created;

	key(p->a, 1);
	key(p->b, 2);
	assert_int_equal(relay_grant(r, p->a, p->b, now, &p->ta, &p->tb,
				     &created), 0);
	assert_true(created);
	assert_int_equal(p->tb.port, p->ta.port + 1);
	/* The other side asking gets the same allocation, seen from its
	 * side. */
	assert_int_equal(relay_grant(r, p->b, p->a, now, &back, &other,
				     &created), 0);
	assert_false(created);
	assert_int_equal(back.port, p->tb.port);
	assert_memory_equal(back.bind_key, p->tb.bind_key, 32);
	assert_int_equal(other.port, p->ta.port);
}

static enum relay_verdict send_bind(struct relay *r,
				    const struct relay_ticket *t,
				    struct wgp_endpoint src, uint64_t counter,
				    uint64_t now)
{
	uint8_t pkt[RELAY_BIND_LEN];
	struct wgp_endpoint local = { 0 };
	struct relay_route route;

	relay_bind_encode(pkt, t->bind_key, t->port, counter);
	return relay_input(r, idx_of(t->port), &src, &local, pkt, sizeof(pkt),
			   now, &route);
}

static enum relay_verdict send_data(struct relay *r, uint16_t port,
				    struct wgp_endpoint src, size_t len,
				    uint64_t now, struct relay_route *route)
{
	uint8_t pkt[2048] = { 4, 0, 0, 0 };	/* WireGuard data */
	struct wgp_endpoint local = { 0 };

	assert_true(len <= sizeof(pkt));
	return relay_input(r, idx_of(port), &src, &local, pkt, len, now,
			   route);
}

static void test_config(void **state)
{
	struct relay_config cfg;
	struct relay r;
	const char *why;

	(void)state;
	relay_config_defaults(&cfg);
	assert_int_equal(cfg.idle_s, 60);
	assert_int_equal(cfg.rate, 12500000);
	assert_int_equal(cfg.per_key, 8);
	/* Off by default, and off is valid. */
	assert_int_equal(relay_config_check(&cfg, &why), 0);
	assert_int_equal(relay_init(&r, &cfg), 0);
	assert_false(relay_enabled(&r));
	assert_int_equal(relay_ports(&r), 0);
	relay_free(&r);

	cfg.first = 40001;
	cfg.last = 40000;
	assert_int_equal(relay_config_check(&cfg, &why), -EINVAL);
	assert_non_null(strstr(why, "reversed"));
	cfg.first = 40000;
	assert_int_equal(relay_config_check(&cfg, &why), -EINVAL);
	assert_non_null(strstr(why, "even"));
	cfg.last = 40000 + 8192;	/* 8193 ports */
	assert_int_equal(relay_config_check(&cfg, &why), -EINVAL);
	cfg.last = 40000 + 8193;	/* 8194 */
	assert_int_equal(relay_config_check(&cfg, &why), -EINVAL);
	assert_non_null(strstr(why, "8192"));
	assert_int_equal(relay_init(&r, &cfg), -EINVAL);
	cfg.last = 40000 + 8191;	/* 8192: the most */
	assert_int_equal(relay_config_check(&cfg, &why), 0);
	assert_int_equal(relay_init(&r, &cfg), 0);
	assert_int_equal(r.n_allocs, 4096);
	assert_int_equal(relay_ports(&r), 8192);
	relay_free(&r);
}

static void test_grant_and_reuse(void **state)
{
	struct relay *r = relay_new(8, 0, 8);
	struct relay_ticket t1, t2, u1, u2;
	uint8_t a[32], b[32], c[32];
	bool created;

	(void)state;
	key(a, 1);
	key(b, 2);
	key(c, 3);
	assert_int_equal(relay_grant(r, b, a, 5, &t1, &t2, &created), 0);
	assert_true(created);
	/* Side 0 is the smaller key (a), whoever asked: b got the odd
	 * port of the first pair. */
	assert_int_equal(t1.port, FIRST + 1);
	assert_int_equal(t2.port, FIRST);
	assert_memory_not_equal(t1.bind_key, t2.bind_key, 32);
	/* Reuse, either way round: same ports, same keys. */
	assert_int_equal(relay_grant(r, a, b, 6, &u1, &u2, &created), 0);
	assert_false(created);
	assert_int_equal(u1.port, t2.port);
	assert_memory_equal(u1.bind_key, t2.bind_key, 32);
	assert_memory_equal(u2.bind_key, t1.bind_key, 32);
	/* Another pair: the next two ports. */
	assert_int_equal(relay_grant(r, a, c, 7, &u1, &u2, &created), 0);
	assert_true(created);
	assert_int_equal(u1.port, FIRST + 2);
	assert_int_equal(u2.port, FIRST + 3);
	assert_int_equal(r->live, 2);
	assert_int_equal(r->st.created, 2);
	assert_int_equal(r->st.grants, 3);
	/* Oneself: no. */
	assert_int_equal(relay_grant(r, a, a, 8, &u1, &u2, &created), -EINVAL);
	relay_del(r);
}

static void test_full(void **state)
{
	struct relay *r = relay_new(4, 0, 8);	/* two allocations */
	struct relay_ticket t1, t2;
	uint8_t k[4][32];
	bool created;
	int i;

	(void)state;
	for (i = 0; i < 4; i++)
		key(k[i], (uint8_t)i);
	assert_int_equal(relay_grant(r, k[0], k[1], 1, &t1, &t2, &created), 0);
	assert_int_equal(relay_grant(r, k[2], k[3], 1, &t1, &t2, &created), 0);
	assert_int_equal(relay_grant(r, k[0], k[2], 1, &t1, &t2, &created),
			 -ENOSPC);
	assert_int_equal(r->st.full, 1);
	/* A live pair still gets its own. */
	assert_int_equal(relay_grant(r, k[1], k[0], 1, &t1, &t2, &created), 0);
	assert_false(created);
	relay_del(r);
}

static void test_per_key_limit(void **state)
{
	struct relay *r = relay_new(20, 0, 3);
	struct relay_ticket t1, t2;
	uint8_t hub[32], k[6][32];
	bool created;
	int i;

	(void)state;
	key(hub, 0);
	for (i = 0; i < 6; i++)
		key(k[i], (uint8_t)(i + 1));
	for (i = 0; i < 3; i++)
		assert_int_equal(relay_grant(r, hub, k[i], 1, &t1, &t2,
					     &created), 0);
	/* The hub is in three: a fourth is refused, as requester or as
	 * target, though ports are free. */
	assert_int_equal(relay_grant(r, hub, k[3], 1, &t1, &t2, &created),
			 -ENOSPC);
	assert_int_equal(relay_grant(r, k[4], hub, 1, &t1, &t2, &created),
			 -ENOSPC);
	/* Others are not limited by the hub. */
	assert_int_equal(relay_grant(r, k[4], k[5], 1, &t1, &t2, &created), 0);
	/* Expiry gives the hub its allowance back. */
	assert_int_equal(relay_expire(r, 1 + 60000, 100), 4);
	assert_int_equal(r->live, 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(relay_grant(r, hub, k[i + 3], 60002, &t1, &t2,
					     &created), 0);
	relay_del(r);
}

static void test_bind_and_forward(void **state)
{
	struct relay *r = relay_new(8, 0, 8);
	struct wgp_endpoint ea = v4(1, 51820), eb = v4(2, 1234);
	struct relay_route route;
	struct pair p;

	(void)state;
	grant_pair(r, &p, 10);
	/* Nothing bound: data is dropped, cheaply. */
	assert_int_equal(send_data(r, p.ta.port, ea, 100, 11, &route),
			 RELAY_DROP);
	assert_int_equal(r->st.drop_unbound, 1);
	/* A binds; its data waits for B. */
	assert_int_equal(send_bind(r, &p.ta, ea, 100, 12), RELAY_BOUND);
	assert_int_equal(send_data(r, p.ta.port, ea, 100, 13, &route),
			 RELAY_DROP);
	assert_int_equal(r->st.drop_peer_unbound, 1);
	assert_int_equal(send_bind(r, &p.tb, eb, 7, 14), RELAY_BOUND);
	/* Both ways, each from the partner port to the bound mapping. */
	assert_int_equal(send_data(r, p.ta.port, ea, 100, 15, &route),
			 RELAY_FORWARD);
	assert_int_equal(route.out, idx_of(p.tb.port));
	assert_true(wgp_endpoint_equal(&route.dst, &eb));
	assert_int_equal(send_data(r, p.tb.port, eb, 1400, 16, &route),
			 RELAY_FORWARD);
	assert_int_equal(route.out, idx_of(p.ta.port));
	assert_true(wgp_endpoint_equal(&route.dst, &ea));
	assert_int_equal(r->st.fwd_packets, 2);
	assert_int_equal(r->st.fwd_bytes, 1500);
	assert_int_equal(r->st.binds_ok, 2);
	relay_del(r);
}

static void test_spoofed_source(void **state)
{
	struct relay *r = relay_new(8, 0, 8);
	struct wgp_endpoint ea = v4(1, 51820), eb = v4(2, 1234);
	struct wgp_endpoint other_port = v4(1, 51821);
	struct wgp_endpoint other_host = v4(9, 51820);
	struct relay_route route;
	struct pair p;

	(void)state;
	grant_pair(r, &p, 10);
	assert_int_equal(send_bind(r, &p.ta, ea, 1, 10), RELAY_BOUND);
	assert_int_equal(send_bind(r, &p.tb, eb, 1, 10), RELAY_BOUND);
	/* Same host other port, other host same port, the peer's own
	 * address on the wrong port: none is forwarded. */
	assert_int_equal(send_data(r, p.ta.port, other_port, 100, 11, &route),
			 RELAY_DROP);
	assert_int_equal(send_data(r, p.ta.port, other_host, 100, 11, &route),
			 RELAY_DROP);
	assert_int_equal(send_data(r, p.ta.port, eb, 100, 11, &route),
			 RELAY_DROP);
	assert_int_equal(r->st.drop_unbound, 3);
	/* The pair is undisturbed. */
	assert_int_equal(send_data(r, p.ta.port, ea, 100, 12, &route),
			 RELAY_FORWARD);
	assert_true(wgp_endpoint_equal(&route.dst, &eb));
	/* A port with no allocation drops everything. */
	assert_int_equal(send_data(r, FIRST + 6, ea, 100, 12, &route),
			 RELAY_DROP);
	assert_int_equal(r->st.drop_free, 1);
	/* An index past the range too (the loop never passes one). */
	assert_int_equal(send_data(r, FIRST + 8, ea, 100, 12, &route),
			 RELAY_DROP);
	relay_del(r);
}

static void test_rebind_and_replay(void **state)
{
	struct relay *r = relay_new(8, 0, 8);
	struct wgp_endpoint ea = v4(1, 51820), ea2 = v4(1, 60000);
	struct wgp_endpoint eb = v4(2, 1234), attacker = v4(66, 6666);
	struct relay_ticket wrong;
	struct relay_route route;
	uint8_t pkt[RELAY_BIND_LEN];
	struct wgp_endpoint local = { 0 };
	struct pair p;
	uint64_t now = 100;

	(void)state;
	grant_pair(r, &p, now);
	assert_int_equal(send_bind(r, &p.ta, ea, 1000, now), RELAY_BOUND);
	assert_int_equal(send_bind(r, &p.tb, eb, 5, now), RELAY_BOUND);
	/* A's NAT rebinds: a higher counter from the new mapping moves the
	 * side; the old mapping is no longer forwarded. */
	now += 1000;
	assert_int_equal(send_bind(r, &p.ta, ea2, 1001, now), RELAY_BOUND);
	assert_int_equal(send_data(r, p.ta.port, ea, 100, now, &route),
			 RELAY_DROP);
	assert_int_equal(send_data(r, p.ta.port, ea2, 100, now, &route),
			 RELAY_FORWARD);
	assert_int_equal(send_data(r, p.tb.port, eb, 100, now, &route),
			 RELAY_FORWARD);
	assert_true(wgp_endpoint_equal(&route.dst, &ea2));
	/* A captured bind replayed from elsewhere: refused, side stays. */
	relay_bind_encode(pkt, p.ta.bind_key, p.ta.port, 1001);
	assert_int_equal(relay_input(r, idx_of(p.ta.port), &attacker, &local,
				     pkt, sizeof(pkt), now, &route),
			 RELAY_DROP);
	relay_bind_encode(pkt, p.ta.bind_key, p.ta.port, 1000);
	assert_int_equal(relay_input(r, idx_of(p.ta.port), &attacker, &local,
				     pkt, sizeof(pkt), now, &route),
			 RELAY_DROP);
	assert_int_equal(r->st.binds_bad, 2);
	/* B's key on A's port, A's key for B's port: refused. */
	wrong = p.tb;
	wrong.port = p.ta.port;
	assert_int_equal(send_bind(r, &wrong, attacker, 5000, now), RELAY_DROP);
	wrong = p.ta;
	wrong.port = p.tb.port;
	assert_int_equal(send_bind(r, &wrong, attacker, 5000, now), RELAY_DROP);
	assert_int_equal(r->st.binds_bad, 4);
	assert_int_equal(send_data(r, p.tb.port, eb, 100, now, &route),
			 RELAY_FORWARD);
	assert_true(wgp_endpoint_equal(&route.dst, &ea2));
	/* A bind is never forwarded, even from the bound source. */
	assert_int_equal(send_bind(r, &p.ta, ea2, 1002, now), RELAY_BOUND);
	relay_del(r);
}

/* Binds are charged before the MAC: a flood of forged binds spends the
 * side's bucket, and a genuine one waits for the refill. */
static void test_bind_rate(void **state)
{
	struct relay *r = relay_new(8, 0, 8);
	struct wgp_endpoint ea = v4(1, 51820), attacker = v4(66, 6666);
	struct relay_ticket forged;
	struct pair p;
	uint64_t now = 1000;
	int i;

	(void)state;
	grant_pair(r, &p, now);
	forged = p.ta;
	forged.bind_key[0] ^= 1;
	for (i = 0; i < RELAY_BIND_BURST; i++)
		assert_int_equal(send_bind(r, &forged, attacker,
					   10 + (uint64_t)i, now), RELAY_DROP);
	assert_int_equal(r->st.binds_bad, RELAY_BIND_BURST);
	for (i = 0; i < 100; i++)
		assert_int_equal(send_bind(r, &forged, attacker, 100, now),
				 RELAY_DROP);
	/* Past the burst: not even verified. */
	assert_int_equal(r->st.binds_bad, RELAY_BIND_BURST);
	assert_int_equal(r->st.drop_bind_rate, 100);
	assert_int_equal(send_bind(r, &p.ta, ea, 1, now), RELAY_DROP);
	/* The other side's bucket is its own. */
	assert_int_equal(send_bind(r, &p.tb, ea, 1, now), RELAY_BOUND);
	/* 100 ms later: one token. */
	now += 100;
	assert_int_equal(send_bind(r, &p.ta, ea, 2, now), RELAY_BOUND);
	relay_del(r);
}

static void test_byte_rate(void **state)
{
	/* 100 kB/s: a burst of 100 kB, then 100 bytes per ms. */
	struct relay *r = relay_new(8, 100000, 8);
	struct wgp_endpoint ea = v4(1, 51820), eb = v4(2, 1234);
	struct relay_route route;
	struct pair p;
	uint64_t now = 5000;
	unsigned int i, sent = 0;

	(void)state;
	grant_pair(r, &p, now);
	assert_int_equal(send_bind(r, &p.ta, ea, 1, now), RELAY_BOUND);
	assert_int_equal(send_bind(r, &p.tb, eb, 1, now), RELAY_BOUND);
	for (i = 0; i < 100; i++)
		if (send_data(r, p.ta.port, ea, 1000, now, &route) ==
		    RELAY_FORWARD)
			sent++;
	assert_int_equal(sent, 100);
	/* Empty now, in both directions (one bucket per allocation). */
	assert_int_equal(send_data(r, p.ta.port, ea, 1000, now, &route),
			 RELAY_DROP);
	assert_int_equal(send_data(r, p.tb.port, eb, 1, now, &route),
			 RELAY_DROP);
	assert_int_equal(r->st.drop_rate, 2);
	/* 10 ms refill 1000 bytes. */
	now += 10;
	assert_int_equal(send_data(r, p.ta.port, ea, 1000, now, &route),
			 RELAY_FORWARD);
	assert_int_equal(send_data(r, p.ta.port, ea, 1, now, &route),
			 RELAY_DROP);
	/* Tiny datagrams cost 64 bytes each: 1 ms = 100 bytes = one. */
	now += 1;
	assert_int_equal(send_data(r, p.ta.port, ea, 1, now, &route),
			 RELAY_FORWARD);
	assert_int_equal(send_data(r, p.ta.port, ea, 1, now, &route),
			 RELAY_DROP);
	/* A long pause refills one second's worth, no more. */
	now += 3600 * 1000;
	for (i = 0, sent = 0; i < 200; i++)
		if (send_data(r, p.tb.port, eb, 1000, now, &route) ==
		    RELAY_FORWARD)
			sent++;
	assert_int_equal(sent, 100);
	relay_del(r);
}

static void test_idle_expiry(void **state)
{
	struct relay *r = relay_new(8, 0, 8);
	struct wgp_endpoint ea = v4(1, 51820), eb = v4(2, 1234);
	struct relay_route route;
	struct relay_ticket t1, t2;
	struct pair p, q;
	uint64_t now = 1000;
	bool created;

	(void)state;
	grant_pair(r, &p, now);		/* used */
	grant_pair(r, &q, now);		/* never bound */
	assert_int_equal(send_bind(r, &p.ta, ea, 1, now), RELAY_BOUND);
	assert_int_equal(send_bind(r, &p.tb, eb, 1, now), RELAY_BOUND);
	now += 59000;
	assert_int_equal(send_data(r, p.ta.port, ea, 100, now, &route),
			 RELAY_FORWARD);
	assert_int_equal(relay_expire(r, now, 100), 0);
	/* q was never used: gone after 60 s; p lives on its traffic. */
	now += 1000;
	assert_int_equal(relay_expire(r, now, 100), 1);
	assert_int_equal(r->live, 1);
	assert_int_equal(send_data(r, p.tb.port, eb, 100, now, &route),
			 RELAY_FORWARD);
	/* q's ports are free: its old bind key no longer binds. */
	assert_int_equal(send_bind(r, &q.ta, ea, 2, now), RELAY_DROP);
	assert_int_equal(r->st.drop_free, 1);
	/* Silence for 60 s frees p too. */
	now += 60000;
	assert_int_equal(relay_expire(r, now, 100), 1);
	assert_int_equal(r->live, 0);
	assert_int_equal(r->st.expired, 2);
	assert_int_equal(send_data(r, p.ta.port, ea, 100, now, &route),
			 RELAY_DROP);
	/* The same pair asking again gets a new allocation with new keys,
	 * and the freed ports are reused last (FIFO). */
	assert_int_equal(relay_grant(r, p.a, p.b, now, &t1, &t2, &created), 0);
	assert_true(created);
	assert_memory_not_equal(t1.bind_key, p.ta.bind_key, 32);
	assert_int_equal(t1.port, FIRST + 4);
	relay_del(r);
}

/* Expiry does bounded work: a budget of 1 frees at most 1. */
static void test_expiry_budget(void **state)
{
	struct relay *r = relay_new(16, 0, 8);
	struct pair p[8];
	int i;

	(void)state;
	for (i = 0; i < 8; i++)
		grant_pair(r, &p[i], 0);
	assert_int_equal(relay_expire(r, 60000, 1), 1);
	assert_int_equal(relay_expire(r, 60000, 3), 3);
	assert_int_equal(r->live, 4);
	assert_int_equal(relay_expire(r, 60000, 100), 4);
	assert_int_equal(r->live, 0);
	/* Keys' allowances are all returned. */
	for (i = 0; i < 8; i++)
		grant_pair(r, &p[i], 60000);
	relay_del(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_grant_and_reuse),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_per_key_limit),
		cmocka_unit_test(test_bind_and_forward),
		cmocka_unit_test(test_spoofed_source),
		cmocka_unit_test(test_rebind_and_replay),
		cmocka_unit_test(test_bind_rate),
		cmocka_unit_test(test_byte_rate),
		cmocka_unit_test(test_idle_expiry),
		cmocka_unit_test(test_expiry_budget),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
