// SPDX-License-Identifier: MIT
/*
 * Paths to the peers: probe every candidate address from WireGuard's
 * port, answer the peers' probes, and set on WireGuard the best path
 * that answered.
 *
 * Evidence, not guesses: an endpoint is set only when an authentic
 * PATH_REPLY came back from the very address probed, so WireGuard's
 * first handshake has a path that is open in both directions. A NAT
 * type is only ever an explanation of why nothing answered.
 *
 * Pre-punch. A router without an input firewall answers an early packet
 * to its public port itself, and the conntrack entry that leaves behind
 * makes masquerade give WireGuard's own traffic another port later. So
 * when a peer's public mapping is new to us, we first send it an opener:
 * a probe whose IP TTL is just enough to leave our own NAT(s) (measured
 * by hops.c) and too small to reach the peer's. It opens our mapping
 * toward the peer without touching the peer's router. The full probes
 * follow after a short delay, by which time the peer, told by the same
 * server in the same instant, has opened its side the same way.
 *
 * One initiator. Both sides prove the path within a millisecond of each
 * other; if both then set an endpoint with a persistent keepalive, both
 * WireGuards send a handshake initiation at once. Each answers the
 * other's initiation as responder, which discards its own initiation,
 * so neither response is accepted and both retry only after
 * REKEY_TIMEOUT (5 s). So only the side with the smaller public key
 * sets the keepalive at once; the other sets its endpoint without one
 * (WireGuard then sends nothing by itself and simply answers) and adds
 * the keepalive KEEPALIVE_GRACE_MS later.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include "client.h"
#include "endpoint.h"
#include "hops.h"
#include "key.h"
#include "log.h"
#include "punch.h"

/* Full probes wait this long after the openers: at least the skew
 * between the server's reply to one peer and its NOTIFY to the other
 * (bounded by twice our RTT to the server), and never less than a
 * scheduler's hiccup. */
#define PREPUNCH_MIN_MS		10
#define PREPUNCH_MAX_MS		250
/* A lost path asks the server again at most this often. */
#define RECOVER_MIN_MS		2000
/* The coordinated retry goes out this long before the failed
 * candidates' own retry timer would fire. */
#define RETRY_LEAD_MS		2000
/* An endpoint set this long ago without a handshake is reported. */
#define NO_HANDSHAKE_MS		10000
/* How long the hops measurement may take (it blocks the loop). */
#define HOPS_TIMEOUT_MS		200

const char *client_peer_b64(const struct client_peer *p,
			    char buf[static WGP_KEY_B64_SIZE])
{
	wgp_key_to_base64(buf, p->key);
	return buf;
}

/* Sockets. */

int client_paths_open(struct client *c)
{
	int ret;

	if (c->path4.fd >= 0 && c->path4.wg_port == c->dev.listen_port &&
	    c->path4.fwmark == c->dev.fwmark)
		return 0;
	client_paths_close(c);
	ret = pathsock_open(&c->path4, AF_INET, c->dev.listen_port, c->dev.fwmark);
	if (ret < 0) {
		log_error("raw socket for path probes (IPv4): %s", strerror(-ret));
		return ret;
	}
	/* IPv6 is optional: a host without it has no IPv6 candidates. */
	ret = pathsock_open(&c->path6, AF_INET6, c->dev.listen_port, c->dev.fwmark);
	if (ret < 0)
		log_debug("no raw socket for IPv6 path probes: %s", strerror(-ret));
	return 0;
}

void client_paths_close(struct client *c)
{
	pathsock_close(&c->path4);
	pathsock_close(&c->path6);
}

static struct pathsock *sock_for(struct client *c, const struct sockaddr *sa)
{
	struct pathsock *ps = sa->sa_family == AF_INET6 ? &c->path6 : &c->path4;

	return ps->fd >= 0 ? ps : NULL;
}

/* Keys. */

/* One X25519 per peer, on first use: for the peers we register (at
 * most WGP_MAX_CONSENT), not for every peer of a large interface. */
