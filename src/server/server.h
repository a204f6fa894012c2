/* SPDX-License-Identifier: MIT */
/*
 * wgpunchd — the server's state and its one entry point for datagrams.
 *
 * server_handle() is all protocol logic and no sockets: it takes one
 * received datagram and queues whatever must be sent (a reply to the
 * source, NOTIFYs to registered peers). The event loop (loop.c), the
 * tests, the fuzzer and the benchmark all drive it the same way.
 */
#ifndef WGPUNCHD_SERVER_H
#define WGPUNCHD_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cookie.h"
#include "seen.h"
#include "legacy.h"
#include "proto.h"
#include "ratelimit.h"
#include "registry.h"
#include "relay.h"

struct store;

#define SERVER_DEFAULT_CAPACITY		1000000
/* Who wgpunchd becomes when started as root (--user). */
#define SERVER_DEFAULT_USER		"nobody"
#define SERVER_DEFAULT_TTL		120	/* s; clients refresh every ~25 s */
#define SERVER_DEFAULT_RATE		50	/* datagrams/s per source or key */
#define SERVER_DEFAULT_BURST		100
#define SERVER_DEFAULT_DH_RATE		20000	/* X25519 for new keys, /s total;
						 * wgpunchd measures its own */
#define SERVER_DH_MEASURE_N		200	/* X25519s timed at start */
#define SERVER_DEFAULT_LEGACY_CAPACITY	65536
#define SERVER_MAX_WORKERS		64	/* --workers; the default is one
						 * per online CPU up to this */
#define SERVER_RL_SETS			8192	/* x RL_WAYS sources tracked */
#define NOTIFY_BURST			128	/* NOTIFYs a registrant may cause */
#define NOTIFY_PER_S			4	/* ... and the refill rate */

enum server_port {
	PORT_MAIN,	/* REGISTER, LOOKUP, PROBE, legacy */
	PORT_PROBE,	/* PROBE only */
	PORT_COUNT,
};

struct server_config {
	uint16_t port[PORT_COUNT];
	uint32_t ttl;		/* seconds */
	size_t capacity;
	size_t consent_chunks;	/* overflow chunks beyond each entry's
				 * inline room; 0: capacity / 2 */
	size_t legacy_capacity;
	uint32_t rate, burst;	/* per source, per key and per NOTIFY
				 * destination; rate 0: no limit */
	uint8_t ipv6_prefix;	/* IPv6 sources count per this prefix,
				 * 32..128; 0: RL_DEFAULT_PREFIX6 */
	uint32_t dh_rate;	/* 0: no limit */
	size_t rl_sets;		/* rate limiter sets; 0: SERVER_RL_SETS */
	bool legacy;
	struct relay_config relay;	/* .first 0: no relay */
	/* Workers sharing the work of one server (server_group): each
	 * holds capacity / workers entries and 1 / workers of every
	 * per-source budget. 0 or 1: alone. */
	unsigned int workers;
};

struct server_stats {
	uint64_t rx, bad, ratelimited, dh, dh_dropped, forged;
	uint64_t key_limited;	/* fresh requests over their key's budget */
	uint64_t notify_limited;	/* NOTIFYs/grants over a budget */
	uint64_t registers, lookups, probes, notifies, errors, legacy;
	uint64_t relays;	/* RELAY requests answered (stats of the
				 * allocations are in relay.st) */
	uint64_t tx_dropped;
	uint64_t cookies;	/* COOKIEs sent (under load, no proof) */
	uint64_t cookie_ok;	/* requests whose cookie proved the source */
	uint64_t replayed;	/* stale counters refused (ERROR COUNTER) */
	uint64_t full;		/* registrations refused: table or pool full */
	uint64_t shed;		/* unpaid work not done: the queue backed
				 * up and the source was new (handler.c) */
};

struct server {
	struct server_config cfg;
	uint8_t priv[WGP_KEY_LEN], pub[WGP_KEY_LEN];
	struct registry reg;
	struct legacy legacy;
	struct ratelimit rl;		/* per source, for unauthenticated work */
	struct ratelimit notify_rl;	/* per NOTIFY destination */
	struct token_bucket dh;		/* X25519s for keys the server
					 * holds nothing for */
	/* Requests from such keys, charged one token each whether they
	 * get an X25519 or not; empty, or dh below half: under load, and
	 * unknown keys must prove their address with a cookie, until
	 * load_until (ms). */
	struct token_bucket demand;
	uint64_t load_until;
	/* The receive queue is backing up (set by the loop per batch):
	 * until it drains, work no key pays for is done only for sources
	 * seen lately (handler.c, seen.h). */
	bool behind;
	unsigned int unpaid_left;	/* such work left in this batch */
	struct cookie_jar cookies;
	struct seen seen;		/* sources lately (while behind) */
	struct relay relay;
	struct server_stats st;
	/* CLOCK_REALTIME (ns) at start: a key the server holds nothing for
	 * must come with a later counter, so a REGISTER captured before a
	 * restart cannot be replayed after it (doc/protocol.md §6). */
	uint64_t start_ns;
	uint64_t last_stamp;	/* of the latest NOTIFY/unsolicited grant */
	/* In a group (wgpunchd --workers): every worker's registry,
	 * parts[server_worker_of(key)] the one holding key, reg among
	 * them; and the X25519 budget they share. NULL: alone. */
	struct registry *const *parts;
	unsigned int n_parts;
	struct atomic_bucket *shared_dh;
	_Atomic uint64_t *shared_stamp;	/* last_stamp of the group */
	/* --registry: the Redis thread (store.h), with its cache of other
	 * servers' registrations, and this worker's index there. NULL:
	 * the registry is this server's alone. */
	struct store *store;
	unsigned int store_w;
};

