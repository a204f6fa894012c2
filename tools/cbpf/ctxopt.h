/* SPDX-License-Identifier: MIT */
/*
 * The options that describe the hook a packet is filtered at (struct
 * cbpf_ctx), shared by `cbpf run` and `cbpf trace`.
 */
#ifndef CTXOPT_H
#define CTXOPT_H

#include <stdbool.h>
#include <stdio.h>
#include <getopt.h>
#include <cbpf.h>

enum {
	CTX_OPT_FIRST = 0x100,	/* above every short option */
	CTX_OPT_IFINDEX = CTX_OPT_FIRST,
	CTX_OPT_HATYPE,
	CTX_OPT_PROTOCOL,
	CTX_OPT_PKTTYPE,
	CTX_OPT_MARK,
	CTX_OPT_QUEUE,
	CTX_OPT_RXHASH,
	CTX_OPT_CPU,
	CTX_OPT_VLAN_TCI,
	CTX_OPT_VLAN_TPID,
	CTX_OPT_PAY_OFFSET,
	CTX_OPT_NET_OFF,
	CTX_OPT_LL_OFF,
	CTX_OPT_RANDOM,
	CTX_OPT_HEADROOM,
	CTX_OPT_LAST = CTX_OPT_HEADROOM,
};

/* For a subcommand's struct option array. */
#define CTX_LONG_OPTIONS \
	{ "ifindex", required_argument, NULL, CTX_OPT_IFINDEX }, \
	{ "hatype", required_argument, NULL, CTX_OPT_HATYPE }, \
	{ "protocol", required_argument, NULL, CTX_OPT_PROTOCOL }, \
	{ "pkttype", required_argument, NULL, CTX_OPT_PKTTYPE }, \
	{ "mark", required_argument, NULL, CTX_OPT_MARK }, \
	{ "queue", required_argument, NULL, CTX_OPT_QUEUE }, \
	{ "rxhash", required_argument, NULL, CTX_OPT_RXHASH }, \
	{ "cpu", required_argument, NULL, CTX_OPT_CPU }, \
	{ "vlan-tci", required_argument, NULL, CTX_OPT_VLAN_TCI }, \
	{ "vlan-tpid", required_argument, NULL, CTX_OPT_VLAN_TPID }, \
	{ "pay-offset", required_argument, NULL, CTX_OPT_PAY_OFFSET }, \
	{ "net-off", required_argument, NULL, CTX_OPT_NET_OFF }, \
	{ "ll-off", required_argument, NULL, CTX_OPT_LL_OFF }, \
	{ "random", required_argument, NULL, CTX_OPT_RANDOM }, \
	{ "headroom", required_argument, NULL, CTX_OPT_HEADROOM }

struct ctx_options {
	struct cbpf_ctx ctx;
	bool changed;		/* any option given: not the AF_UNIX context */
	uint32_t random_value;	/* --random; ctx.random_arg points here */
};

/* Starts from the AF_UNIX datagram context. */
void ctx_options_init(struct ctx_options *o);

/* Applies option opt (a CTX_OPT_*) with its argument. Returns false after
 * printing why if the value is out of range. */
bool ctx_option(struct ctx_options *o, int opt, const char *arg);

static inline bool is_ctx_option(int opt)
{
	return opt >= CTX_OPT_FIRST && opt <= CTX_OPT_LAST;
}

/* With --headroom N, the first N bytes of each packet lie in front of
 * what the filter sees: moves *pkt past them. False if the packet is
 * shorter than that. */
bool ctx_split_packet(const struct ctx_options *o, const uint8_t **pkt,
		      size_t *len);

/* The --help lines for the options above. */
void ctx_usage(FILE *f);

#endif
