/* SPDX-License-Identifier: MIT */
/* Where run and trace take packets from: hex lines or a capture file. */
#ifndef PACKETS_H
#define PACKETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <pcap/pcap.h>

/* Largest packet: libpcap's largest snapshot length. */
#define PACKET_MAX 262144U

struct packet_source {
	const char *name;	/* for messages */
	FILE *hex;		/* one packet per line, or NULL */
	pcap_t *pcap;		/* or a capture file */
	unsigned long number;	/* packets read so far (= lines for hex) */
	char *line;
	uint8_t *buf;
};

/* Hex lines from f (not closed by packets_close()). */
int packets_open_hex(struct packet_source *src, FILE *f, const char *name);

/* Whether a file operand means standard input: "-". */
bool is_stdin_path(const char *path);

/* A pcap or pcapng file; "-" is standard input. */
int packets_open_pcap(struct packet_source *src, const char *path);

/*
 * The next packet in *pkt and *len, valid until the next call. Returns 1
 * with a packet, 0 at the end, or an exit status (> 1 is impossible for
 * a packet, so: -EXIT_REJECTED or -EXIT_USAGE) after printing why.
 */
int packets_next(struct packet_source *src, const uint8_t **pkt, size_t *len);

void packets_close(struct packet_source *src);

#endif
