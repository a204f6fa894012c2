/* SPDX-License-Identifier: MIT */
/*
 * wgpunch — is a message the server sent unasked fresh? A NOTIFY or an
 * unsolicited RELAY_GRANT carries the server's clock in its txid
 * (wgp_server_stamp); anyone who captured one could otherwise replay it
 * later from the server's address and roll a peer's endpoint back.
 */
#ifndef WGPUNCH_FRESH_H
#define WGPUNCH_FRESH_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Take a server stamp: true, and *last moved to stamp, when stamp is
 * within WGP_COUNTER_WINDOW_NS of now_ns (our clock corrected by the
 * server's offset) and strictly above *last, the latest stamp taken.
 * Otherwise false and *last unchanged: a replay, or a message reordered
 * behind a newer one (what it said is stale, or comes again with the
 * next refresh).
 */
bool fresh_take_stamp(uint64_t *last, uint64_t stamp, uint64_t now_ns);

#endif
