// SPDX-License-Identifier: MIT
/*
 * PCP (RFC 6887) MAP codec. Every offset below is from the RFC's figures:
 * the 24-byte common header, then the 36-byte MAP opcode payload, then
 * options, each 4-byte aligned. Nothing here trusts a length from the
 * wire before checking it against the datagram.
 */
#include <errno.h>
#include <string.h>

#include "pcp.h"

#define PCP_VERSION 2
#define PCP_NATPMP_VERSION 0
#define PCP_NATPMP_MIN_LEN 8	/* the shortest NAT-PMP answer (RFC 6886) */
#define PCP_RESPONSE_BIT 0x80
#define PCP_OPCODE_MASK 0x7f
#define PCP_OPCODE_MAP 1
#define PCP_PROTO_UDP 17
#define PCP_HEADER_LEN 24
#define PCP_OPTION_HEADER_LEN 4
#define PCP_OPTION_OPTIONAL 128	/* codes 128-255 may be skipped if unknown */

/* Common header offsets (request and response share the first bytes). */
#define OFF_VERSION 0
#define OFF_OPCODE 1
#define OFF_RESULT 3		/* response only */
#define OFF_LIFETIME 4
#define OFF_CLIENT_IP 8		/* request only */
#define OFF_EPOCH 8		/* response only */

/* MAP payload offsets, from the start of the datagram. */
#define OFF_NONCE 24
#define OFF_PROTOCOL 36
#define OFF_INTERNAL_PORT 40
#define OFF_EXTERNAL_PORT 42
#define OFF_EXTERNAL_IP 44

static const uint8_t v4mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int is_zero(const uint8_t *p, size_t len)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < len; i++)
		acc |= p[i];
	return acc == 0;
}

/*
 * "Any external address" must be the all-zeros address of the wanted
 * family, or a server may hand out an IPv6 mapping to an IPv4 client.
 */
static void put_suggested_ip(uint8_t *p, const struct pcp_map_request *rq)
{
	if (!is_zero(rq->suggested_ip, sizeof(rq->suggested_ip))) {
		memcpy(p, rq->suggested_ip, 16);
		return;
	}
	memset(p, 0, 16);
	if (!memcmp(rq->client_ip, v4mapped_prefix, sizeof(v4mapped_prefix)))
		memcpy(p, v4mapped_prefix, sizeof(v4mapped_prefix));
}

int pcp_map_encode(uint8_t out[static PCP_MAP_REQUEST_LEN],
		   const struct pcp_map_request *rq)
{
	if (!rq->internal_port)
		return -EINVAL;

	memset(out, 0, PCP_MAP_REQUEST_LEN);
	out[OFF_VERSION] = PCP_VERSION;
	out[OFF_OPCODE] = PCP_OPCODE_MAP;	/* R bit clear: a request */
	put32(out + OFF_LIFETIME, rq->lifetime);
	memcpy(out + OFF_CLIENT_IP, rq->client_ip, 16);
	memcpy(out + OFF_NONCE, rq->nonce, 12);
	out[OFF_PROTOCOL] = PCP_PROTO_UDP;
	put16(out + OFF_INTERNAL_PORT, rq->internal_port);
	put16(out + OFF_EXTERNAL_PORT, rq->suggested_port);
	put_suggested_ip(out + OFF_EXTERNAL_IP, rq);
	return PCP_MAP_REQUEST_LEN;
}

/* Length, version and R bit/opcode: is this a PCP MAP response at all? */
static int check_header(const uint8_t *pkt, size_t len)
{
	/*
	 * A NAT-PMP gateway answers a PCP request with its own version 0
	 * "unsupported version" reply, shorter than a PCP header; say so
	 * before the length check would call it malformed.
	 */
	if (len >= PCP_NATPMP_MIN_LEN && pkt[OFF_VERSION] == PCP_NATPMP_VERSION)
		return -EPROTONOSUPPORT;
	if (len < PCP_HEADER_LEN || len > PCP_MAX_LEN || len % 4)
		return -EBADMSG;
	if (pkt[OFF_VERSION] != PCP_VERSION)
		return -EPROTO;
	if (!(pkt[OFF_OPCODE] & PCP_RESPONSE_BIT))
		return -EBADMSG;
	if ((pkt[OFF_OPCODE] & PCP_OPCODE_MASK) != PCP_OPCODE_MAP)
		return -EBADMSG;
	return 0;
}

/* The MAP payload echoes what we sent; anything else answers another request. */
static int check_echo(const uint8_t *pkt, const struct pcp_map_request *rq)
{
	if (memcmp(pkt + OFF_NONCE, rq->nonce, sizeof(rq->nonce)))
		return -ENOMSG;
	if (pkt[OFF_PROTOCOL] != PCP_PROTO_UDP)
		return -ENOMSG;
	if (get16(pkt + OFF_INTERNAL_PORT) != rq->internal_port)
		return -ENOMSG;
	return 0;
}

