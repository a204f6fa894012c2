/* SPDX-License-Identifier: MIT */
/* The label builder: encoded bytes, lowering, trampolines, errors. */
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

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static struct cbpf_builder *new_builder(void)
{
	struct cbpf_builder *b = cbpf_builder_new();

	assert_non_null(b);
	return b;
}

/* Finishes b, expects success, frees b. */
static struct cbpf_prog finish(struct cbpf_builder *b)
{
	struct cbpf_prog prog;
	struct cbpf_error e = { 0 };
	int ret = cbpf_builder_finish(b, &prog, &e);

	cbpf_builder_free(b);
	if (ret)
		fail_msg("finish: %d %s", ret, e.msg);
	return prog;
}

/* Finishes b, expects err with a message containing both strings. */
static void finish_fails(struct cbpf_builder *b, int err, int insn,
			 const char *s1, const char *s2)
{
	struct cbpf_prog prog;
	struct cbpf_error e;

	memset(&prog, 0x5a, sizeof(prog));
	memset(&e, 0x5a, sizeof(e));
	assert_int_equal(cbpf_builder_finish(b, &prog, &e), err);
	cbpf_builder_free(b);
	assert_int_equal(e.err, err);
	assert_int_equal(e.insn, insn);
	assert_null(prog.insns);
	assert_int_equal(prog.len, 0);
	if (!strstr(e.msg, s1) || (s2 && !strstr(e.msg, s2)))
		fail_msg("message '%s' lacks '%s' / '%s'", e.msg, s1,
			 s2 ? s2 : "");
}

static void assert_insn(const struct sock_filter *f, uint16_t code,
			uint8_t jt, uint8_t jf, uint32_t k)
{
	assert_int_equal(f->code, code);
	assert_int_equal(f->jt, jt);
	assert_int_equal(f->jf, jf);
	assert_int_equal(f->k, k);
}

static void assert_validates(const struct cbpf_prog *prog)
{
	struct cbpf_error e = { 0 };

	if (cbpf_validate(prog, &e))
		fail_msg("does not validate: %s", e.msg);
}

/* The header's example, byte for byte. */
static void test_labels_example(void **state)
{
	struct cbpf_builder *b = new_builder();
	struct cbpf_prog prog;

	(void)state;
	assert_int_equal(cbpf_ld_abs(b, CBPF_SIZE_H, 12), 0);
	assert_int_equal(cbpf_jmp_k(b, CBPF_COND_NE, 0x0800, "drop", NULL), 0);
	assert_int_equal(cbpf_ret_k(b, 0xffffffff), 0);
	assert_int_equal(cbpf_label(b, "drop"), 0);
	assert_int_equal(cbpf_ret_k(b, 0), 0);
	prog = finish(b);
	assert_int_equal(prog.len, 4);
	assert_insn(&prog.insns[0], 0x28, 0, 0, 12);
	assert_insn(&prog.insns[1], 0x15, 0, 1, 0x0800);	/* jne lowered */
	assert_insn(&prog.insns[2], 0x06, 0, 0, 0xffffffff);
	assert_insn(&prog.insns[3], 0x06, 0, 0, 0);
	assert_validates(&prog);
	cbpf_prog_free(&prog);
	assert_null(prog.insns);
	cbpf_prog_free(&prog);	/* twice is fine */
}

/* All eight conditions, K and X: code, and which way the targets go. */
static void test_all_conditions(void **state)
{
	static const struct {
		enum cbpf_cond cond;
		uint16_t op;
		bool swapped;
	} t[] = {
		{ CBPF_COND_EQ, BPF_JEQ, false },
		{ CBPF_COND_NE, BPF_JEQ, true },
		{ CBPF_COND_GT, BPF_JGT, false },
		{ CBPF_COND_GE, BPF_JGE, false },
		{ CBPF_COND_LT, BPF_JGE, true },
		{ CBPF_COND_LE, BPF_JGT, true },
		{ CBPF_COND_SET, BPF_JSET, false },
		{ CBPF_COND_CLEAR, BPF_JSET, true },
	};
	size_t i;
	int x;

	(void)state;
	for (i = 0; i < LEN(t); i++) {
		for (x = 0; x < 2; x++) {
			struct cbpf_builder *b = new_builder();
			struct cbpf_prog prog;

			if (x)
				cbpf_jmp_x(b, t[i].cond, "yes", "no");
			else
				cbpf_jmp_k(b, t[i].cond, 0x1234, "yes", "no");
			cbpf_ret_k(b, 1);
			cbpf_label(b, "yes");
			cbpf_ret_k(b, 2);
			cbpf_label(b, "no");
			cbpf_ret_k(b, 3);
			prog = finish(b);
			assert_int_equal(prog.len, 4);
			assert_insn(&prog.insns[0],
				    BPF_JMP | t[i].op | (x ? BPF_X : BPF_K),
				    t[i].swapped ? 2 : 1, t[i].swapped ? 1 : 2,
				    x ? 0 : 0x1234);
			assert_validates(&prog);
			cbpf_prog_free(&prog);
		}
	}
}

