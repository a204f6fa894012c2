/* SPDX-License-Identifier: MIT */
/*
 * wgpunchd — a fixed-size open-addressing index from a (keyed, hence
 * unpredictable) 64-bit hash to a 32-bit slot number in a caller-owned
 * array. Linear probing with backward-shift deletion: no tombstones, so
 * lookups stay O(1) on average however long the server runs. The table
 * holds at most half as many items as it has buckets; the caller bounds
 * its item count by the capacity given to hindex_init().
 *
 * One thread writes an index; others may read it at the same time
 * (hindex_find), every bucket being one atomic word: a reader can miss
 * an item moved by a concurrent removal's backward shift, never see a
 * torn one. The registry's sequence counter tells it to retry.
 */
#ifndef WGPUNCHD_HINDEX_H
#define WGPUNCHD_HINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

#define HINDEX_NONE UINT32_MAX

struct hindex {
	_Atomic uint64_t *buckets;	/* hi 32: hash bits, lo 32: slot + 1; 0 = empty */
	uint32_t mask;
};

/* Room for max_items (> 0); 0 or -ENOMEM/-EINVAL. */
int hindex_init(struct hindex *ix, size_t max_items);
void hindex_free(struct hindex *ix);
size_t hindex_memory(const struct hindex *ix);

/* match(slot, ctx) decides whether a candidate with equal hash bits is
 * the item sought. Returns the slot or HINDEX_NONE. */
uint32_t hindex_find(const struct hindex *ix, uint64_t hash,
		     bool (*match)(uint32_t slot, const void *ctx),
		     const void *ctx);

/* The caller guarantees the slot is not already indexed and that the
 * item count stays within the capacity. */
void hindex_insert(struct hindex *ix, uint64_t hash, uint32_t slot);

/* Remove exactly this slot (indexed under hash); false if absent. */
bool hindex_remove(struct hindex *ix, uint64_t hash, uint32_t slot);

#endif
