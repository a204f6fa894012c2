/* SPDX-License-Identifier: MIT */
/*
 * What the wgpunchd benchmarks (bench_server, bench_registry) share:
 * the load generator, which replays pre-sealed LOOKUPs on loopback with
 * a fixed window in flight; the server threads it drives (a wgpunchd
 * loop, a batched echo), each pinned to a CPU of its own; and the
 * in-process setup (filler entries, real clients registered through
 * server_handle()).
 *
 * A benchmark's measurements go through the real server path: the
 * loop's sockets, recvmmsg -> rate limiter -> registry -> AEAD open ->
 * consent -> AEAD seal -> sendmmsg. Errors are fatal (die()): a
 * benchmark that cannot set itself up has nothing to say.
 */
#ifndef WGPUNCH_BENCH_UDPGEN_H
#define WGPUNCH_BENCH_UDPGEN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "loop.h"
#include "server.h"

#define GEN_WINDOW	1024	/* datagrams in flight */
#define GEN_BATCH	64	/* per sendmmsg / recvmmsg */
#define ROUND_POOL_PER_S 400000	/* LOOKUPs sealed per second of a round */
#define LOOKUP_PKT	(WGP_REQ_PREFIX_LEN + WGP_LOOKUP_LEN + WGP_TAG_LEN)

struct client {
	uint8_t priv[WGP_KEY_LEN], pub[WGP_KEY_LEN];
	struct wgp_session sess;
	uint8_t target[WGP_KEY_LEN];	/* the peer it names and LOOKUPs */
};

/* Sealed LOOKUPs to replay, in order (counters increase per client). */
struct load {
	uint8_t (*pkt)[LOOKUP_PKT];
	size_t n;
};

double now_s(void);
int cmp_double(const void *a, const void *b);
/* The middle of n values (sorts them). */
double median(double *v, size_t n);
/* "<program>: what: strerror(errno)", exit 1. */
void die(const char *what);

/* The calling thread on cpu alone: none is migrated mid-round (which
 * on a 2-core machine swings a round by tens of percent). */
void pin_to_cpu(int cpu);
/* The servers' CPU: the last; the load generator takes the first. */
int server_cpu(void);
/* CPU seconds thread tid has used. */
double thread_cpu(pthread_t tid);

/* A UDP socket on 127.0.0.1, an ephemeral port (*port), 4 MiB
 * buffers. */
int udp_socket(uint16_t *port);
/* The same on *port (0: any) with SO_REUSEPORT: one of a group. */
int reuseport_socket(uint16_t *port);

/* One batch (up to GEN_BATCH) of ld from next on, sent on fd; how many
 * went. / What one recvmmsg on fd brought (without waiting). */
size_t gen_send(int fd, const struct load *ld, size_t next);
/* The same with datagrams next, next + stride, next + 2 stride, ... */
size_t gen_send_every(int fd, const struct load *ld, size_t next,
		      size_t stride);
size_t gen_receive(int fd);

/*
 * Send datagrams from ld to port, keeping GEN_WINDOW in flight, for
 * seconds (or until ld runs out); count replies. Lost datagrams are
 * written off after 20 ms of silence so the window never stalls.
 * Returns replies per second; *cpu_out: CPU seconds server used.
 */
double drive(const struct load *ld, uint16_t port, double seconds,
	     size_t *replies_out, size_t *sent_out, pthread_t server,
	     double *cpu_out);

/* ---- server threads ----------------------------------------------- */

/* A wgpunchd event loop (loop_run) in a thread pinned to cpu. */
struct loop_thread {
	struct loop *loop;
	int cpu;
	int stop;		/* eventfd */
	const char *name;
	pthread_t tid;
};

void loop_thread_start(struct loop_thread *t, struct loop *loop, int cpu,
		       const char *name);
void loop_thread_stop(struct loop_thread *t);

/*
 * The baselines, in a thread pinned to cpu, on fd (closed by
 * echo_thread_stop()):
 *   ECHO_BATCHED  as little as a UDP server can do, batched like
 *                 wgpunchd (recvmmsg / sendmmsg);
 *   ECHO_PLAIN    the most trivial UDP echo server there is, one
 *                 recvfrom() and one sendto() per datagram;
 *   ECHO_SEALED   the batched echo plus the least any server of this
 *                 protocol must do: open each LOOKUP with its client's
 *                 session (found by key among echo_thread_clients()'s)
 *                 and seal a LOOKUP_REPLY of the same size as
 *                 wgpunchd's. No registry, no counters, no consent:
 *                 the crypto floor.
 */
enum echo_kind { ECHO_BATCHED, ECHO_PLAIN, ECHO_SEALED };

#define ECHO_INDEX 8192	/* clients by their key's first bytes, probed */

struct echo_thread {
	int fd, stop, cpu;
	enum echo_kind kind;
	const char *name;
	pthread_t tid;
	const struct client *clients;
	int16_t index[ECHO_INDEX];	/* ECHO_SEALED: client + 1, 0 empty */
	uint64_t forged;		/* ECHO_SEALED: did not open */
	uint8_t buf[GEN_BATCH][2048];
	uint8_t out[GEN_BATCH][WGP_MAX_MSG_LEN];
	struct sockaddr_in from[GEN_BATCH];
	struct mmsghdr msg[GEN_BATCH];
	struct iovec iov[GEN_BATCH];
};

void echo_thread_start(struct echo_thread *t, int fd, int cpu,
		       const char *name, enum echo_kind kind);
/* ECHO_SEALED's sessions: before echo_thread_start(); n <= 4096. */
void echo_thread_clients(struct echo_thread *t, const struct client *c,
			 unsigned int n);
void echo_thread_stop(struct echo_thread *t);

/* ---- setup ---------------------------------------------------------- */

/* A server for the generator: capacity entries, no rate limits (the
 * generator is one source) and no X25519 budget, ports chosen by the
 * kernel, entries that outlive any run. */
void bench_config(struct server_config *cfg, size_t capacity);

/* n clients with fresh key pairs / their sessions with a server. */
void clients_init(struct client *c, unsigned int n);
void clients_connect(struct client *c, unsigned int n,
		     const uint8_t server_pub[WGP_KEY_LEN]);

/* A filler entry i for key in r (random session keys: no one ever
 * speaks for it), held by server origin (0: r's own); peers of them. */
void fill_one(struct registry *r, const uint8_t key[WGP_KEY_LEN], size_t i,
	      uint64_t origin);
void fill(struct registry *r, size_t peers, uint64_t origin);

/* One datagram into srv as the loop hands it over (from 127.0.0.1:9,
 * to the main port); what it queued, valid until the next call. */
const struct outq *server_input(struct server *srv, const uint8_t *pkt,
				size_t len);

/* c REGISTERs with srv naming c->target, in-process; dies unless srv
 * then holds it. */
void register_client(struct server *srv, const struct client *c);
void register_clients(struct server *srv, const struct client *c,
		      unsigned int n);

/* count LOOKUPs, from c[k] for c[k].target, k = 0..n-1 in turn. */
void seal_lookups(struct load *ld, const struct client *c, unsigned int n,
		  size_t count);

#endif
