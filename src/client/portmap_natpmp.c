// SPDX-License-Identifier: MIT
/*
 * Port mapping by NAT-PMP (RFC 6886) through libnatpmp: the external
 * address, then the mapping. libnatpmp resends on its own schedule
 * (250 ms, doubling); we wait on its socket with our deadline, so a
 * silent gateway costs seconds, not its full minute of retries.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <natpmp.h>
#include <sys/socket.h>

#include "portmap_int.h"

struct natpmp_error {
	int code;		/* NATPMP_ERR_* */
	int err;		/* what we return */
	const char *text;
};

static const struct natpmp_error natpmp_errors[] = {
	{ NATPMP_ERR_NOGATEWAYSUPPORT, -ECONNREFUSED,
	  "refused or no answer" },
	{ NATPMP_ERR_UNSUPPORTEDVERSION, -EPROTONOSUPPORT,
	  "answered UNSUPPORTED_VERSION" },
	{ NATPMP_ERR_UNSUPPORTEDOPCODE, -EPROTONOSUPPORT,
	  "answered UNSUPPORTED_OPCODE" },
	{ NATPMP_ERR_NOTAUTHORIZED, -EREMOTEIO,
	  "answered NOT_AUTHORIZED" },
	{ NATPMP_ERR_NETWORKFAILURE, -EREMOTEIO,
	  "answered NETWORK_FAILURE" },
	{ NATPMP_ERR_OUTOFRESOURCES, -EREMOTEIO,
	  "answered OUT_OF_RESOURCES" },
	{ NATPMP_ERR_UNDEFINEDERROR, -EREMOTEIO,
	  "answered an unknown error" },
};

static int natpmp_fail(int code, const char *what, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(natpmp_errors) / sizeof(natpmp_errors[0]); i++) {
		if (natpmp_errors[i].code == code) {
			snprintf(err, errlen, "nat-pmp: %s: %s", what, natpmp_errors[i].text);
			return natpmp_errors[i].err;
		}
	}
	snprintf(err, errlen, "nat-pmp: %s: libnatpmp error %d", what, code);
	return -EIO;
}

static uint64_t timeval_ms(const struct timeval *tv)
{
	if (tv->tv_sec < 0)
		return 0;
	return (uint64_t)tv->tv_sec * 1000 + (uint64_t)tv->tv_usec / 1000;
}

/* Reads the answer to the pending request, letting libnatpmp resend. */
static int await_answer(natpmp_t *n, const struct portmap_req *rq, natpmpresp_t *resp,
			const char *what, char *err, size_t errlen)
{
	char addr[INET_ADDRSTRLEN];

	for (;;) {
		struct timeval tv;
		uint64_t until;
		int ret;

		ret = readnatpmpresponseorretry(n, resp);
		if (ret == 0)
			return 0;
		if (ret != NATPMP_TRYAGAIN && ret != NATPMP_ERR_WRONGPACKETSOURCE)
			return natpmp_fail(ret, what, err, errlen);
		until = rq->deadline_ms;
		/* +1: its timer, rounded down to ms, must have passed. */
		if (getnatpmprequesttimeout(n, &tv) == 0 &&
		    portmap_now_ms() + timeval_ms(&tv) + 1 < until)
			until = portmap_now_ms() + timeval_ms(&tv) + 1;
		ret = portmap_wait(n->s, rq->cancel_fd, until);
		if (ret == -ECANCELED) {
			snprintf(err, errlen, "nat-pmp: cancelled");
			return ret;
		}
		if (ret < 0) {
			snprintf(err, errlen, "nat-pmp: poll: %s", strerror(-ret));
			return ret;
		}
		if (ret == 0 && portmap_now_ms() >= rq->deadline_ms) {
			snprintf(err, errlen, "nat-pmp: %s: no answer from %s", what,
				 portmap_addr_str(rq->gateway, addr));
			return -ETIMEDOUT;
		}
	}
}

