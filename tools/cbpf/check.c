// SPDX-License-Identifier: MIT
/* cbpf check: would setsockopt(SO_ATTACH_FILTER) accept this program? */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "program.h"
#include "subcommands.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: %s [options] [FILE]\n\n"
		"Exits 0 if the Linux kernel would accept the program in FILE (or\n"
		"stdin, also for '-'), 1 with the reason and the instruction index\n"
		"if it would not, or if FILE does not parse (file:line:column).\n\n"
		"  -e, --program TEXT  the program itself instead of FILE\n"
		"  -q, --quiet         print nothing when the program is valid\n"
		"  -h, --help          this help\n", progname);
}

int check_main(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "program", required_argument, NULL, 'e' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct cbpf_prog prog = { 0 };
	const char *path = NULL, *text = NULL, *name;
	bool quiet = false;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "e:qh", options, NULL)) != -1) {
		switch (opt) {
		case 'e':
			text = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(stdout);
			return finish_output(EXIT_OK);
		default:
			return usage_hint();
		}
	}
	if (!program_operand(argc, argv, text, &path))
		return usage_hint();

	name = program_name(path, text);
	ret = load_program(path, text, SYNTAX_ANY, &prog);
	if (!ret)
		ret = check_valid(name, &prog);
	if (!ret && !quiet)
		printf("%s: ok, %zu instruction%s\n", name, prog.len,
		       prog.len == 1 ? "" : "s");
	cbpf_prog_free(&prog);
	return finish_output(ret);
}
