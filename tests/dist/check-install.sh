#!/bin/bash
# SPDX-License-Identifier: MIT
#
# libcbpf as a library user gets it: `meson install` into a DESTDIR, then
# the README's example program compiled against the installed tree with
# nothing but `pkg-config --cflags --libs libcbpf`, once against the
# shared library and once against the static one, and run: its output must
# be the one the README shows. Also checks that the tree holds what the
# build installs (headers under include/cbpf/, libcbpf.pc, man pages,
# units, completions) and that `ninja -C BUILD uninstall` (what
# `make uninstall` runs) removes all of it again.
#
# The example and its output are read from README.md, between the
# "libcbpf example" markers, so the README cannot drift from what works.
#
# Usage: check-install.sh SOURCE_DIR BUILD_DIR
# Honours CC (default cc) and CFLAGS.

set -u
src=$(realpath -- "$1")
build=$(realpath -- "$2")

# The library's ABI major version: the soname the example must link.
want_soname=libcbpf.so.1

cc=${CC:-cc}
meson=${MESON:-meson}
ninja=${NINJA:-ninja}

skip()
{
	echo "SKIP: $*"
	exit 77
}

command -v "$cc" >/dev/null ||
	skip "no C compiler '$cc' (set CC, or install gcc)"
command -v pkg-config >/dev/null ||
	skip "pkg-config not found (Debian package: pkgconf)"
for tool in "$meson" "$ninja" python3 readelf nm; do
	command -v "$tool" >/dev/null || skip "$tool not found"
done

failures=0
tmp=$(mktemp -d) || exit 1
destdir=$tmp/root

# meson keeps one install log per build directory, and `ninja uninstall`
# removes what it lists. Installing into the DESTDIR overwrites it, so
# keep the log of a real `make install` and put it back afterwards.
install_log=$build/meson-logs/install-log.txt
if [[ -f $install_log ]]; then
	cp -p -- "$install_log" "$tmp/install-log.saved"
fi

cleanup()
{
	if [[ -f $tmp/install-log.saved ]]; then
		cp -p -- "$tmp/install-log.saved" "$install_log"
	else
		rm -f -- "$install_log"
	fi
	rm -rf -- "$tmp"
}
trap cleanup EXIT

fail()
{
	echo "FAIL: $*"
	failures=$((failures + 1))
}

ok()
{
	echo "ok: $*"
}

# --- install ----------------------------------------------------------------
if ! "$meson" install -C "$build" --no-rebuild --destdir "$destdir" \
	>"$tmp/meson-install.log" 2>&1; then
	cat "$tmp/meson-install.log"
	echo "FAIL: meson install --destdir"
	exit 1
fi
ok "meson install --destdir $destdir"

# The install directories as configured, absolute (prefix joined).
prefix='' bindir='' sbindir='' libdir='' includedir='' mandir='' datadir=''
eval "$("$meson" introspect --buildoptions "$build" | python3 -c '
import json, os, sys
opts = {o["name"]: o["value"] for o in json.load(sys.stdin)}
prefix = opts["prefix"]
for name in ("bindir", "sbindir", "libdir", "includedir", "mandir", "datadir"):
    print(f"{name}={os.path.join(prefix, opts[name])!r}")
print(f"prefix={prefix!r}")
')"
[[ -n $prefix && -n $bindir && -n $sbindir && -n $libdir && -n $includedir &&
	-n $mandir && -n $datadir ]] || {
	echo "FAIL: cannot read the install directories from meson introspect"
	exit 1
}

# Every file the build says it installs is there...
"$meson" introspect --installed "$build" |
	python3 -c 'import json, sys; print("\n".join(json.load(sys.stdin).values()))' \
	>"$tmp/installed.txt"
missing=0
while read -r path; do
	[[ -e $destdir$path || -L $destdir$path ]] || {
		fail "meson lists $path as installed, but it is not there"
		missing=$((missing + 1))
	}
done <"$tmp/installed.txt"
((missing == 0)) && ok "all $(wc -l <"$tmp/installed.txt") files meson lists are installed"

# ...and the build installs everything a user of the package expects.
expect_file()
{
	if [[ -f $destdir$1 ]]; then
		ok "installed $1"
	else
		fail "not installed: $1"
	fi
}

expect_file "$bindir/cbpf"
expect_file "$sbindir/wgpunchd"
expect_file "$sbindir/wgpunch"
expect_file "$libdir/libcbpf.a"
expect_file "$libdir/$want_soname"
if [[ -L $destdir$libdir/libcbpf.so &&
	$(readlink -- "$destdir$libdir/libcbpf.so") == "$want_soname" ]]; then
	ok "libcbpf.so -> $want_soname"
else
	fail "$libdir/libcbpf.so is not a link to $want_soname"
fi
expect_file "$libdir/pkgconfig/libcbpf.pc"
expect_file "$mandir/man1/cbpf.1"
expect_file "$mandir/man8/wgpunch.8"
expect_file "$mandir/man8/wgpunchd.8"
for page in "$src"/doc/libcbpf*.3; do
	expect_file "$mandir/man3/${page##*/}"
