// SPDX-License-Identifier: MIT
/*
 * cbpf trace: one packet through the VM, printing every instruction it
 * executes with the registers after it, then how and why the run ended.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctxopt.h"
#include "hex.h"
#include "packets.h"
#include "program.h"
#include "subcommands.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: %s [options] FILE\n\n"
		"Runs one packet through the program in FILE and prints every executed\n"
		"instruction (tcpdump -d text) with A, X and the scratch word it used\n"
		"after it ran, then how the run ended and the verdict. The packet is\n"
		"the first line of hex on stdin, --packet, or a packet of --pcap.\n"
		"A program the kernel would reject is traced too, but exits 1.\n\n"
		"  -e, --program TEXT  the program itself instead of FILE\n"
		"  -x, --packet HEX    the packet, e.g. 45000054 or 45:00:00:54\n"
		"  -p, --pcap FILE     take the packet from a pcap or pcapng file\n"
		"                      ('-': stdin)\n"
		"  -n, --number N      take the Nth packet (from 1) of stdin or --pcap\n"
		"  -h, --help          this help\n\n", progname);
	ctx_usage(f);
}

/* The tcpdump -d line of every instruction, formatted once for the whole
 * program so that jump targets print as absolute indexes. */
struct listing {
	char *text;
	char **lines;
	size_t count;
};

static int listing_make(struct listing *l, const struct cbpf_prog *prog)
{
	char *p;

	*l = (struct listing){ 0 };
	l->text = cbpf_format(prog, CBPF_FORM_TCPDUMP,
			      CBPF_FORMAT_NO_TRAILING_BLANKS);
	l->lines = calloc(prog->len ? prog->len : 1, sizeof(*l->lines));
	if (!l->text || !l->lines)
		return -ENOMEM;
	for (p = l->text; *p; p++)
		if (*p == '\t')	/* before "jf": would break the columns */
			*p = ' ';
	for (p = l->text; *p && l->count < prog->len; l->count++) {
		l->lines[l->count] = p;
		p += strcspn(p, "\n");
		if (*p)
			*p++ = '\0';
	}
	return 0;
}

static void listing_free(struct listing *l)
{
	free(l->text);
	free(l->lines);
}

static void print_step(const struct cbpf_step *step, void *arg)
{
	const struct listing *l = arg;
	char fallback[64];
	const char *text;

	/* A program that jumps outside itself (never a valid one) still
	 * gets a line. */
	if (step->pc < l->count) {
		text = l->lines[step->pc];
	} else {
		snprintf(fallback, sizeof(fallback), "(%03u) code 0x%02x jt %u jf %u k 0x%x",
			 step->pc, step->insn.code, step->insn.jt, step->insn.jf, step->insn.k);
		text = fallback;
	}
	printf("%-44s A=0x%08x X=0x%08x", text, step->a, step->x);
	if (step->mem_index >= 0)
		printf(" M[%d]=0x%08x", step->mem_index, step->mem_value);
	putchar('\n');
}

static void print_end(const struct cbpf_result *res, uint32_t verdict)
{
	const char *why = "";

	switch (res->exit) {
	case CBPF_EXIT_RET:
		why = "return";
		break;
	case CBPF_EXIT_OOB:
		why = "out-of-bounds load";
		break;
	case CBPF_EXIT_DIV0:
		why = "division by zero";
		break;
	case CBPF_EXIT_NODEV:
		why = "no device for an ifindex/hatype load (the kernel returns A)";
		break;
	case CBPF_EXIT_INVALID:
		why = "invalid program";
		break;
	}
	printf("end: %s at insn %u after %llu instruction%s\n", why, res->pc,
	       (unsigned long long)res->steps, res->steps == 1 ? "" : "s");
	printf("verdict: %u\n", verdict);
}

/* The number-th packet of src, copied into *copy. */
static int nth_packet(struct packet_source *src, unsigned long number,
		      uint8_t **copy, size_t *len)
{
	const uint8_t *pkt;
	int ret;

	while ((ret = packets_next(src, &pkt, len)) == 1) {
		if (src->number == number) {
			*copy = malloc(*len ? *len : 1);
			if (!*copy) {
				errorf("%s", strerror(ENOMEM));
				return EXIT_USAGE;
			}
			memcpy(*copy, pkt, *len);
			return EXIT_OK;
		}
	}
	if (ret < 0)
		return -ret;
	errorf("%s: no packet %lu (%lu in all)", src->name, number, src->number);
	return EXIT_REJECTED;
}

