/* SPDX-License-Identifier: MIT */
/*
 * libcbpf — a userspace VM that gives the kernel's verdict.
 *
 * For every program cbpf_validate() accepts and every packet, cbpf_run()
 * returns what the kernel's classic BPF returns for that packet at a hook
 * described by struct cbpf_ctx: 32-bit wrapping ALU, shifts by X masked
 * to 31, LD IND offsets wrapping at 32 bits, SKF_NET_OFF/SKF_LL_OFF
 * offsets, out-of-bounds loads and division by X == 0 ending the run with
 * 0, ancillary loads read from the context (IFINDEX and HATYPE end the run
 * returning A when there is no device, as the kernel does).
 *
 * It never reads or writes outside the packet and its own state, even for
 * a program that was never validated: an unknown opcode, a jump past the
 * end, a scratch index >= 16 or running off the end all end the run with
 * 0 (CBPF_EXIT_INVALID). So does any other instruction the kernel would
 * refuse on its own (DIV/MOD by constant 0, shift by a constant >= 32, an
 * unknown ancillary load), when it is reached, and a program longer than
 * CBPF_MAXINSNS (at once). Scratch memory starts zeroed.
 */
#ifndef CBPF_VM_H
#define CBPF_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/filter.h>
#include "attr.h"
#include "prog.h"

