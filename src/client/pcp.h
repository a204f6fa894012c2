/* SPDX-License-Identifier: MIT */
/*
 * wgpunch — Port Control Protocol (RFC 6887) MAP requests and responses,
 * the way a client asks its gateway to map WireGuard's UDP port. Encode
 * and parse only: no sockets, no clocks, no randomness; the caller owns
 * every buffer and sends the datagram to the gateway's PCP_PORT.
 *
 * Addresses are 16 bytes in network order; an IPv4 address is carried as
 * the IPv4-mapped IPv6 address ::ffff:a.b.c.d (RFC 6887 section 5).
 *
 * A deletion is a MAP request with lifetime 0 and the same nonce, client
 * address, protocol and internal port as the mapping it removes; the
 * server's SUCCESS answer then carries lifetime 0 as well.
 */
#ifndef WGPUNCH_PCP_H
#define WGPUNCH_PCP_H

#include <stddef.h>
#include <stdint.h>

#define PCP_PORT 5351
#define PCP_MAX_LEN 1100
#define PCP_MAP_REQUEST_LEN 60

/* Result codes, RFC 6887 section 7.4. */
enum pcp_result {
	PCP_SUCCESS = 0,
	PCP_UNSUPP_VERSION = 1,
	PCP_NOT_AUTHORIZED = 2,
	PCP_MALFORMED_REQUEST = 3,
	PCP_UNSUPP_OPCODE = 4,
	PCP_UNSUPP_OPTION = 5,
	PCP_MALFORMED_OPTION = 6,
	PCP_NETWORK_FAILURE = 7,
	PCP_NO_RESOURCES = 8,
	PCP_UNSUPP_PROTOCOL = 9,
	PCP_USER_EX_QUOTA = 10,
	PCP_CANNOT_PROVIDE_EXTERNAL = 11,
	PCP_ADDRESS_MISMATCH = 12,
	PCP_EXCESSIVE_REMOTE_PEERS = 13,
};

/*
 * A MAP request for UDP (the only protocol wgpunch maps).
 * nonce: 96 random bits chosen by the caller once per mapping and kept
 *   for its refreshes and its deletion; the answer must echo it.
 * client_ip: the source address the request is sent from.
 * internal_port: WireGuard's listen port (non-zero).
 * suggested_port: the external port wished for; 0 for no preference.
 * suggested_ip: the external address wished for. All zeros means "any"
 *   and is written as the all-zeros address of client_ip's family:
 *   ::ffff:0.0.0.0 when client_ip is IPv4-mapped, :: otherwise (RFC 6887
 *   sections 5 and 11.1), so a zeroed struct asks for an IPv4 mapping
 *   from an IPv4 client.
 * lifetime: seconds asked for; 0 deletes the mapping.
 */
struct pcp_map_request {
	uint8_t nonce[12];
	uint8_t client_ip[16];
	uint16_t internal_port;
	uint16_t suggested_port;
	uint8_t suggested_ip[16];
	uint32_t lifetime;
};

/*
 * What the server answered. On success external_port/external_ip are
 * the assigned mapping and lifetime the seconds it is granted for; on an
 * error result lifetime is how long the error is expected to last. epoch
 * is the server's epoch time, for the caller's restart detection (RFC
 * 6887 section 8.5).
 */
struct pcp_map_response {
	uint8_t result;
	uint32_t lifetime, epoch;
	uint16_t external_port;
	uint8_t external_ip[16];
};

/*
 * Writes the 60-byte MAP request (no options) into out. Returns
 * PCP_MAP_REQUEST_LEN, or -EINVAL when internal_port is 0 (port 0 means
 * "all ports", which RFC 6887 allows only with protocol 0).
 */
int pcp_map_encode(uint8_t out[static PCP_MAP_REQUEST_LEN],
		   const struct pcp_map_request *rq);

/*
 * Parses a datagram received from the server as the answer to rq.
 * Returns
 *   0                 SUCCESS: every field of rs is set;
 *   > 0               the server's PCP result code (e.g. PCP_NO_RESOURCES):
 *                     rs->result, lifetime and epoch are set;
 *   -EPROTONOSUPPORT  a version 0 answer, i.e. a NAT-PMP (RFC 6886)
 *                     server: the caller may fall back to NAT-PMP;
 *   -EPROTO           another PCP version than 2;
 *   -ENOMSG           a well-formed MAP response, but not to rq (nonce,
 *                     protocol or internal port differ): keep waiting;
 *   -EOPNOTSUPP       a mandatory option (code 0-127) we cannot honour;
 *   -EBADMSG          anything malformed: length not 24..1100 or not a
 *                     multiple of 4, R bit clear, another opcode, SUCCESS
 *                     without the MAP payload or with external port 0,
 *                     an option running past the datagram.
 * rs is written only when the return value is >= 0.
 */
int pcp_map_parse(struct pcp_map_response *rs, const uint8_t *pkt, size_t len,
		  const struct pcp_map_request *rq);

/* "SUCCESS", "NO_RESOURCES", ... as in RFC 6887; "unknown" otherwise. */
const char *pcp_result_name(uint8_t code);

#endif
