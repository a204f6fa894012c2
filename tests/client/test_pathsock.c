/* SPDX-License-Identifier: MIT */
/*
 * The path socket's pure parts: its filter run in libcbpf's VM (which
 * gives the kernel's verdicts) over crafted datagrams — WireGuard's four
 * message types at many lengths never pass, path messages do, with and
 * without IPv4 options — and the userspace re-check of what arrives.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/ip.h>

#include <sodium.h>

#include "key.h"
#include "pathmsg.h"
#include "pathsock.h"

#define WG_PORT 51820

static uint8_t pkt[60 + 40 + 8 + 2048];

/* Fill len payload bytes: head, then bytes from a fixed pseudo-random
 * sequence (so that nothing passes by being all zeros). */
static void fill_payload(uint8_t *p, size_t len, const uint8_t *head,
			 size_t head_len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)((i * 131 + seed * 17) ^ (i >> 3));
	memcpy(p, head, head_len < len ? head_len : len);
}

static size_t udp_hdr(uint8_t *u, uint16_t sport, uint16_t dport, size_t len)
{
	u[0] = (uint8_t)(sport >> 8), u[1] = (uint8_t)sport;
	u[2] = (uint8_t)(dport >> 8), u[3] = (uint8_t)dport;
	u[4] = (uint8_t)((8 + len) >> 8), u[5] = (uint8_t)(8 + len);
	u[6] = u[7] = 0;
	return 8 + len;
}

/* IPv4 with ihl words of header, UDP to dport, payload as given. */
static size_t ipv4(unsigned int ihl, uint16_t frag, uint16_t dport,
		   const uint8_t *head, size_t head_len, size_t len,
		   unsigned int seed)
{
	size_t h = ihl * 4, total = h + 8 + len;

	memset(pkt, 0, h);
	memset(pkt + 20, IPOPT_NOP, h - 20);
	pkt[0] = (uint8_t)(0x40 | ihl);
	pkt[2] = (uint8_t)(total >> 8), pkt[3] = (uint8_t)total;
	pkt[6] = (uint8_t)(frag >> 8), pkt[7] = (uint8_t)frag;
	pkt[8] = 64;
	pkt[9] = IPPROTO_UDP;
	memcpy(pkt + 12, "\xc6\x12\x00\x01\xc6\x12\x00\x02", 8);
	udp_hdr(pkt + h, 40000, dport, len);
	fill_payload(pkt + h + 8, len, head, head_len, seed);
	return total;
}

/* IPv6: the 40-byte header first; returns the length from the UDP
 * header on (what the filter sees). */
static size_t ipv6(uint16_t dport, const uint8_t *head, size_t head_len,
		   size_t len, unsigned int seed)
{
	memset(pkt, 0, 40);
	pkt[0] = 0x60;
	pkt[4] = (uint8_t)((8 + len) >> 8), pkt[5] = (uint8_t)(8 + len);
	pkt[6] = IPPROTO_UDP;
	pkt[7] = 64;
	memcpy(pkt + 8, "\x20\x01\x0d\xb8", 4);
	memcpy(pkt + 24, "\x20\x01\x0d\xb8", 4);
	pkt[23] = 1, pkt[39] = 2;
	udp_hdr(pkt + 40, 40000, dport, len);
	fill_payload(pkt + 48, len, head, head_len, seed);
	return 8 + len;
}

static struct cbpf_prog filter(int family)
{
	struct cbpf_prog prog = { 0 };

	assert_int_equal(pathsock_build_filter(family, WG_PORT, &prog), 0);
	assert_int_equal(cbpf_validate(&prog, NULL), 0);
	return prog;
}

static bool passes4(const struct cbpf_prog *p, size_t len)
{
	struct cbpf_ctx ctx = cbpf_ctx_unix();

	return cbpf_run(p, pkt, len, &ctx) != 0;
}

static bool passes6(const struct cbpf_prog *p, size_t len)
{
	struct cbpf_ctx ctx = cbpf_ctx_raw6();

	return cbpf_run(p, pkt + 40, len, &ctx) != 0;
}

static const uint8_t probe[] = { 'W', 'G', 'P', 'N', 2, PATH_PROBE, 0, 0 };
static const uint8_t reply[] = { 'W', 'G', 'P', 'N', 2, PATH_REPLY, 0, 0 };

/* WireGuard's messages: type, then three zero bytes, at the lengths
 * they have (initiation 148, response 92, cookie 64, data 32 + 16n)
 * and a few that only an attacker would send. */
static const size_t wg_lengths[] = {
	0, 1, 4, 32, 48, 64, 87, 88, 89, 92, 96, 128, 148, 160, 1420, 2000,
};

