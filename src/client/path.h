/* SPDX-License-Identifier: MIT */
/*
 * wgpunch — the paths to one peer, and which one WireGuard should use.
 *
 * A peer is reachable at several candidate addresses: the mapping the
 * rendezvous server saw ("server", server-reflexive), the addresses of
 * the peer's own interfaces ("host"), a port mapping its gateway granted
 * ("mapped"), our side of a relay allocation ("relay"), and whatever
 * source address the peer's own probes arrived from ("peer",
 * peer-reflexive: a symmetric NAT's mapping toward us, which no server
 * can see). A relayed path is probed like any other: the relay forwards
 * the probes, which stay sealed end to end. Each candidate is
 * probed from WireGuard's port with an authenticated PATH_PROBE; only
 * an authentic PATH_REPLY, from the very address probed, proves it.
 *
 * This file holds the decisions and no I/O, so tests can drive every
 * timer: when a candidate is due a probe, when a path counts as alive or
 * lost, and which alive path is best. The order is by kind, never by a
 * guess about NAT types: same LAN > direct IPv6 > the peer's port
 * mapping > direct IPv4 > relayed. Between paths of one kind the one in
 * use is kept, so a working tunnel is never moved for a path that is not
 * better.
 */
#ifndef WGPUNCH_PATH_H
#define WGPUNCH_PATH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include "proto.h"

#define PATH_MAX_CANDS		12

/* An unanswered candidate is probed again after 250, 500, 1000, 1000
 * ms; 1000 ms after the fifth probe it counts as failed (3.75 s in
 * all) and is tried again after PATH_RETRY_MS. That is longer than a
 * NAT keeps a connection-tracking entry nobody answered (Linux: 30 s
 * for UDP), so a stray entry our own probes may have left on the peer's
 * router is gone by the next try; and the next try is coordinated
 * through the server (client_path.c), not this timer alone. */
#define PATH_PROBE_FIRST_MS	250
#define PATH_PROBE_MAX_MS	1000
#define PATH_PROBE_TRIES	5
#define PATH_RETRY_MS		40000
/* The path in use is probed this often: a NAT that rebinds or a peer
 * that roams must be noticed within seconds, not when WireGuard's
 * handshake turns 180 s old. An alive path not in use is checked less
 * often. */
#define PATH_HEARTBEAT_MS	1000
#define PATH_IDLE_CHECK_MS	10000
/* A path whose last reply is older than this is lost: two heartbeats
 * and their replies missing. */
#define PATH_LOST_MS		2500
/* A candidate neither the server nor the peer has mentioned for this
 * long is forgotten (unless it is the path in use and still alive). */
#define PATH_FORGET_MS		300000

/* Where a candidate came from. Learning the same address again from a
 * later source in this list keeps the later one: it tells more. */
enum cand_source {
	CAND_PEER,		/* where the peer's probe came from */
	CAND_SERVER,		/* the peer's mapping, as the server saw it */
	CAND_MAPPED,		/* a port mapping the peer's gateway granted */
	CAND_HOST,		/* an address of the peer's interfaces */
	CAND_RELAY,		/* our side of a relay allocation for the peer */
};

/* Preference order: a larger value is a better path. A relay is the
 * last resort; a port mapping does not depend on NAT state that a quiet
 * minute can expire, so it beats a punched mapping. */
enum path_kind {
	PATH_NONE = 0,
	PATH_RELAYED,		/* through the relay: always works, slowest */
	PATH_IPV4,		/* direct, through the NATs */
	PATH_MAPPED,		/* direct, to the peer's port mapping */
	PATH_IPV6,		/* direct, no NAT (firewalls only) */
	PATH_LAN,		/* the peer's own IPv4 address answers */
};

enum cand_state {
	CAND_UNTRIED,
	CAND_PROBING,		/* probes out, no answer yet */
	CAND_OK,		/* answered recently */
	CAND_FAILED,		/* PATH_PROBE_TRIES probes unanswered */
};

struct path_cand {
	struct sockaddr_storage addr;
	enum cand_source source;
	enum path_kind kind;
	bool inflight;			/* txid belongs to the latest probe */
	uint8_t txid[WGP_TXID_LEN];
	uint64_t sent_ms;		/* of the latest probe */
	uint64_t due_ms;		/* next probe */
	uint64_t reply_ms;		/* latest authentic reply, 0: never */
	uint64_t seen_ms;		/* latest mention by server or peer */
	int64_t rtt_us;			/* of the latest reply, -1: none */
	unsigned int unanswered;	/* probes in a row without reply */
	unsigned int interval_ms;	/* current retry interval */
	bool ever_failed;
	char error[96];
};

struct path_set {
	struct path_cand c[PATH_MAX_CANDS];
	unsigned int n;
	int chosen;			/* index of the path in use, -1: none */
};

void path_init(struct path_set *ps);

/* The kind a candidate of that source and address would be. */
enum path_kind path_kind_of(enum cand_source source, const struct sockaddr *sa);

const char *path_kind_name(enum path_kind kind);	/* "lan", "ipv6", ... */
const char *cand_source_name(enum cand_source source);	/* "host", ... */
const char *cand_state_name(enum cand_state state);

/*
 * Learn (or refresh) a candidate. A known address keeps its probe
 * history; its source only ever moves toward the more telling one (a
 * host candidate seen as a probe's source stays "host"). A new address
 * is due a probe at once. When the set is full, the oldest candidate
 * that is neither alive nor in use makes room; if none can, the new one
 * is dropped. Returns the candidate or NULL.
 */
struct path_cand *path_learn(struct path_set *ps, enum cand_source source,
			     const struct sockaddr *sa, uint64_t now);

struct path_cand *path_find(struct path_set *ps, const struct sockaddr *sa);

/* Forget c (an allocation that was replaced, say). */
void path_remove(struct path_set *ps, struct path_cand *c);

/* Reply received within PATH_LOST_MS. */
bool path_alive(const struct path_cand *c, uint64_t now);
enum cand_state path_state(const struct path_cand *c, uint64_t now);

/*
 * Is c due a probe at now? If so the caller sends one with a fresh txid
 * and calls path_sent(). The path in use gets heartbeats; the others
 * back off, then wait PATH_RETRY_MS between rounds once failed.
 */
bool path_due(const struct path_cand *c, uint64_t now);
void path_sent(struct path_set *ps, struct path_cand *c,
	       const uint8_t txid[static WGP_TXID_LEN], uint64_t now);

/* Every candidate probed again soon (a NOTIFY, a lost path, a SIGHUP):
 * backoff reset, due at now + delay_ms. */
void path_reprobe_all(struct path_set *ps, uint64_t now, unsigned int delay_ms);

/*
 * An authentic PATH_REPLY arrived from sa for txid. Returns the
 * candidate it proves, or NULL when it answers no probe in flight to
 * exactly that address (a replay, a reflection, or a stray).
 */
struct path_cand *path_answered(struct path_set *ps, const struct sockaddr *sa,
				const uint8_t txid[static WGP_TXID_LEN], uint64_t now);

/*
 * Choose the path to use now: the best alive kind; the one in use is
 * kept unless a strictly better kind answers. Returns the index chosen
 * (-1: none alive) and sets *changed when it differs from before.
 */
int path_choose(struct path_set *ps, uint64_t now, bool *changed);

/* The earliest time anything in the set is due (UINT64_MAX: nothing). */
uint64_t path_next_due(const struct path_set *ps, uint64_t now);

/* Forget candidates not mentioned for PATH_FORGET_MS (keeps the chosen
 * one while alive). */
void path_expire(struct path_set *ps, uint64_t now);

#endif
