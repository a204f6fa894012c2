// SPDX-License-Identifier: MIT
/*
 * wgpunch — NAT hole punching for WireGuard peers, through a wgpunchd
 * rendezvous server.
 *
 *   wgpunch [options] up IFACE       punch once; exit when every peer is
 *                                    resolved or --timeout passes
 *   wgpunch [options] daemon IFACE   keep registering and re-punching
 *
 * Settings come from --config FILE, overridden by options. Needs only
 * CAP_NET_RAW (raw socket) and CAP_NET_ADMIN (fwmark, and the WireGuard
 * netlink interface); there is deliberately no "are we root" check.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "client.h"
#include "config.h"
#include "endpoint.h"
#include "key.h"
#include "log.h"

#ifndef WGPUNCH_VERSION
#define WGPUNCH_VERSION "unknown"
#endif

#define DEFAULT_TIMEOUT 20

static const char usage_text[] =
"Usage: wgpunch [OPTIONS] up IFACE\n"
"       wgpunch [OPTIONS] daemon IFACE\n"
"\n"
"Find the public endpoints of IFACE's WireGuard peers through a wgpunchd\n"
"rendezvous server and set them, so WireGuard's own handshakes punch\n"
"through the NATs on both sides.\n"
"\n"
"  up       punch once; exit 0 when every peer is resolved (endpoint set,\n"
"           or handshake fresh), 2 naming the peers that are not\n"
"  daemon   keep registering, pick up new peers, re-punch stale ones\n"
"\n"
"Options:\n"
"  -s, --server HOST[:PORT]     rendezvous server (port 49918)\n"
"  -k, --server-key BASE64      the server's public key\n"
"  -K, --server-key-file FILE   ... read from FILE\n"
"  -p, --probe-port PORT        the server's second port (PORT + 1)\n"
"  -c, --config FILE            read settings from FILE (key = value)\n"
"  -a, --keepalive SECONDS      persistent keepalive to set (default:\n"
"                               the peer's own, else 25)\n"
"  -t, --timeout SECONDS        how long \"up\" may take (20)\n"
"  -l, --log-level LEVEL        error, warn, info or debug (info)\n"
"  -h, --help                   this text\n"
"  -V, --version                the version\n"
"\n"
"Needs CAP_NET_RAW and CAP_NET_ADMIN, not root; see wgpunch(8).\n";

static const struct option long_options[] = {
	{ "server", required_argument, NULL, 's' },
	{ "server-key", required_argument, NULL, 'k' },
	{ "server-key-file", required_argument, NULL, 'K' },
	{ "probe-port", required_argument, NULL, 'p' },
	{ "config", required_argument, NULL, 'c' },
	{ "keepalive", required_argument, NULL, 'a' },
	{ "timeout", required_argument, NULL, 't' },
	{ "log-level", required_argument, NULL, 'l' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

struct cmdline {
	struct config cli;		/* what the options set */
	const char *config_file;
	const char *server_key_file;
	const char *command;
	const char *ifname;
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "wgpunch: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'wgpunch --help'.\n");
	return 1;
}

static int option_value(struct config *cfg, const char *key, const char *value)
{
	char why[160];

	if (config_set(cfg, key, value, why, sizeof(why)) < 0)
		return usage_error("%s", why);
	return 0;
}

/* 0 to go on, 1 on a usage error; -1 after --help or --version. */
static int parse_args(int argc, char *argv[], struct cmdline *cl)
{
	static const char *const keys[] = {
		['s'] = "server", ['k'] = "server-key", ['p'] = "probe-port",
		['a'] = "keepalive", ['t'] = "timeout", ['l'] = "log-level",
	};
	int opt;

	memset(cl, 0, sizeof(*cl));
	while ((opt = getopt_long(argc, argv, "s:k:K:p:c:a:t:l:hV",
				  long_options, NULL)) != -1) {
		switch (opt) {
		case 's': case 'k': case 'p': case 'a': case 't': case 'l':
			if (option_value(&cl->cli, keys[opt], optarg))
				return 1;
			break;
		case 'K':
			cl->server_key_file = optarg;
			break;
		case 'c':
			cl->config_file = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return -1;
		case 'V':
			printf("wgpunch %s\n", WGPUNCH_VERSION);
			return -1;
		default:
			fprintf(stderr, "Try 'wgpunch --help'.\n");
			return 1;
		}
	}
	if (argc - optind != 2)
		return usage_error("expected a command (up or daemon) and an interface");
	cl->command = argv[optind];
	cl->ifname = argv[optind + 1];
	if (strcmp(cl->command, "up") && strcmp(cl->command, "daemon"))
		return usage_error("unknown command \"%s\" (up or daemon)", cl->command);
	if (!wg_ifname_valid(cl->ifname))
		return usage_error("\"%s\" is not a valid interface name", cl->ifname);
	return 0;
}

