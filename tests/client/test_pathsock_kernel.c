/* SPDX-License-Identifier: MIT */
/*
 * The path socket and the hop count against the kernel (root), in the
 * test's own network namespaces:
 * - beside a UDP socket bound to "WireGuard's" port, 200 WireGuard-shaped
 *   datagrams all reach that socket and not one reaches the path socket,
 *   while a path message does, with its sender's address and port;
 * - pathsock_send() leaves from WireGuard's port with the TTL / hop
 *   limit asked for (read with IP_RECVTTL / IPV6_RECVHOPLIMIT), without
 *   changing the socket's default, and with a checksum a UDP socket
 *   accepts;
 * - hops_to_address() through a chain of namespaces with nftables
 *   masquerade: 1 for the NAT next to us, 2 for NAT behind NAT, 3 for a
 *   plain host behind both, 0 for our own address, -ETIMEDOUT when
 *   nothing answers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <sodium.h>

#include "endpoint.h"
#include "hops.h"
#include "key.h"
#include "pathmsg.h"
#include "pathsock.h"
#include "rawsock.h"
#include "wglab.h"

#define WG_PORT 51820
#define PEER_PORT 40000

static const char *skip_why;
static struct path_keys keys_a, keys_b;	/* A's and B's view of A-B */

#define NEED_NS() do { if (skip_why) { print_message("skipped: %s\n", skip_why); skip(); } } while (0)

static int group_setup(void **state)
{
	uint8_t priv[2][32], pub[2][32];

	(void)state;
	skip_why = lab_enter_net();
	if (skip_why)
		return 0;
	if (sodium_init() < 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		wgp_key_generate(priv[i]);
		wgp_key_public(pub[i], priv[i]);
	}
	if (path_keys_derive(&keys_a, priv[0], pub[0], pub[1]) ||
	    path_keys_derive(&keys_b, priv[1], pub[1], pub[0]))
		return -1;
	if (lab_sh("ip addr add 198.18.0.1/32 dev lo && ip addr add 198.18.0.2/32 dev lo && "
		   "ip addr add 2001:db8::1/128 dev lo nodad && "
		   "ip addr add 2001:db8::2/128 dev lo nodad"))
		return -1;
	return 0;
}

static struct sockaddr_storage sa(int family, const char *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	char s[ENDPOINT_STRLEN];

	snprintf(s, sizeof(s), family == AF_INET ? "%s:%u" : "[%s]:%u", addr, port);
	assert_int_equal(endpoint_parse(s, strlen(s), 0, &ss), 0);
	return ss;
}

static int udp_socket(int family, const char *addr, uint16_t port)
{
	struct sockaddr_storage ss = sa(family, addr, port);
	int fd;

	fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, endpoint_len((struct sockaddr *)&ss)), 0);
	return fd;
}

static bool readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

static void sealed(uint8_t out[PATH_MSG_LEN], const struct path_keys *k, uint8_t type)
{
	struct path_msg m = {
		.type = type,
		.counter = wgp_now_ns(),
		.addr = { .family = AF_INET, .port = WG_PORT, .addr = { 198, 18, 0, 1 } },
	};

	path_txid_new(m.txid);
	assert_int_equal(path_seal(out, &m, k), PATH_MSG_LEN);
}

/* A WireGuard-shaped datagram: type 1..4, three zero bytes, the rest
 * random, at the lengths WireGuard uses. */
static size_t wireguard_like(uint8_t *buf, unsigned int i)
{
	static const size_t lens[] = { 148, 92, 64, 32 };
	unsigned int type = 1 + i % 4;
	size_t len = lens[type - 1] + (type == 4 ? 16 * (i % 90) : 0);

	randombytes_buf(buf, len);
	buf[0] = (uint8_t)type;
	buf[1] = buf[2] = buf[3] = 0;
	return len;
}

