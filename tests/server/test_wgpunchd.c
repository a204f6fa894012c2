// SPDX-License-Identifier: MIT
/*
 * The real wgpunchd binary on loopback (suite 'kernel'): it is started
 * with ephemeral ports on "::" (IPv6 and IPv4 on one socket), driven by
 * clients on 127.0.0.1 and ::1 with real libsodium keys, and stopped by
 * PID in the group teardown, which cmocka runs even when a test fails.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <sodium.h>

#include "proto.h"
#include "relaymsg.h"
#include "loopback.h"
#include "refuse.h"
#include "testclient.h"

static pid_t server_pid = -1;
static int server_log = -1;
static bool dh_measured_logged;	/* the start-up log named the budget */
static uint16_t main_port, probe_port;
static uint16_t relay_first;	/* 8 relay ports from here */
static char relay_arg[16];
static uint8_t server_pub[32];
static char key_path[] = "/tmp/wgpunchd-test-key-XXXXXX";

static void stop_server(void)
{
	int status;

	if (server_pid > 0) {
		kill(server_pid, SIGKILL);
		waitpid(server_pid, &status, 0);
		server_pid = -1;
	}
}

/* Read stderr lines until the "listening on" line; take the ports. */
static int wait_listening(void)
{
	char buf[4096];
	size_t len = 0;
	struct pollfd pfd = { .fd = server_log, .events = POLLIN };
	char *p;
	ssize_t n;

	while (len < sizeof(buf) - 1) {
		if (poll(&pfd, 1, 5000) != 1)
			return -1;
		n = read(server_log, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		p = strstr(buf, "listening on :: port ");
		if (p && strchr(p, '\n')) {
			unsigned int a, b;

			dh_measured_logged = strstr(buf, "info: measured ") &&
					     strstr(buf, " X25519/s: --dh-rate ");
			if (sscanf(p, "listening on :: port %u, probe port %u",
				   &a, &b) != 2)
				return -1;
			main_port = (uint16_t)a;
			probe_port = (uint16_t)b;
			return 0;
		}
	}
	return -1;
}

/*
 * Eight consecutive UDP ports free on "::" right now, below the
 * ephemeral range: the daemon binds them a moment later (another
 * process could take one in between; the start then fails, loudly).
 */
static int find_relay_range(void)
{
	int fds[8], i, n, try;

	for (try = 0; try < 50; try++) {
		uint16_t first = (uint16_t)(20000 +
					    2 * randombytes_uniform(5000));
		for (n = 0; n < 8; n++) {
			struct sockaddr_in6 sin6 = {
				.sin6_family = AF_INET6,
				.sin6_port = htons((uint16_t)(first + n)),
			};

			fds[n] = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
			if (fds[n] < 0 || bind(fds[n], (void *)&sin6,
					       sizeof(sin6)) < 0) {
				if (fds[n] >= 0)
					close(fds[n]);
				break;
			}
		}
		for (i = 0; i < n; i++)
			close(fds[i]);
		if (n == 8) {
			relay_first = first;
			snprintf(relay_arg, sizeof(relay_arg), "%u-%u", first,
				 first + 7);
			return 0;
		}
	}
	return -1;
}

static int start_server(void **state)
{
	const char *bin = getenv("WGPUNCHD");
	char b64[WGP_KEY_B64_SIZE];
	uint8_t priv[32];
	int fd, pipefd[2];

	(void)state;
	if (!bin)
		return -1;
	wgp_key_generate(priv);
	wgp_key_public(server_pub, priv);
	wgp_key_to_base64(b64, priv);
	fd = mkstemp(key_path);
	if (fd < 0 || write(fd, b64, 44) != 44 || write(fd, "\n", 1) != 1)
		return -1;
	close(fd);
	if (pipe2(pipefd, O_CLOEXEC) < 0 || find_relay_range() < 0)
		return -1;
	server_pid = fork();
	if (server_pid < 0)
		return -1;
	if (server_pid == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		execl(bin, "wgpunchd", "--private-key", key_path,
		      "--port", "0", "--probe-port", "0", "--legacy",
		      "--rate", "0", "--capacity", "1000",
		      "--relay", relay_arg, "--relay-idle", "30",
		      (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	server_log = pipefd[0];
	atexit(stop_server);
	if (wait_listening() < 0) {
		fprintf(stderr, "wgpunchd did not start\n");
		stop_server();
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	int status = -1;

	(void)state;
	unlink(key_path);
	if (server_pid <= 0)
		return 0;
	/* The malformed-input test already asserted it is alive; here it
	 * must also exit cleanly on SIGTERM. */
	kill(server_pid, SIGTERM);
	for (int i = 0; i < 50; i++) {
		if (waitpid(server_pid, &status, WNOHANG) == server_pid) {
			server_pid = -1;
			break;
		}
		usleep(100000);
	}
	stop_server();
	close(server_log);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* ---- client side ---------------------------------------------------- */

struct peer {
	struct tclient c;
	int fd;
	int family;
	struct wgp_endpoint ep;	/* our address as the server should see it */
};

static void peer_init(struct peer *p, int family)
{
	tclient_init(&p->c, server_pub);
	p->family = family;
	p->fd = loopback_udp(family, &p->ep);
}

static void peer_register(struct peer *p, const uint8_t (*peers)[32],
			  unsigned int n, struct wgp_msg *m)
{
	uint8_t buf[WGP_MAX_MSG_LEN];
	size_t len = tclient_register(&p->c, buf, sizeof(buf), peers, n, 0);

	loopback_send(p->fd, p->family, main_port, buf, len);
	loopback_receive_msg(p->fd, &p->c, WGP_REGISTER_REPLY, m);
	assert_memory_equal(m->txid, p->c.txid, WGP_TXID_LEN);
	assert_true(wgp_endpoint_equal(&m->u.reg_reply.self, &p->ep));
}

static void peer_lookup(struct peer *p, const uint8_t target[32],
			struct wgp_msg *m)
{
	uint8_t buf[WGP_MAX_MSG_LEN];
	size_t len = tclient_lookup(&p->c, buf, sizeof(buf), target, 0);

	loopback_send(p->fd, p->family, main_port, buf, len);
	loopback_receive_msg(p->fd, &p->c, WGP_LOOKUP_REPLY, m);
	assert_memory_equal(m->txid, p->c.txid, WGP_TXID_LEN);
}

static struct peer a, b;

/* A (IPv4) and B (IPv6) name each other: each learns the other's
 * endpoint, and A is told about B the moment B registers. */
static void test_register_and_notify(void **state)
{
	struct wgp_msg m;

	(void)state;
	peer_init(&a, AF_INET);
	peer_init(&b, AF_INET6);
	peer_register(&a, (const uint8_t (*)[32])b.c.pub, 1, &m);
	assert_int_equal(m.u.reg_reply.available, 0);
	assert_int_equal(m.u.reg_reply.n_peers, 0);
	assert_true(m.u.reg_reply.ttl > 0);

	peer_register(&b, (const uint8_t (*)[32])a.c.pub, 1, &m);
	assert_int_equal(m.u.reg_reply.available, 1);
	assert_int_equal(m.u.reg_reply.n_peers, 1);
	assert_true(wgp_endpoint_equal(&m.u.reg_reply.peers[0].ep, &a.ep));

	loopback_receive_msg(a.fd, &a.c, WGP_NOTIFY, &m);
	assert_memory_equal(m.u.notify.peer, b.c.pub, 32);
	assert_true(wgp_endpoint_equal(&m.u.notify.ep, &b.ep));

	peer_lookup(&a, b.c.pub, &m);
	assert_int_equal(m.u.lookup_reply.status, WGP_LOOKUP_OK);
	assert_true(wgp_endpoint_equal(&m.u.lookup_reply.peer, &b.ep));
	assert_true(wgp_endpoint_equal(&m.u.lookup_reply.self, &a.ep));
	loopback_receive_msg(b.fd, &b.c, WGP_NOTIFY, &m);
	assert_memory_equal(m.u.notify.peer, a.c.pub, 32);
	assert_true(wgp_endpoint_equal(&m.u.notify.ep, &a.ep));
}

static bool same_cands(const struct wgp_endpoint *x,
		       const struct wgp_endpoint *y)
{
	unsigned int i;

	for (i = 0; i < WGP_MAX_CANDIDATES; i++)
		if (!wgp_endpoint_equal(&x[i], &y[i]))
			return false;
	return true;
}

/* Version 2 through the real daemon: candidates travel between v2 peers
 * (record, NOTIFY, LOOKUP_REPLY), and a v1 peer beside them is spoken
 * to in v1 only. */
static void test_v2_candidates(void **state)
{
	static const struct wgp_endpoint none[WGP_MAX_CANDIDATES];
	uint8_t names[2][32];
	struct peer v, w, old;
	struct wgp_msg m;

	(void)state;
	peer_init(&v, AF_INET);
	peer_init(&w, AF_INET6);
	peer_init(&old, AF_INET);
	v.c.version = w.c.version = 2;
	v.c.cands[0] = (struct wgp_endpoint){ .family = AF_INET, .port = 51820,
					      .addr = { 198, 18, 0, 5 } };
	v.c.cands[1] = (struct wgp_endpoint){ .family = AF_INET6, .port = 51820,
		.addr = { 0x20, 0x01, 0x0d, 0xb8, [15] = 5 } };
	w.c.cands[3] = (struct wgp_endpoint){ .family = AF_INET, .port = 4000,
					      .addr = { 198, 18, 1, 9 } };
	memcpy(names[0], w.c.pub, 32);
	memcpy(names[1], old.c.pub, 32);

	peer_register(&v, (const uint8_t (*)[32])names, 2, &m);
	assert_int_equal(m.version, 2);
	assert_int_equal(m.u.reg_reply.n_peers, 0);

	peer_register(&w, (const uint8_t (*)[32])v.c.pub, 1, &m);
	assert_int_equal(m.version, 2);
	assert_int_equal(m.u.reg_reply.n_peers, 1);
	assert_true(same_cands(m.u.reg_reply.peers[0].cands, v.c.cands));
	loopback_receive_msg(v.fd, &v.c, WGP_NOTIFY, &m);
	assert_int_equal(m.version, 2);
	assert_true(same_cands(m.u.notify.cands, w.c.cands));

	peer_register(&old, (const uint8_t (*)[32])v.c.pub, 1, &m);
	assert_int_equal(m.version, 1);
	assert_int_equal(m.u.reg_reply.n_peers, 1);
	assert_true(same_cands(m.u.reg_reply.peers[0].cands, none));
	loopback_receive_msg(v.fd, &v.c, WGP_NOTIFY, &m);
	assert_int_equal(m.version, 2);
	assert_memory_equal(m.u.notify.peer, old.c.pub, 32);
	assert_true(same_cands(m.u.notify.cands, none));

	peer_lookup(&v, w.c.pub, &m);
	assert_int_equal(m.version, 2);
	assert_int_equal(m.u.lookup_reply.status, WGP_LOOKUP_OK);
	assert_true(same_cands(m.u.lookup_reply.cands, w.c.cands));
	loopback_receive_msg(w.fd, &w.c, WGP_NOTIFY, &m);
	assert_true(same_cands(m.u.notify.cands, v.c.cands));

	peer_lookup(&v, old.c.pub, &m);
	assert_int_equal(m.u.lookup_reply.status, WGP_LOOKUP_OK);
	loopback_receive_msg(old.fd, &old.c, WGP_NOTIFY, &m);
	assert_int_equal(m.version, 1);
	assert_memory_equal(m.u.notify.peer, v.c.pub, 32);
	close(v.fd);
	close(w.fd);
	close(old.fd);
}

/* A random key claiming B's public key: no answer, B's endpoint kept. */
static void test_forged_registration(void **state)
{
	uint8_t buf[WGP_MAX_MSG_LEN];
	struct peer evil;
	struct wgp_msg m;
	size_t len;

	(void)state;
	peer_init(&evil, AF_INET);
	memcpy(evil.c.pub, b.c.pub, 32);
	len = tclient_register(&evil.c, buf, sizeof(buf),
			       (const uint8_t (*)[32])a.c.pub, 1, 0);
	loopback_send(evil.fd, AF_INET, main_port, buf, len);
	assert_int_equal(loopback_receive(evil.fd, buf, sizeof(buf), 300), -1);
	/* Also a forged LOOKUP of A in B's name. */
	len = tclient_lookup(&evil.c, buf, sizeof(buf), a.c.pub, 0);
	loopback_send(evil.fd, AF_INET, main_port, buf, len);
	assert_int_equal(loopback_receive(evil.fd, buf, sizeof(buf), 300), -1);

	peer_lookup(&a, b.c.pub, &m);
	assert_int_equal(m.u.lookup_reply.status, WGP_LOOKUP_OK);
	assert_true(wgp_endpoint_equal(&m.u.lookup_reply.peer, &b.ep));
	loopback_receive_msg(b.fd, &b.c, WGP_NOTIFY, &m);
	close(evil.fd);
}

/* The same mapping is reported on both ports (loopback has no NAT). */
static void test_probe_ports(void **state)
{
	uint8_t buf[WGP_MAX_MSG_LEN];
	struct wgp_msg m;
	size_t len;

	(void)state;
	len = tclient_probe(&a.c, buf, sizeof(buf));
	loopback_send(a.fd, AF_INET, main_port, buf, len);
	loopback_receive_msg(a.fd, &a.c, WGP_PROBE_REPLY, &m);
	assert_true(wgp_endpoint_equal(&m.u.probe_reply.self, &a.ep));
	assert_int_equal(m.u.probe_reply.local_port, main_port);

	len = tclient_probe(&a.c, buf, sizeof(buf));
	loopback_send(a.fd, AF_INET, probe_port, buf, len);
	loopback_receive_msg(a.fd, &a.c, WGP_PROBE_REPLY, &m);
	assert_true(wgp_endpoint_equal(&m.u.probe_reply.self, &a.ep));
	assert_int_equal(m.u.probe_reply.local_port, probe_port);

	len = tclient_probe(&b.c, buf, sizeof(buf));
	loopback_send(b.fd, AF_INET6, probe_port, buf, len);
	loopback_receive_msg(b.fd, &b.c, WGP_PROBE_REPLY, &m);
	assert_true(wgp_endpoint_equal(&m.u.probe_reply.self, &b.ep));
}

/* --legacy: the contrib client's 64-byte request and 6/0-byte reply. */
static void test_legacy(void **state)
{
	uint8_t x[32], y[32], req[64], buf[64];
	struct wgp_endpoint lx;
	int fx, fy;
	ssize_t n;

	(void)state;
	randombytes_buf(x, 32);
	randombytes_buf(y, 32);
	fx = loopback_udp(AF_INET, &lx);
	fy = loopback_udp(AF_INET, NULL);
	memcpy(req, x, 32);
	memcpy(req + 32, y, 32);
	loopback_send(fx, AF_INET, main_port, req, 64);
	n = loopback_receive(fx, buf, sizeof(buf), 3000);
	assert_int_equal(n, 0);
	memcpy(req, y, 32);
	memcpy(req + 32, x, 32);
	loopback_send(fy, AF_INET, main_port, req, 64);
	n = loopback_receive(fy, buf, sizeof(buf), 3000);
	assert_int_equal(n, 6);
	assert_memory_equal(buf, lx.addr, 4);
	assert_int_equal(buf[4] << 8 | buf[5], lx.port);
	close(fx);
	close(fy);
}

/* Garbage of every kind, then the server must still answer. */
static void test_malformed(void **state)
{
	static uint8_t big[65000];
	uint8_t buf[WGP_MAX_MSG_LEN], bad[WGP_MAX_MSG_LEN + 1];
	struct wgp_msg m;
	size_t len, i;
	int fd6, fd4;

	(void)state;
	fd4 = loopback_udp(AF_INET, NULL);
	fd6 = loopback_udp(AF_INET6, NULL);
	randombytes_buf(big, sizeof(big));
	loopback_send(fd4, AF_INET, main_port, big, sizeof(big));
	loopback_send(fd6, AF_INET6, probe_port, big, 3000);
	loopback_send(fd4, AF_INET, main_port, big, 0);
	for (i = 0; i < 300; i++) {
		uint16_t port = i % 2 ? main_port : probe_port;

		loopback_send(fd4, AF_INET, port, big + i, i);
		loopback_send(fd6, AF_INET6, port, big + i, i * 3);
	}
	/* Valid messages cut, extended, with a wrong version or type. */
	len = tclient_register(&a.c, buf, sizeof(buf), NULL, 0, 0);
	for (i = 0; i <= len; i++) {
		if (i == WGP_LEGACY_REQUEST_LEN)
			continue;	/* --legacy would answer that */
		memcpy(bad, buf, len);
		bad[len] = 0;
		loopback_send(fd4, AF_INET, main_port, bad, i == len ? len + 1 : i);
	}
	/* Version 2 with a v1 length, and a version that does not exist. */
	memcpy(bad, buf, len);
	bad[WGP_OFF_VERSION] = 2;
	loopback_send(fd4, AF_INET, main_port, bad, len);
	bad[WGP_OFF_VERSION] = WGP_VERSION_MAX + 1;
	loopback_send(fd4, AF_INET, main_port, bad, len);
	memcpy(bad, buf, len);
	bad[WGP_OFF_TYPE] = 200;
	loopback_send(fd6, AF_INET6, main_port, bad, len);
	/* 64 bytes on the probe port is not legacy. */
	loopback_send(fd4, AF_INET, probe_port, big, 64);
	/* None of it is answered... */
	assert_int_equal(loopback_receive(fd4, buf, sizeof(buf), 300), -1);
	assert_int_equal(loopback_receive(fd6, buf, sizeof(buf), 10), -1);
	/* ...and the server is alive and well. */
	assert_int_equal(waitpid(server_pid, NULL, WNOHANG), 0);
	len = tclient_probe(&a.c, buf, sizeof(buf));
	loopback_send(a.fd, AF_INET, main_port, buf, len);
	loopback_receive_msg(a.fd, &a.c, WGP_PROBE_REPLY, &m);
	peer_lookup(&a, b.c.pub, &m);
	assert_int_equal(m.u.lookup_reply.status, WGP_LOOKUP_OK);
	close(fd4);
	close(fd6);
}

/* ---- relay --------------------------------------------------------- */

/* A "WireGuard" socket on loopback of family, and where it is seen. */
struct wgsock {
	int fd, family;
	struct wgp_endpoint ep;
};

static void wgsock_open(struct wgsock *w, int family)
{
	w->family = family;
	w->fd = loopback_udp(family, &w->ep);
}

static void send_bind(const struct wgsock *w, const struct wgp_relay_grant *g,
		      uint64_t counter)
{
	uint8_t pkt[RELAY_BIND_LEN];

	relay_bind_encode(pkt, g->bind_key, g->port, counter);
	loopback_send(w->fd, w->family, g->port, pkt, sizeof(pkt));
}

/* One datagram within timeout_ms, with its source; -1 if none. */
static ssize_t receive_from(int fd, void *buf, size_t cap, int timeout_ms,
			    struct wgp_endpoint *from)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) != 1)
		return -1;
	n = recvfrom(fd, buf, cap, 0, (void *)&ss, &len);
	if (n >= 0)
		assert_int_equal(wgp_endpoint_from_sockaddr(from, (void *)&ss,
							    len), 0);
	return n;
}

/*
 * from sends payload to its relay port; it must come out at to, from
 * to's relay port, unchanged. The first datagram may race the other
 * side's bind (a different socket of the server), so it is retried a
 * few times; after that one try.
 */
static void relayed(const struct wgsock *from, uint16_t from_port,
		    const struct wgsock *to, uint16_t to_port, size_t len,
		    int tries)
{
	uint8_t out[1500], in[2048];
	struct wgp_endpoint src;
	ssize_t n = -1;
	int i;

	randombytes_buf(out, sizeof(out));
	out[0] = 4;	/* a WireGuard data message, as far as anyone can tell */
	out[1] = out[2] = out[3] = 0;
	for (i = 0; i < tries && n < 0; i++) {
		loopback_send(from->fd, from->family, from_port, out, len);
		n = receive_from(to->fd, in, sizeof(in), 300, &src);
	}
	assert_int_equal(n, (ssize_t)len);
	assert_memory_equal(in, out, len);
	assert_int_equal(src.port, to_port);
}

static void nothing_arrives(int fd)
{
	uint8_t buf[2048];
	struct wgp_endpoint src;

	assert_int_equal(receive_from(fd, buf, sizeof(buf), 200, &src), -1);
}

/*
 * The relay through the running daemon: two version 2 clients (IPv4
 * and IPv6) get a grant each, one as a reply and one unsolicited; their
 * "WireGuard" sockets bind and talk both ways across families; a third
 * socket is not forwarded and does not disturb them; a side that moves
 * (NAT rebinding) binds again from its new port.
 */
static void test_relay(void **state)
{
	struct wgp_relay_grant g1, g2;
	struct wgsock w1, w2, w3, w1b;
	uint8_t buf[WGP_MAX_MSG_LEN];
	struct peer p1, p2;
	struct wgp_msg m;
	uint64_t counter = wgp_now_ns();
	size_t len;

	(void)state;
	peer_init(&p1, AF_INET);
	peer_init(&p2, AF_INET6);
	p1.c.version = p2.c.version = 2;
	peer_register(&p1, (const uint8_t (*)[32])p2.c.pub, 1, &m);
	peer_register(&p2, (const uint8_t (*)[32])p1.c.pub, 1, &m);
	loopback_receive_msg(p1.fd, &p1.c, WGP_NOTIFY, &m);

	len = tclient_relay(&p1.c, buf, sizeof(buf), p2.c.pub);
	loopback_send(p1.fd, p1.family, main_port, buf, len);
	loopback_receive_msg(p1.fd, &p1.c, WGP_RELAY_GRANT, &m);
	assert_memory_equal(m.txid, p1.c.txid, WGP_TXID_LEN);
	g1 = m.u.relay_grant;
	assert_int_equal(g1.status, WGP_RELAY_OK);
	assert_int_equal(g1.idle_s, 30);
	assert_true(g1.port >= relay_first && g1.port < relay_first + 8);
	loopback_receive_msg(p2.fd, &p2.c, WGP_RELAY_GRANT, &m);
	g2 = m.u.relay_grant;
	assert_int_equal(g2.status, WGP_RELAY_OK);
	assert_memory_equal(g2.peer, p1.c.pub, 32);
	assert_int_equal(g2.port ^ 1, g1.port);

	/* Bind each side from its WireGuard socket, then both ways. */
	wgsock_open(&w1, AF_INET);
	wgsock_open(&w2, AF_INET6);
	send_bind(&w1, &g1, ++counter);
	send_bind(&w2, &g2, ++counter);
	relayed(&w1, g1.port, &w2, g2.port, 1400, 10);
	relayed(&w2, g2.port, &w1, g1.port, 148, 10);
	relayed(&w1, g1.port, &w2, g2.port, 32, 1);

	/* A stranger: data, a forged bind, a replayed bind from its own
	 * address. Nothing is forwarded; the pair is undisturbed. */
	wgsock_open(&w3, AF_INET);
	loopback_send(w3.fd, w3.family, g1.port, "\x04\0\0\0hello", 9);
	{
		struct wgp_relay_grant forged = g1;

		forged.bind_key[0] ^= 1;
		send_bind(&w3, &forged, ++counter);
		send_bind(&w3, &g1, counter - 5);	/* old counter */
	}
	nothing_arrives(w2.fd);
	nothing_arrives(w3.fd);
	relayed(&w1, g1.port, &w2, g2.port, 200, 1);
	relayed(&w2, g2.port, &w1, g1.port, 200, 1);
	nothing_arrives(w3.fd);

	/* Side 1 moves to a new source port and binds again. */
	wgsock_open(&w1b, AF_INET);
	send_bind(&w1b, &g1, ++counter);
	relayed(&w1b, g1.port, &w2, g2.port, 500, 10);
	relayed(&w2, g2.port, &w1b, g1.port, 500, 1);
	nothing_arrives(w1.fd);
	/* The old source is not forwarded any more. */
	loopback_send(w1.fd, w1.family, g1.port, "\x04\0\0\0old", 7);
	nothing_arrives(w2.fd);

	close(w1.fd);
	close(w2.fd);
	close(w3.fd);
	close(w1b.fd);
	close(p1.fd);
	close(p2.fd);
}

/* --port 65535 leaves no room for the default probe port (port + 1):
 * that is a usage error (exit 2), not a silent random probe port. */
static void test_port_without_probe_room(void **state)
{
	char err[1024];

	(void)state;
	assert_int_equal(wgpunchd_refuses(err, sizeof(err), "--private-key",
					  key_path, "--listen", "127.0.0.1",
					  "--port", "65535", NULL), 2);
}

static void expect_in(const char *text, const char *what)
{
	if (!strstr(text, what))
		fail_msg("missing \"%s\" in:\n%s", what, text);
}

/* Usage errors: exit 2, one message that says "wgpunchd:" (never the
 * path it was run by) and what is wrong; no help dump. */
static void test_usage_errors(void **state)
{
	static const char *const bad_listen[] = {
		"nonsense", "localhost", "", "[198.18.0.1]", "[::1",
		"127.0.0.1:5000", "[::1]:5000",		/* hint: --port */
	};
	char err[4096], want[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad_listen) / sizeof(bad_listen[0]); i++) {
		assert_int_equal(wgpunchd_refuses(err, sizeof(err), "-k", key_path,
					      "-l", bad_listen[i], NULL), 2);
		snprintf(want, sizeof(want), "wgpunchd: --listen: '%s' is not a "
			 "numeric IPv4 or IPv6 address", bad_listen[i]);
		expect_in(err, want);
	}
	expect_in(err, "give the port with --port");

	assert_int_equal(wgpunchd_refuses(err, sizeof(err), "-k", key_path,
				      "--bogus", NULL), 2);
	assert_true(!strncmp(err, "wgpunchd: ", 10));
	expect_in(err, "--bogus");
	expect_in(err, "Try 'wgpunchd --help'.");
	assert_null(strstr(err, "Usage:"));
	assert_null(strstr(err, "/wgpunchd"));

	assert_int_equal(wgpunchd_refuses(err, sizeof(err), "-k", key_path,
				      "-p", NULL), 2);
	assert_true(!strncmp(err, "wgpunchd: ", 10));
	assert_int_equal(wgpunchd_refuses(err, sizeof(err), "-k", key_path,
				      "extra", NULL), 2);
	expect_in(err, "wgpunchd: unexpected argument 'extra'");
}

/* --registry: a URL it cannot use is a usage error naming the URL and
 * what is wrong with it; a name that does not resolve stops the start. */
static void test_registry_usage_errors(void **state)
{
	static const struct {
		const char *url, *why;
	} bad[] = {
		{ "http://198.18.0.1", "expected redis://HOST" },
		{ "redis://", "no host" },
		{ "redis://198.18.0.1:0", "port must be a number 1..65535" },
		{ "redis://198.18.0.1:65536", "port must be a number" },
		{ "redis://198.18.0.1/x", "database must be a number" },
		{ "redis://198.18.0.1:6379x", "port must be a number" },
		{ "redis://[2001:db8::1", "no ']'" },
		{ "unix://run/redis.sock", "absolute path" },
		{ "unix:///run/redis.sock?dbx=1", "only parameter is ?db=N" },
	};
	char err[4096], want[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(wgpunchd_refuses(err, sizeof(err), "-k",
						  key_path, "--registry",
						  bad[i].url, NULL), 2);
		snprintf(want, sizeof(want), "wgpunchd: --registry '%s': ",
			 bad[i].url);
		expect_in(err, want);
		expect_in(err, bad[i].why);
	}
	assert_int_equal(wgpunchd_refuses(err, sizeof(err), "-k", key_path,
					  "-p", "0", "-P", "0", "--registry",
					  "redis://no-such-host.invalid", NULL),
			 1);
	expect_in(err, "cannot resolve no-such-host.invalid");
}

/* --relay errors name the problem. */
static void test_relay_usage_errors(void **state)
{
	char err[4096];

	(void)state;
	assert_int_equal(wgpunchd_refuses(err, sizeof(err), "-k", key_path,
				      "--relay", "40001-40000", NULL), 2);
	expect_in(err, "reversed");
	assert_int_equal(wgpunchd_refuses(err, sizeof(err), "-k", key_path,
				      "--relay", "40000-40002", NULL), 2);
	expect_in(err, "even number");
	assert_int_equal(wgpunchd_refuses(err, sizeof(err), "-k", key_path,
				      "--relay", "40000-48193", NULL), 2);
	expect_in(err, "more than 8192 ports");
	assert_int_equal(wgpunchd_refuses(err, sizeof(err), "-k", key_path,
				      "--relay", "40000", NULL), 2);
	expect_in(err, "expected FIRST-LAST");
	assert_int_equal(wgpunchd_refuses(err, sizeof(err), "-k", key_path,
				      "--relay-rate", "x", NULL), 2);
	expect_in(err, "--relay-rate");
	/* A port the running server holds: named. */
	assert_int_equal(wgpunchd_refuses(err, sizeof(err), "-k", key_path,
				      "-p", "0", "-P", "0", "--relay",
				      relay_arg, NULL), 1);
	{
		char want[64];

		snprintf(want, sizeof(want), "cannot bind port %u",
			 relay_first);
		expect_in(err, want);
	}
}

/* --listen takes IPv6 in brackets too; a group-readable key is warned
 * about. The port is the running server's, so it stops at bind. */
static void test_listen_brackets_and_key_mode(void **state)
{
	char err[4096], port[8];

	(void)state;
	snprintf(port, sizeof(port), "%u", main_port);
	assert_int_equal(chmod(key_path, 0640), 0);
	assert_int_equal(wgpunchd_refuses(err, sizeof(err), "-k", key_path,
				      "-l", "[::1]", "-p", port, NULL), 1);
	assert_int_equal(chmod(key_path, 0600), 0);
	expect_in(err, "accessible by group or others (mode 0640)");
	expect_in(err, "cannot listen on ::1 port");
	assert_int_equal(wgpunchd_refuses(err, sizeof(err), "-k", key_path,
				      "-l", "::1", "-p", port, NULL), 1);
	assert_null(strstr(err, "accessible"));
}

/* SIGHUP is logged and survived (it used to kill the server). */
/* SIGHUP, and the stats line it logs, in buf. */
static void stats_line(char *buf, size_t cap)
{
	struct pollfd pfd = { .fd = server_log, .events = POLLIN };
	size_t len = 0;
	char *at;
	ssize_t n;

	assert_int_equal(kill(server_pid, SIGHUP), 0);
	while (len < cap - 1 && poll(&pfd, 1, 3000) == 1) {
		n = read(server_log, buf + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		at = strstr(buf, "SIGHUP");
		if (at && strstr(at, "stats:") && strchr(strstr(at, "stats:"), '\n'))
			break;
	}
	buf[len] = '\0';
	at = strstr(buf, "SIGHUP");
	assert_non_null(at);
	at = strstr(at, "stats:");
	assert_non_null(at);
	memmove(buf, at, strlen(at) + 1);
}

/* The number after "what " in a stats line. */
static unsigned long stat_of(const char *line, const char *what)
{
	const char *at = strstr(line, what);

	assert_non_null(at);
	return strtoul(at + strlen(what), NULL, 10);
}

/*
 * The real loop falling behind: while wgpunchd is stopped, A's LOOKUP
 * and then thousands of requests with unknown keys pile up in its
 * receive queue (as much as it holds). Resumed, it serves A, and
 * answers only a share of the pile while the queue is backed up (this
 * one source, seen, up to a quarter of each batch; the rest shed)
 * instead of a COOKIE or an X25519 for each.
 */
static void test_behind_sheds(void **state)
{
	enum { PILE = 6000 };
	uint8_t req[WGP_MAX_MSG_LEN], buf[256], lookup[WGP_MAX_MSG_LEN];
	struct tclient unknown;
	unsigned long shed0, rx0, rx, cookies = 0;
	size_t len, llen;
	struct wgp_msg m;
	char line[16384];
	int fd;

	(void)state;
	stats_line(line, sizeof(line));
	shed0 = stat_of(line, "shed ");
	rx0 = stat_of(line, "rx ");
	fd = loopback_udp(AF_INET, NULL);
	tclient_init(&unknown, server_pub);
	unknown.version = 2;
	len = tclient_register(&unknown, req, sizeof(req), NULL, 0, 0);
	llen = tclient_lookup(&a.c, lookup, sizeof(lookup), a.c.pub, 0);

	assert_int_equal(kill(server_pid, SIGSTOP), 0);
	loopback_send(a.fd, AF_INET, main_port, lookup, llen);
	for (unsigned int i = 0; i < PILE; i++) {
		/* Another unknown key each: the header is in the clear. */
		randombytes_buf(req + WGP_OFF_KEY, WGP_KEY_LEN);
		loopback_send(fd, AF_INET, main_port, req, len);
	}
	assert_int_equal(kill(server_pid, SIGCONT), 0);

	loopback_receive_msg(a.fd, &a.c, WGP_LOOKUP_REPLY, &m);
	assert_memory_equal(m.txid, a.c.txid, WGP_TXID_LEN);
	while (loopback_receive(fd, buf, sizeof(buf), 500) == WGP_COOKIE_MSG_LEN)
		cookies++;
	stats_line(line, sizeof(line));
	/* What the queue held (more as root: a bigger buffer), more than
	 * a batch either way; a good part of it shed, not answered. */
	rx = stat_of(line, "rx ") - rx0;
	assert_true(rx > 128);
	assert_true(stat_of(line, "shed ") - shed0 >= rx / 4);
	assert_true(cookies <= rx / 2);
	assert_int_equal(waitpid(server_pid, NULL, WNOHANG), 0);
	close(fd);
}

static void test_sighup(void **state)
{
	struct pollfd pfd = { .fd = server_log, .events = POLLIN };
	char buf[8192];
	size_t len = 0;
	ssize_t n;
	struct wgp_msg m;
	uint8_t req[WGP_MAX_MSG_LEN];

	(void)state;
	assert_int_equal(kill(server_pid, SIGHUP), 0);
	while (len < sizeof(buf) - 1 && poll(&pfd, 1, 3000) == 1) {
		n = read(server_log, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "SIGHUP") && strstr(strstr(buf, "SIGHUP"), "stats:"))
			break;
	}
	buf[len] = '\0';
	expect_in(buf, "info: SIGHUP: nothing to reload");
	expect_in(strstr(buf, "SIGHUP"), "stats:");
	assert_int_equal(waitpid(server_pid, NULL, WNOHANG), 0);
	len = tclient_probe(&a.c, req, sizeof(req));
	loopback_send(a.fd, AF_INET, main_port, req, len);
	loopback_receive_msg(a.fd, &a.c, WGP_PROBE_REPLY, &m);
}

/* The effective uid of the server process, from /proc. */
static unsigned int server_euid(void)
{
	char path[64], line[256];
	unsigned int uid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)server_pid);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Uid: %*u %u", &uid) == 1)
			break;
	fclose(f);
	return uid;
}