/*
 * Options after the MAP payload. We send none, so a mandatory one in the
 * answer is one we cannot honour (RFC 6887 section 7.3); optional ones
 * we do not know are skipped.
 */
static int walk_options(const uint8_t *p, size_t len)
{
	while (len) {
		size_t data_len, padded;

		if (len < PCP_OPTION_HEADER_LEN)
			return -EBADMSG;
		data_len = get16(p + 2);
		padded = (data_len + 3) & ~(size_t)3;
		if (padded > len - PCP_OPTION_HEADER_LEN)
			return -EBADMSG;
		if (p[0] < PCP_OPTION_OPTIONAL)
			return -EOPNOTSUPP;
		p += PCP_OPTION_HEADER_LEN + padded;
		len -= PCP_OPTION_HEADER_LEN + padded;
	}
	return 0;
}

/*
 * An error answer may stop after the header (RFC 6887 section 8.3 lets
 * the server truncate what it copies back); when the payload is there,
 * it must still be ours.
 */
static int parse_error(struct pcp_map_response *rs, const uint8_t *pkt,
		       size_t len, const struct pcp_map_request *rq)
{
	int ret;

	if (len >= PCP_MAP_REQUEST_LEN) {
		ret = check_echo(pkt, rq);
		if (ret < 0)
			return ret;
	}
	memset(rs, 0, sizeof(*rs));
	rs->result = pkt[OFF_RESULT];
	rs->lifetime = get32(pkt + OFF_LIFETIME);
	rs->epoch = get32(pkt + OFF_EPOCH);
	return rs->result;
}

static int parse_success(struct pcp_map_response *rs, const uint8_t *pkt,
			 size_t len, const struct pcp_map_request *rq)
{
	int ret;

	if (len < PCP_MAP_REQUEST_LEN)
		return -EBADMSG;
	ret = check_echo(pkt, rq);
	if (ret < 0)
		return ret;
	if (!get16(pkt + OFF_EXTERNAL_PORT))
		return -EBADMSG;
	ret = walk_options(pkt + PCP_MAP_REQUEST_LEN, len - PCP_MAP_REQUEST_LEN);
	if (ret < 0)
		return ret;

	memset(rs, 0, sizeof(*rs));
	rs->result = PCP_SUCCESS;
	rs->lifetime = get32(pkt + OFF_LIFETIME);
	rs->epoch = get32(pkt + OFF_EPOCH);
	rs->external_port = get16(pkt + OFF_EXTERNAL_PORT);
	memcpy(rs->external_ip, pkt + OFF_EXTERNAL_IP, sizeof(rs->external_ip));
	return 0;
}

int pcp_map_parse(struct pcp_map_response *rs, const uint8_t *pkt, size_t len,
		  const struct pcp_map_request *rq)
{
	int ret = check_header(pkt, len);

	if (ret < 0)
		return ret;
	if (pkt[OFF_RESULT] != PCP_SUCCESS)
		return parse_error(rs, pkt, len, rq);
	return parse_success(rs, pkt, len, rq);
}

const char *pcp_result_name(uint8_t code)
{
	static const char *const names[] = {
		[PCP_SUCCESS] = "SUCCESS",
		[PCP_UNSUPP_VERSION] = "UNSUPP_VERSION",
		[PCP_NOT_AUTHORIZED] = "NOT_AUTHORIZED",
		[PCP_MALFORMED_REQUEST] = "MALFORMED_REQUEST",
		[PCP_UNSUPP_OPCODE] = "UNSUPP_OPCODE",
		[PCP_UNSUPP_OPTION] = "UNSUPP_OPTION",
		[PCP_MALFORMED_OPTION] = "MALFORMED_OPTION",
		[PCP_NETWORK_FAILURE] = "NETWORK_FAILURE",
		[PCP_NO_RESOURCES] = "NO_RESOURCES",
		[PCP_UNSUPP_PROTOCOL] = "UNSUPP_PROTOCOL",
		[PCP_USER_EX_QUOTA] = "USER_EX_QUOTA",
		[PCP_CANNOT_PROVIDE_EXTERNAL] = "CANNOT_PROVIDE_EXTERNAL",
		[PCP_ADDRESS_MISMATCH] = "ADDRESS_MISMATCH",
		[PCP_EXCESSIVE_REMOTE_PEERS] = "EXCESSIVE_REMOTE_PEERS",
	};

	if (code >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[code];
}
