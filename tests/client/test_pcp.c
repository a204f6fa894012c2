/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "pcp.h"

/* Client 198.18.0.2 mapping WireGuard's 51820; the gateway gives 198.19.0.1:40000. */
static const struct pcp_map_request request = {
	.nonce = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
		   0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c },
	.client_ip = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 2 },
	.internal_port = 51820,
	.lifetime = 7200,
};

static const uint8_t external_ip[16] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 19, 0, 1
};

/*
 * A SUCCESS answer laid out by hand from RFC 6887 figures 2 and 10:
 * header, then the MAP payload; room for options after it.
 */
static size_t make_response(uint8_t *pkt, uint8_t result)
{
	static const uint8_t head[24] = {
		2, 0x81, 0, 0,			/* version, R|MAP, reserved, result */
		0, 0, 0x0e, 0x10,		/* lifetime 3600 */
		0, 0, 0x30, 0x39,		/* epoch 12345 */
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* reserved */
	};

	memcpy(pkt, head, sizeof(head));
	pkt[3] = result;
	memcpy(pkt + 24, request.nonce, 12);
	pkt[36] = 17;
	pkt[37] = pkt[38] = pkt[39] = 0;
	pkt[40] = 51820 >> 8;
	pkt[41] = 51820 & 0xff;
	pkt[42] = 40000 >> 8;
	pkt[43] = 40000 & 0xff;
	memcpy(pkt + 44, external_ip, 16);
	return 60;
}

static int parse(const uint8_t *pkt, size_t len)
{
	struct pcp_map_response rs;

	return pcp_map_parse(&rs, pkt, len, &request);
}

static void test_encode(void **state)
{
	static const uint8_t want[PCP_MAP_REQUEST_LEN] = {
		2, 1, 0, 0,				/* version, R=0|MAP, reserved */
		0, 0, 0x1c, 0x20,			/* lifetime 7200 */
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 2,
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,	/* nonce */
		17, 0, 0, 0,				/* UDP, reserved */
		0xca, 0x6c,				/* internal port 51820 */
		0, 0,					/* no suggested port */
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0,
	};
	uint8_t out[PCP_MAP_REQUEST_LEN];

	(void)state;
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(pcp_map_encode(out, &request), PCP_MAP_REQUEST_LEN);
	assert_memory_equal(out, want, sizeof(want));
}

static void test_encode_suggestion_and_v6(void **state)
{
	struct pcp_map_request rq = request;
	uint8_t out[PCP_MAP_REQUEST_LEN];
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };

	(void)state;
	/* An explicit suggestion is written as given. */
	rq.suggested_port = 40000;
	memcpy(rq.suggested_ip, external_ip, 16);
	assert_int_equal(pcp_map_encode(out, &rq), PCP_MAP_REQUEST_LEN);
	assert_int_equal(out[42], 40000 >> 8);
	assert_int_equal(out[43], 40000 & 0xff);
	assert_memory_equal(out + 44, external_ip, 16);

	/* An IPv6 client asking for "any" sends ::. */
	memcpy(rq.client_ip, v6, 16);
	memset(rq.suggested_ip, 0, 16);
	assert_int_equal(pcp_map_encode(out, &rq), PCP_MAP_REQUEST_LEN);
	assert_memory_equal(out + 8, v6, 16);
	for (int i = 44; i < 60; i++)
		assert_int_equal(out[i], 0);

	/* Deletion: lifetime 0, all else the same. */
	rq.lifetime = 0;
	assert_int_equal(pcp_map_encode(out, &rq), PCP_MAP_REQUEST_LEN);
	assert_int_equal(out[4] | out[5] | out[6] | out[7], 0);

	rq.internal_port = 0;
	assert_int_equal(pcp_map_encode(out, &rq), -EINVAL);
}

static void test_parse_success(void **state)
{
	struct pcp_map_response rs;
	uint8_t pkt[PCP_MAX_LEN];
	size_t len = make_response(pkt, PCP_SUCCESS);

	(void)state;
	assert_int_equal(pcp_map_parse(&rs, pkt, len, &request), 0);
	assert_int_equal(rs.result, PCP_SUCCESS);
	assert_int_equal(rs.lifetime, 3600);
	assert_int_equal(rs.epoch, 12345);
	assert_int_equal(rs.external_port, 40000);
	assert_memory_equal(rs.external_ip, external_ip, 16);

	/* Reserved bits are ignored on receipt. */
	pkt[2] = 0xff;
	pkt[12] = pkt[23] = 0xff;
	pkt[37] = pkt[39] = 0xff;
	assert_int_equal(parse(pkt, len), 0);
}

