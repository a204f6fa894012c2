// SPDX-License-Identifier: MIT
/*
 * RELAY_BIND: round trip, and every way a datagram can fail to be a bind
 * for this port under this key (each byte flipped, wrong port, wrong
 * key, wrong length, type, version, reserved bytes).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "relaymsg.h"

static void test_round_trip(void **state)
{
	uint8_t key[RELAY_KEY_LEN], pkt[RELAY_BIND_LEN];
	uint64_t counter = 0;

	(void)state;
	randombytes_buf(key, sizeof(key));
	relay_bind_encode(pkt, key, 40000, 0x0102030405060708ULL);
	assert_memory_equal(pkt, "WGPN\x02\x0d\x00\x00", 8);
	assert_true(relay_bind_shaped(pkt, sizeof(pkt)));
	assert_int_equal(relay_bind_verify(pkt, sizeof(pkt), key, 40000,
					   &counter), 0);
	assert_int_equal(counter, 0x0102030405060708ULL);
	/* Counter extremes travel as they are. */
	relay_bind_encode(pkt, key, 1, UINT64_MAX);
	assert_int_equal(relay_bind_verify(pkt, sizeof(pkt), key, 1, &counter),
			 0);
	assert_int_equal(counter, UINT64_MAX);
	relay_bind_encode(pkt, key, 65535, 0);
	assert_int_equal(relay_bind_verify(pkt, sizeof(pkt), key, 65535,
					   &counter), 0);
	assert_int_equal(counter, 0);
}

/* The same inputs give the same bytes; a different counter, key or
 * port gives a different MAC. */
static void test_deterministic(void **state)
{
	uint8_t key[RELAY_KEY_LEN], a[RELAY_BIND_LEN], b[RELAY_BIND_LEN];

	(void)state;
	randombytes_buf(key, sizeof(key));
	relay_bind_encode(a, key, 40000, 7);
	relay_bind_encode(b, key, 40000, 7);
	assert_memory_equal(a, b, RELAY_BIND_LEN);
	relay_bind_encode(b, key, 40001, 7);
	assert_memory_equal(a, b, 16);
	assert_memory_not_equal(a + 16, b + 16, RELAY_MAC_LEN);
	relay_bind_encode(b, key, 40000, 8);
	assert_memory_not_equal(a + 16, b + 16, RELAY_MAC_LEN);
	key[31] ^= 1;
	relay_bind_encode(b, key, 40000, 7);
	assert_memory_not_equal(a + 16, b + 16, RELAY_MAC_LEN);
}

static void test_every_byte_flipped(void **state)
{
	uint8_t key[RELAY_KEY_LEN], pkt[RELAY_BIND_LEN], copy[RELAY_BIND_LEN];
	uint64_t counter;
	unsigned int i, bit;

	(void)state;
	randombytes_buf(key, sizeof(key));
	relay_bind_encode(pkt, key, 40000, 12345);
	for (i = 0; i < RELAY_BIND_LEN; i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(copy, pkt, sizeof(pkt));
			copy[i] ^= (uint8_t)(1U << bit);
			counter = 99;
			assert_int_equal(relay_bind_verify(copy, sizeof(copy),
					key, 40000, &counter), -EBADMSG);
			/* A refused bind leaves the counter alone. */
			assert_int_equal(counter, 99);
		}
	}
}

static void test_wrong_port_or_key(void **state)
{
	uint8_t key[RELAY_KEY_LEN], other[RELAY_KEY_LEN], pkt[RELAY_BIND_LEN];
	uint64_t counter;

	(void)state;
	randombytes_buf(key, sizeof(key));
	memcpy(other, key, sizeof(key));
	other[0] ^= 0x80;
	relay_bind_encode(pkt, key, 40000, 1);
	/* A bind for one port does not bind its partner port. */
	assert_int_equal(relay_bind_verify(pkt, sizeof(pkt), key, 40001,
					   &counter), -EBADMSG);
	assert_int_equal(relay_bind_verify(pkt, sizeof(pkt), key, 0,
					   &counter), -EBADMSG);
	assert_int_equal(relay_bind_verify(pkt, sizeof(pkt), other, 40000,
					   &counter), -EBADMSG);
	assert_int_equal(relay_bind_verify(pkt, sizeof(pkt), key, 40000,
					   &counter), 0);
}

static void test_shape(void **state)
{
	uint8_t key[RELAY_KEY_LEN], pkt[RELAY_BIND_LEN + 8];
	uint8_t copy[RELAY_BIND_LEN + 8];
	uint64_t counter;
	size_t len;

	(void)state;
	randombytes_buf(key, sizeof(key));
	memset(pkt, 0, sizeof(pkt));
	relay_bind_encode(pkt, key, 40000, 1);
	/* Any other length, even with the right bytes in front. */
	for (len = 0; len <= sizeof(pkt); len++) {
		if (len == RELAY_BIND_LEN)
			continue;
		assert_false(relay_bind_shaped(pkt, len));
		assert_int_equal(relay_bind_verify(pkt, len, key, 40000,
						   &counter), -EBADMSG);
	}
	/* Magic, version, type, reserved: not shaped at all (no MAC). */
	static const struct { size_t off; uint8_t val; } bad[] = {
		{ 0, 'w' }, { 3, 'n' }, { 4, 1 }, { 4, 3 }, { 5, 9 },
		{ 5, 10 }, { 5, 12 }, { 5, 14 }, { 6, 1 }, { 7, 0x80 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(copy, pkt, sizeof(pkt));
		copy[bad[i].off] = bad[i].val;
		assert_false(relay_bind_shaped(copy, RELAY_BIND_LEN));
		assert_int_equal(relay_bind_verify(copy, RELAY_BIND_LEN, key,
						   40000, &counter), -EBADMSG);
	}
	/* A WireGuard handshake initiation (type 1, three zero bytes) of
	 * any length is never shaped like a bind. */
	memset(copy, 0, sizeof(copy));
	copy[0] = 1;
	assert_false(relay_bind_shaped(copy, RELAY_BIND_LEN));
	/* The shape check does not look at the MAC. */
	memcpy(copy, pkt, sizeof(pkt));
	memset(copy + 16, 0, RELAY_MAC_LEN);
	assert_true(relay_bind_shaped(copy, RELAY_BIND_LEN));
	assert_int_equal(relay_bind_verify(copy, RELAY_BIND_LEN, key, 40000,
					   &counter), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_every_byte_flipped),
		cmocka_unit_test(test_wrong_port_or_key),
		cmocka_unit_test(test_shape),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
