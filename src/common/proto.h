/* SPDX-License-Identifier: MIT */
/*
 * wgpunch rendezvous protocol, versions 1 and 2 (doc/protocol.md is the
 * spec). Version 2 adds host candidates (up to WGP_MAX_CANDIDATES
 * endpoints a client reports besides the mapping the server sees) to
 * REGISTER, REGISTER_REPLY records, LOOKUP, LOOKUP_REPLY and NOTIFY; the
 * other types are the same in both. The server answers each request in
 * the version it came in.
 *
 * Every datagram starts with a 20-byte clear header:
 *
 *   off 0  magic[4]    "WGPN"
 *   off 4  version     1 or 2
 *   off 5  type        enum wgp_type
 *   off 6  cookie      requests: 1 when a 16-byte cookie follows the
 *                      sealed datagram (an address proof, see COOKIE),
 *                      else 0; server messages: 0
 *   off 7  reserved    zero
 *   off 8  txid[12]    chosen by the requester, echoed in the reply
 *
 * Requests (client -> server) continue with the client's WireGuard public
 * key in clear, then a 12-byte random nonce, then the payload sealed with
 * ChaCha20-Poly1305 (IETF, 16-byte tag); server messages carry no key. The
 * associated data is every byte before the nonce:
 *
 *   request: hdr[20] client_pub[32] nonce[12] sealed(payload)[n+16]
 *   server : hdr[20]                nonce[12] sealed(payload)[n+16]
 *
 * The AEAD keys come from static-static X25519 between the client's WG
 * private key and the server's static key (see wgp_session_*), one key
 * per direction. Every integer is big-endian. Each type has one exact
 * length per version (or one per list count), plus WGP_COOKIE_LEN for a
 * request carrying a cookie; anything else is not a message.
 *
 * COOKIE (type 14, header version 2) is the one message that is not
 * sealed: hdr[20] cookie[16], sent under load instead of doing an X25519
 * for a key the server holds no session for. The client proves it owns
 * its address by sending the request again with the cookie appended.
 *
 * Nothing here allocates, prints or keeps state; the caller owns buffers.
 */
#ifndef WGPUNCH_PROTO_H
#define WGPUNCH_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

#include "key.h"

#define WGP_PORT		49918	/* rendezvous, same as contrib */
#define WGP_PROBE_PORT		49919	/* second port for the mapping check */

#define WGP_MAGIC		"WGPN"
#define WGP_MAGIC_U32		0x5747504eU	/* as BPF "ld [x]" sees it */
#define WGP_VERSION		1	/* what version 0 in a wgp_msg means */
#define WGP_VERSION_MAX		2	/* 2: host candidates */

#define WGP_TXID_LEN		12
#define WGP_NONCE_LEN		12
#define WGP_TAG_LEN		16
#define WGP_HDR_LEN		20
#define WGP_REQ_PREFIX_LEN	(WGP_HDR_LEN + WGP_KEY_LEN + WGP_NONCE_LEN) /* 64 */
#define WGP_SRV_PREFIX_LEN	(WGP_HDR_LEN + WGP_NONCE_LEN)		    /* 32 */

/* Offsets in the clear header (for BPF filters and peeking). */
#define WGP_OFF_MAGIC		0
#define WGP_OFF_VERSION		4
#define WGP_OFF_TYPE		5
#define WGP_OFF_COOKIE_FLAG	6	/* 1: a cookie follows (requests) */
#define WGP_OFF_TXID		8
#define WGP_OFF_KEY		20	/* requests only */

/* Consent entries are 16-byte digests of peer public keys (see
 * wgp_consent_digest) so that 64 of them fit a 1280-byte IPv6 path. */
#define WGP_CONSENT_LEN		16
#define WGP_MAX_CONSENT		64
#define WGP_ENDPOINT_LEN	20	/* family, 0, port[2], addr[16] */

/* Version 2: a candidate block is WGP_MAX_CANDIDATES endpoint slots.
 * Unused slots are family 0 and all zero; used slots may come in any
 * order, and must have a non-zero port. */
#define WGP_MAX_CANDIDATES	4
#define WGP_CANDS_LEN		(WGP_MAX_CANDIDATES * WGP_ENDPOINT_LEN) /* 80 */

