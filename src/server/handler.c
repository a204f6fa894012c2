// SPDX-License-Identifier: MIT
/*
 * wgpunchd — what the server does with one datagram.
 *
 * Order of work, cheapest first, so garbage and floods cost little, and
 * an address anyone can spoof never decides whether a registered key is
 * served:
 *   1. clear header: magic, version, type, exact length  (drop silently)
 *   2. a key with a cached session (registered):
 *        a. only if the source has failed several opens lately: its
 *           token bucket                                  (drop silently)
 *        b. AEAD open; a failure is counted against the source
 *        c. a fresh counter: the key's own bucket; a PROBE or a stale
 *           counter (anyone's replay): the source's bucket (drop silently)
 *   3. any other key: under load (such keys' requests arriving faster
 *      than half the X25519 budget, or the budget below half), a
 *      valid cookie for the exact source, else the source's bucket and
 *      a COOKIE (one keyed hash, no X25519); then the source's bucket,
 *      one X25519 within the global budget, and the AEAD open
 *                                                          (drop silently)
 *   4. counter / window checks, then the request itself
 * No reply is ever longer than the request it answers, and only step 4
 * produces any, but for the COOKIE of step 3: 36 bytes, shorter than
 * any request, and only to sources within their bucket.
 *
 * Versions 1 and 2 share all of this. Replies go out in the request's
 * version, NOTIFYs in the version the recipient last used; version 2
 * adds the peer's host candidates wherever its endpoint is given.
 */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "handler.h"
#include "log.h"

/* Seal m into the queue, to dst from src on port. Replies are checked
 * against the request length: the no-amplification invariant. */
static void queue_sealed(struct ctx *c, const struct wgp_msg *m,
			 const struct wgp_session *sess,
			 const struct wgp_endpoint *dst,
			 const struct wgp_endpoint *src, enum server_port port,
			 size_t max_len)
{
	struct out_msg *o = outq_reserve(c->q);
	ssize_t len = wgp_seal(o->buf, sizeof(o->buf), m, sess);

	if (len < 0 || (size_t)len > max_len) {
		c->q->n--;	/* cannot happen with valid structs */
		log_error("refusing to send %s of %zd bytes (limit %zu)",
			  wgp_type_name(m->type), len, max_len);
		return;
	}
	o->len = (size_t)len;
	o->dst = *dst;
	o->src = *src;
	o->port = port;
}

static void reply(struct ctx *c, struct wgp_msg *m)
{
	m->version = c->req->version;
	memcpy(m->txid, c->req->txid, WGP_TXID_LEN);
	queue_sealed(c, m, c->sess, &c->rx->src, &c->rx->local, c->rx->port,
		     c->rx->len);
}

/*
 * Replies and NOTIFYs set the one union member they use with a compound
 * literal instead of zero-initialising the whole struct wgp_msg: that
 * is 6.5 KiB (a full v2-sized REGISTER_REPLY) of memset per datagram
 * otherwise.
 */
static void reply_error(struct ctx *c, uint8_t code, uint64_t last)
{
	struct wgp_msg m;

	m.type = WGP_ERROR;
	m.u.error = (struct wgp_error){
		.code = code,
		.server_time = c->now_ns,
		.last_counter = last,
	};
	c->srv->st.errors++;
	log_debug("%s from %s: error: %s", wgp_type_name(c->req->type),
		  wgp_endpoint_format(&c->rx->src, (char[WGP_ENDPOINT_STRLEN]){0}),
		  wgp_error_name(code));
	reply(c, &m);
}

/* A registrant's flags as a client of that version may see them: a v1
 * client knows only SYMMETRIC. */
static uint8_t flags_for(uint8_t version, uint8_t flags)
{
	return flags & wgp_flags_mask(version ? version : WGP_VERSION);
}

/* The record about peer for a client speaking version: endpoint, flags
 * and (v2) candidates. Only ever called under mutual consent, like
 * every place that hands out an endpoint. */
static void fill_peer_rec(struct wgp_peer_rec *rec, uint8_t index,
			  const struct reg_entry *peer, uint8_t version)
{
	rec->index = index;
	rec->flags = flags_for(version, peer->flags);
	rec->ep = peer->ep;
	memcpy(rec->cands, peer->cands, sizeof(rec->cands));
}

