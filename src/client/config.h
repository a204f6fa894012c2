/* SPDX-License-Identifier: MIT */
/*
 * wgpunch — settings, from a small config file and from the command line
 * through the same validators.
 *
 * File format: one "key = value" per line; blank lines and lines whose
 * first non-blank character is '#' are ignored; spaces and tabs around
 * keys and values are ignored. Keys: server, server-key, server-key-file,
 * probe-port, timeout, keepalive, log-level, portmap (a comma-separated
 * list of pcp, natpmp and upnp, or all, or none). server, server-key,
 * server-key-file and probe-port may be given up to CONFIG_MAX_SERVERS
 * times (one rendezvous server each; keys and probe ports pair with the
 * servers in order, or one applies to all: config_check_servers()); the
 * others at most once, and only one of server-key and server-key-file
 * is used in a file. Anything else is an error
 * naming its line: the file is outside input, and a typo silently
 * ignored is a setting silently lost. Files edited on Windows are
 * accepted as they are: CRLF line ends, and a UTF-8 byte order mark.
 */
#ifndef WGPUNCH_CONFIG_H
#define WGPUNCH_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include "key.h"
#include "log.h"

#define CONFIG_MAX_SIZE		65536	/* bytes in a config file */
#define CONFIG_MAX_LINE		1024	/* bytes in one line */
#define CONFIG_HOST_MAX		256	/* a DNS name fits: 253 */
#define CONFIG_MAX_TIMEOUT	86400
#define CONFIG_PATH_MAX		1024	/* fits a config line */
#define CONFIG_MAX_SERVERS	8	/* = WGPUNCH_MAX_SERVERS */

enum config_field {
	CONFIG_SERVER		= 1U << 0,
	CONFIG_SERVER_KEY	= 1U << 1,
	CONFIG_PROBE_PORT	= 1U << 2,
	CONFIG_TIMEOUT		= 1U << 3,
	CONFIG_KEEPALIVE	= 1U << 4,
	CONFIG_LOG_LEVEL	= 1U << 5,
	CONFIG_SERVER_KEY_FILE	= 1U << 6,	/* read later, by the caller */
	CONFIG_PORTMAP		= 1U << 7,
};

/* Port-mapping protocols (the portmap key), in the order they are
 * tried; the same bits as portmap.h's PORTMAP_*. */
enum {
	CONFIG_PM_PCP		= 1U << 0,
	CONFIG_PM_NATPMP	= 1U << 1,
	CONFIG_PM_UPNP		= 1U << 2,
	CONFIG_PM_ALL		= 7,
};

struct config_server {
	char host[CONFIG_HOST_MAX];	/* name or numeric address */
	uint16_t port;			/* 0: the default port */
};

struct config {
	unsigned int set;		/* enum config_field bits */
	/* Each list in the order given; set has the field's bit when the
	 * list is not empty. */
	struct config_server servers[CONFIG_MAX_SERVERS];
	unsigned int n_servers;
	uint8_t server_keys[CONFIG_MAX_SERVERS][WGP_KEY_LEN];
	unsigned int n_server_keys;
	char server_key_files[CONFIG_MAX_SERVERS][CONFIG_PATH_MAX];
	unsigned int n_server_key_files;
	uint16_t probe_ports[CONFIG_MAX_SERVERS];
	unsigned int n_probe_ports;
	unsigned int timeout;		/* seconds */
	uint16_t keepalive;		/* seconds */
	enum log_level log_level;
	unsigned int portmap;		/* CONFIG_PM_* bits, 0: none */
};

struct config_error {
	unsigned int line;		/* 1-based; 0 when not about a line */
	char msg[256];
};

/*
 * Set one key from its text value (a config line's or an option's).
 * 0, -ENOENT for an unknown key, or -EINVAL with why (a phrase like
 * "timeout must be ...") written into why[0..whylen).
 */
int config_set(struct config *cfg, const char *key, const char *value,
	       char *why, size_t whylen);

/*
 * Parse text[0..len) into cfg. Keys already set in cfg before the call
 * are not an error (the caller decides precedence by order); a key twice
 * in the text is. 0, or -EINVAL with err filled.
 */
int config_parse(struct config *cfg, const char *text, size_t len,
		 struct config_error *err);

/*
 * Keys and probe ports pair with the servers: none (probe ports only:
 * each server's port + 1), one for every server, or one per server in
 * the same order. 0, or -EINVAL with why naming the counts.
 */
int config_check_servers(const struct config *cfg, char *why, size_t whylen);

/* Read and parse a file (at most CONFIG_MAX_SIZE bytes). */
int config_load(struct config *cfg, const char *path, struct config_error *err);

/* Where an interface's settings live when no --config names a file: what
 * the wgpunch@.service unit reads, so "wgpunch up wg0" in a wg-quick
 * PostUp line finds the same settings. $WGPUNCH_CONFIG_DIR replaces the
 * directory (for tests, and for a system that keeps /etc elsewhere). */
#define CONFIG_DIR		"/etc/wgpunch"
#define CONFIG_DIR_ENV		"WGPUNCH_CONFIG_DIR"

/*
 * The interface's default settings file, DIR/IFNAME.conf, in buf. NULL
 * if ifname is not a plain file name or the path does not fit.
 */
const char *config_default_path(const char *ifname, char *buf, size_t len);

/*
 * Split "HOST", "HOST:PORT", "[V6]", "[V6]:PORT" or a bare IPv6 address
 * into host and port (0 when absent). Host names are letters, digits,
 * '.', '-' and '_'; numeric IPv6 may carry "%scope". 0 or -EINVAL.
 */
int config_split_server(const char *spec, char host[static CONFIG_HOST_MAX],
			uint16_t *port);

#endif
