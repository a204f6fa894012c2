// SPDX-License-Identifier: MIT
/*
 * The conversation with the rendezvous server: requests go out sealed,
 * from WireGuard's port, and are retransmitted with exponential backoff
 * until a reply with the same transaction id arrives. Every retransmit
 * is sealed anew with a fresh counter: if the first copy did arrive and
 * only its reply was lost, a copy with the old counter would be refused
 * as a replay.
 *
 * What arrives is trusted only after wgp_open() authenticated it with
 * our session key; replies must echo a transaction id we have in
 * flight, and NOTIFYs must name one of our peers.
 *
 * The engine touches no socket and reads no clock: client.c feeds it
 * the datagrams its raw sockets receive (engine_input) and the time,
 * sends what engine_service() queues in c->out, and acts on the events
 * raised through c->event. So unit tests and a fuzzer drive it whole.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "array.h"
#include "client.h"
#include "endpoint.h"
#include "fresh.h"
#include "key.h"
#include "log.h"
#include "punch.h"

uint64_t client_clock_ns(const struct client *c)
{
	return wgp_now_ns() + (uint64_t)c->clock_offset_ns;
}

/* The same, at the engine's time t. */
static uint64_t clock_ns_at(const struct client *c, struct engine_clock t)
{
	return t.ns + (uint64_t)c->clock_offset_ns;
}

/* c->peers is kept sorted by key (client.c, track_peers()): a binary
 * search. */
struct client_peer *client_find_peer(struct client *c,
				     const uint8_t key[static WGP_KEY_LEN])
{
	return bsearch(key, c->peers, c->num_peers, sizeof(*c->peers),
		       punch_key_cmp);
}

static void raise_event(struct client *c, const struct engine_event *ev)
{
	if (c->event)
		c->event(c, ev);
}

static void raise_simple(struct client *c, enum engine_event_type type)
{
	raise_event(c, &(struct engine_event){ .type = type });
}

/* The server's word on p's endpoint and candidates. */
static void raise_endpoint(struct client *c, struct client_peer *p,
			   uint8_t flags, const struct wgp_endpoint *ep,
			   const struct wgp_endpoint *cands)
{
	struct engine_event ev = {
		.type = ENGINE_EV_ENDPOINT,
		.peer = p,
		.flags = flags,
		.ep = ep,
		.cands = cands,
	};

	raise_event(c, &ev);
}

static uint64_t next_counter(struct client *c, struct engine_clock t)
{
	uint64_t now = clock_ns_at(c, t);

	/* Strictly increasing, and near the server's clock so a server
	 * that lost our state still takes it. */
	c->counter = now > c->counter ? now : c->counter + 1;
	return c->counter;
}

static void request_start(struct request *r, uint8_t type,
			  enum engine_port port)
{
	r->active = true;
	r->port = port;
	r->type = type;
	wgp_txid_new(r->txid);
	r->base_ms = 0;
	r->tries = 0;
	r->due_ms = 0;		/* now */
	r->cookie_resent = false;
}

/* We answer path probes; whether our NAT maps per destination is for
 * the peer's diagnosis. */
static uint8_t own_flags(const struct client *c)
{
	return (c->nat == NAT_SYMMETRIC ? WGP_F_SYMMETRIC : 0) | WGP_F_PROBES;
}

void engine_start_register(struct client *c)
{
	size_t n = 0;

	c->reg_pending = false;
	request_start(&c->reg, WGP_REGISTER, ENGINE_PORT_MAIN);
	/* The consent list is fixed for this transaction: the reply's
	 * record indices point into it. */
	for (size_t i = 0; i < c->num_peers && n < WGP_MAX_CONSENT; i++) {
		if (!c->peers[i].present)
			continue;
		memcpy(c->reg_keys[n++], c->peers[i].key, WGP_KEY_LEN);
	}
	c->n_reg = (unsigned int)n;
	c->reg_flags = own_flags(c);
}

void client_start_probe(struct client *c)
{
	request_start(&c->probe_main, WGP_PROBE, ENGINE_PORT_MAIN);
	request_start(&c->probe, WGP_PROBE, ENGINE_PORT_PROBE);
	c->probe_giveup_ms = 0;
}

void client_start_lookup(struct client_peer *p)
{
	if (!p->lookup.active)
		request_start(&p->lookup, WGP_LOOKUP, ENGINE_PORT_MAIN);
}

