/* SPDX-License-Identifier: MIT */
/*
 * libcbpf — a template JIT for x86-64: turns a program cbpf_validate()
 * accepted into native code with exactly vm_threaded()'s semantics (the
 * kernel's, doc/kernel-rules.md B), for cbpf_vm_run().
 *
 * Each instruction becomes a fixed template; jumps (forward only, the
 * validator proves it) are rel32, patched once every instruction's
 * address is known. The generated function is
 *	uint32_t fn(const uint8_t *pkt, size_t len, const struct cbpf_ctx *ctx)
 * with A in eax, X in ecx (so a shift by X is "shl eax, cl", which masks
 * the count to 31 for a 32-bit operand exactly as R3 wants), pkt in rdi,
 * len in rsi, ctx in r9 when a load may need it, and scratch M[] in a
 * 72-byte frame (64 bytes and 8 for the call alignment). Only the
 * caller-saved registers are used, so nothing is saved on a run.
 *
 * What it leaves to the interpreter (jit_compile() returns NULL): the
 * ancillary loads (they read ctx fields, call out, or end with NODEV) and
 * LDX MSH at a header-relative offset; tcpdump never writes them.
 * Header-relative loads (LD ABS k < 0, and LD IND whose X + k turns out
 * negative) call vm_load_neg(), the interpreter's own code for R4.
 *
 * Safety: the buffer is sized before anything is emitted (a bound per
 * instruction times the program's length, at most CBPF_MAXINSNS), every
 * byte written is checked against that size, and each instruction's code
 * is checked against the per-instruction bound; anything out of bounds
 * abandons the JIT. The memory is writable while it is written and
 * executable afterwards, never both (W^X): mmap(PROT_READ|PROT_WRITE),
 * then mprotect(PROT_READ|PROT_EXEC). Where that is refused (SELinux
 * execmem, MemoryDenyWriteExecute=), jit_compile() returns NULL and
 * cbpf_vm_new() keeps the interpreter, silently.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#if defined(__x86_64__)

#include <sys/mman.h>
#include <unistd.h>

/* No template is longer (the LD IND one, with its call, is about 90). */
#define JIT_MAX_INSN_BYTES 128
/* The prologue (frame, ctx, zeroed scratch) and the shared "return 0". */
#define JIT_MAX_EDGE_BYTES 128
/* 64 bytes of scratch and 8 that align rsp to 16 for a call. */
#define JIT_FRAME 72

/* A rel32 to patch: at pos, the jump to instruction target. */
struct jit_fixup {
	uint32_t pos;
	uint32_t target;
};

struct jit {
	uint8_t *buf;
	size_t cap;
	size_t pos;
	bool overflow;		/* an emit did not fit: give up */
	bool frame;		/* rsp was moved by JIT_FRAME */
	uint32_t len;		/* instructions; target len is "return 0" */
	uint32_t *insn_pos;	/* len + 1 */
	struct jit_fixup *fix;
	size_t nfix, fix_cap;
};

static void jit_byte(struct jit *j, uint8_t b)
{
	if (j->pos >= j->cap) {
		j->overflow = true;
		return;
	}
	j->buf[j->pos++] = b;
}

static void jit_bytes(struct jit *j, const uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		jit_byte(j, b[i]);
}

static void jit_u32(struct jit *j, uint32_t v)
{
	jit_byte(j, (uint8_t)v);
	jit_byte(j, (uint8_t)(v >> 8));
	jit_byte(j, (uint8_t)(v >> 16));
	jit_byte(j, (uint8_t)(v >> 24));
}

static void jit_u64(struct jit *j, uint64_t v)
{
	jit_u32(j, (uint32_t)v);
	jit_u32(j, (uint32_t)(v >> 32));
}

#define JIT_EMIT(j, ...)						\
	do {								\
		static const uint8_t b_[] = { __VA_ARGS__ };		\
									\
		jit_bytes(j, b_, sizeof(b_));				\
	} while (0)

/* x86 condition codes, the low nibble of jcc. */
enum jit_cc {
	CC_B = 0x2, CC_AE = 0x3, CC_E = 0x4, CC_NE = 0x5,
	CC_BE = 0x6, CC_A = 0x7, CC_S = 0x8,
};

/* A rel32 jump to instruction target (len: the "return 0" tail), patched
 * by jit_patch(). cc < 0: unconditional. */
