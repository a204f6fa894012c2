/* SPDX-License-Identifier: MIT */
/*
 * Path messages (src/common/pathmsg.c): keys as the spec defines them
 * (recomputed here from the formula with libsodium), sealing and opening
 * both types in both directions, reflection, tampering with any byte,
 * lengths, sender ids, the checks behind the AEAD, and the replay window.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <netinet/in.h>

#include <sodium.h>

#include "key.h"
#include "pathmsg.h"

#define SEC 1000000000ULL
#define NOW (1700000000ULL * SEC)

struct peer {
	uint8_t priv[32], pub[32];
};

static struct peer a, b, c;

static int setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	memset(a.priv, 0x11, 32);
	memset(b.priv, 0x22, 32);
	memset(c.priv, 0x33, 32);
	wgp_key_public(a.pub, a.priv);
	wgp_key_public(b.pub, b.priv);
	wgp_key_public(c.pub, c.priv);
	return 0;
}

static struct path_keys keys_of(const struct peer *me, const struct peer *peer)
{
	struct path_keys k;

	assert_int_equal(path_keys_derive(&k, me->priv, me->pub, peer->pub), 0);
	return k;
}

static struct path_msg probe_msg(void)
{
	struct path_msg m = {
		.type = PATH_PROBE,
		.counter = NOW + 5,
		.addr = { .family = AF_INET, .port = 51820,
			  .addr = { 198, 18, 0, 7 } },
		.flags = PATH_F_TTL_LIMITED,
	};

	path_txid_new(m.txid);
	return m;
}

static void assert_msg_equal(const struct path_msg *x, const struct path_msg *y)
{
	assert_int_equal(x->type, y->type);
	assert_memory_equal(x->txid, y->txid, PATH_TXID_LEN);
	assert_true(x->counter == y->counter);
	assert_true(wgp_endpoint_equal(&x->addr, &y->addr));
	assert_int_equal(x->flags, y->flags);
}

/* The formula of pathmsg.h, written out again with libsodium. */
static void spec_hash(uint8_t *out, size_t outlen, const char *label,
		      const struct peer *x, const struct peer *y)
{
	const uint8_t *lo = memcmp(x->pub, y->pub, 32) < 0 ? x->pub : y->pub;
	const uint8_t *hi = lo == x->pub ? y->pub : x->pub;
	uint8_t dh[32], in[20 + 32 * 3];
	size_t n = strlen(label);

	assert_int_equal(crypto_scalarmult(dh, x->priv, y->pub), 0);
	memcpy(in, label, n);
	memcpy(in + n, dh, 32);
	memcpy(in + n + 32, lo, 32);
	memcpy(in + n + 64, hi, 32);
	crypto_generichash(out, outlen, in, n + 96, NULL, 0);
}

static void test_keys_match_spec(void **state)
{
	struct path_keys ka = keys_of(&a, &b), kb = keys_of(&b, &a);
	bool a_lo = memcmp(a.pub, b.pub, 32) < 0;
	uint8_t keys[64], ids[16];

	(void)state;
	spec_hash(keys, 64, "wgpunch v2 path keys", &a, &b);
	spec_hash(ids, 16, "wgpunch v2 path id", &a, &b);
	assert_memory_equal(ka.tx, keys + (a_lo ? 0 : 32), 32);
	assert_memory_equal(ka.rx, keys + (a_lo ? 32 : 0), 32);
	assert_memory_equal(ka.tx_id, ids + (a_lo ? 0 : 8), 8);
	assert_memory_equal(ka.rx_id, ids + (a_lo ? 8 : 0), 8);
	/* Both ends agree, and the directions differ. */
	assert_memory_equal(ka.tx, kb.rx, 32);
	assert_memory_equal(ka.rx, kb.tx, 32);
	assert_memory_equal(ka.tx_id, kb.rx_id, 8);
	assert_memory_equal(ka.rx_id, kb.tx_id, 8);
	assert_memory_not_equal(ka.tx, ka.rx, 32);
	assert_memory_not_equal(ka.tx_id, ka.rx_id, 8);
}

static void test_keys_refused(void **state)
{
	struct path_keys k;
	uint8_t zero[32] = { 0 };

	(void)state;
	/* A low-order "public key": the DH result is all zero. */
	assert_int_equal(path_keys_derive(&k, a.priv, a.pub, zero), -EINVAL);
	/* Talking to oneself: one key for both directions. */
	assert_int_equal(path_keys_derive(&k, a.priv, a.pub, a.pub), -EINVAL);
}

