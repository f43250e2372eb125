// SPDX-License-Identifier: GPL-2.0

//! The Base Transport Header: the 12 bytes that start every RoCE packet
//! after the UDP header, in network byte order.
//!
//! ```text
//!  byte 0    opcode
//!  byte 1    SE(7) M(6) PadCnt(5:4) TVer(3:0)
//!  byte 2-3  P_Key
//!  byte 4    FECN(7) BECN(6) resv6(5:0)
//!  byte 5-7  destination QP
//!  byte 8    AckReq(7) resv7(6:0)
//!  byte 9-11 PSN
//! ```

use super::headers::BufferTooShort;
use super::psn::PSN_MASK;

/// Length of the BTH in bytes.
pub const BTH_LEN: usize = 12;

/// The only transport header version there is; packets with another are
/// dropped.
pub const TVER: u8 = 0;

/// The default partition key (full membership of the default partition).
pub const DEFAULT_PKEY: u16 = 0xffff;

/// Queue pair numbers are 24 bits wide.
pub const QPN_MASK: u32 = 0x00ff_ffff;

/// The destination QP number of multicast packets.
pub const MULTICAST_QPN: u32 = 0x00ff_ffff;

/// rxe-rs's migration extension, in the reserved bits of byte 4 (masked
/// out of the ICRC, ignored by the C rxe and by hardware): "I speak the
/// extension" (see docs/migration.md).
pub const RESV6_RXE_RS_EXT: u8 = 0x01;
/// ... and "I heard that you do".
pub const RESV6_RXE_RS_EXT_HEARD: u8 = 0x02;

/// The decoded fields of a BTH. Reserved fields are kept so that a header
/// read and written back is unchanged; builders leave them zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bth {
    /// The opcode: transport in the top 3 bits, operation in the low 5.
    pub opcode: u8,
    /// Solicited event: the receiver should raise a completion event.
    pub se: bool,
    /// Migration request state (APM), echoed by rxe.
    pub mig: bool,
    /// Pad count: 0 to 3 bytes appended to the payload to align it.
    pub pad: u8,
    /// Transport header version, 4 bits; must be [`TVER`].
    pub tver: u8,
    /// Partition key.
    pub pkey: u16,
    /// Forward explicit congestion notification.
    pub fecn: bool,
    /// Backward explicit congestion notification.
    pub becn: bool,
    /// The 6 reserved bits after FECN/BECN.
    pub resv6: u8,
    /// Destination queue pair number, 24 bits.
    pub dest_qpn: u32,
    /// Acknowledge request.
    pub ack_req: bool,
    /// The 7 reserved bits after AckReq.
    pub resv7: u8,
    /// Packet sequence number, 24 bits.
    pub psn: u32,
}

impl Bth {
    /// Length of the header in bytes.
    pub const LEN: usize = BTH_LEN;

    /// A header with the given opcode, partition key, destination QP and
    /// PSN and every other field zero (TVer 0, no flags, no pad).
    pub const fn new(opcode: u8, pkey: u16, dest_qpn: u32, psn: u32) -> Self {
        Bth {
            opcode,
            se: false,
            mig: false,
            pad: 0,
            tver: TVER,
            pkey,
            fecn: false,
            becn: false,
            resv6: 0,
            dest_qpn: dest_qpn & QPN_MASK,
            ack_req: false,
            resv7: 0,
            psn: psn & PSN_MASK,
        }
    }

    /// Decodes the wire bytes.
    pub const fn from_bytes(b: &[u8; BTH_LEN]) -> Self {
        Bth {
            opcode: b[0],
            se: b[1] & 0x80 != 0,
            mig: b[1] & 0x40 != 0,
            pad: (b[1] >> 4) & 0x3,
            tver: b[1] & 0x0f,
            pkey: u16::from_be_bytes([b[2], b[3]]),
            fecn: b[4] & 0x80 != 0,
            becn: b[4] & 0x40 != 0,
            resv6: b[4] & 0x3f,
            dest_qpn: u32::from_be_bytes([0, b[5], b[6], b[7]]),
            ack_req: b[8] & 0x80 != 0,
            resv7: b[8] & 0x7f,
            psn: u32::from_be_bytes([0, b[9], b[10], b[11]]),
        }
    }

    /// Encodes the header. Fields wider than their wire width are
    /// truncated to it, as the C rxe does.
    pub const fn to_bytes(self) -> [u8; BTH_LEN] {
        let pkey = self.pkey.to_be_bytes();
        let qpn = self.dest_qpn.to_be_bytes();
        let psn = self.psn.to_be_bytes();
        let flags =
            bit(self.se, 0x80) | bit(self.mig, 0x40) | ((self.pad & 0x3) << 4) | (self.tver & 0x0f);
        let ecn = bit(self.fecn, 0x80) | bit(self.becn, 0x40) | (self.resv6 & 0x3f);
        let ack = bit(self.ack_req, 0x80) | (self.resv7 & 0x7f);
        [
            self.opcode,
            flags,
            pkey[0],
            pkey[1],
            ecn,
            qpn[1],
            qpn[2],
            qpn[3],
            ack,
            psn[1],
            psn[2],
            psn[3],
        ]
    }

