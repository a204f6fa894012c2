// SPDX-License-Identifier: MIT
/*
 * wgpunch — NAT hole punching for WireGuard peers, through a wgpunchd
 * rendezvous server.
 *
 *   wgpunch [options] up IFACE       punch once; exit when every peer is
 *                                    resolved or --timeout passes
 *   wgpunch [options] daemon IFACE   keep registering and re-punching
 *   wgpunch [options] status [IFACE] [--json]
 *                                    what the daemon knows (or, with no
 *                                    daemon, what one round finds out)
 *
 * Settings come from --config FILE (else /etc/wgpunch/IFACE.conf, if it
 * exists), overridden by options. Needs only
 * CAP_NET_RAW (raw socket) and CAP_NET_ADMIN (fwmark, and the WireGuard
 * netlink interface); there is deliberately no "are we root" check.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <sodium.h>
#include "client.h"
#include "config.h"
#include "endpoint.h"
#include "key.h"
#include "log.h"
#include "status.h"

#ifndef WGPUNCH_VERSION
#define WGPUNCH_VERSION "unknown"
#endif

#define DEFAULT_TIMEOUT 20

static const char usage_text[] =
"Usage: wgpunch [OPTIONS] up IFACE\n"
"       wgpunch [OPTIONS] daemon IFACE\n"
"       wgpunch [OPTIONS] status [IFACE] [--json]\n"
"\n"
"Learn where IFACE's WireGuard peers may be (their public mappings and\n"
"own addresses) through a wgpunchd rendezvous server, prove a path to\n"
"each with authenticated probes from WireGuard's port, and set the best\n"
"path that answered (lan > ipv6 > port mapping > ipv4 > relay) as the\n"
"peer's endpoint. The gateway is asked for a port mapping of WireGuard's\n"
"port (PCP, NAT-PMP, UPnP IGD), and when no direct path answers, the\n"
"server's relay (if it runs one) carries the tunnel meanwhile.\n"
"\n"
"  up       punch once; exit 0 when every peer's path is proven (a probe\n"
"           answered, or a fresh handshake), 3 naming those that are not\n"
"  daemon   keep registering, pick up new peers, keep every path proven\n"
"           and move when it breaks\n"
"  status   show what the daemon knows: our mapping and NAT, and per\n"
"           peer the path chosen, why, and every candidate address;\n"
"           with no daemon running, find it out once. IFACE may be left\n"
"           out when a single daemon runs\n"
"\n"
"Options:\n"
"  -s, --server HOST[:PORT]     rendezvous server (port 49918); up to 8\n"
"                               times: registers with every one\n"
"  -k, --server-key BASE64      the server's public key (once for all\n"
"                               servers, or once per server, in order)\n"
"  -K, --server-key-file FILE   ... read from FILE\n"
"  -p, --probe-port PORT        the server's second port (PORT + 1);\n"
"                               once for all, or once per server\n"
"  -c, --config FILE            read settings from FILE (key = value);\n"
"                               default /etc/wgpunch/IFACE.conf, if it exists\n"
"  -a, --keepalive SECONDS      persistent keepalive to set (default:\n"
"                               the peer's own, else 25)\n"
"  -t, --timeout SECONDS        how long \"up\" may take (20)\n"
"  -l, --log-level LEVEL        error, warning, info or debug (info;\n"
"                               warning for status)\n"
"      --status-socket PATH     the daemon's status socket\n"
"                               (/run/wgpunch/IFACE.sock)\n"
"      --json                   status: print JSON (schema in wgpunch(8))\n"
"      --portmap LIST           port-mapping protocols to try, in order:\n"
"                               pcp,natpmp,upnp (all), or none\n"
"      --no-portmap             the same as --portmap none\n"
"      --no-seccomp             do not install the seccomp filter\n"
"                               (debugging)\n"
"  -h, --help                   this text\n"
"  -V, --version                the version\n"
"\n"
"Exit status: 0 ok, 1 error, 2 usage error, 3 peers unresolved.\n"
"Needs CAP_NET_RAW and CAP_NET_ADMIN, not root; see wgpunch(8).\n";

/* Long options without a letter: values past any character. */
enum {
	OPT_STATUS_SOCKET = 256,
	OPT_JSON,
	OPT_PORTMAP,
	OPT_NO_PORTMAP,
	OPT_NO_SECCOMP,
};

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
	{ "status-socket", required_argument, NULL, OPT_STATUS_SOCKET },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "portmap", required_argument, NULL, OPT_PORTMAP },
	{ "no-portmap", no_argument, NULL, OPT_NO_PORTMAP },
	{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
	{ NULL, 0, NULL, 0 },
};

