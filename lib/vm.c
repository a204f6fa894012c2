/* SPDX-License-Identifier: MIT */
/*
 * libcbpf — the VM: classic BPF with the kernel's runtime semantics
 * (doc/kernel-rules.md, section B, R1-R10).
 *
 * What every instruction does is written once, in VM_OPS, and expanded
 * by three interpreters:
 *
 * vm_exec(), for cbpf_run_trace() and the programs vm_raw_threaded()
 * leaves, runs the caller's array as it is: no allocation, any array
 * accepted, every original instruction traced, a switch on the opcode.
 * Each instruction is checked as it is
 * reached, with the checks the kernel's validator makes on it (the
 * opcode, jump targets, scratch index, constant divisor and shift: the
 * check column of VM_OPS), so a program that was never validated cannot
 * make it read outside the packet and its own state.
 *
 * vm_threaded(), for cbpf_vm_run(), runs the code cbpf_vm_new() prepared
 * from a validated program: every instruction decoded once into a struct
 * vm_code (its op's address, absolute jump targets as pointers, the
 * bounds a constant-offset load needs), a VM_INVALID sentinel after the
 * end, and fewer dispatches, which is where an interpreter's time goes:
 * a packet load followed by a conditional jump on a constant becomes one
 * op, so does "ldxb 4*([k]&0xf); ld [x + k]" (with the jump after it, if
 * any), and a chain of "jeq #k" with one shared true target (tcpdump's
 * port lists) becomes one membership test. It dispatches with computed
 * goto (a GCC and Clang extension), each op ending in its own indirect
 * jump to the next: the CPU predicts each of those jumps on its own, where
 * a switch funnels every transition through one.
 *
 * vm_raw_threaded(), for cbpf_run(), sits between the two: the caller's
 * array with vm_exec()'s checks, dispatched like vm_threaded(), for the
 * programs that end in a RET (all valid ones), which lets it skip the
 * bounds check on the pc between two instructions. A chain of "jeq #k"
 * falling through to one another (tcpdump's lists) runs in one loop there,
 * each member checked as it is reached, without a dispatch per member.
 *
 * On x86-64, cbpf_vm_new() also hands the validated program to
 * jit_compile() (lib/vm_jit_x86_64.c, whose header says how it works and
 * why it is safe: W^X memory, a buffer bounded before emitting and
 * checked on every byte, the interpreter kept whenever the JIT declines
 * or the system refuses executable memory). cbpf_vm_run() then calls the
 * native code directly; vm_threaded() runs what the JIT leaves (programs
 * with ancillary loads). Header-relative loads in native code call
 * vm_load_neg(), this file's R4 code, so both paths share it.
 *
 * Speed is measured by bench/bench_vm.c, instructions executed by
 * callgrind; what did not pay there was taken out again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_ether.h>
#include <netinet/ip6.h>
#include "internal.h"

enum vm_op {
	VM_INVALID = 0,
	VM_RET_K, VM_RET_A,
	VM_LD_IMM, VM_LD_LEN, VM_LD_MEM,
	VM_LD_W, VM_LD_H, VM_LD_B,		/* ABS (threaded: k < 2^31) */
	VM_LD_W_NEG, VM_LD_H_NEG, VM_LD_B_NEG,	/* ABS, header-relative k */
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
	VM_FIRST_FUSED,
	VM_JIN = VM_FIRST_FUSED,	/* A in the set k2, n ? jt : jf */
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

/*
 * An instruction as cbpf_vm_new() decodes and fuses it. Absolute jump
 * targets fit in 16 bits: programs are at most 4096 long.
 */
struct vm_insn {
	uint32_t k;
	uint32_t k2;		/* fused: the jump's constant; JIN: set index */
	uint32_t k3;		/* see struct vm_code */
	uint16_t jt, jf;	/* absolute targets (JA: jt) */
	uint16_t n;		/* JIN: set size */
	uint8_t op;
};

/*
 * The same, as vm_threaded() runs it: the address of its op's code, and
 * jump targets as pointers, so that a jump is one load (indexes cost a
 * shift and an add more). What every op reads comes first. Everything an
 * op needs is here, down to its JIN set: a base pointer of its own would
 * take the interpreter one more register.
 */
struct vm_code {
	const void *label;
	uint32_t k;		/* MSH_IND: the LDX MSH's k */
	uint32_t k2;		/* fused: the jump's constant */
	/* LD_W/H/B and their fusions: k + size, the packet length the load
	 * needs (one compare instead of an add and a compare);
	 * MSH_IND: the LD IND's k */
	uint32_t k3;
	uint32_t n;		/* JIN: set size */
	const struct vm_code *jt, *jf;	/* JA: jt */
	const uint32_t *set;	/* JIN: the constants */
};

struct cbpf_vm {
	/* The program as native code, or NULL: then vm_threaded() runs it.
	 * First, so that cbpf_vm_run() reaches it with one load. */
	jit_fn jit;
	size_t jit_size;	/* for jit_free() */
	/* The program, if it uses ops that call functions: cbpf_vm_run()
	 * then runs it with vm_exec(), see vm_calls_out(). */
	struct cbpf_prog calls_out;
	/* What vm_threaded() must do before the first op, VM_SETUP_*: one
	 * test on every run for all of them. */
	uint8_t setup;
	/* len + 1: code[len] is VM_INVALID. On a cache line of its own, so
	 * that where malloc() puts it changes no run's speed. */
	struct vm_code code[] __attribute__((aligned(64)));
};

