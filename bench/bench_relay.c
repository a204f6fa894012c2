// SPDX-License-Identifier: MIT
/*
 * bench_relay — wgpunchd's relay data path on loopback, next to a
 * trivial UDP forwarder (recvfrom/sendto per datagram) driven the same
 * way in the same run.
 *
 * The relay under test is the daemon's own code: wgpunchd's event loop
 * (loop.c: epoll, recvmmsg, relay_input, sendmmsg from the partner
 * port) in a thread, with one allocation granted in-process and both
 * sides bound by real RELAY_BIND datagrams. The trivial forwarder is the
 * same two-port arrangement: what arrives on port A from A goes to B
 * from port B, and back.
 *
 * Both forwarders run on CPU 1, the driver on CPU 0 (when there are two
 * CPUs). The driver owns both ends:
 *   throughput  A sends sendmmsg bursts of 64 with at most WINDOW
 *               datagrams in flight, B drains with recvmmsg; datagrams
 *               and payload bits delivered per second
 *   latency     ping-pong: A -> forwarder -> B, B -> forwarder -> A, one
 *               datagram at a time; the median round trip, also direct
 *               (A <-> B, no forwarder) for the added latency
 * Three rounds alternate between the forwarders; medians are printed,
 * with the ratios relay/trivial. The relay runs without its per-
 * allocation rate limit (--relay-rate 0) so the path, not the policy,
 * is measured.
 *
 * Usage: bench_relay [seconds per round]  (default 2)
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <sodium.h>

#include "log.h"
#include "loop.h"
#include "relaymsg.h"
#include "server.h"

#define BATCH	64
#define WINDOW	512
#define ROUNDS	3
#define PINGS	2000

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_relay: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void pin(int cpu)
{
	cpu_set_t set;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static struct sockaddr_in lo_addr(uint16_t port)
{
	return (struct sockaddr_in){ .sin_family = AF_INET,
				     .sin_port = htons(port),
				     .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
}

/* A UDP socket on 127.0.0.1 (port 0: any); its port in *port. */
static int udp(uint16_t *port)
{
	struct sockaddr_in sin = lo_addr(*port);
	socklen_t len = sizeof(sin);
	int fd, size = 4 << 20;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	if (bind(fd, (void *)&sin, sizeof(sin)) < 0) {
		close(fd);
		return -1;
	}
	getsockname(fd, (void *)&sin, &len);
	*port = ntohs(sin.sin_port);
	return fd;
}

static void send_one(int fd, uint16_t port, const void *buf, size_t len)
{
	struct sockaddr_in to = lo_addr(port);

	if (sendto(fd, buf, len, 0, (void *)&to, sizeof(to)) < 0)
		die("sendto");
}

/* ---- the trivial forwarder ------------------------------------------ */

struct trivial {
	int fd[2];		/* port A, port B */
	uint16_t port[2];
	uint16_t peer[2];	/* A's and B's own ports */
	int stop;		/* eventfd */
	pthread_t thread;
};

static void *trivial_run(void *arg)
{
	struct trivial *t = arg;
	struct pollfd pfd[3] = {
		{ .fd = t->fd[0], .events = POLLIN },
		{ .fd = t->fd[1], .events = POLLIN },
		{ .fd = t->stop, .events = POLLIN },
	};
	static uint8_t buf[65536];
	struct sockaddr_in from, to;
	socklen_t flen;
	ssize_t n;
	int i;

	pin(1);
	for (;;) {
		if (poll(pfd, 3, -1) < 0)
			continue;
		if (pfd[2].revents)
			return NULL;
		for (i = 0; i < 2; i++) {
			if (!pfd[i].revents)
				continue;
			for (;;) {
				flen = sizeof(from);
				n = recvfrom(t->fd[i], buf, sizeof(buf),
					     MSG_DONTWAIT, (void *)&from, &flen);
				if (n < 0)
					break;
				to = lo_addr(t->peer[!i]);
				sendto(t->fd[!i], buf, (size_t)n, MSG_DONTWAIT,
				       (void *)&to, sizeof(to));
			}
		}
	}
}

/* ---- the relay under test ------------------------------------------- */

struct relay_env {
	struct server srv;
	struct loop loop;
	uint16_t port[2];	/* A's relay port, B's */
	int stop;
	pthread_t thread;
};

static void *relay_run(void *arg)
{
	struct relay_env *r = arg;

	pin(1);
	loop_run(&r->loop, r->stop);
	return NULL;
}

/* Two free ports in a row, below the ephemeral range. */
static uint16_t free_pair(void)
{
	uint16_t p0, p1;
	int a, b, try;

	for (try = 0; try < 100; try++) {
		p0 = (uint16_t)(20000 + 2 * randombytes_uniform(5000));
		p1 = (uint16_t)(p0 + 1);
		a = udp(&p0);
		b = a >= 0 ? udp(&p1) : -1;
		if (a >= 0)
			close(a);
		if (b >= 0)
			close(b);
		if (a >= 0 && b >= 0)
			return p0;
	}
	fprintf(stderr, "bench_relay: no two free ports\n");
	exit(1);
}

