/* SPDX-License-Identifier: MIT */
/*
 * wgpunch — the client engine behind "wgpunch up" and "wgpunch daemon".
 *
 * client.c runs rounds (read the device, open the sockets, register) and
 * the event loop; client_proto.c is the protocol engine: it touches no
 * socket and reads no clock, it takes the server's datagrams and the time
 * and returns requests to send (with retransmission) and events that
 * client.c acts on; client_path.c probes the peers'
 * candidate addresses and sets the path that answers on WireGuard;
 * client_status.c turns all that into a status snapshot.
 */
#ifndef WGPUNCH_CLIENT_H
#define WGPUNCH_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include "path.h"
#include "pathmsg.h"
#include "pathsock.h"
#include "portmap.h"
#include "proto.h"
#include "rawsock.h"
#include "status.h"
#include "wg.h"

/* Rendezvous servers a client registers with (-s given up to this
 * many times). Each holds its own session, sockets and state; a peer
 * registered on any one of them is found. */
#define WGPUNCH_MAX_SERVERS	8

struct client_server_opts {
	struct sockaddr_storage addr;	/* address and port */
	uint16_t probe_port;		/* its second port */
	uint8_t key[WGP_KEY_LEN];	/* its public key */
};

struct client_opts {
	const char *ifname;
	struct client_server_opts servers[WGPUNCH_MAX_SERVERS];
	unsigned int n_servers;		/* 1..WGPUNCH_MAX_SERVERS */
	uint16_t keepalive;		/* 0: the peer's own, else 25 */
	unsigned int timeout_s;		/* "up" only */
	const char *status_socket;	/* NULL: status_default_path() */
	unsigned int portmap;		/* CONFIG_PM_* to try, 0: none */
	bool daemon;
	bool no_seccomp;		/* --no-seccomp */
	bool status_only;		/* "status" without a daemon: probe,
					 * set nothing, report */
};

/* Exit statuses of wgpunch (wgpunch(8), EXIT STATUS). Unresolved peers
 * and usage errors differ, so scripts can tell "try again later" from
 * "fix the command". */
enum {
	WGPUNCH_EXIT_OK = 0,
	WGPUNCH_EXIT_ERROR = 1,		/* setup or runtime error, interrupted */
	WGPUNCH_EXIT_USAGE = 2,		/* options, arguments, config file */
	WGPUNCH_EXIT_UNRESOLVED = 3,	/* "up": some peers not resolved */
};

/* Run "wgpunch up": WGPUNCH_EXIT_OK when every peer is resolved
 * (endpoint set or handshake fresh), _UNRESOLVED when some are not
 * (each named on stdout with the reason), _ERROR on a setup error or
 * an interruption. The caller checks that stdout was written. */
int client_up(const struct client_opts *opts);

/* Run "wgpunch daemon" until SIGTERM or SIGINT (SIGHUP starts a round at
 * once): WGPUNCH_EXIT_OK, or _ERROR on a setup error. */
int client_daemon(const struct client_opts *opts);

/* "wgpunch status" without a daemon: probe once (setting nothing) and
 * print the snapshot, as JSON or text. WGPUNCH_EXIT_OK or _ERROR. */
int client_status(const struct client_opts *opts, bool json);

/* Internals shared by client*.c. */

enum peer_status {
	PEER_WAITING,		/* the server has not given its endpoint */
	PEER_PROBING,		/* candidates known, none answered yet */
	PEER_FRESH,		/* handshake fresh: left alone */
	PEER_SET,		/* endpoint set to a path that answered (or,
				 * for a peer without probes, just set) */
	PEER_NO_PATH,		/* every candidate failed */
	PEER_FAILED,		/* setting the endpoint failed */
};

/* The server port a datagram goes to or came from: the main port, or
 * the probe port of the mapping check. The caller maps it to a socket. */
enum engine_port {
	ENGINE_PORT_MAIN,
	ENGINE_PORT_PROBE,
};

struct request {
	bool active;
	uint8_t type;			/* WGP_REGISTER, _PROBE, _LOOKUP */
	uint8_t txid[WGP_TXID_LEN];
	unsigned int base_ms;		/* current retransmit interval */
	unsigned int tries;		/* sends so far */
	uint64_t due_ms;		/* next send (monotonic) */
	enum engine_port port;		/* where it goes */
	bool cookie_resent;		/* sent again at once for a COOKIE:
					 * only once per request */
};

/*
 * A cookie from the server (COOKIE: it is under load and wants proof we
 * receive at our address). Attached to every request to that server
 * port until until_ms: the server's secret lives at least 120 s, we
 * keep it 100 s. One per server port: a symmetric NAT gives each its
 * own mapping, and a cookie is bound to the mapping.
 */
