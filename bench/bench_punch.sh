#!/bin/bash
# bench_punch.sh BUILD_DIR [RUNS] - time to a WireGuard tunnel across two
# endpoint-independent NATs (tests/e2e/lab.sh), for three clients measured
# in the same run, and to a relayed tunnel across two symmetric NATs:
#
#   wgpunch  wgpunchd, then `wgpunch daemon` on A, then on B;
#   floor    no rendezvous at all: both peers are simply told the other
#            NAT's public address:51820 (wg set, persistent keepalive 25),
#            both at once: the best any rendezvous can do;
#   contrib  wireguard-tools' examples/nat-hole-punching, compiled from
#            Debian's copy into a temporary directory here (never kept):
#            its server on srv, its client on A, then on B;
#   relayed  as wgpunch, but both NATs symmetric (masquerade random) and
#            wgpunchd with --relay: nothing direct can cross, and the time
#            is to the first handshake response the relay forwards.
#
# Each measurement gets a fresh lab (IPv4 only on the peers); each run
# measures all three, in an order that rotates from run to run, so they
# share the machine's state.
# The time is from the start of the second side (B's client; for the
# floor, the two `wg set`) to the first WireGuard handshake response seen
# on the public router (tcpdump's kernel time), or failing tcpdump, to
# when `wg show` on A first reports a handshake.  Prints every run, then
# median, p95 and max per client, the ratios of the medians to the floor,
# and how many runs took over 1 s.
#
#   RUNS (default 30) may also come from the environment.
#
# Needs root; exits 77 (skipped) otherwise.  Not part of `make check`.

set -u
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../tests/e2e/lab.sh
. "$BENCH_DIR/../tests/e2e/lab.sh"

BUILD=${1:-build}
RUNS=${2:-${RUNS:-30}}
WGPUNCHD=$BUILD/src/server/wgpunchd
WGPUNCH=$BUILD/src/client/wgpunch
CONTRIB_SRC=/usr/share/doc/wireguard-tools/examples/nat-hole-punching
DEADLINE_MS=15000
RELAY_PORTS=50000-50063
# A starts first and has time to register, as a peer that was already
# online would have.
HEAD_START_S=0.3

if [ "$(id -u)" -ne 0 ]; then
	echo "bench_punch: skipped: needs root (network namespaces)"
	exit 77
fi
missing=$(lab_missing | tr '\n' ' ')
if [ -n "$missing" ]; then
	echo "bench_punch: skipped: missing $missing"
	exit 77
fi
for b in "$WGPUNCHD" "$WGPUNCH"; do
	if [ ! -x "$b" ]; then
		echo "bench_punch: skipped: $b not built"
		exit 77
	fi
done

# --- the contrib example, built for this run only -----------------------------

CONTRIB_DIR=

# Build the example's server and client into a temporary directory.  Its
# sources are GPL-2.0 example code: they are compiled, never copied into
# the tree.
contrib_build()
{
	local cc=${CC:-cc}
	[ -r "$CONTRIB_SRC/nat-punch-server.c" ] &&
		[ -r "$CONTRIB_SRC/nat-punch-client.c" ] || return 1
	CONTRIB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/bench-punch-contrib.XXXXXX") || return 1
	"$cc" -O2 -w -o "$CONTRIB_DIR/server" "$CONTRIB_SRC/nat-punch-server.c" \
		>"$CONTRIB_DIR/build.log" 2>&1 &&
	"$cc" -O2 -w -o "$CONTRIB_DIR/client" "$CONTRIB_SRC/nat-punch-client.c" \
		-lresolv >>"$CONTRIB_DIR/build.log" 2>&1
}

cleanup()
{
	lab_teardown
	[ -n "$CONTRIB_DIR" ] && rm -rf "$CONTRIB_DIR"
}

# --- one measurement ---------------------------------------------------------------

handshake_seen()
{
	local t
	t=$(lab_exec A wg show wg0 latest-handshakes 2>/dev/null |
		awk '{ print $2 }')
	[ -n "$t" ] && [ "$t" != 0 ]
}

# A fresh lab with both WireGuard peers and, if tcpdump is there, the wire
# watched.  WIRE says which.  The peers get no global IPv6: wgpunch would
# rightly prefer a direct IPv6 path, and this compares IPv4 punches.
lab_up()
{
	local nat=eim
	WIRE=
	[ "$1" = relayed ] && nat=sym
	lab_setup "$nat" "$nat" && lab_no_ipv6 A B && lab_wg_pair || return 1
	lab_wire_start && WIRE=1
	return 0
}

