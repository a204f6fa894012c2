/* SPDX-License-Identifier: MIT */
/*
 * The cbpf command: one function per subcommand, each called with
 * argv[0] = "cbpf <command>" so that getopt's messages name it.
 */
#ifndef SUBCOMMANDS_H
#define SUBCOMMANDS_H

/* Exit status of every subcommand (cbpf(1), EXIT STATUS). */
enum {
	EXIT_OK = 0,		/* done; the program is valid */
	EXIT_REJECTED = 1,	/* bad input content, invalid program, mismatch */
	EXIT_USAGE = 2,		/* usage or I/O error */
};

int check_main(int argc, char *argv[]);
int run_main(int argc, char *argv[]);
int asm_main(int argc, char *argv[]);
int disasm_main(int argc, char *argv[]);
int compile_main(int argc, char *argv[]);
int trace_main(int argc, char *argv[]);

#endif
