// SPDX-License-Identifier: MIT
/*
 * Port mapping by PCP (RFC 6887): one MAP request to the gateway's port
 * 5351, resent on the RFC's doubling schedule (from a shorter first
 * timeout) until an answer or the deadline. pcp.c does the bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include "pcp.h"
#include "portmap_int.h"

static const uint8_t v4mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

static void put_v4mapped(uint8_t out[16], struct in_addr addr)
{
	memcpy(out, v4mapped_prefix, sizeof(v4mapped_prefix));
	memcpy(out + 12, &addr.s_addr, 4);
}

static int get_v4mapped(const uint8_t in[16], struct in_addr *addr)
{
	if (memcmp(in, v4mapped_prefix, sizeof(v4mapped_prefix)))
		return -EAFNOSUPPORT;
	memcpy(&addr->s_addr, in + 12, 4);
	return 0;
}

static uint32_t random32(void)
{
	uint32_t r = 0;

	/* Only the retransmit jitter: a failure leaves it at RAND = -0.1. */
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = 0;
	return r;
}

/*
 * A fresh nonce for a new mapping; a renewal or a deletion reuses the
 * lease's, and suggests the external address it has (section 11.2.1).
 */
static int build_request(struct pcp_map_request *mreq, const struct portmap_req *rq,
			 const struct portmap_lease *lease, struct in_addr local)
{
	memset(mreq, 0, sizeof(*mreq));
	if (lease->proto == PORTMAP_PCP) {
		memcpy(mreq->nonce, lease->nonce, sizeof(mreq->nonce));
		mreq->suggested_port = ntohs(lease->external.sin_port);
		put_v4mapped(mreq->suggested_ip, lease->external.sin_addr);
	} else {
		if (getrandom(mreq->nonce, sizeof(mreq->nonce), 0) != sizeof(mreq->nonce))
			return -EIO;
		mreq->suggested_port = rq->internal_port;
	}
	put_v4mapped(mreq->client_ip, local);
	mreq->internal_port = rq->internal_port;
	mreq->lifetime = rq->lifetime_s;
	return 0;
}

/*
 * Reads what is queued on the socket. 1 when an answer to mreq was
 * taken (0 or a result in *ret), 0 to keep waiting.
 */
static int take_answer(int fd, const struct pcp_map_request *mreq,
		       struct pcp_map_response *rs, int *ret, char *err, size_t errlen)
{
	uint8_t buf[PCP_MAX_LEN + 4];
	ssize_t n;
	int p;

	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0) {
			*ret = -errno;
			snprintf(err, errlen, "pcp: %s", *ret == -ECONNREFUSED ?
				 "refused (port 5351 closed)" :
				 strerror(errno));
			return 1;
		}
		p = pcp_map_parse(rs, buf, (size_t)n, mreq);
		if (p == 0) {
			*ret = 0;
			return 1;
		}
		if (p > 0) {
			*ret = -EREMOTEIO;
			snprintf(err, errlen, "pcp: the gateway answered %s",
				 pcp_result_name((uint8_t)p));
			return 1;
		}
		if (p == -EPROTONOSUPPORT || p == -EPROTO) {
			*ret = -EPROTONOSUPPORT;
			snprintf(err, errlen, "pcp: the gateway speaks %s",
				 p == -EPROTONOSUPPORT ? "NAT-PMP only" :
				 "another PCP version");
			return 1;
		}
		/* Not an answer to this request, or malformed: ignore it. */
	}
}

/* Sends and resends until an answer, the deadline or a cancel. */
static int exchange(int fd, const struct portmap_req *rq, const uint8_t *pkt,
		    size_t len, const struct pcp_map_request *mreq,
		    struct pcp_map_response *rs, char *err, size_t errlen)
{
	char addr[INET_ADDRSTRLEN];

	for (unsigned int attempt = 0;; attempt++) {
		uint64_t next;
		int ret;

		if (send(fd, pkt, len, 0) < 0 && errno != ECONNREFUSED) {
			ret = -errno;
			snprintf(err, errlen, "pcp: send: %s", strerror(errno));
			return ret;
		}
		next = portmap_now_ms() + portmap_pcp_retransmit_ms(attempt, random32());
		if (next > rq->deadline_ms)
			next = rq->deadline_ms;
		while ((ret = portmap_wait(fd, rq->cancel_fd, next)) > 0) {
			if (take_answer(fd, mreq, rs, &ret, err, errlen))
				return ret;
		}
		if (ret == -ECANCELED) {
			snprintf(err, errlen, "pcp: cancelled");
			return ret;
		}
		if (ret < 0) {
			snprintf(err, errlen, "pcp: poll: %s", strerror(-ret));
			return ret;
		}
		if (portmap_now_ms() >= rq->deadline_ms) {
			snprintf(err, errlen, "pcp: no answer from %s",
				 portmap_addr_str(rq->gateway, addr));
			return -ETIMEDOUT;
		}
	}
}

static int store_mapping(struct portmap_lease *lease, const struct pcp_map_request *mreq,
			 const struct pcp_map_response *rs, char *err, size_t errlen)
{
	struct in_addr ext;

	if (get_v4mapped(rs->external_ip, &ext)) {
		snprintf(err, errlen, "pcp: the gateway mapped to an IPv6 address");
		return -EAFNOSUPPORT;
	}
	memset(lease, 0, sizeof(*lease));
	lease->proto = PORTMAP_PCP;
	lease->external.sin_family = AF_INET;
	lease->external.sin_addr = ext;
	lease->external.sin_port = htons(rs->external_port);
	lease->lifetime_s = rs->lifetime;
	lease->epoch = rs->epoch;
	lease->has_epoch = true;
	memcpy(lease->nonce, mreq->nonce, sizeof(lease->nonce));
	return 0;
}

int portmap_pcp_request(const struct portmap_req *rq, struct portmap_lease *lease,
			char *err, size_t errlen)
{
	uint8_t pkt[PCP_MAP_REQUEST_LEN];
	struct pcp_map_request mreq;
	struct pcp_map_response rs;
	char addr[INET_ADDRSTRLEN];
	struct in_addr local;
	int fd, ret;

	fd = portmap_udp_socket(rq->gateway, PCP_PORT, rq->fwmark, &local);
	if (fd < 0) {
		snprintf(err, errlen, "pcp: socket toward %s: %s",
			 portmap_addr_str(rq->gateway, addr), strerror(-fd));
		return fd;
	}
	ret = build_request(&mreq, rq, lease, local);
	if (ret == 0)
		ret = pcp_map_encode(pkt, &mreq);
	if (ret < 0) {
		snprintf(err, errlen, "pcp: request: %s", strerror(-ret));
		goto out;
	}
	ret = exchange(fd, rq, pkt, sizeof(pkt), &mreq, &rs, err, errlen);
	if (ret == 0 && rq->lifetime_s)
		ret = store_mapping(lease, &mreq, &rs, err, errlen);
out:
	close(fd);
	return ret;
}
