// SPDX-License-Identifier: MIT
/*
 * wgpunchd — the contrib protocol's table (see legacy.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "legacy.h"

struct find_ctx {
	const struct legacy *lg;
	const uint8_t *key;
};

static bool match(uint32_t slot, const void *ctx)
{
	const struct find_ctx *c = ctx;

	return !memcmp(c->lg->entries[slot].key, c->key, WGP_KEY_LEN);
}

static uint64_t key_hash(const struct legacy *lg, const uint8_t *key)
{
	uint8_t out[crypto_shorthash_BYTES];
	uint64_t h;

	crypto_shorthash(out, key, WGP_KEY_LEN, lg->hash_key);
	memcpy(&h, out, sizeof(h));
	return h;
}

int legacy_init(struct legacy *lg, size_t capacity)
{
	int ret;

	memset(lg, 0, sizeof(*lg));
	if (!capacity || capacity >= (1U << 30))
		return -EINVAL;
	lg->capacity = (uint32_t)capacity;
	lg->free_head = UINT32_MAX;
	randombytes_buf(lg->hash_key, sizeof(lg->hash_key));
	lg->entries = calloc(capacity, sizeof(*lg->entries));
	if (!lg->entries)
		return -ENOMEM;
	ret = hindex_init(&lg->ix, capacity);
	if (ret < 0) {
		free(lg->entries);
		lg->entries = NULL;
	}
	return ret;
}

void legacy_free(struct legacy *lg)
{
	free(lg->entries);
	hindex_free(&lg->ix);
	memset(lg, 0, sizeof(*lg));
}

static void remove_entry(struct legacy *lg, struct legacy_entry *e)
{
	uint32_t slot = (uint32_t)(e - lg->entries);

	hindex_remove(&lg->ix, e->hash, slot);
	memset(e, 0, sizeof(*e));
	e->next_free = lg->free_head;
	lg->free_head = slot;
	lg->live--;
}

static struct legacy_entry *find(struct legacy *lg, const uint8_t *key,
				 uint64_t hash, uint64_t now)
{
	struct find_ctx c = { lg, key };
	uint32_t slot = hindex_find(&lg->ix, hash, match, &c);
	struct legacy_entry *e;

	if (slot == HINDEX_NONE)
		return NULL;
	e = &lg->entries[slot];
	if (e->expires <= now) {
		remove_entry(lg, e);
		return NULL;
	}
	return e;
}

static struct legacy_entry *insert(struct legacy *lg, const uint8_t *key,
				   uint64_t hash, uint64_t now)
{
	struct legacy_entry *e;
	uint32_t slot;

	if (lg->live == lg->capacity)
		legacy_expire(lg, now, 64);
	if (lg->free_head != UINT32_MAX) {
		slot = lg->free_head;
		lg->free_head = lg->entries[slot].next_free;
	} else if (lg->bump < lg->capacity) {
		slot = lg->bump++;
	} else {
		return NULL;	/* full: live entries are never evicted */
	}
	e = &lg->entries[slot];
	memcpy(e->key, key, WGP_KEY_LEN);
	e->hash = hash;
	hindex_insert(&lg->ix, hash, slot);
	lg->live++;
	return e;
}

int legacy_handle(struct legacy *lg,
		  const uint8_t req[static WGP_LEGACY_REQUEST_LEN],
		  const struct wgp_endpoint *src, uint64_t now,
		  uint64_t ttl_ms, uint8_t reply[static WGP_LEGACY_REPLY_LEN])
{
	const uint8_t *mine = req, *theirs = req + WGP_KEY_LEN;
	struct legacy_entry *e;
	uint64_t h;

	if (src->family != AF_INET)
		return -1;
	/* The all-zero key is what contrib's empty slots held; it names
	 * no one, so it is neither stored nor found. */
	if (!sodium_is_zero(mine, WGP_KEY_LEN)) {
		h = key_hash(lg, mine);
		e = find(lg, mine, h, now);
		if (!e)
			e = insert(lg, mine, h, now);
		if (e) {
			memcpy(e->addr, src->addr, 4);
			e->port = src->port;
			e->expires = now + ttl_ms;
		}
	}
	if (sodium_is_zero(theirs, WGP_KEY_LEN))
		return 0;
	e = find(lg, theirs, key_hash(lg, theirs), now);
	if (!e)
		return 0;
	memcpy(reply, e->addr, 4);
	reply[4] = (uint8_t)(e->port >> 8);
	reply[5] = (uint8_t)e->port;
	return WGP_LEGACY_REPLY_LEN;
}

size_t legacy_expire(struct legacy *lg, uint64_t now, size_t budget)
{
	size_t removed = 0, examined = 0;
	struct legacy_entry *e;

	while (lg->bump && removed < budget && examined < 4 * budget &&
	       examined < lg->bump) {
		if (lg->sweep >= lg->bump)
			lg->sweep = 0;
		e = &lg->entries[lg->sweep++];
		examined++;
		if (e->expires && e->expires <= now) {
			remove_entry(lg, e);
			removed++;
		}
	}
	return removed;
}
