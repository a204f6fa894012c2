/* SPDX-License-Identifier: MIT */
/*
 * The decisions: a fresh handshake is left alone, a stale one gets the
 * endpoint (for a peer without path probes; no NAT-type veto);
 * the keepalive chosen; retransmission and backoff timing; which
 * endpoints offered by the server are refused; matching a device read
 * against the peers tracked, at 65,536 peers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "endpoint.h"
#include "proto.h"
#include "punch.h"

static const struct timespec now = { .tv_sec = 1700000000, .tv_nsec = 500 };

static void peer_with(struct wg_peer *p, time_t handshake_ago, const char *ep,
		      uint16_t keepalive)
{
	memset(p, 0, sizeof(*p));
	if (handshake_ago >= 0)
		p->last_handshake.tv_sec = now.tv_sec - handshake_ago;
	if (ep)
		assert_int_equal(endpoint_parse(ep, strlen(ep), 0, &p->endpoint), 0);
	else
		p->endpoint.ss_family = AF_UNSPEC;
	p->persistent_keepalive = keepalive;
}

static struct sockaddr_storage ep_of(const char *s)
{
	struct sockaddr_storage ss;

	assert_int_equal(endpoint_parse(s, strlen(s), 0, &ss), 0);
	return ss;
}

static void test_fresh(void **state)
{
	struct timespec t = now;

	(void)state;
	t.tv_sec -= HANDSHAKE_FRESH_SEC - 1;
	assert_true(handshake_fresh(&t, &now));
	t.tv_sec -= 1;
	assert_false(handshake_fresh(&t, &now));
	/* Never is not fresh; a little in the future (clock stepped back)
	 * still is, far in the future not. */
	assert_false(handshake_fresh(&(struct timespec){ 0 }, &now));
	t.tv_sec = now.tv_sec + 10;
	assert_true(handshake_fresh(&t, &now));
	t.tv_sec = now.tv_sec + HANDSHAKE_FRESH_SEC;
	assert_false(handshake_fresh(&t, &now));
	assert_int_equal(handshake_age(&(struct timespec){ 0 }, &now), -1);
	t.tv_sec = now.tv_sec - 42;
	assert_int_equal(handshake_age(&t, &now), 42);
}

static void test_decide(void **state)
{
	struct sockaddr_storage ep = ep_of("198.18.0.9:51820");
	struct sockaddr *sa = (struct sockaddr *)&ep;
	struct wg_peer p;

	(void)state;
	/* Fresh handshake: left alone, even with another endpoint (the
	 * tunnel works). */
	peer_with(&p, 10, "198.18.0.7:1", 0);
	assert_int_equal(punch_decide(&p, &now, sa, 25), PUNCH_LEAVE_FRESH);
	peer_with(&p, HANDSHAKE_FRESH_SEC - 1, NULL, 0);
	assert_int_equal(punch_decide(&p, &now, sa, 25), PUNCH_LEAVE_FRESH);

	/* Stale or never: set. */
	peer_with(&p, HANDSHAKE_FRESH_SEC, "198.18.0.7:1", 25);
	assert_int_equal(punch_decide(&p, &now, sa, 25), PUNCH_SET);
	peer_with(&p, -1, NULL, 0);
	assert_int_equal(punch_decide(&p, &now, sa, 25), PUNCH_SET);
	/* Same endpoint but no keepalive yet: set. */
	peer_with(&p, -1, "198.18.0.9:51820", 0);
	assert_int_equal(punch_decide(&p, &now, sa, 25), PUNCH_SET);
	/* Already as wanted: nothing to do. */
	peer_with(&p, 1000, "198.18.0.9:51820", 25);
	assert_int_equal(punch_decide(&p, &now, sa, 25), PUNCH_ALREADY_SET);
}

static void test_keepalive(void **state)
{
	struct wg_peer p;

	(void)state;
	peer_with(&p, -1, NULL, 0);
	assert_int_equal(keepalive_for(&p, 0), DEFAULT_KEEPALIVE);
	assert_int_equal(keepalive_for(&p, 10), 10);
	peer_with(&p, -1, NULL, 7);		/* the user's own setting */
	assert_int_equal(keepalive_for(&p, 0), 7);
	assert_int_equal(keepalive_for(&p, 10), 10);
}

