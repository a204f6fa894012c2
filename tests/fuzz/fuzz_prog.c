/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the numeric program readers (tcpdump -ddd, -dd,
 * the comma form) and the form detection in front of them: any input
 * either parses, and then prints in every format and reads back to the
 * same bytes, or fails with -EINVAL and a position. Aborts otherwise.
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
	static const enum cbpf_format fmts[] = {
		CBPF_FMT_TCPDUMP, CBPF_FMT_TCPDUMP_DD, CBPF_FMT_TCPDUMP_DDD,
		CBPF_FMT_COMMA, CBPF_FMT_ASM, CBPF_FMT_C, CBPF_FMT_DOT,
	};
	char *s;

	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		s = cbpf_format(prog, fmts[i], 0);
		free(s);
	}
	free(cbpf_format(prog, CBPF_FMT_TCPDUMP, CBPF_FMT_NO_TRAILING_BLANKS));
}

/* The numeric forms carry every byte: printing and reading back is the
 * identity. */
static void round_trip(const struct cbpf_prog *prog, enum cbpf_format fmt)
{
	struct cbpf_prog again;
	char *s;

	/* -dd has no count line: an empty program prints as nothing. */
	if (fmt == CBPF_FMT_TCPDUMP_DD && !prog->len)
		return;
	s = cbpf_format(prog, fmt, 0);
	if (!s)
		return;
	if (cbpf_parse_prog(s, strlen(s), &again, NULL))
		abort();
	if (again.len != prog->len ||
	    memcmp(again.insns, prog->insns, prog->len * sizeof(*prog->insns)))
		abort();
	cbpf_prog_free(&again);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct cbpf_error err = { 0 };
	struct cbpf_prog prog;
	int ret;

	(void)cbpf_detect_form(text, size);
	ret = cbpf_parse_prog(text, size, &prog, &err);
	if (ret) {
		check_error(ret, &err);
	} else {
		format_all(&prog);
		round_trip(&prog, CBPF_FMT_TCPDUMP_DDD);
		round_trip(&prog, CBPF_FMT_TCPDUMP_DD);
		round_trip(&prog, CBPF_FMT_COMMA);
		cbpf_prog_free(&prog);
	}
	ret = cbpf_parse_any(text, size, &prog, &err);
	if (ret) {
		check_error(ret, &err);
	} else {
		format_all(&prog);
		cbpf_prog_free(&prog);
	}
	return 0;
}
