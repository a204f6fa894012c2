// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the client's protocol engine (client_proto.c) fed
 * what a server, or anyone spoofing its address, could send.
 *
 * The input is a script of records  op[1] len[1] bytes[len]  run against
 * a fresh client with two peers, fixed keys and a fixed clock:
 *   op & 3 == 0  raw datagram (bytes) on port (op>>2)&1
 *   op & 3 == 1  a server message sealed with the real session: type
 *                from (op>>2)%6, payload bytes copied over the message
 *                fields, txid that of request (op>>5) (see txid_for),
 *                on the main port; skipped when the codec refuses it
 *   op & 3 == 2  advance the clock by bytes[0] * 16 ms, start requests
 *                per the bits of bytes[1], then service the engine
 *   op & 3 == 3  a COOKIE for request (op>>5) on port (op>>2)&1
 * Every datagram the engine queues must open with the server's side of
 * the session as a request; every event must name one of our peers
 * where it names one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include <sodium.h>

#include "client.h"
#include "proto.h"
#include "script.h"

#define T0_NS	(1800000000ULL * 1000000000ULL)
#define T0_MS	100000ULL

static struct client_opts opts;
static uint8_t client_pub[WGP_KEY_LEN];
static struct wgp_session client_sess, server_sess;
static uint8_t peer_keys[2][WGP_KEY_LEN];

static const uint8_t server_types[] = {
	WGP_REGISTER_REPLY, WGP_LOOKUP_REPLY, WGP_NOTIFY, WGP_PROBE_REPLY,
	WGP_ERROR, WGP_RELAY_GRANT,
};

static void setup(void)
{
	static bool ready;
	uint8_t client_priv[WGP_KEY_LEN], server_priv[WGP_KEY_LEN];
	uint8_t server_pub[WGP_KEY_LEN];
	struct sockaddr_in *srv = (struct sockaddr_in *)&opts.servers[0].addr;

	if (ready)
		return;
	if (sodium_init() < 0)
		abort();
	memset(client_priv, 0x11, sizeof(client_priv));
	memset(server_priv, 0x22, sizeof(server_priv));
	if (crypto_scalarmult_base(client_pub, client_priv) ||
	    crypto_scalarmult_base(server_pub, server_priv))
		abort();
	if (wgp_session_client(&client_sess, client_priv, client_pub, server_pub) ||
	    wgp_session_server(&server_sess, server_priv, server_pub, client_pub))
		abort();
	/* Sorted, as client.c keeps its peers. */
	memset(peer_keys[0], 0x33, WGP_KEY_LEN);
	memset(peer_keys[1], 0x44, WGP_KEY_LEN);
	srv->sin_family = AF_INET;
	srv->sin_port = htons(WGP_PORT);
	srv->sin_addr.s_addr = htonl(0xc6120001);	/* 198.18.0.1 */
	opts.servers[0].probe_port = WGP_PROBE_PORT;
	opts.n_servers = 1;
	opts.ifname = "wgfuzz0";
	memcpy(opts.servers[0].key, server_pub, WGP_KEY_LEN);
	ready = true;
}

static bool is_peer(const struct client *c, const struct client_peer *p)
{
	return p >= c->peers && p < c->peers + c->num_peers;
}

/* client.c's part, minus the device and the sockets: check what the
 * engine says, and register again when it asks. */
static void on_event(struct client *c, const struct engine_event *ev)
{
	switch (ev->type) {
	case ENGINE_EV_ENDPOINT:
		if (!is_peer(c, ev->peer) || !ev->ep || !ev->cands)
			abort();
		break;
	case ENGINE_EV_RELAY_GRANT:
		if (!is_peer(c, ev->peer) || !ev->grant)
			abort();
		break;
	case ENGINE_EV_REGISTERED:
		if (!ev->reply)
			abort();
		break;
	case ENGINE_EV_NOT_REGISTERED:
		if (!ev->srv || ev->srv != &c->srv[0])
			abort();
		if (!c->srv[0].reg.active)
			engine_start_register(c, &c->srv[0]);
		break;
	case ENGINE_EV_ANSWERED:
	case ENGINE_EV_SILENT:
	case ENGINE_EV_NAT:
		break;
	}
}

