// SPDX-License-Identifier: MIT
/*
 * wgpunchd --workers (suite 'kernel'). The kernel is the oracle for the
 * steering program: a reuseport group of sockets on loopback must hand
 * each datagram to the socket server_worker_of() names. Then the real
 * binary with two workers: two clients whose keys belong to different
 * workers find each other (REGISTER, NOTIFY, LOOKUP), and a per-source
 * budget holds for all workers together.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cbpf/prog.h>
#include <cbpf/socket.h>
#include <sodium.h>

#include "daemon.h"
#include "loop.h"
#include "loopback.h"
#include "refuse.h"
#include "server.h"
#include "testclient.h"

#define GROUP	3	/* sockets in the steering test */
#define RATE	4	/* --rate and --burst of the daemon */

/* ---- the steering program, against the kernel ------------------------ */

static int bound_socket(uint16_t *port, bool reuseport)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(*port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	if (reuseport)
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
					    sizeof(one)), 0);
	assert_int_equal(bind(fd, (void *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (void *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static void send_len(int fd, uint16_t port, const uint8_t *buf, size_t len)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	assert_int_equal(sendto(fd, buf, len, 0, (void *)&sin, sizeof(sin)),
			 (ssize_t)len);
}

/* Which of the group's sockets holds a datagram now (-1: none); it is
 * read, so the next check starts empty. */
static int arrived_at(const int *fd, unsigned int n)
{
	uint8_t buf[2048];
	unsigned int i, tries;

	for (tries = 0; tries < 100; tries++) {
		for (i = 0; i < n; i++)
			if (recv(fd[i], buf, sizeof(buf), 0) >= 0)
				return (int)i;
		usleep(1000);
	}
	return -1;
}

static void test_steering_matches_kernel(void **state)
{
	uint8_t pkt[200] = { 0 };
	struct cbpf_prog prog;
	uint16_t port = 0, any = 0;
	int fd[GROUP], tx, i, w, hits[GROUP] = { 0 };

	(void)state;
	assert_int_equal(loop_steering(&prog, GROUP), 0);
	fd[0] = bound_socket(&port, true);
	/* As the daemon does: the program before the others join. */
	assert_int_equal(cbpf_attach_reuseport(fd[0], &prog), 0);
	for (i = 1; i < GROUP; i++)
		fd[i] = bound_socket(&port, true);
	tx = bound_socket(&any, false);
	for (i = 0; i < 60; i++) {
		randombytes_buf(pkt + SERVER_STEER_OFFSET, WGP_KEY_LEN);
		w = (int)server_worker_of(pkt + SERVER_STEER_OFFSET, GROUP);
		send_len(tx, port, pkt, 100 + (size_t)i);
		assert_int_equal(arrived_at(fd, GROUP), w);
		hits[w]++;
	}
	for (i = 0; i < GROUP; i++)
		assert_true(hits[i] > 0);
	/* A legacy request goes to worker 0; too short for a key, to
	 * some socket of the group (the kernel's hash). */
	send_len(tx, port, pkt, WGP_LEGACY_REQUEST_LEN);
	assert_int_equal(arrived_at(fd, GROUP), 0);
	send_len(tx, port, pkt, 10);
	assert_true(arrived_at(fd, GROUP) >= 0);
	cbpf_prog_free(&prog);
	for (i = 0; i < GROUP; i++)
		close(fd[i]);
	close(tx);
}

/* ---- the real binary with --workers 2 ---------------------------------- */

static struct daemon srv = { .pid = -1, .log = -1 };
static uint8_t server_pub[32];
static char key_path[] = "/tmp/wgpunchd-workers-key-XXXXXX";

static void kill_at_exit(void)
{
	daemon_kill(&srv);
}

/* Under the seccomp filter, as always: it must let the workers run.
 * The "listening on" line must say 2 workers. */
static int start_server(void **state)
{
	char rate[16];
	const char *line;

	(void)state;
	if (daemon_key_file(key_path, server_pub) < 0)
		return -1;
	atexit(kill_at_exit);
	snprintf(rate, sizeof(rate), "%u", RATE);
	if (daemon_start(&srv, false, key_path, "--workers", "2", "--rate",
			 rate, "--burst", rate, "--dh-rate", "1000",
			 "--capacity", "1000", NULL) < 0)
		return -1;
	line = daemon_log_wait(&srv, "listening on :: port ");
	if (!line || !strstr(line, ", 2 workers")) {
		fprintf(stderr, "wgpunchd --workers 2 did not start with 2 "
			"workers:\n%s\n", srv.text);
		daemon_kill(&srv);
		return -1;
	}
	return 0;
}

/* Stopped cleanly, every worker joined: not killed by SIGSYS. */
static int teardown(void **state)
{
	int ret;

	(void)state;
	ret = daemon_stop(&srv);
	unlink(key_path);
	return ret;
}

struct peer {
	struct tclient c;
	int fd;
	struct wgp_endpoint ep;
};

/* A client on 127.0.0.1 whose key belongs to worker w of 2. */
static void peer_on(struct peer *p, unsigned int w)
{
	do
		tclient_init(&p->c, server_pub);
	while (server_worker_of(p->c.pub, 2) != w);
	p->fd = loopback_udp(AF_INET, &p->ep);
}

static void test_find_across_workers(void **state)
{
	uint8_t buf[WGP_MAX_MSG_LEN];
	struct peer a, b;
	struct wgp_msg m;
	size_t len;

	(void)state;
	peer_on(&a, 0);
	peer_on(&b, 1);
	len = tclient_register(&a.c, buf, sizeof(buf),
			       (const uint8_t (*)[32])b.c.pub, 1, 0);
	loopback_send(a.fd, AF_INET, srv.udp_port, buf, len);
	loopback_receive_msg(a.fd, &a.c, WGP_REGISTER_REPLY, &m);
	assert_int_equal(m.u.reg_reply.available, 0);

	len = tclient_register(&b.c, buf, sizeof(buf),
			       (const uint8_t (*)[32])a.c.pub, 1, 0);
	loopback_send(b.fd, AF_INET, srv.udp_port, buf, len);
	loopback_receive_msg(b.fd, &b.c, WGP_REGISTER_REPLY, &m);
	assert_int_equal(m.u.reg_reply.available, 1);
	assert_true(wgp_endpoint_equal(&m.u.reg_reply.peers[0].ep, &a.ep));
	loopback_receive_msg(a.fd, &a.c, WGP_NOTIFY, &m);
	assert_memory_equal(m.u.notify.peer, b.c.pub, 32);
	assert_true(wgp_endpoint_equal(&m.u.notify.ep, &b.ep));

	len = tclient_lookup(&a.c, buf, sizeof(buf), b.c.pub, 0);
	loopback_send(a.fd, AF_INET, srv.udp_port, buf, len);
	loopback_receive_msg(a.fd, &a.c, WGP_LOOKUP_REPLY, &m);
	assert_int_equal(m.u.lookup_reply.status, WGP_LOOKUP_OK);
	assert_true(wgp_endpoint_equal(&m.u.lookup_reply.peer, &b.ep));
	loopback_receive_msg(b.fd, &b.c, WGP_NOTIFY, &m);
	assert_memory_equal(m.u.notify.peer, a.c.pub, 32);
	close(a.fd);
	close(b.fd);
}

/*
 * One source (::1, a source of its own: the other test is on IPv4)
 * sends requests from 2 x 10 new keys, half of them each worker's: the
 * source's budget is RATE in all, not RATE per worker. Each costs the
 * source a token (a key the server holds nothing for).
 */
static void test_source_budget_across_workers(void **state)
{
	struct tclient c[20];
	struct wgp_endpoint ep;
	uint8_t buf[WGP_MAX_MSG_LEN];
	unsigned int i, answered = 0;
	int fd = loopback_udp(AF_INET6, &ep);
	size_t len;

	(void)state;
	for (i = 0; i < 20; i++) {
		do
			tclient_init(&c[i], server_pub);
		while (server_worker_of(c[i].pub, 2) != i % 2);
		len = tclient_probe(&c[i], buf, sizeof(buf));
		loopback_send(fd, AF_INET6, srv.udp_port, buf, len);
	}
	while (loopback_receive(fd, buf, sizeof(buf), 300) > 0)
		answered++;
	/* The burst, and what refilled meanwhile at RATE/s. */
	assert_true(answered >= RATE);
	assert_true(answered <= RATE + 2);
	close(fd);
}

/*
 * The most workers there may be, far more than this machine's CPUs:
 * every thread must be past its first allocation before the seccomp
 * filter is on (glibc asks how many CPUs there are when a thread needs
 * a new malloc arena, which the filter does not allow). It answers,
 * and stops with status 0, not SIGSYS.
 */
static void test_many_workers(void **state)
{
	static struct daemon many = { .pid = -1, .log = -1 };
	uint8_t buf[WGP_MAX_MSG_LEN];
	struct wgp_msg m;
	struct peer p;
	size_t len;

	(void)state;
	assert_int_equal(daemon_start(&many, false, key_path, "--workers",
				      "64", "--dh-rate", "1000", NULL), 0);
	peer_on(&p, 0);
	len = tclient_register(&p.c, buf, sizeof(buf), NULL, 0, 0);
	loopback_send(p.fd, AF_INET, many.udp_port, buf, len);
	loopback_receive_msg(p.fd, &p.c, WGP_REGISTER_REPLY, &m);
	close(p.fd);
	assert_int_equal(daemon_stop(&many), 0);
}

/* A second wgpunchd --workers on the running one's port does not join
 * its SO_REUSEPORT group (taking over its steering): refused. */
static void test_port_taken(void **state)
{
	char err[4096], port[8];

	(void)state;
	snprintf(port, sizeof(port), "%u", srv.udp_port);
	assert_int_equal(wgpunchd_refuses(err, sizeof(err), "-k", key_path,
					  "-p", port, "--workers", "2",
					  "--dh-rate", "1000", NULL), 1);
	assert_non_null(strstr(err, "Address already in use"));
}

/* --workers out of range, or above 1 with --relay: refused, said so. */
static void test_workers_usage(void **state)
{
	static const char *const bad[] = { "0", "65", "-1", "2x", "" };
	char err[4096];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(wgpunchd_refuses(err, sizeof(err), "-k",
						  key_path, "--workers", bad[i],
						  NULL), 2);
		assert_non_null(strstr(err, "wgpunchd: --workers: expected a "
					    "number from 1 to 64"));
	}
	assert_int_equal(wgpunchd_refuses(err, sizeof(err), "-k", key_path,
					  "--relay", "40000-40007", "-w", "2",
					  NULL), 2);
	assert_non_null(strstr(err, "--relay runs with one worker"));
}

int main(void)
{
	const struct CMUnitTest steering[] = {
		cmocka_unit_test(test_steering_matches_kernel),
	};
	const struct CMUnitTest daemon[] = {
		cmocka_unit_test(test_find_across_workers),
		cmocka_unit_test(test_source_budget_across_workers),
		cmocka_unit_test(test_many_workers),
		cmocka_unit_test(test_port_taken),
		cmocka_unit_test(test_workers_usage),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(steering, NULL, NULL) ||
	       cmocka_run_group_tests(daemon, start_server, teardown);
}