static void jit_jump(struct jit *j, int cc, uint32_t target)
{
	if (cc < 0) {
		jit_byte(j, 0xe9);
	} else {
		jit_byte(j, 0x0f);
		jit_byte(j, (uint8_t)(0x80 | cc));
	}
	if (j->nfix >= j->fix_cap) {
		j->overflow = true;
		return;
	}
	j->fix[j->nfix++] = (struct jit_fixup){
		.pos = (uint32_t)j->pos,
		.target = target,
	};
	jit_u32(j, 0);
}

/* A rel32 jump within one template: returns where its rel32 is, for
 * jit_land(). */
static size_t jit_local_jump(struct jit *j, int cc)
{
	size_t at;

	if (cc < 0) {
		jit_byte(j, 0xe9);
	} else {
		jit_byte(j, 0x0f);
		jit_byte(j, (uint8_t)(0x80 | cc));
	}
	at = j->pos;
	jit_u32(j, 0);
	return at;
}

static void jit_put_rel32(struct jit *j, size_t at, size_t to)
{
	uint32_t rel = (uint32_t)((int64_t)to - (int64_t)(at + 4));

	if (j->overflow || at + 4 > j->cap)
		return;
	memcpy(j->buf + at, &rel, sizeof(rel));
}

/* The local jump whose rel32 is at `at` lands here. */
static void jit_land(struct jit *j, size_t at)
{
	jit_put_rel32(j, at, j->pos);
}

/* Returns eax: the frame goes first. */
static void jit_return(struct jit *j)
{
	if (j->frame)
		JIT_EMIT(j, 0x48, 0x83, 0xc4, JIT_FRAME);	/* add rsp, 72 */
	jit_byte(j, 0xc3);					/* ret */
}

/* Fails (jumps to "return 0") unless len >= need: a packet load's bound. */
static void jit_need_len(struct jit *j, uint64_t need)
{
	if (need <= INT32_MAX) {
		JIT_EMIT(j, 0x48, 0x81, 0xfe);		/* cmp rsi, imm32 */
		jit_u32(j, (uint32_t)need);
	} else {
		JIT_EMIT(j, 0x41, 0xb8);		/* mov r8d, imm32 */
		jit_u32(j, (uint32_t)need);
		JIT_EMIT(j, 0x4c, 0x39, 0xc6);		/* cmp rsi, r8 */
	}
	jit_jump(j, CC_B, j->len);
}

/* eax = the big-endian value of size bytes at [rdi + disp]. */
static void jit_load_abs(struct jit *j, uint32_t size, uint32_t disp)
{
	switch (size) {
	case 4:
		JIT_EMIT(j, 0x8b, 0x87);		/* mov eax, [rdi+d32] */
		jit_u32(j, disp);
		JIT_EMIT(j, 0x0f, 0xc8);		/* bswap eax */
		break;
	case 2:
		JIT_EMIT(j, 0x0f, 0xb7, 0x87);		/* movzx eax, w[rdi+d32] */
		jit_u32(j, disp);
		JIT_EMIT(j, 0x66, 0xc1, 0xc0, 0x08);	/* rol ax, 8 */
		break;
	default:
		JIT_EMIT(j, 0x0f, 0xb6, 0x87);		/* movzx eax, b[rdi+d32] */
		jit_u32(j, disp);
		break;
	}
}

/* eax = the big-endian value of size bytes at [rdi + r8]. */
static void jit_load_r8(struct jit *j, uint32_t size)
{
	switch (size) {
	case 4:
		JIT_EMIT(j, 0x42, 0x8b, 0x04, 0x07);	/* mov eax, [rdi+r8] */
		JIT_EMIT(j, 0x0f, 0xc8);		/* bswap eax */
		break;
	case 2:
		JIT_EMIT(j, 0x42, 0x0f, 0xb7, 0x04, 0x07); /* movzx eax, w */
		JIT_EMIT(j, 0x66, 0xc1, 0xc0, 0x08);	/* rol ax, 8 */
		break;
	default:
		JIT_EMIT(j, 0x42, 0x0f, 0xb6, 0x04, 0x07); /* movzx eax, b */
		break;
	}
}

/*
 * eax = vm_load_neg(pkt, len, ctx, r8d, size), the header-relative load
 * (R4); a negative answer means it failed: "return 0". X, pkt, len and
 * ctx are caller-saved, so they are pushed around the call (four pushes
 * keep rsp 16-byte aligned in the frame).
 */
