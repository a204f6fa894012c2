// SPDX-License-Identifier: MIT
/*
 * wgpunchd — what the handler does for a registry shared with other
 * servers (--registry, store.h): the registrations it writes, the peers
 * it finds in the cache, the NOTIFYs it asks of or does for the server
 * holding a peer, and the counter floor of keys it holds nothing for.
 * Without --registry (srv->store NULL) each of these does nothing.
 */
#include <string.h>

#include "handler.h"

/* What another server is told about e (store_record.h). */
static void fill_record(const struct ctx *c, const struct reg_entry *e,
			struct store_record *rec)
{
	memcpy(rec->key, e->key, WGP_KEY_LEN);
	rec->origin = c->srv->store->id;
	rec->expires_ms = c->now_ns / 1000000 + (e->expires - c->now);
	rec->counter = e->counter;
	rec->flags = e->flags;
	rec->version = e->version;
	rec->ep = e->ep;
	memcpy(rec->cands, e->cands, sizeof(rec->cands));
}

/*
 * A peer registered with another server (its copy comes from the
 * cache, peer->origin set): only that server can reach it through its
 * NAT, so it is asked to send the NOTIFY, through Redis. It charges
 * the destination's budget; who's own is charged here.
 */
void share_notify(struct ctx *c, struct reg_entry *who,
		  const struct reg_entry *peer)
{
	struct store_msg *m;

	if (!small_bucket_take(&who->notifies, NOTIFY_PER_S, NOTIFY_BURST,
			       c->now)) {
		c->srv->st.notify_limited++;
		return;
	}
	m = store_reserve(c->srv->store, c->srv->store_w);
	if (!m)
		return;
	m->kind = STORE_MSG_NOTIFY;
	m->dest = peer->origin;
	memcpy(m->target, peer->key, WGP_KEY_LEN);
	fill_record(c, who, &m->rec);
	store_commit(c->srv->store, c->srv->store_w);
}

/*
 * --registry: tell the other servers about e (store.h). A REGISTER
 * goes out whole (FULL, with its consent list), a LOOKUP as a TOUCH;
 * either only when something changed, the lifetime has moved on by a
 * quarter TTL since the last write, or Redis was connected again since
 * (it may have come back empty). So a client refreshing every 25 s
 * costs Redis a write every 30 s or so, other servers' copies never run
 * out before ours, and what Redis lost is written again at the next
 * refresh after it is back.
 */
void share_write(struct ctx *c, struct reg_entry *e, bool changed,
		 const uint8_t (*consent)[WGP_CONSENT_LEN], unsigned int n)
{
	struct server *srv = c->srv;
	struct store_msg *m;
	uint32_t epoch;

	if (!srv->store)
		return;
	epoch = atomic_load_explicit(&srv->store->epoch, memory_order_relaxed);
	if (consent && e->shared_partial)
		changed = true;
	if (!changed && e->shared_epoch == epoch &&
	    e->expires < e->shared_until + ttl_ms(srv) / 4)
		return;
	m = store_reserve(srv->store, srv->store_w);
	if (!m)
		return;
	m->kind = consent ? STORE_MSG_FULL : STORE_MSG_TOUCH;
	fill_record(c, e, &m->rec);
	m->n_consent = (uint8_t)n;
	if (consent)
		memcpy(m->consent, consent, n * sizeof(*consent));
	store_commit(srv->store, srv->store_w);
	e->shared_until = e->expires;
	/* A TOUCH cannot bring back what a Redis that came back empty
	 * lost: the consent list waits for the next REGISTER. */
	if (consent)
		e->shared_partial = false;
	else if (e->shared_epoch != epoch)
		e->shared_partial = true;
	e->shared_epoch = epoch;
}

/*
 * The floor under the counters of the key of c's request: the server's
 * start (below), or, with --registry, the one another server last
 * accepted, if higher: a request captured on its way to one server is
 * no good at another sharing the key, whether or not this one holds the
 * key too.
 */
uint64_t share_counter_floor(const struct ctx *c)
{
	const struct server *srv = c->srv;
	struct reg_entry copy;
	uint64_t last = srv->start_ns;
	bool names;

	if (srv->store &&
	    registry_peek(&srv->store->cache, c->req->key, c->now, 0, &copy,
			  &names) && copy.counter > last)
		last = copy.counter;
	return last;
}

const struct reg_entry *share_find_peer(struct ctx *c,
					const struct reg_entry *e,
					const uint8_t *id, bool by_key,
					struct reg_entry *buf, bool *mutual)
{
	const struct server *srv = c->srv;
	bool names, found;

	if (!srv->store)
		return NULL;
	found = by_key ? registry_peek(&srv->store->cache, id, c->now,
				       e->self_fp, buf, &names) :
			 registry_peek_digest(&srv->store->cache, id, c->now,
					      e->self_fp, buf, &names);
	if (!found)
		return NULL;
	*mutual = names && registry_names(&srv->reg, e, buf->self_fp);
	return buf;
}

/*
 * A NOTIFY another server asked for (store.h): a peer there LOOKUPed or
 * REGISTERed naming m->target, held here. That server checked consent
 * with its copies; checked again here with the target's own list. The
 * asker's budget was charged there, the destination's is charged here.
 */
void server_store_notify(struct server *srv, const struct store_msg *m,
			 uint64_t now, uint64_t now_ns, struct outq *q)
{
	struct ctx c = { .srv = srv, .q = q, .now = now, .now_ns = now_ns };
	uint8_t digest[WGP_CONSENT_LEN];
	struct reg_entry *peer, who;

	peer = registry_find(&srv->reg, m->target, now);
	if (!peer)
		return;
	wgp_consent_digest(digest, m->rec.key);
	if (!registry_names(&srv->reg, peer, registry_fp(&srv->reg, digest)))
		return;
	if (!ratelimit_allow(&srv->notify_rl, &peer->ep, now)) {
		srv->st.notify_limited++;
		return;
	}
	memcpy(who.key, m->rec.key, WGP_KEY_LEN);
	who.flags = m->rec.flags;
	who.ep = m->rec.ep;
	memcpy(who.cands, m->rec.cands, sizeof(who.cands));
	handler_queue_notify(&c, &who, peer);
}
