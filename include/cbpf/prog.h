/* SPDX-License-Identifier: MIT */
/*
 * libcbpf — a program: an owned array of encoded instructions, and the
 * error report that every libcbpf function that judges input fills.
 */
#ifndef CBPF_PROG_H
#define CBPF_PROG_H

#include <stddef.h>
#include <linux/filter.h>
#include "attr.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cbpf_prog {
	size_t len;
	struct sock_filter *insns;	/* malloc'ed; cbpf_prog_free() */
};

/* Frees insns and zeroes prog. Safe on a zeroed or already freed prog;
 * prog may be NULL. */
void cbpf_prog_free(struct cbpf_prog *prog);

/* A deep copy of insns[0..len) into a fresh prog (the way from a static
 * sock_filter array to a program): 0, or -ENOMEM with prog zeroed. insns
 * may be NULL when len is 0; prog->insns is never NULL on success. */
CBPF_MUST_CHECK CBPF_NONNULL(1)
int cbpf_prog_from_array(struct cbpf_prog *prog,
			 const struct sock_filter *insns, size_t len);

/* The kernel's view of a program, for setsockopt(); points into prog.
 * Cannot fail (a length over 65535 saturates, and the kernel refuses
 * it). */
CBPF_NONNULL(1)
struct sock_fprog cbpf_prog_fprog(const struct cbpf_prog *prog);

/*
 * Why input was rejected (rule 3 of cbpf.h): filled by cbpf_validate(),
 * cbpf_parse(), cbpf_builder_finish() and cbpf_vm_new() whenever they
 * fail (rejecting the input, or out of memory), untouched otherwise.
 * err is the negative errno the function returned or set (for
 * validation: the errno setsockopt(SO_ATTACH_FILTER) would set).
 * insn is the 0-based instruction index at fault, or -1. line and column
 * are 1-based positions in text input, or 0 when not from text. msg is a
 * complete sentence fragment naming the rule, e.g.
 * "insn 3: division by constant 0 (kernel rule V5)"; the rules are listed
 * in doc/kernel-rules.md.
 */
struct cbpf_error {
	int err;
	int insn;
	int line;
	int column;
	char msg[192];
};

#ifdef __cplusplus
}
#endif

#endif