/*
 * Two budgets pay for every NOTIFY (and unsolicited grant). The
 * registrant's own, so one registration cannot make the server spray
 * its peers. And the destination address's NOTIFY bucket: a
 * registration proves the key, not the address, so Sybil keys
 * registered from a spoofed source put a victim's address in the
 * registry; no address receives more NOTIFYs than that rate, however
 * many registrants point the server at it. That bucket is not the one
 * requests from the address draw from: a spoofed request flood from a
 * client's address must not stop its NOTIFYs, nor NOTIFYs its requests.
 */
static bool notify_budget(struct ctx *c, struct reg_entry *who,
			  const struct reg_entry *peer)
{
	if (!small_bucket_take(&who->notifies, NOTIFY_PER_S, NOTIFY_BURST,
			       c->now) ||
	    !ratelimit_allow(&c->srv->notify_rl, &peer->ep, c->now)) {
		c->srv->st.notify_limited++;
		return false;
	}
	return true;
}

void handler_queue_notify(struct ctx *c, const struct reg_entry *who,
			  const struct reg_entry *peer)
{
	struct wgp_msg m;

	/* In the version the recipient speaks: it may not know v2. */
	m.type = WGP_NOTIFY;
	m.version = peer->version;
	wgp_server_stamp(m.txid, server_next_stamp(c->srv, c->now_ns));
	m.u.notify = (struct wgp_notify){
		.peer_flags = flags_for(peer->version, who->flags),
		.ttl = c->srv->cfg.ttl,
		.ep = who->ep,
	};
	memcpy(m.u.notify.peer, who->key, WGP_KEY_LEN);
	memcpy(m.u.notify.cands, who->cands, sizeof(m.u.notify.cands));
	c->srv->st.notifies++;
	queue_sealed(c, &m, &peer->sess, &peer->ep, &peer->local, PORT_MAIN,
		     WGP_MAX_MSG_LEN);
}

static void notify(struct ctx *c, struct reg_entry *who,
		   const struct reg_entry *peer)
{
	if (peer->origin)
		share_notify(c, who, peer);
	else if (notify_budget(c, who, peer))
		handler_queue_notify(c, who, peer);
}

/*
 * Counter rule: strictly above the last one for a known key. For a key
 * the server holds nothing for: within the clock window, and above the
 * server's start time, as if that were the last counter accepted. A
 * REGISTER captured before a restart is older than the start (up to how
 * far the client's clock runs ahead: doc/protocol.md §6), and one
 * captured before an expiry is out of the window by then (expiry()):
 * neither can recreate the entry. With --registry, a counter another
 * server accepted is a floor too, even for a key held here (share.c).
 */
static bool counter_ok(struct ctx *c, const struct reg_entry *e,
		       uint64_t counter)
{
	uint64_t last = share_counter_floor(c);

	if (e && e->counter > last)
		last = e->counter;

	if (!e && !wgp_in_window(counter, c->now_ns)) {
		reply_error(c, WGP_ERR_CLOCK, 0);
		return false;
	}
	if (counter <= last) {
		c->srv->st.replayed++;
		reply_error(c, WGP_ERR_COUNTER, last);
		return false;
	}
	return true;
}

/*
 * The candidates a request reports, as the server keeps them. A slot no
 * peer could ever reach (loopback, link-local, ...) is zeroed rather
 * than refusing the request: the client's other slots and its
 * registration are still good. A v1 request reports none.
 */
static void request_cands(const struct ctx *c,
			  const struct wgp_endpoint *in,
			  struct wgp_endpoint out[static WGP_MAX_CANDIDATES])
{
	unsigned int i;

	memset(out, 0, WGP_MAX_CANDIDATES * sizeof(*out));
	if (c->req->version != 2)
		return;
	for (i = 0; i < WGP_MAX_CANDIDATES; i++)
		if (wgp_endpoint_usable(&in[i]))
			out[i] = in[i];
}

static bool cands_equal(const struct wgp_endpoint *a,
			const struct wgp_endpoint *b)
{
	unsigned int i;

	for (i = 0; i < WGP_MAX_CANDIDATES; i++)
		if (!wgp_endpoint_equal(&a[i], &b[i]))
			return false;
	return true;
}

/*
 * When an entry whose last counter is counter expires: a TTL from now,
 * and as much later as the counter runs ahead of the server's clock (at
 * most the window). A client's clock may run ahead of the server's; its
 * every REGISTER must be out of the window by the time its entry is gone,
 * or a capture of it could recreate the entry at the replayer's address.
 * TTL >= window (server_init) does the rest.
 */
