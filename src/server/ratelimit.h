/* SPDX-License-Identifier: MIT */
/*
 * wgpunchd — per-source token buckets, checked before any crypto.
 *
 * Sources are IPv4 addresses or IPv6 /64 prefixes (one subscriber's
 * usual allocation). The table is set-associative: a keyed hash picks a
 * set of RL_WAYS buckets; a new source takes the least recently seen way
 * of its set. Memory is fixed, lookups are O(1), and an attacker
 * cycling through addresses can at worst reset someone's bucket to full
 * burst, never grow the table.
 */
#ifndef WGPUNCHD_RATELIMIT_H
#define WGPUNCHD_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define RL_WAYS 8

struct rl_bucket {
	uint8_t src[8];		/* v4 address or v6 /64; family in tag */
	uint64_t last;		/* ms of last refill; 0: unused */
	uint32_t tokens;	/* in 1/1000 of a packet */
	uint32_t tag;		/* 4 or 6 */
};

struct token_bucket {
	uint64_t last;
	uint64_t tokens;	/* milli-tokens */
	uint32_t rate;		/* per second; 0: unlimited */
	uint32_t burst;
};

struct ratelimit {
	struct rl_bucket *b;
	uint32_t set_mask;
	uint32_t rate, burst;	/* per second; rate 0: unlimited */
	uint8_t key[16];
};

/* sets = number of RL_WAYS-sized sets (rounded up to a power of two). */
int ratelimit_init(struct ratelimit *rl, size_t sets, uint32_t rate,
		   uint32_t burst);
void ratelimit_free(struct ratelimit *rl);

/* Take one token for src at time now (ms); false: over the limit. */
bool ratelimit_allow(struct ratelimit *rl, const struct wgp_endpoint *src,
		     uint64_t now);

/* A single global bucket (e.g. X25519 computations per second). */
void token_bucket_init(struct token_bucket *tb, uint32_t rate,
		       uint32_t burst, uint64_t now);
bool token_bucket_take(struct token_bucket *tb, uint64_t now);

#endif
