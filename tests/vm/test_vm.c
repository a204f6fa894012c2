/* SPDX-License-Identifier: MIT */
/*
 * The VM against the kernel's runtime rules R1-R10 (doc/kernel-rules.md, B),
 * one test per rule, with the reference's verified examples. Every run
 * goes through cbpf_run(), cbpf_run_trace() and, for valid programs,
 * cbpf_vm_run(), and the three must agree. Random garbage programs check
 * that nothing is ever read out of bounds (this suite also runs under
 * ASan+UBSan).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "cbpf.h"
#include "gen.h"
#include "internal.h"	/* vm_new(): the interpreter-only VM too */

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* BPF_STMT/BPF_JUMP as expressions */
#define STMT(code, k) ((struct sock_filter)BPF_STMT(code, k))
#define JUMP(code, k, jt, jf) ((struct sock_filter)BPF_JUMP(code, k, jt, jf))

struct trace_check {
	uint64_t steps;
	int64_t last_pc;
	struct cbpf_step last;
};

static void trace_cb(const struct cbpf_step *step, void *arg)
{
	struct trace_check *t = arg;

	/* Jumps only go forward: every step is past the previous one. */
	assert_true((int64_t)step->pc > t->last_pc);
	t->last_pc = step->pc;
	t->last = *step;
	t->steps++;
}

/* The two ways cbpf_vm_run() runs a program: native code where the JIT
 * takes it (x86-64), and the threaded interpreter. Tests that run
 * cbpf_vm_run() go through both. */
static const unsigned int vm_flags[] = { 0, VM_NO_JIT };

/*
 * Runs insns[0..n) on pkt through every entry point, asserts they agree
 * and returns the verdict; res (if non-NULL) gets cbpf_run_trace()'s
 * result.
 */
static uint32_t run_all(const struct sock_filter *insns, size_t n,
			const uint8_t *pkt, size_t len,
			const struct cbpf_ctx *ctx, struct cbpf_result *res)
{
	struct cbpf_prog prog = { .len = n, .insns = (struct sock_filter *)insns };
	struct trace_check t = { .last_pc = -1 };
	struct cbpf_result r;
	uint32_t v, vt;

	v = cbpf_run(&prog, pkt, len, ctx);
	vt = cbpf_run_trace(&prog, pkt, len, ctx, &r, trace_cb, &t);
	assert_int_equal(v, vt);
	assert_int_equal(r.verdict, v);
	assert_true(r.steps == t.steps);
	if (r.exit != CBPF_EXIT_INVALID) {
		assert_true(t.steps > 0);
		assert_int_equal(t.last.pc, r.pc);
	}
	if (r.exit != CBPF_EXIT_RET && r.exit != CBPF_EXIT_NODEV)
		assert_int_equal(v, 0);

	if (n && cbpf_validate(&prog, NULL) == 0) {
		size_t f;

		for (f = 0; f < ARRAY_SIZE(vm_flags); f++) {
			struct cbpf_vm *vm = vm_new(&prog, NULL, vm_flags[f]);

			assert_non_null(vm);
			assert_int_equal(cbpf_vm_run(vm, pkt, len, ctx), v);
			cbpf_vm_free(vm);
		}
	}
	if (res)
		*res = r;
	return v;
}

#define RUN(insns, pkt, len, ctx, res) \
	run_all(insns, ARRAY_SIZE(insns), pkt, len, ctx, res)

/* A packet whose byte i is i + 1 (mod 256), so reads are recognisable. */
static uint8_t pkt200[200];

static int setup_pkt(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(pkt200); i++)
		pkt200[i] = (uint8_t)(i + 1);
	return 0;
}

static uint32_t be32_at(size_t i)
{
	return (uint32_t)pkt200[i] << 24 | (uint32_t)pkt200[i + 1] << 16 |
	       (uint32_t)pkt200[i + 2] << 8 | pkt200[i + 3];
}

/* Runs "<insn>; ret a" on pkt200. */
static uint32_t run1(struct sock_filter insn, const struct cbpf_ctx *ctx,
		     struct cbpf_result *res)
{
	struct sock_filter p[] = { insn, STMT(BPF_RET | BPF_A, 0) };

	return RUN(p, pkt200, sizeof(pkt200), ctx, res);
}

static void test_r1_initial_state(void **state)
{
	struct sock_filter ret_a[] = { STMT(BPF_RET | BPF_A, 0) };
	struct sock_filter ret_x[] = {
		STMT(BPF_MISC | BPF_TXA, 0),
		STMT(BPF_RET | BPF_A, 0),
	};
	/* Unvalidated (V12 rejects it): scratch reads as zero here. */
	struct sock_filter mem[] = {
		STMT(BPF_LD | BPF_IMM, 7),
		STMT(BPF_LD | BPF_MEM, 5),
		STMT(BPF_RET | BPF_A, 0),
	};
	struct cbpf_result res;

	(void)state;
	assert_int_equal(RUN(ret_a, pkt200, 200, NULL, &res), 0);
	assert_int_equal(res.exit, CBPF_EXIT_RET);
	assert_int_equal(res.steps, 1);
	assert_int_equal(RUN(ret_x, pkt200, 200, NULL, NULL), 0);
	assert_int_equal(RUN(mem, pkt200, 200, NULL, NULL), 0);
}

/* "ld #a; ldx #x; <op>; ret a" */
static uint32_t alu(uint32_t a, uint32_t x, uint16_t code, uint32_t k,
		    struct cbpf_result *res)
{
	struct sock_filter p[] = {
		STMT(BPF_LD | BPF_IMM, a),
		STMT(BPF_LDX | BPF_IMM, x),
		STMT(code, k),
		STMT(BPF_RET | BPF_A, 0),
	};

	return RUN(p, pkt200, 200, NULL, res);
}

static void test_r2_arithmetic(void **state)
{
	struct cbpf_result res;

	(void)state;
	assert_int_equal(alu(0xffffffff, 0, BPF_ALU | BPF_ADD | BPF_K, 2, NULL), 1);
	assert_int_equal(alu(1, 0, BPF_ALU | BPF_SUB | BPF_K, 2, NULL), 0xffffffff);
	assert_int_equal(alu(0x10000, 0, BPF_ALU | BPF_MUL | BPF_K, 0x10000, NULL), 0);
	assert_int_equal(alu(0x80000000, 0, BPF_ALU | BPF_DIV | BPF_K, 3, NULL),
			 0x2aaaaaaa);
	assert_int_equal(alu(0xffffffff, 0, BPF_ALU | BPF_MOD | BPF_K, 10, NULL), 5);
	assert_int_equal(alu(0xf0f0, 0, BPF_ALU | BPF_AND | BPF_K, 0xff00, NULL), 0xf000);
	assert_int_equal(alu(0xf0f0, 0, BPF_ALU | BPF_OR | BPF_K, 0x0f00, NULL), 0xfff0);
	assert_int_equal(alu(0xf0f0, 0, BPF_ALU | BPF_XOR | BPF_K, 0xffff, NULL), 0x0f0f);
	/* The same with X. */
	assert_int_equal(alu(0xffffffff, 2, BPF_ALU | BPF_ADD | BPF_X, 0, NULL), 1);
	assert_int_equal(alu(1, 2, BPF_ALU | BPF_SUB | BPF_X, 0, NULL), 0xffffffff);
	assert_int_equal(alu(0x10000, 0x10001, BPF_ALU | BPF_MUL | BPF_X, 0, NULL),
			 0x10000);
	assert_int_equal(alu(0xffffffff, 0x10, BPF_ALU | BPF_DIV | BPF_X, 0, NULL),
			 0x0fffffff);
	assert_int_equal(alu(0xffffffff, 10, BPF_ALU | BPF_MOD | BPF_X, 0, NULL), 5);
	assert_int_equal(alu(0xf0f0, 0xff00, BPF_ALU | BPF_AND | BPF_X, 0, NULL), 0xf000);
	assert_int_equal(alu(0xf0f0, 0x0f00, BPF_ALU | BPF_OR | BPF_X, 0, NULL), 0xfff0);
	assert_int_equal(alu(0xf0f0, 0xffff, BPF_ALU | BPF_XOR | BPF_X, 0, NULL), 0x0f0f);
	/* NEG: -1 is 0xffffffff [verified] */
	assert_int_equal(alu(1, 0, BPF_ALU | BPF_NEG, 0, NULL), 0xffffffff);
	assert_int_equal(alu(0, 0, BPF_ALU | BPF_NEG, 0, NULL), 0);
	/* DIV/MOD by X == 0 return 0, whatever RET follows. */
	assert_int_equal(alu(7, 0, BPF_ALU | BPF_DIV | BPF_X, 0, &res), 0);
	assert_int_equal(res.exit, CBPF_EXIT_DIV0);
	assert_int_equal(res.pc, 2);
	assert_int_equal(alu(7, 0, BPF_ALU | BPF_MOD | BPF_X, 0, &res), 0);
	assert_int_equal(res.exit, CBPF_EXIT_DIV0);
}

