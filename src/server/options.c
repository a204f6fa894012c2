// SPDX-License-Identifier: MIT
/*
 * wgpunchd — command line parsing. Numbers are checked for range and
 * trailing garbage; nothing is silently clamped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "number.h"
#include "options.h"

#ifndef WGPUNCH_VERSION
#define WGPUNCH_VERSION "unknown"
#endif

static void usage(FILE *f)
{
	fprintf(f,
"Usage: wgpunchd --private-key FILE [OPTION]...\n"
"Rendezvous server for UDP hole punching between WireGuard peers.\n"
"\n"
"  -k, --private-key FILE  server key in WireGuard form (wg genkey)\n"
"  -l, --listen ADDR       address to bind (default :: = IPv6 and IPv4)\n"
"  -p, --port N            rendezvous port (default %u)\n"
"  -P, --probe-port N      NAT mapping probe port (default: port + 1)\n"
"  -c, --capacity N        registrations held at most (default %u)\n"
"  -t, --ttl S             registration lifetime in seconds, at least 120\n"
"                          (default %u)\n"
"  -r, --rate N            datagrams per second per source, 0: off (default %u)\n"
"  -b, --burst N           burst per source (default %u)\n"
"      --dh-rate N         key agreements per second for unknown keys,\n"
"                          all sources together, 0: off (default: half of\n"
"                          what this machine measures at start)\n"
"      --ipv6-prefix N     IPv6 sources share one budget per /N, 32..128\n"
"                          (default %u)\n"
"      --legacy            also answer contrib nat-punch clients (INSECURE)\n"
"      --legacy-capacity N entries of the legacy table (default %u)\n"
"      --relay FIRST-LAST  relay for peers that cannot reach each other,\n"
"                          on these UDP ports (two per allocation; an even\n"
"                          count, at most %u)\n"
"      --relay-idle S      free an allocation idle this long (default %u)\n"
"      --relay-rate MBIT   per allocation, Mbit/s, 0: off (default %u)\n"
"      --relay-per-key N   allocations one key may hold (default %u)\n"
"  -w, --workers N         threads answering, each on its own sockets\n"
"                          (SO_REUSEPORT), 1..%u (default: one per CPU it\n"
"                          may run on; 1 with --relay)\n"
"      --registry URL      share registrations with other servers through\n"
"                          Redis: redis://HOST[:PORT][/DB] or\n"
"                          unix:///PATH[?db=N] (default: this server's own)\n"
"      --metrics [ADDR:]PORT  Prometheus metrics over HTTP, GET /metrics\n"
"                          (ADDR default 127.0.0.1; IPv6 as [::1]:PORT)\n"
"      --no-seccomp        do not install the seccomp filter (debugging)\n"
"  -u, --user NAME         started as root: run as NAME once set up\n"
"                          (default " SERVER_DEFAULT_USER ")\n"
"  -v, --log-level L       error, warning, info or debug (default info)\n"
"  -h, --help              this text\n"
"  -V, --version           the version\n",
		WGP_PORT, SERVER_DEFAULT_CAPACITY, SERVER_DEFAULT_TTL,
		SERVER_DEFAULT_RATE, SERVER_DEFAULT_BURST,
		RL_DEFAULT_PREFIX6,
		SERVER_DEFAULT_LEGACY_CAPACITY,
		RELAY_MAX_PORTS, RELAY_DEFAULT_IDLE_S,
		(unsigned int)(RELAY_DEFAULT_RATE * 8 / 1000000),
		RELAY_DEFAULT_PER_KEY, SERVER_MAX_WORKERS);
}

static int number(const char *name, const char *s, uint64_t min,
		  uint64_t max, uint64_t *out)
{
	if (!number_parse(s, strlen(s), min, max, out))
		return 0;
	fprintf(stderr, "wgpunchd: %s: expected a number from %" PRIu64
		" to %" PRIu64 ", got '%s'\n", name, min, max, s);
	return -1;
}

/*
 * --listen takes a numeric address only: a name would be resolved once,
 * to one of possibly several addresses, behind the user's back. "[::1]"
 * is accepted as users write IPv6 with ports elsewhere; a port is not
 * (that is --port).
 */