/* Payload sizes (before the tag). */
#define WGP_REGISTER_FIXED	12
#define WGP_REGISTER_REPLY_FIXED 36
#define WGP_PEER_REC_LEN	24
#define WGP_LOOKUP_LEN		44
#define WGP_LOOKUP_REPLY_LEN	48
#define WGP_NOTIFY_LEN		60
#define WGP_PROBE_LEN		8
#define WGP_PROBE_REPLY_LEN	24
#define WGP_ERROR_LEN		24
#define WGP_RELAY_LEN		40	/* counter[8] target[32] */
#define WGP_RELAY_GRANT_LEN	72	/* status, 0, port[2], idle_s[4],
					 * peer[32], bind_key[32] */

/* Version 2 payload sizes where they differ from version 1: each adds a
 * candidate block (PROBE, PROBE_REPLY and ERROR are the same). */
#define WGP_REGISTER_FIXED_V2	(WGP_REGISTER_FIXED + WGP_CANDS_LEN)	/* 92 */
#define WGP_PEER_REC_LEN_V2	(WGP_PEER_REC_LEN + WGP_CANDS_LEN)	/* 104 */
#define WGP_LOOKUP_LEN_V2	(WGP_LOOKUP_LEN + WGP_CANDS_LEN)	/* 124 */
#define WGP_LOOKUP_REPLY_LEN_V2	(WGP_LOOKUP_REPLY_LEN + WGP_CANDS_LEN)	/* 128 */
#define WGP_NOTIFY_LEN_V2	(WGP_NOTIFY_LEN + WGP_CANDS_LEN)	/* 140 */

/* Largest request: a version 2 REGISTER with 64 consent entries. It fits
 * the IPv6 minimum path (1280 - 48), so requests never fragment. */
#define WGP_MAX_REQUEST_LEN \
	(WGP_REQ_PREFIX_LEN + WGP_REGISTER_FIXED_V2 + \
	 WGP_MAX_CONSENT * WGP_CONSENT_LEN + WGP_TAG_LEN)	/* 1196 */

/* A REGISTER_REPLY is never longer than its REGISTER, so a version 2
 * reply holds at most (1196 - 84) / 104 = 10 records; the decoder
 * accepts no more. Version 1 allows 64 records (the server sends at most
 * 43 for the same reason, but v1 decoders have always taken 64). */
#define WGP_MAX_PEER_RECS_V2 \
	((WGP_MAX_REQUEST_LEN - WGP_SRV_PREFIX_LEN - \
	  WGP_REGISTER_REPLY_FIXED - WGP_TAG_LEN) / WGP_PEER_REC_LEN_V2) /* 10 */

/* Address-proving cookies (COOKIE, and the tail of a request that
 * carries one). A cookie is only a proof that the sender receives at its
 * source address: it is not sealed, and it is checked before any crypto. */
#define WGP_COOKIE_LEN		16
#define WGP_COOKIE_MSG_LEN	(WGP_HDR_LEN + WGP_COOKIE_LEN)		/* 36 */
#define WGP_MAX_REQUEST_COOKIE_LEN \
	(WGP_MAX_REQUEST_LEN + WGP_COOKIE_LEN)			/* 1212 */

/* Largest valid datagram of either version (a version 1 REGISTER_REPLY
 * with 64 records); receive buffers should be larger so oversized
 * datagrams are seen as such. */
#define WGP_MAX_MSG_LEN \
	(WGP_SRV_PREFIX_LEN + WGP_REGISTER_REPLY_FIXED + \
	 WGP_MAX_CONSENT * WGP_PEER_REC_LEN + WGP_TAG_LEN)	/* 1620 */

/* Counters and probe timestamps of keys the server holds no state for
 * must be within this distance of the server's CLOCK_REALTIME. */
#define WGP_COUNTER_WINDOW_NS	(120ULL * 1000000000ULL)

/* The contrib example's request: my_pubkey[32] their_pubkey[32]. */
#define WGP_LEGACY_REQUEST_LEN	64
#define WGP_LEGACY_REPLY_LEN	6

