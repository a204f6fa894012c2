// SPDX-License-Identifier: MIT
/*
 * wgpunchd — parse and resolve --registry URL (store_url.h).
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "number.h"
#include "store_url.h"

#define REDIS_SCHEME	"redis://"
#define UNIX_SCHEME	"unix://"

static int fail(const char **why, const char *what)
{
	*why = what;
	return -EINVAL;
}

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

/* HOST or [IPV6] at s, up to its end; *end past it. */
static int parse_host(struct store_url *u, const char *s, const char **end,
		      const char **why)
{
	const char *e;
	size_t n;

	if (*s == '[') {
		e = strchr(s, ']');
		if (!e)
			return fail(why, "no ']' after an IPv6 address");
		s++;
		n = (size_t)(e - s);
		*end = e + 1;
		if (strspn(s, "0123456789abcdefABCDEF:.") < n)
			return fail(why, "not an IPv6 address in [...]");
	} else {
		for (e = s; host_char(*e); e++)
			;
		n = (size_t)(e - s);
		*end = e;
	}
	if (!n)
		return fail(why, "no host");
	if (n >= sizeof(u->host))
		return fail(why, "host name too long");
	memcpy(u->host, s, n);
	u->host[n] = '\0';
	return 0;
}

static int parse_number(const char *s, size_t n, uint64_t min, uint64_t max,
			uint64_t *v, const char **why, const char *what)
{
	if (number_parse(s, n, min, max, v) < 0)
		return fail(why, what);
	return 0;
}

static int parse_redis(struct store_url *u, const char *s, const char **why)
{
	const char *slash;
	uint64_t v;
	int ret;

	ret = parse_host(u, s, &s, why);
	if (ret < 0)
		return ret;
	u->port = STORE_DEFAULT_PORT;
	if (*s == ':') {
		slash = strchr(++s, '/');
		if (!slash)
			slash = s + strlen(s);
		ret = parse_number(s, (size_t)(slash - s), 1, 65535, &v, why,
				   "the port must be a number 1..65535");
		if (ret < 0)
			return ret;
		u->port = (uint16_t)v;
		s = slash;
	}
	if (!*s)
		return 0;
	if (*s != '/')
		return fail(why, "expected ':PORT' or '/DB' after the host");
	s++;
	if (!*s)
		return 0;
	ret = parse_number(s, strlen(s), 0, STORE_DB_MAX, &v, why,
			   "the database must be a number 0..1000000");
	u->db = (unsigned int)v;
	return ret;
}

static int parse_unix(struct store_url *u, const char *s, const char **why)
{
	const char *q = strchr(s, '?');
	size_t n = q ? (size_t)(q - s) : strlen(s);
	uint64_t v;
	int ret;

	u->is_unix = true;
	if (*s != '/')
		return fail(why, "a unix:// URL needs an absolute path "
			    "(unix:///run/redis.sock)");
	if (n >= sizeof(u->path))
		return fail(why, "socket path too long");
	memcpy(u->path, s, n);
	u->path[n] = '\0';
	if (!q)
		return 0;
	if (strncmp(q, "?db=", 4))
		return fail(why, "the only parameter is ?db=N");
	ret = parse_number(q + 4, strlen(q + 4), 0, STORE_DB_MAX, &v, why,
			   "the database must be a number 0..1000000");
	u->db = (unsigned int)v;
	return ret;
}

int store_url_parse(struct store_url *u, const char *text, const char **why)
{
	memset(u, 0, sizeof(*u));
	*why = NULL;
	if (!strncmp(text, REDIS_SCHEME, strlen(REDIS_SCHEME)))
		return parse_redis(u, text + strlen(REDIS_SCHEME), why);
	if (!strncmp(text, UNIX_SCHEME, strlen(UNIX_SCHEME)))
		return parse_unix(u, text + strlen(UNIX_SCHEME), why);
	return fail(why, "expected redis://HOST[:PORT][/DB] or "
		    "unix:///PATH[?db=N]");
}

int store_url_resolve(const struct store_url *u, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	struct addrinfo hints = {
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV,
	};
	struct addrinfo *res;
	char port[8];
	int ret;

	memset(ss, 0, sizeof(*ss));
	if (u->is_unix) {
		struct sockaddr_un *sun = (struct sockaddr_un *)ss;

		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, u->path, strlen(u->path) + 1);
		*len = (socklen_t)sizeof(*sun);
		return 0;
	}
	snprintf(port, sizeof(port), "%u", u->port);
	ret = getaddrinfo(u->host, port, &hints, &res);
	if (ret)
		return ret == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}
