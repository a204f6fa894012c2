#!/bin/bash
# punch.sh BUILD_DIR - wgpunch, live: two WireGuard peers behind two NATs
# find each other through wgpunchd, and a ping crosses the tunnel.
#
# Builds nothing (make demo builds first).  Creates the emulated network
# of tests/e2e/lab.sh (network namespaces, nftables NATs, wireguard-go),
# starts the rendezvous server and both clients, prints a timeline in ms
# from the start, and tears everything down, whatever happens.
#
# Where the times come from:
#   - packets on the wire: tcpdump on the public router, kernel timestamps
#     (exact, and independent of how busy the machine is);
#   - wgpunchd's log lines, which carry their own time;
#   - wgpunch's and wireguard-go's log lines, stamped by the lab as they
#     arrive (a few ms late on a busy machine), for the endpoints learned;
#   - `wg show` and ping, run by this script.
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

# event MS TEXT: remember one timeline entry (printed sorted at the end;
# entries of the same ms keep the order they were added in).
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

peer_of()
{
	if [ "$1" = A ]; then echo B; else echo A; fi
}

nat_ip_of()
{
	if [ "$1" = A ]; then echo "$LAB_NATA_IP"; else echo "$LAB_NATB_IP"; fi
}

# A public key as an extended regular expression (base64 has + and /).
key_re()
{
	printf '%s' "$1" | sed 's/[+/=]/\\&/g'
}

# The ms stamp of the first line of LOG matching REGEX, or nothing.
first_stamp()
{
	grep -E -m 1 -- "$2" "$LAB_DIR/$1.log" 2>/dev/null | cut -d' ' -f1
}

wire_start()
{
	lab_wire_start && WIRE=1
	return 0
}

# --- the story, from the logs and the wire --------------------------------------

# wgpunchd writes its own time on each line (ISO 8601, ms, UTC).
server_time()
{
	local iso
	iso=$(echo "$1" | cut -d' ' -f2)
	date -u -d "${iso%Z}" +%s%3N 2>/dev/null || echo "${1%% *}"
}

