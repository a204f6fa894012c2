/* SPDX-License-Identifier: MIT */
/*
 * Path choice by evidence (src/client/path.c): candidates learned and
 * merged, the probe schedule (backoff, failure, heartbeats), replies
 * accepted only for the probe in flight to exactly that address, the
 * order lan > ipv6 > mapped > ipv4 > relayed, a working path kept against one that is not
 * better, a lost path noticed at PATH_LOST_MS, and the set bounded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include "endpoint.h"
#include "path.h"

static struct sockaddr_storage sa(const char *s)
{
	struct sockaddr_storage ss;

	assert_int_equal(endpoint_parse(s, strlen(s), 0, &ss), 0);
	return ss;
}

static struct path_cand *learn(struct path_set *ps, enum cand_source src,
			       const char *addr, uint64_t now)
{
	struct sockaddr_storage ss = sa(addr);

	return path_learn(ps, src, (struct sockaddr *)&ss, now);
}

static const uint8_t txid_a[WGP_TXID_LEN] = { 1 };
static const uint8_t txid_b[WGP_TXID_LEN] = { 2 };

/* Probe c at now with txid and get its reply rtt ms later. */
static void prove(struct path_set *ps, struct path_cand *c, uint64_t now,
		  unsigned int rtt)
{
	struct sockaddr_storage ss = c->addr;

	path_sent(ps, c, txid_a, now);
	assert_ptr_equal(path_answered(ps, (struct sockaddr *)&ss, txid_a, now + rtt), c);
}

static void test_kinds(void **state)
{
	struct sockaddr_storage v4 = sa("198.18.3.2:51820");
	struct sockaddr_storage v6 = sa("[2001:db8:b::2]:51820");

	(void)state;
	assert_int_equal(path_kind_of(CAND_HOST, (struct sockaddr *)&v4), PATH_LAN);
	assert_int_equal(path_kind_of(CAND_SERVER, (struct sockaddr *)&v4), PATH_IPV4);
	assert_int_equal(path_kind_of(CAND_PEER, (struct sockaddr *)&v4), PATH_IPV4);
	assert_int_equal(path_kind_of(CAND_HOST, (struct sockaddr *)&v6), PATH_IPV6);
	assert_int_equal(path_kind_of(CAND_SERVER, (struct sockaddr *)&v6), PATH_IPV6);
	assert_true(PATH_LAN > PATH_IPV6 && PATH_IPV6 > PATH_IPV4 && PATH_IPV4 > PATH_NONE);
	assert_string_equal(path_kind_name(PATH_LAN), "lan");
	assert_string_equal(path_kind_name(PATH_NONE), "none");
	assert_string_equal(cand_source_name(CAND_PEER), "peer");
}

static void test_learn_merges(void **state)
{
	struct path_set ps;
	struct path_cand *c, *d;

	(void)state;
	path_init(&ps);
	c = learn(&ps, CAND_PEER, "198.19.1.3:51820", 100);
	assert_non_null(c);
	assert_int_equal(c->kind, PATH_IPV4);
	assert_int_equal(c->due_ms, 100);	/* probe at once */
	/* The same address said to be the peer's own: one entry, host. */
	d = learn(&ps, CAND_HOST, "198.19.1.3:51820", 200);
	assert_ptr_equal(c, d);
	assert_int_equal(ps.n, 1);
	assert_int_equal(c->source, CAND_HOST);
	assert_int_equal(c->kind, PATH_LAN);
	assert_int_equal(c->seen_ms, 200);
	/* ... and stays host when it shows up as a probe's source. */
	learn(&ps, CAND_PEER, "198.19.1.3:51820", 300);
	assert_int_equal(c->source, CAND_HOST);
	/* Another port is another candidate. */
	learn(&ps, CAND_SERVER, "198.19.1.3:51821", 300);
	assert_int_equal(ps.n, 2);
}

