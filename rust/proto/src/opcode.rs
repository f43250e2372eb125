// SPDX-License-Identifier: GPL-2.0

//! BTH opcodes and what each carries: the table of the C rxe
//! (drivers/infiniband/sw/rxe/rxe_opcode.c, values from
//! include/rdma/ib_pack.h), plus the rxe-rs resume opcode.
//!
//! The top three bits of an opcode name the transport (000 RC, 001 UC,
//! 010 RD, 011 UD, 100 CNP, 101 XRC, 11x manufacturer specific), the low
//! five the operation. The table holds the RC, UC and UD opcodes rxe
//! implements, FLUSH and ATOMIC WRITE included. rxe's table also lists RD
//! opcodes, but rxe has no RD queue pairs, so its QP type check drops every
//! RD packet; here they are unknown, and dropped a step earlier.
//!
//! For each opcode the table gives flags ([`OpFlags`], with the bit values
//! of rxe's `enum rxe_hdr_mask`), the length of the transport headers
//! (BTH and extended headers) and the offset of each extended header. The
//! offsets follow from the flags, in the fixed IBTA order of [`Hdr::ORDER`].

use super::aeth::AETH_LEN;
use super::bth::BTH_LEN;
use super::headers::{ATMACK_LEN, ATMETH_LEN, DETH_LEN, FETH_LEN, IETH_LEN, IMMDT_LEN, RETH_LEN};

/// The transport bits of an opcode.
pub const TRANSPORT_MASK: u8 = 0xe0;
/// Transport bits of reliable connected opcodes.
pub const TRANSPORT_RC: u8 = 0x00;
/// Transport bits of unreliable connected opcodes.
pub const TRANSPORT_UC: u8 = 0x20;
/// Transport bits of reliable datagram opcodes.
pub const TRANSPORT_RD: u8 = 0x40;
/// Transport bits of unreliable datagram opcodes.
pub const TRANSPORT_UD: u8 = 0x60;
/// Transport bits of the congestion notification packet.
pub const TRANSPORT_CNP: u8 = 0x80;
/// Transport bits of extended reliable connected opcodes.
pub const TRANSPORT_XRC: u8 = 0xa0;

/// RC send, first packet.
pub const RC_SEND_FIRST: u8 = 0x00;
/// RC send, middle packet.
pub const RC_SEND_MIDDLE: u8 = 0x01;
/// RC send, last packet.
pub const RC_SEND_LAST: u8 = 0x02;
/// RC send, last packet, with immediate data.
pub const RC_SEND_LAST_WITH_IMMEDIATE: u8 = 0x03;
/// RC send, only packet.
pub const RC_SEND_ONLY: u8 = 0x04;
/// RC send, only packet, with immediate data.
pub const RC_SEND_ONLY_WITH_IMMEDIATE: u8 = 0x05;
/// RC RDMA write, first packet.
pub const RC_RDMA_WRITE_FIRST: u8 = 0x06;
/// RC RDMA write, middle packet.
pub const RC_RDMA_WRITE_MIDDLE: u8 = 0x07;
/// RC RDMA write, last packet.
pub const RC_RDMA_WRITE_LAST: u8 = 0x08;
/// RC RDMA write, last packet, with immediate data.
pub const RC_RDMA_WRITE_LAST_WITH_IMMEDIATE: u8 = 0x09;
/// RC RDMA write, only packet.
pub const RC_RDMA_WRITE_ONLY: u8 = 0x0a;
/// RC RDMA write, only packet, with immediate data.
pub const RC_RDMA_WRITE_ONLY_WITH_IMMEDIATE: u8 = 0x0b;
/// RC RDMA read request.
pub const RC_RDMA_READ_REQUEST: u8 = 0x0c;
/// RC RDMA read response, first packet.
pub const RC_RDMA_READ_RESPONSE_FIRST: u8 = 0x0d;
/// RC RDMA read response, middle packet.
pub const RC_RDMA_READ_RESPONSE_MIDDLE: u8 = 0x0e;
/// RC RDMA read response, last packet.
pub const RC_RDMA_READ_RESPONSE_LAST: u8 = 0x0f;
/// RC RDMA read response, only packet.
pub const RC_RDMA_READ_RESPONSE_ONLY: u8 = 0x10;
/// RC acknowledge (ACK, RNR NAK or NAK, per the AETH syndrome).
pub const RC_ACKNOWLEDGE: u8 = 0x11;
/// RC atomic acknowledge, carrying the original value.
pub const RC_ATOMIC_ACKNOWLEDGE: u8 = 0x12;
/// RC atomic compare and swap.
pub const RC_COMPARE_SWAP: u8 = 0x13;
/// RC atomic fetch and add.
pub const RC_FETCH_ADD: u8 = 0x14;
/// RC send, last packet, with invalidate.
pub const RC_SEND_LAST_WITH_INVALIDATE: u8 = 0x16;
/// RC send, only packet, with invalidate.
pub const RC_SEND_ONLY_WITH_INVALIDATE: u8 = 0x17;
/// RC RDMA flush (IBTA memory placement extensions).
pub const RC_FLUSH: u8 = 0x1c;
/// RC atomic write of 8 bytes (IBTA memory placement extensions).
pub const RC_ATOMIC_WRITE: u8 = 0x1d;