static uint64_t expiry(const struct ctx *c, uint64_t counter)
{
	uint64_t ahead = counter > c->now_ns ? counter - c->now_ns : 0;

	if (ahead > WGP_COUNTER_WINDOW_NS)
		ahead = WGP_COUNTER_WINDOW_NS;
	return c->now + ttl_ms(c->srv) + ahead / 1000000 + 1;
}

static void refresh(struct ctx *c, struct reg_entry *e, uint64_t counter,
		    uint8_t flags, const struct wgp_endpoint *cands)
{
	registry_write_begin(&c->srv->reg, e);
	e->counter = counter;
	e->ep = c->rx->src;
	e->local = c->rx->local;
	e->flags = flags;
	e->version = c->req->version;
	memcpy(e->cands, cands, sizeof(e->cands));
	e->expires = expiry(c, counter);
	registry_write_end(&c->srv->reg, e);
}

/*
 * The consent list did not fit the shared pool. A new key is not
 * registered. A registered one keeps its registration exactly as it was
 * (endpoint, flags, list) and is kept alive: it proved itself with a
 * fresh counter, and must not expire for asking too much. Either way
 * the client is told.
 */
static void consent_full(struct ctx *c, struct reg_entry *e, bool is_new,
			 uint64_t counter)
{
	if (is_new) {
		registry_remove(&c->srv->reg, e);
	} else {
		registry_write_begin(&c->srv->reg, e);
		e->counter = counter;
		e->expires = expiry(c, counter);
		registry_write_end(&c->srv->reg, e);
	}
	log_debug("consent pool full: refusing a list of %u",
		  c->req->u.reg.n_consent);
	c->srv->st.full++;
	reply_error(c, WGP_ERR_FULL, 0);
}

/* Was peer already answered for earlier in this REGISTER's list? A list
 * may name one peer many times; it gets one record and one NOTIFY.
 * Keys, not entries: another worker's peer is a copy, made anew. */
static bool seen_before(const uint8_t (*seen)[WGP_KEY_LEN], unsigned int n,
			const struct reg_entry *peer)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (!memcmp(seen[i], peer->key, WGP_KEY_LEN))
			return true;
	return false;
}

/*
 * Peers in a group of workers (server.h): a peer's entry is in the
 * registry of its key's worker. This worker's own is used in place;
 * another's is copied into *buf (registry_peek: never waiting for its
 * owner), and is only read. *mutual: e and the peer name each other.
 */
static bool is_own(const struct server *srv, const struct registry *part)
{
	return part == &srv->reg;
}

static const struct reg_entry *peer_by_key(struct ctx *c,
					   const struct reg_entry *e,
					   const uint8_t key[static WGP_KEY_LEN],
					   struct reg_entry *buf, bool *mutual)
{
	struct server *srv = c->srv;
	struct reg_entry *peer;
	const struct registry *part;
	bool names;

	part = srv->n_parts > 1 ?
	       srv->parts[server_worker_of(key, srv->n_parts)] : &srv->reg;
	if (is_own(srv, part)) {
		peer = registry_find(&srv->reg, key, c->now);
		if (peer) {
			*mutual = registry_mutual(&srv->reg, e, peer);
			return peer;
		}
	} else if (registry_peek(part, key, c->now, e->self_fp, buf, &names)) {
		*mutual = names && registry_names(&srv->reg, e, buf->self_fp);
		return buf;
	}
	return share_find_peer(c, e, key, true, buf, mutual);
}

/* The same by consent digest, which does not tell the worker: the own
 * registry first, then the others'. */
static const struct reg_entry *peer_by_digest(struct ctx *c,
					      const struct reg_entry *e,
					      const uint8_t *digest,
					      struct reg_entry *buf,
					      bool *mutual)
{
	struct server *srv = c->srv;
	struct reg_entry *peer;
	unsigned int i;
	bool names;

	peer = registry_find_digest(&srv->reg, digest, c->now);
	if (peer) {
		*mutual = registry_mutual(&srv->reg, e, peer);
		return peer;
	}
	for (i = 0; i < srv->n_parts; i++) {
		if (is_own(srv, srv->parts[i]) ||
		    !registry_peek_digest(srv->parts[i], digest, c->now,
					  e->self_fp, buf, &names))
			continue;
		*mutual = names && registry_names(&srv->reg, e, buf->self_fp);
		return buf;
	}
	return share_find_peer(c, e, digest, false, buf, mutual);
}

