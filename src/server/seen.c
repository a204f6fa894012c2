// SPDX-License-Identifier: MIT
/*
 * wgpunchd — sources seen lately (see seen.h).
 */
#include <stdlib.h>
#include <string.h>

#include "seen.h"

#define SEEN_WORDS	((1UL << SEEN_LOG2_BITS) / 64)
#define SEEN_MASK	((1UL << SEEN_LOG2_BITS) - 1)

void seen_init(struct seen *s, uint64_t now)
{
	memset(s, 0, sizeof(*s));
	s->started = now;
	randombytes_buf(s->key, sizeof(s->key));
}

void seen_free(struct seen *s)
{
	free(s->gen[0]);
	free(s->gen[1]);
	sodium_memzero(s, sizeof(*s));
}

/* A new generation each period; after two idle ones, both are empty. */
static void advance(struct seen *s, uint64_t now)
{
	uint64_t age = now > s->started ? now - s->started : 0;

	if (age < SEEN_PERIOD_MS)
		return;
	s->cur ^= 1;
	if (s->gen[s->cur])
		memset(s->gen[s->cur], 0, SEEN_WORDS * sizeof(uint64_t));
	if (age >= 2 * SEEN_PERIOD_MS && s->gen[s->cur ^ 1])
		memset(s->gen[s->cur ^ 1], 0, SEEN_WORDS * sizeof(uint64_t));
	s->started = now;
}

static bool has(const uint64_t *g, const uint32_t bit[3])
{
	if (!g)
		return false;
	for (int i = 0; i < 3; i++)
		if (!(g[bit[i] / 64] & (1ULL << (bit[i] % 64))))
			return false;
	return true;
}

bool seen_again(struct seen *s, const struct wgp_endpoint *src,
		uint64_t now)
{
	uint8_t in[19], h[crypto_shorthash_BYTES];
	uint64_t v, *g;
	uint32_t bit[3];
	bool was;

	advance(s, now);
	if (!s->gen[s->cur]) {
		s->gen[s->cur] = calloc(SEEN_WORDS, sizeof(uint64_t));
		if (!s->gen[s->cur])
			return false;
	}
	in[0] = src->family == AF_INET ? 4 : 6;
	memcpy(in + 1, src->addr, 16);
	in[17] = (uint8_t)(src->port >> 8);
	in[18] = (uint8_t)src->port;
	crypto_shorthash(h, in, sizeof(in), s->key);
	memcpy(&v, h, sizeof(v));
	/* Three indexes from one 64-bit hash (Kirsch-Mitzenmacher). */
	for (int i = 0; i < 3; i++)
		bit[i] = (uint32_t)((v + (v >> 32) * (uint64_t)i) & SEEN_MASK);
	g = s->gen[s->cur];
	was = has(g, bit) || has(s->gen[s->cur ^ 1], bit);
	for (int i = 0; i < 3; i++)
		g[bit[i] / 64] |= 1ULL << (bit[i] % 64);
	return was;
}