static void test_retx(void **state)
{
	unsigned int ms = 0, total = 0;
	static const unsigned int want[] = { 250, 500, 1000, 2000, 4000, 8000, 8000 };

	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		ms = retx_next_ms(ms);
		assert_int_equal(ms, want[i]);
		if (i < RETX_MAX_TRIES)
			total += ms;
	}
	/* A round waits ~8 s for the server before backing off. */
	assert_in_range(total, 7000, 9000);
	/* Jitter stays within a quarter either way, and does move. */
	for (uint32_t r = 0; r < 4000; r += 7) {
		unsigned int j = jitter_ms(8000, r * 2654435761U);

		assert_in_range(j, 6000, 9999);
	}
	assert_true(jitter_ms(8000, 0) != jitter_ms(8000, 1234567));
	assert_int_equal(jitter_ms(1, 5), 1);
}

static void test_round_delay(void **state)
{
	(void)state;
	assert_int_equal(round_delay_ms(0, 0), REREGISTER_MS);
	assert_int_equal(round_delay_ms(0, 120), REREGISTER_MS);
	assert_int_equal(round_delay_ms(0, 30), 15000);		/* half the TTL */
	assert_int_equal(round_delay_ms(0, 1), 1000);
	assert_int_equal(round_delay_ms(1, 0), 2 * REREGISTER_MS);
	assert_int_equal(round_delay_ms(2, 0), 4 * REREGISTER_MS);
	assert_int_equal(round_delay_ms(10, 0), SERVER_BACKOFF_MAX_MS);
	assert_int_equal(round_delay_ms(1000, 0), SERVER_BACKOFF_MAX_MS);
	assert_int_equal(round_delay_ms(3, 4000000000U), 8 * REREGISTER_MS);
}

static struct wgp_endpoint wep_of(const char *s)
{
	struct sockaddr_storage ss = ep_of(s);
	struct wgp_endpoint ep;

	assert_int_equal(wgp_endpoint_from_sockaddr(&ep, (struct sockaddr *)&ss,
						    sizeof(ss)), 0);
	return ep;
}

static const char *refusal(const char *ep)
{
	struct wgp_endpoint e = wep_of(ep), srv = wep_of("198.18.0.1:49918");

	return punch_endpoint_refusal(&e, &srv, 49919);
}

static void expect_refused(const char *ep, const char *why)
{
	const char *got = refusal(ep);

	if (!got || strcmp(got, why))
		fail_msg("%s: \"%s\", expected \"%s\"", ep, got ? got : "(accepted)",
			 why);
}

static void test_endpoint_refusal(void **state)
{
	struct wgp_endpoint none = { 0 }, mapped = { 0 };
	struct wgp_endpoint srv = wep_of("198.18.0.1:49918");

	(void)state;
	assert_null(refusal("198.18.0.7:51820"));
	assert_null(refusal("[2001:db8::7]:51820"));
	/* The server's address on another port (a peer behind the same
	 * host), and its ports on another address, are fine. */
	assert_null(refusal("198.18.0.1:51820"));
	assert_null(refusal("198.18.0.2:49918"));
	expect_refused("198.18.0.1:49918", "the rendezvous server itself");
	expect_refused("198.18.0.1:49919", "the rendezvous server itself");
	expect_refused("127.0.0.1:51820", "a loopback address");
	expect_refused("127.8.9.1:51820", "a loopback address");
	expect_refused("[::1]:51820", "a loopback address");
	expect_refused("0.0.0.0:51820", "an unspecified address");
	expect_refused("[::]:51820", "an unspecified address");
	expect_refused("224.0.0.1:51820", "a multicast address");
	expect_refused("239.255.255.250:1900", "a multicast address");
	expect_refused("[ff02::1]:51820", "a multicast address");
	expect_refused("255.255.255.255:51820", "the broadcast address");
	/* Only a path probe may prove a link-local path. */
	expect_refused("169.254.1.1:51820", "a link-local address");
	expect_refused("[fe80::1]:51820", "a link-local address");
	/* Read from a socket address, an IPv4-mapped one is IPv4... */
	assert_null(refusal("[::ffff:198.18.0.7]:51820"));
	expect_refused("[::ffff:198.18.0.1]:49918", "the rendezvous server itself");
	/* ... and on the wire it must not be spelt that way at all. */
	mapped.family = AF_INET6;
	mapped.port = 51820;
	mapped.addr[10] = mapped.addr[11] = 0xff;
	mapped.addr[12] = 198;
	mapped.addr[13] = 18;
	mapped.addr[15] = 7;
	assert_string_equal(punch_endpoint_refusal(&mapped, &srv, 49919),
			    "an IPv4-mapped IPv6 address");
	assert_string_equal(punch_endpoint_refusal(&none, &srv, 49919), "no address");
	none.family = AF_INET;
	none.addr[0] = 198;
	assert_string_equal(punch_endpoint_refusal(&none, &srv, 49919), "port 0");
}

