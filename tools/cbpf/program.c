// SPDX-License-Identifier: MIT
/* Programs in and out of the cbpf command, with its error messages. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "program.h"
#include "subcommands.h"
#include "util.h"

const char *program_name(const char *path, const char *text)
{
	return text ? "<command line>" : input_name(path);
}

void report_error(const char *name, const struct cbpf_error *err)
{
	const char *msg = err->msg[0] ? err->msg : strerror(err->err < 0 ? -err->err : EINVAL);

	if (err->line > 0)
		errorf("%s:%d:%d: %s", name, err->line, err->column, msg);
	else if (err->insn >= 0 && !strstr(msg, "insn"))
		errorf("%s: insn %d: %s", name, err->insn, msg);
	else
		errorf("%s: %s", name, msg);
}

/* Raw input is what `cbpf asm -f raw` wrote: host-order sock_filter. */
static int load_raw(const char *name, const char *data, size_t len,
		    struct cbpf_prog *prog)
{
	size_t count = len / sizeof(struct sock_filter);
	const struct sock_filter *insns;
	int ret;

	if (len % sizeof(struct sock_filter)) {
		errorf("%s: binary input of %zu bytes is not a whole number of %zu-byte instructions",
		       name, len, sizeof(struct sock_filter));
		return EXIT_REJECTED;
	}
	/* As the text parsers: longer than the kernel takes is for
	 * cbpf_validate() to refuse, longer than sock_fprog can say is not
	 * a program at all. */
	if (count > CBPF_TEXT_MAXINSNS) {
		errorf("%s: %zu instructions; a program has at most %d",
		       name, count, CBPF_TEXT_MAXINSNS);
		return EXIT_REJECTED;
	}
	/* data came from malloc, so it is aligned for any type. */
	insns = (const struct sock_filter *)(const void *)data;
	ret = cbpf_prog_from_array(prog, insns, count);
	if (ret < 0) {
		errorf("%s", strerror(-ret));
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static int parse_text(const char *name, const char *data, size_t len,
		      enum program_syntax syntax, struct cbpf_prog *prog)
{
	enum cbpf_form form = syntax == SYNTAX_ASM ? CBPF_FORM_ASM
						   : CBPF_FORM_UNKNOWN;
	struct cbpf_error err = { .insn = -1 };
	int ret;

	ret = cbpf_parse(data, len, form, prog, &err);
	if (ret == -ENOMEM) {
		errorf("%s: %s", name, strerror(ENOMEM));
		return EXIT_USAGE;
	}
	if (ret < 0) {
		if (!err.err)
			err.err = ret;
		report_error(name, &err);
		return EXIT_REJECTED;
	}
	return EXIT_OK;
}

int load_program(const char *path, const char *text,
		 enum program_syntax syntax, struct cbpf_prog *prog)
{
	const char *name = program_name(path, text);
	char *data;
	size_t len;
	int ret;

	if (text)
		return parse_text(name, text, strlen(text), syntax, prog);
	ret = read_input(path, PROGRAM_FILE_MAX, &data, &len);
	if (ret)
		return ret;
	if (syntax == SYNTAX_ANY && memchr(data, '\0', len))
		ret = load_raw(name, data, len, prog);
	else
		ret = parse_text(name, data, len, syntax, prog);
	free(data);
	return ret;
}

int check_valid(const char *name, const struct cbpf_prog *prog)
{
	struct cbpf_error err = { .insn = -1 };

	if (cbpf_validate(prog, &err) == 0)
		return EXIT_OK;
	report_error(name, &err);
	return EXIT_REJECTED;
}

static const struct {
	const char *name;
	int form;
} forms[] = {
	{ "tcpdump", CBPF_FORM_TCPDUMP },
	{ "d", CBPF_FORM_TCPDUMP },
	{ "dd", CBPF_FORM_DD },
	{ "ddd", CBPF_FORM_DDD },
	{ "comma", CBPF_FORM_COMMA },
	{ "asm", CBPF_FORM_ASM },
	{ "c", CBPF_FORM_C },
	{ "dot", CBPF_FORM_DOT },
	{ "raw", FORM_RAW },
};

bool program_operand(int argc, char *argv[], const char *text,
		     const char **path)
{
	if (optind < argc)
		*path = argv[optind++];
	if (optind < argc || (text && *path)) {
		errorf("one program at a time");
		return false;
	}
	return true;
}

static bool parse_form(const char *name, int *form)
{
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		if (!strcmp(name, forms[i].name)) {
			*form = forms[i].form;
			return true;
		}
	}
	return false;
}

bool output_option(struct output_options *o, int opt, const char *arg)
{
	if (opt == OUTPUT_OPT_NO_TRAILING_BLANKS) {
		o->flags |= CBPF_FORMAT_NO_TRAILING_BLANKS;
		return true;
	}
	if (!parse_form(arg, &o->form)) {
		errorf("unknown format '%s'; use %s", arg, FORM_NAMES);
		return false;
	}
	return true;
}

static int write_raw(const struct cbpf_prog *prog)
{
	/* Binary on a terminal is never what was meant, and can leave the
	 * terminal in a strange state. */
	if (isatty(STDOUT_FILENO)) {
		errorf("refusing to write raw binary to a terminal; redirect stdout");
		return EXIT_USAGE;
	}
	fwrite(prog->insns, sizeof(prog->insns[0]), prog->len, stdout);
	return finish_output(EXIT_OK);
}

int write_program(const struct cbpf_prog *prog,
		  const struct output_options *o)
{
	char *text;
	size_t len;

	if (o->form == FORM_RAW)
		return write_raw(prog);
	text = cbpf_format(prog, o->form, o->flags);
	if (!text) {
		errorf("%s", strerror(ENOMEM));
		return EXIT_USAGE;
	}
	len = strlen(text);
	fputs(text, stdout);
	if (len && text[len - 1] != '\n')
		fputc('\n', stdout);
	free(text);
	return finish_output(EXIT_OK);
}

const char *exit_name(enum cbpf_exit exit)
{
	switch (exit) {
	case CBPF_EXIT_RET:
		return "return";
	case CBPF_EXIT_OOB:
		return "out-of-bounds";
	case CBPF_EXIT_DIV0:
		return "division-by-zero";
	case CBPF_EXIT_NODEV:
		return "no-device";
	case CBPF_EXIT_INVALID:
		return "invalid";
	}
	return "unknown";
}