/// The rxe-rs resume message, an extension for QP migration: opcode 0x15.
///
/// 0x15 is reserved for RC (and UC) by the IBTA: its operation code is
/// RESYNC, which the specification defines for reliable datagram only
/// (0x55); `include/rdma/ib_pack.h` notes "opcode 0x15 is reserved". As the
/// operation codes are shared between transports, it is the RC code point
/// least likely ever to be given another meaning, and its RD meaning,
/// resynchronising a connection's sequence state, is close to ours.
///
/// The queue pair that was stopped for migration sends it, once running
/// again, to tell its peer to resume: the BTH PSN is the PSN its responder
/// expects next and the AETH carries its MSN (syndrome: an ACK), so the
/// peer's requester restarts from there, as after a PSN sequence error NAK;
/// the DETH's source QP is its QPN (a new one if the old could not be had),
/// and the packet's source address its new address. It is a response (it
/// goes to the peer's requester), carries no payload, and is only in the
/// table of [`Dialect::RxeRs`].
///
/// A peer unaware of it finds no entry in its opcode table and treats the
/// packet as invalid: an IBTA responder answers a reserved RC opcode with
/// an invalid request NAK. The C rxe has an empty mask for it, so it does
/// not take it for a request but hands it to its completer, which drops it
/// when nothing is outstanding and otherwise may take it for an
/// acknowledge or move the QP to the error state. rxe-rs must send it only
/// to peers known to implement the extension.
pub const RC_RXE_RS_RESUME: u8 = 0x15;

/// UC send, first packet.
pub const UC_SEND_FIRST: u8 = 0x20;
/// UC send, middle packet.
pub const UC_SEND_MIDDLE: u8 = 0x21;
/// UC send, last packet.
pub const UC_SEND_LAST: u8 = 0x22;
/// UC send, last packet, with immediate data.
pub const UC_SEND_LAST_WITH_IMMEDIATE: u8 = 0x23;
/// UC send, only packet.
pub const UC_SEND_ONLY: u8 = 0x24;
/// UC send, only packet, with immediate data.
pub const UC_SEND_ONLY_WITH_IMMEDIATE: u8 = 0x25;
/// UC RDMA write, first packet.
pub const UC_RDMA_WRITE_FIRST: u8 = 0x26;
/// UC RDMA write, middle packet.
pub const UC_RDMA_WRITE_MIDDLE: u8 = 0x27;
/// UC RDMA write, last packet.
pub const UC_RDMA_WRITE_LAST: u8 = 0x28;
/// UC RDMA write, last packet, with immediate data.
pub const UC_RDMA_WRITE_LAST_WITH_IMMEDIATE: u8 = 0x29;
/// UC RDMA write, only packet.
pub const UC_RDMA_WRITE_ONLY: u8 = 0x2a;
/// UC RDMA write, only packet, with immediate data.
pub const UC_RDMA_WRITE_ONLY_WITH_IMMEDIATE: u8 = 0x2b;

/// UD send, only packet.
pub const UD_SEND_ONLY: u8 = 0x64;
/// UD send, only packet, with immediate data.
pub const UD_SEND_ONLY_WITH_IMMEDIATE: u8 = 0x65;

/// The transport of an opcode, from its top three bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Reliable connected.
    Rc,
    /// Unreliable connected.
    Uc,
    /// Reliable datagram (not implemented by rxe).
    Rd,
    /// Unreliable datagram.
    Ud,
    /// Congestion notification packet.
    Cnp,
    /// Extended reliable connected (not implemented by rxe).
    Xrc,
    /// Manufacturer specific.
    Vendor,
}

/// The transport an opcode belongs to.
pub const fn transport(opcode: u8) -> Transport {
    match opcode & TRANSPORT_MASK {
        TRANSPORT_RC => Transport::Rc,
        TRANSPORT_UC => Transport::Uc,
        TRANSPORT_RD => Transport::Rd,
        TRANSPORT_UD => Transport::Ud,
        TRANSPORT_CNP => Transport::Cnp,
        TRANSPORT_XRC => Transport::Xrc,
        _ => Transport::Vendor,
    }
}

/// Which opcodes are known: the C rxe's, or those plus the rxe-rs
/// extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// Exactly what the C rxe knows.
    Rxe,
    /// The C rxe's opcodes and [`RC_RXE_RS_RESUME`].
    RxeRs,
}

/// What an opcode's packets carry and mean: a set of bits with the values
/// of rxe's `enum rxe_hdr_mask`, so that a mask printed by either driver
/// reads the same, and one rxe-rs bit ([`OpFlags::RXE_RS_EXT`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpFlags(u32);

