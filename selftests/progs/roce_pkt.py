#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Crafted RoCEv2 packets for the rxe-rs selftests, sent as whole Ethernet
frames (AF_PACKET), so that every byte the ICRC covers is ours to choose.

    roce_pkt.py --dev vb --dst-mac MAC --src IP --dst IP [--vlan ID] KIND...
    roce_pkt.py ... --flood SECONDS KIND [KIND...]

Each KIND is one packet: valid (an RC SEND ONLY to QP 0x123456, which does
not exist, with a correct ICRC), short:N (a UDP payload of N bytes), random:N
(N random bytes), bad-icrc, unknown-opcode, bad-tver, bad-pad, bad-length
(all but the named defect valid, ICRC included). --flood sends the list over
and over for that long, --interval apart.

With --qpn, the packets go to that QP instead (the kinds above except
unknown-qp, which always goes to 0x123456), and these kinds aim at a live
one, each with a correct ICRC: send (an RC SEND ONLY), write-bad-rkey,
write-bad-len (a RETH length the payload does not match), read-bad-len (a
2 GiB READ), atomic-misaligned, trunc-reth (a WRITE ONLY cut inside its
RETH), ack, nak-seq, read-resp (responses, for a requester), ud-send and
ud-bad-qkey (UD SEND ONLY with the Q_Key of --qkey, or a wrong one),
and OP:N, a SEND packet of OP with N payload bytes (0x69) for opcode-
sequence checks, OP one of send-first, send-middle, send-last, send-only
(RC) and uc-send-first, uc-send-middle, uc-send-last, uc-send-only (UC).
KIND@PSN gives a packet that PSN (default --psn, else 1).

--args-from FILE waits for FILE to appear and takes more arguments from
it: a flood can start (Python takes seconds to start in a TCG guest)
before the QP numbers it aims at are known.

The ICRC is computed independently of the driver, from the RoCEv2
definition: the CRC-32 of 8 bytes of 0xff (the masked LRH), the IP header
with TOS/traffic class, TTL/hop limit, flow label and header checksum set
to ones, the UDP header with its checksum set to ones, the BTH with byte 4
set to ones, and the rest of the packet; stored least significant byte
first, as the C rxe does on little-endian hosts.
"""

import argparse
import ipaddress
import os
import socket
import struct
import sys
import time
import zlib

ROCE_PORT = 4791
SRC_PORT = 0xC000
RC_SEND_ONLY = 0x04
RC_SEND_MIDDLE = 0x01
RC_WRITE_ONLY = 0x0A
RC_READ_REQUEST = 0x0C
RC_READ_RESPONSE_ONLY = 0x10
RC_ACK = 0x11
RC_CMP_SWAP = 0x13
UD_SEND_ONLY = 0x64
NO_SUCH_QP = 0x123456


def csum16(data):
    """The Internet checksum."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def bth(opcode, qpn, psn=1, pad=0, tver=0):
    """A BTH: the default P_Key, AckReq set."""
    return struct.pack(
        "!BBHII", opcode, (pad << 4) | tver, 0xFFFF, qpn & 0xFFFFFF, (1 << 31) | (psn & 0xFFFFFF)
    )


def icrc(ip, udp, payload):
    """The ICRC of a UDP payload (BTH onward, without the ICRC)."""
    ip = bytearray(ip)
    if len(ip) == 20:
        ip[1] = 0xFF
        ip[8] = 0xFF
        ip[10:12] = b"\xff\xff"
    else:
        ip[0] |= 0x0F
        ip[1:4] = b"\xff\xff\xff"
        ip[7] = 0xFF
    udp = bytearray(udp)
    udp[6:8] = b"\xff\xff"
    body = bytearray(payload)
    body[4] = 0xFF
    crc = zlib.crc32(b"\xff" * 8 + bytes(ip) + bytes(udp) + bytes(body))
    return struct.pack("<I", crc)


