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
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
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
"           or handshake fresh), 3 naming the peers that are not\n"
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
"Exit status: 0 ok, 1 error, 2 usage error, 3 peers unresolved.\n"
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
	const char *command;
	const char *ifname;
};

/* Standard output was closed when we started: "up" must not pretend it
 * printed its report. */
static bool stdout_was_closed;

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "wgpunch: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'wgpunch --help'.\n");
	return WGPUNCH_EXIT_USAGE;
}

static int option_value(struct config *cfg, const char *key, const char *value)
{
	char why[160];

	if (config_set(cfg, key, value, why, sizeof(why)) < 0)
		return usage_error("%s", why);
	return 0;
}

/* 0 to go on, WGPUNCH_EXIT_USAGE on a usage error; -1 after --help or
 * --version. */
static int parse_args(int argc, char *argv[], struct cmdline *cl)
{
	static const char *const keys[] = {
		['s'] = "server", ['k'] = "server-key", ['K'] = "server-key-file",
		['p'] = "probe-port", ['a'] = "keepalive", ['t'] = "timeout",
		['l'] = "log-level",
	};
	int opt;

	memset(cl, 0, sizeof(*cl));
	/* getopt names argv[0] in its messages: say "wgpunch:" like every
	 * other message, not the path we were started by. */
	argv[0] = (char *)"wgpunch";
	while ((opt = getopt_long(argc, argv, "s:k:K:p:c:a:t:l:hV",
				  long_options, NULL)) != -1) {
		switch (opt) {
		case 's': case 'k': case 'K': case 'p': case 'a': case 't': case 'l':
			if (option_value(&cl->cli, keys[opt], optarg))
				return WGPUNCH_EXIT_USAGE;
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
			return WGPUNCH_EXIT_USAGE;
		}
	}
	/* Which one wins would be a guess. */
	if ((cl->cli.set & CONFIG_SERVER_KEY) && (cl->cli.set & CONFIG_SERVER_KEY_FILE))
		return usage_error("both --server-key and --server-key-file given: use one");
	if (argc - optind < 2)
		return usage_error("expected a command (up or daemon) and an interface");
	if (argc - optind > 2)
		return usage_error("unexpected argument '%s'", argv[optind + 2]);
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
	/* Either kind of key on the command line replaces either kind in
	 * the file. */
	if (cli->set & (CONFIG_SERVER_KEY | CONFIG_SERVER_KEY_FILE))
		cfg->set &= ~(CONFIG_SERVER_KEY | CONFIG_SERVER_KEY_FILE);
	if (cli->set & CONFIG_SERVER_KEY)
		memcpy(cfg->server_key, cli->server_key, sizeof(cfg->server_key));
	if (cli->set & CONFIG_SERVER_KEY_FILE)
		memcpy(cfg->server_key_file, cli->server_key_file,
		       sizeof(cfg->server_key_file));
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

/* "2001:db8::1:49918": an IPv6 address with its port glued on? Then
 * say how to write it. */
static bool v6_with_port(const char *host, char *addr, size_t addrlen)
{
	const char *colon = strrchr(host, ':');
	struct in6_addr a;

	if (!colon || (size_t)(colon - host) >= addrlen ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) || !colon[1])
		return false;
	memcpy(addr, host, (size_t)(colon - host));
	addr[colon - host] = '\0';
	return inet_pton(AF_INET6, addr, &a) == 1;
}

static int resolve_error(const char *host)
{
	char addr[CONFIG_HOST_MAX];

	if (v6_with_port(host, addr, sizeof(addr)))
		fprintf(stderr, "wgpunch: server '%s' is neither an IPv4/IPv6 "
			"address nor a resolvable name (IPv6 with a port: "
			"[%s]:%s)\n", host, addr, strrchr(host, ':') + 1);
	else
		fprintf(stderr, "wgpunch: server '%s' is neither an IPv4/IPv6 "
			"address nor a resolvable name (IPv6 with a port: "
			"[addr]:port)\n", host);
	return -EINVAL;
}

/* 0, -EINVAL for text that can never be a server (a usage error), or
 * -ENOENT when resolving failed (DNS may be down: a runtime error). */
