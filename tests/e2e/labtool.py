#!/usr/bin/env python3
"""Small packet tools for wgpunch's lab (tests/e2e/lab.sh).

  labtool.py reflect PORT
      A bare reflector: answers every UDP datagram with the 6 bytes
      ip[4] + port[2] (network order) it was seen from.  Stands in for a
      rendezvous server when the lab is tested on its own.

  labtool.py probe SERVER PORT SPORT
      Sends one datagram to SERVER:PORT from source port SPORT through a
      raw socket (the port is WireGuard's, already bound by wireguard-go),
      waits for the reflector's answer and prints the public ip:port the
      NAT gave that port.  This is how the contrib client measures its
      mapping.

  labtool.py legacy SERVER PORT MYKEY THEIRKEY [SPORT]
      One request in the contrib protocol: 64 bytes, my_pubkey then
      their_pubkey (base64 on the command line), from SPORT if given.  Prints "ip:port" for a
      6-byte answer, "empty" for a 0-byte one, "len=N" otherwise, or
      "timeout".

  labtool.py capture IFACE PORT OUT [SECONDS [TYPE [SRC]]]
      Writes the UDP payload of the first datagram to PORT seen on IFACE
      (AF_PACKET, so any node can eavesdrop on its links) to OUT; with
      TYPE, only a wgpunch message ("WGPN", version 1 or 2) of that type;
      with SRC, only one from that IPv4 address.
      Says "capturing on IFACE" on stderr once it is listening.

  labtool.py send SERVER PORT FILE [SPORT]
      Sends FILE's bytes as one UDP datagram, from SPORT if given.

  labtool.py recv PORT SECONDS [FROM]
      Binds UDP PORT (IPv4 and IPv6), says "listening" on stderr, and
      prints the source ip:port of the first datagram (from address FROM
      only, if given) within SECONDS; else prints "timeout", exits 1.

  labtool.py knock HOST PORT [SPORT [SECONDS]]
      Sends one datagram to HOST:PORT from a connected socket (bound to
      SPORT if given) and prints what came back within SECONDS (default
      1): "reply", "refused" (an ICMP port unreachable) or "timeout".
"""

import base64
import ipaddress
import select
import socket
import struct
import sys
import time