registration_events()
{
	local n line t
	for n in A B; do
		line=$(grep -E -m 1 -- "REGISTER $(key_re "$(lab_pub "$n")") at " \
			"$LAB_DIR/server.log") || continue
		t=$(server_time "$line")
		line=${line#* REGISTER * at }
		event "$t" "$n registered: wgpunchd saw it at ${line%% *}, ${n}'s NAT mapping of WireGuard's port"
	done
}

# When each side's first handshake initiation left: on the wire if we
# watch it, else from wireguard-go's log.  Sets FIRST_OUT[A], FIRST_OUT[B].
# WireGuard message sizes: initiation 148, response 92, keepalive 32.
first_initiations()
{
	local n other
	for n in A B; do
		other=$(peer_of "$n")
		if [ -n "$WIRE" ]; then
			FIRST_OUT[$n]=$(lab_wire_first "$(nat_ip_of "$n").$LAB_WG_PORT" \
				"$(nat_ip_of "$other").$LAB_WG_PORT" 148)
		else
			FIRST_OUT[$n]=$(first_stamp "$n.wg" 'Sending handshake initiation')
		fi
	done
}

handshake_events()
{
	local n other t done_t=''
	for n in A B; do
		other=$(peer_of "$n")
		t=${FIRST_OUT[$n]:-}
		[ -n "$t" ] || continue
		if [ -n "$WIRE" ]; then
			event "$t" "$n -> $other: handshake initiation on the wire, $(nat_ip_of "$n"):$LAB_WG_PORT -> $(nat_ip_of "$other"):$LAB_WG_PORT"
		else
			event "$t" "$n -> $other: WireGuard sends a handshake initiation"
		fi
	done
	for n in A B; do
		other=$(peer_of "$n")
		if [ -n "$WIRE" ]; then
			t=$(lab_wire_first "$(nat_ip_of "$n").$LAB_WG_PORT" \
				"$(nat_ip_of "$other").$LAB_WG_PORT" 92)
			[ -n "$t" ] && event "$t" "$n -> $other: handshake response on the wire: first handshake complete"
		else
			t=$(first_stamp "$other.wg" 'Received handshake response')
			[ -n "$t" ] && event "$t" "$other: WireGuard receives the handshake response: first handshake complete"
		fi
		[ -n "$t" ] && { [ -z "$done_t" ] || [ "$t" -lt "$done_t" ]; } && done_t=$t
	done
	HANDSHAKE_T=$done_t
}

# The path each client proved comes from its log line; the time is
# wireguard-go's "Updating endpoint" line, which a busy machine may stamp a
# few ms late: it cannot be later than the first packet WireGuard sent
# there, so it is capped at that. The probes are on the wire: 88 bytes of
# UDP payload from one NAT's WireGuard port to the other's.
endpoint_events()
{
	local n other ep t out
	for n in A B; do
		other=$(peer_of "$n")
		if [ -n "$WIRE" ]; then
			t=$(lab_wire_first "$(nat_ip_of "$n").$LAB_WG_PORT" \
				"$(nat_ip_of "$other").$LAB_WG_PORT" 88)
			[ -n "$t" ] && event "$t" "$n -> $other: first path probe on the wire, from WireGuard's port (a TTL-limited opener: it opens ${n}'s NAT and dies before ${other}'s)"
		fi
		ep=$(grep -E -m 1 -o -- "$(key_re "$(lab_pub "$other")"): [a-z0-9]+ path [^ ]+ answers" \
			"$LAB_DIR/$n.client.log" | sed 's/.* path \([^ ]*\) answers/\1/')
		t=$(first_stamp "$n.wg" 'UAPI: Updating endpoint')
		out=${FIRST_OUT[$n]:-}
		[ -n "$t" ] && [ -n "$out" ] && [ "$out" -lt "$t" ] && t=$out
		[ -n "$t" ] && event "$t" "$n: $other's probe reply came from ${ep:-?}: path proven, endpoint set in WireGuard"
	done
}

verbose_events()
{
	local log line
	[ -n "${DEMO_VERBOSE:-}" ] || return 0
	for log in server A.client B.client; do
		while IFS= read -r line; do
			event "${line%% *}" "    [${log%.client}] ${line#* }"
		done <"$LAB_DIR/$log.log"
	done
}

# --- the demo -------------------------------------------------------------------

demo()
{
	local hs='' now rtt deadline t

	# shellcheck disable=SC2034  # read by lab_wg_start
	LAB_WG_LOG_LEVEL=verbose
	lab_setup eim eim || die "lab setup failed"
	lab_wg_pair || die "wireguard-go setup failed"
	# IPv4 only: with global IPv6 addresses the peers would simply
	# meet over IPv6, and the demo is about the NATs.
	lab_no_ipv6 A B || die "cannot take the peers' IPv6 away"
	wire_start
	event "$(lab_now_ms)" "lab ready: 7 namespaces, 2 endpoint-independent NATs, wireguard-go on A and B with no endpoints"

	lab_server_keys || die "no server key"
	lab_server_start "$WGPUNCHD" || die "wgpunchd did not start"
	event "$(lab_now_ms)" "wgpunchd up on $LAB_SRV_IP:$LAB_SRV_PORT"

	t=$(lab_now_ms)
	lab_client_start "$WGPUNCH" A daemon || die "wgpunch on A"
	event "$t" "wgpunch daemon starts on A ($LAB_A_IP behind NAT $LAB_NATA_IP)"
	CLIENT_T=$(lab_now_ms)
	lab_client_start "$WGPUNCH" B daemon || die "wgpunch on B"
	event "$CLIENT_T" "wgpunch daemon starts on B ($LAB_B_IP behind NAT $LAB_NATB_IP)"

	# Wait for WireGuard's own log line (cheap to poll: the stamps of the
	# other lines are not starved), then check with `wg show`.
	deadline=$(($(lab_now_ms) + DEADLINE_S * 1000))
	while :; do
		if grep -q 'Received handshake response' "$LAB_DIR/A.wg.log" \
			"$LAB_DIR/B.wg.log"; then
			lab_wait 2 lab_has_handshake A B && hs=$(lab_now_ms)
			break
		fi
		[ "$(lab_now_ms)" -lt "$deadline" ] || break
		sleep 0.05
	done

	if [ -n "$hs" ]; then
		event "$hs" "wg show on A: a handshake with B is recorded"
		now=$(lab_now_ms)
		if rtt=$(lab_ping A "$LAB_B_TUN"); then
			event "$now" "ping A -> B through the tunnel ($LAB_A_TUN -> $LAB_B_TUN): rtt $rtt ms"
		else
			event "$now" "ping A -> B through the tunnel: no answer"
			hs=''
		fi
	else
		event "$(lab_now_ms)" "no handshake within $DEADLINE_S s"
	fi

	# The capture is written as packets arrive; give it its last lines.
	[ -n "$WIRE" ] && lab_wait 1 grep -q 'length 92$' "$LAB_DIR/wire.log"
	first_initiations
	registration_events
	endpoint_events
	handshake_events
	verbose_events
	echo "wgpunch demo: A and B, each behind its own NAT, know only wgpunchd"
	show_timeline
	if [ -z "$hs" ]; then
		echo "demo: FAILED; the programs' logs:" >&2
		for t in server A.client B.client; do
			echo "--- $t" >&2
			cut -d' ' -f2- "$LAB_DIR/$t.log" >&2
		done
		return 1
	fi
	echo "demo: first handshake $(( ${HANDSHAKE_T:-$hs} - CLIENT_T )) ms after the second client started;" \
		"$(( $(lab_now_ms) - T0 )) ms in all"
}

WIRE=
HANDSHAKE_T=
CLIENT_T=0
declare -A FIRST_OUT=()
lab_trap
demo
