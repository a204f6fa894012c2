// SPDX-License-Identifier: MIT
/*
 * wgpunchd — a non-blocking Redis connection (store_conn.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_conn.h"

void store_conn_init(struct store_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

int store_conn_open(struct store_conn *c, const struct sockaddr *sa,
		    socklen_t len)
{
	int one = 1;

	store_conn_close(c);
	c->reader = redisReaderCreate();
	if (!c->reader)
		return -ENOMEM;
	c->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
		       SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	/* Commands are small and pipelined: do not hold them back. */
	if (sa->sa_family != AF_UNIX)
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, sa, len) == 0) {
		c->connected = true;
		return 0;
	}
	return errno == EINPROGRESS ? 0 : -errno;
}

void store_conn_close(struct store_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->reader)
		redisReaderFree(c->reader);
	free(c->out);
	store_conn_init(c);
}

static int out_room(struct store_conn *c, size_t n)
{
	size_t cap;
	char *p;

	if (c->out_off) {	/* slide what is left to the front */
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_len + n > STORE_CONN_OUT_MAX)
		return -ENOBUFS;
	if (c->out_len + n <= c->out_cap)
		return 0;
	cap = c->out_cap ? c->out_cap : 4096;
	while (cap < c->out_len + n)
		cap *= 2;
	p = realloc(c->out, cap);
	if (!p)
		return -ENOMEM;
	c->out = p;
	c->out_cap = cap;
	return 0;
}

int store_conn_command(struct store_conn *c, int argc, const char **argv,
		       const size_t *argvlen)
{
	char *cmd;
	int n, ret;

	if (c->fd < 0)
		return -ENOTCONN;
	n = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
	if (n < 0)
		return -ENOMEM;
	ret = out_room(c, (size_t)n);
	if (ret == 0) {
		memcpy(c->out + c->out_len, cmd, (size_t)n);
		c->out_len += (size_t)n;
	}
	redisFreeCommand(cmd);
	return ret;
}

size_t store_conn_mark(const struct store_conn *c)
{
	return c->out_len;
}

void store_conn_rewind(struct store_conn *c, size_t mark)
{
	if (mark >= c->out_off && mark <= c->out_len)
		c->out_len = mark;
}

short store_conn_events(const struct store_conn *c)
{
	if (c->fd < 0)
		return 0;
	if (!c->connected || c->out_off < c->out_len)
		return POLLIN | POLLOUT;
	return POLLIN;
}

static int finish_connect(struct store_conn *c)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	if (err)
		return -err;
	c->connected = true;
	return 0;
}

static int flush_out(struct store_conn *c)
{
	ssize_t n;

	while (c->out_off < c->out_len) {
		n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	return 0;
}

static size_t unparsed(const struct store_conn *c)
{
	return c->reader->len - c->reader->pos;
}

static int fill_in(struct store_conn *c)
{
	char buf[16384];
	ssize_t n;

	for (;;) {
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		if (redisReaderFeed(c->reader, buf, (size_t)n) != REDIS_OK)
			return -ENOMEM;
		/* Enough for now: what is complete gets parsed, and poll()
		 * brings us back for the rest. */
		if ((size_t)n < sizeof(buf) || unparsed(c) > STORE_CONN_IN_MAX)
			return 0;
	}
}

int store_conn_io(struct store_conn *c, short revents)
{
	int ret;

	if (c->fd < 0)
		return -ENOTCONN;
	if (!c->connected) {
		if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
			return 0;
		ret = finish_connect(c);
		if (ret < 0)
			return ret;
	}
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		ret = fill_in(c);
		if (ret < 0)
			return ret;
	}
	return flush_out(c);
}

int store_conn_reply(struct store_conn *c, redisReply **reply)
{
	void *r = NULL;

	if (!c->reader)
		return 0;
	if (redisReaderGetReply(c->reader, &r) != REDIS_OK)
		return -EPROTO;
	/* Nothing complete in more than the most a reply may take. */
	if (!r && unparsed(c) > STORE_CONN_IN_MAX)
		return -EPROTO;
	*reply = r;
	return r ? 1 : 0;
}