static int public_address(natpmp_t *n, const struct portmap_req *rq,
			  struct in_addr *ext, char *err, size_t errlen)
{
	natpmpresp_t resp;
	int ret;

	if (sendpublicaddressrequest(n) < 0 && errno != ECONNREFUSED)
		return natpmp_fail(NATPMP_ERR_SENDERR, "address", err, errlen);
	ret = await_answer(n, rq, &resp, "address", err, errlen);
	if (ret)
		return ret;
	if (resp.type != NATPMP_RESPTYPE_PUBLICADDRESS) {
		snprintf(err, errlen, "nat-pmp: external address: answer of type %u",
			 resp.type);
		return -EBADMSG;
	}
	*ext = resp.pnu.publicaddress.addr;
	return 0;
}

/* The mapping itself; lifetime 0 deletes it (public port 0, RFC 6886 3.4). */
static int port_mapping(natpmp_t *n, const struct portmap_req *rq, uint16_t suggested,
			natpmpresp_t *resp, char *err, size_t errlen)
{
	const char *what = rq->lifetime_s ? "mapping" : "deletion";
	int ret;

	if (sendnewportmappingrequest(n, NATPMP_PROTOCOL_UDP, rq->internal_port,
				      rq->lifetime_s ? suggested : 0,
				      rq->lifetime_s) < 0 && errno != ECONNREFUSED)
		return natpmp_fail(NATPMP_ERR_SENDERR, what, err, errlen);
	ret = await_answer(n, rq, resp, what, err, errlen);
	if (ret)
		return ret;
	if (resp->type != NATPMP_RESPTYPE_UDPPORTMAPPING ||
	    resp->pnu.newportmapping.privateport != rq->internal_port) {
		snprintf(err, errlen, "nat-pmp: %s: answer for another mapping", what);
		return -EBADMSG;
	}
	if (rq->lifetime_s && !resp->pnu.newportmapping.mappedpublicport) {
		snprintf(err, errlen, "nat-pmp: mapping: external port 0");
		return -EBADMSG;
	}
	return 0;
}

static int map_or_delete(natpmp_t *n, const struct portmap_req *rq,
			 struct portmap_lease *lease, char *err, size_t errlen)
{
	uint16_t suggested = rq->internal_port;
	struct in_addr ext = { 0 };
	natpmpresp_t resp;
	int ret;

	if (lease->proto == PORTMAP_NATPMP)
		suggested = ntohs(lease->external.sin_port);
	if (rq->lifetime_s) {
		ret = public_address(n, rq, &ext, err, errlen);
		if (ret)
			return ret;
	}
	ret = port_mapping(n, rq, suggested, &resp, err, errlen);
	if (ret || !rq->lifetime_s)
		return ret;

	memset(lease, 0, sizeof(*lease));
	lease->proto = PORTMAP_NATPMP;
	lease->external.sin_family = AF_INET;
	lease->external.sin_addr = ext;
	lease->external.sin_port = htons(resp.pnu.newportmapping.mappedpublicport);
	lease->lifetime_s = resp.pnu.newportmapping.lifetime;
	lease->epoch = resp.epoch;
	lease->has_epoch = true;
	return 0;
}

int portmap_natpmp_request(const struct portmap_req *rq, struct portmap_lease *lease,
			   char *err, size_t errlen)
{
	natpmp_t n;
	int ret;

	ret = initnatpmp(&n, 1, rq->gateway.s_addr);
	if (ret < 0)
		return natpmp_fail(ret, "socket", err, errlen);
	/* After connect() is fine: a new mark drops the cached route. */
	if (rq->fwmark && setsockopt(n.s, SOL_SOCKET, SO_MARK, &rq->fwmark,
				     sizeof(rq->fwmark))) {
		ret = -errno;
		snprintf(err, errlen, "nat-pmp: SO_MARK: %s", strerror(errno));
		closenatpmp(&n);
		return ret;
	}
	ret = map_or_delete(&n, rq, lease, err, errlen);
	closenatpmp(&n);
	return ret;
}