static void round_trip(const struct peer *from, const struct peer *to,
		       const struct path_msg *m)
{
	struct path_keys ks = keys_of(from, to), kr = keys_of(to, from);
	uint8_t pkt[PATH_MSG_LEN], id[PATH_ID_LEN];
	struct path_msg got;

	assert_int_equal(path_seal(pkt, m, &ks), PATH_MSG_LEN);
	assert_memory_equal(pkt, "WGPN", 4);
	assert_int_equal(pkt[4], 2);
	assert_int_equal(pkt[5], m->type);
	assert_true(path_peek(pkt, sizeof(pkt), id));
	assert_memory_equal(id, ks.tx_id, PATH_ID_LEN);
	assert_int_equal(path_open(&got, pkt, sizeof(pkt), &kr), 0);
	assert_msg_equal(&got, m);
	/* Reflected back to the sender: refused. */
	assert_int_equal(path_open(&got, pkt, sizeof(pkt), &ks), -EBADMSG);
	/* Even with the id rewritten to the one the sender expects: the
	 * key is the other direction's. */
	memcpy(pkt + PATH_OFF_ID, ks.rx_id, PATH_ID_LEN);
	assert_int_equal(path_open(&got, pkt, sizeof(pkt), &ks), -EBADMSG);
}

static void test_round_trips(void **state)
{
	struct path_msg probe = probe_msg(), reply = probe;
	uint8_t p1[PATH_MSG_LEN], p2[PATH_MSG_LEN];
	struct path_keys kab = keys_of(&a, &b);

	(void)state;
	reply.type = PATH_REPLY;
	reply.flags = 0;
	reply.counter = UINT64_MAX;
	reply.addr.family = AF_INET6;
	reply.addr.port = 1;
	memcpy(reply.addr.addr, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x42", 16);
	round_trip(&a, &b, &probe);
	round_trip(&b, &a, &probe);
	round_trip(&a, &b, &reply);
	round_trip(&b, &a, &reply);
	/* Fresh nonces: the same message never seals the same twice. */
	assert_int_equal(path_seal(p1, &probe, &kab), PATH_MSG_LEN);
	assert_int_equal(path_seal(p2, &probe, &kab), PATH_MSG_LEN);
	assert_memory_equal(p1, p2, PATH_OFF_NONCE);
	assert_memory_not_equal(p1 + PATH_OFF_NONCE, p2 + PATH_OFF_NONCE, 12);
}

static void test_tamper_any_byte(void **state)
{
	struct path_keys ka = keys_of(&a, &b), kb = keys_of(&b, &a);
	struct path_msg m = probe_msg(), got;
	uint8_t pkt[PATH_MSG_LEN], bad[PATH_MSG_LEN];

	(void)state;
	assert_int_equal(path_seal(pkt, &m, &ka), PATH_MSG_LEN);
	for (size_t i = 0; i < PATH_MSG_LEN; i++) {
		for (unsigned int bit = 0; bit < 8; bit += 3) {
			memcpy(bad, pkt, sizeof(pkt));
			bad[i] ^= (uint8_t)(1U << bit);
			assert_int_equal(path_open(&got, bad, sizeof(bad), &kb),
					 -EBADMSG);
		}
	}
	assert_int_equal(path_open(&got, pkt, sizeof(pkt), &kb), 0);
}

static void test_lengths_and_header(void **state)
{
	struct path_keys ka = keys_of(&a, &b), kb = keys_of(&b, &a);
	struct path_msg m = probe_msg(), got;
	uint8_t pkt[PATH_MSG_LEN + 1], id[PATH_ID_LEN], bad[PATH_MSG_LEN];

	(void)state;
	assert_int_equal(path_seal(pkt, &m, &ka), PATH_MSG_LEN);
	pkt[PATH_MSG_LEN] = 0;
	assert_false(path_peek(pkt, PATH_MSG_LEN + 1, id));
	assert_false(path_peek(pkt, PATH_MSG_LEN - 1, id));
	assert_false(path_peek(pkt, 0, id));
	assert_int_equal(path_open(&got, pkt, PATH_MSG_LEN + 1, &kb), -EBADMSG);
	assert_int_equal(path_open(&got, pkt, PATH_MSG_LEN - 1, &kb), -EBADMSG);
	/* Each clear header field on its own. */
	{
		const struct { size_t off; uint8_t val; } cases[] = {
			{ 0, 'w' }, { 3, 'M' }, { 4, 1 }, { 4, 3 }, { 5, 8 },
			{ 5, 11 }, { 5, 0 }, { 6, 1 }, { 7, 0x80 },
		};

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			memcpy(bad, pkt, PATH_MSG_LEN);
			bad[cases[i].off] = cases[i].val;
			assert_false(path_peek(bad, PATH_MSG_LEN, id));
		}
	}
}