static void jit_load_neg(struct jit *j, uint32_t size)
{
	JIT_EMIT(j, 0x57, 0x56, 0x51, 0x41, 0x51);	/* push rdi/rsi/rcx/r9 */
	JIT_EMIT(j, 0x4c, 0x89, 0xca);			/* mov rdx, r9 */
	JIT_EMIT(j, 0x44, 0x89, 0xc1);			/* mov ecx, r8d */
	JIT_EMIT(j, 0x41, 0xb8);			/* mov r8d, size */
	jit_u32(j, size);
	JIT_EMIT(j, 0x48, 0xb8);			/* mov rax, imm64 */
	jit_u64(j, (uint64_t)(uintptr_t)&vm_load_neg);
	JIT_EMIT(j, 0xff, 0xd0);			/* call rax */
	JIT_EMIT(j, 0x41, 0x59, 0x59, 0x5e, 0x5f);	/* pop r9/rcx/rsi/rdi */
	JIT_EMIT(j, 0x48, 0x85, 0xc0);			/* test rax, rax */
	jit_jump(j, CC_S, j->len);
}

/* LD IND (R5): r8d = X + k wrapping at 32 bits; negative is header-
 * relative, else it must fit pkt[0..len). */
static void jit_ld_ind(struct jit *j, uint32_t size, uint32_t k)
{
	size_t neg, done;

	JIT_EMIT(j, 0x41, 0x89, 0xc8);			/* mov r8d, ecx */
	JIT_EMIT(j, 0x41, 0x81, 0xc0);			/* add r8d, imm32 */
	jit_u32(j, k);
	neg = jit_local_jump(j, CC_S);
	JIT_EMIT(j, 0x4d, 0x8d, 0x50);			/* lea r10, [r8+size] */
	jit_byte(j, (uint8_t)size);
	JIT_EMIT(j, 0x49, 0x39, 0xf2);			/* cmp r10, rsi */
	jit_jump(j, CC_A, j->len);
	jit_load_r8(j, size);
	done = jit_local_jump(j, -1);
	jit_land(j, neg);
	jit_load_neg(j, size);
	jit_land(j, done);
}

static int jit_ld_abs(struct jit *j, uint32_t size, uint32_t k)
{
	if (k >= (uint32_t)SKF_AD_OFF)
		return -ENOTSUP;			/* ancillary */
	if ((int32_t)k < 0) {
		JIT_EMIT(j, 0x41, 0xb8);		/* mov r8d, k */
		jit_u32(j, k);
		jit_load_neg(j, size);
		return 0;
	}
	jit_need_len(j, (uint64_t)k + size);
	jit_load_abs(j, size, k);
	return 0;
}

/* ALU ops on A with the constant k, or with X: the opcode bytes. */
static int jit_alu(struct jit *j, uint16_t code, uint32_t k)
{
	bool x = BPF_SRC(code) == BPF_X;

	switch (BPF_OP(code)) {
	case BPF_ADD:
		if (x)
			JIT_EMIT(j, 0x01, 0xc8);	/* add eax, ecx */
		else
			jit_byte(j, 0x05), jit_u32(j, k);
		return 0;
	case BPF_SUB:
		if (x)
			JIT_EMIT(j, 0x29, 0xc8);
		else
			jit_byte(j, 0x2d), jit_u32(j, k);
		return 0;
	case BPF_AND:
		if (x)
			JIT_EMIT(j, 0x21, 0xc8);
		else
			jit_byte(j, 0x25), jit_u32(j, k);
		return 0;
	case BPF_OR:
		if (x)
			JIT_EMIT(j, 0x09, 0xc8);
		else
			jit_byte(j, 0x0d), jit_u32(j, k);
		return 0;
	case BPF_XOR:
		if (x)
			JIT_EMIT(j, 0x31, 0xc8);
		else
			jit_byte(j, 0x35), jit_u32(j, k);
		return 0;
	case BPF_MUL:
		if (x) {
			JIT_EMIT(j, 0x0f, 0xaf, 0xc1);	/* imul eax, ecx */
		} else {
			JIT_EMIT(j, 0x69, 0xc0);	/* imul eax, eax, k */
			jit_u32(j, k);
		}
		return 0;
	case BPF_LSH:
	case BPF_RSH: {
		uint8_t ext = BPF_OP(code) == BPF_LSH ? 0xe0 : 0xe8;

		if (x) {
			jit_byte(j, 0xd3);		/* shl/shr eax, cl */
			jit_byte(j, ext);
		} else {
			if (k >= 32)
				return -EINVAL;		/* V6: validated */
			jit_byte(j, 0xc1);		/* shl/shr eax, k */
			jit_byte(j, ext);
			jit_byte(j, (uint8_t)k);
		}
		return 0;
	}
	case BPF_DIV:
	case BPF_MOD:
		if (x) {
			JIT_EMIT(j, 0x85, 0xc9);	/* test ecx, ecx */
			jit_jump(j, CC_E, j->len);	/* R2: 0 */
			JIT_EMIT(j, 0x31, 0xd2);	/* xor edx, edx */
			JIT_EMIT(j, 0xf7, 0xf1);	/* div ecx */
		} else {
			if (k == 0)
				return -EINVAL;		/* V5: validated */
			JIT_EMIT(j, 0x41, 0xb8);	/* mov r8d, k */
			jit_u32(j, k);
			JIT_EMIT(j, 0x31, 0xd2);	/* xor edx, edx */
			JIT_EMIT(j, 0x41, 0xf7, 0xf0);	/* div r8d */
		}
		if (BPF_OP(code) == BPF_MOD)
			JIT_EMIT(j, 0x89, 0xd0);	/* mov eax, edx */
		return 0;
	case BPF_NEG:
		JIT_EMIT(j, 0xf7, 0xd8);		/* neg eax */
		return 0;
	}
	return -EINVAL;
}

