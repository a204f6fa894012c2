// SPDX-License-Identifier: MIT
/*
 * Rounds and the event loop.
 *
 * A round: read the WireGuard device again (peers come and go, ports and
 * marks change), (re)open the raw sockets if the port, mark or source
 * address moved, and register with the full consent list. Replies and
 * NOTIFYs then arrive at any time; each endpoint offered is decided on
 * by punch_decide() against the device as last read, and applied.
 *
 * With several servers, a round registers with each (each has its own
 * pair of raw sockets); one that stays silent is backed off alone.
 *
 * Nothing blocks: one poll() over the raw sockets and a signalfd, with
 * a timeout that is the earliest of the next retransmission, the next
 * round and (for "up") the deadline.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sodium.h>
#include "array.h"
#include "client.h"
#include "endpoint.h"
#include "hostaddr.h"
#include "key.h"
#include "log.h"
#include "punch.h"
#include "sandbox.h"

#define RECV_BUF 4096

static struct timespec now_realtime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

static const char *key_b64(const uint8_t key[static WGP_KEY_LEN],
			   char buf[static WGP_KEY_B64_SIZE])
{
	wgp_key_to_base64(buf, key);
	return buf;
}

/* The shortest registration lifetime of the servers that registered
 * us (0: none did). */
static uint32_t min_ttl(const struct client *c)
{
	uint32_t ttl = 0;

	for (unsigned int i = 0; i < c->n_srv; i++) {
		const struct client_server *s = &c->srv[i];

		if (s->registered && s->ttl && (!ttl || s->ttl < ttl))
			ttl = s->ttl;
	}
	return ttl;
}

/* Peers. */

/*
 * A peer's outcome changed. The daemon's log is its only output, so it
 * says so there; "up" prints every outcome once, on stdout, at the end,
 * so its log repeats them only at debug level (for the timeline).
 */
static void peer_changed(const struct client *c, const struct client_peer *p)
{
	enum log_level level = LOG_LEVEL_INFO;
	char k[WGP_KEY_B64_SIZE];

	if (!c->o->daemon)
		level = LOG_LEVEL_DEBUG;
	else if (p->status == PEER_NO_PATH)
		level = LOG_LEVEL_WARN;
	else if (p->status == PEER_FAILED)
		level = LOG_LEVEL_ERROR;
	if (log_enabled(level))
		log_msg(level, "peer %s: %s", key_b64(p->key, k), p->why);
}

/* Log only changes of status (and of what a path peer uses): a fresh
 * handshake's age changes every round, and "left alone" every 20 s is
 * noise. */
void client_peer_set_status(const struct client *c, struct client_peer *p,
			    enum peer_status st, const char *fmt, ...)
{
	char old[sizeof(p->why)];
	bool changed = p->status != st;
	va_list ap;

	memcpy(old, p->why, sizeof(old));
	p->status = st;
	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
	if (changed || (st == PEER_SET && strcmp(old, p->why)))
		peer_changed(c, p);
}

/* Forget the peers removed from the interface (present[i] false),
 * keeping the others in order. */
static void drop_removed(struct client *c, const bool *present)
{
	char k[WGP_KEY_B64_SIZE];
	size_t kept = 0;

	for (size_t i = 0; i < c->num_peers; i++) {
		struct client_peer *p = &c->peers[i];

		if (!present[i]) {
			log_debug("peer %s: removed from the interface",
				  key_b64(p->key, k));
			sodium_memzero(&p->keys, sizeof(p->keys));
			continue;
		}
		if (kept != i)
			c->peers[kept] = *p;
		kept++;
	}
	c->num_peers = kept;
}

static int add_new(struct client *c, const size_t *fresh, size_t n)
{
	char k[WGP_KEY_B64_SIZE];

	if (!n)
		return 0;
	if (lib_grow((void **)&c->peers, &c->peers_cap, c->num_peers + n,
		     sizeof(*c->peers)))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct client_peer *p = &c->peers[c->num_peers++];

		memset(p, 0, sizeof(*p));
		memcpy(p->key, c->dev.peers[fresh[i]].public_key, WGP_KEY_LEN);
		wgp_consent_digest(p->digest, p->key);
		path_init(&p->paths);
		log_debug("peer %s: new", key_b64(p->key, k));
	}
	qsort(c->peers, c->num_peers, sizeof(*c->peers), punch_key_cmp);
	return 0;
}

/*
 * Track exactly the device's peers, keeping c->peers sorted by key. In
 * O(n log n): an interface may have tens of thousands of peers, and a
 * pairwise match took seconds, during which nothing else ran.
 */
static int track_peers(struct client *c)
{
	bool *present = calloc(c->num_peers + 1, sizeof(*present));
	size_t *fresh = calloc(c->dev.num_peers + 1, sizeof(*fresh));
	ssize_t n = -ENOMEM;

	if (present && fresh)
		n = punch_sync_plan(c->peers, c->num_peers, sizeof(*c->peers),
				    c->dev.peers, c->dev.num_peers, present, fresh);
	if (n >= 0) {
		drop_removed(c, present);
		n = add_new(c, fresh, (size_t)n);
	}
	free(present);
	free(fresh);
	return (int)n;
}

static int sync_peers(struct client *c)
{
	struct timespec now = now_realtime();
	int ret = track_peers(c);

	if (ret < 0)
		return ret;
	for (size_t i = 0; i < c->dev.num_peers; i++) {
		const struct wg_peer *wp = &c->dev.peers[i];
		struct client_peer *p = client_find_peer(c, wp->public_key);

		p->present = true;
		p->handshake = wp->last_handshake;
		if (handshake_fresh(&wp->last_handshake, &now)) {
			p->proven = true;
			/* A path in use keeps saying which one it is. */
			if (p->status != PEER_SET)
				client_peer_set_status(c, p, PEER_FRESH,
						       "latest handshake %ld s ago: left alone",
						       handshake_age(&wp->last_handshake, &now));
		} else if (p->status == PEER_FRESH) {
			/* The tunnel went quiet: find out now which path
			 * still works, not at the next retry. */
			p->proven = false;
			path_reprobe_all(&p->paths, wgp_mono_ms(), 0);
			client_peer_set_status(c, p,
					       p->paths.n ? PEER_PROBING : PEER_WAITING,
					       "latest handshake %ld s ago: punching again",
					       handshake_age(&wp->last_handshake, &now));
		}
	}
	if (c->dev.num_peers > WGP_MAX_CONSENT)
		log_warn("%zu peers: only the first %u can be registered",
			 c->dev.num_peers, WGP_MAX_CONSENT);
	return 0;
}