static void filtered_receive(int family, const char *me, const char *peer)
{
	struct sockaddr_storage to = sa(family, me, WG_PORT), from;
	struct sockaddr_storage expect = sa(family, peer, PEER_PORT);
	struct pathsock ps;
	uint8_t buf[2048], msg[PATH_MSG_LEN];
	const uint8_t *payload;
	struct path_msg m;
	int wg, sender;
	ssize_t n;

	/* Stands for WireGuard, which binds the wildcard address. */
	wg = udp_socket(family, family == AF_INET ? "0.0.0.0" : "::", WG_PORT);
	sender = udp_socket(family, peer, PEER_PORT);
	assert_int_equal(pathsock_open(&ps, family, WG_PORT, 0), 0);

	for (unsigned int i = 0; i < 200; i++) {
		size_t len = wireguard_like(buf, i);

		assert_int_equal(sendto(sender, buf, len, 0, (struct sockaddr *)&to,
					endpoint_len((struct sockaddr *)&to)), (ssize_t)len);
		assert_true(readable(wg, 1000));
		assert_int_equal(recv(wg, buf, sizeof(buf), 0), (ssize_t)len);
	}
	usleep(20000);
	assert_int_equal(pathsock_recv(&ps, buf, sizeof(buf), &payload, &from), -EAGAIN);
	assert_true(ps.rx == 0);

	/* A path message gets through, with its sender; WireGuard gets
	 * its copy as well (and ignores it: not a WireGuard type). */
	sealed(msg, &keys_b, PATH_PROBE);
	assert_int_equal(sendto(sender, msg, sizeof(msg), 0, (struct sockaddr *)&to,
				endpoint_len((struct sockaddr *)&to)), (ssize_t)sizeof(msg));
	assert_true(readable(ps.fd, 1000));
	n = pathsock_recv(&ps, buf, sizeof(buf), &payload, &from);
	assert_int_equal(n, PATH_MSG_LEN);
	assert_true(endpoint_equal((struct sockaddr *)&from, (struct sockaddr *)&expect));
	assert_int_equal(path_open(&m, payload, (size_t)n, &keys_a), 0);
	assert_true(ps.rx == 1);
	assert_true(readable(wg, 1000));
	assert_int_equal(recv(wg, buf, sizeof(buf), 0), PATH_MSG_LEN);

	/* The same to another port: not ours. */
	to = sa(family, me, WG_PORT + 1);
	assert_int_equal(sendto(sender, msg, sizeof(msg), 0, (struct sockaddr *)&to,
				endpoint_len((struct sockaddr *)&to)), (ssize_t)sizeof(msg));
	usleep(20000);
	assert_int_equal(pathsock_recv(&ps, buf, sizeof(buf), &payload, &from), -EAGAIN);
	assert_true(ps.rx == 1);

	pathsock_close(&ps);
	close(wg);
	close(sender);
}

static void test_filtered_receive_v4(void **state)
{
	(void)state;
	NEED_NS();
	filtered_receive(AF_INET, "198.18.0.1", "198.18.0.2");
}

static void test_filtered_receive_v6(void **state)
{
	(void)state;
	NEED_NS();
	filtered_receive(AF_INET6, "2001:db8::1", "2001:db8::2");
}

/* Receive one datagram with its TTL / hop limit. */
static ssize_t recv_ttl(int fd, uint8_t *buf, size_t cap, struct sockaddr_storage *from,
			int *ttl)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr msg = {
		.msg_name = from, .msg_namelen = sizeof(*from),
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *cm;
	ssize_t n;

	assert_true(readable(fd, 1000));
	n = recvmsg(fd, &msg, 0);
	*ttl = -1;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if ((cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_TTL) ||
		    (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_HOPLIMIT))
			memcpy(ttl, CMSG_DATA(cm), sizeof(*ttl));
	}
	return n;
}

