#!/bin/sh
# make demo: the classic raw-socket example, with and without libcbpf.
#
# In a network namespace of its own, a raw UDP socket (which sees every
# UDP datagram, IPv4 header first) receives datagrams sent to ports 8080,
# 5353 and 9999: first with no filter, then with cbpf_filter_udp4() for
# destination port 8080 attached through cbpf_attach(CBPF_ATTACH_DRAIN).
#
# Usage: tests/demo/demo.sh BUILD_DIR   (as root)
set -eu

build=${1:-build}
rawdemo=$build/tests/demo/rawdemo
addr=198.18.0.1
ports="8080 5353 9999"

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (it creates a network namespace and opens raw sockets)" >&2
	echo "demo: try: sudo make demo" >&2
	exit 1
fi
if [ ! -x "$rawdemo" ]; then
	echo "demo: $rawdemo not found; build first (make)" >&2
	exit 1
fi

ns=wgpunch-demo-$$
tmp=$(mktemp -d)
recv_pid=
cleanup() {
	[ -n "$recv_pid" ] && kill "$recv_pid" 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" addr add "$addr/24" dev lo

# One round: start the receiver (filtered if a port is given), wait until
# it listens, send one datagram to each port; saw= lists what it got.
round() {
	out=$tmp/recv.out
	: >"$out"
	ip netns exec "$ns" "$rawdemo" recv "$@" >"$out" &
	recv_pid=$!
	i=0
	until grep -q listening "$out"; do
		i=$((i + 1))
		if [ $i -gt 50 ] || ! kill -0 "$recv_pid" 2>/dev/null; then
			echo "demo: the receiver did not start" >&2
			exit 1
		fi
		sleep 0.1
	done
	# shellcheck disable=SC2086
	ip netns exec "$ns" "$rawdemo" send "$addr" $ports
	sleep 0.3
	kill "$recv_pid"
	wait "$recv_pid" || true
	recv_pid=
	saw=$(sed -n 's/^dport //p' "$out" | tr '\n' ',' | sed 's/,$//; s/,/, /g')
	saw=${saw:-nothing}
}

echo "A raw UDP socket (AF_INET, SOCK_RAW, IPPROTO_UDP) sees every UDP datagram."
echo "Sending one datagram each to $addr ports $(echo "$ports" | sed 's/ /, /g')."
echo
round
echo "without filter: saw dport $saw"
echo
echo "The filter, cbpf_filter_udp4(&(struct cbpf_udp_match){ .dport = 8080 }):"
"$rawdemo" show 8080 | sed 's/^/    /'
echo
round 8080
echo "with filter:    saw dport $saw"
