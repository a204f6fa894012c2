/* SPDX-License-Identifier: MIT */
/*
 * cbpf_validate() on arbitrary bytes read as struct sock_filter[]: it must
 * never crash, must report a sane error, and whatever it accepts must
 * decode and re-encode to the same bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cbpf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len = size / sizeof(struct sock_filter), i;
	struct sock_filter *insns = malloc(len * sizeof(*insns) + 1);
	struct cbpf_prog prog = { .len = len, .insns = insns };
	struct cbpf_error e;
	int ret;

	if (!insns)
		return 0;
	memcpy(insns, data, len * sizeof(*insns));
	ret = cbpf_validate(&prog, &e);
	if (ret) {
		if (ret != -EINVAL || e.err != ret || !e.msg[0] ||
		    e.insn < -1 || e.insn >= (int)len)
			abort();
	} else {
		for (i = 0; i < len; i++) {
			struct cbpf_insn insn;
			struct sock_filter again;

			if (cbpf_decode(&insns[i], &insn) ||
			    cbpf_encode(&insn, &again) ||
			    memcmp(&again, &insns[i], sizeof(again)))
				abort();
		}
	}
	free(insns);
	return 0;
}
