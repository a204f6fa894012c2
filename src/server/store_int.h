/* SPDX-License-Identifier: MIT */
/*
 * wgpunchd — between the two halves of the Redis thread: store.c (its
 * life and its connections') and store_redis.c (what it says and
 * hears). Nothing else includes this.
 */
#ifndef WGPUNCHD_STORE_INT_H
#define WGPUNCHD_STORE_INT_H

#include <hiredis/hiredis.h>

#include "server.h"
#include "store.h"

/* What a reply on cmd answers, in the order the commands were sent. */
enum owed_kind {
	OWED_ACK,	/* HSET, PEXPIRE, PUBLISH, SELECT, PING: errors only */
	OWED_SCAN,	/* a page of keys: fetch each, ask for the next */
	OWED_FETCH,	/* HMGET rec consent of one key */
	OWED_LOADED,	/* PING after the last fetch: the cache is in step */
};

/* store_redis.c */
/* One command on c (cmd or sub); on cmd its reply is owed, of kind.
 * 0, or -ENOBUFS / -ENOMEM (not sent). */
int store_command(struct store *s, struct store_conn *c, enum owed_kind kind,
		  int argc, const char **argv, const size_t *len);
/* Whatever the workers queued: written, or dropped while Redis is
 * away. */
void store_drain_workers(struct store *s);
/* One reply on cmd: 0, or -EPROTO when the connection is to be let go. */
int store_take_cmd_reply(struct store *s, const redisReply *r);
/* One message on sub (an announcement, a NOTIFY, a reply to SUBSCRIBE
 * or PING): 0, or -EACCES when Redis refused the subscription (no
 * password, an ACL): the connection is to be let go. */
int store_take_message(struct store *s, const redisReply *r);

/* store.c */
/* Close both connections, say so (once), retry after the backoff. */
void store_go_down(struct store *s, const char *what, int err);
/* Redis confirmed the subscription: it serves us, not only accepts
 * connections. Say so, once; the backoff starts over. */
void store_answered(struct store *s);

#endif