#define CLIENT_COOKIE_KEEP_MS	100000
struct client_cookie {
	uint8_t value[WGP_COOKIE_LEN];
	uint64_t until_ms;		/* 0: none */
};

struct client_peer {
	uint8_t key[WGP_KEY_LEN];
	uint8_t digest[WGP_CONSENT_LEN];
	bool present;			/* in the latest device read */
	enum peer_status status;
	bool have_ep;			/* an endpoint awaiting a decision */
	uint8_t ep_flags;		/* the peer's WGP_F_* */
	bool known_flags;		/* ep_flags came from the server */
	struct wgp_endpoint ep;
	/* One LOOKUP per server: asked of every server that answers. */
	struct request lookup[WGPUNCH_MAX_SERVERS];
	char why[256];

	/* Paths (client_path.c). */
	struct path_set paths;
	struct path_keys keys;
	bool have_keys;
	struct path_replay replay;
	bool proven;			/* the endpoint set is a path that
					 * answered, or a handshake is fresh */
	struct timespec handshake;	/* as last read from the device */
	uint64_t set_ms;		/* when we set the endpoint, 0: not */
	uint64_t keepalive_due_ms;	/* set the keepalive then, 0: done */
	bool warned_no_handshake;
	uint64_t recover_ms;		/* last time a lost path made us ask
					 * the server again */
	uint64_t retry_ms;		/* no path: ask the server (and so the
					 * peer) to punch again then, 0: no */

	/* The relay (client_relay.c). */
	struct request relay;		/* RELAY in flight */
	unsigned int relay_srv;		/* the server relay went to, or the
					 * grant held came from */
	bool have_relay;		/* a grant is held: relay_addr */
	struct sockaddr_storage relay_addr;	/* server address, our port */
	uint8_t relay_key[WGP_KEY_LEN];	/* RELAY_BIND key of our side */
	uint32_t relay_idle_s;
	uint64_t relay_next_ms;		/* do not ask again before then */
	/* Servers (bit i: c->srv[i]) that answered UNAVAILABLE for this
	 * peer, passed over until relay_unavail_ms: the peer may be
	 * registered with another only, which can grant it. */
	uint8_t relay_unavail;
	uint64_t relay_unavail_ms;
	char relay_why[96];		/* why we asked */
};

/* A request sealed and ready for a server, in the engine's out-queue. */
struct engine_datagram {
	unsigned int server;		/* index into client->srv */
	enum engine_port port;
	uint8_t type;			/* WGP_REGISTER...: for logs */
	size_t len;
	uint8_t buf[WGP_MAX_REQUEST_COOKIE_LEN];
};

struct engine_out {
	struct engine_datagram *d;	/* d[0..n) to send, in order */
	size_t n, cap;
};

/* What the engine decided, for client.c to act on (client->event). */
enum engine_event_type {
	ENGINE_EV_ANSWERED,		/* the server answered a request */
	ENGINE_EV_SILENT,		/* the server stopped answering, or
					 * refused our REGISTER */
	ENGINE_EV_REGISTERED,		/* a REGISTER_REPLY (reply), before
					 * its records are offered */
	ENGINE_EV_ENDPOINT,		/* the server's word on peer: flags,
					 * ep, cands[WGP_MAX_CANDIDATES] */
	ENGINE_EV_RELAY_GRANT,		/* grant for peer (answer or fresh
					 * unsolicited one) */
	ENGINE_EV_NAT,			/* mapping check news (or given up) */
	ENGINE_EV_NOT_REGISTERED,	/* the server forgot us: register */
};

struct engine_event {
	enum engine_event_type type;
	struct client_server *srv;	/* the server it came from */
	struct client_peer *peer;
	uint8_t flags;
	const struct wgp_endpoint *ep, *cands;
	const struct wgp_register_reply *reply;
	const struct wgp_relay_grant *grant;
};

/* The engine's clock: monotonic ms for schedules, CLOCK_REALTIME ns for
 * counters and freshness (the server's offset is added by the engine). */
struct engine_clock {
	uint64_t ms;
	uint64_t ns;
};

enum nat_type {
	NAT_UNKNOWN,			/* the mapping check is running */
	NAT_CONE,			/* same mapping toward both ports */
	NAT_SYMMETRIC,			/* a new mapping per destination */
	NAT_UNTESTED,			/* the check got no answer */
};

/*
 * One rendezvous server and our conversation with it. Every server gets
 * the same REGISTER (consent list, candidates); each keeps its own
 * session, sockets, cookies, counter and clock, and is backed off on its
 * own when it stops answering, so the others carry on.
 */
struct client_server {
	unsigned int index;		/* in client->srv and the options */
	const struct client_server_opts *so;
	struct wgp_session sess;
	struct rawsock main_sock, probe_sock;
	struct client_cookie main_cookie, probe_cookie;	/* per port */
	uint64_t register_sent_ms;	/* RTT to the server, for the */
	unsigned int rtt_ms;		/* pre-punch delay */
	bool have_rtt;			/* rtt_ms measured */