static int get_packet(const char *hex, const char *pcap, unsigned long number,
		      uint8_t **pkt, size_t *len)
{
	struct packet_source src;
	const char *why;
	size_t col;
	int ret;

	if (hex) {
		/* Two digits a byte: strlen / 2 is always enough room. */
		size_t cap = strlen(hex) / 2 + 1;

		*pkt = malloc(cap);
		if (!*pkt) {
			errorf("%s", strerror(ENOMEM));
			return EXIT_USAGE;
		}
		why = hex_decode(hex, strlen(hex), *pkt, cap, len, &col);
		if (why) {
			errorf("--packet: column %zu: %s", col, why);
			return EXIT_REJECTED;
		}
		return EXIT_OK;
	}
	ret = pcap ? packets_open_pcap(&src, pcap) :
		     packets_open_hex(&src, stdin, "<stdin>");
	if (ret)
		return ret;
	ret = nth_packet(&src, number, pkt, len);
	packets_close(&src);
	return ret;
}

static int trace(const struct cbpf_prog *prog, const struct cbpf_ctx *ctx,
		 const uint8_t *pkt, size_t len)
{
	struct listing listing;
	struct cbpf_result res;
	uint32_t verdict;

	if (listing_make(&listing, prog) < 0) {
		listing_free(&listing);
		errorf("%s", strerror(ENOMEM));
		return EXIT_USAGE;
	}
	printf("packet: %zu byte%s\n", len, len == 1 ? "" : "s");
	verdict = cbpf_run_trace(prog, pkt, len, ctx, &res, print_step, &listing);
	print_end(&res, verdict);
	listing_free(&listing);
	return EXIT_OK;
}

int trace_main(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "program", required_argument, NULL, 'e' },
		{ "packet", required_argument, NULL, 'x' },
		{ "pcap", required_argument, NULL, 'p' },
		{ "number", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		CTX_LONG_OPTIONS,
		{ 0 }
	};
	const char *path = NULL, *text = NULL, *hex = NULL, *pcap = NULL, *name;
	struct cbpf_prog prog = { 0 };
	struct ctx_options ctx;
	uint64_t number = 1;
	uint8_t *pkt = NULL;
	const uint8_t *seen;
	size_t seen_len;
	size_t len = 0;
	int opt, ret, valid;

	ctx_options_init(&ctx);
	while ((opt = getopt_long(argc, argv, "e:x:p:n:h", options, NULL)) != -1) {
		switch (opt) {
		case 'e':
			text = optarg;
			break;
		case 'x':
			hex = optarg;
			break;
		case 'p':
			pcap = optarg;
			break;
		case 'n':
			if (!parse_number(optarg, UINT32_MAX, &number) || !number) {
				errorf("--number: '%s' is not a packet number from 1", optarg);
				return usage_hint();
			}
			break;
		case 'h':
			usage(stdout);
			return finish_output(EXIT_OK);
		default:
			if (!is_ctx_option(opt) || !ctx_option(&ctx, opt, optarg))
				return usage_hint();
		}
	}
	if (optind < argc)
		path = argv[optind++];
	if (optind < argc || (text && path) || (hex && (pcap || number != 1))) {
		errorf("one program and one packet at a time");
		return usage_hint();
	}
	if (!text && !path) {
		errorf("no program; give FILE or -e");
		return usage_hint();
	}
	if (!text && is_stdin_path(path) && !hex &&
	    (!pcap || is_stdin_path(pcap))) {
		errorf("the packet is read from stdin, so the program cannot be; "
		       "give FILE, -e, --packet or --pcap");
		return usage_hint();
	}

	name = program_name(path, text);
	ret = load_program(path, text, SYNTAX_ANY, &prog);
	if (ret)
		goto out;
	ret = get_packet(hex, pcap, (unsigned long)number, &pkt, &len);
	if (ret)
		goto out;
	/* An invalid program is traced anyway: seeing where it goes wrong
	 * is the point. The VM stops it safely (CBPF_EXIT_INVALID). */
	valid = check_valid(name, &prog);
	if (valid)
		errorf("warning: tracing a program the kernel would reject");
	seen = pkt;
	seen_len = len;
	if (!ctx_split_packet(&ctx, &seen, &seen_len)) {
		errorf("the packet is shorter (%zu bytes) than --headroom %zu",
		       len, ctx.ctx.headroom);
		ret = EXIT_REJECTED;
		goto out;
	}
	ret = trace(&prog, &ctx.ctx, seen, seen_len);
	if (!ret)
		ret = valid;
out:
	free(pkt);
	cbpf_prog_free(&prog);
	return finish_output(ret);
}