struct cmdline {
	struct config cli;		/* what the options set */
	const char *config_file;	/* --config, or NULL */
	char default_config[PATH_MAX];	/* the interface's, when read */
	bool file_read;			/* a settings file was read */
	const char *command;
	const char *ifname;
	bool status;			/* the command is "status" */
	bool json;			/* --json */
	bool no_seccomp;		/* --no-seccomp */
	const char *status_socket;	/* --status-socket, or NULL */
	char found_ifname[IFNAMSIZ];	/* status: the one daemon's */
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

	/* Several -s or -k may be given: say which one is wrong. None of
	 * these values is a secret (a key file is named, not read). */
	if (config_set(cfg, key, value, why, sizeof(why)) < 0)
		return usage_error("%s (not '%s')", why, value);
	return 0;
}

/* The words after the options: "up IFACE", "daemon IFACE" or
 * "status [IFACE]". 0 or WGPUNCH_EXIT_USAGE. */
static int parse_command(int argc, char *argv[], struct cmdline *cl)
{
	if (argc < 1)
		return usage_error("expected a command (up or daemon) and an "
				   "interface, or status [IFACE]");
	cl->command = argv[0];
	cl->status = !strcmp(cl->command, "status");
	if (!cl->status && strcmp(cl->command, "up") && strcmp(cl->command, "daemon"))
		return usage_error("unknown command \"%s\" (up, daemon or status)",
				   cl->command);
	if (argc < 2 && !cl->status)
		return usage_error("expected a command (up or daemon) and an interface");
	if (argc > 2)
		return usage_error("unexpected argument '%s'", argv[2]);
	cl->ifname = argc == 2 ? argv[1] : NULL;
	if (cl->ifname && !wg_ifname_valid(cl->ifname))
		return usage_error("\"%s\" is not a valid interface name", cl->ifname);
	if (cl->json && !cl->status)
		return usage_error("--json is an option of status, not of %s",
				   cl->command);
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
	char why[200];
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
		case OPT_STATUS_SOCKET:
			if (!optarg[0])
				return usage_error("--status-socket needs a path");
			cl->status_socket = optarg;
			break;
		case OPT_JSON:
			cl->json = true;
			break;
		case OPT_PORTMAP:
			if (option_value(&cl->cli, "portmap", optarg))
				return WGPUNCH_EXIT_USAGE;
			break;
		case OPT_NO_PORTMAP:
			if (option_value(&cl->cli, "portmap", "none"))
				return WGPUNCH_EXIT_USAGE;
			break;
		case OPT_NO_SECCOMP:
			cl->no_seccomp = true;
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
	/* Which one wins would be a guess; so would pairing a mixed list
	 * with the servers. */
	if ((cl->cli.set & CONFIG_SERVER_KEY) && (cl->cli.set & CONFIG_SERVER_KEY_FILE))
		return usage_error("both --server-key and --server-key-file given: use one");
	if (cl->cli.n_servers > 1 && config_check_servers(&cl->cli, why, sizeof(why)))
		return usage_error("%s", why);
	return parse_command(argc - optind, argv + optind, cl);
}

/* Options override the file: each field the options set, and each list
 * (servers, keys, probe ports) as a whole. */