int client_set_endpoint(struct client *c, struct client_peer *p,
			const struct sockaddr *sa, const char *how,
			bool initiate)
{
	struct wg_peer *wp = wg_find_peer(&c->dev, p->key);
	char ep[ENDPOINT_STRLEN];
	uint16_t ka;
	int ret;

	if (!wp)
		return -ENOENT;
	if (c->o->status_only)
		return 0;
	ka = keepalive_for(wp, c->o->keepalive);
	endpoint_format(sa, ep);
	p->keepalive_due_ms = 0;
	if (!initiate) {
		p->keepalive_due_ms = wgp_mono_ms() + KEEPALIVE_GRACE_MS;
		ka = 0;
	}
	ret = wg_set_peer_endpoint(c->o->ifname, p->key, sa, ka);
	if (ret == -EINTR)	/* stopping: nothing failed */
		return ret;
	if (ret < 0) {
		client_peer_set_status(c, p, PEER_FAILED,
				       "setting endpoint %s (%s) failed: %s",
				       ep, how, strerror(-ret));
		return ret;
	}
	/* Keep our copy of the device in step with what we set. */
	memcpy(&wp->endpoint, sa, endpoint_len(sa));
	wp->persistent_keepalive = ka;
	p->set_ms = wgp_mono_ms();
	p->warned_no_handshake = false;
	return 0;
}

/*
 * A peer whose wgpunch answers no path probes (an older version): set
 * the mapping the server saw, as before, and let WireGuard's handshakes
 * tell. Proven only by a handshake.
 */
static void apply_endpoint(struct client *c, struct client_peer *p)
{
	struct wg_peer *wp = wg_find_peer(&c->dev, p->key);
	struct timespec now = now_realtime();
	char ep[ENDPOINT_STRLEN];
	struct sockaddr_storage ss;
	bool was_set;
	uint16_t ka;

	if (!wp || !p->have_ep)
		return;
	p->have_ep = false;
	if (!wgp_endpoint_to_sockaddr(&p->ep, &ss))
		return;
	ka = keepalive_for(wp, c->o->keepalive);
	endpoint_format((struct sockaddr *)&ss, ep);

	switch (punch_decide(wp, &now, (struct sockaddr *)&ss, ka)) {
	case PUNCH_LEAVE_FRESH:
		client_peer_set_status(c, p, PEER_FRESH,
				       "latest handshake %ld s ago: left alone",
				       handshake_age(&wp->last_handshake, &now));
		break;
	case PUNCH_ALREADY_SET:
		client_peer_set_status(c, p, PEER_SET,
				       "endpoint %s, keepalive %u s (already set; the "
				       "peer answers no path probes%s)", ep, ka,
				       p->proven ? "" : ": waiting for a handshake");
		break;
	case PUNCH_SET:
		was_set = p->status == PEER_SET;
		if (client_set_endpoint(c, p, (struct sockaddr *)&ss, "legacy",
					true) < 0)
			break;
		client_peer_set_status(c, p, PEER_SET,
				       "endpoint %s, keepalive %u s (the peer answers no "
				       "path probes: waiting for a handshake)", ep, ka);
		if (was_set)	/* another endpoint is news, too */
			peer_changed(c, p);
		break;
	}
}

/* Why ep must not be used for p (logged at debug level), or NULL. */
static const char *endpoint_refusal(const struct client *c,
				    const struct client_peer *p,
				    const struct wgp_endpoint *ep, const char *what)
{
	char k[WGP_KEY_B64_SIZE], e[WGP_ENDPOINT_STRLEN];
	struct wgp_endpoint server;
	const char *why = NULL;

	if (!ep->family)	/* an unused candidate slot */
		return "no address";
	/* Never any of our servers, whichever one offered it. */
	for (unsigned int i = 0; i < c->n_srv && !why; i++) {
		const struct client_server_opts *so = c->srv[i].so;

		if (wgp_endpoint_from_sockaddr(&server, (const struct sockaddr *)&so->addr,
					       sizeof(so->addr)) < 0)
			memset(&server, 0, sizeof(server));
		why = punch_endpoint_refusal(ep, &server, so->probe_port);
	}
	if (why)
		log_debug("peer %s: the server offered %s %s, %s: refused",
			  key_b64(p->key, k), what, wgp_endpoint_format(ep, e), why);
	return why;
}

/*
 * What the server says about a peer, checked before anything uses it:
 * a hostile or compromised server must not aim our tunnels at ourselves,
 * a multicast group or itself. Refused addresses become empty slots.
 */
void client_offer_endpoint(struct client *c, struct client_peer *p,
			   uint8_t flags, const struct wgp_endpoint *ep,
			   const struct wgp_endpoint *cands, unsigned int n)
{
	struct wgp_endpoint ok_cands[WGP_MAX_CANDIDATES] = { 0 };
	struct wgp_endpoint ok_ep = { 0 };
	char e[WGP_ENDPOINT_STRLEN];
	const char *why;

	if (n > WGP_MAX_CANDIDATES)
		n = WGP_MAX_CANDIDATES;
	for (unsigned int i = 0; i < n; i++) {
		if (!endpoint_refusal(c, p, &cands[i], "candidate"))
			ok_cands[i] = cands[i];
	}
	why = endpoint_refusal(c, p, ep, "endpoint");
	if (!why)
		ok_ep = *ep;
	p->ep_flags = flags;
	p->known_flags = true;
	if (flags & WGP_F_PROBES) {
		p->ep = ok_ep;
		client_paths_offer(c, p, &ok_ep, ok_cands, n);
		return;
	}
	/* A peer without probes gets the endpoint set as it is: only
	 * addresses that can lead to another host, never link-local
	 * (only a path probe may prove such a path). */
	if (why) {
		if (p->status == PEER_WAITING)
			client_peer_set_status(c, p, PEER_NO_PATH,
					       "endpoint %s refused: %s (the server's "
					       "offer)", wgp_endpoint_format(ep, e), why);
		return;
	}
	p->ep = ok_ep;
	p->have_ep = true;
	apply_endpoint(c, p);
}

