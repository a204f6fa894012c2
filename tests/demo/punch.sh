#!/bin/bash
# punch.sh BUILD_DIR - wgpunch, live: two WireGuard peers behind two NATs
# find each other through wgpunchd, and a ping crosses the tunnel.
#
# Builds nothing (make demo builds first).  Creates the emulated network
# of tests/e2e/lab.sh (network namespaces, nftables NATs, wireguard-go),
# starts the rendezvous server and both clients, prints a timeline in ms
# from the start, and tears everything down, whatever happens.
#
#   DEMO_VERBOSE=1   also print the programs' own log lines in the timeline

set -u
DEMO_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../e2e/lab.sh
. "$DEMO_DIR/../e2e/lab.sh"

BUILD=${1:-build}
WGPUNCHD=$BUILD/src/server/wgpunchd
WGPUNCH=$BUILD/src/client/wgpunch
DEADLINE_S=10

die()
{
	echo "demo: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, nftables)"
missing=$(lab_missing | tr '\n' ' ')
[ -z "$missing" ] || die "missing: $missing(run tools/install-deps)"
for b in "$WGPUNCHD" "$WGPUNCH"; do
	[ -x "$b" ] || die "$b is not built (make demo builds it first)"
done

T0=$(lab_now_ms)
EVENTS=

# event MS TEXT: remember one timeline entry (printed sorted at the end).
event()
{
	EVENTS="$EVENTS$(($1 - T0)) $2"$'\n'
}

show_timeline()
{
	printf '%s' "$EVENTS" | sort -n -s -k1,1 |
	while read -r ms text; do
		printf '  %6d ms  %s\n' "$ms" "$text"
	done
}

# One `wg show wg0 dump` per node and poll: its peer line is
# "key psk endpoint allowed-ips latest-handshake rx tx keepalive".
peer_field()
{
	lab_exec "$1" wg show wg0 dump 2>/dev/null |
		awk -v k="$(lab_pub "$2")" -v f="$3" '$1 == k { print $f }'
}

demo()
{
	local ep_a='' ep_b='' hs='' t now rtt deadline

	lab_setup eim eim || die "lab setup failed"
	lab_wg_pair || die "wireguard-go setup failed"
	event "$(lab_now_ms)" "lab ready: 7 namespaces, 2 NATs (endpoint-independent), wireguard-go on A and B, no endpoints"

	lab_server_keys || die "no server key"
	lab_server_start "$WGPUNCHD" || die "wgpunchd did not start"
	event "$(lab_now_ms)" "wgpunchd up on $LAB_SRV_IP:$LAB_SRV_PORT"

	lab_client_start "$WGPUNCH" A daemon || die "wgpunch on A"
	event "$(lab_now_ms)" "wgpunch daemon started on A ($LAB_A_IP behind $LAB_NATA_IP)"
	lab_client_start "$WGPUNCH" B daemon || die "wgpunch on B"
	LAB_CLIENT_T=$(lab_now_ms)
	event "$LAB_CLIENT_T" "wgpunch daemon started on B ($LAB_B_IP behind $LAB_NATB_IP)"

	# Poll WireGuard itself; the clients' logs are read afterwards.
	deadline=$(($(lab_now_ms) + DEADLINE_S * 1000))
	while [ -z "$ep_a" ] || [ -z "$ep_b" ] || [ -z "$hs" ]; do
		now=$(lab_now_ms)
		[ "$now" -lt "$deadline" ] || break
		if [ -z "$ep_a" ]; then
			t=$(peer_field A B 3)
			if [ -n "$t" ] && [ "$t" != "(none)" ]; then
				ep_a=$t
				event "$now" "A learned B's endpoint: $t"
			fi
		fi
		if [ -z "$ep_b" ]; then
			t=$(peer_field B A 3)
			if [ -n "$t" ] && [ "$t" != "(none)" ]; then
				ep_b=$t
				event "$now" "B learned A's endpoint: $t"
			fi
		fi
		if [ -z "$hs" ]; then
			t=$(peer_field A B 5)
			if [ -n "$t" ] && [ "$t" != 0 ]; then
				hs=$now
				event "$now" "first WireGuard handshake between A and B"
			fi
		fi
		sleep 0.01
	done

	if [ -n "$hs" ]; then
		now=$(lab_now_ms)
		if rtt=$(lab_ping A "$LAB_B_TUN"); then
			event "$now" "ping A -> B through the tunnel ($LAB_A_TUN -> $LAB_B_TUN): rtt $rtt ms"
		else
			event "$now" "ping A -> B through the tunnel: no answer"
			hs=
		fi
	else
		event "$(lab_now_ms)" "no handshake within $DEADLINE_S s"
	fi

	client_events A
	client_events B
	echo "wgpunch demo: A and B, each behind its own NAT, no endpoints configured"
	show_timeline
	if [ -z "$hs" ]; then
		echo "demo: FAILED; the programs' logs:" >&2
		for t in server A.client B.client; do
			echo "--- $t" >&2
			cut -d' ' -f2- "$LAB_DIR/$t.log" >&2
		done
		return 1
	fi
	echo "demo: tunnel up $(( hs - T0 )) ms after the start, $(( hs - LAB_CLIENT_T )) ms after the second client"
}

# Registration times come from the clients' own log lines (stamped when
# they were written); with DEMO_VERBOSE every line goes in the timeline.
client_events()
{
	local node=$1 t line
	t=$(lab_first_line "$node.client" '[Rr]egistered') &&
		[ -n "$t" ] && event "$t" "$node registered with wgpunchd"
	[ -n "${DEMO_VERBOSE:-}" ] || return 0
	while IFS= read -r line; do
		event "${line%% *}" "  [$node] ${line#* }"
	done <"$LAB_DIR/$node.client.log"
}

lab_trap
LAB_CLIENT_T=0
demo
