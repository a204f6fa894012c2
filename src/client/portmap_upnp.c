// SPDX-License-Identifier: MIT
/*
 * Port mapping by UPnP IGD through libminiupnpc: SSDP discovery (about
 * 2 s), the IGD's external address, then AddPortMapping for our LAN
 * address. A renewal is the same request again: an IGD that restarted
 * (miniupnpd picks a new HTTP port) is found again by the discovery.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>
#include <miniupnpc/upnperrors.h>
#include <arpa/inet.h>

#include "portmap_int.h"

#define SSDP_PORT 1900
#define SSDP_TTL 2
#define UPNP_CONFLICT 718		/* ConflictInMappingEntry */
#define UPNP_ONLY_PERMANENT 725		/* OnlyPermanentLeasesSupported */
#define UPNP_DESCRIPTION "wgpunch"

struct igd {
	struct UPNPUrls urls;
	struct IGDdatas data;
	char lan[INET_ADDRSTRLEN];	/* our address, as seen toward the IGD */
};

static const char *upnp_error(int code)
{
	const char *s = strupnperror(code);

	return s ? s : "unknown error";
}

/*
 * SSDP's multicast leaves from the interface toward the gateway, not by
 * whatever route 239.255.255.250 takes (a full tunnel would take it).
 */
static void multicast_if(const struct portmap_req *rq, char *buf)
{
	struct in_addr local;
	int fd;

	buf[0] = '\0';
	fd = portmap_udp_socket(rq->gateway, SSDP_PORT, rq->fwmark, &local);
	if (fd < 0)
		return;
	close(fd);
	portmap_addr_str(local, buf);
}

/*
 * miniupnpc waits the whole delay for each type it searches until one
 * answers; its default list has four types (8 s of silence with our
 * delay). Gateways answer for their device type, and the root device
 * catches those that only answer that: two halves of the budget.
 */
static const char *const search_types[] = {
	"urn:schemas-upnp-org:device:InternetGatewayDevice:1",
	"upnp:rootdevice",
	NULL,
};

static int discover(const struct portmap_req *rq, struct igd *igd, char *err, size_t errlen)
{
	const int delay = PORTMAP_UPNP_DISCOVER_MS / 2;
	char mif[INET_ADDRSTRLEN];
	struct UPNPDev *devs;
	int error = 0, ret;

	multicast_if(rq, mif);
	devs = upnpDiscoverDevices(search_types, delay, mif[0] ? mif : NULL, NULL,
				   UPNP_LOCAL_PORT_ANY, 0, SSDP_TTL, &error, 0);
	if (!devs) {
		snprintf(err, errlen, "upnp: %s", error == UPNPDISCOVER_SUCCESS ?
			 "no IGD answered SSDP" : "SSDP socket error");
		return error == UPNPDISCOVER_SUCCESS ? -ETIMEDOUT : -EIO;
	}
	memset(igd, 0, sizeof(*igd));
	ret = UPNP_GetValidIGD(devs, &igd->urls, &igd->data, igd->lan, sizeof(igd->lan));
	freeUPNPDevlist(devs);
	if (ret == 1)
		return 0;
	FreeUPNPUrls(&igd->urls);
	snprintf(err, errlen, "upnp: %s", ret == 2 ?
		 "the IGD is not connected" : "no IGD among the UPnP devices");
	return -EREMOTEIO;
}

static int external_address(struct igd *igd, struct in_addr *ext, char *err, size_t errlen)
{
	char text[40] = "";
	int ret;

	ret = UPNP_GetExternalIPAddress(igd->urls.controlURL,
					igd->data.first.servicetype, text);
	if (ret != UPNPCOMMAND_SUCCESS) {
		snprintf(err, errlen, "upnp: GetExternalIPAddress: %s", upnp_error(ret));
		return -EREMOTEIO;
	}
	if (inet_pton(AF_INET, text, ext) != 1 || !ext->s_addr) {
		snprintf(err, errlen, "upnp: the IGD has no external address");
		return -EREMOTEIO;
	}
	return 0;
}

/*
 * AddPortMapping with external port want (ours, or the one a renewal
 * keeps); taken (718): let the
 * IGD choose (AddAnyPortMapping, IGD v2); permanent leases only (725):
 * ask for one, and the renewals keep asking.
 */
