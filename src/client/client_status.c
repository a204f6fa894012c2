// SPDX-License-Identifier: MIT
/*
 * The client's state as a status snapshot (status.h): what "wgpunch
 * status" prints, from the daemon's socket or computed once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "client.h"
#include "punch.h"

static const char *nat_name(enum nat_type nat)
{
	switch (nat) {
	case NAT_CONE:
		return "cone";
	case NAT_SYMMETRIC:
		return "symmetric";
	case NAT_UNTESTED:
		return "untested";
	case NAT_UNKNOWN:
		break;
	}
	return "unknown";
}

static const char *peer_nat_name(const struct client_peer *p)
{
	if (!p->known_flags)
		return "unknown";
	return p->ep_flags & WGP_F_SYMMETRIC ? "symmetric" : "cone";
}

/* Truncating copy: the snapshot's fields are a little shorter than the
 * client's. */
static void copy_text(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void fill_cand(struct status_cand *sc, const struct path_cand *pc,
		      uint64_t now)
{
	memcpy(&sc->addr, &pc->addr, sizeof(sc->addr));
	sc->source = cand_source_name(pc->source);
	sc->path = path_kind_name(pc->kind);
	sc->state = cand_state_name(path_state(pc, now));
	sc->rtt_us = pc->rtt_us;
	sc->last_reply_ms = pc->reply_ms ? (int64_t)(now - pc->reply_ms) : -1;
	copy_text(sc->error, sizeof(sc->error), pc->error);
}

/* What would help a peer without a path. */
static void advice(const struct client *c, const struct client_peer *p,
		   char *buf, size_t len)
{
	bool ours = c->nat == NAT_SYMMETRIC;
	bool theirs = p->known_flags && (p->ep_flags & WGP_F_SYMMETRIC);

	buf[0] = '\0';
	if (p->status == PEER_FRESH || (p->status == PEER_SET && p->proven))
		return;
	if (!client_registered(c))
		snprintf(buf, len, "the rendezvous server has not answered: check "
			 "--server, --server-key and that UDP reaches it");
	else if (p->status == PEER_WAITING)
		snprintf(buf, len, "the peer is not registered with the server, or "
			 "does not list us as a peer: run wgpunch there");
	else if (p->known_flags && !(p->ep_flags & WGP_F_PROBES))
		snprintf(buf, len, "the peer runs a wgpunch without path probes: "
			 "upgrade it");
	else if ((ours || theirs) && client_relay_none(c, wgp_mono_ms()))
		snprintf(buf, len, "%s symmetric and the server runs no relay: "
			 "run wgpunchd with --relay, or map WireGuard's port on "
			 "a symmetric side (PCP, NAT-PMP, UPnP, or a forward)",
			 ours && theirs ? "both sides" : ours ? "our NAT is" :
			 "the peer's NAT is");
	else if (ours && theirs)
		snprintf(buf, len, "both sides symmetric: waiting for the relay");
	else if (ours || theirs)
		snprintf(buf, len, "%s NAT is symmetric: a port forward or port "
			 "mapping of WireGuard's port on the other side, or a relay",
			 ours ? "our" : "the peer's");
	else if (p->status == PEER_NO_PATH)
		snprintf(buf, len, "no candidate answers: check firewalls for UDP "
			 "to WireGuard's port on both sides, or use a relay");
}

static void fill_peer(const struct client *c, const struct client_peer *p,
		      struct status_peer *sp, uint64_t now,
		      const struct timespec *wall)
{
	const struct wg_peer *wp = c->have_dev ? wg_find_peer(&c->dev, p->key) : NULL;
	const struct path_set *ps = &p->paths;

	memcpy(sp->key, p->key, sizeof(sp->key));
	sp->endpoint.ss_family = AF_UNSPEC;
	if (wp)
		memcpy(&sp->endpoint, &wp->endpoint, sizeof(sp->endpoint));
	sp->handshake_age = handshake_age(&p->handshake, wall);
	sp->path = "none";
	if (ps->chosen >= 0 && path_alive(&ps->c[ps->chosen], now))
		sp->path = path_kind_name(ps->c[ps->chosen].kind);
	else if (handshake_fresh(&p->handshake, wall) && wp &&
		 wp->endpoint.ss_family != AF_UNSPEC)
		sp->path = path_kind_name(path_kind_of(CAND_SERVER,
						       (const struct sockaddr *)&wp->endpoint));
	copy_text(sp->why, sizeof(sp->why), p->why[0] ? p->why :
		  "waiting for the server to give its endpoint");
	if (p->have_relay)
		sp->relay = p->relay_addr;
	sp->peer_nat = peer_nat_name(p);
	advice(c, p, sp->advice, sizeof(sp->advice));
	sp->n_cands = 0;
	for (unsigned int i = 0; i < ps->n && i < STATUS_MAX_CANDS; i++)
		fill_cand(&sp->cands[sp->n_cands++], &ps->c[i], now);
}

static void fill_portmap(const struct client *c, struct status_snapshot *s)
{
	const struct portmap_state *st = &c->pm_state;

	s->portmap = c->pm ? portmap_status_name(st->state) : "off";
	if (!c->pm)
		return;
	copy_text(s->portmap_error, sizeof(s->portmap_error), st->error);
	if (st->state != PORTMAP_MAPPED)
		return;
	s->portmap_proto = portmap_proto_name(st->proto);
	s->portmap_lifetime = st->lifetime_s;
	wgp_endpoint_from_sockaddr(&s->portmap_ext, (const struct sockaddr *)&st->external,
				   sizeof(st->external));
	s->portmap_ext.kind = 0;
}

static void fill_server(const struct client_server *cs, struct status_server *ss)
{
	ss->addr = cs->so->addr;
	ss->registered = cs->registered;
	ss->silent = cs->silent;
	ss->rtt_ms = cs->have_rtt ? (int64_t)cs->rtt_ms : -1;
	if (cs->have_reg_self)
		ss->self = cs->reg_self;
	ss->nat = nat_name(cs->nat);
}

int client_status_fill(const struct client *c, struct status_snapshot *s)
{
	uint64_t now = wgp_mono_ms();
	struct timespec wall;
	size_t n = 0;

	memset(s, 0, sizeof(*s));
	clock_gettime(CLOCK_REALTIME, &wall);
	snprintf(s->ifname, sizeof(s->ifname), "%s", c->o->ifname);
	for (unsigned int i = 0; i < c->n_srv && i < STATUS_MAX_SERVERS; i++)
		fill_server(&c->srv[i], &s->servers[s->n_servers++]);
	if (s->n_servers) {
		s->server = s->servers[0].addr;
		s->registered = s->servers[0].registered;
		s->self = s->servers[0].self;
	}
	s->nat = nat_name(c->nat);
	fill_portmap(c, s);
	s->raw_rx_server = c->rx_server;
	s->raw_rx_path = (c->path4.fd >= 0 ? c->path4.rx : 0) +
			 (c->path6.fd >= 0 ? c->path6.rx : 0);
	s->peers = calloc(c->num_peers ? c->num_peers : 1, sizeof(*s->peers));
	if (!s->peers)
		return -ENOMEM;
	for (size_t i = 0; i < c->num_peers; i++) {
		if (c->peers[i].present)
			fill_peer(c, &c->peers[i], &s->peers[n++], now, &wall);
	}
	s->n_peers = n;
	return 0;
}