static int listen_address(struct options *opts, const char *s)
{
	size_t len = strlen(s);
	struct in6_addr a6;
	struct in_addr a4;
	bool port_given;

	if (len >= 2 && s[0] == '[' && s[len - 1] == ']' &&
	    len - 2 < sizeof(opts->listen_buf)) {
		memcpy(opts->listen_buf, s + 1, len - 2);
		opts->listen_buf[len - 2] = '\0';
		if (inet_pton(AF_INET6, opts->listen_buf, &a6) == 1) {
			opts->listen = opts->listen_buf;
			return 0;
		}
	} else if (inet_pton(AF_INET6, s, &a6) == 1 ||
		   inet_pton(AF_INET, s, &a4) == 1) {
		opts->listen = s;
		return 0;
	}
	/* "[v6]:port" or "v4:port" (one colon: not IPv6). */
	port_given = strstr(s, "]:") ||
		     (strchr(s, ':') && strchr(s, ':') == strrchr(s, ':'));
	fprintf(stderr, "wgpunchd: --listen: '%s' is not a numeric IPv4 or "
		"IPv6 address%s\n", s, port_given ?
		" (give the port with --port)" : "");
	return -1;
}

/*
 * --relay FIRST-LAST: two port numbers. The range's own rules (order,
 * even count, size) are relay_config_check's, checked after all options
 * are read; here only the form.
 */
static int relay_range(struct options *opts, const char *s)
{
	const char *dash = strchr(s, '-');
	char first[8];
	uint64_t a, b;

	if (!dash || dash == s || (size_t)(dash - s) >= sizeof(first)) {
		fprintf(stderr, "wgpunchd: --relay: expected FIRST-LAST (two "
			"UDP ports, e.g. 40000-40999), got '%s'\n", s);
		return -1;
	}
	memcpy(first, s, (size_t)(dash - s));
	first[dash - s] = '\0';
	if (number("--relay FIRST", first, 1, 65535, &a) ||
	    number("--relay LAST", dash + 1, 1, 65535, &b))
		return -1;
	opts->cfg.relay.first = (uint16_t)a;
	opts->cfg.relay.last = (uint16_t)b;
	return 0;
}

/* The relay's range against its own rules and the other two ports. */
static int relay_check(const struct options *opts)
{
	const struct relay_config *rc = &opts->cfg.relay;
	const char *why;
	int i;

	if (relay_config_check(rc, &why) < 0) {
		fprintf(stderr, "wgpunchd: --relay %u-%u: %s\n", rc->first,
			rc->last, why);
		return -1;
	}
	for (i = 0; rc->first && i < PORT_COUNT; i++) {
		uint16_t p = opts->cfg.port[i];

		if (p >= rc->first && p <= rc->last) {
			fprintf(stderr, "wgpunchd: --relay %u-%u includes the "
				"%s port %u\n", rc->first, rc->last,
				i == PORT_MAIN ? "rendezvous" : "probe", p);
			return -1;
		}
	}
	return 0;
}

/* The shape --metrics takes, for its error messages. */
static void metrics_usage(const char *s)
{
	fprintf(stderr, "wgpunchd: --metrics: expected [ADDR:]PORT with a "
		"numeric address (9100, 198.18.0.1:9100 or [::1]:9100), got "
		"'%s'\n", s);
}

/* The ADDR of --metrics ADDR:PORT: numeric, IPv6 in brackets. */
static int metrics_host(struct options *opts, const char *host, size_t len)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&opts->metrics_addr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&opts->metrics_addr;
	char buf[INET6_ADDRSTRLEN];

	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		if (len - 2 >= sizeof(buf))
			return -1;
		memcpy(buf, host + 1, len - 2);
		buf[len - 2] = '\0';
		if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		opts->metrics_len = sizeof(*sin6);
		return 0;
	}
	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, host, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, &sin->sin_addr) != 1)
		return -1;
	sin->sin_family = AF_INET;
	opts->metrics_len = sizeof(*sin);
	return 0;
}

/*
 * --metrics [ADDR:]PORT. Without an address, loopback: the counters
 * tell an observer how the server is used, so exposing them beyond the
 * host is for the operator to choose. Numeric only, like --listen.
 */
static int metrics_option(struct options *opts, const char *s)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&opts->metrics_addr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&opts->metrics_addr;
	const char *colon = strrchr(s, ':');
	const char *port = colon ? colon + 1 : s;
	uint64_t v;

	memset(&opts->metrics_addr, 0, sizeof(opts->metrics_addr));
	if (!colon) {
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		opts->metrics_len = sizeof(*sin);
	} else if (metrics_host(opts, s, (size_t)(colon - s)) < 0) {
		metrics_usage(s);
		return -1;
	}
	if (!*port || strspn(port, "0123456789") != strlen(port)) {
		metrics_usage(s);
		return -1;
	}
	if (number("--metrics PORT", port, 0, 65535, &v))
		return -1;
	if (opts->metrics_addr.ss_family == AF_INET6)
		sin6->sin6_port = htons((uint16_t)v);
	else
		sin->sin_port = htons((uint16_t)v);
	opts->metrics_arg = s;
	return 0;
}

