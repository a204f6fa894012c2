// SPDX-License-Identifier: MIT
/*
 * wgpunchd — registry (see registry.h). Free entry slots and free chunks
 * form singly linked lists through their own link fields; fresh slots
 * are handed out by a bump index first, so pages of the big arrays are
 * touched only once used.
 */
#include <errno.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "registry.h"

struct find_ctx {
	const struct registry *r;
	const uint8_t *bytes;
};

static bool match_key(uint32_t slot, const void *ctx)
{
	const struct find_ctx *c = ctx;

	return !memcmp(c->r->entries[slot].key, c->bytes, WGP_KEY_LEN);
}

static bool match_digest(uint32_t slot, const void *ctx)
{
	const struct find_ctx *c = ctx;

	return !memcmp(c->r->entries[slot].digest, c->bytes, WGP_CONSENT_LEN);
}

static uint64_t siphash(const uint8_t *in, size_t len, const uint8_t *key)
{
	uint8_t out[crypto_shorthash_BYTES];
	uint64_t h;

	crypto_shorthash(out, in, len, key);
	memcpy(&h, out, sizeof(h));
	return h;
}

int registry_init(struct registry *r, size_t capacity, size_t consent_chunks)
{
	int ret;

	memset(r, 0, sizeof(*r));
	if (!capacity || capacity >= (1U << 30))
		return -EINVAL;
	if (!consent_chunks)
		consent_chunks = capacity / 2 ? capacity / 2 : 1;
	if (consent_chunks >= (1U << 30))
		return -EINVAL;
	r->capacity = (uint32_t)capacity;
	r->n_chunks = (uint32_t)consent_chunks;
	r->free_head = r->chunk_free = REG_NONE;
	randombytes_buf(r->key_hash_key, sizeof(r->key_hash_key));
	randombytes_buf(r->fp_key, sizeof(r->fp_key));
	r->entries = calloc(capacity, sizeof(*r->entries));
	r->chunks = calloc(consent_chunks, sizeof(*r->chunks));
	r->seq = calloc(capacity, sizeof(*r->seq));
	if (!r->entries || !r->chunks || !r->seq) {
		ret = -ENOMEM;
		goto err;
	}
	ret = hindex_init(&r->by_key, capacity);
	if (ret < 0)
		goto err;
	ret = hindex_init(&r->by_digest, capacity);
	if (ret < 0)
		goto err;
	return 0;
err:
	registry_free(r);
	return ret;
}

void registry_free(struct registry *r)
{
	if (r->entries)
		sodium_memzero(r->entries, (size_t)r->bump * sizeof(*r->entries));
	free(r->entries);
	free(r->chunks);
	free(r->seq);
	hindex_free(&r->by_key);
	hindex_free(&r->by_digest);
	memset(r, 0, sizeof(*r));
}

size_t registry_memory(const struct registry *r)
{
	return (size_t)r->capacity * (sizeof(*r->entries) + sizeof(*r->seq)) +
	       (size_t)r->n_chunks * sizeof(*r->chunks) +
	       hindex_memory(&r->by_key) + hindex_memory(&r->by_digest);
}

uint64_t registry_fp(const struct registry *r,
		     const uint8_t digest[static WGP_CONSENT_LEN])
{
	return siphash(digest, WGP_CONSENT_LEN, r->fp_key);
}

void registry_share_keys(struct registry *r, const struct registry *from)
{
	memcpy(r->key_hash_key, from->key_hash_key, sizeof(r->key_hash_key));
	memcpy(r->fp_key, from->fp_key, sizeof(r->fp_key));
}

/* ---- sequence counters (registry.h: partitions) --------------------- */

/*
 * The writer's half of a sequence lock: odd, then (release fence) the
 * writes, then even with release. A reader that saw any of the writes
 * sees the odd value or a later one when it checks again.
 */