/* The check against srv completed: its verdict. */
static void server_nat_verdict(struct client_server *s)
{
	char a[WGP_ENDPOINT_STRLEN], b[WGP_ENDPOINT_STRLEN];
	enum nat_type nat;

	if (!s->have_self_main || !s->have_self_probe)
		return;
	nat = wgp_endpoint_equal(&s->self_main, &s->self_probe) ?
	      NAT_CONE : NAT_SYMMETRIC;
	if (nat != s->nat && nat == NAT_SYMMETRIC)
		log_warn("our NAT maps per destination (symmetric): the server "
			 "saw %s on port %u and %s on port %u",
			 wgp_endpoint_format(&s->self_main, a),
			 endpoint_port((struct sockaddr *)&s->so->addr),
			 wgp_endpoint_format(&s->self_probe, b),
			 s->so->probe_port);
	else if (nat != s->nat)
		log_debug("our NAT keeps one mapping: %s",
			  wgp_endpoint_format(&s->self_main, a));
	s->nat = nat;
}

/* Our NAT: the first server's (in the order given) whose check
 * completed; untested when none completed and none is running. */
static enum nat_type overall_nat(const struct client *c)
{
	bool running = false, untested = false;

	for (unsigned int i = 0; i < c->n_srv; i++) {
		const struct client_server *s = &c->srv[i];

		if (s->nat == NAT_CONE || s->nat == NAT_SYMMETRIC)
			return s->nat;
		running |= s->probe.active || s->probe_main.active;
		untested |= s->nat == NAT_UNTESTED;
	}
	return running || !untested ? NAT_UNKNOWN : NAT_UNTESTED;
}

static bool checks_running(const struct client *c)
{
	for (unsigned int i = 0; i < c->n_srv; i++) {
		if (c->srv[i].probe.active || c->srv[i].probe_main.active)
			return true;
	}
	return false;
}

void client_nat_update(struct client *c, struct client_server *srv)
{
	uint8_t flag;

	if (srv)
		server_nat_verdict(srv);
	c->nat = overall_nat(c);
	if (c->nat == NAT_UNKNOWN && checks_running(c))
		return;
	/* Registering waited for the check: peers learn our flag at once. */
	if (c->reg_pending)
		client_start_register(c);
	for (size_t i = 0; i < c->num_peers; i++) {
		if (c->peers[i].have_ep)
			apply_endpoint(c, &c->peers[i]);
	}
	/* Peers must learn what we are: register again with the flag, with
	 * each server that has the other one. */
	flag = c->nat == NAT_SYMMETRIC ? WGP_F_SYMMETRIC : 0;
	for (unsigned int i = 0; i < c->n_srv; i++) {
		struct client_server *s = &c->srv[i];

		if (s->registered && !s->reg.active &&
		    (s->registered_flags & WGP_F_SYMMETRIC) != flag)
			engine_start_register(c, s);
	}
}

/*
 * What went wrong with a server, as precisely as we can know. The
 * server drops what it cannot authenticate without a word (answering
 * would make it a reflector), so a wrong key looks exactly like a dead
 * server or a firewall: name all three.
 */
static const char *server_problem(const struct client_server *s, char *buf,
				  size_t len)
{
	char ep[ENDPOINT_STRLEN];

	endpoint_format((struct sockaddr *)&s->so->addr, ep);
	if (s->refused)
		snprintf(buf, len, "the rendezvous server at %s refused to "
			 "register us", ep);
	else if (s->main_answered)
		snprintf(buf, len, "the rendezvous server at %s answers probes "
			 "but not our registration (a wgpunchd older than "
			 "protocol version 2?)", ep);
	else
		snprintf(buf, len, "no answer from the rendezvous server at %s "
			 "(wrong --server-key, server down, or UDP blocked?)", ep);
	return buf;
}

/* Every server that has not registered us, and why ("; " between). */
static const char *servers_problem(const struct client *c, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < c->n_srv && used < len; i++) {
		char one[256];

		if (c->srv[i].registered)
			continue;
		server_problem(&c->srv[i], one, sizeof(one));
		used += (size_t)snprintf(buf + used, len - used, "%s%s",
					 used ? "; " : "", one);
	}
	return buf;
}

static bool other_answering(const struct client *c, const struct client_server *srv)
{
	for (unsigned int i = 0; i < c->n_srv; i++) {
		const struct client_server *s = &c->srv[i];

		if (s != srv && s->registered && !s->silent && !s->refused)
			return true;
	}
	return false;
}

void client_server_answered(struct client *c, struct client_server *s)
{
	char ep[ENDPOINT_STRLEN];

	if (s->silent)
		log_info("the rendezvous server at %s answers again",
			 endpoint_format((struct sockaddr *)&s->so->addr, ep));
	s->failures = 0;
	s->last_error = 0;
	c->failures = 0;
}

/* Say it when a server goes silent, not at every retry while it stays
 * so (backing off up to 5 minutes, that would still be a line per try).
 * Rounds back off only when no other server answers: the others carry
 * on as they were. */
