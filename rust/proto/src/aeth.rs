// SPDX-License-Identifier: GPL-2.0

//! The ACK extended transport header: a syndrome saying what a response is
//! (ACK with a credit count, RNR NAK with a timer, NAK with a code) and the
//! responder's 24-bit message sequence number; and the rxe-rs "stopped" NAK.
//!
//! ```text
//!  byte 0    syndrome: resv(7) type(6:5) value(4:0)
//!            type 00 ACK, value = credit count code
//!                 01 RNR NAK, value = RNR timer code
//!                 10 reserved
//!                 11 NAK, value = NAK code
//!  byte 1-3  MSN
//! ```

use super::headers::BufferTooShort;

/// Length of the AETH in bytes.
pub const AETH_LEN: usize = 4;

/// Message sequence numbers are 24 bits wide.
pub const MSN_MASK: u32 = 0x00ff_ffff;

/// The syndrome bits that give its type (bit 7 is reserved and zero).
pub const SYNDROME_TYPE_MASK: u8 = 0x60;
/// The syndrome bits that give the credit count, timer or NAK code.
pub const SYNDROME_VALUE_MASK: u8 = 0x1f;
/// Syndrome type: positive acknowledge.
pub const SYNDROME_ACK: u8 = 0x00;
/// Syndrome type: receiver not ready.
pub const SYNDROME_RNR_NAK: u8 = 0x20;
/// Syndrome type: reserved by the IBTA.
pub const SYNDROME_RESERVED: u8 = 0x40;
/// Syndrome type: negative acknowledge.
pub const SYNDROME_NAK: u8 = 0x60;

/// Credit count code meaning "no credit information": end-to-end flow
/// control not used. The C rxe sends every ACK with it.
pub const CREDITS_INVALID: u8 = 0x1f;
/// An ACK syndrome without credit information, as the C rxe sends.
pub const SYNDROME_ACK_UNLIMITED: u8 = SYNDROME_ACK | CREDITS_INVALID;

/// NAK code: PSN sequence error (a packet is missing; retransmit from the
/// PSN in the BTH).
pub const NAK_PSN_SEQ_ERROR: u8 = 0;
/// NAK code: invalid request.
pub const NAK_INVALID_REQUEST: u8 = 1;
/// NAK code: remote access error.
pub const NAK_REMOTE_ACCESS_ERROR: u8 = 2;
/// NAK code: remote operational error.
pub const NAK_REMOTE_OP_ERROR: u8 = 3;
/// NAK code: invalid RD request (reliable datagram only).
pub const NAK_INVALID_RD_REQUEST: u8 = 4;

/// NAK code 31, an rxe-rs extension for QP migration: "stopped".
///
/// The IBTA defines NAK codes 0 to 4 and reserves 5 to 31: no IBTA-defined
/// meaning is attached to them, so a value from that range cannot clash
/// with standard traffic. rxe-rs takes the top of the range, 31, as the one
/// least likely to be given a meaning by a later revision of the
/// specification (codes so far were assigned from 0 upward).
///
/// rxe-rs answers with it while the queue pair the request is for is
/// stopped for migration: the requester is to hold its send queue, without
/// spending retry or RNR retry counts, until the peer announces with a
/// resume message (`opcode::RC_RXE_RS_RESUME`) where to continue.
///
/// A peer that does not know the extension treats it as any reserved NAK
/// code: as an error. The C rxe's completer completes the work request with
/// `IB_WC_REM_OP_ERR` and moves the QP to the error state. rxe-rs must
/// therefore send it only to peers known to implement the extension.
pub const NAK_RXE_RS_STOPPED: u8 = 31;

/// The full syndrome byte of the rxe-rs "stopped" NAK (0x7f).
pub const SYNDROME_NAK_STOPPED: u8 = SYNDROME_NAK | NAK_RXE_RS_STOPPED;

/// Credits encoded by ACK credit count codes 0 to 30 (IBTA, "end-to-end
/// flow control"): roughly logarithmic, each code worth the number of
/// receive WQEs the responder has available.
const CREDITS: [u32; 31] = [
    0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536,
    2048, 3072, 4096, 6144, 8192, 12288, 16384, 24576, 32768,
];