/* Options override the file: copy each field the options set. */
static void merge(struct config *cfg, const struct config *cli)
{
	if (cli->set & CONFIG_SERVER) {
		memcpy(cfg->server_host, cli->server_host, sizeof(cfg->server_host));
		cfg->server_port = cli->server_port;
	}
	if (cli->set & CONFIG_SERVER_KEY)
		memcpy(cfg->server_key, cli->server_key, sizeof(cfg->server_key));
	if (cli->set & CONFIG_PROBE_PORT)
		cfg->probe_port = cli->probe_port;
	if (cli->set & CONFIG_TIMEOUT)
		cfg->timeout = cli->timeout;
	if (cli->set & CONFIG_KEEPALIVE)
		cfg->keepalive = cli->keepalive;
	if (cli->set & CONFIG_LOG_LEVEL)
		cfg->log_level = cli->log_level;
	cfg->set |= cli->set;
}

static int resolve_server(const struct config *cfg, struct sockaddr_storage *ss)
{
	uint16_t port = cfg->server_port ? cfg->server_port : WGP_PORT;
	struct addrinfo hints = {
		.ai_socktype = SOCK_DGRAM,
		.ai_flags = AI_ADDRCONFIG,
	}, *res;
	int ret;

	if (!endpoint_parse(cfg->server_host, strlen(cfg->server_host), port, ss))
		return 0;
	ret = getaddrinfo(cfg->server_host, NULL, &hints, &res);
	if (ret) {
		fprintf(stderr, "wgpunch: server \"%s\": %s\n", cfg->server_host,
			gai_strerror(ret));
		return -1;
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	else
		return -1;
	return 0;
}

static int load_settings(struct cmdline *cl, struct config *cfg)
{
	struct config_error err;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	cfg->log_level = LOG_LEVEL_INFO;
	if (cl->config_file && config_load(cfg, cl->config_file, &err) < 0) {
		if (err.line)
			fprintf(stderr, "wgpunch: %s:%u: %s\n", cl->config_file,
				err.line, err.msg);
		else
			fprintf(stderr, "wgpunch: %s: %s\n", cl->config_file, err.msg);
		return -1;
	}
	merge(cfg, &cl->cli);
	if (cl->server_key_file) {
		ret = wgp_key_read_file(cfg->server_key, cl->server_key_file);
		if (ret < 0) {
			fprintf(stderr, "wgpunch: %s: %s\n", cl->server_key_file,
				ret == -EINVAL ? "not a base64 WireGuard key" :
				strerror(-ret));
			return -1;
		}
		cfg->set |= CONFIG_SERVER_KEY;
	}
	if (!(cfg->set & CONFIG_SERVER)) {
		fprintf(stderr, "wgpunch: no server: use --server or \"server =\" in a config file\n");
		return -1;
	}
	if (!(cfg->set & CONFIG_SERVER_KEY)) {
		fprintf(stderr, "wgpunch: no server key: use --server-key, "
			"--server-key-file or \"server-key =\"\n");
		return -1;
	}
	return 0;
}

static int build_opts(const struct cmdline *cl, const struct config *cfg,
		      struct client_opts *o)
{
	uint16_t port;

	memset(o, 0, sizeof(*o));
	o->ifname = cl->ifname;
	o->daemon = !strcmp(cl->command, "daemon");
	if (resolve_server(cfg, &o->server) < 0)
		return -1;
	port = endpoint_port((struct sockaddr *)&o->server);
	if (cfg->set & CONFIG_PROBE_PORT) {
		o->probe_port = cfg->probe_port;
	} else if (port == UINT16_MAX) {
		fprintf(stderr, "wgpunch: server port 65535: give --probe-port\n");
		return -1;
	} else {
		o->probe_port = (uint16_t)(port + 1);
	}
	if (o->probe_port == port) {
		fprintf(stderr, "wgpunch: the probe port must differ from the server port\n");
		return -1;
	}
	memcpy(o->server_key, cfg->server_key, WGP_KEY_LEN);
	o->keepalive = cfg->set & CONFIG_KEEPALIVE ? cfg->keepalive : 0;
	o->timeout_s = cfg->set & CONFIG_TIMEOUT ? cfg->timeout : DEFAULT_TIMEOUT;
	return 0;
}

int main(int argc, char *argv[])
{
	struct client_opts opts;
	struct config cfg;
	struct cmdline cl;
	int ret;

	ret = parse_args(argc, argv, &cl);
	if (ret)
		return ret < 0 ? 0 : ret;
	if (load_settings(&cl, &cfg) < 0 || build_opts(&cl, &cfg, &opts) < 0)
		return 1;
	log_set_level(cfg.log_level);
	log_set_prefix(cl.ifname);
	if (sodium_init() < 0) {
		fprintf(stderr, "wgpunch: libsodium failed to initialise\n");
		return 1;
	}
	return opts.daemon ? client_daemon(&opts) : client_up(&opts);
}