static void test_r3_shift_masked(void **state)
{
	(void)state;
	/* [verified] 1 << 33 == 2 and 0x80 >> 32 == 0x80 */
	assert_int_equal(alu(1, 33, BPF_ALU | BPF_LSH | BPF_X, 0, NULL), 2);
	assert_int_equal(alu(0x80, 32, BPF_ALU | BPF_RSH | BPF_X, 0, NULL), 0x80);
	assert_int_equal(alu(1, 31, BPF_ALU | BPF_LSH | BPF_X, 0, NULL), 0x80000000);
	assert_int_equal(alu(0x80000000, 0xffffffff, BPF_ALU | BPF_RSH | BPF_X, 0,
			     NULL), 1);
	assert_int_equal(alu(3, 0, BPF_ALU | BPF_LSH | BPF_K, 31, NULL), 0x80000000);
	assert_int_equal(alu(0x80000000, 0, BPF_ALU | BPF_RSH | BPF_K, 31, NULL), 1);
}

static void test_r4_ld_abs(void **state)
{
	struct cbpf_ctx ctx = cbpf_ctx_unix();
	struct cbpf_result res;

	(void)state;
	/* [verified] ld [196] on 200 bytes passes; ld [197] drops */
	assert_int_equal(run1(STMT(BPF_LD | BPF_W | BPF_ABS, 196), NULL, &res),
			 be32_at(196));
	assert_int_equal(res.exit, CBPF_EXIT_RET);
	assert_int_equal(run1(STMT(BPF_LD | BPF_W | BPF_ABS, 197), NULL, &res), 0);
	assert_int_equal(res.exit, CBPF_EXIT_OOB);
	assert_int_equal(res.pc, 0);
	assert_int_equal(run1(STMT(BPF_LD | BPF_H | BPF_ABS, 12), NULL, NULL),
			 0x0d0e);
	assert_int_equal(run1(STMT(BPF_LD | BPF_H | BPF_ABS, 198), NULL, NULL),
			 0xc7c8);
	assert_int_equal(run1(STMT(BPF_LD | BPF_H | BPF_ABS, 199), NULL, NULL), 0);
	assert_int_equal(run1(STMT(BPF_LD | BPF_B | BPF_ABS, 199), NULL, NULL), 200);
	assert_int_equal(run1(STMT(BPF_LD | BPF_B | BPF_ABS, 200), NULL, NULL), 0);
	assert_int_equal(run1(STMT(BPF_LD | BPF_W | BPF_ABS, 0x7fffffff), NULL,
			      &res), 0);
	assert_int_equal(res.exit, CBPF_EXIT_OOB);

	/* AF_UNIX: the network header is the payload: SKF_NET_OFF + k reads
	 * byte k [verified]; there is no MAC header: SKF_LL_OFF drops. */
	assert_int_equal(run1(STMT(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF + 5),
			      NULL, NULL), 6);
	assert_int_equal(run1(STMT(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + 196),
			      NULL, NULL), be32_at(196));
	assert_int_equal(run1(STMT(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + 197),
			      NULL, NULL), 0);
	assert_int_equal(run1(STMT(BPF_LD | BPF_B | BPF_ABS, SKF_LL_OFF), NULL,
			      &res), 0);
	assert_int_equal(res.exit, CBPF_EXIT_OOB);
	assert_int_equal(run1(STMT(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF - 1),
			      NULL, NULL), 0);

	/* A context with both headers: link layer at 0, network at 14. */
	ctx.ll_off = 0;
	ctx.net_off = 14;
	assert_int_equal(run1(STMT(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF), &ctx,
			      NULL), 15);
	assert_int_equal(run1(STMT(BPF_LD | BPF_H | BPF_ABS, SKF_LL_OFF + 12),
			      &ctx, NULL), 0x0d0e);
	assert_int_equal(run1(STMT(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF + 185),
			      &ctx, NULL), 200);
	assert_int_equal(run1(STMT(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF + 186),
			      &ctx, NULL), 0);
	/* Below SKF_LL_OFF nothing is reachable. */
	assert_int_equal(run1(STMT(BPF_LD | BPF_B | BPF_ABS, SKF_LL_OFF - 1),
			      &ctx, &res), 0);
	assert_int_equal(res.exit, CBPF_EXIT_OOB);
	ctx.net_off = CBPF_NO_HEADER;
	assert_int_equal(run1(STMT(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF), &ctx,
			      NULL), 0);
}

/*
 * Headers in front of pkt[0] (an IPv6 raw socket: the filter sees the UDP
 * header on, SKF_NET_OFF reaches the IPv6 header before it). The buffer
 * is pkt200; the filter's packet starts 40 bytes into it.
 */
static uint32_t run_at(struct sock_filter insn, size_t headroom, size_t len,
		       const struct cbpf_ctx *ctx, struct cbpf_result *res)
{
	struct sock_filter p[] = { insn, STMT(BPF_RET | BPF_A, 0) };

	return RUN(p, pkt200 + headroom, len, ctx, res);
}

static void test_r4_headroom(void **state)
{
	struct cbpf_ctx ctx = cbpf_ctx_raw6();
	struct cbpf_result res;
	struct sock_filter msh[] = {
		STMT(BPF_LDX | BPF_B | BPF_MSH, (uint32_t)SKF_NET_OFF + 7),
		STMT(BPF_MISC | BPF_TXA, 0),
		STMT(BPF_RET | BPF_A, 0),
	};
	struct sock_filter ind[] = {
		STMT(BPF_LDX | BPF_IMM, (uint32_t)SKF_NET_OFF),
		STMT(BPF_LD | BPF_B | BPF_IND, 6),
		STMT(BPF_RET | BPF_A, 0),
	};
	struct sock_filter len[] = {
		STMT(BPF_LD | BPF_W | BPF_LEN, 0),
		STMT(BPF_RET | BPF_A, 0),
	};

	(void)state;
	assert_int_equal(ctx.net_off, -40);
	assert_int_equal(ctx.headroom, 40);
	assert_int_equal(ctx.ll_off, CBPF_NO_HEADER);
	assert_int_equal(ctx.protocol, 0x86dd);
	assert_false(ctx.has_dev);

	/* SKF_NET_OFF + k reads buffer byte k: in the headroom, across
	 * into the packet, in the packet, and not past its end. */
	assert_int_equal(run_at(STMT(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF),
				40, 20, &ctx, NULL), 1);
	assert_int_equal(run_at(STMT(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + 8),
				40, 20, &ctx, NULL), be32_at(8));
	assert_int_equal(run_at(STMT(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + 38),
				40, 20, &ctx, NULL), be32_at(38));
	assert_int_equal(run_at(STMT(BPF_LD | BPF_H | BPF_ABS, SKF_NET_OFF + 58),
				40, 20, &ctx, NULL), 0x3b3c);
	assert_int_equal(run_at(STMT(BPF_LD | BPF_H | BPF_ABS, SKF_NET_OFF + 59),
				40, 20, &ctx, &res), 0);
	assert_int_equal(res.exit, CBPF_EXIT_OOB);
	/* LD IND and LDX MSH at negative offsets take the same path. */
	assert_int_equal(RUN(ind, pkt200 + 40, 20, &ctx, NULL), 7);
	assert_int_equal(RUN(msh, pkt200 + 40, 20, &ctx, NULL), (8 & 0xf) * 4);
	/* Non-negative offsets and LEN see the packet only. */
	assert_int_equal(run_at(STMT(BPF_LD | BPF_B | BPF_ABS, 0), 40, 20, &ctx,
				NULL), 41);
	assert_int_equal(run_at(STMT(BPF_LD | BPF_B | BPF_ABS, 20), 40, 20, &ctx,
				&res), 0);
	assert_int_equal(res.exit, CBPF_EXIT_OOB);
	assert_int_equal(RUN(len, pkt200 + 40, 20, &ctx, NULL), 20);
	/* No LL header: SKF_LL_OFF fails, headroom or not. */
	assert_int_equal(run_at(STMT(BPF_LD | BPF_B | BPF_ABS, SKF_LL_OFF + 54),
				40, 20, &ctx, &res), 0);
	assert_int_equal(res.exit, CBPF_EXIT_OOB);

	/* A link-layer header 14 bytes before the network header. */
	ctx.ll_off = -54;
	ctx.headroom = 54;
	assert_int_equal(run_at(STMT(BPF_LD | BPF_H | BPF_ABS, SKF_LL_OFF + 12),
				54, 20, &ctx, NULL), 0x0d0e);
	assert_int_equal(run_at(STMT(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF),
				54, 20, &ctx, NULL), 15);
	assert_int_equal(run_at(STMT(BPF_LD | BPF_B | BPF_ABS, SKF_LL_OFF + 73),
				54, 20, &ctx, NULL), 74);
	assert_int_equal(run_at(STMT(BPF_LD | BPF_B | BPF_ABS, SKF_LL_OFF + 74),
				54, 20, &ctx, NULL), 0);

	/* A header below -headroom is no header at all: every load relative
	 * to it fails, even one that would land inside the headroom. */
	ctx = cbpf_ctx_raw6();
	ctx.net_off = -41;
	assert_int_equal(run_at(STMT(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF + 1),
				40, 20, &ctx, &res), 0);
	assert_int_equal(res.exit, CBPF_EXIT_OOB);
	assert_int_equal(run_at(STMT(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF + 41),
				40, 20, &ctx, &res), 0);
	assert_int_equal(res.exit, CBPF_EXIT_OOB);
	ctx.net_off = CBPF_NO_HEADER;
	ctx.headroom = 160;
	assert_int_equal(run_at(STMT(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF),
				160, 20, &ctx, &res), 0);
	assert_int_equal(res.exit, CBPF_EXIT_OOB);
	/* With no headroom a negative offset is no header (AF_UNIX style). */
	ctx.net_off = -1;
	ctx.headroom = 0;
	assert_int_equal(run_at(STMT(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF + 1),
				40, 20, &ctx, &res), 0);
	assert_int_equal(res.exit, CBPF_EXIT_OOB);
	/* The header may also lie after pkt[0] with headroom to spare. */
	ctx.net_off = 4;
	ctx.headroom = 40;
	assert_int_equal(run_at(STMT(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF),
				40, 20, &ctx, NULL), 45);
}

