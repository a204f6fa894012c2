// SPDX-License-Identifier: MIT
/*
 * The relay: the last resort when no direct path to a peer answers.
 *
 * The rendezvous server gives each side of a consenting pair its own
 * relay port (RELAY -> RELAY_GRANT; the peer gets its side unsolicited).
 * We bind our port to the mapping of WireGuard's port with RELAY_BIND,
 * sent from that port, and then treat "server address : our port" as one
 * more candidate, of the lowest kind: path probes go through the relay
 * sealed end to end, so a relayed path is proven exactly like a direct
 * one, and heartbeats watch it the same way. WireGuard, given that
 * address as the peer's endpoint, sees the peer's datagrams come from
 * it. A direct path that answers later wins (path_choose); one that dies
 * falls back to the relay, which idle checks kept alive.
 *
 * We ask early when a NAT that maps per destination is involved (a
 * direct path is then unlikely), and otherwise only once every direct
 * candidate failed or the path in use was lost.
 *
 * With several servers, we ask the first (in the order given) that
 * registered us, answers, and has not said it runs no relay nor (for a
 * while) that the peer is unavailable there: a server can grant only
 * for a peer registered with it, and the peer may use other servers
 * than ours. A grant the peer asked for comes from whichever server it
 * asked, and the relay is that server's.
 */
#include <errno.h>
#include <string.h>
#include <sodium.h>
#include "client.h"
#include "endpoint.h"
#include "key.h"
#include "log.h"
#include "relaymsg.h"

/* A peer's RELAY is sent at most this often. */
#define RELAY_ASK_MIN_MS	5000
/* After FULL or UNAVAILABLE: the allocation table or the consent may
 * change, but not every second. */
#define RELAY_REFUSED_MS	30000
/* After NONE: this server runs no relay; ask again much later (it may
 * be restarted with one). */
#define RELAY_NONE_MS		600000

void client_relay_reset(struct client_peer *p)
{
	p->have_relay = false;
	sodium_memzero(p->relay_key, sizeof(p->relay_key));
	p->relay_idle_s = 0;
}

/* The server to ask for a relay to p now, or NULL. */
static struct client_server *relay_server(struct client *c,
					  struct client_peer *p, uint64_t now)
{
	if (now >= p->relay_unavail_ms)
		p->relay_unavail = 0;
	for (unsigned int i = 0; i < c->n_srv; i++) {
		struct client_server *s = &c->srv[i];

		if (s->registered && !s->silent && !s->refused &&
		    now >= s->relay_none_until &&
		    !(p->relay_unavail & (1u << i)))
			return s;
	}
	return NULL;
}

void client_relay_want(struct client *c, struct client_peer *p, uint64_t now,
		       const char *why)
{
	struct client_server *s;

	/* "status" without a daemon sets nothing and allocates nothing. */
	if (c->o->status_only || p->relay.active)
		return;
	if (p->have_relay || now < p->relay_next_ms)
		return;
	s = relay_server(c, p, now);
	if (!s)
		return;
	p->relay_next_ms = now + RELAY_ASK_MIN_MS;
	snprintf(p->relay_why, sizeof(p->relay_why), "%s", why);
	log_debug("peer %s: asking the server for a relay (%s)",
		  client_peer_b64(p, (char[WGP_KEY_B64_SIZE]){ 0 }), why);
	client_start_relay(s, p);
}

static void relay_refused(struct client *c, struct client_server *s,
			  struct client_peer *p, const struct wgp_relay_grant *g,
			  uint64_t now)
{
	char k[WGP_KEY_B64_SIZE], ep[ENDPOINT_STRLEN];

	switch (g->status) {
	case WGP_RELAY_NONE:
		if (now >= s->relay_none_until && c->n_srv == 1)
			log_info("the server runs no relay: peers without a direct "
				 "path stay unreachable");
		else if (now >= s->relay_none_until)
			log_info("the server %s runs no relay",
				 endpoint_format((struct sockaddr *)&s->so->addr, ep));
		s->relay_none_until = now + RELAY_NONE_MS;
		/* Another server may run one: ask it at once. */
		if (relay_server(c, p, now))
			p->relay_next_ms = 0;
		break;
	case WGP_RELAY_FULL:
		log_warn("peer %s: the server's relay is full", client_peer_b64(p, k));
		p->relay_next_ms = now + RELAY_REFUSED_MS;
		break;
	default:
		log_debug("peer %s: no relay: not registered with the server %s "
			  "or not listing us", client_peer_b64(p, k),
			  endpoint_format((struct sockaddr *)&s->so->addr, ep));
		/* Another server may hold the peer: ask it at once; once
		 * every one said no, all of them again later. */
		if (!p->relay_unavail)
			p->relay_unavail_ms = now + RELAY_REFUSED_MS;
		p->relay_unavail |= (uint8_t)(1u << (s - c->srv));
		p->relay_next_ms = relay_server(c, p, now) ? 0 :
				   p->relay_unavail_ms;
		break;
	}
}

