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
	rl->prefix6 = RL_DEFAULT_PREFIX6;
	randombytes_buf(rl->key, sizeof(rl->key));
	return 0;
}

void ratelimit_free(struct ratelimit *rl)
{
	free(rl->b);
	rl->b = NULL;
}

int ratelimit_set_prefix6(struct ratelimit *rl, unsigned int bits)
{
	if (bits < 32 || bits > 128)
		return -EINVAL;
	rl->prefix6 = (uint8_t)bits;
	return 0;
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

/* What a source is counted as: the IPv4 address, or the IPv6 address
 * cut to the configured prefix. */
static void source_id(const struct ratelimit *rl,
		      const struct wgp_endpoint *src, uint8_t id[static 16])
{
	unsigned int bits = src->family == AF_INET ? 32 : rl->prefix6;
	unsigned int bytes = bits / 8;

	memset(id, 0, 16);
	memcpy(id, src->addr, bytes);
	if (bits % 8)
		id[bytes] = (uint8_t)(src->addr[bytes] &
				      (0xff00 >> (bits % 8)));
}

/* src's bucket, or NULL if it has none and insert is false. A new one
 * takes the least recently used way of its set, at full burst. */
static struct rl_bucket *bucket_find(struct ratelimit *rl,
				     const struct wgp_endpoint *src,
				     uint64_t now, bool insert)
{
	uint8_t id[17], h[crypto_shorthash_BYTES];
	struct rl_bucket *set, *oldest;
	uint8_t family = src->family == AF_INET ? AF_INET : AF_INET6;
	unsigned int i;
	uint32_t s;

	source_id(rl, src, id);
	id[16] = family;
	crypto_shorthash(h, id, sizeof(id), rl->key);
	memcpy(&s, h, sizeof(s));
	set = &rl->b[(size_t)(s & rl->set_mask) * RL_WAYS];

	oldest = &set[0];
	for (i = 0; i < RL_WAYS; i++) {
		if (set[i].last && set[i].family == family &&
		    !memcmp(set[i].src, id, 16))
			return &set[i];
		if (set[i].last < oldest->last)
			oldest = &set[i];
	}
	if (!insert)
		return NULL;
	memcpy(oldest->src, id, 16);
	oldest->family = family;
	oldest->tokens = rl->burst * 1000U;
	oldest->fails = 0;
	oldest->last = now ? now : 1;
	return oldest;
}

/* Refill the tokens and drain the failures, both at the rate. */
static void bucket_advance(const struct ratelimit *rl, struct rl_bucket *b,
			   uint64_t now)
{
	uint64_t drained;

	if (now <= b->last)
		return;
	b->tokens = (uint32_t)refill(b->tokens, b->last, now, rl->rate,
				     rl->burst);
	drained = (now - b->last) * rl->rate;
	b->fails = drained >= b->fails ? 0 : (uint32_t)(b->fails - drained);
	b->last = now;
}

bool ratelimit_allow(struct ratelimit *rl, const struct wgp_endpoint *src,
		     uint64_t now)
{
	struct rl_bucket *b;

	if (!rl->rate)
		return true;
	b = bucket_find(rl, src, now, true);
	bucket_advance(rl, b, now);
	if (b->tokens < 1000)
		return false;
	b->tokens -= 1000;
	return true;
}

void ratelimit_fail(struct ratelimit *rl, const struct wgp_endpoint *src,
		    uint64_t now)
{
	/* Twice the limit at most: a source that stops failing is trusted
	 * again within 2 * RL_FAIL_LIMIT / rate seconds. */
	const uint32_t cap = 2 * RL_FAIL_LIMIT * 1000;
	struct rl_bucket *b;

	if (!rl->rate)
		return;
	b = bucket_find(rl, src, now, true);
	bucket_advance(rl, b, now);
	b->fails = b->fails + 1000 > cap ? cap : b->fails + 1000;
}

bool ratelimit_suspect(struct ratelimit *rl, const struct wgp_endpoint *src,
		       uint64_t now)
{
	struct rl_bucket *b;

	if (!rl->rate)
		return false;
	b = bucket_find(rl, src, now, false);
	if (!b)
		return false;
	bucket_advance(rl, b, now);
	return b->fails > RL_FAIL_LIMIT * 1000;
}

void token_bucket_init(struct token_bucket *tb, uint32_t rate,
		       uint32_t burst, uint64_t now)
{
	tb->rate = rate;
	tb->burst = burst ? burst : 1;
	tb->tokens = (uint64_t)tb->burst * 1000;
	tb->last = now;
}

static void token_bucket_refill(struct token_bucket *tb, uint64_t now)
{
	tb->tokens = refill(tb->tokens, tb->last, now, tb->rate, tb->burst);
	if (now > tb->last)
		tb->last = now;
}

bool token_bucket_low(struct token_bucket *tb, uint64_t now)
{
	if (!tb->rate)
		return false;
	token_bucket_refill(tb, now);
	return tb->tokens < (uint64_t)tb->burst * 500;
}

bool token_bucket_take(struct token_bucket *tb, uint64_t now)
{
	if (!tb->rate)
		return true;
	token_bucket_refill(tb, now);
	if (tb->tokens < 1000)
		return false;
	tb->tokens -= 1000;
	return true;
}

void atomic_bucket_init(struct atomic_bucket *ab, uint32_t rate,
			uint32_t burst, uint64_t now)
{
	ab->rate = rate;
	ab->interval = rate ? 1000000000ULL / rate : 0;
	if (rate && !ab->interval)
		ab->interval = 1;
	ab->tolerance = (uint64_t)(burst ? burst : 1) * ab->interval;
	atomic_init(&ab->tat, now * 1000000);
}

bool atomic_bucket_take(struct atomic_bucket *ab, uint64_t now)
{
	uint64_t t = now * 1000000, old, next;

	if (!ab->rate)
		return true;
	old = atomic_load_explicit(&ab->tat, memory_order_relaxed);
	do {
		next = (old > t ? old : t) + ab->interval;
		if (next - t > ab->tolerance)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&ab->tat, &old, next,
							memory_order_relaxed,
							memory_order_relaxed));
	return true;
}