/* "ldx #x; <load>; ret a" on pkt200 */
static uint32_t ind(uint32_t x, uint16_t code, uint32_t k,
		    struct cbpf_result *res)
{
	struct sock_filter p[] = {
		STMT(BPF_LDX | BPF_IMM, x),
		STMT(code, k),
		STMT(BPF_RET | BPF_A, 0),
	};

	return RUN(p, pkt200, 200, NULL, res);
}

static void test_r5_ld_ind_wraps(void **state)
{
	struct cbpf_result res;

	(void)state;
	/* [verified] X = 0xffffffff, ldb [x + 1] reads byte 0 */
	assert_int_equal(ind(0xffffffff, BPF_LD | BPF_B | BPF_IND, 1, NULL), 1);
	assert_int_equal(ind(2, BPF_LD | BPF_H | BPF_IND, 3, NULL), 0x0607);
	assert_int_equal(ind(100, BPF_LD | BPF_W | BPF_IND, 96, NULL), be32_at(196));
	assert_int_equal(ind(100, BPF_LD | BPF_W | BPF_IND, 97, &res), 0);
	assert_int_equal(res.exit, CBPF_EXIT_OOB);
	assert_int_equal(res.pc, 1);
	/* A wrapped sum >= 2^31 is a negative offset: the network header. */
	assert_int_equal(ind((uint32_t)SKF_NET_OFF, BPF_LD | BPF_B | BPF_IND, 4,
			     NULL), 5);
	assert_int_equal(ind(4, BPF_LD | BPF_B | BPF_IND, (uint32_t)SKF_NET_OFF,
			     NULL), 5);
	assert_int_equal(ind(0x80000000, BPF_LD | BPF_B | BPF_IND, 0x80000001,
			     NULL), 2);
	assert_int_equal(ind(0x7fffffff, BPF_LD | BPF_B | BPF_IND, 1, &res), 0);
	assert_int_equal(res.exit, CBPF_EXIT_OOB);
	/* LD IND into the ancillary range is a plain (failing) load: no
	 * XOR happens here. */
	assert_int_equal(ind(0, BPF_LD | BPF_W | BPF_IND,
			     (uint32_t)SKF_AD_OFF + SKF_AD_ALU_XOR_X, &res), 0);
	assert_int_equal(res.exit, CBPF_EXIT_OOB);
}

static void test_r6_ldx_msh(void **state)
{
	struct sock_filter msh[] = {
		STMT(BPF_LD | BPF_IMM, 123),
		STMT(BPF_LDX | BPF_B | BPF_MSH, 14),
		JUMP(BPF_JMP | BPF_JEQ | BPF_K, 123, 0, 2),	/* A kept */
		STMT(BPF_MISC | BPF_TXA, 0),
		STMT(BPF_RET | BPF_A, 0),
		STMT(BPF_RET | BPF_K, 1),
	};
	struct cbpf_result res;
	uint8_t pkt[20] = { [14] = 0x45, [15] = 0xfe };

	(void)state;
	assert_int_equal(RUN(msh, pkt, sizeof(pkt), NULL, NULL), 20);
	msh[1].k = 15;
	assert_int_equal(RUN(msh, pkt, sizeof(pkt), NULL, NULL), 56);
	msh[1].k = (uint32_t)SKF_NET_OFF + 14;	/* negative k works */
	assert_int_equal(RUN(msh, pkt, sizeof(pkt), NULL, NULL), 20);
	msh[1].k = 20;
	assert_int_equal(RUN(msh, pkt, sizeof(pkt), NULL, &res), 0);
	assert_int_equal(res.exit, CBPF_EXIT_OOB);
	assert_int_equal(res.pc, 1);
	msh[1].k = (uint32_t)SKF_LL_OFF;
	assert_int_equal(RUN(msh, pkt, sizeof(pkt), NULL, &res), 0);
	assert_int_equal(res.exit, CBPF_EXIT_OOB);
	/* The ancillary range is a plain load for MSH too. */
	msh[1].k = (uint32_t)SKF_AD_OFF + SKF_AD_PROTOCOL;
	assert_int_equal(RUN(msh, pkt, sizeof(pkt), NULL, &res), 0);
	assert_int_equal(res.exit, CBPF_EXIT_OOB);
}

static void test_r7_len(void **state)
{
	struct sock_filter ld[] = {
		STMT(BPF_LD | BPF_W | BPF_LEN, 0),
		STMT(BPF_RET | BPF_A, 0),
	};
	struct sock_filter ldx[] = {
		STMT(BPF_LDX | BPF_W | BPF_LEN, 0),
		STMT(BPF_MISC | BPF_TXA, 0),
		STMT(BPF_RET | BPF_A, 0),
	};

	(void)state;
	assert_int_equal(RUN(ld, pkt200, 200, NULL, NULL), 200);
	assert_int_equal(RUN(ld, pkt200, 37, NULL, NULL), 37);
	assert_int_equal(RUN(ld, pkt200, 0, NULL, NULL), 0);
	assert_int_equal(RUN(ldx, pkt200, 200, NULL, NULL), 200);
	assert_int_equal(RUN(ldx, NULL, 0, NULL, NULL), 0);
}

/* "ld #a; ldx #x; <jump> 0, 1; ret #1; ret #2": 1 if taken */
static uint32_t jump(uint32_t a, uint32_t x, uint16_t code, uint32_t k)
{
	struct sock_filter p[] = {
		STMT(BPF_LD | BPF_IMM, a),
		STMT(BPF_LDX | BPF_IMM, x),
		JUMP(code, k, 0, 1),
		STMT(BPF_RET | BPF_K, 1),
		STMT(BPF_RET | BPF_K, 2),
	};

	return RUN(p, pkt200, 200, NULL, NULL);
}

static void test_r8_jumps_unsigned(void **state)
{
	struct sock_filter ja[] = {
		JUMP(BPF_JMP | BPF_JA, 2, 0, 0),
		STMT(BPF_RET | BPF_K, 1),
		STMT(BPF_RET | BPF_K, 2),
		JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0),
		STMT(BPF_RET | BPF_K, 3),
		STMT(BPF_RET | BPF_K, 4),
	};
	struct cbpf_result res;

	(void)state;
	/* K >= 0x80000000 compares unsigned [verified] */
	assert_int_equal(jump(0x80000000, 0, BPF_JMP | BPF_JGT | BPF_K, 0x7fffffff), 1);
	assert_int_equal(jump(0x7fffffff, 0, BPF_JMP | BPF_JGT | BPF_K, 0x80000000), 2);
	assert_int_equal(jump(5, 0, BPF_JMP | BPF_JGE | BPF_K, 5), 1);
	assert_int_equal(jump(4, 0, BPF_JMP | BPF_JGE | BPF_K, 5), 2);
	assert_int_equal(jump(5, 0, BPF_JMP | BPF_JGT | BPF_K, 5), 2);
	assert_int_equal(jump(0xffffffff, 0, BPF_JMP | BPF_JEQ | BPF_K, 0xffffffff), 1);
	assert_int_equal(jump(0x10, 0, BPF_JMP | BPF_JSET | BPF_K, 0x11), 1);
	assert_int_equal(jump(0x10, 0, BPF_JMP | BPF_JSET | BPF_K, 0x01), 2);
	assert_int_equal(jump(0x80000000, 0x7fffffff, BPF_JMP | BPF_JGT | BPF_X, 0), 1);
	assert_int_equal(jump(0x7fffffff, 0x80000000, BPF_JMP | BPF_JGE | BPF_X, 0), 2);
	assert_int_equal(jump(7, 7, BPF_JMP | BPF_JEQ | BPF_X, 0), 1);
	assert_int_equal(jump(6, 1, BPF_JMP | BPF_JSET | BPF_X, 0), 2);
	assert_int_equal(RUN(ja, pkt200, 200, NULL, &res), 4);
	assert_int_equal(res.steps, 3);
}

static void test_r9_ret(void **state)
{
	struct sock_filter p[] = {
		STMT(BPF_RET | BPF_K, 0xffffffff),
		STMT(BPF_RET | BPF_K, 5),
	};
	struct sock_filter a[] = {
		STMT(BPF_LD | BPF_IMM, 0x12345678),
		STMT(BPF_RET | BPF_A, 0),
	};
	struct cbpf_result res;

	(void)state;
	assert_int_equal(RUN(p, pkt200, 200, NULL, &res), 0xffffffff);
	assert_int_equal(res.exit, CBPF_EXIT_RET);
	assert_int_equal(res.pc, 0);
	assert_int_equal(RUN(a, pkt200, 200, NULL, NULL), 0x12345678);
}

static uint32_t counter_random(void *arg)
{
	uint32_t *n = arg;

	return ++*n;
}

