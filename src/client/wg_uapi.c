// SPDX-License-Identifier: MIT
/*
 * The userspace API back-end: /var/run/wireguard/<iface>.sock, spoken by
 * wireguard-go and boringtun. One connection per request; the whole
 * exchange has a timeout (and ends at wg_set_limits()' deadline, or when
 * its stop descriptor is readable), and a reply may be at most
 * UAPI_MAX_REPLY bytes, so a wedged, trickling or hostile implementation
 * cannot hang or bloat us.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sodium.h>
#include "endpoint.h"
#include "number.h"
#include "proto.h"
#include "wg_uapi.h"

#define UAPI_TIMEOUT_MS 5000
#define UAPI_MAX_REPLY (64U << 20)

/* Hex for keys is libsodium's: constant time, since the private key
 * passes through here. The whole of hex must be exactly one key. */
int uapi_key_from_hex(uint8_t key[static WG_KEY_LEN], const char *hex, size_t len)
{
	const char *end = NULL;
	size_t n = 0;

	if (len != 2 * WG_KEY_LEN ||
	    sodium_hex2bin(key, WG_KEY_LEN, hex, len, NULL, &n, &end) < 0 ||
	    n != WG_KEY_LEN || end != hex + len)
		return -EINVAL;
	return 0;
}

void uapi_key_to_hex(char hex[static 2 * WG_KEY_LEN + 1],
		     const uint8_t key[static WG_KEY_LEN])
{
	sodium_bin2hex(hex, 2 * WG_KEY_LEN + 1, key, WG_KEY_LEN);
}

/* A number in a reply: malformed is -EBADMSG, as any other bad line. */
static int parse_uint(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	int ret = number_parse(s, len, 0, max, out);

	return ret == -EINVAL ? -EBADMSG : ret;
}

void uapi_parser_init(struct uapi_parser *p, struct wg_device *dev)
{
	memset(p, 0, sizeof(*p));
	p->dev = dev;
}

static bool key_is(const char *key, size_t klen, const char *name)
{
	return klen == strlen(name) && !memcmp(key, name, klen);
}

/* The keys wireguard-go and boringtun send only inside a peer. */
static bool is_peer_key(const char *key, size_t klen)
{
	static const char *const peer_keys[] = {
		"endpoint", "allowed_ip", "preshared_key", "protocol_version",
		"last_handshake_time_sec", "last_handshake_time_nsec",
		"persistent_keepalive_interval", "tx_bytes", "rx_bytes",
	};

	for (size_t i = 0; i < sizeof(peer_keys) / sizeof(peer_keys[0]); i++) {
		if (key_is(key, klen, peer_keys[i]))
			return true;
	}
	return false;
}

static int parse_device_line(struct uapi_parser *p, const char *key,
			     size_t klen, const char *val, size_t vlen)
{
	struct wg_device *dev = p->dev;
	uint64_t v;
	int ret;

	if (key_is(key, klen, "private_key")) {
		ret = uapi_key_from_hex(dev->private_key, val, vlen);
		if (ret)
			return -EBADMSG;
		dev->has_private_key = !sodium_is_zero(dev->private_key, WG_KEY_LEN);
	} else if (key_is(key, klen, "listen_port")) {
		ret = parse_uint(val, vlen, UINT16_MAX, &v);
		if (ret)
			return ret;
		dev->listen_port = (uint16_t)v;
	} else if (key_is(key, klen, "fwmark")) {
		ret = parse_uint(val, vlen, UINT32_MAX, &v);
		if (ret)
			return ret;
		dev->fwmark = (uint32_t)v;
	}
	/* Anything else at device level (e.g. a future key) is skipped. */
	return 0;
}

static int parse_peer_line(struct uapi_parser *p, const char *key,
			   size_t klen, const char *val, size_t vlen)
{
	struct wg_peer *peer = &p->dev->peers[p->dev->num_peers - 1];
	uint64_t v;
	int ret;

	if (key_is(key, klen, "endpoint")) {
		if (endpoint_parse(val, vlen, 0, &peer->endpoint))
			return -EBADMSG;
	} else if (key_is(key, klen, "last_handshake_time_sec")) {
		ret = parse_uint(val, vlen, INT64_MAX, &v);
		if (ret)
			return ret;
		peer->last_handshake.tv_sec = (time_t)v;
	} else if (key_is(key, klen, "last_handshake_time_nsec")) {
		ret = parse_uint(val, vlen, 999999999, &v);
		if (ret)
			return ret;
		peer->last_handshake.tv_nsec = (long)v;
	} else if (key_is(key, klen, "persistent_keepalive_interval")) {
		ret = parse_uint(val, vlen, UINT16_MAX, &v);
		if (ret)
			return ret;
		peer->persistent_keepalive = (uint16_t)v;
	} else if (key_is(key, klen, "private_key") ||
		   key_is(key, klen, "listen_port") ||
		   key_is(key, klen, "fwmark")) {
		/* Device keys come before the first peer. */
		return -EBADMSG;
	}
	return 0;
}