static void relay_start(struct relay_env *r, int a_fd, int b_fd)
{
	struct relay_ticket ta, tb;
	struct server_config cfg;
	uint8_t priv[32], ka[32], kb[32], pkt[RELAY_BIND_LEN];
	bool created;

	server_config_defaults(&cfg);
	cfg.capacity = 16;
	cfg.port[PORT_MAIN] = cfg.port[PORT_PROBE] = 0;
	cfg.relay.first = free_pair();
	cfg.relay.last = (uint16_t)(cfg.relay.first + 1);
	cfg.relay.rate = 0;
	wgp_key_generate(priv);
	if (server_init(&r->srv, &cfg, priv, wgp_mono_ms()) < 0 ||
	    loop_init(&r->loop, &r->srv, "127.0.0.1") < 0)
		die("wgpunchd setup");
	/* A grant as the handler would make it; A's key is the smaller. */
	memset(ka, 1, sizeof(ka));
	memset(kb, 2, sizeof(kb));
	if (relay_grant(&r->srv.relay, ka, kb, wgp_mono_ms(), &ta, &tb,
			&created) < 0)
		die("relay_grant");
	r->port[0] = ta.port;
	r->port[1] = tb.port;
	r->stop = eventfd(0, EFD_CLOEXEC);
	if (pthread_create(&r->thread, NULL, relay_run, r))
		die("pthread_create");
	relay_bind_encode(pkt, ta.bind_key, ta.port, wgp_now_ns());
	send_one(a_fd, ta.port, pkt, sizeof(pkt));
	relay_bind_encode(pkt, tb.bind_key, tb.port, wgp_now_ns());
	send_one(b_fd, tb.port, pkt, sizeof(pkt));
}

static void relay_stop(struct relay_env *r)
{
	uint64_t one = 1;

	if (write(r->stop, &one, sizeof(one)) < 0)
		die("eventfd");
	pthread_join(r->thread, NULL);
	close(r->stop);
	loop_free(&r->loop);
	server_free(&r->srv);
}

/* ---- the driver ----------------------------------------------------- */

struct ends {
	int a, b;		/* A's and B's sockets */
	uint16_t a_port, b_port;
};

/* Drain B without waiting; how many arrived. */
static unsigned int drain(int fd, struct mmsghdr *msg)
{
	unsigned int got = 0;
	int n;

	while ((n = recvmmsg(fd, msg, BATCH, MSG_DONTWAIT, NULL)) > 0)
		got += (unsigned int)n;
	return got;
}

/*
 * Datagrams of len delivered A -> port -> B per second for secs. At most
 * WINDOW in flight; a window that makes no progress for 20 ms is
 * written off (lost in a full buffer) so the run goes on.
 */
static double throughput(const struct ends *e, uint16_t port, size_t len,
			 double secs)
{
	static uint8_t out[1500], in[BATCH][2048];
	struct mmsghdr smsg[BATCH], rmsg[BATCH];
	struct iovec siov[BATCH], riov[BATCH];
	struct sockaddr_in to = lo_addr(port);
	unsigned long long sent = 0, got = 0;
	double start, end, last_progress;
	unsigned int i, n;

	memset(out, 0, sizeof(out));
	out[0] = 4;	/* looks like WireGuard data */
	for (i = 0; i < BATCH; i++) {
		siov[i] = (struct iovec){ out, len };
		smsg[i].msg_hdr = (struct msghdr){ .msg_name = &to,
			.msg_namelen = sizeof(to), .msg_iov = &siov[i],
			.msg_iovlen = 1 };
		riov[i] = (struct iovec){ in[i], sizeof(in[i]) };
		rmsg[i].msg_hdr = (struct msghdr){ .msg_iov = &riov[i],
			.msg_iovlen = 1 };
	}
	drain(e->b, rmsg);
	start = last_progress = now_s();
	end = start + secs;
	while (now_s() < end) {
		if (sent - got + BATCH <= WINDOW) {
			int k = sendmmsg(e->a, smsg, BATCH, 0);

			if (k > 0)
				sent += (unsigned int)k;
		}
		n = drain(e->b, rmsg);
		got += n;
		if (n) {
			last_progress = now_s();
		} else if (now_s() - last_progress > 0.02) {
			sent = got;	/* written off */
			last_progress = now_s();
		}
	}
	return (double)got / (now_s() - start);
}

