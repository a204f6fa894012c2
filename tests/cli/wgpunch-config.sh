#!/bin/sh
# SPDX-License-Identifier: MIT
# wgpunch's settings file: --config FILE, or else the interface's own
# $WGPUNCH_CONFIG_DIR/IFACE.conf (default /etc/wgpunch), read only if it
# exists. Needs no privileges: every case ends before a socket is opened,
# or at the WireGuard interface that does not exist.
# Usage: wgpunch-config.sh path/to/wgpunch
set -u

WGPUNCH=${1:?usage: wgpunch-config.sh path/to/wgpunch}
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
exec </dev/null

failed=0
# run WANT_STATUS WANT_STDERR ARGS...: wgpunch ARGS exits WANT_STATUS and
# says WANT_STDERR (a fixed string) on stderr.
run() {
	want=$1 text=$2
	shift 2
	WGPUNCH_CONFIG_DIR=$tmp timeout 20 "$WGPUNCH" "$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	if [ "$got" -ne "$want" ] || ! grep -qF -- "$text" "$tmp/err"; then
		failed=$((failed + 1))
		echo "not ok - wgpunch $*: exit $got (want $want), stderr:"
		sed 's/^/#   /' "$tmp/err"
		echo "#   wanted: $text"
	else
		echo "ok - wgpunch $*: exit $want, '$text'"
	fi
}

key=$(head -c 32 /dev/urandom | base64)

# No file: the usage error says where the settings were looked for.
run 2 "no server: use --server, or \"server =\" in $tmp/wgx.conf" up wgx
run 2 "\"server-key-file =\" in $tmp/wgx.conf" -s 198.18.0.1 up wgx

# The interface's file is read: its errors name it and the line.
printf 'server = 198.18.0.1\nbogus = 1\n' >"$tmp/wgx.conf"
run 2 "wgpunch: $tmp/wgx.conf:2: unknown key \"bogus\"" up wgx
run 2 "wgpunch: $tmp/wgx.conf:2: unknown key \"bogus\"" daemon wgx

# A good one gets wgpunch as far as the interface (which does not
# exist): a runtime error, not a usage error.
printf 'server = 198.18.0.1\nserver-key = %s\n' "$key" >"$tmp/wgx.conf"
run 1 "no such WireGuard interface" up wgx
# ... and it is the interface's own: another interface does not read it.
run 2 "no server: use --server, or \"server =\" in $tmp/wgy.conf" up wgy

# --config wins, and must exist.
printf 'timeout = 0\n' >"$tmp/other.conf"
run 2 "wgpunch: $tmp/other.conf:1: timeout must be" --config "$tmp/other.conf" up wgx
run 1 "wgpunch: $tmp/missing.conf: cannot open: No such file or directory" \
	--config "$tmp/missing.conf" up wgx

# A default file that exists but cannot be read is an error, not skipped.
rm "$tmp/wgx.conf"
mkdir "$tmp/wgx.conf"
run 1 "wgpunch: $tmp/wgx.conf: cannot read: Is a directory" up wgx

if [ "$failed" -ne 0 ]; then
	echo "$failed failed"
	exit 1
fi
echo "all passed"
