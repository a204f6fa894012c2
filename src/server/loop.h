/* SPDX-License-Identifier: MIT */
/*
 * wgpunchd — the event loop: two UDP sockets (rendezvous and probe
 * port), each IPv4+IPv6 on one AF_INET6 socket unless an IPv4 address is
 * given, and with --relay one more per relay port on the same address;
 * epoll; batched recvmmsg/sendmmsg; a 1 s timer for expiry.
 * Non-blocking throughout: a full send buffer drops replies (UDP), it
 * never stalls the loop.
 */
#ifndef WGPUNCHD_LOOP_H
#define WGPUNCHD_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "server.h"

#define LOOP_BATCH	64
#define LOOP_RXBUF	2048	/* > WGP_MAX_MSG_LEN: oversize is visible */
#define LOOP_OUTQ	256
#define LOOP_RELAY_RXBUF 65536	/* any UDP datagram: WireGuard's MTU is
				 * the peers' business, not the relay's */

struct loop_rx;
struct loop_tx;
struct loop_relay_rx;

struct loop {
	struct server *srv;
	int fd[PORT_COUNT];
	int family;		/* of the sockets */
	bool pktinfo;		/* wildcard address: choose reply sources */
	int epfd, timerfd;
	uint16_t port[PORT_COUNT];	/* bound (port 0 resolved) */
	struct loop_rx *rx;
	struct loop_tx *tx;
	struct outq q;
	int *relay_fd;		/* one per relay port (srv->relay) */
	unsigned int relay_n;
	struct loop_relay_rx *relay_rx;
	/* One descriptor watched for another module (loop_watch). */
	void (*watch_run)(void *ctx);
	void *watch_ctx;
	unsigned int worker, workers;	/* this one's index, of how many */
	/* Whose counters the log shows (loop_log_group); NULL: srv's. */
	const struct server *const *group;
	unsigned int group_n;
};

/*
 * Open and bind both sockets on listen ("::" when NULL; an IPv4 literal
 * gives IPv4-only sockets) with the ports in srv->cfg (0: any), and one
 * socket per port of the relay's range if srv runs a relay (a port that
 * cannot be bound is logged by number). 0 or a negative errno (the loop
 * is then freed).
 */
int loop_init(struct loop *l, struct server *srv, const char *listen);

/*
 * wgpunchd --workers: the loop of worker `worker` of `workers` (> 1),
 * on its own SO_REUSEPORT sockets on the ports of srv->cfg (which must
 * be the ports worker 0 resolved): loops are made one after the other,
 * worker 0 first, so a socket's index in each reuseport group is its
 * worker's. Worker 0 attaches the steering program (loop_steering). No
 * relay: that runs with one worker only.
 */
int loop_init_worker(struct loop *l, struct server *srv, const char *listen,
		     unsigned int worker, unsigned int workers);

/* Log the counters of all n servers, summed, instead of this loop's
 * own (worker 0 of a group; the others then log none). The array must
 * outlive the loop's run. */
void loop_log_group(struct loop *l, const struct server *const *group,
		    unsigned int n);

/* The reuseport steering program for n workers (cBPF over the UDP
 * payload): 0, or a negative errno. */
struct cbpf_prog;
int loop_steering(struct cbpf_prog *prog, unsigned int n);

/* Also stop, returning -ECANCELED, once fd (an eventfd) is readable:
 * another worker's loop has failed, and a server missing a worker
 * would drop its share of the keys unseen. 0 or a negative errno. */
int loop_stop_on(struct loop *l, int fd);

/* Run until stop_fd becomes readable (a signalfd or eventfd; it is not
 * read). 0, or a negative errno on a fatal error. */
int loop_run(struct loop *l, int stop_fd);

/* Run until sigfd (a non-blocking signalfd) delivers a signal other
 * than SIGHUP; SIGHUP is logged, with the counters, and survived. 0, or
 * a negative errno on a fatal error. */
int loop_run_signals(struct loop *l, int sigfd);

/*
 * Also watch fd, for another module on this thread (the metrics
 * listener): call run(ctx) when fd is readable and on every 1 s tick,
 * for the module's own timeouts. One such descriptor; the caller still
 * owns and closes it. 0 or a negative errno (-EBUSY: one is watched).
 */
int loop_watch(struct loop *l, int fd, void (*run)(void *ctx), void *ctx);

void loop_free(struct loop *l);

#endif