/* A message from C opened with A's keys for B: the id is not B's. */
static void test_id_mismatch(void **state)
{
	struct path_keys kca = keys_of(&c, &a), kab = keys_of(&a, &b);
	struct path_msg m = probe_msg(), got;
	uint8_t pkt[PATH_MSG_LEN], id[PATH_ID_LEN];

	(void)state;
	assert_int_equal(path_seal(pkt, &m, &kca), PATH_MSG_LEN);
	assert_true(path_peek(pkt, sizeof(pkt), id));
	assert_memory_not_equal(id, kab.rx_id, PATH_ID_LEN);
	assert_int_equal(path_open(&got, pkt, sizeof(pkt), &kab), -EBADMSG);
	/* With B's id pasted in, the tag still fails. */
	memcpy(pkt + PATH_OFF_ID, kab.rx_id, PATH_ID_LEN);
	assert_int_equal(path_open(&got, pkt, sizeof(pkt), &kab), -EBADMSG);
}

static void test_seal_refuses(void **state)
{
	struct path_keys k = keys_of(&a, &b);
	struct path_msg good = probe_msg(), m;
	uint8_t pkt[PATH_MSG_LEN];

	(void)state;
	m = good, m.type = 8;
	assert_int_equal(path_seal(pkt, &m, &k), -EINVAL);
	m = good, m.type = 11;
	assert_int_equal(path_seal(pkt, &m, &k), -EINVAL);
	m = good, m.flags = 2;
	assert_int_equal(path_seal(pkt, &m, &k), -EINVAL);
	m = good, memset(&m.addr, 0, sizeof(m.addr));
	assert_int_equal(path_seal(pkt, &m, &k), -EINVAL);
	m = good, m.addr.port = 0;
	assert_int_equal(path_seal(pkt, &m, &k), -EINVAL);
	m = good, m.addr.addr[4] = 1;	/* IPv4 with bytes after the 4 */
	assert_int_equal(path_seal(pkt, &m, &k), -EINVAL);
	m = good, m.addr.family = AF_UNIX;
	assert_int_equal(path_seal(pkt, &m, &k), -EINVAL);
}

/* A datagram with a chosen payload, sealed the spec's way with the
 * sender's key: reaches the checks behind the AEAD. */
static void seal_raw(uint8_t pkt[PATH_MSG_LEN], const uint8_t payload[32],
		     const struct path_keys *k)
{
	unsigned long long clen;

	memset(pkt, 0, PATH_MSG_LEN);
	memcpy(pkt, "WGPN\x02\x09", 6);
	memcpy(pkt + PATH_OFF_ID, k->tx_id, PATH_ID_LEN);
	randombytes_buf(pkt + PATH_OFF_NONCE, 12);
	crypto_aead_chacha20poly1305_ietf_encrypt(pkt + PATH_OFF_SEALED, &clen,
		payload, 32, pkt, PATH_OFF_NONCE, NULL, pkt + PATH_OFF_NONCE,
		k->tx);
}

static void test_payload_checks(void **state)
{
	struct path_keys ka = keys_of(&a, &b), kb = keys_of(&b, &a);
	uint8_t good[32] = { 0, 0, 0, 0, 0, 0, 0, 42,	/* counter */
			     4, 0, 0xca, 0x6c, 198, 18, 0, 1 }; /* addr */
	uint8_t pl[32], pkt[PATH_MSG_LEN];
	struct path_msg got;
	const struct { size_t off; uint8_t val; } bad[] = {
		{ 8, 0 },	/* family none */
		{ 8, 5 },	/* unknown family */
		{ 9, 1 },	/* endpoint reserved */
		{ 11, 0 },	/* with byte 10 zeroed: port 0 */
		{ 16, 1 },	/* IPv4 with more address bytes */
		{ 28, 2 },	/* unknown flag */
		{ 28, 0x80 },
		{ 29, 1 }, { 30, 1 }, { 31, 1 },	/* reserved */
	};

	(void)state;
	seal_raw(pkt, good, &ka);
	assert_int_equal(path_open(&got, pkt, sizeof(pkt), &kb), 0);
	assert_true(got.counter == 42);
	assert_int_equal(got.addr.family, AF_INET);
	assert_int_equal(got.addr.port, 51820);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(pl, good, 32);
		pl[bad[i].off] = bad[i].val;
		if (bad[i].off == 11)
			pl[10] = 0;
		seal_raw(pkt, pl, &ka);
		assert_int_equal(path_open(&got, pkt, sizeof(pkt), &kb), -EBADMSG);
	}
	/* IPv6 uses all 16 bytes; flag TTL_LIMITED is known. */
	memcpy(pl, good, 32);
	pl[8] = 6;
	memset(pl + 16, 0xff, 8);
	pl[28] = PATH_F_TTL_LIMITED;
	seal_raw(pkt, pl, &ka);
	assert_int_equal(path_open(&got, pkt, sizeof(pkt), &kb), 0);
	assert_int_equal(got.addr.family, AF_INET6);
	assert_int_equal(got.flags, PATH_F_TTL_LIMITED);
}

