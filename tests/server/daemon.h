/* SPDX-License-Identifier: MIT */
/*
 * The real wgpunchd ($WGPUNCHD) run by a test: started on ephemeral
 * ports of "::" with a key file of its own, its stderr read until the
 * lines a test waits for, stopped with SIGTERM (which must end it
 * cleanly) or killed.
 */
#ifndef WGPUNCH_TEST_DAEMON_H
#define WGPUNCH_TEST_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

struct daemon {
	pid_t pid;
	int log;		/* its stderr */
	char text[8192];	/* the log read so far */
	uint16_t udp_port;
	uint16_t http_port;	/* 0: no --metrics */
};

/* A new private key written to a file made from the mkstemp template
 * path (which then names it); its public key in pub. 0 or -1. */
int daemon_key_file(char *path, uint8_t pub[WGP_KEY_LEN]);

/*
 * Start wgpunchd with key_path, ports 0, "--rate 0 --capacity 100" and
 * then the extra arguments (NULL-terminated; later ones win), and wait
 * for its "listening on" line; with metrics, for the listener's line
 * too. 0, or -1 with its log printed and the process killed. (key_path
 * comes last before the extras: va_start needs an unpromoted type.)
 */
int daemon_start(struct daemon *d, bool metrics, const char *key_path, ...);

/* Read its log until it holds what and a newline after it: where what
 * starts, or NULL after 5 s or at its end. */
const char *daemon_log_wait(struct daemon *d, const char *what);

/* SIGTERM; 0 if it exited with status 0 within 5 s (else it is
 * killed, and -1). */
int daemon_stop(struct daemon *d);
void daemon_kill(struct daemon *d);

#endif