/*
 * wgpunchd --workers: n servers, one per thread, that together are one.
 * The kernel steers each request to the worker of its client key
 * (loop.c, the same function as server_worker_of), so each worker is
 * the only one that writes the entries, sessions and key buckets of its
 * keys, and reads the others' registries for peers (registry_peek).
 * Per-source budgets are split evenly; the X25519 budget is shared.
 */
struct server_group {
	struct server *srv;		/* [n] */
	struct registry **parts;	/* [n]: &srv[i].reg */
	unsigned int n;
	struct atomic_bucket dh;
	/* Stamps increase over everything the server stamps, whichever
	 * worker stamps it (doc/protocol.md §4.4). */
	_Atomic uint64_t last_stamp;
};

/* Byte offset of the client key in every request (the clear header's
 * end): what the steering program reads. */
#define SERVER_STEER_OFFSET	WGP_HDR_LEN

/* The worker of a client key among n: its first four bytes, big-endian,
 * modulo n. */
static inline unsigned int server_worker_of(const uint8_t *key, unsigned int n)
{
	uint32_t w = (uint32_t)key[0] << 24 | (uint32_t)key[1] << 16 |
		     (uint32_t)key[2] << 8 | key[3];

	return n > 1 ? w % n : 0;
}

/* One datagram in. local.family is 0 when the receiving address is not
 * known (then replies leave from whatever address the kernel picks). */
struct rx_info {
	const uint8_t *pkt;
	size_t len;
	struct wgp_endpoint src;
	struct wgp_endpoint local;
	enum server_port port;
};

struct out_msg {
	struct wgp_endpoint dst;
	struct wgp_endpoint src;	/* family 0: kernel's choice */
	enum server_port port;		/* socket to send from */
	size_t len;
	uint8_t buf[WGP_MAX_MSG_LEN];
};

/* Datagrams to send. When full, outq_reserve() calls flush (which must
 * empty it) first; flush may be NULL to just drop the oldest batch. */
struct outq {
	struct out_msg *msgs;
	unsigned int n, cap;
	void (*flush)(struct outq *q, void *ctx);
	void *ctx;
};

void server_config_defaults(struct server_config *cfg);

/* 0 or -errno: -EINVAL for a TTL shorter than the counter window (a
 * REGISTER old enough to follow an expiry must be out of the window).
 * The private key is copied (and wiped by server_free). */
int server_init(struct server *srv, const struct server_config *cfg,
		const uint8_t priv[static WGP_KEY_LEN], uint64_t now);
void server_free(struct server *srv);

/* n (>= 1) workers for cfg; only the first answers legacy clients (the
 * steering sends it all of them). 0 or -errno. */
int server_group_init(struct server_group *g, unsigned int n,
		      const struct server_config *cfg,
		      const uint8_t priv[static WGP_KEY_LEN], uint64_t now);
void server_group_free(struct server_group *g);

/* Handle one datagram at time now (CLOCK_MONOTONIC ms) and wall time
 * now_ns (CLOCK_REALTIME ns, for counter windows). */
void server_handle(struct server *srv, const struct rx_info *rx,
		   uint64_t now, uint64_t now_ns, struct outq *q);

/*
 * X25519 computations per second this machine does on this thread: the
 * time of n of them. wgpunchd's default --dh-rate is half of it per
 * worker, so the budget engages well before the threads that also do
 * everything else are saturated.
 */
uint32_t server_measure_dh_rate(unsigned int n);

/* The stamp for the next unsolicited message (wgp_server_stamp):
 * now_ns, or one above the last stamp when the clock has not moved on,
 * so stamps strictly increase. */
uint64_t server_next_stamp(struct server *srv, uint64_t now_ns);

/* --registry: a NOTIFY another server asked this worker to send
 * (store_next_notify), to a peer registered here. */
struct store_msg;
void server_store_notify(struct server *srv, const struct store_msg *m,
			 uint64_t now, uint64_t now_ns, struct outq *q);

/* Housekeeping, about once a second: expire a slice of the tables. */
void server_tick(struct server *srv, uint64_t now);

struct out_msg *outq_reserve(struct outq *q);

/*
 * For functions that read other workers' counters and gauges while they
 * run (the log, the metrics): each is one aligned word the owner alone
 * writes, so a read is never torn, and a scrape or a log line asks no
 * more than a value of the last microseconds. ThreadSanitizer is told
 * not to look at them; everything else of the workers it checks.
 */
#define SERVER_RACY_READER __attribute__((no_sanitize_thread))

/* sum += s, counter by counter (the workers', for the log and the
 * metrics). */
void server_stats_add(struct server_stats *sum, const struct server_stats *s);

#endif
