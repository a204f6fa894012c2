/* SPDX-License-Identifier: MIT */
/*
 * The label builder.
 *
 * Instructions are collected with symbolic jump targets and laid out only
 * in cbpf_builder_finish(). cBPF jumps go forward only, so a label must
 * come after every jump that names it. A conditional jump reaches at most
 * 255 instructions ahead; a farther target gets a `ja` trampoline placed
 * right after the jump. Trampolines push later code further away, which
 * can make other jumps far too, so the layout is repeated until nothing
 * changes. It terminates: each round adds at least one trampoline, a jump
 * needs at most two, and we stop once the program exceeds 4096 insns.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define FALL_THROUGH	(-1)	/* jump target: the next instruction */
#define NOT_DEFINED	(-1)	/* label position before cbpf_label() */
#define JT_FAR		(1u << 0)
#define JF_FAR		(1u << 1)

struct bld_label {
	char *name;
	int pos;		/* index of the insn it names, or NOT_DEFINED */
};

struct bld_insn {
	struct sock_filter raw;	/* code and k; jt/jf too for non-jumps */
	const char *name;	/* mnemonic as the caller wrote it */
	int jt, jf;		/* label ids (after lowering) or FALL_THROUGH */
	unsigned int far;	/* JT_FAR, JF_FAR: reached via a trampoline */
};

struct cbpf_builder {
	struct bld_insn *insns;
	size_t len, cap;
	struct bld_label *labels;
	size_t nlabels, labels_cap;
	int err;		/* sticky: first error, 0 if none */
	struct cbpf_error error;
};

static const char *const cond_names[] = {
	[CBPF_COND_EQ] = "jeq", [CBPF_COND_NE] = "jne", [CBPF_COND_GT] = "jgt",
	[CBPF_COND_GE] = "jge", [CBPF_COND_LT] = "jlt", [CBPF_COND_LE] = "jle",
	[CBPF_COND_SET] = "jset", [CBPF_COND_CLEAR] = "jclear",
};

struct cbpf_builder *cbpf_builder_new(void)
{
	struct cbpf_builder *b = calloc(1, sizeof(*b));

	if (!b)
		errno = ENOMEM;
	return b;
}

void cbpf_builder_free(struct cbpf_builder *b)
{
	size_t i;

	if (!b)
		return;
	for (i = 0; i < b->nlabels; i++)
		free(b->labels[i].name);
	free(b->labels);
	free(b->insns);
	free(b);
}

/* Label id for name, adding it (undefined) on first sight; <0 on error. */
static int label_id(struct cbpf_builder *b, const char *name)
{
	struct bld_label *l;
	size_t i;

	for (i = 0; i < b->nlabels; i++)
		if (!strcmp(b->labels[i].name, name))
			return (int)i;
	if (lib_grow((void **)&b->labels, &b->labels_cap, b->nlabels + 1,
		      sizeof(*l)))
		return -ENOMEM;
	l = &b->labels[b->nlabels];
	l->name = strdup(name);
	if (!l->name)
		return -ENOMEM;
	l->pos = NOT_DEFINED;
	return (int)b->nlabels++;
}

static const char *cond_name(enum cbpf_cond cond)
{
	if ((unsigned int)cond < ARRAY_SIZE(cond_names))
		return cond_names[cond];
	return "jmp";
}

/* The mnemonic for messages: the condition as the caller wrote it. */
static const char *insn_name(const struct cbpf_insn *insn)
{
	struct sock_filter raw;

	if (insn->op == CBPF_OP_JMP)
		return cond_name(insn->cond);
	if (cbpf_encode(insn, &raw))
		return "insn";
	return insn_mnemonic(raw.code);
}

static int fail(struct cbpf_builder *b, int err, const char *name,
		const char *what)
{
	b->err = error_set(&b->error, err, (int)b->len, "insn %zu (%s): %s",
			   b->len, name, what);
	return b->err;
}

int cbpf_label(struct cbpf_builder *b, const char *name)
{
	int id;

	if (b->err)
		return b->err;
	id = label_id(b, name);
	if (id < 0)
		return fail(b, -ENOMEM, "label", "out of memory");
	if (b->labels[id].pos != NOT_DEFINED) {
		b->err = error_set(&b->error, -EINVAL, (int)b->len,
				   "insn %zu: duplicate label '%s' (already names insn %d)",
				   b->len, name, b->labels[id].pos);
		return b->err;
	}
	b->labels[id].pos = (int)b->len;
	return 0;
}