class Flow:
    """Addresses and ports of the packets."""

    def __init__(self, src, dst):
        self.src = ipaddress.ip_address(src)
        self.dst = ipaddress.ip_address(dst)
        self.v6 = self.src.version == 6
        self.ident = 0x1234

    def ip_udp(self, udp_payload_len):
        """IP and UDP headers (with checksums) for a payload of that length."""
        ulen = 8 + udp_payload_len
        if self.v6:
            ip = struct.pack("!IHBB", 6 << 28, ulen, 17, 64)
            ip += self.src.packed + self.dst.packed
        else:
            self.ident = (self.ident + 1) & 0xFFFF or 1
            ip = struct.pack(
                "!BBHHHBBH4s4s",
                0x45,
                0,
                20 + ulen,
                self.ident,
                0x4000,
                64,
                17,
                0,
                self.src.packed,
                self.dst.packed,
            )
            ip = ip[:10] + struct.pack("!H", csum16(ip)) + ip[12:]
        udp = struct.pack("!HHHH", SRC_PORT, ROCE_PORT, ulen, 0)
        return ip, udp

    def datagram(self, payload, with_icrc=True, corrupt_icrc=False):
        """IP packet carrying `payload` (plus its ICRC if asked)."""
        plen = len(payload) + (4 if with_icrc else 0)
        ip, udp = self.ip_udp(plen)
        if with_icrc:
            crc = bytearray(icrc(ip, udp, payload))
            if corrupt_icrc:
                crc[0] ^= 0x01
            payload = payload + bytes(crc)
        if self.v6:
            pseudo = self.src.packed + self.dst.packed + struct.pack("!IxxxB", len(udp) + len(payload), 17)
        else:
            pseudo = self.src.packed + self.dst.packed + struct.pack("!xBH", 17, len(udp) + len(payload))
        c = csum16(pseudo + udp + payload) or 0xFFFF
        udp = udp[:6] + struct.pack("!H", c)
        return ip + udp + payload


def reth(va, rkey, length):
    """An RDMA extended transport header."""
    return struct.pack("!QII", va, rkey, length)


def aeth(syndrome, msn=0):
    """An ACK extended transport header."""
    return struct.pack("!I", (syndrome << 24) | (msn & 0xFFFFFF))


# The SEND opcodes OP:N names.
SENDS = {
    "send-first": 0x00,
    "send-middle": 0x01,
    "send-last": 0x02,
    "send-only": 0x04,
    "uc-send-first": 0x20,
    "uc-send-middle": 0x21,
    "uc-send-last": 0x22,
    "uc-send-only": 0x24,
}


def live_packet(flow, kind, qpn, psn, qkey):
    """A packet of one of the kinds aimed at a live QP, or None."""
    name, _, n = kind.partition(":")
    if name in SENDS:
        n = int(n)
        return flow.datagram(bth(SENDS[name], qpn, psn, pad=-n % 4) + b"i" * n + b"\0" * (-n % 4))
    bad_rkey = 0xDEADBE00
    payloads = {
        "send": lambda: bth(RC_SEND_ONLY, qpn, psn) + b"x" * 8,
        "write-bad-rkey": lambda: bth(RC_WRITE_ONLY, qpn, psn)
        + reth(0x1000, bad_rkey, 8)
        + b"w" * 8,
        "write-bad-len": lambda: bth(RC_WRITE_ONLY, qpn, psn)
        + reth(0x1000, bad_rkey, 0xFFFFFFF0)
        + b"w" * 8,
        "read-bad-len": lambda: bth(RC_READ_REQUEST, qpn, psn) + reth(0, bad_rkey, 0x80000000),
        "atomic-misaligned": lambda: bth(RC_CMP_SWAP, qpn, psn)
        + struct.pack("!QIQQ", 0x1003, bad_rkey, 1, 2),
        "trunc-reth": lambda: bth(RC_WRITE_ONLY, qpn, psn) + reth(0, bad_rkey, 8)[:8],
        "ack": lambda: bth(RC_ACK, qpn, psn) + aeth(0x1F),
        "nak-seq": lambda: bth(RC_ACK, qpn, psn) + aeth(0x60),
        "read-resp": lambda: bth(RC_READ_RESPONSE_ONLY, qpn, psn) + aeth(0x1F) + b"r" * 8,
        "ud-send": lambda: bth(UD_SEND_ONLY, qpn, psn) + struct.pack("!II", qkey, 0x42) + b"u" * 8,
        "ud-bad-qkey": lambda: bth(UD_SEND_ONLY, qpn, psn)
        + struct.pack("!II", qkey ^ 0x5A5A5A5A, 0x42)
        + b"u" * 8,
    }
    make = payloads.get(kind)
    return flow.datagram(make()) if make else None