impl OpFlags {
    /// An RDMA extended transport header follows.
    pub const RETH: Self = Self(1 << 3);
    /// An ACK extended transport header follows.
    pub const AETH: Self = Self(1 << 4);
    /// An atomic extended transport header follows.
    pub const ATMETH: Self = Self(1 << 5);
    /// An atomic acknowledge extended transport header follows.
    pub const ATMACK: Self = Self(1 << 6);
    /// An invalidate extended transport header follows.
    pub const IETH: Self = Self(1 << 7);
    /// A datagram extended transport header follows.
    pub const DETH: Self = Self(1 << 9);
    /// Immediate data follows.
    pub const IMMDT: Self = Self(1 << 10);
    /// A flush extended transport header follows.
    pub const FETH: Self = Self(1 << 11);
    /// The packet may carry payload.
    pub const PAYLOAD: Self = Self(1 << 12);
    /// A request: handled by the receiver's responder.
    pub const REQ: Self = Self(1 << 13);
    /// A response: handled by the receiver's requester (completer).
    pub const ACK: Self = Self(1 << 14);
    /// Part of a send.
    pub const SEND: Self = Self(1 << 15);
    /// Part of an RDMA write.
    pub const WRITE: Self = Self(1 << 16);
    /// An RDMA read request.
    pub const READ: Self = Self(1 << 17);
    /// An atomic compare and swap or fetch and add.
    pub const ATOMIC: Self = Self(1 << 18);
    /// An RDMA flush.
    pub const FLUSH: Self = Self(1 << 19);
    /// Consumes a receive work request at the responder.
    pub const RWR: Self = Self(1 << 20);
    /// Completes a receive work request at the responder.
    pub const COMP: Self = Self(1 << 21);
    /// First packet of a message.
    pub const START: Self = Self(1 << 22);
    /// Middle packet of a message.
    pub const MIDDLE: Self = Self(1 << 23);
    /// Last packet of a message.
    pub const END: Self = Self(1 << 24);
    /// An atomic write.
    pub const ATOMIC_WRITE: Self = Self(1 << 27);
    /// An rxe-rs extension opcode, unknown to the C rxe.
    pub const RXE_RS_EXT: Self = Self(1 << 31);

    /// No flags.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// The bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// The flags of `bits`, unknown bits included.
    pub const fn from_bits(bits: u32) -> Self {
        Self(bits)
    }

    /// Both sets of flags.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any flag of `other` is set.
    pub const fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }
}

impl core::ops::BitOr for OpFlags {
    type Output = Self;

    fn bitor(self, rhs: Self) -> Self {
        self.union(rhs)
    }
}

/// The headers a packet may carry after the BTH, and the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hdr {
    /// Base transport header, always first.
    Bth,
    /// Datagram extended transport header.
    Deth,
    /// Flush extended transport header.
    Feth,
    /// RDMA extended transport header.
    Reth,
    /// Atomic extended transport header.
    Atmeth,
    /// ACK extended transport header.
    Aeth,
    /// Atomic acknowledge extended transport header.
    Atmack,
    /// Immediate data.
    Immdt,
    /// Invalidate extended transport header.
    Ieth,
    /// The payload, after all headers.
    Payload,
}

impl Hdr {
    /// The extended headers in the order they appear in a packet.
    pub const ORDER: [Hdr; 8] = [
        Hdr::Deth,
        Hdr::Feth,
        Hdr::Reth,
        Hdr::Atmeth,
        Hdr::Aeth,
        Hdr::Atmack,
        Hdr::Immdt,
        Hdr::Ieth,
    ];

    /// Length of the header in bytes (the payload's varies: 0 here).
    pub const fn wire_len(self) -> usize {
        match self {
            Hdr::Bth => BTH_LEN,
            Hdr::Deth => DETH_LEN,
            Hdr::Feth => FETH_LEN,
            Hdr::Reth => RETH_LEN,
            Hdr::Atmeth => ATMETH_LEN,
            Hdr::Aeth => AETH_LEN,
            Hdr::Atmack => ATMACK_LEN,
            Hdr::Immdt => IMMDT_LEN,
            Hdr::Ieth => IETH_LEN,
            Hdr::Payload => 0,
        }
    }

    /// The flag saying an opcode carries this header; empty for the BTH,
    /// which every packet carries.
    pub const fn flag(self) -> OpFlags {
        match self {
            Hdr::Bth => OpFlags::empty(),
            Hdr::Deth => OpFlags::DETH,
            Hdr::Feth => OpFlags::FETH,
            Hdr::Reth => OpFlags::RETH,
            Hdr::Atmeth => OpFlags::ATMETH,
            Hdr::Aeth => OpFlags::AETH,
            Hdr::Atmack => OpFlags::ATMACK,
            Hdr::Immdt => OpFlags::IMMDT,
            Hdr::Ieth => OpFlags::IETH,
            Hdr::Payload => OpFlags::PAYLOAD,
        }
    }
}

/// The longest transport header set: BTH and ATMETH.
pub const MAX_HDR_LEN: usize = BTH_LEN + ATMETH_LEN;