	uint64_t counter;		/* last REGISTER/LOOKUP counter */
	uint64_t notify_stamp;		/* last server stamp taken (fresh.h) */
	int64_t clock_offset_ns;	/* server clock - ours */

	struct request reg;
	/* The mapping check: a PROBE to each server port, both from
	 * WireGuard's port; different mappings mean a symmetric NAT. */
	struct request probe_main, probe;
	uint64_t probe_giveup_ms;	/* the main port answered: wait for
					 * the probe port until then (0: none) */
	uint8_t reg_keys[WGP_MAX_CONSENT][WGP_KEY_LEN];	/* consent order */
	unsigned int n_reg;
	uint8_t reg_flags;		/* flags of the REGISTER in flight */
	bool registered;
	uint8_t registered_flags;
	uint32_t ttl;
	int last_error;			/* of this server's conversation */
	bool main_answered;		/* anything authentic on the main port */
	bool refused;			/* it refused our REGISTER */
	bool silent;			/* its REGISTER went unanswered: backed
					 * off, not asked LOOKUPs or RELAYs */
	unsigned int failures;		/* silences in a row */
	bool have_reg_self;		/* reg_self: where the server saw */
	struct wgp_endpoint reg_self;	/* our last REGISTER */

	enum nat_type nat;		/* its mapping check's verdict */
	bool have_self_main, have_self_probe;
	struct wgp_endpoint self_main, self_probe;

	uint64_t relay_none_until;	/* it said it runs no relay */
};

struct client {
	const struct client_opts *o;
	struct wg_device dev;
	bool have_dev;
	struct client_server srv[WGPUNCH_MAX_SERVERS];
	unsigned int n_srv;
	uint8_t sess_pub[WGP_KEY_LEN];	/* whose sessions srv[].sess are */
	bool have_sess;
	struct pathsock path4, path6;	/* peer-to-peer path messages */
	uint64_t rx_server;		/* datagrams the servers' sockets got */
	struct engine_out out;		/* requests the engine queued: client.c
					 * sends them after engine_service() */
	void (*event)(struct client *c,	/* the engine's decisions */
		      const struct engine_event *ev);
	uint64_t path_counter;		/* last path message counter */
	int hops;			/* TTL to leave our own NAT(s); -1:
					 * unknown, 0: no NAT in front */
	struct wgp_endpoint hops_for;	/* the public address measured */
	int status_fd;			/* the daemon's status socket */
	uint64_t status_pause_until;	/* not polled until then (accept
					 * failed: out of descriptors) */
	char status_path[108];
	uint64_t next_device_ms;	/* daemon: re-read handshakes */
	bool warned_no_peers;

	struct client_peer *peers;
	size_t num_peers, peers_cap;

	bool reg_pending;		/* register once a check is done */
	struct wgp_endpoint own_cands[WGP_MAX_CANDIDATES];	/* host;
						 * unused slots family 0 */
	/* Our NAT: the verdict of the first server (in the order given)
	 * whose mapping check completed. */
	enum nat_type nat;

	struct portmap *pm;		/* asking our gateway; NULL: not */
	uint16_t pm_port;		/* the WireGuard port it maps */
	struct portmap_state pm_state;	/* its latest news */

	uint64_t next_round_ms;
	unsigned int failures;		/* rounds in a row without answer */
	bool stop;
};

/* client_proto.c */
/* Our clock corrected by what the server told us (CLOCK_REALTIME ns):
 * request counters, probe timestamps, path message counters and the
 * freshness of what the server sends all follow it. */
uint64_t client_clock_ns(const struct client *c);

/* client_path.c */
/* The peer's key in base64, for logs. */
const char *client_peer_b64(const struct client_peer *p,
			    char buf[static WGP_KEY_B64_SIZE]);
int client_paths_open(struct client *c);
void client_paths_close(struct client *c);
/* New candidates from the server for p (its mapping, its host
 * addresses): learn them and start probing (with pre-punch openers). */
void client_paths_offer(struct client *c, struct client_peer *p,
			const struct wgp_endpoint *ep,
			const struct wgp_endpoint *cands, unsigned int n);
/* Probes due, lost paths, choices applied; the next due time. */
uint64_t client_paths_service(struct client *c, uint64_t now);
void client_paths_receive(struct client *c, struct pathsock *ps);
void client_paths_peer_reset(struct client *c, struct client_peer *p);
/* Derive p's path keys if not done yet; false for an unusable key. */
bool client_paths_keys(struct client *c, struct client_peer *p);
/* A server sees us at self: measure the hops to that public address
 * (once per address). */
