/* SPDX-License-Identifier: MIT */
/*
 * wgpunch — the decisions, apart from any I/O so they can be tested:
 * when a peer without path probes is left alone or gets its endpoint,
 * which keepalive, and how long to wait before trying again (path.h
 * decides for peers that answer probes).
 */
#ifndef WGPUNCH_PUNCH_H
#define WGPUNCH_PUNCH_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/types.h>
#include "proto.h"
#include "wg.h"

/*
 * A handshake younger than this means WireGuard holds a session it still
 * accepts, so the path works and the peer is left alone. It is
 * REJECT_AFTER_TIME (180 s): past it WireGuard itself drops the keys.
 * A smaller value would misjudge healthy tunnels: with a keepalive, a
 * live session re-handshakes only once it is REKEY_AFTER_TIME (120 s)
 * old *and* a packet goes out (up to one keepalive interval, 25 s,
 * later), plus REKEY_TIMEOUT (5 s) if the first initiation is lost, so
 * ~150 s old handshakes are normal on a working tunnel.
 */
#define HANDSHAKE_FRESH_SEC	180

#define DEFAULT_KEEPALIVE	25	/* keeps a NAT mapping (~30 s) open */

/* Retransmission of one request: 250 ms doubling to 8 s, +-25 % jitter
 * so many clients behind one NAT reboot do not stay in step. */
#define RETX_INITIAL_MS		250
#define RETX_MAX_MS		8000

/* The daemon re-registers this often (well inside the server's TTL and
 * common NAT mapping lifetimes), or at half the TTL if that is shorter. */
#define REREGISTER_MS		20000
/* While the server does not answer, rounds back off up to this. */
#define SERVER_BACKOFF_MAX_MS	300000
/* A round gives up on the server after this many sends of a request
 * (250+500+1000+2000+4000 ms: ~8 s without an answer). */
#define RETX_MAX_TRIES		5
/* The mapping check (which registering waits for) gives up after this
 * many sends: 250+500+1000+2000 ms. */
#define PROBE_MAX_TRIES		4
/* Once the main port answered the mapping check, the probe port gets
 * this much longer: both answers come from the same server over the
 * same path, so a later one is lost or blocked (a firewall that lets
 * only the main port through), and registering waits for the check. */
#define PROBE_GRACE_MS		1000
/* While the server is silent the daemon keeps one REGISTER going, sent
 * again this often: a server that comes back is used again within
 * seconds, not after a back-off that doubled while it was away. */
#define SILENT_RETRY_MS		2000
/* The side that does not initiate WireGuard's handshake sets its
 * persistent keepalive this long after the endpoint (client_path.c). */
#define KEEPALIVE_GRACE_MS	1000
/* The daemon looks at an interface without peers again this often. */
#define NO_PEERS_RETRY_MS	5000
/* The daemon re-reads the interface's handshakes this often. */
#define DEVICE_POLL_MS		5000
/* "wgpunch up" asks again this often for peers not yet known. */
#define UP_REPOLL_MS		2000

bool handshake_fresh(const struct timespec *last, const struct timespec *now);

/* Seconds since the handshake (rounded down), or -1 for never. */
long handshake_age(const struct timespec *last, const struct timespec *now);

/* The keepalive to set with an endpoint: the user's --keepalive when
 * given, else the peer's own non-zero setting, else DEFAULT_KEEPALIVE. */
uint16_t keepalive_for(const struct wg_peer *peer, uint16_t user_keepalive);

enum punch_action {
	PUNCH_LEAVE_FRESH,	/* handshake fresh: do not touch */
	PUNCH_ALREADY_SET,	/* endpoint and keepalive already as wanted */
	PUNCH_SET,		/* set endpoint and keepalive */
};

/*
 * What to do with a peer, whose wgpunch answers no path probes, that the
 * server gave an endpoint for. A fresh handshake wins over everything
 * (the tunnel works, whatever the NATs are). A NAT type is no reason not
 * to try: only a handshake can tell.
 */
enum punch_action punch_decide(const struct wg_peer *peer,
			       const struct timespec *now,
			       const struct sockaddr *endpoint,
			       uint16_t keepalive);

/* The next retransmission interval (before jitter) after cur_ms; 0 asks
 * for the first. Doubles from RETX_INITIAL_MS up to RETX_MAX_MS. */
unsigned int retx_next_ms(unsigned int cur_ms);

/* Jittered delay of about base_ms (+-25 %). */
unsigned int jitter_ms(unsigned int base_ms, uint32_t rnd);

/* The daemon's delay before the next round after failures rounds in a
 * row without an answer (0: healthy, REREGISTER_MS or ttl/2). */
unsigned int round_delay_ms(unsigned int failures, uint32_t ttl_s);

/*
 * Why an endpoint the server offered for a peer must not be used, or
 * NULL when it may: no address, port 0, an address that never leads to
 * another host (unspecified, loopback, link-local, multicast, broadcast,
 * IPv4-mapped IPv6: wgp_endpoint_usable()), or the rendezvous server
 * itself (server's address with the server's port or probe_port). A
 * hostile server could otherwise aim our tunnels at ourselves, at a
 * multicast group or back at itself. A link-local path may still be
 * used, but only once a path probe proved it (client_path.c).
 */
const char *punch_endpoint_refusal(const struct wgp_endpoint *ep,
				   const struct wgp_endpoint *server,
				   uint16_t probe_port);

/* memcmp order of the keys that start a and b (for qsort and bsearch
 * over arrays whose elements begin with a WireGuard key). */
int punch_key_cmp(const void *a, const void *b);

/*
 * Match a device read against the peers we track, in O(n log n): a
 * pairwise search is quadratic, 10 s for 65,536 peers. tracked holds
 * n_tracked elements of size stride, each beginning with its key,
 * sorted by punch_key_cmp, keys unique. On return present[i] tells
 * whether tracked element i is on the device, and fresh[0..ret) holds
 * the indices into dev of the peers not tracked yet, each key once (its
 * first occurrence), in device order. fresh has room for n_dev. Returns
 * the count, or -ENOMEM.
 */
ssize_t punch_sync_plan(const void *tracked, size_t n_tracked, size_t stride,
			const struct wg_peer *dev, size_t n_dev,
			bool *present, size_t *fresh);

#endif
