#!/bin/bash
# flood.sh WGPUNCHD FLOOD FLOOD_CLIENT - the short version of the flood
# benchmark (bench/bench_flood.sh) for `meson test` (suite root): one
# moderate spoofed flood of each kind (junk, unknown keys and replays
# from random sources, then unknown keys from the victim's own address),
# FLOOD_RATE datagrams per second (3000) for 3 s each, and it fails
# unless service held every time: the existing pair got >= 99% of its
# LOOKUPs answered OK, and so did the victim whose address the flood
# spoofs, every new client registered, wgpunchd still runs. What it
# asserts are counts of answers, not times; each reply may take up to
# 3 s.
# Needs root; exits 77 (skipped) otherwise. About 40 s.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
if [ $# -ne 3 ]; then
	echo "usage: flood.sh WGPUNCHD FLOOD FLOOD_CLIENT" >&2
	exit 2
fi
export WGPUNCHD=$1 FLOOD=$2 FLOOD_CLIENT=$3
export KINDS="junk unknown replay victim" SOURCES=random
export RATES=${FLOOD_RATE:-3000} FLOOD_S=3 REPLY_TIMEOUT_MS=3000 CHECK=1
exec "$HERE/../../bench/bench_flood.sh" "$(dirname "$FLOOD")/.."
