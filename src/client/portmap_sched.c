// SPDX-License-Identifier: MIT
/*
 * The port-mapping schedule: when to resend, renew, retry, and whether
 * the gateway restarted. Pure functions of their arguments, so the unit
 * tests drive them with made-up clocks; portmap.c owns the real ones.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "portmap_int.h"

#define PCP_FIRST_TIMEOUT_MS 500
#define PCP_MAX_DOUBLINGS 10
#define RENEW_MIN_MS 1000
#define RENEW_RETRY_FIRST_MS 2000
#define RENEW_RETRY_MAX_MS 64000
#define IDLE_RETRY_FIRST_MS (5 * 60 * 1000ULL)
#define IDLE_RETRY_MAX_MS (30 * 60 * 1000ULL)

uint32_t portmap_pcp_retransmit_ms(unsigned int attempt, uint32_t rand)
{
	uint32_t rt, permille;

	if (attempt > PCP_MAX_DOUBLINGS)
		attempt = PCP_MAX_DOUBLINGS;
	rt = PCP_FIRST_TIMEOUT_MS << attempt;
	/* RFC 6887: RT * (1 + RAND), RAND uniform in -0.1 .. +0.1 */
	permille = 900 + rand % 201;
	return (uint32_t)((uint64_t)rt * permille / 1000);
}

uint64_t portmap_renew_at(uint64_t granted_ms, uint32_t lifetime_s)
{
	uint64_t half = (uint64_t)lifetime_s * 1000 / 2;

	return granted_ms + (half < RENEW_MIN_MS ? RENEW_MIN_MS : half);
}

uint64_t portmap_renew_retry_at(uint64_t now_ms, uint64_t expires_ms,
				unsigned int failures)
{
	uint64_t delay = RENEW_RETRY_MAX_MS;

	if (failures >= 1 && failures <= 6)
		delay = (uint64_t)RENEW_RETRY_FIRST_MS << (failures - 1);
	if (delay > RENEW_RETRY_MAX_MS)
		delay = RENEW_RETRY_MAX_MS;
	if (now_ms >= expires_ms)
		return now_ms;
	if (now_ms + delay > expires_ms)
		return expires_ms;
	return now_ms + delay;
}

uint64_t portmap_idle_retry_ms(unsigned int failures)
{
	uint64_t delay = IDLE_RETRY_MAX_MS;

	if (failures >= 1 && failures <= 3)
		delay = IDLE_RETRY_FIRST_MS << (failures - 1);
	return delay < IDLE_RETRY_MAX_MS ? delay : IDLE_RETRY_MAX_MS;
}

bool portmap_epoch_ok(uint32_t prev_epoch, uint64_t prev_ms,
		      uint32_t epoch, uint64_t now_ms)
{
	int64_t client_delta, server_delta;

	/* Time does not go backwards by more than a second. */
	if ((uint64_t)epoch + 1 < prev_epoch)
		return false;
	client_delta = (int64_t)(now_ms - prev_ms);
	server_delta = ((int64_t)epoch - (int64_t)prev_epoch) * 1000;
	if (client_delta + 2000 < server_delta - server_delta / 16)
		return false;
	if (server_delta + 2000 < client_delta - client_delta / 16)
		return false;
	return true;
}

/* One line of /proc/net/route: 0 and its fields, or -EBADMSG. */
static int route_line(const char *line, uint32_t *dst, uint32_t *gw,
		      unsigned int *flags, unsigned int *metric, uint32_t *mask)
{
	char ifname[32];
	unsigned int refcnt, use;
	unsigned int d, g, m;

	if (sscanf(line, "%31s %x %x %x %u %u %u %x", ifname, &d, &g, flags,
		   &refcnt, &use, metric, &m) != 8)
		return -EBADMSG;
	*dst = d;
	*gw = g;
	*mask = m;
	return 0;
}

int portmap_route_parse(const char *text, struct in_addr *gw)
{
	const unsigned int rtf_up = 0x1, rtf_gateway = 0x2;
	unsigned int best_metric = 0;
	bool found = false;
	const char *line;

	if (strncmp(text, "Iface", 5))
		return -EBADMSG;
	for (line = strchr(text, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
		uint32_t dst, gateway, mask;
		unsigned int flags, metric;

		if (route_line(line + 1, &dst, &gateway, &flags, &metric, &mask))
			return -EBADMSG;
		if (dst || mask || !gateway)
			continue;
		if ((flags & (rtf_up | rtf_gateway)) != (rtf_up | rtf_gateway))
			continue;
		if (found && metric >= best_metric)
			continue;
		/* The file prints the address as the integer it is in memory. */
		gw->s_addr = gateway;
		best_metric = metric;
		found = true;
	}
	return found ? 0 : -ENOENT;
}