done
expect_file "$datadir/doc/libcbpf/kernel-rules.md"
expect_file "$prefix/lib/systemd/system/wgpunchd.service"
expect_file "$prefix/lib/systemd/system/wgpunch@.service"
for f in cbpf wgpunch wgpunchd; do
	expect_file "$datadir/bash-completion/completions/$f"
done

# The headers: cbpf.h, the umbrella, at the top; the parts under cbpf/,
# each the same as in the source tree, and no other.
headers_ok=1
cmp -s "$src/include/cbpf.h" "$destdir$includedir/cbpf.h" || {
	fail "$includedir/cbpf.h missing or not the source's"
	headers_ok=0
}
for h in "$src"/include/cbpf/*.h; do
	cmp -s "$h" "$destdir$includedir/cbpf/${h##*/}" || {
		fail "$includedir/cbpf/${h##*/} missing or not the source's"
		headers_ok=0
	}
done
for h in "$destdir$includedir"/cbpf/*; do
	[[ -f $src/include/cbpf/${h##*/} ]] || {
		fail "$includedir/cbpf/${h##*/} installed but not in include/cbpf/"
		headers_ok=0
	}
done
if ((headers_ok)); then
	names=("$src"/include/cbpf/*.h)
	names=("${names[@]##*/}")
	ok "headers: cbpf.h and cbpf/ with ${names[*]}"
fi

# --- libcbpf.pc -------------------------------------------------------------
# Only the installed tree: PKG_CONFIG_LIBDIR replaces the default search
# path (a libcbpf installed on the host must not be found), and the
# sysroot puts the DESTDIR in front of -I and -L.
export PKG_CONFIG_LIBDIR=$destdir$libdir/pkgconfig
export PKG_CONFIG_PATH=
export PKG_CONFIG_SYSROOT_DIR=$destdir
pc=$destdir$libdir/pkgconfig/libcbpf.pc

if pkg-config --validate libcbpf; then
	ok "pkg-config --validate libcbpf"
else
	fail "pkg-config --validate libcbpf"
fi
for field in Name Description Version Libs Cflags; do
	grep -q "^$field: ." "$pc" || fail "libcbpf.pc has no $field"
done
# libcbpf needs nothing but libc: no Requires of any kind, and nothing
# private to add for a static link.
for field in Requires Requires.private Libs.private Conflicts; do
	grep -q "^$field:" "$pc" && fail "libcbpf.pc has $field: $(grep "^$field:" "$pc")"
done
# (xargs: pkg-config ends its output with a blank)
cflags=$(pkg-config --cflags libcbpf | xargs)
libs=$(pkg-config --libs libcbpf | xargs)
static_libs=$(pkg-config --static --libs libcbpf | xargs)
echo "pkg-config: cflags '$cflags', libs '$libs', static '$static_libs'"
[[ $cflags == "-I$destdir$includedir" ]] ||
	fail "cflags '$cflags', want -I$destdir$includedir"
[[ $libs == "-L$destdir$libdir -lcbpf" ]] ||
	fail "libs '$libs', want -L$destdir$libdir -lcbpf"
[[ $static_libs == "$libs" ]] ||
	fail "static libs '$static_libs' differ from '$libs'"
version=$(pkg-config --modversion libcbpf)
if [[ ${version%%.*} == "${want_soname##*.so.}" ]]; then
	ok "version $version matches $want_soname"
else
	fail "libcbpf.pc version $version, but the soname is $want_soname"
fi