static int parse_errno_line(struct uapi_parser *p, const char *val, size_t vlen)
{
	uint64_t v;
	int ret = parse_uint(val, vlen, 4095, &v);

	if (ret)
		return ret;
	p->remote_errno = (int)v;
	p->got_errno = true;
	return 0;
}

int uapi_parse_line(struct uapi_parser *p, const char *line, size_t len)
{
	const char *eq;
	size_t klen;

	if (p->done)
		return -EBADMSG;
	p->line++;
	if (len > UAPI_MAX_LINE)
		return -EMSGSIZE;
	if (len == 0) {
		if (!p->got_errno)
			return -EBADMSG;
		p->done = true;
		return 1;
	}
	if (p->got_errno || memchr(line, '\0', len))
		return -EBADMSG;
	eq = memchr(line, '=', len);
	if (!eq || eq == line)
		return -EBADMSG;
	klen = (size_t)(eq - line);

	if (key_is(line, klen, "errno"))
		return parse_errno_line(p, eq + 1, len - klen - 1);
	if (key_is(line, klen, "public_key")) {
		struct wg_peer *peer = wg_add_peer(p->dev);

		if (!peer)
			return -errno;
		p->in_peer = true;
		return uapi_key_from_hex(peer->public_key, eq + 1,
					 len - klen - 1) ? -EBADMSG : 0;
	}
	if (p->in_peer)
		return parse_peer_line(p, line, klen, eq + 1, len - klen - 1);
	if (is_peer_key(line, klen))
		return -EBADMSG;	/* a peer key with no peer */
	return parse_device_line(p, line, klen, eq + 1, len - klen - 1);
}

int uapi_parse_reply(struct wg_device *dev, const char *buf, size_t len)
{
	struct uapi_parser p;
	size_t off = 0;
	int ret = 0;

	memset(dev, 0, sizeof(*dev));
	uapi_parser_init(&p, dev);
	while (off < len && ret == 0) {
		const char *nl = memchr(buf + off, '\n', len - off);

		if (!nl)
			return -EBADMSG;	/* truncated line */
		ret = uapi_parse_line(&p, buf + off, (size_t)(nl - buf - off));
		off = (size_t)(nl - buf) + 1;
	}
	if (ret < 0)
		return ret;
	if (!p.done || off != len)
		return -EBADMSG;
	return p.remote_errno ? -p.remote_errno : 0;
}

int uapi_format_set_endpoint(char *buf, size_t size,
			     const uint8_t key[static WG_KEY_LEN],
			     const struct sockaddr *endpoint, uint16_t keepalive)
{
	char hex[2 * WG_KEY_LEN + 1], ep[ENDPOINT_STRLEN];
	int n;

	uapi_key_to_hex(hex, key);
	/* update_only: never create a peer the user removed meanwhile. */
	n = snprintf(buf, size,
		     "set=1\npublic_key=%s\nupdate_only=true\nendpoint=%s\n"
		     "persistent_keepalive_interval=%u\n\n",
		     hex, endpoint_format(endpoint, ep), keepalive);
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return n;
}

/* Socket I/O. */