enum wgp_type {
	WGP_REGISTER		= 1,	/* c->s: counter, flags, consent list */
	WGP_REGISTER_REPLY	= 2,	/* s->c: own mapping, ttl, peers */
	WGP_LOOKUP		= 3,	/* c->s: counter, flags, target key */
	WGP_LOOKUP_REPLY	= 4,	/* s->c: own mapping, peer's endpoint */
	WGP_NOTIFY		= 5,	/* s->c: unsolicited, "peer X wants you" */
	WGP_PROBE		= 6,	/* c->s: timestamp (either port) */
	WGP_PROBE_REPLY		= 7,	/* s->c: the mapping seen on that port */
	WGP_ERROR		= 8,	/* s->c: a request was refused */
	/* 9 and 10 are peer-to-peer path messages (doc/protocol.md §9),
	 * never rendezvous messages: this codec refuses them. */
	WGP_RELAY		= 11,	/* c->s: a relay for me and a peer (v2) */
	WGP_RELAY_GRANT		= 12,	/* s->c: my side of an allocation (v2),
					 * as reply or unsolicited to the peer */
	WGP_TYPE_MAX		= 12,	/* the sealed types end here */
	/* 13 is RELAY_BIND, sent to a relay port, never to the rendezvous
	 * port (relaymsg.h): this codec refuses it too. */
	WGP_COOKIE		= 14,	/* s->c, clear: prove your address by
					 * sending the request again with
					 * this cookie (version 2 header) */
};

/* Flags of a client about itself (REGISTER, LOOKUP) and, in server
 * messages, of the peer a record describes. */
enum {
	WGP_F_SYMMETRIC	= 1U << 0,	/* my NAT maps per destination */
	WGP_F_PROBES	= 1U << 1,	/* I answer path probes (v2 only) */
	WGP_F_ALL	= WGP_F_SYMMETRIC,		/* valid in v1 */
	WGP_F_ALL_V2	= WGP_F_SYMMETRIC | WGP_F_PROBES,	/* in v2 */
};

/* REGISTER_REPLY flags. */
enum {
	WGP_RF_MORE	= 1U << 0,	/* available peers left out for size:
					 * LOOKUP them (bits in .available) */
};

enum wgp_lookup_status {
	WGP_LOOKUP_OK		= 0,	/* .peer is the target's endpoint */
	WGP_LOOKUP_UNAVAILABLE	= 1,	/* not registered, or no mutual
					 * consent: deliberately the same */
};

enum wgp_relay_status {
	WGP_RELAY_OK		= 0,	/* .port and .bind_key are mine */
	WGP_RELAY_UNAVAILABLE	= 1,	/* no mutual consent, as LOOKUP */
	WGP_RELAY_NONE		= 2,	/* this server runs no relay */
	WGP_RELAY_FULL		= 3,	/* no free allocation, or the per-key
					 * limit reached */
};

/* Version 2 candidate slots say what kind of address they are (byte 1
 * of the slot); everywhere else that byte is zero. */
enum wgp_cand_kind {
	WGP_CAND_HOST		= 0,	/* an address of one of my interfaces */
	WGP_CAND_MAPPED		= 1,	/* a port mapping my gateway granted
					 * (PCP, NAT-PMP or UPnP IGD) */
};

enum wgp_error_code {
	WGP_ERR_COUNTER		= 1,	/* counter <= last seen (.last_counter) */
	WGP_ERR_CLOCK		= 2,	/* counter/timestamp outside the window
					 * of the server clock (.server_time) */
	WGP_ERR_FULL		= 3,	/* registry (or consent pool) full */
	WGP_ERR_NOT_REGISTERED	= 4,	/* LOOKUP without a live registration */
};

/* An address and port. family is AF_INET, AF_INET6 or 0 (none); IPv4 uses
 * addr[0..3] and zeroes the rest; port is in host order. */
struct wgp_endpoint {
	uint16_t family;
	uint16_t port;
	uint8_t addr[16];
	uint8_t kind;		/* candidate slots: enum wgp_cand_kind;
				 * elsewhere 0 (not compared by _equal) */
};

/*
 * Every cands array below is a candidate block: slot i as on the wire,
 * family 0 for an unused slot. Version 2 only; sealing version 1 ignores
 * it and opening version 1 leaves it all zero.
 */
