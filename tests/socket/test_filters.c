/* SPDX-License-Identifier: MIT */
/*
 * cbpf_filter_udp4() and cbpf_filter_udp6() run in the VM on crafted
 * packets, as a raw socket's filter would see them: the IPv4 header first
 * for AF_INET, the UDP header first for AF_INET6.
 *
 * The IPv6 source address is read through SKF_NET_OFF. On an IPv6 raw
 * socket the network header lies *before* byte 0 of what the filter sees:
 * the tests build that layout, the IPv6 header then the datagram, and run
 * the filter on the datagram with the header as headroom in front of it
 * (cbpf_ctx_raw6(): net_off = -40, headroom = 40), as the kernel does.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <linux/if_ether.h>

#include "cbpf/filters.h"
#include "cbpf/validate.h"
#include "cbpf/vm.h"

#define ACCEPT 0xffffffffU
#define DROP 0U

#define SRC4 "198.18.0.2"
#define OTHER4 "198.18.0.3"
#define DST4 "198.18.0.1"
#define SRC6 "2001:db8::2"
#define OTHER6 "2001:db8::3"

struct pkt {
	uint8_t b[256];
	size_t len;
};

/* How an IPv4 datagram is built; zero values mean "the normal thing". */
struct v4 {
	int ihl;		/* 32-bit words; 0: 5 */
	uint16_t frag;		/* flags + fragment offset, host order */
	uint8_t proto;		/* 0: UDP */
	const char *src;	/* NULL: SRC4 */
	uint16_t sport, dport;
	size_t payload;
	const uint8_t *options;	/* (ihl - 5) * 4 bytes, or NULL: NOPs */
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_udp(uint8_t *p, uint16_t sport, uint16_t dport,
		    size_t payload)
{
	size_t i;

	put16(p, sport);
	put16(p + 2, dport);
	put16(p + 4, (uint16_t)(8 + payload));
	put16(p + 6, 0);
	for (i = 0; i < payload; i++)
		p[8 + i] = (uint8_t)('a' + i % 26);
}

static struct pkt build4(const struct v4 *v)
{
	struct pkt pk;
	int ihl = v->ihl ? v->ihl : 5;
	size_t hl = (size_t)ihl * 4;

	memset(&pk, 0, sizeof(pk));
	pk.len = hl + 8 + v->payload;
	assert_true(pk.len <= sizeof(pk.b));
	pk.b[0] = (uint8_t)(0x40 | ihl);
	put16(pk.b + 2, (uint16_t)pk.len);
	put16(pk.b + 6, v->frag);
	pk.b[8] = 64;
	pk.b[9] = v->proto ? v->proto : IPPROTO_UDP;
	assert_int_equal(inet_pton(AF_INET, v->src ? v->src : SRC4,
				   pk.b + 12), 1);
	assert_int_equal(inet_pton(AF_INET, DST4, pk.b + 16), 1);
	if (v->options)
		memcpy(pk.b + 20, v->options, hl - 20);
	else
		memset(pk.b + 20, 1, hl - 20);	/* IPOPT_NOP */
	put_udp(pk.b + hl, v->sport, v->dport, v->payload);
	return pk;
}

/* The skb of an AF_INET raw socket on lo: network header at byte 0. */
static struct cbpf_ctx ctx4(void)
{
	return (struct cbpf_ctx){
		.has_dev = true,
		.ifindex = 1,
		.hatype = ARPHRD_LOOPBACK,
		.protocol = ETH_P_IP,
		.net_off = 0,
		.ll_off = CBPF_NO_HEADER,
	};
}

static struct cbpf_prog filter4(const struct cbpf_udp_match *m)
{
	struct cbpf_prog prog;
	struct cbpf_error err;