#define VM_SETUP_ZERO_MEM 1	/* has LD/LDX MEM: scratch starts zeroed */
#define VM_SETUP_CALLS_OUT 2	/* runs with vm_exec(), see vm_calls_out() */
#define VM_SETUP_LABELS 4	/* only hand out the op addresses */

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
 * it fails. A NULL ctx is AF_UNIX's. The kernel accepts any
 * skb->head <= ptr && ptr + size <= tail, which here is
 * pkt[-headroom..len): a header may lie in front of pkt[0] (an IPv6 raw
 * socket's network header), and a load relative to it may read there.
 * The header must start in that range itself (net_off/ll_off >=
 * -headroom), else there is none; CBPF_NO_HEADER never is one, however
 * large the headroom. The offset from the header is never negative
 * (k - SKF_NET_OFF >= 0), so the lower bound then holds on its own.
 *
 * Always inlined: as a call it would cost vm_threaded() saved registers
 * on every run (see vm_calls_out()), and left to the compiler's judgment
 * it moved the hot ops around from one build to the next.
 */
static inline __attribute__((always_inline)) bool
vm_pos_neg(size_t len, const struct cbpf_ctx *ctx, int32_t off, size_t size,
	   ptrdiff_t *pos)
{
	int64_t base, at, end;

	if (!ctx)
		ctx = &vm_unix_ctx;
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

static inline bool vm_in_set(uint32_t a, const uint32_t *set, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (set[i] == a)
			return true;
	return false;
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

/*
 * What every op does, written once: the lists below call
 * OP(op, code, check, body), VM_CODED_OPS for the ops of the kernel's 49
 * opcodes (code), VM_OTHER_OPS for those LD ABS also decodes to (by its
 * k) and VM_INVALID, VM_FUSED_OPS for the ones cbpf_vm_new() makes (code
 * 0 for both). The interpreters below expand them.
 *
 * check is what the kernel's validator requires of that instruction
 * (V5-V9), on the raw instruction `in` with VM_ROOM instructions after
 * it. vm_exec() tests it before running the body; cbpf_vm_new() has
 * validated the program, and its decoding tests it again anyway.
 *
 * A body reads the instruction `in`, the registers a and x, mem[], the
 * packet pkt[0..len) and ctx. It goes on with the next instruction by
 * falling off its end, or jumps with VM_GOTO(VM_JT/VM_JF/VM_JA_TARGET),
 * or ends the run:
 *	goto ret	verdict is set (RET)
 *	goto oob	a packet load failed (R4)
 *	goto div0	DIV/MOD by X == 0 (R2)
 *	goto nodev	IFINDEX/HATYPE without a device (R10)
 *	goto invalid	not an instruction, nothing executed
 * Each interpreter defines VM_GOTO, VM_JT, VM_JF, VM_JA_TARGET, VM_ROOM,
 * VM_LD_ABS (a load at a constant offset), VM_CALL (an op that calls a
 * function, see vm_calls_out()), VM_MEM_USED (for tracing) and
 * VM_MEM_INIT (before scratch is touched, for an interpreter that zeroes
 * it only when a run uses it).
 */

/* ctx is looked at only by the ops that need it: a NULL ctx costs no
 * setup on every run. */
#define VM_CTX (ctx ? ctx : &vm_unix_ctx)

#define VM_JUMP(cond)							\
	do {								\
		if (VM_BRANCH(cond))					\
			VM_GOTO(VM_JT);					\
		VM_GOTO(VM_JF);						\
	} while (0)

/* A load at a negative offset, header-relative (R4). */
#define VM_LD_NEG(off, size, get)					\
	do {								\
		if (!vm_pos_neg(len, ctx, (int32_t)(off), (size), &pos)) \
			goto oob;					\
		a = get(pkt + pos);					\
	} while (0)

/* R5: X + k wraps at 32 bits, then is taken as signed. Packet offsets
 * below 2^31 fit a size_t with room for size, so one compare checks. */
#define VM_LD_IND(size, get)						\
	do {								\
		uint32_t off_ = x + in->k;				\
									\
		if ((int32_t)off_ < 0)					\
			VM_LD_NEG(off_, size, get);			\
		else if ((size_t)off_ + (size) > len)			\
			goto oob;					\
		else							\
			a = get(pkt + off_);				\
	} while (0)

/* R6: X = 4 * (P[k] & 0xf), through the LD ABS path; A is kept. */
#define VM_LD_MSH()							\
	do {								\
		if ((int32_t)in->k < 0) {				\
			if (!vm_pos_neg(len, ctx, (int32_t)in->k, 1, &pos)) \
				goto oob;				\
		} else if (in->k >= len) {				\
			goto oob;					\
		} else {						\
			pos = in->k;					\
		}							\
		x = (pkt[pos] & 0xfU) << 2;				\
	} while (0)

#define VM_MEM_OK (in->k < CBPF_MEMWORDS)	/* V7 */
#define VM_JUMP_OK (in->jt < VM_ROOM && in->jf < VM_ROOM)	/* V9 */

#define VM_CODED_OPS(OP)						\
	OP(VM_RET_K, BPF_RET | BPF_K,					\
	   true, verdict = in->k; goto ret)				\
	OP(VM_RET_A, BPF_RET | BPF_A,					\
	   true, verdict = a; goto ret)					\
	OP(VM_LD_IMM, BPF_LD | BPF_IMM,					\
	   true, a = in->k)						\
	OP(VM_LD_LEN, BPF_LD | BPF_W | BPF_LEN,				\
	   true, a = (uint32_t)len)					\
	OP(VM_LD_MEM, BPF_LD | BPF_MEM,					\
	   VM_MEM_OK, VM_MEM_INIT(); a = mem[in->k]; VM_MEM_USED(in->k))		\
	OP(VM_LD_W, BPF_LD | BPF_W | BPF_ABS,				\
	   true, VM_LD_ABS(4, vm_get32))				\
	OP(VM_LD_H, BPF_LD | BPF_H | BPF_ABS,				\
	   true, VM_LD_ABS(2, vm_get16))				\
	OP(VM_LD_B, BPF_LD | BPF_B | BPF_ABS,				\
	   true, VM_LD_ABS(1, vm_get8))					\
	OP(VM_LD_IND_W, BPF_LD | BPF_W | BPF_IND,			\
	   true, VM_LD_IND(4, vm_get32))				\
	OP(VM_LD_IND_H, BPF_LD | BPF_H | BPF_IND,			\
	   true, VM_LD_IND(2, vm_get16))				\
	OP(VM_LD_IND_B, BPF_LD | BPF_B | BPF_IND,			\
	   true, VM_LD_IND(1, vm_get8))					\
	OP(VM_LDX_IMM, BPF_LDX | BPF_IMM,				\
	   true, x = in->k)						\
	OP(VM_LDX_LEN, BPF_LDX | BPF_W | BPF_LEN,			\
	   true, x = (uint32_t)len)					\
	OP(VM_LDX_MEM, BPF_LDX | BPF_MEM,				\
	   VM_MEM_OK, VM_MEM_INIT(); x = mem[in->k]; VM_MEM_USED(in->k))		\
	OP(VM_LDX_MSH, BPF_LDX | BPF_B | BPF_MSH,			\
	   true, VM_LD_MSH())						\
	OP(VM_ST, BPF_ST,						\
	   VM_MEM_OK, VM_MEM_INIT(); mem[in->k] = a; VM_MEM_USED(in->k))		\
	OP(VM_STX, BPF_STX,						\
	   VM_MEM_OK, VM_MEM_INIT(); mem[in->k] = x; VM_MEM_USED(in->k))		\
	OP(VM_ADD_K, BPF_ALU | BPF_ADD | BPF_K,				\
	   true, a += in->k)						\
	OP(VM_SUB_K, BPF_ALU | BPF_SUB | BPF_K,				\
	   true, a -= in->k)						\
	OP(VM_MUL_K, BPF_ALU | BPF_MUL | BPF_K,				\
	   true, a *= in->k)						\
	OP(VM_DIV_K, BPF_ALU | BPF_DIV | BPF_K,				\
	   in->k != 0, a /= in->k)	/* V5 */			\
	OP(VM_MOD_K, BPF_ALU | BPF_MOD | BPF_K,				\
	   in->k != 0, a %= in->k)					\
	OP(VM_OR_K, BPF_ALU | BPF_OR | BPF_K,				\
	   true, a |= in->k)						\
	OP(VM_AND_K, BPF_ALU | BPF_AND | BPF_K,				\
	   true, a &= in->k)						\
	OP(VM_XOR_K, BPF_ALU | BPF_XOR | BPF_K,				\
	   true, a ^= in->k)						\
	OP(VM_LSH_K, BPF_ALU | BPF_LSH | BPF_K,				\
	   in->k < 32, a <<= in->k)	/* V6 */			\
	OP(VM_RSH_K, BPF_ALU | BPF_RSH | BPF_K,				\
	   in->k < 32, a >>= in->k)					\
	OP(VM_ADD_X, BPF_ALU | BPF_ADD | BPF_X,				\
	   true, a += x)						\
	OP(VM_SUB_X, BPF_ALU | BPF_SUB | BPF_X,				\
	   true, a -= x)						\
	OP(VM_MUL_X, BPF_ALU | BPF_MUL | BPF_X,				\
	   true, a *= x)						\
	OP(VM_DIV_X, BPF_ALU | BPF_DIV | BPF_X,				\
	   true, if (!x) goto div0; a /= x)				\
	OP(VM_MOD_X, BPF_ALU | BPF_MOD | BPF_X,				\
	   true, if (!x) goto div0; a %= x)				\
	OP(VM_OR_X, BPF_ALU | BPF_OR | BPF_X,				\
	   true, a |= x)						\
	OP(VM_AND_X, BPF_ALU | BPF_AND | BPF_X,				\
	   true, a &= x)						\
	OP(VM_XOR_X, BPF_ALU | BPF_XOR | BPF_X,				\
	   true, a ^= x)						\
	OP(VM_LSH_X, BPF_ALU | BPF_LSH | BPF_X,				\
	   true, a <<= x & 31)	/* R3 */				\
	OP(VM_RSH_X, BPF_ALU | BPF_RSH | BPF_X,				\
	   true, a >>= x & 31)						\
	OP(VM_NEG, BPF_ALU | BPF_NEG,					\
	   true, a = 0U - a)						\
	OP(VM_TAX, BPF_MISC | BPF_TAX,					\
	   true, x = a)							\
	OP(VM_TXA, BPF_MISC | BPF_TXA,					\
	   true, a = x)							\
	OP(VM_JA, BPF_JMP | BPF_JA,					\
	   in->k < VM_ROOM, VM_GOTO(VM_JA_TARGET))	/* V8 */	\
	OP(VM_JEQ_K, BPF_JMP | BPF_JEQ | BPF_K,				\
	   VM_JUMP_OK, VM_JUMP(a == in->k))				\
	OP(VM_JGT_K, BPF_JMP | BPF_JGT | BPF_K,				\
	   VM_JUMP_OK, VM_JUMP(a > in->k))				\
	OP(VM_JGE_K, BPF_JMP | BPF_JGE | BPF_K,				\
	   VM_JUMP_OK, VM_JUMP(a >= in->k))				\
	OP(VM_JSET_K, BPF_JMP | BPF_JSET | BPF_K,			\
	   VM_JUMP_OK, VM_JUMP(a & in->k))				\
	OP(VM_JEQ_X, BPF_JMP | BPF_JEQ | BPF_X,				\
	   VM_JUMP_OK, VM_JUMP(a == x))					\
	OP(VM_JGT_X, BPF_JMP | BPF_JGT | BPF_X,				\
	   VM_JUMP_OK, VM_JUMP(a > x))					\
	OP(VM_JGE_X, BPF_JMP | BPF_JGE | BPF_X,				\
	   VM_JUMP_OK, VM_JUMP(a >= x))					\
	OP(VM_JSET_X, BPF_JMP | BPF_JSET | BPF_X,			\
	   VM_JUMP_OK, VM_JUMP(a & x))

#define VM_OTHER_OPS(OP)						\
	OP(VM_INVALID, 0, false, goto invalid)				\
	OP(VM_LD_W_NEG, 0, true, VM_LD_NEG(in->k, 4, vm_get32))		\
	OP(VM_LD_H_NEG, 0, true, VM_LD_NEG(in->k, 2, vm_get16))		\
	OP(VM_LD_B_NEG, 0, true, VM_LD_NEG(in->k, 1, vm_get8))		\
	VM_ANC_OPS(OP)

/* The ancillary loads, SKF_AD_OFF + n for n / 4 in enum vm_op's order. */
#define VM_ANC_OPS(OP)							\
	OP(VM_ANC_PROTOCOL, 0, true, a = VM_CTX->protocol)		\
	OP(VM_ANC_PKTTYPE, 0, true, a = VM_CTX->pkt_type & 7U)		\
	OP(VM_ANC_IFINDEX, 0, true,					\
	   if (!VM_CTX->has_dev) goto nodev; a = VM_CTX->ifindex)	\
	OP(VM_ANC_NLATTR, 0, true, VM_CALL(a = vm_nlattr(pkt, len, a, x))) \
	OP(VM_ANC_NLATTR_NEST, 0, true,					\
	   VM_CALL(a = vm_nlattr_nest(pkt, len, a, x)))			\
	OP(VM_ANC_MARK, 0, true, a = VM_CTX->mark)			\
	OP(VM_ANC_QUEUE, 0, true, a = VM_CTX->queue)			\
	OP(VM_ANC_HATYPE, 0, true,					\
	   if (!VM_CTX->has_dev) goto nodev; a = VM_CTX->hatype)	\
	OP(VM_ANC_RXHASH, 0, true, a = VM_CTX->rxhash)			\
	OP(VM_ANC_CPU, 0, true, a = VM_CTX->cpu)			\
	OP(VM_ANC_ALU_XOR_X, 0, true, a ^= x)				\
	OP(VM_ANC_VLAN_TAG, 0, true, a = VM_CTX->vlan_tci)		\
	OP(VM_ANC_VLAN_TAG_PRESENT, 0, true, a = VM_CTX->vlan_present)	\
	OP(VM_ANC_PAY_OFFSET, 0, true, a = VM_CTX->pay_offset)		\
	OP(VM_ANC_RANDOM, 0, true,					\
	   VM_CALL(a = VM_CTX->random ?					\
			   VM_CTX->random(VM_CTX->random_arg) : 0))	\
	OP(VM_ANC_VLAN_TPID, 0, true, a = VM_CTX->vlan_tpid)

#define VM_OPS(OP) VM_CODED_OPS(OP) VM_OTHER_OPS(OP)

/* The kernel's 49 opcodes (chk_code_allowed), each mapped to its op.
 * Anything else is 0, VM_INVALID. */
static const uint8_t vm_code_op[256] = {
#define VM_CODE_OP(op, code, check, body) [code] = op,
	VM_CODED_OPS(VM_CODE_OP)
#undef VM_CODE_OP
};

static inline uint8_t vm_op_of(uint16_t code)
{
	return code < sizeof(vm_code_op) ? vm_code_op[code] : VM_INVALID;
}

/*
 * "ldxb 4*([k]&0xf); ld [x + k3]" (the IPv4 header length, then a load
 * from the transport header). cbpf_vm_new() fuses it only when k >= 0
 * and k3 + 60 < 2^31, so neither load can take the header-relative path
 * and X + k3 cannot wrap (X <= 60): plain bounds checks do.
 */
#define VM_LD_MSH_IND(size, get)					\
	do {								\
		size_t off_;						\
									\
		if (in->k >= len)					\
			goto oob;					\
		x = (pkt[in->k] & 0xfU) << 2;				\
		off_ = (size_t)x + in->k3;				\
		if (off_ + (size) > len)				\
			goto oob;					\
		a = get(pkt + off_);					\
	} while (0)

#define VM_IN_SET() vm_in_set(a, in->set, in->n)

/* A fused load, then one of the five jumps (VM_JEQ_K order, then JIN). */
#define VM_OPS_FUSED_GROUP(OP, l, load)					\
	OP(VM_##l##_JEQ, 0, true, load; VM_JUMP(a == in->k2))		\
	OP(VM_##l##_JGT, 0, true, load; VM_JUMP(a > in->k2))		\
	OP(VM_##l##_JGE, 0, true, load; VM_JUMP(a >= in->k2))		\
	OP(VM_##l##_JSET, 0, true, load; VM_JUMP(a & in->k2))		\
	OP(VM_##l##_JIN, 0, true, load; VM_JUMP(VM_IN_SET()))

#define VM_FUSED_OPS(OP)						\
	OP(VM_JIN, 0, true, VM_JUMP(VM_IN_SET()))			\
	OP(VM_MSH_IND_W, 0, true,					\
	   VM_LD_MSH_IND(4, vm_get32); VM_GOTO(in + 2))		\
	OP(VM_MSH_IND_H, 0, true,					\
	   VM_LD_MSH_IND(2, vm_get16); VM_GOTO(in + 2))		\
	OP(VM_MSH_IND_B, 0, true,					\
	   VM_LD_MSH_IND(1, vm_get8); VM_GOTO(in + 2))			\
	VM_OPS_FUSED_GROUP(OP, LD_W, VM_LD_ABS(4, vm_get32))		\
	VM_OPS_FUSED_GROUP(OP, LD_H, VM_LD_ABS(2, vm_get16))		\
	VM_OPS_FUSED_GROUP(OP, LD_B, VM_LD_ABS(1, vm_get8))		\
	VM_OPS_FUSED_GROUP(OP, IND_W, VM_LD_IND(4, vm_get32))		\
	VM_OPS_FUSED_GROUP(OP, IND_H, VM_LD_IND(2, vm_get16))		\
	VM_OPS_FUSED_GROUP(OP, IND_B, VM_LD_IND(1, vm_get8))		\
	VM_OPS_FUSED_GROUP(OP, MSH_IND_W, VM_LD_MSH_IND(4, vm_get32))	\
	VM_OPS_FUSED_GROUP(OP, MSH_IND_H, VM_LD_MSH_IND(2, vm_get16))	\
	VM_OPS_FUSED_GROUP(OP, MSH_IND_B, VM_LD_MSH_IND(1, vm_get8))

/* Everything a run leaves behind, for cbpf_run_trace(). */
struct vm_out {
	struct cbpf_result *res;
	cbpf_trace_fn trace;
	void *arg;
	const struct sock_filter *raw;
};

static void vm_step(const struct vm_out *out, size_t pc, uint32_t a,
		    uint32_t x, int mem_index, const uint32_t *mem)
{
	struct cbpf_step step = {
		.pc = (uint32_t)pc,
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
 * The plain interpreter, for cbpf_run() and cbpf_run_trace(): in is
 * raw[pc]; each op checks its instruction (the check column) and runs its
 * body. With out (else NULL) it reports every step and the result.
 * Inlined into both, so that the tracing folds away from cbpf_run(); so
 * a switch, as a function with computed goto's table of addresses cannot
 * be inlined.
 */
static inline __attribute__((always_inline)) uint32_t
vm_exec(const struct sock_filter *raw, uint32_t prog_len, const uint8_t *pkt,
	size_t len, const struct cbpf_ctx *ctx, const struct vm_out *out)
{
	/* R1: the kernel leaves scratch uninitialised, and V12 makes sure
	 * no valid program can tell. Zeroed here, so that even an invalid
	 * program gives the same answer every time. */
	uint32_t mem[CBPF_MEMWORDS] = { 0 };
	uint32_t a = 0, x = 0, verdict = 0, n;
	size_t pc = 0, next;	/* size_t: raw[pc] needs no extension */
	const struct sock_filter *in;
	enum cbpf_exit exit_kind;
	int mem_index;
	ptrdiff_t pos;

/* To instruction target, which the op's check has shown to exist. */
#define VM_GOTO(target)							\
	do {								\
		next = (target);					\
		goto step;						\
	} while (0)
#define VM_JT (pc + 1 + in->jt)
#define VM_JF (pc + 1 + in->jf)
#define VM_JA_TARGET (pc + 1 + in->k)
#define VM_ROOM (prog_len - pc - 1)
#define VM_MEM_USED(i) (mem_index = (int)(i))
#define VM_MEM_INIT() ((void)0)
#define VM_CALL(call) call
/* LD ABS: k >= SKF_AD_OFF is an ancillary load of any width (R10, V10),
 * any other negative k header-relative (R4). */
#define VM_LD_ABS(size, get)						\
	do {								\
		if ((int32_t)in->k >= 0) {				\
			if ((size_t)in->k + (size) > len)		\
				goto oob;				\
			a = get(pkt + in->k);				\
		} else if (in->k >= (uint32_t)SKF_AD_OFF) {		\
			goto ancillary;					\
		} else {						\
			VM_LD_NEG(in->k, size, get);			\
		}							\
	} while (0)
/* The ops with an opcode are cases of the opcode, the others of the op. */
#define VM_CASE_CODE(op, code, check, body)				\
	case code:							\
		if (!(check))						\
			goto invalid;					\
		body;							\
		break;
#define VM_CASE(op, code, check, body)					\
	case op:							\
		body;							\
		break;

	for (;;) {
		if (pc >= prog_len)
			goto invalid;	/* ran off the end */
		in = &raw[pc];
		mem_index = -1;
		/* On the opcode itself: a switch's own range check does
		 * what a lookup in vm_code_op[] would, one load less. */
		switch (in->code) {
		VM_CODED_OPS(VM_CASE_CODE)
		default:
			goto invalid;
		}
		next = pc + 1;
step:
		if (out)
			vm_step(out, pc, a, x, mem_index, mem);
		pc = next;
		continue;

ancillary:
		n = in->k - (uint32_t)SKF_AD_OFF;
		if (n >= SKF_AD_MAX || n % 4)
			goto invalid;	/* V10 */
		switch ((enum vm_op)(VM_ANC_PROTOCOL + n / 4)) {
		VM_OTHER_OPS(VM_CASE)
		default:
			__builtin_unreachable();
		}
		VM_GOTO(pc + 1);
	}

#undef VM_CASE
#undef VM_CASE_CODE
#undef VM_LD_ABS
#undef VM_CALL
#undef VM_MEM_INIT
#undef VM_MEM_USED
#undef VM_ROOM
#undef VM_JA_TARGET
#undef VM_JF
#undef VM_JT
#undef VM_GOTO

ret:
	exit_kind = CBPF_EXIT_RET;
	goto last;
oob:	/* R4: the kernel zeroes A and returns it */
	a = 0;
	exit_kind = CBPF_EXIT_OOB;
	goto last;
div0:	/* R2: "if X == 0 { A = 0; exit }" */
	a = 0;
	exit_kind = CBPF_EXIT_DIV0;
	goto last;
nodev:	/* R10: "if dev == NULL: exit", returning A */
	verdict = a;
	exit_kind = CBPF_EXIT_NODEV;
last:
	if (out)
		vm_step(out, pc, a, x, mem_index, mem);
	goto done;
invalid:
	verdict = 0;
	exit_kind = CBPF_EXIT_INVALID;
done:
	if (out) {
		out->res->verdict = verdict;
		out->res->exit = exit_kind;
		out->res->pc = (uint32_t)pc;
	}
	return verdict;
}

/*
 * cbpf_run()'s interpreter, for a program whose last instruction is a RET
 * (as the kernel requires of a valid one): vm_exec()'s checks and bodies
 * on the raw array, without tracing. Since the last instruction cannot
 * fall through, no instruction can run off the end but by a jump, which
 * its check catches: no bounds check between two instructions.
 *
 * It dispatches like vm_threaded(): each op ends in its own indirect jump
 * to the next (computed goto, a GCC and Clang extension), through the
 * opcode's op (vm_code_op[]) to its label. A switch sends every
 * transition through one jump, which the CPU predicts worse. Nothing to
 * set up per run, which matters for a one-shot run on a program nobody
 * validated. Like vm_threaded(), it calls no function on the way (see
 * vm_calls_out()): at an op that would, it hands the whole run to
 * vm_exec() (no side effect has happened yet), a tail call, which costs
 * no saved registers.
 */
static __attribute__((noinline)) uint32_t
vm_run_plain(const struct sock_filter *raw, uint32_t prog_len,
	     const uint8_t *pkt, size_t len, const struct cbpf_ctx *ctx);

static uint32_t vm_raw_threaded(const struct sock_filter *raw,
				uint32_t prog_len, const uint8_t *pkt,
				size_t len, const struct cbpf_ctx *ctx)
{
	/* By opcode, one load per dispatch: every code the kernel does not
	 * allow is VM_INVALID's, then the allowed ones override that. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
	static const void *const code_labels[256] = {
		[0 ... 255] = &&L_VM_INVALID,
#define VM_LABEL(op, code, check, body) [code] = &&L_##op,
		VM_CODED_OPS(VM_LABEL)
#undef VM_LABEL
		[BPF_JMP | BPF_JEQ | BPF_K] = &&raw_jeq_k,
	};
#pragma GCC diagnostic pop
	/* Every valid n / 4 has its op (a NULL label would be jumped to). */
	_Static_assert(SKF_AD_MAX / 4 == VM_ANC_VLAN_TPID - VM_ANC_PROTOCOL + 1,
		       "an ancillary load without an op");
	static const void *const anc_labels[SKF_AD_MAX / 4] = {
#define VM_LABEL(op, code, check, body)					\
		[op - VM_ANC_PROTOCOL] = &&L_##op,
		VM_ANC_OPS(VM_LABEL)
#undef VM_LABEL
	};
	/* The instruction is raw[pc]: an index, which x86 and arm64 fold
	 * into the load's address, measured fewer instructions than a
	 * pointer (a jump's range check is then one subtraction). */
	size_t pc = 0, last = prog_len - 1;
	/* Zeroed for the same reason as in vm_exec(), when first used:
	 * most filters never touch it, and zeroing it costs a short
	 * filter's run a tenth of its time. */
	uint32_t mem[CBPF_MEMWORDS];
	bool mem_ready = false;
	uint32_t a = 0, x = 0, verdict, n;
	ptrdiff_t pos;

/* To instruction target, which the op's check has shown to exist. */
#define in (&raw[pc])
#define VM_GOTO(target)							\
	do {								\
		pc = (target);						\
		if (in->code > 0xff)					\
			goto invalid;					\
		goto *code_labels[in->code];				\
	} while (0)
#define VM_JT (pc + 1 + in->jt)
#define VM_JF (pc + 1 + in->jf)
#define VM_JA_TARGET (pc + 1 + in->k)
#define VM_ROOM (last - pc)
#define VM_MEM_USED(i) ((void)0)
#define VM_MEM_INIT()							\
	do {								\
		if (!mem_ready) {					\
			memset(mem, 0, sizeof(mem));			\
			mem_ready = true;				\
		}							\
	} while (0)
/* Left to vm_exec(), before the call, as for vm_threaded(): see
 * vm_calls_out(). */
#define VM_CALL(call) return vm_run_plain(raw, (uint32_t)last + 1, pkt, len, ctx)
#define VM_LD_ABS(size, get)						\
	do {								\
		if ((int32_t)in->k >= 0) {				\
			if ((size_t)in->k + (size) > len)		\
				goto oob;				\
			a = get(pkt + in->k);				\
		} else if (in->k >= (uint32_t)SKF_AD_OFF) {		\
			goto ancillary;					\
		} else {						\
			VM_LD_NEG(in->k, size, get);			\
		}							\
	} while (0)
#define VM_RAW_OP(op, code, check, body)				\
	L_##op:								\
		if (!(check))						\
			goto invalid;					\
		body;							\
		VM_GOTO(pc + 1);

	VM_GOTO(0);
	VM_CODED_OPS(VM_RAW_OP)
	VM_ANC_OPS(VM_RAW_OP)
L_VM_INVALID:
	goto invalid;

	/*
	 * JEQ K, VM_JEQ_K's check and body, except that a false test
	 * falling through to another JEQ K (tcpdump's port and host lists)
	 * loops here instead of dispatching: the next instruction exists,
	 * as jf = 0 < VM_ROOM has just shown.
	 */
raw_jeq_k:
	for (;;) {
		if (in->jt >= VM_ROOM || in->jf >= VM_ROOM)
			goto invalid;
		if (VM_BRANCH(a == in->k))
			VM_GOTO(VM_JT);
		if (in->jf || in[1].code != (BPF_JMP | BPF_JEQ | BPF_K))
			VM_GOTO(VM_JF);
		pc++;
	}

ancillary:
	n = in->k - (uint32_t)SKF_AD_OFF;
	if (n >= SKF_AD_MAX || n % 4)
		goto invalid;	/* V10 */
	goto *anc_labels[n / 4];

#undef VM_RAW_OP
#undef VM_LD_ABS
#undef VM_CALL
#undef VM_MEM_INIT
#undef VM_MEM_USED
#undef VM_ROOM
#undef VM_JA_TARGET
#undef VM_JF
#undef VM_JT
#undef VM_GOTO
#undef in

ret:
	return verdict;
nodev:
	return a;
oob:
div0:
invalid:
	return 0;
}

/*
 * The fast interpreter, for cbpf_vm_run(): the same ops on the code
 * cbpf_vm_new() prepared. Each instruction holds the address of its op's
 * code and its jump targets: no table lookup, no range check, no index
 * arithmetic between two ops. It calls no function (see vm_calls_out()),
 * so it saves no registers: a short filter's run is mostly its ops. The
 * tests check it against vm_exec() on every program they run.
 *
 * Where its code lies matters more than one would like: with the same
 * instructions, the benchmark's median moved between 1.9x and 2.4x with
 * the function's address modulo 64 and with the order of the ops in it.
 * So it starts on a cache line, and the fused ops, the ones tcpdump's
 * filters run, come first, right after the entry; that order measured
 * best and steadiest of those tried.
 *
 * With VM_SETUP_LABELS it only hands out its table of op addresses, which
 * cbpf_vm_new() copies into the instructions.
 */
static __attribute__((aligned(64))) uint32_t
vm_threaded(const struct cbpf_vm *vm, const uint8_t *pkt, size_t len,
	    const struct cbpf_ctx *ctx, const void *const **labels_out)
{
	static const void *const labels[VM_OP_COUNT] = {
#define VM_LABEL(op, code, check, body) [op] = &&L_##op,
		VM_OPS(VM_LABEL)
		VM_FUSED_OPS(VM_LABEL)
#undef VM_LABEL
	};
	uint32_t mem[CBPF_MEMWORDS];
	uint32_t a = 0, x = 0, verdict;
	const struct vm_code *in;
	ptrdiff_t pos;

	if (vm->setup) {
		if (vm->setup & VM_SETUP_LABELS) {
			*labels_out = labels;
			return 0;
		}
		/* A tail call: it costs the ops no saved registers. */
		if (vm->setup & VM_SETUP_CALLS_OUT)
			return vm_run_plain(vm->calls_out.insns,
					    (uint32_t)vm->calls_out.len, pkt,
					    len, ctx);
		/* V12 (cbpf_vm_new validated) means no read before a
		 * write; zero anyway when anything reads scratch, for
		 * peace of mind. */
		memset(mem, 0, sizeof(mem));
	}

#define VM_GOTO(target)							\
	do {								\
		in = (target);						\
		goto *in->label;					\
	} while (0)
#define VM_JT (in->jt)
#define VM_JF (in->jf)
#define VM_JA_TARGET (in->jt)
#define VM_MEM_USED(i) ((void)0)
#define VM_MEM_INIT() ((void)0)
/* cbpf_vm_new() leaves the programs with these ops to vm_exec(). */
#define VM_CALL(call) goto invalid
/* LD ABS with 0 <= k < 2^31 (cbpf_vm_new() made the rest other ops):
 * one compare with the length the load needs, k3 = k + size. */
#define VM_LD_ABS(size, get)						\
	do {								\
		if (in->k3 > len)					\
			goto oob;					\
		a = get(pkt + in->k);					\
	} while (0)
#define VM_THREAD(op, code, check, body)				\
	L_##op:								\
		body;							\
		VM_GOTO(in + 1);

	VM_GOTO(vm->code);
	VM_FUSED_OPS(VM_THREAD)
	VM_OTHER_OPS(VM_THREAD)
	VM_CODED_OPS(VM_THREAD)

#undef VM_THREAD
#undef VM_LD_ABS
#undef VM_CALL
#undef VM_MEM_INIT
#undef VM_MEM_USED
#undef VM_JA_TARGET
#undef VM_JF
#undef VM_JT
#undef VM_GOTO
#undef in

ret:
	return verdict;
nodev:
	return a;
oob:
div0:
invalid:
	return 0;
}

/* Programs longer than the kernel allows are not run at all. */
static uint32_t vm_prog_len(const struct cbpf_prog *prog)
{
	if (!prog || !prog->insns || prog->len > CBPF_MAXINSNS)
		return 0;
	return (uint32_t)prog->len;
}

/* What vm_raw_threaded() needs: no instruction can fall off the end. */
static bool vm_ends_with_ret(const struct sock_filter *raw, uint32_t len)
{
	uint16_t code = raw[len - 1].code;

	return code == (BPF_RET | BPF_K) || code == (BPF_RET | BPF_A);
}

/* cbpf_run() for the programs vm_raw_threaded() leaves: out of line, so
 * that neither cbpf_run() nor vm_raw_threaded() needs a stack frame. */
static __attribute__((noinline)) uint32_t
vm_run_plain(const struct sock_filter *raw, uint32_t prog_len,
	     const uint8_t *pkt, size_t len, const struct cbpf_ctx *ctx)
{
	return vm_exec(raw, prog_len, pkt, len, ctx, NULL);
}

uint32_t cbpf_run(const struct cbpf_prog *prog, const uint8_t *pkt,
		  size_t len, const struct cbpf_ctx *ctx)
{
	uint32_t n = vm_prog_len(prog);

	if (n && vm_ends_with_ret(prog->insns, n))
		return vm_raw_threaded(prog->insns, n, pkt, len, ctx);
	return vm_run_plain(n ? prog->insns : NULL, n, pkt, len, ctx);
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
	if (vm->jit)
		return vm->jit(pkt, len, ctx);
	return vm_threaded(vm, pkt, len, ctx, NULL);
}

bool vm_is_jit(const struct cbpf_vm *vm)
{
	return vm->jit != NULL;
}

int64_t vm_load_neg(const uint8_t *pkt, size_t len,
		    const struct cbpf_ctx *ctx, int32_t off, size_t size)
{
	ptrdiff_t pos;

	if (!vm_pos_neg(len, ctx, off, size, &pos))
		return -1;
	switch (size) {
	case 4:
		return vm_get32(pkt + pos);
	case 2:
		return vm_get16(pkt + pos);
	default:
		return vm_get8(pkt + pos);
	}
}

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
		return op + (VM_LD_W_NEG - VM_LD_W);
	return op;
}

/* The op of in = prog[pc], or VM_INVALID if it fails its check. */
static uint8_t vm_decode_op(const struct sock_filter *in, uint32_t room)
{
	uint8_t op = vm_op_of(in->code);

	switch (op) {
#define VM_ROOM room
#define VM_CHECK(op, code, check, body)					\
	case op:							\
		return (check) ? op : VM_INVALID;
		VM_OPS(VM_CHECK)
#undef VM_CHECK
#undef VM_ROOM
	}
	return VM_INVALID;
}

static uint32_t vm_ld_size(uint8_t op)
{
	return op == VM_LD_W ? 4 : op == VM_LD_H ? 2 : 1;
}

/* Decodes insn pc of prog[0..len); pc == len is the sentinel. */
static struct vm_insn vm_decode(const struct sock_filter *prog, uint32_t len,
				uint32_t pc)
{
	struct vm_insn in = { .op = VM_INVALID };
	const struct sock_filter *f = &prog[pc];

	if (pc >= len)
		return in;
	in.k = f->k;
	in.op = vm_decode_op(f, len - pc - 1);
	switch (in.op) {
	case VM_LD_W:
	case VM_LD_H:
	case VM_LD_B:
		in.op = vm_decode_ld_abs(in.op, f->k);
		if (in.op >= VM_LD_W && in.op <= VM_LD_B)
			in.k3 = f->k + vm_ld_size(in.op);
		break;
	case VM_JA:
		in.jt = (uint16_t)(pc + 1 + f->k);
		break;
	case VM_JEQ_K: case VM_JGT_K: case VM_JGE_K: case VM_JSET_K:
	case VM_JEQ_X: case VM_JGT_X: case VM_JGE_X: case VM_JSET_X:
		in.jt = (uint16_t)(pc + 1 + f->jt);
		in.jf = (uint16_t)(pc + 1 + f->jf);
		break;
	}
	return in;
}

/*
 * The fusions below keep every original instruction where it was: a fused
 * op at i does the work of i and of the one or two after it (and jumps on
 * itself), and those stay as they were for jumps that land on them. So
 * any path through the fused code executes the same instructions in the
 * same order, only with fewer dispatches. cbpf_vm_run() does not trace,
 * so nothing else can tell.
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

/* The largest LD IND k that VM_LD_MSH_IND takes (X <= 60). */
#define VM_MSH_IND_MAX_K ((uint32_t)INT32_MAX - 4 * 0xf)

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
			    code[i + 1].op > VM_LD_IND_B ||
			    (int32_t)ld->k < 0 ||
			    code[i + 1].k > VM_MSH_IND_MAX_K)
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

/*
 * Three ops call functions: SKF_AD_RANDOM (ctx->random) and the netlink
 * attribute searches. A call anywhere in vm_threaded() makes the compiler
 * keep the interpreter's state in callee-saved registers, saved and
 * restored on every run: a fifth of the instructions of a short filter.
 * So the programs that use them, rare, are run by vm_exec(), exact too.
 */
static bool vm_calls_out(const struct vm_insn *code, uint32_t len)
{
	uint32_t i;

	for (i = 0; i < len; i++)
		if (code[i].op == VM_ANC_RANDOM ||
		    code[i].op == VM_ANC_NLATTR ||
		    code[i].op == VM_ANC_NLATTR_NEST)
			return true;
	return false;
}

/* A fused load at a constant offset, then a jump: LD_W_JEQ..LD_B_JIN. */
static bool vm_is_ld_jump(uint8_t op)
{
	return op >= VM_LD_W_JEQ && op <= VM_LD_B_JIN;
}

/*
 * "ldb [23]; ldh [0]; jeq ...": a load at a constant offset whose value
 * the next load replaces is only a length check (cbpf_filter_udp4/6 open
 * with one). If that next load is fused with its jump, the first becomes
 * a copy of it that requires the larger length: when the packet has it,
 * both loads succeed and the copy does what both did; when it does not,
 * one of them fails and either way the run ends with 0 (cbpf_vm_run()
 * does not tell which load it was). Saves a dispatch.
 */
static void vm_fuse_length_checks(struct vm_insn *code, uint32_t len)
{
	uint32_t i;

	/* Backwards, so that a run of such checks folds into one op. */
	for (i = len - 1; i-- > 0;) {
		struct vm_insn *ld = &code[i];
		const struct vm_insn *next = &code[i + 1];

		if (ld->op < VM_LD_W || ld->op > VM_LD_B ||
		    !vm_is_ld_jump(next->op))
			continue;
		*ld = (struct vm_insn){
			.op = next->op,
			.k = next->k,
			.k2 = next->k2,
			.k3 = ld->k3 > next->k3 ? ld->k3 : next->k3,
			.jt = next->jt,
			.jf = next->jf,
			.n = next->n,
		};
	}
}

/* What cbpf_vm_new() asks vm_threaded() for its op addresses with. */
static const struct cbpf_vm vm_labels_probe = { .setup = VM_SETUP_LABELS };

/* struct cbpf_vm's alignment (of its code), for aligned_alloc(). */
#define VM_ALIGN 64

struct cbpf_vm *vm_new(const struct cbpf_prog *prog, struct cbpf_error *err,
		       unsigned int flags)
{
	const void *const *labels;
	struct vm_insn *dec = NULL;
	struct cbpf_vm *vm = NULL;
	uint32_t i, n, *set;
	size_t size;
	int ret;

	/* EINVAL, with the validator's own report of why in err. */
	ret = cbpf_validate(prog, err);
	if (ret < 0) {
		errno = -ret;
		return NULL;
	}
	n = (uint32_t)prog->len;	/* <= CBPF_MAXINSNS once valid */
	/* One allocation: the code, its sentinel, then the set words. */
	size = sizeof(*vm) + (n + 1) * sizeof(vm->code[0]) +
	       n * sizeof(uint32_t);
	size = (size + VM_ALIGN - 1) / VM_ALIGN * VM_ALIGN;
	vm = aligned_alloc(VM_ALIGN, size);
	if (vm)
		memset(vm, 0, size);
	dec = malloc((n + 1) * sizeof(*dec));
	if (!vm || !dec)
		goto nomem;
	set = (uint32_t *)&vm->code[n + 1];
	for (i = 0; i <= n; i++) {
		dec[i] = vm_decode(prog->insns, n, i);
		if (dec[i].op == VM_LD_MEM || dec[i].op == VM_LDX_MEM)
			vm->setup |= VM_SETUP_ZERO_MEM;
	}
	if (vm_calls_out(dec, n)) {
		if (cbpf_prog_from_array(&vm->calls_out, prog->insns, n) < 0)
			goto nomem;
		vm->setup |= VM_SETUP_CALLS_OUT;
	}
	vm_fuse_jeq_chains(dec, n, set);
	vm_fuse_loads(dec, n);
	vm_fuse_length_checks(dec, n);
	vm_threaded(&vm_labels_probe, NULL, 0, NULL, &labels);
	for (i = 0; i <= n; i++) {
		vm->code[i] = (struct vm_code){
			.label = labels[dec[i].op],
			.k = dec[i].k,
			.k2 = dec[i].k2,
			.k3 = dec[i].k3,
			.n = dec[i].n,
			.jt = &vm->code[dec[i].jt],
			.jf = &vm->code[dec[i].jf],
			.set = dec[i].n ? set + dec[i].k2 : NULL,
		};
	}
	free(dec);
	if (!(flags & VM_NO_JIT))
		vm->jit = jit_compile(prog->insns, n, &vm->jit_size);
	return vm;

nomem:
	free(dec);
	free(vm);
	error_set(err, -ENOMEM, -1, "out of memory");
	errno = ENOMEM;
	return NULL;
}

struct cbpf_vm *cbpf_vm_new(const struct cbpf_prog *prog,
			    struct cbpf_error *err)
{
	return vm_new(prog, err, 0);
}

void cbpf_vm_free(struct cbpf_vm *vm)
{
	if (vm) {
		jit_free(vm->jit, vm->jit_size);
		cbpf_prog_free(&vm->calls_out);
	}
	free(vm);
}
