/* SPDX-License-Identifier: MIT */
/*
 * libcbpf — ready-made filters for raw UDP sockets.
 *
 * An AF_INET SOCK_RAW IPPROTO_UDP socket's filter sees the IPv4 header
 * first; an AF_INET6 one sees the UDP header first (the IPv6 header is
 * reachable only through SKF_NET_OFF). These programs accept a datagram
 * (returning 0xffffffff, the whole packet) when it is UDP, not a fragment
 * (IPv4), long enough to hold the UDP header plus min_payload bytes, and
 * matches every field that is set; anything else is dropped.
 *
 * Both fill a fresh prog and return 0, or return -ENOMEM with prog
 * zeroed. The programs pass cbpf_validate().
 */
#ifndef CBPF_FILTERS_H
#define CBPF_FILTERS_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include "attr.h"
#include "prog.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cbpf_udp_match {
	bool match_saddr;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} saddr;		/* source address, if match_saddr */
	uint16_t sport;		/* source port, host order; 0 = any */
	uint16_t dport;		/* destination port, host order; 0 = any */
	uint16_t min_payload;	/* bytes of UDP payload required; 0 = none */
};

/* For an AF_INET SOCK_RAW socket: IHL via LDX MSH (IP options are fine),
 * fragments (MF or offset != 0) dropped. */
CBPF_MUST_CHECK CBPF_NONNULL(1, 2)
int cbpf_filter_udp4(const struct cbpf_udp_match *match,
		     struct cbpf_prog *prog);

/* For an AF_INET6 SOCK_RAW IPPROTO_UDP socket: ports at offsets 0 and 2,
 * source address at SKF_NET_OFF + 8. */
CBPF_MUST_CHECK CBPF_NONNULL(1, 2)
int cbpf_filter_udp6(const struct cbpf_udp_match *match,
		     struct cbpf_prog *prog);

#ifdef __cplusplus
}
#endif

#endif
