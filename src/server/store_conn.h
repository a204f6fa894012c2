/* SPDX-License-Identifier: MIT */
/*
 * wgpunchd — one connection to Redis that never blocks.
 *
 * hiredis does the Redis protocol (commands formatted by
 * redisFormatCommandArgv, replies parsed by its redisReader); the
 * socket is ours: a non-blocking connect to an address resolved at
 * start-up, writes of what is queued when the socket takes it, reads
 * when it has something. So the Redis thread sleeps in one poll() over
 * everything, nothing ever waits on Redis, and no name is looked up
 * under the sandbox.
 */
#ifndef WGPUNCHD_STORE_CONN_H
#define WGPUNCHD_STORE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <hiredis/hiredis.h>

/* Queued output beyond which commands are refused (Redis not reading). */
#define STORE_CONN_OUT_MAX	(8u << 20)
/* Bytes received and not yet parsed into a reply. No reply of ours
 * comes near (a SCAN page is some KiB, a record 1 KiB): more is a
 * Redis that is not one, or a PUBLISH of junk to our channel, which
 * must not make every server buffer up to Redis' 512 MB. */
#define STORE_CONN_IN_MAX	(1u << 20)

struct store_conn {
	int fd;				/* -1: closed */
	bool connected;			/* the connect completed */
	redisReader *reader;
	char *out;			/* formatted, not yet written */
	size_t out_len, out_off, out_cap;
};

void store_conn_init(struct store_conn *c);

/* Start connecting to sa. 0 (in progress or done) or -errno. */
int store_conn_open(struct store_conn *c, const struct sockaddr *sa,
		    socklen_t len);
void store_conn_close(struct store_conn *c);

/* Queue one command. 0, -ENOBUFS (too much queued) or -ENOMEM. */
int store_conn_command(struct store_conn *c, int argc, const char **argv,
		       const size_t *argvlen);

/* Where the queued output ends; back to such a mark: what was queued
 * since is dropped unsent (only store_conn_io() writes, so a mark taken
 * since the last call to it is always still unsent). For commands that
 * must go together or not at all. */
size_t store_conn_mark(const struct store_conn *c);
void store_conn_rewind(struct store_conn *c, size_t mark);

/* Poll events to wait for: POLLIN, and POLLOUT while connecting or
 * while output is queued. */
short store_conn_events(const struct store_conn *c);

/*
 * The socket is ready (revents from poll): finish the connect, write
 * what is queued, read what arrived into the parser. 0, or -errno
 * when the connection is lost (-ECONNRESET: Redis closed it).
 */
int store_conn_io(struct store_conn *c, short revents);

/* The next complete reply (free it with freeReplyObject): 1, 0 when
 * none is complete yet, -EPROTO when the stream is not Redis'. */
int store_conn_reply(struct store_conn *c, redisReply **reply);

#endif