/// Microseconds of the RNR NAK timer codes 0 to 31 (IBTA "RNR timer field
/// encoding"; the values rxe uses). Code 0 is the longest, 655.36 ms.
const RNR_USECS: [u32; 32] = [
    655_360, 10, 20, 30, 40, 60, 80, 120, 160, 240, 320, 480, 640, 960, 1280, 1920, 2560, 3840,
    5120, 7680, 10_240, 15_360, 20_480, 30_720, 40_960, 61_440, 81_920, 122_880, 163_840, 245_760,
    327_680, 491_520,
];

/// The number of credits an ACK credit count code stands for, or `None`
/// for [`CREDITS_INVALID`]. Only the low 5 bits of `code` are used.
pub const fn credits_from_code(code: u8) -> Option<u32> {
    let code = (code & SYNDROME_VALUE_MASK) as usize;
    if code < CREDITS.len() {
        Some(CREDITS[code])
    } else {
        None
    }
}

/// The largest credit count code that does not promise more than
/// `credits` receive WQEs (a responder must not over-advertise).
pub const fn credit_code(credits: u32) -> u8 {
    let mut code = CREDITS.len() - 1;
    while code > 0 && CREDITS[code] > credits {
        code -= 1;
    }
    code as u8
}

/// The delay an RNR NAK timer code asks for, in microseconds. Only the low
/// 5 bits of `code` are used.
pub const fn rnr_timer_usecs(code: u8) -> u32 {
    RNR_USECS[(code & SYNDROME_VALUE_MASK) as usize]
}

/// A NAK code, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NakCode {
    /// [`NAK_PSN_SEQ_ERROR`].
    PsnSeqError,
    /// [`NAK_INVALID_REQUEST`].
    InvalidRequest,
    /// [`NAK_REMOTE_ACCESS_ERROR`].
    RemoteAccessError,
    /// [`NAK_REMOTE_OP_ERROR`].
    RemoteOpError,
    /// [`NAK_INVALID_RD_REQUEST`].
    InvalidRdRequest,
    /// [`NAK_RXE_RS_STOPPED`], the rxe-rs migration extension.
    Stopped,
    /// Any other code (5 to 30): reserved by the IBTA, an error.
    Reserved(u8),
}

impl NakCode {
    /// Decodes the low 5 bits of `code`.
    pub const fn from_code(code: u8) -> Self {
        match code & SYNDROME_VALUE_MASK {
            NAK_PSN_SEQ_ERROR => NakCode::PsnSeqError,
            NAK_INVALID_REQUEST => NakCode::InvalidRequest,
            NAK_REMOTE_ACCESS_ERROR => NakCode::RemoteAccessError,
            NAK_REMOTE_OP_ERROR => NakCode::RemoteOpError,
            NAK_INVALID_RD_REQUEST => NakCode::InvalidRdRequest,
            NAK_RXE_RS_STOPPED => NakCode::Stopped,
            c => NakCode::Reserved(c),
        }
    }

    /// The 5-bit code.
    pub const fn code(self) -> u8 {
        match self {
            NakCode::PsnSeqError => NAK_PSN_SEQ_ERROR,
            NakCode::InvalidRequest => NAK_INVALID_REQUEST,
            NakCode::RemoteAccessError => NAK_REMOTE_ACCESS_ERROR,
            NakCode::RemoteOpError => NAK_REMOTE_OP_ERROR,
            NakCode::InvalidRdRequest => NAK_INVALID_RD_REQUEST,
            NakCode::Stopped => NAK_RXE_RS_STOPPED,
            NakCode::Reserved(c) => c & SYNDROME_VALUE_MASK,
        }
    }
}