bool client_paths_keys(struct client *c, struct client_peer *p)
{
	if (p->have_keys)
		return true;
	if (path_keys_derive(&p->keys, c->dev.private_key, c->dev.public_key,
			     p->key) < 0)
		return false;
	p->have_keys = true;
	return true;
}

void client_paths_peer_reset(struct client *c, struct client_peer *p)
{
	(void)c;
	sodium_memzero(&p->keys, sizeof(p->keys));
	p->have_keys = false;
	memset(&p->replay, 0, sizeof(p->replay));
	path_init(&p->paths);
	p->proven = false;
	client_relay_reset(p);
}

/* Sending. */

static int send_msg(struct client *c, struct client_peer *p, struct path_msg *m,
		    const struct sockaddr *to, unsigned int ttl)
{
	uint8_t buf[PATH_MSG_LEN];
	struct pathsock *ps = sock_for(c, to);

	if (!ps)
		return -EAFNOSUPPORT;
	m->counter = path_counter_next(&c->path_counter, client_clock_ns(c));
	if (path_seal(buf, m, &p->keys) < 0)
		return -EINVAL;
	return pathsock_send(ps, to, buf, sizeof(buf), ttl);
}

static void send_probe(struct client *c, struct client_peer *p,
		       struct path_cand *cand, uint64_t now)
{
	struct path_msg m = { .type = PATH_PROBE };
	char ep[ENDPOINT_STRLEN];
	int ret;

	path_txid_new(m.txid);
	if (wgp_endpoint_from_sockaddr(&m.addr, (struct sockaddr *)&cand->addr,
				       endpoint_len((struct sockaddr *)&cand->addr)) < 0)
		return;
	/* The relay forwards only what comes from the mapping our side is
	 * bound to: bind first (again, after a NAT rebinding). */
	if (cand->source == CAND_RELAY && !path_alive(cand, now))
		client_relay_bind(c, p, cand);
	ret = send_msg(c, p, &m, (struct sockaddr *)&cand->addr, 0);
	path_sent(&p->paths, cand, m.txid, now);
	if (ret < 0) {
		snprintf(cand->error, sizeof(cand->error), "cannot send: %s",
			 strerror(-ret));
		log_debug("probe to %s: %s",
			  endpoint_format((struct sockaddr *)&cand->addr, ep),
			  strerror(-ret));
	}
}

/* An opener: opens our NAT toward to, dies before the peer's NAT. */
static void send_opener(struct client *c, struct client_peer *p,
			const struct sockaddr *to)
{
	struct path_msg m = { .type = PATH_PROBE, .flags = PATH_F_TTL_LIMITED };
	char ep[ENDPOINT_STRLEN];

	path_txid_new(m.txid);
	if (wgp_endpoint_from_sockaddr(&m.addr, to, endpoint_len(to)) < 0)
		return;
	if (send_msg(c, p, &m, to, (unsigned int)c->hops + 1) == 0)
		log_debug("pre-punch: opener to %s with TTL %d",
			  endpoint_format(to, ep), c->hops + 1);
}

static unsigned int prepunch_delay_ms(const struct client *c)
{
	unsigned int d = 2 * client_rtt_ms(c);

	if (d < PREPUNCH_MIN_MS)
		d = PREPUNCH_MIN_MS;
	return d > PREPUNCH_MAX_MS ? PREPUNCH_MAX_MS : d;
}

/* Learning candidates from the server. */

/* A direct path (anything but the relay) answers. */
static bool direct_alive(const struct path_set *ps, uint64_t now)
{
	for (unsigned int i = 0; i < ps->n; i++) {
		if (ps->c[i].kind != PATH_RELAYED && path_alive(&ps->c[i], now))
			return true;
	}
	return false;
}

static void learn(struct client_peer *p, enum cand_source src,
		  const struct wgp_endpoint *wep, uint64_t now)
{
	struct sockaddr_storage ss;

	if (!wgp_endpoint_usable(wep) || !wgp_endpoint_to_sockaddr(wep, &ss))
		return;
	path_learn(&p->paths, src, (struct sockaddr *)&ss, now);
}

