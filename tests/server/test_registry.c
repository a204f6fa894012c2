// SPDX-License-Identifier: MIT
/*
 * Registry, hash index, rate limiter and legacy table: pure data
 * structure tests with a caller-controlled clock.
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

#include "hindex.h"
#include "legacy.h"
#include "ratelimit.h"
#include "registry.h"

static void random_key(uint8_t key[32])
{
	randombytes_buf(key, 32);
}

static void digest_of(uint8_t d[WGP_CONSENT_LEN], const uint8_t key[32])
{
	wgp_consent_digest(d, key);
}

static void test_insert_find_remove(void **state)
{
	struct registry r;
	uint8_t a[32], b[32];
	struct reg_entry *e;

	(void)state;
	assert_int_equal(registry_init(&r, 16, 0), 0);
	random_key(a);
	random_key(b);
	assert_null(registry_find(&r, a, 1000));
	e = registry_insert(&r, a, 1000, 5000);
	assert_non_null(e);
	assert_memory_equal(e->key, a, 32);
	assert_ptr_equal(registry_find(&r, a, 1000), e);
	assert_null(registry_find(&r, b, 1000));
	assert_ptr_equal(registry_find_digest(&r, e->digest, 1000), e);
	assert_int_equal(r.live, 1);
	registry_remove(&r, e);
	assert_int_equal(r.live, 0);
	assert_null(registry_find(&r, a, 1000));
	registry_free(&r);
}

static void test_expiry(void **state)
{
	struct registry r;
	uint8_t a[32], b[32];
	struct reg_entry *e;

	(void)state;
	assert_int_equal(registry_init(&r, 16, 0), 0);
	random_key(a);
	random_key(b);
	e = registry_insert(&r, a, 1000, 120000);
	assert_non_null(e);
	assert_non_null(registry_find(&r, a, 120999));
	/* Expired entries are gone for lookups and removed on sight. */
	assert_null(registry_find(&r, a, 121000));
	assert_int_equal(r.live, 0);
	/* The sweeper removes expired entries nobody asks about. */
	assert_non_null(registry_insert(&r, a, 0, 10));
	assert_non_null(registry_insert(&r, b, 0, 1000));
	assert_int_equal(registry_expire(&r, 500, 100), 1);
	assert_int_equal(r.live, 1);
	assert_null(registry_find(&r, a, 500));
	assert_non_null(registry_find(&r, b, 500));
	registry_free(&r);
}

static void test_capacity_full(void **state)
{
	struct registry r;
	uint8_t k[9][32];
	unsigned int i;

	(void)state;
	assert_int_equal(registry_init(&r, 8, 0), 0);
	for (i = 0; i < 9; i++)
		random_key(k[i]);
	for (i = 0; i < 8; i++)
		assert_non_null(registry_insert(&r, k[i], 0, 1000));
	/* Full of live entries: refused, nothing evicted. */
	assert_null(registry_insert(&r, k[8], 500, 1000));
	for (i = 0; i < 8; i++)
		assert_non_null(registry_find(&r, k[i], 500));
	/* Once they expire, the newcomer gets a slot. */
	assert_non_null(registry_insert(&r, k[8], 1000, 1000));
	assert_non_null(registry_find(&r, k[8], 1000));
	registry_free(&r);
}

static void test_consent_rules(void **state)
{
	uint8_t a[32], b[32], c[32], da[16], db[16], dc[16];
	uint8_t list[2][WGP_CONSENT_LEN];
	struct reg_entry *ea, *eb, *ec;
	struct registry r;

	(void)state;
	assert_int_equal(registry_init(&r, 16, 0), 0);
	random_key(a);
	random_key(b);
	random_key(c);
	digest_of(da, a);
	digest_of(db, b);
	digest_of(dc, c);
	ea = registry_insert(&r, a, 0, 1000);
	eb = registry_insert(&r, b, 0, 1000);
	ec = registry_insert(&r, c, 0, 1000);

	/* A names B only: no pair is mutual yet. */
	memcpy(list[0], db, 16);
	assert_int_equal(registry_set_consent(&r, ea, (const void *)list, 1), 1);
	assert_false(registry_mutual(&r, ea, eb));
	assert_false(registry_mutual(&r, eb, ea));
	/* B names A: A and B are mutual, in both directions. */
	memcpy(list[0], da, 16);
	assert_int_equal(registry_set_consent(&r, eb, (const void *)list, 1), 1);
	assert_true(registry_mutual(&r, ea, eb));
	assert_true(registry_mutual(&r, eb, ea));
	/* C names A and B; neither names C. */
	memcpy(list[0], da, 16);
	memcpy(list[1], db, 16);
	assert_int_equal(registry_set_consent(&r, ec, (const void *)list, 2), 1);
	assert_false(registry_mutual(&r, ec, ea));
	assert_false(registry_mutual(&r, ec, eb));
	assert_false(registry_mutual(&r, ea, ec));
	/* Nobody is mutual with itself. */
	memcpy(list[0], da, 16);
	assert_int_equal(registry_set_consent(&r, ea, (const void *)list, 1), 1);
	assert_false(registry_mutual(&r, ea, ea));
	/* A withdraws B: no longer mutual. */
	assert_false(registry_mutual(&r, ea, eb));
	assert_int_equal(registry_set_consent(&r, ea, NULL, 0), 1);
	assert_false(registry_names(&r, ea, eb->self_fp));
	registry_free(&r);
}

