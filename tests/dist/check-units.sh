#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The systemd units as meson configured them (dist/*.service.in): what
# systemd can check without running them. systemd-analyze verify (the
# unit parses, its ExecStart= binary exists, its dependencies load),
# systemd-analyze security --offline (the exposure score, held under a
# threshold), and the lines that make each unit what it is.
#
# Usage: check-units.sh UNIT_DIR SBINDIR WGPUNCHD WGPUNCH
#   UNIT_DIR  the build directory's dist/, with the configured units
#   SBINDIR   the sbindir meson substituted
#   WGPUNCHD, WGPUNCH  the binaries built, put in ExecStart= for verify
#
# Thresholds, measured with systemd 252 (Debian 12): wgpunchd 1.1 and
# wgpunch@ 2.0. wgpunch@ pays 0.4 for running as uid 0 (wireguard-go's
# UAPI socket is root's, mode 0700), 0.3 for its two capabilities and
# 0.1 for /proc/net/route. Each limit is the measured score plus 0.4:
# room for another systemd's weights, but losing SystemCallFilter= (+1.5),
# CapabilityBoundingSet= (+1.5) or RestrictNamespaces= (+0.7) fails.

set -u
unit_dir=$1
sbindir=$2
# meson passes the binaries relative to the build directory.
wgpunchd=$(realpath -- "$3")
wgpunch=$(realpath -- "$4")

max_wgpunchd=1.5
max_wgpunch=2.4

if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP: systemd-analyze not found (Debian package: systemd)"
	exit 77
fi

# shellcheck source=common.sh
source "$(dirname -- "$0")/common.sh"

# has UNIT LINE: the unit has exactly this line.
has()
{
	if grep -qxF -- "$2" "$unit_dir/$1"; then
		echo "ok: $1: $2"
	else
		fail "$1: no line '$2'"
	fi
}

# words_are UNIT KEY "WORDS": the unit sets KEY once, to exactly these
# words, in any order.
words_are()
{
	local lines got want

	lines=$(grep -c "^$2=" "$unit_dir/$1")
	got=$(sed -n "s/^$2=//p" "$unit_dir/$1" | tr ' ' '\n' | sort | xargs)
	want=$(echo "$3" | tr ' ' '\n' | sort | xargs)
	if [[ $lines != 1 || $got != "$want" ]]; then
		fail "$1: $2= is '$got' ($lines lines), want '$want' once"
	else
		echo "ok: $1: $2=$want"
	fi
}

# --- contents -----------------------------------------------------------
for unit in wgpunchd.service wgpunch@.service; do
	if [[ ! -f $unit_dir/$unit ]]; then
		echo "FAIL: $unit_dir/$unit missing (not configured?)"
		exit 1
	fi
	grep -q '@[A-Z_]*@' "$unit_dir/$unit" &&
		fail "$unit: a @VARIABLE@ left unsubstituted"
	for line in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes \
		PrivateTmp=yes PrivateDevices=yes ProtectKernelTunables=yes \
		ProtectKernelModules=yes ProtectControlGroups=yes \
		RestrictNamespaces=yes MemoryDenyWriteExecute=yes \
		SystemCallArchitectures=native \
		'SystemCallFilter=@system-service seccomp' \
		'SystemCallFilter=~@privileged @resources'; do
		has "$unit" "$line"
	done
done

has wgpunchd.service \
	"ExecStart=$sbindir/wgpunchd --private-key \${CREDENTIALS_DIRECTORY}/key"
has wgpunchd.service LoadCredential=key:/etc/wgpunchd/key
has wgpunchd.service DynamicUser=yes
has wgpunchd.service PrivateUsers=yes
has wgpunchd.service CapabilityBoundingSet=
has wgpunchd.service AmbientCapabilities=
words_are wgpunchd.service RestrictAddressFamilies "AF_INET AF_INET6 AF_UNIX"

has wgpunch@.service \
	"ExecStart=$sbindir/wgpunch --config /etc/wgpunch/%i.conf daemon %i"
