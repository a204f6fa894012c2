/* SPDX-License-Identifier: MIT */
/*
 * A minimal wgpunch client for the server tests: real keys, real
 * sessions, real sealed datagrams (built with the protocol library the
 * client uses too).
 */
#ifndef WGPUNCH_TESTCLIENT_H
#define WGPUNCH_TESTCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct tclient {
	uint8_t priv[WGP_KEY_LEN], pub[WGP_KEY_LEN];
	struct wgp_session sess;
	uint64_t counter;
	uint64_t force;		/* non-zero: the next counter, once */
	uint8_t txid[WGP_TXID_LEN];	/* of the last request built */
	bool same_txid;		/* the next request keeps it (a resend) */
	uint8_t version;	/* of the requests built; 0 (init): 1 */
	struct wgp_endpoint cands[WGP_MAX_CANDIDATES];	/* reported in v2 */
	bool have_cookie;	/* attach cookie to the requests built */
	uint8_t cookie[WGP_COOKIE_LEN];
};

/* Fresh key pair and the session with the server. */
void tclient_init(struct tclient *c, const uint8_t server_pub[WGP_KEY_LEN]);

/* The same with a given private key (a key file's, say). */
void tclient_init_key(struct tclient *c, const uint8_t priv[WGP_KEY_LEN],
		      const uint8_t server_pub[WGP_KEY_LEN]);

/* Next counter: force if set, else max(now in ns, last + 1). */
uint64_t tclient_next(struct tclient *c);

/* Sealed REGISTER naming the n peers' public keys, in c->version with
 * c->cands. Returns its length. */
size_t tclient_register(struct tclient *c, uint8_t *buf, size_t cap,
			const uint8_t (*peers)[WGP_KEY_LEN], unsigned int n,
			uint8_t flags);
size_t tclient_lookup(struct tclient *c, uint8_t *buf, size_t cap,
		      const uint8_t target[WGP_KEY_LEN], uint8_t flags);
size_t tclient_probe(struct tclient *c, uint8_t *buf, size_t cap);
/* RELAY (version 2 whatever c->version says: there is no v1 RELAY). */
size_t tclient_relay(struct tclient *c, uint8_t *buf, size_t cap,
		     const uint8_t target[WGP_KEY_LEN]);

/* A COOKIE answering the last request built: keep its cookie for the
 * requests built from now on. 0, or -EBADMSG (not a COOKIE, or for
 * another request). */
int tclient_take_cookie(struct tclient *c, const uint8_t *pkt, size_t len);

/* wgp_open with this client's session. */
int tclient_open(const struct tclient *c, struct wgp_msg *m,
		 const uint8_t *pkt, size_t len);

#endif
