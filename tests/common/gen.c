/* SPDX-License-Identifier: MIT */
/* Random kernel-valid classic BPF programs and packets; see gen.h. */
#include <string.h>
#include "gen.h"

void gen_init(struct gen *g, uint64_t seed)
{
	g->state = seed;
}

/* splitmix64: tiny, fast, and the same on every host. */
uint64_t gen_u64(struct gen *g)
{
	uint64_t z = (g->state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint32_t gen_u32(struct gen *g)
{
	return (uint32_t)(gen_u64(g) >> 32);
}

uint32_t gen_below(struct gen *g, uint32_t n)
{
	return (uint32_t)(((uint64_t)gen_u32(g) * n) >> 32);
}

static int gen_chance(struct gen *g, uint32_t one_in)
{
	return gen_below(g, one_in) == 0;
}

/* A program under construction: n instructions, pc the next to write. */
struct gen_prog {
	struct gen *g;
	struct sock_filter *insns;
	size_t n, pc;
	uint16_t stored;	/* scratch words the prefix stored */
	unsigned int flags;
};

static void gen_emit(struct gen_prog *p, uint16_t code, uint8_t jt,
		     uint8_t jf, uint32_t k)
{
	p->insns[p->pc++] = (struct sock_filter){ code, jt, jf, k };
}

/* A packet offset: mostly around the packet, sometimes at the edges of
 * the negative ranges and of int32. Never in the ancillary range for an
 * absolute load (that would be an ancillary load, chosen elsewhere). */
static uint32_t gen_offset(struct gen *g, int indirect)
{
	uint32_t k;

	switch (gen_below(g, 20)) {
	case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7:
		k = gen_below(g, 64);
		break;
	case 8: case 9:
		k = gen_below(g, GEN_MAX_PKT + 8);
		break;
	case 10: case 11:
		k = 250 + gen_below(g, 80);
		break;
	case 12: case 13:
		k = (uint32_t)SKF_NET_OFF + gen_below(g, 300);
		break;
	case 14:
		k = (uint32_t)SKF_LL_OFF + gen_below(g, 64);
		break;
	case 15:
		k = gen_chance(g, 2) ? 0x7fffffffU - gen_below(g, 8)
				     : 0x80000000U + gen_below(g, 8);
		break;
	case 16:
		k = (uint32_t)SKF_NET_OFF - 1 - gen_below(g, 4);
		break;
	case 17:
		k = (uint32_t)SKF_LL_OFF - 1 - gen_below(g, 4);
		break;
	case 18:
		k = gen_u32(g);
		break;
	default:	/* with X, wraps past 2^32 to a small offset */
		k = 0xffffffffU - gen_below(g, 16);
		break;
	}
	if (!indirect && k >= (uint32_t)SKF_AD_OFF)
		k = gen_below(g, 64);
	return k;
}

/* A value for A or X: small ones make packet offsets, large ones wrap. */
static uint32_t gen_value(struct gen *g)
{
	switch (gen_below(g, 12)) {
	case 0: return 0;
	case 1: return 1;
	case 2: case 3: return gen_below(g, 64);
	case 4: return gen_below(g, 330);
	case 5: return 0xffffffffU - gen_below(g, 8);
	case 6: return 32 + gen_below(g, 40);	/* shifts by X >= 32 */
	case 7: return (uint32_t)SKF_NET_OFF + gen_below(g, 16);
	case 8: return 0x80000000U + gen_below(g, 4);
	default: return gen_u32(g);
	}
}

static uint32_t gen_ret_value(struct gen *g)
{
	switch (gen_below(g, 8)) {
	case 0: return 0;
	case 1: return 0xffffffffU;
	case 2: return 1 + gen_below(g, 400);
	case 3: return 255 + gen_below(g, 4);
	case 4: return 0x10000U + gen_below(g, 0x100);
	default: return gen_u32(g);
	}
}

static const uint16_t gen_sizes[] = { BPF_W, BPF_H, BPF_B };

static uint16_t gen_size(struct gen *g)
{
	return gen_sizes[gen_below(g, 3)];
}

static const uint16_t gen_alu_ops[] = {
	BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND,
	BPF_LSH, BPF_RSH, BPF_MOD, BPF_XOR,
};

static void gen_alu(struct gen_prog *p)
{
	struct gen *g = p->g;
	uint16_t op = gen_alu_ops[gen_below(g, 10)];
	uint32_t k;

	if (gen_chance(g, 2)) {
		gen_emit(p, BPF_ALU | op | BPF_X, 0, 0, 0);
		return;
	}
	k = gen_value(g);
	if (op == BPF_LSH || op == BPF_RSH)
		k &= 31;
	else if ((op == BPF_DIV || op == BPF_MOD) && k == 0)
		k = 1 + gen_below(g, 16);
	gen_emit(p, BPF_ALU | op | BPF_K, 0, 0, k);
}

static const uint16_t gen_conds[] = { BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET };

/* A forward skip that stays inside the program, which ends at n - 1. */
static uint8_t gen_skip(struct gen_prog *p)
{
	size_t room = p->n - p->pc - 2;	/* p->pc is the jump itself */

	if (room > GEN_MAX_JUMP)
		room = GEN_MAX_JUMP;
	if (gen_chance(p->g, 3))
		return 0;
	return (uint8_t)gen_below(p->g, (uint32_t)room + 1);
}

static void gen_jump(struct gen_prog *p)
{
	struct gen *g = p->g;
	uint16_t cond = gen_conds[gen_below(g, 4)];
	uint8_t jt = gen_skip(p), jf = gen_skip(p);

	if (gen_chance(g, 8)) {
		uint32_t room = (uint32_t)(p->n - p->pc - 2);

		gen_emit(p, BPF_JMP | BPF_JA, 0, 0, gen_below(g, room + 1));
	} else if (gen_chance(g, 3)) {
		gen_emit(p, BPF_JMP | cond | BPF_X, jt, jf, 0);
	} else {
		gen_emit(p, BPF_JMP | cond | BPF_K, jt, jf, gen_value(g));
	}
}

static uint32_t gen_anc(struct gen_prog *p)
{
	static const uint32_t safe[] = {
		SKF_AD_PROTOCOL, SKF_AD_PKTTYPE, SKF_AD_NLATTR,
		SKF_AD_NLATTR_NEST, SKF_AD_MARK, SKF_AD_QUEUE, SKF_AD_RXHASH,
		SKF_AD_ALU_XOR_X, SKF_AD_ALU_XOR_X, SKF_AD_VLAN_TAG,
		SKF_AD_VLAN_TAG_PRESENT, SKF_AD_PAY_OFFSET, SKF_AD_VLAN_TPID,
	};
	struct gen *g = p->g;

	if (!(p->flags & GEN_NO_DEVICE) && gen_chance(g, 8))
		return gen_chance(g, 2) ? SKF_AD_IFINDEX : SKF_AD_HATYPE;
	if (!(p->flags & GEN_DETERMINISTIC) && gen_chance(g, 8))
		return gen_chance(g, 2) ? SKF_AD_RANDOM : SKF_AD_CPU;
	return safe[gen_below(g, sizeof(safe) / sizeof(safe[0]))];
}

/* "ld #a; ldx #type; ld nla|nlan": a search that can find something in
 * the attribute chains gen_packet() writes. Needs three slots. */
static void gen_nla(struct gen_prog *p)
{
	static const uint32_t starts[] = { 0, 4, 8, 12 };
	struct gen *g = p->g;
	uint32_t a = gen_chance(g, 4) ? gen_below(g, 40)
				      : starts[gen_below(g, 4)];
	uint32_t type = gen_chance(g, 8) ? gen_value(g) : gen_below(g, 8);
	uint32_t n = gen_chance(g, 2) ? SKF_AD_NLATTR : SKF_AD_NLATTR_NEST;

	gen_emit(p, BPF_LD | BPF_IMM, 0, 0, a);
	gen_emit(p, BPF_LDX | BPF_IMM, 0, 0, type);
	gen_emit(p, BPF_LD | gen_size(g) | BPF_ABS, 0, 0,
		 (uint32_t)SKF_AD_OFF + n);
}

/* "jeq #k1, T; jeq #k2, T; ...; jeq #kn, T, F": tcpdump's port lists.
 * Needs count + 1 slots. */
static void gen_jeq_chain(struct gen_prog *p, uint32_t count)
{
	struct gen *g = p->g;
	size_t last = p->pc + count - 1;	/* the last jeq */
	size_t hi = p->n - 1, target, i;

	if (hi > p->pc + 1 + GEN_MAX_JUMP)
		hi = p->pc + 1 + GEN_MAX_JUMP;
	target = last + 1 + gen_below(g, (uint32_t)(hi - last));
	for (i = 0; i < count; i++) {
		size_t at = p->pc;
		uint8_t jf = i + 1 < count ? 0 : gen_skip(p);

		gen_emit(p, BPF_JMP | BPF_JEQ | BPF_K, (uint8_t)(target - at - 1),
			 jf, gen_chance(g, 2) ? gen_below(g, 8) : gen_value(g));
	}
}

/* "ldxb 4*([k]&0xf); ld [x + k2]; j<cond> #v": tcpdump's IPv4 port
 * test. Needs three slots. */
static void gen_msh_ind(struct gen_prog *p)
{
	struct gen *g = p->g;

	gen_emit(p, BPF_LDX | BPF_B | BPF_MSH, 0, 0,
		 gen_chance(g, 2) ? gen_below(g, 16) : gen_offset(g, 0));
	gen_emit(p, BPF_LD | gen_size(g) | BPF_IND, 0, 0,
		 gen_chance(g, 2) ? gen_below(g, 32) : gen_offset(g, 1));
	gen_jump(p);
}

/* A scratch word the prefix stored, for a load. */
static uint32_t gen_stored_word(struct gen_prog *p)
{
	uint32_t i;

	for (;;) {
		i = gen_below(p->g, 16);
		if (p->stored & (1U << i))
			return i;
	}
}

static void gen_body_insn(struct gen_prog *p)
{
	struct gen *g = p->g;
	size_t left = p->n - 1 - p->pc;	/* slots before the final RET */
	uint32_t r = gen_below(g, 100);

	if (r < 14) {
		gen_emit(p, BPF_LD | gen_size(g) | BPF_ABS, 0, 0,
			 gen_offset(g, 0));
	} else if (r < 22) {
		gen_emit(p, BPF_LD | gen_size(g) | BPF_IND, 0, 0,
			 gen_offset(g, 1));
	} else if (r < 27) {
		gen_emit(p, BPF_LD | BPF_IMM, 0, 0, gen_value(g));
	} else if (r < 32) {
		gen_emit(p, BPF_LDX | BPF_IMM, 0, 0, gen_value(g));
	} else if (r < 34) {
		gen_emit(p, (gen_chance(g, 2) ? BPF_LD : BPF_LDX) | BPF_W |
			 BPF_LEN, 0, 0, 0);
	} else if (r < 38) {
		if (p->stored)
			gen_emit(p, (gen_chance(g, 2) ? BPF_LD : BPF_LDX) |
				 BPF_MEM, 0, 0, gen_stored_word(p));
		else
			gen_emit(p, BPF_MISC | BPF_TAX, 0, 0, 0);
	} else if (r < 41) {
		gen_emit(p, gen_chance(g, 2) ? BPF_ST : BPF_STX, 0, 0,
			 gen_below(g, 16));
	} else if (r < 45) {
		gen_emit(p, BPF_LDX | BPF_B | BPF_MSH, 0, 0, gen_offset(g, 0));
	} else if (r < 63) {
		gen_alu(p);
	} else if (r < 65) {
		gen_emit(p, BPF_ALU | BPF_NEG, 0, 0, 0);
	} else if (r < 69) {
		gen_emit(p, BPF_MISC | (gen_chance(g, 2) ? BPF_TAX : BPF_TXA),
			 0, 0, 0);
	} else if (r < 85) {
		gen_jump(p);
	} else if (r < 88) {
		if (gen_chance(g, 2))
			gen_emit(p, BPF_RET | BPF_K, 0, 0, gen_ret_value(g));
		else
			gen_emit(p, BPF_RET | BPF_A, 0, 0, 0);
	} else if (r < 92 || left < 4) {
		gen_emit(p, BPF_LD | gen_size(g) | BPF_ABS, 0, 0,
			 (uint32_t)SKF_AD_OFF + gen_anc(p));
	} else if (r < 95) {
		gen_nla(p);
	} else if (r < 98) {
		gen_jeq_chain(p, 2 + gen_below(g, (uint32_t)(left - 2 < 5 ?
							     left - 2 : 5)));
	} else {
		gen_msh_ind(p);
	}
}

/* Stores some scratch words before any jump, so that every later load of
 * them passes V12 whatever path reaches it. */
static void gen_prefix(struct gen_prog *p)
{
	struct gen *g = p->g;
	uint32_t count = gen_below(g, 4), i;

	if (p->n < 2 * count + 2)
		return;
	for (i = 0; i < count; i++) {
		uint32_t w = gen_below(g, 16);

		if (gen_chance(g, 2)) {
			gen_emit(p, BPF_LD | BPF_IMM, 0, 0, gen_value(g));
			gen_emit(p, BPF_ST, 0, 0, w);
		} else {
			gen_emit(p, BPF_LDX | BPF_IMM, 0, 0, gen_value(g));
			gen_emit(p, BPF_STX, 0, 0, w);
		}
		p->stored |= 1U << w;
	}
}

size_t gen_program(struct gen *g, struct sock_filter *insns, size_t max,
		   unsigned int flags)
{
	struct gen_prog p = { .g = g, .insns = insns, .flags = flags };

	if (max > GEN_MAX_INSNS)
		max = GEN_MAX_INSNS;
	/* Mostly short programs, some up to the maximum. */
	p.n = 2 + gen_below(g, gen_chance(g, 4) ? (uint32_t)max - 1 : 24);
	if (p.n > max)
		p.n = max;
	gen_prefix(&p);
	while (p.pc < p.n - 1)
		gen_body_insn(&p);
	if (gen_chance(g, 2))
		gen_emit(&p, BPF_RET | BPF_K, 0, 0, gen_ret_value(g));
	else
		gen_emit(&p, BPF_RET | BPF_A, 0, 0, 0);
	return p.n;
}

static void gen_put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));	/* host order, like struct nlattr */
}