void client_server_silent(struct client *c, struct client_server *s)
{
	unsigned int delay = 0;
	char why[256];
	bool others = other_answering(c, s);

	s->failures++;
	if (!others) {
		c->failures++;
		delay = round_delay_ms(c->failures, min_ttl(c));
		c->next_round_ms = wgp_mono_ms() + delay;
	}
	if (!s->silent && c->o->daemon)
		log_warn("%s; registering again every %u s until it answers%s",
			 server_problem(s, why, sizeof(why)), SILENT_RETRY_MS / 1000,
			 others ? " (the other servers carry on)" : "");
	else if (!s->silent)
		log_warn("%s", server_problem(s, why, sizeof(why)));
	else if (!others)
		log_debug("still no answer from the server; next round in %u s",
			  delay / 1000);
}

/* The engine (client_proto.c): its datagrams in and out, its events. */

/* The socket WireGuard's port sends from toward the first server we
 * have one for: its host address is the candidate listed first. */
static const struct sockaddr *preferred_source(const struct client *c)
{
	for (unsigned int i = 0; i < c->n_srv; i++) {
		if (c->srv[i].main_sock.fd >= 0)
			return (const struct sockaddr *)&c->srv[i].main_sock.src;
	}
	return NULL;
}

/* Our host candidates: the addresses of our interfaces with WireGuard's
 * port, the one WireGuard leaves from first. */
static void gather_candidates(struct client *c)
{
	int n;

	struct wgp_endpoint mapped;
	bool have_mapped = client_portmap_candidate(c, &mapped);

	memset(c->own_cands, 0, sizeof(c->own_cands));
	/* The port mapping takes the last slot: it is the one candidate a
	 * symmetric NAT's peers can reach. */
	n = hostaddr_gather(c->own_cands, WGP_MAX_CANDIDATES - have_mapped,
			    c->o->ifname, c->dev.listen_port, preferred_source(c));
	if (n < 0) {
		log_debug("listing our addresses: %s", strerror(-n));
		n = 0;
	}
	if (have_mapped)
		c->own_cands[n] = mapped;
}

/* The peers' probes may arrive before the server's word on them. */
static void derive_keys(struct client *c, const struct client_server *s)
{
	for (unsigned int i = 0; i < s->n_reg; i++) {
		struct client_peer *p = client_find_peer(c, s->reg_keys[i]);

		if (p)
			client_paths_keys(c, p);
	}
}

/*
 * Register with every server we have a socket toward. A silent server
 * whose REGISTER is still going keeps its schedule (backed off alone):
 * starting it over would send it a burst every round.
 */
void client_start_register(struct client *c)
{
	c->reg_pending = false;
	gather_candidates(c);
	for (unsigned int i = 0; i < c->n_srv; i++) {
		struct client_server *s = &c->srv[i];

		if (s->main_sock.fd < 0 || (s->silent && s->reg.active))
			continue;
		engine_start_register(c, s);
		derive_keys(c, s);
	}
}

static void registered(struct client *c, struct client_server *s)
{
	/* A new peer mapping gets its opener at once, and the opener's
	 * TTL needs the hops to our NAT. */
	client_paths_measure_hops(c, &s->reg_self);
	/* The daemon's next round counts from this answer, now that the
	 * TTL it must stay within is known (the shortest of the servers'). */
	if (c->o->daemon)
		c->next_round_ms = wgp_mono_ms() +
				   jitter_ms(round_delay_ms(0, min_ttl(c)),
					     randombytes_random());
}

/* What we do with the engine's decisions. */
static void client_event(struct client *c, const struct engine_event *ev)
{
	switch (ev->type) {
	case ENGINE_EV_ANSWERED:
		client_server_answered(c, ev->srv);
		break;
	case ENGINE_EV_SILENT:
		client_server_silent(c, ev->srv);
		break;
	case ENGINE_EV_REGISTERED:
		registered(c, ev->srv);
		break;
	case ENGINE_EV_ENDPOINT:
		client_offer_endpoint(c, ev->peer, ev->flags, ev->ep, ev->cands,
				      WGP_MAX_CANDIDATES);
		break;
	case ENGINE_EV_RELAY_GRANT:
		client_relay_granted(c, ev->srv, ev->peer, ev->grant);
		break;
	case ENGINE_EV_NAT:
		client_nat_update(c, ev->srv);
		break;
	case ENGINE_EV_NOT_REGISTERED:
		/* That server forgot us; the others did not. */
		if (!ev->srv->reg.active) {
			engine_start_register(c, ev->srv);
			derive_keys(c, ev->srv);
		}
		break;
	}
}

static struct engine_clock engine_now(void)
{
	return (struct engine_clock){ .ms = wgp_mono_ms(), .ns = wgp_now_ns() };
}

static const struct rawsock *server_sock(const struct client_server *s,
					 enum engine_port port)
{
	return port == ENGINE_PORT_PROBE ? &s->probe_sock : &s->main_sock;
}

uint64_t client_service_requests(struct client *c, uint64_t now)
{
	struct engine_clock t = { .ms = now, .ns = wgp_now_ns() };
	uint64_t next = engine_service(c, t);

	for (size_t i = 0; i < c->out.n; i++) {
		const struct engine_datagram *d = &c->out.d[i];
		struct client_server *s = &c->srv[d->server];
		const struct rawsock *sock = server_sock(s, d->port);
		int ret = sock->fd < 0 ? -ENOTCONN :
			  rawsock_send(sock, d->buf, d->len);

		if (ret < 0) {
			s->last_error = ret;
			log_debug("sending %s: %s", wgp_type_name(d->type),
				  strerror(-ret));
		}
	}
	c->out.n = 0;
	return next;
}

void client_receive(struct client *c, struct client_server *srv,
		    enum engine_port port)
{
	static uint8_t buf[RECV_BUF];
	const struct rawsock *sock = server_sock(srv, port);
	const uint8_t *payload;
	ssize_t n;

