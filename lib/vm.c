/* SPDX-License-Identifier: MIT */
/*
 * libcbpf — the VM: classic BPF with the kernel's runtime semantics
 * (kernel-cbpf.md B.2, R1-R10).
 *
 * Every instruction is first decoded into a struct vm_insn: a dense op
 * number that already says which path a load takes (plain offset,
 * header-relative negative offset, indirect, ancillary), absolute jump
 * targets, and VM_INVALID for anything the kernel would not accept on its
 * own (unknown opcode, jump past the end, scratch index >= 16, constant
 * division by 0, constant shift >= 32, unknown ancillary). The run loop
 * then needs no further checks to stay inside the packet and its state:
 * the only bounds it tests are the packet's.
 *
 * cbpf_run() and cbpf_run_trace() decode each instruction as they reach
 * it (vm_exec(), a switch), so they need no allocation, accept any array
 * and trace every original instruction. cbpf_vm_new() decodes the whole
 * program once, appends a VM_INVALID sentinel (running off the end) and
 * cuts the number of dispatches, which is where an interpreter's time
 * goes: a packet load followed by a conditional jump on a constant
 * becomes one op, so does "ldxb 4*([k]&0xf); ld [x + k]" (with the jump
 * after it, if any), and a chain of "jeq #k" with one shared true target
 * (tcpdump's port lists) becomes one membership test. cbpf_vm_run() runs
 * that with vm_threaded(). Both interpreters expand the same op bodies
 * (VM_OPS), so there is one definition of what every op does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_ether.h>
#include <netinet/ip6.h>
#include "cbpf.h"

enum vm_op {
	VM_INVALID = 0,
	VM_RET_K, VM_RET_A,
	VM_LD_IMM, VM_LD_LEN, VM_LD_MEM,
	VM_LD_W, VM_LD_H, VM_LD_B,		/* ABS, 0 <= k < 2^31 */
	VM_LD_NEG_W, VM_LD_NEG_H, VM_LD_NEG_B,	/* ABS, header-relative k */
	VM_LD_IND_W, VM_LD_IND_H, VM_LD_IND_B,
	VM_LDX_IMM, VM_LDX_LEN, VM_LDX_MEM, VM_LDX_MSH,
	VM_ST, VM_STX,
	VM_ADD_K, VM_SUB_K, VM_MUL_K, VM_DIV_K, VM_MOD_K,
	VM_OR_K, VM_AND_K, VM_XOR_K, VM_LSH_K, VM_RSH_K,
	VM_ADD_X, VM_SUB_X, VM_MUL_X, VM_DIV_X, VM_MOD_X,
	VM_OR_X, VM_AND_X, VM_XOR_X, VM_LSH_X, VM_RSH_X,
	VM_NEG, VM_TAX, VM_TXA,
	VM_JA,
	VM_JEQ_K, VM_JGT_K, VM_JGE_K, VM_JSET_K,
	VM_JEQ_X, VM_JGT_X, VM_JGE_X, VM_JSET_X,
	/* Ancillary loads, SKF_AD_OFF + n, in the order of n / 4. */
	VM_ANC_PROTOCOL, VM_ANC_PKTTYPE, VM_ANC_IFINDEX, VM_ANC_NLATTR,
	VM_ANC_NLATTR_NEST, VM_ANC_MARK, VM_ANC_QUEUE, VM_ANC_HATYPE,
	VM_ANC_RXHASH, VM_ANC_CPU, VM_ANC_ALU_XOR_X, VM_ANC_VLAN_TAG,
	VM_ANC_VLAN_TAG_PRESENT, VM_ANC_PAY_OFFSET, VM_ANC_RANDOM,
	VM_ANC_VLAN_TPID,
	/* Only made by the vm_fuse_*() passes of cbpf_vm_new(): */
	VM_JIN,			/* A in set[k2..k2+n) ? jt : jf */
	/* X = 4 * (P[k] & 0xf); A = P[X + k3] */
	VM_MSH_IND_W, VM_MSH_IND_H, VM_MSH_IND_B,
	/* A load, then a conditional jump with the constant k2 (JIN: the
	 * set k2, n). Each group in the order of VM_JEQ_K..VM_JSET_K, JIN. */
#define VM_FUSED_GROUP(l) \
	VM_##l##_JEQ, VM_##l##_JGT, VM_##l##_JGE, VM_##l##_JSET, VM_##l##_JIN
	VM_FUSED_GROUP(LD_W), VM_FUSED_GROUP(LD_H), VM_FUSED_GROUP(LD_B),
	VM_FUSED_GROUP(IND_W), VM_FUSED_GROUP(IND_H), VM_FUSED_GROUP(IND_B),
	VM_FUSED_GROUP(MSH_IND_W), VM_FUSED_GROUP(MSH_IND_H),
	VM_FUSED_GROUP(MSH_IND_B),
#undef VM_FUSED_GROUP
	VM_OP_COUNT
};

/* Absolute jump targets fit in 16 bits: programs are at most 4096 long. */
struct vm_insn {
	const void *label;	/* the op's code in vm_threaded() */
	uint32_t k;
	uint32_t k2;		/* fused ops: the jump's constant or set */
	uint32_t k3;		/* MSH_IND ops: the LD IND's k */
	uint16_t jt, jf;	/* absolute targets (JA: jt) */
	uint16_t n;		/* JIN: set size */
	uint8_t op;
};