static void test_fall_through(void **state)
{
	struct cbpf_builder *b = new_builder();
	struct cbpf_prog prog;

	(void)state;
	cbpf_jmp_k(b, CBPF_COND_EQ, 1, NULL, "x");	/* 0: jt 0, jf 3 */
	cbpf_jmp_k(b, CBPF_COND_NE, 2, NULL, "x");	/* 1: jeq, jt 2, jf 0 */
	cbpf_jmp_x(b, CBPF_COND_GT, NULL, NULL);	/* 2: 0, 0 */
	cbpf_ja(b, NULL);			/* 3: ja 0 */
	cbpf_ret_k(b, 1);			/* 4 */
	cbpf_label(b, "x");
	cbpf_ret_k(b, 2);			/* 5 */
	prog = finish(b);
	assert_int_equal(prog.len, 6);
	assert_insn(&prog.insns[0], 0x15, 0, 4, 1);
	assert_insn(&prog.insns[1], 0x15, 3, 0, 2);
	assert_insn(&prog.insns[2], 0x2d, 0, 0, 0);
	assert_insn(&prog.insns[3], 0x05, 0, 0, 0);
	assert_validates(&prog);
	cbpf_prog_free(&prog);
}

static void test_every_emitter(void **state)
{
	struct cbpf_builder *b = new_builder();
	struct cbpf_insn neg = { .op = CBPF_OP_NEG, .jt = 3, .jf = 4, .k = 5 };
	struct cbpf_insn jmp = { .op = CBPF_OP_JMP, .cond = CBPF_COND_LT,
				 .src = CBPF_SRC_K, .k = 9, .jt = 77 };
	struct cbpf_insn ja = { .op = CBPF_OP_JA, .k = 1000 };
	static const struct sock_filter want[] = {
		{ 0x00, 0, 0, 7 },	{ 0x20, 0, 0, 1 },	{ 0x28, 0, 0, 2 },
		{ 0x30, 0, 0, 3 },	{ 0x40, 0, 0, 4 },	{ 0x48, 0, 0, 5 },
		{ 0x50, 0, 0, 6 },	{ 0x02, 0, 0, 15 },	{ 0x60, 0, 0, 15 },
		{ 0x80, 0, 0, 0 },	{ 0x20, 0, 0, 0xfffff03c },
		{ 0x01, 0, 0, 8 },	{ 0x03, 0, 0, 0 },	{ 0x61, 0, 0, 0 },
		{ 0x81, 0, 0, 0 },	{ 0xb1, 0, 0, 14 },
		{ 0x04, 0, 0, 1 },	{ 0x74, 0, 0, 40 },	{ 0x9c, 0, 0, 0 },
		{ 0x84, 0, 0, 0 },	{ 0x07, 0, 0, 0 },	{ 0x87, 0, 0, 0 },
		{ 0x84, 3, 4, 5 },	/* cbpf_emit keeps jt/jf/k of non-jumps */
		{ 0x35, 0, 2, 9 },	/* jlt: jge with "end" on jf */
		{ 0x05, 0, 0, 0 },	/* ja k ignored: label */
		{ 0x16, 0, 0, 0 },	{ 0x06, 0, 0, 0 },
	};
	struct cbpf_prog prog;
	size_t i;

	(void)state;
	cbpf_ld_imm(b, 7);
	cbpf_ld_abs(b, CBPF_SIZE_W, 1);
	cbpf_ld_abs(b, CBPF_SIZE_H, 2);
	cbpf_ld_abs(b, CBPF_SIZE_B, 3);
	cbpf_ld_ind(b, CBPF_SIZE_W, 4);
	cbpf_ld_ind(b, CBPF_SIZE_H, 5);
	cbpf_ld_ind(b, CBPF_SIZE_B, 6);
	cbpf_st(b, 15);
	cbpf_ld_mem(b, 15);
	cbpf_ld_len(b);
	cbpf_ld_anc(b, CBPF_ANC_VLAN_TPID);
	cbpf_ldx_imm(b, 8);
	cbpf_stx(b, 0);
	cbpf_ldx_mem(b, 0);
	cbpf_ldx_len(b);
	cbpf_ldx_msh(b, 14);
	cbpf_alu_k(b, CBPF_ALU_ADD, 1);
	cbpf_alu_k(b, CBPF_ALU_RSH, 40);	/* V6 is cbpf_validate's job */
	cbpf_alu_x(b, CBPF_ALU_MOD);
	cbpf_neg(b);
	cbpf_tax(b);
	cbpf_txa(b);
	cbpf_emit(b, &neg, "ignored", "ignored");
	cbpf_emit(b, &jmp, "end", NULL);
	cbpf_emit(b, &ja, "next", "ignored");
	cbpf_label(b, "next");
	cbpf_ret_a(b);
	cbpf_label(b, "end");
	assert_int_equal(cbpf_ret_k(b, 0), 0);
	prog = finish(b);
	assert_int_equal(prog.len, LEN(want));
	for (i = 0; i < LEN(want); i++)
		assert_insn(&prog.insns[i], want[i].code, want[i].jt,
			    want[i].jf, want[i].k);
	cbpf_prog_free(&prog);
}

