/* SPDX-License-Identifier: MIT */
/*
 * wgpunchd — command line.
 */
#ifndef WGPUNCHD_OPTIONS_H
#define WGPUNCHD_OPTIONS_H

#include <stdbool.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "log.h"
#include "server.h"
#include "store_url.h"

struct options {
	struct server_config cfg;
	const char *listen;	/* NULL: "::" (both families) */
	char listen_buf[INET6_ADDRSTRLEN];	/* --listen without brackets */
	const char *key_file;
	enum log_level log_level;
	bool dh_rate_set;	/* --dh-rate given; else measured at start */
	struct sockaddr_storage metrics_addr;	/* --metrics, port 0: any */
	socklen_t metrics_len;	/* 0: no --metrics */
	const char *metrics_arg;	/* as given, for messages */
	bool no_seccomp;	/* --no-seccomp */
	const char *user;	/* --user; NULL: SERVER_DEFAULT_USER */
	unsigned int workers;	/* --workers; 0: options_workers() */
	const char *registry;	/* --registry as given; NULL: none */
	struct store_url registry_url;
};

enum { OPTIONS_RUN, OPTIONS_EXIT_OK, OPTIONS_EXIT_USAGE };

/* Fill opts from argv. OPTIONS_RUN, or OPTIONS_EXIT_* after printing
 * help/version (stdout) or the problem (stderr). */
int options_parse(struct options *opts, int argc, char *argv[]);

/* The workers to run: --workers, else one per CPU in the affinity mask up to
 * SERVER_MAX_WORKERS, and one with --relay (which needs one). */
unsigned int options_workers(const struct options *opts);

#endif
