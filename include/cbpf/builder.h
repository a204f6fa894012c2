/* SPDX-License-Identifier: MIT */
/*
 * libcbpf — a program builder where jumps name labels.
 *
 * Errors are sticky, like a FILE's error flag: the emit calls return the
 * first error so far (0 if none) and do nothing once one happened, so a
 * filter can be written as a straight list of calls and checked once in
 * cbpf_builder_finish(), which names the failing instruction.
 *
 *	struct cbpf_builder *b = cbpf_builder_new();
 *	cbpf_ld_abs(b, CBPF_SIZE_H, 12);
 *	cbpf_jmp_k(b, CBPF_JNE, 0x0800, "drop", NULL);
 *	cbpf_ret_k(b, 0xffffffff);
 *	cbpf_label(b, "drop");
 *	cbpf_ret_k(b, 0);
 *	err = cbpf_builder_finish(b, &prog, &error);
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
#include "insn.h"
#include "prog.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cbpf_builder;

struct cbpf_builder *cbpf_builder_new(void);	/* NULL on ENOMEM */
void cbpf_builder_free(struct cbpf_builder *b);

int cbpf_label(struct cbpf_builder *b, const char *name);

int cbpf_ld_imm(struct cbpf_builder *b, uint32_t k);
int cbpf_ld_abs(struct cbpf_builder *b, enum cbpf_size size, uint32_t k);
int cbpf_ld_ind(struct cbpf_builder *b, enum cbpf_size size, uint32_t k);
int cbpf_ld_mem(struct cbpf_builder *b, uint32_t n);
int cbpf_ld_len(struct cbpf_builder *b);
int cbpf_ld_anc(struct cbpf_builder *b, enum cbpf_anc anc);
int cbpf_ldx_imm(struct cbpf_builder *b, uint32_t k);
int cbpf_ldx_mem(struct cbpf_builder *b, uint32_t n);
int cbpf_ldx_len(struct cbpf_builder *b);
int cbpf_ldx_msh(struct cbpf_builder *b, uint32_t k);
int cbpf_st(struct cbpf_builder *b, uint32_t n);
int cbpf_stx(struct cbpf_builder *b, uint32_t n);
int cbpf_alu_k(struct cbpf_builder *b, enum cbpf_alu op, uint32_t k);
int cbpf_alu_x(struct cbpf_builder *b, enum cbpf_alu op);
int cbpf_neg(struct cbpf_builder *b);
int cbpf_tax(struct cbpf_builder *b);
int cbpf_txa(struct cbpf_builder *b);
int cbpf_ret_k(struct cbpf_builder *b, uint32_t k);
int cbpf_ret_a(struct cbpf_builder *b);
int cbpf_ja(struct cbpf_builder *b, const char *target);
int cbpf_jmp_k(struct cbpf_builder *b, enum cbpf_cond cond, uint32_t k,
	       const char *jt, const char *jf);
int cbpf_jmp_x(struct cbpf_builder *b, enum cbpf_cond cond,
	       const char *jt, const char *jf);

/* Any typed instruction; for JMP/JA the jt/jf/k fields are ignored and
 * the label names are used instead (NULL: fall through). */
int cbpf_emit(struct cbpf_builder *b, const struct cbpf_insn *insn,
	      const char *jt, const char *jf);

/* Resolves labels and produces the encoded program. Does not validate
 * against the kernel's rules beyond what encoding needs (use
 * cbpf_validate()). On error returns it, fills err (if non-NULL) and
 * leaves prog zeroed. The builder can be freed afterwards either way. */
int cbpf_builder_finish(struct cbpf_builder *b, struct cbpf_prog *prog,
			struct cbpf_error *err);

#ifdef __cplusplus
}
#endif

#endif
