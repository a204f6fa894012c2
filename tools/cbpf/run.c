// SPDX-License-Identifier: MIT
/*
 * cbpf run: the verdict of a program for each packet, from libcbpf's VM
 * and, with --kernel, checked against the running kernel.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctxopt.h"
#include "packets.h"
#include "program.h"
#include "subcommands.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: %s [options] [FILE]\n\n"
		"Runs every packet through the program in FILE (or stdin) and prints\n"
		"each verdict (the filter's return value) as an unsigned decimal, one\n"
		"line per packet. Packets are read from stdin as hex, one per line\n"
		"(bytes may be separated by blanks or ':'; an empty line is an empty\n"
		"packet), or from a capture file. The program must be valid.\n\n"
		"  -e, --program TEXT  the program itself instead of FILE\n"
		"  -p, --pcap FILE     packets from a pcap or pcapng file ('-': stdin)\n"
		"  -k, --kernel        also send each packet over an AF_UNIX datagram\n"
		"                      socketpair with the program attached and compare\n"
		"                      what the kernel delivers with the VM's verdict\n"
		"  -v, --verbose       print 'NUMBER LENGTH VERDICT END' per packet\n"
		"  -h, --help          this help\n\n", progname);
	ctx_usage(f);
}

/* The running kernel as the oracle: an AF_UNIX datagram socketpair whose
 * receiving end has the program attached (doc/kernel-rules.md, C). */
struct oracle {
	int fds[2];
};