/* Udp InCsumErrors from /proc/net/snmp (of this namespace). */
static long udp_csum_errors(void)
{
	char out[2048];
	long v[9];

	assert_int_equal(lab_capture(out, sizeof(out), "grep '^Udp: [0-9]' /proc/net/snmp"), 0);
	assert_int_equal(sscanf(out, "Udp: %ld %ld %ld %ld %ld %ld %ld %ld %ld", &v[0], &v[1],
				&v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]), 9);
	return v[6];
}

static void send_with_ttl(int family, const char *peer, const char *me)
{
	struct sockaddr_storage dst = sa(family, peer, PEER_PORT), from, src;
	struct sockaddr_storage self = sa(family, me, WG_PORT);
	const uint8_t *payload;
	struct pathsock ps;
	uint8_t msg[PATH_MSG_LEN + 1], buf[2048];
	struct path_msg m;
	int rx, on = 1, ttl, dflt;
	socklen_t olen = sizeof(dflt);
	long csum_errors = udp_csum_errors();

	rx = udp_socket(family, peer, PEER_PORT);
	if (family == AF_INET)
		assert_int_equal(setsockopt(rx, IPPROTO_IP, IP_RECVTTL, &on, sizeof(on)), 0);
	else
		assert_int_equal(setsockopt(rx, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &on,
					    sizeof(on)), 0);
	assert_int_equal(pathsock_open(&ps, family, WG_PORT, 0), 0);
	sealed(msg, &keys_a, PATH_PROBE);
	msg[PATH_MSG_LEN] = 0x5a;

	/* Leaves from WireGuard's port and the route's source address,
	 * with the TTL asked for; lengths odd and even for the checksum. */
	assert_int_equal(rawsock_route_source((struct sockaddr *)&dst, 0, &src), 0);
	for (unsigned int t = 0; t < 6; t++) {
		size_t len = PATH_MSG_LEN + (t & 1);

		assert_int_equal(pathsock_send(&ps, (struct sockaddr *)&dst, msg, len, t), 0);
		assert_int_equal(recv_ttl(rx, buf, sizeof(buf), &from, &ttl), (ssize_t)len);
		assert_memory_equal(buf, msg, len);
		assert_int_equal(ttl, t ? (int)t : 64);
		assert_int_equal(endpoint_port((struct sockaddr *)&from), WG_PORT);
		if (family == AF_INET)
			assert_memory_equal(&((struct sockaddr_in *)&from)->sin_addr,
					    &((struct sockaddr_in *)&src)->sin_addr, 4);
		else
			assert_memory_equal(&((struct sockaddr_in6 *)&from)->sin6_addr,
					    &((struct sockaddr_in6 *)&src)->sin6_addr, 16);
	}
	assert_true(ps.tx == 6);
	if (family == AF_INET)
		assert_int_equal(udp_csum_errors(), csum_errors);
	/* The socket's own default is untouched. */
	if (family == AF_INET)
		assert_int_equal(getsockopt(ps.fd, IPPROTO_IP, IP_TTL, &dflt, &olen), 0);
	else
		assert_int_equal(getsockopt(ps.fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &dflt,
					    &olen), 0);
	assert_int_equal(dflt, 64);

	/* Refused: TTL out of range, no port, wrong family. */
	assert_int_equal(pathsock_send(&ps, (struct sockaddr *)&dst, msg, 10, 256), -EINVAL);
	{
		struct sockaddr_storage noport = sa(family, peer, 1);

		if (family == AF_INET)
			((struct sockaddr_in *)&noport)->sin_port = 0;
		else
			((struct sockaddr_in6 *)&noport)->sin6_port = 0;
		assert_int_equal(pathsock_send(&ps, (struct sockaddr *)&noport, msg, 10, 0),
				 -EINVAL);
	}
	{
		struct sockaddr_storage other = sa(family == AF_INET ? AF_INET6 : AF_INET,
						   family == AF_INET ? "2001:db8::1" : "198.18.0.1",
						   WG_PORT);

		assert_int_equal(pathsock_send(&ps, (struct sockaddr *)&other, msg, 10, 0),
				 -EAFNOSUPPORT);
	}

	/* To our own WireGuard port: the path socket hears itself, as a
	 * peer on this host would. */
	assert_int_equal(pathsock_send(&ps, (struct sockaddr *)&self, msg, PATH_MSG_LEN, 2), 0);
	assert_true(readable(ps.fd, 1000));
	assert_int_equal(pathsock_recv(&ps, buf, sizeof(buf), &payload, &from), PATH_MSG_LEN);
	assert_int_equal(endpoint_port((struct sockaddr *)&from), WG_PORT);
	assert_int_equal(path_open(&m, payload, PATH_MSG_LEN, &keys_b), 0);
	usleep(20000);
	assert_int_equal(pathsock_recv(&ps, buf, sizeof(buf), &payload, &from), -EAGAIN);
	assert_true(ps.rx == 1);

	pathsock_close(&ps);
	close(rx);
}

