/* SPDX-License-Identifier: MIT */
/*
 * wgpunchd — what servers sharing a registry (--registry) tell each
 * other about a registration, through Redis, and its byte layout.
 *
 * A registration is kept in Redis as a hash with two fields, so that a
 * LOOKUP that only refreshes an entry need not know its consent list:
 *   rec      store_record: key, origin, expiry, counter, flags, version,
 *            mapping, candidates                   (STORE_REC_LEN bytes)
 *   consent  the consent digests, WGP_CONSENT_LEN bytes each (0..64)
 * and announced on the channels as one message:
 *   kind (1 byte, STORE_MSG_*), then
 *   FULL:    rec, consent digests
 *   TOUCH:   rec (the consent list is unchanged)
 *   NOTIFY:  target key (32), rec of the peer to tell it about
 * Numbers are big-endian; an endpoint is family (0, 4 or 6), kind,
 * port (2), address (16; IPv4 in the first four bytes), the rest of an
 * unused one zero. Everything read from Redis is checked as strictly
 * as a datagram: a bad record is dropped, never half-used.
 */
#ifndef WGPUNCHD_STORE_RECORD_H
#define WGPUNCHD_STORE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define STORE_REC_FORMAT	1
#define STORE_EP_LEN		20
#define STORE_REC_LEN		(2 + WGP_KEY_LEN + 3 * 8 + 2 + \
				 (1 + WGP_MAX_CANDIDATES) * STORE_EP_LEN)
#define STORE_MSG_MAX		(1 + STORE_REC_LEN + \
				 WGP_MAX_CONSENT * WGP_CONSENT_LEN)

enum store_msg_kind {
	STORE_MSG_FULL = 1,	/* a registration and its consent list */
	STORE_MSG_TOUCH = 2,	/* the same registration, refreshed */
	STORE_MSG_NOTIFY = 3,	/* tell target, held by the server the
				 * channel belongs to, about rec */
};

struct store_record {
	uint8_t key[WGP_KEY_LEN];
	uint64_t origin;		/* id of the server holding it */
	uint64_t expires_ms;		/* CLOCK_REALTIME, ms */
	uint64_t counter;		/* last accepted */
	uint8_t flags;			/* WGP_F_* */
	uint8_t version;		/* protocol version it speaks */
	struct wgp_endpoint ep;		/* mapping its server saw */
	struct wgp_endpoint cands[WGP_MAX_CANDIDATES];
};

/* One message, also the slot of the rings between the workers and the
 * Redis thread (store.c). */
struct store_msg {
	uint8_t kind;			/* enum store_msg_kind */
	uint8_t n_consent;		/* FULL */
	uint8_t target[WGP_KEY_LEN];	/* NOTIFY */
	uint64_t dest;			/* NOTIFY: the target's server */
	struct store_record rec;
	uint8_t consent[WGP_MAX_CONSENT][WGP_CONSENT_LEN];	/* FULL */
};

/* rec as STORE_REC_LEN bytes at out. */
void store_rec_encode(uint8_t out[static STORE_REC_LEN],
		      const struct store_record *rec);
/* 0, or -EINVAL unless p is exactly one valid record. */
int store_rec_decode(struct store_record *rec, const uint8_t *p, size_t len);

/* The number of digests in a consent field of len bytes, copied to
 * out, or -EINVAL. */
int store_consent_decode(uint8_t out[static WGP_MAX_CONSENT][WGP_CONSENT_LEN],
			 const uint8_t *p, size_t len);

/* The channel message for m (not its dest): its length, at most
 * STORE_MSG_MAX. */
size_t store_msg_encode(uint8_t out[static STORE_MSG_MAX],
			const struct store_msg *m);
/* 0, or -EINVAL unless p is exactly one valid message. */
int store_msg_decode(struct store_msg *m, const uint8_t *p, size_t len);

#endif
