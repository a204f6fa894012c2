/* SPDX-License-Identifier: MIT */
/*
 * Ready-made filters for raw UDP sockets, written with the label builder.
 *
 * They exist because the obvious hand-written filter is wrong in ways
 * that matter: it assumes a 20-byte IPv4 header (IP options move the
 * ports), it reads "ports" out of non-first fragments, and it trusts the
 * packet to be long enough. Here the UDP header is found through the IHL,
 * fragments are dropped, and a length check comes before any use of the
 * payload. Every check jumps to one "drop" label.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <linux/filter.h>

#include "cbpf/builder.h"
#include "cbpf/filters.h"

#define ACCEPT_ALL	0xffffffffU	/* deliver the whole datagram */
#define DROP		0U

#define IPV4_PROTO_OFF	9	/* IPv4 header: protocol byte */
#define IPV4_FRAG_OFF	6	/* flags (3 bits) + fragment offset (13) */
#define IPV4_MF_OFFSET	0x3fff	/* MF flag | fragment offset; not DF */
#define IPV4_SADDR_OFF	12
#define IPV6_SADDR_OFF	8	/* from the start of the IPv6 header */
#define UDP_SPORT_OFF	0
#define UDP_DPORT_OFF	2
#define UDP_HDR_LEN	8

/* Index of the last byte a datagram must have, counted from the start of
 * the UDP header: the header itself plus min_payload bytes. */
static uint32_t udp_last_byte(const struct cbpf_udp_match *m)
{
	return UDP_HDR_LEN + (uint32_t)m->min_payload - 1;
}

/* A load from the UDP header: at X when X holds the IPv4 header length,
 * at a fixed offset when the packet starts with the UDP header. */
static void ld_udp(struct cbpf_builder *b, bool at_x, enum cbpf_size size,
		   uint32_t off)
{
	if (at_x)
		cbpf_ld_ind(b, size, off);
	else
		cbpf_ld_abs(b, size, off);
}

/* The checks on the UDP header and its length, then accept, and the
 * shared drop target. */
static void emit_udp_checks(struct cbpf_builder *b,
			    const struct cbpf_udp_match *m, bool at_x)
{
	/* A load past the end of the packet ends the run with 0, so
	 * loading the last byte we need is the length check: shorter
	 * datagrams are dropped, and every later load is in range. */
	ld_udp(b, at_x, CBPF_SIZE_B, udp_last_byte(m));
	if (m->sport) {
		ld_udp(b, at_x, CBPF_SIZE_H, UDP_SPORT_OFF);
		cbpf_jmp_k(b, CBPF_COND_NE, m->sport, "drop", NULL);
	}
	if (m->dport) {
		ld_udp(b, at_x, CBPF_SIZE_H, UDP_DPORT_OFF);
		cbpf_jmp_k(b, CBPF_COND_NE, m->dport, "drop", NULL);
	}
	cbpf_ret_k(b, ACCEPT_ALL);
	cbpf_label(b, "drop");
	cbpf_ret_k(b, DROP);
}

/* Loads are big-endian: compare against the address in host order. */
static uint32_t be32_at(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static int finish(struct cbpf_builder *b, struct cbpf_prog *prog)
{
	int ret;

	ret = cbpf_builder_finish(b, prog, NULL);
	cbpf_builder_free(b);
	return ret;
}

int cbpf_filter_udp4(const struct cbpf_udp_match *match,
		     struct cbpf_prog *prog)
{
	struct cbpf_builder *b;

	*prog = (struct cbpf_prog){ 0 };
	b = cbpf_builder_new();
	if (!b)
		return -ENOMEM;

	/* The socket is IPPROTO_UDP already, but the program may be
	 * attached elsewhere: make sure these really are UDP headers. */
	cbpf_ld_abs(b, CBPF_SIZE_B, IPV4_PROTO_OFF);
	cbpf_jmp_k(b, CBPF_COND_NE, IPPROTO_UDP, "drop", NULL);
	/* Only a first fragment carries the UDP header, and a fragment's
	 * length says nothing about the datagram's: drop any fragment (MF
	 * set or a non-zero offset). DF is fine. A raw socket is handed
	 * datagrams after reassembly, so there this is defence in depth;
	 * it keeps the program right where it sees single fragments. */
	cbpf_ld_abs(b, CBPF_SIZE_H, IPV4_FRAG_OFF);
	cbpf_jmp_k(b, CBPF_COND_SET, IPV4_MF_OFFSET, "drop", NULL);
	if (match->match_saddr) {
		cbpf_ld_abs(b, CBPF_SIZE_W, IPV4_SADDR_OFF);
		cbpf_jmp_k(b, CBPF_COND_NE,
			   be32_at((const uint8_t *)&match->saddr.v4.s_addr),
			   "drop", NULL);
	}
	/* X = IHL * 4: the UDP header follows any IP options. */
	cbpf_ldx_msh(b, 0);
	emit_udp_checks(b, match, true);
	return finish(b, prog);
}

int cbpf_filter_udp6(const struct cbpf_udp_match *match,
		     struct cbpf_prog *prog)
{
	const uint8_t *sa;
	struct cbpf_builder *b;
	uint32_t i;

	*prog = (struct cbpf_prog){ 0 };
	b = cbpf_builder_new();
	if (!b)
		return -ENOMEM;

	/* An IPv6 raw socket gets only datagrams whose last next-header
	 * is its protocol, after extension headers and reassembly, and
	 * the data starts at that (UDP) header: no protocol or fragment
	 * check is possible or needed. The IPv6 header itself is reached
	 * through SKF_NET_OFF. */
	if (match->match_saddr) {
		sa = match->saddr.v6.s6_addr;
		/* Four words, each one a load and a compare. */
		for (i = 0; i < 4; i++) {
			cbpf_ld_abs(b, CBPF_SIZE_W, (uint32_t)SKF_NET_OFF +
						    IPV6_SADDR_OFF + 4 * i);
			cbpf_jmp_k(b, CBPF_COND_NE, be32_at(sa + 4 * i), "drop",
				   NULL);
		}
	}
	/* The UDP header is at offset 0. */
	emit_udp_checks(b, match, false);
	return finish(b, prog);
}
