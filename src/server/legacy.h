/* SPDX-License-Identifier: MIT */
/*
 * wgpunchd --legacy — the contrib/nat-hole-punching protocol, kept only
 * so old clients keep working. INSECURE by design: a 64-byte request
 * my_pubkey[32] their_pubkey[32] registers my_pubkey at the datagram's
 * source with no proof of anything, and anyone may ask for anyone.
 *
 * It lives in its own table, never consulted for authenticated traffic
 * (and vice versa), with the contrib server's bugs fixed: O(1) lookups,
 * expiry, no eviction of live entries when full, no all-zero key, IPv4
 * sources only (the reply format has room for nothing else).
 */
#ifndef WGPUNCHD_LEGACY_H
#define WGPUNCHD_LEGACY_H

#include <stddef.h>
#include <stdint.h>

#include "hindex.h"
#include "proto.h"

struct legacy_entry {
	uint8_t key[WGP_KEY_LEN];
	uint64_t hash;
	uint64_t expires;	/* ms; 0: free */
	uint32_t next_free;
	uint16_t port;
	uint8_t addr[4];
};

struct legacy {
	struct legacy_entry *entries;
	uint32_t capacity, bump, free_head, live, sweep;
	struct hindex ix;
	uint8_t hash_key[16];
};

int legacy_init(struct legacy *lg, size_t capacity);
void legacy_free(struct legacy *lg);

/*
 * One contrib request from src at time now (ms). Returns the reply
 * length written to reply (6: their ip[4] port[2], network order; 0: not
 * known) or -1 to send nothing (not an IPv4 source).
 */
int legacy_handle(struct legacy *lg,
		  const uint8_t req[static WGP_LEGACY_REQUEST_LEN],
		  const struct wgp_endpoint *src, uint64_t now,
		  uint64_t ttl_ms, uint8_t reply[static WGP_LEGACY_REPLY_LEN]);

size_t legacy_expire(struct legacy *lg, uint64_t now, size_t budget);

#endif