static int oracle_open(struct oracle *o, const struct cbpf_prog *prog)
{
	int size = 1 << 20, ret;

	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, o->fds) < 0) {
		errorf("socketpair: %s", strerror(errno));
		return EXIT_USAGE;
	}
	/* The largest packet must fit in one datagram; the kernel caps
	 * this at net.core.wmem_max, which is enough for 64 KiB. */
	setsockopt(o->fds[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	ret = cbpf_attach(o->fds[1], prog, 0);
	if (ret < 0) {
		errorf("MISMATCH: the kernel rejects the program (%s) but cbpf_validate accepts it",
		       strerror(-ret));
		close(o->fds[0]);
		close(o->fds[1]);
		return EXIT_REJECTED;
	}
	return EXIT_OK;
}

/* Bytes the kernel delivered (>= 0), -1 if it dropped the packet, or
 * -2 - errno on failure. */
static long oracle_deliver(struct oracle *o, const uint8_t *pkt, size_t len)
{
	static const uint8_t empty[1];
	uint8_t byte;
	ssize_t n;

	n = send(o->fds[0], len ? pkt : empty, len, MSG_DONTWAIT);
	if (n < 0)
		return -2 - errno;
	/* A dropped datagram is not an error for the sender: the socket is
	 * empty now. MSG_TRUNC gives the full length of what arrived. */
	n = recv(o->fds[1], &byte, sizeof(byte), MSG_TRUNC | MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : -2 - errno;
	return n;
}

static void oracle_close(struct oracle *o)
{
	close(o->fds[0]);
	close(o->fds[1]);
}

/* RANDOM and CPU differ between the VM's context and the kernel. */
static bool reads_unpredictable(const struct cbpf_prog *prog)
{
	for (size_t i = 0; i < prog->len; i++) {
		int n = cbpf_insn_anc(&prog->insns[i]);

		if (n == SKF_AD_RANDOM || n == SKF_AD_CPU)
			return true;
	}
	return false;
}

struct run {
	const struct cbpf_prog *prog;
	struct ctx_options ctx;
	struct oracle oracle;
	bool kernel, verbose;
	unsigned long mismatches;
};

/* One packet: its output line. Returns an exit status. */
static int run_packet(struct run *r, unsigned long number,
		      const uint8_t *pkt, size_t len)
{
	struct cbpf_result res;
	uint32_t verdict;
	long expected, got;

	if (!ctx_split_packet(&r->ctx, &pkt, &len)) {
		errorf("packet %lu is shorter (%zu bytes) than --headroom %zu",
		       number, len, r->ctx.ctx.headroom);
		return EXIT_REJECTED;
	}
	verdict = cbpf_run_trace(r->prog, pkt, len, &r->ctx.ctx, &res, NULL, NULL);
	if (r->verbose)
		printf("%lu %zu %u %s", number, len, verdict, exit_name(res.exit));
	else
		printf("%u", verdict);
	if (r->kernel) {
		got = oracle_deliver(&r->oracle, pkt, len);
		if (got < -1) {
			putchar('\n');
			errorf("packet %lu: sending it to the kernel: %s",
			       number, strerror((int)(-got - 2)));
			return EXIT_USAGE;
		}
		expected = verdict ? (long)(verdict < len ? verdict : len) : -1;
		if (got < 0)
			printf(" kernel=drop");
		else
			printf(" kernel=%ld", got);
		if (got == expected) {
			printf(" ok");
		} else {
			r->mismatches++;
			if (expected < 0)
				printf(" MISMATCH (VM: drop)");
			else
				printf(" MISMATCH (VM: %ld bytes)", expected);
		}
	}
	putchar('\n');
	return EXIT_OK;
}

static int run_all(struct run *r, struct packet_source *src)
{
	const uint8_t *pkt;
	size_t len;
	int ret;

	while ((ret = packets_next(src, &pkt, &len)) == 1) {
		ret = run_packet(r, src->number, pkt, len);
		if (ret)
			return ret;
	}
	if (ret < 0)
		return -ret;
	if (r->mismatches) {
		errorf("%lu of %lu packets differ between the VM and the kernel",
		       r->mismatches, src->number);
		return EXIT_REJECTED;
	}
	return EXIT_OK;
}

int run_main(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "program", required_argument, NULL, 'e' },
		{ "pcap", required_argument, NULL, 'p' },
		{ "kernel", no_argument, NULL, 'k' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		CTX_LONG_OPTIONS,
		{ 0 }
	};
	const char *path = NULL, *text = NULL, *pcap = NULL, *name;
	struct cbpf_prog prog = { 0 };
	struct packet_source src;
	struct run r = { .prog = &prog };
	int opt, ret;

	ctx_options_init(&r.ctx);
	while ((opt = getopt_long(argc, argv, "e:p:kvh", options, NULL)) != -1) {
		switch (opt) {
		case 'e':
			text = optarg;
			break;
		case 'p':
			pcap = optarg;
			break;
		case 'k':
			r.kernel = true;
			break;
		case 'v':
			r.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return finish_output(EXIT_OK);
		default:
			if (!is_ctx_option(opt) || !ctx_option(&r.ctx, opt, optarg))
				return usage_hint();
		}
	}
	if (!program_operand(argc, argv, text, &path))
		return usage_hint();
	/* Packets come from stdin unless --pcap names a file. */
	if (!text && (!path || is_stdin_path(path)) &&
	    (!pcap || is_stdin_path(pcap))) {
		errorf("the packets are read from stdin, so the program cannot be; "
		       "give FILE, -e or --pcap FILE");
		return usage_hint();
	}
	if (r.kernel && r.ctx.changed) {
		errorf("--kernel runs packets on an AF_UNIX socket; "
		       "context options do not apply to it");
		return usage_hint();
	}

	name = program_name(path, text);
	ret = load_program(path, text, SYNTAX_ANY, &prog);
	if (!ret)
		ret = check_valid(name, &prog);
	if (ret)
		goto out;
	if (r.kernel && reads_unpredictable(&prog))
		errorf("warning: %s reads SKF_AD_RANDOM or SKF_AD_CPU; the kernel's values differ", name);

	ret = pcap ? packets_open_pcap(&src, pcap) :
		     packets_open_hex(&src, stdin, "<stdin>");
	if (ret)
		goto out;
	if (r.kernel)
		ret = oracle_open(&r.oracle, &prog);
	if (!ret) {
		ret = run_all(&r, &src);
		if (r.kernel)
			oracle_close(&r.oracle);
	}
	packets_close(&src);
out:
	cbpf_prog_free(&prog);
	return finish_output(ret);
}