/* Keys from a counter, scattered so that sorted order is not index
 * order: byte 0 from a multiplicative hash, the index in bytes 1-4. */
static void key_of(uint8_t key[WG_KEY_LEN], uint32_t i)
{
	uint32_t h = i * 2654435761U;

	memset(key, 0, WG_KEY_LEN);
	memcpy(key, &h, sizeof(h));
	memcpy(key + 4, &i, sizeof(i));
}

struct tracked {
	uint8_t key[WG_KEY_LEN];
	uint32_t id;
};

/*
 * 65,536 tracked peers; the device keeps the even ones, drops the odd
 * ones, and adds 65,536 new ones, each listed twice (a hostile UAPI
 * server can). A pairwise match would be 2^33 compares: the test would
 * not finish within its timeout.
 */
static void test_sync_plan_at_scale(void **state)
{
	const size_t n = 65536;
	struct tracked *t = calloc(n, sizeof(*t));
	struct wg_peer *dev = calloc(n / 2 + 2 * n, sizeof(*dev));
	size_t *fresh = calloc(n / 2 + 2 * n, sizeof(*fresh));
	bool *present = calloc(n, sizeof(*present));
	size_t n_dev = 0;
	ssize_t got;

	(void)state;
	assert_non_null(t);
	assert_non_null(dev);
	assert_non_null(fresh);
	assert_non_null(present);
	for (uint32_t i = 0; i < n; i++) {
		key_of(t[i].key, i);
		t[i].id = i;
	}
	qsort(t, n, sizeof(*t), punch_key_cmp);
	/* Device order: new ones and kept ones interleaved. */
	for (uint32_t i = 0; i < n; i++) {
		key_of(dev[n_dev++].public_key, (uint32_t)n + i);
		if (i % 2 == 0)
			key_of(dev[n_dev++].public_key, i);
	}
	for (uint32_t i = 0; i < n; i++)
		key_of(dev[n_dev++].public_key, (uint32_t)n + i);	/* again */

	got = punch_sync_plan(t, n, sizeof(*t), dev, n_dev, present, fresh);
	assert_int_equal(got, n);
	for (size_t i = 0; i < n; i++) {
		if (present[i] != (t[i].id % 2 == 0))
			fail_msg("tracked id %u: present %d", t[i].id, present[i]);
	}
	/* Each new key once, its first listing, in device order. */
	for (size_t i = 0; i < (size_t)got; i++) {
		uint8_t want[WG_KEY_LEN];

		key_of(want, (uint32_t)(n + i));
		assert_memory_equal(dev[fresh[i]].public_key, want, WG_KEY_LEN);
		assert_true(fresh[i] < n + n / 2);
		if (i)
			assert_true(fresh[i] > fresh[i - 1]);
	}
	free(t);
	free(dev);
	free(fresh);
	free(present);
}

static void test_sync_plan_edges(void **state)
{
	struct tracked t[2];
	struct wg_peer dev[2];
	bool present[2] = { true, true };
	size_t fresh[2];

	(void)state;
	/* Nothing at all. */
	assert_int_equal(punch_sync_plan(NULL, 0, sizeof(*t), NULL, 0, present,
					 fresh), 0);
	/* The device lost every peer. */
	memset(t, 0, sizeof(t));
	key_of(t[0].key, 1);
	key_of(t[1].key, 2);
	qsort(t, 2, sizeof(*t), punch_key_cmp);
	assert_int_equal(punch_sync_plan(t, 2, sizeof(*t), NULL, 0, present,
					 fresh), 0);
	assert_false(present[0]);
	assert_false(present[1]);
	/* Nothing tracked yet: all new. */
	memset(dev, 0, sizeof(dev));
	key_of(dev[0].public_key, 9);
	key_of(dev[1].public_key, 3);
	assert_int_equal(punch_sync_plan(NULL, 0, sizeof(*t), dev, 2, present,
					 fresh), 2);
	assert_int_equal(fresh[0], 0);
	assert_int_equal(fresh[1], 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh),
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_retx),
		cmocka_unit_test(test_round_delay),
		cmocka_unit_test(test_endpoint_refusal),
		cmocka_unit_test(test_sync_plan_at_scale),
		cmocka_unit_test(test_sync_plan_edges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
