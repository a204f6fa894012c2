/* SPDX-License-Identifier: MIT */
/*
 * wgpunch — asks the default gateway to map WireGuard's UDP port, so that
 * a peer behind a NAT that maps per destination is still reachable at a
 * fixed "external address:port" (the "mapped" candidate).
 *
 * Protocols, tried in this order: PCP (RFC 6887) MAP, NAT-PMP (RFC 6886,
 * libnatpmp), UPnP IGD (libminiupnpc). One worker thread does all of it,
 * so the blocking calls of those libraries (SSDP, HTTP, timed reads)
 * never stall the caller's event loop. The caller learns of changes
 * through an eventfd and takes a snapshot with portmap_get().
 *
 * The worker renews a mapping at half its lifetime, maps again at once
 * when the gateway restarted (its epoch went backwards or jumped), and
 * publishes the loss only when a mapping it could not renew expires.
 * When the gateway speaks none of the protocols, the state is
 * PORTMAP_NONE and the next attempt comes 5, 10, 20, then every 30
 * minutes: a network without a mapping gateway sees a few datagrams an
 * hour. A change of the default gateway starts over at once.
 *
 * The module never prints; give it a log callback to hear about it.
 */
#ifndef WGPUNCH_PORTMAP_H
#define WGPUNCH_PORTMAP_H

#include <stdint.h>
#include <netinet/in.h>

enum portmap_proto {
	PORTMAP_PCP = 1,
	PORTMAP_NATPMP = 2,
	PORTMAP_UPNP = 4,
	PORTMAP_ALL = 7,
};

#define PORTMAP_DEFAULT_LIFETIME 7200

/*
 * Called from the worker thread (never from the caller's), one line
 * without a newline; level is a LOG_LEVEL_* of log.h. Must be safe to
 * call from another thread than the one that runs the event loop.
 */
typedef void portmap_log_fn(void *arg, int level, const char *msg);

struct portmap_config {
	uint16_t internal_port;		/* WireGuard's listen port (non-zero) */
	unsigned int protos;		/* PORTMAP_* mask, tried PCP, NAT-PMP, UPnP */
	uint32_t lifetime_s;		/* asked for; 0: PORTMAP_DEFAULT_LIFETIME */
	struct in_addr gateway;		/* 0: the default route's gateway, watched */
	uint32_t fwmark;		/* SO_MARK of the PCP/NAT-PMP socket if non-zero */
	portmap_log_fn *log;		/* NULL: silent */
	void *log_arg;
};

enum portmap_status {
	PORTMAP_OFF,			/* not started, or stopped */
	PORTMAP_TRYING,			/* asking; no mapping yet (or lost) */
	PORTMAP_MAPPED,			/* external is reachable */
	PORTMAP_NONE,			/* nothing mapped; error says why */
};

/* A snapshot of the module's state. */
struct portmap_state {
	enum portmap_status state;
	enum portmap_proto proto;	/* which one gave the mapping (MAPPED) */
	struct sockaddr_in external;	/* the mapping (MAPPED) */
	struct in_addr gateway;		/* whom we asked; 0 when there is none */
	uint32_t lifetime_s;		/* granted (MAPPED) */
	uint64_t expires_mono_ms;	/* CLOCK_MONOTONIC ms (MAPPED) */
	char error[128];		/* why NONE / the last failure; "" if none */
};

struct portmap;

/*
 * Starts the worker, which asks at once. 0 and *pm set, or -EINVAL (port
 * 0, empty or unknown protocol mask), -ENOMEM, or another -errno from
 * eventfd/pthread_create.
 */
int portmap_start(struct portmap **pm, const struct portmap_config *cfg);

/*
 * An eventfd that is readable when the published state changed: state,
 * protocol, external address, gateway or error (a renewal that changes
 * nothing but the expiry does not wake the caller). Non-blocking; valid
 * until portmap_stop().
 */
int portmap_fd(const struct portmap *pm);

/* Copies the current state into *out and clears the fd's readability. */
void portmap_get(struct portmap *pm, struct portmap_state *out);

/*
 * Deletes the mapping at the gateway (PCP/NAT-PMP lifetime 0, UPnP
 * DeletePortMapping), ends the worker and frees everything, within about
 * two seconds even when the worker is inside a library call that cannot
 * be interrupted (it then finishes and cleans up on its own). NULL is
 * allowed.
 */
void portmap_stop(struct portmap *pm);

/*
 * The same, but the mapping is left at the gateway to expire at the end
 * of its lifetime: for "wgpunch up", which exits once the tunnel is up
 * and whose tunnel may go through the mapping.
 */
void portmap_release(struct portmap *pm);

/* "pcp", "natpmp", "upnp" (as --portmap names them); "none" for anything else. */
const char *portmap_proto_name(enum portmap_proto proto);

/* "off", "trying", "mapped", "none". */
const char *portmap_status_name(enum portmap_status state);

#endif