/* Median round trip in µs: A -> a_dst -> B, B -> b_dst -> A. */
static double rtt(const struct ends *e, uint16_t a_dst, uint16_t b_dst,
		  size_t len)
{
	static double t[PINGS];
	uint8_t buf[2048] = { 4 };
	struct pollfd pa = { .fd = e->a, .events = POLLIN };
	struct pollfd pb = { .fd = e->b, .events = POLLIN };
	unsigned int i, ok = 0;
	double t0;

	for (i = 0; i < PINGS; i++) {
		t0 = now_s();
		send_one(e->a, a_dst, buf, len);
		if (poll(&pb, 1, 100) != 1 ||
		    recv(e->b, buf, sizeof(buf), 0) < 0)
			continue;
		send_one(e->b, b_dst, buf, len);
		if (poll(&pa, 1, 100) != 1 ||
		    recv(e->a, buf, sizeof(buf), 0) < 0)
			continue;
		t[ok++] = (now_s() - t0) * 1e6;
	}
	for (i = 1; i < ok; i++) {	/* insertion sort: small n */
		double v = t[i];
		unsigned int j = i;

		for (; j && t[j - 1] > v; j--)
			t[j] = t[j - 1];
		t[j] = v;
	}
	return ok ? t[ok / 2] : -1;
}

static double median3(double *v)
{
	double a = v[0], b = v[1], c = v[2];

	if ((a <= b && b <= c) || (c <= b && b <= a))
		return b;
	if ((b <= a && a <= c) || (c <= a && a <= b))
		return a;
	return c;
}

static const size_t sizes[] = { 1400, 100 };

int main(int argc, char *argv[])
{
	double secs = argc > 1 ? atof(argv[1]) : 2;
	double pps[2][2][ROUNDS], lat[3][2][ROUNDS];
	struct relay_env *relay = calloc(1, sizeof(*relay));
	struct trivial triv = { 0 };
	struct ends e = { 0 };
	unsigned int s, round;
	uint64_t one = 1;

	if (sodium_init() < 0 || !relay)
		return 1;
	if (secs <= 0)
		secs = 2;
	log_set_level(LOG_LEVEL_WARN);
	pin(0);
	e.a = udp(&e.a_port);
	e.b = udp(&e.b_port);
	if (e.a < 0 || e.b < 0)
		die("driver sockets");

	triv.fd[0] = udp(&triv.port[0]);
	triv.fd[1] = udp(&triv.port[1]);
	triv.peer[0] = e.a_port;
	triv.peer[1] = e.b_port;
	triv.stop = eventfd(0, EFD_CLOEXEC);
	if (triv.fd[0] < 0 || triv.fd[1] < 0 ||
	    pthread_create(&triv.thread, NULL, trivial_run, &triv))
		die("trivial forwarder");
	relay_start(relay, e.a, e.b);
	usleep(100000);		/* both binds processed */

	for (round = 0; round < ROUNDS; round++) {
		for (s = 0; s < 2; s++) {
			pps[0][s][round] = throughput(&e, triv.port[0],
						      sizes[s], secs);
			pps[1][s][round] = throughput(&e, relay->port[0],
						      sizes[s], secs);
			lat[0][s][round] = rtt(&e, triv.port[0], triv.port[1],
					       sizes[s]);
			lat[1][s][round] = rtt(&e, relay->port[0],
					       relay->port[1], sizes[s]);
			lat[2][s][round] = rtt(&e, e.b_port, e.a_port,
					       sizes[s]);
		}
	}
	printf("relay forwarding on loopback, %d rounds of %.1f s, medians; "
	       "forwarders on CPU 1, driver on CPU 0 (%ld CPUs)\n", ROUNDS,
	       secs, sysconf(_SC_NPROCESSORS_ONLN));
	printf("%-8s %-10s %12s %10s %12s %14s\n", "payload", "forwarder",
	       "datagrams/s", "Mbit/s", "RTT µs", "added RTT µs");
	for (s = 0; s < 2; s++) {
		double p[2], l[3];
		unsigned int f;

		for (f = 0; f < 2; f++)
			p[f] = median3(pps[f][s]);
		for (f = 0; f < 3; f++)
			l[f] = median3(lat[f][s]);
		printf("%-8zu %-10s %12s %10s %12.1f %14s\n", sizes[s],
		       "direct", "-", "-", l[2], "-");
		for (f = 0; f < 2; f++)
			printf("%-8zu %-10s %12.0f %10.1f %12.1f %14.1f\n",
			       sizes[s], f ? "relay" : "trivial", p[f],
			       p[f] * (double)sizes[s] * 8 / 1e6, l[f],
			       l[f] - l[2]);
		printf("%-8zu relay/trivial: throughput %.2fx, RTT %.2fx\n",
		       sizes[s], p[1] / p[0], l[1] / l[0]);
	}
	printf("relay: %llu forwarded, %llu dropped at send (full "
	       "buffer)\n",
	       (unsigned long long)relay->srv.relay.st.fwd_packets,
	       (unsigned long long)relay->srv.relay.st.tx_dropped);

	relay_stop(relay);
	if (write(triv.stop, &one, sizeof(one)) < 0)
		die("eventfd");
	pthread_join(triv.thread, NULL);
	free(relay);
	return 0;
}