#ifdef __cplusplus
extern "C" {
#endif

/* net_off/ll_off: there is no such header. */
#define CBPF_NO_HEADER INT32_MIN

/*
 * What the kernel's skb would hold at the hook. Zero it and set what you
 * need, or use cbpf_ctx_unix() for the AF_UNIX datagram context (the
 * default when a NULL context is passed): no device, every field 0,
 * network header at packet offset 0, no link-layer header.
 *
 * Headers in front of what the filter sees: on some hooks byte 0 of the
 * filter's packet is not where the skb's buffer starts. An AF_INET6
 * SOCK_RAW socket's filter sees data from the transport header on, while
 * SKF_NET_OFF loads reach the IPv6 header before it (the kernel only
 * checks skb->head <= ptr && ptr + size <= tail, R4). To model that, pass
 * pkt pointing into a larger buffer, set headroom to the number of bytes
 * readable before pkt[0] and net_off (or ll_off) to a negative offset
 * down to -headroom. Only SKF_NET_OFF/SKF_LL_OFF loads (including LD IND
 * and LDX MSH offsets that end up in that range) read the headroom; a
 * non-negative offset sees pkt[0..len) only, and len is what LD LEN
 * gives. cbpf_ctx_raw6() sets this up for a plain IPv6 header.
 */
struct cbpf_ctx {
	bool has_dev;		/* skb->dev != NULL */
	uint32_t ifindex;	/* SKF_AD_IFINDEX, if has_dev */
	uint16_t hatype;	/* SKF_AD_HATYPE, if has_dev */
	uint16_t protocol;	/* SKF_AD_PROTOCOL, host order (ntohs'ed) */
	uint8_t pkt_type;	/* SKF_AD_PKTTYPE, 3 bits */
	uint32_t mark;		/* SKF_AD_MARK */
	uint16_t queue;		/* SKF_AD_QUEUE */
	uint32_t rxhash;	/* SKF_AD_RXHASH */
	uint32_t cpu;		/* SKF_AD_CPU */
	uint16_t vlan_tci;	/* SKF_AD_VLAN_TAG */
	bool vlan_present;	/* SKF_AD_VLAN_TAG_PRESENT */
	uint16_t vlan_tpid;	/* SKF_AD_VLAN_TPID, host order */
	uint32_t pay_offset;	/* SKF_AD_PAY_OFFSET (the flow dissector's answer) */
	uint32_t (*random)(void *arg);	/* SKF_AD_RANDOM; NULL reads 0 */
	void *random_arg;
	/* Where the network and link-layer headers start, relative to
	 * pkt[0], for SKF_NET_OFF and SKF_LL_OFF loads: from -headroom up.
	 * CBPF_NO_HEADER, or any value below -headroom: no such header,
	 * loads relative to it fail. */
	int32_t net_off;
	int32_t ll_off;
	size_t headroom;	/* bytes readable before pkt[0]; usually 0 */
};

/* The context of a datagram on an AF_UNIX SOCK_DGRAM socket. */
struct cbpf_ctx cbpf_ctx_unix(void);

/*
 * The context of an AF_INET6 SOCK_RAW socket's filter: pkt points at the
 * transport header and the 40-byte IPv6 header lies right before it
 * (net_off = -40, headroom = 40), protocol ETH_P_IPV6, no device and no
 * link-layer header. Set what the interface adds: has_dev, ifindex,
 * hatype, and for its header ll_off and headroom (on lo, the kernel keeps
 * a 14-byte Ethernet header of zeros and type 0x86dd there: ll_off = -54,
 * headroom = 54). With IPv6 extension headers before the transport header,
 * subtract their length from net_off and ll_off, and add it to headroom.
 */
struct cbpf_ctx cbpf_ctx_raw6(void);

/* Why a run ended. */
enum cbpf_exit {
	CBPF_EXIT_RET,		/* a RET instruction */
	CBPF_EXIT_OOB,		/* a packet load out of bounds: verdict 0 */
	CBPF_EXIT_DIV0,		/* DIV/MOD by X == 0: verdict 0 */
	CBPF_EXIT_NODEV,	/* IFINDEX/HATYPE without a device: verdict A */
	CBPF_EXIT_INVALID,	/* not a valid program: verdict 0 */
};

/* One executed instruction, for tracing: the state after it ran. The
 * instruction that ends a run (RET, a failed load, DIV0, NODEV) is
 * reported too, with A as the kernel leaves it (0 after OOB and DIV0);
 * nothing is reported for an invalid one. */
struct cbpf_step {
	uint32_t pc;
	struct sock_filter insn;
	uint32_t a, x;
	int mem_index;		/* scratch word read or written, or -1 */
	uint32_t mem_value;	/* its value after the instruction */
};

struct cbpf_result {
	uint32_t verdict;
	enum cbpf_exit exit;
	uint32_t pc;		/* instruction that ended the run; the
				 * program's length if it ran off the end */
	uint64_t steps;		/* instructions executed, the last included */
};

typedef void (*cbpf_trace_fn)(const struct cbpf_step *step, void *arg);

/* The verdict for pkt[0..len) (with ctx->headroom readable bytes before
 * pkt[0]). Cannot fail (rule 7 of cbpf.h): an invalid program gives 0.
 * ctx may be NULL (AF_UNIX context); pkt may be NULL when len is 0. */
CBPF_NONNULL(1)
uint32_t cbpf_run(const struct cbpf_prog *prog, const uint8_t *pkt,
		  size_t len, const struct cbpf_ctx *ctx);

/* The same, filling res and calling trace (may be NULL) with arg after
 * every executed instruction. */
CBPF_NONNULL(1, 5)
uint32_t cbpf_run_trace(const struct cbpf_prog *prog, const uint8_t *pkt,
			size_t len, const struct cbpf_ctx *ctx,
			struct cbpf_result *res, cbpf_trace_fn trace,
			void *arg);

/*
 * A program prepared for fast repeated runs (the form the benchmark and
 * busy receivers use). cbpf_vm_new() copies the program (prog can be
 * freed afterwards). It returns NULL with errno EINVAL if the program is
 * not valid per cbpf_validate(), or ENOMEM; err (may be NULL) is filled
 * either way, for EINVAL with cbpf_validate()'s report.
 */
struct cbpf_vm;
CBPF_MUST_CHECK CBPF_NONNULL(1)
struct cbpf_vm *cbpf_vm_new(const struct cbpf_prog *prog,
			    struct cbpf_error *err);
/* Exactly cbpf_run()'s verdict, and like it cannot fail. */
CBPF_NONNULL(1)
uint32_t cbpf_vm_run(const struct cbpf_vm *vm, const uint8_t *pkt,
		     size_t len, const struct cbpf_ctx *ctx);
/* vm may be NULL. */
void cbpf_vm_free(struct cbpf_vm *vm);

#ifdef __cplusplus
}
#endif

#endif