static void client_setup(struct client *c, struct client_peer *peers)
{
	memset(c, 0, sizeof(*c));
	memset(peers, 0, 2 * sizeof(*peers));
	c->o = &opts;
	c->event = on_event;
	c->hops = -1;
	engine_init_servers(c);
	c->srv[0].sess = client_sess;
	memcpy(c->dev.public_key, client_pub, WGP_KEY_LEN);
	for (unsigned int i = 0; i < 2; i++) {
		memcpy(peers[i].key, peer_keys[i], WGP_KEY_LEN);
		peers[i].present = true;
	}
	c->peers = peers;
	c->num_peers = c->peers_cap = 2;
}

/* The txid of a request in flight (or not), a server stamp, or bytes. */
static void txid_for(const struct client *c, unsigned int which,
		     struct engine_clock t, uint8_t txid[WGP_TXID_LEN])
{
	const struct request *r[] = {
		&c->srv[0].reg, &c->srv[0].probe_main, &c->srv[0].probe,
		&c->peers[0].lookup[0], &c->peers[1].lookup[0], &c->peers[0].relay,
	};

	if (which < sizeof(r) / sizeof(r[0]))
		memcpy(txid, r[which]->txid, WGP_TXID_LEN);
	else if (which == 6)
		wgp_server_stamp(txid, t.ns);
	else
		memset(txid, 0xa5, WGP_TXID_LEN);
}

static void sealed(struct client *c, uint8_t op, const uint8_t *b, size_t len,
		   struct engine_clock t)
{
	uint8_t out[WGP_MAX_MSG_LEN];
	struct wgp_msg m = { .version = 2 };
	ssize_t n;

	m.type = server_types[(op >> 2) % sizeof(server_types)];
	txid_for(c, op >> 5, t, m.txid);
	memcpy(&m.u, b, len < sizeof(m.u) ? len : sizeof(m.u));
	n = wgp_seal(out, sizeof(out), &m, &server_sess);
	if (n > 0)
		engine_input(c, 0, ENGINE_PORT_MAIN, out, (size_t)n, t);
}

static void cookie(struct client *c, uint8_t op, const uint8_t *b, size_t len,
		   struct engine_clock t)
{
	uint8_t out[WGP_COOKIE_MSG_LEN], txid[WGP_TXID_LEN];
	uint8_t value[WGP_COOKIE_LEN] = { 0 };

	memcpy(value, b, len < sizeof(value) ? len : sizeof(value));
	txid_for(c, op >> 5, t, txid);
	wgp_cookie_msg(out, txid, value);
	engine_input(c, 0, (op >> 2) & 1 ? ENGINE_PORT_PROBE : ENGINE_PORT_MAIN,
		     out, sizeof(out), t);
}

static void start(struct client *c, uint8_t bits)
{
	if (bits & 1)
		engine_start_register(c, &c->srv[0]);
	if (bits & 2)
		client_start_probe(&c->srv[0]);
	if (bits & 4)
		client_start_lookup(c, &c->peers[bits >> 7]);
	if (bits & 8)
		client_start_relay(&c->srv[0], &c->peers[(bits >> 6) & 1]);
}

/* Service, and check that what is queued is ours to send. */
static void service(struct client *c, struct engine_clock t)
{
	struct wgp_msg m;

	engine_service(c, t);
	for (size_t i = 0; i < c->out.n; i++) {
		const struct engine_datagram *d = &c->out.d[i];

		if (d->len > sizeof(d->buf) ||
		    wgp_open(&m, d->buf, d->len, &server_sess) < 0 ||
		    !wgp_type_is_request(m.type) || m.type != d->type)
			abort();
	}
	c->out.n = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct client_peer peers[2];
	struct engine_clock t = { .ms = T0_MS, .ns = T0_NS };
	struct client c;
	uint8_t op;
	size_t len;

	setup();
	client_setup(&c, peers);
	engine_start_register(&c, &c.srv[0]);
	client_start_probe(&c.srv[0]);
	service(&c, t);
	while (script_next(&data, &size, &op, &len)) {
		switch (op & 3) {
		case 0:
			engine_input(&c, 0, (op >> 2) & 1 ? ENGINE_PORT_PROBE :
				     ENGINE_PORT_MAIN, data, len, t);
			break;
		case 1:
			sealed(&c, op, data, len, t);
			break;
		case 2:
			if (len >= 1) {
				t.ms += data[0] * 16ULL;
				t.ns += data[0] * 16000000ULL;
			}
			if (len >= 2)
				start(&c, data[1]);
			service(&c, t);
			break;
		case 3:
			cookie(&c, op, data, len, t);
			break;
		}
		data += len;
		size -= len;
	}
	service(&c, t);
	engine_out_free(&c.out);
	return 0;
}