static void test_reply_must_match(void **state)
{
	struct sockaddr_storage other = sa("198.18.4.2:51820");
	struct path_set ps;
	struct path_cand *c;

	(void)state;
	path_init(&ps);
	c = learn(&ps, CAND_SERVER, "198.18.3.2:51820", 0);
	/* Nothing in flight: nothing proven. */
	assert_null(path_answered(&ps, (struct sockaddr *)&c->addr, txid_a, 5));
	path_sent(&ps, c, txid_a, 10);
	/* Wrong txid, or the right one from another address: no. */
	assert_null(path_answered(&ps, (struct sockaddr *)&c->addr, txid_b, 12));
	assert_null(path_answered(&ps, (struct sockaddr *)&other, txid_a, 12));
	assert_false(path_alive(c, 12));
	assert_ptr_equal(path_answered(&ps, (struct sockaddr *)&c->addr, txid_a, 13), c);
	assert_true(path_alive(c, 13));
	assert_int_equal(c->rtt_us, 3000);
	/* A replay of the same reply proves nothing more. */
	assert_null(path_answered(&ps, (struct sockaddr *)&c->addr, txid_a, 14));
}

static void test_backoff_and_failure(void **state)
{
	const uint64_t expect[] = { 0, 250, 750, 1750, 2750 };
	struct path_set ps;
	struct path_cand *c;
	uint64_t now = 0;

	(void)state;
	path_init(&ps);
	c = learn(&ps, CAND_SERVER, "198.18.3.2:51820", 0);
	for (unsigned int i = 0; i < 5; i++) {
		assert_int_equal(c->due_ms, expect[i]);
		if (i)
			assert_false(path_due(c, c->due_ms - 1));
		now = c->due_ms;
		assert_true(path_due(c, now));
		path_sent(&ps, c, txid_a, now);
		assert_int_equal(path_state(c, now), CAND_PROBING);
	}
	assert_false(c->ever_failed);
	/* One second after the fifth probe it counts as failed. */
	assert_int_equal(c->due_ms, 3750);
	path_sent(&ps, c, txid_a, 3750);
	assert_true(c->ever_failed);
	assert_int_equal(path_state(c, 3750), CAND_FAILED);
	assert_string_equal(c->error, "no answer to probes");
	/* Then one probe every PATH_RETRY_MS; a late answer revives it. */
	assert_int_equal(c->due_ms, 3750 + PATH_RETRY_MS);
	assert_ptr_equal(path_answered(&ps, (struct sockaddr *)&c->addr, txid_a, 3800), c);
	assert_false(c->ever_failed);
	assert_int_equal(path_state(c, 3800), CAND_OK);
}

static void test_burst_counts_once(void **state)
{
	struct path_set ps;
	struct path_cand *c;

	(void)state;
	path_init(&ps);
	c = learn(&ps, CAND_SERVER, "198.18.3.2:51820", 0);
	/* Probes asked for in quick succession (NOTIFY, reply, LOOKUP):
	 * the earlier ones had no time to be answered. */
	for (unsigned int i = 0; i < 10; i++)
		path_sent(&ps, c, txid_a, i * 10);
	assert_int_equal(c->unanswered, 0);
	assert_false(c->ever_failed);
}

static void test_choice_order(void **state)
{
	struct path_cand *v4, *v6, *lan;
	struct path_set ps;
	bool changed;

	(void)state;
	path_init(&ps);
	v4 = learn(&ps, CAND_SERVER, "198.18.3.2:51820", 0);
	v6 = learn(&ps, CAND_HOST, "[2001:db8:b::2]:51820", 0);
	lan = learn(&ps, CAND_HOST, "198.19.1.3:51820", 0);
	assert_int_equal(path_choose(&ps, 1, &changed), -1);
	assert_false(changed);

	prove(&ps, v4, 10, 1);
	assert_ptr_equal(&ps.c[path_choose(&ps, 11, &changed)], v4);
	assert_true(changed);
	/* A better kind answering moves us. */
	prove(&ps, v6, 20, 1);
	assert_ptr_equal(&ps.c[path_choose(&ps, 21, &changed)], v6);
	assert_true(changed);
	prove(&ps, lan, 30, 1);
	assert_ptr_equal(&ps.c[path_choose(&ps, 31, &changed)], lan);
	assert_true(changed);
	/* Nothing new: no change. */
	path_choose(&ps, 32, &changed);
	assert_false(changed);
}