# --- the README example -----------------------------------------------------
# between_markers NAME: the fenced block between "<!-- NAME: begin" and
# "<!-- NAME: end", without the fence lines.
between_markers()
{
	awk -v begin="<!-- $1: begin" -v end="<!-- $1: end" '
		index($0, begin) == 1 { inside = 1; next }
		index($0, end) == 1 { inside = 0 }
		inside && !/^```/ { print }
	' "$src/README.md"
}

between_markers "libcbpf example" >"$tmp/example.c"
between_markers "libcbpf example output" >"$tmp/example.want"
if [[ ! -s $tmp/example.c || ! -s $tmp/example.want ]]; then
	fail "README.md: no example or no output between the 'libcbpf example' markers"
	exit 1
fi
ok "README example: $(wc -l <"$tmp/example.c") lines of C, $(wc -l <"$tmp/example.want") of output"

# libcbpf(3) shows the same program and output: its first two .EX blocks
# after .SH EXAMPLE, with roff's escapes undone.
man3=$destdir$mandir/man3/libcbpf.3
if [[ -f $man3 ]]; then
	awk '
		/^\.SH EXAMPLE/ { in_section = 1 }
		/^\.SH / && !/EXAMPLE/ { in_section = 0 }
		in_section && /^\.EX/ { block++; inside = 1; next }
		/^\.EE/ { inside = 0 }
		inside && !/^\.ta / {
			sub(/^\\&/, "")
			gsub(/\\e/, "\\")
			print > (dir "/man-example." block)
		}
	' dir="$tmp" "$man3"
	if cmp -s "$tmp/example.c" "$tmp/man-example.1" &&
		cmp -s "$tmp/example.want" "$tmp/man-example.2"; then
		ok "libcbpf(3)'s EXAMPLE is the README's program and output"
	else
		fail "libcbpf(3)'s EXAMPLE differs from the README's:"
		diff -u "$tmp/example.c" "$tmp/man-example.1" | head -20
		diff -u "$tmp/example.want" "$tmp/man-example.2" | head -20
	fi
fi

# libcbpf(3)'s SYNOPSIS declares every function the library exports, and
# no other.
if [[ -f $man3 && -f $destdir$libdir/$want_soname ]]; then
	nm -D --defined-only "$destdir$libdir/$want_soname" |
		awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' | sort -u \
		>"$tmp/exported"
	sed -n '/^\.SH SYNOPSIS/,/^\.SH DESCRIPTION/p' "$man3" |
		grep -oE '\<cbpf_[a-z0-9_]+\(' | tr -d '(' | sort -u \
		>"$tmp/synopsis"
	if [[ -s $tmp/exported ]] && cmp -s "$tmp/exported" "$tmp/synopsis"; then
		ok "libcbpf(3)'s SYNOPSIS: the $(wc -l <"$tmp/exported") exported functions"
	else
		fail "libcbpf(3)'s SYNOPSIS (+) and the exported functions (-) differ:"
		diff "$tmp/exported" "$tmp/synopsis" | grep '^[<>]' |
			sed 's/^</-/; s/^>/+/'
	fi
fi

# run_example BINARY: runs it (in the environment given before the call);
# it must exit 0 and print what the README shows.
run_example()
{
	local what=$1 rc
	shift

	"$@" >"$tmp/example.got" 2>&1
	rc=$?
	if ((rc != 0)); then
		fail "$what example exited $rc:"
		cat "$tmp/example.got"
	elif ! diff -u "$tmp/example.want" "$tmp/example.got"; then
		fail "$what example: output differs from the README's (above)"
	else
		ok "$what example runs and prints the README's output"
	fi
}

# needed BINARY: its DT_NEEDED libraries, one per line.
needed()
{
	readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
}

# Shared: linked with exactly what pkg-config says.
# shellcheck disable=SC2086 # the flags are words
if "$cc" ${CFLAGS:-} -o "$tmp/example-shared" "$tmp/example.c" \
	$cflags $libs 2>"$tmp/cc.log"; then
	ok "compiled against the installed shared library"
	if needed "$tmp/example-shared" | grep -qxF "$want_soname"; then
		ok "example-shared needs $want_soname"
	else
		fail "example-shared does not need $want_soname: $(needed "$tmp/example-shared" | xargs)"
	fi
	# The loader must take the installed copy, not one from the host.
	resolved=$(LD_LIBRARY_PATH=$destdir$libdir ldd "$tmp/example-shared" |
		sed -n "s/^[[:space:]]*$want_soname => \([^ ]*\).*/\1/p")
	if [[ $resolved == "$destdir$libdir/$want_soname" ]]; then
		ok "ldd: $want_soname => the installed copy"
	else
		fail "ldd: $want_soname => '$resolved', not $destdir$libdir/$want_soname"
	fi
	run_example shared env LD_LIBRARY_PATH="$destdir$libdir" \
		"$tmp/example-shared"
else
	fail "the README example does not compile against the shared library:"
	cat "$tmp/cc.log"
fi

# Static: libcbpf.a by the static flags, libc as usual (the linker takes
# the .a of every -l between -Bstatic and -Bdynamic).
# shellcheck disable=SC2086
if "$cc" ${CFLAGS:-} -o "$tmp/example-static" "$tmp/example.c" \
	$cflags -Wl,-Bstatic $static_libs -Wl,-Bdynamic 2>"$tmp/cc.log"; then
	ok "compiled against the installed static library"
	if needed "$tmp/example-static" | grep -q '^libcbpf'; then
		fail "example-static needs $(needed "$tmp/example-static" | grep '^libcbpf')"
	else
		ok "example-static needs no libcbpf.so ($(needed "$tmp/example-static" | xargs))"
	fi
	run_example static "$tmp/example-static"
else
	fail "the README example does not link against libcbpf.a:"
	cat "$tmp/cc.log"
fi

# --- uninstall --------------------------------------------------------------
if ! "$ninja" -C "$build" uninstall >"$tmp/uninstall.log" 2>&1; then
	cat "$tmp/uninstall.log"
	fail "ninja -C $build uninstall"
fi
# (meson also removes the directories it created, DESTDIR itself included)
left=
[[ -d $destdir ]] && left=$(find "$destdir" ! -type d)
if [[ -n $left ]]; then
	fail "left behind by uninstall:"
	echo "$left"
else
	ok "ninja uninstall removed every installed file"
fi

if ((failures)); then
	echo "$failures failure(s)"
	exit 1
fi
echo "the installed libcbpf works as the README says"