/// An AETH syndrome, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syndrome {
    /// Positive acknowledge with a credit count code (see
    /// [`credits_from_code`]).
    Ack {
        /// The 5-bit credit count code.
        credits: u8,
    },
    /// Receiver not ready: retry after the delay of `timer` (see
    /// [`rnr_timer_usecs`]).
    RnrNak {
        /// The 5-bit RNR timer code.
        timer: u8,
    },
    /// Negative acknowledge.
    Nak(NakCode),
    /// A syndrome with the reserved bit 7 set or of the reserved type 10:
    /// the raw byte. Not to be sent.
    Reserved(u8),
}

impl Syndrome {
    /// Decodes a syndrome byte. Every byte decodes to something, and
    /// [`Syndrome::to_byte`] gives it back.
    pub const fn from_byte(b: u8) -> Self {
        if b & 0x80 != 0 {
            return Syndrome::Reserved(b);
        }
        let value = b & SYNDROME_VALUE_MASK;
        match b & SYNDROME_TYPE_MASK {
            SYNDROME_ACK => Syndrome::Ack { credits: value },
            SYNDROME_RNR_NAK => Syndrome::RnrNak { timer: value },
            SYNDROME_NAK => Syndrome::Nak(NakCode::from_code(value)),
            _ => Syndrome::Reserved(b),
        }
    }

    /// Encodes the syndrome; 5-bit values are truncated to 5 bits.
    pub const fn to_byte(self) -> u8 {
        match self {
            Syndrome::Ack { credits } => SYNDROME_ACK | (credits & SYNDROME_VALUE_MASK),
            Syndrome::RnrNak { timer } => SYNDROME_RNR_NAK | (timer & SYNDROME_VALUE_MASK),
            Syndrome::Nak(code) => SYNDROME_NAK | code.code(),
            Syndrome::Reserved(b) => b,
        }
    }

    /// An ACK without credit information, as the C rxe sends.
    pub const fn ack_unlimited() -> Self {
        Syndrome::Ack {
            credits: CREDITS_INVALID,
        }
    }

    /// Whether this is a positive acknowledge.
    pub const fn is_ack(self) -> bool {
        matches!(self, Syndrome::Ack { .. })
    }

    /// Whether this is an RNR NAK or a NAK.
    pub const fn is_nak(self) -> bool {
        matches!(self, Syndrome::RnrNak { .. } | Syndrome::Nak(_))
    }
}

/// The decoded fields of an AETH.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Aeth {
    /// The syndrome byte (see [`Syndrome`]).
    pub syndrome: u8,
    /// Message sequence number, 24 bits.
    pub msn: u32,
}

impl Aeth {
    /// Length of the header in bytes.
    pub const LEN: usize = AETH_LEN;

    /// A header with the given syndrome and MSN (truncated to 24 bits).
    pub const fn new(syndrome: Syndrome, msn: u32) -> Self {
        Aeth {
            syndrome: syndrome.to_byte(),
            msn: msn & MSN_MASK,
        }
    }

    /// The syndrome, decoded.
    pub const fn decoded(&self) -> Syndrome {
        Syndrome::from_byte(self.syndrome)
    }

    /// Decodes the wire bytes.
    pub const fn from_bytes(b: &[u8; AETH_LEN]) -> Self {
        Aeth {
            syndrome: b[0],
            msn: u32::from_be_bytes([0, b[1], b[2], b[3]]),
        }
    }

    /// Encodes the header; the MSN is truncated to 24 bits.
    pub const fn to_bytes(self) -> [u8; AETH_LEN] {
        let m = self.msn.to_be_bytes();
        [self.syndrome, m[1], m[2], m[3]]
    }

    /// Reads the header from the start of `buf`, or `None` if `buf` is too
    /// short.
    pub fn read(buf: &[u8]) -> Option<Self> {
        buf.first_chunk().map(Self::from_bytes)
    }