static uint32_t anc(uint32_t n, uint16_t size, const struct cbpf_ctx *ctx,
		    struct cbpf_result *res)
{
	return run1(STMT(BPF_LD | size | BPF_ABS, (uint32_t)SKF_AD_OFF + n),
		    ctx, res);
}

static void test_r10_ancillary(void **state)
{
	/* [verified] ld #50; ld ifidx; ret #1000 delivers 50 bytes */
	struct sock_filter ifidx[] = {
		STMT(BPF_LD | BPF_IMM, 50),
		STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_IFINDEX),
		STMT(BPF_RET | BPF_K, 1000),
	};
	struct sock_filter xor[] = {
		STMT(BPF_LD | BPF_IMM, 0x12345678),
		STMT(BPF_LDX | BPF_IMM, 0xff00ff00),
		STMT(BPF_LD | BPF_B | BPF_ABS, SKF_AD_OFF + SKF_AD_ALU_XOR_X),
		STMT(BPF_RET | BPF_A, 0),
	};
	struct cbpf_ctx ctx = cbpf_ctx_unix();
	struct cbpf_result res;
	uint32_t rnd = 0, n;

	(void)state;
	assert_int_equal(RUN(ifidx, pkt200, 200, NULL, &res), 50);
	assert_int_equal(res.exit, CBPF_EXIT_NODEV);
	assert_int_equal(res.pc, 1);
	ifidx[1].k = SKF_AD_OFF + SKF_AD_HATYPE;
	ifidx[1].code = BPF_LD | BPF_B | BPF_ABS;
	assert_int_equal(RUN(ifidx, pkt200, 200, NULL, &res), 50);
	assert_int_equal(res.exit, CBPF_EXIT_NODEV);
	/* ldb [xor_x] behaves like ld: the width is ignored [verified] */
	assert_int_equal(RUN(xor, pkt200, 200, NULL, NULL),
			 0x12345678 ^ 0xff00ff00);

	/* AF_UNIX: every field reads 0. */
	for (n = 0; n < SKF_AD_MAX; n += 4) {
		if (n == SKF_AD_IFINDEX || n == SKF_AD_HATYPE)
			continue;
		assert_int_equal(anc(n, BPF_W, NULL, NULL), 0);
	}

	ctx.has_dev = true;
	ctx.ifindex = 0x01020304;
	ctx.hatype = 772;
	ctx.protocol = 0x86dd;
	ctx.pkt_type = 0xfb;
	ctx.mark = 0xdeadbeef;
	ctx.queue = 0xabcd;
	ctx.rxhash = 0x87654321;
	ctx.cpu = 3;
	ctx.vlan_tci = 0xf123;
	ctx.vlan_present = true;
	ctx.vlan_tpid = 0x88a8;
	ctx.pay_offset = 54;
	ctx.random = counter_random;
	ctx.random_arg = &rnd;
	assert_int_equal(anc(SKF_AD_IFINDEX, BPF_B, &ctx, &res), 0x01020304);
	assert_int_equal(res.exit, CBPF_EXIT_RET);
	assert_int_equal(anc(SKF_AD_HATYPE, BPF_W, &ctx, NULL), 772);
	assert_int_equal(anc(SKF_AD_PROTOCOL, BPF_H, &ctx, NULL), 0x86dd);
	assert_int_equal(anc(SKF_AD_PKTTYPE, BPF_W, &ctx, NULL), 3);
	assert_int_equal(anc(SKF_AD_MARK, BPF_B, &ctx, NULL), 0xdeadbeef);
	assert_int_equal(anc(SKF_AD_QUEUE, BPF_W, &ctx, NULL), 0xabcd);
	assert_int_equal(anc(SKF_AD_RXHASH, BPF_W, &ctx, NULL), 0x87654321);
	assert_int_equal(anc(SKF_AD_CPU, BPF_W, &ctx, NULL), 3);
	assert_int_equal(anc(SKF_AD_VLAN_TAG, BPF_W, &ctx, NULL), 0xf123);
	assert_int_equal(anc(SKF_AD_VLAN_TAG_PRESENT, BPF_W, &ctx, NULL), 1);
	assert_int_equal(anc(SKF_AD_VLAN_TPID, BPF_W, &ctx, NULL), 0x88a8);
	assert_int_equal(anc(SKF_AD_PAY_OFFSET, BPF_W, &ctx, NULL), 54);
	/* Each run draws once from ctx.random. */
	{
		struct sock_filter p[] = {
			STMT(BPF_LD | BPF_H | BPF_ABS, SKF_AD_OFF + SKF_AD_RANDOM),
			STMT(BPF_RET | BPF_A, 0),
		};
		struct cbpf_prog prog = { .len = 2, .insns = p };
		struct cbpf_vm *vm = cbpf_vm_new(&prog, NULL);

		assert_non_null(vm);
		rnd = 0x10000;
		assert_int_equal(cbpf_run(&prog, NULL, 0, &ctx), 0x10001);
		assert_int_equal(cbpf_vm_run(vm, NULL, 0, &ctx), 0x10002);
		assert_int_equal(cbpf_run_trace(&prog, NULL, 0, &ctx, &res, NULL,
						NULL), 0x10003);
		cbpf_vm_free(vm);
	}
	ctx.random = NULL;
	assert_int_equal(anc(SKF_AD_RANDOM, BPF_W, &ctx, NULL), 0);

	/* Unknown ancillary numbers are not valid programs. */
	assert_int_equal(anc(SKF_AD_MAX, BPF_W, &ctx, &res), 0);
	assert_int_equal(res.exit, CBPF_EXIT_INVALID);
	assert_int_equal(anc(2, BPF_W, &ctx, &res), 0);
	assert_int_equal(res.exit, CBPF_EXIT_INVALID);
}

static void put_nla(uint8_t *p, uint16_t len, uint16_t type)
{
	memcpy(p, &len, 2);	/* host order, like struct nlattr */
	memcpy(p + 2, &type, 2);
}

/* "ld #a; ldx #x; ld [nla or nlan]; ret a" */
static uint32_t nla(const uint8_t *pkt, size_t len, uint32_t a, uint32_t x,
		    uint32_t which)
{
	struct sock_filter p[] = {
		STMT(BPF_LD | BPF_IMM, a),
		STMT(BPF_LDX | BPF_IMM, x),
		STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)SKF_AD_OFF + which),
		STMT(BPF_RET | BPF_A, 0),
	};

	return RUN(p, pkt, len, NULL, NULL);
}

static void test_r10_nlattr(void **state)
{
	uint8_t pkt[40] = { 0 };

	(void)state;
	put_nla(pkt + 0, 8, 1);		/* 0: type 1, 4 bytes of data */
	put_nla(pkt + 8, 12, 2);	/* 8: type 2, nested: */
	put_nla(pkt + 12, 5, 5);	/*   12: type 5, padded to 8 */
	put_nla(pkt + 20, 6, 0x8003);	/* 20: type 3 (NESTED flag set) */
	put_nla(pkt + 28, 12, 4);	/* 28: type 4, exactly to the end */

	assert_int_equal(nla(pkt, 40, 0, 1, SKF_AD_NLATTR), 0);	/* found at 0 */
	assert_int_equal(nla(pkt, 40, 0, 2, SKF_AD_NLATTR), 8);
	assert_int_equal(nla(pkt, 40, 0, 3, SKF_AD_NLATTR), 20);
	assert_int_equal(nla(pkt, 40, 0, 4, SKF_AD_NLATTR), 28);
	assert_int_equal(nla(pkt, 40, 0, 5, SKF_AD_NLATTR), 0);	/* nested only */
	assert_int_equal(nla(pkt, 40, 0, 0x10002, SKF_AD_NLATTR), 0);
	assert_int_equal(nla(pkt, 40, 8, 3, SKF_AD_NLATTR), 20);
	assert_int_equal(nla(pkt, 39, 0, 4, SKF_AD_NLATTR), 0);	/* overruns */
	assert_int_equal(nla(pkt, 40, 40, 4, SKF_AD_NLATTR), 0);	/* A > len - 4 */
	assert_int_equal(nla(pkt, 40, 37, 4, SKF_AD_NLATTR), 0);
	assert_int_equal(nla(pkt, 40, 0xffffffff, 4, SKF_AD_NLATTR), 0);

	/* Nested: the attribute at A must fit, then search inside it. */
	assert_int_equal(nla(pkt, 40, 8, 5, SKF_AD_NLATTR_NEST), 12);
	assert_int_equal(nla(pkt, 40, 8, 2, SKF_AD_NLATTR_NEST), 0);
	assert_int_equal(nla(pkt, 40, 0, 1, SKF_AD_NLATTR_NEST), 0);
	assert_int_equal(nla(pkt, 19, 8, 5, SKF_AD_NLATTR_NEST), 0);
	assert_int_equal(nla(pkt, 40, 40, 5, SKF_AD_NLATTR_NEST), 0);

	/* A malformed attribute (nla_len < 4) ends the walk. */
	put_nla(pkt + 8, 3, 2);
	assert_int_equal(nla(pkt, 40, 0, 2, SKF_AD_NLATTR), 0);
	assert_int_equal(nla(pkt, 40, 0, 3, SKF_AD_NLATTR), 0);
	assert_int_equal(nla(pkt, 3, 0, 1, SKF_AD_NLATTR), 0);
	assert_int_equal(nla(pkt, 0, 0, 1, SKF_AD_NLATTR_NEST), 0);
}

