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
and over for that long.

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
        "!BBHII", opcode, (pad << 4) | tver, 0xFFFF, qpn & 0xFFFFFF, (1 << 31) | psn
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


def packet(flow, kind):
    """The IP packet of one KIND."""
    send_only = bth(RC_SEND_ONLY, NO_SUCH_QP, pad=3) + b"hello" + b"\0\0\0"
    if kind == "valid":
        return flow.datagram(send_only)
    if kind == "bad-icrc":
        return flow.datagram(send_only, corrupt_icrc=True)
    if kind == "unknown-opcode":
        return flow.datagram(bth(0x1F, NO_SUCH_QP) + b"\0" * 8)
    if kind == "bad-tver":
        return flow.datagram(bth(RC_SEND_ONLY, NO_SUCH_QP, tver=1) + b"\0" * 8)
    if kind == "bad-pad":
        return flow.datagram(bth(RC_SEND_MIDDLE, NO_SUCH_QP, pad=1) + b"\0" * 8)
    if kind == "bad-length":
        # Payload plus pad not a multiple of 4.
        return flow.datagram(bth(RC_SEND_ONLY, NO_SUCH_QP) + b"abcde")
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
    ap.add_argument("kinds", nargs="+")
    a = ap.parse_args()

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

    def send_all():
        for kind in a.kinds:
            s.send(eth + packet(flow, kind))

    if a.flood:
        end = time.monotonic() + a.flood
        n = 0
        while time.monotonic() < end:
            try:
                send_all()
            except OSError:
                # The netdev went away under the flood: that is the test.
                time.sleep(0.01)
            n += len(a.kinds)
        print(f"sent {n} packets")
    else:
        send_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