static int resolve_server(const struct config *cfg, struct sockaddr_storage *ss)
{
	uint16_t port = cfg->server_port ? cfg->server_port : WGP_PORT;
	const char *host = cfg->server_host;
	struct addrinfo hints = {
		.ai_socktype = SOCK_DGRAM,
		.ai_flags = AI_ADDRCONFIG,
	}, *res;
	int ret;

	if (!endpoint_parse(host, strlen(host), port, ss))
		return 0;
	/* No name has a ':': it is a mistyped address, and asking DNS
	 * about it would only blur the error. */
	if (strchr(host, ':'))
		return resolve_error(host);
	ret = getaddrinfo(host, NULL, &hints, &res);
	if (ret == EAI_NONAME) {
		resolve_error(host);
		return -ENOENT;
	}
	if (ret) {
		fprintf(stderr, "wgpunch: cannot resolve server '%s': %s\n",
			host, ret == EAI_SYSTEM ? strerror(errno) : gai_strerror(ret));
		return -ENOENT;
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	else
		return -ENOENT;
	return 0;
}

/* 0, or the exit status: a config file with errors is a usage error,
 * one that cannot be read (like the key file) a runtime error. */
static int load_settings(struct cmdline *cl, struct config *cfg)
{
	struct config_error err;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	cfg->log_level = LOG_LEVEL_INFO;
	if (cl->config_file) {
		ret = config_load(cfg, cl->config_file, &err);
		if (ret < 0 && err.line)
			fprintf(stderr, "wgpunch: %s:%u: %s\n", cl->config_file,
				err.line, err.msg);
		else if (ret < 0)
			fprintf(stderr, "wgpunch: %s: %s\n", cl->config_file, err.msg);
		if (ret < 0)
			return ret == -EINVAL ? WGPUNCH_EXIT_USAGE : WGPUNCH_EXIT_ERROR;
	}
	merge(cfg, &cl->cli);
	if (!(cfg->set & CONFIG_SERVER)) {
		fprintf(stderr, "wgpunch: no server: use --server or \"server =\" in a config file\n");
		return WGPUNCH_EXIT_USAGE;
	}
	if (!(cfg->set & (CONFIG_SERVER_KEY | CONFIG_SERVER_KEY_FILE))) {
		fprintf(stderr, "wgpunch: no server key: use --server-key, "
			"--server-key-file, \"server-key =\" or \"server-key-file =\"\n");
		return WGPUNCH_EXIT_USAGE;
	}
	if (cfg->set & CONFIG_SERVER_KEY_FILE) {
		ret = wgp_key_read_file(cfg->server_key, cfg->server_key_file);
		if (ret < 0) {
			fprintf(stderr, "wgpunch: %s: %s\n", cfg->server_key_file,
				ret == -EINVAL ? "not a base64 WireGuard key" :
				strerror(-ret));
			return WGPUNCH_EXIT_ERROR;
		}
		cfg->set |= CONFIG_SERVER_KEY;
	}
	return 0;
}

/* 0, or the exit status. */
static int build_opts(const struct cmdline *cl, const struct config *cfg,
		      struct client_opts *o)
{
	uint16_t port;
	int ret;

	memset(o, 0, sizeof(*o));
	o->ifname = cl->ifname;
	o->daemon = !strcmp(cl->command, "daemon");
	ret = resolve_server(cfg, &o->server);
	if (ret < 0)
		return ret == -EINVAL ? WGPUNCH_EXIT_USAGE : WGPUNCH_EXIT_ERROR;
	port = endpoint_port((struct sockaddr *)&o->server);
	if (cfg->set & CONFIG_PROBE_PORT) {
		o->probe_port = cfg->probe_port;
	} else if (port == UINT16_MAX) {
		fprintf(stderr, "wgpunch: server port 65535: give --probe-port\n");
		return WGPUNCH_EXIT_USAGE;
	} else {
		o->probe_port = (uint16_t)(port + 1);
	}
	if (o->probe_port == port) {
		fprintf(stderr, "wgpunch: the probe port must differ from the server port\n");
		return WGPUNCH_EXIT_USAGE;
	}
	memcpy(o->server_key, cfg->server_key, WGP_KEY_LEN);
	o->keepalive = cfg->set & CONFIG_KEEPALIVE ? cfg->keepalive : 0;
	o->timeout_s = cfg->set & CONFIG_TIMEOUT ? cfg->timeout : DEFAULT_TIMEOUT;
	return 0;
}

/*
 * A standard descriptor closed by our caller would be handed out by the
 * next socket() or open(): the report could then go to a raw socket.
 * Hold each with /dev/null; remember a closed stdout, whose report is
 * lost.
 */
static void hold_std_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		if (fd == STDOUT_FILENO)
			stdout_was_closed = true;
		if (open("/dev/null", fd ? O_WRONLY : O_RDONLY) != fd)
			exit(WGPUNCH_EXIT_ERROR);
	}
}

/* "up" prints its report on stdout: a report that did not reach its
 * reader (a full disk, a closed pipe) is a failure, not a success. */
static int close_stdout(void)
{
	int err = 0;

	errno = 0;
	if (stdout_was_closed)
		err = EBADF;
	else if (fflush(stdout) != 0 || ferror(stdout))
		err = errno ? errno : EIO;
	if (fclose(stdout) != 0 && !err)
		err = errno;
	if (!err)
		return 0;
	fprintf(stderr, "wgpunch: writing the report to standard output: %s\n",
		strerror(err));
	return -1;
}

int main(int argc, char *argv[])
{
	struct client_opts opts;
	struct config cfg;
	struct cmdline cl;
	int ret;

	hold_std_fds();
	ret = parse_args(argc, argv, &cl);
	if (!ret)
		ret = load_settings(&cl, &cfg);
	if (!ret)
		ret = build_opts(&cl, &cfg, &opts);
	if (ret) {
		/* --help and --version print to stdout, too. */
		if (ret < 0)
			return close_stdout() < 0 ? WGPUNCH_EXIT_ERROR : WGPUNCH_EXIT_OK;
		return ret;
	}
	log_set_level(cfg.log_level);
	log_set_prefix(cl.ifname);
	if (sodium_init() < 0) {
		fprintf(stderr, "wgpunch: libsodium failed to initialise\n");
		return WGPUNCH_EXIT_ERROR;
	}
	if (opts.daemon)
		return client_daemon(&opts);
	ret = client_up(&opts);
	if (close_stdout() < 0)
		return WGPUNCH_EXIT_ERROR;
	return ret;
}