struct wgp_register {
	uint64_t counter;	/* strictly increasing; start at now in ns */
	uint8_t flags;		/* WGP_F_* */
	uint8_t n_consent;	/* 0..WGP_MAX_CONSENT */
	struct wgp_endpoint cands[WGP_MAX_CANDIDATES];	/* own (v2) */
	uint8_t consent[WGP_MAX_CONSENT][WGP_CONSENT_LEN];
};

struct wgp_peer_rec {
	uint8_t index;		/* into the REGISTER's consent list */
	uint8_t flags;		/* the peer's WGP_F_* */
	struct wgp_endpoint ep;
	struct wgp_endpoint cands[WGP_MAX_CANDIDATES];	/* the peer's (v2) */
};

struct wgp_register_reply {
	uint8_t flags;		/* WGP_RF_* */
	uint8_t n_peers;	/* v2: at most WGP_MAX_PEER_RECS_V2 */
	uint32_t ttl;		/* seconds the registration lives */
	uint64_t available;	/* bit i: consent[i] is registered and names
				 * us too (record included or not) */
	struct wgp_endpoint self;	/* our mapping as the server saw it */
	struct wgp_peer_rec peers[WGP_MAX_CONSENT];
};

struct wgp_lookup {
	uint64_t counter;	/* same sequence as REGISTER's */
	uint8_t flags;		/* WGP_F_* about ourselves */
	uint8_t target[WGP_KEY_LEN];
	struct wgp_endpoint cands[WGP_MAX_CANDIDATES];	/* own (v2) */
};

struct wgp_lookup_reply {
	uint8_t status;		/* enum wgp_lookup_status */
	uint8_t peer_flags;	/* the target's WGP_F_* (if OK) */
	uint32_t ttl;
	struct wgp_endpoint self;
	struct wgp_endpoint peer;	/* family 0 unless OK */
	struct wgp_endpoint cands[WGP_MAX_CANDIDATES];	/* the peer's (v2);
							 * empty unless OK */
};

struct wgp_notify {
	uint8_t peer[WGP_KEY_LEN];	/* who looked us up / registered */
	uint8_t peer_flags;
	uint32_t ttl;
	struct wgp_endpoint ep;		/* the peer's endpoint */
	struct wgp_endpoint cands[WGP_MAX_CANDIDATES];	/* the peer's (v2) */
};

struct wgp_probe {
	uint64_t timestamp;	/* CLOCK_REALTIME ns, within the window */
};

struct wgp_probe_reply {
	struct wgp_endpoint self;	/* mapping seen on this port */
	uint16_t local_port;		/* the server port that answered */
};

/*
 * RELAY: ask for a relay between me and target (both registered, each
 * listing the other). The server answers RELAY_GRANT with my side of the
 * allocation and, when it creates one, sends the target an unsolicited
 * RELAY_GRANT with the other side. Asking again for a live allocation
 * gets the same one.
 */
struct wgp_relay {
	uint64_t counter;	/* same sequence as REGISTER's */
	uint8_t target[WGP_KEY_LEN];
};

/*
 * RELAY_GRANT: send WireGuard's datagrams for peer to the rendezvous
 * server's address at UDP port .port, after binding that port to my
 * WireGuard port's mapping with RELAY_BIND (relaymsg.h) under bind_key.
 * The relay forwards them to peer's bound mapping from peer's port, and
 * frees the allocation after idle_s seconds without traffic.
 * Everything but status and peer is zero unless status is OK.
 */
struct wgp_relay_grant {
	uint8_t status;		/* enum wgp_relay_status */
	uint16_t port;
	uint32_t idle_s;
	uint8_t peer[WGP_KEY_LEN];
	uint8_t bind_key[WGP_KEY_LEN];
};

struct wgp_error {
	uint8_t code;		/* enum wgp_error_code */
	uint64_t server_time;	/* server CLOCK_REALTIME, ns */
	uint64_t last_counter;	/* WGP_ERR_COUNTER: last accepted */
};

/* One decoded message. key is the client's public key (requests only).
 * version is 1 or 2; 0 seals as 1, so zero-initialised messages stay v1.
 * has_cookie and cookie are what wgp_parse_header() found (a request's
 * attached cookie, or a COOKIE message's); sealing ignores them (see
 * wgp_seal_cookie). */