# The first WireGuard handshake response (92 bytes) the relay forwards
# from one of its ports to either NAT, in ms (the NATs' ports are random).
relay_wire_handshake()
{
	awk -v srv="$LAB_SRV_IP." -v a="$LAB_NATA_IP." -v b="$LAB_NATB_IP." \
	    -v first="${RELAY_PORTS%-*}" '
		index($5, srv) == 1 && $NF == 92 &&
		(index($7, a) == 1 || index($7, b) == 1) {
			n = split($5, f, "."); if (f[n] + 0 < first) next
			split($1, t, "."); printf "%d%03d\n", t[1], substr(t[2], 1, 3)
			exit
		}' "$LAB_DIR/wire.log" | grep .
}

# wait_handshake T0: RUN_MS = ms from T0 to the first handshake, or fail
# after DEADLINE_MS.  Polls a file (cheap) with tcpdump, `wg show` without.
wait_handshake()
{
	local t0=$1 t
	while :; do
		if [ -n "$WIRE" ]; then
			t=$($WIRE_MATCH) && break
		fi
		# tcpdump may drop packets on a busy machine ("dropped by
		# kernel"): WireGuard's own record is the fallback, looked at
		# only after a while (each look forks, which would slow down
		# the clients being measured).
		if [ -z "$WIRE" ] || [ "$(lab_now_ms)" -ge $((t0 + 2000)) ]; then
			if handshake_seen; then
				t=$(lab_now_ms)
				[ -n "$WIRE" ] && echo "    (tcpdump missed this" \
					"handshake: the time is when wg show saw it)" >&2
				break
			fi
		fi
		[ "$(lab_now_ms)" -lt $((t0 + DEADLINE_MS)) ] || return 1
		sleep 0.005
	done
	RUN_MS=$((t - t0))
	[ "$RUN_MS" -ge 0 ] || RUN_MS=0
}

# wgpunch_pair [WGPUNCHD ARGS...]: wgpunchd, `wgpunch daemon` on A, then
# after the head start on B; T0 is B's start.
wgpunch_pair()
{
	local key
	lab_server_start "$WGPUNCHD" "$@" || return 1
	lab_client_start "$WGPUNCH" A daemon || return 1
	sleep "$HEAD_START_S"
	# Started as the floor's `wg set` is (lab_bg: nsenter, exec), not
	# through lab_client_start's log stamping, whose fifo and perl would
	# be counted against wgpunch.
	key=$(lab_pub srv)
	T0=$(lab_now_ms)
	lab_bg B "$LAB_DIR/B.client.log" "$WGPUNCH" daemon wg0 \
		--server "$LAB_SRV_IP:$LAB_SRV_PORT" --server-key "$key" \
		--log-level warn
}

measure_wgpunch()
{
	wgpunch_pair && wait_handshake "$T0"
}

measure_relayed()
{
	wgpunch_pair --relay "$RELAY_PORTS" &&
		WIRE_MATCH=relay_wire_handshake wait_handshake "$T0"
}

measure_floor()
{
	local t0 pa pb key_a key_b
	key_a=$(lab_pub A)
	key_b=$(lab_pub B)
	t0=$(lab_now_ms)
	lab_exec A wg set wg0 peer "$key_b" \
		endpoint "$LAB_NATB_IP:$LAB_WG_PORT" persistent-keepalive 25 &
	pa=$!
	lab_exec B wg set wg0 peer "$key_a" \
		endpoint "$LAB_NATA_IP:$LAB_WG_PORT" persistent-keepalive 25 &
	pb=$!
	wait "$pa" && wait "$pb" || return 1
	wait_handshake "$t0"
}

measure_contrib()
{
	local t0
	lab_bg srv "$LAB_DIR/contrib-server.log" "$CONTRIB_DIR/server"
	lab_wait 3 lab_udp_bound srv "$LAB_SRV_PORT" || return 1
	lab_bg A "$LAB_DIR/contrib-A.log" "$CONTRIB_DIR/client" "$LAB_SRV_IP" wg0
	sleep "$HEAD_START_S"
	t0=$(lab_now_ms)
	lab_bg B "$LAB_DIR/contrib-B.log" "$CONTRIB_DIR/client" "$LAB_SRV_IP" wg0
	wait_handshake "$t0"
}

