// SPDX-License-Identifier: MIT
/*
 * bench_server — wgpunchd LOOKUPs per second on loopback with 1,000,000
 * registered peers, next to two UDP echo servers driven by the same load
 * generator in the same run: the trivial one (recvfrom/sendto per
 * datagram, the baseline) and a batched one (recvmmsg/sendmmsg,
 * like wgpunchd: the stricter comparison).
 *
 * Setup is in-process (1M entries inserted directly, with random session
 * keys: no one ever speaks for them; 64 real clients registered through
 * server_handle() with real X25519 sessions). The measurement goes
 * through the real server path: wgpunchd's event loop and sockets in a
 * thread, recvmmsg -> rate limiter -> registry -> AEAD open -> consent
 * -> AEAD seal -> sendmmsg. The generator replays pre-sealed LOOKUPs
 * (counters strictly increasing per client) with a fixed window of
 * datagrams in flight, so its own cost is the same for both servers.
 *
 * Three rounds alternate between the servers; medians are printed. Two
 * ratios: throughput (what the target is about; on a small shared
 * machine the generator competes with the server for CPU) and replies
 * per CPU-second of the server thread (the cost of one request, which
 * is mostly the two ChaCha20-Poly1305 operations on top of the same
 * system calls the echo server makes).
 *
 * Then --workers: for 1, 2, ... N workers (N: the online CPUs, or the
 * third argument), a server group (server.h) with the same peers spread
 * over the workers' partitions, each worker its own loop and SO_REUSEPORT
 * sockets steered by key, beside a batched echo with as many threads on
 * SO_REUSEPORT sockets (spread by the kernel's flow hash: the generator
 * sends from GEN_SOCKETS sockets), rounds alternating, same run. Thread i
 * of either is pinned to CPU (last - i) mod CPUs; the generator to CPU 0.
 *
 * Usage: bench_server [peers] [seconds per round] [max workers]
 *        (1000000, 2 and the online CPUs)
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <sodium.h>

#include "log.h"
#include "loop.h"
#include "server.h"

#define CLIENTS	64
#define WINDOW	1024
#define BATCH	64
#define ROUNDS	3
#define ROUND_POOL_PER_S 400000	/* LOOKUPs sealed per second of a round */
#define PKT	(WGP_REQ_PREFIX_LEN + WGP_LOOKUP_LEN + WGP_TAG_LEN)	/* 124 */
#define GEN_SOCKETS 16	/* the generator's sources in the workers part */

