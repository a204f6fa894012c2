/* SPDX-License-Identifier: MIT */
/*
 * wgpunchd — sources seen lately (handler.c: which COOKIEs to send while
 * the receive queue backs up).
 *
 * A COOKIE costs the server about what the datagram it answers cost its
 * sender, so while a flood outruns the server it cannot answer them
 * all. It answers the sources it has seen before, within the last one
 * to two SEEN_PERIOD_MS: a client resends an unanswered request within
 * a second (250 ms, then 500 ms), while a flood from spoofed random
 * sources hardly ever repeats one. What it remembers is a Bloom filter
 * in two generations, so nothing a flood inserts can push a client's
 * first datagram out before its resend comes; the price is a few false
 * positives, which cost only a COOKIE each.
 */
#ifndef WGPUNCHD_SEEN_H
#define WGPUNCHD_SEEN_H

#include <stdbool.h>
#include <stdint.h>

#include <sodium.h>

#include "proto.h"

#define SEEN_PERIOD_MS		1000
/* 2^24 bits (2 MB) a generation, 3 bits a source: at a million new
 * sources a second, under 0.5 % false positives. */
#define SEEN_LOG2_BITS		24

struct seen {
	uint64_t *gen[2];	/* [cur], [!cur]: allocated on first use */
	unsigned int cur;
	uint64_t started;	/* ms the current generation began */
	uint8_t key[crypto_shorthash_KEYBYTES];
};

void seen_init(struct seen *s, uint64_t now);
void seen_free(struct seen *s);

/* Was src seen in this or the last period? Remembers it either way.
 * false, remembering nothing, when memory runs out. */
bool seen_again(struct seen *s, const struct wgp_endpoint *src,
		uint64_t now);

#endif