/* Appends insn; jt and jf name labels for JMP, jt alone for JA. */
static int emit(struct cbpf_builder *b, const struct cbpf_insn *insn,
		const char *jt, const char *jf)
{
	const char *name = insn_name(insn);
	struct bld_insn *bi;
	struct sock_filter raw;
	int t = FALL_THROUGH, f = FALL_THROUGH;

	if (b->err)
		return b->err;
	if (b->len >= CBPF_MAXINSNS)
		return fail(b, -E2BIG, name, "program longer than 4096 instructions");
	if (cbpf_encode(insn, &raw))
		return fail(b, -EINVAL, name, "no such instruction (invalid operand)");
	if (insn->op == CBPF_OP_JA || insn->op == CBPF_OP_JMP) {
		if (jt)
			t = label_id(b, jt);
		if (jf && insn->op == CBPF_OP_JMP && t >= FALL_THROUGH)
			f = label_id(b, jf);
		if (t < FALL_THROUGH || f < FALL_THROUGH)
			return fail(b, -ENOMEM, name, "out of memory");
		if (insn->op == CBPF_OP_JMP && insn_cond_inverted(insn->cond)) {
			int tmp = t;

			t = f;
			f = tmp;
		}
		raw.jt = raw.jf = 0;
		if (insn->op == CBPF_OP_JA)
			raw.k = 0;
	}
	if (lib_grow((void **)&b->insns, &b->cap, b->len + 1, sizeof(*bi)))
		return fail(b, -ENOMEM, name, "out of memory");
	bi = &b->insns[b->len++];
	*bi = (struct bld_insn){ .raw = raw, .name = name, .jt = t, .jf = f };
	return 0;
}

static int emit_simple(struct cbpf_builder *b, struct cbpf_insn insn)
{
	return emit(b, &insn, NULL, NULL);
}

/* M[n] exists for n < 16 only; catch a bad index where it is written. */
static int emit_mem(struct cbpf_builder *b, struct cbpf_insn insn)
{
	if (!b->err && insn.k >= CBPF_MEMWORDS)
		return fail(b, -EINVAL, insn_name(&insn),
			    "scratch index out of range 0..15");
	return emit_simple(b, insn);
}

int cbpf_ld_imm(struct cbpf_builder *b, uint32_t k)
{
	return emit_simple(b, (struct cbpf_insn){
		.op = CBPF_OP_LD, .mode = CBPF_MODE_IMM, .k = k });
}

int cbpf_ld_abs(struct cbpf_builder *b, enum cbpf_size size, uint32_t k)
{
	return emit_simple(b, (struct cbpf_insn){
		.op = CBPF_OP_LD, .mode = CBPF_MODE_ABS, .size = size, .k = k });
}

int cbpf_ld_ind(struct cbpf_builder *b, enum cbpf_size size, uint32_t k)
{
	return emit_simple(b, (struct cbpf_insn){
		.op = CBPF_OP_LD, .mode = CBPF_MODE_IND, .size = size, .k = k });
}

int cbpf_ld_mem(struct cbpf_builder *b, uint32_t n)
{
	return emit_mem(b, (struct cbpf_insn){
		.op = CBPF_OP_LD, .mode = CBPF_MODE_MEM, .k = n });
}

int cbpf_ld_len(struct cbpf_builder *b)
{
	return emit_simple(b, (struct cbpf_insn){
		.op = CBPF_OP_LD, .mode = CBPF_MODE_LEN });
}

int cbpf_ld_anc(struct cbpf_builder *b, enum cbpf_anc anc)
{
	if (!b->err && !insn_anc_names((unsigned int)anc))
		return fail(b, -EINVAL, "ld", "unknown ancillary load");
	return emit_simple(b, (struct cbpf_insn){
		.op = CBPF_OP_LD, .mode = CBPF_MODE_ABS, .size = CBPF_SIZE_W,
		.k = (uint32_t)SKF_AD_OFF + (uint32_t)anc });
}

int cbpf_ldx_imm(struct cbpf_builder *b, uint32_t k)
{
	return emit_simple(b, (struct cbpf_insn){
		.op = CBPF_OP_LDX, .mode = CBPF_MODE_IMM, .k = k });
}

int cbpf_ldx_mem(struct cbpf_builder *b, uint32_t n)
{
	return emit_mem(b, (struct cbpf_insn){
		.op = CBPF_OP_LDX, .mode = CBPF_MODE_MEM, .k = n });
}

int cbpf_ldx_len(struct cbpf_builder *b)
{
	return emit_simple(b, (struct cbpf_insn){
		.op = CBPF_OP_LDX, .mode = CBPF_MODE_LEN });
}

int cbpf_ldx_msh(struct cbpf_builder *b, uint32_t k)
{
	return emit_simple(b, (struct cbpf_insn){
		.op = CBPF_OP_LDX, .mode = CBPF_MODE_MSH, .k = k });
}

