/* SPDX-License-Identifier: MIT */
/*
 * libcbpf — a program builder where jumps name labels.
 *
 * Errors are sticky, like a FILE's error flag: the emit calls (every
 * function below but new, free and finish) return the first error so far
 * (0 if none, else a negative errno) and do nothing once one happened, so
 * a filter can be written as a straight list of calls and checked once
 * in cbpf_builder_finish(), which returns that error again and names the
 * failing instruction. That is why the emit calls, alone in libcbpf, are
 * not CBPF_MUST_CHECK (rule 6 of cbpf.h).
 *
 *	struct cbpf_builder *b = cbpf_builder_new();
 *	cbpf_ld_abs(b, CBPF_SIZE_H, 12);
 *	cbpf_jmp_k(b, CBPF_COND_NE, 0x0800, "drop", NULL);
 *	cbpf_ret_k(b, 0xffffffff);
 *	cbpf_label(b, "drop");
 *	cbpf_ret_k(b, 0);
 *	ret = cbpf_builder_finish(b, &prog, &err);
 *
 * A label names the next instruction emitted. A NULL target means "fall
 * through". Conditional targets further than 255 instructions ahead are
 * reached through an automatically inserted `ja` trampoline. Backward
 * jumps, unknown and duplicate labels, and programs longer than 4096
 * instructions are errors.
 */
#ifndef CBPF_BUILDER_H
#define CBPF_BUILDER_H

#include <stdint.h>
#include "attr.h"
#include "insn.h"
#include "prog.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cbpf_builder;

/* An empty builder; NULL with errno ENOMEM. */
CBPF_MUST_CHECK
struct cbpf_builder *cbpf_builder_new(void);
/* b may be NULL. */
void cbpf_builder_free(struct cbpf_builder *b);

/* Names the next instruction emitted; name (not NULL) is copied. A name
 * defined twice is an error. */
CBPF_NONNULL(1, 2)
int cbpf_label(struct cbpf_builder *b, const char *name);

/* The emit calls: the instruction their name says; jump targets are label
 * names (NULL: fall through to the next instruction). */
CBPF_NONNULL(1)
int cbpf_ld_imm(struct cbpf_builder *b, uint32_t k);
CBPF_NONNULL(1)
int cbpf_ld_abs(struct cbpf_builder *b, enum cbpf_size size, uint32_t k);
CBPF_NONNULL(1)
int cbpf_ld_ind(struct cbpf_builder *b, enum cbpf_size size, uint32_t k);
CBPF_NONNULL(1)
int cbpf_ld_mem(struct cbpf_builder *b, uint32_t n);
CBPF_NONNULL(1)
int cbpf_ld_len(struct cbpf_builder *b);
CBPF_NONNULL(1)
int cbpf_ld_anc(struct cbpf_builder *b, enum cbpf_anc anc);
CBPF_NONNULL(1)
int cbpf_ldx_imm(struct cbpf_builder *b, uint32_t k);
CBPF_NONNULL(1)
int cbpf_ldx_mem(struct cbpf_builder *b, uint32_t n);
CBPF_NONNULL(1)
int cbpf_ldx_len(struct cbpf_builder *b);
CBPF_NONNULL(1)
int cbpf_ldx_msh(struct cbpf_builder *b, uint32_t k);
CBPF_NONNULL(1)
int cbpf_st(struct cbpf_builder *b, uint32_t n);
CBPF_NONNULL(1)
int cbpf_stx(struct cbpf_builder *b, uint32_t n);
CBPF_NONNULL(1)
int cbpf_alu_k(struct cbpf_builder *b, enum cbpf_alu op, uint32_t k);
CBPF_NONNULL(1)
int cbpf_alu_x(struct cbpf_builder *b, enum cbpf_alu op);
CBPF_NONNULL(1)
int cbpf_neg(struct cbpf_builder *b);
CBPF_NONNULL(1)
int cbpf_tax(struct cbpf_builder *b);
CBPF_NONNULL(1)
int cbpf_txa(struct cbpf_builder *b);
CBPF_NONNULL(1)
int cbpf_ret_k(struct cbpf_builder *b, uint32_t k);
CBPF_NONNULL(1)
int cbpf_ret_a(struct cbpf_builder *b);
CBPF_NONNULL(1)
int cbpf_ja(struct cbpf_builder *b, const char *target);
CBPF_NONNULL(1)
int cbpf_jmp_k(struct cbpf_builder *b, enum cbpf_cond cond, uint32_t k,
	       const char *jt, const char *jf);
CBPF_NONNULL(1)
int cbpf_jmp_x(struct cbpf_builder *b, enum cbpf_cond cond,
	       const char *jt, const char *jf);

/* Any typed instruction; for JMP/JA the jt/jf/k fields are ignored and
 * the label names are used instead (NULL: fall through). */
CBPF_NONNULL(1, 2)
int cbpf_emit(struct cbpf_builder *b, const struct cbpf_insn *insn,
	      const char *jt, const char *jf);

/* Resolves labels and fills a fresh prog: 0, or the first error of the
 * emit calls or of the layout (-EINVAL: unknown label, backward jump,
 * empty program, ...; -E2BIG: longer than 4096 instructions with its
 * trampolines; -ENOMEM) with err (may be NULL) filled and prog zeroed.
 * Does not check the kernel's rules beyond what encoding needs: use
 * cbpf_validate(). The builder can be freed afterwards either way. */
CBPF_MUST_CHECK CBPF_NONNULL(1, 2)
int cbpf_builder_finish(struct cbpf_builder *b, struct cbpf_prog *prog,
			struct cbpf_error *err);

#ifdef __cplusplus
}
#endif

#endif