/// One opcode's entry in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpcodeInfo {
    opcode: u8,
    name: &'static str,
    flags: OpFlags,
    hdr_len: u8,
    /// Offset of each header of [`Hdr::ORDER`], in that order; 0 if absent
    /// (no extended header can be at 0, where the BTH is).
    offsets: [u8; 8],
}

impl OpcodeInfo {
    /// The entry of `opcode` with `flags`: offsets and length laid out in
    /// [`Hdr::ORDER`].
    const fn new(opcode: u8, name: &'static str, flags: OpFlags) -> Self {
        let mut offsets = [0u8; 8];
        let mut off = BTH_LEN;
        let mut i = 0;
        while i < Hdr::ORDER.len() {
            let h = Hdr::ORDER[i];
            if flags.contains(h.flag()) {
                offsets[i] = off as u8;
                off += h.wire_len();
            }
            i += 1;
        }
        OpcodeInfo {
            opcode,
            name,
            flags,
            hdr_len: off as u8,
            offsets,
        }
    }

    /// The opcode.
    pub const fn opcode(&self) -> u8 {
        self.opcode
    }

    /// The name, as in ib_pack.h without the `IB_OPCODE_` prefix.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The flags.
    pub const fn flags(&self) -> OpFlags {
        self.flags
    }

    /// The transport.
    pub const fn transport(&self) -> Transport {
        transport(self.opcode)
    }

    /// Length of the BTH and the extended headers: where the payload starts.
    pub const fn hdr_len(&self) -> usize {
        self.hdr_len as usize
    }

    /// Where the payload starts (after every header), payload or not.
    pub const fn payload_offset(&self) -> usize {
        self.hdr_len()
    }

    /// Offset of `hdr` from the start of the BTH, or `None` if this opcode
    /// does not carry it.
    pub const fn offset(&self, hdr: Hdr) -> Option<usize> {
        let i = match hdr {
            Hdr::Bth => return Some(0),
            Hdr::Payload => {
                return if self.has_payload() {
                    Some(self.hdr_len())
                } else {
                    None
                };
            }
            Hdr::Deth => 0,
            Hdr::Feth => 1,
            Hdr::Reth => 2,
            Hdr::Atmeth => 3,
            Hdr::Aeth => 4,
            Hdr::Atmack => 5,
            Hdr::Immdt => 6,
            Hdr::Ieth => 7,
        };
        match self.offsets[i] {
            0 => None,
            off => Some(off as usize),
        }
    }

    /// Whether the packets carry `hdr`.
    pub const fn has(&self, hdr: Hdr) -> bool {
        self.offset(hdr).is_some()
    }

    /// Whether the flags include every flag of `flags`.
    pub const fn is(&self, flags: OpFlags) -> bool {
        self.flags.contains(flags)
    }

    /// Whether the packets may carry payload.
    pub const fn has_payload(&self) -> bool {
        self.is(OpFlags::PAYLOAD)
    }

    /// A request, for the receiver's responder.
    pub const fn is_request(&self) -> bool {
        self.is(OpFlags::REQ)
    }

    /// A response (acknowledge or read response), for the receiver's
    /// requester.
    pub const fn is_response(&self) -> bool {
        self.is(OpFlags::ACK)
    }

    /// Part of a send.
    pub const fn is_send(&self) -> bool {
        self.is(OpFlags::SEND)
    }

    /// Part of an RDMA write.
    pub const fn is_write(&self) -> bool {
        self.is(OpFlags::WRITE)
    }

    /// An RDMA read request.
    pub const fn is_read(&self) -> bool {
        self.is(OpFlags::READ)
    }

    /// A compare and swap or fetch and add.
    pub const fn is_atomic(&self) -> bool {
        self.is(OpFlags::ATOMIC)
    }

    /// An RDMA flush.
    pub const fn is_flush(&self) -> bool {
        self.is(OpFlags::FLUSH)
    }

    /// An atomic write.
    pub const fn is_atomic_write(&self) -> bool {
        self.is(OpFlags::ATOMIC_WRITE)
    }

    /// The first packet of a message (also true of only packets).
    pub const fn is_first(&self) -> bool {
        self.is(OpFlags::START)
    }

    /// A middle packet of a message.
    pub const fn is_middle(&self) -> bool {
        self.is(OpFlags::MIDDLE)
    }

    /// The last packet of a message (also true of only packets).
    pub const fn is_last(&self) -> bool {
        self.is(OpFlags::END)
    }

    /// The only packet of a message.
    pub const fn is_only(&self) -> bool {
        self.is(OpFlags::START.union(OpFlags::END))
    }

    /// Consumes a receive work request at the responder: the first packet
    /// of a send, or a write with immediate data.
    pub const fn consumes_rwr(&self) -> bool {
        self.is(OpFlags::RWR)
    }

    /// Completes a receive work request at the responder (a completion
    /// queue entry is due): the last packet of a send, or a write with
    /// immediate data.
    pub const fn completes_rwr(&self) -> bool {
        self.is(OpFlags::COMP)
    }