/* A conditional jump on A against k or X, to absolute jt or jf; a target
 * that is the next instruction costs nothing. */
static int jit_cond(struct jit *j, uint32_t pc, const struct sock_filter *f)
{
	uint32_t next = pc + 1, jt = next + f->jt, jf = next + f->jf;
	bool x = BPF_SRC(f->code) == BPF_X;
	enum jit_cc cc, not_cc;

	switch (BPF_OP(f->code)) {
	case BPF_JEQ: cc = CC_E; not_cc = CC_NE; break;
	case BPF_JGT: cc = CC_A; not_cc = CC_BE; break;
	case BPF_JGE: cc = CC_AE; not_cc = CC_B; break;
	case BPF_JSET: cc = CC_NE; not_cc = CC_E; break;
	default: return -EINVAL;
	}
	if (jt >= j->len || jf >= j->len)
		return -EINVAL;				/* V9: validated */
	if (jt == jf) {
		if (jt != next)
			jit_jump(j, -1, jt);
		return 0;
	}
	if (BPF_OP(f->code) == BPF_JSET) {
		if (x)
			JIT_EMIT(j, 0x85, 0xc8);	/* test eax, ecx */
		else
			jit_byte(j, 0xa9), jit_u32(j, f->k); /* test eax, k */
	} else {
		if (x)
			JIT_EMIT(j, 0x39, 0xc8);	/* cmp eax, ecx */
		else
			jit_byte(j, 0x3d), jit_u32(j, f->k); /* cmp eax, k */
	}
	if (jt == next) {
		jit_jump(j, not_cc, jf);
	} else {
		jit_jump(j, cc, jt);
		if (jf != next)
			jit_jump(j, -1, jf);
	}
	return 0;
}

/* [rsp + 4k]: a scratch word (V7: k < 16, validated). */
static int jit_mem(struct jit *j, uint8_t opcode, uint8_t modrm, uint32_t k)
{
	if (k >= CBPF_MEMWORDS)
		return -EINVAL;
	jit_byte(j, opcode);
	jit_byte(j, modrm);
	jit_byte(j, 0x24);
	jit_byte(j, (uint8_t)(4 * k));
	return 0;
}

