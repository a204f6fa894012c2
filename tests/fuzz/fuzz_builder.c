/* SPDX-License-Identifier: MIT */
/*
 * The builder driven by a byte script: each 3-byte step is one call, with
 * labels from a small set so that they collide, repeat and go missing
 * (a NULL jump target falls through).
 * Whatever finish() returns must be well formed: at most 4096 insns, and
 * every jump (trampolines included) lands inside the program, unless it
 * falls through off the end (cbpf_validate()'s business, V11).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "cbpf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *label(uint8_t v)
{
	static const char *const names[] = { "a", "b", "c", "d", "e", "f" };

	return v & 0x80 ? NULL : names[v % 6];
}

/* 'fill' repeats a filler so that far jumps and the 4096 limit are hit. */
static void step(struct cbpf_builder *b, uint8_t op, uint8_t x, uint8_t y)
{
	unsigned int n;

	switch (op % 10) {
	case 0:
		/* A label's own name is never NULL (CBPF_NONNULL). */
		cbpf_label(b, label(x & 0x7f));
		break;
	case 1:
		cbpf_jmp_k(b, y % 8, x, label(x), label(y));
		break;
	case 2:
		cbpf_jmp_x(b, x % 8, label(y), label(x ^ y));
		break;
	case 3:
		cbpf_ja(b, label(x));
		break;
	case 4:
		for (n = 0; n < (unsigned int)x * 4 + y % 4; n++)
			cbpf_ld_imm(b, n);
		break;
	case 5:
		cbpf_ret_k(b, x);
		break;
	case 6:
		cbpf_st(b, x % 20);
		break;
	case 7:
		cbpf_ld_abs(b, y % 5, x);
		break;
	case 8:
		cbpf_alu_k(b, x % 12, y);
		break;
	default:
		cbpf_ret_a(b);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cbpf_builder *b = cbpf_builder_new();
	struct cbpf_prog prog;
	struct cbpf_error e;
	size_t i, end;

	if (!b)
		return 0;
	for (i = 0; i + 3 <= size; i += 3)
		step(b, data[i], data[i + 1], data[i + 2]);
	if (!cbpf_builder_finish(b, &prog, &e)) {
		if (!prog.len || prog.len > CBPF_MAXINSNS)
			abort();
		/* Only a fall-through from the last insn may leave it. */
		end = BPF_CLASS(prog.insns[prog.len - 1].code) == BPF_RET ?
		      prog.len - 1 : prog.len;
		for (i = 0; i < prog.len; i++) {
			const struct sock_filter *f = &prog.insns[i];

			if (BPF_CLASS(f->code) != BPF_JMP)
				continue;
			if (BPF_OP(f->code) == BPF_JA ? i + 1 + f->k > end :
			    i + 1 + f->jt > end || i + 1 + f->jf > end)
				abort();
		}
		cbpf_prog_free(&prog);
	} else if (!e.msg[0] || e.err >= 0) {
		abort();
	}
	cbpf_builder_free(b);
	return 0;
}