static void merge(struct config *cfg, const struct config *cli)
{
	if (cli->set & CONFIG_SERVER) {
		memcpy(cfg->servers, cli->servers, sizeof(cfg->servers));
		cfg->n_servers = cli->n_servers;
	}
	/* Either kind of key on the command line replaces either kind in
	 * the file. */
	if (cli->set & (CONFIG_SERVER_KEY | CONFIG_SERVER_KEY_FILE)) {
		cfg->set &= ~(CONFIG_SERVER_KEY | CONFIG_SERVER_KEY_FILE);
		cfg->n_server_keys = cfg->n_server_key_files = 0;
	}
	if (cli->set & CONFIG_SERVER_KEY) {
		memcpy(cfg->server_keys, cli->server_keys, sizeof(cfg->server_keys));
		cfg->n_server_keys = cli->n_server_keys;
	}
	if (cli->set & CONFIG_SERVER_KEY_FILE) {
		memcpy(cfg->server_key_files, cli->server_key_files,
		       sizeof(cfg->server_key_files));
		cfg->n_server_key_files = cli->n_server_key_files;
	}
	if (cli->set & CONFIG_PROBE_PORT) {
		memcpy(cfg->probe_ports, cli->probe_ports, sizeof(cfg->probe_ports));
		cfg->n_probe_ports = cli->n_probe_ports;
	}
	if (cli->set & CONFIG_TIMEOUT)
		cfg->timeout = cli->timeout;
	if (cli->set & CONFIG_KEEPALIVE)
		cfg->keepalive = cli->keepalive;
	if (cli->set & CONFIG_LOG_LEVEL)
		cfg->log_level = cli->log_level;
	if (cli->set & CONFIG_PORTMAP)
		cfg->portmap = cli->portmap;
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
static int resolve_server(const struct config_server *srv,
			  struct sockaddr_storage *ss)
{
	uint16_t port = srv->port ? srv->port : WGP_PORT;
	const char *host = srv->host;
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

/*
 * Reads the settings file: --config's, or else the interface's default
 * one, which need not exist. 0, or the exit status: a file with errors
 * is a usage error, one that cannot be read (like the key file) a
 * runtime error.
 */
static int read_config_file(struct cmdline *cl, struct config *cfg)
{
	const char *path = cl->config_file;
	struct config_error err;
	int ret;

	if (!path && cl->ifname)
		path = config_default_path(cl->ifname, cl->default_config,
					   sizeof(cl->default_config));
	if (!path)
		return 0;
	ret = config_load(cfg, path, &err);
	if (ret == -ENOENT && !cl->config_file)
		return 0;
	if (ret < 0 && err.line)
		fprintf(stderr, "wgpunch: %s:%u: %s\n", path, err.line, err.msg);
	else if (ret < 0)
		fprintf(stderr, "wgpunch: %s: %s\n", path, err.msg);
	if (ret < 0)
		return ret == -EINVAL ? WGPUNCH_EXIT_USAGE : WGPUNCH_EXIT_ERROR;
	cl->file_read = true;
	return 0;
}

/*
 * With one server, a repeated -k, -K or -p replaces the earlier one, as
 * it always did (scripts append a --server-key to a command line that
 * has one): the last one given on the command line is kept.
 */
static void single_server_last_wins(struct config *cfg, const struct config *cli)
{
	if (cfg->n_servers != 1)
		return;
	if ((cli->set & CONFIG_SERVER_KEY) && cli->n_server_keys > 1) {
		memcpy(cfg->server_keys[0], cli->server_keys[cli->n_server_keys - 1],
		       WGP_KEY_LEN);
		cfg->n_server_keys = 1;
	}
	if ((cli->set & CONFIG_SERVER_KEY_FILE) && cli->n_server_key_files > 1) {
		memcpy(cfg->server_key_files[0],
		       cli->server_key_files[cli->n_server_key_files - 1],
		       sizeof(cfg->server_key_files[0]));
		cfg->n_server_key_files = 1;
	}
	if ((cli->set & CONFIG_PROBE_PORT) && cli->n_probe_ports > 1) {
		cfg->probe_ports[0] = cli->probe_ports[cli->n_probe_ports - 1];
		cfg->n_probe_ports = 1;
	}
}

/* The command line may have replaced one list and not the other: the
 * counts must still pair. 0, or the exit status. */
static int check_pairing(const struct cmdline *cl, const struct config *cfg,
			 const char *file)
{
	char why[200];

	if (!config_check_servers(cfg, why, sizeof(why)))
		return 0;
	if (cl->file_read)
		fprintf(stderr, "wgpunch: %s (the options' lists replace those of "
			"%s, the others are kept)\n", why, file);
	else
		fprintf(stderr, "wgpunch: %s\n", why);
	return WGPUNCH_EXIT_USAGE;
}

/* The key files, in order, into the key list. 0, or the exit status. */
static int read_key_files(struct config *cfg)
{
	int ret;

	if (!(cfg->set & CONFIG_SERVER_KEY_FILE))
		return 0;
	for (unsigned int i = 0; i < cfg->n_server_key_files; i++) {
		ret = wgp_key_read_file(cfg->server_keys[i], cfg->server_key_files[i]);
		if (ret < 0) {
			fprintf(stderr, "wgpunch: %s: %s\n", cfg->server_key_files[i],
				ret == -EINVAL ? "not a base64 WireGuard key" :
				strerror(-ret));
			return WGPUNCH_EXIT_ERROR;
		}
	}
	cfg->n_server_keys = cfg->n_server_key_files;
	cfg->set |= CONFIG_SERVER_KEY;
	return 0;
}

/* 0, or the exit status. */
static int load_settings(struct cmdline *cl, struct config *cfg)
{
	const char *file;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	cfg->log_level = LOG_LEVEL_INFO;
	ret = read_config_file(cl, cfg);
	if (ret)
		return ret;
	merge(cfg, &cl->cli);
	single_server_last_wins(cfg, &cl->cli);
	file = cl->config_file ? cl->config_file :
	       cl->default_config[0] ? cl->default_config : "a --config file";
	if (!(cfg->set & CONFIG_SERVER)) {
		fprintf(stderr, "wgpunch: no server: use --server, or \"server =\" "
			"in %s\n", file);
		return WGPUNCH_EXIT_USAGE;
	}
	if (!(cfg->set & (CONFIG_SERVER_KEY | CONFIG_SERVER_KEY_FILE))) {
		fprintf(stderr, "wgpunch: no server key: use --server-key or "
			"--server-key-file, or \"server-key =\" or "
			"\"server-key-file =\" in %s\n", file);
		return WGPUNCH_EXIT_USAGE;
	}
	ret = check_pairing(cl, cfg, file);
	if (ret)
		return ret;
	return read_key_files(cfg);
}

/* Entry i of a list that has one entry for all, or one per server. */
static unsigned int pick(unsigned int n, unsigned int i)
{
	return n == 1 ? 0 : i;
}

/* Server i of the settings: address, probe port and key. 0, or the
 * exit status. */
static int build_server(const struct config *cfg, unsigned int i,
			struct client_server_opts *so)
{
	const char *host = cfg->servers[i].host;
	uint16_t port;
	int ret;

	ret = resolve_server(&cfg->servers[i], &so->addr);
	if (ret < 0)
		return ret == -EINVAL ? WGPUNCH_EXIT_USAGE : WGPUNCH_EXIT_ERROR;
	port = endpoint_port((struct sockaddr *)&so->addr);
	if (cfg->n_probe_ports) {
		so->probe_port = cfg->probe_ports[pick(cfg->n_probe_ports, i)];
	} else if (port == UINT16_MAX) {
		fprintf(stderr, "wgpunch: server %s: port 65535: give --probe-port\n",
			host);
		return WGPUNCH_EXIT_USAGE;
	} else {
		so->probe_port = (uint16_t)(port + 1);
	}
	if (so->probe_port == port) {
		fprintf(stderr, "wgpunch: server %s: the probe port must differ from "
			"the server port\n", host);
		return WGPUNCH_EXIT_USAGE;
	}
	memcpy(so->key, cfg->server_keys[pick(cfg->n_server_keys, i)], WGP_KEY_LEN);
	return 0;
}

/* Server i resolved to the address and port of an earlier one: both
 * would get the same requests with the same counters, and each would
 * refuse half of them as replays. 0, or the exit status. */
static int same_server(const struct client_opts *o, unsigned int i)
{
	const struct sockaddr_storage *a = &o->servers[i].addr;
	struct wgp_endpoint ea, eb;

	if (wgp_endpoint_from_sockaddr(&ea, (const struct sockaddr *)a,
				       sizeof(*a)) < 0)
		return 0;
	for (unsigned int j = 0; j < i; j++) {
		const struct sockaddr_storage *b = &o->servers[j].addr;

		if (wgp_endpoint_from_sockaddr(&eb, (const struct sockaddr *)b,
					       sizeof(*b)) == 0 &&
		    wgp_endpoint_equal(&ea, &eb)) {
			char at[WGP_ENDPOINT_STRLEN];

			fprintf(stderr, "wgpunch: servers #%u and #%u are both "
				"%s: give each once\n", j + 1, i + 1,
				wgp_endpoint_format(&ea, at));
			return WGPUNCH_EXIT_USAGE;
		}
	}
	return 0;
}

/* 0, or the exit status. */
static int build_opts(const struct cmdline *cl, const struct config *cfg,
		      struct client_opts *o)
{
	int ret;

	memset(o, 0, sizeof(*o));
	o->ifname = cl->ifname;
	o->daemon = !strcmp(cl->command, "daemon");
	o->no_seccomp = cl->no_seccomp;
	for (unsigned int i = 0; i < cfg->n_servers && i < WGPUNCH_MAX_SERVERS; i++) {
		ret = build_server(cfg, i, &o->servers[i]);
		if (ret)
			return ret;
		ret = same_server(o, i);
		if (ret)
			return ret;
		o->n_servers++;
	}
	o->status_socket = cl->status_socket;
	o->keepalive = cfg->set & CONFIG_KEEPALIVE ? cfg->keepalive : 0;
	o->timeout_s = cfg->set & CONFIG_TIMEOUT ? cfg->timeout : DEFAULT_TIMEOUT;
	o->portmap = cfg->set & CONFIG_PORTMAP ? cfg->portmap : CONFIG_PM_ALL;
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

/* scandir filter: names that look like a daemon's socket. */
static int socket_name(const struct dirent *d)
{
	size_t len = strlen(d->d_name);

	return len > 5 && !strcmp(d->d_name + len - 5, ".sock");
}

/* "wg0.sock" in STATUS_DIR is a socket for a valid interface name:
 * copy the name into ifname. */
static bool daemon_socket(const char *name, char ifname[static IFNAMSIZ])
{
	size_t stem = strlen(name) - 5;
	char path[PATH_MAX];
	struct stat st;

	if (stem >= IFNAMSIZ)
		return false;
	memcpy(ifname, name, stem);
	ifname[stem] = '\0';
	snprintf(path, sizeof(path), STATUS_DIR "/%s", name);
	return wg_ifname_valid(ifname) && lstat(path, &st) == 0 &&
	       S_ISSOCK(st.st_mode);
}

/*
 * "wgpunch status" without an interface: the daemon whose socket is the
 * only one in STATUS_DIR. 0 with cl->ifname set, or the exit status (a
 * usage error naming the choices, if there are several).
 */
static int find_only_daemon(struct cmdline *cl)
{
	char choices[256] = "", name[IFNAMSIZ];
	struct dirent **list;
	unsigned int found = 0;
	size_t used = 0;
	int n;

	n = scandir(STATUS_DIR, &list, socket_name, alphasort);
	for (int i = 0; i < n; i++) {
		if (daemon_socket(list[i]->d_name, name)) {
			if (!found++)
				memcpy(cl->found_ifname, name, sizeof(name));
			if (used < sizeof(choices))
				used += (size_t)snprintf(choices + used,
							 sizeof(choices) - used,
							 "%s%s", found > 1 ? ", " : "", name);
		}
		free(list[i]);
	}
	if (n >= 0)
		free(list);
	if (found == 1) {
		cl->ifname = cl->found_ifname;
		return 0;
	}
	if (!found)
		return usage_error("status: no interface given, and no daemon "
				   "socket in " STATUS_DIR ": name the interface");
	return usage_error("status: no interface given, and daemons run for "
			   "%s: name one", choices);
}

/* The socket to ask: --status-socket, else the interface's (the one
 * daemon's, if no interface was named). 0 or the exit status. */
static int status_socket_path(struct cmdline *cl, char *buf, size_t len,
			      const char **path)
{
	int ret;

	if (cl->status_socket) {
		*path = cl->status_socket;
		return 0;
	}
	if (!cl->ifname) {
		ret = find_only_daemon(cl);
		if (ret)
			return ret;
	}
	*path = status_default_path(cl->ifname, buf, len);
	if (*path)
		return 0;
	fprintf(stderr, "wgpunch: no status socket path for \"%s\"\n", cl->ifname);
	return WGPUNCH_EXIT_ERROR;
}

/* No daemon runs: one round of the engine finds the status out. It
 * needs the settings that "up" needs. */
static int status_once(struct cmdline *cl, const char *path)
{
	struct client_opts opts;
	struct config cfg;
	int ret;

	if (!cl->ifname)
		return usage_error("status: no daemon answers on %s: name the "
				   "interface to find its status out once", path);
	log_set_prefix(cl->ifname);
	ret = load_settings(cl, &cfg);
	if (!ret)
		ret = build_opts(cl, &cfg, &opts);
	if (ret) {
		fprintf(stderr, "wgpunch: (no daemon answers on %s: without "
			"one, status needs the settings that up needs)\n", path);
		return ret;
	}
	/* The report is on stdout: only trouble on stderr, unless asked. */
	log_set_level(cfg.set & CONFIG_LOG_LEVEL ? cfg.log_level : LOG_LEVEL_WARN);
	if (sodium_init() < 0) {
		fprintf(stderr, "wgpunch: libsodium failed to initialise\n");
		return WGPUNCH_EXIT_ERROR;
	}
	opts.status_socket = path;
	opts.status_only = true;	/* probe and report; set nothing */
	return client_status(&opts, cl->json);
}

/* "wgpunch status": the daemon's snapshot, or one found out now. */
static int cmd_status(struct cmdline *cl)
{
	char buf[STATUS_PATH_MAX];
	const char *path;
	int ret;

	ret = status_socket_path(cl, buf, sizeof(buf), &path);
	if (ret)
		return ret;
	ret = status_fetch(path, cl->json, stdout);
	if (ret == -ENOENT || ret == -ECONNREFUSED)
		ret = status_once(cl, path);
	else if (ret < 0)
		fprintf(stderr, "wgpunch: asking the daemon at %s: %s\n", path,
			ret == -EPROTO ? "the answer was cut short" : strerror(-ret));
	if (ret < 0)
		ret = WGPUNCH_EXIT_ERROR;
	if (close_stdout() < 0)
		return WGPUNCH_EXIT_ERROR;
	return ret;
}

int main(int argc, char *argv[])
{
	struct client_opts opts;
	struct config cfg;
	struct cmdline cl;
	int ret;

	hold_std_fds();
	log_init("wgpunch");
	ret = parse_args(argc, argv, &cl);
	if (!ret && cl.status)
		return cmd_status(&cl);
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
