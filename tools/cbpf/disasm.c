// SPDX-License-Identifier: MIT
/* cbpf disasm: any program form in, readable text out. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "program.h"
#include "subcommands.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: %s [options] [FILE]\n\n"
		"Prints the program in FILE (or stdin) as text: tcpdump -ddd or -dd\n"
		"output, the comma form, bpf_asm text or raw sock_filter binary in;\n"
		"by default tcpdump -d out. The program is not validated (see\n"
		"'cbpf check'), so that rejected programs can be looked at.\n\n"
		"  -f, --format FORM       %s\n"
		"                          (default: tcpdump)\n"
		"      --no-trailing-blanks  tcpdump form without libpcap 1.10's trailing blanks\n"
		"  -e, --program TEXT      the program itself instead of FILE\n"
		"  -h, --help              this help\n", progname, FORM_NAMES);
}

int disasm_main(int argc, char *argv[])
{
	static const struct option options[] = {
		OUTPUT_LONG_OPTIONS,
		{ "program", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct output_options out = { .form = CBPF_FORM_TCPDUMP };
	struct cbpf_prog prog = { 0 };
	const char *path = NULL, *text = NULL;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "f:e:h", options, NULL)) != -1) {
		switch (opt) {
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

	ret = load_program(path, text, SYNTAX_ANY, &prog);
	if (!ret)
		ret = write_program(&prog, &out);
	cbpf_prog_free(&prog);
	return ret;
}
