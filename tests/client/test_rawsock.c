/* SPDX-License-Identifier: MIT */
/*
 * The raw socket's pure parts: the UDP header and checksum we write, the
 * checks on what we receive (IP options, fragments, lengths), and the
 * filter rawsock_open() attaches, run in libcbpf's VM.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>

#include "checksum.h"
#include "endpoint.h"
#include "rawsock.h"

static const char payload_even[] = "WGPN\x01\x02hello, checksum!";
static const char payload_odd[] = "WGPN\x01\x02hello, checksum!?";

static struct rawsock sock_v4(void)
{
	struct rawsock rs = { .fd = -1, .family = AF_INET, .wg_port = 51820 };

	assert_int_equal(endpoint_parse("198.18.0.2:51820", 16, 0, &rs.src), 0);
	assert_int_equal(endpoint_parse("198.18.0.1:49918", 16, 0, &rs.dst), 0);
	return rs;
}

/* Values computed independently (a few lines of Python summing the
 * pseudo-header and datagram as 16-bit words). */
static void test_checksum_known(void **state)
{
	struct rawsock rs = sock_v4();
	uint8_t out[64];
	int n;

	(void)state;
	n = rawsock_build_udp(&rs, payload_even, sizeof(payload_even) - 1, out, sizeof(out));
	assert_int_equal(n, 8 + 22);
	assert_int_equal(out[0] << 8 | out[1], 51820);
	assert_int_equal(out[2] << 8 | out[3], 49918);
	assert_int_equal(out[4] << 8 | out[5], 30);
	assert_int_equal(out[6] << 8 | out[7], 0x2cbe);
	assert_memory_equal(out + 8, payload_even, 22);

	n = rawsock_build_udp(&rs, payload_odd, sizeof(payload_odd) - 1, out, sizeof(out));
	assert_int_equal(n, 8 + 23);
	assert_int_equal(out[6] << 8 | out[7], 0xedbb);
	assert_int_equal(rawsock_build_udp(&rs, payload_odd, 23, out, 30), -EMSGSIZE);
}

/* Whatever the data, the sum over pseudo-header and datagram including
 * the checksum is all ones, and a computed zero is sent as 0xffff. */
static void test_checksum_property(void **state)
{
	struct in_addr s, d;
	uint8_t udp[300];

	(void)state;
	inet_pton(AF_INET, "198.19.1.2", &s);
	inet_pton(AF_INET, "198.18.200.3", &d);
	for (unsigned int len = 8; len < sizeof(udp); len += 13) {
		uint32_t sum = 0;
		uint16_t c;

		for (unsigned int i = 0; i < len; i++)
			udp[i] = (uint8_t)(i * 131 + len);
		udp[4] = (uint8_t)(len >> 8);
		udp[5] = (uint8_t)len;
		c = udp4_checksum(s, d, udp, len);
		assert_int_not_equal(c, 0);
		memcpy(udp + 6, &c, 2);
		sum += ntohl(s.s_addr) >> 16;
		sum += ntohl(s.s_addr) & 0xffff;
		sum += ntohl(d.s_addr) >> 16;
		sum += ntohl(d.s_addr) & 0xffff;
		sum += IPPROTO_UDP + len;
		for (unsigned int i = 0; i < len; i += 2)
			sum += (uint32_t)udp[i] << 8 | (i + 1 < len ? udp[i + 1] : 0);
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		assert_int_equal(sum, 0xffff);
	}
}

/* An IPv4 datagram from 198.18.0.1:49918 to wg port 51820, with ihl
 * 32-bit words of header (options are NOPs) and n payload bytes. */
static size_t packet(uint8_t *p, unsigned int ihl, size_t n)
{
	size_t hl = ihl * 4, total = hl + 8 + n;

	memset(p, 0, total);
	memset(p + 20, IPOPT_NOP, hl - 20);
	p[0] = (uint8_t)(0x40 | ihl);
	p[2] = (uint8_t)(total >> 8);
	p[3] = (uint8_t)total;
	p[8] = 64;
	p[9] = IPPROTO_UDP;
	inet_pton(AF_INET, "198.18.0.1", p + 12);
	inet_pton(AF_INET, "198.18.0.2", p + 16);
	p[hl] = 49918 >> 8;
	p[hl + 1] = 49918 & 0xff;
	p[hl + 2] = 51820 >> 8;
	p[hl + 3] = 51820 & 0xff;
	p[hl + 4] = (uint8_t)((8 + n) >> 8);
	p[hl + 5] = (uint8_t)(8 + n);
	for (size_t i = 0; i < n; i++)
		p[hl + 8 + i] = (uint8_t)i;
	return total;
}

