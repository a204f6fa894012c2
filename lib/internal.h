/* SPDX-License-Identifier: MIT */
/*
 * libcbpf internals shared between the lib/ sources. Nothing here is
 * exported (lib/libcbpf.map lists the public functions by name), and
 * none of these names start with cbpf_, so that `nm -D` of the library
 * shows exactly the API. Append what your part needs, grouped by file.
 */
#ifndef CBPF_INTERNAL_H
#define CBPF_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cbpf.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* lib/array.c */

/*
 * The library's one growable array: *array holds *cap elements of size;
 * make it hold at least need, doubling from 16. 0, or -ENOMEM (with
 * *array and *cap untouched, also when need * size would overflow).
 */
int lib_grow(void **array, size_t *cap, size_t need, size_t size);

/* lib/insn.c */

/* true for the conditions the hardware lacks (NE, LT, LE, CLEAR): they
 * are encoded as EQ, GE, GT, SET with jt and jf swapped. */
bool insn_cond_inverted(enum cbpf_cond cond);

/* true for the JMP class other than JA (by the class and op bits alone,
 * as libpcap and the kernel's jump checks look at them). */
bool insn_is_cond_jump(uint16_t code);

/* bpf_asm mnemonic of an allowed opcode ("ldh", "jeq", "ret", ...), or
 * "???" for a code outside the whitelist. */
const char *insn_mnemonic(uint16_t code);

/* The spellings of one ancillary load (SKF_AD_OFF + n). */
struct anc_names {
	const char *bpf_asm;	/* "vlan_avail"; also cbpf_anc_name() */
	const char *pcap;	/* "vlanp": libpcap's bpf_image() */
	const char *macro;	/* "SKF_AD_VLAN_TAG_PRESENT" */
};

/* The names of ancillary load n, or NULL for an n the kernel does not
 * know. */
const struct anc_names *insn_anc_names(unsigned int n);

/* lib/prog.c */

/* Fills e (if non-NULL): err, insn, line = column = 0, and a message
 * formatted like printf. Returns err, so callers can `return error_set()`. */
int error_set(struct cbpf_error *e, int err, int insn, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int error_vset(struct cbpf_error *e, int err, int insn, const char *fmt,
	       va_list ap)
	__attribute__((format(printf, 4, 0)));

/* lib/parse_asm.c */

/* cbpf_parse() of CBPF_FORM_ASM: *prog must be zeroed; it is filled on
 * success only. */
int asm_parse(const char *text, size_t len, struct cbpf_prog *prog,
	      struct cbpf_error *err);

/* lib/lex.c: what parse_prog.c and parse_asm.c share */

/* A position in a text that need not be NUL-terminated. */
struct text_cursor {
	const char *p, *end;
	int line, col;		/* 1-based, of *p */
	bool line_blank;	/* nothing but blanks before p on its line */
};

void text_cursor_init(struct text_cursor *c, const char *text, size_t len);

/* The byte ahead bytes after the cursor, or -1 past the end. */
int text_peek(const struct text_cursor *c, size_t ahead);

/* Steps over one byte, keeping line and column. Only while
 * text_peek(c, 0) >= 0. */
void text_advance(struct text_cursor *c);

bool text_is_blank(int ch);		/* blank other than newline */
bool text_is_word(int ch);		/* [A-Za-z0-9_] */

/* Skips blanks and comments (`#` first on a line, `;` and `//` to the end
 * of the line, C block comments), and newlines too if asked. 0, or
 * -EINVAL for an unterminated block comment, whose start is then in
 * *line and *col. */
int text_skip_space(struct text_cursor *c, bool newlines, int *line, int *col);

/* The value of the digits s[0..len) in base, saturated at UINT64_MAX;
 * false if there are none or one is not a digit of base. */
bool text_digits(const char *s, size_t len, unsigned int base, uint64_t *v);

/* error_set() for text input: -EINVAL at line and col. Returns -EINVAL. */
int text_error(struct cbpf_error *e, int insn, int line, int col,
	       const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* lib/vm.c */

/* vm_new() flags: VM_NO_JIT keeps the interpreter (for the tests, which
 * run both). */
#define VM_NO_JIT 1

/* cbpf_vm_new() with flags. */
struct cbpf_vm *vm_new(const struct cbpf_prog *prog, struct cbpf_error *err,
		       unsigned int flags);

/* true if cbpf_vm_run(vm) runs native code. */
bool vm_is_jit(const struct cbpf_vm *vm);

/* A header-relative load (R4) of size bytes at off < 0, for the JIT: the
 * big-endian value, or -1 if it fails. */
int64_t vm_load_neg(const uint8_t *pkt, size_t len,
		    const struct cbpf_ctx *ctx, int32_t off, size_t size);

/* lib/vm_jit_x86_64.c */

/* A program as native code: cbpf_vm_run()'s verdict for it. */
typedef uint32_t (*jit_fn)(const uint8_t *pkt, size_t len,
			   const struct cbpf_ctx *ctx);

/* The native code of insns[0..len), which cbpf_validate() accepted, with
 * its mapping's size in *size for jit_free(); NULL if there is no JIT
 * here, the program uses what the JIT leaves to the interpreter, or the
 * system refuses executable memory. Never prints. */
jit_fn jit_compile(const struct sock_filter *insns, uint32_t len,
		   size_t *size);
void jit_free(jit_fn fn, size_t size);

#endif
