/* SPDX-License-Identifier: MIT */
/*
 * wgpunchd --registry URL: where the shared registry's Redis is.
 *
 *   redis://HOST[:PORT][/DB]   TCP; HOST a name, an IPv4 address or
 *                              [IPv6]; PORT 6379 by default; DB 0
 *   unix:///PATH[?db=DB]       a Unix socket (PATH absolute)
 *
 * Parsing is separate from resolving: the parser sees only the text
 * (and is fuzzed), a name is resolved once at start-up, before the
 * sandbox, and reconnections reuse the address.
 */
#ifndef WGPUNCHD_STORE_URL_H
#define WGPUNCHD_STORE_URL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#define STORE_URL_HOST_MAX	254	/* a DNS name, with its NUL */
#define STORE_DEFAULT_PORT	6379
#define STORE_DB_MAX		1000000	/* Redis' "databases" setting */

struct store_url {
	bool is_unix;
	char host[STORE_URL_HOST_MAX];	/* TCP; no brackets */
	uint16_t port;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	unsigned int db;
};

/* 0, or -EINVAL with *why set to what is wrong (a static string). */
int store_url_parse(struct store_url *u, const char *text, const char **why);

/* The socket address of u (a name through getaddrinfo: the first
 * address). 0, or -errno / -EHOSTUNREACH for a name that does not
 * resolve. */
int store_url_resolve(const struct store_url *u, struct sockaddr_storage *ss,
		      socklen_t *len);

#endif
