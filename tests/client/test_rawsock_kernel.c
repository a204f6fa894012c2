/* SPDX-License-Identifier: MIT */
/*
 * The raw socket against the kernel, in the test's own network
 * namespace (root): our UDP checksum equals the one the kernel computes;
 * a datagram we send leaves from "WireGuard's" port and reaches a UDP
 * socket intact; of what comes back, the filter passes only the
 * server's datagrams to that port, and a UDP socket bound to the port
 * (standing in for WireGuard) still gets its copy.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "checksum.h"
#include "endpoint.h"
#include "rawsock.h"
#include "wglab.h"

#define WG_PORT 51820
#define SRV_PORT 49918

static const char *skip_why;

#define NEED_NS() do { if (skip_why) { print_message("skipped: %s\n", skip_why); skip(); } } while (0)

static int group_setup(void **state)
{
	(void)state;
	skip_why = lab_enter_net();
	if (skip_why)
		return 0;
	if (lab_sh("ip addr add 198.18.0.1/32 dev lo && ip addr add 198.18.0.2/32 dev lo && "
		   "ip addr add 2001:db8::1/128 dev lo nodad && "
		   "ip addr add 2001:db8::2/128 dev lo nodad"))
		return -1;
	return 0;
}

static int udp_socket(int family, const char *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	char s[ENDPOINT_STRLEN];
	int fd;

	snprintf(s, sizeof(s), family == AF_INET ? "%s:%u" : "[%s]:%u", addr, port);
	assert_int_equal(endpoint_parse(s, strlen(s), 0, &ss), 0);
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

/* Udp InCsumErrors from /proc/net/snmp (of this namespace). */
static long udp_csum_errors(void)
{
	char out[2048], *l;
	long v[9];

	assert_int_equal(lab_capture(out, sizeof(out), "grep '^Udp: [0-9]' /proc/net/snmp"), 0);
	l = out;
	assert_int_equal(sscanf(l, "Udp: %ld %ld %ld %ld %ld %ld %ld %ld %ld", &v[0], &v[1],
				&v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]), 9);
	return v[6];
}

/*
 * The kernel verifies the UDP checksum of what a raw socket loops back
 * to a UDP socket (it arrives with no checksum offload state): ours must
 * be accepted for every length, odd ones included, and the same datagram
 * with one checksum bit flipped must be dropped and counted. (The other
 * way, comparing with checksums the kernel writes, fails on lo: TX
 * offload leaves a partial sum there, and lo does not let it be off.)
 */
static void test_checksum_kernel_verifies(void **state)
{
	struct sockaddr_in dst = { .sin_family = AF_INET };
	struct rawsock rs = { .family = AF_INET, .wg_port = WG_PORT };
	int raw, rx;
	long errors;

	(void)state;
	NEED_NS();
	assert_int_equal(endpoint_parse("198.18.0.2:51820", 16, 0, &rs.src), 0);
	assert_int_equal(endpoint_parse("198.18.0.1:49918", 16, 0, &rs.dst), 0);
	inet_pton(AF_INET, "198.18.0.1", &dst.sin_addr);
	raw = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_UDP);
	assert_true(raw >= 0);
	{
		struct sockaddr_in me = { .sin_family = AF_INET };

		inet_pton(AF_INET, "198.18.0.2", &me.sin_addr);
		assert_int_equal(bind(raw, (struct sockaddr *)&me, sizeof(me)), 0);
	}
	rx = udp_socket(AF_INET, "198.18.0.1", SRV_PORT);
	errors = udp_csum_errors();
	for (size_t len = 0; len < 300; len += 37) {
		uint8_t payload[300], dgram[400], buf[400];
		int n;

		for (size_t i = 0; i < len; i++)
			payload[i] = (uint8_t)(i * 7 + len);
		n = rawsock_build_udp(&rs, payload, len, dgram, sizeof(dgram));
		assert_int_equal(n, (int)(8 + len));
		assert_int_equal(sendto(raw, dgram, (size_t)n, 0, (struct sockaddr *)&dst,
					sizeof(dst)), n);
		assert_true(readable(rx, 1000));
		assert_int_equal(recv(rx, buf, sizeof(buf), 0), (ssize_t)len);
		assert_memory_equal(buf, payload, len);

		dgram[7] ^= 0x10;
		assert_int_equal(sendto(raw, dgram, (size_t)n, 0, (struct sockaddr *)&dst,
					sizeof(dst)), n);
		assert_false(readable(rx, 50));
		assert_int_equal(udp_csum_errors(), ++errors);
	}
	close(rx);
	close(raw);
}