static void expect_invalid(const struct sock_filter *insns, size_t n,
			   uint32_t pc)
{
	struct cbpf_prog prog = { .len = n, .insns = (struct sock_filter *)insns };
	struct cbpf_result res;
	struct cbpf_error err = { 0 };

	assert_int_equal(run_all(insns, n, pkt200, 200, NULL, &res), 0);
	assert_int_equal(res.exit, CBPF_EXIT_INVALID);
	assert_int_equal(res.pc, pc);
	errno = 0;
	assert_null(cbpf_vm_new(&prog, &err));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(err.err, -EINVAL);
}

static void test_invalid_programs(void **state)
{
	struct sock_filter p[3];

	(void)state;
	expect_invalid(NULL, 0, 0);
	/* off the end: pc is the length */
	p[0] = STMT(BPF_LD | BPF_IMM, 1);
	expect_invalid(p, 1, 1);
	/* opcodes outside the kernel's 49 */
	p[0] = STMT(BPF_LD | BPF_H | BPF_IMM, 1);
	p[1] = STMT(BPF_RET | BPF_K, 1);
	expect_invalid(p, 2, 0);
	p[0] = STMT(BPF_RET | BPF_X, 1);
	expect_invalid(p, 2, 0);
	p[0] = STMT(0xffff, 1);
	expect_invalid(p, 2, 0);
	/* jumps past the end */
	p[0] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1);
	expect_invalid(p, 2, 0);
	p[0] = JUMP(BPF_JMP | BPF_JA, 1, 0, 0);
	expect_invalid(p, 2, 0);
	p[0] = JUMP(BPF_JMP | BPF_JA, 0xffffffff, 0, 0);
	expect_invalid(p, 2, 0);
	/* scratch index >= 16 */
	p[0] = STMT(BPF_ST, 16);
	expect_invalid(p, 2, 0);
	p[0] = STMT(BPF_LDX | BPF_MEM, 0xffffffff);
	expect_invalid(p, 2, 0);
	/* constant division by 0, constant shift >= 32 */
	p[0] = STMT(BPF_ALU | BPF_MOD | BPF_K, 0);
	expect_invalid(p, 2, 0);
	p[0] = STMT(BPF_ALU | BPF_LSH | BPF_K, 32);
	expect_invalid(p, 2, 0);

	/* Invalid only where reached: cbpf_run runs up to it. */
	p[0] = STMT(BPF_RET | BPF_K, 9);
	p[1] = STMT(0xffff, 0);
	assert_int_equal(run_all(p, 2, pkt200, 200, NULL, NULL), 9);
}

static void test_too_long_not_run(void **state)
{
	struct sock_filter *p = calloc(CBPF_MAXINSNS + 1, sizeof(*p));
	struct cbpf_result res;

	(void)state;
	assert_non_null(p);
	p[0] = STMT(BPF_RET | BPF_K, 1);
	assert_int_equal(run_all(p, CBPF_MAXINSNS, pkt200, 200, NULL, &res), 1);
	assert_int_equal(run_all(p, CBPF_MAXINSNS + 1, pkt200, 200, NULL, &res), 0);
	assert_int_equal(res.exit, CBPF_EXIT_INVALID);
	free(p);
}

static void test_trace_steps(void **state)
{
	struct sock_filter p[] = {
		STMT(BPF_LD | BPF_IMM, 5),
		STMT(BPF_ST, 2),
		STMT(BPF_LDX | BPF_MEM, 2),
		STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
		STMT(BPF_STX, 15),
		STMT(BPF_RET | BPF_A, 0),
	};
	struct cbpf_prog prog = { .len = ARRAY_SIZE(p), .insns = p };
	struct cbpf_result res;
	struct trace_check t = { .last_pc = -1 };

	(void)state;
	assert_int_equal(cbpf_run_trace(&prog, NULL, 0, NULL, &res, NULL, NULL),
			 10);
	assert_int_equal(res.steps, 6);
	assert_int_equal(res.pc, 5);
	assert_int_equal(res.exit, CBPF_EXIT_RET);

	prog.len = 2;
	p[1] = STMT(BPF_ST, 2);
	cbpf_run_trace(&prog, NULL, 0, NULL, &res, trace_cb, &t);
	assert_int_equal(res.exit, CBPF_EXIT_INVALID);	/* off the end */
	assert_int_equal(res.pc, 2);
	assert_int_equal(t.steps, 2);
	assert_int_equal(t.last.mem_index, 2);
	assert_int_equal(t.last.mem_value, 5);
	assert_int_equal(t.last.a, 5);
	assert_int_equal(t.last.insn.code, BPF_ST);

	prog.len = 3;
	t = (struct trace_check){ .last_pc = -1 };
	cbpf_run_trace(&prog, NULL, 0, NULL, &res, trace_cb, &t);
	assert_int_equal(t.last.pc, 2);
	assert_int_equal(t.last.mem_index, 2);
	assert_int_equal(t.last.x, 5);

	prog.len = 5;
	t = (struct trace_check){ .last_pc = -1 };
	cbpf_run_trace(&prog, NULL, 0, NULL, &res, trace_cb, &t);
	assert_int_equal(t.last.mem_index, 15);
	assert_int_equal(t.last.mem_value, 5);
	assert_int_equal(t.last.a, 10);

	prog.len = 4;
	t = (struct trace_check){ .last_pc = -1 };
	cbpf_run_trace(&prog, NULL, 0, NULL, &res, trace_cb, &t);
	assert_int_equal(t.last.mem_index, -1);
}

static void test_ctx_unix(void **state)
{
	struct cbpf_ctx c = cbpf_ctx_unix();

	(void)state;
	assert_false(c.has_dev);
	assert_int_equal(c.net_off, 0);
	assert_int_equal(c.ll_off, CBPF_NO_HEADER);
	assert_int_equal(c.headroom, 0);
	assert_int_equal(c.ifindex | c.hatype | c.protocol | c.pkt_type | c.mark |
			 c.queue | c.rxhash | c.cpu | c.vlan_tci | c.vlan_tpid |
			 c.pay_offset, 0);
	assert_false(c.vlan_present);
	assert_null(c.random);
}

static void test_vm_new_errors(void **state)
{
	struct sock_filter ok[] = { STMT(BPF_RET | BPF_K, 3) };
	struct sock_filter bad[] = { STMT(BPF_LD | BPF_IMM, 3) };
	struct cbpf_prog prog = { .len = 1, .insns = ok };
	struct cbpf_prog none = { 0 };
	struct cbpf_error err;
	struct cbpf_vm *vm;

	(void)state;
	/* Rule 2 and 3: NULL with errno EINVAL, err filled by the
	 * validator (V2 for no program, V11 for no final ret). */
	memset(&err, 0x5a, sizeof(err));
	errno = 0;
	assert_null(cbpf_vm_new(&none, &err));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(err.err, -EINVAL);
	assert_non_null(strstr(err.msg, "kernel rule V2"));
	vm = cbpf_vm_new(&prog, NULL);
	assert_non_null(vm);
	assert_int_equal(cbpf_vm_run(vm, NULL, 0, NULL), 3);
	cbpf_vm_free(vm);
	cbpf_vm_free(NULL);
	prog.insns = bad;
	memset(&err, 0x5a, sizeof(err));
	errno = 0;
	assert_null(cbpf_vm_new(&prog, &err));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(err.err, -EINVAL);
	assert_int_equal(err.insn, 0);
	assert_non_null(strstr(err.msg, "kernel rule V11"));
	errno = 0;
	assert_null(cbpf_vm_new(&prog, NULL));
	assert_int_equal(errno, EINVAL);
}

/*
 * The instruction patterns cbpf_vm_new() fuses (see lib/vm.c), at the
 * offsets and lengths where a fused op could go wrong: cbpf_vm_run() must
 * give cbpf_run()'s verdict on every length from 0 to 80 (run_all).
 */
static void run_all_lengths(const struct sock_filter *insns, size_t n,
			    const uint8_t *pkt)
{
	struct cbpf_prog prog = { .len = n,
				  .insns = (struct sock_filter *)insns };
	struct cbpf_ctx raw6 = cbpf_ctx_raw6();
	size_t len;

	assert_int_equal(cbpf_validate(&prog, NULL), 0);
	for (len = 0; len <= 80; len++) {
		run_all(insns, n, pkt + 40, len, NULL, NULL);
		run_all(insns, n, pkt + 40, len, &raw6, NULL);
	}
}