void client_start_relay(struct client_peer *p)
{
	if (!p->relay.active)
		request_start(&p->relay, WGP_RELAY, ENGINE_PORT_MAIN);
}

static void build_register(struct client *c, struct wgp_msg *m,
			   struct engine_clock t)
{
	struct wgp_register *r = &m->u.reg;

	r->counter = next_counter(c, t);
	r->flags = c->reg_flags;
	r->n_consent = (uint8_t)c->n_reg;
	memcpy(r->cands, c->own_cands, sizeof(r->cands));
	for (unsigned int i = 0; i < c->n_reg; i++)
		wgp_consent_digest(r->consent[i], c->reg_keys[i]);
}

/* The cookie kept for a server port. */
static struct client_cookie *cookie_for(struct client *c, enum engine_port port)
{
	return port == ENGINE_PORT_PROBE ? &c->probe_cookie : &c->main_cookie;
}

/* The cookie to attach to a request to port at now_ms, or NULL. */
static const uint8_t *cookie_to_attach(struct client *c, enum engine_port port,
				       uint64_t now_ms)
{
	const struct client_cookie *ck = cookie_for(c, port);

	return ck->until_ms && now_ms < ck->until_ms ? ck->value : NULL;
}

/* A slot at the end of the out-queue, or NULL without memory. */
static struct engine_datagram *out_slot(struct engine_out *out)
{
	if (lib_grow((void **)&out->d, &out->cap, out->n + 1, sizeof(*out->d)))
		return NULL;
	return &out->d[out->n];
}

void engine_out_free(struct engine_out *out)
{
	free(out->d);
	memset(out, 0, sizeof(*out));
}

/* Seal r into the out-queue: 0 or -errno. */
static int transmit(struct client *c, struct request *r,
		    const struct client_peer *p, struct engine_clock t)
{
	struct engine_datagram *d = out_slot(&c->out);
	/* PROBE is the same in both versions: sent as version 1, even a
	 * server that predates version 2 answers it, and a silence to
	 * our REGISTER alone can then be explained (server_problem()). */
	struct wgp_msg m = {
		.type = r->type,
		.version = r->type == WGP_PROBE ? 1 : 2,
	};
	ssize_t len;

	if (!d)
		return -ENOMEM;
	memcpy(m.txid, r->txid, WGP_TXID_LEN);
	memcpy(m.key, c->dev.public_key, WGP_KEY_LEN);
	switch (r->type) {
	case WGP_REGISTER:
		build_register(c, &m, t);
		break;
	case WGP_LOOKUP:
		m.u.lookup.counter = next_counter(c, t);
		m.u.lookup.flags = own_flags(c);
		memcpy(m.u.lookup.target, p->key, WGP_KEY_LEN);
		memcpy(m.u.lookup.cands, c->own_cands, sizeof(m.u.lookup.cands));
		break;
	case WGP_PROBE:
		m.u.probe.timestamp = clock_ns_at(c, t);
		break;
	case WGP_RELAY:
		m.u.relay.counter = next_counter(c, t);
		memcpy(m.u.relay.target, p->key, WGP_KEY_LEN);
		break;
	}
	len = wgp_seal_cookie(d->buf, sizeof(d->buf), &m, &c->sess,
			      cookie_to_attach(c, r->port, t.ms));
	sodium_memzero(&m, sizeof(m));
	if (len < 0)
		return (int)len;
	d->port = r->port;
	d->type = r->type;
	d->len = (size_t)len;
	c->out.n++;
	if (r == &c->reg)
		c->register_sent_ms = t.ms;
	return 0;
}