/* A chain of netlink attributes in buf[pos..end), one level nested. */
static void gen_nla_chain(struct gen *g, uint8_t *buf, size_t pos,
			  size_t end, int depth)
{
	int count = 1 + (int)gen_below(g, 6);

	while (count-- > 0 && pos + 4 <= end) {
		size_t room = end - pos, alen;
		uint16_t type = (uint16_t)gen_below(g, 8);

		switch (gen_below(g, 10)) {
		case 0: alen = gen_below(g, 4); break;		/* < header */
		case 1: alen = room; break;			/* exact fit */
		case 2: alen = room + 1 + gen_below(g, 8); break; /* too long */
		default: alen = 4 + gen_below(g, 24); break;
		}
		if (gen_chance(g, 6))
			type |= gen_chance(g, 2) ? 0x8000 : 0x4000;
		gen_put16(buf + pos, (uint16_t)alen);
		gen_put16(buf + pos + 2, type);
		if (depth == 0 && alen > 8 && alen <= room && gen_chance(g, 3))
			gen_nla_chain(g, buf, pos + 4, pos + alen, 1);
		pos += (alen + 3) & ~(size_t)3;
		if (alen < 4)
			break;
	}
}

void gen_packet_fill(struct gen *g, uint8_t *buf, size_t len)
{
	int small = gen_chance(g, 2);
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = small && !gen_chance(g, 4) ? (uint8_t)gen_below(g, 8)
						    : (uint8_t)gen_u32(g);
	if (len >= 4 && gen_chance(g, 3)) {
		static const size_t starts[] = { 0, 4, 8 };
		size_t start = starts[gen_below(g, 3)];

		if (start < len)
			gen_nla_chain(g, buf, start, len, 0);
	}
}

size_t gen_packet(struct gen *g, uint8_t *buf, size_t max)
{
	size_t len;

	switch (gen_below(g, 10)) {
	case 0: case 1: case 2:
		len = gen_below(g, 65);
		break;
	case 3: case 4: case 5:
		len = gen_below(g, 301);
		break;
	default:
		len = 257 + gen_below(g, GEN_MAX_PKT - 257 + 1);
		break;
	}
	if (len > max)
		len = max;
	gen_packet_fill(g, buf, len);
	return len;
}

void gen_print_ddd(FILE *f, const struct sock_filter *insns, size_t len)
{
	size_t i;

	fprintf(f, "%zu\n", len);
	for (i = 0; i < len; i++)
		fprintf(f, "%u %u %u %u\n", insns[i].code, insns[i].jt,
			insns[i].jf, insns[i].k);
}

void gen_print_hex(FILE *f, const uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		fprintf(f, "%02x%s", buf[i],
			(i % 16 == 15 || i + 1 == len) ? "\n" : " ");
	if (!len)
		fprintf(f, "(empty)\n");
}