/*
 * The server just told us about the peer, and (in the same instant) the
 * peer about us: punch now, while no path works. Toward every public
 * IPv4 mapping, an opener across our own NAT when we know its distance,
 * and the full probes a little later, so that the peer's opener, sent on
 * the same news, gets out of its NAT first. Host and IPv6 candidates
 * cross no NAT of the peer's that could keep a stray entry: at once.
 */
static void prepunch(struct client *c, struct client_peer *p, uint64_t now)
{
	unsigned int delay = prepunch_delay_ms(c);

	/* A relayed peer punches like one without a path: the relay is
	 * there to be left. */
	if (direct_alive(&p->paths, now))
		return;
	for (unsigned int i = 0; i < p->paths.n; i++) {
		struct path_cand *cand = &p->paths.c[i];

		if (cand->kind == PATH_RELAYED)
			continue;
		cand->interval_ms = 0;
		if (cand->kind != PATH_IPV4) {
			cand->due_ms = now;
			continue;
		}
		if (c->hops > 0)
			send_opener(c, p, (struct sockaddr *)&cand->addr);
		cand->due_ms = now + delay;
	}
}

static bool symmetric_involved(const struct client *c,
			       const struct client_peer *p)
{
	return c->nat == NAT_SYMMETRIC ||
	       (p->known_flags && (p->ep_flags & WGP_F_SYMMETRIC));
}

void client_paths_offer(struct client *c, struct client_peer *p,
			const struct wgp_endpoint *ep,
			const struct wgp_endpoint *cands, unsigned int n)
{
	uint64_t now = wgp_mono_ms();
	unsigned int before = p->paths.n;

	if (!client_paths_keys(c, p)) {
		client_peer_set_status(c, p, PEER_FAILED,
				       "its public key is not usable (a low-order point)");
		return;
	}
	/* Host candidates first: an address that is both the peer's own
	 * and its public one (no NAT) is a host candidate. */
	for (unsigned int i = 0; i < n; i++)
		learn(p, cands[i].kind == WGP_CAND_MAPPED ? CAND_MAPPED : CAND_HOST,
		      &cands[i], now);
	learn(p, CAND_SERVER, ep, now);
	if (p->paths.n != before)
		log_debug("peer %s: %u candidates", client_peer_b64(p, (char[WGP_KEY_B64_SIZE]){ 0 }),
			  p->paths.n);
	/* Being told again (a NOTIFY: the peer is trying now) means
	 * try now, also where we had given up. */
	prepunch(c, p, now);
	if (p->status == PEER_WAITING || p->status == PEER_NO_PATH)
		client_peer_set_status(c, p, PEER_PROBING, "probing %u candidates",
				       p->paths.n);
	/* A NAT that maps per destination on either side makes a direct
	 * path unlikely: have the relay ready while the probes run. */
	if (symmetric_involved(c, p))
		client_relay_want(c, p, now, "a NAT maps per destination");
}

/* Receiving. */

static struct client_peer *peer_by_id(struct client *c,
				      const uint8_t id[static PATH_ID_LEN])
{
	for (size_t i = 0; i < c->num_peers; i++) {
		struct client_peer *p = &c->peers[i];

		/* Only peers whose keys exist: those we registered. A
		 * datagram never makes us derive keys for a peer. */
		if (p->present && p->have_keys &&
		    !sodium_memcmp(p->keys.rx_id, id, PATH_ID_LEN))
			return p;
	}
	return NULL;
}

static void answer_probe(struct client *c, struct client_peer *p,
			 const struct path_msg *m, const struct sockaddr *from)
{
	struct path_msg r = { .type = PATH_REPLY };
	uint64_t now = wgp_mono_ms();
	struct path_cand *cand;
	char ep[ENDPOINT_STRLEN];

	memcpy(r.txid, m->txid, PATH_TXID_LEN);
	if (wgp_endpoint_from_sockaddr(&r.addr, from, endpoint_len(from)) < 0)
		return;
	send_msg(c, p, &r, from, 0);
	/* The peer reaches us from there: its NAT is open toward us at
	 * that address, so probe it back now (no opener needed). A
	 * symmetric NAT's mapping for us shows up only this way. */
	cand = path_find(&p->paths, from);
	if (!cand) {
		cand = path_learn(&p->paths, CAND_PEER, from, now);
		if (cand)
			log_debug("peer %s: probed us from %s, a new candidate",
				  client_peer_b64(p, (char[WGP_KEY_B64_SIZE]){ 0 }),
				  endpoint_format(from, ep));
	} else {
		cand->seen_ms = now;
	}
	if (cand && !path_alive(cand, now) && cand->due_ms > now)
		cand->due_ms = now;
	if (p->status == PEER_WAITING || p->status == PEER_NO_PATH)
		client_peer_set_status(c, p, PEER_PROBING, "the peer probes us; "
				       "probing back");
}

