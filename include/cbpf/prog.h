/* SPDX-License-Identifier: MIT */
/*
 * libcbpf — a program: an owned array of encoded instructions, and the
 * error report that every libcbpf function that can reject input fills.
 */
#ifndef CBPF_PROG_H
#define CBPF_PROG_H

#include <stddef.h>
#include <linux/filter.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cbpf_prog {
	size_t len;
	struct sock_filter *insns;	/* malloc'ed; cbpf_prog_free() */
};

/* Frees insns and zeroes prog. Safe on a zeroed or already freed prog. */
void cbpf_prog_free(struct cbpf_prog *prog);

/* Deep copy of len instructions into a fresh prog. 0 or -ENOMEM. */
int cbpf_prog_from_array(struct cbpf_prog *prog,
			 const struct sock_filter *insns, size_t len);

/* The kernel's view of a program, for setsockopt(). Points into prog. */
struct sock_fprog cbpf_prog_fprog(const struct cbpf_prog *prog);

/*
 * Why input was rejected. err is the negative errno the function returned
 * (for validation: the errno setsockopt(SO_ATTACH_FILTER) would set).
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