/* One round trip through a rawsock from "WireGuard's" port. */
static void round_trip(int family, const char *srv_addr, const char *wg_addr)
{
	int server, wg, other, stranger;
	struct sockaddr_storage srv, from;
	socklen_t flen = sizeof(from);
	struct rawsock rs;
	uint8_t payload[100], buf[2048];
	const uint8_t *got;
	char s[ENDPOINT_STRLEN];
	ssize_t n;

	server = udp_socket(family, srv_addr, SRV_PORT);
	other = udp_socket(family, srv_addr, SRV_PORT + 2);
	/* Stands for WireGuard, which binds the wildcard address. */
	wg = udp_socket(family, family == AF_INET ? "0.0.0.0" : "::", WG_PORT);
	stranger = udp_socket(family, wg_addr, 40000);
	snprintf(s, sizeof(s), family == AF_INET ? "%s:%u" : "[%s]:%u", srv_addr, SRV_PORT);
	assert_int_equal(endpoint_parse(s, strlen(s), 0, &srv), 0);

	assert_int_equal(rawsock_open(&rs, (struct sockaddr *)&srv, WG_PORT, 0, 60), 0);
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i ^ 0x5a);

	/* Out: the server sees WireGuard's port as the source. */
	assert_int_equal(rawsock_send(&rs, payload, sizeof(payload)), 0);
	assert_true(readable(server, 1000));
	n = recvfrom(server, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
	assert_int_equal(n, sizeof(payload));
	assert_memory_equal(buf, payload, sizeof(payload));
	assert_int_equal(endpoint_port((struct sockaddr *)&from), WG_PORT);

	/* Back: the raw socket and "WireGuard" both get the reply. */
	assert_int_equal(sendto(server, payload, 80, 0, (struct sockaddr *)&from, flen), 80);
	assert_true(readable(rs.fd, 1000));
	assert_int_equal(rawsock_recv(&rs, buf, sizeof(buf), &got), 80);
	assert_memory_equal(got, payload, 80);
	assert_true(readable(wg, 1000));
	assert_int_equal(recv(wg, buf, sizeof(buf), 0), 80);

	/* Filtered: another server port, too short, another destination
	 * port, another source address. "WireGuard" still gets its own. */
	assert_int_equal(sendto(other, payload, 80, 0, (struct sockaddr *)&from, flen), 80);
	assert_int_equal(sendto(server, payload, 59, 0, (struct sockaddr *)&from, flen), 59);
	assert_true(readable(wg, 1000));
	assert_int_equal(recv(wg, buf, sizeof(buf), 0), 80);
	assert_true(readable(wg, 1000));
	assert_int_equal(recv(wg, buf, sizeof(buf), 0), 59);
	flen = sizeof(from);
	assert_int_equal(getsockname(stranger, (struct sockaddr *)&from, &flen), 0);
	assert_int_equal(sendto(server, payload, 80, 0, (struct sockaddr *)&from, flen), 80);
	assert_true(readable(stranger, 1000));
	assert_int_equal(sendto(stranger, payload, 80, 0, (struct sockaddr *)&srv,
				endpoint_len((struct sockaddr *)&srv)), 80);
	assert_true(readable(server, 1000));
	usleep(50000);
	assert_int_equal(rawsock_recv(&rs, buf, sizeof(buf), &got), -EAGAIN);

	rawsock_close(&rs);
	close(server);
	close(other);
	close(wg);
	close(stranger);
}

static void test_round_trip_v4(void **state)
{
	(void)state;
	NEED_NS();
	round_trip(AF_INET, "198.18.0.1", "198.18.0.2");
}

static void test_round_trip_v6(void **state)
{
	(void)state;
	NEED_NS();
	round_trip(AF_INET6, "2001:db8::1", "2001:db8::2");
}

static void test_fwmark_and_source(void **state)
{
	struct sockaddr_storage srv, src;
	struct rawsock rs;
	uint32_t mark = 0;
	socklen_t len = sizeof(mark);
	char buf[ENDPOINT_STRLEN];

	(void)state;
	NEED_NS();
	assert_int_equal(endpoint_parse("198.18.0.1:49918", 16, 0, &srv), 0);
	assert_int_equal(rawsock_open(&rs, (struct sockaddr *)&srv, WG_PORT, 0x1234, 60), 0);
	assert_int_equal(getsockopt(rs.fd, SOL_SOCKET, SO_MARK, &mark, &len), 0);
	assert_int_equal(mark, 0x1234);
	/* The source is the route's, with WireGuard's port. */
	assert_int_equal(rawsock_route_source((struct sockaddr *)&srv, 0x1234, &src), 0);
	assert_string_equal(endpoint_format((struct sockaddr *)&rs.src, buf), "198.18.0.1:51820");
	rawsock_close(&rs);
	/* No route at all: a clear error, not a socket. */
	assert_int_equal(endpoint_parse("198.19.9.9:49918", 16, 0, &srv), 0);
	assert_int_equal(rawsock_open(&rs, (struct sockaddr *)&srv, WG_PORT, 0, 60), -ENETUNREACH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checksum_kernel_verifies),
		cmocka_unit_test(test_round_trip_v4),
		cmocka_unit_test(test_round_trip_v6),
		cmocka_unit_test(test_fwmark_and_source),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