static int jit_insn(struct jit *j, uint32_t pc, const struct sock_filter *f)
{
	switch (f->code) {
	case BPF_RET | BPF_K:
		jit_byte(j, 0xb8);			/* mov eax, k */
		jit_u32(j, f->k);
		jit_return(j);
		return 0;
	case BPF_RET | BPF_A:
		jit_return(j);
		return 0;
	case BPF_LD | BPF_IMM:
		jit_byte(j, 0xb8);
		jit_u32(j, f->k);
		return 0;
	case BPF_LDX | BPF_IMM:
		jit_byte(j, 0xb9);			/* mov ecx, k */
		jit_u32(j, f->k);
		return 0;
	case BPF_LD | BPF_W | BPF_LEN:
		JIT_EMIT(j, 0x89, 0xf0);		/* mov eax, esi */
		return 0;
	case BPF_LDX | BPF_W | BPF_LEN:
		JIT_EMIT(j, 0x89, 0xf1);		/* mov ecx, esi */
		return 0;
	case BPF_LD | BPF_MEM:
		return jit_mem(j, 0x8b, 0x44, f->k);	/* mov eax, [rsp+d8] */
	case BPF_LDX | BPF_MEM:
		return jit_mem(j, 0x8b, 0x4c, f->k);	/* mov ecx, [rsp+d8] */
	case BPF_ST:
		return jit_mem(j, 0x89, 0x44, f->k);	/* mov [rsp+d8], eax */
	case BPF_STX:
		return jit_mem(j, 0x89, 0x4c, f->k);	/* mov [rsp+d8], ecx */
	case BPF_LD | BPF_W | BPF_ABS:
		return jit_ld_abs(j, 4, f->k);
	case BPF_LD | BPF_H | BPF_ABS:
		return jit_ld_abs(j, 2, f->k);
	case BPF_LD | BPF_B | BPF_ABS:
		return jit_ld_abs(j, 1, f->k);
	case BPF_LD | BPF_W | BPF_IND:
		jit_ld_ind(j, 4, f->k);
		return 0;
	case BPF_LD | BPF_H | BPF_IND:
		jit_ld_ind(j, 2, f->k);
		return 0;
	case BPF_LD | BPF_B | BPF_IND:
		jit_ld_ind(j, 1, f->k);
		return 0;
	case BPF_LDX | BPF_B | BPF_MSH:
		if ((int32_t)f->k < 0)
			return -ENOTSUP;		/* header-relative */
		jit_need_len(j, (uint64_t)f->k + 1);
		JIT_EMIT(j, 0x0f, 0xb6, 0x8f);		/* movzx ecx, b[rdi+d32] */
		jit_u32(j, f->k);
		JIT_EMIT(j, 0x83, 0xe1, 0x0f);		/* and ecx, 0xf */
		JIT_EMIT(j, 0xc1, 0xe1, 0x02);		/* shl ecx, 2 */
		return 0;
	case BPF_MISC | BPF_TAX:
		JIT_EMIT(j, 0x89, 0xc1);		/* mov ecx, eax */
		return 0;
	case BPF_MISC | BPF_TXA:
		JIT_EMIT(j, 0x89, 0xc8);		/* mov eax, ecx */
		return 0;
	case BPF_JMP | BPF_JA:
		if (f->k >= j->len - pc - 1)
			return -EINVAL;			/* V8: validated */
		if (f->k)
			jit_jump(j, -1, pc + 1 + f->k);
		return 0;
	}
	if (BPF_CLASS(f->code) == BPF_ALU)
		return jit_alu(j, f->code, f->k);
	if (BPF_CLASS(f->code) == BPF_JMP)
		return jit_cond(j, pc, f);
	return -EINVAL;
}

/* What the prologue must set up: scratch read before written must read
 * 0; a frame for scratch or for the call of a header-relative load. */
static void jit_needs(const struct sock_filter *insns, uint32_t len,
		      bool *zero_mem, bool *frame, bool *ctx)
{
	uint32_t i;

	*zero_mem = *frame = *ctx = false;
	for (i = 0; i < len; i++) {
		uint16_t code = insns[i].code;
		bool abs = BPF_CLASS(code) == BPF_LD &&
			   BPF_MODE(code) == BPF_ABS;

		if (code == (BPF_LD | BPF_MEM) || code == (BPF_LDX | BPF_MEM))
			*zero_mem = true;
		if (BPF_CLASS(code) == BPF_ST || BPF_CLASS(code) == BPF_STX ||
		    *zero_mem)
			*frame = true;
		if ((BPF_CLASS(code) == BPF_LD && BPF_MODE(code) == BPF_IND) ||
		    (abs && (int32_t)insns[i].k < 0))
			*frame = *ctx = true;
	}
}

