// SPDX-License-Identifier: MIT
/* cbpf asm: bpf_asm text in, an encoded program out. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "program.h"
#include "subcommands.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: %s [options] [FILE]\n\n"
		"Assembles bpf_asm text from FILE (or stdin) and prints the program,\n"
		"by default in bpf_asm's one-line comma form. Errors name\n"
		"file:line:column. A program the kernel would reject is an error\n"
		"(exit 1) unless --no-validate is given.\n\n"
		"  -f, --format FORM       %s\n"
		"                          (default: comma; raw: binary sock_filter array)\n"
		"      --no-trailing-blanks  tcpdump form without libpcap 1.10's trailing blanks\n"
		"  -n, --no-validate       print the program even if the kernel would reject it\n"
		"  -e, --program TEXT      the source itself instead of FILE\n"
		"  -h, --help              this help\n", progname, FORM_NAMES);
}

int asm_main(int argc, char *argv[])
{
	static const struct option options[] = {
		OUTPUT_LONG_OPTIONS,
		{ "no-validate", no_argument, NULL, 'n' },
		{ "program", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct output_options out = { .form = CBPF_FORM_COMMA };
	struct cbpf_prog prog = { 0 };
	const char *path = NULL, *text = NULL;
	bool validate = true;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "f:ne:h", options, NULL)) != -1) {
		switch (opt) {
		case 'n':
			validate = false;
			break;
		case 'e':
			text = optarg;
			break;
		case 'h':
			usage(stdout);
			return finish_output(EXIT_OK);
		default:
			if (!is_output_option(opt) || !output_option(&out, opt, optarg))
				return usage_hint();
		}
	}
	if (!program_operand(argc, argv, text, &path))
		return usage_hint();

	ret = load_program(path, text, SYNTAX_ASM, &prog);
	if (!ret && validate)
		ret = check_valid(program_name(path, text), &prog);
	if (!ret)
		ret = write_program(&prog, &out);
	cbpf_prog_free(&prog);
	return ret;
}