static void take_reply(struct client_peer *p, const struct path_msg *m,
		       const struct sockaddr *from)
{
	uint64_t now = wgp_mono_ms();
	struct path_cand *cand;
	char ep[ENDPOINT_STRLEN];

	cand = path_answered(&p->paths, from, m->txid, now);
	if (!cand) {
		log_debug("a path reply from %s answers no probe in flight: ignored",
			  endpoint_format(from, ep));
		return;
	}
	log_debug("peer %s: %s answers (%s, %.1f ms)",
		  client_peer_b64(p, (char[WGP_KEY_B64_SIZE]){ 0 }),
		  endpoint_format(from, ep), path_kind_name(cand->kind),
		  (double)cand->rtt_us / 1000.0);
}

void client_paths_receive(struct client *c, struct pathsock *ps)
{
	uint8_t buf[2048], id[PATH_ID_LEN];
	struct sockaddr_storage from;
	const uint8_t *payload;
	struct client_peer *p;
	struct path_msg m;
	char ep[ENDPOINT_STRLEN];
	ssize_t n;

	for (;;) {
		n = pathsock_recv(ps, buf, sizeof(buf), &payload, &from);
		if (n == -EAGAIN)
			break;
		if (n < 0) {
			if (n != -EBADMSG)
				break;
			continue;
		}
		if (!path_peek(payload, (size_t)n, id))
			continue;
		p = peer_by_id(c, id);
		if (!p) {
			log_debug("a path message from %s for no peer of ours",
				  endpoint_format((struct sockaddr *)&from, ep));
			continue;
		}
		if (path_open(&m, payload, (size_t)n, &p->keys) < 0) {
			log_debug("a forged path message from %s: dropped",
				  endpoint_format((struct sockaddr *)&from, ep));
			continue;
		}
		if (!path_replay_check(&p->replay, m.counter, client_clock_ns(c))) {
			log_debug("a replayed path message from %s: dropped",
				  endpoint_format((struct sockaddr *)&from, ep));
			continue;
		}
		if (m.type == PATH_PROBE)
			answer_probe(c, p, &m, (struct sockaddr *)&from);
		else
			take_reply(p, &m, (struct sockaddr *)&from);
	}
}

/* Deciding. */

/* Why no candidate answers, as far as we can tell. */
static void no_path_reason(const struct client *c, const struct client_peer *p,
			   char *buf, size_t len)
{
	bool ours = c->nat == NAT_SYMMETRIC;
	bool theirs = p->known_flags && (p->ep_flags & WGP_F_SYMMETRIC);

	if (ours && theirs)
		snprintf(buf, len, "no path answered: both sides' NATs map per "
			 "destination (symmetric); a relay is needed");
	else if (ours || theirs)
		snprintf(buf, len, "no path answered: %s NAT maps per destination "
			 "(symmetric) and the other side filters; needs a port "
			 "forward or mapping there, or a relay",
			 ours ? "our" : "the peer's");
	else
		snprintf(buf, len, "no path answered: %u candidates probed, no "
			 "reply (UDP blocked, or a NAT that filters by endpoint "
			 "on both sides?)", p->paths.n);
}

static bool all_failed(const struct path_set *ps)
{
	if (!ps->n)
		return false;
	for (unsigned int i = 0; i < ps->n; i++) {
		if (!ps->c[i].ever_failed)
			return false;
	}
	return true;
}

/* Every direct candidate failed (the relay aside): time to punch again,
 * together, even while the relay carries the tunnel. */