has wgpunch@.service BindsTo=wg-quick@%i.service
has wgpunch@.service PartOf=wg-quick@%i.service
grep -q '^After=.*wg-quick@%i\.service' "$unit_dir/wgpunch@.service" ||
	fail "wgpunch@.service: not After=wg-quick@%i.service"
has wgpunch@.service RuntimeDirectory=wgpunch
words_are wgpunch@.service CapabilityBoundingSet "CAP_NET_RAW CAP_NET_ADMIN"
words_are wgpunch@.service AmbientCapabilities "CAP_NET_RAW CAP_NET_ADMIN"
words_are wgpunch@.service RestrictAddressFamilies \
	"AF_INET AF_INET6 AF_NETLINK AF_UNIX"

# --- verify ---------------------------------------------------------------
# The installed path does not exist yet: copies that run the built
# binaries. The copies sit side by side, and verify loads units from the
# directories of the files it is given, so wgpunch@wg0.service is found
# as an instance of wgpunch@.service.
sed "s|^ExecStart=$sbindir/wgpunchd |ExecStart=$wgpunchd |" \
	"$unit_dir/wgpunchd.service" > "$tmp/wgpunchd.service"
sed "s|^ExecStart=$sbindir/wgpunch |ExecStart=$wgpunch |" \
	"$unit_dir/wgpunch@.service" > "$tmp/wgpunch@.service"
grep -q "^ExecStart=$wgpunchd " "$tmp/wgpunchd.service" &&
	grep -q "^ExecStart=$wgpunch " "$tmp/wgpunch@.service" ||
	fail "ExecStart= of the units is not under $sbindir"

# BindsTo= must load: without wireguard-tools' wg-quick@.service, a
# stand-in (verify fails on a missing dependency).
wg_quick=
for d in $(systemd-analyze unit-paths 2>/dev/null); do
	[[ -f $d/wg-quick@.service ]] && wg_quick=$d/wg-quick@.service
done
if [[ -z $wg_quick ]]; then
	echo "note: no wg-quick@.service installed; verifying with a stand-in"
	printf '[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n' \
		> "$tmp/wg-quick@.service"
fi

# verify_units EXPECT UNIT...: EXPECT "clean" (exit 0 and not a word
# about our units) or "error" (a non-zero exit).
verify_units()
{
	local expect=$1 out rc
	shift

	out=$(cd "$tmp" && systemd-analyze verify --man=no "$@" 2>&1)
	rc=$?
	case $expect in
	clean)
		if ((rc != 0)) || grep -q wgpunch <<<"$out"; then
			fail "systemd-analyze verify $* (exit $rc):"
			echo "$out"
		else
			echo "ok: systemd-analyze verify $*"
			[[ -n $out ]] && echo "  (about other units: $out)"
		fi ;;
	error)
		if ((rc == 0)); then
			fail "verify accepted a broken unit: $*"
		else
			echo "ok: verify rejects $* ($(head -n1 <<<"$out"))"
		fi ;;
	esac
}

verify_units clean ./wgpunchd.service ./wgpunch@wg0.service

# The check itself must be able to fail: an ExecStart= that does not exist.
sed "s|^ExecStart=[^ ]*|ExecStart=$tmp/missing|" "$tmp/wgpunchd.service" \
	> "$tmp/broken.service"
verify_units error ./broken.service
rm -f "$tmp/broken.service"

# --- security -------------------------------------------------------------
# score UNIT MAX: print the overall exposure level, fail above MAX.
score()
{
	local out level

	out=$(cd "$tmp" && systemd-analyze security --offline=yes "./$1" 2>&1)
	level=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' \
		<<<"$out")
	if [[ -z $level ]]; then
		fail "$1: no exposure level from systemd-analyze security:"
		echo "$out"
		return
	fi
	if awk -v l="$level" -v m="$2" 'BEGIN { exit !(l <= m) }'; then
		echo "ok: $1: exposure level $level (at most $2)"
	else
		fail "$1: exposure level $level, above $2"
		grep '✗' <<<"$out"
	fi
}

score wgpunchd.service "$max_wgpunchd"
score wgpunch@wg0.service "$max_wgpunch"

finish "units as expected"
