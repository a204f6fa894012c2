// SPDX-License-Identifier: MIT
/*
 * cbpf compile: a pcap filter expression compiled by libpcap, as tcpdump
 * would, then checked against the kernel's rules before it is printed.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pcap/pcap.h>

#include "program.h"
#include "subcommands.h"
#include "util.h"

#define DEFAULT_SNAPLEN 262144	/* tcpdump's default */

static const struct {
	const char *name;
	int dlt;
	const char *description;
} links[] = {
	{ "ether", DLT_EN10MB, "Ethernet (DLT_EN10MB), the default" },
	{ "ipv4", DLT_IPV4, "IPv4 header first (DLT_IPV4): AF_INET raw sockets" },
	{ "ipv6", DLT_IPV6, "IPv6 header first (DLT_IPV6)" },
	{ "sll", DLT_LINUX_SLL, "Linux cooked capture (DLT_LINUX_SLL)" },
	{ "raw", DLT_RAW, "IPv4 or IPv6 header first (DLT_RAW)" },
};

#define NR_LINKS (sizeof(links) / sizeof(links[0]))

static void usage(FILE *f)
{
	fprintf(f, "Usage: %s [options] EXPRESSION...\n\n"
		"Compiles a pcap filter expression (the arguments joined by spaces,\n"
		"as tcpdump does) with libpcap, checks that the kernel would accept\n"
		"the result and prints it, by default as tcpdump -ddd.\n"
		"This cbpf uses %s.\n\n"
		"  -l, --link TYPE         the packets' first header:\n",
		progname, pcap_lib_version());
	for (size_t i = 0; i < NR_LINKS; i++)
		fprintf(f, "                            %-6s %s\n",
			links[i].name, links[i].description);
	fprintf(f, "  -O, --no-optimize       do not run libpcap's optimizer\n"
		"  -s, --snaplen N         bytes accepted (default: %d)\n"
		"  -f, --format FORM       %s\n"
		"                          (default: ddd)\n"
		"      --no-trailing-blanks  tcpdump form without libpcap 1.10's trailing blanks\n"
		"  -h, --help              this help\n", DEFAULT_SNAPLEN, FORM_NAMES);
}

static int find_link(const char *name)
{
	for (size_t i = 0; i < NR_LINKS; i++)
		if (!strcmp(name, links[i].name))
			return links[i].dlt;
	return -1;
}

/* The arguments joined by single spaces, as tcpdump joins them. */
static char *join(int argc, char *argv[])
{
	size_t len = 1, at = 0;
	char *s;

	for (int i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	s = malloc(len);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (int i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]);

		if (i)
			s[at++] = ' ';
		memcpy(s + at, argv[i], n + 1);
		at += n;
	}
	return s;
}

/* libpcap's struct bpf_insn has the layout of sock_filter; copy it field
 * by field rather than rely on that. */
static int to_prog(const struct bpf_program *code, struct cbpf_prog *prog)
{
	struct sock_filter *insns = calloc(code->bf_len ? code->bf_len : 1, sizeof(*insns));
	int ret;

	if (!insns)
		return -ENOMEM;
	for (unsigned int i = 0; i < code->bf_len; i++) {
		insns[i].code = code->bf_insns[i].code;
		insns[i].jt = code->bf_insns[i].jt;
		insns[i].jf = code->bf_insns[i].jf;
		insns[i].k = code->bf_insns[i].k;
	}
	ret = cbpf_prog_from_array(prog, insns, code->bf_len);
	free(insns);
	return ret;
}

static int compile(const char *expr, int dlt, int snaplen, bool optimize,
		   struct cbpf_prog *prog)
{
	struct bpf_program code;
	pcap_t *p;
	int ret;

	p = pcap_open_dead(dlt, snaplen);
	if (!p) {
		errorf("pcap_open_dead: %s", strerror(ENOMEM));
		return EXIT_USAGE;
	}
	if (pcap_compile(p, &code, expr, optimize, PCAP_NETMASK_UNKNOWN) < 0) {
		errorf("'%s': %s", expr, pcap_geterr(p));
		pcap_close(p);
		return EXIT_REJECTED;
	}
	ret = to_prog(&code, prog);
	pcap_freecode(&code);
	pcap_close(p);
	if (ret < 0) {
		errorf("%s", strerror(-ret));
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

int compile_main(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "link", required_argument, NULL, 'l' },
		{ "no-optimize", no_argument, NULL, 'O' },
		{ "snaplen", required_argument, NULL, 's' },
		OUTPUT_LONG_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct output_options out = { .form = CBPF_FORM_DDD };
	struct cbpf_prog prog = { 0 };
	int dlt = DLT_EN10MB, opt, ret;
	bool optimize = true;
	uint64_t snaplen = DEFAULT_SNAPLEN;
	char *expr;

	/* '+': stop at the first operand, so the expression is never
	 * mistaken for options. */
	while ((opt = getopt_long(argc, argv, "+l:Os:f:h", options, NULL)) != -1) {
		switch (opt) {
		case 'l':
			dlt = find_link(optarg);
			if (dlt < 0) {
				errorf("unknown link type '%s'; use ether, ipv4, ipv6, sll or raw",
				       optarg);
				return usage_hint();
			}
			break;
		case 'O':
			optimize = false;
			break;
		case 's':
			if (!parse_number(optarg, DEFAULT_SNAPLEN, &snaplen) || !snaplen) {
				errorf("--snaplen: '%s' is not a number from 1 to %d",
				       optarg, DEFAULT_SNAPLEN);
				return usage_hint();
			}
			break;
		case 'h':
			usage(stdout);
			return finish_output(EXIT_OK);
		default:
			if (!is_output_option(opt) || !output_option(&out, opt, optarg))
				return usage_hint();
		}
	}
	if (optind == argc) {
		errorf("no filter expression");
		return usage_hint();
	}

	expr = join(argc - optind, argv + optind);
	if (!expr) {
		errorf("%s", strerror(ENOMEM));
		return EXIT_USAGE;
	}
	ret = compile(expr, dlt, (int)snaplen, optimize, &prog);
	if (!ret)
		ret = check_valid("compiled program", &prog);
	if (!ret)
		ret = write_program(&prog, &out);
	cbpf_prog_free(&prog);
	free(expr);
	return ret;
}