/* registry_set_consent() says whether the list now names other keys:
 * the same keys in another order, or repeated, are no change. */
static void test_consent_changed(void **state)
{
	uint8_t list[4][WGP_CONSENT_LEN], same[5][WGP_CONSENT_LEN], k[32];
	struct reg_entry *e;
	struct registry r;

	(void)state;
	assert_int_equal(registry_init(&r, 4, 4), 0);
	randombytes_buf(list, sizeof(list));
	random_key(k);
	e = registry_insert(&r, k, 0, 1000);
	assert_int_equal(registry_set_consent(&r, e, NULL, 0), 0);
	assert_int_equal(registry_set_consent(&r, e, (const void *)list, 3), 1);
	assert_int_equal(registry_set_consent(&r, e, (const void *)list, 3), 0);
	/* 2, 0, 1, 0, 2: the same three. */
	memcpy(same[0], list[2], WGP_CONSENT_LEN);
	memcpy(same[1], list[0], WGP_CONSENT_LEN);
	memcpy(same[2], list[1], WGP_CONSENT_LEN);
	memcpy(same[3], list[0], WGP_CONSENT_LEN);
	memcpy(same[4], list[2], WGP_CONSENT_LEN);
	assert_int_equal(registry_set_consent(&r, e, (const void *)same, 5), 0);
	assert_int_equal(e->n_consent, 3);
	/* One swapped for another, one more, one fewer, none. */
	assert_int_equal(registry_set_consent(&r, e, (const void *)(list + 1),
					      3), 1);
	assert_false(registry_names(&r, e, registry_fp(&r, list[0])));
	assert_true(registry_names(&r, e, registry_fp(&r, list[3])));
	assert_int_equal(registry_set_consent(&r, e, (const void *)list, 4), 1);
	assert_int_equal(registry_set_consent(&r, e, (const void *)list, 3), 1);
	assert_int_equal(registry_set_consent(&r, e, NULL, 0), 1);
	assert_int_equal(e->n_consent, 0);
	registry_free(&r);
}

static void test_consent_pool(void **state)
{
	uint8_t list[WGP_MAX_CONSENT][WGP_CONSENT_LEN], k[4][32];
	uint8_t dup[WGP_MAX_CONSENT][WGP_CONSENT_LEN];
	struct reg_entry *e[4];
	struct registry r;
	unsigned int i;

	(void)state;
	/* 17 chunks of 7 beyond each entry's 8 inline: one 64-entry list
	 * takes 8. */
	assert_int_equal(registry_init(&r, 4, 17), 0);
	randombytes_buf(list, sizeof(list));
	for (i = 0; i < 4; i++) {
		random_key(k[i]);
		e[i] = registry_insert(&r, k[i], 0, 1000);
	}
	assert_int_equal(registry_set_consent(&r, e[0], (const void *)list, 64), 1);
	assert_int_equal(r.chunks_used, 8);
	for (i = 0; i < 64; i++)
		assert_true(registry_names(&r, e[0], registry_fp(&r, list[i])));
	assert_int_equal(registry_set_consent(&r, e[1], (const void *)list, 64), 1);
	assert_int_equal(registry_set_consent(&r, e[2], (const void *)list, 9), 1);
	assert_int_equal(r.chunks_used, 17);
	/* Pool exhausted: a list of 9 is refused, and the old (empty) list
	 * stays; a list of 8 fits in the entry itself, always. */
	assert_int_equal(registry_set_consent(&r, e[3], (const void *)list, 9),
			 -ENOSPC);
	assert_int_equal(e[3]->n_consent, 0);
	assert_int_equal(registry_set_consent(&r, e[3], (const void *)list, 8), 1);
	assert_true(registry_names(&r, e[3], registry_fp(&r, list[7])));
	assert_false(registry_names(&r, e[3], registry_fp(&r, list[8])));
	/* Growing e[3] past 8 is refused too, its list of 8 kept. */
	assert_int_equal(registry_set_consent(&r, e[3], (const void *)list, 20),
			 -ENOSPC);
	assert_int_equal(e[3]->n_consent, 8);
	assert_true(registry_names(&r, e[3], registry_fp(&r, list[0])));
	/* Duplicates are stored once: 64 copies of one digest, 1 entry. */
	for (i = 0; i < WGP_MAX_CONSENT; i++)
		memcpy(dup[i], list[5], WGP_CONSENT_LEN);
	assert_int_equal(registry_set_consent(&r, e[2], (const void *)dup, 64), 1);
	assert_int_equal(e[2]->n_consent, 1);
	assert_int_equal(r.chunks_used, 16);
	assert_true(registry_names(&r, e[2], registry_fp(&r, list[5])));
	assert_false(registry_names(&r, e[2], registry_fp(&r, list[0])));
	/* Shrinking returns chunks; removal returns all of them. */
	assert_int_equal(registry_set_consent(&r, e[0], (const void *)list, 15), 1);
	assert_int_equal(r.chunks_used, 9);
	assert_false(registry_names(&r, e[0], registry_fp(&r, list[15])));
	assert_true(registry_names(&r, e[0], registry_fp(&r, list[14])));
	registry_remove(&r, e[1]);
	assert_int_equal(r.chunks_used, 1);
	assert_int_equal(registry_set_consent(&r, e[3], (const void *)list, 64), 1);
	assert_int_equal(registry_set_consent(&r, e[3], (const void *)list, 65),
			 -EINVAL);
	registry_free(&r);
}