void client_paths_measure_hops(struct client *c, const struct wgp_endpoint *self);
void client_peer_set_status(const struct client *c, struct client_peer *p,
			    enum peer_status st, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Set p's WireGuard endpoint to sa (unless status_only). Without
 * initiate, the persistent keepalive waits KEEPALIVE_GRACE_MS (see
 * client_path.c: two crossing handshake initiations kill each other).
 * 0 or -errno. */
int client_set_endpoint(struct client *c, struct client_peer *p,
			const struct sockaddr *sa, const char *how,
			bool initiate);

/* client_relay.c */
/* p needs the relay (why: for logs and status): ask for an allocation
 * unless one is held or asked for, or asking is backing off. */
void client_relay_want(struct client *c, struct client_peer *p, uint64_t now,
		       const char *why);
/* A RELAY_GRANT for p from srv, as a reply or unsolicited. */
void client_relay_granted(struct client *c, struct client_server *srv,
			  struct client_peer *p, const struct wgp_relay_grant *g);
/* Before a probe to cand, a relay candidate not proven alive: bind our
 * side of the allocation to WireGuard's port's mapping. */
void client_relay_bind(struct client *c, struct client_peer *p,
		       const struct path_cand *cand);
/* The relay candidate stopped answering altogether (the relay restarted
 * or freed the allocation): forget it, so a new one is asked for. */
void client_relay_check(struct client *c, struct client_peer *p, uint64_t now);
void client_relay_reset(struct client_peer *p);

/* client_portmap.c */
/* Ask the gateway for a mapping of WireGuard's port (again if the port
 * changed), unless --no-portmap or "status". */
void client_portmap_start(struct client *c);
/* The daemon deletes the mapping; "up" leaves it to expire. */
void client_portmap_end(struct client *c);
int client_portmap_fd(const struct client *c);
/* The mapping changed: log it, and register again with it. */
void client_portmap_event(struct client *c);
/* Our mapping as a candidate (kind MAPPED); false when there is none. */
bool client_portmap_candidate(const struct client *c, struct wgp_endpoint *ep);

/* client_status.c */
/* Fill s from the client's state; s->peers is malloc'ed (free it). */
int client_status_fill(const struct client *c, struct status_snapshot *s);

/* client_proto.c: the protocol engine. */
/* Set up c->srv[] from c->o->servers[] (no sessions, no sockets). */
void engine_init_servers(struct client *c);
/* A REGISTER to srv with the consent list of the present peers, sent at
 * the next engine_service(). client_start_register() (client.c) does
 * this for every server, then derives those peers' path keys and
 * gathers our candidates. */
void engine_start_register(struct client *c, struct client_server *srv);
void client_start_probe(struct client_server *srv);
/* A LOOKUP for p to every server that answers (to every one when none
 * does yet): the first endpoint given wins. */
void client_start_lookup(struct client *c, struct client_peer *p);
/* A RELAY for p to srv (one RELAY per peer in flight). */
void client_start_relay(struct client_server *srv, struct client_peer *p);
/* Queue whatever is due in c->out; the earliest next due time (or
 * UINT64_MAX). */
uint64_t engine_service(struct client *c, struct engine_clock now);
/* One datagram from server srv's address, received on port's socket:
 * handled (events raised) or dropped. */
void engine_input(struct client *c, unsigned int srv, enum engine_port port,
		  const uint8_t *pkt, size_t len, struct engine_clock now);
/* Registered with at least one server. */
bool client_registered(const struct client *c);
/* A server that is answering (not silent, not refusing) has a REGISTER
 * in flight. */
bool client_registering(const struct client *c);
/* The RTT to the first registered server (0: none known). */
unsigned int client_rtt_ms(const struct client *c);
/* Every registered server said it runs no relay (none registered:
 * false). */
bool client_relay_none(const struct client *c, uint64_t now);
/* The server's address with another port. */
void client_server_addr(const struct client_server *srv, uint16_t port,
			struct sockaddr_storage *ss);
void engine_out_free(struct engine_out *out);
struct client_peer *client_find_peer(struct client *c,
				     const uint8_t key[static WGP_KEY_LEN]);

/* client.c */
void client_start_register(struct client *c);
/* The engine's datagrams out through the raw sockets; then the engine's
 * next due time, as engine_service() returned it. */
uint64_t client_service_requests(struct client *c, uint64_t now);
/* Read everything queued on srv's socket for port into the engine. */
void client_receive(struct client *c, struct client_server *srv,
		    enum engine_port port);
void client_offer_endpoint(struct client *c, struct client_peer *p,
			   uint8_t flags, const struct wgp_endpoint *ep,
			   const struct wgp_endpoint *cands, unsigned int n);
void client_nat_update(struct client *c, struct client_server *srv);
void client_server_answered(struct client *c, struct client_server *srv);
void client_server_silent(struct client *c, struct client_server *srv);

#endif
