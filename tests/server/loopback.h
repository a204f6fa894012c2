/* SPDX-License-Identifier: MIT */
/*
 * Datagrams to and from a real wgpunchd on loopback, for the tests that
 * run the daemon (test_wgpunchd, test_workers). Every failure is the
 * test's (cmocka asserts).
 */
#ifndef WGPUNCH_TEST_LOOPBACK_H
#define WGPUNCH_TEST_LOOPBACK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"
#include "testclient.h"

/* A UDP socket bound to 127.0.0.1 or ::1 (family) on a free port, which
 * is written to ep (if not NULL). */
int loopback_udp(int family, struct wgp_endpoint *ep);

/* Sends buf[0..len) from fd to port on the loopback address of family. */
void loopback_send(int fd, int family, uint16_t port, const void *buf,
		   size_t len);

/* One datagram within timeout_ms: its length, or -1. */
ssize_t loopback_receive(int fd, void *buf, size_t cap, int timeout_ms);

/* One datagram within 3 s that opens as client c's message of type. */
void loopback_receive_msg(int fd, struct tclient *c, uint8_t type,
			  struct wgp_msg *m);

#endif