enum {
	OPT_DH_RATE = 256,
	OPT_LEGACY,
	OPT_LEGACY_CAPACITY,
	OPT_RELAY,
	OPT_RELAY_IDLE,
	OPT_RELAY_RATE,
	OPT_RELAY_PER_KEY,
	OPT_IPV6_PREFIX,
	OPT_METRICS,
	OPT_NO_SECCOMP,
	OPT_REGISTRY,
};

static const struct option long_options[] = {
	{ "private-key", required_argument, NULL, 'k' },
	{ "listen", required_argument, NULL, 'l' },
	{ "port", required_argument, NULL, 'p' },
	{ "probe-port", required_argument, NULL, 'P' },
	{ "capacity", required_argument, NULL, 'c' },
	{ "ttl", required_argument, NULL, 't' },
	{ "rate", required_argument, NULL, 'r' },
	{ "burst", required_argument, NULL, 'b' },
	{ "dh-rate", required_argument, NULL, OPT_DH_RATE },
	{ "ipv6-prefix", required_argument, NULL, OPT_IPV6_PREFIX },
	{ "legacy", no_argument, NULL, OPT_LEGACY },
	{ "legacy-capacity", required_argument, NULL, OPT_LEGACY_CAPACITY },
	{ "relay", required_argument, NULL, OPT_RELAY },
	{ "relay-idle", required_argument, NULL, OPT_RELAY_IDLE },
	{ "relay-rate", required_argument, NULL, OPT_RELAY_RATE },
	{ "relay-per-key", required_argument, NULL, OPT_RELAY_PER_KEY },
	{ "workers", required_argument, NULL, 'w' },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "registry", required_argument, NULL, OPT_REGISTRY },
	{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
	{ "user", required_argument, NULL, 'u' },
	{ "log-level", required_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ 0 }
};

