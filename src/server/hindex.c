// SPDX-License-Identifier: MIT
/*
 * wgpunchd — open-addressing hash index (see hindex.h).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "hindex.h"

/*
 * Buckets are read by other workers' threads (registry_peek) while the
 * owner writes them: every access is a relaxed atomic, which costs
 * nothing over a plain one on the machines we run on. Ordering comes
 * from the registry's sequence counters, not from here.
 */
static inline uint64_t load(_Atomic uint64_t *b)
{
	return atomic_load_explicit(b, memory_order_relaxed);
}

static inline void store(_Atomic uint64_t *b, uint64_t v)
{
	atomic_store_explicit(b, v, memory_order_relaxed);
}

static inline uint32_t bucket_slot(uint64_t b)
{
	return (uint32_t)b - 1;
}

static inline uint32_t bucket_hash(uint64_t b)
{
	return (uint32_t)(b >> 32);
}

int hindex_init(struct hindex *ix, size_t max_items)
{
	size_t n = 16;

	if (!max_items || max_items > (1U << 30))
		return -EINVAL;
	while (n < 2 * max_items)
		n <<= 1;
	/* calloc of a big block is fresh zero pages from mmap: untouched
	 * buckets cost address space, not memory. */
	ix->buckets = calloc(n, sizeof(*ix->buckets));
	if (!ix->buckets)
		return -ENOMEM;
	ix->mask = (uint32_t)(n - 1);
	return 0;
}

void hindex_free(struct hindex *ix)
{
	free(ix->buckets);
	ix->buckets = NULL;
}

size_t hindex_memory(const struct hindex *ix)
{
	return ((size_t)ix->mask + 1) * sizeof(*ix->buckets);
}

uint32_t hindex_find(const struct hindex *ix, uint64_t hash,
		     bool (*match)(uint32_t slot, const void *ctx),
		     const void *ctx)
{
	uint32_t h = (uint32_t)hash, i = h & ix->mask;
	uint64_t b;

	/* Load factor <= 1/2 guarantees an empty bucket ends the probe. */
	while ((b = load(&ix->buckets[i]))) {
		if (bucket_hash(b) == h && match(bucket_slot(b), ctx))
			return bucket_slot(b);
		i = (i + 1) & ix->mask;
	}
	return HINDEX_NONE;
}

void hindex_insert(struct hindex *ix, uint64_t hash, uint32_t slot)
{
	uint32_t h = (uint32_t)hash, i = h & ix->mask;

	while (load(&ix->buckets[i]))
		i = (i + 1) & ix->mask;
	store(&ix->buckets[i], (uint64_t)h << 32 | ((uint64_t)slot + 1));
}

bool hindex_remove(struct hindex *ix, uint64_t hash, uint32_t slot)
{
	uint32_t h = (uint32_t)hash, i = h & ix->mask, j, home;
	uint64_t b;

	for (;;) {
		b = load(&ix->buckets[i]);
		if (!b)
			return false;
		if (bucket_slot(b) == slot)
			break;
		i = (i + 1) & ix->mask;
	}
	/* Backward shift: pull later members of the cluster into the hole
	 * unless that would move them before their home bucket. */
	for (j = (i + 1) & ix->mask; (b = load(&ix->buckets[j]));
	     j = (j + 1) & ix->mask) {
		home = bucket_hash(b) & ix->mask;
		/* Is home cyclically outside (i, j]? Then b may fill i. */
		if (((j - home) & ix->mask) >= ((j - i) & ix->mask)) {
			store(&ix->buckets[i], b);
			i = j;
		}
	}
	store(&ix->buckets[i], 0);
	return true;
}
