/* SPDX-License-Identifier: MIT */
/*
 * The `make demo` helper: the classic raw-socket filter, both sides.
 *
 *	rawdemo show PORT		print cbpf_filter_udp4() for dport PORT
 *	rawdemo recv [PORT]		raw UDP socket, filtered to dport PORT if
 *					given; prints "listening", then
 *					"dport N" per datagram, until SIGTERM
 *					(or 10 s)
 *	rawdemo send ADDR PORT...	one UDP datagram to each ADDR:PORT
 *
 * Needs CAP_NET_RAW for recv; demo.sh runs it in a network namespace.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cbpf.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static int parse_port(const char *s, uint16_t *port)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v == 0 || v > 65535) {
		fprintf(stderr, "rawdemo: bad port '%s'\n", s);
		return -1;
	}
	*port = (uint16_t)v;
	return 0;
}

static int build_filter(uint16_t dport, struct cbpf_prog *prog)
{
	struct cbpf_udp_match m = { .dport = dport };
	int ret;

	ret = cbpf_filter_udp4(&m, prog);
	if (ret < 0)
		fprintf(stderr, "rawdemo: filter: %s\n", strerror(-ret));
	return ret;
}

static int cmd_show(int argc, char **argv)
{
	struct cbpf_prog prog;
	uint16_t port;
	char *text;

	if (argc != 1 || parse_port(argv[0], &port) < 0 ||
	    build_filter(port, &prog) < 0)
		return 1;
	text = cbpf_format(&prog, CBPF_FORM_TCPDUMP, 0);
	if (text) {
		fputs(text, stdout);
		free(text);
	} else {
		/* No printer: the raw instructions, tcpdump -dd style. */
		for (size_t i = 0; i < prog.len; i++)
			printf("{ 0x%02x, %u, %u, 0x%08x },\n",
			       prog.insns[i].code, prog.insns[i].jt,
			       prog.insns[i].jf, prog.insns[i].k);
	}
	cbpf_prog_free(&prog);
	return 0;
}

/* The UDP destination port of a datagram as an AF_INET raw socket gets
 * it: IPv4 header (with its IHL) first. */
static int udp_dport(const uint8_t *buf, ssize_t n)
{
	size_t ihl;

	if (n < 20)
		return -1;
	ihl = (size_t)(buf[0] & 0xf) * 4;
	if ((size_t)n < ihl + 4)
		return -1;
	return buf[ihl + 2] << 8 | buf[ihl + 3];
}

static int cmd_recv(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_term };
	struct pollfd pfd = { .events = POLLIN };
	struct cbpf_prog prog;
	time_t deadline = time(NULL) + 10;
	uint8_t buf[2048];
	uint16_t port = 0;
	ssize_t n;
	int ret;

	if (argc > 1 || (argc == 1 && parse_port(argv[0], &port) < 0))
		return 1;
	sigaction(SIGTERM, &sa, NULL);
	pfd.fd = socket(AF_INET, SOCK_RAW, IPPROTO_UDP);
	if (pfd.fd < 0) {
		perror("rawdemo: socket");
		return 1;
	}
	if (argc == 1) {
		if (build_filter(port, &prog) < 0)
			return 1;
		/* The socket has been receiving since socket(): drain. */
		ret = cbpf_attach(pfd.fd, &prog, CBPF_ATTACH_DRAIN);
		cbpf_prog_free(&prog);
		if (ret < 0) {
			fprintf(stderr, "rawdemo: attach: %s\n", strerror(-ret));
			return 1;
		}
	}
	printf("listening\n");
	fflush(stdout);

	while (!stop && time(NULL) < deadline) {
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = recv(pfd.fd, buf, sizeof(buf), 0);
		if (n < 0)
			continue;
		printf("dport %d\n", udp_dport(buf, n));
		fflush(stdout);
	}
	close(pfd.fd);
	return 0;
}

static int cmd_send(int argc, char **argv)
{
	struct sockaddr_in to = { .sin_family = AF_INET };
	uint16_t port;
	int fd, i;

	if (argc < 2 || inet_pton(AF_INET, argv[0], &to.sin_addr) != 1) {
		fprintf(stderr, "rawdemo: send ADDR PORT...\n");
		return 1;
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("rawdemo: socket");
		return 1;
	}
	for (i = 1; i < argc; i++) {
		if (parse_port(argv[i], &port) < 0)
			return 1;
		to.sin_port = htons(port);
		if (sendto(fd, "hello", 5, 0, (struct sockaddr *)&to,
			   sizeof(to)) < 0) {
			perror("rawdemo: sendto");
			return 1;
		}
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "show"))
		return cmd_show(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "recv"))
		return cmd_recv(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "send"))
		return cmd_send(argc - 2, argv + 2);
	fprintf(stderr, "usage: rawdemo show PORT | recv [PORT] | "
		"send ADDR PORT...\n");
	return 2;
}