static void test_fused_patterns(void **state)
{
	/* ldxb 4*([k]&0xf); ld{w,h,b} [x + k3]; jeq, and without the jeq */
	struct sock_filter msh[] = {
		STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
		STMT(BPF_LD | BPF_H | BPF_IND, 0),
		JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x1718, 0, 1),
		STMT(BPF_RET | BPF_K, 1),
		STMT(BPF_LD | BPF_W | BPF_IND, 2),
		STMT(BPF_RET | BPF_A, 0),
	};
	static const uint32_t msh_k[] = {
		0, 1, 14, 0x7fffffff,
		(uint32_t)SKF_NET_OFF, (uint32_t)SKF_NET_OFF + 3,
	};
	static const uint32_t ind_k[] = {
		0, 2, 16, 0x7fffffffU - 60, 0x7fffffffU - 59, 0x7fffffff,
		0x80000000, (uint32_t)SKF_NET_OFF, 0xffffffc4, 0xffffffff,
	};
	static const uint16_t sizes[] = { BPF_W, BPF_H, BPF_B };
	/* Loads whose value is only a length check, before a fused load. */
	struct sock_filter checks[] = {
		STMT(BPF_LD | BPF_W | BPF_ABS, 36),
		STMT(BPF_LD | BPF_B | BPF_ABS, 23),
		STMT(BPF_LD | BPF_H | BPF_ABS, 0),
		JUMP(BPF_JMP | BPF_JGT | BPF_K, 0x2900, 0, 1),
		STMT(BPF_RET | BPF_A, 0),
		STMT(BPF_LD | BPF_B | BPF_ABS, 50),
		JUMP(BPF_JMP | BPF_JSET | BPF_K, 1, 1, 0),
		STMT(BPF_RET | BPF_K, 2),
		STMT(BPF_RET | BPF_K, 3),
	};
	/* A jeq chain with one true target, entered in the middle too. */
	struct sock_filter chain[] = {
		STMT(BPF_LD | BPF_B | BPF_ABS, 1),
		JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x30, 2, 0),
		STMT(BPF_LD | BPF_B | BPF_ABS, 0),
		JUMP(BPF_JMP | BPF_JA, 1, 0, 0),
		STMT(BPF_LD | BPF_B | BPF_ABS, 2),
		JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x29, 4, 0),
		JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x2b, 3, 0),
		JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x2a, 2, 0),
		JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x2c, 1, 0),
		STMT(BPF_RET | BPF_K, 0),
		STMT(BPF_RET | BPF_K, 9),
	};
	const struct sock_filter jeq = msh[2];
	uint8_t pkt[40 + 80];
	size_t i, j, w;

	(void)state;
	for (i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)(0x40 + i % 7 + (i / 7) * 3);
	pkt[40] = 0x43;
	for (w = 0; w < ARRAY_SIZE(sizes); w++)
		for (i = 0; i < ARRAY_SIZE(msh_k); i++)
			for (j = 0; j < ARRAY_SIZE(ind_k); j++) {
				msh[0].k = msh_k[i];
				msh[1].code = BPF_LD | sizes[w] | BPF_IND;
				msh[1].k = ind_k[j];
				run_all_lengths(msh, ARRAY_SIZE(msh), pkt);
				/* without the jump after it */
				msh[2] = STMT(BPF_MISC | BPF_TAX, 0);
				run_all_lengths(msh, ARRAY_SIZE(msh), pkt);
				msh[2] = jeq;
			}
	run_all_lengths(checks, ARRAY_SIZE(checks), pkt);
	checks[0].k = 10;	/* now the byte at 23 decides */
	run_all_lengths(checks, ARRAY_SIZE(checks), pkt);
	/* header-relative: not a constant offset */
	checks[1].k = (uint32_t)SKF_NET_OFF + 10;
	run_all_lengths(checks, ARRAY_SIZE(checks), pkt);
	for (i = 0; i < 4; i++) {
		pkt[40 + 2] = (uint8_t)(0x29 + i);
		pkt[40 + 1] = (uint8_t)(0x2e + i);
		run_all_lengths(chain, ARRAY_SIZE(chain), pkt);
	}
}

/*
 * Random contexts: with or without a device and headers, fields set, and
 * sometimes headers in front of pkt[0] (headroom), placed anywhere from
 * inside the packet to one byte below the headroom (no header).
 */
static void random_ctx(struct gen *g, struct cbpf_ctx *ctx, size_t len)
{
	uint32_t room;

	*ctx = cbpf_ctx_unix();
	if (gen_below(g, 2))
		return;
	ctx->has_dev = gen_below(g, 2);
	ctx->ifindex = gen_u32(g);
	ctx->hatype = (uint16_t)gen_u32(g);
	ctx->protocol = (uint16_t)gen_u32(g);
	ctx->pkt_type = (uint8_t)gen_u32(g);
	ctx->mark = gen_u32(g);
	ctx->vlan_present = gen_below(g, 2);
	ctx->pay_offset = gen_below(g, 64);
	ctx->net_off = gen_below(g, 4) ? (int32_t)gen_below(g, (uint32_t)len + 2)
				       : CBPF_NO_HEADER;
	ctx->ll_off = gen_below(g, 2) ? 0 : CBPF_NO_HEADER;
	if (gen_below(g, 3))
		return;
	room = gen_below(g, 80);
	ctx->headroom = room;
	ctx->net_off = (int32_t)gen_below(g, room + (uint32_t)len + 2) -
		       (int32_t)room - 1;
	if (gen_below(g, 2))
		ctx->ll_off = (int32_t)gen_below(g, room + 2) - (int32_t)room - 1;
}

/* A heap copy of pkt[0..len) with ctx->headroom random bytes in front and
 * nothing after, so that ASan sees any read outside them. Returns the
 * allocation; the packet starts ctx->headroom bytes into it. */
static uint8_t *heap_packet(struct gen *g, const struct cbpf_ctx *ctx,
			    const uint8_t *pkt, size_t len)
{
	size_t size = ctx->headroom + len;
	uint8_t *buf = malloc(size ? size : 1);

	assert_non_null(buf);
	gen_packet_fill(g, buf, ctx->headroom);
	memcpy(buf + ctx->headroom, pkt, len);
	return buf;
}

/*
 * Every packet load at every offset around the end of short packets:
 * LD ABS, LD IND (X = 0..3) and LDX MSH of each size, alone and followed
 * by the jumps cbpf_vm_new() fuses them with (and LD ABS after a load
 * that is only a length check). The verdict must be the loaded value, or
 * 0 once the load does not fit, from every entry point (run_all).
 */
static uint32_t be_at(const uint8_t *p, uint32_t size)
{
	uint32_t v = 0, i;

	for (i = 0; i < size; i++)
		v = v << 8 | p[i];
	return v;
}

static void check_load(struct sock_filter *p, size_t n, const uint8_t *pkt,
		       size_t len, uint32_t off, uint32_t size, uint32_t value)
{
	uint32_t want = off + size <= len ? value : 0;

	assert_int_equal(run_all(p, n, pkt, len, NULL, NULL), want);
}

static void test_loads_near_end(void **state)
{
	static const uint16_t sizes[] = { BPF_B, BPF_H, BPF_W };
	static const uint32_t bytes[] = { 1, 2, 4 };
	struct sock_filter p[6];
	size_t len;
	uint32_t off, x, s;

	(void)state;
	for (len = 0; len <= 12; len++) {
		for (off = 0; off <= len + 4; off++) {
			for (s = 0; s < ARRAY_SIZE(sizes); s++) {
				uint32_t v = be_at(pkt200 + off, bytes[s]);

				/* ld; ret a */
				p[0] = STMT(BPF_LD | sizes[s] | BPF_ABS, off);
				p[1] = STMT(BPF_RET | BPF_A, 0);
				check_load(p, 2, pkt200, len, off, bytes[s], v);
				/* ld; jeq/jgt/jset #v (fused); ret a both ways */
				p[1] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, v, 0, 1);
				p[2] = STMT(BPF_RET | BPF_A, 0);
				p[3] = STMT(BPF_RET | BPF_A, 0);
				check_load(p, 4, pkt200, len, off, bytes[s], v);
				p[1].code = BPF_JMP | BPF_JGT | BPF_K;
				check_load(p, 4, pkt200, len, off, bytes[s], v);
				p[1].code = BPF_JMP | BPF_JSET | BPF_K;
				check_load(p, 4, pkt200, len, off, bytes[s], v);
				/* a length-check load first, one byte further */
				p[0] = STMT(BPF_LD | BPF_B | BPF_ABS,
					    off + bytes[s] - 1);
				p[1] = STMT(BPF_LD | sizes[s] | BPF_ABS, off);
				p[2] = JUMP(BPF_JMP | BPF_JGE | BPF_K, 0, 0, 1);
				p[3] = STMT(BPF_RET | BPF_A, 0);
				p[4] = STMT(BPF_RET | BPF_K, 7);
				check_load(p, 5, pkt200, len, off, bytes[s], v);
				/* ldx #x; ld [x + k]; jeq (fused); ret a */
				for (x = 0; x <= 3 && x <= off; x++) {
					p[0] = STMT(BPF_LDX | BPF_IMM, x);
					p[1] = STMT(BPF_LD | sizes[s] | BPF_IND,
						    off - x);
					p[2] = JUMP(BPF_JMP | BPF_JEQ | BPF_K,
						    v, 0, 0);
					p[3] = STMT(BPF_RET | BPF_A, 0);
					check_load(p, 4, pkt200, len, off,
						   bytes[s], v);
					p[2] = STMT(BPF_RET | BPF_A, 0);
					check_load(p, 3, pkt200, len, off,
						   bytes[s], v);
				}
			}
			/* ldxb 4*([off]&0xf); txa; ret a */
			p[0] = STMT(BPF_LDX | BPF_B | BPF_MSH, off);
			p[1] = STMT(BPF_MISC | BPF_TXA, 0);
			p[2] = STMT(BPF_RET | BPF_A, 0);
			check_load(p, 3, pkt200, len, off, 1,
				   (pkt200[off] & 0xfU) << 2);
		}
	}
}

