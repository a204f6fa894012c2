/* SPDX-License-Identifier: MIT */
/*
 * wgpunchd — Prometheus metrics over HTTP (--metrics).
 *
 * libmicrohttpd does the HTTP, without a thread of its own: it runs on
 * its epoll descriptor (metrics_fd), which the event loop watches with
 * the UDP sockets, and metrics_run() is called from the loop when that
 * is readable and on the loop's 1 s tick (MHD's connection timeouts). A
 * scrape therefore reads the counters on the thread that writes them:
 * no lock on the packet path and no torn reads.
 *
 * Counters are per worker and summed on scrape: the listener is given
 * an array of the workers' servers (one today).
 */
#ifndef WGPUNCHD_METRICS_H
#define WGPUNCHD_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "server.h"

/* What a slow or hostile scraper can hold: a scrape is one small GET. */
#define METRICS_MAX_CONNECTIONS	4
#define METRICS_TIMEOUT_S	5	/* idle connection closed after */
#define METRICS_MEMORY_LIMIT	(16 * 1024)	/* per connection */
#define METRICS_BODY_MAX	(16 * 1024)	/* the text of one scrape */
#define METRICS_MAX_WORKERS	256

struct metrics;

/* The sum of n workers' counters. */
void metrics_sum_server_stats(struct server_stats *sum,
			      const struct server_stats *const stats[],
			      size_t n);
void metrics_sum_relay_stats(struct relay_stats *sum,
			     const struct relay_stats *const stats[], size_t n);

/*
 * The Prometheus text (exposition format 0.0.4) for the n workers srv[]
 * at now (CLOCK_MONOTONIC ms), in buf. Its length, -ENOSPC if cap is
 * too small, or -EINVAL for more than METRICS_MAX_WORKERS.
 */
int metrics_render(char *buf, size_t cap, const struct server *const srv[],
		   size_t n, uint64_t now);

/*
 * Listen on addr (port 0: any) and serve GET /metrics for the n workers
 * srv[] (the array must outlive the listener). 0 with *out set, or a
 * negative errno (-EADDRINUSE, ...; -EIO if libmicrohttpd refuses).
 */
int metrics_start(struct metrics **out, const struct sockaddr *addr,
		  socklen_t len, const struct server *const srv[], size_t n);

/* The descriptor to watch for readability (an epoll set). */
int metrics_fd(const struct metrics *m);

/* "198.18.0.1:9100" or "[::1]:9100": where it listens, port resolved. */
const char *metrics_address(const struct metrics *m);

/* Do what is pending: accept, read, answer, time out. Never blocks. */
void metrics_run(struct metrics *m);

/* Close the listener and every connection; m is freed. NULL is fine. */
void metrics_stop(struct metrics *m);

#endif
