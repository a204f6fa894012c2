/* SPDX-License-Identifier: MIT */
/*
 * wgpunch — "wgpunch status": a snapshot of what the client knows (our
 * mapping and NAT, and per peer the chosen path, why, and every
 * candidate tried), written as text or as JSON, and served by the daemon
 * on a Unix socket, /run/wgpunch/IFACE.sock.
 *
 * The socket protocol is one request line, "json\n" or "text\n", and the
 * snapshot in that form as the answer, then the daemon closes. The
 * socket is mode 0600: the snapshot names peers and their addresses.
 */
#ifndef WGPUNCH_STATUS_H
#define WGPUNCH_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include "proto.h"

#define STATUS_DIR		"/run/wgpunch"
#define STATUS_TIMEOUT_MS	200	/* a client's budget, per direction */
#define STATUS_PAUSE_MS		1000	/* the daemon stops polling after accept fails */
#define STATUS_PATH_MAX		108	/* a socket path and its NUL: the
					 * size of Linux's sun_path */

#define STATUS_MAX_CANDS 12
struct status_cand {
	struct sockaddr_storage addr;
	const char *source;	/* "host", "server", "peer" */
	const char *path;	/* "lan", "ipv6", "ipv4" */
	const char *state;	/* "ok", "failed", "probing", "untried" */
	int64_t rtt_us;		/* last RTT, -1: none */
	int64_t last_reply_ms;	/* ms since the last reply, -1: never */
	char error[96];		/* last failure, "" if none */
};
struct status_peer {
	uint8_t key[32];
	const char *path;	/* "lan", "ipv6", "ipv4", "none" */
	struct sockaddr_storage endpoint;	/* AF_UNSPEC: none */
	char why[192];		/* why this path (or why none) */
	struct sockaddr_storage relay;	/* our relay port for it; AF_UNSPEC: none */
	long handshake_age;	/* seconds, -1: never */
	const char *peer_nat;	/* "cone", "symmetric", "unknown" */
	char advice[192];	/* what would help, "" if nothing */
	unsigned int n_cands;
	struct status_cand cands[STATUS_MAX_CANDS];
};
/* One rendezvous server and how the conversation with it goes. */
#define STATUS_MAX_SERVERS 8
struct status_server {
	struct sockaddr_storage addr;
	bool registered;
	bool silent;		/* its REGISTER goes unanswered (or refused) */
	int64_t rtt_ms;		/* of the last REGISTER answered, -1: none */
	struct wgp_endpoint self;	/* our mapping as it saw it; family 0: unknown */
	const char *nat;	/* its mapping check: "cone", "symmetric", "unknown", "untested" */
};
struct status_snapshot {
	char ifname[16];
	/* The first server's: server, registered and self. */
	struct sockaddr_storage server;
	bool registered;
	struct wgp_endpoint self;	/* our mapping as the server saw it; family 0: unknown */
	const char *nat;	/* "cone", "symmetric", "unknown", "untested":
				 * the first server's whose check completed */
	unsigned int n_servers;	/* servers[0..n_servers) */
	struct status_server servers[STATUS_MAX_SERVERS];
	/* The port mapping of WireGuard's port on our gateway. */
	const char *portmap;	/* "off", "trying", "mapped", "none" */
	const char *portmap_proto;	/* "pcp", "natpmp", "upnp"; NULL */
	struct wgp_endpoint portmap_ext;	/* family 0 unless mapped */
	uint32_t portmap_lifetime;	/* seconds granted */
	char portmap_error[128];	/* why none, "" if nothing to say */
	uint64_t raw_rx_server, raw_rx_path;	/* datagrams the raw sockets received */
	size_t n_peers;
	struct status_peer *peers;	/* owned by whoever filled it */
};

/*
 * The snapshot as one JSON document and a newline (the schema is in
 * wgpunch(8); keys in a fixed order), or as text in the manner of
 * `wg show`. A NULL string field is written as "", an n_cands above
 * STATUS_MAX_CANDS as STATUS_MAX_CANDS. 0, or -EIO if f has its error
 * flag set afterwards.
 */
int status_write_json(FILE *f, const struct status_snapshot *s);
int status_write_text(FILE *f, const struct status_snapshot *s);

/* "/run/wgpunch/IFACE.sock" into buf; buf, or NULL if it does not fit. */
const char *status_default_path(const char *ifname, char *buf, size_t len);

/*
 * The daemon's side. status_listen creates path's directory (0755) if
 * needed, replaces a stale socket (a socket nobody answers on; never any
 * other kind of file: -EEXIST), binds with mode 0600 and listens: a
 * nonblocking, close-on-exec descriptor, or -EADDRINUSE when another
 * daemon answers there, -ENAMETOOLONG, or another -errno.
 */
int status_listen(const char *path);

/*
 * Answer every connection pending on lfd, each with s in the form it
 * asks for. Bounded: a client that has not sent its request line within
 * STATUS_TIMEOUT_MS, or does not take the answer within STATUS_TIMEOUT_MS,
 * is dropped, and silent clients wait together, not one after another.
 * 0, or the negative errno of an accept() that failed (out of file
 * descriptors, say): the connection is still pending, so the caller
 * should stop polling lfd for a while rather than spin on it.
 */
int status_serve(int lfd, const struct status_snapshot *s);

/* Close lfd (if >= 0) and unlink path (if not NULL). */
void status_close(int lfd, const char *path);

/*
 * The command's side: ask the daemon at path for its snapshot (JSON or
 * text) and copy the answer to out. 0; -ENOENT or -ECONNREFUSED when no
 * daemon runs there; -ETIMEDOUT when it does not answer within 5 s,
 * -EPROTO for an empty answer, -EIO when out cannot be written, or
 * another -errno (-EACCES: not allowed to ask).
 */
int status_fetch(const char *path, bool json, FILE *out);

#endif
