#!/bin/bash
# SPDX-License-Identifier: MIT
#
# libcbpf exports exactly its API: the functions that include/cbpf/*.h
# declare are the dynamic symbols libcbpf.so defines, each one listed by
# name in lib/libcbpf.map and versioned LIBCBPF_1.0, and the soname is
# libcbpf.so.1. An internal helper that leaks (a cbpf_grow), a public
# function the map forgets (it would be local, so unlinkable), or a
# header declaring a function the library lacks all fail.
#
# Usage: check-exports.sh LIBCBPF_SO INCLUDE_DIR MAP

set -u
so=$1
include=$2
map=$3
tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT
fail=0

# Function names declared in the headers, comments stripped (they name
# functions too, e.g. "cbpf_validate()").
perl -0777 -pe 's{/\*.*?\*/}{}gs' "$include"/cbpf.h "$include"/cbpf/*.h |
	grep -oE '\bcbpf_[a-z0-9_]+[[:space:]]*\(' | tr -d '( \t' |
	sort -u >"$tmp/declared"

# What the shared library defines: name@@version, minus the version
# node's own absolute symbol.
nm -D --defined-only "$so" | awk '{ print $3 }' | grep -v '^LIBCBPF_' |
	sort -u >"$tmp/symbols"
sed 's/@.*//' "$tmp/symbols" | sort -u >"$tmp/exported"

# The map's global names, comments stripped; no wildcard allowed there.
perl -0777 -ne 'print $1 if /global:(.*?)local:/s' "$map" |
	perl -0777 -pe 's{/\*.*?\*/}{}gs' | tr -d ' \t;' | grep -v '^$' |
	sort >"$tmp/mapped"

if [ ! -s "$tmp/declared" ] || [ ! -s "$tmp/exported" ]; then
	echo "no declarations or no symbols found" >&2
	exit 1
fi
if grep -q '[*?]' "$tmp/mapped"; then
	echo "$map: a wildcard in the global list" >&2
	fail=1
fi
if ! diff -u "$tmp/declared" "$tmp/exported" >"$tmp/diff"; then
	echo "headers (-) and nm -D of $so (+) differ:" >&2
	cat "$tmp/diff" >&2
	fail=1
fi
if ! diff -u "$tmp/declared" "$tmp/mapped" >"$tmp/diff"; then
	echo "headers (-) and $map (+) differ:" >&2
	cat "$tmp/diff" >&2
	fail=1
fi
if grep -v '@@LIBCBPF_1\.0$' "$tmp/symbols" >&2; then
	echo "^ not versioned LIBCBPF_1.0" >&2
	fail=1
fi
soname=$(objdump -p "$so" | awk '$1 == "SONAME" { print $2 }')
if [ "$soname" != libcbpf.so.1 ]; then
	echo "soname is '$soname', not libcbpf.so.1" >&2
	fail=1
fi
[ "$fail" = 0 ] && echo "libcbpf.so.1 exports the $(wc -l <"$tmp/declared") functions of include/cbpf/*.h, all LIBCBPF_1.0"
exit "$fail"