static void test_send_ttl_v4(void **state)
{
	(void)state;
	NEED_NS();
	send_with_ttl(AF_INET, "198.18.0.2", "198.18.0.1");
}

static void test_send_ttl_v6(void **state)
{
	(void)state;
	NEED_NS();
	send_with_ttl(AF_INET6, "2001:db8::2", "2001:db8::1");
}

static void test_open_mark_and_errors(void **state)
{
	struct pathsock ps;
	uint32_t mark = 0;
	socklen_t len = sizeof(mark);

	(void)state;
	NEED_NS();
	assert_int_equal(pathsock_open(&ps, AF_INET, WG_PORT, 0x1234), 0);
	assert_int_equal(getsockopt(ps.fd, SOL_SOCKET, SO_MARK, &mark, &len), 0);
	assert_int_equal(mark, 0x1234);
	pathsock_close(&ps);
	assert_int_equal(ps.fd, -1);
	assert_int_equal(pathsock_open(&ps, AF_UNIX, WG_PORT, 0), -EAFNOSUPPORT);
	assert_int_equal(ps.fd, -1);
	assert_int_equal(pathsock_open(&ps, AF_INET6, 0, 0), -EINVAL);
}

/* ---- hops: a chain of namespaces ------------------------------------
 *
 *   us 198.18.1.2 -- .1 nat1 198.18.2.1 -- .2 nat2 198.18.3.1 -- .2 far
 *                       (masquerade)          (masquerade)
 *
 * Each router is a child process in its own network namespace, killed
 * (and its namespace gone) when the test ends or dies. */

static pid_t ns_new(void)
{
	int p[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		c = unshare(CLONE_NEWNET) ? 'n' : 'y';
		if (write(p[1], &c, 1) != 1 || c != 'y')
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	assert_int_equal(c, 'y');
	return pid;
}

static void ns_kill(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Run cmd (no single quotes) inside pid's network namespace. */
static int ns_sh(pid_t pid, const char *cmd)
{
	return lab_sh("nsenter -t %d -n sh -c '%s' >/dev/null 2>&1", (int)pid, cmd);
}

static const char nat_rules[] =
	"nft add table ip nat && "
	"nft \"add chain ip nat post { type nat hook postrouting priority 100 ; }\" && "
	"nft add rule ip nat post oifname wan0 masquerade";

static void router(pid_t pid, const char *in_addr, const char *out_addr,
		   const char *gw, bool nat)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "echo 1 >/proc/sys/net/ipv4/ip_forward && ip link set lo up && "
		 "ip addr add %s dev lan0 && ip link set lan0 up && "
		 "ip addr add %s dev wan0 && ip link set wan0 up && "
		 "ip route add default via %s%s%s",
		 in_addr, out_addr, gw, nat ? " && " : "", nat ? nat_rules : "");
	assert_int_equal(ns_sh(pid, cmd), 0);
}

/* A generous timeout: a certain answer comes back long before it, and a
 * loaded machine must not turn a late ICMP answer into a failure. */