/* A packet whose first byte (IPv4-like) says the header is 4 * ihl long;
 * "ldxb 4*([0]&0xf); ld [x + k]; jeq" (fused) at every cut of it. */
static void test_msh_ind_near_end(void **state)
{
	static const uint16_t sizes[] = { BPF_B, BPF_H, BPF_W };
	static const uint32_t bytes[] = { 1, 2, 4 };
	struct sock_filter p[5];
	uint8_t pkt[80];
	size_t len, i;
	uint32_t ihl, k, s;

	(void)state;
	for (i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)(0x80 + i);
	for (ihl = 0; ihl <= 15; ihl += 5) {
		pkt[0] = (uint8_t)(0x40 | ihl);
		for (len = 0; len <= 72; len++) {
			for (k = 0; k <= 4; k++) {
				for (s = 0; s < ARRAY_SIZE(sizes); s++) {
					uint32_t off = 4 * ihl + k, v;

					v = off + bytes[s] <= sizeof(pkt) ?
					    be_at(pkt + off, bytes[s]) : 0;
					p[0] = STMT(BPF_LDX | BPF_B | BPF_MSH, 0);
					p[1] = STMT(BPF_LD | sizes[s] | BPF_IND, k);
					p[2] = JUMP(BPF_JMP | BPF_JEQ | BPF_K,
						    v, 0, 1);
					p[3] = STMT(BPF_RET | BPF_A, 0);
					p[4] = STMT(BPF_RET | BPF_K, 1);
					assert_int_equal(
						run_all(p, 5, pkt, len, NULL, NULL),
						len >= 1 && off + bytes[s] <= len ?
						v : 0);
					/* unfused: without the jump */
					p[2] = STMT(BPF_RET | BPF_A, 0);
					assert_int_equal(
						run_all(p, 3, pkt, len, NULL, NULL),
						len >= 1 && off + bytes[s] <= len ?
						v : 0);
				}
			}
		}
	}
}

/*
 * cbpf_run() hands a program with an op that calls out (SKF_AD_RANDOM,
 * the netlink searches) to its plain interpreter, from the start: the
 * callback must still run exactly once per executed RANDOM, and not at
 * all when a load before it fails.
 */
static void test_calls_out_once(void **state)
{
	struct sock_filter p[] = {
		STMT(BPF_LD | BPF_B | BPF_ABS, 0),
		STMT(BPF_ST, 2),
		STMT(BPF_LD | BPF_W | BPF_ABS, 10),
		STMT(BPF_LD | BPF_W | BPF_ABS,
		     (uint32_t)SKF_AD_OFF + SKF_AD_RANDOM),
		STMT(BPF_LDX | BPF_MEM, 2),
		STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
		STMT(BPF_RET | BPF_A, 0),
	};
	struct cbpf_prog prog = { .len = ARRAY_SIZE(p), .insns = p };
	struct cbpf_ctx ctx = cbpf_ctx_unix();
	struct cbpf_result res;
	struct cbpf_vm *vm;
	uint32_t calls = 0;
	struct cbpf_error err = { 0 };

	(void)state;
	ctx.random = counter_random;
	ctx.random_arg = &calls;
	vm = cbpf_vm_new(&prog, &err);
	assert_non_null(vm);
	/* pkt200[0] is 1: A = 1 + the first random number */
	assert_int_equal(cbpf_run(&prog, pkt200, 200, &ctx), 1 + 1);
	assert_int_equal(calls, 1);
	assert_int_equal(cbpf_vm_run(vm, pkt200, 200, &ctx), 1 + 2);
	assert_int_equal(calls, 2);
	assert_int_equal(cbpf_run_trace(&prog, pkt200, 200, &ctx, &res,
					NULL, NULL), 1 + 3);
	assert_int_equal(calls, 3);
	/* ld [10] fails on 13 bytes: no call */
	assert_int_equal(cbpf_run(&prog, pkt200, 13, &ctx), 0);
	assert_int_equal(cbpf_vm_run(vm, pkt200, 13, &ctx), 0);
	assert_int_equal(calls, 3);
	cbpf_vm_free(vm);
}

/*
 * Scratch starts zeroed on every run, also for a program that reads it
 * before writing (not valid, V12, but cbpf_run() runs it), after another
 * run left other values in the same stack.
 */
static void test_scratch_zeroed_each_run(void **state)
{
	struct sock_filter fill[CBPF_MEMWORDS + 2];
	struct sock_filter read[] = {
		STMT(BPF_LD | BPF_IMM, 5),
		STMT(BPF_ST, 6),
		STMT(BPF_LD | BPF_MEM, 0),
		STMT(BPF_RET | BPF_A, 0),
	};
	struct sock_filter readx[] = {
		STMT(BPF_LDX | BPF_MEM, 0),
		STMT(BPF_MISC | BPF_TXA, 0),
		STMT(BPF_RET | BPF_A, 0),
	};
	struct cbpf_prog fill_prog = { .len = ARRAY_SIZE(fill), .insns = fill };
	unsigned int i, w;

	(void)state;
	fill[0] = STMT(BPF_LD | BPF_IMM, 0xdeadbeef);
	for (i = 0; i < CBPF_MEMWORDS; i++)
		fill[i + 1] = STMT(BPF_ST, i);
	fill[CBPF_MEMWORDS + 1] = STMT(BPF_RET | BPF_A, 0);
	for (w = 0; w < CBPF_MEMWORDS; w++) {
		assert_int_equal(cbpf_run(&fill_prog, pkt200, 200, NULL),
				 0xdeadbeef);
		read[1].k = (w + 1) % CBPF_MEMWORDS;
		read[2].k = w;
		assert_int_equal(RUN(read, pkt200, 200, NULL, NULL), 0);
		assert_int_equal(cbpf_run(&fill_prog, pkt200, 200, NULL),
				 0xdeadbeef);
		readx[0].k = w;
		assert_int_equal(RUN(readx, pkt200, 200, NULL, NULL), 0);
	}
	/* written, then read back */
	read[1].k = 3;
	read[2].k = 3;
	assert_int_equal(RUN(read, pkt200, 200, NULL, NULL), 5);
}

/* Garbage in, no crash out: random arrays, mostly not valid programs. */
static void test_garbage_never_crashes(void **state)
{
	static const uint16_t some_codes[] = {
		0x00, 0x01, 0x02, 0x03, 0x05, 0x06, 0x07, 0x15, 0x16, 0x1d,
		0x20, 0x28, 0x30, 0x40, 0x48, 0x50, 0x60, 0x61, 0x80, 0x81,
		0x87, 0xb1, 0x3c, 0x9c, 0x34, 0x94, 0x64, 0x6c, 0x84, 0x45,
	};
	struct sock_filter p[48];
	uint8_t pkt[GEN_MAX_PKT];
	struct cbpf_ctx ctx;
	struct gen g;
	int i;

	(void)state;
	gen_init(&g, 0x5eed0001);
	for (i = 0; i < 30000; i++) {
		size_t n = gen_below(&g, ARRAY_SIZE(p) + 1), j;
		size_t len = gen_packet(&g, pkt, sizeof(pkt));

		for (j = 0; j < n; j++) {
			p[j].code = gen_below(&g, 2) ?
				some_codes[gen_below(&g, ARRAY_SIZE(some_codes))] :
				(uint16_t)gen_u32(&g);
			p[j].jt = (uint8_t)gen_below(&g, 8);
			p[j].jf = (uint8_t)gen_below(&g, 8);
			p[j].k = gen_below(&g, 2) ? gen_below(&g, 40) : gen_u32(&g);
		}
		if (n && gen_below(&g, 2))
			p[n - 1] = STMT(BPF_RET | BPF_A, 0);
		random_ctx(&g, &ctx, len);
		{
			uint8_t *buf = heap_packet(&g, &ctx, pkt, len);

			run_all(p, n, buf + ctx.headroom, len, &ctx, NULL);
			free(buf);
		}
	}
}

/* Valid programs: cbpf_run == cbpf_vm_run == cbpf_run_trace, with the
 * JIT and with the interpreter. */
static void test_run_equals_vm_run(void **state)
{
	struct sock_filter p[GEN_MAX_INSNS];
	uint8_t pkt[GEN_MAX_PKT];
	struct cbpf_ctx ctx;
	struct gen g;
	int i, j;

	(void)state;
	gen_init(&g, 0x5eed0002);
	for (i = 0; i < 20000; i++) {
		size_t n = gen_program(&g, p, ARRAY_SIZE(p), 0);
		struct cbpf_prog prog = { .len = n, .insns = p };
		struct cbpf_vm *vm;
		struct cbpf_error err = { 0 };

		/* Odd rounds: the interpreter-only VM. */
		vm = vm_new(&prog, &err, vm_flags[i % 2]);
		if (!vm) {
			gen_print_ddd(stderr, p, n);
			fail_msg("generated program rejected: %s", err.msg);
		}
		for (j = 0; j < 8; j++) {
			size_t len = gen_packet(&g, pkt, sizeof(pkt));
			uint32_t r1 = 0, r2 = 0, r3 = 0;
			struct cbpf_result res;
			uint32_t v1, v2, v3;
			uint8_t *buf, *copy;

			random_ctx(&g, &ctx, len);
			buf = heap_packet(&g, &ctx, pkt, len);
			copy = buf + ctx.headroom;
			ctx.random = counter_random;
			ctx.random_arg = &r1;
			v1 = cbpf_run(&prog, copy, len, &ctx);
			ctx.random_arg = &r2;
			v2 = cbpf_vm_run(vm, copy, len, &ctx);
			ctx.random_arg = &r3;
			v3 = cbpf_run_trace(&prog, copy, len, &ctx, &res, NULL,
					    NULL);
			if (v1 != v2 || v1 != v3) {
				gen_print_ddd(stderr, p, n);
				gen_print_hex(stderr, copy, len);
				fail_msg("cbpf_run %u, cbpf_vm_run %u, trace %u",
					 v1, v2, v3);
			}
			free(buf);
		}
		cbpf_vm_free(vm);
	}
}

