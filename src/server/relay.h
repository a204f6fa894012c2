/* SPDX-License-Identifier: MIT */
/*
 * wgpunchd — the relay's allocation table and per-datagram decision.
 *
 * Two consenting peers that cannot reach each other directly each get a
 * port of their own on the server (doc/protocol.md §10). Ports come in
 * fixed pairs: allocation i owns ports first + 2i (side 0) and
 * first + 2i + 1 (side 1), so a port finds its allocation by a shift.
 * Side 0 belongs to the smaller public key (memcmp), whichever peer
 * asked first.
 *
 * A side is bound to a source (the peer's WireGuard mapping toward the
 * relay) by a RELAY_BIND under the side's key; then every datagram from
 * exactly that source is forwarded, from the partner port, to the other
 * side's bound source. Nothing else is: an unbound source costs one
 * address compare.
 *
 * Pure logic: no sockets, no allocation after relay_init (the table,
 * its hash chains and the per-key counts are sized from the port
 * range). The loop (loop.c) owns the sockets and calls relay_input()
 * for each datagram.
 */
#ifndef WGPUNCHD_RELAY_H
#define WGPUNCHD_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "ratelimit.h"
#include "relaymsg.h"

#define RELAY_MAX_PORTS		8192
#define RELAY_DEFAULT_IDLE_S	60
#define RELAY_DEFAULT_RATE	12500000	/* bytes/s per allocation:
						 * 100 Mbit/s */
#define RELAY_DEFAULT_PER_KEY	8
#define RELAY_BIND_RATE		10	/* binds tried per second per side */
#define RELAY_BIND_BURST	10
#define RELAY_MIN_CHARGE	64	/* bytes a datagram costs at least */

struct relay_config {
	uint16_t first, last;	/* port range; first 0: no relay */
	uint32_t idle_s;	/* free after this long without forwarding */
	uint64_t rate;		/* bytes/s per allocation; 0: unlimited */
	uint32_t per_key;	/* allocations one key may be part of */
};

struct relay_side {
	uint8_t key[WGP_KEY_LEN];	/* the peer this side belongs to */
	uint8_t bind_key[RELAY_KEY_LEN];
	struct wgp_endpoint bound;	/* family 0: not bound yet */
	struct wgp_endpoint local;	/* server address the bind reached */
	uint64_t bind_counter;		/* last accepted */
	struct token_bucket binds;	/* charged before the MAC */
};

struct relay_alloc {
	struct relay_side side[2];
	uint64_t active;	/* ms: creation, grant or last forward */
	uint64_t tokens;	/* byte bucket, in bytes */
	uint64_t refilled;	/* ms of the bucket's last refill */
	uint64_t packets, bytes;	/* forwarded, for the expiry log */
	uint32_t next;		/* hash chain, or free list */
	bool live;
};

struct relay_stats {
	uint64_t grants;	/* OK answers, new or repeated */
	uint64_t created, expired, full;
	uint64_t binds_ok, binds_bad;	/* bad: MAC, or counter replayed */
	uint64_t fwd_packets, fwd_bytes;
	uint64_t drop_unbound;	/* source is not the side's bound one */
	uint64_t drop_peer_unbound;	/* the other side is not bound yet */
	uint64_t drop_rate;	/* allocation's byte bucket empty */
	uint64_t drop_bind_rate;	/* side's bind bucket empty */
	uint64_t drop_free;	/* to a port with no allocation */
	uint64_t tx_dropped;	/* forwards the kernel refused (loop.c) */
};

struct relay_keycount {
	uint8_t key[WGP_KEY_LEN];
	uint32_t count;
	uint32_t next;		/* hash chain, or free list */
};

struct relay {
	struct relay_config cfg;
	struct relay_alloc *allocs;	/* n_allocs = ports / 2 */
	uint32_t n_allocs, live;
	uint32_t *buckets;		/* pair hash -> first alloc */
	uint32_t bucket_mask;
	uint32_t free_head, free_tail;	/* FIFO: ports rest before reuse */
	struct relay_keycount *kc;	/* 2 x n_allocs */
	uint32_t *kc_buckets;
	uint32_t kc_free;
	uint32_t sweep;			/* expiry cursor */
	uint8_t hash_key[16];
	struct relay_stats st;
};

/* What relay_grant hands out for one side. */
struct relay_ticket {
	uint16_t port;
	uint8_t bind_key[RELAY_KEY_LEN];
};

enum relay_verdict {
	RELAY_DROP,		/* nothing to send */
	RELAY_BOUND,		/* a valid bind: the side now points at src */
	RELAY_FORWARD,		/* send it on as *route says */
};

/* Where a forwarded datagram goes. */
struct relay_route {
	unsigned int out;	/* port index to send from (the partner) */
	struct wgp_endpoint dst;	/* the other side's bound source */
	struct wgp_endpoint src;	/* local address it bound through
					 * (family 0: kernel's choice) */
};

void relay_config_defaults(struct relay_config *cfg);

/* Check a configuration; -EINVAL with *why set to the reason. */
int relay_config_check(const struct relay_config *cfg, const char **why);

/* Size everything from the port range. 0, -EINVAL or -ENOMEM. A config
 * with first 0 gives a relay that is off (relay_enabled() false). */
int relay_init(struct relay *r, const struct relay_config *cfg);
void relay_free(struct relay *r);

static inline bool relay_enabled(const struct relay *r)
{
	return r->n_allocs != 0;
}

/* Number of relay ports (0 when off); port index i is cfg.first + i. */
static inline unsigned int relay_ports(const struct relay *r)
{
	return r->n_allocs * 2;
}

/*
 * The allocation of the pair (me, peer), found or created: *mine and
 * *theirs get each side's port and bind key, *created whether it is new.
 * The caller has checked authentication and mutual consent. A grant
 * counts as activity. 0, -ENOSPC (no free pair of ports, or one of the
 * keys is in per_key allocations already) or -EINVAL (me == peer, or
 * the relay is off).
 */
int relay_grant(struct relay *r, const uint8_t me[static WGP_KEY_LEN],
		const uint8_t peer[static WGP_KEY_LEN], uint64_t now,
		struct relay_ticket *mine, struct relay_ticket *theirs,
		bool *created);

/*
 * One datagram received on port index idx (0 .. relay_ports() - 1)
 * from src, to the server address local (family 0 if not known), at
 * now (ms). RELAY_FORWARD fills *route; the datagram goes out
 * unchanged.
 */
enum relay_verdict relay_input(struct relay *r, unsigned int idx,
			       const struct wgp_endpoint *src,
			       const struct wgp_endpoint *local,
			       const uint8_t *pkt, size_t len, uint64_t now,
			       struct relay_route *route);

/* Free up to budget idle allocations, examining at most 4 x budget
 * slots from where the last call stopped. Returns how many were freed. */
size_t relay_expire(struct relay *r, uint64_t now, size_t budget);

#endif