static void test_counter_next(void **state)
{
	uint64_t last = 0;

	(void)state;
	assert_true(path_counter_next(&last, NOW) == NOW);
	assert_true(path_counter_next(&last, NOW) == NOW + 1);
	assert_true(path_counter_next(&last, NOW - SEC) == NOW + 2);
	assert_true(path_counter_next(&last, NOW + SEC) == NOW + SEC);
	assert_true(last == NOW + SEC);
}

static void test_replay_no_state(void **state)
{
	struct path_replay w = { 0 };

	(void)state;
	assert_false(path_replay_check(&w, NOW - 120 * SEC - 1, NOW));
	assert_false(path_replay_check(&w, NOW + 120 * SEC + 1, NOW));
	assert_false(path_replay_check(&w, 0, NOW));
	assert_false(w.any);
	assert_true(path_replay_check(&w, NOW - 120 * SEC, NOW));
	memset(&w, 0, sizeof(w));
	assert_true(path_replay_check(&w, NOW + 120 * SEC, NOW));
	memset(&w, 0, sizeof(w));
	assert_true(path_replay_check(&w, NOW, NOW));
	assert_false(path_replay_check(&w, NOW, NOW));
}

static void test_replay_window(void **state)
{
	struct path_replay w = { 0 };
	uint64_t base = NOW;

	(void)state;
	assert_true(path_replay_check(&w, base, NOW));
	/* Fresh and increasing. */
	assert_true(path_replay_check(&w, base + SEC, NOW));
	assert_false(path_replay_check(&w, base + SEC, NOW));
	/* Reordered within 2 s of the highest: once. */
	assert_true(path_replay_check(&w, base + SEC / 2, NOW));
	assert_false(path_replay_check(&w, base + SEC / 2, NOW));
	assert_false(path_replay_check(&w, base, NOW));
	/* Too old: at or below max - 2 s. */
	assert_true(path_replay_check(&w, base + 3 * SEC, NOW));
	assert_false(path_replay_check(&w, base + SEC, NOW));
	assert_false(path_replay_check(&w, base + SEC / 4, NOW));
	assert_true(path_replay_check(&w, base + SEC + 1, NOW));
	assert_true(path_replay_check(&w, base + 2 * SEC, NOW));
	/* Far future, even with state. */
	assert_false(path_replay_check(&w, NOW + 121 * SEC, NOW));
	assert_true(path_replay_check(&w, NOW + 119 * SEC, NOW));
	assert_true(w.max == NOW + 119 * SEC);
	/* Old but within the clock window: too old for the window now. */
	assert_false(path_replay_check(&w, NOW + 5 * SEC, NOW));
	/* A later clock moves the far-future bound along. */
	assert_true(path_replay_check(&w, NOW + 200 * SEC, NOW + 100 * SEC));
}

/* A burst to many candidates in any order: each accepted exactly once,
 * the last 32 remembered. */
static void test_replay_burst(void **state)
{
	struct path_replay w = { 0 };
	uint64_t base = NOW;

	(void)state;
	assert_true(path_replay_check(&w, base + 31, NOW));
	for (uint64_t i = 0; i < 31; i++)
		assert_true(path_replay_check(&w, base + 30 - i, NOW));
	for (uint64_t i = 0; i < 32; i++)
		assert_false(path_replay_check(&w, base + i, NOW));
	/* The first counter accepted is remembered from the start, not
	 * mistaken for an empty slot (and 0 is not remembered). */
	memset(&w, 0, sizeof(w));
	assert_true(path_replay_check(&w, 5 * SEC, 5 * SEC));
	assert_true(path_replay_check(&w, 5 * SEC + 1, 5 * SEC));
	assert_false(path_replay_check(&w, 5 * SEC, 5 * SEC));
	memset(&w, 0, sizeof(w));
	assert_true(path_replay_check(&w, 1, 0));
	assert_true(path_replay_check(&w, 0, 0));
	assert_false(path_replay_check(&w, 0, 0));
	assert_false(path_replay_check(&w, 1, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_match_spec),
		cmocka_unit_test(test_keys_refused),
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_tamper_any_byte),
		cmocka_unit_test(test_lengths_and_header),
		cmocka_unit_test(test_id_mismatch),
		cmocka_unit_test(test_seal_refuses),
		cmocka_unit_test(test_payload_checks),
		cmocka_unit_test(test_counter_next),
		cmocka_unit_test(test_replay_no_state),
		cmocka_unit_test(test_replay_window),
		cmocka_unit_test(test_replay_burst),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
