/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the bpf_asm assembler: any input either fails with
 * -EINVAL and a position, or assembles to a program that the ASM printer
 * writes back as text assembling to the very same program. Aborts
 * otherwise.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cbpf.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cbpf_error err = { 0 };
	struct cbpf_prog prog, again;
	char *s;
	int ret;

	ret = cbpf_parse((const char *)data, size, CBPF_FORM_ASM, &prog, &err);
	if (ret == -ENOMEM)
		return 0;
	if (ret) {
		if (ret != -EINVAL || err.err != -EINVAL || err.line < 1 ||
		    err.column < 1 || !err.msg[0] ||
		    !memchr(err.msg, '\0', sizeof(err.msg)))
			abort();
		return 0;
	}
	s = cbpf_format(&prog, CBPF_FORM_ASM, 0);
	if (s) {
		if (cbpf_parse(s, strlen(s), CBPF_FORM_ASM, &again, &err))
			abort();
		if (again.len != prog.len ||
		    memcmp(again.insns, prog.insns,
			   prog.len * sizeof(*prog.insns)))
			abort();
		cbpf_prog_free(&again);
		free(s);
	}
	free(cbpf_format(&prog, CBPF_FORM_TCPDUMP, 0));
	free(cbpf_format(&prog, CBPF_FORM_C, 0));
	free(cbpf_format(&prog, CBPF_FORM_DOT, 0));
	cbpf_prog_free(&prog);
	return 0;
}
