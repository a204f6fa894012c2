/* SPDX-License-Identifier: MIT */
/*
 * RELAY_BIND: what a client sends to its relay port, from WireGuard's
 * listen port, so the relay learns the NAT mapping that WireGuard's own
 * datagrams will come from (on a symmetric NAT that is not the mapping
 * the rendezvous server saw: every destination gets its own).
 *
 *   off  0  magic[4]     "WGPN"
 *   off  4  version      2
 *   off  5  type         13
 *   off  6  reserved[2]  zero
 *   off  8  counter[8]   strictly increasing per allocation side
 *                        (CLOCK_REALTIME ns is a good source)
 *   off 16  mac[16]      BLAKE2b-128 keyed with the side's bind key over
 *                        "wgpunch v2 relay bind" || bytes 0..15 ||
 *                        relay port[2] (big-endian)
 *
 * Exactly RELAY_BIND_LEN bytes. The relay port in the MAC ties a bind to
 * the port it was granted for. A bind is clear text: it proves knowledge
 * of the key (which only the two peers' sealed RELAY_GRANTs carried), not
 * secrecy; the counter stops a captured bind from moving the side later.
 *
 * WireGuard's own messages start with a type byte 1..4 and three zero
 * bytes, so they never look like this.
 *
 * Nothing here does I/O, allocates or keeps state.
 */
#ifndef WGPUNCH_RELAYMSG_H
#define WGPUNCH_RELAYMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define RELAY_BIND		13
#define RELAY_BIND_VERSION	2
#define RELAY_BIND_LEN		32
#define RELAY_MAC_LEN		16
#define RELAY_KEY_LEN		WGP_KEY_LEN

/* Encode a bind for relay_port into out[RELAY_BIND_LEN]. */
void relay_bind_encode(uint8_t out[static RELAY_BIND_LEN],
		       const uint8_t key[static RELAY_KEY_LEN],
		       uint16_t relay_port, uint64_t counter);

/* Cheap shape check (length, magic, version, type, reserved) without the
 * key: what the relay runs before spending a MAC on a datagram. */
bool relay_bind_shaped(const uint8_t *pkt, size_t len);

/*
 * Verify a shaped bind for relay_port under key; *counter gets its
 * counter. 0, or -EBADMSG (not a bind, or the MAC is wrong). The caller
 * checks the counter against the last one it accepted.
 */
int relay_bind_verify(const uint8_t *pkt, size_t len,
		      const uint8_t key[static RELAY_KEY_LEN],
		      uint16_t relay_port, uint64_t *counter);

#endif