static bool direct_failed(const struct path_set *ps)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < ps->n; i++) {
		if (ps->c[i].kind == PATH_RELAYED)
			continue;
		if (!ps->c[i].ever_failed)
			return false;
		n++;
	}
	return n > 0;
}

static bool relayed_in_use(const struct path_set *ps)
{
	return ps->chosen >= 0 && ps->c[ps->chosen].kind == PATH_RELAYED;
}

/* The path we were using stopped answering: a NAT rebound, an address
 * changed, the peer roamed. Probe everything again at once and ask the
 * server: our own REGISTER (a new round, in the daemon) tells it our
 * new mapping (it NOTIFYs the peer), a LOOKUP tells us the peer's. */
static void recover(struct client *c, struct client_peer *p, uint64_t now)
{
	path_reprobe_all(&p->paths, now, 0);
	if (c->o->status_only || now - p->recover_ms < RECOVER_MIN_MS)
		return;
	p->recover_ms = now;
	if (!client_registered(c))
		return;
	client_start_lookup(c, p);
	/* The daemon runs a whole round at once: if it was our address
	 * that changed (roaming), the server sockets must follow it. */
	if (c->o->daemon)
		c->next_round_ms = now;
	else if (!client_registering(c) && !c->reg_pending)
		client_start_register(c);
}

/* Would WireGuard's current endpoint do as well as cand? Only when the
 * tunnel works (fresh handshake) and it is an alive path of at least
 * cand's kind: then the tunnel is left alone, and that path is the one
 * the heartbeats watch. Returns it, or NULL. */
static struct path_cand *current_is_good(const struct client *c,
					 struct client_peer *p,
					 const struct path_cand *cand, uint64_t now)
{
	const struct wg_peer *wp = wg_find_peer(&c->dev, p->key);
	struct timespec ts;
	struct path_cand *cur;

	if (!wp || wp->endpoint.ss_family == AF_UNSPEC)
		return NULL;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (!handshake_fresh(&wp->last_handshake, &ts))
		return NULL;
	cur = path_find(&p->paths, (const struct sockaddr *)&wp->endpoint);
	if (cur && cur != cand && path_alive(cur, now) && cur->kind >= cand->kind)
		return cur;
	return NULL;
}

/* Which side's WireGuard initiates (see the top of this file). */
static bool initiator(const struct client *c, const struct client_peer *p)
{
	return memcmp(c->dev.public_key, p->key, WGP_KEY_LEN) < 0;
}

/* The grace is over: the keepalive, on the endpoint set then. */
static void keepalive_now(struct client *c, struct client_peer *p, uint64_t now)
{
	const struct wg_peer *wp = wg_find_peer(&c->dev, p->key);

	if (!p->keepalive_due_ms || now < p->keepalive_due_ms)
		return;
	p->keepalive_due_ms = 0;
	if (wp && wp->endpoint.ss_family != AF_UNSPEC)
		client_set_endpoint(c, p, (const struct sockaddr *)&wp->endpoint,
				    "keepalive", true);
}

static void use_path(struct client *c, struct client_peer *p,
		     struct path_cand *cand, uint64_t now)
{
	const struct wg_peer *wp = wg_find_peer(&c->dev, p->key);
	char ep[ENDPOINT_STRLEN];
	struct path_cand *cur;
	int ret;

	endpoint_format((struct sockaddr *)&cand->addr, ep);
	p->proven = true;
	cur = current_is_good(c, p, cand, now);
	if (cur) {
		p->paths.chosen = (int)(cur - p->paths.c);
		client_peer_set_status(c, p, PEER_SET, "the path WireGuard uses "
				       "answers and is as good as %s (%s): kept", ep,
				       path_kind_name(cand->kind));
		return;
	}
	if (wp && endpoint_equal((const struct sockaddr *)&wp->endpoint,
				 (struct sockaddr *)&cand->addr)) {
		client_peer_set_status(c, p, PEER_SET, "%s path %s answers (%.1f ms), "
				       "already WireGuard's endpoint",
				       path_kind_name(cand->kind), ep,
				       (double)cand->rtt_us / 1000.0);
		return;
	}
	ret = client_set_endpoint(c, p, (struct sockaddr *)&cand->addr,
				  path_kind_name(cand->kind), initiator(c, p));
	if (ret < 0)
		return;
	if (cand->kind == PATH_RELAYED)
		client_peer_set_status(c, p, PEER_SET, "relayed through %s (%.1f ms), "
				       "asked for because %s%s; direct candidates "
				       "are still tried", ep,
				       (double)cand->rtt_us / 1000.0, p->relay_why,
				       c->o->status_only ? "" : ": endpoint set");
	else
		client_peer_set_status(c, p, PEER_SET, "%s path %s answers (%.1f ms)%s",
				       path_kind_name(cand->kind), ep,
				       (double)cand->rtt_us / 1000.0,
				       c->o->status_only ? "" : ": endpoint set");
}

