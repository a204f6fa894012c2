#!/bin/bash
# bench_punch.sh BUILD_DIR [RUNS] - time to a WireGuard handshake through
# wgpunch, across the emulated NATs of tests/e2e/lab.sh.
#
# Each run builds a fresh lab (two endpoint-independent NATs), starts
# wgpunchd and `wgpunch daemon` on A, then on B, and measures from B's
# start (just before its process is created) to the first WireGuard
# handshake response seen on the public router (tcpdump's kernel time), or
# failing tcpdump, to when `wg show` first reports a handshake.  Prints every run, the median,
# and beside it the contrib example's figure, which is NOT measured here:
# nat-traversal.md records ~2.05 s between two EIM NATs, ~2 s of it the
# client's sleep(2) poll.
#
# Needs root; exits 77 (skipped) otherwise.

set -u
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../tests/e2e/lab.sh
. "$BENCH_DIR/../tests/e2e/lab.sh"

BUILD=${1:-build}
RUNS=${2:-10}
WGPUNCHD=$BUILD/src/server/wgpunchd
WGPUNCH=$BUILD/src/client/wgpunch

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

handshake_seen()
{
	local t
	t=$(lab_exec A wg show wg0 latest-handshakes 2>/dev/null |
		awk '{ print $2 }')
	[ -n "$t" ] && [ "$t" != 0 ]
}

# One run, in this shell (the lab's state lives in its variables): RUN_MS
# is set to the ms from B's client start to the handshake, or it fails.
# With tcpdump, the end is the kernel's receive time of the first
# handshake response on the public router, and the wait polls a file
# (cheap); without, it polls `wg show` (a few ms of granularity and load).
one_run()
{
	local t0 t deadline wire=''
	lab_setup eim eim && lab_wg_pair && lab_server_keys &&
		lab_server_start "$WGPUNCHD" || return 1
	lab_wire_start && wire=1
	lab_client_start "$WGPUNCH" A daemon || return 1
	# Let A register first, as a peer that was already online would be.
	sleep 0.3
	t0=$(lab_now_ms)
	lab_client_start "$WGPUNCH" B daemon || return 1
	deadline=$((t0 + 15000))
	while :; do
		if [ -n "$wire" ]; then
			t=$(lab_wire_handshake) && break
		else
			handshake_seen && t=$(lab_now_ms) && break
		fi
		[ "$(lab_now_ms)" -lt "$deadline" ] || return 1
		sleep 0.005
	done
	RUN_MS=$((t - t0))
	[ -n "$wire" ] && METHOD="first handshake response on the wire (tcpdump)"
	return 0
}

METHOD="wg show polled every ~5 ms"
lab_trap
results=()
failed=0
for i in $(seq "$RUNS"); do
	if one_run; then
		results+=("$RUN_MS")
		printf '  run %2d: %5d ms\n' "$i" "$RUN_MS"
	else
		failed=$((failed + 1))
		printf '  run %2d: no handshake within 15 s\n' "$i"
	fi
	lab_teardown
done

if [ "${#results[@]}" -eq 0 ]; then
	echo "bench_punch: every run failed"
	exit 1
fi
median=$(printf '%s\n' "${results[@]}" | sort -n |
	awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2];
		else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }')
printf 'time from the 2nd client start to the 1st WireGuard handshake\n'
printf '(end: %s)\n' "$METHOD"
printf '%-52s %8s\n' "" "median"
printf '%-52s %6d ms  (%d runs, %d failed)\n' "  wgpunch daemon (measured)" \
	"$median" "${#results[@]}" "$failed"
printf '%-52s %6d ms  (documented in nat-traversal.md, not measured)\n' \
	"  contrib nat-punch-client, 2 s polling" 2050