static void test_ja_far(void **state)
{
	struct cbpf_builder *b = new_builder();
	struct cbpf_prog prog;
	int i;

	(void)state;
	cbpf_ja(b, "end");
	for (i = 0; i < 1000; i++)
		cbpf_ld_imm(b, i);
	cbpf_label(b, "end");
	cbpf_ret_a(b);
	prog = finish(b);
	assert_int_equal(prog.len, 1002);
	assert_insn(&prog.insns[0], 0x05, 0, 0, 1000);
	assert_validates(&prog);
	cbpf_prog_free(&prog);
}

/*
 * Checking a layout. The logical program has no ja of its own (only
 * LD IMM fillers with distinct k, conditional jumps and RETs), so every
 * ja in the output is a trampoline. Walking the output, the non-ja insns
 * must be the logical ones in order, and every branch, followed through
 * its trampoline, must land on the logical insn its label names.
 */
struct logical {
	size_t len;
	struct sock_filter insn[CBPF_MAXINSNS];
	int jt[CBPF_MAXINSNS], jf[CBPF_MAXINSNS];	/* logical targets */
};

static size_t follow(const struct cbpf_prog *p, size_t at)
{
	while (p->insns[at].code == (BPF_JMP | BPF_JA))
		at += 1 + p->insns[at].k;
	return at;
}

static void check_layout(const struct logical *l, const struct cbpf_prog *p)
{
	size_t *map = calloc(p->len, sizeof(*map));	/* out -> logical */
	size_t *pos = calloc(l->len, sizeof(*pos));	/* logical -> out */
	size_t i, n = 0;

	assert_non_null(map);
	assert_non_null(pos);
	assert_validates(p);
	for (i = 0; i < p->len; i++) {
		map[i] = SIZE_MAX;
		if (p->insns[i].code == (BPF_JMP | BPF_JA))
			continue;
		assert_true(n < l->len);
		assert_int_equal(p->insns[i].code, l->insn[n].code);
		assert_int_equal(p->insns[i].k, l->insn[n].k);
		pos[n] = i;
		map[i] = n++;
	}
	assert_int_equal(n, l->len);
	for (i = 0; i < l->len; i++) {
		const struct sock_filter *f = &p->insns[pos[i]];
		size_t t, e;

		if (BPF_CLASS(f->code) != BPF_JMP)
			continue;
		t = follow(p, pos[i] + 1 + f->jt);
		e = follow(p, pos[i] + 1 + f->jf);
		if (map[t] != (size_t)l->jt[i] || map[e] != (size_t)l->jf[i])
			fail_msg("logical insn %zu: lands on %zu/%zu, want %d/%d",
				 i, map[t], map[e], l->jt[i], l->jf[i]);
	}
	free(map);
	free(pos);
}

