/* SPDX-License-Identifier: MIT */
/* What bpf_asm text can express of a program, for the round-trip tests. */
#ifndef TESTS_TEXT_CANONICAL_H
#define TESTS_TEXT_CANONICAL_H

#include <stdbool.h>
#include <stddef.h>
#include <cbpf.h>

/* Zeroes the fields the kernel ignores, which bpf_asm cannot express. */
static inline void canonicalize(struct sock_filter *f, size_t n)
{
	struct cbpf_insn in;
	bool k;

	for (size_t i = 0; i < n; i++) {
		if (cbpf_decode(&f[i], &in))
			continue;
		if (in.op != CBPF_OP_JMP)
			f[i].jt = f[i].jf = 0;
		switch (in.op) {
		case CBPF_OP_LD:
		case CBPF_OP_LDX:
			k = in.mode != CBPF_MODE_LEN;
			break;
		case CBPF_OP_ALU:
		case CBPF_OP_JMP:
		case CBPF_OP_RET:
			k = in.src == CBPF_SRC_K;
			break;
		case CBPF_OP_ST:
		case CBPF_OP_STX:
		case CBPF_OP_JA:
			k = true;
			break;
		default:
			k = false;
			break;
		}
		if (!k)
			f[i].k = 0;
	}
}

#endif