    /// Writes the header to the start of `buf`.
    pub fn write(&self, buf: &mut [u8]) -> Result<(), BufferTooShort> {
        *buf.first_chunk_mut().ok_or(BufferTooShort)? = self.to_bytes();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syndromes_as_rxe_has_them() {
        // drivers/infiniband/sw/rxe/rxe_hdr.h, enum aeth_syndrome.
        assert_eq!(SYNDROME_ACK_UNLIMITED, 0x1f);
        assert_eq!(Syndrome::Nak(NakCode::PsnSeqError).to_byte(), 0x60);
        assert_eq!(Syndrome::Nak(NakCode::InvalidRequest).to_byte(), 0x61);
        assert_eq!(Syndrome::Nak(NakCode::RemoteAccessError).to_byte(), 0x62);
        assert_eq!(Syndrome::Nak(NakCode::RemoteOpError).to_byte(), 0x63);
        assert_eq!(Syndrome::Nak(NakCode::InvalidRdRequest).to_byte(), 0x64);
        assert_eq!(Syndrome::RnrNak { timer: 12 }.to_byte(), 0x2c);
        assert_eq!(Syndrome::ack_unlimited().to_byte(), 0x1f);
    }

    #[test]
    fn stopped_is_a_reserved_nak_code() {
        assert_eq!(SYNDROME_NAK_STOPPED, 0x7f);
        const { assert!(NAK_RXE_RS_STOPPED > NAK_INVALID_RD_REQUEST) };
        assert_eq!(
            Syndrome::from_byte(SYNDROME_NAK_STOPPED),
            Syndrome::Nak(NakCode::Stopped)
        );
        assert!(Syndrome::Nak(NakCode::Stopped).is_nak());
        for c in 5..31 {
            assert_eq!(NakCode::from_code(c), NakCode::Reserved(c));
        }
    }

    #[test]
    fn every_byte_round_trips() {
        for b in 0..=u8::MAX {
            let s = Syndrome::from_byte(b);
            assert_eq!(s.to_byte(), b, "{b:#x} {s:?}");
            let reserved = b & 0x80 != 0 || b & SYNDROME_TYPE_MASK == SYNDROME_RESERVED;
            assert_eq!(matches!(s, Syndrome::Reserved(_)), reserved, "{b:#x}");
            assert_eq!(
                s.is_ack(),
                !reserved && b & SYNDROME_TYPE_MASK == SYNDROME_ACK
            );
        }
        for c in 0..32 {
            assert_eq!(NakCode::from_code(c).code(), c);
        }
    }

    #[test]
    fn credits() {
        assert_eq!(credits_from_code(0), Some(0));
        assert_eq!(credits_from_code(5), Some(6));
        assert_eq!(credits_from_code(30), Some(32768));
        assert_eq!(credits_from_code(CREDITS_INVALID), None);
        assert_eq!(credits_from_code(0xe0 | 5), Some(6));
        for code in 0..31u8 {
            let n = credits_from_code(code).unwrap_or(u32::MAX);
            assert_eq!(credit_code(n), code);
            if n > 0 {
                assert_eq!(credit_code(n - 1), code - 1);
            }
        }
        assert_eq!(credit_code(5), 4);
        assert_eq!(credit_code(u32::MAX), 30);
        assert!(CREDITS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn rnr_timers() {
        assert_eq!(rnr_timer_usecs(0), 655_360);
        assert_eq!(rnr_timer_usecs(1), 10);
        assert_eq!(rnr_timer_usecs(14), 1280);
        assert_eq!(rnr_timer_usecs(31), 491_520);
        assert_eq!(rnr_timer_usecs(0xff), 491_520);
        assert!(RNR_USECS[1..].windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn header() {
        let a = Aeth::new(Syndrome::Nak(NakCode::Stopped), 0x0112_3456);
        assert_eq!(a.to_bytes(), [0x7f, 0x12, 0x34, 0x56]);
        assert_eq!(Aeth::read(&a.to_bytes()), Some(a));
        assert_eq!(a.decoded(), Syndrome::Nak(NakCode::Stopped));
        assert_eq!(Aeth::read(&[0; 3]), None);
        let mut buf = [0u8; 3];
        assert_eq!(a.write(&mut buf), Err(BufferTooShort));
        let mut buf = [0u8; 4];
        assert_eq!(a.write(&mut buf), Ok(()));
        assert_eq!(buf, a.to_bytes());
    }
}