def reflect(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    while True:
        _, (ip, sport) = s.recvfrom(2048)
        s.sendto(socket.inet_aton(ip) + struct.pack("!H", sport), (ip, sport))


def probe(server, port, sport):
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
    payload = b"wgpunch-lab-probe"
    udp = struct.pack("!HHHH", sport, port, 8 + len(payload), 0) + payload
    deadline = time.monotonic() + 2.0
    next_send = 0.0
    while True:
        now = time.monotonic()
        if now >= deadline:
            print("timeout", file=sys.stderr)
            return 1
        if now >= next_send:
            raw.sendto(udp, (server, 0))
            next_send = now + 0.5
        r, _, _ = select.select([raw], [], [], min(deadline, next_send) - now)
        if not r:
            continue
        pkt, (src, _) = raw.recvfrom(2048)
        ihl = (pkt[0] & 0x0F) * 4
        if src != server or len(pkt) != ihl + 8 + 6:
            continue
        s_port, d_port = struct.unpack("!HH", pkt[ihl:ihl + 4])
        if s_port != port or d_port != sport:
            continue
        body = pkt[ihl + 8:]
        ip = socket.inet_ntoa(body[:4])
        print("%s:%d" % (ip, struct.unpack("!H", body[4:6])[0]))
        return 0


def legacy(server, port, mykey, theirkey, sport):
    req = base64.b64decode(mykey) + base64.b64decode(theirkey)
    if len(req) != 64:
        print("keys must be 32 bytes each", file=sys.stderr)
        return 2
    fam = socket.AF_INET6 if ":" in server else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if sport:
        s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", sport))
    s.settimeout(0.5)
    for _ in range(4):
        s.sendto(req, (server, port))
        try:
            data = s.recv(2048)
        except socket.timeout:
            continue
        if len(data) == 6:
            ip = socket.inet_ntoa(data[:4])
            print("%s:%d" % (ip, struct.unpack("!H", data[4:])[0]))
        elif len(data) == 0:
            print("empty")
        else:
            print("len=%d" % len(data))
        return 0
    print("timeout")
    return 1


def capture(iface, port, out, seconds, mtype, want_src=None):
    ETH_P_ALL = 0x0003
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM,
                      socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    print("capturing on %s" % iface, file=sys.stderr, flush=True)
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            print("capture: nothing to port %d on %s" % (port, iface),
                  file=sys.stderr)
            return 1
        r, _, _ = select.select([s], [], [], left)
        if not r:
            continue
        pkt, addr = s.recvfrom(65535)
        if addr[1] != 0x0800 or len(pkt) < 28 or pkt[9] != 17:
            continue
        ihl = (pkt[0] & 0x0F) * 4
        d_port = struct.unpack("!H", pkt[ihl + 2:ihl + 4])[0]
        if d_port != port:
            continue
        if want_src is not None and socket.inet_ntoa(pkt[12:16]) != want_src:
            continue
        body = pkt[ihl + 8:]
        if mtype is not None and (len(body) < 6 or body[:4] != b"WGPN"
                                  or body[4] not in (1, 2)
                                  or body[5] != mtype):
            continue
        with open(out, "wb") as f:
            f.write(pkt[ihl + 8:])
        src = socket.inet_ntoa(pkt[12:16])
        s_port = struct.unpack("!H", pkt[ihl:ihl + 2])[0]
        print("%s:%d %d" % (src, s_port, len(pkt) - ihl - 8))
        return 0


def send(server, port, path, sport):
    with open(path, "rb") as f:
        data = f.read()
    fam = socket.AF_INET6 if ":" in server else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if sport:
        s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", sport))
    s.sendto(data, (server, port))
    return 0


def unmapped(ip):
    """An IPv4-mapped IPv6 address as plain IPv4."""
    return ip[7:] if ip.startswith("::ffff:") and "." in ip else ip


def format_endpoint(ip, port):
    ip = unmapped(ip)
    return "[%s]:%d" % (ip, port) if ":" in ip else "%s:%d" % (ip, port)


def recv(port, seconds, want):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    print("listening on %d" % port, file=sys.stderr, flush=True)
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            print("timeout")
            return 1
        r, _, _ = select.select([s], [], [], left)
        if not r:
            continue
        _, addr = s.recvfrom(2048)
        if want and ipaddress.ip_address(unmapped(addr[0])) != want:
            continue
        print(format_endpoint(addr[0], addr[1]), flush=True)
        return 0


def knock(host, port, sport, seconds):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if sport:
        s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", sport))
    s.connect((host, port))
    s.settimeout(seconds)
    s.send(b"wgpunch-lab-knock")
    try:
        s.recv(2048)
        print("reply")
    except ConnectionRefusedError:
        print("refused")
    except socket.timeout:
        print("timeout")
    return 0


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    if cmd == "reflect" and len(args) == 1:
        return reflect(int(args[0]))
    if cmd == "probe" and len(args) == 3:
        ipaddress.IPv4Address(args[0])
        return probe(args[0], int(args[1]), int(args[2]))
    if cmd == "legacy" and len(args) in (4, 5):
        sport = int(args[4]) if len(args) == 5 else 0
        return legacy(args[0], int(args[1]), args[2], args[3], sport)
    if cmd == "capture" and len(args) in (3, 4, 5, 6):
        secs = float(args[3]) if len(args) >= 4 else 10.0
        mtype = int(args[4]) if len(args) >= 5 else None
        src = args[5] if len(args) == 6 else None
        return capture(args[0], int(args[1]), args[2], secs, mtype, src)
    if cmd == "send" and len(args) in (3, 4):
        sport = int(args[3]) if len(args) == 4 else 0
        return send(args[0], int(args[1]), args[2], sport)
    if cmd == "recv" and len(args) in (2, 3):
        want = ipaddress.ip_address(args[2]) if len(args) == 3 else None
        return recv(int(args[0]), float(args[1]), want)
    if cmd == "knock" and len(args) in (2, 3, 4):
        sport = int(args[2]) if len(args) >= 3 else 0
        secs = float(args[3]) if len(args) == 4 else 1.0
        return knock(args[0], int(args[1]), sport, secs)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