    /// An rxe-rs extension opcode.
    pub const fn is_rxe_rs_ext(&self) -> bool {
        self.is(OpFlags::RXE_RS_EXT)
    }
}

/// Builds an [`OpFlags`] from flag names.
macro_rules! flags {
    ($($f:ident)|+) => {
        OpFlags::from_bits(0 $(| OpFlags::$f.bits())+)
    };
}

/// The C rxe's entry for `opcode`, or `None` if it has none. Computed; see
/// [`lookup`] for the table.
pub const fn info(opcode: u8) -> Option<OpcodeInfo> {
    let (name, flags) = match opcode {
        RC_SEND_FIRST => ("RC_SEND_FIRST", flags!(PAYLOAD | REQ | RWR | SEND | START)),
        RC_SEND_MIDDLE => ("RC_SEND_MIDDLE", flags!(PAYLOAD | REQ | SEND | MIDDLE)),
        RC_SEND_LAST => ("RC_SEND_LAST", flags!(PAYLOAD | REQ | COMP | SEND | END)),
        RC_SEND_LAST_WITH_IMMEDIATE => (
            "RC_SEND_LAST_WITH_IMMEDIATE",
            flags!(IMMDT | PAYLOAD | REQ | COMP | SEND | END),
        ),
        RC_SEND_ONLY => (
            "RC_SEND_ONLY",
            flags!(PAYLOAD | REQ | COMP | RWR | SEND | START | END),
        ),
        RC_SEND_ONLY_WITH_IMMEDIATE => (
            "RC_SEND_ONLY_WITH_IMMEDIATE",
            flags!(IMMDT | PAYLOAD | REQ | COMP | RWR | SEND | START | END),
        ),
        RC_RDMA_WRITE_FIRST => (
            "RC_RDMA_WRITE_FIRST",
            flags!(RETH | PAYLOAD | REQ | WRITE | START),
        ),
        RC_RDMA_WRITE_MIDDLE => (
            "RC_RDMA_WRITE_MIDDLE",
            flags!(PAYLOAD | REQ | WRITE | MIDDLE),
        ),
        RC_RDMA_WRITE_LAST => ("RC_RDMA_WRITE_LAST", flags!(PAYLOAD | REQ | WRITE | END)),
        RC_RDMA_WRITE_LAST_WITH_IMMEDIATE => (
            "RC_RDMA_WRITE_LAST_WITH_IMMEDIATE",
            flags!(IMMDT | PAYLOAD | REQ | WRITE | COMP | RWR | END),
        ),
        RC_RDMA_WRITE_ONLY => (
            "RC_RDMA_WRITE_ONLY",
            flags!(RETH | PAYLOAD | REQ | WRITE | START | END),
        ),
        RC_RDMA_WRITE_ONLY_WITH_IMMEDIATE => (
            "RC_RDMA_WRITE_ONLY_WITH_IMMEDIATE",
            flags!(RETH | IMMDT | PAYLOAD | REQ | WRITE | COMP | RWR | START | END),
        ),
        RC_RDMA_READ_REQUEST => (
            "RC_RDMA_READ_REQUEST",
            flags!(RETH | REQ | READ | START | END),
        ),
        RC_RDMA_READ_RESPONSE_FIRST => (
            "RC_RDMA_READ_RESPONSE_FIRST",
            flags!(AETH | PAYLOAD | ACK | START),
        ),
        RC_RDMA_READ_RESPONSE_MIDDLE => (
            "RC_RDMA_READ_RESPONSE_MIDDLE",
            flags!(PAYLOAD | ACK | MIDDLE),
        ),
        RC_RDMA_READ_RESPONSE_LAST => (
            "RC_RDMA_READ_RESPONSE_LAST",
            flags!(AETH | PAYLOAD | ACK | END),
        ),
        RC_RDMA_READ_RESPONSE_ONLY => (
            "RC_RDMA_READ_RESPONSE_ONLY",
            flags!(AETH | PAYLOAD | ACK | START | END),
        ),
        RC_ACKNOWLEDGE => ("RC_ACKNOWLEDGE", flags!(AETH | ACK | START | END)),
        RC_ATOMIC_ACKNOWLEDGE => (
            "RC_ATOMIC_ACKNOWLEDGE",
            flags!(AETH | ATMACK | ACK | START | END),
        ),
        RC_COMPARE_SWAP => (
            "RC_COMPARE_SWAP",
            flags!(ATMETH | REQ | ATOMIC | START | END),
        ),
        RC_FETCH_ADD => ("RC_FETCH_ADD", flags!(ATMETH | REQ | ATOMIC | START | END)),
        RC_SEND_LAST_WITH_INVALIDATE => (
            "RC_SEND_LAST_WITH_INVALIDATE",
            flags!(IETH | PAYLOAD | REQ | COMP | SEND | END),
        ),
        RC_SEND_ONLY_WITH_INVALIDATE => (
            "RC_SEND_ONLY_WITH_INVALIDATE",
            flags!(IETH | PAYLOAD | REQ | COMP | RWR | SEND | START | END),
        ),
        RC_FLUSH => ("RC_FLUSH", flags!(FETH | RETH | FLUSH | START | END | REQ)),
        RC_ATOMIC_WRITE => (
            "RC_ATOMIC_WRITE",
            flags!(RETH | PAYLOAD | REQ | ATOMIC_WRITE | START | END),
        ),

        UC_SEND_FIRST => ("UC_SEND_FIRST", flags!(PAYLOAD | REQ | RWR | SEND | START)),
        UC_SEND_MIDDLE => ("UC_SEND_MIDDLE", flags!(PAYLOAD | REQ | SEND | MIDDLE)),
        UC_SEND_LAST => ("UC_SEND_LAST", flags!(PAYLOAD | REQ | COMP | SEND | END)),
        UC_SEND_LAST_WITH_IMMEDIATE => (
            "UC_SEND_LAST_WITH_IMMEDIATE",
            flags!(IMMDT | PAYLOAD | REQ | COMP | SEND | END),
        ),
        UC_SEND_ONLY => (
            "UC_SEND_ONLY",
            flags!(PAYLOAD | REQ | COMP | RWR | SEND | START | END),
        ),
        UC_SEND_ONLY_WITH_IMMEDIATE => (
            "UC_SEND_ONLY_WITH_IMMEDIATE",
            flags!(IMMDT | PAYLOAD | REQ | COMP | RWR | SEND | START | END),
        ),
        UC_RDMA_WRITE_FIRST => (
            "UC_RDMA_WRITE_FIRST",
            flags!(RETH | PAYLOAD | REQ | WRITE | START),
        ),
        UC_RDMA_WRITE_MIDDLE => (
            "UC_RDMA_WRITE_MIDDLE",
            flags!(PAYLOAD | REQ | WRITE | MIDDLE),
        ),
        UC_RDMA_WRITE_LAST => ("UC_RDMA_WRITE_LAST", flags!(PAYLOAD | REQ | WRITE | END)),
        UC_RDMA_WRITE_LAST_WITH_IMMEDIATE => (
            "UC_RDMA_WRITE_LAST_WITH_IMMEDIATE",
            flags!(IMMDT | PAYLOAD | REQ | WRITE | COMP | RWR | END),
        ),
        UC_RDMA_WRITE_ONLY => (
            "UC_RDMA_WRITE_ONLY",
            flags!(RETH | PAYLOAD | REQ | WRITE | START | END),
        ),
        UC_RDMA_WRITE_ONLY_WITH_IMMEDIATE => (
            "UC_RDMA_WRITE_ONLY_WITH_IMMEDIATE",
            flags!(RETH | IMMDT | PAYLOAD | REQ | WRITE | COMP | RWR | START | END),
        ),

        UD_SEND_ONLY => (
            "UD_SEND_ONLY",
            flags!(DETH | PAYLOAD | REQ | COMP | RWR | SEND | START | END),
        ),
        UD_SEND_ONLY_WITH_IMMEDIATE => (
            "UD_SEND_ONLY_WITH_IMMEDIATE",
            flags!(DETH | IMMDT | PAYLOAD | REQ | COMP | RWR | SEND | START | END),
        ),
        _ => return None,
    };
    Some(OpcodeInfo::new(opcode, name, flags))
}