static char *label_name(char buf[static 16], int at)
{
	snprintf(buf, 16, "L%d", at);
	return buf;
}

/*
 * Builds the logical program from a plan: jumps[i] >= 0 makes insn i a
 * conditional jump (jeq) to labels L<jt>, L<jf> (a target of i + 1 is
 * written as NULL, fall-through); labels sit where targets need them.
 */
static int build_plan(struct logical *l, struct cbpf_prog *prog,
		      struct cbpf_error *e)
{
	struct cbpf_builder *b = new_builder();
	bool *labelled = calloc(l->len + 1, sizeof(*labelled));
	char n1[16], n2[16];
	size_t i;
	int ret;

	assert_non_null(labelled);
	for (i = 0; i < l->len; i++) {
		if (BPF_CLASS(l->insn[i].code) == BPF_JMP) {
			labelled[l->jt[i]] = true;
			labelled[l->jf[i]] = true;
		}
	}
	for (i = 0; i < l->len; i++) {
		const struct sock_filter *f = &l->insn[i];

		if (labelled[i])
			cbpf_label(b, label_name(n1, (int)i));
		if (BPF_CLASS(f->code) == BPF_JMP)
			cbpf_jmp_k(b, CBPF_COND_EQ, f->k,
				   l->jt[i] == (int)i + 1 ? NULL : label_name(n1, l->jt[i]),
				   l->jf[i] == (int)i + 1 ? NULL : label_name(n2, l->jf[i]));
		else if (BPF_CLASS(f->code) == BPF_RET)
			cbpf_ret_k(b, f->k);
		else
			cbpf_ld_imm(b, f->k);
	}
	ret = cbpf_builder_finish(b, prog, e);
	cbpf_builder_free(b);
	free(labelled);
	return ret;
}

static void add(struct logical *l, uint16_t code, int jt, int jf)
{
	size_t i = l->len++;

	l->insn[i] = (struct sock_filter){ code, 0, 0, (uint32_t)i };
	l->jt[i] = jt;
	l->jf[i] = jf;
}

static void build_and_check(struct logical *l)
{
	struct cbpf_prog prog;
	struct cbpf_error e = { 0 };

	if (build_plan(l, &prog, &e))
		fail_msg("finish: %s", e.msg);
	check_layout(l, &prog);
	cbpf_prog_free(&prog);
}

/* 300 fillers between a jump and its label: a trampoline is needed. */
static void test_trampoline_300(void **state)
{
	struct logical *l = calloc(1, sizeof(*l));
	struct cbpf_prog prog;
	struct cbpf_error e;
	int i;

	(void)state;
	assert_non_null(l);
	add(l, 0x15, 302, 1);		/* jeq far, fall through */
	for (i = 0; i < 300; i++)
		add(l, 0x00, 0, 0);
	add(l, 0x06, 0, 0);		/* 301 */
	add(l, 0x06, 0, 0);		/* 302: the label */
	assert_int_equal(build_plan(l, &prog, &e), 0);
	/* jeq jt 0 -> ja 301, jf 1 -> first filler */
	assert_int_equal(prog.len, 304);
	assert_insn(&prog.insns[0], 0x15, 0, 1, 0);
	assert_insn(&prog.insns[1], 0x05, 0, 0, 301);
	assert_int_equal(prog.insns[1 + 1 + 301].k, 302);
	check_layout(l, &prog);
	cbpf_prog_free(&prog);

	/* Both branches far, to different labels: two trampolines. */
	l->len = 0;
	add(l, 0x15, 301, 602);
	for (i = 0; i < 300; i++)
		add(l, 0x00, 0, 0);
	add(l, 0x06, 0, 0);
	for (i = 0; i < 300; i++)
		add(l, 0x00, 0, 0);
	add(l, 0x06, 0, 0);
	build_and_check(l);

	/* Both far to the same label: one trampoline serves. */
	l->jf[0] = 301;
	assert_int_equal(build_plan(l, &prog, &e), 0);
	assert_int_equal(prog.len, l->len + 1);
	assert_insn(&prog.insns[0], 0x15, 0, 0, 0);
	check_layout(l, &prog);
	cbpf_prog_free(&prog);

	/* 255 ahead is still near... */
	l->len = 0;
	add(l, 0x15, 256, 1);
	for (i = 0; i < 255; i++)
		add(l, 0x00, 0, 0);
	add(l, 0x06, 0, 0);
	add(l, 0x06, 0, 0);
	assert_int_equal(build_plan(l, &prog, &e), 0);
	assert_int_equal(prog.len, l->len);
	assert_insn(&prog.insns[0], 0x15, 255, 0, 0);
	check_layout(l, &prog);
	cbpf_prog_free(&prog);

	/* ...until jf's trampoline pushes it to 256: both need one. */
	l->jf[0] = 257;
	add(l, 0x06, 0, 0);
	assert_int_equal(build_plan(l, &prog, &e), 0);
	assert_int_equal(prog.len, l->len + 2);
	assert_insn(&prog.insns[0], 0x15, 0, 1, 0);
	check_layout(l, &prog);
	cbpf_prog_free(&prog);
	free(l);
}