#define HOPS_TEST_TIMEOUT_MS	5000

static int hops_to_within(const char *addr, unsigned int timeout_ms)
{
	struct sockaddr_storage ss = sa(AF_INET, addr, 1);	/* port ignored */

	return hops_to_address((struct sockaddr *)&ss, 0, timeout_ms);
}

static int hops_to(const char *addr)
{
	return hops_to_within(addr, HOPS_TEST_TIMEOUT_MS);
}

static void test_hops_chain(void **state)
{
	pid_t nat1, nat2, far;
	struct sockaddr_storage v6 = sa(AF_INET6, "2001:db8::1", 1);
	struct timespec t0, t1;
	char cmd[256];

	(void)state;
	NEED_NS();
	nat1 = ns_new();
	nat2 = ns_new();
	far = ns_new();
	/* Links: the wan0 of one router is the lan0 of the next. */
	assert_int_equal(lab_sh("ip link add up0 type veth peer name lan0 netns %d", (int)nat1), 0);
	snprintf(cmd, sizeof(cmd), "ip link add wan0 type veth peer name lan0 netns %d", (int)nat2);
	assert_int_equal(ns_sh(nat1, cmd), 0);
	snprintf(cmd, sizeof(cmd), "ip link add wan0 type veth peer name lan0 netns %d", (int)far);
	assert_int_equal(ns_sh(nat2, cmd), 0);
	assert_int_equal(lab_sh("ip addr add 198.18.1.2/24 dev up0 && ip link set up0 up && "
				"ip route add default via 198.18.1.1"), 0);
	router(nat1, "198.18.1.1/24", "198.18.2.1/24", "198.18.2.2", true);
	router(nat2, "198.18.2.2/24", "198.18.3.1/24", "198.18.3.2", true);
	/* The far end answers pings and routes nowhere: nothing comes
	 * back for 198.18.4.0/24 but "unreachable". */
	assert_int_equal(ns_sh(far, "ip link set lo up && ip addr add 198.18.3.2/24 dev lan0 && "
				    "ip link set lan0 up"), 0);

	assert_int_equal(hops_to("198.18.2.1"), 1);	/* the NAT next to us */
	assert_int_equal(hops_to("198.18.3.1"), 2);	/* NAT behind NAT */
	assert_int_equal(hops_to("198.18.3.2"), 3);	/* behind both */
	assert_int_equal(hops_to("198.18.1.2"), 0);	/* our own address */
	assert_int_equal(hops_to("198.18.0.1"), 0);
	/* The answer is certain once the echo reply and every nearer
	 * time-exceeded are in: it does not wait out the timeout. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(hops_to("198.18.3.1"), 2);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 <
		    HOPS_TEST_TIMEOUT_MS);
	/* Nobody owns it: -ETIMEDOUT after the timeout. */
	assert_int_equal(hops_to_within("198.18.4.9", 300), -ETIMEDOUT);
	/* nat1 sends no time-exceeded any more: the answer is no longer
	 * certain early, but after the timeout the echo reply says 2. */
	assert_int_equal(ns_sh(nat1, "nft add table ip f && "
				     "nft \"add chain ip f out { type filter hook output priority 0 ; }\" && "
				     "nft add rule ip f out icmp type time-exceeded drop"), 0);
	assert_int_equal(hops_to_within("198.18.3.1", 2000), 2);
	assert_int_equal(hops_to_address((struct sockaddr *)&v6, 0, 300), -EAFNOSUPPORT);

	ns_kill(far);
	ns_kill(nat2);
	ns_kill(nat1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filtered_receive_v4),
		cmocka_unit_test(test_filtered_receive_v6),
		cmocka_unit_test(test_send_ttl_v4),
		cmocka_unit_test(test_send_ttl_v6),
		cmocka_unit_test(test_open_mark_and_errors),
		cmocka_unit_test(test_hops_chain),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
