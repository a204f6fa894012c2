/* SPDX-License-Identifier: MIT */
/*
 * cbpf_validate(): one named regression test per kernel rule (V2, V4-V13
 * of doc/kernel-rules.md). test_validate_kernel checks the same
 * against the running kernel; these pin down the rules and the messages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cbpf.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define OFF ((uint32_t)SKF_AD_OFF)

static const struct sock_filter ret0 = BPF_STMT(BPF_RET | BPF_K, 0);

/* cbpf_validate() of insns[0..len): a prog viewing the array (it only
 * reads through it). */
static int validate(const struct sock_filter *p, size_t len,
		    struct cbpf_error *e)
{
	struct cbpf_prog prog = { .len = len, .insns = (struct sock_filter *)p };

	return cbpf_validate(&prog, e);
}

static void assert_valid(const struct sock_filter *p, size_t len)
{
	struct cbpf_error e = { 0 };
	int ret = validate(p, len, &e);

	if (ret)
		fail_msg("rejected: %s", e.msg);
}

/* Rejected at insn with a message naming the rule and the insn index. */
static void assert_rejected(const struct sock_filter *p, size_t len,
			    int insn, const char *rule)
{
	struct cbpf_error e;
	char where[32];

	memset(&e, 0x5a, sizeof(e));
	assert_int_equal(validate(p, len, &e), -EINVAL);
	assert_int_equal(e.err, -EINVAL);
	assert_int_equal(e.insn, insn);
	assert_int_equal(e.line, 0);
	assert_int_equal(e.column, 0);
	assert_non_null(strstr(e.msg, rule));
	if (insn >= 0) {
		snprintf(where, sizeof(where), "insn %d", insn);
		assert_non_null(strstr(e.msg, where));
	}
	/* NULL err is allowed. */
	assert_int_equal(validate(p, len, NULL), -EINVAL);
}

static void test_v2_length(void **state)
{
	struct sock_filter *p = calloc(4097, sizeof(*p));
	size_t i;

	(void)state;
	assert_non_null(p);
	for (i = 0; i < 4097; i++)
		p[i] = ret0;
	assert_valid(p, 1);
	assert_valid(p, 4096);
	assert_rejected(p, 4097, -1, "V2");
	assert_rejected(p, 0, -1, "V2");
	assert_rejected(p, (size_t)1 << 32, -1, "V2");	/* no truncation */
	assert_rejected(NULL, 1, -1, "V2");
	free(p);
}

static void test_v4_opcode_whitelist(void **state)
{
	struct sock_filter ld_h_imm[] = { { 0x08, 0, 0, 1 }, ret0 };
	struct sock_filter ret_x[] = { { 0x0e, 0, 0, 0 } };
	struct sock_filter wide[] = { ret0, { 0x106, 0, 0, 0 }, ret0 };
	struct sock_filter ok[] = { { 0x81, 0, 0, 0 }, ret0 };	/* ldx #len */

	(void)state;
	assert_rejected(ld_h_imm, LEN(ld_h_imm), 0, "V4");
	assert_rejected(ret_x, LEN(ret_x), 0, "V4");
	assert_rejected(wide, LEN(wide), 1, "V4");
	assert_valid(ok, LEN(ok));
}

static void test_v5_division_by_zero(void **state)
{
	struct sock_filter div0[] = { ret0, BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 0), ret0 };
	struct sock_filter mod0[] = { BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, 0), ret0 };
	struct sock_filter div1[] = { BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 1), ret0 };
	struct sock_filter divx[] = { BPF_STMT(BPF_ALU | BPF_DIV | BPF_X, 0), ret0 };

	(void)state;
	assert_rejected(div0, LEN(div0), 1, "V5");
	assert_rejected(mod0, LEN(mod0), 0, "V5");
	assert_valid(div1, LEN(div1));
	assert_valid(divx, LEN(divx));	/* X == 0 is a run-time drop */
}

