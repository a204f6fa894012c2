/* SPDX-License-Identifier: MIT */
/*
 * libcbpf — the kernel's acceptance check for classic BPF.
 *
 * cbpf_validate() accepts exactly the programs that
 * setsockopt(SO_ATTACH_FILTER) accepts on Linux (rules V2, V4-V12 of
 * doc/kernel-rules.md, from net/core/filter.c: length, opcode whitelist,
 * constant division and shift, scratch index, jump ranges, ancillary
 * offsets, final RET, and the scratch read-before-write check with its
 * RET quirk), and returns the errno the kernel would set (-EINVAL).
 * Memory charging (V14, ENOMEM against net.core.optmem_max) depends on
 * the host and is not modelled.
 */
#ifndef CBPF_VALIDATE_H
#define CBPF_VALIDATE_H

#include "attr.h"
#include "prog.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 0 if the kernel would accept prog, else -EINVAL with err (may be NULL)
 * filled: the instruction at fault and, in err->msg, the rule. A prog
 * with no instructions (insns NULL or len 0) is refused (V2). */
CBPF_MUST_CHECK CBPF_NONNULL(1)
int cbpf_validate(const struct cbpf_prog *prog, struct cbpf_error *err);

#ifdef __cplusplus
}
#endif

#endif