struct cbpf_vm {
	uint32_t len;
	bool uses_mem;		/* has LD/LDX MEM: scratch must start zeroed */
	uint32_t *set;		/* the JIN constants */
	struct vm_insn code[];	/* len + 1: code[len] is VM_INVALID */
};

/*
 * The kernel's 49 opcodes (chk_code_allowed), each mapped to its op.
 * LD ABS is refined by vm_decode() (negative and ancillary offsets).
 * Anything not listed is 0, VM_INVALID.
 */
static const uint8_t vm_code_op[256] = {
	[BPF_ALU | BPF_ADD | BPF_K] = VM_ADD_K,
	[BPF_ALU | BPF_ADD | BPF_X] = VM_ADD_X,
	[BPF_ALU | BPF_SUB | BPF_K] = VM_SUB_K,
	[BPF_ALU | BPF_SUB | BPF_X] = VM_SUB_X,
	[BPF_ALU | BPF_MUL | BPF_K] = VM_MUL_K,
	[BPF_ALU | BPF_MUL | BPF_X] = VM_MUL_X,
	[BPF_ALU | BPF_DIV | BPF_K] = VM_DIV_K,
	[BPF_ALU | BPF_DIV | BPF_X] = VM_DIV_X,
	[BPF_ALU | BPF_MOD | BPF_K] = VM_MOD_K,
	[BPF_ALU | BPF_MOD | BPF_X] = VM_MOD_X,
	[BPF_ALU | BPF_AND | BPF_K] = VM_AND_K,
	[BPF_ALU | BPF_AND | BPF_X] = VM_AND_X,
	[BPF_ALU | BPF_OR | BPF_K] = VM_OR_K,
	[BPF_ALU | BPF_OR | BPF_X] = VM_OR_X,
	[BPF_ALU | BPF_XOR | BPF_K] = VM_XOR_K,
	[BPF_ALU | BPF_XOR | BPF_X] = VM_XOR_X,
	[BPF_ALU | BPF_LSH | BPF_K] = VM_LSH_K,
	[BPF_ALU | BPF_LSH | BPF_X] = VM_LSH_X,
	[BPF_ALU | BPF_RSH | BPF_K] = VM_RSH_K,
	[BPF_ALU | BPF_RSH | BPF_X] = VM_RSH_X,
	[BPF_ALU | BPF_NEG] = VM_NEG,
	[BPF_LD | BPF_W | BPF_ABS] = VM_LD_W,
	[BPF_LD | BPF_H | BPF_ABS] = VM_LD_H,
	[BPF_LD | BPF_B | BPF_ABS] = VM_LD_B,
	[BPF_LD | BPF_W | BPF_LEN] = VM_LD_LEN,
	[BPF_LD | BPF_W | BPF_IND] = VM_LD_IND_W,
	[BPF_LD | BPF_H | BPF_IND] = VM_LD_IND_H,
	[BPF_LD | BPF_B | BPF_IND] = VM_LD_IND_B,
	[BPF_LD | BPF_IMM] = VM_LD_IMM,
	[BPF_LD | BPF_MEM] = VM_LD_MEM,
	[BPF_LDX | BPF_W | BPF_LEN] = VM_LDX_LEN,
	[BPF_LDX | BPF_B | BPF_MSH] = VM_LDX_MSH,
	[BPF_LDX | BPF_IMM] = VM_LDX_IMM,
	[BPF_LDX | BPF_MEM] = VM_LDX_MEM,
	[BPF_ST] = VM_ST,
	[BPF_STX] = VM_STX,
	[BPF_MISC | BPF_TAX] = VM_TAX,
	[BPF_MISC | BPF_TXA] = VM_TXA,
	[BPF_RET | BPF_K] = VM_RET_K,
	[BPF_RET | BPF_A] = VM_RET_A,
	[BPF_JMP | BPF_JA] = VM_JA,
	[BPF_JMP | BPF_JEQ | BPF_K] = VM_JEQ_K,
	[BPF_JMP | BPF_JEQ | BPF_X] = VM_JEQ_X,
	[BPF_JMP | BPF_JGE | BPF_K] = VM_JGE_K,
	[BPF_JMP | BPF_JGE | BPF_X] = VM_JGE_X,
	[BPF_JMP | BPF_JGT | BPF_K] = VM_JGT_K,
	[BPF_JMP | BPF_JGT | BPF_X] = VM_JGT_X,
	[BPF_JMP | BPF_JSET | BPF_K] = VM_JSET_K,
	[BPF_JMP | BPF_JSET | BPF_X] = VM_JSET_X,
};

/* LD ABS: the kernel treats k >= SKF_AD_OFF as an ancillary load of any
 * width (R10), any other negative k as header-relative (R4). */
static uint8_t vm_decode_ld_abs(uint8_t op, uint32_t k)
{
	uint32_t n;

	if (k >= (uint32_t)SKF_AD_OFF) {
		n = k - (uint32_t)SKF_AD_OFF;
		if (n >= SKF_AD_MAX || n % 4)
			return VM_INVALID;
		return VM_ANC_PROTOCOL + n / 4;
	}
	if ((int32_t)k < 0)
		return op + (VM_LD_NEG_W - VM_LD_W);
	return op;
}

