// SPDX-License-Identifier: MIT
/*
 * wgpunchd — address-proving cookies (see cookie.h).
 */
#include <string.h>

#include <sodium.h>

#include "cookie.h"

void cookie_init(struct cookie_jar *j, uint64_t now)
{
	randombytes_buf(j->cur, sizeof(j->cur));
	randombytes_buf(j->prev, sizeof(j->prev));
	j->rotated = now;
}

void cookie_free(struct cookie_jar *j)
{
	sodium_memzero(j, sizeof(*j));
}

/*
 * Move the secrets on to now. After one period the current secret
 * becomes the previous one; after two or more without a rotation (an
 * idle server) both are replaced: a cookie never outlives two periods.
 */
static void rotate(struct cookie_jar *j, uint64_t now)
{
	uint64_t age = now > j->rotated ? now - j->rotated : 0;

	if (age < COOKIE_ROTATE_MS)
		return;
	if (age < 2 * (uint64_t)COOKIE_ROTATE_MS)
		memcpy(j->prev, j->cur, sizeof(j->prev));
	else
		randombytes_buf(j->prev, sizeof(j->prev));
	randombytes_buf(j->cur, sizeof(j->cur));
	j->rotated = now;
}

/* family (4 or 6), address[16], port[2]: what the cookie is bound to. */
static void compute(const uint8_t secret[static COOKIE_SECRET_LEN],
		    const struct wgp_endpoint *src,
		    uint8_t out[static WGP_COOKIE_LEN])
{
	uint8_t in[19];

	in[0] = src->family == AF_INET ? 4 : 6;
	memcpy(in + 1, src->addr, 16);
	in[17] = (uint8_t)(src->port >> 8);
	in[18] = (uint8_t)src->port;
	crypto_generichash(out, WGP_COOKIE_LEN, in, sizeof(in), secret,
			   COOKIE_SECRET_LEN);
}

void cookie_make(struct cookie_jar *j, const struct wgp_endpoint *src,
		 uint64_t now, uint8_t out[static WGP_COOKIE_LEN])
{
	rotate(j, now);
	compute(j->cur, src, out);
}

bool cookie_valid(struct cookie_jar *j, const struct wgp_endpoint *src,
		  const uint8_t cookie[static WGP_COOKIE_LEN], uint64_t now)
{
	uint8_t want[WGP_COOKIE_LEN];
	bool ok;

	rotate(j, now);
	compute(j->cur, src, want);
	ok = !sodium_memcmp(want, cookie, WGP_COOKIE_LEN);
	if (!ok) {
		compute(j->prev, src, want);
		ok = !sodium_memcmp(want, cookie, WGP_COOKIE_LEN);
	}
	return ok;
}