    /// Reads the header from the start of `buf`, or `None` if `buf` is
    /// shorter than [`BTH_LEN`].
    pub fn read(buf: &[u8]) -> Option<Self> {
        buf.first_chunk().map(Self::from_bytes)
    }

    /// Writes the header to the start of `buf`.
    pub fn write(&self, buf: &mut [u8]) -> Result<(), BufferTooShort> {
        *buf.first_chunk_mut().ok_or(BufferTooShort)? = self.to_bytes();
        Ok(())
    }
}

/// The destination QP of the packet whose BTH starts `buf` (the one field
/// the receive path reads before it parses the rest), or `None` if `buf`
/// is too short for a BTH.
pub fn dest_qpn(buf: &[u8]) -> Option<u32> {
    let b = buf.first_chunk::<BTH_LEN>()?;
    Some(u32::from_be_bytes([0, b[5], b[6], b[7]]))
}

/// `mask` if `set`, else 0.
const fn bit(set: bool, mask: u8) -> u8 {
    if set {
        mask
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dest_qpn_reads_the_header_field() {
        let b = Bth::new(0x04, DEFAULT_PKEY, 0x12_3456, 7).to_bytes();
        assert_eq!(dest_qpn(&b), Some(0x12_3456));
        assert_eq!(dest_qpn(&b[..BTH_LEN - 1]), None);
        assert_eq!(dest_qpn(&[]), None);
        // The QPN of any BTH that parses is what the header says.
        let mut long = [0xffu8; 40];
        long[..BTH_LEN].copy_from_slice(&b);
        assert_eq!(dest_qpn(&long), Bth::read(&long).map(|h| h.dest_qpn));
    }

    #[test]
    fn layout() {
        let bth = Bth {
            opcode: 0x24,
            se: true,
            mig: true,
            pad: 2,
            tver: 0,
            pkey: 0xffff,
            fecn: false,
            becn: true,
            resv6: 0,
            dest_qpn: 0xd3,
            ack_req: true,
            resv7: 0,
            psn: 0xcf_1710,
        };
        let bytes = bth.to_bytes();
        assert_eq!(
            bytes,
            [0x24, 0xe0, 0xff, 0xff, 0x40, 0x00, 0x00, 0xd3, 0x80, 0xcf, 0x17, 0x10]
        );
        assert_eq!(Bth::from_bytes(&bytes), bth);
    }

    #[test]
    fn every_bit_round_trips() {
        // Each single bit set decodes to a header that encodes back to it:
        // no bit of the 96 is lost or moved.
        for i in 0..BTH_LEN * 8 {
            let mut b = [0u8; BTH_LEN];
            b[i / 8] = 0x80 >> (i % 8);
            assert_eq!(Bth::from_bytes(&b).to_bytes(), b, "bit {i}");
        }
        let ones = [0xff; BTH_LEN];
        let all = Bth::from_bytes(&ones);
        assert_eq!(all.dest_qpn, QPN_MASK);
        assert_eq!(all.psn, PSN_MASK);
        assert_eq!(
            (all.pad, all.tver, all.resv6, all.resv7),
            (3, 15, 0x3f, 0x7f)
        );
        assert_eq!(all.to_bytes(), ones);
    }

    #[test]
    fn wide_fields_are_truncated() {
        let mut bth = Bth::new(0x11, 0x1234, 0x0155_5555, 0x0177_7777);
        assert_eq!((bth.dest_qpn, bth.psn), (0x55_5555, 0x77_7777));
        bth.dest_qpn = 0xffff_ffff;
        bth.pad = 7;
        bth.tver = 0x1f;
        let b = bth.to_bytes();
        assert_eq!(b[1], 0x3f);
        assert_eq!(b[4..8], [0x00, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn short_buffers() {
        assert_eq!(Bth::read(&[0; BTH_LEN - 1]), None);
        assert_eq!(Bth::read(&[0; BTH_LEN + 5]), Some(Bth::default()));
        let mut small = [0u8; BTH_LEN - 1];
        assert_eq!(Bth::new(0, 0, 0, 0).write(&mut small), Err(BufferTooShort));
        assert_eq!(small, [0; BTH_LEN - 1]);
        let mut big = [0xaau8; BTH_LEN + 2];
        let bth = Bth::new(0x04, DEFAULT_PKEY, 0x12, 0x34);
        assert_eq!(bth.write(&mut big), Ok(()));
        assert_eq!(big[BTH_LEN..], [0xaa, 0xaa]);
        assert_eq!(Bth::read(&big), Some(bth));
    }
}