void client_relay_granted(struct client *c, struct client_server *s,
			  struct client_peer *p, const struct wgp_relay_grant *g)
{
	uint64_t now = wgp_mono_ms();
	struct sockaddr_storage ss;
	struct path_cand *cand;
	char k[WGP_KEY_B64_SIZE], ep[ENDPOINT_STRLEN];

	if (g->status != WGP_RELAY_OK) {
		relay_refused(c, s, p, g, now);
		return;
	}
	if (!client_paths_keys(c, p))
		return;
	/* Where WireGuard reaches the relay for p: the address of the
	 * server that granted it (the one we talk to), our side's port. */
	client_server_addr(s, g->port, &ss);
	/* A new allocation (the relay restarted, or the old one expired)
	 * replaces the old candidate: that port is someone else's now. */
	if (p->have_relay && !endpoint_equal((struct sockaddr *)&p->relay_addr,
					     (struct sockaddr *)&ss)) {
		cand = path_find(&p->paths, (struct sockaddr *)&p->relay_addr);
		if (cand)
			path_remove(&p->paths, cand);
	}
	p->have_relay = true;
	/* A RELAY in flight elsewhere keeps its server until answered. */
	if (!p->relay.active)
		p->relay_srv = s->index;
	p->relay_addr = ss;
	memcpy(p->relay_key, g->bind_key, sizeof(p->relay_key));
	p->relay_idle_s = g->idle_s;
	cand = path_learn(&p->paths, CAND_RELAY, (struct sockaddr *)&ss, now);
	if (!cand)
		return;
	/* Bind and probe at once (send_probe binds first). */
	cand->interval_ms = 0;
	cand->due_ms = now;
	cand->ever_failed = false;
	cand->unanswered = 0;
	log_info("peer %s: relay granted at %s", client_peer_b64(p, k),
		 endpoint_format((struct sockaddr *)&ss, ep));
	if (p->status == PEER_WAITING || p->status == PEER_NO_PATH)
		client_peer_set_status(c, p, PEER_PROBING, "relay granted at %s; "
				       "probing it", ep);
}

void client_relay_bind(struct client *c, struct client_peer *p,
		       const struct path_cand *cand)
{
	const struct sockaddr *to = (const struct sockaddr *)&cand->addr;
	struct pathsock *ps = to->sa_family == AF_INET6 ? &c->path6 : &c->path4;
	uint8_t buf[RELAY_BIND_LEN];
	uint64_t counter;
	int ret;

	if (!p->have_relay || ps->fd < 0 ||
	    !endpoint_equal(to, (struct sockaddr *)&p->relay_addr))
		return;
	counter = path_counter_next(&c->path_counter, client_clock_ns(c));
	relay_bind_encode(buf, p->relay_key, endpoint_port(to), counter);
	ret = pathsock_send(ps, to, buf, sizeof(buf), 0);
	if (ret < 0)
		log_debug("relay bind: %s", strerror(-ret));
}

void client_relay_check(struct client *c, struct client_peer *p, uint64_t now)
{
	struct path_cand *cand;
	char k[WGP_KEY_B64_SIZE];

	if (!p->have_relay)
		return;
	cand = path_find(&p->paths, (struct sockaddr *)&p->relay_addr);
	if (cand && !cand->ever_failed)
		return;
	/* Asking again gets the same allocation while it lives (the peer
	 * may just not have bound its side yet), a new one after the
	 * relay lost it. */
	if (cand && cand->reply_ms)
		log_info("peer %s: the relay stopped answering; asking for "
			 "the allocation again", client_peer_b64(p, k));
	if (cand)
		path_remove(&p->paths, cand);
	client_relay_reset(p);
	/* Finding out took PATH_PROBE_TRIES probes: that is pace enough. */
	p->relay_next_ms = 0;
	client_relay_want(c, p, now, "the relay stopped answering");
}
