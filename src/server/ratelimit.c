// SPDX-License-Identifier: MIT
/*
 * wgpunchd — rate limiting (see ratelimit.h). Tokens are counted in
 * thousandths so low rates refill smoothly with millisecond clocks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ratelimit.h"

int ratelimit_init(struct ratelimit *rl, size_t sets, uint32_t rate,
		   uint32_t burst)
{
	size_t n = 1;

	memset(rl, 0, sizeof(*rl));
	if (!sets || sets > (1U << 24))
		return -EINVAL;
	while (n < sets)
		n <<= 1;
	rl->b = calloc(n * RL_WAYS, sizeof(*rl->b));
	if (!rl->b)
		return -ENOMEM;
	rl->set_mask = (uint32_t)(n - 1);
	rl->rate = rate;
	rl->burst = burst ? burst : 1;
	randombytes_buf(rl->key, sizeof(rl->key));
	return 0;
}

void ratelimit_free(struct ratelimit *rl)
{
	free(rl->b);
	rl->b = NULL;
}

static uint64_t refill(uint64_t tokens, uint64_t last, uint64_t now,
		       uint32_t rate, uint32_t burst)
{
	uint64_t max = (uint64_t)burst * 1000;

	/* rate tokens per second = rate milli-tokens per ms */
	if (now > last)
		tokens += (now - last) * rate;
	return tokens > max ? max : tokens;
}

bool ratelimit_allow(struct ratelimit *rl, const struct wgp_endpoint *src,
		     uint64_t now)
{
	uint8_t id[9], h[crypto_shorthash_BYTES];
	struct rl_bucket *set, *b = NULL, *oldest;
	uint32_t tag, s;
	unsigned int i;
	uint64_t t;

	if (!rl->rate)
		return true;
	memset(id, 0, sizeof(id));
	tag = src->family == AF_INET ? 4 : 6;
	memcpy(id, src->addr, tag == 4 ? 4 : 8);	/* v6: the /64 */
	id[8] = (uint8_t)tag;
	crypto_shorthash(h, id, sizeof(id), rl->key);
	memcpy(&s, h, sizeof(s));
	set = &rl->b[(size_t)(s & rl->set_mask) * RL_WAYS];

	oldest = &set[0];
	for (i = 0; i < RL_WAYS; i++) {
		if (set[i].last && set[i].tag == tag &&
		    !memcmp(set[i].src, id, 8)) {
			b = &set[i];
			break;
		}
		if (set[i].last < oldest->last)
			oldest = &set[i];
	}
	if (!b) {
		b = oldest;
		memcpy(b->src, id, 8);
		b->tag = tag;
		b->tokens = rl->burst * 1000U;
		b->last = now ? now : 1;
	}
	t = refill(b->tokens, b->last, now, rl->rate, rl->burst);
	b->last = now > b->last ? now : b->last;
	if (t < 1000) {
		b->tokens = (uint32_t)t;
		return false;
	}
	b->tokens = (uint32_t)(t - 1000);
	return true;
}

void token_bucket_init(struct token_bucket *tb, uint32_t rate,
		       uint32_t burst, uint64_t now)
{
	tb->rate = rate;
	tb->burst = burst ? burst : 1;
	tb->tokens = (uint64_t)tb->burst * 1000;
	tb->last = now;
}

bool token_bucket_take(struct token_bucket *tb, uint64_t now)
{
	if (!tb->rate)
		return true;
	tb->tokens = refill(tb->tokens, tb->last, now, tb->rate, tb->burst);
	if (now > tb->last)
		tb->last = now;
	if (tb->tokens < 1000)
		return false;
	tb->tokens -= 1000;
	return true;
}
