/* SPDX-License-Identifier: MIT */
/*
 * libcbpf internals shared between the lib/ sources. Nothing here is
 * exported (lib/libcbpf.map exports only cbpf_*), so none of these names
 * start with cbpf_. Append what your part needs, grouped by file.
 */
#ifndef CBPF_INTERNAL_H
#define CBPF_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include "cbpf.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* lib/insn.c */

/* true for the conditions the hardware lacks (NE, LT, LE, CLEAR): they
 * are encoded as EQ, GE, GT, SET with jt and jf swapped. */
bool insn_cond_inverted(enum cbpf_cond cond);

/* bpf_asm mnemonic of an allowed opcode ("ldh", "jeq", "ret", ...), or
 * "???" for a code outside the whitelist. */
const char *insn_mnemonic(uint16_t code);

/* lib/prog.c */

/* Fills e (if non-NULL): err, insn, line = column = 0, and a message
 * formatted like printf. Returns err, so callers can `return error_set()`. */
int error_set(struct cbpf_error *e, int err, int insn, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
