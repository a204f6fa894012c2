// SPDX-License-Identifier: MIT
/*
 * The wgpunchd benchmarks' load generator, server threads and setup
 * (udpgen.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/eventfd.h>

#include <sodium.h>

#include "udpgen.h"

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

void die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what,
		strerror(errno));
	exit(1);
}

void pin_to_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

int server_cpu(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 1 ? (int)n - 1 : 0;
}

double thread_cpu(pthread_t tid)
{
	struct timespec ts;
	clockid_t cid;

	if (pthread_getcpuclockid(tid, &cid) || clock_gettime(cid, &ts))
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* On 127.0.0.1:*port (0: any; *port then says which), 4 MiB buffers. */
static int bound_socket(uint16_t *port, int reuseport)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(*port),
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
	if ((reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &reuseport,
				     sizeof(reuseport)) < 0) ||
	    bind(fd, (void *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (void *)&sin, &len) < 0)
		die("bind");
	*port = ntohs(sin.sin_port);
	return fd;
}

int udp_socket(uint16_t *port)
{
	*port = 0;
	return bound_socket(port, 0);
}

int reuseport_socket(uint16_t *port)
{
	return bound_socket(port, 1);
}

/* ---- the load generator --------------------------------------------- */

size_t gen_send(int fd, const struct load *ld, size_t next)
{
	return gen_send_every(fd, ld, next, 1);
}

size_t gen_send_every(int fd, const struct load *ld, size_t next,
		      size_t stride)
{
	struct mmsghdr msg[GEN_BATCH];
	struct iovec iov[GEN_BATCH];
	unsigned int k = 0;
	int n;

	for (; k < GEN_BATCH && next + k * stride < ld->n; k++) {
		iov[k].iov_base = ld->pkt[next + k * stride];
		iov[k].iov_len = LOOKUP_PKT;
		memset(&msg[k].msg_hdr, 0, sizeof(msg[k].msg_hdr));
		msg[k].msg_hdr.msg_iov = &iov[k];
		msg[k].msg_hdr.msg_iovlen = 1;
	}
	n = sendmmsg(fd, msg, k, 0);
	return n > 0 ? (size_t)n : 0;
}

size_t gen_receive(int fd)
{
	static uint8_t rbuf[GEN_BATCH][2048];
	struct mmsghdr msg[GEN_BATCH];
	struct iovec iov[GEN_BATCH];
	int i, n;

	for (i = 0; i < GEN_BATCH; i++) {
		iov[i].iov_base = rbuf[i];
		iov[i].iov_len = sizeof(rbuf[i]);
		memset(&msg[i].msg_hdr, 0, sizeof(msg[i].msg_hdr));
		msg[i].msg_hdr.msg_iov = &iov[i];
		msg[i].msg_hdr.msg_iovlen = 1;
	}
	n = recvmmsg(fd, msg, GEN_BATCH, MSG_DONTWAIT, NULL);
	return n > 0 ? (size_t)n : 0;
}

