/* SPDX-License-Identifier: MIT */
/*
 * libcbpf — classic BPF instructions, typed.
 *
 * The encoded form is the kernel's own struct sock_filter; everything in
 * libcbpf (validator, VM, printers, sockets) works on arrays of it, so a
 * program is always exactly what setsockopt(SO_ATTACH_FILTER) receives.
 * struct cbpf_insn is the typed view of one encoded instruction: decode a
 * sock_filter into it to inspect it, encode it back to get the same bytes.
 */
#ifndef CBPF_INSN_H
#define CBPF_INSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/filter.h>
#include "attr.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CBPF_MAXINSNS 4096	/* BPF_MAXINSNS: longest program the kernel takes */
#define CBPF_MEMWORDS 16	/* BPF_MEMWORDS: scratch words M[0..15] */

/* What an instruction does. Together with mode/size/alu/cond/src this
 * names exactly one of the kernel's 49 allowed opcodes. */
enum cbpf_op {
	CBPF_OP_LD,	/* A = source (mode) */
	CBPF_OP_LDX,	/* X = source (mode) */
	CBPF_OP_ST,	/* M[k] = A */
	CBPF_OP_STX,	/* M[k] = X */
	CBPF_OP_ALU,	/* A = A <alu> (k or X) */
	CBPF_OP_NEG,	/* A = -A */
	CBPF_OP_JA,	/* pc += 1 + k */
	CBPF_OP_JMP,	/* pc += 1 + (A <cond> (k or X) ? jt : jf) */
	CBPF_OP_RET,	/* return k or A */
	CBPF_OP_TAX,	/* X = A */
	CBPF_OP_TXA,	/* A = X */
};

/* Where LD/LDX take their value from. Ancillary loads (SKF_AD_*) are
 * CBPF_MODE_ABS with k = SKF_AD_OFF + n, as the kernel encodes them; see
 * cbpf_insn_anc(). */
enum cbpf_mode {
	CBPF_MODE_IMM,	/* #k */
	CBPF_MODE_ABS,	/* P[k:size]          (LD only) */
	CBPF_MODE_IND,	/* P[X + k:size]      (LD only) */
	CBPF_MODE_MEM,	/* M[k] */
	CBPF_MODE_LEN,	/* packet length */
	CBPF_MODE_MSH,	/* 4 * (P[k:1] & 0xf) (LDX only) */
};

enum cbpf_size {
	CBPF_SIZE_W = 4,
	CBPF_SIZE_H = 2,
	CBPF_SIZE_B = 1,
};

enum cbpf_alu {
	CBPF_ALU_ADD, CBPF_ALU_SUB, CBPF_ALU_MUL, CBPF_ALU_DIV, CBPF_ALU_OR,
	CBPF_ALU_AND, CBPF_ALU_LSH, CBPF_ALU_RSH, CBPF_ALU_MOD, CBPF_ALU_XOR,
};

/* Jump conditions. The hardware has only EQ, GT, GE and SET; NE, LT, LE
 * and CLEAR are encoded as those with the targets swapped. cbpf_decode()
 * only ever produces the four hardware conditions. All comparisons are
 * unsigned. */
enum cbpf_cond {
	CBPF_COND_EQ,		/* A == v */
	CBPF_COND_NE,		/* A != v */
	CBPF_COND_GT,		/* A > v */
	CBPF_COND_GE,		/* A >= v */
	CBPF_COND_LT,		/* A < v */
	CBPF_COND_LE,		/* A <= v */
	CBPF_COND_SET,		/* (A & v) != 0 */
	CBPF_COND_CLEAR,	/* (A & v) == 0 */
};

/* Second operand of ALU and JMP; value returned by RET. */
enum cbpf_src {
	CBPF_SRC_K,	/* the constant k */
	CBPF_SRC_X,	/* register X (ALU, JMP) */
	CBPF_SRC_A,	/* register A (RET only) */
};

