// SPDX-License-Identifier: MIT
/* Where run and trace take packets from: hex lines or a capture file. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hex.h"
#include "packets.h"
#include "subcommands.h"
#include "util.h"

/* A packet of PACKET_MAX bytes written "xx " per byte, plus slack. */
#define LINE_MAX_CHARS (3 * PACKET_MAX + 64)

int packets_open_hex(struct packet_source *src, FILE *f, const char *name)
{
	*src = (struct packet_source){ .name = name, .hex = f };
	src->line = malloc(LINE_MAX_CHARS);
	src->buf = malloc(PACKET_MAX);
	if (!src->line || !src->buf) {
		errorf("%s", strerror(ENOMEM));
		packets_close(src);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

bool is_stdin_path(const char *path)
{
	return path && !strcmp(path, "-");
}

/* fopen(path), or stdin for "-", refusing what is not a file's data. */
static FILE *open_capture(const char *path, const char *name)
{
	FILE *f = is_stdin_path(path) ? stdin : fopen(path, "rb");
	struct stat st;

	if (!f) {
		errorf("%s: %s", name, strerror(errno));
		return NULL;
	}
	/* glibc opens a directory for reading; libpcap would then call
	 * it a damaged capture (exit 1) when it is the wrong argument. */
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		errorf("%s: %s", name, strerror(EISDIR));
		if (f != stdin)
			fclose(f);
		return NULL;
	}
	return f;
}

int packets_open_pcap(struct packet_source *src, const char *path)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	const char *name = is_stdin_path(path) ? "<stdin>" : path;
	FILE *f;

	*src = (struct packet_source){ .name = name };
	/* Open first: a missing file is an I/O error (exit 2), a file
	 * libpcap cannot read is bad content (exit 1). */
	f = open_capture(path, name);
	if (!f)
		return EXIT_USAGE;
	src->pcap = pcap_fopen_offline(f, errbuf);
	if (!src->pcap) {
		if (f != stdin)
			fclose(f);
		errorf("%s: %s", name, errbuf);
		return EXIT_REJECTED;
	}
	return EXIT_OK;
}

/* One line without its newline into src->line; 0 at the end of input. */
static int read_line(struct packet_source *src, size_t *len)
{
	size_t n = 0;
	int c;

	while ((c = getc(src->hex)) != EOF && c != '\n') {
		if (n == LINE_MAX_CHARS) {
			errorf("%s: line %lu: longer than %u characters",
			       src->name, src->number + 1, LINE_MAX_CHARS);
			return -EXIT_REJECTED;
		}
		src->line[n++] = (char)c;
	}
	if (ferror(src->hex)) {
		errorf("%s: %s", src->name, strerror(errno ? errno : EIO));
		return -EXIT_USAGE;
	}
	if (c == EOF && n == 0)
		return 0;
	*len = n;
	return 1;
}

static int next_hex(struct packet_source *src, const uint8_t **pkt, size_t *len)
{
	size_t linelen, col;
	const char *why;
	int ret;

	ret = read_line(src, &linelen);
	if (ret <= 0)
		return ret;
	src->number++;
	why = hex_decode(src->line, linelen, src->buf, PACKET_MAX, len, &col);
	if (why) {
		errorf("%s:%lu:%zu: %s", src->name, src->number, col, why);
		return -EXIT_REJECTED;
	}
	*pkt = src->buf;
	return 1;
}

static int next_pcap(struct packet_source *src, const uint8_t **pkt, size_t *len)
{
	struct pcap_pkthdr *hdr;
	const u_char *data;
	int ret;

	ret = pcap_next_ex(src->pcap, &hdr, &data);
	if (ret == PCAP_ERROR_BREAK)
		return 0;
	if (ret != 1) {
		errorf("%s: packet %lu: %s", src->name, src->number + 1,
		       pcap_geterr(src->pcap));
		return -EXIT_REJECTED;
	}
	src->number++;
	*pkt = data;
	*len = hdr->caplen;
	return 1;
}

int packets_next(struct packet_source *src, const uint8_t **pkt, size_t *len)
{
	return src->pcap ? next_pcap(src, pkt, len) : next_hex(src, pkt, len);
}

void packets_close(struct packet_source *src)
{
	if (src->pcap)
		pcap_close(src->pcap);
	free(src->line);
	free(src->buf);
	*src = (struct packet_source){ 0 };
}