static void test_v6_shift_constant(void **state)
{
	struct sock_filter lsh31[] = { BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 31), ret0 };
	struct sock_filter lsh32[] = { BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 32), ret0 };
	struct sock_filter rsh_big[] = { BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 0xffffffff), ret0 };
	struct sock_filter lshx[] = { BPF_STMT(BPF_ALU | BPF_LSH | BPF_X, 99), ret0 };

	(void)state;
	assert_valid(lsh31, LEN(lsh31));
	assert_rejected(lsh32, LEN(lsh32), 0, "V6");
	assert_rejected(rsh_big, LEN(rsh_big), 0, "V6");
	assert_valid(lshx, LEN(lshx));	/* k unused by X shifts */
}

static void test_v7_scratch_index(void **state)
{
	static const uint16_t codes[] = { BPF_ST, BPF_STX };
	struct sock_filter st15[] = { BPF_STMT(BPF_ST, 15), BPF_STMT(BPF_LD | BPF_MEM, 15), ret0 };
	struct sock_filter p[] = { BPF_STMT(BPF_ST, 0), BPF_STMT(0, 16), ret0 };
	size_t i;

	(void)state;
	assert_valid(st15, LEN(st15));
	for (i = 0; i < LEN(codes); i++) {
		p[1].code = codes[i];
		assert_rejected(p, LEN(p), 1, "V7");
	}
	/* A load of M[16] fails V7 before V12 is ever reached. */
	p[1].code = BPF_LD | BPF_MEM;
	assert_rejected(p, LEN(p), 1, "V7");
	p[1].code = BPF_LDX | BPF_MEM;
	assert_rejected(p, LEN(p), 1, "V7");
}

static void test_v8_ja_range(void **state)
{
	struct sock_filter to_last[] = { BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0), ret0, ret0 };
	struct sock_filter past[] = { BPF_JUMP(BPF_JMP | BPF_JA, 2, 0, 0), ret0, ret0 };
	struct sock_filter huge[] = { BPF_JUMP(BPF_JMP | BPF_JA, 0xffffffff, 0, 0), ret0 };
	struct sock_filter last[] = { ret0, BPF_JUMP(BPF_JMP | BPF_JA, 0, 0, 0) };

	(void)state;
	assert_valid(to_last, LEN(to_last));
	assert_rejected(past, LEN(past), 0, "V8");
	assert_rejected(huge, LEN(huge), 0, "V8");
	/* ja 0 as the last insn: k >= flen - pc - 1 = 0 (V8 before V11). */
	assert_rejected(last, LEN(last), 1, "V8");
}

static void test_v9_conditional_range(void **state)
{
	struct sock_filter ok[] = { BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0), ret0, ret0 };
	struct sock_filter jt[] = { BPF_JUMP(BPF_JMP | BPF_JGT | BPF_X, 0, 2, 0), ret0, ret0 };
	struct sock_filter jf[] = { BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0, 0, 2), ret0, ret0 };
	struct sock_filter last[] = { ret0, BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0, 0, 0) };

	(void)state;
	assert_valid(ok, LEN(ok));
	assert_rejected(jt, LEN(jt), 0, "V9");
	assert_rejected(jf, LEN(jf), 0, "V9");
	assert_rejected(last, LEN(last), 1, "V9");
}

static void test_v10_ancillary(void **state)
{
	struct sock_filter p[] = { BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0), ret0 };
	static const uint16_t abs[] = { 0x20, 0x28, 0x30 };
	uint32_t n;
	size_t i;

	(void)state;
	for (i = 0; i < LEN(abs); i++) {
		p[0].code = abs[i];
		for (n = 0; n < 0x1000; n++) {
			p[0].k = OFF + n;
			if (n < 64 && n % 4 == 0)
				assert_valid(p, LEN(p));
			else
				assert_rejected(p, LEN(p), 0, "V10");
		}
		p[0].k = OFF - 1;	/* not ancillary: a plain load */
		assert_valid(p, LEN(p));
	}
	/* LD IND is never checked for ancillary offsets. */
	p[0].code = BPF_LD | BPF_W | BPF_IND;
	p[0].k = OFF + 2;
	assert_valid(p, LEN(p));
}

static void test_v11_last_is_ret(void **state)
{
	struct sock_filter ret_a[] = { BPF_STMT(BPF_RET | BPF_A, 0) };
	struct sock_filter ld[] = { ret0, BPF_STMT(BPF_LD | BPF_IMM, 0) };
	struct sock_filter tax[] = { BPF_STMT(BPF_MISC | BPF_TAX, 0) };

	(void)state;
	assert_valid(ret_a, LEN(ret_a));
	assert_rejected(ld, LEN(ld), 1, "V11");
	assert_rejected(tax, LEN(tax), 0, "V11");
}