/* Returns false when the request has used up its tries this round. */
static bool service_one(struct client *c, struct request *r,
			const struct client_peer *p, struct engine_clock t)
{
	uint64_t now = t.ms;
	int ret;

	/* Once the daemon has found the server silent, its REGISTER
	 * never gives up: one every SILENT_RETRY_MS. */
	bool keep = r == &c->reg && c->server_silent && c->o->daemon;

	if (!r->active || now < r->due_ms)
		return true;
	/* The daemon's REGISTER went unanswered RETX_MAX_TRIES times:
	 * the server is silent (say so once), and it keeps going. */
	if (r == &c->reg && c->o->daemon && r->tries >= RETX_MAX_TRIES &&
	    !c->server_silent) {
		raise_simple(c, ENGINE_EV_SILENT);
		keep = true;
	}
	/* "up" keeps trying until its deadline; the daemon gives a round
	 * RETX_MAX_TRIES sends and then backs off as a whole. The mapping
	 * check gives up sooner: registering waits for it. */
	if ((r->type == WGP_PROBE && r->tries >= PROBE_MAX_TRIES) ||
	    (r->tries >= RETX_MAX_TRIES && c->o->daemon && !keep)) {
		r->active = false;
		return false;
	}
	ret = transmit(c, r, p, t);
	if (ret < 0) {
		c->last_error = ret;
		log_debug("sending %s: %s", wgp_type_name(r->type), strerror(-ret));
	} else if (r->tries) {
		log_debug("%s: no answer yet, sent again (%u)", wgp_type_name(r->type),
			  r->tries + 1);
	}
	r->tries++;
	r->base_ms = retx_next_ms(r->base_ms);
	if (keep && r->base_ms > SILENT_RETRY_MS)
		r->base_ms = SILENT_RETRY_MS;
	r->due_ms = now + jitter_ms(r->base_ms, randombytes_random());
	return true;
}

static uint64_t earliest(uint64_t a, const struct request *r)
{
	return r->active && r->due_ms < a ? r->due_ms : a;
}

/* The probe port is optional: without its answer we cannot tell a
 * symmetric NAT, so we register without the flag (as if not symmetric)
 * and say so, naming the port that stayed silent. */
static void mapping_check_failed(struct client *c)
{
	char ep[ENDPOINT_STRLEN];

	c->nat = NAT_UNTESTED;
	if (c->have_self_main)
		log_warn("no answer from the server's probe port %u: cannot check "
			 "whether our NAT is symmetric; registering anyway",
			 c->o->probe_port);
	else	/* The registration will tell whether the server is there. */
		log_debug("mapping check: no answer from %s nor its probe port %u",
			  endpoint_format((struct sockaddr *)&c->o->server, ep),
			  c->o->probe_port);
}

uint64_t engine_service(struct client *c, struct engine_clock t)
{
	uint64_t next = UINT64_MAX, now = t.ms;
	bool probe_done;

	if (!service_one(c, &c->reg, NULL, t))
		raise_simple(c, ENGINE_EV_SILENT);
	/* Both probes are serviced, whatever the first one says. */
	probe_done = !service_one(c, &c->probe_main, NULL, t);
	probe_done |= !service_one(c, &c->probe, NULL, t);
	if (c->probe.active && c->probe_giveup_ms && now >= c->probe_giveup_ms)
		probe_done = true;
	if (probe_done) {
		c->probe_main.active = c->probe.active = false;
		c->probe_giveup_ms = 0;
		if (c->nat == NAT_UNKNOWN)
			mapping_check_failed(c);
		raise_simple(c, ENGINE_EV_NAT);
	}
	for (size_t i = 0; i < c->num_peers; i++) {
		service_one(c, &c->peers[i].lookup, &c->peers[i], t);
		service_one(c, &c->peers[i].relay, &c->peers[i], t);
	}

	next = earliest(next, &c->reg);
	next = earliest(next, &c->probe_main);
	next = earliest(next, &c->probe);
	if (c->probe.active && c->probe_giveup_ms && c->probe_giveup_ms < next)
		next = c->probe_giveup_ms;
	for (size_t i = 0; i < c->num_peers; i++) {
		next = earliest(next, &c->peers[i].lookup);
		next = earliest(next, &c->peers[i].relay);
	}
	return next;
}

/* Handling what the server sends. */

static bool txid_is(const struct request *r, const struct wgp_msg *m)
{
	return r->active && !memcmp(r->txid, m->txid, WGP_TXID_LEN);
}

static struct request *find_request(struct client *c, const struct wgp_msg *m,
				    struct client_peer **peer)
{
	*peer = NULL;
	if (txid_is(&c->reg, m))
		return &c->reg;
	if (txid_is(&c->probe, m))
		return &c->probe;
	if (txid_is(&c->probe_main, m))
		return &c->probe_main;
	for (size_t i = 0; i < c->num_peers; i++) {
		if (txid_is(&c->peers[i].lookup, m)) {
			*peer = &c->peers[i];
			return &c->peers[i].lookup;
		}
		if (txid_is(&c->peers[i].relay, m)) {
			*peer = &c->peers[i];
			return &c->peers[i].relay;
		}
	}
	return NULL;
}