	for (;;) {
		n = rawsock_recv(sock, buf, sizeof(buf), &payload);
		if (n == -EAGAIN)
			break;
		c->rx_server++;
		if (n < 0) {
			if (n != -EBADMSG)
				log_debug("receive: %s", strerror((int)-n));
			if (n != -EBADMSG && n != -ECONNREFUSED &&
			    n != -EHOSTUNREACH && n != -ENETUNREACH)
				break;
			continue;
		}
		engine_input(c, srv->index, port, payload, (size_t)n, engine_now());
	}
}

/* Rounds. */

/* Why the interface could not be read, as the user can act on it. */
static void device_error(const struct client *c, int err)
{
	switch (err) {
	case -ENODEV:
		log_error("reading the WireGuard interface: no such WireGuard "
			  "interface");
		break;
	case -EACCES:
		log_error("reading the WireGuard interface: permission denied "
			  "reading %s/%s.sock (needs root, or the user that runs "
			  "the WireGuard implementation)", WG_UAPI_DIR, c->o->ifname);
		break;
	case -EPERM:
		log_error("reading the WireGuard interface: permission denied by "
			  "the kernel (needs CAP_NET_ADMIN)");
		break;
	case -EINTR:	/* a signal: the loop says which */
		log_debug("reading the WireGuard interface: interrupted");
		break;
	case -ETIMEDOUT:
		log_error("reading the WireGuard interface: no complete answer "
			  "in time");
		break;
	default:
		log_error("reading the WireGuard interface: %s", strerror(-err));
		break;
	}
}

static int refresh_device(struct client *c)
{
	struct wg_device dev;
	int ret;

	ret = wg_get_device(c->o->ifname, &dev);
	if (ret < 0) {
		device_error(c, ret);
		return ret;
	}
	if (!dev.has_private_key || !dev.listen_port) {
		log_error("the interface has no %s yet",
			  !dev.has_private_key ? "private key" : "listen port");
		wg_free_device(&dev);
		return -ENOKEY;
	}
	/* Every offer and endpoint set looks a peer up in it. */
	wg_sort_peers(&dev);
	if (c->have_dev)
		wg_free_device(&c->dev);
	c->dev = dev;
	c->have_dev = true;
	return sync_peers(c);
}

static int refresh_session(struct client *c)
{
	char ep[ENDPOINT_STRLEN];
	int ret;

	if (c->have_sess && !memcmp(c->sess_pub, c->dev.public_key, WGP_KEY_LEN))
		return 0;
	for (unsigned int i = 0; i < c->n_srv; i++) {
		struct client_server *s = &c->srv[i];

		ret = wgp_session_client(&s->sess, c->dev.private_key,
					 c->dev.public_key, s->so->key);
		if (ret < 0 && c->n_srv == 1) {
			log_error("the server key is not usable (a low-order point)");
			return ret;
		}
		if (ret < 0) {
			log_error("the key of the server %s is not usable (a "
				  "low-order point)",
				  endpoint_format((struct sockaddr *)&s->so->addr, ep));
			return ret;
		}
		/* A new key is a new identity: its registration starts
		 * over. */
		s->registered = false;
	}
	memcpy(c->sess_pub, c->dev.public_key, WGP_KEY_LEN);
	c->have_sess = true;
	/* ... and so does every path (the path keys come from it). */
	for (size_t i = 0; i < c->num_peers; i++)
		client_paths_peer_reset(c, &c->peers[i]);
	return 0;
}

static bool sockets_current(struct client *c, struct client_server *srv)
{
	struct sockaddr_storage src;
	struct rawsock *s = &srv->main_sock;

	if (s->fd < 0 || s->wg_port != c->dev.listen_port ||
	    s->fwmark != c->dev.fwmark)
		return false;
	if (rawsock_route_source((struct sockaddr *)&srv->so->addr, c->dev.fwmark,
				 &src) < 0)
		return true;	/* no route now: keep what we have */
	/* Ports differ (ours holds wg_port); compare addresses only. */
	if (src.ss_family == AF_INET)
		((struct sockaddr_in *)&src)->sin_port = htons(s->wg_port);
	else
		((struct sockaddr_in6 *)&src)->sin6_port = htons(s->wg_port);
	return endpoint_equal((struct sockaddr *)&src, (struct sockaddr *)&s->src);
}

/* The raw sockets toward one server, (re)opened if WireGuard's port,
 * mark or our source address toward it moved. 0 or -errno. */
static int refresh_server_sockets(struct client *c, struct client_server *s)
{
	struct sockaddr_storage probe;
	char ep[ENDPOINT_STRLEN];
	int ret;

	if (sockets_current(c, s))
		return 0;
	rawsock_close(&s->main_sock);
	rawsock_close(&s->probe_sock);
	ret = rawsock_open(&s->main_sock, (struct sockaddr *)&s->so->addr,
			   c->dev.listen_port, c->dev.fwmark,
			   WGP_COOKIE_MSG_LEN);
	if (ret < 0) {
		log_error("raw socket toward %s: %s%s",
			  endpoint_format((struct sockaddr *)&s->so->addr, ep),
			  strerror(-ret), ret == -EPERM ?
			  " (needs CAP_NET_RAW, and CAP_NET_ADMIN for a fwmark)" : "");
		return ret;
	}
	client_server_addr(s, s->so->probe_port, &probe);
	ret = rawsock_open(&s->probe_sock, (struct sockaddr *)&probe,
			   c->dev.listen_port, c->dev.fwmark,
			   WGP_COOKIE_MSG_LEN);
	if (ret < 0)
		log_warn("raw socket toward the probe port %s: %s; the mapping "
			 "check is off", endpoint_format((struct sockaddr *)&probe, ep),
			 strerror(-ret));
	log_debug("sending from %s (WireGuard's port)",
		  endpoint_format((struct sockaddr *)&s->main_sock.src, ep));
	/* A new source may mean a new mapping: check it again. */
	s->nat = NAT_UNKNOWN;
	s->have_self_main = s->have_self_probe = false;
	c->nat = overall_nat(c);
	return 0;
}

/* A server we cannot open a socket toward is left out of this round;
 * the round fails only when that is every server. */