int options_parse(struct options *opts, int argc, char *argv[])
{
	bool probe_set = false;
	const char *why;
	uint64_t v;
	int c;

	memset(opts, 0, sizeof(*opts));
	server_config_defaults(&opts->cfg);
	opts->log_level = LOG_LEVEL_INFO;
	/* getopt names argv[0] in its messages: say "wgpunchd:" like every
	 * other message, not the path we were started by. */
	if (argc > 0)
		argv[0] = (char *)"wgpunchd";
	optind = 1;
	while ((c = getopt_long(argc, argv, "k:l:p:P:c:t:r:b:w:u:v:hV",
				long_options, NULL)) != -1) {
		switch (c) {
		case 'k':
			opts->key_file = optarg;
			break;
		case 'l':
			if (listen_address(opts, optarg))
				return OPTIONS_EXIT_USAGE;
			break;
		case 'p':
			if (number("--port", optarg, 0, 65535, &v))
				return OPTIONS_EXIT_USAGE;
			opts->cfg.port[PORT_MAIN] = (uint16_t)v;
			break;
		case 'P':
			if (number("--probe-port", optarg, 0, 65535, &v))
				return OPTIONS_EXIT_USAGE;
			opts->cfg.port[PORT_PROBE] = (uint16_t)v;
			probe_set = true;
			break;
		case 'c':
			if (number("--capacity", optarg, 1, 100000000, &v))
				return OPTIONS_EXIT_USAGE;
			opts->cfg.capacity = v;
			break;
		case 't':
			/* No shorter than the counter window: a REGISTER old
			 * enough to follow an expiry is then out of it. */
			if (number("--ttl", optarg,
				   WGP_COUNTER_WINDOW_NS / 1000000000ULL, 86400, &v))
				return OPTIONS_EXIT_USAGE;
			opts->cfg.ttl = (uint32_t)v;
			break;
		case 'r':
			if (number("--rate", optarg, 0, 1000000, &v))
				return OPTIONS_EXIT_USAGE;
			opts->cfg.rate = (uint32_t)v;
			break;
		case 'b':
			if (number("--burst", optarg, 1, 1000000, &v))
				return OPTIONS_EXIT_USAGE;
			opts->cfg.burst = (uint32_t)v;
			break;
		case OPT_DH_RATE:
			if (number("--dh-rate", optarg, 0, 10000000, &v))
				return OPTIONS_EXIT_USAGE;
			opts->cfg.dh_rate = (uint32_t)v;
			opts->dh_rate_set = true;
			break;
		case OPT_IPV6_PREFIX:
			if (number("--ipv6-prefix", optarg, 32, 128, &v))
				return OPTIONS_EXIT_USAGE;
			opts->cfg.ipv6_prefix = (uint8_t)v;
			break;
		case OPT_LEGACY:
			opts->cfg.legacy = true;
			break;
		case OPT_LEGACY_CAPACITY:
			if (number("--legacy-capacity", optarg, 1, 10000000, &v))
				return OPTIONS_EXIT_USAGE;
			opts->cfg.legacy_capacity = v;
			break;
		case OPT_RELAY:
			if (relay_range(opts, optarg))
				return OPTIONS_EXIT_USAGE;
			break;
		case OPT_RELAY_IDLE:
			if (number("--relay-idle", optarg, 1, 86400, &v))
				return OPTIONS_EXIT_USAGE;
			opts->cfg.relay.idle_s = (uint32_t)v;
			break;
		case OPT_RELAY_RATE:
			if (number("--relay-rate", optarg, 0, 100000, &v))
				return OPTIONS_EXIT_USAGE;
			opts->cfg.relay.rate = v * 1000000 / 8;
			break;
		case OPT_RELAY_PER_KEY:
			if (number("--relay-per-key", optarg, 1, 4096, &v))
				return OPTIONS_EXIT_USAGE;
			opts->cfg.relay.per_key = (uint32_t)v;
			break;
		case 'w':
			if (number("--workers", optarg, 1, SERVER_MAX_WORKERS,
				   &v))
				return OPTIONS_EXIT_USAGE;
			opts->workers = (unsigned int)v;
			break;
		case OPT_NO_SECCOMP:
			opts->no_seccomp = true;
			break;
		case 'u':
			if (!optarg[0]) {
				fprintf(stderr, "wgpunchd: --user needs a name\n");
				return OPTIONS_EXIT_USAGE;
			}
			opts->user = optarg;
			break;
		case OPT_METRICS:
			if (metrics_option(opts, optarg))
				return OPTIONS_EXIT_USAGE;
			break;
		case OPT_REGISTRY:
			if (store_url_parse(&opts->registry_url, optarg,
					    &why) < 0) {
				fprintf(stderr, "wgpunchd: --registry '%s': %s\n",
					optarg, why);
				return OPTIONS_EXIT_USAGE;
			}
			opts->registry = optarg;
			break;
		case 'v':
			if (log_level_parse(optarg, &opts->log_level)) {
				fprintf(stderr, "wgpunchd: --log-level: '%s': "
					"error, warning, info or debug\n", optarg);
				return OPTIONS_EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return OPTIONS_EXIT_OK;
		case 'V':
			printf("wgpunchd %s (protocol %d)\n", WGPUNCH_VERSION,
			       WGP_VERSION);
			return OPTIONS_EXIT_OK;
		default:
			/* getopt said what is wrong; the help would bury it. */
			fprintf(stderr, "Try 'wgpunchd --help'.\n");
			return OPTIONS_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wgpunchd: unexpected argument '%s'\n",
			argv[optind]);
		return OPTIONS_EXIT_USAGE;
	}
	if (!opts->key_file) {
		fprintf(stderr, "wgpunchd: --private-key FILE is required "
			"(create one with: wg genkey > FILE)\n");
		return OPTIONS_EXIT_USAGE;
	}
	if (!probe_set && opts->cfg.port[PORT_MAIN] == UINT16_MAX) {
		fprintf(stderr, "wgpunchd: --port 65535 leaves no room for the "
			"default probe port (port + 1): give --probe-port\n");
		return OPTIONS_EXIT_USAGE;
	}
	if (!probe_set)
		opts->cfg.port[PORT_PROBE] = opts->cfg.port[PORT_MAIN] ?
			(uint16_t)(opts->cfg.port[PORT_MAIN] + 1) : 0;
	if (opts->cfg.port[PORT_MAIN] &&
	    opts->cfg.port[PORT_MAIN] == opts->cfg.port[PORT_PROBE]) {
		fprintf(stderr, "wgpunchd: --probe-port must differ from "
			"--port\n");
		return OPTIONS_EXIT_USAGE;
	}
	if (relay_check(opts))
		return OPTIONS_EXIT_USAGE;
	/* A relay allocation lives in one worker's table while both peers'
	 * keys may belong to others: the relay runs with one worker. */
	if (opts->cfg.relay.first && opts->workers > 1) {
		fprintf(stderr, "wgpunchd: --relay runs with one worker: give "
			"--workers 1 or leave --workers out\n");
		return OPTIONS_EXIT_USAGE;
	}
	return OPTIONS_RUN;
}

unsigned int options_workers(const struct options *opts)
{
	cpu_set_t set;
	int cpus;

	if (opts->workers)
		return opts->workers;
	if (opts->cfg.relay.first)
		return 1;
	/* The CPUs this process may run on (a cpuset, CPUAffinity=, a
	 * container), not all those online. */
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	cpus = CPU_COUNT(&set);
	if (cpus < 1)
		return 1;
	return cpus > SERVER_MAX_WORKERS ? SERVER_MAX_WORKERS :
					   (unsigned int)cpus;
}