static void test_v12_read_before_write(void **state)
{
	struct sock_filter ldx[] = { BPF_STMT(BPF_LDX | BPF_MEM, 3), ret0 };
	struct sock_filter written[] = {
		BPF_STMT(BPF_STX, 3), BPF_STMT(BPF_LD | BPF_MEM, 3), ret0 };
	/* Written on one branch only. */
	struct sock_filter one_branch[] = {
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 1),
		BPF_STMT(BPF_ST, 0),
		BPF_STMT(BPF_LD | BPF_MEM, 0),
		ret0,
	};
	/* Written before the branch: valid on both paths. */
	struct sock_filter before[] = {
		BPF_STMT(BPF_ST, 5),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 1),
		BPF_STMT(BPF_LD | BPF_IMM, 2),
		BPF_STMT(BPF_LD | BPF_MEM, 5),
		ret0,
	};
	/* ja skips the store. */
	struct sock_filter skipped[] = {
		BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0),
		BPF_STMT(BPF_ST, 7),
		BPF_STMT(BPF_LDX | BPF_MEM, 7),
		ret0,
	};

	(void)state;
	assert_rejected(ldx, LEN(ldx), 0, "V12");
	assert_valid(written, LEN(written));
	assert_rejected(one_branch, LEN(one_branch), 2, "V12");
	assert_valid(before, LEN(before));
	assert_rejected(skipped, LEN(skipped), 2, "V12");
}

/* The reference's program: every path that reaches insn 4 (only 2's jf)
 * has written M[0]. But the linear pass does not reset its state at RET:
 * insn 3's state (path 0->3, nothing written) flows on into insn 4. The
 * kernel rejects the program; a kernel-exact validator must too. */
static void test_v12_ret_quirk(void **state)
{
	struct sock_filter quirk[] = {
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 2, 0),	/* 0 -> 3, 1 */
		BPF_STMT(BPF_ST, 0),				/* 1 */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 2, 0, 1),	/* 2 -> 3, 4 */
		BPF_STMT(BPF_RET | BPF_K, 0),			/* 3 */
		BPF_STMT(BPF_LD | BPF_MEM, 0),			/* 4 */
		BPF_STMT(BPF_RET | BPF_A, 0),			/* 5 */
	};

	(void)state;
	assert_rejected(quirk, LEN(quirk), 4, "V12");
}

/* V13: what the kernel does not check must be accepted. */
static void test_v13_not_checked(void **state)
{
	struct sock_filter p[] = {
		{ BPF_LD | BPF_IMM, 200, 201, 5 },	/* jt/jf on non-jumps */
		{ BPF_MISC | BPF_TAX, 0, 0, 0xdeadbeef },	/* unused k */
		{ BPF_ALU | BPF_NEG, 7, 7, 7 },
		BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0),
		BPF_STMT(BPF_LD | BPF_MEM, 9),	/* unreachable, but V12: */
		BPF_STMT(BPF_RET | BPF_K, 1),	/* mid-program RET */
		BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
		{ BPF_RET | BPF_A, 9, 9, 9 },
	};

	(void)state;
	/* insn 4 reads M[9] never written, but after a ja memvalid is ~0:
	 * the linear pass treats unreachable code as having everything. */
	assert_valid(p, LEN(p));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v2_length),
		cmocka_unit_test(test_v4_opcode_whitelist),
		cmocka_unit_test(test_v5_division_by_zero),
		cmocka_unit_test(test_v6_shift_constant),
		cmocka_unit_test(test_v7_scratch_index),
		cmocka_unit_test(test_v8_ja_range),
		cmocka_unit_test(test_v9_conditional_range),
		cmocka_unit_test(test_v10_ancillary),
		cmocka_unit_test(test_v11_last_is_ret),
		cmocka_unit_test(test_v12_read_before_write),
		cmocka_unit_test(test_v12_ret_quirk),
		cmocka_unit_test(test_v13_not_checked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
