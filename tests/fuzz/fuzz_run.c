/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the VM: any bytes are a context, a program and a
 * packet. cbpf_run() and cbpf_run_trace() must never read out of bounds
 * (ASan) and must agree; when the program is valid, cbpf_vm_run() must
 * agree too, both as native code (the JIT, where it takes the program)
 * and with the interpreter-only VM. Disagreement aborts.
 *
 * Input: byte 0 context flags, byte 1 network header offset, byte 2 the
 * instruction count n; then n instructions of 8 bytes (code as 2 bytes
 * little-endian, jt, jf, k as 4 bytes little-endian; fewer if the input
 * ends); the rest is the packet.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cbpf.h"
#include "internal.h"	/* vm_new(VM_NO_JIT) */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t fuzz_random(void *arg)
{
	uint32_t *n = arg;

	return *n += 0x9e3779b9;
}

static struct cbpf_ctx fuzz_ctx(uint8_t flags, uint8_t net_off)
{
	struct cbpf_ctx ctx = cbpf_ctx_unix();

	if (!(flags & 1))
		return ctx;
	ctx.has_dev = flags & 2;
	ctx.ifindex = 7;
	ctx.hatype = 1;
	ctx.protocol = 0x0800;
	ctx.pkt_type = flags;
	ctx.mark = 0x12345678;
	ctx.vlan_present = flags & 4;
	ctx.vlan_tci = 0xabc;
	ctx.pay_offset = net_off;
	ctx.ll_off = flags & 8 ? 0 : CBPF_NO_HEADER;
	ctx.net_off = flags & 16 ? CBPF_NO_HEADER : net_off;
	ctx.random = fuzz_random;
	return ctx;
}

static size_t fuzz_insns(const uint8_t *data, size_t size, size_t want,
			 struct sock_filter *insns)
{
	size_t n = 0;

	while (n < want && size >= 8) {
		insns[n].code = (uint16_t)(data[0] | data[1] << 8);
		insns[n].jt = data[2];
		insns[n].jf = data[3];
		insns[n].k = (uint32_t)data[4] | (uint32_t)data[5] << 8 |
			     (uint32_t)data[6] << 16 | (uint32_t)data[7] << 24;
		data += 8;
		size -= 8;
		n++;
	}
	return n;
}

/* cbpf_vm_run() of a valid program, built with vm_new()'s flags, must
 * give cbpf_run()'s verdict v. */
static void fuzz_vm(const struct cbpf_prog *prog, unsigned int flags,
		    const uint8_t *pkt, size_t len, const struct cbpf_ctx *ctx,
		    uint32_t *rnd, uint32_t v)
{
	struct cbpf_error err = { 0 };
	struct cbpf_vm *vm = vm_new(prog, &err, flags);

	if (!vm) {
		if (errno != ENOMEM || err.err != -ENOMEM)
			abort();
		return;
	}
	*rnd = 0;
	if (cbpf_vm_run(vm, pkt, len, ctx) != v)
		abort();
	cbpf_vm_free(vm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sock_filter insns[256];
	struct cbpf_prog prog = { .insns = insns };
	struct cbpf_result res;
	struct cbpf_ctx ctx;
	uint32_t rnd, v, vt;
	size_t i, len, head = 0;
	uint8_t *buf, *pkt;
	int valid, decodable = 1;

	if (size < 3)
		return 0;
	ctx = fuzz_ctx(data[0], data[1]);
	prog.len = fuzz_insns(data + 3, size - 3, data[2], insns);
	len = size - 3 - 8 * prog.len;
	/* An exact-size copy, so that any overread is ASan's to see. */
	buf = malloc(len ? len : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 3 + 8 * prog.len, len);
	/* Flag 32: the first bytes are headroom in front of what the filter
	 * sees (a raw IPv6 socket's header), reachable only via SKF_NET_OFF
	 * and SKF_LL_OFF; ASan then watches both ends of the buffer. */
	pkt = buf;
	if (data[0] & 32) {
		head = data[1] % (len + 1);
		ctx.headroom = head;
		ctx.net_off = -(int32_t)head;
		if (data[0] & 8)
			ctx.ll_off = -(int32_t)head;
		pkt = buf + head;
		len -= head;
	}

	for (i = 0; i < prog.len; i++) {
		struct cbpf_insn in;

		if (cbpf_decode(&insns[i], &in) < 0)
			decodable = 0;
	}
	valid = cbpf_validate(&prog, NULL) == 0;
	if (valid && !decodable)
		abort();	/* a valid program is made of known opcodes */

	ctx.random_arg = &rnd;
	rnd = 0;
	v = cbpf_run(&prog, pkt, len, &ctx);
	rnd = 0;
	vt = cbpf_run_trace(&prog, pkt, len, &ctx, &res, NULL, NULL);
	if (v != vt || res.verdict != v)
		abort();
	if (res.exit != CBPF_EXIT_RET && res.exit != CBPF_EXIT_NODEV && v)
		abort();
	if (valid) {
		static const unsigned int flags[] = { 0, VM_NO_JIT };

		for (i = 0; i < 2; i++)
			fuzz_vm(&prog, flags[i], pkt, len, &ctx, &rnd, v);
		/* A valid program ends in RET, so never runs off the end. */
		if (res.exit == CBPF_EXIT_INVALID)
			abort();
	}
	free(buf);
	return 0;
}