double drive(const struct load *ld, uint16_t port, double seconds,
	     size_t *replies_out, size_t *sent_out, pthread_t server,
	     double *cpu_out)
{
	double cpu0 = thread_cpu(server);
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	size_t next = 0, replies = 0, inflight = 0, n;
	uint16_t myport;
	int fd = udp_socket(&myport);
	struct pollfd pfd = { fd, POLLIN, 0 };
	double start, end;

	if (connect(fd, (void *)&to, sizeof(to)) < 0)
		die("connect");
	start = now_s();
	end = start + seconds;
	while (next < ld->n) {
		/* Fill the window. */
		while (inflight + GEN_BATCH <= GEN_WINDOW && next < ld->n) {
			n = gen_send(fd, ld, next);
			if (!n)
				break;
			next += n;
			inflight += n;
		}
		if (poll(&pfd, 1, 20) == 0) {
			inflight = 0;	/* lost: refill */
			continue;
		}
		n = gen_receive(fd);
		replies += n;
		inflight -= n > inflight ? inflight : n;
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

/* ---- server threads ------------------------------------------------- */

static void *loop_main(void *arg)
{
	struct loop_thread *t = arg;

	pthread_setname_np(pthread_self(), t->name);
	pin_to_cpu(t->cpu);
	loop_run(t->loop, t->stop);
	return NULL;
}

void loop_thread_start(struct loop_thread *t, struct loop *loop, int cpu,
		       const char *name)
{
	*t = (struct loop_thread){ .loop = loop, .cpu = cpu, .name = name,
				   .stop = eventfd(0, EFD_CLOEXEC) };
	if (t->stop < 0)
		die("eventfd");
	errno = pthread_create(&t->tid, NULL, loop_main, t);
	if (errno)
		die("pthread_create");
}

/* Ask a thread to stop (its eventfd) and wait for it. */
static void stop_thread(int stop, pthread_t tid)
{
	uint64_t one = 1;

	if (write(stop, &one, sizeof(one)) < 0)
		die("eventfd");
	pthread_join(tid, NULL);
	close(stop);
}

void loop_thread_stop(struct loop_thread *t)
{
	stop_thread(t->stop, t->tid);
}

/* Until fd has something: true; false once stop fired. */
static bool wait_input(int fd, int stop)
{
	struct pollfd pfd[2] = { { fd, POLLIN, 0 }, { stop, POLLIN, 0 } };

	if (poll(pfd, 2, -1) < 0 && errno != EINTR)
		return false;
	return !pfd[1].revents;
}

/* One recvmmsg() into t's buffers, sources in t->from. */
static int echo_receive(struct echo_thread *t)
{
	int i;

	for (i = 0; i < GEN_BATCH; i++) {
		t->iov[i].iov_base = t->buf[i];
		t->iov[i].iov_len = sizeof(t->buf[i]);
		memset(&t->msg[i].msg_hdr, 0, sizeof(t->msg[i].msg_hdr));
		t->msg[i].msg_hdr.msg_name = &t->from[i];
		t->msg[i].msg_hdr.msg_namelen = sizeof(t->from[i]);
		t->msg[i].msg_hdr.msg_iov = &t->iov[i];
		t->msg[i].msg_hdr.msg_iovlen = 1;
	}
	return recvmmsg(t->fd, t->msg, GEN_BATCH, MSG_DONTWAIT, NULL);
}

/* Echo everything fd has, a batch at a time, until it has nothing. */
static void echo_batched(struct echo_thread *t)
{
	int n, i;

	for (;;) {
		n = echo_receive(t);
		if (n <= 0)
			break;
		for (i = 0; i < n; i++)
			t->iov[i].iov_len = t->msg[i].msg_len;
		sendmmsg(t->fd, t->msg, (unsigned int)n, MSG_DONTWAIT);
	}
}

/* The same one datagram at a time, with recvfrom() and sendto(). */
static void echo_plain(struct echo_thread *t)
{
	struct sockaddr_in from;
	socklen_t fromlen;
	ssize_t n;

	for (;;) {
		fromlen = sizeof(from);
		n = recvfrom(t->fd, t->buf[0], sizeof(t->buf[0]), MSG_DONTWAIT,
			     (struct sockaddr *)&from, &fromlen);
		if (n < 0)
			break;
		sendto(t->fd, t->buf[0], (size_t)n, MSG_DONTWAIT,
		       (struct sockaddr *)&from, fromlen);
	}
}

void echo_thread_clients(struct echo_thread *t, const struct client *c,
			 unsigned int n)
{
	unsigned int i, slot;

	memset(t->index, 0, sizeof(t->index));
	t->clients = c;
	for (i = 0; i < n; i++) {
		slot = (c[i].pub[0] | (unsigned int)c[i].pub[1] << 8) %
		       ECHO_INDEX;
		while (t->index[slot])
			slot = (slot + 1) % ECHO_INDEX;
		t->index[slot] = (int16_t)(i + 1);
	}
}

static const struct client *echo_client(const struct echo_thread *t,
					const uint8_t *key)
{
	unsigned int slot = (key[0] | (unsigned int)key[1] << 8) % ECHO_INDEX;
	const struct client *c;

	while (t->index[slot]) {
		c = &t->clients[t->index[slot] - 1];
		if (!memcmp(c->pub, key, WGP_KEY_LEN))
			return c;
		slot = (slot + 1) % ECHO_INDEX;
	}
	return NULL;
}

/* Datagram pkt[0..len) from src opened and answered into out: its
 * length, or 0 for none. */
static size_t echo_seal_one(struct echo_thread *t, const uint8_t *pkt,
			    size_t len, const struct sockaddr_in *src,
			    uint8_t *out)
{
	const struct client *c;
	struct wgp_msg m;
	ssize_t n;

	if (wgp_parse_header(&m, pkt, len) < 0 ||
	    !(c = echo_client(t, m.key)) ||
	    wgp_open_parsed(&m, pkt, len, &c->sess) < 0) {
		t->forged++;
		return 0;
	}
	m.type = WGP_LOOKUP_REPLY;
	m.u.lookup_reply = (struct wgp_lookup_reply){
		.status = WGP_LOOKUP_OK,
		.ttl = 3600,
	};
	wgp_endpoint_from_sockaddr(&m.u.lookup_reply.self,
				   (const struct sockaddr *)src, sizeof(*src));
	m.u.lookup_reply.peer = m.u.lookup_reply.self;
	n = wgp_seal(out, WGP_MAX_MSG_LEN, &m, &c->sess);
	return n > 0 ? (size_t)n : 0;
}

/* ECHO_BATCHED with a LOOKUP_REPLY sealed for each LOOKUP opened. */
static void echo_sealed(struct echo_thread *t)
{
	unsigned int k;
	size_t len;
	int n, i;

	for (;;) {
		n = echo_receive(t);
		if (n <= 0)
			break;
		for (i = 0, k = 0; i < n; i++) {
			len = echo_seal_one(t, t->buf[i], t->msg[i].msg_len,
					    &t->from[i], t->out[k]);
			if (!len)
				continue;
			t->iov[k].iov_base = t->out[k];
			t->iov[k].iov_len = len;
			t->msg[k].msg_hdr.msg_name = &t->from[i];
			k++;
		}
		if (k)
			sendmmsg(t->fd, t->msg, k, MSG_DONTWAIT);
	}
}

static void *echo_main(void *arg)
{
	struct echo_thread *t = arg;

	pthread_setname_np(pthread_self(), t->name);
	pin_to_cpu(t->cpu);
	while (wait_input(t->fd, t->stop)) {
		switch (t->kind) {
		case ECHO_PLAIN:
			echo_plain(t);
			break;
		case ECHO_SEALED:
			echo_sealed(t);
			break;
		default:
			echo_batched(t);
		}
	}
	return NULL;
}

void echo_thread_start(struct echo_thread *t, int fd, int cpu,
		       const char *name, enum echo_kind kind)
{
	t->fd = fd;
	t->cpu = cpu;
	t->name = name;
	t->kind = kind;
	t->stop = eventfd(0, EFD_CLOEXEC);
	if (t->stop < 0)
		die("eventfd");
	errno = pthread_create(&t->tid, NULL, echo_main, t);
	if (errno)
		die("pthread_create");
}

void echo_thread_stop(struct echo_thread *t)
{
	stop_thread(t->stop, t->tid);
	close(t->fd);
}

/* ---- setup ----------------------------------------------------------- */

void bench_config(struct server_config *cfg, size_t capacity)
{
	server_config_defaults(cfg);
	cfg->capacity = capacity;
	cfg->rate = 0;
	cfg->dh_rate = 0;
	cfg->port[PORT_MAIN] = cfg->port[PORT_PROBE] = 0;
	cfg->ttl = 3600;
}

void clients_init(struct client *c, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		wgp_key_generate(c[i].priv);
		wgp_key_public(c[i].pub, c[i].priv);
	}
}

void clients_connect(struct client *c, unsigned int n,
		     const uint8_t server_pub[WGP_KEY_LEN])
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (wgp_session_client(&c[i].sess, c[i].priv, c[i].pub,
				       server_pub) < 0)
			die("wgp_session_client");
}