	assert_int_equal(cbpf_filter_udp4(m, &prog), 0);
	assert_int_equal(cbpf_validate(&prog, &err), 0);
	return prog;
}

static uint32_t run4(const struct cbpf_prog *prog, const struct v4 *v)
{
	struct cbpf_ctx ctx = ctx4();
	struct pkt pk = build4(v);

	return cbpf_run(prog, pk.b, pk.len, &ctx);
}

static struct cbpf_udp_match match4(const char *src, uint16_t sport,
				    uint16_t dport, uint16_t min_payload)
{
	struct cbpf_udp_match m = {
		.sport = sport,
		.dport = dport,
		.min_payload = min_payload,
	};

	if (src) {
		m.match_saddr = true;
		assert_int_equal(inet_pton(AF_INET, src, &m.saddr.v4), 1);
	}
	return m;
}

static void test_udp4_ports(void **state)
{
	struct cbpf_udp_match m = match4(NULL, 0, 8080, 0);
	struct cbpf_prog prog = filter4(&m);

	(void)state;
	assert_int_equal(run4(&prog, &(struct v4){ .sport = 1, .dport = 8080 }),
			 ACCEPT);
	assert_int_equal(run4(&prog, &(struct v4){ .sport = 8080, .dport = 8081 }),
			 DROP);
	assert_int_equal(run4(&prog, &(struct v4){ .dport = 0x901f }), DROP);
	cbpf_prog_free(&prog);

	m = match4(NULL, 53, 8080, 0);
	prog = filter4(&m);
	assert_int_equal(run4(&prog, &(struct v4){ .sport = 53, .dport = 8080 }),
			 ACCEPT);
	assert_int_equal(run4(&prog, &(struct v4){ .sport = 54, .dport = 8080 }),
			 DROP);
	assert_int_equal(run4(&prog, &(struct v4){ .sport = 8080, .dport = 53 }),
			 DROP);
	cbpf_prog_free(&prog);

	/* Nothing set: any complete, unfragmented UDP datagram. */
	m = match4(NULL, 0, 0, 0);
	prog = filter4(&m);
	assert_int_equal(run4(&prog, &(struct v4){ .sport = 7, .dport = 9 }),
			 ACCEPT);
	assert_int_equal(run4(&prog, &(struct v4){ .proto = IPPROTO_TCP }),
			 DROP);
	cbpf_prog_free(&prog);
}

/* IP options move the UDP header: the filter must follow the IHL. The
 * options here put 8080 where a 20-byte-header filter would look. */
static void test_udp4_options(void **state)
{
	static const uint8_t decoy[8] = { 1, 1, 0x1f, 0x90, 1, 1, 1, 0 };
	struct cbpf_udp_match m = match4(SRC4, 0, 8080, 0);
	struct cbpf_prog prog = filter4(&m);
	int ihl;

	(void)state;
	for (ihl = 5; ihl <= 15; ihl++) {
		assert_int_equal(run4(&prog, &(struct v4){ .ihl = ihl,
							   .dport = 8080 }),
				 ACCEPT);
		assert_int_equal(run4(&prog, &(struct v4){ .ihl = ihl,
							   .dport = 9999 }),
				 DROP);
	}
	assert_int_equal(run4(&prog, &(struct v4){ .ihl = 7, .options = decoy,
						   .dport = 9999 }),
			 DROP);
	assert_int_equal(run4(&prog, &(struct v4){ .ihl = 7, .options = decoy,
						   .dport = 8080 }),
			 ACCEPT);
	cbpf_prog_free(&prog);
}

static void test_udp4_fragments(void **state)
{
	struct cbpf_udp_match m = match4(NULL, 0, 8080, 0);
	struct cbpf_prog prog = filter4(&m);

	(void)state;
	/* First fragment (MF, offset 0): its ports are real but its length
	 * is not the datagram's. Later fragments have no UDP header at all;
	 * here the bytes where the ports would be say 8080. */
	assert_int_equal(run4(&prog, &(struct v4){ .frag = 0x2000,
						   .dport = 8080 }),
			 DROP);
	assert_int_equal(run4(&prog, &(struct v4){ .frag = 0x0001,
						   .dport = 8080 }),
			 DROP);
	assert_int_equal(run4(&prog, &(struct v4){ .frag = 0x1fff,
						   .dport = 8080 }),
			 DROP);
	assert_int_equal(run4(&prog, &(struct v4){ .frag = 0x2000 | 185,
						   .dport = 8080 }),
			 DROP);
	/* DF is not a fragment; the reserved bit is outside the mask too. */
	assert_int_equal(run4(&prog, &(struct v4){ .frag = 0x4000,
						   .dport = 8080 }),
			 ACCEPT);
	assert_int_equal(run4(&prog, &(struct v4){ .frag = 0x8000,
						   .dport = 8080 }),
			 ACCEPT);
	cbpf_prog_free(&prog);
}

static void test_udp4_source(void **state)
{
	struct cbpf_udp_match m = match4(SRC4, 0, 0, 0);
	struct cbpf_prog prog = filter4(&m);

	(void)state;
	assert_int_equal(run4(&prog, &(struct v4){ .dport = 1 }), ACCEPT);
	assert_int_equal(run4(&prog, &(struct v4){ .src = OTHER4 }), DROP);
	/* Byte order: the same bytes reversed must not match. */
	assert_int_equal(run4(&prog, &(struct v4){ .src = "2.0.18.198" }),
			 DROP);
	cbpf_prog_free(&prog);
}

static void test_udp4_length(void **state)
{
	struct cbpf_udp_match m = match4(NULL, 0, 8080, 0);
	struct cbpf_prog prog = filter4(&m);
	struct cbpf_ctx ctx = ctx4();
	struct pkt pk;
	size_t cut;

	(void)state;
	/* Any cut through the IPv4 or UDP header drops. */
	pk = build4(&(struct v4){ .ihl = 6, .dport = 8080 });
	assert_int_equal(cbpf_run(&prog, pk.b, pk.len, &ctx), ACCEPT);
	for (cut = 0; cut < pk.len; cut++)
		assert_int_equal(cbpf_run(&prog, pk.b, cut, &ctx), DROP);
	cbpf_prog_free(&prog);

	m = match4(NULL, 0, 8080, 4);
	prog = filter4(&m);
	assert_int_equal(run4(&prog, &(struct v4){ .dport = 8080, .payload = 3 }),
			 DROP);
	assert_int_equal(run4(&prog, &(struct v4){ .dport = 8080, .payload = 4 }),
			 ACCEPT);
	assert_int_equal(run4(&prog, &(struct v4){ .ihl = 8, .dport = 8080,
						   .payload = 3 }),
			 DROP);
	assert_int_equal(run4(&prog, &(struct v4){ .ihl = 8, .dport = 8080,
						   .payload = 100 }),
			 ACCEPT);
	cbpf_prog_free(&prog);

	/* The largest min_payload still makes a valid program. */
	m = match4(NULL, 0, 0, 0xffff);
	prog = filter4(&m);
	assert_int_equal(run4(&prog, &(struct v4){ .payload = 200 }), DROP);
	cbpf_prog_free(&prog);
}

/*
 * IPv6: the IPv6 header (source src) at b[0..40), then the datagram.
 * The filter sees the datagram, from b + IP6_HLEN.
 */
#define IP6_HLEN 40

static struct pkt build6(const char *src, uint16_t sport, uint16_t dport,
			 size_t payload)
{
	struct pkt pk;

	memset(&pk, 0, sizeof(pk));
	pk.len = IP6_HLEN + 8 + payload;
	assert_true(pk.len <= sizeof(pk.b));
	pk.b[0] = 0x60;
	put16(pk.b + 4, (uint16_t)(8 + payload));
	pk.b[6] = IPPROTO_UDP;
	pk.b[7] = 64;
	assert_int_equal(inet_pton(AF_INET6, src, pk.b + 8), 1);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", pk.b + 24), 1);
	put_udp(pk.b + IP6_HLEN, sport, dport, payload);
	return pk;
}

/* The skb of an AF_INET6 raw socket on lo. */
static struct cbpf_ctx ctx6(void)
{
	struct cbpf_ctx ctx = cbpf_ctx_raw6();

