// SPDX-License-Identifier: MIT
/*
 * portmap_tool - runs the port-mapping module (src/client/portmap.c) the
 * way wgpunch does, for tests/e2e/portmap.sh: one line on stdout per
 * state change, until SIGTERM or SIGINT, then portmap_stop().
 *
 *   portmap_tool [--proto pcp|natpmp|upnp|all] [--port N] [--lifetime S]
 *                [--gateway IPV4] [--fwmark N] [--verbose]
 *
 * Lines (times in ms since the start):
 *   trying
 *   mapped pcp 11.0.0.2:51820 lifetime 7200 after 12 ms
 *   none: <why> after 2004 ms
 *   stopped in 35 ms
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/signalfd.h>

#include "portmap.h"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t t0;

static void log_stderr(void *arg, int level, const char *msg)
{
	(void)arg;
	(void)level;
	fprintf(stderr, "portmap_tool: %llu ms: %s\n",
		(unsigned long long)(now_ms() - t0), msg);
}

static int parse_proto(const char *s, unsigned int *mask)
{
	if (!strcmp(s, "pcp"))
		*mask = PORTMAP_PCP;
	else if (!strcmp(s, "nat-pmp") || !strcmp(s, "natpmp"))
		*mask = PORTMAP_NATPMP;
	else if (!strcmp(s, "upnp"))
		*mask = PORTMAP_UPNP;
	else if (!strcmp(s, "all"))
		*mask = PORTMAP_ALL;
	else
		return -EINVAL;
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: portmap_tool [--proto pcp|natpmp|upnp|all] [--port N]\n"
		"                    [--lifetime S] [--gateway IPV4] [--fwmark N] [--verbose]\n");
	exit(2);
}

static void parse_args(int argc, char **argv, struct portmap_config *cfg)
{
	static const struct option opts[] = {
		{ "proto", required_argument, NULL, 'p' },
		{ "port", required_argument, NULL, 'P' },
		{ "lifetime", required_argument, NULL, 'l' },
		{ "gateway", required_argument, NULL, 'g' },
		{ "fwmark", required_argument, NULL, 'm' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_proto(optarg, &cfg->protos))
				usage();
			break;
		case 'P':
			cfg->internal_port = (uint16_t)strtoul(optarg, NULL, 10);
			break;
		case 'l':
			cfg->lifetime_s = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'g':
			if (inet_pton(AF_INET, optarg, &cfg->gateway) != 1)
				usage();
			break;
		case 'm':
			cfg->fwmark = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'v':
			cfg->log = log_stderr;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
}

static void print_state(const struct portmap_state *st)
{
	char addr[INET_ADDRSTRLEN];
	unsigned long long t = (unsigned long long)(now_ms() - t0);

	switch (st->state) {
	case PORTMAP_MAPPED:
		inet_ntop(AF_INET, &st->external.sin_addr, addr, sizeof(addr));
		printf("mapped %s %s:%u lifetime %u after %llu ms%s%s\n",
		       portmap_proto_name(st->proto), addr, ntohs(st->external.sin_port),
		       st->lifetime_s, t, st->error[0] ? " warning: " : "", st->error);
		break;
	case PORTMAP_NONE:
		printf("none: %s after %llu ms\n", st->error, t);
		break;
	case PORTMAP_TRYING:
		printf("trying%s%s\n", st->error[0] ? ": " : "", st->error);
		break;
	default:
		printf("off\n");
		break;
	}
	fflush(stdout);
}

static int signal_fd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC);
}

int main(int argc, char **argv)
{
	struct portmap_config cfg = {
		.internal_port = 51820,
		.protos = PORTMAP_ALL,
	};
	struct portmap_state st;
	struct portmap *pm;
	struct pollfd pfd[2];
	uint64_t t_stop;
	int ret;

	t0 = now_ms();
	parse_args(argc, argv, &cfg);
	pfd[0].fd = signal_fd();
	if (pfd[0].fd < 0) {
		perror("portmap_tool: signalfd");
		return 1;
	}
	ret = portmap_start(&pm, &cfg);
	if (ret) {
		fprintf(stderr, "portmap_tool: portmap_start: %s\n", strerror(-ret));
		return 1;
	}
	portmap_get(pm, &st);
	print_state(&st);
	pfd[0].events = POLLIN;
	pfd[1].fd = portmap_fd(pm);
	pfd[1].events = POLLIN;
	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("portmap_tool: poll");
			break;
		}
		if (pfd[0].revents)
			break;
		if (pfd[1].revents) {
			portmap_get(pm, &st);
			print_state(&st);
		}
	}
	t_stop = now_ms();
	portmap_stop(pm);
	printf("stopped in %llu ms\n", (unsigned long long)(now_ms() - t_stop));
	return 0;
}
