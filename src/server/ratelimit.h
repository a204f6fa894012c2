/* SPDX-License-Identifier: MIT */
/*
 * wgpunchd — token buckets: per source address, global, and one small
 * enough to live in every registry entry.
 *
 * Sources are IPv4 addresses or IPv6 prefixes (a /64 by default: one
 * subscriber's usual allocation; any length from /32 to /128). The
 * table is set-associative: a keyed hash picks a set of RL_WAYS
 * buckets; a new source takes the least recently seen way of its set.
 * Memory is fixed, lookups are O(1), and an attacker cycling through
 * addresses can at worst reset someone's bucket to full burst, never
 * grow the table.
 *
 * Each source bucket also counts the source's failed AEAD opens (for
 * keys that have a cached session), draining at the bucket's rate: a
 * source with more than RL_FAIL_LIMIT outstanding is "suspect", and the
 * server then makes its datagrams pass the bucket before opening them.
 */
#ifndef WGPUNCHD_RATELIMIT_H
#define WGPUNCHD_RATELIMIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define RL_WAYS 8
#define RL_FAIL_LIMIT 8		/* failed opens beyond the rate, per source */
#define RL_DEFAULT_PREFIX6 64

struct rl_bucket {
	uint8_t src[16];	/* address masked to its prefix */
	uint64_t last;		/* ms of last refill; 0: unused */
	uint32_t tokens;	/* in 1/1000 of a packet */
	uint32_t fails;		/* failed opens, in 1/1000, draining */
	uint8_t family;		/* AF_INET or AF_INET6 */
};

struct token_bucket {
	uint64_t last;
	uint64_t tokens;	/* milli-tokens */
	uint32_t rate;		/* per second; 0: unlimited */
	uint32_t burst;
};

/*
 * A global bucket several threads take from without a lock (the X25519
 * budget of wgpunchd's workers): the generic cell rate algorithm, whose
 * whole state is one word, the time at which the bucket will be full
 * again ("theoretical arrival time", ns), moved on by compare-and-swap.
 * It admits what a token bucket of the same rate and burst admits.
 */
struct atomic_bucket {
	_Atomic uint64_t tat;	/* ns; <= now: full */
	uint64_t interval;	/* ns per token */
	uint64_t tolerance;	/* burst * interval */
	uint32_t rate;		/* per second; 0: unlimited */
};

/*
 * A token bucket for a registry entry, 8 bytes: the rate and burst are
 * the caller's, the time is kept modulo 2^32 ms. An entry lives at most
 * a day (--ttl), far less than the 49 days the wrap takes, and a longer
 * gap would only refill less than a full burst.
 */
struct small_bucket {
	uint32_t ms;		/* low 32 bits of the last refill time */
	uint32_t tokens;	/* milli-tokens */
};

struct ratelimit {
	struct rl_bucket *b;
	uint32_t set_mask;
	uint32_t rate, burst;	/* per second; rate 0: unlimited */
	uint8_t prefix6;	/* IPv6 sources aggregate to this prefix */
	uint8_t key[16];
};

/* sets = number of RL_WAYS-sized sets (rounded up to a power of two).
 * IPv6 sources aggregate by /64 until ratelimit_set_prefix6(). */
int ratelimit_init(struct ratelimit *rl, size_t sets, uint32_t rate,
		   uint32_t burst);
void ratelimit_free(struct ratelimit *rl);

/* The IPv6 prefix length sources aggregate to, 32..128 (else -EINVAL).
 * Before the first use: buckets already made keep their old prefix. */
int ratelimit_set_prefix6(struct ratelimit *rl, unsigned int bits);

/* Take one token for src at time now (ms); false: over the limit. */
bool ratelimit_allow(struct ratelimit *rl, const struct wgp_endpoint *src,
		     uint64_t now);

/* Note one failed AEAD open from src. */
void ratelimit_fail(struct ratelimit *rl, const struct wgp_endpoint *src,
		    uint64_t now);

/* Has src failed more than RL_FAIL_LIMIT opens beyond the rate? Looks
 * only: a source never seen is not suspect and takes no bucket. */
bool ratelimit_suspect(struct ratelimit *rl, const struct wgp_endpoint *src,
		       uint64_t now);

/* A single global bucket (e.g. X25519 computations per second). */
void token_bucket_init(struct token_bucket *tb, uint32_t rate,
		       uint32_t burst, uint64_t now);
bool token_bucket_take(struct token_bucket *tb, uint64_t now);
/* Is the bucket below half its burst at now (refilled first)? What
 * "under load" means for the X25519 budget. Never for rate 0. */
bool token_bucket_low(struct token_bucket *tb, uint64_t now);

/* The same, for any number of threads at once (times in ms, as the
 * callers' clocks; kept in ns so rates up to 10^9/s stay exact). */
void atomic_bucket_init(struct atomic_bucket *ab, uint32_t rate,
			uint32_t burst, uint64_t now);
bool atomic_bucket_take(struct atomic_bucket *ab, uint64_t now);
bool atomic_bucket_low(struct atomic_bucket *ab, uint64_t now);
/* Whole tokens left at now (for the metrics; changes nothing). */
uint64_t atomic_bucket_tokens(const struct atomic_bucket *ab, uint64_t now);

/* A full small bucket, and one token from it (rate 0: unlimited). */
void small_bucket_init(struct small_bucket *sb, uint32_t burst, uint64_t now);
bool small_bucket_take(struct small_bucket *sb, uint32_t rate, uint32_t burst,
		       uint64_t now);

#endif
