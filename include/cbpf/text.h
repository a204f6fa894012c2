/* SPDX-License-Identifier: MIT */
/*
 * libcbpf — programs as text: one enum of forms, a printer, a detector
 * and a parser.
 *
 * cbpf_format() returns a malloc'ed NUL-terminated string (free() it), or
 * NULL with errno EINVAL (CBPF_FORM_UNKNOWN, an unknown form or flag) or
 * ENOMEM.
 *
 * cbpf_parse() takes a buffer that need not be NUL-terminated, fills a
 * fresh prog and returns 0, or returns -EINVAL (-ENOMEM) with err naming
 * line and column (1-based; column counts bytes) and, in err->msg, the
 * offending token; prog is then left zeroed. err->msg does not repeat the
 * position; err->insn is the instruction being read, or -1.
 *
 * The parser reads, it does not judge: it accepts up to
 * CBPF_TEXT_MAXINSNS instructions (and in the numeric forms any codes),
 * so that cbpf_validate() can refuse what the kernel refuses (more than
 * 4096 instructions, an empty program, unknown opcodes) with the kernel's
 * own rule. On success prog->insns is never NULL, even for 0
 * instructions.
 */
#ifndef CBPF_TEXT_H
#define CBPF_TEXT_H

#include <stddef.h>
#include "attr.h"
#include "prog.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest program the parser returns (sock_fprog.len is 16 bits). */
#define CBPF_TEXT_MAXINSNS 65535

/*
 * The text forms of a program. cbpf_format() writes every one but
 * UNKNOWN; cbpf_parse() reads DD, DDD, COMMA and ASM, and detects them
 * given UNKNOWN.
 *
 * TCPDUMP is byte-identical to `tcpdump -d` of libpcap 1.10.3, including
 * its trailing blanks (see CBPF_FORMAT_NO_TRAILING_BLANKS) and
 * "unimp 0x%x" for the codes it has no name for (among them LDX|W|LEN,
 * 0x81, which the kernel does run). It lost the jump offsets to absolute
 * targets, so it cannot be read back. DD, DDD and COMMA print every field
 * as is and read back to the same bytes.
 *
 * ASM is bpf_asm source with labels "l<index>" on jump targets. It reads
 * back to the same bytes for every program whose codes the kernel knows
 * and whose jumps stay inside the program, up to the fields the kernel
 * ignores (jt/jf of non-jumps, k of X, A and LEN forms and of
 * neg/tax/txa), which bpf_asm cannot write; non-zero ignored fields are
 * shown in a `;` comment. Unknown codes print as "unimp 0x.." and jumps
 * past the end name a label that does not exist, so such text is refused
 * rather than silently assembled differently.
 *
 * C is a compilable struct sock_filter array (BPF_STMT/BPF_JUMP with
 * <linux/filter.h> names, exact bytes), DOT a Graphviz digraph with one
 * node per instruction and jt/jf edges; neither can be read back.
 */
enum cbpf_form {
	CBPF_FORM_UNKNOWN,	/* cbpf_parse(): detect the form */
	CBPF_FORM_TCPDUMP,	/* tcpdump -d, as libpcap 1.10.x prints it */
	CBPF_FORM_DD,		/* tcpdump -dd: C array lines */
	CBPF_FORM_DDD,		/* tcpdump -ddd: count, then decimal lines */
	CBPF_FORM_COMMA,	/* one line: "N,code jt jf k,..." */
	CBPF_FORM_ASM,		/* bpf_asm text */
	CBPF_FORM_C,		/* BPF_STMT/BPF_JUMP array with comments */
	CBPF_FORM_DOT,		/* Graphviz control-flow graph */
};

/* Flags of cbpf_format(). */
enum cbpf_format_flags {
	/* tcpdump -d without the trailing blanks libpcap 1.10 leaves after
	 * operand-less instructions (the libpcap >= 1.11 form). Changes
	 * only CBPF_FORM_TCPDUMP. */
	CBPF_FORMAT_NO_TRAILING_BLANKS = 1U << 0,
};

/* prog in form, as a malloc'ed string; NULL with errno set. */
CBPF_MUST_CHECK CBPF_NONNULL(1)
char *cbpf_format(const struct cbpf_prog *prog, enum cbpf_form form,
		  unsigned int flags);

/* The form of text[0..len) by its first meaningful line: DDD, DD, COMMA,
 * ASM, or UNKNOWN for none of them. Cannot fail. */
CBPF_NONNULL(1)
enum cbpf_form cbpf_detect_form(const char *text, size_t len);

/*
 * Reads text[0..len) in form into a fresh prog (see above for results).
 *
 * CBPF_FORM_UNKNOWN: the form cbpf_detect_form() finds; text that is none
 * of them is read as bpf_asm, for its error message, and tcpdump -d
 * output is refused with a hint.
 *
 * CBPF_FORM_DDD, _DD, _COMMA: that numeric form only. Comments (`#`
 * first on a line, `;` and `//` to the end of it, C block comments) and
 * blank lines may surround the numbers.
 *
 * CBPF_FORM_ASM: bpf_asm text (the kernel's tools/bpf grammar, plus the
 * extension names tcpdump and x/net/bpf use). A superset of bpf_asm:
 * labels of any length, `[x+k]` without blanks, `[proto]` as well as
 * `#proto`, `//` comments, several labels on one instruction,
 * `jne/jlt/jle` with a second (false) label. Stricter where bpf_asm
 * silently misassembles: unknown and duplicate labels, backward jumps
 * (also `ja`), conditional jumps further than 255 instructions (no
 * trampolines: the text maps one to one onto instructions), `ret x`
 * (0x0e, which the kernel refuses), numbers outside 32 bits, and
 * `ldx N*([k]&M)` other than 4 and 0xf are all -EINVAL with line and
 * column.
 *
 * CBPF_FORM_TCPDUMP, _C, _DOT (not readable) and unknown values: -EINVAL,
 * err filled, at line 0.
 */
CBPF_MUST_CHECK CBPF_NONNULL(1, 4)
int cbpf_parse(const char *text, size_t len, enum cbpf_form form,
	       struct cbpf_prog *prog, struct cbpf_error *err);

#ifdef __cplusplus
}
#endif

#endif
