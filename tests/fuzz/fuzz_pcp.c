// SPDX-License-Identifier: MIT
/*
 * The PCP MAP response parser (src/client/pcp.c) on arbitrary bytes, as
 * if they came from the gateway: no crash, no read past the input, and
 * its contract: success means a MAP answer to our request with an
 * external port; an error result is the server's code; anything else is
 * one of the documented negative errnos and leaves the response alone.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The same request the seeds in corpus/pcp/ answer. */
static const struct pcp_map_request request = {
	.nonce = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
		   0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c },
	.client_ip = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 2 },
	.internal_port = 51820,
	.lifetime = 7200,
};

static int is_documented_error(int ret)
{
	return ret == -EPROTONOSUPPORT || ret == -EPROTO || ret == -ENOMSG ||
	       ret == -EOPNOTSUPP || ret == -EBADMSG;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pcp_map_response rs, untouched;
	int ret;

	memset(&rs, 0xa5, sizeof(rs));
	untouched = rs;
	ret = pcp_map_parse(&rs, data, size, &request);
	if (ret == 0) {
		if (rs.result != 0 || rs.external_port == 0)
			abort();
		if (size < PCP_MAP_REQUEST_LEN || size > PCP_MAX_LEN || size % 4)
			abort();
		if (data[0] != 2 || data[1] != 0x81 ||
		    memcmp(data + 24, request.nonce, sizeof(request.nonce)))
			abort();
	} else if (ret > 0) {
		if (ret > 255 || rs.result != ret || data[3] != ret)
			abort();
	} else {
		if (!is_documented_error(ret) || memcmp(&rs, &untouched, sizeof(rs)))
			abort();
	}
	/* The name of whatever code came back is a string, never NULL. */
	if (!pcp_result_name(size ? data[size - 1] : 0))
		abort();
	return 0;
}
