// SPDX-License-Identifier: MIT
/*
 * A strict line parser. Every rejection names the line; nothing is
 * guessed: no inline comments, no quoting, no keys given twice.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sodium.h>
#include "config.h"
#include "number.h"

static int parse_number(const char *s, unsigned long min, unsigned long max,
			unsigned long *out)
{
	uint64_t v;

	if (number_parse(s, strlen(s), min, max, &v) < 0)
		return -EINVAL;
	*out = (unsigned long)v;
	return 0;
}

static bool host_char(char c, bool numeric_v6)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_')
		return true;
	return numeric_v6 && (c == ':' || c == '%');
}

static int check_host(const char *host, size_t len, bool v6)
{
	if (len == 0 || len >= CONFIG_HOST_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (!host_char(host[i], v6))
			return -EINVAL;
	}
	return 0;
}

int config_split_server(const char *spec, char host[static CONFIG_HOST_MAX],
			uint16_t *port)
{
	const char *end = spec + strlen(spec), *hs = spec, *he, *colon;
	unsigned long p;
	bool v6 = false;

	*port = 0;
	if (*spec == '[') {
		he = strchr(spec, ']');
		if (!he)
			return -EINVAL;
		hs = spec + 1;
		v6 = true;
		colon = he[1] ? he + 1 : NULL;
		if (colon && *colon != ':')
			return -EINVAL;
	} else {
		colon = strchr(spec, ':');
		if (colon && strchr(colon + 1, ':')) {
			v6 = true;		/* a bare IPv6 address */
			colon = NULL;
		}
		he = colon ? colon : end;
	}
	if (colon) {
		if (parse_number(colon + 1, 1, 65535, &p))
			return -EINVAL;
		*port = (uint16_t)p;
	}
	if (check_host(hs, (size_t)(he - hs), v6))
		return -EINVAL;
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	return 0;
}

