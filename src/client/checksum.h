/* SPDX-License-Identifier: MIT */
/*
 * wgpunch — the Internet checksum (RFC 1071) of a UDP datagram over IPv4.
 * IPv6 needs none from us: the kernel fills it (IPV6_CHECKSUM).
 */
#ifndef WGPUNCH_CHECKSUM_H
#define WGPUNCH_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

/*
 * The UDP checksum of udp[0..len) (header with its checksum field
 * ignored, then payload) under the IPv4 pseudo-header, ready to store:
 * in network byte order, and 0xffff instead of 0 (RFC 768: a computed
 * zero is sent as all ones; zero means "no checksum").
 */
uint16_t udp4_checksum(struct in_addr src, struct in_addr dst,
		       const uint8_t *udp, size_t len);

#endif
