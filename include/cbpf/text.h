/* SPDX-License-Identifier: MIT */
/*
 * libcbpf — programs as text: printers and parsers.
 *
 * Printers return a malloc'ed NUL-terminated string (NULL on ENOMEM, or
 * for an unknown format with errno EINVAL).
 * Parsers take a buffer that need not be NUL-terminated, fill a fresh
 * prog and return 0, or return -EINVAL with err naming line and column
 * (1-based; column counts bytes) and, in err->msg, the offending token.
 * err->msg does not repeat the position; err->insn is the instruction
 * being read, or -1. On error prog is left zeroed.
 *
 * Parsers read, they do not judge: they accept up to CBPF_TEXT_MAXINSNS
 * instructions (and the numeric forms any codes), so that cbpf_validate()
 * can refuse what the kernel refuses (more than 4096 instructions, an
 * empty program, unknown opcodes) with the kernel's own rule. On success
 * prog->insns is never NULL, even for 0 instructions.
 */
#ifndef CBPF_TEXT_H
#define CBPF_TEXT_H

#include <stddef.h>
#include "prog.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest program a parser returns (sock_fprog.len is 16 bits). */
#define CBPF_TEXT_MAXINSNS 65535

/*
 * CBPF_FMT_TCPDUMP is byte-identical to `tcpdump -d` of libpcap 1.10.3,
 * including its trailing blanks and "unimp 0x%x" for the codes it has no
 * name for (among them LDX|W|LEN, 0x81, which the kernel does run).
 * _DD, _DDD and _COMMA print every field as is.
 *
 * CBPF_FMT_ASM is bpf_asm source with labels "l<index>" on jump targets.
 * cbpf_parse_asm() reads it back to the same bytes for every program
 * whose codes the kernel knows and whose jumps stay inside the program,
 * up to the fields the kernel ignores (jt/jf of non-jumps, k of X, A and
 * LEN forms and of neg/tax/txa), which bpf_asm cannot write; non-zero
 * ignored fields are shown in a `;` comment. Unknown codes print as
 * "unimp 0x.." and jumps past the end name a label that does not exist,
 * so such text is refused rather than silently assembled differently.
 *
 * CBPF_FMT_C is a compilable struct sock_filter array (BPF_STMT/BPF_JUMP
 * with <linux/filter.h> names, exact bytes), CBPF_FMT_DOT a Graphviz
 * digraph with one node per instruction and jt/jf edges.
 */
enum cbpf_format {
	CBPF_FMT_TCPDUMP,	/* tcpdump -d, as libpcap 1.10.x prints it */
	CBPF_FMT_TCPDUMP_DD,	/* tcpdump -dd: C array lines */
	CBPF_FMT_TCPDUMP_DDD,	/* tcpdump -ddd: count, then decimal lines */
	CBPF_FMT_COMMA,		/* one line: "N,code jt jf k,..." */
	CBPF_FMT_ASM,		/* bpf_asm text with generated labels */
	CBPF_FMT_C,		/* BPF_STMT/BPF_JUMP array with comments */
	CBPF_FMT_DOT,		/* Graphviz control-flow graph */
};

enum cbpf_format_flags {
	/* tcpdump -d without the trailing blanks libpcap 1.10 leaves after
	 * operand-less instructions (the libpcap >= 1.11 form). */
	CBPF_FMT_NO_TRAILING_BLANKS = 1U << 0,
};

char *cbpf_format(const struct cbpf_prog *prog, enum cbpf_format fmt,
		  unsigned int flags);

/* Forms a program file may come in. */
enum cbpf_text_form {
	CBPF_FORM_UNKNOWN,
	CBPF_FORM_DDD,		/* tcpdump -ddd */
	CBPF_FORM_DD,		/* tcpdump -dd */
	CBPF_FORM_COMMA,	/* N,code jt jf k,... */
	CBPF_FORM_ASM,		/* bpf_asm text */
};

/* Guess the form of text from its first meaningful line. */
enum cbpf_text_form cbpf_detect_form(const char *text, size_t len);

/* tcpdump -ddd, -dd or the comma form, detected. Comments (`#` first on
 * a line, `;` and `//` to the end of it, C block comments) and blank
 * lines may surround the numbers. */
int cbpf_parse_prog(const char *text, size_t len, struct cbpf_prog *prog,
		    struct cbpf_error *err);

/*
 * bpf_asm text (the kernel's tools/bpf grammar, plus the extension names
 * tcpdump and x/net/bpf use). A superset of bpf_asm: labels of any
 * length, `[x+k]` without blanks, `[proto]` as well as `#proto`, `//`
 * comments, several labels on one instruction, `jne/jlt/jle` with a
 * second (false) label. Stricter where bpf_asm silently misassembles:
 * unknown and duplicate labels, backward jumps (also `ja`), conditional
 * jumps further than 255 instructions (no trampolines: the text maps one
 * to one onto instructions), `ret x` (0x0e, which the kernel refuses),
 * numbers outside 32 bits, and `ldx N*([k]&M)` other than 4 and 0xf are
 * all -EINVAL with line and column.
 */
int cbpf_parse_asm(const char *text, size_t len, struct cbpf_prog *prog,
		   struct cbpf_error *err);

/* Any of the above, detected (text that is none of them is read as
 * bpf_asm, for its error message). */
int cbpf_parse_any(const char *text, size_t len, struct cbpf_prog *prog,
		   struct cbpf_error *err);

#ifdef __cplusplus
}
#endif

#endif
