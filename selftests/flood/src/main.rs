// SPDX-License-Identifier: GPL-2.0

//! `roce-flood`: sends one RC SEND that never ends, MTU after MTU, to a QP
//! of an rxe device, from an ordinary UDP socket (IPv6), paced by the
//! receiving device's `rcvd_pkts` counter so that the QP's receive queue
//! never overflows. The selftests use it to carry a message past the
//! largest a port takes (2 GiB) and past what a 32-bit offset holds: the
//! responder must refuse it as an invalid request, never wrap or panic.
//!
//!   roce-flood --src ADDR6 --dst ADDR6 --qpn N --psn N --mtu BYTES
//!              --bytes N[K|M|G] --counter PATH [--window PACKETS]
//!
//! The packets are built and their ICRC computed with the rxe-rs protocol
//! crate, over the IPv6 and UDP headers the kernel gives them: the ICRC
//! masks what varies (traffic class, flow label, hop limit, UDP
//! checksum), and an IPv6 header has nothing else the sender does not
//! know.

use std::{
    net::{Ipv6Addr, SocketAddrV6, UdpSocket},
    process::ExitCode,
    time::{Duration, Instant},
};

use rxe_proto::{
    bth::{Bth, DEFAULT_PKEY},
    icrc::{icrc_fill, IpHdr, UDP_HDR_LEN},
    ip::{ipv6_header, udp_header, ROCE_V2_UDP_PORT},
    opcode::{Dialect, RC_SEND_FIRST, RC_SEND_MIDDLE},
    packet::{build, Headers},
    psn::psn_add,
};

struct Args {
    src: Ipv6Addr,
    dst: Ipv6Addr,
    qpn: u32,
    psn: u32,
    mtu: usize,
    bytes: u64,
    counter: String,
    window: u64,
}

fn number(s: &str) -> Result<u64, String> {
    let (digits, mult) = match s.as_bytes().last() {
        Some(b'K') => (&s[..s.len() - 1], 1u64 << 10),
        Some(b'M') => (&s[..s.len() - 1], 1 << 20),
        Some(b'G') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let n = if let Some(hex) = digits.strip_prefix("0x") {
        u64::from_str_radix(hex, 16)
    } else {
        digits.parse()
    };
    n.ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("not a number: {s}"))
}

fn ipv6(opt: &str, v: &str) -> Result<Ipv6Addr, String> {
    v.parse()
        .map_err(|_| format!("{opt}: not an IPv6 address: {v}"))
}

fn parse_args() -> Result<Args, String> {
    let mut a = std::env::args().skip(1);
    let (mut src, mut dst, mut qpn, mut psn, mut mtu, mut bytes, mut counter) =
        (None, None, None, None, None, None, None);
    let mut window = 1024;
    while let Some(k) = a.next() {
        let v = a.next().ok_or_else(|| format!("{k} needs a value"))?;
        match k.as_str() {
            "--src" => src = Some(ipv6(&k, &v)?),
            "--dst" => dst = Some(ipv6(&k, &v)?),
            "--qpn" => qpn = Some(number(&v)?),
            "--psn" => psn = Some(number(&v)?),
            "--mtu" => mtu = Some(number(&v)?),
            "--bytes" => bytes = Some(number(&v)?),
            "--counter" => counter = Some(v),
            "--window" => window = number(&v)?,
            _ => return Err(format!("unknown option {k}")),
        }
    }
    let need = |what: &str| format!("{what} is required");
    Ok(Args {
        src: src.ok_or_else(|| need("--src"))?,
        dst: dst.ok_or_else(|| need("--dst"))?,
        qpn: u32::try_from(qpn.ok_or_else(|| need("--qpn"))?).map_err(|e| e.to_string())?,
        psn: u32::try_from(psn.ok_or_else(|| need("--psn"))?).map_err(|e| e.to_string())?,
        mtu: usize::try_from(mtu.ok_or_else(|| need("--mtu"))?).map_err(|e| e.to_string())?,
        bytes: bytes.ok_or_else(|| need("--bytes"))?,
        counter: counter.ok_or_else(|| need("--counter"))?,
        window,
    })
}

fn read_counter(path: &str) -> Result<u64, String> {
    let s = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    s.trim()
        .parse()
        .map_err(|_| format!("{path}: not a number: {s}"))
}

fn run(a: &Args) -> Result<(), String> {
    let sock = UdpSocket::bind(SocketAddrV6::new(a.src, 0, 0, 0))
        .map_err(|e| format!("bind [{}]: {e}", a.src))?;
    let src_port = sock.local_addr().map_err(|e| e.to_string())?.port();
    let to = SocketAddrV6::new(a.dst, ROCE_V2_UDP_PORT, 0, 0);
    let payload: Vec<u8> = (0..a.mtu).map(|i| (i * 7) as u8).collect();
    let mut pkt = vec![0u8; a.mtu + 64];
    let packets = a.bytes.div_ceil(a.mtu as u64);
    let start = read_counter(&a.counter)?;
    let t0 = Instant::now();
    let mut stalled = Instant::now();
    let mut seen = 0;
    for k in 0..packets {
        // Pacing: no more than `window` packets ahead of what the device
        // has taken in.
        while k >= seen + a.window {
            let now = read_counter(&a.counter)?.saturating_sub(start);
            if now > seen {
                seen = now;
                stalled = Instant::now();
            } else if stalled.elapsed() > Duration::from_secs(60) {
                return Err(format!(
                    "the device took no packet for 60 s ({seen} of {k} sent were counted)"
                ));
            } else {
                std::thread::sleep(Duration::from_micros(500));
            }
        }
        let opcode = if k == 0 {
            RC_SEND_FIRST
        } else {
            RC_SEND_MIDDLE
        };
        let psn = psn_add(a.psn, (k & 0xff_ffff) as u32);
        let mut bth = Bth::new(opcode, DEFAULT_PKEY, a.qpn, psn);
        bth.ack_req = k % 256 == 255;
        let n = build(&mut pkt, &Headers::new(bth), &payload, Dialect::Rxe)
            .map_err(|e| format!("build: {e:?}"))?;
        let udp_len = u16::try_from(n + UDP_HDR_LEN).map_err(|e| e.to_string())?;
        let ip = ipv6_header(0, 0, 64, udp_len, &a.src.octets(), &a.dst.octets());
        let udp = udp_header(src_port, udp_len);
        let body = pkt.get_mut(..n).ok_or("packet longer than its buffer")?;
        icrc_fill(IpHdr::V6(&ip), &udp, body).ok_or("icrc")?;
        sock.send_to(body, to).map_err(|e| format!("send: {e}"))?;
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "sent {packets} packets, {} MiB, in {secs:.1} s",
        (packets * a.mtu as u64) >> 20
    );
    Ok(())
}

fn main() -> ExitCode {
    match parse_args().and_then(|a| run(&a)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roce-flood: {e}");
            ExitCode::FAILURE
        }
    }
}