bool atomic_bucket_low(struct atomic_bucket *ab, uint64_t now)
{
	uint64_t t = now * 1000000;
	uint64_t tat = atomic_load_explicit(&ab->tat, memory_order_relaxed);

	/* Less than half the burst left: refilling it takes over half. */
	return ab->rate && tat > t && tat - t > ab->tolerance / 2;
}

uint64_t atomic_bucket_tokens(const struct atomic_bucket *ab, uint64_t now)
{
	uint64_t t = now * 1000000;
	uint64_t tat = atomic_load_explicit(&ab->tat, memory_order_relaxed);
	uint64_t used = tat > t ? tat - t : 0;

	if (!ab->rate || used >= ab->tolerance)
		return 0;
	return (ab->tolerance - used) / ab->interval;
}

void small_bucket_init(struct small_bucket *sb, uint32_t burst, uint64_t now)
{
	sb->ms = (uint32_t)now;
	sb->tokens = (burst ? burst : 1) * 1000U;
}

bool small_bucket_take(struct small_bucket *sb, uint32_t rate, uint32_t burst,
		       uint64_t now)
{
	/* Modulo 2^32: right for any gap shorter than 49 days. */
	uint32_t elapsed = (uint32_t)now - sb->ms;

	if (!rate)
		return true;
	sb->tokens = (uint32_t)refill(sb->tokens, 0, elapsed, rate,
				      burst ? burst : 1);
	sb->ms = (uint32_t)now;
	if (sb->tokens < 1000)
		return false;
	sb->tokens -= 1000;
	return true;
}
