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
 *
 * With several servers, each is a conversation of its own (c->srv[]):
 * every one gets our REGISTER, a LOOKUP goes to every one that answers,
 * and one that stops answering is backed off alone: its REGISTER keeps
 * its own schedule and it is asked nothing else until it answers again.
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

void engine_init_servers(struct client *c)
{
	c->n_srv = c->o->n_servers;
	if (c->n_srv > WGPUNCH_MAX_SERVERS)
		c->n_srv = WGPUNCH_MAX_SERVERS;
	for (unsigned int i = 0; i < c->n_srv; i++) {
		struct client_server *s = &c->srv[i];

		s->index = i;
		s->so = &c->o->servers[i];
		s->main_sock.fd = -1;
		s->probe_sock.fd = -1;
	}
}

/* A server that answers: asked LOOKUPs and RELAYs. */
static bool server_answering(const struct client_server *s)
{
	return !s->silent && !s->refused;
}

static bool any_answering(const struct client *c)
{
	for (unsigned int i = 0; i < c->n_srv; i++) {
		if (server_answering(&c->srv[i]))
			return true;
	}
	return false;
}

bool client_registered(const struct client *c)
{
	for (unsigned int i = 0; i < c->n_srv; i++) {
		if (c->srv[i].registered)
			return true;
	}
	return false;
}

bool client_registering(const struct client *c)
{
	for (unsigned int i = 0; i < c->n_srv; i++) {
		if (c->srv[i].reg.active && server_answering(&c->srv[i]))
			return true;
	}
	return false;
}

/* The server whose clock our path counters follow: the first one that
 * registered us, else the first. */
static const struct client_server *clock_server(const struct client *c)
{
	for (unsigned int i = 0; i < c->n_srv; i++) {
		if (c->srv[i].registered)
			return &c->srv[i];
	}
	return &c->srv[0];
}

unsigned int client_rtt_ms(const struct client *c)
{
	return c->n_srv ? clock_server(c)->rtt_ms : 0;
}

bool client_relay_none(const struct client *c, uint64_t now)
{
	bool any = false;

	for (unsigned int i = 0; i < c->n_srv; i++) {
		if (!c->srv[i].registered)
			continue;
		if (now >= c->srv[i].relay_none_until)
			return false;
		any = true;
	}
	return any;
}

void client_server_addr(const struct client_server *s, uint16_t port,
			struct sockaddr_storage *ss)
{
	*ss = s->so->addr;
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons(port);
}

uint64_t client_clock_ns(const struct client *c)
{
	int64_t off = c->n_srv ? clock_server(c)->clock_offset_ns : 0;

	return wgp_now_ns() + (uint64_t)off;
}

