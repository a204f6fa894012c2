/* SPDX-License-Identifier: MIT */
/*
 * Test helpers for the root suites: a private network and mount
 * namespace for the test process itself, addresses on its loopback,
 * and wireguard-go instances whose UAPI sockets live on a private tmpfs
 * (the socket path is not per network namespace). Everything created
 * dies with the test process: the namespaces are its own, and every
 * wireguard-go gets PR_SET_PDEATHSIG.
 */
#ifndef WGPUNCH_TEST_WGLAB_H
#define WGPUNCH_TEST_WGLAB_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Enter fresh namespaces (net, and mount with a tmpfs on
 * /run/wireguard), bring lo up. NULL on success, else why not (for
 * skip()): not root, no wireguard-go, ... */
const char *lab_enter(void);

/* Only a fresh network namespace with lo up. */
const char *lab_enter_net(void);

/* Run a shell command line (test code only); its exit status. */
int lab_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Run a command and capture its stdout into buf (NUL-terminated). */
int lab_capture(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Start "wireguard-go -f name"; waits until its UAPI socket answers. */
pid_t lab_wggo_start(const char *name);
void lab_wggo_stop(pid_t pid);

/* Send a raw UAPI request (e.g. "set=1\n...\n\n"); the errno= value it
 * answers, or a negative errno for a local failure. */
int lab_uapi(const char *name, const char *request);

/* Fill a fresh private key (hex) and its public key (hex and base64). */
void lab_keypair(char priv_hex[65], char pub_hex[65], char pub_b64[45]);

/* A peer's endpoint and persistent keepalive as "wg show IFACE dump"
 * prints them ("(none)", "off" when unset). 0, or -1 if not listed. */
int lab_wg_peer(const char *iface, const char *b64, char endpoint[80],
		char keepalive[16]);

#endif