/* Decodes insn pc of prog[0..len); pc >= len is running off the end. */
static inline struct vm_insn vm_decode(const struct sock_filter *prog,
				       uint32_t len, uint32_t pc)
{
	struct vm_insn in = { .op = VM_INVALID };
	const struct sock_filter *f;
	uint32_t room;

	if (pc >= len)
		return in;
	f = &prog[pc];
	if (f->code >= sizeof(vm_code_op))
		return in;
	in.k = f->k;
	in.op = vm_code_op[f->code];
	room = len - pc - 1;	/* instructions after this one */

	switch (in.op) {
	case VM_LD_W:
	case VM_LD_H:
	case VM_LD_B:
		in.op = vm_decode_ld_abs(in.op, f->k);
		break;
	case VM_LD_MEM:
	case VM_LDX_MEM:
	case VM_ST:
	case VM_STX:
		if (f->k >= CBPF_MEMWORDS)
			in.op = VM_INVALID;
		break;
	case VM_DIV_K:
	case VM_MOD_K:
		if (f->k == 0)
			in.op = VM_INVALID;
		break;
	case VM_LSH_K:
	case VM_RSH_K:
		if (f->k >= 32)
			in.op = VM_INVALID;
		break;
	case VM_JA:
		if (f->k >= room)
			in.op = VM_INVALID;
		else
			in.jt = pc + 1 + f->k;
		break;
	case VM_JEQ_K: case VM_JGT_K: case VM_JGE_K: case VM_JSET_K:
	case VM_JEQ_X: case VM_JGT_X: case VM_JGE_X: case VM_JSET_X:
		if (f->jt >= room || f->jf >= room)
			in.op = VM_INVALID;
		in.jt = pc + 1 + f->jt;
		in.jf = pc + 1 + f->jf;
		break;
	}
	return in;
}

static const struct cbpf_ctx vm_unix_ctx = {
	.net_off = 0,
	.ll_off = CBPF_NO_HEADER,
};

struct cbpf_ctx cbpf_ctx_unix(void)
{
	return vm_unix_ctx;
}

struct cbpf_ctx cbpf_ctx_raw6(void)
{
	return (struct cbpf_ctx){
		.protocol = ETH_P_IPV6,
		.net_off = -(int32_t)sizeof(struct ip6_hdr),
		.ll_off = CBPF_NO_HEADER,
		.headroom = sizeof(struct ip6_hdr),
	};
}

static inline uint32_t vm_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint32_t vm_get16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static inline uint32_t vm_get8(const uint8_t *p)
{
	return p[0];
}

/*
 * Where a load at a negative offset reads, relative to the network or
 * link-layer header (bpf_internal_load_pointer_neg_helper, R4); false if
 * it fails. The kernel accepts any skb->head <= ptr && ptr + size <= tail,
 * which here is pkt[-headroom..len): a header may lie in front of pkt[0]
 * (an IPv6 raw socket's network header), and a load relative to it may
 * read there. The header must start in that range itself (net_off/ll_off
 * >= -headroom), else there is none; CBPF_NO_HEADER never is one, however
 * large the headroom. The offset from the header is never negative
 * (k - SKF_NET_OFF >= 0), so the lower bound then holds on its own.
 */
static bool vm_pos_neg(size_t len, const struct cbpf_ctx *ctx, int32_t off,
		       size_t size, ptrdiff_t *pos)
{
	int64_t base, at, end;

	if (off >= SKF_NET_OFF) {
		base = ctx->net_off;
		at = (int64_t)off - SKF_NET_OFF;
	} else if (off >= SKF_LL_OFF) {
		base = ctx->ll_off;
		at = (int64_t)off - SKF_LL_OFF;
	} else {
		return false;
	}
	if (base == CBPF_NO_HEADER ||
	    (base < 0 && (uint64_t)-base > ctx->headroom))
		return false;
	at += base;
	end = at + (int64_t)size;
	if (end > 0 && (uint64_t)end > len)
		return false;
	*pos = (ptrdiff_t)at;
	return true;
}

/* Where a load of size bytes at (int)off reads, or false (R4). A
 * non-negative offset sees pkt[0..len) only (the kernel's headlen path). */
static inline bool vm_pos(size_t len, const struct cbpf_ctx *ctx, int32_t off,
			  size_t size, ptrdiff_t *pos)
{
	if (off < 0)
		return vm_pos_neg(len, ctx, off, size, pos);
	if ((size_t)off > len || size > len - (size_t)off)
		return false;
	*pos = off;
	return true;
}

static inline uint16_t vm_host16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

#define VM_NLA_HDRLEN 4		/* sizeof(struct nlattr), aligned */
#define VM_NLA_TYPE_MASK 0x3fff	/* ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) */

/*
 * The kernel's nla_find() over pkt[off..off + rem): walks attributes while
 * nla_ok() holds (rem >= 4, 4 <= nla_len <= rem), stepping by the 4-byte
 * aligned length. nla_len and nla_type are host-endian, as in the kernel.
 * Returns the attribute's offset in the packet, or 0.
 */