struct wgp_msg {
	uint8_t type;
	uint8_t version;
	uint8_t txid[WGP_TXID_LEN];
	uint8_t key[WGP_KEY_LEN];
	bool has_cookie;
	uint8_t cookie[WGP_COOKIE_LEN];
	union {
		struct wgp_register reg;
		struct wgp_register_reply reg_reply;
		struct wgp_lookup lookup;
		struct wgp_lookup_reply lookup_reply;
		struct wgp_notify notify;
		struct wgp_probe probe;
		struct wgp_probe_reply probe_reply;
		struct wgp_error error;
		struct wgp_relay relay;
		struct wgp_relay_grant relay_grant;
	} u;
};

/* AEAD keys of one client/server pair: up = client->server. */
struct wgp_session {
	uint8_t up[32];
	uint8_t down[32];
};

/*
 * Derive the session: X25519(client_priv, server_pub) on the client,
 * X25519(server_priv, client_pub) on the server, then
 * BLAKE2b-512("wgpunch v1 session keys" || dh || client_pub || server_pub)
 * split into up and down. -EINVAL for a low-order peer key (all-zero DH).
 */
int wgp_session_client(struct wgp_session *s,
		       const uint8_t client_priv[static WGP_KEY_LEN],
		       const uint8_t client_pub[static WGP_KEY_LEN],
		       const uint8_t server_pub[static WGP_KEY_LEN]);
int wgp_session_server(struct wgp_session *s,
		       const uint8_t server_priv[static WGP_KEY_LEN],
		       const uint8_t server_pub[static WGP_KEY_LEN],
		       const uint8_t client_pub[static WGP_KEY_LEN]);

/* Consent digest of a peer public key: BLAKE2b-128 of
 * "wgpunch v1 consent" || key. What REGISTER lists. */
void wgp_consent_digest(uint8_t out[static WGP_CONSENT_LEN],
			const uint8_t peer_pub[static WGP_KEY_LEN]);

/* True for types a client sends (they carry the key in clear). */
bool wgp_type_is_request(uint8_t type);

/* The WGP_F_* bits valid in a version (0 for an unknown version). */
uint8_t wgp_flags_mask(uint8_t version);

/* Exact datagram length of a sealed message in its version (0 for an
 * unknown version or type, or a list count out of range). */
size_t wgp_msg_len(const struct wgp_msg *m);

/* Length of a REGISTER_REPLY with n_peers records in version (0 when
 * that many records are not valid): what the server checks against the
 * request's length before adding one more record. */
size_t wgp_register_reply_len(uint8_t version, unsigned int n_peers);

/*
 * Check the clear part of a datagram: magic, version, reserved bytes,
 * known type, and that len is a valid length for that type in that
 * version (for list types: a whole number of entries within the
 * limits), plus WGP_COOKIE_LEN when a request's byte 6 is 1 (any other
 * non-zero value is refused, as is a cookie on a server message).
 * A COOKIE must be version 2 and exactly WGP_COOKIE_MSG_LEN bytes.
 * Fills m->type, m->version, m->txid, m->has_cookie, m->cookie and, for
 * requests, m->key. No crypto: cheap enough to run on every datagram
 * before rate limiting's slower paths.
 * 0, or -EBADMSG (not ours / bad length) / -EPROTONOSUPPORT (version).
 */
int wgp_parse_header(struct wgp_msg *m, const uint8_t *pkt, size_t len);

/*
 * Encode m (version, type, txid, key for requests, payload) and seal it
 * with the direction key the type implies (requests: s->up, others: s->down)
 * under a fresh random nonce. Returns the datagram length, or -EINVAL
 * (bad type/fields), -ENOSPC (cap too small).
 */
ssize_t wgp_seal(uint8_t *out, size_t cap, const struct wgp_msg *m,
		 const struct wgp_session *s);

/*
 * wgp_seal, then, for a request and a non-NULL cookie, set byte 6 to 1
 * (before sealing: it is associated data) and append the cookie after
 * the sealed datagram. The length is then wgp_msg_len() + WGP_COOKIE_LEN.
 * -EINVAL for a cookie on a server message.
 */
ssize_t wgp_seal_cookie(uint8_t *out, size_t cap, const struct wgp_msg *m,
			const struct wgp_session *s, const uint8_t *cookie);

/* The COOKIE datagram answering the request with txid: its length,
 * WGP_COOKIE_MSG_LEN. Not sealed: a client takes it only as a reason to
 * send that request again, never as news from the server. */
