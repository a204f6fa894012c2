/* SPDX-License-Identifier: MIT */
/*
 * wgpunch — numeric socket addresses as text: "198.18.0.1:51820",
 * "[2001:db8::1]:51820", the forms wg(8) and the UAPI use.
 */
#ifndef WGPUNCH_ENDPOINT_H
#define WGPUNCH_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* "[" INET6_ADDRSTRLEN "%" IFNAMSIZ "]:" "65535" and the NUL. */
#define ENDPOINT_STRLEN 80

/*
 * Parse a numeric endpoint of len bytes (not NUL-terminated): IPv4
 * "a.b.c.d:port", IPv6 "[addr]:port" or "[addr%scope]:port". Without a
 * port (allowed only when default_port != 0) "a.b.c.d", "[addr]" and a
 * bare "addr" are accepted too. Port 0 is refused. 0 or -EINVAL.
 */
int endpoint_parse(const char *s, size_t len, uint16_t default_port,
		   struct sockaddr_storage *ss);

/* Writes the endpoint (or "(none)" for AF_UNSPEC) into buf; returns buf. */
char *endpoint_format(const struct sockaddr *sa, char buf[static ENDPOINT_STRLEN]);

/* Size of the sockaddr for sa's family; 0 for an unknown family. */
socklen_t endpoint_len(const struct sockaddr *sa);

/* Same family, address and port (and scope for IPv6). */
bool endpoint_equal(const struct sockaddr *a, const struct sockaddr *b);

uint16_t endpoint_port(const struct sockaddr *sa);

#endif
