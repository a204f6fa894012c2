// SPDX-License-Identifier: MIT
/*
 * wgpunch's parser of WireGuard UAPI "get=1" replies (src/client/
 * wg_uapi.c) on arbitrary bytes, the way a hostile or broken userspace
 * WireGuard could answer: no crash, no leak, peers within bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "wg_uapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wg_device dev;
	char buf[ENDPOINT_STRLEN];
	int ret;

	ret = uapi_parse_reply(&dev, (const char *)data, size);
	if (dev.num_peers > WG_MAX_PEERS)
		abort();
	if (ret == 0) {
		for (size_t i = 0; i < dev.num_peers; i++) {
			const struct wg_peer *p = &dev.peers[i];

			if (p->last_handshake.tv_nsec < 0 ||
			    p->last_handshake.tv_nsec > 999999999)
				abort();
			endpoint_format((const struct sockaddr *)&p->endpoint, buf);
		}
	}
	wg_free_device(&dev);
	return 0;
}
