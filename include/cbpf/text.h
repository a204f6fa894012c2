/* SPDX-License-Identifier: MIT */
/*
 * libcbpf — programs as text: printers and parsers.
 *
 * Printers return a malloc'ed NUL-terminated string (NULL on ENOMEM).
 * Parsers take a buffer that need not be NUL-terminated, fill a fresh
 * prog and return 0, or return -EINVAL with err naming line and column.
 */
#ifndef CBPF_TEXT_H
#define CBPF_TEXT_H

#include <stddef.h>
#include "prog.h"

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

/* tcpdump -ddd, -dd or the comma form, detected. */
int cbpf_parse_prog(const char *text, size_t len, struct cbpf_prog *prog,
		    struct cbpf_error *err);

/* bpf_asm text (the kernel's tools/bpf grammar, plus the extension names
 * tcpdump and x/net/bpf use). */
int cbpf_parse_asm(const char *text, size_t len, struct cbpf_prog *prog,
		   struct cbpf_error *err);

/* Any of the above, detected. */
int cbpf_parse_any(const char *text, size_t len, struct cbpf_prog *prog,
		   struct cbpf_error *err);

#endif
