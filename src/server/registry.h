/* SPDX-License-Identifier: MIT */
/*
 * wgpunchd — the registry of authenticated registrations.
 *
 * Entries live in one array allocated up front (capacity), found through
 * two hash indexes: by public key (requests name their sender and LOOKUP
 * targets by key) and by consent digest (REGISTER names peers by
 * digest). Both are keyed with per-process random SipHash keys so no one
 * can aim collisions. A consent list is stored as 64-bit keyed
 * fingerprints of the digests, duplicates collapsed: the first
 * CONSENT_INLINE in the entry itself, so a short list always fits and
 * no one can take that room; the rest in 64-byte chunks from a second
 * fixed pool that longer lists share. Memory is therefore fixed at
 * creation; a full registry refuses newcomers and never evicts live
 * entries.
 *
 * Times are milliseconds of CLOCK_MONOTONIC supplied by the caller, so
 * tests control the clock.
 *
 * Partitions (wgpunchd --workers): each worker owns one registry, the
 * only thread that ever writes it, and holds the keys whose requests the
 * kernel steers to it. Other workers read it without a lock and without
 * ever waiting for its owner: registry_peek*() copies an entry under two
 * sequence counters, one per entry (its contents) and one per registry
 * (its indexes), made odd by the owner while it writes and even again
 * after; a copy taken while either changed is taken again. The owner
 * brackets every write other workers may read (registry_write_begin/
 * end; insert, remove and set_consent do it themselves).
 */
#ifndef WGPUNCHD_REGISTRY_H
#define WGPUNCHD_REGISTRY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hindex.h"
#include "proto.h"
#include "ratelimit.h"

#define REG_NONE UINT32_MAX
#define CONSENT_INLINE 8	/* fingerprints every entry holds itself */
#define CONSENT_PER_CHUNK 7	/* ... and per chunk of the shared pool */
/* Copies a reader tries, a PAUSE apart, before it gives up on an entry
 * its owner keeps rewriting (then it reports the entry as not there, as
 * a LOOKUP racing the peer's first REGISTER would): a reader never
 * waits for a writer more than some microseconds, not even for one
 * preempted in the middle of a write. */
#define REG_PEEK_TRIES 256

struct reg_entry {
	uint8_t key[WGP_KEY_LEN];
	struct wgp_session sess;	/* cached: no X25519 for known keys */
	uint8_t digest[WGP_CONSENT_LEN];	/* wgp_consent_digest(key) */
	uint64_t key_hash;		/* index hashes, kept for removal */
	uint64_t self_fp;		/* fingerprint of digest */
	uint64_t counter;		/* last accepted */
	uint64_t expires;		/* ms; 0: free slot */
	/* --registry (store.h): the server holding an entry of the cache
	 * (0: this one), and, the owner's alone, the expiry last written
	 * to Redis. */
	uint64_t origin;
	uint64_t shared_until;
	uint32_t shared_epoch;		/* store->epoch at that write */
	struct wgp_endpoint ep;		/* mapping the server saw */
	struct wgp_endpoint local;	/* server address it reached */
	/* Host candidates of the latest v2 REGISTER/LOOKUP, unusable
	 * slots zeroed (wgp_endpoint_usable); all empty after a v1 one. */
	struct wgp_endpoint cands[WGP_MAX_CANDIDATES];
	uint64_t consent_fp[CONSENT_INLINE];	/* first of the list */
	uint32_t consent;		/* overflow chunks or REG_NONE;
					 * free list link of a free slot */
	/* What the key may do, whatever address it sends from: requests
	 * that prove themselves fresh, and NOTIFYs it causes others. */
	struct small_bucket requests;
	struct small_bucket notifies;
	uint8_t n_consent;		/* distinct entries stored */
	uint8_t flags;			/* WGP_F_* the client declared */
	uint8_t version;		/* of the latest REGISTER/LOOKUP: what
					 * NOTIFYs to it are sealed in */
	/* --registry: Redis may hold this registration without its
	 * consent list (a TOUCH was the first write after a
	 * reconnection): the next REGISTER is written whole. */
	bool shared_partial;
};

struct consent_chunk {
	uint64_t fp[CONSENT_PER_CHUNK];
	uint32_t next;
	uint32_t used;
};

struct registry {
	struct reg_entry *entries;
	uint32_t capacity, bump, free_head, live;
	struct consent_chunk *chunks;
	uint32_t n_chunks, chunk_bump, chunk_free, chunks_used;
	struct hindex by_key, by_digest;
	_Atomic uint32_t *seq;		/* per slot: odd while written */
	_Atomic uint32_t iseq;		/* the indexes: odd while written */
	uint32_t sweep;			/* expiry cursor */
	uint8_t key_hash_key[16];
	uint8_t fp_key[16];
};

