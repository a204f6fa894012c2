/* SPDX-License-Identifier: MIT */
/*
 * wgpunchd — what handler.c (one datagram) and share.c (--registry)
 * have in common; not used elsewhere.
 */
#ifndef WGPUNCHD_HANDLER_H
#define WGPUNCHD_HANDLER_H

#include <stdbool.h>
#include <stdint.h>

#include "server.h"
#include "store.h"

/* One request being handled: who sent what, and where replies go. */
struct ctx {
	struct server *srv;
	const struct rx_info *rx;
	const struct wgp_msg *req;
	const struct wgp_session *sess;
	struct outq *q;
	uint64_t now, now_ns;
};

static inline uint64_t ttl_ms(const struct server *srv)
{
	return (uint64_t)srv->cfg.ttl * 1000;
}

/* handler.c: the NOTIFY telling peer (registered here) about who,
 * budgets already charged. */
void handler_queue_notify(struct ctx *c, const struct reg_entry *who,
			  const struct reg_entry *peer);

/* share.c */
/* Write e to Redis if it changed, its lifetime moved on enough, or
 * Redis was reconnected since: whole (consent given: a REGISTER's
 * list) or as a refresh (consent NULL). */
void share_write(struct ctx *c, struct reg_entry *e, bool changed,
		 const uint8_t (*consent)[WGP_CONSENT_LEN], unsigned int n);
/* Ask the server holding peer (a cache entry) to NOTIFY it of who. */
void share_notify(struct ctx *c, struct reg_entry *who,
		  const struct reg_entry *peer);
/* The counter the requesting key must beat, whatever this worker holds:
 * the server's start, or the last one another server accepted. */
uint64_t share_counter_floor(const struct ctx *c);
/* Another server's peer by key (by_key) or consent digest (id is
 * either: with a NULL for the one not used, an optimiser that inlines
 * the call may warn of a NULL reaching a [static] parameter), copied
 * from the cache into buf; *mutual: it and e name each other. NULL:
 * not there. */
const struct reg_entry *share_find_peer(struct ctx *c,
					const struct reg_entry *e,
					const uint8_t *id, bool by_key,
					struct reg_entry *buf, bool *mutual);

#endif
