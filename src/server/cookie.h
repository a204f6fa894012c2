/* SPDX-License-Identifier: MIT */
/*
 * wgpunchd — address-proving cookies (doc/protocol.md, COOKIE).
 *
 * Under load the server answers a request that would cost an X25519
 * with a COOKIE instead: BLAKE2b-128, keyed with a server secret, over
 * the source's family, address and port. Only a sender that receives at
 * that address can send it back, so spoofed floods cost one keyed hash
 * each. Nothing is stored per source. The secret rotates every
 * COOKIE_ROTATE_MS; a cookie is good under the current and the previous
 * secret, so between one and two rotation periods.
 */
#ifndef WGPUNCHD_COOKIE_H
#define WGPUNCHD_COOKIE_H

#include <stdbool.h>
#include <stdint.h>

#include "proto.h"

#define COOKIE_ROTATE_MS	120000
/* How long "under load" outlasts its last sign (handler.c). */
#define LOAD_HOLD_MS		1000
/* The least burst of unknown-key requests that is not load yet. */
#define DEMAND_MIN_BURST	16
#define COOKIE_SECRET_LEN	32

struct cookie_jar {
	uint8_t cur[COOKIE_SECRET_LEN];
	uint8_t prev[COOKIE_SECRET_LEN];
	uint64_t rotated;	/* ms (CLOCK_MONOTONIC) cur was made */
};

/* Two fresh random secrets at time now (ms). */
void cookie_init(struct cookie_jar *j, uint64_t now);
void cookie_free(struct cookie_jar *j);

/* The cookie for src under the current secret. */
void cookie_make(struct cookie_jar *j, const struct wgp_endpoint *src,
		 uint64_t now, uint8_t out[static WGP_COOKIE_LEN]);

/* Was cookie made for exactly src (family, address, port) under the
 * current or the previous secret? Constant time in the cookie. */
bool cookie_valid(struct cookie_jar *j, const struct wgp_endpoint *src,
		  const uint8_t cookie[static WGP_COOKIE_LEN], uint64_t now);

#endif