/* capacity entries and consent_chunks overflow chunks (0: capacity / 2,
 * that is 3.5 entries beyond the inline ones per registration on
 * average). 0 or -errno. */
int registry_init(struct registry *r, size_t capacity, size_t consent_chunks);
void registry_free(struct registry *r);
size_t registry_memory(const struct registry *r);

/* The live entry for key, or NULL; an expired entry found on the way is
 * removed. */
struct reg_entry *registry_find(struct registry *r,
				const uint8_t key[static WGP_KEY_LEN],
				uint64_t now);
struct reg_entry *registry_find_digest(struct registry *r,
				       const uint8_t digest[static WGP_CONSENT_LEN],
				       uint64_t now);

/*
 * A new zeroed entry for key (which must not be live) with key, digest,
 * hashes and expires = now + ttl_ms filled in. NULL with errno ENOSPC
 * when every slot is live (expired ones are reclaimed first).
 */
struct reg_entry *registry_insert(struct registry *r,
				  const uint8_t key[static WGP_KEY_LEN],
				  uint64_t now, uint64_t ttl_ms);
void registry_remove(struct registry *r, struct reg_entry *e);

/* Replace e's consent list; an entry repeating an earlier one is stored
 * once. A list of up to CONSENT_INLINE distinct entries always fits.
 * 1 if that changed who e names, 0 if the list names the same keys
 * (in whatever order: e is left alone), or -ENOSPC (a longer list and
 * the shared pool exhausted; the old list is kept) / -EINVAL
 * (n > WGP_MAX_CONSENT). */
int registry_set_consent(struct registry *r, struct reg_entry *e,
			 const uint8_t (*digests)[WGP_CONSENT_LEN],
			 unsigned int n);

/* Keyed fingerprint of a consent digest. */
uint64_t registry_fp(const struct registry *r,
		     const uint8_t digest[static WGP_CONSENT_LEN]);

/* Does e's consent list name the peer with fingerprint fp? */
bool registry_names(const struct registry *r, const struct reg_entry *e,
		    uint64_t fp);

/* Both live, distinct, and each names the other. */
bool registry_mutual(const struct registry *r, const struct reg_entry *a,
		     const struct reg_entry *b);

/* Remove up to budget expired entries, walking the array from where the
 * last call stopped (examines at most 4 * budget slots). Returns how many
 * were removed. */
size_t registry_expire(struct registry *r, uint64_t now, size_t budget);

/*
 * Take the hash keys of from (before r holds anything): the partitions
 * of one server must agree on fingerprints (consent lists name peers in
 * any partition) and may as well agree on the index hashes.
 */
void registry_share_keys(struct registry *r, const struct registry *from);

/* The owner is about to change / has changed what other workers may
 * read of e (registry_peek*). Never nested for one entry. */
void registry_write_begin(struct registry *r, const struct reg_entry *e);
void registry_write_end(struct registry *r, const struct reg_entry *e);

/*
 * From any thread: a consistent copy of the live entry for key (or
 * digest) in r, whose owner may be writing it meanwhile, into out, and
 * whether its consent list names the fingerprint fp (*names). Expired
 * entries are left to the owner, and so are entries with no mapping yet
 * (the owner's REGISTER is half done). false: no such entry, or none
 * could be copied in REG_PEEK_TRIES tries. Only the fields the owner
 * brackets are meaningful in out: key, digest, self_fp, sess, expires,
 * ep, local, cands, consent_fp, n_consent, flags, version, origin (not
 * the counter or the buckets, which only the owner uses, but for the
 * Redis thread's cache, whose counters it brackets too).
 */
bool registry_peek(const struct registry *r,
		   const uint8_t key[static WGP_KEY_LEN], uint64_t now,
		   uint64_t fp, struct reg_entry *out, bool *names);
bool registry_peek_digest(const struct registry *r,
			  const uint8_t digest[static WGP_CONSENT_LEN],
			  uint64_t now, uint64_t fp, struct reg_entry *out,
			  bool *names);

static inline bool registry_live(const struct reg_entry *e, uint64_t now)
{
	return e->expires > now;
}

static inline uint32_t registry_slot(const struct registry *r,
				     const struct reg_entry *e)
{
	return (uint32_t)(e - r->entries);
}

#endif