/* Jump i reaches exactly 255 ahead until jump i + 1 gets a trampoline;
 * the last jump is far: the trampolines cascade back, one per round of
 * the layout, until all 40 jumps have one. */
static void test_trampoline_cascade(void **state)
{
	struct logical *l = calloc(1, sizeof(*l));
	struct cbpf_prog prog;
	struct cbpf_error e;
	int i;

	(void)state;
	assert_non_null(l);
	for (i = 0; i < 39; i++)
		add(l, 0x15, 256 + i, i + 1);
	add(l, 0x15, 1000, 40);
	for (i = 40; i < 1001; i++)
		add(l, i % 50 ? 0x00 : 0x06, 0, 0);
	add(l, 0x06, 0, 0);
	assert_int_equal(build_plan(l, &prog, &e), 0);
	assert_int_equal(prog.len, l->len + 40);
	check_layout(l, &prog);
	cbpf_prog_free(&prog);
	free(l);
}

/* Random plans, up to 4096 logical insns, random forward targets. */
static void test_trampoline_random(void **state)
{
	struct logical *l = calloc(1, sizeof(*l));
	int round;

	(void)state;
	assert_non_null(l);
	for (round = 0; round < 300; round++) {
		size_t n = 2 + rnd() % (round < 250 ? 800 : 3000), i;
		unsigned int jumps = rnd() % 60;
		struct cbpf_prog prog;
		struct cbpf_error e;
		int ret;

		l->len = 0;
		for (i = 0; i + 1 < n; i++) {
			int span = rnd() % 4 ? 600 : (int)(n - i - 1);
			int jt = (int)i + 1 + (int)(rnd() % span);
			int jf = (int)i + 1 + (int)(rnd() % span);

			if (jt >= (int)n)
				jt = (int)n - 1;
			if (jf >= (int)n)
				jf = (int)n - 1;
			if (rnd() % 100 < jumps)
				add(l, 0x15, jt, jf);
			else
				add(l, rnd() % 20 ? 0x00 : 0x06, 0, 0);
		}
		add(l, 0x06, 0, 0);
		ret = build_plan(l, &prog, &e);
		if (ret) {
			/* Only allowed failure: too long with trampolines. */
			assert_int_equal(ret, -E2BIG);
			assert_non_null(strstr(e.msg, "4096"));
			continue;
		}
		assert_true(prog.len <= CBPF_MAXINSNS);
		check_layout(l, &prog);
		cbpf_prog_free(&prog);
	}
	free(l);
}

static void test_unknown_label(void **state)
{
	struct cbpf_builder *b = new_builder();

	(void)state;
	cbpf_ld_imm(b, 1);
	cbpf_ld_imm(b, 1);
	cbpf_jmp_k(b, CBPF_COND_EQ, 1, NULL, "drop");
	cbpf_label(b, "other");
	cbpf_ret_k(b, 0);
	finish_fails(b, -EINVAL, 2, "insn 2 (jeq)", "unknown label 'drop'");

	b = new_builder();
	cbpf_ja(b, "nowhere");
	cbpf_ret_k(b, 0);
	finish_fails(b, -EINVAL, 0, "insn 0 (ja)", "'nowhere'");
}