static void no_handshake_check(struct client *c, struct client_peer *p,
			       uint64_t now)
{
	char k[WGP_KEY_B64_SIZE];
	uint64_t set_wall_ms;

	/* set_ms may be a little after now: it was read when the endpoint
	 * was set, during this pass. */
	if (!c->o->daemon || !p->set_ms || p->warned_no_handshake ||
	    now < p->set_ms + NO_HANDSHAKE_MS)
		return;
	/* Handshake times are wall-clock, set_ms is monotonic. */
	set_wall_ms = wgp_now_ns() / 1000000ULL - (now - p->set_ms);
	if ((uint64_t)p->handshake.tv_sec * 1000ULL + 1000 >= set_wall_ms)
		return;		/* a handshake since */
	p->warned_no_handshake = true;
	log_warn("peer %s: endpoint set %llu s ago but no WireGuard handshake "
		 "yet (is WireGuard up on the other side?); probing every "
		 "candidate again and asking the server", client_peer_b64(p, k),
		 (unsigned long long)((now - p->set_ms) / 1000));
	recover(c, p, now);
}

/* WireGuard lost the endpoint we set (the peer was removed and added
 * back, say) while the path still answers: set it again. Only a missing
 * endpoint: one WireGuard moved by itself (roaming) is its business. */
static void endpoint_check(struct client *c, struct client_peer *p,
			   struct path_cand *cand, uint64_t now)
{
	const struct wg_peer *wp = wg_find_peer(&c->dev, p->key);
	char k[WGP_KEY_B64_SIZE];

	if (!wp || wp->endpoint.ss_family != AF_UNSPEC || c->o->status_only)
		return;
	log_info("peer %s: WireGuard has no endpoint for it any more; setting "
		 "the path in use again", client_peer_b64(p, k));
	use_path(c, p, cand, now);
}

/*
 * Nothing answered: try again, but together. A LOOKUP makes the server
 * answer us and NOTIFY the peer in the same instant, so both sides
 * pre-punch at once, as on the first try. Probes on a timer of our own
 * could reach the peer's router while the peer is quiet, and leave
 * there the very stray entry the pre-punch avoids.
 */
static void retry_together(struct client *c, struct client_peer *p, uint64_t now)
{
	char k[WGP_KEY_B64_SIZE];

	if (!p->retry_ms || now < p->retry_ms || c->o->status_only)
		return;
	if (p->status != PEER_NO_PATH && !relayed_in_use(&p->paths)) {
		p->retry_ms = 0;
		return;
	}
	p->retry_ms = now + PATH_RETRY_MS;
	if (!client_registered(c))
		return;
	log_debug("peer %s: still no path; asking the server to punch again",
		  client_peer_b64(p, k));
	client_start_lookup(c, p);
}

/* No path answers now: is it time for the relay? When a NAT maps per
 * destination, at once; otherwise once every direct candidate failed
 * or the path in use was lost. */
static void maybe_relay(struct client *c, struct client_peer *p, uint64_t now,
			bool lost)
{
	if (symmetric_involved(c, p))
		client_relay_want(c, p, now, "a NAT maps per destination");
	else if (lost)
		client_relay_want(c, p, now, "the path in use was lost");
	else if (all_failed(&p->paths))
		client_relay_want(c, p, now, "no direct path answered");
}

