/* SPDX-License-Identifier: MIT */
/*
 * wgpunchd --registry: several servers sharing their registrations
 * through Redis (or Valkey).
 *
 * One thread per server, the Redis thread, does all the talking to
 * Redis; the workers never do, so a slow or absent Redis never holds
 * up a datagram. Between them:
 *   - workers -> Redis thread: a ring per worker (ring.h) of
 *     registrations to write (FULL after a REGISTER that changed
 *     something, TOUCH when only the lifetime moved on enough) and of
 *     NOTIFYs for peers another server holds;
 *   - Redis thread -> workers: the cache, a registry (registry.h) of
 *     other servers' registrations that only this thread writes and
 *     the workers read without waiting (registry_peek), and a ring per
 *     worker of NOTIFYs other servers ask it to send, with an eventfd
 *     to wake it.
 * In Redis, each registration is a hash (store_record.h) whose key
 * expires with the registration (PEXPIRE), so Redis does the expiring;
 * every change is also published on one channel that every server
 * subscribes to, which is what fills the caches. Each server also
 * listens on a channel of its own for NOTIFYs: a peer's NAT only lets
 * in datagrams from the server it registered with, so that server must
 * send them. doc/scale-out.md says what is cached, for how long, and what
 * a stale entry costs.
 */
#ifndef WGPUNCHD_STORE_H
#define WGPUNCHD_STORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "registry.h"
#include "ring.h"
#include "store_conn.h"
#include "store_record.h"
#include "store_url.h"

#define STORE_OUT_SLOTS		1024	/* per worker, to Redis */
#define STORE_IN_SLOTS		256	/* per worker, NOTIFYs from Redis */
#define STORE_CONNECT_TIMEOUT_MS 3000
#define STORE_REPLY_TIMEOUT_MS	5000	/* replies owed and none came */
#define STORE_PING_TICKS	5	/* seconds between PINGs */
#define STORE_BACKOFF_MIN_MS	100
#define STORE_BACKOFF_MAX_MS	5000
#define STORE_PENDING_MAX	65536	/* replies owed before writes are
					 * dropped: Redis cannot keep up */

/* Counters: the Redis thread's are written by it alone, the workers'
 * (dropped_full) by their owner; others read them racily for the log
 * and the metrics, as with struct server_stats. */
struct store_stats {
	uint64_t written;	/* registrations written (FULL or TOUCH) */
	uint64_t dropped;	/* not written: Redis down or behind */
	uint64_t cached;	/* other servers' registrations taken in */
	uint64_t cache_full;	/* ... not taken: the cache is full */
	uint64_t notify_out;	/* NOTIFYs asked of other servers */
	uint64_t notify_in;	/* NOTIFYs other servers asked of us */
	uint64_t bad;		/* records or replies that did not parse */
	uint64_t connects;	/* connections made (the first included) */
};

struct store_worker {
	struct ring out, in;
	int in_fd;			/* eventfd: in has something */
	bool queued;			/* worker only: out has news since
					 * the last store_kick() */
	uint64_t dropped_full;		/* worker only: out was full */
};

enum store_state { STORE_DOWN, STORE_CONNECTING, STORE_UP };

struct store {
	struct store_url url;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	const char *name;		/* --registry as given, for logs */
	uint64_t id;			/* this server's, random, never 0 */
	char prefix[32];		/* "wgpunch:DB:" */
	char reg_key[64];		/* "wgpunch:DB:reg:" */
	char reg_channel[64];		/* "wgpunch:DB:reg" */
	char own_channel[64];		/* "wgpunch:DB:notify:ID" */
	struct registry cache;
	struct store_worker *w;
	unsigned int n;
	int wake_fd;			/* workers -> Redis thread */
	int stop_fd;
	pthread_t thread;
	bool started;
	/* Connections made: a registration last written under an older
	 * one is written again at its next refresh (Redis may have lost
	 * it, or the write was dropped while Redis was away). */
	_Atomic uint32_t epoch;

	/* The Redis thread's. */
	struct store_conn cmd, sub;
	enum store_state state;
	uint64_t retry_at, backoff, state_since, last_reply;
	unsigned int sub_pings;		/* sent on sub since its last reply */
	unsigned int ticks;
	bool down_logged;
	uint8_t *owed;			/* kinds of the replies cmd owes */
	uint32_t owed_head, owed_n;
	uint64_t next_tick;
	struct store_stats st;
};

/*
 * A store for n workers (their rings and eventfds), with a cache of
 * capacity entries that takes the fingerprint and hash keys of keys (a
 * partition of the same server: consent lists compare across both).
 * addr is url's, resolved; name is kept for logs. 0 or -errno.
 */
int store_init(struct store *s, const struct store_url *url,
	       const struct sockaddr *addr, socklen_t addr_len,
	       const char *name, unsigned int n, size_t capacity,
	       const struct registry *keys);
void store_free(struct store *s);

/* Start the Redis thread / stop and join it. 0 or -errno. */
int store_start(struct store *s);
void store_stop(struct store *s);

/* Worker w: a slot to fill with one message (kind, rec, and consent
 * or target/dest), or NULL when the ring is full (then counted);
 * store_commit() hands it over. The Redis thread is woken once per
 * batch, by store_kick(). */
struct store_msg *store_reserve(struct store *s, unsigned int w);
void store_commit(struct store *s, unsigned int w);
void store_kick(struct store *s, unsigned int w);

/* Worker w: the next NOTIFY another server asked for, or NULL;
 * store_release() when done with it. Read worker w's eventfd
 * (s->w[w].in_fd) first: it is what woke the worker. */
const struct store_msg *store_next_notify(struct store *s, unsigned int w);
void store_release(struct store *s, unsigned int w);

/* The counters summed with the workers' drops, for the log and the
 * metrics. */
void store_stats_read(const struct store *s, struct store_stats *out);

#endif