static void jit_prologue(struct jit *j, bool zero_mem, bool ctx)
{
	int i;

	if (j->frame)
		JIT_EMIT(j, 0x48, 0x83, 0xec, JIT_FRAME);	/* sub rsp, 72 */
	if (ctx)
		JIT_EMIT(j, 0x49, 0x89, 0xd1);		/* mov r9, rdx */
	if (zero_mem) {
		JIT_EMIT(j, 0x45, 0x31, 0xc0);		/* xor r8d, r8d */
		for (i = 0; i < CBPF_MEMWORDS * 4; i += 8) {
			JIT_EMIT(j, 0x4c, 0x89, 0x44, 0x24); /* mov [rsp+i], r8 */
			jit_byte(j, (uint8_t)i);
		}
	}
	/* R1: A = X = 0 */
	JIT_EMIT(j, 0x31, 0xc0, 0x31, 0xc9);	/* xor eax, eax; xor ecx, ecx */
}

static int jit_emit(struct jit *j, const struct sock_filter *insns)
{
	bool zero_mem, ctx;
	uint32_t i;
	size_t start;
	int ret;

	jit_needs(insns, j->len, &zero_mem, &j->frame, &ctx);
	jit_prologue(j, zero_mem, ctx);
	if (j->pos > JIT_MAX_EDGE_BYTES)
		return -EOVERFLOW;
	for (i = 0; i < j->len; i++) {
		start = j->pos;
		j->insn_pos[i] = (uint32_t)start;
		ret = jit_insn(j, i, &insns[i]);
		if (ret < 0)
			return ret;
		if (j->overflow || j->pos - start > JIT_MAX_INSN_BYTES)
			return -EOVERFLOW;
	}
	/* Target len: a load failed or X was 0 in a division (and, never
	 * for a valid program, running off the end): A = 0. */
	start = j->pos;
	j->insn_pos[j->len] = (uint32_t)start;
	JIT_EMIT(j, 0x31, 0xc0);			/* xor eax, eax */
	jit_return(j);
	if (j->overflow || j->pos - start > JIT_MAX_EDGE_BYTES)
		return -EOVERFLOW;
	for (i = 0; i < j->nfix; i++) {
		if (j->fix[i].target > j->len)
			return -EINVAL;
		jit_put_rel32(j, j->fix[i].pos, j->insn_pos[j->fix[i].target]);
	}
	return j->overflow ? -EOVERFLOW : 0;
}

jit_fn jit_compile(const struct sock_filter *insns, uint32_t len,
		   size_t *size)
{
	long page_size = sysconf(_SC_PAGESIZE);
	struct jit j = { .len = len };
	size_t page, used;
	void *mem;
	jit_fn fn = NULL;

	if (len == 0 || len > CBPF_MAXINSNS || page_size <= 0)
		return NULL;
	page = (size_t)page_size;
	/* Two jumps per instruction at most (jcc + jmp, or a load's and
	 * a division's "return 0"), and fewer than two more per template. */
	j.fix_cap = 4 * (size_t)len;
	j.cap = 2 * JIT_MAX_EDGE_BYTES + (size_t)len * JIT_MAX_INSN_BYTES;
	j.cap = (j.cap + page - 1) / page * page;
	j.insn_pos = calloc(len + 1, sizeof(*j.insn_pos));
	j.fix = calloc(j.fix_cap, sizeof(*j.fix));
	mem = mmap(NULL, j.cap, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		mem = NULL;
	if (!j.insn_pos || !j.fix || !mem)
		goto out;
	j.buf = mem;
	if (jit_emit(&j, insns) < 0)
		goto out;
	/* Give back the pages the code does not use, then seal it. */
	used = (j.pos + page - 1) / page * page;
	if (used < j.cap && munmap((uint8_t *)mem + used, j.cap - used) == 0)
		j.cap = used;
	if (mprotect(mem, j.cap, PROT_READ | PROT_EXEC) < 0)
		goto out;
	fn = (jit_fn)(uintptr_t)mem;
	*size = j.cap;
	mem = NULL;
out:
	if (mem)
		munmap(mem, j.cap);
	free(j.insn_pos);
	free(j.fix);
	return fn;
}

void jit_free(jit_fn fn, size_t size)
{
	if (fn)
		munmap((void *)(uintptr_t)fn, size);
}

#else

/* No JIT here: cbpf_vm_new() keeps the interpreter. */
jit_fn jit_compile(const struct sock_filter *insns, uint32_t len,
		   size_t *size)
{
	(void)insns;
	(void)len;
	(void)size;
	return NULL;
}

void jit_free(jit_fn fn, size_t size)
{
	(void)fn;
	(void)size;
}

#endif