static int uapi_path(const char *name, struct sockaddr_un *addr)
{
	int n;

	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	n = snprintf(addr->sun_path, sizeof(addr->sun_path), "%s/%s.sock",
		     WG_UAPI_DIR, name);
	if (n < 0 || (size_t)n >= sizeof(addr->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

bool wg_uapi_available(const char *name)
{
	struct sockaddr_un addr;
	struct stat st;

	if (!wg_ifname_valid(name) || uapi_path(name, &addr))
		return false;
	return stat(addr.sun_path, &st) == 0 && S_ISSOCK(st.st_mode);
}

int wg_uapi_access(const char *name)
{
	struct sockaddr_un addr;
	struct stat st;
	int ret;

	if (!wg_ifname_valid(name))
		return -EINVAL;
	ret = uapi_path(name, &addr);
	if (ret)
		return ret;
	if (stat(addr.sun_path, &st) == 0)
		return S_ISSOCK(st.st_mode) ? 0 : -ENODEV;
	return errno == EACCES || errno == EPERM ? -EACCES : -ENODEV;
}

/* Milliseconds from now until end, at least 1 (0 means "none" to
 * SO_SNDTIMEO and "at once" to poll()); 0 once end has passed. */
static unsigned int ms_until(uint64_t end)
{
	uint64_t now = wgp_mono_ms();

	if (now >= end)
		return 0;
	return end - now > UAPI_TIMEOUT_MS ? UAPI_TIMEOUT_MS : (unsigned int)(end - now);
}

static int uapi_connect(const char *name, uint64_t end)
{
	unsigned int ms = ms_until(end);
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	struct sockaddr_un addr;
	int fd, ret;

	if (!ms)
		return -ETIMEDOUT;
	ret = uapi_path(name, &addr);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* connect() blocks only while the listener's backlog is full. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		ret = -errno;
		close(fd);
		if (ret == -EAGAIN)
			return -ETIMEDOUT;
		return ret == -ENOENT ? -ENODEV : ret;
	}
	return fd;
}

/* Wait until fd is ready for events: 0, -ETIMEDOUT at end, or -EINTR
 * once the stop descriptor is readable. */
static int uapi_wait(int fd, short events, uint64_t end)
{
	struct pollfd pfd[2] = {
		{ .fd = fd, .events = events },
		{ .fd = wg_stop_fd(), .events = POLLIN },
	};

	for (;;) {
		unsigned int ms = ms_until(end);
		int n;

		if (!ms)
			return -ETIMEDOUT;
		n = poll(pfd, 2, (int)ms);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0 && pfd[1].revents)
			return -EINTR;
		if (n > 0 && pfd[0].revents)
			return 0;
	}
}

static int send_all(int fd, const char *buf, size_t len, uint64_t end)
{
	while (len) {
		int ret = uapi_wait(fd, POLLOUT, end);
		ssize_t n;

		if (ret)
			return ret;
		n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads lines into the parser until the reply is complete. */
static int read_reply(int fd, struct uapi_parser *p, uint64_t end)
{
	char chunk[4096], line[UAPI_MAX_LINE + 1];
	size_t line_len = 0, total = 0;
	int ret = 0;

	while (ret == 0) {
		ssize_t n;

		/* The whole reply by the end, not each piece: one line a
		 * second would otherwise last until UAPI_MAX_REPLY. */
		ret = uapi_wait(fd, POLLIN, end);
		if (ret)
			break;
		n = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0) {
			ret = -EBADMSG;		/* closed mid-reply */
			break;
		}
		total += (size_t)n;
		if (total > UAPI_MAX_REPLY) {
			ret = -E2BIG;
			break;
		}
		for (ssize_t i = 0; i < n && ret == 0; i++) {
			if (chunk[i] == '\n') {
				ret = uapi_parse_line(p, line, line_len);
				line_len = 0;
			} else if (line_len == UAPI_MAX_LINE) {
				ret = -EMSGSIZE;
			} else {
				line[line_len++] = chunk[i];
			}
		}
	}
	/* The private key went through these buffers. */
	sodium_memzero(chunk, sizeof(chunk));
	sodium_memzero(line, sizeof(line));
	if (ret < 0)
		return ret;
	return p->remote_errno ? -p->remote_errno : 0;
}

int wg_uapi_get_device(const char *name, struct wg_device *dev)
{
	uint64_t end = wg_exchange_end(UAPI_TIMEOUT_MS);
	struct uapi_parser p;
	int fd, ret;

	fd = uapi_connect(name, end);
	if (fd < 0)
		return fd;
	memset(dev, 0, sizeof(*dev));
	uapi_parser_init(&p, dev);
	ret = send_all(fd, "get=1\n\n", 7, end);
	if (!ret)
		ret = read_reply(fd, &p, end);
	close(fd);
	return wg_device_finish(dev, name, ret);
}

int wg_uapi_set_peer_endpoint(const char *name,
			      const uint8_t key[static WG_KEY_LEN],
			      const struct sockaddr *endpoint,
			      uint16_t keepalive)
{
	struct wg_device reply = { 0 };
	struct uapi_parser p;
	char req[512];
	uint64_t end;
	int fd, ret, len;

	len = uapi_format_set_endpoint(req, sizeof(req), key, endpoint, keepalive);
	if (len < 0)
		return len;
	end = wg_exchange_end(UAPI_TIMEOUT_MS);
	fd = uapi_connect(name, end);
	if (fd < 0)
		return fd;
	uapi_parser_init(&p, &reply);
	ret = send_all(fd, req, (size_t)len, end);
	if (!ret)
		ret = read_reply(fd, &p, end);
	close(fd);
	wg_free_device(&reply);
	return ret;
}