# measure CLIENT: one measurement in a fresh lab; RUN_MS, or fails.
measure()
{
	local rc
	lab_up "$1" || { lab_teardown; return 1; }
	"measure_$1"
	rc=$?
	[ -n "$WIRE" ] && METHOD="first handshake response on the wire (tcpdump)"
	lab_teardown
	return "$rc"
}

# --- statistics ------------------------------------------------------------------------

# stats VALUES...: "median p95 max" (p95 by nearest rank).
stats()
{
	printf '%s\n' "$@" | sort -n | awk '
		{ v[NR] = $1 }
		END {
			if (NR % 2) med = v[(NR + 1) / 2]
			else med = int((v[NR / 2] + v[NR / 2 + 1]) / 2)
			r = int(0.95 * NR); if (r < 0.95 * NR) r++
			printf "%d %d %d\n", med, v[r], v[NR]
		}'
}

ratio()
{
	awk -v a="$1" -v b="$2" 'BEGIN { if (b < 1) b = 1; printf "%.1f", a / b }'
}

# --- main -------------------------------------------------------------------------------

METHOD="wg show on A polled every ~5 ms"
WIRE_MATCH=lab_wire_handshake
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

CLIENTS="wgpunch floor contrib relayed"
if ! contrib_build; then
	echo "contrib: not available (${CONTRIB_SRC} missing or does not build)"
	CLIENTS="wgpunch floor relayed"
fi
# shellcheck disable=SC2086  # a list of names
set -- $CLIENTS
NCLIENTS=$#

declare -A RESULTS=() FAILED=()
for c in $CLIENTS; do
	RESULTS[$c]=
	FAILED[$c]=0
done

echo "bench_punch: $RUNS runs of: $CLIENTS (EIM <-> EIM; relayed:" \
	"symmetric <-> symmetric; a fresh lab each)"
for i in $(seq "$RUNS"); do
	line=$(printf '  run %2d:' "$i")
	declare -A this=()
	# Rotate the order, so no client is always first after a teardown.
	# shellcheck disable=SC2086
	set -- $CLIENTS
	for _ in $(seq $(((i - 1) % NCLIENTS))); do
		set -- "${@:2}" "$1"
	done
	for c in "$@"; do
		if measure "$c"; then
			RESULTS[$c]="${RESULTS[$c]} $RUN_MS"
			this[$c]="$RUN_MS ms"
		else
			FAILED[$c]=$((FAILED[$c] + 1))
			this[$c]="none in $((DEADLINE_MS / 1000)) s"
		fi
	done
	for c in $CLIENTS; do
		line="$line $(printf '%s %9s' "$c" "${this[$c]}")"
	done
	echo "$line"
	unset this
done

echo
echo "time from the 2nd side's start to the 1st WireGuard handshake response"
echo "(end: $METHOD)"
printf '  %-8s %5s %7s %7s %7s %7s\n' client ok median p95 max failed
declare -A MEDIAN=()
for c in $CLIENTS; do
	# shellcheck disable=SC2086  # a list of numbers
	set -- ${RESULTS[$c]}
	if [ $# -eq 0 ]; then
		printf '  %-8s %5d %7s %7s %7s %7d\n' "$c" 0 - - - "${FAILED[$c]}"
		continue
	fi
	read -r med p95 max <<<"$(stats "$@")"
	MEDIAN[$c]=$med
	printf '  %-8s %5d %4d ms %4d ms %4d ms %7d\n' "$c" $# "$med" "$p95" \
		"$max" "${FAILED[$c]}"
done
if [ -n "${MEDIAN[floor]:-}" ]; then
	for c in wgpunch contrib relayed; do
		[ -n "${MEDIAN[$c]:-}" ] || continue
		echo "  median $c/floor: $(ratio "${MEDIAN[$c]}" "${MEDIAN[floor]}")x" \
			"(${MEDIAN[$c]} ms / ${MEDIAN[floor]} ms)"
	done
fi
for c in $CLIENTS; do
	# shellcheck disable=SC2086
	set -- ${RESULTS[$c]}
	slow=${FAILED[$c]}
	for v in "$@"; do
		[ "$v" -gt 1000 ] && slow=$((slow + 1))
	done
	echo "  $c: $slow of $RUNS runs took over 1 s (${FAILED[$c]} of them no handshake at all)"
done
[ -z "${RESULTS[wgpunch]}" ] && { echo "bench_punch: wgpunch never got a handshake"; exit 1; }
exit 0