/* Done with buf: it may hold a copy of another worker's peer, session
 * keys and all. Alone (one registry), buf was never used. */
static void forget_copy(const struct ctx *c, struct reg_entry *buf)
{
	if (c->srv->n_parts > 1 || c->srv->store)
		sodium_memzero(buf, sizeof(*buf));
}

static void handle_register(struct ctx *c, struct reg_entry *e)
{
	const struct wgp_register *rq = &c->req->u.reg;
	struct wgp_endpoint cands[WGP_MAX_CANDIDATES];
	struct registry *reg = &c->srv->reg;
	uint8_t seen[WGP_MAX_CONSENT][WGP_KEY_LEN];
	struct wgp_register_reply *rr;
	unsigned int i, n_seen = 0;
	bool is_new = !e, changed, mutual;
	const struct reg_entry *peer;
	struct reg_entry buf;
	struct wgp_msg m;
	size_t next_len;
	int ret;

	if (!counter_ok(c, e, rq->counter))
		return;
	if (is_new) {
		e = registry_insert(reg, c->req->key, c->now, ttl_ms(c->srv));
		if (!e) {
			log_debug("registry full: refusing a new key");
			c->srv->st.full++;
			reply_error(c, WGP_ERR_FULL, 0);
			return;
		}
		registry_write_begin(reg, e);
		e->sess = *c->sess;
		registry_write_end(reg, e);
		small_bucket_init(&e->requests, c->srv->cfg.burst, c->now);
		small_bucket_init(&e->notifies, NOTIFY_BURST, c->now);
	}
	ret = registry_set_consent(reg, e, rq->consent, rq->n_consent);
	if (ret < 0) {
		consent_full(c, e, is_new, rq->counter);
		return;
	}
	request_cands(c, rq->cands, cands);
	/* A new list is news too: the other servers' copies must follow it
	 * (a peer taken off must stop finding us there), and a peer it
	 * made mutual hears of us now. */
	changed = is_new || ret > 0 || e->flags != rq->flags ||
		  !wgp_endpoint_equal(&e->ep, &c->rx->src) ||
		  !cands_equal(e->cands, cands);
	refresh(c, e, rq->counter, rq->flags, cands);
	share_write(c, e, changed, rq->consent, rq->n_consent);
	c->srv->st.registers++;

	/* Only the records sent are written: the peers array is 6.4 KiB,
	 * too much to clear on every REGISTER. */
	m.type = WGP_REGISTER_REPLY;
	rr = &m.u.reg_reply;
	rr->flags = 0;
	rr->n_peers = 0;
	rr->ttl = c->srv->cfg.ttl;
	rr->available = 0;
	rr->self = c->rx->src;
	for (i = 0; i < rq->n_consent; i++) {
		peer = peer_by_digest(c, e, rq->consent[i], &buf, &mutual);
		if (!peer || seen_before(seen, n_seen, peer) || !mutual)
			continue;
		memcpy(seen[n_seen++], peer->key, WGP_KEY_LEN);
		rr->available |= 1ULL << i;
		/* Records only while the reply stays within the request's
		 * size; the client LOOKUPs the rest (WGP_RF_MORE). */
		next_len = wgp_register_reply_len(c->req->version,
						  rr->n_peers + 1U);
		if (next_len && next_len <= c->rx->len) {
			fill_peer_rec(&rr->peers[rr->n_peers], (uint8_t)i,
				      peer, c->req->version);
			rr->n_peers++;
		} else {
			rr->flags |= WGP_RF_MORE;
		}
		if (changed)
			notify(c, e, peer);
	}
	if (log_enabled(LOG_LEVEL_DEBUG)) {
		char k[WGP_KEY_B64_SIZE], ep[WGP_ENDPOINT_STRLEN];

		wgp_key_to_base64(k, e->key);
		log_debug("REGISTER %s at %s%s: %u consent, %u available",
			  k, wgp_endpoint_format(&e->ep, ep),
			  is_new ? " (new)" : changed ? " (changed)" : "",
			  rq->n_consent,
			  (unsigned int)__builtin_popcountll(rr->available));
	}
	reply(c, &m);
	forget_copy(c, &buf);
}