/* 100k entries: all found, memory exactly what was reserved up front,
 * then all expired by the sweeper. */
static void test_100k(void **state)
{
	enum { N = 100000 };
	uint8_t (*keys)[32] = malloc((size_t)N * 32);
	struct registry r;
	size_t mem, removed = 0;
	unsigned int i;

	(void)state;
	assert_non_null(keys);
	randombytes_buf(keys, (size_t)N * 32);
	assert_int_equal(registry_init(&r, N, 0), 0);
	mem = registry_memory(&r);
	/* Entries, chunks and two indexes: bounded by capacity. */
	assert_true(mem < (size_t)N * 512);
	for (i = 0; i < N; i++)
		assert_non_null(registry_insert(&r, keys[i], 0, 1000 + i % 1000));
	assert_int_equal(r.live, N);
	assert_int_equal(registry_memory(&r), mem);
	for (i = 0; i < N; i++) {
		struct reg_entry *e = registry_find(&r, keys[i], 0);

		assert_non_null(e);
		assert_memory_equal(e->key, keys[i], 32);
	}
	/* Full: refused. */
	uint8_t extra[32];

	random_key(extra);
	assert_null(registry_insert(&r, extra, 0, 1000));
	while (r.live && removed < 2 * N)
		removed += registry_expire(&r, 5000, 4096);
	assert_int_equal(r.live, 0);
	assert_int_equal(registry_memory(&r), mem);
	registry_free(&r);
	free(keys);
}

/* Random insert/remove against a reference: backward-shift deletion
 * must never lose an item. */
static bool match_slot(uint32_t slot, const void *ctx)
{
	return slot == *(const uint32_t *)ctx;
}

static void test_hindex_churn(void **state)
{
	enum { N = 512 };
	uint64_t hash[N];
	bool in[N] = { false };
	struct hindex ix;
	unsigned int round, i;

	(void)state;
	assert_int_equal(hindex_init(&ix, N), 0);
	for (i = 0; i < N; i++)
		hash[i] = randombytes_uniform(64);	/* many collisions */
	for (round = 0; round < 20000; round++) {
		i = randombytes_uniform(N);
		if (in[i])
			assert_true(hindex_remove(&ix, hash[i], i));
		else
			hindex_insert(&ix, hash[i], i);
		in[i] = !in[i];
		if (round % 97 == 0) {
			for (uint32_t s = 0; s < N; s++)
				assert_int_equal(hindex_find(&ix, hash[s],
						match_slot, &s) == s, in[s]);
		}
	}
	hindex_free(&ix);
}