/* The relay is the last resort, a port mapping beats a punched mapping,
 * and a relayed path gives way to a direct one as soon as one answers,
 * and takes over again when the direct one dies. */
static void test_relay_and_mapped(void **state)
{
	struct path_cand *relay, *v4, *mapped, *r2;
	struct sockaddr_storage gone;
	struct path_set ps;
	bool changed;

	(void)state;
	path_init(&ps);
	relay = learn(&ps, CAND_RELAY, "198.18.1.2:40000", 0);
	v4 = learn(&ps, CAND_SERVER, "198.18.3.2:51820", 0);
	mapped = learn(&ps, CAND_MAPPED, "198.18.3.2:1024", 0);
	assert_int_equal(relay->kind, PATH_RELAYED);
	assert_int_equal(mapped->kind, PATH_MAPPED);
	assert_true(PATH_MAPPED > PATH_IPV4 && PATH_IPV4 > PATH_RELAYED &&
		    PATH_RELAYED > PATH_NONE && PATH_IPV6 > PATH_MAPPED);
	assert_string_equal(path_kind_name(PATH_RELAYED), "relayed");
	assert_string_equal(path_kind_name(PATH_MAPPED), "mapped");
	assert_string_equal(cand_source_name(CAND_RELAY), "relay");

	prove(&ps, relay, 10, 5);
	assert_ptr_equal(&ps.c[path_choose(&ps, 15, &changed)], relay);
	assert_true(changed);
	prove(&ps, v4, 20, 1);
	assert_ptr_equal(&ps.c[path_choose(&ps, 21, &changed)], v4);
	assert_true(changed);
	prove(&ps, mapped, 30, 1);
	assert_ptr_equal(&ps.c[path_choose(&ps, 31, &changed)], mapped);
	/* Direct paths die; the relay, still answering, takes over. */
	prove(&ps, relay, 31 + PATH_LOST_MS, 5);
	assert_ptr_equal(&ps.c[path_choose(&ps, 40 + PATH_LOST_MS, &changed)], relay);
	assert_true(changed);

	/* Seen as a probe's source first, then granted: it is the relay. */
	r2 = learn(&ps, CAND_PEER, "198.18.1.2:40002", 50);
	assert_int_equal(r2->kind, PATH_IPV4);
	r2 = learn(&ps, CAND_RELAY, "198.18.1.2:40002", 60);
	assert_int_equal(r2->source, CAND_RELAY);
	assert_int_equal(r2->kind, PATH_RELAYED);
	/* ... and never demoted by a later sighting. */
	learn(&ps, CAND_SERVER, "198.18.1.2:40002", 70);
	assert_int_equal(r2->source, CAND_RELAY);
	assert_int_equal(ps.n, 4);
	gone = r2->addr;
	path_remove(&ps, r2);
	assert_int_equal(ps.n, 3);
	/* The one removed is gone; the others, moved or not, are there. */
	assert_null(path_find(&ps, (struct sockaddr *)&gone));
	for (unsigned int i = 0; i < ps.n; i++)
		assert_ptr_equal(path_find(&ps, (struct sockaddr *)&ps.c[i].addr), &ps.c[i]);
}

