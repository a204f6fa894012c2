/* SPDX-License-Identifier: MIT */
/*
 * The README's libcbpf example: a raw UDP socket that the kernel only
 * hands datagrams for destination port 8080. Needs CAP_NET_RAW.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>
#include <cbpf.h>

int main(void)
{
	struct cbpf_builder *b = cbpf_builder_new();
	struct cbpf_prog prog;
	struct cbpf_error err;
	int fd, ret;

	if (!b)
		return 1;
	/* An AF_INET raw socket's filter sees the IPv4 header first. */
	cbpf_ld_abs(b, CBPF_SIZE_H, 6);		/* flags + fragment offset */
	cbpf_jmp_k(b, CBPF_COND_SET, 0x3fff, "drop", NULL); /* fragments */
	cbpf_ldx_msh(b, 0);				/* X = IP header length */
	cbpf_ld_ind(b, CBPF_SIZE_H, 2);			/* UDP destination port */
	cbpf_jmp_k(b, CBPF_COND_NE, 8080, "drop", NULL);
	cbpf_ret_k(b, 0xffffffff);			/* the whole datagram */
	cbpf_label(b, "drop");
	cbpf_ret_k(b, 0);
	ret = cbpf_builder_finish(b, &prog, &err);
	cbpf_builder_free(b);
	if (ret < 0 || (ret = cbpf_validate(&prog, &err)) < 0) {
		fprintf(stderr, "filter: %s\n", err.msg);
		return 1;
	}

	fd = socket(AF_INET, SOCK_RAW, IPPROTO_UDP);
	if (fd < 0) {
		perror("socket");
		return 1;
	}
	/* Drop-all first, drain what slipped in before it, then the filter. */
	ret = cbpf_attach(fd, &prog, CBPF_ATTACH_DRAIN);
	if (ret < 0) {
		fprintf(stderr, "attach: %s\n", strerror(-ret));
		return 1;
	}
	cbpf_prog_free(&prog);
	/* From here on, recv(fd, ...) only ever returns UDP to port 8080. */
	close(fd);
	return 0;
}