def packet(flow, kind, qpn=NO_SUCH_QP, psn=1, qkey=0):
    """The IP packet of one KIND (KIND@PSN for another PSN)."""
    kind, _, at = kind.partition("@")
    if at:
        psn = int(at, 0) & 0xFFFFFF
    live = live_packet(flow, kind, qpn, psn, qkey)
    if live is not None:
        return live
    send_only = bth(RC_SEND_ONLY, qpn, psn, pad=3) + b"hello" + b"\0\0\0"
    if kind == "valid":
        return flow.datagram(send_only)
    if kind == "unknown-qp":
        return flow.datagram(bth(RC_SEND_ONLY, NO_SUCH_QP, psn, pad=3) + b"hello" + b"\0\0\0")
    if kind == "bad-icrc":
        return flow.datagram(send_only, corrupt_icrc=True)
    if kind == "unknown-opcode":
        return flow.datagram(bth(0x1F, qpn, psn) + b"\0" * 8)
    if kind == "bad-tver":
        return flow.datagram(bth(RC_SEND_ONLY, qpn, psn, tver=1) + b"\0" * 8)
    if kind == "bad-pad":
        return flow.datagram(bth(RC_SEND_MIDDLE, qpn, psn, pad=1) + b"\0" * 8)
    if kind == "bad-length":
        # Payload plus pad not a multiple of 4.
        return flow.datagram(bth(RC_SEND_ONLY, qpn, psn) + b"abcde")
    name, _, n = kind.partition(":")
    if name == "short":
        return flow.datagram(b"\x04" * int(n), with_icrc=False)
    if name == "random":
        return flow.datagram(os.urandom(int(n)), with_icrc=False)
    raise SystemExit(f"roce_pkt.py: unknown packet kind {kind!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dev", required=True)
    ap.add_argument("--dst-mac", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--dst", required=True)
    ap.add_argument("--vlan", type=int, default=0)
    ap.add_argument("--flood", type=float, default=0)
    ap.add_argument("--interval", type=float, default=0)
    ap.add_argument("--qpn", type=lambda v: int(v, 0), default=NO_SUCH_QP)
    ap.add_argument("--psn", type=lambda v: int(v, 0), default=1)
    ap.add_argument("--qkey", type=lambda v: int(v, 0), default=0)
    ap.add_argument("--args-from")
    ap.add_argument("kinds", nargs="*")
    a = ap.parse_args()
    if a.args_from:
        print("waiting for", a.args_from, flush=True)
        while not os.path.exists(a.args_from):
            time.sleep(0.05)
        time.sleep(0.05)
        with open(a.args_from, encoding="ascii") as f:
            more = f.read().split()
        a = ap.parse_args(sys.argv[1:] + more)
    if not a.kinds:
        ap.error("no packet kinds")

    flow = Flow(a.src, a.dst)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.dev, 0))
    src_mac = s.getsockname()[4]
    dst_mac = bytes.fromhex(a.dst_mac.replace(":", ""))
    ethertype = 0x86DD if flow.v6 else 0x0800
    eth = dst_mac + src_mac
    if a.vlan:
        eth += struct.pack("!HH", 0x8100, a.vlan)
    eth += struct.pack("!H", ethertype)

    # Built once: a TCG guest runs Python slowly, and a flood should be
    # all sending.
    frames = [eth + packet(flow, kind, a.qpn, a.psn, a.qkey) for kind in a.kinds]

    def send_all():
        for frame in frames:
            s.send(frame)

    if a.flood:
        print(f"flooding with {' '.join(a.kinds)}", flush=True)
        end = time.monotonic() + a.flood
        n = 0
        while time.monotonic() < end:
            try:
                send_all()
            except OSError:
                # The netdev went away under the flood: that is the test.
                time.sleep(0.01)
            n += len(a.kinds)
            if a.interval:
                time.sleep(a.interval)
        print(f"sent {n} packets")
    else:
        send_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
