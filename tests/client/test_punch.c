/* SPDX-License-Identifier: MIT */
/*
 * The decisions: a fresh handshake is left alone, a stale one gets the
 * endpoint (for a peer without path probes; no NAT-type veto);
 * the keepalive chosen; retransmission and backoff timing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "endpoint.h"
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh),
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_retx),
		cmocka_unit_test(test_round_delay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