static uint32_t vm_nla_find(const uint8_t *pkt, size_t off, int64_t rem,
			    uint32_t type)
{
	while (rem >= VM_NLA_HDRLEN) {
		uint16_t nla_len = vm_host16(pkt + off);
		uint16_t nla_type = vm_host16(pkt + off + 2);
		uint32_t step;

		if (nla_len < VM_NLA_HDRLEN || nla_len > rem)
			break;
		if ((uint32_t)(nla_type & VM_NLA_TYPE_MASK) == type)
			return off;
		step = (nla_len + 3U) & ~3U;
		rem -= step;
		off += step;
	}
	return 0;
}

/* SKF_AD_NLATTR (bpf_skb_get_nlattr): find attribute X from offset A. */
static uint32_t vm_nlattr(const uint8_t *pkt, size_t len, uint32_t a,
			  uint32_t x)
{
	if (len < VM_NLA_HDRLEN || a > len - VM_NLA_HDRLEN)
		return 0;
	return vm_nla_find(pkt, a, (int64_t)(len - a), x);
}

/* SKF_AD_NLATTR_NEST: the attribute at A must fit the packet; search the
 * attributes nested inside it. */
static uint32_t vm_nlattr_nest(const uint8_t *pkt, size_t len, uint32_t a,
			       uint32_t x)
{
	uint16_t nla_len;

	if (len < VM_NLA_HDRLEN || a > len - VM_NLA_HDRLEN)
		return 0;
	nla_len = vm_host16(pkt + a);
	if (nla_len > len - a)
		return 0;
	return vm_nla_find(pkt, (size_t)a + VM_NLA_HDRLEN,
			   (int64_t)nla_len - VM_NLA_HDRLEN, x);
}

/* Everything a run leaves behind, for cbpf_run_trace(). */
struct vm_out {
	struct cbpf_result *res;
	cbpf_trace_fn trace;
	void *arg;
	const struct sock_filter *raw;
};

static void vm_step(const struct vm_out *out, uint32_t pc, uint32_t a,
		    uint32_t x, int mem_index, const uint32_t *mem)
{
	struct cbpf_step step = {
		.pc = pc,
		.insn = out->raw[pc],
		.a = a,
		.x = x,
		.mem_index = mem_index,
		.mem_value = mem_index >= 0 ? mem[mem_index] : 0,
	};

	out->res->steps++;
	if (out->trace)
		out->trace(&step, out->arg);
}

/*
 * Conditional jumps are written so that the compiler emits a branch, not
 * a conditional move: with cmov the next instruction's address waits for
 * the comparison, which serialises the whole run; a predicted branch lets
 * the CPU fetch ahead. The probability is only a hint to that end.
 */
#if defined(__has_builtin)
#if __has_builtin(__builtin_expect_with_probability)
#define VM_BRANCH(c) __builtin_expect_with_probability(!!(c), 1, 0.9999)
#endif
#endif
#ifndef VM_BRANCH
#define VM_BRANCH(c) (c)
#endif

static inline bool vm_in_set(uint32_t a, const uint32_t *set, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (set[i] == a)
			return true;
	return false;
}

/*
 * What every op does, written once: VM_OPS(OP) calls OP(op, body) for
 * each op, and the two interpreters below expand it, vm_exec() into a
 * switch and vm_threaded() into threaded code. A body reads the
 * instruction `in`, the registers a and x, mem[], the packet pkt[0..len)
 * and ctx. It may set mem_index (for the trace) and `next`, which is the
 * following instruction unless it jumps: to VM_AT(index), or past two
 * instructions with VM_SKIP2 (each interpreter defines both). Or it ends
 * the run:
 *	goto last	verdict and exit_kind are set (RET)
 *	goto oob	a packet load failed (R4)
 *	goto div0	DIV/MOD by X == 0 (R2)
 *	goto nodev	IFINDEX/HATYPE without a device (R10)
 *	goto done	VM_INVALID: not an instruction, nothing executed
 */
#define VM_JUMP(cond) (next = VM_AT(VM_BRANCH(cond) ? in->jt : in->jf))

/* A load of size bytes at the 32-bit offset off into A (R4, R5). */
#define VM_LD_ANY(off, size, get)					\
	do {								\
		if (!vm_pos(len, ctx, (int32_t)(off), (size), &pos))	\
			goto oob;					\
		a = get(pkt + pos);					\
	} while (0)

/* LD ABS with 0 <= k < 2^31: no header arithmetic, one bounds check. */
#define VM_LD_POS(size, get)						\
	do {								\
		if ((size_t)in->k + (size) > len)			\
			goto oob;					\
		a = get(pkt + in->k);					\
	} while (0)

/* R5: X + k wraps at 32 bits, then is taken as signed. */
#define VM_LD_IND(size, get) VM_LD_ANY(x + in->k, size, get)

/* R6: X = 4 * (P[k] & 0xf), through the LD ABS path; A is kept. */
#define VM_LD_MSH()							\
	do {								\
		if (!vm_pos(len, ctx, (int32_t)in->k, 1, &pos))		\
			goto oob;					\
		x = (pkt[pos] & 0xfU) << 2;				\
	} while (0)