static int refresh_sockets(struct client *c)
{
	int ret = 0, ok = 0;

	for (unsigned int i = 0; i < c->n_srv; i++) {
		int r = refresh_server_sockets(c, &c->srv[i]);

		if (r < 0 && !ret)
			ret = r;
		ok += r == 0;
	}
	return ok ? 0 : ret;
}

static int round_start(struct client *c)
{
	int ret;

	ret = refresh_device(c);
	if (!ret)
		ret = refresh_session(c);
	if (!ret)
		ret = refresh_sockets(c);
	if (!ret)
		ret = client_paths_open(c);
	if (ret < 0)
		return ret;
	client_portmap_start(c);
	if (!c->dev.num_peers) {
		/* "up" stops here (client_up); the daemon waits for some. */
		if (!c->o->daemon || !c->warned_no_peers)
			log_error("the interface %s has no peers: nothing to punch "
				  "(add them with wg(8) first)", c->o->ifname);
		c->warned_no_peers = true;
		return -ENOENT;
	}
	c->warned_no_peers = false;
	/* "up" checks the mapping once; the daemon every round, since a
	 * NAT can change (reboot, failover, another network). Both
	 * answers of a check must come from the same round. Each server
	 * checks it; a silent one is not asked until it answers again. */
	for (unsigned int i = 0; i < c->n_srv; i++) {
		struct client_server *s = &c->srv[i];

		if (!c->o->daemon && s->nat != NAT_UNKNOWN)
			continue;
		if (s->silent && c->n_srv > 1)
			continue;
		s->have_self_main = s->have_self_probe = false;
		/* Without a socket toward the probe port, no check. */
		if (s->probe_sock.fd >= 0)
			client_start_probe(s);
	}
	/* Register once we know whether our NAT is symmetric: a peer that
	 * learns our endpoint without the flag would try, and report
	 * success, on a path that cannot work. A known type is used at
	 * once (and corrected by client_nat_update() if it changed). */
	if (c->nat == NAT_UNKNOWN && checks_running(c))
		c->reg_pending = true;
	else
		client_start_register(c);
	return 0;
}

/* The event loop. */

/* The daemon takes SIGHUP too ("look again now"); "up" dies of it as a
 * terminal's program should. */
static int signals_open(sigset_t *old, bool hup)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (hup)
		sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, old) < 0)
		return -errno;
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

static void signal_read(struct client *c, int fd)
{
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			log_info("SIGHUP: reading the interface and registering "
				 "again now");
			c->next_round_ms = 0;
			continue;
		}
		log_info("%s: stopping", strsignal((int)si.ssi_signo));
		c->stop = true;
	}
}

/* "up" is done with a peer once its path is proven (a probe answered,
 * or a handshake), or nothing more will come of trying before the
 * deadline. */
static bool peer_resolved(const struct client_peer *p)
{
	switch (p->status) {
	case PEER_NO_PATH:
		/* Never before the deadline. The peer may not have heard of
		 * us yet (its registration lost or late), and when it does,
		 * its probes reach us through the entry our own probes left
		 * on our NAT; we answer them, and that is a path. */
		return false;
	case PEER_FRESH:
	case PEER_FAILED:
		return !p->have_ep;
	case PEER_SET:
		return p->proven && !p->have_ep && !p->keepalive_due_ms;
	case PEER_WAITING:
	case PEER_PROBING:
		break;
	}
	return false;
}

static bool peer_ok(const struct client_peer *p)
{
	return p->status == PEER_FRESH || (p->status == PEER_SET && p->proven);
}

