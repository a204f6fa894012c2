// SPDX-License-Identifier: MIT
/*
 * wgpunch's config file parser (src/client/config.c) on arbitrary bytes:
 * no crash, no read past the input, and its contract: success leaves
 * only known fields set; failure names a line within the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_error err;
	struct config cfg = { 0 };
	char host[CONFIG_HOST_MAX], *copy;
	uint16_t port;
	size_t lines = 1;

	if (config_parse(&cfg, (const char *)data, size, &err) == 0) {
		if (cfg.set & ~(CONFIG_SERVER | CONFIG_SERVER_KEY | CONFIG_PROBE_PORT |
				CONFIG_TIMEOUT | CONFIG_KEEPALIVE | CONFIG_LOG_LEVEL |
				CONFIG_SERVER_KEY_FILE | CONFIG_PORTMAP))
			abort();
		if (cfg.portmap & ~(unsigned int)CONFIG_PM_ALL)
			abort();
		/* A key and a key file together is an error, never a choice. */
		if ((cfg.set & CONFIG_SERVER_KEY) && (cfg.set & CONFIG_SERVER_KEY_FILE))
			abort();
		if ((cfg.set & CONFIG_TIMEOUT) &&
		    (cfg.timeout < 1 || cfg.timeout > CONFIG_MAX_TIMEOUT))
			abort();
		if ((cfg.set & CONFIG_KEEPALIVE) && !cfg.keepalive)
			abort();
		if (!(cfg.set & CONFIG_SERVER) != !cfg.n_servers ||
		    cfg.n_servers > CONFIG_MAX_SERVERS)
			abort();
		for (unsigned int i = 0; i < cfg.n_servers; i++) {
			if (strnlen(cfg.servers[i].host, CONFIG_HOST_MAX) == CONFIG_HOST_MAX)
				abort();
		}
		/* Keys and probe ports pair with the servers. */
		if (config_check_servers(&cfg, err.msg, sizeof(err.msg)))
			abort();
	} else {
		for (size_t i = 0; i < size; i++)
			lines += data[i] == '\n';
		if (err.line > lines || !memchr(err.msg, '\0', sizeof(err.msg)))
			abort();
	}

	/* The server spec splitter on the same bytes as a string. */
	copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	if (config_split_server(copy, host, &port) == 0 &&
	    strnlen(host, sizeof(host)) == sizeof(host))
		abort();
	free(copy);
	return 0;
}
