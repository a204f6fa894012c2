// SPDX-License-Identifier: MIT
#include <errno.h>
#include <ifaddrs.h>
#include <string.h>
#include <net/if.h>
#include <netinet/in.h>
#include "endpoint.h"
#include "hostaddr.h"

#define GATHER_MAX 16	/* per family, before choosing */

struct gathered {
	struct wgp_endpoint ep[GATHER_MAX];
	unsigned int n;
};

static bool same_address(const struct wgp_endpoint *a, const struct wgp_endpoint *b)
{
	return a->family == b->family && !memcmp(a->addr, b->addr, sizeof(a->addr));
}

static bool listed(const struct wgp_endpoint *eps, unsigned int n,
		   const struct wgp_endpoint *ep)
{
	for (unsigned int i = 0; i < n; i++) {
		if (same_address(&eps[i], ep))
			return true;
	}
	return false;
}

static void gather_one(struct gathered *g, const struct ifaddrs *ifa,
		       const char *skip_ifname, uint16_t port)
{
	struct wgp_endpoint ep;

	if (!ifa->ifa_addr || !(ifa->ifa_flags & IFF_UP) ||
	    (ifa->ifa_flags & IFF_LOOPBACK))
		return;
	if (skip_ifname && !strcmp(ifa->ifa_name, skip_ifname))
		return;
	if (ifa->ifa_addr->sa_family != AF_INET &&
	    ifa->ifa_addr->sa_family != AF_INET6)
		return;
	if (wgp_endpoint_from_sockaddr(&ep, ifa->ifa_addr,
				       endpoint_len(ifa->ifa_addr)) < 0)
		return;
	ep.port = port;
	if (!wgp_endpoint_usable(&ep) || listed(g->ep, g->n, &ep) ||
	    g->n == GATHER_MAX)
		return;
	g->ep[g->n++] = ep;
}

static unsigned int take(struct wgp_endpoint *out, unsigned int n,
			 unsigned int limit, const struct gathered *g)
{
	for (unsigned int i = 0; i < g->n && n < limit; i++) {
		if (!listed(out, n, &g->ep[i]))
			out[n++] = g->ep[i];
	}
	return n;
}

int hostaddr_gather(struct wgp_endpoint *out, unsigned int max,
		    const char *skip_ifname, uint16_t port,
		    const struct sockaddr *first)
{
	struct gathered v4 = { .n = 0 }, v6 = { .n = 0 };
	struct wgp_endpoint pref;
	struct ifaddrs *list;
	unsigned int n = 0, v4_limit = max;

	if (getifaddrs(&list) < 0)
		return -errno;
	for (const struct ifaddrs *ifa = list; ifa; ifa = ifa->ifa_next)
		gather_one(ifa->ifa_addr && ifa->ifa_addr->sa_family == AF_INET6 ?
			   &v6 : &v4, ifa, skip_ifname, port);
	freeifaddrs(list);

	/* The address WireGuard leaves from first, if it is one we keep. */
	if (max && first && first->sa_family != AF_UNSPEC &&
	    wgp_endpoint_from_sockaddr(&pref, first, endpoint_len(first)) == 0) {
		pref.port = port;
		if (listed(v4.ep, v4.n, &pref) || listed(v6.ep, v6.n, &pref))
			out[n++] = pref;
	}
	/* Leave IPv6 a slot when the host has it. */
	if (v6.n && max > 1)
		v4_limit = max - 1;
	n = take(out, n, v4_limit, &v4);
	n = take(out, n, max, &v6);
	return (int)n;
}
