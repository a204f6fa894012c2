/* SPDX-License-Identifier: MIT */
/* Programs in and out of the cbpf command, with its error messages. */
#ifndef PROGRAM_H
#define PROGRAM_H

#include <stdbool.h>
#include <cbpf.h>

/* Largest program file read: 4096 instructions of commented bpf_asm
 * fit many times over; anything bigger is the wrong file. */
#define PROGRAM_FILE_MAX (8U << 20)

/* How the program text is to be parsed. */
enum program_syntax {
	SYNTAX_ANY,	/* tcpdump -ddd/-dd, comma form or bpf_asm, detected */
	SYNTAX_ASM,	/* bpf_asm only */
};

/*
 * Loads a program from text (if non-NULL, named "<command line>") or
 * else from path (NULL or "-": stdin). Input containing a NUL byte is
 * taken as raw struct sock_filter array in host byte order, the form
 * `cbpf asm -f raw` writes. Prints file:line:column on a parse error.
 * Returns EXIT_OK, EXIT_REJECTED (bad content) or EXIT_USAGE (I/O).
 */
int load_program(const char *path, const char *text,
		 enum program_syntax syntax, struct cbpf_prog *prog);

/* The name load_program() reports for the same arguments. */
const char *program_name(const char *path, const char *text);

/* Prints a library error as "name:line:col: msg" or "name: insn N: msg". */
void report_error(const char *name, const struct cbpf_error *err);

/* cbpf_validate() with the kernel's reason printed; EXIT_OK or
 * EXIT_REJECTED. */
int check_valid(const char *name, const struct cbpf_prog *prog);

/* Output forms: the library's printers plus raw binary. */
#define FORM_RAW (-1)

/* "tcpdump", "dd", "ddd", "comma", "asm", "c", "dot" or "raw" to a form
 * (an enum cbpf_format, or FORM_RAW); false for an unknown name. */
bool parse_form(const char *name, int *form);

/* The list of form names, for --help. */
#define FORM_NAMES "tcpdump, dd, ddd, comma, asm, c, dot or raw"

/* Writes prog to stdout in form. Raw output to a terminal is refused. */
int write_program(const struct cbpf_prog *prog, int form, unsigned int flags);

/* One word for how a run ended: "return", "out-of-bounds", ... */
const char *exit_name(enum cbpf_exit exit);

#endif