static void test_duplicate_label(void **state)
{
	struct cbpf_builder *b = new_builder();

	(void)state;
	cbpf_label(b, "a");
	cbpf_ld_imm(b, 1);
	cbpf_label(b, "b");
	cbpf_label(b, "b2");	/* two labels on one insn are fine */
	cbpf_ld_imm(b, 1);
	assert_int_equal(cbpf_label(b, "a"), -EINVAL);
	cbpf_ret_k(b, 0);
	finish_fails(b, -EINVAL, 2, "insn 2", "duplicate label 'a'");
}

static void test_backward_label(void **state)
{
	struct cbpf_builder *b = new_builder();

	(void)state;
	cbpf_ld_imm(b, 1);
	cbpf_label(b, "top");
	cbpf_ld_imm(b, 2);
	cbpf_jmp_k(b, CBPF_COND_LE, 5, "top", NULL);
	cbpf_ret_k(b, 0);
	finish_fails(b, -EINVAL, 2, "insn 2 (jle)", "'top'");

	/* A jump to itself is backward too. */
	b = new_builder();
	cbpf_label(b, "self");
	cbpf_ja(b, "self");
	cbpf_ret_k(b, 0);
	finish_fails(b, -EINVAL, 0, "insn 0 (ja)", "forward");
}

static void test_label_at_end(void **state)
{
	struct cbpf_builder *b = new_builder();

	(void)state;
	cbpf_jmp_k(b, CBPF_COND_EQ, 1, "end", NULL);
	cbpf_ret_k(b, 0);
	cbpf_label(b, "end");
	finish_fails(b, -EINVAL, 2, "insn 2", "'end'");

	b = new_builder();
	finish_fails(b, -EINVAL, -1, "empty", NULL);
}

static void test_too_long(void **state)
{
	struct cbpf_builder *b = new_builder();
	struct cbpf_prog prog;
	int i;

	(void)state;
	for (i = 0; i < CBPF_MAXINSNS - 1; i++)
		assert_int_equal(cbpf_ld_imm(b, i), 0);
	assert_int_equal(cbpf_ret_a(b), 0);
	prog = finish(b);
	assert_int_equal(prog.len, CBPF_MAXINSNS);
	assert_validates(&prog);
	cbpf_prog_free(&prog);

	b = new_builder();
	for (i = 0; i < CBPF_MAXINSNS; i++)
		assert_int_equal(cbpf_ld_imm(b, i), 0);
	assert_int_equal(cbpf_ret_a(b), -E2BIG);
	assert_int_equal(cbpf_ret_a(b), -E2BIG);
	finish_fails(b, -E2BIG, 4096, "insn 4096 (ret)", "4096");

	/* Fits at 4090 insns, but not with its trampolines. */
	b = new_builder();
	for (i = 0; i < 10; i++)
		cbpf_jmp_k(b, CBPF_COND_EQ, 1, "far", NULL);
	for (i = 10; i < 4089; i++)
		cbpf_ld_imm(b, i);
	cbpf_label(b, "far");
	cbpf_ret_a(b);
	finish_fails(b, -E2BIG, -1, "4096", NULL);
}

/* After the first error, nothing changes and everything returns it. */
static void test_sticky_error(void **state)
{
	struct cbpf_builder *b = new_builder();

	(void)state;
	cbpf_ld_imm(b, 1);
	assert_int_equal(cbpf_st(b, 16), -EINVAL);
	assert_int_equal(cbpf_ld_imm(b, 1), -EINVAL);
	assert_int_equal(cbpf_label(b, "x"), -EINVAL);
	assert_int_equal(cbpf_ld_abs(b, 3, 0), -EINVAL);
	assert_int_equal(cbpf_ret_k(b, 0), -EINVAL);
	finish_fails(b, -EINVAL, 1, "insn 1 (st)", "scratch");
}