/* "ldxb 4*([k]&0xf); ld [x + k3]" */
#define VM_LD_MSH_IND(size, get)					\
	do {								\
		VM_LD_MSH();						\
		VM_LD_ANY(x + in->k3, size, get);			\
	} while (0)

/* A fused load, then one of the five jumps (VM_JEQ_K order, then JIN). */
#define VM_OPS_FUSED(OP, l, load)					\
	OP(VM_##l##_JEQ, load; VM_JUMP(a == in->k2))			\
	OP(VM_##l##_JGT, load; VM_JUMP(a > in->k2))			\
	OP(VM_##l##_JGE, load; VM_JUMP(a >= in->k2))			\
	OP(VM_##l##_JSET, load; VM_JUMP(a & in->k2))			\
	OP(VM_##l##_JIN, load; VM_JUMP(vm_in_set(a, set + in->k2, in->n)))

#define VM_OPS(OP)							\
	OP(VM_INVALID, exit_kind = CBPF_EXIT_INVALID; goto done)	\
	OP(VM_RET_K, verdict = in->k; exit_kind = CBPF_EXIT_RET; goto last) \
	OP(VM_RET_A, verdict = a; exit_kind = CBPF_EXIT_RET; goto last)	\
	OP(VM_LD_IMM, a = in->k)					\
	OP(VM_LD_LEN, a = (uint32_t)len)				\
	OP(VM_LD_MEM, a = mem[in->k]; mem_index = in->k)		\
	OP(VM_LD_W, VM_LD_POS(4, vm_get32))				\
	OP(VM_LD_H, VM_LD_POS(2, vm_get16))				\
	OP(VM_LD_B, VM_LD_POS(1, vm_get8))				\
	OP(VM_LD_NEG_W, VM_LD_ANY(in->k, 4, vm_get32))			\
	OP(VM_LD_NEG_H, VM_LD_ANY(in->k, 2, vm_get16))			\
	OP(VM_LD_NEG_B, VM_LD_ANY(in->k, 1, vm_get8))			\
	OP(VM_LD_IND_W, VM_LD_IND(4, vm_get32))				\
	OP(VM_LD_IND_H, VM_LD_IND(2, vm_get16))				\
	OP(VM_LD_IND_B, VM_LD_IND(1, vm_get8))				\
	OP(VM_LDX_IMM, x = in->k)					\
	OP(VM_LDX_LEN, x = (uint32_t)len)				\
	OP(VM_LDX_MEM, x = mem[in->k]; mem_index = in->k)		\
	OP(VM_LDX_MSH, VM_LD_MSH())					\
	OP(VM_ST, mem[in->k] = a; mem_index = in->k)			\
	OP(VM_STX, mem[in->k] = x; mem_index = in->k)			\
	OP(VM_ADD_K, a += in->k)					\
	OP(VM_SUB_K, a -= in->k)					\
	OP(VM_MUL_K, a *= in->k)					\
	OP(VM_DIV_K, a /= in->k)					\
	OP(VM_MOD_K, a %= in->k)					\
	OP(VM_OR_K, a |= in->k)						\
	OP(VM_AND_K, a &= in->k)					\
	OP(VM_XOR_K, a ^= in->k)					\
	OP(VM_LSH_K, a <<= in->k)					\
	OP(VM_RSH_K, a >>= in->k)					\
	OP(VM_ADD_X, a += x)						\
	OP(VM_SUB_X, a -= x)						\
	OP(VM_MUL_X, a *= x)						\
	OP(VM_DIV_X, if (!x) goto div0; a /= x)				\
	OP(VM_MOD_X, if (!x) goto div0; a %= x)				\
	OP(VM_OR_X, a |= x)						\
	OP(VM_AND_X, a &= x)						\
	OP(VM_XOR_X, a ^= x)						\
	OP(VM_LSH_X, a <<= x & 31)	/* R3 */			\
	OP(VM_RSH_X, a >>= x & 31)					\
	OP(VM_NEG, a = 0U - a)						\
	OP(VM_TAX, x = a)						\
	OP(VM_TXA, a = x)						\
	OP(VM_JA, next = VM_AT(in->jt))				\
	OP(VM_JEQ_K, VM_JUMP(a == in->k))				\
	OP(VM_JGT_K, VM_JUMP(a > in->k))				\
	OP(VM_JGE_K, VM_JUMP(a >= in->k))				\
	OP(VM_JSET_K, VM_JUMP(a & in->k))				\
	OP(VM_JEQ_X, VM_JUMP(a == x))					\
	OP(VM_JGT_X, VM_JUMP(a > x))					\
	OP(VM_JGE_X, VM_JUMP(a >= x))					\
	OP(VM_JSET_X, VM_JUMP(a & x))					\
	OP(VM_ANC_PROTOCOL, a = ctx->protocol)				\
	OP(VM_ANC_PKTTYPE, a = ctx->pkt_type & 7U)			\
	OP(VM_ANC_IFINDEX, if (!ctx->has_dev) goto nodev; a = ctx->ifindex) \
	OP(VM_ANC_NLATTR, a = vm_nlattr(pkt, len, a, x))		\
	OP(VM_ANC_NLATTR_NEST, a = vm_nlattr_nest(pkt, len, a, x))	\
	OP(VM_ANC_MARK, a = ctx->mark)					\
	OP(VM_ANC_QUEUE, a = ctx->queue)				\
	OP(VM_ANC_HATYPE, if (!ctx->has_dev) goto nodev; a = ctx->hatype) \
	OP(VM_ANC_RXHASH, a = ctx->rxhash)				\
	OP(VM_ANC_CPU, a = ctx->cpu)					\
	OP(VM_ANC_ALU_XOR_X, a ^= x)					\
	OP(VM_ANC_VLAN_TAG, a = ctx->vlan_tci)				\
	OP(VM_ANC_VLAN_TAG_PRESENT, a = ctx->vlan_present)		\
	OP(VM_ANC_PAY_OFFSET, a = ctx->pay_offset)			\
	OP(VM_ANC_RANDOM,						\
	   a = ctx->random ? ctx->random(ctx->random_arg) : 0)		\
	OP(VM_ANC_VLAN_TPID, a = ctx->vlan_tpid)			\
	/* made by the vm_fuse_*() passes only */			\
	OP(VM_JIN, VM_JUMP(vm_in_set(a, set + in->k2, in->n)))		\
	OP(VM_MSH_IND_W, VM_LD_MSH_IND(4, vm_get32); next = VM_SKIP2)	\
	OP(VM_MSH_IND_H, VM_LD_MSH_IND(2, vm_get16); next = VM_SKIP2)	\
	OP(VM_MSH_IND_B, VM_LD_MSH_IND(1, vm_get8); next = VM_SKIP2)	\
	VM_OPS_FUSED(OP, LD_W, VM_LD_POS(4, vm_get32))			\
	VM_OPS_FUSED(OP, LD_H, VM_LD_POS(2, vm_get16))			\
	VM_OPS_FUSED(OP, LD_B, VM_LD_POS(1, vm_get8))			\
	VM_OPS_FUSED(OP, IND_W, VM_LD_IND(4, vm_get32))			\
	VM_OPS_FUSED(OP, IND_H, VM_LD_IND(2, vm_get16))			\
	VM_OPS_FUSED(OP, IND_B, VM_LD_IND(1, vm_get8))			\
	VM_OPS_FUSED(OP, MSH_IND_W, VM_LD_MSH_IND(4, vm_get32))		\
	VM_OPS_FUSED(OP, MSH_IND_H, VM_LD_MSH_IND(2, vm_get16))		\
	VM_OPS_FUSED(OP, MSH_IND_B, VM_LD_MSH_IND(1, vm_get8))

/* How runs end, after either interpreter's dispatch. */
#define VM_ENDINGS							\
oob:	/* R4: the kernel zeroes A and returns it */			\
	a = 0;								\
	exit_kind = CBPF_EXIT_OOB;					\
	goto last;							\
div0:	/* R2: "if X == 0 { A = 0; exit }" */				\
	a = 0;								\
	exit_kind = CBPF_EXIT_DIV0;					\
	goto last;							\
nodev:	/* R10: "if dev == NULL: exit", returning A */			\
	verdict = a;							\
	exit_kind = CBPF_EXIT_NODEV;					\
	goto last

/*
 * The plain interpreter, for cbpf_run() and cbpf_run_trace(): decodes
 * raw[pc] as it reaches it and, with out (else NULL), counts and reports
 * every step. Inlined into both, so the unused parts fold away.
 */
static inline __attribute__((always_inline)) uint32_t
vm_exec(const struct sock_filter *raw, uint32_t prog_len, const uint8_t *pkt,
	size_t len, const struct cbpf_ctx *ctx, const struct vm_out *out)
{
	/* R1: the kernel leaves scratch uninitialised, and V12 makes sure
	 * no valid program can tell. Zeroed here, so that even an invalid
	 * program gives the same answer every time. */
	uint32_t mem[CBPF_MEMWORDS] = { 0 };
	uint32_t a = 0, x = 0, pc = 0, verdict = 0, next;
	const uint32_t *set = NULL;	/* no fused ops without cbpf_vm_new */
	enum cbpf_exit exit_kind;
	struct vm_insn decoded;
	const struct vm_insn *in = &decoded;
	int mem_index;
	ptrdiff_t pos;

	if (!ctx)
		ctx = &vm_unix_ctx;
	for (;;) {
		decoded = vm_decode(raw, prog_len, pc);
		next = pc + 1;
		mem_index = -1;
		switch ((enum vm_op)in->op) {
#define VM_AT(target) (target)
#define VM_SKIP2 (pc + 2)
#define VM_CASE(op, body) case op: body; break;
		VM_OPS(VM_CASE)
#undef VM_CASE
#undef VM_AT
#undef VM_SKIP2
		case VM_OP_COUNT:
		default:
			/* in->op only ever comes from vm_decode() */
			__builtin_unreachable();
		}
		if (out)
			vm_step(out, pc, a, x, mem_index, mem);
		pc = next;
	}
	VM_ENDINGS;
last:
	if (out)
		vm_step(out, pc, a, x, mem_index, mem);
done:
	if (out) {
		out->res->verdict = verdict;
		out->res->exit = exit_kind;
		out->res->pc = pc;
	}
	return verdict;
}

/*
 * The fast interpreter, for cbpf_vm_run(): the same ops on the code
 * cbpf_vm_new() prepared, as direct-threaded code (computed goto, a GCC
 * and Clang extension). Each instruction holds the address of its op's
 * code, and each op ends in its own indirect jump to the next one: no
 * table lookup, no range check, and the CPU predicts every transition on
 * its own instead of funnelling them all through one switch jump. That
 * measured 10-25% faster than the switch on the benchmark programs
 * (bench/bench_vm.c). The tests check it against vm_exec() on every
 * program they run.
 *
 * With vm == NULL it only hands out its table of op addresses, which
 * cbpf_vm_new() copies into the instructions.
 */
static uint32_t vm_threaded(const struct cbpf_vm *vm, const uint8_t *pkt,
			    size_t len, const struct cbpf_ctx *ctx,
			    const void *const **labels_out)
{
	static const void *const labels[VM_OP_COUNT] = {
#define VM_LABEL(op, body) [op] = &&L_##op,
		VM_OPS(VM_LABEL)
#undef VM_LABEL
	};
	uint32_t mem[CBPF_MEMWORDS];
	uint32_t a = 0, x = 0, verdict = 0;
	const struct vm_insn *code, *in, *next;
	enum cbpf_exit exit_kind;
	const uint32_t *set;
	int mem_index;
	ptrdiff_t pos;

	if (!vm) {
		*labels_out = labels;
		return 0;
	}
	code = vm->code;
	set = vm->set;
	/* V12 (cbpf_vm_new validated) means no read before a write; zero
	 * anyway when anything reads scratch, for peace of mind. */
	if (vm->uses_mem)
		memset(mem, 0, sizeof(mem));
	if (!ctx)
		ctx = &vm_unix_ctx;

	/* Here next and the targets are pointers, not indexes. */
#define VM_AT(target) (code + (target))
#define VM_SKIP2 (in + 2)
#define VM_NEXT()							\
	do {								\
		in = next;						\
		next = in + 1;						\
		goto *in->label;					\
	} while (0)
#define VM_THREAD(op, body) L_##op: body; VM_NEXT();

	next = code;
	VM_NEXT();
	VM_OPS(VM_THREAD)
#undef VM_THREAD
#undef VM_NEXT
#undef VM_AT
#undef VM_SKIP2
	VM_ENDINGS;
last:
done:
	(void)exit_kind;
	(void)mem_index;
	return verdict;
}

#undef VM_JUMP
#undef VM_LD_ANY
#undef VM_LD_POS
#undef VM_LD_IND
#undef VM_LD_MSH
#undef VM_LD_MSH_IND
#undef VM_OPS_FUSED
#undef VM_OPS
#undef VM_ENDINGS

/* Programs longer than the kernel allows are not run at all: their jump
 * targets would not fit struct vm_insn. */
static uint32_t vm_prog_len(const struct cbpf_prog *prog)
{
	if (!prog || !prog->insns || prog->len > CBPF_MAXINSNS)
		return 0;
	return (uint32_t)prog->len;
}

uint32_t cbpf_run(const struct cbpf_prog *prog, const uint8_t *pkt,
		  size_t len, const struct cbpf_ctx *ctx)
{
	uint32_t n = vm_prog_len(prog);

	return vm_exec(n ? prog->insns : NULL, n, pkt, len, ctx, NULL);
}

uint32_t cbpf_run_trace(const struct cbpf_prog *prog, const uint8_t *pkt,
			size_t len, const struct cbpf_ctx *ctx,
			struct cbpf_result *res, cbpf_trace_fn trace,
			void *arg)
{
	uint32_t n = vm_prog_len(prog);
	struct vm_out out = {
		.res = res,
		.trace = trace,
		.arg = arg,
		.raw = n ? prog->insns : NULL,
	};

	memset(res, 0, sizeof(*res));
	return vm_exec(out.raw, n, pkt, len, ctx, &out);
}

uint32_t cbpf_vm_run(const struct cbpf_vm *vm, const uint8_t *pkt,
		     size_t len, const struct cbpf_ctx *ctx)
{
	return vm_threaded(vm, pkt, len, ctx, NULL);
}

/*
 * The fusions below keep every original instruction where it was: a fused
 * op at i does the work of i and i + 1 (and jumps on itself), and i + 1
 * stays as it was for jumps that land on it. So any path through the
 * fused code executes the same instructions in the same order, only with
 * fewer dispatches. cbpf_vm_run() does not trace, so nothing else can
 * tell.
 */

static bool vm_is_jeq_k(const struct vm_insn *in)
{
	return in->op == VM_JEQ_K;
}

/*
 * A chain "jeq #k1, T, next; jeq #k2, T, next; ...; jeq #kn, T, F" is
 * "A in {k1..kn} ? T : F". Every member but the last becomes that test
 * over the rest of the chain, so a jump into the middle stays right.
 * Returns the number of set words used, at most len.
 */
static uint32_t vm_fuse_jeq_chains(struct vm_insn *code, uint32_t len,
				   uint32_t *set)
{
	uint32_t used = 0, s = 0, e, m;

	while (s < len) {
		if (!vm_is_jeq_k(&code[s])) {
			s++;
			continue;
		}
		e = s;
		while (e + 1 < len && code[e].jf == e + 1 &&
		       vm_is_jeq_k(&code[e + 1]) &&
		       code[e + 1].jt == code[s].jt)
			e++;
		for (m = s; m < e; m++) {
			code[m].op = VM_JIN;
			code[m].k2 = used + (m - s);
			code[m].n = (uint16_t)(e - m + 1);
			code[m].jf = code[e].jf;
		}
		for (m = s; m <= e && e > s; m++)
			set[used++] = code[m].k;
		s = e + 1;
	}
	return used;
}

/* For a jump that can end a fused op: its place in a group of five
 * (VM_JEQ_K order, then JIN), or -1. */
static int vm_fused_cond(uint8_t op)
{
	switch (op) {
	case VM_JEQ_K: return 0;
	case VM_JGT_K: return 1;
	case VM_JGE_K: return 2;
	case VM_JSET_K: return 3;
	case VM_JIN: return 4;
	default: return -1;
	}
}

/* Makes ld the fused op of group base that ends with jump j. */
static void vm_fuse_jump(struct vm_insn *ld, uint8_t base,
			 const struct vm_insn *j)
{
	ld->op = base + vm_fused_cond(j->op);
	ld->k2 = j->op == VM_JIN ? j->k2 : j->k;
	ld->n = j->n;
	ld->jt = j->jt;
	ld->jf = j->jf;
}

/*
 * A packet load followed by a conditional jump on a constant (or a set),
 * and "ldxb 4*([k]&0xf); ld [x + k3]" (the IPv4 header length, then a
 * load from the transport header), followed by such a jump or not.
 */
static void vm_fuse_loads(struct vm_insn *code, uint32_t len)
{
	static const uint8_t msh_ind[] = { VM_MSH_IND_W, VM_MSH_IND_H,
					   VM_MSH_IND_B };
	static const uint8_t msh_ind_j[] = { VM_MSH_IND_W_JEQ,
					     VM_MSH_IND_H_JEQ,
					     VM_MSH_IND_B_JEQ };
	uint32_t i, w;

	for (i = 0; i + 1 < len; i++) {
		struct vm_insn *ld = &code[i];
		uint8_t base;

		switch (ld->op) {
		case VM_LD_W: base = VM_LD_W_JEQ; break;
		case VM_LD_H: base = VM_LD_H_JEQ; break;
		case VM_LD_B: base = VM_LD_B_JEQ; break;
		case VM_LD_IND_W: base = VM_IND_W_JEQ; break;
		case VM_LD_IND_H: base = VM_IND_H_JEQ; break;
		case VM_LD_IND_B: base = VM_IND_B_JEQ; break;
		case VM_LDX_MSH:
			if (code[i + 1].op < VM_LD_IND_W ||
			    code[i + 1].op > VM_LD_IND_B)
				continue;
			w = code[i + 1].op - VM_LD_IND_W;
			ld->k3 = code[i + 1].k;
			if (i + 2 < len && vm_fused_cond(code[i + 2].op) >= 0)
				vm_fuse_jump(ld, msh_ind_j[w], &code[i + 2]);
			else
				ld->op = msh_ind[w];
			continue;
		default:
			continue;
		}
		if (vm_fused_cond(code[i + 1].op) >= 0)
			vm_fuse_jump(ld, base, &code[i + 1]);
	}
}

struct cbpf_vm *cbpf_vm_new(const struct cbpf_prog *prog, int *err)
{
	const void *const *labels;
	struct cbpf_vm *vm;
	uint32_t i, n;
	int ret;

	if (!prog || !prog->insns) {
		ret = -EINVAL;
		goto fail;
	}
	ret = cbpf_validate(prog->insns, prog->len, NULL);
	if (ret < 0)
		goto fail;
	n = (uint32_t)prog->len;	/* <= CBPF_MAXINSNS once valid */
	/* One allocation: the code, its sentinel, then the set words. */
	vm = malloc(sizeof(*vm) + (n + 1) * sizeof(vm->code[0]) +
		    n * sizeof(uint32_t));
	if (!vm) {
		ret = -ENOMEM;
		goto fail;
	}
	vm->len = n;
	vm->uses_mem = false;
	vm->set = (uint32_t *)&vm->code[n + 1];
	for (i = 0; i <= n; i++) {
		vm->code[i] = vm_decode(prog->insns, n, i);
		if (vm->code[i].op == VM_LD_MEM || vm->code[i].op == VM_LDX_MEM)
			vm->uses_mem = true;
	}
	vm_fuse_jeq_chains(vm->code, n, vm->set);
	vm_fuse_loads(vm->code, n);
	vm_threaded(NULL, NULL, 0, NULL, &labels);
	for (i = 0; i <= n; i++)
		vm->code[i].label = labels[vm->code[i].op];
	return vm;

fail:
	if (err)
		*err = ret;
	return NULL;
}

void cbpf_vm_free(struct cbpf_vm *vm)
{
	free(vm);
}
