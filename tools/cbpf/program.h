/* SPDX-License-Identifier: MIT */
/* Programs in and out of the cbpf command, with its error messages. */
#ifndef PROGRAM_H
#define PROGRAM_H

#include <stdbool.h>
#include <getopt.h>
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

/*
 * Takes the FILE operand getopt left in argv: at most one, and not
 * together with -e TEXT (text, if non-NULL). Prints why and returns
 * false otherwise.
 */
bool program_operand(int argc, char *argv[], const char *text,
		     const char **path);

/* Output forms: the library's printers plus raw binary. */
#define FORM_RAW (-1)

/* The list of form names, for --help. */
#define FORM_NAMES "tcpdump, dd, ddd, comma, asm, c, dot or raw"

/* How asm, disasm and compile print a program: -f FORM and
 * --no-trailing-blanks. */
struct output_options {
	int form;		/* an enum cbpf_form, or FORM_RAW */
	unsigned int flags;	/* enum cbpf_format_flags */
};

enum {
	/* Above every short option and every CTX_OPT_*. */
	OUTPUT_OPT_NO_TRAILING_BLANKS = 0x180,
};

/* For a subcommand's struct option array. */
#define OUTPUT_LONG_OPTIONS \
	{ "format", required_argument, NULL, 'f' }, \
	{ "no-trailing-blanks", no_argument, NULL, OUTPUT_OPT_NO_TRAILING_BLANKS }

static inline bool is_output_option(int opt)
{
	return opt == 'f' || opt == OUTPUT_OPT_NO_TRAILING_BLANKS;
}

/* Applies -f ("tcpdump", "dd", "ddd", "comma", "asm", "c", "dot" or
 * "raw") or --no-trailing-blanks. Returns false after printing why for
 * an unknown form. */
bool output_option(struct output_options *o, int opt, const char *arg);

/* Writes prog to stdout as o says. Raw output to a terminal is refused. */
int write_program(const struct cbpf_prog *prog,
		  const struct output_options *o);

/* One word for how a run ended: "return", "out-of-bounds", ... */
const char *exit_name(enum cbpf_exit exit);

#endif