static void test_invalid_operands(void **state)
{
	struct cbpf_insn ret_x = { .op = CBPF_OP_RET, .src = CBPF_SRC_X };
	struct cbpf_builder *b;

	(void)state;
	b = new_builder();
	assert_int_equal(cbpf_ld_mem(b, 16), -EINVAL);
	finish_fails(b, -EINVAL, 0, "insn 0 (ld)", "scratch");
	b = new_builder();
	assert_int_equal(cbpf_ldx_mem(b, 0xffffffff), -EINVAL);
	cbpf_builder_free(b);
	b = new_builder();
	assert_int_equal(cbpf_stx(b, 16), -EINVAL);
	cbpf_builder_free(b);
	b = new_builder();
	assert_int_equal(cbpf_ld_ind(b, 0, 1), -EINVAL);
	cbpf_builder_free(b);
	b = new_builder();
	assert_int_equal(cbpf_ld_anc(b, 2), -EINVAL);
	cbpf_builder_free(b);
	b = new_builder();
	assert_int_equal(cbpf_alu_k(b, 42, 1), -EINVAL);
	cbpf_builder_free(b);
	b = new_builder();
	assert_int_equal(cbpf_jmp_x(b, 8, NULL, NULL), -EINVAL);
	cbpf_builder_free(b);
	b = new_builder();
	cbpf_ret_k(b, 0);
	assert_int_equal(cbpf_emit(b, &ret_x, NULL, NULL), -EINVAL);
	finish_fails(b, -EINVAL, 1, "insn 1", NULL);
	cbpf_builder_free(NULL);
}

/* Label names are copied: the caller's buffer may change or die. */
static void test_labels_copied(void **state)
{
	struct cbpf_builder *b = new_builder();
	struct cbpf_prog prog;
	char name[16];

	(void)state;
	strcpy(name, "first");
	cbpf_jmp_k(b, CBPF_COND_EQ, 1, name, NULL);
	strcpy(name, "second");
	cbpf_jmp_k(b, CBPF_COND_EQ, 2, name, NULL);
	cbpf_ret_k(b, 0);
	strcpy(name, "first");
	cbpf_label(b, name);
	strcpy(name, "XXXXXXX");
	cbpf_ret_k(b, 1);
	strcpy(name, "second");
	cbpf_label(b, name);
	memset(name, 0, sizeof(name));
	cbpf_ret_k(b, 2);
	prog = finish(b);
	assert_insn(&prog.insns[0], 0x15, 2, 0, 1);
	assert_insn(&prog.insns[1], 0x15, 2, 0, 2);
	cbpf_prog_free(&prog);
}

static void test_prog_helpers(void **state)
{
	static const struct sock_filter p[] = { { 0x06, 1, 2, 3 } };
	struct cbpf_prog prog;
	struct sock_fprog fp;

	(void)state;
	assert_int_equal(cbpf_prog_from_array(&prog, p, 1), 0);
	assert_int_equal(prog.len, 1);
	assert_ptr_not_equal(prog.insns, p);
	assert_memory_equal(prog.insns, p, sizeof(p));
	fp = cbpf_prog_fprog(&prog);
	assert_int_equal(fp.len, 1);
	assert_ptr_equal(fp.filter, prog.insns);
	cbpf_prog_free(&prog);
	assert_null(prog.insns);
	assert_int_equal(prog.len, 0);
	assert_int_equal(cbpf_prog_from_array(&prog, NULL, 0), 0);
	assert_int_equal(prog.len, 0);
	cbpf_prog_free(&prog);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_labels_example),
		cmocka_unit_test(test_all_conditions),
		cmocka_unit_test(test_fall_through),
		cmocka_unit_test(test_every_emitter),
		cmocka_unit_test(test_ja_far),
		cmocka_unit_test(test_trampoline_300),
		cmocka_unit_test(test_trampoline_cascade),
		cmocka_unit_test(test_trampoline_random),
		cmocka_unit_test(test_unknown_label),
		cmocka_unit_test(test_duplicate_label),
		cmocka_unit_test(test_backward_label),
		cmocka_unit_test(test_label_at_end),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_sticky_error),
		cmocka_unit_test(test_invalid_operands),
		cmocka_unit_test(test_labels_copied),
		cmocka_unit_test(test_prog_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