static void test_wireguard_never_passes(void **state)
{
	struct cbpf_prog p4 = filter(AF_INET), p6 = filter(AF_INET6);
	unsigned int n = 0;

	(void)state;
	for (unsigned int type = 0; type < 256; type++) {
		const uint8_t head[4] = { (uint8_t)type, 0, 0, 0 };

		for (size_t i = 0; i < sizeof(wg_lengths) / sizeof(wg_lengths[0]); i++) {
			size_t len = wg_lengths[i];

			for (unsigned int ihl = 5; ihl <= 15; ihl += 5) {
				assert_false(passes4(&p4, ipv4(ihl, 0, WG_PORT, head, 4,
							      len, type)));
				n++;
			}
			assert_false(passes6(&p6, ipv6(WG_PORT, head, 4, len, type)));
		}
	}
	assert_true(n > 4000);
	cbpf_prog_free(&p4);
	cbpf_prog_free(&p6);
}

static void test_path_messages_pass(void **state)
{
	struct cbpf_prog p4 = filter(AF_INET), p6 = filter(AF_INET6);
	uint8_t priv[2][32], pub[2][32], real[PATH_MSG_LEN];
	struct path_keys k;
	struct path_msg m = {
		.type = PATH_REPLY,
		.addr = { .family = AF_INET, .port = 9, .addr = { 198, 18, 0, 9 } },
	};

	(void)state;
	for (unsigned int ihl = 5; ihl <= 15; ihl++) {
		assert_true(passes4(&p4, ipv4(ihl, 0, WG_PORT, probe, 8, PATH_MSG_LEN, ihl)));
		assert_true(passes4(&p4, ipv4(ihl, IP_DF, WG_PORT, reply, 8, PATH_MSG_LEN, ihl)));
	}
	assert_true(passes6(&p6, ipv6(WG_PORT, probe, 8, PATH_MSG_LEN, 1)));
	assert_true(passes6(&p6, ipv6(WG_PORT, reply, 8, PATH_MSG_LEN, 2)));
	/* Longer is for userspace to refuse; the filter only bounds below. */
	assert_true(passes4(&p4, ipv4(5, 0, WG_PORT, probe, 8, 200, 3)));
	assert_true(passes6(&p6, ipv6(WG_PORT, probe, 8, 200, 3)));

	/* A real sealed message. */
	assert_int_equal(sodium_init() < 0, 0);
	memset(priv[0], 1, 32);
	memset(priv[1], 2, 32);
	wgp_key_public(pub[0], priv[0]);
	wgp_key_public(pub[1], priv[1]);
	assert_int_equal(path_keys_derive(&k, priv[0], pub[0], pub[1]), 0);
	assert_int_equal(path_seal(real, &m, &k), PATH_MSG_LEN);
	assert_true(passes4(&p4, ipv4(6, 0, WG_PORT, real, PATH_MSG_LEN, PATH_MSG_LEN, 0)));
	assert_true(passes6(&p6, ipv6(WG_PORT, real, PATH_MSG_LEN, PATH_MSG_LEN, 0)));
	cbpf_prog_free(&p4);
	cbpf_prog_free(&p6);
}

static void test_other_datagrams_dropped(void **state)
{
	struct cbpf_prog p4 = filter(AF_INET), p6 = filter(AF_INET6);
	uint8_t head[8];

	(void)state;
	/* Ports, fragments, length. */
	assert_false(passes4(&p4, ipv4(5, 0, WG_PORT + 1, probe, 8, PATH_MSG_LEN, 0)));
	assert_false(passes4(&p4, ipv4(5, 0, 49918, probe, 8, PATH_MSG_LEN, 0)));
	assert_false(passes6(&p6, ipv6(WG_PORT - 1, probe, 8, PATH_MSG_LEN, 0)));
	assert_false(passes4(&p4, ipv4(5, IP_MF, WG_PORT, probe, 8, PATH_MSG_LEN, 0)));
	assert_false(passes4(&p4, ipv4(5, 1, WG_PORT, probe, 8, PATH_MSG_LEN, 0)));
	assert_false(passes4(&p4, ipv4(5, IP_OFFMASK, WG_PORT, probe, 8, PATH_MSG_LEN, 0)));
	assert_false(passes4(&p4, ipv4(5, 0, WG_PORT, probe, 8, PATH_MSG_LEN - 1, 0)));
	assert_false(passes4(&p4, ipv4(15, 0, WG_PORT, probe, 8, PATH_MSG_LEN - 1, 0)));
	assert_false(passes6(&p6, ipv6(WG_PORT, probe, 8, PATH_MSG_LEN - 1, 0)));
	/* Not UDP. */
	ipv4(5, 0, WG_PORT, probe, 8, PATH_MSG_LEN, 0);
	pkt[9] = IPPROTO_TCP;
	assert_false(passes4(&p4, 20 + 8 + PATH_MSG_LEN));
	/* Each header byte the filter looks at, wrong. */
	for (size_t i = 0; i < 6; i++) {
		memcpy(head, probe, 8);
		head[i] ^= i < 4 ? 0x20 : 1;
		assert_false(passes4(&p4, ipv4(5, 0, WG_PORT, head, 8, PATH_MSG_LEN, 0)));
		assert_false(passes6(&p6, ipv6(WG_PORT, head, 8, PATH_MSG_LEN, 0)));
	}
	/* Rendezvous types in version 2 (the server's replies). */
	for (uint8_t t = 1; t <= 8; t++) {
		memcpy(head, probe, 8);
		head[5] = t;
		assert_false(passes4(&p4, ipv4(5, 0, WG_PORT, head, 8, PATH_MSG_LEN, 0)));
	}
	cbpf_prog_free(&p4);
	cbpf_prog_free(&p6);
}

