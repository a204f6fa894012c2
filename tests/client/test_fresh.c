// SPDX-License-Identifier: MIT
/*
 * Freshness of the server's unsolicited messages: the stamp in the txid
 * (wgp_server_stamp / wgp_stamp_of) and the client's rule for taking it
 * (fresh_take_stamp).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "fresh.h"
#include "proto.h"

#define S 1000000000ULL

static void test_stamp_in_txid(void **state)
{
	uint8_t a[WGP_TXID_LEN], b[WGP_TXID_LEN];
	uint64_t t = 0x0123456789abcdefULL;

	(void)state;
	wgp_server_stamp(a, t);
	wgp_server_stamp(b, t);
	assert_int_equal(wgp_stamp_of(a), t);
	/* Big-endian on the wire, then random bytes. */
	assert_int_equal(a[0], 0x01);
	assert_int_equal(a[7], 0xef);
	assert_memory_not_equal(a + WGP_STAMP_LEN, b + WGP_STAMP_LEN,
				WGP_TXID_LEN - WGP_STAMP_LEN);
}

static void test_take_fresh(void **state)
{
	uint64_t now = 1800000000ULL * S, last = 0;

	(void)state;
	assert_true(fresh_take_stamp(&last, now - 5 * S, now));
	assert_int_equal(last, now - 5 * S);
	/* Newer: taken. */
	assert_true(fresh_take_stamp(&last, now - 4 * S, now));
	assert_int_equal(last, now - 4 * S);
	/* Slightly ahead of us, within the window: taken. */
	assert_true(fresh_take_stamp(&last, now + 60 * S, now));
	assert_int_equal(last, now + 60 * S);
}

static void test_refuse_replay(void **state)
{
	uint64_t now = 1800000000ULL * S, last = 0;

	(void)state;
	assert_true(fresh_take_stamp(&last, now, now));
	/* The same message again, a minute later: refused. */
	assert_false(fresh_take_stamp(&last, now, now + 60 * S));
	/* An older one (captured earlier, or reordered): refused. */
	assert_false(fresh_take_stamp(&last, now - 1, now + 60 * S));
	assert_int_equal(last, now);
}

static void test_refuse_out_of_window(void **state)
{
	uint64_t now = 1800000000ULL * S, last = 0;

	(void)state;
	/* Captured long ago, replayed to a client with no stamp yet (it
	 * restarted): too old. */
	assert_false(fresh_take_stamp(&last, now - WGP_COUNTER_WINDOW_NS - 1,
				      now));
	/* Too far ahead: refused, and it cannot block later stamps. */
	assert_false(fresh_take_stamp(&last, now + WGP_COUNTER_WINDOW_NS + 1,
				      now));
	assert_int_equal(last, 0);
	assert_true(fresh_take_stamp(&last, now - WGP_COUNTER_WINDOW_NS, now));
	/* A random txid (an older server's NOTIFY) is not in the window. */
	assert_false(fresh_take_stamp(&last, 0xfedcba9876543210ULL, now));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stamp_in_txid),
		cmocka_unit_test(test_take_fresh),
		cmocka_unit_test(test_refuse_replay),
		cmocka_unit_test(test_refuse_out_of_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