void fill_one(struct registry *r, const uint8_t key[WGP_KEY_LEN], size_t i,
	      uint64_t origin)
{
	struct reg_entry *e = registry_insert(r, key, wgp_mono_ms(),
					      3600 * 1000);

	if (!e) {
		fprintf(stderr, "%s: registry full at %zu\n",
			program_invocation_short_name, i);
		exit(1);
	}
	randombytes_buf(&e->sess, sizeof(e->sess));
	e->origin = origin;
	e->counter = 1;
	e->ep.family = AF_INET;
	e->ep.port = (uint16_t)i;
	memcpy(e->ep.addr, &i, 4);
}

void fill(struct registry *r, size_t peers, uint64_t origin)
{
	uint8_t key[WGP_KEY_LEN];
	size_t i;

	for (i = 0; i < peers; i++) {
		randombytes_buf(key, sizeof(key));
		fill_one(r, key, i, origin);
	}
}

const struct outq *server_input(struct server *srv, const uint8_t *pkt,
				size_t len)
{
	static struct out_msg msgs[16];
	static struct outq q = { .msgs = msgs, .cap = 16 };
	struct rx_info rx = {
		.pkt = pkt, .len = len, .port = PORT_MAIN,
		.src = { .family = AF_INET, .port = 9,
			 .addr = { 127, 0, 0, 1 } },
	};

	q.n = 0;
	server_handle(srv, &rx, wgp_mono_ms(), wgp_now_ns(), &q);
	return &q;
}