/// The entry of `opcode` in `dialect`, or `None` if it has none.
pub const fn info_in(opcode: u8, dialect: Dialect) -> Option<OpcodeInfo> {
    match (dialect, opcode) {
        (Dialect::RxeRs, RC_RXE_RS_RESUME) => Some(RESUME),
        _ => info(opcode),
    }
}

/// The entry of [`RC_RXE_RS_RESUME`].
const RESUME: OpcodeInfo = OpcodeInfo::new(
    RC_RXE_RS_RESUME,
    "RC_RXE_RS_RESUME",
    flags!(DETH | AETH | ACK | START | END | RXE_RS_EXT),
);

/// The table of [`info`], for every byte, built at compile time.
static TABLE: [Option<OpcodeInfo>; 256] = {
    let mut table = [None; 256];
    let mut op = 0;
    while op < table.len() {
        table[op] = info(op as u8);
        op += 1;
    }
    table
};

/// [`RESUME`], with a static address.
static RESUME_ENTRY: OpcodeInfo = RESUME;

/// The C rxe's entry for `opcode` from the static table, or `None` if it
/// has none.
pub fn lookup(opcode: u8) -> Option<&'static OpcodeInfo> {
    TABLE.get(usize::from(opcode)).and_then(Option::as_ref)
}

