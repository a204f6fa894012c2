/* SPDX-License-Identifier: MIT */
/*
 * The kernel's acceptance check, rule for rule.
 *
 * This is bpf_check_basics_ok(), bpf_check_classic() and
 * check_load_and_stores() from net/core/filter.c, in the kernel's order,
 * so that it can be read side by side with it. The rule numbers (V2...)
 * are those of doc/kernel-rules.md, section A. Every rejection is
 * -EINVAL, as from setsockopt(SO_ATTACH_FILTER); the message says which
 * rule and where.
 *
 * Do not "improve" check_load_and_stores(): it is a linear pass, not a
 * dataflow analysis, and RET does not reset its state (the V12 quirk),
 * so it rejects some programs that are valid on every path. The kernel
 * rejects them too, and being exact is the point.
 */
#include <errno.h>
#include "internal.h"

/* Every rejection: "insn <pc> (<mnemonic>): <why> (kernel rule Vn)". */
#define reject(err, pc, name, fmt, ...)					\
	error_set(err, -EINVAL, (int)(pc), "insn %u (%s): " fmt,	\
		  pc, name, __VA_ARGS__)

/* V4-V10: the per-instruction checks of bpf_check_classic(). */
static int check_insn(const struct sock_filter *insns, unsigned int flen,
		      unsigned int pc, struct cbpf_error *err)
{
	const struct sock_filter *ftest = &insns[pc];
	const char *name = insn_mnemonic(ftest->code);

	/* May we actually operate on this code? */
	if (!cbpf_code_allowed(ftest->code))
		return reject(err, pc, name,
			      "opcode 0x%02x is not one Linux accepts (kernel rule V4)",
			      ftest->code);

	switch (ftest->code) {
	case BPF_ALU | BPF_DIV | BPF_K:
	case BPF_ALU | BPF_MOD | BPF_K:
		if (ftest->k == 0)
			return reject(err, pc, name,
				      "division by constant %u (kernel rule V5)",
				      ftest->k);
		break;
	case BPF_ALU | BPF_LSH | BPF_K:
	case BPF_ALU | BPF_RSH | BPF_K:
		if (ftest->k >= 32)
			return reject(err, pc, name,
				      "shift by constant %u >= 32 (kernel rule V6)",
				      ftest->k);
		break;
	case BPF_LD | BPF_MEM:
	case BPF_LDX | BPF_MEM:
	case BPF_ST:
	case BPF_STX:
		if (ftest->k >= CBPF_MEMWORDS)
			return reject(err, pc, name,
				      "scratch M[%u] out of range 0..15 (kernel rule V7)",
				      ftest->k);
		break;
	case BPF_JMP | BPF_JA:
		/* As the kernel: unsigned, so the last insn cannot be a ja. */
		if (ftest->k >= flen - pc - 1)
			return reject(err, pc, name,
				      "jump offset %u past the last instruction (kernel rule V8)",
				      ftest->k);
		break;
	case BPF_JMP | BPF_JEQ | BPF_K:
	case BPF_JMP | BPF_JEQ | BPF_X:
	case BPF_JMP | BPF_JGE | BPF_K:
	case BPF_JMP | BPF_JGE | BPF_X:
	case BPF_JMP | BPF_JGT | BPF_K:
	case BPF_JMP | BPF_JGT | BPF_X:
	case BPF_JMP | BPF_JSET | BPF_K:
	case BPF_JMP | BPF_JSET | BPF_X:
		/* Both conditionals must be safe */
		if (pc + ftest->jt + 1 >= flen)
			return reject(err, pc, name,
				      "jt %u past the last instruction (kernel rule V9)",
				      ftest->jt);
		if (pc + ftest->jf + 1 >= flen)
			return reject(err, pc, name,
				      "jf %u past the last instruction (kernel rule V9)",
				      ftest->jf);
		break;
	case BPF_LD | BPF_W | BPF_ABS:
	case BPF_LD | BPF_H | BPF_ABS:
	case BPF_LD | BPF_B | BPF_ABS:
		/* Ancillary operation unknown or unsupported */
		if (cbpf_insn_anc(ftest) == -EINVAL)
			return reject(err, pc, name,
				      "unknown ancillary load SKF_AD_OFF+%u (kernel rule V10)",
				      ftest->k - (uint32_t)SKF_AD_OFF);
		break;
	}
	return 0;
}

/* V12, check_load_and_stores(): one bit per scratch word, one mask per
 * insn; a jump ANDs its state into its targets' masks and starts the
 * fall-through state as "all valid". RET changes nothing (the quirk). */
static int check_load_and_stores(const struct sock_filter *insns,
				 unsigned int flen, struct cbpf_error *err)
{
	uint16_t masks[CBPF_MAXINSNS], memvalid = 0;
	unsigned int pc;

	for (pc = 0; pc < flen; pc++)
		masks[pc] = 0xffff;

	for (pc = 0; pc < flen; pc++) {
		const struct sock_filter *f = &insns[pc];

		memvalid &= masks[pc];

		switch (f->code) {
		case BPF_ST:
		case BPF_STX:
			memvalid |= 1u << f->k;
			break;
		case BPF_LD | BPF_MEM:
		case BPF_LDX | BPF_MEM:
			if (!(memvalid & (1u << f->k)))
				return reject(err, pc, insn_mnemonic(f->code),
					      "M[%u] may be read before it is written (kernel rule V12)",
					      f->k);
			break;
		case BPF_JMP | BPF_JA:
			/* A jump must set masks on target */
			masks[pc + 1 + f->k] &= memvalid;
			memvalid = 0xffff;
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
		case BPF_JMP | BPF_JEQ | BPF_X:
		case BPF_JMP | BPF_JGE | BPF_K:
		case BPF_JMP | BPF_JGE | BPF_X:
		case BPF_JMP | BPF_JGT | BPF_K:
		case BPF_JMP | BPF_JGT | BPF_X:
		case BPF_JMP | BPF_JSET | BPF_K:
		case BPF_JMP | BPF_JSET | BPF_X:
			/* A jump must set masks on targets */
			masks[pc + 1 + f->jt] &= memvalid;
			masks[pc + 1 + f->jf] &= memvalid;
			memvalid = 0xffff;
			break;
		}
	}
	return 0;
}

int cbpf_validate(const struct cbpf_prog *prog, struct cbpf_error *err)
{
	const struct sock_filter *insns = prog->insns;
	unsigned int flen, pc;
	int ret;

	/* V2, bpf_check_basics_ok() */
	if (!insns)
		return error_set(err, -EINVAL, -1,
				 "no program (kernel rule V2)");
	if (prog->len == 0 || prog->len > CBPF_MAXINSNS)
		return error_set(err, -EINVAL, -1,
				 "length %zu is not 1..4096 (kernel rule V2)",
				 prog->len);
	flen = (unsigned int)prog->len;

	/* V4-V10 */
	for (pc = 0; pc < flen; pc++) {
		ret = check_insn(insns, flen, pc, err);
		if (ret)
			return ret;
	}

	/* V11: last instruction must be a RET code */
	switch (insns[flen - 1].code) {
	case BPF_RET | BPF_K:
	case BPF_RET | BPF_A:
		return check_load_and_stores(insns, flen, err);
	}
	return error_set(err, -EINVAL, (int)flen - 1,
			 "insn %u (%s): the last instruction is not ret (kernel rule V11)",
			 flen - 1, insn_mnemonic(insns[flen - 1].code));
}
