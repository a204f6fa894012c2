/* SPDX-License-Identifier: MIT */
/*
 * Test helper: the running kernel as the oracle for classic BPF.
 *
 * An AF_UNIX SOCK_DGRAM socketpair; the filter sits on the receiving end
 * (unix_dgram_sendmsg runs the receiver's filter). A filter's verdict v on
 * a datagram of len bytes shows up as: v == 0, dropped (silently, the
 * send still succeeds); otherwise received, trimmed to min(v, len)
 * (doc/kernel-rules.md, section C). Attaching replaces the filter atomically.
 */
#ifndef TESTS_COMMON_ORACLE_H
#define TESTS_COMMON_ORACLE_H

#include <stddef.h>
#include <stdint.h>
#include <linux/filter.h>

#define ORACLE_DROPPED (-1L)

struct oracle {
	int tx, rx;
};

/* 0, or -errno. */
int oracle_open(struct oracle *o);
void oracle_close(struct oracle *o);

/* setsockopt(SO_ATTACH_FILTER) on the receiving end: 0 or -errno. */
int oracle_attach(struct oracle *o, const struct sock_filter *insns,
		  size_t len);

/* Sends pkt and returns what arrived: its length (min(verdict, len)),
 * ORACLE_DROPPED, or another negative value (-errno) on a socket error. */
long oracle_run(struct oracle *o, const uint8_t *pkt, size_t len);

/* What oracle_run() returns for a verdict of the VM. */
long oracle_expect(uint32_t verdict, size_t len);

#endif