/* The first registration, and a new mapping, are news; a refresh is
 * not. */
static void log_registered(struct client *c, const struct wgp_register_reply *rr)
{
	char ep[WGP_ENDPOINT_STRLEN], srv[ENDPOINT_STRLEN], old[WGP_ENDPOINT_STRLEN];
	unsigned int avail = (unsigned int)__builtin_popcountll(rr->available);

	wgp_endpoint_format(&rr->self, ep);
	endpoint_format((struct sockaddr *)&c->o->server, srv);
	if (!c->have_reg_self)
		log_info("registered with %s: it sees us at %s; %u of %u peers "
			 "registered there too", srv, ep, avail, c->n_reg);
	else if (!wgp_endpoint_equal(&c->reg_self, &rr->self))
		log_info("the server now sees us at %s (was %s): our NAT mapping "
			 "changed", ep, wgp_endpoint_format(&c->reg_self, old));
	else
		log_debug("registered: the server sees us at %s, ttl %u s, %u of "
			  "%u peers available", ep, rr->ttl, avail, c->n_reg);
	c->reg_self = rr->self;
	c->have_reg_self = true;
}

static void handle_register_reply(struct client *c,
				  const struct wgp_register_reply *rr,
				  struct engine_clock t)
{
	struct engine_event ev = { .type = ENGINE_EV_REGISTERED, .reply = rr };
	uint64_t have = 0;

	c->reg.active = false;
	c->refused = false;
	raise_simple(c, ENGINE_EV_ANSWERED);
	if (c->register_sent_ms)
		c->server_rtt_ms = (unsigned int)(t.ms - c->register_sent_ms);
	log_registered(c, rr);
	c->registered = true;
	c->registered_flags = c->reg_flags;
	c->ttl = rr->ttl;
	c->self_main = rr->self;
	c->have_self_main = true;
	/* Before the records: a new peer mapping gets its opener at once
	 * (client.c measures the hops to our NAT for its TTL). */
	raise_event(c, &ev);
	for (unsigned int i = 0; i < rr->n_peers; i++) {
		const struct wgp_peer_rec *rec = &rr->peers[i];
		struct client_peer *p;

		if (rec->index >= c->n_reg)
			continue;
		have |= 1ULL << rec->index;
		p = client_find_peer(c, c->reg_keys[rec->index]);
		if (p)
			raise_endpoint(c, p, rec->flags, &rec->ep, rec->cands);
	}
	/* Available but left out of the reply for size: ask one by one. */
	for (unsigned int i = 0; i < c->n_reg; i++) {
		struct client_peer *p;

		if (!(rr->available & ~have & (1ULL << i)))
			continue;
		p = client_find_peer(c, c->reg_keys[i]);
		if (p && p->status != PEER_FRESH)
			client_start_lookup(p);
	}
	raise_simple(c, ENGINE_EV_NAT);
}

static void handle_lookup_reply(struct client *c, struct client_peer *p,
				const struct wgp_lookup_reply *lr)
{
	p->lookup.active = false;
	raise_simple(c, ENGINE_EV_ANSWERED);
	if (lr->status == WGP_LOOKUP_OK)
		raise_endpoint(c, p, lr->peer_flags, &lr->peer, lr->cands);
}

static void handle_probe_reply(struct client *c, struct request *r,
			       const struct wgp_probe_reply *pr,
			       struct engine_clock t)
{
	r->active = false;
	raise_simple(c, ENGINE_EV_ANSWERED);
	if (r == &c->probe_main) {
		c->self_main = pr->self;
		c->have_self_main = true;
		if (c->probe.active)
			c->probe_giveup_ms = t.ms + PROBE_GRACE_MS;
	} else {
		c->self_probe = pr->self;
		c->have_self_probe = true;
	}
	raise_simple(c, ENGINE_EV_NAT);
}

/* A NOTIFY moves a peer's endpoint, so it must be fresh: its txid is
 * the server's stamp (fresh.h), or a capture replayed later from the
 * server's address could roll the peer back. */
static void handle_notify(struct client *c, const struct wgp_notify *n,
			  const uint8_t txid[static WGP_TXID_LEN],
			  struct engine_clock t)
{
	struct client_peer *p = client_find_peer(c, n->peer);
	char k[WGP_KEY_B64_SIZE];