static void seq_begin(_Atomic uint32_t *seq)
{
	uint32_t s = atomic_load_explicit(seq, memory_order_relaxed);

	atomic_store_explicit(seq, s + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}

static void seq_end(_Atomic uint32_t *seq)
{
	uint32_t s = atomic_load_explicit(seq, memory_order_relaxed);

	atomic_store_explicit(seq, s + 1, memory_order_release);
}

/* The reader's half: a value to compare with seq_unchanged's, odd
 * when a write is under way. */
static uint32_t seq_read(const _Atomic uint32_t *seq)
{
	return atomic_load_explicit(seq, memory_order_acquire);
}

static bool seq_unchanged(const _Atomic uint32_t *seq, uint32_t was)
{
	atomic_thread_fence(memory_order_acquire);
	return !(was & 1) &&
	       atomic_load_explicit(seq, memory_order_relaxed) == was;
}

void registry_write_begin(struct registry *r, const struct reg_entry *e)
{
	seq_begin(&r->seq[registry_slot(r, e)]);
}

void registry_write_end(struct registry *r, const struct reg_entry *e)
{
	seq_end(&r->seq[registry_slot(r, e)]);
}

/* ---- consent chunks ------------------------------------------------ */

static uint32_t chunk_alloc(struct registry *r)
{
	uint32_t c;

	if (r->chunk_free != REG_NONE) {
		c = r->chunk_free;
		r->chunk_free = r->chunks[c].next;
	} else if (r->chunk_bump < r->n_chunks) {
		c = r->chunk_bump++;
	} else {
		return REG_NONE;
	}
	r->chunks_used++;
	r->chunks[c].next = REG_NONE;
	r->chunks[c].used = 0;
	return c;
}

static void chain_free(struct registry *r, uint32_t c)
{
	uint32_t next;

	for (; c != REG_NONE; c = next) {
		next = r->chunks[c].next;
		r->chunks[c].next = r->chunk_free;
		r->chunk_free = c;
		r->chunks_used--;
	}
}

/*
 * Keyed fingerprints of digests[0..n), each value once, in the order of
 * first appearance: a list naming one peer 64 times is one entry. At
 * most 64 x 63 / 2 compares of 64-bit words, a REGISTER's worth.
 * Returns how many are distinct.
 */
static unsigned int distinct_fps(const struct registry *r,
				 const uint8_t (*digests)[WGP_CONSENT_LEN],
				 unsigned int n, uint64_t *fp)
{
	unsigned int i, j, m = 0;
	uint64_t v;

	for (i = 0; i < n; i++) {
		v = registry_fp(r, digests[i]);
		for (j = 0; j < m && fp[j] != v; j++)
			;
		if (j == m)
			fp[m++] = v;
	}
	return m;
}

/* Chunks a list of n distinct entries needs beyond the inline ones. */
static unsigned int chunks_for(unsigned int n)
{
	if (n <= CONSENT_INLINE)
		return 0;
	return (n - CONSENT_INLINE + CONSENT_PER_CHUNK - 1) / CONSENT_PER_CHUNK;
}

/* Make e's chain exactly need chunks long (the caller checked that the
 * pool has them), emptied. */
static void chain_resize(struct registry *r, struct reg_entry *e,
			 unsigned int need)
{
	uint32_t *link = &e->consent;
	unsigned int i;

	for (i = 0; i < need; i++) {
		if (*link == REG_NONE)
			*link = chunk_alloc(r);
		r->chunks[*link].used = 0;
		link = &r->chunks[*link].next;
	}
	chain_free(r, *link);
	*link = REG_NONE;
}

/* Does e's list hold exactly the n distinct fingerprints fp? */
static bool same_set(const struct registry *r, const struct reg_entry *e,
		     const uint64_t *fp, unsigned int n)
{
	unsigned int i;

	if (n != e->n_consent)
		return false;
	for (i = 0; i < n; i++)
		if (!registry_names(r, e, fp[i]))
			return false;
	return true;
}

int registry_set_consent(struct registry *r, struct reg_entry *e,
			 const uint8_t (*digests)[WGP_CONSENT_LEN],
			 unsigned int n)
{
	uint64_t fp[WGP_MAX_CONSENT];
	unsigned int need, have, i;
	uint32_t c;

	if (n > WGP_MAX_CONSENT)
		return -EINVAL;
	n = distinct_fps(r, digests, n, fp);
	if (same_set(r, e, fp, n))
		return 0;
	need = chunks_for(n);
	have = chunks_for(e->n_consent);
	/* Grow first, so failure leaves the old list intact. */
	if (need > have && r->n_chunks - r->chunks_used < need - have)
		return -ENOSPC;
	registry_write_begin(r, e);
	chain_resize(r, e, need);
	for (i = 0; i < n && i < CONSENT_INLINE; i++)
		e->consent_fp[i] = fp[i];
	c = e->consent;
	for (; i < n; i++) {
		struct consent_chunk *ch = &r->chunks[c];

		ch->fp[ch->used++] = fp[i];
		if (ch->used == CONSENT_PER_CHUNK)
			c = ch->next;
	}
	e->n_consent = (uint8_t)n;
	registry_write_end(r, e);
	return 1;
}

bool registry_names(const struct registry *r, const struct reg_entry *e,
		    uint64_t fp)
{
	unsigned int i, n = e->n_consent < CONSENT_INLINE ?
			    e->n_consent : CONSENT_INLINE;
	uint32_t c;

	for (i = 0; i < n; i++)
		if (e->consent_fp[i] == fp)
			return true;
	for (c = e->consent; c != REG_NONE; c = r->chunks[c].next)
		for (i = 0; i < r->chunks[c].used; i++)
			if (r->chunks[c].fp[i] == fp)
				return true;
	return false;
}

bool registry_mutual(const struct registry *r, const struct reg_entry *a,
		     const struct reg_entry *b)
{
	return a != b && registry_names(r, a, b->self_fp) &&
	       registry_names(r, b, a->self_fp);
}

/* ---- entries ------------------------------------------------------- */

void registry_remove(struct registry *r, struct reg_entry *e)
{
	uint32_t slot = registry_slot(r, e);

	registry_write_begin(r, e);
	seq_begin(&r->iseq);
	hindex_remove(&r->by_key, e->key_hash, slot);
	hindex_remove(&r->by_digest, e->self_fp, slot);
	seq_end(&r->iseq);
	chain_free(r, e->consent);
	sodium_memzero(e, sizeof(*e));
	registry_write_end(r, e);
	e->consent = r->free_head;
	r->free_head = slot;
	r->live--;
}

static struct reg_entry *found(struct registry *r, uint32_t slot,
			       uint64_t now)
{
	struct reg_entry *e;

	if (slot == HINDEX_NONE)
		return NULL;
	e = &r->entries[slot];
	if (!registry_live(e, now)) {
		registry_remove(r, e);
		return NULL;
	}
	return e;
}

struct reg_entry *registry_find(struct registry *r,
				const uint8_t key[static WGP_KEY_LEN],
				uint64_t now)
{
	struct find_ctx c = { r, key };
	uint64_t h = siphash(key, WGP_KEY_LEN, r->key_hash_key);

	return found(r, hindex_find(&r->by_key, h, match_key, &c), now);
}

struct reg_entry *registry_find_digest(struct registry *r,
				       const uint8_t digest[static WGP_CONSENT_LEN],
				       uint64_t now)
{
	struct find_ctx c = { r, digest };
	uint64_t h = registry_fp(r, digest);

	return found(r, hindex_find(&r->by_digest, h, match_digest, &c), now);
}

static uint32_t slot_alloc(struct registry *r)
{
	uint32_t slot;

	if (r->free_head != REG_NONE) {
		slot = r->free_head;
		r->free_head = r->entries[slot].consent;
		return slot;
	}
	if (r->bump < r->capacity)
		return r->bump++;
	return REG_NONE;
}

struct reg_entry *registry_insert(struct registry *r,
				  const uint8_t key[static WGP_KEY_LEN],
				  uint64_t now, uint64_t ttl_ms)
{
	struct reg_entry *e;
	uint32_t slot;

	if (r->live == r->capacity)
		registry_expire(r, now, 64);
	slot = slot_alloc(r);
	if (slot == REG_NONE) {
		errno = ENOSPC;
		return NULL;
	}
	e = &r->entries[slot];
	registry_write_begin(r, e);
	memset(e, 0, sizeof(*e));
	memcpy(e->key, key, WGP_KEY_LEN);
	wgp_consent_digest(e->digest, e->key);
	e->key_hash = siphash(key, WGP_KEY_LEN, r->key_hash_key);
	e->self_fp = registry_fp(r, e->digest);
	e->expires = now + (ttl_ms ? ttl_ms : 1);
	e->consent = REG_NONE;
	seq_begin(&r->iseq);
	hindex_insert(&r->by_key, e->key_hash, slot);
	hindex_insert(&r->by_digest, e->self_fp, slot);
	seq_end(&r->iseq);
	registry_write_end(r, e);
	r->live++;
	return e;
}

size_t registry_expire(struct registry *r, uint64_t now, size_t budget)
{
	size_t removed = 0, examined = 0;
	struct reg_entry *e;

	if (!r->bump)
		return 0;
	while (removed < budget && examined < 4 * budget &&
	       examined < r->bump) {
		if (r->sweep >= r->bump)
			r->sweep = 0;
		e = &r->entries[r->sweep++];
		examined++;
		if (e->expires && !registry_live(e, now)) {
			registry_remove(r, e);
			removed++;
		}
	}
	return removed;
}

/* ---- readers on other threads (registry.h: partitions) -------------- */

/*
 * A reader's loads race with the owner's plain stores by design: the
 * sequence counter, not the memory model, decides whether what was read
 * is kept (the kernel's seqcount; C11 has no better tool for a copy of
 * 400 bytes). So the loads are volatile loads of whole aligned words
 * (never torn, never made into a memcpy call, whose interceptor would
 * see them anyway), and ThreadSanitizer is told not to look at these
 * functions only: every other access of the workers, the sequence
 * counters and the index buckets included, is still checked.
 */
#define RACY_READER __attribute__((no_sanitize_thread))

typedef uint64_t __attribute__((may_alias)) word_alias;

_Static_assert(sizeof(struct reg_entry) % sizeof(uint64_t) == 0 &&
	       _Alignof(struct reg_entry) >= _Alignof(uint64_t),
	       "entries are copied a word at a time");

RACY_READER
static void racy_copy_entry(struct reg_entry *dst, const struct reg_entry *src)
{
	const volatile word_alias *s = (const volatile word_alias *)src;
	word_alias *d = (word_alias *)dst;
	size_t i;

	for (i = 0; i < sizeof(*dst) / sizeof(*d); i++)
		d[i] = s[i];
}

RACY_READER
static bool racy_equal(const volatile uint8_t *live, const uint8_t *want,
		       size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (live[i] != want[i])
			return false;
	return true;
}

/* hindex_find's matches for a reader: whether the candidate is the one
 * sought is decided again on the copy. */
static bool peek_match_key(uint32_t slot, const void *ctx)
{
	const struct find_ctx *c = ctx;

	return racy_equal(c->r->entries[slot].key, c->bytes, WGP_KEY_LEN);
}

static bool peek_match_digest(uint32_t slot, const void *ctx)
{
	const struct find_ctx *c = ctx;

	return racy_equal(c->r->entries[slot].digest, c->bytes,
			  WGP_CONSENT_LEN);
}

/*
 * Does the copy snap name fp? Its inline fingerprints are in the copy;
 * the overflow chunks are read in place, bounded however they change
 * meanwhile (the caller throws the answer away if they did).
 */
RACY_READER
static bool snap_names(const struct registry *r, const struct reg_entry *snap,
		       uint64_t fp)
{
	unsigned int i, used, steps, n = snap->n_consent < CONSENT_INLINE ?
					 snap->n_consent : CONSENT_INLINE;
	const unsigned int max_steps = chunks_for(WGP_MAX_CONSENT);
	uint32_t c = snap->consent;

	for (i = 0; i < n; i++)
		if (snap->consent_fp[i] == fp)
			return true;
	for (steps = 0; c < r->n_chunks && steps < max_steps; steps++) {
		const volatile struct consent_chunk *ch = &r->chunks[c];

		used = ch->used;
		if (used > CONSENT_PER_CHUNK)
			used = CONSENT_PER_CHUNK;
		for (i = 0; i < used; i++)
			if (ch->fp[i] == fp)
				return true;
		c = ch->next;
	}
	return false;
}

/* One consistent copy of slot, or false if its owner wrote it
 * meanwhile. */
static bool snapshot(const struct registry *r, uint32_t slot, uint64_t fp,
		     struct reg_entry *out, bool *names)
{
	uint32_t s = seq_read(&r->seq[slot]);

	if (s & 1)
		return false;
	racy_copy_entry(out, &r->entries[slot]);
	*names = snap_names(r, out, fp);
	return seq_unchanged(&r->seq[slot], s);
}

/* Between two tries: let the writer's core finish (x86 PAUSE, about
 * 40 ns to 140 cycles; elsewhere a compiler barrier only). */
static void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

static bool peek(const struct registry *r, const struct hindex *ix,
		 uint64_t hash, bool (*match)(uint32_t, const void *),
		 const struct find_ctx *c, size_t off, size_t len,
		 uint64_t now, uint64_t fp, struct reg_entry *out, bool *names)
{
	unsigned int tries;
	uint32_t is, slot;

	for (tries = 0; tries < REG_PEEK_TRIES; tries++, relax()) {
		is = seq_read(&r->iseq);
		slot = hindex_find(ix, hash, match, c);
		if (slot == HINDEX_NONE) {
			/* Not there, unless a removal's shift hid it. */
			if (seq_unchanged(&r->iseq, is))
				return false;
			continue;
		}
		if (!snapshot(r, slot, fp, out, names))
			continue;
		/* The slot may have been reused since the index named it:
		 * the copy itself must be of the entry sought. A new entry
		 * whose owner has not given it a mapping yet (inserted, its
		 * consent list set, not yet refreshed) is not there yet. */
		if (!memcmp((const uint8_t *)out + off, c->bytes, len))
			return registry_live(out, now) && out->ep.family;
		if (seq_unchanged(&r->iseq, is))
			return false;
	}
	return false;
}

bool registry_peek(const struct registry *r,
		   const uint8_t key[static WGP_KEY_LEN], uint64_t now,
		   uint64_t fp, struct reg_entry *out, bool *names)
{
	struct find_ctx c = { r, key };
	uint64_t h = siphash(key, WGP_KEY_LEN, r->key_hash_key);

	return peek(r, &r->by_key, h, peek_match_key, &c,
		    offsetof(struct reg_entry, key), WGP_KEY_LEN, now, fp,
		    out, names);
}

bool registry_peek_digest(const struct registry *r,
			  const uint8_t digest[static WGP_CONSENT_LEN],
			  uint64_t now, uint64_t fp, struct reg_entry *out,
			  bool *names)
{
	struct find_ctx c = { r, digest };
	uint64_t h = registry_fp(r, digest);

	return peek(r, &r->by_digest, h, peek_match_digest, &c,
		    offsetof(struct reg_entry, digest), WGP_CONSENT_LEN, now,
		    fp, out, names);
}
