/* SPDX-License-Identifier: MIT */
/*
 * wgpunch — the inside of the port-mapping module: one exchange with the
 * gateway per protocol (portmap_pcp.c, portmap_natpmp.c, portmap_upnp.c)
 * and the schedule decisions (portmap_sched.c, no I/O, unit-tested).
 * portmap.c runs the worker thread over them.
 */
#ifndef WGPUNCH_PORTMAP_INT_H
#define WGPUNCH_PORTMAP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "portmap.h"

/* What one exchange with the gateway needs. */
struct portmap_req {
	struct in_addr gateway;
	uint16_t internal_port;
	uint32_t lifetime_s;		/* 0: delete the lease's mapping */
	uint32_t fwmark;
	uint64_t deadline_ms;		/* CLOCK_MONOTONIC: give up then */
	int cancel_fd;			/* readable: give up now; -1: never */
};

/* A mapping we hold, with what it takes to renew and delete it. */
struct portmap_lease {
	enum portmap_proto proto;	/* 0: none held */
	struct sockaddr_in external;
	uint32_t lifetime_s;
	bool has_epoch;
	uint32_t epoch;			/* the gateway's, PCP and NAT-PMP */
	uint8_t nonce[12];		/* PCP: kept for renewals and deletion */
	char upnp_control_url[256];	/* UPnP: where to delete it */
	char upnp_service[128];
	char upnp_client[48];		/* UPnP: our LAN address, as the IGD saw it */
};

/*
 * One request each. With lifetime_s > 0 they map (renewing the lease's
 * mapping when lease->proto is theirs) and fill the lease; with 0 they
 * delete the lease's mapping. 0, or -errno with a one-line reason in err:
 *   -ECONNREFUSED  nothing listens (ICMP port unreachable)
 *   -ETIMEDOUT     no answer before the deadline
 *   -ECANCELED     cancel_fd became readable
 *   -EPROTONOSUPPORT  (PCP) the gateway speaks NAT-PMP only
 *   -EREMOTEIO     the gateway refused; err has its reason
 *   other          local failures (socket, SO_MARK, no address)
 */
int portmap_pcp_request(const struct portmap_req *rq, struct portmap_lease *lease,
			char *err, size_t errlen);
int portmap_natpmp_request(const struct portmap_req *rq, struct portmap_lease *lease,
			   char *err, size_t errlen);
/* UPnP cannot be cancelled mid-call; its discovery takes about 2 s. */
int portmap_upnp_request(const struct portmap_req *rq, struct portmap_lease *lease,
			 char *err, size_t errlen);

/* Shared by the PCP and NAT-PMP exchanges. */
uint64_t portmap_now_ms(void);
/* poll() fd for input and cancel_fd until deadline: 1 readable, 0 deadline,
 * -ECANCELED, or -errno. */
int portmap_wait(int fd, int cancel_fd, uint64_t deadline_ms);
/* The address as text in buf (INET_ADDRSTRLEN bytes); returns buf. */
const char *portmap_addr_str(struct in_addr addr, char *buf);
/* A UDP socket connected to gateway:port, marked, non-blocking; our
 * address toward it in *local (may be NULL). fd or -errno. */
int portmap_udp_socket(struct in_addr gateway, uint16_t port, uint32_t fwmark,
		       struct in_addr *local);

/* --- the schedule: pure decisions ------------------------------------ */

/* How long one protocol may take to map before the next one is asked. */
#define PORTMAP_PCP_BUDGET_MS 3000
#define PORTMAP_NATPMP_BUDGET_MS 3000
/* NAT-PMP after PCP went unanswered: RFC 6886 servers must answer any
 * version, so a silent PCP port rarely hides a NAT-PMP server. */
#define PORTMAP_NATPMP_SHORT_BUDGET_MS 1000
#define PORTMAP_UPNP_DISCOVER_MS 2000
/* Deleting on stop: the whole of portmap_stop stays within ~2 s. */
#define PORTMAP_DELETE_BUDGET_MS 1200
/* How often the default route is looked at for a new gateway. */
#define PORTMAP_GATEWAY_CHECK_MS 30000

/*
 * PCP retransmission (RFC 6887 section 8.1.1) with a shorter start: the
 * first timeout 500 ms, then doubling, each +-10 % by rand (any 32-bit
 * value). attempt counts from 0. Milliseconds until the next send.
 */
uint32_t portmap_pcp_retransmit_ms(unsigned int attempt, uint32_t rand);

/* When to renew a mapping granted for lifetime_s at granted_ms: half-way
 * (RFC 6887 section 11.2.1), and never sooner than 1 s after. */
uint64_t portmap_renew_at(uint64_t granted_ms, uint32_t lifetime_s);

/*
 * After the failures-th failed renewal (1, 2, ...) at now_ms: when to
 * try again: 2, 4, 8 ... 64 s later, but no later than the expiry, so
 * the loss is published on time.
 */
uint64_t portmap_renew_retry_at(uint64_t now_ms, uint64_t expires_ms,
				unsigned int failures);

/* After the failures-th round (1, 2, ...) in which nothing mapped: ms
 * until the next round: 5, 10, 20, then 30 minutes. */
uint64_t portmap_idle_retry_ms(unsigned int failures);

/*
 * RFC 6887 section 8.5 (and RFC 6886 section 3.6): did the gateway keep
 * its state between two answers? prev_epoch was received at prev_ms,
 * epoch at now_ms. False when the epoch went back more than a second, or
 * when the two clocks advanced by amounts that disagree by more than
 * 2 s plus 1/16: the gateway restarted and lost our mapping.
 */
bool portmap_epoch_ok(uint32_t prev_epoch, uint64_t prev_ms,
		      uint32_t epoch, uint64_t now_ms);

/*
 * The default IPv4 gateway in the text of /proc/net/route: the up,
 * gateway route to 0.0.0.0/0 with the lowest metric. 0 and *gw set,
 * -ENOENT when there is none, -EBADMSG when the text is not that file's.
 */
int portmap_route_parse(const char *text, struct in_addr *gw);

#endif