/* Started as root (as the tests run in CI), it runs as nobody once set
 * up (the drop comes a moment after "listening": wait for it, up to
 * 5 s); otherwise it keeps the user it was started as. */
static void test_drops_root(void **state)
{
	unsigned int uid = server_euid();

	(void)state;
	for (int i = 0; i < 50 && geteuid() == 0 && uid == 0; i++) {
		usleep(100000);
		uid = server_euid();
	}
	if (geteuid() == 0)
		assert_true(uid != 0);
	else
		assert_int_equal(uid, (unsigned int)geteuid());
}

/* Started without --dh-rate: it measured its budget and said so. */
static void test_dh_rate_logged(void **state)
{
	(void)state;
	assert_true(dh_measured_logged);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dh_rate_logged),
		cmocka_unit_test(test_drops_root),
		cmocka_unit_test(test_register_and_notify),
		cmocka_unit_test(test_v2_candidates),
		cmocka_unit_test(test_forged_registration),
		cmocka_unit_test(test_probe_ports),
		cmocka_unit_test(test_legacy),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_port_without_probe_room),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_listen_brackets_and_key_mode),
		cmocka_unit_test(test_relay),
		cmocka_unit_test(test_relay_usage_errors),
		cmocka_unit_test(test_registry_usage_errors),
		cmocka_unit_test(test_behind_sheds),
		cmocka_unit_test(test_sighup),
	};

	if (sodium_init() < 0)
		return 1;
	if (!getenv("WGPUNCHD")) {
		fprintf(stderr, "WGPUNCHD (path of the binary) is not set\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, start_server, teardown);
}