static void handle_lookup(struct ctx *c, struct reg_entry *e)
{
	const struct wgp_lookup *rq = &c->req->u.lookup;
	struct wgp_endpoint cands[WGP_MAX_CANDIDATES];
	struct wgp_lookup_reply *lr;
	const struct reg_entry *peer;
	struct reg_entry buf;
	struct wgp_msg m;
	bool mutual, changed;

	if (!e) {
		reply_error(c, WGP_ERR_NOT_REGISTERED, 0);
		return;
	}
	if (!counter_ok(c, e, rq->counter))
		return;
	/* A LOOKUP is authenticated and leaves from WireGuard's port like
	 * a REGISTER: it refreshes the registration and the mapping. */
	request_cands(c, rq->cands, cands);
	changed = e->flags != rq->flags ||
		  !wgp_endpoint_equal(&e->ep, &c->rx->src) ||
		  !cands_equal(e->cands, cands);
	refresh(c, e, rq->counter, rq->flags, cands);
	share_write(c, e, changed, NULL, 0);
	c->srv->st.lookups++;

	m.type = WGP_LOOKUP_REPLY;
	m.u.lookup_reply = (struct wgp_lookup_reply){
		.ttl = c->srv->cfg.ttl,
		.self = c->rx->src,
	};
	lr = &m.u.lookup_reply;
	peer = peer_by_key(c, e, rq->target, &buf, &mutual);
	if (peer && mutual) {
		lr->status = WGP_LOOKUP_OK;
		lr->peer_flags = flags_for(c->req->version, peer->flags);
		lr->peer = peer->ep;
		memcpy(lr->cands, peer->cands, sizeof(lr->cands));
		notify(c, e, peer);
	} else {
		lr->status = WGP_LOOKUP_UNAVAILABLE;
	}
	log_debug("LOOKUP from %s: %s",
		  wgp_endpoint_format(&c->rx->src, (char[WGP_ENDPOINT_STRLEN]){0}),
		  lr->status == WGP_LOOKUP_OK ? "found" : "unavailable");
	reply(c, &m);
	forget_copy(c, &buf);
}

static void handle_probe(struct ctx *c)
{
	struct wgp_msg m;

	if (!wgp_in_window(c->req->u.probe.timestamp, c->now_ns)) {
		reply_error(c, WGP_ERR_CLOCK, 0);
		return;
	}
	c->srv->st.probes++;
	m.type = WGP_PROBE_REPLY;
	m.u.probe_reply = (struct wgp_probe_reply){
		.self = c->rx->src,
		.local_port = c->srv->cfg.port[c->rx->port],
	};
	reply(c, &m);
}

/*
 * The unsolicited RELAY_GRANT that gives peer its side of a new
 * allocation: like a NOTIFY, from the main port to peer's registered
 * mapping, charged to who's NOTIFY budget and to the destination's
 * per-source bucket.
 */
static void notify_grant(struct ctx *c, struct reg_entry *who,
			 const struct reg_entry *peer,
			 const struct relay_ticket *t)
{
	struct wgp_msg m;

	if (!notify_budget(c, who, peer))
		return;
	m.type = WGP_RELAY_GRANT;
	m.version = 2;
	wgp_server_stamp(m.txid, server_next_stamp(c->srv, c->now_ns));
	m.u.relay_grant = (struct wgp_relay_grant){
		.status = WGP_RELAY_OK,
		.port = t->port,
		.idle_s = c->srv->cfg.relay.idle_s,
	};
	memcpy(m.u.relay_grant.peer, who->key, WGP_KEY_LEN);
	memcpy(m.u.relay_grant.bind_key, t->bind_key, RELAY_KEY_LEN);
	c->srv->st.notifies++;
	queue_sealed(c, &m, &peer->sess, &peer->ep, &peer->local, PORT_MAIN,
		     WGP_MAX_MSG_LEN);
	sodium_memzero(&m.u.relay_grant, sizeof(m.u.relay_grant));
}

/*
 * The status of a RELAY for a consenting, registered pair: a grant, or
 * why not. The target must speak version 2 (a version 1 client could
 * never receive its side); to the requester that is UNAVAILABLE too,
 * told only under mutual consent.
 */
