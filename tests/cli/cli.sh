#!/bin/sh
# SPDX-License-Identifier: MIT
# Tests of the cbpf command. Usage: cli.sh path/to/cbpf
#
# Every expected value below is worked out by hand from the instruction
# encoding (linux/filter.h) and the kernel's rules, not copied from cbpf's
# own output. Prints one "ok"/"not ok" line per check; exits 1 if any
# check failed.
set -u

CBPF=${1:?usage: cli.sh path/to/cbpf}
case $CBPF in /*) ;; *) CBPF=$PWD/$CBPF ;; esac
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 2
exec </dev/null		# a test that wants input gives it explicitly

passed=0
failed=0
name=

pass() { passed=$((passed + 1)); echo "ok - $name: $1"; }
fail() {
	failed=$((failed + 1))
	echo "not ok - $name: $1"
	shift
	for line in "$@"; do printf '%s\n' "$line" | sed 's/^/#   /'; done
	echo "#   stdout:"; sed 's/^/#     /' out
	echo "#   stderr:"; sed 's/^/#     /' err
}

# t NAME STATUS ARGS...: runs cbpf ARGS with the caller's stdin into files
# out and err and checks the exit status.
t() {
	name=$1 want=$2
	shift 2
	"$CBPF" "$@" >out 2>err
	got=$?
	if [ "$got" -eq "$want" ]; then pass "exit $want"
	else fail "exit $got, want $want" "cbpf $*"; fi
}

# out_is TEXT: stdout is exactly TEXT plus a final newline ("": empty).
out_is() {
	if [ -n "$1" ]; then printf '%s\n' "$1" >want; else : >want; fi
	if cmp -s out want; then pass "stdout"
	else fail "stdout differs" "want:" "$(sed 's/^/  /' want)"; fi
}

# out_lines LINE...: each LINE is a whole line of stdout.
out_lines() {
	for line in "$@"; do
		if grep -qxF -- "$line" out; then pass "stdout line '$line'"
		else fail "no stdout line '$line'"; fi
	done
}

# err_has TEXT: stderr contains TEXT; out_has: stdout does.
err_has() {
	if grep -qF -- "$1" err; then pass "stderr has '$1'"
	else fail "stderr lacks '$1'"; fi
}
out_has() {
	if grep -qF -- "$1" out; then pass "stdout has '$1'"
	else fail "stdout lacks '$1'"; fi
}
# out_line REGEX: some stdout line matches the basic regex.
out_line() {
	if grep -q -- "$1" out; then pass "stdout line /$1/"
	else fail "no stdout line /$1/"; fi
}

# --- programs, in tcpdump -ddd form (code jt jf k, decimal) -------------
# ldb [0] = BPF_LD|BPF_B|BPF_ABS = 0x30 = 48; ret a = BPF_RET|BPF_A = 0x16 = 22
printf '2\n48 0 0 0\n22 0 0 0\n' >byte0.ddd
# ld #len = BPF_LD|BPF_W|BPF_LEN = 0x80 = 128
printf '2\n128 0 0 0\n22 0 0 0\n' >len.ddd
# ld #1 (0x00); div #0 = BPF_ALU|BPF_DIV|BPF_K = 0x34 = 52: rejected at insn 1
printf '3\n0 0 0 1\n52 0 0 0\n22 0 0 0\n' >div0k.ddd
# ld #0; 0x08 (LD|H|IMM, not a kernel opcode) at insn 1; ret #0 (0x06)
printf '3\n0 0 0 0\n8 0 0 0\n6 0 0 0\n' >badop.ddd
# ld M[0] = 0x60 = 96 before any store: rejected at insn 0
printf '2\n96 0 0 0\n22 0 0 0\n' >scratch.ddd
# jeq (0x15 = 21) with jt = 5 past the end at insn 0
printf '2\n21 5 0 1\n6 0 0 0\n' >jump.ddd
# ld #0 alone: does not end in RET, rejected at insn 0
printf '1\n0 0 0 0\n' >noret.ddd
# ld [mark] (0x20 = 32, k = SKF_AD_OFF + SKF_AD_MARK = 0xfffff000 + 20); ret a
printf '2\n32 0 0 4294963220\n22 0 0 0\n' >mark.ddd
# ld #50; ld [ifidx] (k = 0xfffff000 + 8); ret #1000: without a device the
# kernel ends the run at insn 1 returning A = 50
printf '3\n0 0 0 50\n32 0 0 4294963208\n6 0 0 1000\n' >ifidx.ddd
# ld [rand] (k = 0xfffff000 + 56); ret a
printf '2\n32 0 0 4294963256\n22 0 0 0\n' >rand.ddd
# ldb [SKF_NET_OFF + 1]: k = 0xfff00000 + 1 = 4293918721
printf '2\n48 0 0 4293918721\n22 0 0 0\n' >net1.ddd
# ret #0xffffffff (0x06)
printf '1\n6 0 0 4294967295\n' >all.ddd
# ldb [0]; tax (0x07); ldb [x + 1] (0x50 = 80); ret a
printf '4\n48 0 0 0\n7 0 0 0\n80 0 0 1\n22 0 0 0\n' >ind.ddd
# ld #7; st M[3] (0x02); ldx M[3] (0x61 = 97); txa (0x87 = 135); ret a
printf '5\n0 0 0 7\n2 0 0 3\n97 0 0 3\n135 0 0 0\n22 0 0 0\n' >mem.ddd
# ldx #0 (0x01); ld #1; div x (0x3c = 60); ret a
printf '4\n1 0 0 0\n0 0 0 1\n60 0 0 0\n22 0 0 0\n' >div0x.ddd
# a parse error: "zz" at line 3, column 6
printf '2\n48 0 0 0\n22 0 zz 0\n' >bad.ddd

# --- the dispatcher -----------------------------------------------------
t "cbpf --help" 0 --help
for c in check run trace asm disasm compile; do out_has "  $c "; done
t "cbpf --version" 0 --version
out_line '^cbpf [0-9]'
t "cbpf without a command" 2
err_has "Usage: cbpf"
t "unknown command" 2 frobnicate
err_has "frobnicate"
for c in check run trace asm disasm compile; do
	t "cbpf $c --help" 0 "$c" --help
	out_has "Usage: cbpf $c"
	t "cbpf help $c" 0 help "$c"
	out_has "Usage: cbpf $c"
	t "cbpf $c with an unknown option" 2 "$c" --no-such-option
	err_has "no-such-option"
done
t "help for an unknown command" 2 help frobnicate

# --- check --------------------------------------------------------------
t "check valid ddd" 0 check byte0.ddd
out_is "byte0.ddd: ok, 2 instructions"
t "check -q" 0 check -q byte0.ddd
out_is ""
t "check from stdin" 0 check <byte0.ddd
t "check from -" 0 check - <byte0.ddd
t "check dd form" 0 check -e '{ 0x30, 0, 0, 0x00000000 },
{ 0x16, 0, 0, 0x00000000 },'
t "check comma form" 0 check -e '2,48 0 0 0,22 0 0 0,'
printf 'ldb [0]\nret a\n' >byte0.s
t "check bpf_asm text" 0 check byte0.s
t "check division by constant 0" 1 check div0k.ddd
err_has "div0k.ddd"
err_has "insn 1"
t "check kernel-rejected opcode 0x08" 1 check badop.ddd
err_has "insn 1"
t "check scratch read before write" 1 check scratch.ddd
err_has "insn 0"
t "check jump past the end" 1 check jump.ddd
err_has "insn 0"
t "check program not ending in ret" 1 check noret.ddd
err_has "insn 0"
t "check missing file" 2 check no-such-file.ddd
err_has "no-such-file.ddd"
t "check parse error" 1 check bad.ddd
err_has "bad.ddd:3:"
t "check two files" 2 check byte0.ddd byte0.ddd
printf '\001\002\003' >odd.bin
t "check raw binary of 3 bytes" 1 check odd.bin
err_has "odd.bin"
t "check empty input" 1 check -e ''

# --- asm ----------------------------------------------------------------
t "asm to ddd" 0 asm -f ddd byte0.s
out_is "$(printf '2\n48 0 0 0\n22 0 0 0')"
t "asm default comma form" 0 asm byte0.s
sed 's/,$//' out >out.comma && mv out.comma out
out_is "2,48 0 0 0,22 0 0 0"
t "asm to dd" 0 asm -f dd byte0.s
out_is "$(printf '{ 0x30, 0, 0, 0x00000000 },\n{ 0x16, 0, 0, 0x00000000 },')"
t "asm from stdin" 0 asm -f ddd <byte0.s
out_is "$(printf '2\n48 0 0 0\n22 0 0 0')"
# jne is jeq with the targets swapped: jt 0, jf 1 (0x15 = 21, k = 5)
printf 'ldb [0]\njne #5, skip\nret #1\nskip: ret #2\n' >jne.s
t "asm jne" 0 asm -f ddd jne.s
out_is "$(printf '4\n48 0 0 0\n21 0 1 5\n6 0 0 1\n6 0 0 2')"
t "asm raw" 0 asm -f raw byte0.s
mv out byte0.bin
if [ "$(wc -c <byte0.bin)" -eq 16 ]; then pass "raw is 2 x 8 bytes"
else fail "raw is $(wc -c <byte0.bin) bytes, want 16"; fi
# script(1) gives cbpf a terminal as stdout, where raw must be refused
if script -qec true /dev/null >/dev/null 2>&1; then
	name="asm raw to a terminal"
	script -qec "'$CBPF' asm -f raw byte0.s" /dev/null >out 2>&1
	got=$?
	if [ "$got" -eq 2 ]; then pass "exit 2"; else fail "exit $got, want 2"; fi
	if grep -q "terminal" out; then pass "says why"; else fail "no reason given"; fi
else
	echo "ok - asm raw to a terminal # SKIP script(1) cannot make a terminal"
fi
t "disasm raw back" 0 disasm -f ddd byte0.bin
out_is "$(printf '2\n48 0 0 0\n22 0 0 0')"
t "check raw" 0 check -q byte0.bin
printf 'ldb [0]\n  foo #1\nret a\n' >badmn.s
t "asm unknown mnemonic" 1 asm badmn.s
err_has "badmn.s:2:3:"
printf 'ld #1\nldb [zz]\nret #0\n' >badop.s
t "asm broken operand" 1 asm badop.s
err_has "badop.s:2:6:"
printf 'ja nowhere\nret #0\n' >nolabel.s
t "asm unknown label" 1 asm nolabel.s
err_has "nolabel.s:"
err_has "nowhere"
# ret x would be 0x0e, which bpf_asm emits but the kernel rejects
printf 'ld #1\nret x\n' >retx.s
t "asm ret x" 1 asm -f ddd retx.s
err_has "retx.s:2:"
out_is ""
# div #0 (0x34 = 52) assembles, but the kernel rejects it at insn 1
printf 'ld #1\ndiv #0\nret a\n' >div0k.s
t "asm invalid program" 1 asm -f ddd div0k.s
err_has "insn 1"
out_is ""
t "asm --no-validate" 0 asm -n -f ddd div0k.s
out_is "$(cat div0k.ddd)"
t "asm unknown format" 2 asm -f pdf byte0.s
err_has "pdf"
t "asm missing file" 2 asm missing.s
err_has "missing.s"
t "asm rejects -ddd input" 1 asm byte0.ddd
err_has "byte0.ddd:1:"

# --- disasm -------------------------------------------------------------
t "disasm tcpdump form" 0 disasm --no-trailing-blanks byte0.ddd
out_is "$(printf '(000) ldb      [0]\n(001) ret')"
# tcpdump -d of "ip" on Ethernet: a tab before jf, absolute targets
printf '4\n40 0 0 12\n21 0 1 2048\n6 0 0 262144\n6 0 0 0\n' >ip.ddd
t "disasm jeq" 0 disasm ip.ddd
out_is "$(printf '(000) ldh      [12]\n(001) jeq      #0x800           jt 2\tjf 3\n(002) ret      #262144\n(003) ret      #0')"
t "disasm to asm and back" 0 disasm -f asm ip.ddd
mv out ip.s
t "asm of disasm -f asm" 0 asm -f ddd ip.s
out_is "$(cat ip.ddd)"
t "disasm -f c" 0 disasm -f c ip.ddd
out_has "BPF_STMT"
out_has "BPF_JUMP"
t "disasm -f dot" 0 disasm -f dot ip.ddd
out_has "digraph"
t "disasm of an invalid program" 0 disasm -f ddd badop.ddd
out_is "$(cat badop.ddd)"
t "disasm missing file" 2 disasm nothere
err_has "nothere"
t "disasm parse error" 1 disasm bad.ddd
err_has "bad.ddd:3:"

# --- compile ------------------------------------------------------------
# "ip": ldh [12] (0x28 = 40); jeq #0x800 jt 0 jf 1; ret #262144; ret #0
t "compile ip" 0 compile ip
out_is "$(cat ip.ddd)"
t "compile -f tcpdump" 0 compile -f tcpdump ip
out_is "$(printf '(000) ldh      [12]\n(001) jeq      #0x800           jt 2\tjf 3\n(002) ret      #262144\n(003) ret      #0')"
# On DLT_IPV4 the protocol is byte 9: ldb [9]; jeq #17 jt 0 jf 1; ret;
# ret (libpcap 1.10 also puts a no-op "ld #0" first, so no exact match)
t "compile -l ipv4 udp" 0 compile -l ipv4 udp
out_lines "48 0 0 9" "21 0 1 17" "6 0 0 262144" "6 0 0 0"
t "compile words are joined" 0 compile -l ipv4 -s 100 ip proto 17
out_lines "48 0 0 9" "21 0 1 17" "6 0 0 100" "6 0 0 0"
t "compile -O" 0 compile -O -f ddd ip
t "compile bad expression" 1 compile tcp and and
err_has "syntax error"
t "compile unknown link" 2 compile -l token-ring ip
err_has "token-ring"
t "compile without expression" 2 compile

# --- run ----------------------------------------------------------------
t "run ldb [0]" 0 run byte0.ddd <<EOF
2a

ff 01
00
EOF
out_is "$(printf '42\n0\n255\n0')"
t "run ld #len" 0 run len.ddd <<EOF

0102
01:02:03
 aa  bb	cc dd 
EOF
out_is "$(printf '0\n2\n3\n4')"
t "run -e program" 0 run -e '2,48 0 0 0,22 0 0 0,' <<EOF
7f
EOF
out_is "127"
t "run bad hex digit" 1 run byte0.ddd <<EOF
2a
zz
2b
EOF
err_has "<stdin>:2:1:"
out_is "42"
t "run odd digit count" 1 run byte0.ddd <<EOF
01 02
123
EOF
err_has "<stdin>:2:3:"
t "run invalid program" 1 run div0k.ddd <<EOF
00
EOF
err_has "insn 1"
out_is ""
t "run missing program" 2 run absent.ddd <<EOF
00
EOF
err_has "absent.ddd"
t "run program and packets both on stdin" 2 run
t "run -v" 0 run -v byte0.ddd <<EOF
2a

EOF
out_is "$(printf '1 1 42 return\n2 0 0 out-of-bounds')"
t "run default context: no mark" 0 run mark.ddd <<EOF
00
EOF
out_is "0"
t "run --mark" 0 run --mark 0x1234 mark.ddd <<EOF
00
EOF
out_is "4660"
t "run no device" 0 run ifidx.ddd <<EOF
00
EOF
out_is "50"
t "run --ifindex" 0 run --ifindex 3 ifidx.ddd <<EOF
00
EOF
out_is "1000"
t "run --random" 0 run --random 99 rand.ddd <<EOF

EOF
out_is "99"
t "run SKF_NET_OFF default" 0 run net1.ddd <<EOF
aabbcc
EOF
out_is "187"
t "run --net-off 1" 0 run --net-off 1 net1.ddd <<EOF
aabbcc
EOF
out_is "204"
t "run --net-off none" 0 run --net-off none net1.ddd <<EOF
aabbcc
EOF
out_is "0"
# --headroom: bytes in front of what the filter sees (a raw IPv6
# socket's header), reached only through SKF_NET_OFF with a negative offset.
# net1.ddd loads byte 1 of the network header: here byte 1 of the headroom.
t "run --headroom, net header in it" 0 run --headroom 2 --net-off -2 net1.ddd <<EOF
aabbcc
EOF
out_is "187"
t "trace --headroom sees the rest" 0 trace --headroom 2 --net-off -1 --packet aabbcc net1.ddd
out_has "packet: 1 byte"
out_has "verdict: 204"
t "run --headroom longer than the packet" 1 run --headroom 3 net1.ddd <<EOF
aabb
EOF
err_has "packet 1 is shorter (2 bytes) than --headroom 3"
t "run --net-off not a number" 2 run --net-off -x net1.ddd </dev/null
err_has "--net-off: '-x'"
# ld [proto] (k = 0xfffff000 + 0), [vlan_tci] (+ 44), [vlanp] (+ 48)
for anc in proto:4294963200 vlan_tci:4294963244 vlanp:4294963248; do
	printf '2\n32 0 0 %s\n22 0 0 0\n' "${anc#*:}" >"${anc%%:*}.ddd"
done
t "run --protocol" 0 run --protocol 0x0800 proto.ddd <<EOF
00
EOF
out_is "2048"
t "run --vlan-tci" 0 run --vlan-tci 0x123 vlan_tci.ddd <<EOF
00
EOF
out_is "291"
t "run no vlan tag" 0 run vlanp.ddd <<EOF
00
EOF
out_is "0"
t "run --vlan-tci makes the tag present" 0 run --vlan-tci 0 vlanp.ddd <<EOF
00
EOF
out_is "1"
t "run --pkttype out of range" 2 run --pkttype 8 byte0.ddd
err_has "pkttype"
t "run --mark not a number" 2 run --mark lots byte0.ddd
err_has "lots"

# --kernel: the AF_UNIX socket delivers min(verdict, length) bytes, or
# nothing for verdict 0.
t "run --kernel" 0 run --kernel byte0.ddd <<EOF
2a
00
05 00 00 00 00 00 00 00

EOF
out_is "$(printf '42 kernel=1 ok\n0 kernel=drop ok\n5 kernel=5 ok\n0 kernel=drop ok')"
t "run --kernel whole packet" 0 run -k all.ddd <<EOF

0102
EOF
out_is "$(printf '4294967295 kernel=0 ok\n4294967295 kernel=2 ok')"
t "run --kernel no device" 0 run -k ifidx.ddd <<EOF
$(printf '%0120d' 0)
00
EOF
out_is "$(printf '50 kernel=50 ok\n50 kernel=1 ok')"
t "run --kernel with a context option" 2 run --kernel --mark 1 byte0.ddd

# A classic pcap file, little-endian, written byte by byte (octal escapes:
# POSIX printf has no \x): magic a1b2c3d4, version 2.4, zone 0, sigfigs 0,
# snaplen 65535, link type 1; then records of ts_sec, ts_usec, caplen, len.
{
	printf '\324\303\262\241\002\000\004\000'
	printf '\000\000\000\000\000\000\000\000'
	printf '\377\377\000\000\001\000\000\000'
	printf '\001\000\000\000\000\000\000\000\003\000\000\000\003\000\000\000'
	printf '\052\001\002'
	printf '\002\000\000\000\000\000\000\000\001\000\000\000\001\000\000\000'
	printf '\007'
	printf '\003\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000'
} >three.pcap
t "run --pcap" 0 run --pcap three.pcap byte0.ddd
out_is "$(printf '42\n7\n0')"
t "run --pcap -v" 0 run -v --pcap three.pcap len.ddd
out_is "$(printf '1 3 3 return\n2 1 1 return\n3 0 0 return')"
t "run --pcap --kernel" 0 run --kernel --pcap three.pcap byte0.ddd
out_is "$(printf '42 kernel=3 ok\n7 kernel=1 ok\n0 kernel=drop ok')"
t "run --pcap program on stdin" 0 run --pcap three.pcap - <byte0.ddd
out_is "$(printf '42\n7\n0')"
# The same first packet in a pcapng file: a section header block (type
# 0x0a0d0d0a, 28 bytes, byte-order magic 0x1a2b3c4d, version 1.0, section
# length -1), an interface description block (type 1, 20 bytes, link type
# 1, snaplen 0) and an enhanced packet block (type 6, 36 bytes: interface
# 0, timestamp 0, captured and original length 1, the byte 2a, padding).
{
	printf '\012\015\015\012\034\000\000\000\115\074\053\032\001\000\000\000'
	printf '\377\377\377\377\377\377\377\377\034\000\000\000'
	printf '\001\000\000\000\024\000\000\000\001\000\000\000\000\000\000\000'
	printf '\024\000\000\000'
	printf '\006\000\000\000\044\000\000\000\000\000\000\000\000\000\000\000'
	printf '\000\000\000\000\001\000\000\000\001\000\000\000\052\000\000\000'
	printf '\044\000\000\000'
} >one.pcapng
t "run --pcap pcapng" 0 run -v --pcap one.pcapng byte0.ddd
out_is "1 1 42 return"
t "run --pcap missing" 2 run --pcap gone.pcap byte0.ddd
err_has "gone.pcap"
t "run --pcap not a capture" 1 run --pcap byte0.ddd byte0.ddd
err_has "byte0.ddd"
head -c 42 three.pcap >cut.pcap	# 24 + 16 + 2 of the 3 bytes
t "run --pcap truncated" 1 run --pcap cut.pcap byte0.ddd
err_has "cut.pcap"
# "-" is stdin, as for tcpdump -r -; then the program cannot be
t "run --pcap - from stdin" 0 run --pcap - byte0.ddd <three.pcap
out_is "$(printf '42\n7\n0')"
t "run --pcap - with the program on stdin too" 2 run --pcap - - <three.pcap
t "trace --pcap - -n 2" 0 trace --pcap - -n 2 byte0.ddd <three.pcap
out_line '^verdict: 7$'
# A directory is the wrong argument (I/O, exit 2), not a damaged capture
mkdir adir
t "run --pcap a directory" 2 run --pcap adir byte0.ddd
err_has "adir: Is a directory"
t "trace --pcap a directory" 2 trace --pcap adir byte0.ddd
err_has "adir: Is a directory"

# --- trace --------------------------------------------------------------
t "trace" 0 trace --packet 2a byte0.ddd
out_line '^(000) ldb *\[0\] *A=0x0000002a X=0x00000000$'
out_line '^(001) ret *A=0x0000002a X=0x00000000$'
out_line '^end: return at insn 1 after 2 instructions$'
out_line '^verdict: 42$'
# A = 5, X = 5, then ldb [x + 1] reads byte 6 of 2: out of bounds
t "trace out of bounds" 0 trace -x 0501 ind.ddd
out_line '^(001) tax *A=0x00000005 X=0x00000005$'
out_line '^end: out-of-bounds load at insn 2 '
out_line '^verdict: 0$'
t "trace scratch" 0 trace -x '' mem.ddd
out_line '^(001) st *M\[3\] *A=0x00000007 X=0x00000000 M\[3\]=0x00000007$'
out_line '^(002) ldx *M\[3\] *A=0x00000007 X=0x00000007 M\[3\]=0x00000007$'
out_line '^verdict: 7$'
t "trace division by zero" 0 trace -x 00 div0x.ddd
out_line '^end: division by zero at insn 2 '
out_line '^verdict: 0$'
t "trace no device" 0 trace -x 00 ifidx.ddd
out_line '^end: no device .* at insn 1 '
out_line '^verdict: 50$'
t "trace --ifindex" 0 trace -x 00 --ifindex 2 ifidx.ddd
out_line '^verdict: 1000$'
t "trace invalid program" 1 trace -x 00 noret.ddd
err_has "insn 0"
out_line '^end: invalid program'
t "trace packet from stdin, second line" 0 trace -n 2 byte0.ddd <<EOF
01
63
EOF
out_line '^verdict: 99$'
t "trace --pcap -n 2" 0 trace --pcap three.pcap -n 2 byte0.ddd
out_line '^verdict: 7$'
t "trace --pcap -n 4" 1 trace --pcap three.pcap -n 4 byte0.ddd
err_has "three.pcap"
t "trace bad --packet" 1 trace -x 2g byte0.ddd
err_has "column 2"
t "trace bad stdin hex" 1 trace byte0.ddd <<EOF
abc
EOF
err_has "<stdin>:1:3:"
t "trace without program" 2 trace
t "trace missing program" 2 trace -x 00 nope.ddd
err_has "nope.ddd"

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