static void test_parse_ipv4(void **state)
{
	struct rawsock rs = sock_v4();
	const struct sockaddr_in *srv = (const struct sockaddr_in *)&rs.dst;
	const uint8_t *payload;
	uint8_t p[200];
	size_t len;

	(void)state;
	len = packet(p, 5, 60);
	assert_int_equal(rawsock_parse_ipv4(p, len, srv, 51820, &payload), 60);
	assert_ptr_equal(payload, p + 28);
	/* IP options: the payload moves with the header length. */
	len = packet(p, 15, 60);
	assert_int_equal(rawsock_parse_ipv4(p, len, srv, 51820, &payload), 60);
	assert_ptr_equal(payload, p + 68);
	/* Trailing bytes beyond the IP total length are not payload. */
	len = packet(p, 5, 10);
	assert_int_equal(rawsock_parse_ipv4(p, len + 20, srv, 51820, &payload), 10);

	/* Each of these must be refused. */
	len = packet(p, 5, 10);
	assert_int_equal(rawsock_parse_ipv4(p, 19, srv, 51820, &payload), -EBADMSG);
	assert_int_equal(rawsock_parse_ipv4(p, len - 1, srv, 51820, &payload), -EBADMSG);
	assert_int_equal(rawsock_parse_ipv4(p, len, srv, 51821, &payload), -EBADMSG);
	p[0] = 0x44;				/* IHL 4 */
	assert_int_equal(rawsock_parse_ipv4(p, len, srv, 51820, &payload), -EBADMSG);
	p[0] = 0x65;				/* version 6 */
	assert_int_equal(rawsock_parse_ipv4(p, len, srv, 51820, &payload), -EBADMSG);
	len = packet(p, 5, 10);
	p[9] = IPPROTO_TCP;
	assert_int_equal(rawsock_parse_ipv4(p, len, srv, 51820, &payload), -EBADMSG);
	len = packet(p, 5, 10);
	p[6] = 0x20;				/* MF */
	assert_int_equal(rawsock_parse_ipv4(p, len, srv, 51820, &payload), -EBADMSG);
	p[6] = 0x40;				/* DF alone is fine */
	assert_int_equal(rawsock_parse_ipv4(p, len, srv, 51820, &payload), 10);
	p[6] = 0;
	p[7] = 1;				/* offset 8 */
	assert_int_equal(rawsock_parse_ipv4(p, len, srv, 51820, &payload), -EBADMSG);
	len = packet(p, 5, 10);
	p[15] ^= 1;				/* another source */
	assert_int_equal(rawsock_parse_ipv4(p, len, srv, 51820, &payload), -EBADMSG);
	len = packet(p, 5, 10);
	p[21] ^= 1;				/* another source port */
	assert_int_equal(rawsock_parse_ipv4(p, len, srv, 51820, &payload), -EBADMSG);
	len = packet(p, 5, 10);
	p[25] = 19;				/* UDP length past the packet */
	assert_int_equal(rawsock_parse_ipv4(p, len, srv, 51820, &payload), -EBADMSG);
	p[25] = 7;				/* shorter than its header */
	assert_int_equal(rawsock_parse_ipv4(p, len, srv, 51820, &payload), -EBADMSG);
	p[25] = 12;				/* shorter: 4 bytes of payload */
	assert_int_equal(rawsock_parse_ipv4(p, len, srv, 51820, &payload), 4);
}

static void test_parse_udp(void **state)
{
	uint8_t p[16] = { 49918 >> 8, 49918 & 0xff, 51820 >> 8, 51820 & 0xff, 0, 16 };
	const uint8_t *payload;

	(void)state;
	assert_int_equal(rawsock_parse_udp(p, 16, 49918, 51820, &payload), 8);
	assert_ptr_equal(payload, p + 8);
	assert_int_equal(rawsock_parse_udp(p, 15, 49918, 51820, &payload), -EBADMSG);
	assert_int_equal(rawsock_parse_udp(p, 7, 49918, 51820, &payload), -EBADMSG);
	assert_int_equal(rawsock_parse_udp(p, 16, 49919, 51820, &payload), -EBADMSG);
	assert_int_equal(rawsock_parse_udp(p, 16, 49918, 1, &payload), -EBADMSG);
}

/* The filter rawsock_open() attaches, over the same crafted packets:
 * it must agree with the userspace checks. */
static void test_filter_vm(void **state)
{
	struct rawsock rs = sock_v4();
	struct cbpf_ctx ctx = cbpf_ctx_unix();
	struct cbpf_prog prog = { 0 };
	uint8_t p[200];
	size_t len;

	(void)state;
	assert_int_equal(rawsock_build_filter(AF_INET, (struct sockaddr *)&rs.dst,
					      51820, 60, &prog), 0);
	len = packet(p, 5, 60);
	assert_int_not_equal(cbpf_run(&prog, p, len, &ctx), 0);
	len = packet(p, 15, 60);
	assert_int_not_equal(cbpf_run(&prog, p, len, &ctx), 0);
	len = packet(p, 5, 59);				/* too short */
	assert_int_equal(cbpf_run(&prog, p, len, &ctx), 0);
	len = packet(p, 15, 59);
	assert_int_equal(cbpf_run(&prog, p, len, &ctx), 0);
	len = packet(p, 5, 60);
	p[15] ^= 1;
	assert_int_equal(cbpf_run(&prog, p, len, &ctx), 0);
	len = packet(p, 5, 60);
	p[23] ^= 1;					/* dport */
	assert_int_equal(cbpf_run(&prog, p, len, &ctx), 0);
	len = packet(p, 5, 60);
	p[6] = 0x20;
	assert_int_equal(cbpf_run(&prog, p, len, &ctx), 0);
	cbpf_prog_free(&prog);

	/* The families must agree. */
	assert_int_equal(rawsock_build_filter(AF_INET6, (struct sockaddr *)&rs.dst,
					      51820, 60, &prog), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checksum_known),
		cmocka_unit_test(test_checksum_property),
		cmocka_unit_test(test_parse_ipv4),
		cmocka_unit_test(test_parse_udp),
		cmocka_unit_test(test_filter_vm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
