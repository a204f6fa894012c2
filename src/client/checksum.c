// SPDX-License-Identifier: MIT
/*
 * One's complement sum over 16-bit big-endian words, folded at the end.
 * Summing as big-endian words and storing with htons() keeps this
 * independent of the host's byte order.
 */
#include <arpa/inet.h>
#include "checksum.h"

static uint64_t sum_bytes(uint64_t sum, const uint8_t *p, size_t len)
{
	while (len > 1) {
		sum += (uint64_t)(p[0] << 8 | p[1]);
		p += 2;
		len -= 2;
	}
	if (len)
		sum += (uint64_t)p[0] << 8;	/* odd byte, zero padded */
	return sum;
}

static uint16_t fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

uint16_t udp4_checksum(struct in_addr src, struct in_addr dst,
		       const uint8_t *udp, size_t len)
{
	uint64_t sum = 0;
	uint16_t csum;

	sum = sum_bytes(sum, (const uint8_t *)&src.s_addr, 4);
	sum = sum_bytes(sum, (const uint8_t *)&dst.s_addr, 4);
	sum += IPPROTO_UDP;
	sum += len & 0xffff;
	/* The header without its checksum field (bytes 6 and 7), then the
	 * data; 64 bits hold the sum of any datagram without folding. */
	if (len >= 8) {
		sum = sum_bytes(sum, udp, 6);
		sum = sum_bytes(sum, udp + 8, len - 8);
	} else {
		sum = sum_bytes(sum, udp, len);
	}
	csum = (uint16_t)~fold(sum);
	return htons(csum ? csum : 0xffff);
}