int cbpf_st(struct cbpf_builder *b, uint32_t n)
{
	return emit_mem(b, (struct cbpf_insn){ .op = CBPF_OP_ST, .k = n });
}

int cbpf_stx(struct cbpf_builder *b, uint32_t n)
{
	return emit_mem(b, (struct cbpf_insn){ .op = CBPF_OP_STX, .k = n });
}

int cbpf_alu_k(struct cbpf_builder *b, enum cbpf_alu op, uint32_t k)
{
	return emit_simple(b, (struct cbpf_insn){
		.op = CBPF_OP_ALU, .alu = op, .src = CBPF_SRC_K, .k = k });
}

int cbpf_alu_x(struct cbpf_builder *b, enum cbpf_alu op)
{
	return emit_simple(b, (struct cbpf_insn){
		.op = CBPF_OP_ALU, .alu = op, .src = CBPF_SRC_X });
}

int cbpf_neg(struct cbpf_builder *b)
{
	return emit_simple(b, (struct cbpf_insn){ .op = CBPF_OP_NEG });
}

int cbpf_tax(struct cbpf_builder *b)
{
	return emit_simple(b, (struct cbpf_insn){ .op = CBPF_OP_TAX });
}

int cbpf_txa(struct cbpf_builder *b)
{
	return emit_simple(b, (struct cbpf_insn){ .op = CBPF_OP_TXA });
}

int cbpf_ret_k(struct cbpf_builder *b, uint32_t k)
{
	return emit_simple(b, (struct cbpf_insn){
		.op = CBPF_OP_RET, .src = CBPF_SRC_K, .k = k });
}

int cbpf_ret_a(struct cbpf_builder *b)
{
	return emit_simple(b, (struct cbpf_insn){
		.op = CBPF_OP_RET, .src = CBPF_SRC_A });
}

int cbpf_ja(struct cbpf_builder *b, const char *target)
{
	struct cbpf_insn insn = { .op = CBPF_OP_JA };

	return emit(b, &insn, target, NULL);
}

int cbpf_jmp_k(struct cbpf_builder *b, enum cbpf_cond cond, uint32_t k,
	       const char *jt, const char *jf)
{
	struct cbpf_insn insn = {
		.op = CBPF_OP_JMP, .cond = cond, .src = CBPF_SRC_K, .k = k,
	};

	return emit(b, &insn, jt, jf);
}

int cbpf_jmp_x(struct cbpf_builder *b, enum cbpf_cond cond,
	       const char *jt, const char *jf)
{
	struct cbpf_insn insn = {
		.op = CBPF_OP_JMP, .cond = cond, .src = CBPF_SRC_X,
	};

	return emit(b, &insn, jt, jf);
}

int cbpf_emit(struct cbpf_builder *b, const struct cbpf_insn *insn,
	      const char *jt, const char *jf)
{
	return emit(b, insn, jt, jf);
}

/* Checks one jump target: defined, and strictly ahead of insn i. */
static int check_target(struct cbpf_builder *b, size_t i, int id,
			struct cbpf_error *err)
{
	const struct bld_label *l = &b->labels[id];
	const char *name = b->insns[i].name;

	if (l->pos == NOT_DEFINED)
		return error_set(err, -EINVAL, (int)i,
				 "insn %zu (%s): unknown label '%s'",
				 i, name, l->name);
	if ((size_t)l->pos <= i)
		return error_set(err, -EINVAL, (int)i,
				 "insn %zu (%s): label '%s' names insn %d, not ahead: cBPF jumps only go forward",
				 i, name, l->name, l->pos);
	return 0;
}

static int check_labels(struct cbpf_builder *b, struct cbpf_error *err)
{
	size_t i;
	int ret;

	for (i = 0; i < b->nlabels; i++)
		if ((size_t)b->labels[i].pos == b->len)
			return error_set(err, -EINVAL, (int)b->len,
					 "insn %zu: label '%s' has no instruction after it",
					 b->len, b->labels[i].name);
	for (i = 0; i < b->len; i++) {
		const struct bld_insn *bi = &b->insns[i];

		if (bi->jt != FALL_THROUGH) {
			ret = check_target(b, i, bi->jt, err);
			if (ret)
				return ret;
		}
		if (bi->jf != FALL_THROUGH) {
			ret = check_target(b, i, bi->jf, err);
			if (ret)
				return ret;
		}
	}
	return 0;
}

static size_t trampolines(const struct bld_insn *bi)
{
	if (bi->far == (JT_FAR | JF_FAR))
		return bi->jt == bi->jf ? 1 : 2;
	return bi->far ? 1 : 0;
}

