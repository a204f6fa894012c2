/* SPDX-License-Identifier: MIT */
/*
 * struct cbpf_prog, the owned program, and struct cbpf_error, the report
 * every rejecting function fills.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

void cbpf_prog_free(struct cbpf_prog *prog)
{
	if (!prog)
		return;
	free(prog->insns);
	prog->insns = NULL;
	prog->len = 0;
}

int cbpf_prog_from_array(struct cbpf_prog *prog,
			 const struct sock_filter *insns, size_t len)
{
	struct sock_filter *copy;

	*prog = (struct cbpf_prog){ 0 };
	if (len == SIZE_MAX)
		return -ENOMEM;
	/* calloc checks len * size for overflow; +1 keeps len 0 non-NULL. */
	copy = calloc(len + 1, sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	if (len)
		memcpy(copy, insns, len * sizeof(*copy));
	prog->insns = copy;
	prog->len = len;
	return 0;
}

struct sock_fprog cbpf_prog_fprog(const struct cbpf_prog *prog)
{
	/* sock_fprog.len is an unsigned short: longer programs cannot be
	 * attached anyway (V2), so saturate rather than wrap into a
	 * shorter, different program that the kernel might accept. */
	return (struct sock_fprog){
		.len = prog->len > 0xffff ? 0xffff : (unsigned short)prog->len,
		.filter = prog->insns,
	};
}

int error_vset(struct cbpf_error *e, int err, int insn, const char *fmt,
	       va_list ap)
{
	if (!e)
		return err;
	*e = (struct cbpf_error){ .err = err, .insn = insn };
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	return err;
}

int error_set(struct cbpf_error *e, int err, int insn, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(e, err, insn, fmt, ap);
	va_end(ap);
	return err;
}