/// The entry of `opcode` in `dialect` from the static table.
pub fn lookup_in(opcode: u8, dialect: Dialect) -> Option<&'static OpcodeInfo> {
    match (dialect, opcode) {
        (Dialect::RxeRs, RC_RXE_RS_RESUME) => Some(&RESUME_ENTRY),
        _ => lookup(opcode),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An opcode, its header length and the offsets of its extended
    /// headers.
    type Entry = (u8, usize, &'static [(Hdr, usize)]);

    /// Every opcode of rxe_opcode.c (RC, UC, UD) with its header length
    /// and the offsets it lists, transcribed from the C table.
    const RXE: &[Entry] = &[
        (0x00, 12, &[]),
        (0x01, 12, &[]),
        (0x02, 12, &[]),
        (0x03, 16, &[(Hdr::Immdt, 12)]),
        (0x04, 12, &[]),
        (0x05, 16, &[(Hdr::Immdt, 12)]),
        (0x06, 28, &[(Hdr::Reth, 12)]),
        (0x07, 12, &[]),
        (0x08, 12, &[]),
        (0x09, 16, &[(Hdr::Immdt, 12)]),
        (0x0a, 28, &[(Hdr::Reth, 12)]),
        (0x0b, 32, &[(Hdr::Reth, 12), (Hdr::Immdt, 28)]),
        (0x0c, 28, &[(Hdr::Reth, 12)]),
        (0x0d, 16, &[(Hdr::Aeth, 12)]),
        (0x0e, 12, &[]),
        (0x0f, 16, &[(Hdr::Aeth, 12)]),
        (0x10, 16, &[(Hdr::Aeth, 12)]),
        (0x11, 16, &[(Hdr::Aeth, 12)]),
        (0x12, 24, &[(Hdr::Aeth, 12), (Hdr::Atmack, 16)]),
        (0x13, 40, &[(Hdr::Atmeth, 12)]),
        (0x14, 40, &[(Hdr::Atmeth, 12)]),
        (0x16, 16, &[(Hdr::Ieth, 12)]),
        (0x17, 16, &[(Hdr::Ieth, 12)]),
        (0x1c, 32, &[(Hdr::Feth, 12), (Hdr::Reth, 16)]),
        (0x1d, 28, &[(Hdr::Reth, 12)]),
        (0x20, 12, &[]),
        (0x21, 12, &[]),
        (0x22, 12, &[]),
        (0x23, 16, &[(Hdr::Immdt, 12)]),
        (0x24, 12, &[]),
        (0x25, 16, &[(Hdr::Immdt, 12)]),
        (0x26, 28, &[(Hdr::Reth, 12)]),
        (0x27, 12, &[]),
        (0x28, 12, &[]),
        (0x29, 16, &[(Hdr::Immdt, 12)]),
        (0x2a, 28, &[(Hdr::Reth, 12)]),
        (0x2b, 32, &[(Hdr::Reth, 12), (Hdr::Immdt, 28)]),
        (0x64, 20, &[(Hdr::Deth, 12)]),
        (0x65, 24, &[(Hdr::Deth, 12), (Hdr::Immdt, 20)]),
    ];

    #[test]
    fn table_matches_rxe() {
        let mut known = 0;
        for op in 0..=u8::MAX {
            let expected = RXE.iter().find(|e| e.0 == op);
            let got = lookup(op);
            assert_eq!(got.is_some(), expected.is_some(), "{op:#x}");
            assert_eq!(got.copied(), info(op), "{op:#x}");
            let (Some(info), Some(&(_, len, hdrs))) = (got, expected) else {
                continue;
            };
            known += 1;
            assert_eq!(info.opcode(), op);
            assert_eq!(info.hdr_len(), len, "{}", info.name());
            assert_eq!(info.payload_offset(), len);
            for h in Hdr::ORDER {
                let want = hdrs.iter().find(|e| e.0 == h).map(|e| e.1);
                assert_eq!(info.offset(h), want, "{} {h:?}", info.name());
            }
            assert_eq!(info.offset(Hdr::Bth), Some(0));
            assert!(info.is_request() != info.is_response(), "{}", info.name());
            assert!(!info.is_rxe_rs_ext());
        }
        assert_eq!(known, RXE.len());
    }

    #[test]
    fn names_say_what_flags_say() {
        for op in 0..=u8::MAX {
            let Some(i) = info(op) else { continue };
            let n = i.name();
            let prefix = match i.transport() {
                Transport::Rc => "RC_",
                Transport::Uc => "UC_",
                Transport::Ud => "UD_",
                t => panic!("{n}: {t:?}"),
            };
            assert!(n.starts_with(prefix), "{n}");
            assert_eq!(i.is_send(), n.contains("_SEND_"), "{n}");
            assert_eq!(i.is_write(), n.contains("_RDMA_WRITE_"), "{n}");
            assert_eq!(i.is_read(), n.ends_with("READ_REQUEST"), "{n}");
            assert_eq!(i.is(OpFlags::IMMDT), n.contains("IMMEDIATE"), "{n}");
            assert_eq!(i.is(OpFlags::IETH), n.contains("INVALIDATE"), "{n}");
            assert_eq!(
                i.is_atomic(),
                n.ends_with("COMPARE_SWAP") || n.ends_with("FETCH_ADD")
            );
            assert_eq!(i.is_flush(), n.ends_with("FLUSH"), "{n}");
            assert_eq!(i.is_atomic_write(), n.ends_with("ATOMIC_WRITE"), "{n}");
            let first = n.ends_with("_FIRST");
            let middle = n.ends_with("_MIDDLE");
            let last = n.contains("_LAST");
            assert_eq!(i.is_middle(), middle, "{n}");
            assert_eq!(i.is_first(), !middle && !last, "{n}");
            assert_eq!(i.is_last(), !middle && !first, "{n}");
            assert_eq!(i.is_only(), !first && !middle && !last, "{n}");
            assert!(i.hdr_len() <= MAX_HDR_LEN);
            assert_eq!(i.hdr_len() % 4, 0, "{n}");
            // A receive WQE is consumed by the first packet of a send or
            // by a write with immediate, and completed by their last.
            let imm_write = i.is_write() && i.is(OpFlags::IMMDT);
            assert_eq!(i.consumes_rwr(), (i.is_send() && i.is_first()) || imm_write);
            assert_eq!(i.completes_rwr(), (i.is_send() && i.is_last()) || imm_write);
            // The payload starts after the last header present.
            let end = Hdr::ORDER
                .iter()
                .filter_map(|&h| Some(i.offset(h)? + h.wire_len()))
                .max()
                .unwrap_or(BTH_LEN);
            assert_eq!(end, i.hdr_len(), "{n}");
        }
    }

    #[test]
    fn flags_are_rxes_bits() {
        // drivers/infiniband/sw/rxe/rxe_opcode.h, NUM_HDR_TYPES = 13.
        assert_eq!(OpFlags::RETH.bits(), 1 << 3);
        assert_eq!(OpFlags::PAYLOAD.bits(), 1 << 12);
        assert_eq!(OpFlags::REQ.bits(), 1 << 13);
        assert_eq!(OpFlags::FLUSH.bits(), 1 << (13 + 6));
        assert_eq!(OpFlags::RWR.bits(), 1 << (13 + 7));
        assert_eq!(OpFlags::END.bits(), 1 << (13 + 11));
        assert_eq!(OpFlags::ATOMIC_WRITE.bits(), 1 << (13 + 14));
        let f = OpFlags::REQ | OpFlags::SEND;
        assert!(f.contains(OpFlags::SEND) && !f.contains(OpFlags::SEND | OpFlags::ACK));
        assert!(f.intersects(OpFlags::SEND | OpFlags::ACK));
        assert!(!f.intersects(OpFlags::ACK));
        assert_eq!(OpFlags::from_bits(f.bits()), f);
    }

    #[test]
    fn transports() {
        assert_eq!(transport(RC_FLUSH), Transport::Rc);
        assert_eq!(transport(UC_SEND_ONLY), Transport::Uc);
        assert_eq!(transport(0x55), Transport::Rd);
        assert_eq!(transport(UD_SEND_ONLY), Transport::Ud);
        assert_eq!(transport(0x81), Transport::Cnp);
        assert_eq!(transport(0xa4), Transport::Xrc);
        assert_eq!(transport(0xc0), Transport::Vendor);
        assert_eq!(transport(0xff), Transport::Vendor);
    }

    #[test]
    fn resume_is_reserved_and_only_in_the_rxe_rs_dialect() {
        assert!(info(RC_RXE_RS_RESUME).is_none());
        assert!(lookup(RC_RXE_RS_RESUME).is_none());
        assert!(lookup_in(RC_RXE_RS_RESUME, Dialect::Rxe).is_none());
        let r = lookup_in(RC_RXE_RS_RESUME, Dialect::RxeRs).copied();
        assert_eq!(r, info_in(RC_RXE_RS_RESUME, Dialect::RxeRs));
        let Some(r) = r else {
            panic!("no resume entry")
        };
        assert_eq!(r.transport(), Transport::Rc);
        assert!(r.is_response() && r.is_only() && !r.has_payload());
        assert!(r.is_rxe_rs_ext());
        assert_eq!(r.offset(Hdr::Deth), Some(BTH_LEN));
        assert_eq!(r.offset(Hdr::Aeth), Some(BTH_LEN + DETH_LEN));
        assert_eq!(r.hdr_len(), BTH_LEN + DETH_LEN + AETH_LEN);
        for op in 0..=u8::MAX {
            if op != RC_RXE_RS_RESUME {
                assert_eq!(lookup_in(op, Dialect::RxeRs), lookup(op));
                assert_eq!(info_in(op, Dialect::RxeRs), info(op));
            }
        }
    }

    #[test]
    fn header_lengths() {
        assert_eq!(Hdr::Bth.wire_len(), 12);
        assert_eq!(Hdr::Payload.wire_len(), 0);
        assert_eq!(MAX_HDR_LEN, 40);
        assert_eq!(Hdr::Bth.flag(), OpFlags::empty());
        for h in Hdr::ORDER {
            assert!(h.wire_len() % 4 == 0 && h.wire_len() > 0);
            assert_eq!(h.flag().bits().count_ones(), 1);
        }
    }
}
