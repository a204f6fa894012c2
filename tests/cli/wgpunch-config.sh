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

# Several servers: keys and probe ports once for all, or once per
# server; any other count is a usage error naming the counts.
run 1 "no such WireGuard interface" up wgm -s 198.18.0.1 -k "$key" -s 198.18.0.2 -k "$key"
run 1 "no such WireGuard interface" -s 198.18.0.1 -s 198.18.0.2 -k "$key" up wgm
run 1 "no such WireGuard interface" -s 198.18.0.1 -s 198.18.0.2 -k "$key" \
	-p 7001 -p 7002 up wgm
run 2 "2 servers but 3 server keys" -s 198.18.0.1 -s 198.18.0.2 -k "$key" \
	-k "$key" -k "$key" up wgm
# With one server, the last -k/-K/-p wins, as it always did.
printf '%s\n' "$key" >"$tmp/good.key"
run 1 "no such WireGuard interface" -s 198.18.0.1 -K "$tmp/missing.key" \
	-K "$tmp/good.key" up wgm
run 1 "$tmp/missing.key: No such file" -s 198.18.0.1 -K "$tmp/good.key" \
	-K "$tmp/missing.key" up wgm
run 1 "no such WireGuard interface" -s 198.18.0.1:7000 -k "$key" -p 7000 -p 7001 up wgm
run 2 "3 servers but 2 probe ports" -s 198.18.0.1 -s 198.18.0.2 \
	-s 198.18.0.3 -k "$key" -p 7001 -p 7002 up wgm
run 2 "server given more than 8 times" $(for i in 1 2 3 4 5 6 7 8 9; do
	printf -- '-s 198.18.0.%s ' "$i"; done) -k "$key" up wgm
run 2 "server 198.18.0.2: the probe port must differ from the server port" \
	-s 198.18.0.1 -s 198.18.0.2:7000 -k "$key" -p 6000 -p 7000 up wgm

# The file's lists pair the same way; an option's list replaces the
# file's as a whole, and the result must still pair.
printf 'server = 198.18.0.1\nserver = 198.18.0.2\nserver-key = %s\nserver-key = %s\n' \
	"$key" "$key" >"$tmp/wgm.conf"
run 1 "no such WireGuard interface" up wgm
run 2 "order (the options' lists replace those of $tmp/wgm.conf" \
	-s 198.18.0.9 -s 198.18.0.10 -s 198.18.0.11 up wgm
run 2 "1 server but 2 server keys" -s 198.18.0.9 up wgm
run 1 "no such WireGuard interface" -s 198.18.0.9 -k "$key" up wgm
printf 'server = 198.18.0.1\nserver = 198.18.0.2\nserver-key = %s\nserver-key = %s\nserver-key = %s\n' \
	"$key" "$key" "$key" >"$tmp/wgm.conf"
run 2 "wgpunch: $tmp/wgm.conf: 2 servers but 3 server keys" up wgm
rm "$tmp/wgm.conf"

# Of several -s or -k, the error names the one that is wrong.
run 2 "server must be HOST, HOST:PORT or [IPV6]:PORT (not '198.18.0.2:99999')" \
	-s 198.18.0.1 -s 198.18.0.2:99999 up wgx
run 2 "(not 'AAAA')" -s 198.18.0.1 -s 198.18.0.2 -k "$key" -k AAAA up wgx
# The same server twice (its requests would be refused as replays).
run 2 "servers #1 and #2 are both 198.18.0.1:49918: give each once" \
	-s 198.18.0.1 -s 198.18.0.1:49918 -k "$key" up wgd

if [ "$failed" -ne 0 ]; then
	echo "$failed failed"
	exit 1
fi
echo "all passed"
