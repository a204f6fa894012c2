/* SPDX-License-Identifier: MIT */
/*
 * e2e-forge — send one REGISTER to a wgpunchd and say what came back.
 *
 *   e2e-forge SERVER_IP PORT SERVER_PUB CLAIMED_PUB CONSENT_PUB [PRIVFILE [relay]]
 *
 * The REGISTER claims CLAIMED_PUB as its sender and lists CONSENT_PUB as
 * the one peer it agrees to meet. It is sealed with the session derived
 * from PRIVFILE's private key, or from a fresh random key when PRIVFILE is
 * not given: the forgery of someone else's public key by a host that does
 * not hold its private key. With the real key of CLAIMED_PUB the same
 * message is genuine, which is how the end-to-end test checks that a
 * rejection is due to the authentication and not to a malformed message.
 *
 * Prints one line and exits 0:
 *   accepted  a REGISTER_REPLY that opens under the session
 *   error N   an ERROR that opens under the session (code N)
 *   sealed N  an answer of N bytes that does not open under the session
 *   silent    nothing within a second
 * With "relay", a RELAY for CONSENT_PUB follows an accepted REGISTER (the
 * same session), and a second line says what came back: "relay N" for a
 * RELAY_GRANT of status N, or "error N", "sealed N", "silent" as above.
 * Exits 1 on a usage or system error.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "key.h"
#include "proto.h"

static int parse_key(uint8_t key[static WGP_KEY_LEN], const char *b64,
		     const char *what)
{
	if (wgp_key_from_base64(key, b64) < 0) {
		fprintf(stderr, "e2e-forge: bad %s key: %s\n", what, b64);
		return -1;
	}
	return 0;
}

static int build_register(uint8_t *pkt, size_t cap, struct wgp_session *s,
			  const uint8_t priv[static WGP_KEY_LEN],
			  const uint8_t claimed[static WGP_KEY_LEN],
			  const uint8_t consent[static WGP_KEY_LEN],
			  const uint8_t server[static WGP_KEY_LEN])
{
	struct wgp_msg m;
	ssize_t len;

	/* The session pairs OUR private key with the key we claim: only a
	 * sender that holds the claimed key's private half derives the
	 * session the server will use. */
	if (wgp_session_client(s, priv, claimed, server) < 0)
		return -EINVAL;
	memset(&m, 0, sizeof(m));
	m.type = WGP_REGISTER;
	wgp_txid_new(m.txid);
	memcpy(m.key, claimed, WGP_KEY_LEN);
	m.u.reg.counter = wgp_now_ns();
	m.u.reg.n_consent = 1;
	wgp_consent_digest(m.u.reg.consent[0], consent);
	len = wgp_seal(pkt, cap, &m, s);
	return (int)len;
}

static int build_relay(uint8_t *pkt, size_t cap, const struct wgp_session *s,
		       const uint8_t claimed[static WGP_KEY_LEN],
		       const uint8_t target[static WGP_KEY_LEN])
{
	struct wgp_msg m;

	memset(&m, 0, sizeof(m));
	m.type = WGP_RELAY;
	m.version = 2;
	wgp_txid_new(m.txid);
	memcpy(m.key, claimed, WGP_KEY_LEN);
	m.u.relay.counter = wgp_now_ns();
	memcpy(m.u.relay.target, target, WGP_KEY_LEN);
	return (int)wgp_seal(pkt, cap, &m, s);
}

/* Prints what came back; true for an accepted REGISTER. */
static bool report(const uint8_t *pkt, ssize_t len,
		   const struct wgp_session *s)
{
	struct wgp_msg m;

	if (wgp_open(&m, pkt, (size_t)len, s) < 0) {
		printf("sealed %zd\n", len);
		return false;
	}
	if (m.type == WGP_REGISTER_REPLY)
		printf("accepted\n");
	else if (m.type == WGP_RELAY_GRANT)
		printf("relay %u\n", m.u.relay_grant.status);
	else if (m.type == WGP_ERROR)
		printf("error %u\n", m.u.error.code);
	else
		printf("other %s\n", wgp_type_name(m.type));
	return m.type == WGP_REGISTER_REPLY;
}

/* Send pkt[0..len) and report the answer; true for an accepted REGISTER. */
static bool exchange(int fd, const struct sockaddr_in *to, uint8_t *pkt,
		     size_t cap, int len, const struct wgp_session *s)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;

	if (sendto(fd, pkt, (size_t)len, 0, (const struct sockaddr *)to,
		   sizeof(*to)) != len) {
		perror("e2e-forge: send");
		exit(1);
	}
	if (poll(&pfd, 1, 1000) <= 0) {
		printf("silent\n");
		return false;
	}
	n = recv(fd, pkt, cap, 0);
	if (n < 0) {
		/* An ICMP error (nobody listening) is not an answer. */
		printf("silent\n");
		return false;
	}
	return report(pkt, n, s);
}

int main(int argc, char *argv[])
{
	uint8_t server[WGP_KEY_LEN], claimed[WGP_KEY_LEN], consent[WGP_KEY_LEN];
	uint8_t priv[WGP_KEY_LEN], pkt[WGP_MAX_MSG_LEN + 64];
	struct sockaddr_in sin = { .sin_family = AF_INET };
	bool relay = argc == 8 && !strcmp(argv[7], "relay");
	struct wgp_session s;
	int fd, len, port;

	if ((argc < 6 || argc > 8) || (argc == 8 && !relay)) {
		fprintf(stderr, "usage: e2e-forge SERVER_IP PORT SERVER_PUB "
			"CLAIMED_PUB CONSENT_PUB [PRIVFILE [relay]]\n");
		return 1;
	}
	port = atoi(argv[2]);
	if (inet_pton(AF_INET, argv[1], &sin.sin_addr) != 1 ||
	    port <= 0 || port > 65535) {
		fprintf(stderr, "e2e-forge: bad server %s:%s\n", argv[1], argv[2]);
		return 1;
	}
	sin.sin_port = htons((uint16_t)port);
	if (parse_key(server, argv[3], "server") ||
	    parse_key(claimed, argv[4], "claimed") ||
	    parse_key(consent, argv[5], "consent"))
		return 1;
	if (argc >= 7) {
		if (wgp_key_read_file(priv, argv[6]) < 0) {
			fprintf(stderr, "e2e-forge: cannot read %s\n", argv[6]);
			return 1;
		}
	} else {
		wgp_key_generate(priv);
	}

	len = build_register(pkt, sizeof(pkt), &s, priv, claimed, consent,
			     server);
	if (len < 0) {
		fprintf(stderr, "e2e-forge: cannot build: %s\n", strerror(-len));
		return 1;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("e2e-forge: socket");
		return 1;
	}
	if (exchange(fd, &sin, pkt, sizeof(pkt), len, &s) && relay) {
		len = build_relay(pkt, sizeof(pkt), &s, claimed, consent);
		if (len < 0) {
			fprintf(stderr, "e2e-forge: cannot build RELAY\n");
			return 1;
		}
		exchange(fd, &sin, pkt, sizeof(pkt), len, &s);
	}
	close(fd);
	return 0;
}