static uint8_t relay_status(struct ctx *c, struct reg_entry *e,
			    const struct reg_entry *peer, struct relay_ticket *mine,
			    struct relay_ticket *theirs, bool *created)
{
	int ret;

	if (peer->version != 2)
		return WGP_RELAY_UNAVAILABLE;
	ret = relay_grant(&c->srv->relay, e->key, peer->key, c->now, mine,
			  theirs, created);
	if (ret == -ENOSPC)
		return WGP_RELAY_FULL;
	return ret < 0 ? WGP_RELAY_UNAVAILABLE : WGP_RELAY_OK;
}

/*
 * RELAY: authenticated and counted like a LOOKUP (live registration,
 * same counter sequence, same errors), consent checked like a LOOKUP
 * (UNAVAILABLE says neither "unknown" nor "not allowed"). It moves the
 * counter only: it carries no flags or candidates to refresh with.
 */
static void handle_relay(struct ctx *c, struct reg_entry *e)
{
	const struct wgp_relay *rq = &c->req->u.relay;
	struct relay_ticket mine, theirs;
	struct wgp_relay_grant *g;
	const struct reg_entry *peer;
	bool created = false, mutual;
	struct reg_entry buf;
	struct wgp_msg m;

	if (!e) {
		reply_error(c, WGP_ERR_NOT_REGISTERED, 0);
		return;
	}
	if (!counter_ok(c, e, rq->counter))
		return;
	e->counter = rq->counter;
	c->srv->st.relays++;

	m.type = WGP_RELAY_GRANT;
	m.u.relay_grant = (struct wgp_relay_grant){ 0 };
	g = &m.u.relay_grant;
	memcpy(g->peer, rq->target, WGP_KEY_LEN);
	peer = peer_by_key(c, e, rq->target, &buf, &mutual);
	if (!relay_enabled(&c->srv->relay))
		g->status = WGP_RELAY_NONE;
	else if (!peer || !mutual || peer->origin)
		/* Another server's peer could not be told of its side of
		 * an allocation here: its NAT lets in only that server. */
		g->status = WGP_RELAY_UNAVAILABLE;
	else
		g->status = relay_status(c, e, peer, &mine, &theirs, &created);
	if (g->status == WGP_RELAY_OK) {
		g->port = mine.port;
		g->idle_s = c->srv->cfg.relay.idle_s;
		memcpy(g->bind_key, mine.bind_key, RELAY_KEY_LEN);
		if (created)
			notify_grant(c, e, peer, &theirs);
	}
	log_debug("RELAY from %s: status %u, port %u%s",
		  wgp_endpoint_format(&c->rx->src, (char[WGP_ENDPOINT_STRLEN]){0}),
		  g->status, g->port, created ? " (new)" : "");
	reply(c, &m);
	forget_copy(c, &buf);
	sodium_memzero(g, sizeof(*g));
	sodium_memzero(&mine, sizeof(mine));
	sodium_memzero(&theirs, sizeof(theirs));
}

static void handle_legacy(struct server *srv, const struct rx_info *rx,
			  uint64_t now, struct outq *q)
{
	uint8_t out[WGP_LEGACY_REPLY_LEN];
	struct out_msg *o;
	int len;

	len = legacy_handle(&srv->legacy, rx->pkt, &rx->src, now,
			    (uint64_t)srv->cfg.ttl * 1000, out);
	if (len < 0)
		return;
	srv->st.legacy++;
	o = outq_reserve(q);
	memcpy(o->buf, out, (size_t)len);
	o->len = (size_t)len;
	o->dst = rx->src;
	o->src = rx->local;
	o->port = rx->port;
}

/*
 * A key the server holds no session for: unauthenticated work, paid
 * for by the source's bucket and the global X25519 budget. The session
 * lands in tmp.
 */
static bool session_unknown_key(struct server *srv, const struct rx_info *rx,
				const struct wgp_msg *req, uint64_t now,
				struct wgp_session *tmp)
{
	if (!ratelimit_allow(&srv->rl, &rx->src, now)) {
		srv->st.ratelimited++;
		return false;
	}
	if (srv->shared_dh ? !atomic_bucket_take(srv->shared_dh, now) :
			     !token_bucket_take(&srv->dh, now)) {
		srv->st.dh_dropped++;
		return false;
	}
	srv->st.dh++;
	if (wgp_session_server(tmp, srv->priv, srv->pub, req->key) < 0) {
		srv->st.forged++;
		return false;
	}
	return true;
}