	ctx.has_dev = true;
	ctx.ifindex = 1;
	ctx.hatype = ARPHRD_LOOPBACK;
	return ctx;
}

/* Runs prog on the first len bytes of the datagram in pk. */
static uint32_t run6_pkt(const struct cbpf_prog *prog, const struct pkt *pk,
			 size_t len, const struct cbpf_ctx *ctx)
{
	assert_true(IP6_HLEN + len <= pk->len);
	return cbpf_run(prog, pk->b + IP6_HLEN, len, ctx);
}

static struct cbpf_udp_match match6(const char *src, uint16_t sport,
				    uint16_t dport, uint16_t min_payload)
{
	struct cbpf_udp_match m = {
		.sport = sport,
		.dport = dport,
		.min_payload = min_payload,
	};

	if (src) {
		m.match_saddr = true;
		assert_int_equal(inet_pton(AF_INET6, src, &m.saddr.v6), 1);
	}
	return m;
}

static struct cbpf_prog filter6(const struct cbpf_udp_match *m)
{
	struct cbpf_prog prog;
	struct cbpf_error err;

	assert_int_equal(cbpf_filter_udp6(m, &prog), 0);
	assert_int_equal(cbpf_validate(&prog, &err), 0);
	return prog;
}

static uint32_t run6(const struct cbpf_prog *prog, uint16_t sport,
		     uint16_t dport, size_t payload)
{
	struct pkt pk = build6(SRC6, sport, dport, payload);
	struct cbpf_ctx ctx = ctx6();

	return run6_pkt(prog, &pk, pk.len - IP6_HLEN, &ctx);
}

static uint32_t run6_from(const struct cbpf_prog *prog, const char *src,
			  uint16_t dport)
{
	struct pkt pk = build6(src, 1000, dport, 16);
	struct cbpf_ctx ctx = ctx6();

	return run6_pkt(prog, &pk, pk.len - IP6_HLEN, &ctx);
}

static void test_udp6_ports(void **state)
{
	struct cbpf_udp_match m = match6(NULL, 0, 8080, 0);
	struct cbpf_prog prog = filter6(&m);

	(void)state;
	assert_int_equal(run6(&prog, 1, 8080, 0), ACCEPT);
	assert_int_equal(run6(&prog, 8080, 8081, 0), DROP);
	cbpf_prog_free(&prog);

	m = match6(NULL, 53, 8080, 0);
	prog = filter6(&m);
	assert_int_equal(run6(&prog, 53, 8080, 5), ACCEPT);
	assert_int_equal(run6(&prog, 54, 8080, 5), DROP);
	assert_int_equal(run6(&prog, 8080, 53, 5), DROP);
	cbpf_prog_free(&prog);

	/* Without an address match the network header is never read. */
	m = match6(NULL, 0, 0, 0);
	prog = filter6(&m);
	assert_int_equal(run6(&prog, 9, 9, 0), ACCEPT);
	cbpf_prog_free(&prog);
}

static void test_udp6_source(void **state)
{
	struct cbpf_udp_match m = match6(SRC6, 0, 8080, 0);
	struct cbpf_prog prog = filter6(&m);
	static const char *const near[] = {
		/* one differing word each */
		"2001:db9::2", "2001:db8:0:1::2", "2001:db8::1:0:0:2",
		OTHER6,
	};
	struct cbpf_ctx ctx;
	struct pkt pk;
	size_t i;

	(void)state;
	assert_int_equal(run6_from(&prog, SRC6, 8080), ACCEPT);
	assert_int_equal(run6_from(&prog, SRC6, 8081), DROP);
	for (i = 0; i < sizeof(near) / sizeof(near[0]); i++)
		assert_int_equal(run6_from(&prog, near[i], 8080), DROP);

	/* The address is read from the headroom only: with the header
	 * outside it (or none), the load fails and drops. */
	pk = build6(SRC6, 1000, 8080, 16);
	ctx = ctx6();
	assert_int_equal(run6_pkt(&prog, &pk, 24, &ctx), ACCEPT);
	ctx.headroom = IP6_HLEN - 1;
	assert_int_equal(run6_pkt(&prog, &pk, 24, &ctx), DROP);
	ctx = ctx6();
	ctx.net_off = CBPF_NO_HEADER;
	assert_int_equal(run6_pkt(&prog, &pk, 24, &ctx), DROP);
	cbpf_prog_free(&prog);
}

static void test_udp6_length(void **state)
{
	struct cbpf_udp_match m = match6(NULL, 0, 8080, 0);
	struct cbpf_prog prog = filter6(&m);
	struct cbpf_ctx ctx = ctx6();
	struct pkt pk;
	size_t cut;

	(void)state;
	pk = build6(SRC6, 1, 8080, 0);
	for (cut = 0; cut < 8; cut++)
		assert_int_equal(run6_pkt(&prog, &pk, cut, &ctx), DROP);
	assert_int_equal(run6_pkt(&prog, &pk, 8, &ctx), ACCEPT);
	cbpf_prog_free(&prog);

	m = match6(NULL, 0, 8080, 10);
	prog = filter6(&m);
	assert_int_equal(run6(&prog, 1, 8080, 9), DROP);
	assert_int_equal(run6(&prog, 1, 8080, 10), ACCEPT);
	assert_int_equal(run6(&prog, 1, 8080, 11), ACCEPT);
	cbpf_prog_free(&prog);

	/* The length counts from the UDP header, not the IPv6 header in
	 * front of it, also when the address is read from there. */
	m = match6(SRC6, 0, 8080, 10);
	prog = filter6(&m);
	assert_int_equal(run6(&prog, 1, 8080, 9), DROP);
	assert_int_equal(run6(&prog, 1, 8080, 10), ACCEPT);
	cbpf_prog_free(&prog);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_udp4_ports),
		cmocka_unit_test(test_udp4_options),
		cmocka_unit_test(test_udp4_fragments),
		cmocka_unit_test(test_udp4_source),
		cmocka_unit_test(test_udp4_length),
		cmocka_unit_test(test_udp6_ports),
		cmocka_unit_test(test_udp6_source),
		cmocka_unit_test(test_udp6_length),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
