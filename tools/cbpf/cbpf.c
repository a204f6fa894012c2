// SPDX-License-Identifier: MIT
/*
 * cbpf: classic BPF programs checked, run, traced, assembled and
 * disassembled exactly as the Linux kernel sees them. See cbpf(1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "subcommands.h"
#include "util.h"

#ifndef CBPF_VERSION
#define CBPF_VERSION "unknown"
#endif

static const struct {
	const char *name;
	int (*function)(int argc, char *argv[]);
	const char *description;
} subcommands[] = {
	{ "check", check_main, "Tells whether the kernel would accept a program" },
	{ "run", run_main, "Runs packets through a program and prints the verdicts" },
	{ "trace", trace_main, "Shows every instruction one packet executes" },
	{ "asm", asm_main, "Assembles bpf_asm text" },
	{ "disasm", disasm_main, "Prints a program as text (tcpdump -d, asm, C, dot)" },
	{ "compile", compile_main, "Compiles a pcap filter expression with libpcap" },
};

#define NR_SUBCOMMANDS (sizeof(subcommands) / sizeof(subcommands[0]))

static void show_usage(FILE *f)
{
	fprintf(f, "Usage: cbpf <command> [<options>] [<arguments>]\n\n"
		"Classic BPF as the Linux kernel runs it. Commands:\n");
	for (size_t i = 0; i < NR_SUBCOMMANDS; i++)
		fprintf(f, "  %-9s %s\n", subcommands[i].name, subcommands[i].description);
	fprintf(f, "\nA program may be tcpdump -ddd or -dd output, the one-line comma form\n"
		"(\"N,code jt jf k,...\"), bpf_asm text, or raw sock_filter binary.\n"
		"'cbpf help <command>' or 'cbpf <command> --help' describes a command.\n"
		"Exit status: 0 ok, 1 rejected or bad input, 2 usage or I/O error.\n");
}

static int find_subcommand(const char *name)
{
	for (size_t i = 0; i < NR_SUBCOMMANDS; i++)
		if (!strcmp(name, subcommands[i].name))
			return (int)i;
	return -1;
}

/* Calls subcommand i with argv[0] = "cbpf <name>", getopt's prefix. */
static int call(int i, int argc, char *argv[])
{
	static char name[32];

	snprintf(name, sizeof(name), "cbpf %s", subcommands[i].name);
	progname = name;
	argv[0] = name;
	return subcommands[i].function(argc, argv);
}

static int help(int argc, char *argv[])
{
	char *help_argv[] = { NULL, (char *)"--help", NULL };
	int i;

	if (argc < 2) {
		show_usage(stdout);
		return finish_output(EXIT_OK);
	}
	i = find_subcommand(argv[1]);
	if (i < 0) {
		errorf("help: unknown command '%s'", argv[1]);
		return usage_hint();
	}
	if (argc > 2) {
		errorf("help: one command at a time");
		return usage_hint();
	}
	return call(i, 2, help_argv);
}

int main(int argc, char *argv[])
{
	int i;

	if (argc < 2) {
		show_usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help"))
		return help(argc - 1, argv + 1);
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("cbpf %s\n", CBPF_VERSION);
		return finish_output(EXIT_OK);
	}
	i = find_subcommand(argv[1]);
	if (i < 0) {
		errorf("unknown command '%s'", argv[1]);
		return usage_hint();
	}
	return call(i, argc - 1, argv + 1);
}
