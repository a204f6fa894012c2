/* SPDX-License-Identifier: MIT */
/*
 * wgpunch path messages: what two peers send each other, from and to
 * WireGuard's listen ports, to prove that a network path between them
 * works (version 2 of the wire header; the rendezvous codec in proto.h
 * rejects these types).
 *
 *   off  0  magic[4]     "WGPN"
 *   off  4  version      2
 *   off  5  type         PATH_PROBE (9) or PATH_REPLY (10)
 *   off  6  reserved[2]  zero
 *   off  8  txid[12]     the prober's; a reply echoes it
 *   off 20  sender id[8] which (sender, receiver) pair this is
 *   off 28  nonce[12]    random
 *   off 40  sealed payload[32] + tag[16], ChaCha20-Poly1305 (IETF),
 *           associated data = bytes 0..39
 *
 * Payload: counter[8] addr[20] flags[1] reserved[3]. Every message is
 * exactly PATH_MSG_LEN bytes; anything else is not a path message.
 *
 * Keys come from the two WireGuard static key pairs alone, so both peers
 * derive them with no server involved: dh = X25519(my_priv, peer_pub),
 * the public keys ordered by memcmp as lo and hi, then
 *   BLAKE2b-512("wgpunch v2 path keys" || dh || lo || hi) = k_lo || k_hi
 *   BLAKE2b-128("wgpunch v2 path id"   || dh || lo || hi) = id_lo || id_hi
 * where k_lo seals and id_lo marks what the owner of lo sends. A message
 * reflected back to its sender carries the wrong id and the wrong key,
 * and the id names the peer without a trial decryption per peer.
 *
 * Nothing here does I/O, allocates or keeps hidden state.
 */
#ifndef WGPUNCH_PATHMSG_H
#define WGPUNCH_PATHMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

#define PATH_MSG_LEN		88
#define PATH_VERSION		2
#define PATH_PROBE		9
#define PATH_REPLY		10
#define PATH_F_TTL_LIMITED	1	/* a pre-punch opener, not expected
					 * to arrive (informational) */
#define PATH_F_ALL		PATH_F_TTL_LIMITED

#define PATH_TXID_LEN		12
#define PATH_ID_LEN		8
#define PATH_KEY_LEN		32

/* Offsets, for BPF filters and peeking. */
#define PATH_OFF_VERSION	4
#define PATH_OFF_TYPE		5
#define PATH_OFF_TXID		8
#define PATH_OFF_ID		20
#define PATH_OFF_NONCE		28
#define PATH_OFF_SEALED		40

/* The replay window's distances (ns). */
#define PATH_REPLAY_CLOCK_NS	(120ULL * 1000000000ULL)
#define PATH_REPLAY_REORDER_NS	(2ULL * 1000000000ULL)
#define PATH_REPLAY_RECENT	32

/* One peer pair from my side: tx/tx_id for what I send, rx/rx_id for
 * what the peer sends me. */
struct path_keys {
	uint8_t tx[PATH_KEY_LEN], rx[PATH_KEY_LEN];
	uint8_t tx_id[PATH_ID_LEN], rx_id[PATH_ID_LEN];
};

/* A decoded message. addr: PATH_PROBE: the endpoint the probe was sent
 * to; PATH_REPLY: the source endpoint the replier saw the probe come
 * from. It always has a family (AF_INET or AF_INET6) and a port. */
struct path_msg {
	uint8_t type;
	uint8_t txid[PATH_TXID_LEN];
	uint64_t counter;
	struct wgp_endpoint addr;
	uint8_t flags;		/* PATH_F_* */
};

/*
 * Derive the keys of the pair (me, peer). 0, or -EINVAL when the DH
 * result is all zero (a low-order peer key) or both keys are the same
 * (the two directions would share a key).
 */
int path_keys_derive(struct path_keys *k, const uint8_t my_priv[static 32],
		     const uint8_t my_pub[static 32],
		     const uint8_t peer_pub[static 32]);

/*
 * Encode and seal m under k->tx with a fresh random nonce, sender id
 * k->tx_id. m->txid is used as given (path_txid_new() for a probe, the
 * probe's for a reply). Returns PATH_MSG_LEN, or -EINVAL for a bad type,
 * unknown flag bits or an endpoint without family or port.
 */
ssize_t path_seal(uint8_t out[static PATH_MSG_LEN], const struct path_msg *m,
		  const struct path_keys *k);

/*
 * The cheap check before any crypto: length, magic, version, type and
 * reserved bytes. True if this can be a path message; then id is its
 * sender id (to find the peer whose keys to try).
 */
bool path_peek(const uint8_t *pkt, size_t len, uint8_t id[static PATH_ID_LEN]);

/*
 * path_peek, the sender id must be k->rx_id, then authenticate and
 * decrypt with k->rx and check the payload (endpoint, flags, reserved
 * bytes). 0 or -EBADMSG; m is unspecified on error. The counter is not
 * judged here: see path_replay_check().
 */
int path_open(struct path_msg *m, const uint8_t *pkt, size_t len,
	      const struct path_keys *k);

/* A random transaction id for a new probe. */
void path_txid_new(uint8_t txid[static PATH_TXID_LEN]);

/* The next counter to send: max(now_ns, *last + 1), stored in *last. */
uint64_t path_counter_next(uint64_t *last, uint64_t now_ns);

/*
 * Replay window per sending peer; zero it to start. Rules, now_ns being
 * the receiver's (server-corrected) CLOCK_REALTIME:
 * - a counter more than 120 s ahead of now_ns is refused (it would
 *   wedge the window);
 * - with no state yet, only |counter - now_ns| <= 120 s is accepted;
 * - otherwise a counter <= max - 2 s is refused, and so is one equal to
 *   any of the last 32 accepted; the rest is accepted. This lets a burst
 *   of probes sent to several candidates arrive in any order.
 * The window therefore assumes a peer sends at most 32 messages per 2 s.
 */
struct path_replay {
	uint64_t max;
	uint64_t recent[PATH_REPLAY_RECENT];
	unsigned int next;
	bool any;
};

/* True if counter is fresh; it is then recorded. */
bool path_replay_check(struct path_replay *w, uint64_t counter,
		       uint64_t now_ns);

#endif
