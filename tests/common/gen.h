/* SPDX-License-Identifier: MIT */
/*
 * Test helpers: a seeded generator of random classic BPF programs that the
 * kernel accepts, and of packets worth running them on.
 *
 * Programs are what the differential tests feed to the VM, the validator,
 * the printers and the kernel, so they exercise everything: all 49
 * opcodes, forward jumps (conditional and ja), RET in the middle, scratch
 * memory (a straight-line prefix stores the words that are later loaded,
 * so the kernel's read-before-write check V12 passes), ancillary loads,
 * SKF_NET_OFF/SKF_LL_OFF offsets, LD IND offsets that wrap at 32 bits,
 * DIV/MOD by X (0 included), shifts by X >= 32 and LDX MSH. Constants are
 * drawn near the edges that matter (packet length, 2^31, 2^32).
 *
 * Everything is deterministic for a given seed, on every host.
 */
#ifndef TESTS_COMMON_GEN_H
#define TESTS_COMMON_GEN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/filter.h>

#define GEN_MAX_INSNS 64	/* longest program gen_program() makes */
#define GEN_MAX_JUMP 100	/* largest jt/jf it emits */
#define GEN_MAX_PKT 320		/* longest packet gen_packet() makes */

struct gen {
	uint64_t state;
};

enum gen_flags {
	/* No SKF_AD_RANDOM or SKF_AD_CPU loads: the kernel's answer to
	 * those is not reproducible, so kernel comparisons need this. */
	GEN_DETERMINISTIC = 1U << 0,
	/* No SKF_AD_IFINDEX/HATYPE loads (they end an AF_UNIX run early). */
	GEN_NO_DEVICE = 1U << 1,
};

/* Seeds g. The same seed gives the same sequence everywhere. */
void gen_init(struct gen *g, uint64_t seed);

/* Uniform 32/64-bit values, and a value in [0, n) (n > 0). */
uint32_t gen_u32(struct gen *g);
uint64_t gen_u64(struct gen *g);
uint32_t gen_below(struct gen *g, uint32_t n);

/*
 * Writes a random program that cbpf_validate() and the kernel accept into
 * insns[0..max) and returns its length (2..min(max, GEN_MAX_INSNS); max
 * must be >= 2). flags: enum gen_flags.
 */
size_t gen_program(struct gen *g, struct sock_filter *insns, size_t max,
		   unsigned int flags);

/*
 * Writes a random packet into buf[0..max) and returns its length, from 0
 * to min(max, GEN_MAX_PKT), with about a third of them >= 257 bytes.
 * Contents are random, biased to small byte values, and often hold a
 * chain of netlink attributes (host-endian nla_len/nla_type, some nested,
 * some malformed) at offset 0, 4 or 8 for the NLATTR loads to find.
 */
size_t gen_packet(struct gen *g, uint8_t *buf, size_t max);

/* Writes a packet of exactly len bytes (len <= max) the same way. */
void gen_packet_fill(struct gen *g, uint8_t *buf, size_t len);

/* Prints insns in tcpdump -ddd form (count line, then "code jt jf k"). */
void gen_print_ddd(FILE *f, const struct sock_filter *insns, size_t len);

/* Prints buf as hex, 16 bytes a line. */
void gen_print_hex(FILE *f, const uint8_t *buf, size_t len);

#endif