	wgp_key_to_base64(k, n->peer);
	if (!fresh_take_stamp(&c->notify_stamp, wgp_stamp_of(txid),
			      clock_ns_at(c, t))) {
		log_debug("NOTIFY about %s is stale or replayed: ignored", k);
		return;
	}
	if (!p || !p->present) {
		log_debug("NOTIFY about %s, not a peer of ours: ignored", k);
		return;
	}
	log_debug("peer %s registered: the server notified us", k);
	raise_endpoint(c, p, n->peer_flags, &n->ep, n->cands);
}

/* A RELAY_GRANT: the answer to our RELAY (r), or unsolicited (r NULL)
 * because the peer asked for the pair. Either way it must be about one
 * of our peers. */
static void handle_relay_grant(struct client *c, struct request *r,
			       struct client_peer *p,
			       const struct wgp_relay_grant *g,
			       const uint8_t txid[static WGP_TXID_LEN],
			       struct engine_clock t)
{
	struct engine_event ev = { .type = ENGINE_EV_RELAY_GRANT, .grant = g };
	char k[WGP_KEY_B64_SIZE];

	if (r) {
		r->active = false;
		raise_simple(c, ENGINE_EV_ANSWERED);
		if (sodium_memcmp(p->key, g->peer, WGP_KEY_LEN)) {
			log_debug("RELAY_GRANT for another peer than asked: ignored");
			return;
		}
	} else {
		/* Unsolicited: fresh like a NOTIFY, from the same stamps. */
		if (!fresh_take_stamp(&c->notify_stamp, wgp_stamp_of(txid),
				      clock_ns_at(c, t))) {
			log_debug("unsolicited RELAY_GRANT stale or replayed: ignored");
			return;
		}
		p = client_find_peer(c, g->peer);
		if (!p || !p->present) {
			wgp_key_to_base64(k, g->peer);
			log_debug("RELAY_GRANT about %s, not a peer of ours: ignored", k);
			return;
		}
		if (g->status != WGP_RELAY_OK)
			return;
		if (!p->relay_why[0])
			snprintf(p->relay_why, sizeof(p->relay_why),
				 "the peer asked for it");
	}
	ev.peer = p;
	raise_event(c, &ev);
}

/* A server that tracks our counter never holds one far ahead of its
 * clock (it refuses counters more than 120 s ahead); one that says so
 * would push ours toward a wrap, and keep it out of step for good. */
#define COUNTER_AHEAD_MAX_NS	(86400ULL * 1000000000ULL)	/* a day */

/* Adopt the server's last counter for us, unless it is absurd. */
static bool counter_plausible(const struct client *c, uint64_t last,
			      struct engine_clock t)
{
	return last <= clock_ns_at(c, t) + COUNTER_AHEAD_MAX_NS;
}

/* Adopt the server's clock, unless the offset would not fit (our
 * counters then wrap). Any offset that fits is taken: a client whose
 * clock was reset to 1970 must still get in. */
static bool clock_plausible(uint64_t server_time)
{
	return server_time && server_time <= (uint64_t)INT64_MAX;
}

/*
 * COUNTER or CLOCK: the server told us how to get in. Send again at
 * once the first time only; a second error in a row waits as silence
 * does (service_one() already set the next send on the retransmission
 * schedule), so a server that errs on everything cannot make us flood
 * it (or anyone whose address it spoofs).
 */
static void retry_after_error(struct request *r, bool sane)
{
	if (sane && r->tries <= 1)
		r->due_ms = 0;
}

static void handle_error(struct client *c, struct request *r,
			 const struct wgp_error *e, struct engine_clock t)
{
	bool sane = true;

	log_debug("%s refused: %s", wgp_type_name(r->type), wgp_error_name(e->code));
	switch (e->code) {
	case WGP_ERR_COUNTER:
		sane = counter_plausible(c, e->last_counter, t);
		if (!sane)
			log_warn("the server claims our last counter is %llu, far "
				 "ahead of its clock: ignored",
				 (unsigned long long)e->last_counter);
		else if (e->last_counter > c->counter)
			c->counter = e->last_counter;
		retry_after_error(r, sane);
		break;
	case WGP_ERR_CLOCK:
		sane = clock_plausible(e->server_time);
		if (!sane) {
			log_warn("the server reports an impossible time (%llu ns): "
				 "ignored", (unsigned long long)e->server_time);
		} else {
			/* Our clock is off: follow the server's for counters.
			 * It holds no state for us, so our counter may go back
			 * to its clock (a counter once pushed ahead must not
			 * stay ahead). */
			c->clock_offset_ns = (int64_t)(e->server_time - t.ns);
			c->counter = 0;
		}
		retry_after_error(r, sane);
		break;
	case WGP_ERR_NOT_REGISTERED:
		r->active = false;
		raise_simple(c, ENGINE_EV_NOT_REGISTERED);
		break;
	case WGP_ERR_FULL:
	default:
		log_warn("the server refused %s: %s", wgp_type_name(r->type),
			 wgp_error_name(e->code));
		r->active = false;
		c->last_error = -ENOSPC;
		if (r == &c->reg) {
			c->refused = true;
			raise_simple(c, ENGINE_EV_SILENT);
		}
		break;
	}
}