static void test_parse_errors(void **state)
{
	struct pcp_map_response rs;
	uint8_t pkt[PCP_MAX_LEN];
	size_t len;

	(void)state;
	for (int code = PCP_UNSUPP_VERSION; code <= PCP_EXCESSIVE_REMOTE_PEERS; code++) {
		len = make_response(pkt, (uint8_t)code);
		memset(&rs, 0xaa, sizeof(rs));
		assert_int_equal(pcp_map_parse(&rs, pkt, len, &request), code);
		assert_int_equal(rs.result, code);
		assert_int_equal(rs.lifetime, 3600);
		assert_int_equal(rs.epoch, 12345);
		assert_int_equal(rs.external_port, 0);

		/* The server may cut the copied payload: the header alone will do. */
		assert_int_equal(parse(pkt, 24), code);
		assert_int_equal(parse(pkt, 44), code);
	}
	/* A result code past the RFC's list is still an error result. */
	len = make_response(pkt, 200);
	assert_int_equal(parse(pkt, len), 200);

	/* An error whose payload is someone else's is not ours. */
	len = make_response(pkt, PCP_NO_RESOURCES);
	pkt[24] ^= 1;
	assert_int_equal(parse(pkt, len), -ENOMSG);
}

static void test_result_names(void **state)
{
	(void)state;
	assert_string_equal(pcp_result_name(PCP_SUCCESS), "SUCCESS");
	assert_string_equal(pcp_result_name(PCP_UNSUPP_VERSION), "UNSUPP_VERSION");
	assert_string_equal(pcp_result_name(PCP_NO_RESOURCES), "NO_RESOURCES");
	assert_string_equal(pcp_result_name(PCP_EXCESSIVE_REMOTE_PEERS),
			    "EXCESSIVE_REMOTE_PEERS");
	assert_string_equal(pcp_result_name(14), "unknown");
	assert_string_equal(pcp_result_name(255), "unknown");
}

static void test_natpmp_and_versions(void **state)
{
	/* NAT-PMP (RFC 6886) "unsupported version": version 0, op 128, result 1. */
	static const uint8_t natpmp[8] = { 0, 128, 0, 1, 0, 0, 0x30, 0x39 };
	uint8_t pkt[PCP_MAX_LEN];
	size_t len = make_response(pkt, PCP_SUCCESS);

	(void)state;
	assert_int_equal(parse(natpmp, sizeof(natpmp)), -EPROTONOSUPPORT);
	pkt[0] = 0;
	assert_int_equal(parse(pkt, len), -EPROTONOSUPPORT);
	pkt[0] = 1;
	assert_int_equal(parse(pkt, len), -EPROTO);
	pkt[0] = 3;
	assert_int_equal(parse(pkt, len), -EPROTO);
	/* Too short to be either. */
	assert_int_equal(parse(natpmp, 4), -EBADMSG);
}

static void test_lengths(void **state)
{
	uint8_t pkt[PCP_MAX_LEN + 4];
	size_t len = make_response(pkt, PCP_SUCCESS);

	(void)state;
	memset(pkt + len, 0, sizeof(pkt) - len);
	assert_int_equal(parse(pkt, 0), -EBADMSG);
	assert_int_equal(parse(pkt, 20), -EBADMSG);
	/* SUCCESS needs the whole MAP payload. */
	for (size_t l = 24; l < 60; l += 4)
		assert_int_equal(parse(pkt, l), -EBADMSG);
	for (size_t l = 57; l < 64; l++)
		if (l % 4)
			assert_int_equal(parse(pkt, l), -EBADMSG);
	/* Options padding the datagram up to the limit, then past it. */
	for (size_t off = 60; off + 4 <= PCP_MAX_LEN; off += 4)
		pkt[off] = 200;		/* empty optional options */
	assert_int_equal(parse(pkt, PCP_MAX_LEN), 0);
	pkt[PCP_MAX_LEN] = 200;
	assert_int_equal(parse(pkt, PCP_MAX_LEN + 4), -EBADMSG);
}