static int why_set(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int why_set(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* "pcp,natpmp,upnp" (any subset, any order), "all" or "none". */
static int parse_portmap(const char *value, unsigned int *mask)
{
	static const struct {
		const char *name;
		unsigned int bits;
	} names[] = {
		{ "pcp", CONFIG_PM_PCP }, { "natpmp", CONFIG_PM_NATPMP },
		{ "upnp", CONFIG_PM_UPNP }, { "all", CONFIG_PM_ALL },
		{ "none", 0 },
	};
	const char *s = value;

	*mask = 0;
	for (;;) {
		size_t len = strcspn(s, ","), i;

		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			if (strlen(names[i].name) == len &&
			    !strncmp(s, names[i].name, len))
				break;
		}
		if (i == sizeof(names) / sizeof(names[0]))
			return -EINVAL;
		/* "none" means none: it mixes with nothing. */
		if (!names[i].bits && (s != value || s[len]))
			return -EINVAL;
		*mask |= names[i].bits;
		if (!s[len])
			return 0;
		s += len + 1;
	}
}

/* One more entry for a list key: -EINVAL with why when it is full. */
static int list_room(unsigned int n, const char *key, char *why, size_t whylen)
{
	if (n < CONFIG_MAX_SERVERS)
		return 0;
	return why_set(why, whylen, "%s given more than %u times (at most %u "
		       "servers)", key, CONFIG_MAX_SERVERS, CONFIG_MAX_SERVERS);
}

int config_set(struct config *cfg, const char *key, const char *value,
	       char *why, size_t whylen)
{
	unsigned long v;

	if (!strcmp(key, "server")) {
		struct config_server *srv = &cfg->servers[cfg->n_servers];

		if (list_room(cfg->n_servers, key, why, whylen))
			return -EINVAL;
		if (config_split_server(value, srv->host, &srv->port))
			return why_set(why, whylen,
				       "server must be HOST, HOST:PORT or [IPV6]:PORT");
		cfg->n_servers++;
		cfg->set |= CONFIG_SERVER;
	} else if (!strcmp(key, "server-key")) {
		if (list_room(cfg->n_server_keys, key, why, whylen))
			return -EINVAL;
		if (wgp_key_from_base64(cfg->server_keys[cfg->n_server_keys], value))
			return why_set(why, whylen,
				       "server-key must be a base64 WireGuard key (44 characters)");
		cfg->n_server_keys++;
		cfg->set |= CONFIG_SERVER_KEY;
	} else if (!strcmp(key, "server-key-file")) {
		if (list_room(cfg->n_server_key_files, key, why, whylen))
			return -EINVAL;
		/* Only the name: reading it is a runtime matter (the file
		 * may be missing), not a syntax error of this line. */
		if (!*value || strlen(value) >= CONFIG_PATH_MAX)
			return why_set(why, whylen,
				       "server-key-file must be a file name of 1 to %u bytes",
				       CONFIG_PATH_MAX - 1);
		strcpy(cfg->server_key_files[cfg->n_server_key_files++], value);
		cfg->set |= CONFIG_SERVER_KEY_FILE;
	} else if (!strcmp(key, "probe-port")) {
		if (list_room(cfg->n_probe_ports, key, why, whylen))
			return -EINVAL;
		if (parse_number(value, 1, 65535, &v))
			return why_set(why, whylen, "probe-port must be a port from 1 to 65535");
		cfg->probe_ports[cfg->n_probe_ports++] = (uint16_t)v;
		cfg->set |= CONFIG_PROBE_PORT;
	} else if (!strcmp(key, "timeout")) {
		if (parse_number(value, 1, CONFIG_MAX_TIMEOUT, &v))
			return why_set(why, whylen,
				       "timeout must be whole seconds from 1 to %u",
				       CONFIG_MAX_TIMEOUT);
		cfg->timeout = (unsigned int)v;
		cfg->set |= CONFIG_TIMEOUT;
	} else if (!strcmp(key, "keepalive")) {
		/* 0 would let the NAT forget the punched mapping. */
		if (parse_number(value, 1, 65535, &v))
			return why_set(why, whylen,
				       "keepalive must be seconds from 1 to 65535");
		cfg->keepalive = (uint16_t)v;
		cfg->set |= CONFIG_KEEPALIVE;
	} else if (!strcmp(key, "portmap")) {
		if (parse_portmap(value, &cfg->portmap))
			return why_set(why, whylen, "portmap must be a comma-separated "
				       "list of pcp, natpmp and upnp, or all, or none");
		cfg->set |= CONFIG_PORTMAP;
	} else if (!strcmp(key, "log-level")) {
		if (log_level_parse(value, &cfg->log_level))
			return why_set(why, whylen,
				       "log-level must be error, warning, info or debug");
		cfg->set |= CONFIG_LOG_LEVEL;
	} else {
		return -ENOENT;
	}
	return 0;
}

static int pairing(unsigned int n, unsigned int servers, const char *what,
		   char *why, size_t whylen)
{
	if (n <= 1 || n == servers)
		return 0;
	return why_set(why, whylen, "%u server%s but %u %ss: give one %s for "
		       "every server, or one per server in the same order",
		       servers, servers == 1 ? "" : "s", n, what, what);
}

int config_check_servers(const struct config *cfg, char *why, size_t whylen)
{
	unsigned int keys = cfg->n_server_keys + cfg->n_server_key_files;

	if (pairing(keys, cfg->n_servers, "server key", why, whylen) ||
	    pairing(cfg->n_probe_ports, cfg->n_servers, "probe port", why, whylen))
		return -EINVAL;
	return 0;
}

static int line_error(struct config_error *err, unsigned int line,
		      const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int line_error(struct config_error *err, unsigned int line,
		      const char *fmt, ...)
{
	va_list ap;

	err->line = line;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Keys that may be given once per server. */
#define CONFIG_LIST_FIELDS	(CONFIG_SERVER | CONFIG_SERVER_KEY | \
				 CONFIG_SERVER_KEY_FILE | CONFIG_PROBE_PORT)

/* Which key, for duplicate detection; 0 for none. */
static unsigned int key_field(const char *key)
{
	static const struct {
		const char *name;
		unsigned int field;
	} keys[] = {
		{ "server", CONFIG_SERVER }, { "server-key", CONFIG_SERVER_KEY },
		{ "probe-port", CONFIG_PROBE_PORT }, { "timeout", CONFIG_TIMEOUT },
		{ "keepalive", CONFIG_KEEPALIVE }, { "log-level", CONFIG_LOG_LEVEL },
		{ "server-key-file", CONFIG_SERVER_KEY_FILE },
		{ "portmap", CONFIG_PORTMAP },
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (!strcmp(key, keys[i].name))
			return keys[i].field;
	}
	return 0;
}

struct line_state {
	unsigned int seen;		/* fields given in this text */
	unsigned int first_line[16];	/* where each was given */
};

static int field_index(unsigned int field)
{
	return __builtin_ctz(field);
}

/* One line: s[0..len), no '\n', no NUL, no control characters. */
static int parse_line(struct config *cfg, struct line_state *st, char *s,
		      size_t len, unsigned int lineno, struct config_error *err)
{
	char *key, *value, *eq, *end = s + len, why[160];
	unsigned int field;
	int ret;

	while (s < end && blank(*s))
		s++;
	while (end > s && blank(end[-1]))
		end--;
	*end = '\0';
	if (s == end || *s == '#')
		return 0;
	eq = strchr(s, '=');
	if (!eq)
		return line_error(err, lineno, "expected \"key = value\"");
	key = s;
	value = eq + 1;
	for (*eq = '\0'; eq > key && blank(eq[-1]); eq--)
		eq[-1] = '\0';
	while (blank(*value))
		value++;
	if (!*key)
		return line_error(err, lineno, "missing key before '='");
	field = key_field(key);
	if (!field)
		return line_error(err, lineno, "unknown key \"%.40s\"", key);
	if ((st->seen & field) && !(field & CONFIG_LIST_FIELDS))
		return line_error(err, lineno, "\"%s\" given twice (first on line %u)",
				  key, st->first_line[field_index(field)]);
	if (!*value)
		return line_error(err, lineno, "missing value for \"%s\"", key);
	if ((field & (CONFIG_SERVER_KEY | CONFIG_SERVER_KEY_FILE)) &&
	    (st->seen & (CONFIG_SERVER_KEY | CONFIG_SERVER_KEY_FILE) & ~field))
		return line_error(err, lineno, "both \"server-key\" and "
				  "\"server-key-file\" given (first on line %u): "
				  "use one",
				  st->first_line[field_index(st->seen & (CONFIG_SERVER_KEY |
						     CONFIG_SERVER_KEY_FILE))]);
	ret = config_set(cfg, key, value, why, sizeof(why));
	if (ret)
		return line_error(err, lineno, "%s", why);
	if (!(st->seen & field))
		st->first_line[field_index(field)] = lineno;
	st->seen |= field;
	return 0;
}

int config_parse(struct config *cfg, const char *text, size_t len,
		 struct config_error *err)
{
	struct line_state st = { 0 };
	char line[CONFIG_MAX_LINE + 1];
	unsigned int lineno = 0;
	size_t off = 0;
	int ret = 0;

	memset(err, 0, sizeof(*err));
	if (len > CONFIG_MAX_SIZE)
		return line_error(err, 0, "larger than %u bytes", CONFIG_MAX_SIZE);
	/* Editors on Windows start files with a byte order mark. */
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		off = 3;
	while (off < len && !ret) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t next = nl ? (size_t)(nl - text) + 1 : len;
		size_t llen = next - off - (nl ? 1 : 0);

		/* A CRLF line end is a line end, not a stray character. */
		if (llen && text[off + llen - 1] == '\r')
			llen--;
		lineno++;
		if (llen > CONFIG_MAX_LINE) {
			ret = line_error(err, lineno, "line longer than %u bytes",
					 CONFIG_MAX_LINE);
			break;
		}
		for (size_t i = 0; i < llen; i++) {
			unsigned char c = (unsigned char)text[off + i];

			if ((c < ' ' && c != '\t') || c == 0x7f) {
				ret = line_error(err, lineno,
						 "control character 0x%02x at column %zu",
						 c, i + 1);
				break;
			}
		}
		if (ret)
			break;
		memcpy(line, text + off, llen);
		line[llen] = '\0';
		ret = parse_line(cfg, &st, line, llen, lineno, err);
		off = next;
	}
	sodium_memzero(line, sizeof(line));
	if (!ret && config_check_servers(cfg, err->msg, sizeof(err->msg)))
		ret = -EINVAL;
	return ret;
}

int config_load(struct config *cfg, const char *path, struct config_error *err)
{
	static char buf[CONFIG_MAX_SIZE + 1];
	size_t len = 0;
	ssize_t n;
	int fd, ret;

	memset(err, 0, sizeof(*err));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		ret = -errno;
		snprintf(err->msg, sizeof(err->msg), "cannot open: %s", strerror(-ret));
		return ret;
	}
	do {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n > 0)
			len += (size_t)n;
	} while ((n > 0 && len < sizeof(buf)) || (n < 0 && errno == EINTR));
	ret = n < 0 ? -errno : 0;
	close(fd);
	if (ret) {
		snprintf(err->msg, sizeof(err->msg), "cannot read: %s", strerror(-ret));
		return ret;
	}
	return config_parse(cfg, buf, len, err);
}

const char *config_default_path(const char *ifname, char *buf, size_t len)
{
	const char *dir = getenv(CONFIG_DIR_ENV);
	int n;

	if (!dir || !dir[0])
		dir = CONFIG_DIR;
	/* The name becomes a file name: never a path of its own. */
	if (!ifname[0] || strchr(ifname, '/') || !strcmp(ifname, "..") ||
	    !strcmp(ifname, "."))
		return NULL;
	n = snprintf(buf, len, "%s/%s.conf", dir, ifname);
	return n < 0 || (size_t)n >= len ? NULL : buf;
}