/* pos[i]: where insn i lands once trampolines are in; pos[len]: total. */
static void place(const struct cbpf_builder *b, size_t *pos)
{
	size_t i, at = 0;

	for (i = 0; i < b->len; i++) {
		pos[i] = at;
		at += 1 + trampolines(&b->insns[i]);
	}
	pos[b->len] = at;
}

/* Marks conditional branches that cannot reach their label; true if any
 * was newly marked. */
static bool mark_far(struct cbpf_builder *b, const size_t *pos)
{
	bool changed = false;
	size_t i;

	for (i = 0; i < b->len; i++) {
		struct bld_insn *bi = &b->insns[i];

		if (!insn_is_cond_jump(bi->raw.code))
			continue;
		if (bi->jt != FALL_THROUGH && !(bi->far & JT_FAR) &&
		    pos[b->labels[bi->jt].pos] - pos[i] - 1 > 255) {
			bi->far |= JT_FAR;
			changed = true;
		}
		if (bi->jf != FALL_THROUGH && !(bi->far & JF_FAR) &&
		    pos[b->labels[bi->jf].pos] - pos[i] - 1 > 255) {
			bi->far |= JF_FAR;
			changed = true;
		}
	}
	return changed;
}

/* Final position of the insn a branch of insn i lands on. */
static size_t target_pos(const struct cbpf_builder *b, const size_t *pos,
			 size_t i, int id)
{
	return id == FALL_THROUGH ? pos[i + 1] : pos[b->labels[id].pos];
}

/* The skip for one branch of the conditional jump i; a far branch jumps
 * to a new trampoline at out[*slot]. */
static uint8_t branch(const struct cbpf_builder *b, const size_t *pos,
		      size_t i, int id, bool far, struct sock_filter *out,
		      size_t *slot)
{
	size_t target = target_pos(b, pos, i, id);

	if (!far)
		return (uint8_t)(target - pos[i] - 1);
	out[*slot] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JA,
						  (uint32_t)(target - *slot - 1), 0, 0);
	return (uint8_t)((*slot)++ - pos[i] - 1);
}

static void lay_out(const struct cbpf_builder *b, const size_t *pos,
		    struct sock_filter *out)
{
	size_t i;

	for (i = 0; i < b->len; i++) {
		const struct bld_insn *bi = &b->insns[i];
		struct sock_filter *o = &out[pos[i]];
		size_t slot = pos[i] + 1;

		*o = bi->raw;
		if (BPF_CLASS(o->code) != BPF_JMP)
			continue;
		if (BPF_OP(o->code) == BPF_JA) {
			o->k = (uint32_t)(target_pos(b, pos, i, bi->jt) - pos[i] - 1);
			continue;
		}
		o->jt = branch(b, pos, i, bi->jt, bi->far & JT_FAR, out, &slot);
		if (bi->far == (JT_FAR | JF_FAR) && bi->jt == bi->jf)
			o->jf = o->jt;	/* one trampoline serves both */
		else
			o->jf = branch(b, pos, i, bi->jf, bi->far & JF_FAR,
				       out, &slot);
	}
}

static int resolve(struct cbpf_builder *b, struct cbpf_prog *prog,
		   struct cbpf_error *err)
{
	struct sock_filter *out;
	size_t *pos;
	int ret;

	pos = calloc(b->len + 1, sizeof(*pos));
	if (!pos)
		return error_set(err, -ENOMEM, -1, "out of memory");
	do {
		place(b, pos);
		if (pos[b->len] > CBPF_MAXINSNS) {
			ret = error_set(err, -E2BIG, -1,
					"program with jump trampolines is %zu instructions, longer than 4096",
					pos[b->len]);
			goto out;
		}
	} while (mark_far(b, pos));

	out = calloc(pos[b->len], sizeof(*out));
	if (!out) {
		ret = error_set(err, -ENOMEM, -1, "out of memory");
		goto out;
	}
	lay_out(b, pos, out);
	prog->insns = out;
	prog->len = pos[b->len];
	ret = 0;
out:
	free(pos);
	return ret;
}

int cbpf_builder_finish(struct cbpf_builder *b, struct cbpf_prog *prog,
			struct cbpf_error *err)
{
	size_t i;
	int ret;

	*prog = (struct cbpf_prog){ 0 };
	if (b->err) {
		if (err)
			*err = b->error;
		return b->err;
	}
	if (!b->len)
		return error_set(err, -EINVAL, -1, "empty program");
	ret = check_labels(b, err);
	if (ret)
		return ret;
	/* finish may run again after a failure: lay out from scratch. */
	for (i = 0; i < b->len; i++)
		b->insns[i].far = 0;
	return resolve(b, prog, err);
}