/*
 * Opening a datagram for a cached session costs one AEAD open and is
 * not gated: the source may be a spoofed victim. Only a source that
 * has failed opens faster than its rate (forgeries naming registered
 * keys) pays its bucket before each further one.
 */
static bool open_allowed(struct server *srv, const struct rx_info *rx,
			 uint64_t now)
{
	if (!ratelimit_suspect(&srv->rl, &rx->src, now) ||
	    ratelimit_allow(&srv->rl, &rx->src, now))
		return true;
	srv->st.ratelimited++;
	return false;
}

/* The counter a request carries; false for PROBE, which has none. */
static bool request_counter(const struct wgp_msg *req, uint64_t *counter)
{
	switch (req->type) {
	case WGP_REGISTER:
		*counter = req->u.reg.counter;
		return true;
	case WGP_LOOKUP:
		*counter = req->u.lookup.counter;
		return true;
	case WGP_RELAY:
		*counter = req->u.relay.counter;
		return true;
	}
	return false;
}

/*
 * While the receive queue backs up, work no key pays for (a COOKIE, the
 * answer to a PROBE or to a stale counter) is done only for sources
 * seen lately (seen.h): a client resends, a flood from random spoofed
 * sources hardly ever repeats one. And for no more than a quarter of
 * each batch, or none when the queue is more than half full, for a
 * flood from sources that do repeat (loop.c). An answer costs
 * about what the datagram cost its sender; the registered keys' fresh
 * requests waiting behind the flood come first.
 */
static bool shed(struct server *srv, const struct rx_info *rx, uint64_t now)
{
	if (!srv->behind)
		return false;
	if (srv->unpaid_left && seen_again(&srv->seen, &rx->src, now)) {
		srv->unpaid_left--;
		return false;
	}
	srv->st.shed++;
	return true;
}

/*
 * Who pays for an authenticated request from a registered key. The key
 * itself when the counter is fresh: only the key's holder can make
 * such a request, from whatever address. Otherwise the source (if not
 * shed): a PROBE
 * (fresh only within the clock window) or a stale counter may be
 * anyone's replay, and a replay must not use up the key's budget.
 */
static bool charge_known(struct server *srv, const struct rx_info *rx,
			 const struct wgp_msg *req, struct reg_entry *e,
			 uint64_t now)
{
	uint64_t counter;

	if (request_counter(req, &counter) && counter > e->counter) {
		if (small_bucket_take(&e->requests, srv->cfg.rate,
				      srv->cfg.burst, now))
			return true;
		srv->st.key_limited++;
		return false;
	}
	if (shed(srv, rx, now))
		return false;
	if (ratelimit_allow(&srv->rl, &rx->src, now))
		return true;
	srv->st.ratelimited++;
	return false;
}

static void log_forged(const struct wgp_msg *req, const struct rx_info *rx)
{
	log_debug("%s from %s: authentication failed", wgp_type_name(req->type),
		  wgp_endpoint_format(&rx->src, (char[WGP_ENDPOINT_STRLEN]){0}));
}

/* Open req with e's cached session and charge it: false to drop. */
static bool open_known(struct server *srv, const struct rx_info *rx,
		       struct wgp_msg *req, struct reg_entry *e, uint64_t now)
{
	if (!open_allowed(srv, rx, now))
		return false;
	if (wgp_open_parsed(req, rx->pkt, rx->len, &e->sess) < 0) {
		srv->st.forged++;
		ratelimit_fail(&srv->rl, &rx->src, now);
		log_forged(req, rx);
		return false;
	}
	return charge_known(srv, rx, req, e, now);
}

/* The COOKIE for rx's source, answering req: 36 bytes, never longer
 * than a request, from the port the request came to. */
static void send_cookie(struct server *srv, const struct rx_info *rx,
			const struct wgp_msg *req, uint64_t now,
			struct outq *q)
{
	uint8_t cookie[WGP_COOKIE_LEN];
	struct out_msg *o;

	cookie_make(&srv->cookies, &rx->src, now, cookie);
	o = outq_reserve(q);
	o->len = wgp_cookie_msg(o->buf, req->txid, cookie);
	o->dst = rx->src;
	o->src = rx->local;
	o->port = rx->port;
	srv->st.cookies++;
}