static void test_keep_working_path(void **state)
{
	struct path_cand *a, *b;
	struct path_set ps;
	bool changed;

	(void)state;
	path_init(&ps);
	a = learn(&ps, CAND_SERVER, "198.18.3.2:51820", 0);
	b = learn(&ps, CAND_PEER, "198.18.3.2:40000", 0);
	prove(&ps, a, 0, 50);
	assert_ptr_equal(&ps.c[path_choose(&ps, 50, &changed)], a);
	/* Same kind, faster: the tunnel is not moved for it. */
	prove(&ps, b, 60, 1);
	assert_ptr_equal(&ps.c[path_choose(&ps, 61, &changed)], a);
	assert_false(changed);
	/* Until the one in use dies: then the other, at once. */
	prove(&ps, b, 61 + PATH_LOST_MS - 100, 1);
	assert_ptr_equal(&ps.c[path_choose(&ps, 50 + PATH_LOST_MS + 1, &changed)], b);
	assert_true(changed);
}

static void test_lost(void **state)
{
	struct path_set ps;
	struct path_cand *c;
	bool changed;

	(void)state;
	path_init(&ps);
	c = learn(&ps, CAND_SERVER, "198.18.3.2:51820", 0);
	prove(&ps, c, 0, 1);
	assert_int_equal(path_choose(&ps, 1, &changed), 0);
	/* Heartbeats while in use. */
	assert_int_equal(c->due_ms, 1 + PATH_HEARTBEAT_MS);
	/* The loop wakes up exactly when it turns lost. */
	assert_int_equal(path_next_due(&ps, 1000), 1 + PATH_HEARTBEAT_MS);
	path_sent(&ps, c, txid_b, 1 + PATH_HEARTBEAT_MS);
	path_sent(&ps, c, txid_b, 1 + 2 * PATH_HEARTBEAT_MS);
	/* Two heartbeats unanswered: the loss comes before the third. */
	assert_int_equal(path_next_due(&ps, 2100), 1 + PATH_LOST_MS + 1);
	assert_true(path_alive(c, 1 + PATH_LOST_MS));
	assert_false(path_alive(c, 1 + PATH_LOST_MS + 1));
	assert_int_equal(path_choose(&ps, 1 + PATH_LOST_MS + 1, &changed), -1);
	assert_true(changed);
	/* Everything probed again at once. */
	path_reprobe_all(&ps, 3000, 0);
	assert_int_equal(c->due_ms, 3000);
	assert_int_equal(c->interval_ms, 0);
}

static void test_bounded(void **state)
{
	char addr[64];
	struct path_set ps;
	struct path_cand *c;
	bool changed;

	(void)state;
	path_init(&ps);
	for (unsigned int i = 0; i < PATH_MAX_CANDS; i++) {
		snprintf(addr, sizeof(addr), "198.18.5.%u:51820", i + 1);
		assert_non_null(learn(&ps, CAND_PEER, addr, i));
	}
	/* The alive one in use survives; the oldest other makes room. */
	c = &ps.c[3];
	prove(&ps, c, 100, 1);
	assert_int_equal(path_choose(&ps, 101, &changed), 3);
	assert_non_null(learn(&ps, CAND_PEER, "198.18.6.1:51820", 200));
	assert_int_equal(ps.n, PATH_MAX_CANDS);
	{
		struct sockaddr_storage first = sa("198.18.5.1:51820");
		struct sockaddr_storage kept = sa("198.18.5.4:51820");

		assert_null(path_find(&ps, (struct sockaddr *)&first));
		assert_non_null(path_find(&ps, (struct sockaddr *)&kept));
		assert_true(endpoint_equal((struct sockaddr *)&ps.c[ps.chosen].addr,
					   (struct sockaddr *)&kept));
	}
	/* Forgotten after PATH_FORGET_MS without a mention. */
	path_expire(&ps, 300 + PATH_FORGET_MS);
	assert_int_equal(ps.n, 0);
	assert_int_equal(ps.chosen, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_relay_and_mapped),
		cmocka_unit_test(test_learn_merges),
		cmocka_unit_test(test_reply_must_match),
		cmocka_unit_test(test_backoff_and_failure),
		cmocka_unit_test(test_burst_counts_once),
		cmocka_unit_test(test_choice_order),
		cmocka_unit_test(test_keep_working_path),
		cmocka_unit_test(test_lost),
		cmocka_unit_test(test_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