static bool all_resolved(const struct client *c)
{
	for (size_t i = 0; i < c->num_peers; i++) {
		if (c->peers[i].present && !peer_resolved(&c->peers[i]))
			return false;
	}
	return true;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* One pass: due work, then wait for input until the next due time. */
static bool up_done(const struct client *c);

/* The daemon's answer to "wgpunch status": a snapshot taken now. */
static void status_answer(struct client *c)
{
	struct status_snapshot snap;

	/* Handshake times as they are now, not as of the last round. */
	if (c->have_dev && refresh_device(c) < 0)
		log_debug("re-reading the interface for a status request failed");
	int ret;

	if (client_status_fill(c, &snap) < 0)
		return;
	ret = status_serve(c->status_fd, &snap);
	free(snap.peers);
	if (ret < 0) {
		log_warn("status socket: accept: %s; not answering for %u s",
			 strerror(-ret), STATUS_PAUSE_MS / 1000);
		c->status_pause_until = wgp_mono_ms() + STATUS_PAUSE_MS;
	}
}

/* The poll set: these first, then each server's main and probe socket. */
enum {
	POLL_SIGNAL,
	POLL_PATH4,
	POLL_PATH6,
	POLL_STATUS,
	POLL_PORTMAP,
	POLL_SERVERS,
};
#define POLL_MAX	(POLL_SERVERS + 2 * WGPUNCH_MAX_SERVERS)

/* One pass: due work, then wait for input until the next due time. */
static void loop_once(struct client *c, int sigfd, uint64_t deadline)
{
	struct pollfd pfd[POLL_MAX] = {
		[POLL_SIGNAL] = { .fd = sigfd, .events = POLLIN },
		[POLL_PATH4] = { .fd = c->path4.fd, .events = POLLIN },
		[POLL_PATH6] = { .fd = c->path6.fd, .events = POLLIN },
		[POLL_STATUS] = { .fd = c->status_fd, .events = POLLIN },
		[POLL_PORTMAP] = { .fd = client_portmap_fd(c), .events = POLLIN },
	};
	nfds_t n = POLL_SERVERS;
	uint64_t now = wgp_mono_ms(), next;
	int timeout;

	for (unsigned int i = 0; i < c->n_srv; i++) {
		pfd[n++] = (struct pollfd){ .fd = c->srv[i].main_sock.fd,
					    .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = c->srv[i].probe_sock.fd,
					    .events = POLLIN };
	}
	if (now < c->status_pause_until)
		pfd[POLL_STATUS].fd = -1;
	/* Paths first: what they decide may start a request (a LOOKUP, a
	 * RELAY), which then goes out in this same pass. */
	next = min_u64(client_paths_service(c, now), c->next_round_ms);
	next = min_u64(next, client_service_requests(c, now));
	next = min_u64(next, deadline);
	if (c->o->daemon)
		next = min_u64(next, c->next_device_ms);
	timeout = next <= now ? 0 : (int)min_u64(next - now, 60000);
	/* What was just sent or set may have finished "up". */
	if (!c->o->daemon && up_done(c))
		timeout = 0;
	if (poll(pfd, n, timeout) < 0 && errno != EINTR) {
		log_error("poll: %s", strerror(errno));
		c->stop = true;
		return;
	}
	if (pfd[POLL_SIGNAL].revents)
		signal_read(c, sigfd);
	for (unsigned int i = 0; i < c->n_srv; i++) {
		if (pfd[POLL_SERVERS + 2 * i].revents)
			client_receive(c, &c->srv[i], ENGINE_PORT_MAIN);
		if (pfd[POLL_SERVERS + 2 * i + 1].revents)
			client_receive(c, &c->srv[i], ENGINE_PORT_PROBE);
	}
	if (pfd[POLL_PATH4].revents)
		client_paths_receive(c, &c->path4);
	if (pfd[POLL_PATH6].revents)
		client_paths_receive(c, &c->path6);
	if (pfd[POLL_STATUS].revents)
		status_answer(c);
	if (pfd[POLL_PORTMAP].revents)
		client_portmap_event(c);
}

static void client_init(struct client *c, const struct client_opts *o)
{
	memset(c, 0, sizeof(*c));
	c->o = o;
	engine_init_servers(c);
	c->path4.fd = -1;
	c->path6.fd = -1;
	c->status_fd = -1;
	c->hops = -1;
	c->event = client_event;
}

static void client_free(struct client *c)
{
	client_portmap_end(c);
	for (unsigned int i = 0; i < c->n_srv; i++) {
		rawsock_close(&c->srv[i].main_sock);
		rawsock_close(&c->srv[i].probe_sock);
		sodium_memzero(&c->srv[i].sess, sizeof(c->srv[i].sess));
	}
	client_paths_close(c);
	for (size_t i = 0; i < c->num_peers; i++)
		sodium_memzero(&c->peers[i].keys, sizeof(c->peers[i].keys));
	if (c->have_dev)
		wg_free_device(&c->dev);
	free(c->peers);
	engine_out_free(&c->out);
}

/* "up" with every peer resolved still registers, to check the settings
 * and refresh the server's view, but stops waiting for a server that
 * has shown it will not answer. */
static bool server_settled(const struct client_server *s)
{
	if (s->registered || s->refused || s->main_sock.fd < 0)
		return true;
	/* The mapping check went unanswered on the main port too. */
	if (!s->main_answered && s->nat == NAT_UNTESTED)
		return true;
	return s->reg.tries > RETX_MAX_TRIES;
}

/* One server registered us: the others' timeouts are not waited for
 * (a dead one would hold "up" until its deadline). */
static bool servers_settled(const struct client *c)
{
	if (client_registered(c))
		return true;
	for (unsigned int i = 0; i < c->n_srv; i++) {
		if (!server_settled(&c->srv[i]))
			return false;
	}
	return true;
}

static bool up_done(const struct client *c)
{
	return all_resolved(c) && servers_settled(c);
}

/* With several servers, those that did not register us are named even
 * when another did: the next run may need them. */
static void warn_unregistered(const struct client *c)
{
	char problem[256];

	if (c->n_srv < 2 || !client_registered(c))
		return;
	for (unsigned int i = 0; i < c->n_srv; i++) {
		if (!c->srv[i].registered)
			log_warn("%s", server_problem(&c->srv[i], problem,
						      sizeof(problem)));
	}
}

static int report(const struct client *c)
{
	char k[WGP_KEY_B64_SIZE], problem[1024], unregistered[1100];
	bool registered = client_registered(c);
	unsigned int bad = 0, total = 0;

	servers_problem(c, problem, sizeof(problem));
	snprintf(unregistered, sizeof(unregistered), "unresolved: %s", problem);
	for (size_t i = 0; i < c->num_peers; i++) {
		const struct client_peer *p = &c->peers[i];
		const char *why = p->why;

		if (!p->present)
			continue;
		total++;
		if (p->status == PEER_WAITING) {
			if (!registered)
				why = unregistered;
			else
				why = "unresolved: not registered with the server (is "
				      "wgpunch running there, with us as a peer?)";
		}
		if (!peer_ok(p))
			bad++;
		printf("peer %s: %s\n", key_b64(p->key, k), why);
	}
	warn_unregistered(c);
	if (bad) {
		log_error("%u of %u peers not resolved%s%s", bad, total,
			  registered ? "" : ": ", registered ? "" : problem);
		return WGPUNCH_EXIT_UNRESOLVED;
	}
	/* Nothing depended on the server this time; the next time will. */
	if (!registered)
		log_warn("%s; every peer has a fresh handshake, so none needed it",
			 problem);
	return WGPUNCH_EXIT_OK;
}

/* "up" (and "status" without a daemon) gives up on an interface with
 * no peers at once: nothing will change that while it waits. */
static int up_round(struct client *c)
{
	int ret = round_start(c);

	if (ret == -ENOENT && c->have_dev && !c->dev.num_peers)
		c->stop = true;
	return ret;
}

static int print_status(const struct client *c, bool json)
{
	struct status_snapshot snap;
	int ret;

	if (client_status_fill(c, &snap) < 0)
		return WGPUNCH_EXIT_ERROR;
	ret = json ? status_write_json(stdout, &snap) :
		     status_write_text(stdout, &snap);
	free(snap.peers);
	return ret < 0 ? WGPUNCH_EXIT_ERROR : WGPUNCH_EXIT_OK;
}

static int run_up(const struct client_opts *o, bool json)
{
	struct client c;
	sigset_t old;
	uint64_t deadline;
	int sigfd, ret;

	client_init(&c, o);
	sigfd = signals_open(&old, false);
	if (sigfd < 0)
		return WGPUNCH_EXIT_ERROR;
	deadline = wgp_mono_ms() + (uint64_t)o->timeout_s * 1000;
	wg_set_limits(deadline, sigfd);
	if (sandbox_enter(sandbox_wgpunch, sandbox_wgpunch_n, o->no_seccomp) < 0)
		ret = WGPUNCH_EXIT_ERROR;
	else
		ret = up_round(&c) < 0 ? WGPUNCH_EXIT_ERROR : -1;
	c.next_round_ms = wgp_mono_ms() + UP_REPOLL_MS;
	while (ret < 0 && !c.stop) {
		uint64_t now = wgp_mono_ms();

		if (up_done(&c) || now >= deadline)
			break;
		/* Peers still unknown: ask again now and then (a NOTIFY
		 * may be lost). Another round also re-reads handshakes. */
		if (now >= c.next_round_ms && !client_registering(&c) &&
		    !c.reg_pending && !all_resolved(&c)) {
			if (up_round(&c) < 0)
				ret = WGPUNCH_EXIT_ERROR;
			c.next_round_ms = now + jitter_ms(UP_REPOLL_MS,
							  randombytes_random());
		}
		loop_once(&c, sigfd, deadline);
	}
	if (ret < 0 && o->status_only)
		ret = c.stop ? WGPUNCH_EXIT_ERROR : print_status(&c, json);
	else if (ret < 0)
		ret = c.stop ? WGPUNCH_EXIT_ERROR : report(&c);
	wg_set_limits(0, -1);
	close(sigfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	client_free(&c);
	return ret;
}

int client_up(const struct client_opts *o)
{
	return run_up(o, false);
}

int client_status(const struct client_opts *o, bool json)
{
	return run_up(o, json);
}

static void status_open(struct client *c)
{
	int fd;

	if (c->o->status_socket)
		snprintf(c->status_path, sizeof(c->status_path), "%s",
			 c->o->status_socket);
	else if (!status_default_path(c->o->ifname, c->status_path,
				      sizeof(c->status_path)))
		return;
	fd = status_listen(c->status_path);
	if (fd < 0) {
		log_warn("status socket %s: %s; \"wgpunch status\" will not "
			 "reach this daemon", c->status_path, strerror(-fd));
		c->status_path[0] = '\0';
		return;
	}
	c->status_fd = fd;
}

/* Between rounds the daemon re-reads the handshakes now and then: they
 * tell whether an endpoint we set brought a tunnel. */
static void device_poll(struct client *c, uint64_t now)
{
	if (now < c->next_device_ms)
		return;
	c->next_device_ms = now + DEVICE_POLL_MS;
	if (c->have_dev && refresh_device(c) < 0)
		log_debug("re-reading the interface failed");
}

/* The daemon's first line names its servers. */
static void log_started(const struct client_opts *o)
{
	char ep[ENDPOINT_STRLEN], list[WGPUNCH_MAX_SERVERS * (ENDPOINT_STRLEN + 24)];
	size_t used = 0;

	if (o->n_servers == 1) {
		log_info("daemon started: rendezvous server %s, probe port %u",
			 endpoint_format((struct sockaddr *)&o->servers[0].addr, ep),
			 o->servers[0].probe_port);
		return;
	}
	list[0] = '\0';
	for (unsigned int i = 0; i < o->n_servers && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used,
					 "%s%s (probe port %u)", i ? ", " : "",
					 endpoint_format((struct sockaddr *)&o->servers[i].addr, ep),
					 o->servers[i].probe_port);
	log_info("daemon started: rendezvous servers %s", list);
}

int client_daemon(const struct client_opts *o)
{
	struct client c;
	bool first = true;
	sigset_t old;
	int sigfd, status = WGPUNCH_EXIT_OK;

	client_init(&c, o);
	sigfd = signals_open(&old, true);
	if (sigfd < 0)
		return WGPUNCH_EXIT_ERROR;
	/* SIGTERM ends a slow exchange with WireGuard at once (a SIGHUP
	 * too: the round it asks for starts over). */
	wg_set_limits(0, sigfd);
	log_started(o);
	status_open(&c);
	if (sandbox_enter(sandbox_wgpunch, sandbox_wgpunch_n, o->no_seccomp) < 0) {
		status = WGPUNCH_EXIT_ERROR;
		c.stop = true;
	}
	while (!c.stop) {
		uint64_t now = wgp_mono_ms();

		if (now >= c.next_round_ms) {
			int ret = round_start(&c);

			/* Missing privileges or an unusable server key will
			 * not fix themselves: say so and stop at once (a
			 * service manager can restart us). Anything else,
			 * e.g. the interface not there yet, is retried. */
			if (first && (ret == -EPERM || ret == -EACCES || ret == -EINVAL)) {
				status = WGPUNCH_EXIT_ERROR;
				break;
			}
			first = false;
			/* failures is reset only by an answer. An interface
			 * without peers is not a failure: look again soon. */
			if (ret == -ENOENT && c.have_dev && !c.dev.num_peers) {
				c.next_round_ms = now + NO_PEERS_RETRY_MS;
				loop_once(&c, sigfd, UINT64_MAX);
				continue;
			}
			if (ret < 0)
				c.failures++;
			c.next_round_ms = now + jitter_ms(round_delay_ms(c.failures,
									 min_ttl(&c)),
							  randombytes_random());
		}
		device_poll(&c, now);
		loop_once(&c, sigfd, UINT64_MAX);
	}
	if (c.status_fd >= 0)
		status_close(c.status_fd, c.status_path);
	wg_set_limits(0, -1);
	close(sigfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	client_free(&c);
	return status;
}