static void test_ratelimit(void **state)
{
	struct wgp_endpoint a = { .family = AF_INET, .addr = { 198, 18, 0, 1 } };
	struct wgp_endpoint b = { .family = AF_INET, .addr = { 198, 18, 0, 2 } };
	struct wgp_endpoint v6a = { .family = AF_INET6,
				    .addr = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 } };
	struct wgp_endpoint v6b = v6a;
	struct ratelimit rl;
	unsigned int i;

	(void)state;
	assert_int_equal(ratelimit_init(&rl, 64, 10, 5), 0);
	for (i = 0; i < 5; i++)
		assert_true(ratelimit_allow(&rl, &a, 1000));
	assert_false(ratelimit_allow(&rl, &a, 1000));
	/* Another source has its own bucket. */
	assert_true(ratelimit_allow(&rl, &b, 1000));
	/* 10/s: one token back after 100 ms. */
	assert_false(ratelimit_allow(&rl, &a, 1099));
	assert_true(ratelimit_allow(&rl, &a, 1100));
	assert_false(ratelimit_allow(&rl, &a, 1100));
	/* IPv6 sources share a bucket per /64. */
	for (i = 0; i < 5; i++)
		assert_true(ratelimit_allow(&rl, &v6a, 1000));
	v6b.addr[15] = 2;
	assert_false(ratelimit_allow(&rl, &v6b, 1000));
	v6b.addr[7] = 1;
	assert_true(ratelimit_allow(&rl, &v6b, 1000));
	ratelimit_free(&rl);

	/* rate 0: unlimited. */
	assert_int_equal(ratelimit_init(&rl, 1, 0, 1), 0);
	for (i = 0; i < 1000; i++)
		assert_true(ratelimit_allow(&rl, &a, 0));
	ratelimit_free(&rl);
}

static void test_token_bucket(void **state)
{
	struct token_bucket tb;

	(void)state;
	token_bucket_init(&tb, 2, 2, 0);
	assert_true(token_bucket_take(&tb, 0));
	assert_true(token_bucket_take(&tb, 0));
	assert_false(token_bucket_take(&tb, 0));
	assert_false(token_bucket_take(&tb, 499));
	assert_true(token_bucket_take(&tb, 500));
}

static void test_legacy(void **state)
{
	struct wgp_endpoint src_a = { .family = AF_INET, .port = 51820,
				      .addr = { 198, 18, 0, 1 } };
	struct wgp_endpoint src_b = { .family = AF_INET, .port = 4242,
				      .addr = { 198, 18, 0, 2 } };
	struct wgp_endpoint src6 = { .family = AF_INET6, .port = 1,
				     .addr = { 0x20, 0x01, 0x0d, 0xb8 } };
	uint8_t req[64], reply[6], a[32], b[32], c[32];
	struct legacy lg;

	(void)state;
	assert_int_equal(legacy_init(&lg, 2), 0);
	random_key(a);
	random_key(b);
	random_key(c);
	/* A asks for B: unknown (0 bytes), but A is now registered. */
	memcpy(req, a, 32);
	memcpy(req + 32, b, 32);
	assert_int_equal(legacy_handle(&lg, req, &src_a, 0, 1000, reply), 0);
	/* B asks for A: 6 bytes, ip + port in network order. */
	memcpy(req, b, 32);
	memcpy(req + 32, a, 32);
	assert_int_equal(legacy_handle(&lg, req, &src_b, 0, 1000, reply), 6);
	assert_memory_equal(reply, "\xc6\x12\x00\x01\xca\x6c", 6);
	/* The all-zero key is never found (contrib's empty-slot bug). */
	memset(req + 32, 0, 32);
	assert_int_equal(legacy_handle(&lg, req, &src_b, 0, 1000, reply), 0);
	/* Full table: C is not stored, A and B are not evicted. */
	memcpy(req, c, 32);
	memcpy(req + 32, a, 32);
	assert_int_equal(legacy_handle(&lg, req, &src_b, 10, 1000, reply), 6);
	memcpy(req, a, 32);
	memcpy(req + 32, c, 32);
	assert_int_equal(legacy_handle(&lg, req, &src_a, 10, 1000, reply), 0);
	/* IPv6 sources: no answer possible in this format. */
	assert_int_equal(legacy_handle(&lg, req, &src6, 10, 1000, reply), -1);
	/* Expiry: A registered at 10 (refreshed), gone after 1010. */
	memcpy(req, b, 32);
	memcpy(req + 32, a, 32);
	assert_int_equal(legacy_handle(&lg, req, &src_b, 1011, 1000, reply), 0);
	legacy_free(&lg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_insert_find_remove),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_capacity_full),
		cmocka_unit_test(test_consent_rules),
		cmocka_unit_test(test_consent_changed),
		cmocka_unit_test(test_consent_pool),
		cmocka_unit_test(test_100k),
		cmocka_unit_test(test_hindex_churn),
		cmocka_unit_test(test_ratelimit),
		cmocka_unit_test(test_token_bucket),
		cmocka_unit_test(test_legacy),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
