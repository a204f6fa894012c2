/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the numeric program readers (tcpdump -ddd, -dd,
 * the comma form), each forced, and the form detection in front of
 * them: any input either parses, and then prints in every format and
 * reads back to the same bytes, or fails with -EINVAL and a position.
 * Aborts otherwise.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cbpf.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(int ret, const struct cbpf_error *err)
{
	if (ret == -ENOMEM)
		return;
	if (ret != -EINVAL || err->err != -EINVAL || err->line < 1 ||
	    err->column < 1 || !err->msg[0] ||
	    !memchr(err->msg, '\0', sizeof(err->msg)))
		abort();
}

static void format_all(const struct cbpf_prog *prog)
{
	static const enum cbpf_form fmts[] = {
		CBPF_FORM_TCPDUMP, CBPF_FORM_DD, CBPF_FORM_DDD,
		CBPF_FORM_COMMA, CBPF_FORM_ASM, CBPF_FORM_C, CBPF_FORM_DOT,
	};
	char *s;

	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		s = cbpf_format(prog, fmts[i], 0);
		free(s);
	}
	free(cbpf_format(prog, CBPF_FORM_TCPDUMP,
			 CBPF_FORMAT_NO_TRAILING_BLANKS));
}

/* The numeric forms carry every byte: printing and reading back is the
 * identity. */
static void round_trip(const struct cbpf_prog *prog, enum cbpf_form fmt)
{
	struct cbpf_prog again;
	char *s;

	/* -dd has no count line: an empty program prints as nothing. */
	if (fmt == CBPF_FORM_DD && !prog->len)
		return;
	s = cbpf_format(prog, fmt, 0);
	if (!s)
		return;
	if (cbpf_parse(s, strlen(s), fmt, &again, NULL))
		abort();
	if (again.len != prog->len ||
	    memcmp(again.insns, prog->insns, prog->len * sizeof(*prog->insns)))
		abort();
	cbpf_prog_free(&again);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Each numeric reader forced on every input, then detection (which
	 * hands what is not numeric to the bpf_asm reader). */
	static const enum cbpf_form forms[] = {
		CBPF_FORM_DDD, CBPF_FORM_DD, CBPF_FORM_COMMA, CBPF_FORM_UNKNOWN,
	};
	const char *text = (const char *)data;
	struct cbpf_error err = { 0 };
	struct cbpf_prog prog;
	size_t i;
	int ret;

	(void)cbpf_detect_form(text, size);
	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		ret = cbpf_parse(text, size, forms[i], &prog, &err);
		if (ret) {
			check_error(ret, &err);
			continue;
		}
		format_all(&prog);
		round_trip(&prog, CBPF_FORM_DDD);
		round_trip(&prog, CBPF_FORM_DD);
		round_trip(&prog, CBPF_FORM_COMMA);
		cbpf_prog_free(&prog);
	}
	return 0;
}