/*
 * cbpf_run() runs a chain of "jeq #k, T, next" (tcpdump's lists) in one
 * loop: each member must still be checked as it is reached. Chains of 1
 * to 6, A matching each member or none, and a jt or jf past the end at
 * each member or none: a match before the bad member jumps out, else the
 * run reaches it and ends with 0.
 */
static void test_jeq_chains(void **state)
{
	struct sock_filter p[10];
	size_t n, i;
	int m, bad, field;

	(void)state;
	for (n = 1; n <= 6; n++) {
		for (m = 0; m <= (int)n; m++) {
			for (bad = -1; bad < (int)n; bad++) {
				for (field = 0; field < 2; field++) {
					uint32_t want;

					p[0] = STMT(BPF_LD | BPF_IMM, 100 + m);
					for (i = 0; i < n; i++)
						p[1 + i] = JUMP(BPF_JMP | BPF_JEQ | BPF_K,
								100 + i, n - i, 0);
					p[n + 1] = STMT(BPF_RET | BPF_K, 5);
					p[n + 2] = STMT(BPF_RET | BPF_K, 7);
					if (bad >= 0 && field == 0)
						p[1 + bad].jt = 200;
					else if (bad >= 0)
						p[1 + bad].jf = 200;
					if (bad >= 0 && m >= bad)
						want = 0;
					else
						want = m < (int)n ? 7 : 5;
					assert_int_equal(run_all(p, n + 3, pkt200, 200,
								 NULL, NULL),
							 want);
				}
			}
		}
	}
}

/*
 * On x86-64 cbpf_vm_new() runs a tcpdump program (here "ip and udp port
 * 53" on Ethernet, tcpdump -dd) as native code; a program with an
 * ancillary load stays with the interpreter and still gives the
 * kernel's verdict (the AF_UNIX context: protocol 0, no device, so
 * IFINDEX ends the run with A, R10).
 */
static void test_jit_used(void **state)
{
	struct sock_filter udp53[] = {
		JUMP(BPF_JMP | BPF_JA, 0, 0, 0),
		STMT(BPF_LD | BPF_H | BPF_ABS, 12),
		JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0800, 0, 10),
		STMT(BPF_LD | BPF_B | BPF_ABS, 23),
		JUMP(BPF_JMP | BPF_JEQ | BPF_K, 17, 0, 8),
		STMT(BPF_LD | BPF_H | BPF_ABS, 20),
		JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 6, 0),
		STMT(BPF_LDX | BPF_B | BPF_MSH, 14),
		STMT(BPF_LD | BPF_H | BPF_IND, 14),
		JUMP(BPF_JMP | BPF_JEQ | BPF_K, 53, 2, 0),
		STMT(BPF_LD | BPF_H | BPF_IND, 16),
		JUMP(BPF_JMP | BPF_JEQ | BPF_K, 53, 0, 1),
		STMT(BPF_RET | BPF_K, 262144),
		STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_filter anc[] = {
		STMT(BPF_LD | BPF_IMM, 7),
		STMT(BPF_LD | BPF_W | BPF_ABS,
		     (uint32_t)SKF_AD_OFF + SKF_AD_PROTOCOL),
		STMT(BPF_ALU | BPF_ADD | BPF_K, 5),
		STMT(BPF_LD | BPF_W | BPF_ABS,
		     (uint32_t)SKF_AD_OFF + SKF_AD_IFINDEX),
		STMT(BPF_RET | BPF_K, 1),
	};
	struct cbpf_prog prog = { .len = ARRAY_SIZE(udp53), .insns = udp53 };
	uint8_t pkt[64] = { 0 };
	struct cbpf_vm *vm;

	(void)state;
	pkt[12] = 0x08;		/* IPv4 */
	pkt[14] = 0x45;		/* ihl 5 */
	pkt[23] = 17;		/* UDP */
	pkt[14 + 20 + 3] = 53;	/* dport 53 */
	vm = cbpf_vm_new(&prog, NULL);
	assert_non_null(vm);
#if defined(__x86_64__)
	assert_true(vm_is_jit(vm));
#else
	assert_false(vm_is_jit(vm));
#endif
	assert_int_equal(cbpf_vm_run(vm, pkt, sizeof(pkt), NULL), 262144);
	assert_int_equal(cbpf_vm_run(vm, pkt, 37, NULL), 0);
	pkt[14 + 20 + 3] = 54;
	assert_int_equal(cbpf_vm_run(vm, pkt, sizeof(pkt), NULL), 0);
	cbpf_vm_free(vm);
	assert_int_equal(RUN(udp53, pkt, sizeof(pkt), NULL, NULL), 0);

	prog = (struct cbpf_prog){ .len = ARRAY_SIZE(anc), .insns = anc };
	vm = cbpf_vm_new(&prog, NULL);
	assert_non_null(vm);
	assert_false(vm_is_jit(vm));
	/* protocol 0, + 5; IFINDEX without a device returns A */
	assert_int_equal(cbpf_vm_run(vm, pkt, sizeof(pkt), NULL), 5);
	cbpf_vm_free(vm);
	assert_int_equal(RUN(anc, pkt, sizeof(pkt), NULL, NULL), 5);
}

#if defined(__x86_64__)
/*
 * In a child: refuse mprotect(PROT_EXEC) with EPERM, as systemd's
 * MemoryDenyWriteExecute= and SELinux without execmem do; then
 * cbpf_vm_new() must quietly keep the interpreter and still give the
 * right verdict. Exit status 0 if so.
 */
static int jit_refused_child(void)
{
	struct sock_filter deny_exec[] = {
		STMT(BPF_LD | BPF_W | BPF_ABS,
		     offsetof(struct seccomp_data, arch)),
		JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 4),
		STMT(BPF_LD | BPF_W | BPF_ABS,
		     offsetof(struct seccomp_data, nr)),
		JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mprotect, 0, 2),
		STMT(BPF_LD | BPF_W | BPF_ABS,
		     offsetof(struct seccomp_data, args[2])),
		JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 1, 0),
		STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
	};
	struct sock_fprog fprog = {
		.len = ARRAY_SIZE(deny_exec),
		.filter = deny_exec,
	};
	struct sock_filter p[] = {
		STMT(BPF_LD | BPF_B | BPF_ABS, 3),
		STMT(BPF_RET | BPF_A, 0),
	};
	struct cbpf_prog prog = { .len = ARRAY_SIZE(p), .insns = p };
	struct cbpf_vm *vm;
	int ok;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0)
		return 2;
	vm = cbpf_vm_new(&prog, NULL);
	if (!vm)
		return 3;
	ok = !vm_is_jit(vm) && cbpf_vm_run(vm, pkt200, 200, NULL) == 4 &&
	     cbpf_vm_run(vm, pkt200, 3, NULL) == 0;
	cbpf_vm_free(vm);
	return ok ? 0 : 1;
}
#endif

/* W^X refused: the interpreter, silently (see jit_refused_child()). */
static void test_jit_refused(void **state)
{
#if defined(__x86_64__)
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(jit_refused_child());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
#else
	skip();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_r1_initial_state),
		cmocka_unit_test(test_r2_arithmetic),
		cmocka_unit_test(test_r3_shift_masked),
		cmocka_unit_test(test_r4_ld_abs),
		cmocka_unit_test(test_r4_headroom),
		cmocka_unit_test(test_r5_ld_ind_wraps),
		cmocka_unit_test(test_r6_ldx_msh),
		cmocka_unit_test(test_r7_len),
		cmocka_unit_test(test_r8_jumps_unsigned),
		cmocka_unit_test(test_r9_ret),
		cmocka_unit_test(test_r10_ancillary),
		cmocka_unit_test(test_r10_nlattr),
		cmocka_unit_test(test_invalid_programs),
		cmocka_unit_test(test_too_long_not_run),
		cmocka_unit_test(test_trace_steps),
		cmocka_unit_test(test_ctx_unix),
		cmocka_unit_test(test_vm_new_errors),
		cmocka_unit_test(test_fused_patterns),
		cmocka_unit_test(test_loads_near_end),
		cmocka_unit_test(test_msh_ind_near_end),
		cmocka_unit_test(test_calls_out_once),
		cmocka_unit_test(test_scratch_zeroed_each_run),
		cmocka_unit_test(test_garbage_never_crashes),
		cmocka_unit_test(test_run_equals_vm_run),
		cmocka_unit_test(test_jit_used),
		cmocka_unit_test(test_jeq_chains),
		cmocka_unit_test(test_jit_refused),
	};

	return cmocka_run_group_tests(tests, setup_pkt, NULL);
}