static int add_mapping(struct igd *igd, const struct portmap_req *rq, uint16_t want,
		       uint16_t *ext_port, char *err, size_t errlen)
{
	const char *ctl = igd->urls.controlURL, *svc = igd->data.first.servicetype;
	char port[8], ext[8], lease[12], reserved[8] = "";
	int ret;

	snprintf(port, sizeof(port), "%u", rq->internal_port);
	snprintf(ext, sizeof(ext), "%u", want);
	snprintf(lease, sizeof(lease), "%u", rq->lifetime_s);
	ret = UPNP_AddPortMapping(ctl, svc, ext, port, igd->lan, UPNP_DESCRIPTION,
				  "UDP", NULL, lease);
	if (ret == UPNP_ONLY_PERMANENT)
		ret = UPNP_AddPortMapping(ctl, svc, ext, port, igd->lan,
					  UPNP_DESCRIPTION, "UDP", NULL, "0");
	if (ret == UPNPCOMMAND_SUCCESS) {
		*ext_port = want;
		return 0;
	}
	if (ret == UPNP_CONFLICT) {
		ret = UPNP_AddAnyPortMapping(ctl, svc, ext, port, igd->lan,
					     UPNP_DESCRIPTION, "UDP", NULL, lease,
					     reserved);
		if (ret == UPNPCOMMAND_SUCCESS && sscanf(reserved, "%hu", ext_port) == 1 &&
		    *ext_port)
			return 0;
	}
	snprintf(err, errlen, "upnp: AddPortMapping: %s", upnp_error(ret));
	return -EREMOTEIO;
}

static int store_mapping(struct portmap_lease *lease, const struct igd *igd,
			 struct in_addr ext, uint16_t ext_port, uint32_t lifetime,
			 char *err, size_t errlen)
{
	struct portmap_lease l = {
		.proto = PORTMAP_UPNP,
		.external = {
			.sin_family = AF_INET,
			.sin_addr = ext,
			.sin_port = htons(ext_port),
		},
		.lifetime_s = lifetime,
	};
	int n1, n2, n3;

	n1 = snprintf(l.upnp_control_url, sizeof(l.upnp_control_url), "%s",
		      igd->urls.controlURL);
	n2 = snprintf(l.upnp_service, sizeof(l.upnp_service), "%s",
		      igd->data.first.servicetype);
	n3 = snprintf(l.upnp_client, sizeof(l.upnp_client), "%s", igd->lan);
	if (n1 < 0 || (size_t)n1 >= sizeof(l.upnp_control_url) ||
	    n2 < 0 || (size_t)n2 >= sizeof(l.upnp_service) ||
	    n3 < 0 || (size_t)n3 >= sizeof(l.upnp_client)) {
		/* Mapped, but we could not delete it later: say so. */
		snprintf(err, errlen, "upnp: the IGD's control URL is too long");
		return -ENAMETOOLONG;
	}
	*lease = l;
	return 0;
}

static int delete_mapping(const struct portmap_lease *lease, char *err, size_t errlen)
{
	char port[8];
	int ret;

	snprintf(port, sizeof(port), "%u", ntohs(lease->external.sin_port));
	ret = UPNP_DeletePortMapping(lease->upnp_control_url, lease->upnp_service,
				     port, "UDP", NULL);
	if (ret != UPNPCOMMAND_SUCCESS) {
		snprintf(err, errlen, "upnp: DeletePortMapping: %s", upnp_error(ret));
		return -EREMOTEIO;
	}
	return 0;
}

int portmap_upnp_request(const struct portmap_req *rq, struct portmap_lease *lease,
			 char *err, size_t errlen)
{
	uint16_t want = rq->internal_port, ext_port;
	struct in_addr ext;
	struct igd igd;
	int ret;

	if (!rq->lifetime_s)
		return delete_mapping(lease, err, errlen);
	if (lease->proto == PORTMAP_UPNP)
		want = ntohs(lease->external.sin_port);
	ret = discover(rq, &igd, err, errlen);
	if (ret)
		return ret;
	ret = external_address(&igd, &ext, err, errlen);
	if (ret == 0)
		ret = add_mapping(&igd, rq, want, &ext_port, err, errlen);
	if (ret == 0)
		ret = store_mapping(lease, &igd, ext, ext_port, rq->lifetime_s, err, errlen);
	FreeUPNPUrls(&igd.urls);
	return ret;
}
