// SPDX-License-Identifier: MIT
/*
 * The port mapping of WireGuard's port on our gateway, seen from the
 * client: portmap.c does the asking in its own thread; here its news
 * becomes a candidate ("mapped") that the next REGISTER carries, and a
 * line in the log and the status.
 */
#include <errno.h>
#include <string.h>
#include "client.h"
#include "endpoint.h"
#include "log.h"

static void portmap_log(void *arg, int level, const char *msg)
{
	(void)arg;
	log_msg((enum log_level)level, "%s", msg);
}

void client_portmap_start(struct client *c)
{
	struct portmap_config cfg = {
		.internal_port = c->dev.listen_port,
		.protos = c->o->portmap,
		.fwmark = c->dev.fwmark,
		.log = portmap_log,
	};
	int ret;

	if (!c->o->portmap || c->o->status_only)
		return;
	if (c->pm && c->pm_port == c->dev.listen_port)
		return;
	/* WireGuard moved to another port: the old mapping is useless. */
	client_portmap_end(c);
	ret = portmap_start(&c->pm, &cfg);
	if (ret < 0) {
		log_warn("port mapping: cannot start: %s", strerror(-ret));
		c->pm = NULL;
		return;
	}
	c->pm_port = c->dev.listen_port;
	c->pm_state.state = PORTMAP_TRYING;
}

void client_portmap_end(struct client *c)
{
	if (!c->pm)
		return;
	/* "up" exits with the tunnel up, and the tunnel may go through the
	 * mapping: leave it to expire. The daemon owns it to the end. */
	if (c->o->daemon)
		portmap_stop(c->pm);
	else
		portmap_release(c->pm);
	c->pm = NULL;
	memset(&c->pm_state, 0, sizeof(c->pm_state));
}

int client_portmap_fd(const struct client *c)
{
	return c->pm ? portmap_fd(c->pm) : -1;
}

static bool mapped(const struct portmap_state *st)
{
	return st->state == PORTMAP_MAPPED;
}

static bool same_mapping(const struct portmap_state *a,
			 const struct portmap_state *b)
{
	return mapped(a) == mapped(b) &&
	       (!mapped(a) || (a->external.sin_addr.s_addr ==
			       b->external.sin_addr.s_addr &&
			       a->external.sin_port == b->external.sin_port));
}

void client_portmap_event(struct client *c)
{
	struct portmap_state st, old = c->pm_state;
	char ep[ENDPOINT_STRLEN];

	if (!c->pm)
		return;
	portmap_get(c->pm, &st);
	c->pm_state = st;
	if (same_mapping(&old, &st))
		return;
	if (mapped(&st))
		log_info("port mapping: our gateway maps %s to WireGuard's port "
			 "(%s, lifetime %u s)",
			 endpoint_format((struct sockaddr *)&st.external, ep),
			 portmap_proto_name(st.proto), st.lifetime_s);
	else if (mapped(&old))
		log_info("port mapping: lost (%s)", st.error[0] ? st.error :
			 portmap_status_name(st.state));
	/* The peers learn the new candidate (or its loss) from a
	 * registration: the server NOTIFYs them with it. A REGISTER about
	 * to start gathers it anyway; one in flight gathered too early and
	 * starts over. */
	if (c->reg_pending || !c->have_sess)
		return;
	if (c->o->daemon && client_registered(c) && !client_registering(c))
		c->next_round_ms = wgp_mono_ms();
	else
		client_start_register(c);
}

bool client_portmap_candidate(const struct client *c, struct wgp_endpoint *ep)
{
	if (!c->pm || !mapped(&c->pm_state))
		return false;
	if (wgp_endpoint_from_sockaddr(ep, (const struct sockaddr *)&c->pm_state.external,
				       sizeof(c->pm_state.external)) < 0)
		return false;
	ep->kind = WGP_CAND_MAPPED;
	return wgp_endpoint_usable(ep);
}