void register_client(struct server *srv, const struct client *c)
{
	uint8_t buf[WGP_MAX_MSG_LEN];
	struct wgp_msg m = { .type = WGP_REGISTER };
	ssize_t len;

	wgp_txid_new(m.txid);
	memcpy(m.key, c->pub, WGP_KEY_LEN);
	m.u.reg.counter = wgp_now_ns();
	m.u.reg.n_consent = 1;
	wgp_consent_digest(m.u.reg.consent[0], c->target);
	len = wgp_seal(buf, sizeof(buf), &m, &c->sess);
	if (len < 0)
		die("wgp_seal");
	server_input(srv, buf, (size_t)len);
	if (!registry_find(&srv->reg, c->pub, wgp_mono_ms())) {
		fprintf(stderr, "%s: client registration failed\n",
			program_invocation_short_name);
		exit(1);
	}
}

void register_clients(struct server *srv, const struct client *c,
		      unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		register_client(srv, &c[i]);
}

void seal_lookups(struct load *ld, const struct client *c, unsigned int n,
		  size_t count)
{
	uint64_t *counter = calloc(n, sizeof(*counter));
	struct wgp_msg m;
	unsigned int k;
	size_t i;

	ld->pkt = malloc(count * LOOKUP_PKT);
	if (!ld->pkt || !counter)
		die("malloc");
	ld->n = count;
	for (k = 0; k < n; k++)
		counter[k] = wgp_now_ns() + 1000;
	for (i = 0; i < count; i++) {
		k = (unsigned int)(i % n);
		memset(&m, 0, sizeof(m));
		m.type = WGP_LOOKUP;
		wgp_txid_new(m.txid);
		memcpy(m.key, c[k].pub, WGP_KEY_LEN);
		m.u.lookup.counter = counter[k]++;
		memcpy(m.u.lookup.target, c[k].target, WGP_KEY_LEN);
		if (wgp_seal(ld->pkt[i], LOOKUP_PKT, &m, &c[k].sess) !=
		    LOOKUP_PKT)
			die("wgp_seal");
	}
	free(counter);
}