/*
 * Under load: requests from keys the server holds nothing for arrive
 * faster than half the X25519 budget, or the budget itself is below
 * half, or the receive queue backs up. It lasts LOAD_HOLD_MS past the
 * last sign of it. Counting the demand, not only what was spent,
 * matters: a sustained flood must not find a refilled budget every so
 * often and spend it on spoofed keys. And the queue is the quickest
 * sign: at a flood's first instant, every X25519 is 45 µs of datagrams
 * piling up.
 */
static bool under_load(struct server *srv, uint64_t now)
{
	bool over = !token_bucket_take(&srv->demand, now);

	if (over || srv->behind ||
	    (srv->shared_dh ? atomic_bucket_low(srv->shared_dh, now) :
			      token_bucket_low(&srv->dh, now)))
		srv->load_until = now + LOAD_HOLD_MS;
	return now < srv->load_until;
}

/*
 * May a key with no session have its X25519? Always when not under
 * load. Under load, only from a source that proved it
 * receives at its address: a cookie made for exactly it. Any other
 * request gets a COOKIE instead, if the source's bucket allows, and
 * costs the server one keyed hash: spoofed floods cannot spend the
 * budget that proven newcomers need. A version 1 client cannot attach a
 * cookie: under load it is served only with a session the server holds.
 */
static bool address_proven(struct server *srv, const struct rx_info *rx,
			   const struct wgp_msg *req, uint64_t now,
			   struct outq *q)
{
	if (!under_load(srv, now))
		return true;
	if (req->has_cookie &&
	    cookie_valid(&srv->cookies, &rx->src, req->cookie, now)) {
		srv->st.cookie_ok++;
		return true;
	}
	if (shed(srv, rx, now))
		return false;
	if (!ratelimit_allow(&srv->rl, &rx->src, now)) {
		srv->st.ratelimited++;
		return false;
	}
	send_cookie(srv, rx, req, now, q);
	return false;
}

/* Open req from a key with no registration: false to drop. */
static bool open_unknown(struct server *srv, const struct rx_info *rx,
			 struct wgp_msg *req, uint64_t now,
			 struct wgp_session *tmp)
{
	if (!session_unknown_key(srv, rx, req, now, tmp))
		return false;
	if (wgp_open_parsed(req, rx->pkt, rx->len, tmp) < 0) {
		srv->st.forged++;
		log_forged(req, rx);
		return false;
	}
	return true;
}

static void dispatch(struct ctx *c, struct reg_entry *e)
{
	switch (c->req->type) {
	case WGP_REGISTER:
		handle_register(c, e);
		break;
	case WGP_LOOKUP:
		handle_lookup(c, e);
		break;
	case WGP_PROBE:
		handle_probe(c);
		break;
	case WGP_RELAY:
		handle_relay(c, e);
		break;
	}
}

void server_handle(struct server *srv, const struct rx_info *rx,
		   uint64_t now, uint64_t now_ns, struct outq *q)
{
	struct wgp_session tmp;
	struct reg_entry *e;
	struct wgp_msg req;
	struct ctx c;
	bool ok;

	srv->st.rx++;
	if (rx->len == WGP_LEGACY_REQUEST_LEN && rx->port == PORT_MAIN &&
	    srv->cfg.legacy) {
		if (!ratelimit_allow(&srv->rl, &rx->src, now))
			srv->st.ratelimited++;
		else
			handle_legacy(srv, rx, now, q);
		return;
	}
	if (wgp_parse_header(&req, rx->pkt, rx->len) < 0 ||
	    !wgp_type_is_request(req.type) ||
	    (rx->port == PORT_PROBE && req.type != WGP_PROBE)) {
		srv->st.bad++;
		return;
	}
	e = registry_find(&srv->reg, req.key, now);
	if (e) {
		if (open_known(srv, rx, &req, e, now)) {
			c = (struct ctx){ srv, rx, &req, &e->sess, q, now,
					  now_ns };
			dispatch(&c, e);
		}
		return;
	}
	if (!address_proven(srv, rx, &req, now, q))
		return;
	ok = open_unknown(srv, rx, &req, now, &tmp);
	if (ok) {
		c = (struct ctx){ srv, rx, &req, &tmp, q, now, now_ns };
		dispatch(&c, NULL);
	}
	sodium_memzero(&tmp, sizeof(tmp));
}