/* Linux ancillary loads: n in k = SKF_AD_OFF + n. Values are SKF_AD_*. */
enum cbpf_anc {
	CBPF_ANC_PROTOCOL = SKF_AD_PROTOCOL,
	CBPF_ANC_PKTTYPE = SKF_AD_PKTTYPE,
	CBPF_ANC_IFINDEX = SKF_AD_IFINDEX,
	CBPF_ANC_NLATTR = SKF_AD_NLATTR,
	CBPF_ANC_NLATTR_NEST = SKF_AD_NLATTR_NEST,
	CBPF_ANC_MARK = SKF_AD_MARK,
	CBPF_ANC_QUEUE = SKF_AD_QUEUE,
	CBPF_ANC_HATYPE = SKF_AD_HATYPE,
	CBPF_ANC_RXHASH = SKF_AD_RXHASH,
	CBPF_ANC_CPU = SKF_AD_CPU,
	CBPF_ANC_ALU_XOR_X = SKF_AD_ALU_XOR_X,
	CBPF_ANC_VLAN_TAG = SKF_AD_VLAN_TAG,
	CBPF_ANC_VLAN_TAG_PRESENT = SKF_AD_VLAN_TAG_PRESENT,
	CBPF_ANC_PAY_OFFSET = SKF_AD_PAY_OFFSET,
	CBPF_ANC_RANDOM = SKF_AD_RANDOM,
	CBPF_ANC_VLAN_TPID = SKF_AD_VLAN_TPID,
};

/* One instruction, typed. Fields that the op does not use are ignored by
 * cbpf_encode() and zeroed by cbpf_decode(), except k, jt and jf, which
 * decode always copies so that re-encoding gives the same bytes. */
struct cbpf_insn {
	enum cbpf_op op;
	enum cbpf_mode mode;	/* LD, LDX */
	enum cbpf_size size;	/* LD ABS/IND; LDX MSH is always B */
	enum cbpf_alu alu;	/* ALU */
	enum cbpf_cond cond;	/* JMP */
	enum cbpf_src src;	/* ALU, JMP: K or X; RET: K or A */
	uint32_t k;
	uint8_t jt, jf;		/* JMP: relative skips */
};

/* sock_filter -> typed. Returns 0, or -EINVAL if the opcode is not one of
 * the 49 the kernel accepts (e.g. 0x08 LD|H|IMM, 0x0e RET|X). */
CBPF_MUST_CHECK CBPF_NONNULL(1, 2)
int cbpf_decode(const struct sock_filter *raw, struct cbpf_insn *insn);

/* typed -> sock_filter. Returns 0, or -EINVAL for a combination that has
 * no kernel opcode (LDX ABS, RET X, ALU NEG with X, ...). NE/LT/LE/CLEAR
 * are encoded as EQ/GE/GT/SET with jt and jf swapped. */
CBPF_MUST_CHECK CBPF_NONNULL(1, 2)
int cbpf_encode(const struct cbpf_insn *insn, struct sock_filter *raw);

/* true if code is one of the kernel's 49 allowed opcodes (V4). A
 * predicate: it cannot fail. */
bool cbpf_code_allowed(uint16_t code);

/* For LD ABS with k >= SKF_AD_OFF: the ancillary number n (>= 0) if it is
 * one the kernel knows, -EINVAL if it is in the ancillary range but
 * unknown; -ENOENT if the instruction is not an ancillary load at all. */
CBPF_MUST_CHECK CBPF_NONNULL(1)
int cbpf_insn_anc(const struct sock_filter *raw);

/* bpf_asm spelling of ancillary load n ("proto", "vlan_tci", ...), a
 * static string; NULL with errno EINVAL for an n the kernel does not
 * know. */
CBPF_MUST_CHECK
const char *cbpf_anc_name(unsigned int n);

#ifdef __cplusplus
}
#endif

#endif