static void handle_msg(struct client *c, const struct wgp_msg *m,
		       struct engine_clock t)
{
	struct client_peer *p;
	struct request *r;

	if (m->type == WGP_NOTIFY) {
		handle_notify(c, &m->u.notify, m->txid, t);
		return;
	}
	r = find_request(c, m, &p);
	if (m->type == WGP_RELAY_GRANT && (!r || r->type == WGP_RELAY)) {
		handle_relay_grant(c, r, p, &m->u.relay_grant, m->txid, t);
		return;
	}
	if (!r) {
		log_debug("%s with an unknown transaction id: ignored",
			  wgp_type_name(m->type));
		return;
	}
	if (m->type == WGP_ERROR) {
		handle_error(c, r, &m->u.error, t);
		return;
	}
	if (m->type == WGP_REGISTER_REPLY && r == &c->reg)
		handle_register_reply(c, &m->u.reg_reply, t);
	else if (m->type == WGP_LOOKUP_REPLY && p)
		handle_lookup_reply(c, p, &m->u.lookup_reply);
	else if (m->type == WGP_PROBE_REPLY && (r == &c->probe || r == &c->probe_main))
		handle_probe_reply(c, r, &m->u.probe_reply, t);
	else
		log_debug("%s does not answer %s: ignored", wgp_type_name(m->type),
			  wgp_type_name(r->type));
}

/*
 * A COOKIE: the server is under load and does no key agreement for us
 * until we prove we receive at our address. It is not sealed (the
 * server has no session with us yet), so it is taken only as what it
 * claims to be: it must echo a request in flight on this socket, and
 * all it does is make us attach its cookie and send that request again,
 * at once the first time only (a forged stream of COOKIEs cannot make
 * us send faster than the retransmission schedule).
 */
static void handle_cookie(struct client *c, enum engine_port port,
			  const struct wgp_msg *m, struct engine_clock t)
{
	struct client_cookie *ck = cookie_for(c, port);
	struct client_peer *p;
	struct request *r = find_request(c, m, &p);

	if (!r || r->port != port) {
		log_debug("COOKIE with an unknown transaction id: ignored");
		return;
	}
	memcpy(ck->value, m->cookie, WGP_COOKIE_LEN);
	ck->until_ms = t.ms + CLIENT_COOKIE_KEEP_MS;
	log_debug("the server is under load: proving our address for %s",
		  wgp_type_name(r->type));
	if (!r->cookie_resent) {
		r->cookie_resent = true;
		r->due_ms = 0;
	}
}

/* A datagram from the server that parses as a COOKIE: handled, true. */
static bool take_cookie(struct client *c, enum engine_port port,
			const uint8_t *pkt, size_t len, struct engine_clock t)
{
	struct wgp_msg m;

	if (len != WGP_COOKIE_MSG_LEN || wgp_parse_header(&m, pkt, len) < 0 ||
	    m.type != WGP_COOKIE)
		return false;
	handle_cookie(c, port, &m, t);
	return true;
}

void engine_input(struct client *c, enum engine_port port,
		  const uint8_t *pkt, size_t len, struct engine_clock t)
{
	struct wgp_msg m;

	if (take_cookie(c, port, pkt, len, t))
		return;
	if (wgp_open(&m, pkt, len, &c->sess) < 0) {
		log_debug("a datagram from the server's address that is "
			  "not an authentic message: dropped");
		return;
	}
	/* Our own requests reflected back open with the "up" key:
	 * never act on a request type. */
	if (wgp_type_is_request(m.type))
		return;
	if (port == ENGINE_PORT_MAIN)
		c->main_answered = true;
	handle_msg(c, &m, t);
}