static void test_build_filter_errors(void **state)
{
	struct cbpf_prog p = { 0 };

	(void)state;
	assert_int_equal(pathsock_build_filter(AF_UNIX, WG_PORT, &p), -EAFNOSUPPORT);
	assert_int_equal(pathsock_build_filter(AF_INET, 0, &p), -EINVAL);
	assert_null(p.insns);
}

static void test_parse(void **state)
{
	const uint8_t *payload;
	struct in_addr src;
	uint16_t sport;
	size_t len;

	(void)state;
	/* IPv4, with options. */
	len = ipv4(7, 0, WG_PORT, probe, 8, PATH_MSG_LEN, 0);
	assert_int_equal(pathsock_parse(AF_INET, pkt, len, WG_PORT, &payload, &sport, &src),
			 PATH_MSG_LEN);
	assert_ptr_equal(payload, pkt + 28 + 8);
	assert_int_equal(sport, 40000);
	assert_memory_equal(&src, "\xc6\x12\x00\x01", 4);
	/* Trailing bytes after the IP total length are ignored. */
	assert_int_equal(pathsock_parse(AF_INET, pkt, len + 5, WG_PORT, &payload, &sport,
					&src), PATH_MSG_LEN);
	assert_int_equal(pathsock_parse(AF_INET, pkt, len - 1, WG_PORT, &payload, &sport,
					&src), -EBADMSG);
	assert_int_equal(pathsock_parse(AF_INET, pkt, len, WG_PORT + 1, &payload, &sport,
					&src), -EBADMSG);
	/* The UDP length must be the path message's. */
	pkt[28 + 5]++;
	assert_int_equal(pathsock_parse(AF_INET, pkt, len, WG_PORT, &payload, &sport,
					&src), -EBADMSG);
	len = ipv4(5, 0, WG_PORT, probe, 8, PATH_MSG_LEN + 1, 0);
	assert_int_equal(pathsock_parse(AF_INET, pkt, len, WG_PORT, &payload, &sport,
					&src), -EBADMSG);
	len = ipv4(5, IP_MF, WG_PORT, probe, 8, PATH_MSG_LEN, 0);
	assert_int_equal(pathsock_parse(AF_INET, pkt, len, WG_PORT, &payload, &sport,
					&src), -EBADMSG);
	/* Reserved bytes: the filter lets them through, path_peek not. */
	len = ipv4(5, 0, WG_PORT, probe, 6, PATH_MSG_LEN, 0);
	pkt[20 + 8 + 6] = 1;
	assert_int_equal(pathsock_parse(AF_INET, pkt, len, WG_PORT, &payload, &sport,
					&src), -EBADMSG);
	len = ipv4(5, 0, WG_PORT, probe, 8, PATH_MSG_LEN, 0);
	pkt[0] = 0x65;
	assert_int_equal(pathsock_parse(AF_INET, pkt, len, WG_PORT, &payload, &sport,
					&src), -EBADMSG);
	pkt[0] = 0x44;
	assert_int_equal(pathsock_parse(AF_INET, pkt, len, WG_PORT, &payload, &sport,
					&src), -EBADMSG);

	/* IPv6: the data starts at the UDP header. */
	len = ipv6(WG_PORT, reply, 8, PATH_MSG_LEN, 0);
	assert_int_equal(pathsock_parse(AF_INET6, pkt + 40, len, WG_PORT, &payload, &sport,
					&src), PATH_MSG_LEN);
	assert_ptr_equal(payload, pkt + 48);
	assert_int_equal(pathsock_parse(AF_INET6, pkt + 40, 7, WG_PORT, &payload, &sport,
					&src), -EBADMSG);
	assert_int_equal(pathsock_parse(AF_INET6, pkt + 40, len - 1, WG_PORT, &payload,
					&sport, &src), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wireguard_never_passes),
		cmocka_unit_test(test_path_messages_pass),
		cmocka_unit_test(test_other_datagrams_dropped),
		cmocka_unit_test(test_build_filter_errors),
		cmocka_unit_test(test_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
