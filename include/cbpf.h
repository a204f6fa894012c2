/* SPDX-License-Identifier: MIT */
/*
 * libcbpf 1.0 — classic BPF, exactly as Linux runs it.
 *
 * The rules every public function follows, so that none has to be
 * learned on its own:
 *
 * 1. A function returning int returns >= 0 on success (0, or the count or
 *    value it documents) and a negative errno on failure. errno is not
 *    part of what it reports.
 * 2. A function returning a pointer (constructors, printers, name
 *    look-ups) returns non-NULL on success, or NULL with errno set
 *    (ENOMEM, EINVAL, ...).
 * 3. A function that judges input (cbpf_validate, cbpf_parse,
 *    cbpf_builder_finish, cbpf_vm_new) takes a last argument
 *    `struct cbpf_error *err`, which may be NULL. Whenever it rejects the
 *    input it fills err, with err->err the negative errno it returned
 *    (or set), and says why in err->msg.
 * 4. A program going in is a `const struct cbpf_prog *`. A program coming
 *    out is a `struct cbpf_prog *` that is filled fresh on success (free
 *    it with cbpf_prog_free()) and left zeroed on failure.
 * 5. Constants are CBPF_<KIND>_<NAME>, KIND naming their enum: CBPF_OP_,
 *    CBPF_MODE_, CBPF_SIZE_, CBPF_ALU_, CBPF_COND_, CBPF_SRC_, CBPF_ANC_,
 *    CBPF_EXIT_, CBPF_FORM_ (text forms), CBPF_FORMAT_ (printing flags),
 *    CBPF_ATTACH_ (attach flags).
 * 6. A function whose result is its only report of a failure is
 *    CBPF_MUST_CHECK (cbpf/attr.h). A pointer argument is CBPF_NONNULL
 *    unless its comment says it may be NULL. The builder's emit calls
 *    are not CBPF_MUST_CHECK: their error is sticky and
 *    cbpf_builder_finish() reports it again. The *_free functions take
 *    NULL, as free() does.
 * 7. The exception to rule 1: the runs (cbpf_run, cbpf_run_trace,
 *    cbpf_vm_run) return the program's verdict and cannot fail.
 *
 * Rule codes in messages ("kernel rule V5") are defined in
 * doc/kernel-rules.md.
 */
#ifndef CBPF_H
#define CBPF_H

#include "cbpf/attr.h"
#include "cbpf/insn.h"
#include "cbpf/prog.h"
#include "cbpf/builder.h"
#include "cbpf/validate.h"
#include "cbpf/vm.h"
#include "cbpf/socket.h"
#include "cbpf/filters.h"
#include "cbpf/text.h"

#endif