static void test_not_ours(void **state)
{
	uint8_t pkt[PCP_MAX_LEN];
	size_t len = make_response(pkt, PCP_SUCCESS);

	(void)state;
	pkt[35] ^= 0x80;		/* last nonce byte */
	assert_int_equal(parse(pkt, len), -ENOMSG);

	len = make_response(pkt, PCP_SUCCESS);
	pkt[41] ^= 1;			/* internal port */
	assert_int_equal(parse(pkt, len), -ENOMSG);

	len = make_response(pkt, PCP_SUCCESS);
	pkt[36] = 6;			/* TCP */
	assert_int_equal(parse(pkt, len), -ENOMSG);

	len = make_response(pkt, PCP_SUCCESS);
	pkt[42] = pkt[43] = 0;		/* no external port */
	assert_int_equal(parse(pkt, len), -EBADMSG);
}

static void test_header_bits(void **state)
{
	uint8_t pkt[PCP_MAX_LEN];
	size_t len = make_response(pkt, PCP_SUCCESS);

	(void)state;
	pkt[1] = 0x01;			/* R clear: our own request reflected */
	assert_int_equal(parse(pkt, len), -EBADMSG);
	pkt[1] = 0x82;			/* PEER */
	assert_int_equal(parse(pkt, len), -EBADMSG);
	pkt[1] = 0x80;			/* ANNOUNCE */
	assert_int_equal(parse(pkt, len), -EBADMSG);
}

static size_t put_option(uint8_t *p, uint8_t code, uint16_t data_len)
{
	size_t padded = ((size_t)data_len + 3) & ~(size_t)3;

	p[0] = code;
	p[1] = 0;
	p[2] = (uint8_t)(data_len >> 8);
	p[3] = (uint8_t)data_len;
	memset(p + 4, 0x5a, data_len);
	memset(p + 4 + data_len, 0, padded - data_len);
	return 4 + padded;
}

static void test_options(void **state)
{
	struct pcp_map_response rs;
	uint8_t pkt[PCP_MAX_LEN];
	size_t len;

	(void)state;
	/* Unknown optional ones are skipped, padding included. */
	len = make_response(pkt, PCP_SUCCESS);
	len += put_option(pkt + len, 128, 5);
	len += put_option(pkt + len, 255, 0);
	len += put_option(pkt + len, 200, 16);
	assert_int_equal(pcp_map_parse(&rs, pkt, len, &request), 0);
	assert_int_equal(rs.external_port, 40000);

	/* A mandatory one we cannot honour is refused, wherever it is. */
	len = make_response(pkt, PCP_SUCCESS);
	len += put_option(pkt + len, 128, 1);
	len += put_option(pkt + len, 3, 20);	/* FILTER */
	assert_int_equal(parse(pkt, len), -EOPNOTSUPP);
	len = make_response(pkt, PCP_SUCCESS);
	len += put_option(pkt + len, 0, 0);	/* reserved code */
	assert_int_equal(parse(pkt, len), -EOPNOTSUPP);

	/*
	 * Running past the datagram. (Padding alone never can: the datagram
	 * is a multiple of 4, so data that fits fits padded.)
	 */
	len = make_response(pkt, PCP_SUCCESS);
	len += put_option(pkt + len, 128, 8);
	pkt[len - 12 + 3] = 9;
	assert_int_equal(parse(pkt, len), -EBADMSG);
	pkt[len - 12 + 2] = 0xff;
	pkt[len - 12 + 3] = 0xff;
	assert_int_equal(parse(pkt, len), -EBADMSG);
	/* ...and the same option fits once the datagram is long enough. */
	pkt[len - 12 + 2] = 0;
	pkt[len - 12 + 3] = 9;
	memset(pkt + len, 0, 4);
	assert_int_equal(parse(pkt, len + 4), 0);

	/* A mandatory option that overruns is malformed first of all. */
	len = make_response(pkt, PCP_SUCCESS);
	len += put_option(pkt + len, 1, 4);
	pkt[len - 8 + 3] = 8;
	assert_int_equal(parse(pkt, len), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_encode_suggestion_and_v6),
		cmocka_unit_test(test_parse_success),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_result_names),
		cmocka_unit_test(test_natpmp_and_versions),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_not_ours),
		cmocka_unit_test(test_header_bits),
		cmocka_unit_test(test_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