/* srv's clock at the engine's time t. */
static uint64_t clock_ns_at(const struct client_server *s, struct engine_clock t)
{
	return t.ns + (uint64_t)s->clock_offset_ns;
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

static void raise_simple(struct client *c, struct client_server *s,
			 enum engine_event_type type)
{
	raise_event(c, &(struct engine_event){ .type = type, .srv = s });
}

/* The server answered: news if it was silent (client.c says so), and
 * it is asked things again. */
static void raise_answered(struct client *c, struct client_server *s)
{
	raise_simple(c, s, ENGINE_EV_ANSWERED);
	s->silent = false;
}

/* The server's word on p's endpoint and candidates. */
static void raise_endpoint(struct client *c, struct client_server *s,
			   struct client_peer *p, uint8_t flags,
			   const struct wgp_endpoint *ep,
			   const struct wgp_endpoint *cands)
{
	struct engine_event ev = {
		.type = ENGINE_EV_ENDPOINT,
		.srv = s,
		.peer = p,
		.flags = flags,
		.ep = ep,
		.cands = cands,
	};

	raise_event(c, &ev);
}

static uint64_t next_counter(struct client_server *s, struct engine_clock t)
{
	uint64_t now = clock_ns_at(s, t);

	/* Strictly increasing, and near the server's clock so a server
	 * that lost our state still takes it. */
	s->counter = now > s->counter ? now : s->counter + 1;
	return s->counter;
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

void engine_start_register(struct client *c, struct client_server *s)
{
	size_t n = 0;

	request_start(&s->reg, WGP_REGISTER, ENGINE_PORT_MAIN);
	/* The consent list is fixed for this transaction: the reply's
	 * record indices point into it. */
	for (size_t i = 0; i < c->num_peers && n < WGP_MAX_CONSENT; i++) {
		if (!c->peers[i].present)
			continue;
		memcpy(s->reg_keys[n++], c->peers[i].key, WGP_KEY_LEN);
	}
	s->n_reg = (unsigned int)n;
	s->reg_flags = own_flags(c);
}

void client_start_probe(struct client_server *s)
{
	/* A new check is new evidence of whether the server is there: an
	 * answer from before it stopped must not make its silence look
	 * like an older wgpunchd's (server_problem()). */
	s->main_answered = false;
	request_start(&s->probe_main, WGP_PROBE, ENGINE_PORT_MAIN);
	request_start(&s->probe, WGP_PROBE, ENGINE_PORT_PROBE);
	s->probe_giveup_ms = 0;
}

static void lookup_at(struct client_server *s, struct client_peer *p)
{
	if (!p->lookup[s->index].active)
		request_start(&p->lookup[s->index], WGP_LOOKUP, ENGINE_PORT_MAIN);
}

void client_start_lookup(struct client *c, struct client_peer *p)
{
	bool all = !any_answering(c);

	for (unsigned int i = 0; i < c->n_srv; i++) {
		if (all || server_answering(&c->srv[i]))
			lookup_at(&c->srv[i], p);
	}
}

/* The first answer about p wins: the other servers' LOOKUPs for it end. */
static void lookups_end(struct client *c, struct client_peer *p)
{
	for (unsigned int i = 0; i < c->n_srv; i++)
		p->lookup[i].active = false;
}

void client_start_relay(struct client_server *s, struct client_peer *p)
{
	if (p->relay.active)
		return;
	p->relay_srv = s->index;
	request_start(&p->relay, WGP_RELAY, ENGINE_PORT_MAIN);
}

static void build_register(struct client *c, struct client_server *s,
			   struct wgp_msg *m, struct engine_clock t)
{
	struct wgp_register *r = &m->u.reg;

	r->counter = next_counter(s, t);
	r->flags = s->reg_flags;
	r->n_consent = (uint8_t)s->n_reg;
	memcpy(r->cands, c->own_cands, sizeof(r->cands));
	for (unsigned int i = 0; i < s->n_reg; i++)
		wgp_consent_digest(r->consent[i], s->reg_keys[i]);
}

/* The cookie kept for a server port. */
static struct client_cookie *cookie_for(struct client_server *s,
					enum engine_port port)
{
	return port == ENGINE_PORT_PROBE ? &s->probe_cookie : &s->main_cookie;
}

/* The cookie to attach to a request to port at now_ms, or NULL. */
static const uint8_t *cookie_to_attach(struct client_server *s,
				       enum engine_port port, uint64_t now_ms)
{
	const struct client_cookie *ck = cookie_for(s, port);

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

/* Seal r for s into the out-queue: 0 or -errno. */
static int transmit(struct client *c, struct client_server *s,
		    struct request *r, const struct client_peer *p,
		    struct engine_clock t)
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
		build_register(c, s, &m, t);
		break;
	case WGP_LOOKUP:
		m.u.lookup.counter = next_counter(s, t);
		m.u.lookup.flags = own_flags(c);
		memcpy(m.u.lookup.target, p->key, WGP_KEY_LEN);
		memcpy(m.u.lookup.cands, c->own_cands, sizeof(m.u.lookup.cands));
		break;
	case WGP_PROBE:
		m.u.probe.timestamp = clock_ns_at(s, t);
		break;
	case WGP_RELAY:
		m.u.relay.counter = next_counter(s, t);
		memcpy(m.u.relay.target, p->key, WGP_KEY_LEN);
		break;
	}
	len = wgp_seal_cookie(d->buf, sizeof(d->buf), &m, &s->sess,
			      cookie_to_attach(s, r->port, t.ms));
	sodium_memzero(&m, sizeof(m));
	if (len < 0)
		return (int)len;
	d->server = s->index;
	d->port = r->port;
	d->type = r->type;
	d->len = (size_t)len;
	c->out.n++;
	if (r == &s->reg)
		s->register_sent_ms = t.ms;
	return 0;
}

/*
 * The server left RETX_MAX_TRIES REGISTERs unanswered: it is silent. It
 * is asked nothing else meanwhile; its LOOKUPs in flight end when
 * another server answers (that one has them too). The daemon says so
 * (client.c backs off); "up" keeps trying until its deadline.
 */
static void server_went_silent(struct client *c, struct client_server *s)
{
	if (c->o->daemon)
		raise_simple(c, s, ENGINE_EV_SILENT);
	s->silent = true;
	if (!any_answering(c))
		return;
	for (size_t i = 0; i < c->num_peers; i++)
		c->peers[i].lookup[s->index].active = false;
}

/* Returns false when the request has used up its tries this round. */
static bool service_one(struct client *c, struct client_server *s,
			struct request *r, const struct client_peer *p,
			struct engine_clock t)
{
	uint64_t now = t.ms;
	int ret;

	/* Once the daemon has found the server silent, its REGISTER
	 * never gives up: one every SILENT_RETRY_MS. */
	bool keep = r == &s->reg && s->silent && c->o->daemon;

	if (!r->active || now < r->due_ms)
		return true;
	/* The REGISTER went unanswered RETX_MAX_TRIES times: the server
	 * is silent (say so once), and it keeps going. */
	if (r == &s->reg && r->tries >= RETX_MAX_TRIES && !s->silent) {
		server_went_silent(c, s);
		keep = c->o->daemon;
	}
	/* "up" keeps trying until its deadline; the daemon gives a round
	 * RETX_MAX_TRIES sends and then backs off as a whole. The mapping
	 * check gives up sooner: registering waits for it. */
	if ((r->type == WGP_PROBE && r->tries >= PROBE_MAX_TRIES) ||
	    (r->tries >= RETX_MAX_TRIES && c->o->daemon && !keep)) {
		r->active = false;
		return false;
	}
	ret = transmit(c, s, r, p, t);
	if (ret < 0) {
		s->last_error = ret;
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
static void mapping_check_failed(struct client_server *s)
{
	char ep[ENDPOINT_STRLEN];

	s->nat = NAT_UNTESTED;
	if (s->have_self_main)
		log_warn("no answer from the server's probe port %u: cannot check "
			 "whether our NAT is symmetric; registering anyway",
			 s->so->probe_port);
	else	/* The registration will tell whether the server is there. */
		log_debug("mapping check: no answer from %s nor its probe port %u",
			  endpoint_format((struct sockaddr *)&s->so->addr, ep),
			  s->so->probe_port);
}

/* One server's REGISTER and mapping check; the earliest next due time. */
static uint64_t service_server(struct client *c, struct client_server *s,
			       struct engine_clock t)
{
	uint64_t next = UINT64_MAX, now = t.ms;
	bool probe_done;

	if (!service_one(c, s, &s->reg, NULL, t))
		raise_simple(c, s, ENGINE_EV_SILENT);
	/* Both probes are serviced, whatever the first one says. */
	probe_done = !service_one(c, s, &s->probe_main, NULL, t);
	probe_done |= !service_one(c, s, &s->probe, NULL, t);
	if (s->probe.active && s->probe_giveup_ms && now >= s->probe_giveup_ms)
		probe_done = true;
	if (probe_done) {
		s->probe_main.active = s->probe.active = false;
		s->probe_giveup_ms = 0;
		if (s->nat == NAT_UNKNOWN)
			mapping_check_failed(s);
		raise_simple(c, s, ENGINE_EV_NAT);
	}
	next = earliest(next, &s->reg);
	next = earliest(next, &s->probe_main);
	next = earliest(next, &s->probe);
	if (s->probe.active && s->probe_giveup_ms && s->probe_giveup_ms < next)
		next = s->probe_giveup_ms;
	return next;
}

uint64_t engine_service(struct client *c, struct engine_clock t)
{
	uint64_t next = UINT64_MAX, due;

	for (unsigned int i = 0; i < c->n_srv; i++) {
		due = service_server(c, &c->srv[i], t);
		if (due < next)
			next = due;
	}
	for (size_t i = 0; i < c->num_peers; i++) {
		struct client_peer *p = &c->peers[i];

		for (unsigned int j = 0; j < c->n_srv; j++) {
			service_one(c, &c->srv[j], &p->lookup[j], p, t);
			next = earliest(next, &p->lookup[j]);
		}
		if (p->relay_srv < c->n_srv) {
			service_one(c, &c->srv[p->relay_srv], &p->relay, p, t);
			next = earliest(next, &p->relay);
		}
	}
	return next;
}

/* Handling what the server sends. */

static bool txid_is(const struct request *r, const struct wgp_msg *m)
{
	return r->active && !memcmp(r->txid, m->txid, WGP_TXID_LEN);
}

/* A request in flight to s that m answers: only s's own. */
static struct request *find_request(struct client *c, struct client_server *s,
				    const struct wgp_msg *m,
				    struct client_peer **peer)
{
	*peer = NULL;
	if (txid_is(&s->reg, m))
		return &s->reg;
	if (txid_is(&s->probe, m))
		return &s->probe;
	if (txid_is(&s->probe_main, m))
		return &s->probe_main;
	for (size_t i = 0; i < c->num_peers; i++) {
		if (txid_is(&c->peers[i].lookup[s->index], m)) {
			*peer = &c->peers[i];
			return &c->peers[i].lookup[s->index];
		}
		if (c->peers[i].relay_srv == s->index &&
		    txid_is(&c->peers[i].relay, m)) {
			*peer = &c->peers[i];
			return &c->peers[i].relay;
		}
	}
	return NULL;
}

/* The first registration, and a new mapping, are news; a refresh is
 * not. */
static void log_registered(struct client_server *s,
			   const struct wgp_register_reply *rr)
{
	char ep[WGP_ENDPOINT_STRLEN], srv[ENDPOINT_STRLEN], old[WGP_ENDPOINT_STRLEN];
	unsigned int avail = (unsigned int)__builtin_popcountll(rr->available);

	wgp_endpoint_format(&rr->self, ep);
	endpoint_format((struct sockaddr *)&s->so->addr, srv);
	if (!s->have_reg_self)
		log_info("registered with %s: it sees us at %s; %u of %u peers "
			 "registered there too", srv, ep, avail, s->n_reg);
	else if (!wgp_endpoint_equal(&s->reg_self, &rr->self))
		log_info("the server %s now sees us at %s (was %s): our NAT mapping "
			 "changed", srv, ep, wgp_endpoint_format(&s->reg_self, old));
	else
		log_debug("registered with %s: it sees us at %s, ttl %u s, %u of "
			  "%u peers available", srv, ep, rr->ttl, avail, s->n_reg);
	s->reg_self = rr->self;
	s->have_reg_self = true;
}

static void handle_register_reply(struct client *c, struct client_server *s,
				  const struct wgp_register_reply *rr,
				  struct engine_clock t)
{
	struct engine_event ev = {
		.type = ENGINE_EV_REGISTERED,
		.srv = s,
		.reply = rr,
	};
	uint64_t have = 0;

	s->reg.active = false;
	s->refused = false;
	raise_answered(c, s);
	if (s->register_sent_ms) {
		s->rtt_ms = (unsigned int)(t.ms - s->register_sent_ms);
		s->have_rtt = true;
	}
	log_registered(s, rr);
	s->registered = true;
	s->registered_flags = s->reg_flags;
	s->ttl = rr->ttl;
	s->self_main = rr->self;
	s->have_self_main = true;
	/* Before the records: a new peer mapping gets its opener at once
	 * (client.c measures the hops to our NAT for its TTL). */
	raise_event(c, &ev);
	for (unsigned int i = 0; i < rr->n_peers; i++) {
		const struct wgp_peer_rec *rec = &rr->peers[i];
		struct client_peer *p;

		if (rec->index >= s->n_reg)
			continue;
		have |= 1ULL << rec->index;
		p = client_find_peer(c, s->reg_keys[rec->index]);
		if (p)
			raise_endpoint(c, s, p, rec->flags, &rec->ep, rec->cands);
	}
	/* Available but left out of the reply for size: ask one by one,
	 * this server (it said it has them). */
	for (unsigned int i = 0; i < s->n_reg; i++) {
		struct client_peer *p;

		if (!(rr->available & ~have & (1ULL << i)))
			continue;
		p = client_find_peer(c, s->reg_keys[i]);
		if (p && p->status != PEER_FRESH)
			lookup_at(s, p);
	}
	raise_simple(c, s, ENGINE_EV_NAT);
}

static void handle_lookup_reply(struct client *c, struct client_server *s,
				struct client_peer *p,
				const struct wgp_lookup_reply *lr)
{
	p->lookup[s->index].active = false;
	raise_answered(c, s);
	if (lr->status != WGP_LOOKUP_OK)
		return;
	lookups_end(c, p);
	raise_endpoint(c, s, p, lr->peer_flags, &lr->peer, lr->cands);
}

static void handle_probe_reply(struct client *c, struct client_server *s,
			       struct request *r,
			       const struct wgp_probe_reply *pr,
			       struct engine_clock t)
{
	r->active = false;
	raise_answered(c, s);
	if (r == &s->probe_main) {
		s->self_main = pr->self;
		s->have_self_main = true;
		if (s->probe.active)
			s->probe_giveup_ms = t.ms + PROBE_GRACE_MS;
	} else {
		s->self_probe = pr->self;
		s->have_self_probe = true;
	}
	raise_simple(c, s, ENGINE_EV_NAT);
}

/* A NOTIFY moves a peer's endpoint, so it must be fresh: its txid is
 * the server's stamp (fresh.h), or a capture replayed later from the
 * server's address could roll the peer back. */
static void handle_notify(struct client *c, struct client_server *s,
			  const struct wgp_notify *n,
			  const uint8_t txid[static WGP_TXID_LEN],
			  struct engine_clock t)
{
	struct client_peer *p = client_find_peer(c, n->peer);
	char k[WGP_KEY_B64_SIZE];

	wgp_key_to_base64(k, n->peer);
	if (!fresh_take_stamp(&s->notify_stamp, wgp_stamp_of(txid),
			      clock_ns_at(s, t))) {
		log_debug("NOTIFY about %s is stale or replayed: ignored", k);
		return;
	}
	if (!p || !p->present) {
		log_debug("NOTIFY about %s, not a peer of ours: ignored", k);
		return;
	}
	log_debug("peer %s registered: the server notified us", k);
	raise_endpoint(c, s, p, n->peer_flags, &n->ep, n->cands);
}

/* A RELAY_GRANT: the answer to our RELAY (r), or unsolicited (r NULL)
 * because the peer asked for the pair. Either way it must be about one
 * of our peers. */
static void handle_relay_grant(struct client *c, struct client_server *s,
			       struct request *r, struct client_peer *p,
			       const struct wgp_relay_grant *g,
			       const uint8_t txid[static WGP_TXID_LEN],
			       struct engine_clock t)
{
	struct engine_event ev = {
		.type = ENGINE_EV_RELAY_GRANT,
		.srv = s,
		.grant = g,
	};
	char k[WGP_KEY_B64_SIZE];

	if (r) {
		r->active = false;
		raise_answered(c, s);
		if (sodium_memcmp(p->key, g->peer, WGP_KEY_LEN)) {
			log_debug("RELAY_GRANT for another peer than asked: ignored");
			return;
		}
	} else {
		/* Unsolicited: fresh like a NOTIFY, from the same stamps. */
		if (!fresh_take_stamp(&s->notify_stamp, wgp_stamp_of(txid),
				      clock_ns_at(s, t))) {
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
static bool counter_plausible(const struct client_server *s, uint64_t last,
			      struct engine_clock t)
{
	return last <= clock_ns_at(s, t) + COUNTER_AHEAD_MAX_NS;
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

static void handle_error(struct client *c, struct client_server *s,
			 struct request *r, const struct wgp_error *e,
			 struct engine_clock t)
{
	bool sane = true;

	log_debug("%s refused: %s", wgp_type_name(r->type), wgp_error_name(e->code));
	switch (e->code) {
	case WGP_ERR_COUNTER:
		sane = counter_plausible(s, e->last_counter, t);
		if (!sane)
			log_warn("the server claims our last counter is %llu, far "
				 "ahead of its clock: ignored",
				 (unsigned long long)e->last_counter);
		else if (e->last_counter > s->counter)
			s->counter = e->last_counter;
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
			s->clock_offset_ns = (int64_t)(e->server_time - t.ns);
			s->counter = 0;
		}
		retry_after_error(r, sane);
		break;
	case WGP_ERR_NOT_REGISTERED:
		r->active = false;
		raise_simple(c, s, ENGINE_EV_NOT_REGISTERED);
		break;
	case WGP_ERR_FULL:
	default:
		log_warn("the server refused %s: %s", wgp_type_name(r->type),
			 wgp_error_name(e->code));
		r->active = false;
		s->last_error = -ENOSPC;
		if (r == &s->reg) {
			s->refused = true;
			raise_simple(c, s, ENGINE_EV_SILENT);
			s->silent = true;
		}
		break;
	}
}

static void handle_msg(struct client *c, struct client_server *s,
		       const struct wgp_msg *m, struct engine_clock t)
{
	struct client_peer *p;
	struct request *r;

	if (m->type == WGP_NOTIFY) {
		handle_notify(c, s, &m->u.notify, m->txid, t);
		return;
	}
	r = find_request(c, s, m, &p);
	if (m->type == WGP_RELAY_GRANT && (!r || r->type == WGP_RELAY)) {
		handle_relay_grant(c, s, r, p, &m->u.relay_grant, m->txid, t);
		return;
	}
	if (!r) {
		log_debug("%s with an unknown transaction id: ignored",
			  wgp_type_name(m->type));
		return;
	}
	if (m->type == WGP_ERROR) {
		handle_error(c, s, r, &m->u.error, t);
		return;
	}
	if (m->type == WGP_REGISTER_REPLY && r == &s->reg)
		handle_register_reply(c, s, &m->u.reg_reply, t);
	else if (m->type == WGP_LOOKUP_REPLY && r->type == WGP_LOOKUP && p)
		handle_lookup_reply(c, s, p, &m->u.lookup_reply);
	else if (m->type == WGP_PROBE_REPLY && (r == &s->probe || r == &s->probe_main))
		handle_probe_reply(c, s, r, &m->u.probe_reply, t);
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
static void handle_cookie(struct client *c, struct client_server *s,
			  enum engine_port port, const struct wgp_msg *m,
			  struct engine_clock t)
{
	struct client_cookie *ck = cookie_for(s, port);
	struct client_peer *p;
	struct request *r = find_request(c, s, m, &p);

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
static bool take_cookie(struct client *c, struct client_server *s,
			enum engine_port port, const uint8_t *pkt, size_t len,
			struct engine_clock t)
{
	struct wgp_msg m;

	if (len != WGP_COOKIE_MSG_LEN || wgp_parse_header(&m, pkt, len) < 0 ||
	    m.type != WGP_COOKIE)
		return false;
	handle_cookie(c, s, port, &m, t);
	return true;
}

void engine_input(struct client *c, unsigned int srv, enum engine_port port,
		  const uint8_t *pkt, size_t len, struct engine_clock t)
{
	struct client_server *s;
	struct wgp_msg m;

	if (srv >= c->n_srv)
		return;
	s = &c->srv[srv];
	if (take_cookie(c, s, port, pkt, len, t))
		return;
	if (wgp_open(&m, pkt, len, &s->sess) < 0) {
		log_debug("a datagram from the server's address that is "
			  "not an authentic message: dropped");
		return;
	}
	/* Our own requests reflected back open with the "up" key:
	 * never act on a request type. */
	if (wgp_type_is_request(m.type))
		return;
	if (port == ENGINE_PORT_MAIN)
		s->main_answered = true;
	handle_msg(c, s, &m, t);
}