struct client {
	uint8_t priv[32], pub[32];
	struct wgp_session sess;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_server: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* ---- the two servers ------------------------------------------------ */

struct wgpunchd_thread {
	struct loop loop;
	int stop;
	pthread_t tid;
};

/* Servers on the last CPU, the load generator on the first: every
 * server gets the same core to itself, and none is migrated mid-round
 * (which on a 2-core machine swings a round by tens of percent). */
static void pin_to_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static int server_cpu(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 1 ? (int)n - 1 : 0;
}

static void *wgpunchd_main(void *arg)
{
	struct wgpunchd_thread *t = arg;

	pthread_setname_np(pthread_self(), "wgpunchd");
	pin_to_cpu(server_cpu());
	loop_run(&t->loop, t->stop);
	return NULL;
}

struct echo_thread {
	int fd, stop;
	uint16_t port;
	pthread_t tid;
};

/* The baseline: as little as a UDP server can do, batched like
 * wgpunchd (epoll-free: poll on the socket and the stop fd). */
static void *echo_main(void *arg)
{
	struct echo_thread *t = arg;
	static uint8_t buf[BATCH][2048];
	struct sockaddr_in from[BATCH];
	struct mmsghdr msg[BATCH];
	struct iovec iov[BATCH];
	struct pollfd pfd[2] = { { t->fd, POLLIN, 0 }, { t->stop, POLLIN, 0 } };
	int n, i;

	pthread_setname_np(pthread_self(), "echo");
	pin_to_cpu(server_cpu());
	for (;;) {
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		for (;;) {
			for (i = 0; i < BATCH; i++) {
				iov[i].iov_base = buf[i];
				iov[i].iov_len = sizeof(buf[i]);
				memset(&msg[i].msg_hdr, 0, sizeof(msg[i].msg_hdr));
				msg[i].msg_hdr.msg_name = &from[i];
				msg[i].msg_hdr.msg_namelen = sizeof(from[i]);
				msg[i].msg_hdr.msg_iov = &iov[i];
				msg[i].msg_hdr.msg_iovlen = 1;
			}
			n = recvmmsg(t->fd, msg, BATCH, MSG_DONTWAIT, NULL);
			if (n <= 0)
				break;
			for (i = 0; i < n; i++)
				iov[i].iov_len = msg[i].msg_len;
			sendmmsg(t->fd, msg, (unsigned int)n, MSG_DONTWAIT);
		}
	}
	return NULL;
}

/* The issue's own baseline: the most trivial UDP echo server there is,
 * one recvfrom() and one sendto() per datagram. */
static void *echo_plain_main(void *arg)
{
	struct echo_thread *t = arg;
	struct pollfd pfd[2] = { { t->fd, POLLIN, 0 }, { t->stop, POLLIN, 0 } };
	struct sockaddr_in from;
	socklen_t fromlen;
	uint8_t buf[2048];
	ssize_t n;

	pthread_setname_np(pthread_self(), "echo-plain");
	pin_to_cpu(server_cpu());
	for (;;) {
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		for (;;) {
			fromlen = sizeof(from);
			n = recvfrom(t->fd, buf, sizeof(buf), MSG_DONTWAIT,
				     (struct sockaddr *)&from, &fromlen);
			if (n < 0)
				break;
			sendto(t->fd, buf, (size_t)n, MSG_DONTWAIT,
			       (struct sockaddr *)&from, fromlen);
		}
	}
	return NULL;
}

static int udp_socket(uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int size = 4 << 20;

	if (fd < 0)
		die("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	if (bind(fd, (void *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (void *)&sin, &len) < 0)
		die("bind");
	*port = ntohs(sin.sin_port);
	return fd;
}

/* ---- the load generator --------------------------------------------- */

struct load {
	uint8_t (*pkt)[PKT];
	size_t n;
};

/*
 * Send datagrams from the pool to port, keeping WINDOW in flight, for
 * seconds (or until the pool runs out); count replies. Lost datagrams
 * are written off after 20 ms of silence so the window never stalls.
 */
static double thread_cpu(pthread_t tid)
{
	struct timespec ts;
	clockid_t cid;

	if (pthread_getcpuclockid(tid, &cid) || clock_gettime(cid, &ts))
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double drive(const struct load *ld, uint16_t port, double seconds,
		    size_t *replies_out, size_t *sent_out, pthread_t server,
		    double *cpu_out)
{
	double cpu0 = thread_cpu(server);
	static uint8_t rbuf[BATCH][2048];
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct mmsghdr msg[BATCH];
	struct iovec iov[BATCH];
	size_t next = 0, replies = 0, inflight = 0;
	uint16_t myport;
	int fd = udp_socket(&myport), n, i;
	struct pollfd pfd = { fd, POLLIN, 0 };
	double start, end;

	if (connect(fd, (void *)&to, sizeof(to)) < 0)
		die("connect");
	start = now_s();
	end = start + seconds;
	while (next < ld->n) {
		/* Fill the window. */
		while (inflight + BATCH <= WINDOW && next < ld->n) {
			unsigned int k = 0;

			for (; k < BATCH && next + k < ld->n; k++) {
				iov[k].iov_base = ld->pkt[next + k];
				iov[k].iov_len = PKT;
				memset(&msg[k].msg_hdr, 0, sizeof(msg[k].msg_hdr));
				msg[k].msg_hdr.msg_iov = &iov[k];
				msg[k].msg_hdr.msg_iovlen = 1;
			}
			n = sendmmsg(fd, msg, k, 0);
			if (n <= 0)
				break;
			next += (size_t)n;
			inflight += (size_t)n;
		}
		if (poll(&pfd, 1, 20) == 0) {
			inflight = 0;	/* lost: refill */
			continue;
		}
		for (i = 0; i < BATCH; i++) {
			iov[i].iov_base = rbuf[i];
			iov[i].iov_len = sizeof(rbuf[i]);
			memset(&msg[i].msg_hdr, 0, sizeof(msg[i].msg_hdr));
			msg[i].msg_hdr.msg_iov = &iov[i];
			msg[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(fd, msg, BATCH, MSG_DONTWAIT, NULL);
		if (n > 0) {
			replies += (size_t)n;
			inflight -= (size_t)n > inflight ? inflight : (size_t)n;
		}
		if (now_s() >= end)
			break;
	}
	end = now_s();
	*cpu_out = thread_cpu(server) - cpu0;
	close(fd);
	*replies_out = replies;
	*sent_out = next;
	return (double)replies / (end - start);
}

/* ---- setup ----------------------------------------------------------- */

static void fill(struct server *srv, size_t peers)
{
	uint8_t key[32];
	struct reg_entry *e;
	size_t i;

	for (i = 0; i < peers; i++) {
		randombytes_buf(key, sizeof(key));
		e = registry_insert(&srv->reg, key, wgp_mono_ms(), 3600 * 1000);
		if (!e) {
			fprintf(stderr, "bench_server: registry full at %zu\n", i);
			exit(1);
		}
		randombytes_buf(&e->sess, sizeof(e->sess));
		e->counter = 1;
		e->ep.family = AF_INET;
		e->ep.port = (uint16_t)i;
		memcpy(e->ep.addr, &i, 4);
	}
}

static struct outq discard_q;

/* Register each client naming its partner (i ^ 1), in-process. */
static void register_clients(struct server *srv, struct client *c)
{
	struct wgp_endpoint src = { .family = AF_INET, .port = 9,
				    .addr = { 127, 0, 0, 1 } };
	uint8_t buf[WGP_MAX_MSG_LEN];
	struct wgp_msg m = { .type = WGP_REGISTER };
	struct rx_info rx = { .src = src, .port = PORT_MAIN };
	ssize_t len;
	int i;

	for (i = 0; i < CLIENTS; i++) {
		memset(&m, 0, sizeof(m));
		m.type = WGP_REGISTER;
		wgp_txid_new(m.txid);
		memcpy(m.key, c[i].pub, 32);
		m.u.reg.counter = wgp_now_ns();
		m.u.reg.n_consent = 1;
		wgp_consent_digest(m.u.reg.consent[0], c[i ^ 1].pub);
		len = wgp_seal(buf, sizeof(buf), &m, &c[i].sess);
		rx.pkt = buf;
		rx.len = (size_t)len;
		discard_q.n = 0;
		server_handle(srv, &rx, wgp_mono_ms(), wgp_now_ns(), &discard_q);
		if (!registry_find(&srv->reg, c[i].pub, wgp_mono_ms())) {
			fprintf(stderr, "bench_server: client registration failed\n");
			exit(1);
		}
	}
}

static void seal_lookups(struct load *ld, struct client *c, size_t n)
{
	uint64_t counter[CLIENTS];
	struct wgp_msg m;
	size_t i;
	int k;

	ld->pkt = malloc(n * PKT);
	if (!ld->pkt)
		die("malloc");
	ld->n = n;
	for (k = 0; k < CLIENTS; k++)
		counter[k] = wgp_now_ns() + 1000;
	for (i = 0; i < n; i++) {
		k = (int)(i % CLIENTS);
		memset(&m, 0, sizeof(m));
		m.type = WGP_LOOKUP;
		wgp_txid_new(m.txid);
		memcpy(m.key, c[k].pub, 32);
		m.u.lookup.counter = counter[k]++;
		memcpy(m.u.lookup.target, c[k ^ 1].pub, 32);
		if (wgp_seal(ld->pkt[i], PKT, &m, &c[k].sess) != PKT)
			die("wgp_seal");
	}
}

/* ---- 1..N workers beside an echo with as many threads ----------------- */

static void pin_worker(unsigned int i)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		n = 1;
	pin_to_cpu((int)((n - 1 - (long)(i % (unsigned long)n)) % n));
}

struct worker_thread {
	struct loop *loop;
	unsigned int i;
	int stop;
	pthread_t tid;
};

static void *group_worker_main(void *arg)
{
	struct worker_thread *t = arg;

	pthread_setname_np(pthread_self(), "wgpunchd-w");
	pin_worker(t->i);
	loop_run(t->loop, t->stop);
	return NULL;
}

/* One thread of the echo group: the batched echo on its own socket of
 * the group, with buffers of its own. */
struct echo_worker {
	int fd, stop;
	unsigned int i;
	pthread_t tid;
	uint8_t buf[BATCH][2048];
	struct sockaddr_in from[BATCH];
	struct mmsghdr msg[BATCH];
	struct iovec iov[BATCH];
};

static void *echo_worker_main(void *arg)
{
	struct echo_worker *t = arg;
	struct pollfd pfd[2] = { { t->fd, POLLIN, 0 }, { t->stop, POLLIN, 0 } };
	int n, i;

	pthread_setname_np(pthread_self(), "echo-w");
	pin_worker(t->i);
	for (;;) {
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		for (;;) {
			for (i = 0; i < BATCH; i++) {
				t->iov[i].iov_base = t->buf[i];
				t->iov[i].iov_len = sizeof(t->buf[i]);
				memset(&t->msg[i].msg_hdr, 0,
				       sizeof(t->msg[i].msg_hdr));
				t->msg[i].msg_hdr.msg_name = &t->from[i];
				t->msg[i].msg_hdr.msg_namelen = sizeof(t->from[i]);
				t->msg[i].msg_hdr.msg_iov = &t->iov[i];
				t->msg[i].msg_hdr.msg_iovlen = 1;
			}
			n = recvmmsg(t->fd, t->msg, BATCH, MSG_DONTWAIT, NULL);
			if (n <= 0)
				break;
			for (i = 0; i < n; i++)
				t->iov[i].iov_len = t->msg[i].msg_len;
			sendmmsg(t->fd, t->msg, (unsigned int)n, MSG_DONTWAIT);
		}
	}
	return NULL;
}

static int reuseport_socket(uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(*port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int size = 4 << 20, one = 1;

	if (fd < 0)
		die("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    bind(fd, (void *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (void *)&sin, &len) < 0)
		die("bind");
	*port = ntohs(sin.sin_port);
	return fd;
}

/*
 * drive() from GEN_SOCKETS sockets, a batch from each in turn, one
 * window over all: the echo group's flow hash needs several sources to
 * spread them (wgpunchd's steering goes by key and would not), and both
 * servers get the very same generator.
 */
static double drive_multi(const struct load *ld, uint16_t port, double seconds,
			  size_t *replies_out)
{
	static uint8_t rbuf[BATCH][2048];
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct mmsghdr msg[BATCH];
	struct iovec iov[BATCH];
	struct epoll_event ev[GEN_SOCKETS];
	size_t next = 0, replies = 0, inflight = 0;
	int fd[GEN_SOCKETS], ep, n, i, j, turn = 0;
	double start, end;
	uint16_t myport;

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	for (j = 0; j < GEN_SOCKETS; j++) {
		struct epoll_event e = { .events = EPOLLIN, .data.u32 = (uint32_t)j };

		fd[j] = udp_socket(&myport);
		if (connect(fd[j], (void *)&to, sizeof(to)) < 0 ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, fd[j], &e) < 0)
			die("connect");
	}
	start = now_s();
	end = start + seconds;
	while (next < ld->n) {
		while (inflight + BATCH <= WINDOW && next < ld->n) {
			unsigned int k = 0;

			for (; k < BATCH && next + k < ld->n; k++) {
				iov[k].iov_base = ld->pkt[next + k];
				iov[k].iov_len = PKT;
				memset(&msg[k].msg_hdr, 0, sizeof(msg[k].msg_hdr));
				msg[k].msg_hdr.msg_iov = &iov[k];
				msg[k].msg_hdr.msg_iovlen = 1;
			}
			n = sendmmsg(fd[turn], msg, k, 0);
			turn = (turn + 1) % GEN_SOCKETS;
			if (n <= 0)
				break;
			next += (size_t)n;
			inflight += (size_t)n;
		}
		n = epoll_wait(ep, ev, GEN_SOCKETS, 20);
		if (n <= 0) {
			inflight = 0;	/* lost: refill */
			continue;
		}
		for (j = 0; j < n; j++) {
			int got;

			for (i = 0; i < BATCH; i++) {
				iov[i].iov_base = rbuf[i];
				iov[i].iov_len = sizeof(rbuf[i]);
				memset(&msg[i].msg_hdr, 0, sizeof(msg[i].msg_hdr));
				msg[i].msg_hdr.msg_iov = &iov[i];
				msg[i].msg_hdr.msg_iovlen = 1;
			}
			got = recvmmsg(fd[ev[j].data.u32], msg, BATCH,
				       MSG_DONTWAIT, NULL);
			if (got > 0) {
				replies += (size_t)got;
				inflight -= (size_t)got > inflight ? inflight :
								     (size_t)got;
			}
		}
		if (now_s() >= end)
			break;
	}
	end = now_s();
	for (j = 0; j < GEN_SOCKETS; j++)
		close(fd[j]);
	close(ep);
	*replies_out = replies;
	return (double)replies / (end - start);
}

/* fill() over a group: each key into its worker's partition. */
static void group_fill(struct server_group *g, size_t peers)
{
	uint8_t key[32];
	struct reg_entry *e;
	struct registry *r;
	size_t i;

	for (i = 0; i < peers; i++) {
		randombytes_buf(key, sizeof(key));
		r = g->parts[server_worker_of(key, g->n)];
		e = registry_insert(r, key, wgp_mono_ms(), 3600 * 1000);
		if (!e) {
			fprintf(stderr, "bench_server: partition full at %zu\n",
				i);
			exit(1);
		}
		randombytes_buf(&e->sess, sizeof(e->sess));
		e->counter = 1;
		e->ep.family = AF_INET;
		e->ep.port = (uint16_t)i;
		memcpy(e->ep.addr, &i, 4);
	}
}

/* register_clients() over a group: each on its key's worker, as the
 * steering would deliver it. */
static void group_register(struct server_group *g, struct client *c)
{
	struct wgp_endpoint src = { .family = AF_INET, .port = 9,
				    .addr = { 127, 0, 0, 1 } };
	struct rx_info rx = { .src = src, .port = PORT_MAIN };
	uint8_t buf[WGP_MAX_MSG_LEN];
	struct server *srv;
	struct wgp_msg m;
	ssize_t len;
	int i;

	for (i = 0; i < CLIENTS; i++) {
		srv = &g->srv[server_worker_of(c[i].pub, g->n)];
		memset(&m, 0, sizeof(m));
		m.type = WGP_REGISTER;
		wgp_txid_new(m.txid);
		memcpy(m.key, c[i].pub, 32);
		m.u.reg.counter = wgp_now_ns();
		m.u.reg.n_consent = 1;
		wgp_consent_digest(m.u.reg.consent[0], c[i ^ 1].pub);
		len = wgp_seal(buf, sizeof(buf), &m, &c[i].sess);
		rx.pkt = buf;
		rx.len = (size_t)len;
		discard_q.n = 0;
		server_handle(srv, &rx, wgp_mono_ms(), wgp_now_ns(), &discard_q);
		if (!registry_find(&srv->reg, c[i].pub, wgp_mono_ms())) {
			fprintf(stderr, "bench_server: client registration failed\n");
			exit(1);
		}
	}
}

/* The group's counters, summed. */
static void group_counts(const struct server_group *g, uint64_t *lookups,
			 uint64_t *bad)
{
	unsigned int i;

	*lookups = *bad = 0;
	for (i = 0; i < g->n; i++) {
		*lookups += g->srv[i].st.lookups;
		*bad += g->srv[i].st.errors + g->srv[i].st.forged;
	}
}

/* CPU seconds the threads used so far, all together. */
static double threads_cpu(const pthread_t *tid, size_t stride, unsigned int n)
{
	double sum = 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		sum += thread_cpu(*(const pthread_t *)((const char *)tid +
						       i * stride));
	return sum;
}

struct workers_result {
	double w, e;		/* LOOKUPs/s, echoes/s */
	double w_eff, e_eff;	/* the same per CPU-second of the servers */
};

/* One worker count: wgpunchd with n workers and echo with n threads,
 * ROUNDS rounds alternating; medians into *res. */
static void run_workers(unsigned int n, size_t peers, double seconds,
			struct client *c, struct workers_result *res)
{
	double rate_w[ROUNDS], rate_e[ROUNDS], eff_w[ROUNDS], eff_e[ROUNDS];
	struct server_config cfg;
	struct server_group g;
	struct loop *loops = calloc(n, sizeof(*loops));
	struct worker_thread *wt = calloc(n, sizeof(*wt));
	struct echo_worker *et = calloc(n, sizeof(*et));
	uint16_t echo_port = 0;
	uint64_t one = 1, lookups, bad, before;
	struct load ld;
	size_t pool, replies;
	double cpu;
	unsigned int i;
	int r;

	if (!loops || !wt || !et)
		die("calloc");
	server_config_defaults(&cfg);
	/* Keys land unevenly: 2 % room per partition. */
	cfg.capacity = peers + peers / 50 + CLIENTS * (size_t)n;
	cfg.rate = 0;
	cfg.dh_rate = 0;
	cfg.port[PORT_MAIN] = cfg.port[PORT_PROBE] = 0;
	cfg.ttl = 3600;
	{
		uint8_t priv[32];

		wgp_key_generate(priv);
		if (server_group_init(&g, n, &cfg, priv, wgp_mono_ms()) < 0)
			die("server_group_init");
	}
	group_fill(&g, peers);
	for (i = 0; i < CLIENTS; i++)
		wgp_session_client(&c[i].sess, c[i].priv, c[i].pub,
				   g.srv[0].pub);
	group_register(&g, c);
	pool = (size_t)(seconds * ROUND_POOL_PER_S) * ROUNDS;
	seal_lookups(&ld, c, pool);
	for (i = 0; i < n; i++) {
		memcpy(g.srv[i].cfg.port, g.srv[0].cfg.port,
		       sizeof(g.srv[i].cfg.port));
		if (loop_init_worker(&loops[i], &g.srv[i], "127.0.0.1", i,
				     n) < 0)
			die("loop_init_worker");
	}
	for (i = 0; i < n; i++) {
		wt[i] = (struct worker_thread){ &loops[i], i,
						eventfd(0, EFD_CLOEXEC), 0 };
		pthread_create(&wt[i].tid, NULL, group_worker_main, &wt[i]);
		et[i].fd = reuseport_socket(&echo_port);
		et[i].stop = eventfd(0, EFD_CLOEXEC);
		et[i].i = i;
		pthread_create(&et[i].tid, NULL, echo_worker_main, &et[i]);
	}
	for (r = 0; r < ROUNDS; r++) {
		struct load slice = { ld.pkt + (size_t)r * (pool / ROUNDS),
				      pool / ROUNDS };

		group_counts(&g, &before, &bad);
		cpu = threads_cpu(&wt[0].tid, sizeof(wt[0]), n);
		rate_w[r] = drive_multi(&slice, loops[0].port[PORT_MAIN],
					seconds, &replies);
		cpu = threads_cpu(&wt[0].tid, sizeof(wt[0]), n) - cpu;
		group_counts(&g, &lookups, &bad);
		eff_w[r] = cpu > 0 ? (double)(lookups - before) / cpu : 0;
		cpu = threads_cpu(&et[0].tid, sizeof(et[0]), n);
		rate_e[r] = drive_multi(&slice, echo_port, seconds, &replies);
		cpu = threads_cpu(&et[0].tid, sizeof(et[0]), n) - cpu;
		eff_e[r] = cpu > 0 ? (double)replies / cpu : 0;
		printf("workers %u, round %d: wgpunchd %8.0f/s (%8.0f per "
		       "CPU-s)   echo %8.0f/s (%8.0f per CPU-s)\n", n, r + 1,
		       rate_w[r], eff_w[r], rate_e[r], eff_e[r]);
	}
	for (i = 0; i < n; i++) {
		if (write(wt[i].stop, &one, sizeof(one)) < 0 ||
		    write(et[i].stop, &one, sizeof(one)) < 0)
			die("eventfd");
		pthread_join(wt[i].tid, NULL);
		pthread_join(et[i].tid, NULL);
		close(wt[i].stop);
		close(et[i].stop);
		close(et[i].fd);
		loop_free(&loops[i]);
	}
	group_counts(&g, &lookups, &bad);
	if (bad || !lookups) {
		fprintf(stderr, "bench_server: %u workers answered with errors "
			"(lookups %llu, errors/forged %llu)\n", n,
			(unsigned long long)lookups, (unsigned long long)bad);
		exit(1);
	}
	qsort(rate_w, ROUNDS, sizeof(double), cmp_double);
	qsort(rate_e, ROUNDS, sizeof(double), cmp_double);
	qsort(eff_w, ROUNDS, sizeof(double), cmp_double);
	qsort(eff_e, ROUNDS, sizeof(double), cmp_double);
	res->w = rate_w[ROUNDS / 2];
	res->e = rate_e[ROUNDS / 2];
	res->w_eff = eff_w[ROUNDS / 2];
	res->e_eff = eff_e[ROUNDS / 2];
	server_group_free(&g);
	free(ld.pkt);
	free(loops);
	free(wt);
	free(et);
}

/* The workers part: a line per worker count, and the table. */
static void bench_workers(unsigned int max, size_t peers, double seconds,
			  struct client *c)
{
	struct workers_result r[SERVER_MAX_WORKERS + 1];
	unsigned int n;

	for (n = 1; n <= max; n++)
		run_workers(n, peers, seconds, c, &r[n]);
	printf("workers  wgpunchd LOOKUPs/s   echo datagrams/s   ratio     "
	       "per CPU-second: wgpunchd   echo   ratio\n");
	for (n = 1; n <= max; n++)
		printf("%7u  %18.0f   %16.0f   %5.1f %%   %17.0f %8.0f   "
		       "%5.1f %%\n", n, r[n].w, r[n].e, 100.0 * r[n].w / r[n].e,
		       r[n].w_eff, r[n].e_eff,
		       100.0 * r[n].w_eff / r[n].e_eff);
	printf("(goal: >= 90 %% of the echo at every worker count; %zu "
	       "peers, medians of %d rounds)\n", peers, ROUNDS);
}

int main(int argc, char *argv[])
{
	size_t peers = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned long max_workers = argc > 3 ? strtoul(argv[3], NULL, 10) :
				    (unsigned long)(cpus > 0 ? cpus : 1);
	double seconds = argc > 2 ? atof(argv[2]) : 2.0, t0;
	double rate_w[ROUNDS], rate_e[ROUNDS], eff_w[ROUNDS], eff_e[ROUNDS];
	double rate_p[ROUNDS], eff_p[ROUNDS];
	struct load ld;
	static struct client c[CLIENTS];
	struct wgpunchd_thread w;
	struct echo_thread echo, plain;
	struct server_config cfg;
	struct server srv;
	uint8_t priv[32];
	size_t replies, sent, pool;
	uint64_t one = 1;
	int i;

	if (sodium_init() < 0)
		return 1;
	log_set_level(LOG_LEVEL_WARN);
	server_config_defaults(&cfg);
	cfg.capacity = peers + CLIENTS;
	cfg.rate = 0;		/* the generator is one source */
	cfg.dh_rate = 0;
	cfg.port[PORT_MAIN] = cfg.port[PORT_PROBE] = 0;
	cfg.ttl = 3600;
	wgp_key_generate(priv);
	if (server_init(&srv, &cfg, priv, wgp_mono_ms()) < 0)
		die("server_init");
	discard_q.cap = 128;
	discard_q.msgs = calloc(discard_q.cap, sizeof(*discard_q.msgs));

	t0 = now_s();
	fill(&srv, peers);
	for (i = 0; i < CLIENTS; i++) {
		wgp_key_generate(c[i].priv);
		wgp_key_public(c[i].pub, c[i].priv);
		wgp_session_client(&c[i].sess, c[i].priv, c[i].pub, srv.pub);
	}
	register_clients(&srv, c);
	printf("setup: %zu peers registered in %.2f s, registry %.0f MiB\n",
	       (size_t)srv.reg.live, now_s() - t0,
	       (double)registry_memory(&srv.reg) / (1 << 20));

	/* Rounds alternate between the servers so drift of a shared
	 * machine hits both; each wgpunchd round uses a fresh slice of the
	 * pool (counters keep increasing), echo just reflects. */
	pool = (size_t)(seconds * ROUND_POOL_PER_S) * ROUNDS;
	t0 = now_s();
	seal_lookups(&ld, c, pool);
	printf("setup: %zu LOOKUPs sealed in %.2f s\n", pool, now_s() - t0);

	pin_to_cpu(0);		/* the load generator */
	if (loop_init(&w.loop, &srv, "127.0.0.1") < 0)
		die("loop_init");
	w.stop = eventfd(0, EFD_CLOEXEC);
	pthread_create(&w.tid, NULL, wgpunchd_main, &w);
	echo.fd = udp_socket(&echo.port);
	echo.stop = eventfd(0, EFD_CLOEXEC);
	pthread_create(&echo.tid, NULL, echo_main, &echo);
	plain.fd = udp_socket(&plain.port);
	plain.stop = eventfd(0, EFD_CLOEXEC);
	pthread_create(&plain.tid, NULL, echo_plain_main, &plain);

	for (i = 0; i < ROUNDS; i++) {
		struct load slice = { ld.pkt + (size_t)i * (pool / ROUNDS),
				      pool / ROUNDS };
		uint64_t before = srv.st.lookups;
		double cpu;

		rate_w[i] = drive(&slice, w.loop.port[PORT_MAIN], seconds,
				  &replies, &sent, w.tid, &cpu);
		eff_w[i] = cpu > 0 ? (double)(srv.st.lookups - before) / cpu : 0;
		printf("round %d: wgpunchd %8.0f/s (%8.0f per CPU-s)   ",
		       i + 1, rate_w[i], eff_w[i]);
		rate_e[i] = drive(&slice, echo.port, seconds, &replies, &sent,
				  echo.tid, &cpu);
		eff_e[i] = cpu > 0 ? (double)replies / cpu : 0;
		printf("echo %8.0f/s (%8.0f per CPU-s)   ", rate_e[i], eff_e[i]);
		rate_p[i] = drive(&slice, plain.port, seconds, &replies, &sent,
				  plain.tid, &cpu);
		eff_p[i] = cpu > 0 ? (double)replies / cpu : 0;
		printf("plain echo %8.0f/s\n", rate_p[i]);
	}
	if (write(w.stop, &one, sizeof(one)) < 0 ||
	    write(echo.stop, &one, sizeof(one)) < 0 ||
	    write(plain.stop, &one, sizeof(one)) < 0)
		die("eventfd");
	pthread_join(w.tid, NULL);
	pthread_join(echo.tid, NULL);
	pthread_join(plain.tid, NULL);
	/* Replies include NOTIFYs (a LOOKUP moves the client's endpoint to
	 * the generator's socket, where its partner's NOTIFYs then go), so
	 * check the server's own counts: every LOOKUP must have succeeded. */
	if (srv.st.errors || srv.st.forged || !srv.st.lookups) {
		fprintf(stderr, "bench_server: server answered with errors "
			"(lookups %llu, errors %llu, forged %llu)\n",
			(unsigned long long)srv.st.lookups,
			(unsigned long long)srv.st.errors,
			(unsigned long long)srv.st.forged);
		return 1;
	}
	qsort(rate_w, ROUNDS, sizeof(double), cmp_double);
	qsort(rate_e, ROUNDS, sizeof(double), cmp_double);
	qsort(eff_w, ROUNDS, sizeof(double), cmp_double);
	qsort(eff_e, ROUNDS, sizeof(double), cmp_double);
	qsort(rate_p, ROUNDS, sizeof(double), cmp_double);
	qsort(eff_p, ROUNDS, sizeof(double), cmp_double);
	printf("wgpunchd: %10.0f lookups/s    %10.0f per server CPU-second "
	       "(medians of %d rounds, %zu peers)\n", rate_w[ROUNDS / 2],
	       eff_w[ROUNDS / 2], ROUNDS, (size_t)srv.reg.live);
	printf("echo:     %10.0f datagrams/s  %10.0f per server CPU-second "
	       "(batched: recvmmsg/sendmmsg)\n",
	       rate_e[ROUNDS / 2], eff_e[ROUNDS / 2]);
	printf("plain:    %10.0f datagrams/s  %10.0f per server CPU-second "
	       "(trivial: recvfrom/sendto)\n",
	       rate_p[ROUNDS / 2], eff_p[ROUNDS / 2]);
	printf("ratio:    %10.1f %% of the batched echo  %10.1f %% per CPU-second\n",
	       100.0 * rate_w[ROUNDS / 2] / rate_e[ROUNDS / 2],
	       100.0 * eff_w[ROUNDS / 2] / eff_e[ROUNDS / 2]);
	printf("ratio:    %10.1f %% of the trivial echo  %10.1f %% per CPU-second "
	       "(target: >= 70 %% of the echo rate)\n",
	       100.0 * rate_w[ROUNDS / 2] / rate_p[ROUNDS / 2],
	       100.0 * eff_w[ROUNDS / 2] / eff_p[ROUNDS / 2]);

	loop_free(&w.loop);
	server_free(&srv);
	free(ld.pkt);

	if (max_workers > SERVER_MAX_WORKERS)
		max_workers = SERVER_MAX_WORKERS;
	if (max_workers)
		bench_workers((unsigned int)max_workers, peers, seconds, c);
	free(discard_q.msgs);
	return 0;
}