static void decide(struct client *c, struct client_peer *p, uint64_t now)
{
	char why[256], k[WGP_KEY_B64_SIZE], ep[ENDPOINT_STRLEN];
	int was = p->paths.chosen, idx;
	bool changed;

	client_relay_check(c, p, now);
	idx = path_choose(&p->paths, now, &changed);
	if (idx < 0)
		maybe_relay(c, p, now, changed && was >= 0);
	if (idx >= 0) {
		if (changed)
			use_path(c, p, &p->paths.c[idx], now);
		else
			endpoint_check(c, p, &p->paths.c[idx], now);
		no_handshake_check(c, p, now);
		/* Relayed: keep trying to go direct, together. */
		if (relayed_in_use(&p->paths) && direct_failed(&p->paths) &&
		    !p->retry_ms)
			p->retry_ms = now + PATH_RETRY_MS - RETRY_LEAD_MS;
		retry_together(c, p, now);
		return;
	}
	if (changed && was >= 0) {
		log_warn("peer %s: path %s stopped answering; probing every "
			 "candidate again and asking the server", client_peer_b64(p, k),
			 endpoint_format((struct sockaddr *)&p->paths.c[was].addr, ep));
		p->proven = false;
		client_peer_set_status(c, p, PEER_PROBING, "path lost; probing again");
		recover(c, p, now);
		return;
	}
	if (all_failed(&p->paths) && p->status != PEER_NO_PATH &&
	    p->status != PEER_FRESH) {
		no_path_reason(c, p, why, sizeof(why));
		client_peer_set_status(c, p, PEER_NO_PATH, "%s", why);
		p->retry_ms = now + PATH_RETRY_MS - RETRY_LEAD_MS;
	}
	retry_together(c, p, now);
}

static bool speaks_probes(const struct client_peer *p)
{
	/* Told by the server, or the peer probed us already. */
	return (p->known_flags && (p->ep_flags & WGP_F_PROBES)) ||
	       (!p->known_flags && p->paths.n);
}

uint64_t client_paths_service(struct client *c, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < c->num_peers; i++) {
		struct client_peer *p = &c->peers[i];
		uint64_t due;

		if (!p->present || !speaks_probes(p) || !client_paths_keys(c, p))
			continue;
		/* "up" is done with a peer whose tunnel works. */
		if (!c->o->daemon && p->status == PEER_FRESH)
			continue;
		for (unsigned int j = 0; j < p->paths.n; j++) {
			struct path_cand *cand = &p->paths.c[j];

			if (path_due(cand, now))
				send_probe(c, p, cand, now);
		}
		decide(c, p, now);
		keepalive_now(c, p, now);
		path_expire(&p->paths, now);
		due = path_next_due(&p->paths, now);
		if (p->keepalive_due_ms && p->keepalive_due_ms < due)
			due = p->keepalive_due_ms;
		if (p->retry_ms && p->retry_ms < due)
			due = p->retry_ms;
		if (due < next)
			next = due;
	}
	return next;
}

/* Hops to our own NAT: when the server reports a public IPv4 address
 * that is not one of ours. */
void client_paths_measure_hops(struct client *c, const struct wgp_endpoint *self)
{
	struct sockaddr_storage ss;
	char ep[WGP_ENDPOINT_STRLEN];
	int h;

	/* Once per public address: the measurement blocks the loop for
	 * up to HOPS_TIMEOUT_MS. */
	if (self->family != AF_INET ||
	    wgp_endpoint_equal(&c->hops_for, self))
		return;
	c->hops_for = *self;
	if (!wgp_endpoint_to_sockaddr(self, &ss))
		return;
	h = hops_to_address((struct sockaddr *)&ss, c->dev.fwmark, HOPS_TIMEOUT_MS);
	if (h < 0) {
		c->hops = -1;
		log_debug("hops to our public address %s: %s; no pre-punch openers",
			  wgp_endpoint_format(self, ep), strerror(-h));
		return;
	}
	c->hops = h;
	log_debug("our public address %s is %d hop%s away",
		  wgp_endpoint_format(self, ep), h, h == 1 ? "" : "s");
}
