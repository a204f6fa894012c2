// SPDX-License-Identifier: MIT
/*
 * Numeric endpoints only: nothing here resolves a name, so parsing text
 * that came from a WireGuard implementation can never cause a DNS query.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "endpoint.h"
#include "number.h"

static int parse_port(const char *s, size_t len, uint16_t *port)
{
	uint64_t v;

	if (number_parse(s, len, 1, 65535, &v) < 0)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

static int parse_scope(const char *s, uint32_t *scope)
{
	uint64_t v;

	if (*s == '\0')
		return -EINVAL;
	if (*s >= '0' && *s <= '9') {
		if (number_parse(s, strlen(s), 0, UINT32_MAX, &v) < 0)
			return -EINVAL;
		*scope = (uint32_t)v;
		return 0;
	}
	if (strlen(s) >= IFNAMSIZ)
		return -EINVAL;
	*scope = if_nametoindex(s);
	return *scope ? 0 : -EINVAL;
}

static int parse_v6(const char *host, uint16_t port,
		    struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char addr[INET6_ADDRSTRLEN];
	const char *pct = strchr(host, '%');
	size_t alen = pct ? (size_t)(pct - host) : strlen(host);
	uint32_t scope = 0;

	if (alen == 0 || alen >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, host, alen);
	addr[alen] = '\0';
	if (pct && parse_scope(pct + 1, &scope))
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) != 1)
		return -EINVAL;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	sin6->sin6_scope_id = scope;
	return 0;
}

static int parse_v4(const char *host, uint16_t port,
		    struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	/* inet_pton, unlike inet_aton, takes only the dotted quad. */
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return -EINVAL;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	return 0;
}

int endpoint_parse(const char *s, size_t len, uint16_t default_port,
		   struct sockaddr_storage *ss)
{
	char host[ENDPOINT_STRLEN];
	const char *colon, *host_start = s, *host_end;
	uint16_t port = default_port;
	bool v6 = false;

	if (len == 0 || len >= ENDPOINT_STRLEN || memchr(s, '\0', len))
		return -EINVAL;
	if (s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (!close)
			return -EINVAL;
		v6 = true;
		host_start = s + 1;
		host_end = close;
		if (close + 1 != s + len) {
			if (close[1] != ':' ||
			    parse_port(close + 2, (size_t)(s + len - close - 2), &port))
				return -EINVAL;
		}
	} else {
		colon = memchr(s, ':', len);
		if (colon && memchr(colon + 1, ':', (size_t)(s + len - colon - 1))) {
			/* Two colons: a bare IPv6 address, no port. */
			v6 = true;
			host_end = s + len;
		} else if (colon) {
			host_end = colon;
			if (parse_port(colon + 1, (size_t)(s + len - colon - 1), &port))
				return -EINVAL;
		} else {
			host_end = s + len;
		}
	}
	if (port == 0)
		return -EINVAL;
	memcpy(host, host_start, (size_t)(host_end - host_start));
	host[host_end - host_start] = '\0';
	return v6 ? parse_v6(host, port, ss) : parse_v4(host, port, ss);
}

char *endpoint_format(const struct sockaddr *sa, char buf[static ENDPOINT_STRLEN])
{
	char addr[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
		snprintf(buf, ENDPOINT_STRLEN, "%s:%u", addr, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof(addr));
		if (sin6->sin6_scope_id)
			snprintf(buf, ENDPOINT_STRLEN, "[%s%%%u]:%u", addr,
				 sin6->sin6_scope_id, ntohs(sin6->sin6_port));
		else
			snprintf(buf, ENDPOINT_STRLEN, "[%s]:%u", addr,
				 ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, ENDPOINT_STRLEN, "(none)");
	}
	return buf;
}

socklen_t endpoint_len(const struct sockaddr *sa)
{
	switch (sa->sa_family) {
	case AF_INET:
		return sizeof(struct sockaddr_in);
	case AF_INET6:
		return sizeof(struct sockaddr_in6);
	default:
		return 0;
	}
}

bool endpoint_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a;
		const struct sockaddr_in *y = (const struct sockaddr_in *)b;

		return x->sin_port == y->sin_port &&
		       x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;

		return x->sin6_port == y->sin6_port &&
		       x->sin6_scope_id == y->sin6_scope_id &&
		       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
	}
	return a->sa_family == AF_UNSPEC;
}

uint16_t endpoint_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}