size_t wgp_cookie_msg(uint8_t out[static WGP_COOKIE_MSG_LEN],
		      const uint8_t txid[static WGP_TXID_LEN],
		      const uint8_t cookie[static WGP_COOKIE_LEN]);

/*
 * wgp_parse_header, then authenticate and decrypt with the direction key
 * the type implies (a request's attached cookie is not part of what is
 * sealed; a COOKIE is not sealed at all, and never opens), then decode and check the payload (reserved bytes
 * zero, flags of the version, counts and families valid, candidate
 * slots valid, list length consistent with len).
 * 0, or -EBADMSG (malformed, forged or tampered). m is unspecified on
 * error.
 */
int wgp_open(struct wgp_msg *m, const uint8_t *pkt, size_t len,
	     const struct wgp_session *s);

/*
 * The same for a datagram whose header wgp_parse_header() has already
 * accepted into m (the server parses it first to rate-limit and pick
 * the session). The length (for m->version, which must still be the
 * datagram's) is checked again; the rest is not.
 */
int wgp_open_parsed(struct wgp_msg *m, const uint8_t *pkt, size_t len,
		    const struct wgp_session *s);

/* A random transaction id. */
void wgp_txid_new(uint8_t txid[static WGP_TXID_LEN]);

/*
 * Freshness of what the server sends unasked (NOTIFY, unsolicited
 * RELAY_GRANT): their txid is a stamp, the server's CLOCK_REALTIME in ns
 * (big-endian, bytes 0..7, strictly increasing per server) followed by 4
 * random bytes. The txid is associated data of the AEAD, so the stamp
 * cannot be altered; a receiver refuses a stamp outside the window of
 * its clock or not above the last one it took (doc/protocol.md §4.4).
 * The length of no message changes, so older clients are unaffected.
 */
#define WGP_STAMP_LEN		8
void wgp_server_stamp(uint8_t txid[static WGP_TXID_LEN], uint64_t stamp_ns);
uint64_t wgp_stamp_of(const uint8_t txid[static WGP_TXID_LEN]);

/* CLOCK_REALTIME in ns (counter base, probe timestamps). */
uint64_t wgp_now_ns(void);

/* CLOCK_MONOTONIC in ms: lifetimes, timeouts and token buckets, which
 * must not jump when someone sets the wall clock. */
uint64_t wgp_mono_ms(void);

/* |counter - now_ns| <= WGP_COUNTER_WINDOW_NS. */
bool wgp_in_window(uint64_t counter, uint64_t now_ns);

/*
 * Endpoints <-> socket addresses. IPv4-mapped IPv6 addresses become
 * AF_INET. from_sockaddr: 0 or -EAFNOSUPPORT. to_sockaddr: the sockaddr
 * length, 0 for family 0.
 */
int wgp_endpoint_from_sockaddr(struct wgp_endpoint *ep,
			       const struct sockaddr *sa, socklen_t len);
socklen_t wgp_endpoint_to_sockaddr(const struct wgp_endpoint *ep,
				   struct sockaddr_storage *ss);
bool wgp_endpoint_equal(const struct wgp_endpoint *a,
			const struct wgp_endpoint *b);

/*
 * Could a peer elsewhere ever reach this endpoint? False for family 0,
 * port 0, and addresses that never lead to another host: unspecified,
 * loopback, multicast, broadcast, link-local (IPv4 0/8, 127/8,
 * 169.254/16, 224/4, 255.255.255.255; IPv6 ::, ::1, fe80::/10,
 * ff00::/8) and IPv4-mapped IPv6 (the wire spells IPv4 as family 4).
 * The server zeroes candidate slots that fail this; clients should not
 * report them in the first place.
 */
bool wgp_endpoint_usable(const struct wgp_endpoint *ep);

/* "198.18.0.1:51820", "[2001:db8::1]:51820", "(none)". */
#define WGP_ENDPOINT_STRLEN	64
char *wgp_endpoint_format(const struct wgp_endpoint *ep,
			  char buf[static WGP_ENDPOINT_STRLEN]);

/* Name of a type or error code for logs ("REGISTER", "?"). */
const char *wgp_type_name(uint8_t type);
const char *wgp_error_name(uint8_t code);

#endif
