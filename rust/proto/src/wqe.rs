// SPDX-License-Identifier: GPL-2.0

//! Work queue entries as the rxe user ABI lays them out in the send and
//! receive rings (`struct rxe_send_wqe`, `struct rxe_recv_wqe` of
//! `rdma_user_rxe.h`, x86-64 natural alignment, host byte order).
//!
//! User space writes these; the kernel reads a copy and trusts nothing in
//! it: every accessor is bounds-checked and counts are clamped by the
//! caller's limits.

/// `struct rxe_send_wqe` without its trailing SGE / inline data array.
pub const SEND_WQE_SIZE: usize = 208;
/// `struct rxe_recv_wqe` without its trailing SGE array.
pub const RECV_WQE_SIZE: usize = 40;
/// `struct rxe_sge` (and `struct ib_sge`).
pub const SGE_SIZE: usize = 16;
/// `struct rxe_av` inside a UD send WQE.
pub const AV_SIZE: usize = 88;

/// Offsets in `struct rxe_send_wqe`.
mod send {
    pub(super) const WR_ID: usize = 0;
    pub(super) const OPCODE: usize = 12;
    pub(super) const SEND_FLAGS: usize = 16;
    pub(super) const EX: usize = 20;
    /// The `wr` union.
    pub(super) const WR: usize = 24;
    pub(super) const DMA_LENGTH: usize = 184;
    pub(super) const DMA_NUM_SGE: usize = 196;
    pub(super) const DMA_DATA: usize = 208;
}

/// Offsets in `struct rxe_recv_wqe`.
mod recv {
    pub(super) const WR_ID: usize = 0;
    pub(super) const DMA_LENGTH: usize = 16;
    pub(super) const DMA_NUM_SGE: usize = 28;
    pub(super) const DMA_DATA: usize = 40;
}

/// `IBV_SEND_*` / `IB_SEND_*` flags.
pub mod flags {
    /// Wait for earlier reads and atomics.
    pub const FENCE: u32 = 1;
    /// Complete with a work completion.
    pub const SIGNALED: u32 = 2;
    /// Ask for a solicited event at the receiver.
    pub const SOLICITED: u32 = 4;
    /// The payload is in the WQE.
    pub const INLINE: u32 = 8;
}

/// `IB_WR_*` / `IBV_WR_*` opcodes the rxe ABI passes through.
pub mod op {
    /// RDMA write.
    pub const RDMA_WRITE: u32 = 0;
    /// RDMA write with immediate.
    pub const RDMA_WRITE_WITH_IMM: u32 = 1;
    /// Send.
    pub const SEND: u32 = 2;
    /// Send with immediate.
    pub const SEND_WITH_IMM: u32 = 3;
    /// RDMA read.
    pub const RDMA_READ: u32 = 4;
    /// Atomic compare and swap.
    pub const ATOMIC_CMP_AND_SWP: u32 = 5;
    /// Atomic fetch and add.
    pub const ATOMIC_FETCH_AND_ADD: u32 = 6;
    /// Local invalidate.
    pub const LOCAL_INV: u32 = 7;
    /// Send with invalidate.
    pub const SEND_WITH_INV: u32 = 9;
    /// Fast memory registration (`IB_WR_REG_MR`): kernel consumers only,
    /// the user ABI has no such opcode.
    pub const REG_MR: u32 = 0x20;
}

/// Offsets of a fast registration in the `wr` union. rxe keeps the
/// `ib_mr` pointer there (`wr.reg`); rxe-rs keeps the MR's table index and
/// the iova and length the `ib_mr` had when the WR was posted, so no
/// pointer travels through a ring.
mod reg {
    pub(super) const MR_INDEX: usize = super::send::WR;
    pub(super) const KEY: usize = super::send::WR + 8;
    pub(super) const ACCESS: usize = super::send::WR + 12;
    pub(super) const IOVA: usize = super::send::WR + 16;
    pub(super) const LENGTH: usize = super::send::WR + 24;
}

// The registration stays inside the `wr` union, before `dma`.
const _: () = assert!(reg::LENGTH + 8 <= send::DMA_LENGTH);

/// What an `IB_WR_REG_MR` WQE asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reg {
    /// The MR's table index.
    pub mr_index: u32,
    /// The new key (the MR's index and a new low byte).
    pub key: u32,
    /// `IB_ACCESS_*`.
    pub access: u32,
    /// The registration's first byte.
    pub iova: u64,
    /// Its length in bytes.
    pub length: u64,
}

/// A scatter/gather element.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sge {
    /// Address (an iova in the MR).
    pub addr: u64,
    /// Length in bytes.
    pub length: u32,
    /// The MR's lkey.
    pub lkey: u32,
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_ne_bytes([s[0], s[1]]))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    let s = b.get(off..off.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_ne_bytes(a))
}

/// The `i`th SGE of an array starting at `off`, if it is inside `b`.
fn sge_at(b: &[u8], off: usize, i: usize) -> Option<Sge> {
    let at = off.checked_add(i.checked_mul(SGE_SIZE)?)?;
    Some(Sge {
        addr: u64_at(b, at)?,
        length: u32_at(b, at + 8)?,
        lkey: u32_at(b, at + 12)?,
    })
}

/// A send WQE, over a copy of its ring slot.
#[derive(Clone, Copy)]
pub struct SendWqe<'a> {
    b: &'a [u8],
}

impl<'a> SendWqe<'a> {
    /// The WQE in `slot`, if the slot holds at least the fixed part.
    pub fn new(slot: &'a [u8]) -> Option<Self> {
        (slot.len() >= SEND_WQE_SIZE).then_some(SendWqe { b: slot })
    }

    /// The consumer's work request id.
    pub fn wr_id(&self) -> u64 {
        u64_at(self.b, send::WR_ID).unwrap_or(0)
    }

    /// The `IB_WR_*` opcode.
    pub fn opcode(&self) -> u32 {
        u32_at(self.b, send::OPCODE).unwrap_or(u32::MAX)
    }

    /// The `IB_SEND_*` flags.
    pub fn send_flags(&self) -> u32 {
        u32_at(self.b, send::SEND_FLAGS).unwrap_or(0)
    }

    /// Immediate data (as the bytes the consumer stored, i.e. big-endian
    /// in memory, returned as the native reading of them) or the rkey to
    /// invalidate.
    pub fn ex(&self) -> u32 {
        u32_at(self.b, send::EX).unwrap_or(0)
    }

    /// `wr.rdma.remote_addr` / `wr.atomic.remote_addr`.
    pub fn remote_addr(&self) -> u64 {
        u64_at(self.b, send::WR).unwrap_or(0)
    }

    /// `wr.rdma.rkey`.
    pub fn rdma_rkey(&self) -> u32 {
        u32_at(self.b, send::WR + 8).unwrap_or(0)
    }

    /// `wr.atomic.compare_add`.
    pub fn compare_add(&self) -> u64 {
        u64_at(self.b, send::WR + 8).unwrap_or(0)
    }

    /// `wr.atomic.swap`.
    pub fn swap(&self) -> u64 {
        u64_at(self.b, send::WR + 16).unwrap_or(0)
    }

    /// `wr.atomic.rkey`.
    pub fn atomic_rkey(&self) -> u32 {
        u32_at(self.b, send::WR + 24).unwrap_or(0)
    }

    /// The fast registration of an `IB_WR_REG_MR` WQE.
    pub fn reg(&self) -> Reg {
        Reg {
            mr_index: u32_at(self.b, reg::MR_INDEX).unwrap_or(0),
            key: u32_at(self.b, reg::KEY).unwrap_or(0),
            access: u32_at(self.b, reg::ACCESS).unwrap_or(0),
            iova: u64_at(self.b, reg::IOVA).unwrap_or(0),
            length: u64_at(self.b, reg::LENGTH).unwrap_or(0),
        }
    }

    /// `wr.ud.remote_qpn`.
    pub fn ud_remote_qpn(&self) -> u32 {
        u32_at(self.b, send::WR).unwrap_or(0)
    }

    /// `wr.ud.remote_qkey`.
    pub fn ud_remote_qkey(&self) -> u32 {
        u32_at(self.b, send::WR + 4).unwrap_or(0)
    }

    /// `wr.ud.pkey_index`.
    pub fn ud_pkey_index(&self) -> u16 {
        u16_at(self.b, send::WR + 8).unwrap_or(0)
    }

    /// `wr.ud.ah_num`: the address handle (0: the AV is in the WQE).
    pub fn ud_ah_num(&self) -> u32 {
        u32_at(self.b, send::WR + 12).unwrap_or(0)
    }

    /// `wr.ud.av`: the raw `struct rxe_av` area.
    pub fn ud_av_raw(&self) -> Option<&'a [u8]> {
        self.b.get(send::WR + 32..send::WR + 32 + AV_SIZE)
    }

    /// `dma.length`: the total length the consumer says it posted.
    pub fn dma_length(&self) -> u32 {
        u32_at(self.b, send::DMA_LENGTH).unwrap_or(0)
    }

    /// `dma.num_sge`, as written (callers clamp it).
    pub fn num_sge(&self) -> u32 {
        u32_at(self.b, send::DMA_NUM_SGE).unwrap_or(0)
    }

    /// The `i`th SGE, if `i < num_sge` and it is inside the slot.
    pub fn sge(&self, i: u32) -> Option<Sge> {
        if i >= self.num_sge() {
            return None;
        }
        sge_at(self.b, send::DMA_DATA, i as usize)
    }

    /// The inline payload: `dma.length` bytes of the data area, if they
    /// fit in the slot.
    pub fn inline_data(&self) -> Option<&'a [u8]> {
        let len = self.dma_length() as usize;
        self.b.get(send::DMA_DATA..send::DMA_DATA.checked_add(len)?)
    }
}

/// A receive WQE, over a copy of its ring slot.
#[derive(Clone, Copy)]
pub struct RecvWqe<'a> {
    b: &'a [u8],
}

impl<'a> RecvWqe<'a> {
    /// The WQE in `slot`, if the slot holds at least the fixed part.
    pub fn new(slot: &'a [u8]) -> Option<Self> {
        (slot.len() >= RECV_WQE_SIZE).then_some(RecvWqe { b: slot })
    }

    /// The consumer's work request id.
    pub fn wr_id(&self) -> u64 {
        u64_at(self.b, recv::WR_ID).unwrap_or(0)
    }

    /// `dma.length` as written.
    pub fn dma_length(&self) -> u32 {
        u32_at(self.b, recv::DMA_LENGTH).unwrap_or(0)
    }

    /// `dma.num_sge`, as written (callers clamp it).
    pub fn num_sge(&self) -> u32 {
        u32_at(self.b, recv::DMA_NUM_SGE).unwrap_or(0)
    }

    /// The `i`th SGE, if `i < num_sge` and it is inside the slot.
    pub fn sge(&self, i: u32) -> Option<Sge> {
        if i >= self.num_sge() {
            return None;
        }
        sge_at(self.b, recv::DMA_DATA, i as usize)
    }
}

/// Writes a send WQE's fixed fields (for tests and kernel consumers).
pub fn write_send(
    slot: &mut [u8],
    wr_id: u64,
    opcode: u32,
    send_flags: u32,
    ex: u32,
) -> Option<()> {
    put(slot, send::WR_ID, &wr_id.to_ne_bytes())?;
    put(slot, send::OPCODE, &opcode.to_ne_bytes())?;
    put(slot, send::SEND_FLAGS, &send_flags.to_ne_bytes())?;
    put(slot, send::EX, &ex.to_ne_bytes())
}

/// Writes the `wr` union's first words: remote address and rkey (RDMA) or
/// remote QPN and qkey (UD) - the caller picks by opcode.
pub fn write_send_wr(slot: &mut [u8], words: &[u8]) -> Option<()> {
    put(slot, send::WR, words)
}

/// Writes the fast registration of an `IB_WR_REG_MR` WQE.
pub fn write_reg(slot: &mut [u8], r: &Reg) -> Option<()> {
    put(slot, reg::MR_INDEX, &u64::from(r.mr_index).to_ne_bytes())?;
    put(slot, reg::KEY, &r.key.to_ne_bytes())?;
    put(slot, reg::ACCESS, &r.access.to_ne_bytes())?;
    put(slot, reg::IOVA, &r.iova.to_ne_bytes())?;
    put(slot, reg::LENGTH, &r.length.to_ne_bytes())
}

/// Writes a send WQE's SGE list (or, with `INLINE`, the payload).
pub fn write_send_dma(slot: &mut [u8], length: u32, num_sge: u32, data: &[u8]) -> Option<()> {
    put(slot, send::DMA_LENGTH, &length.to_ne_bytes())?;
    put(slot, send::DMA_NUM_SGE, &num_sge.to_ne_bytes())?;
    put(slot, send::DMA_DATA, data)
}

/// Writes a receive WQE.
pub fn write_recv(slot: &mut [u8], wr_id: u64, sges: &[Sge]) -> Option<()> {
    put(slot, recv::WR_ID, &wr_id.to_ne_bytes())?;
    let total = sges.iter().fold(0u32, |a, s| a.wrapping_add(s.length));
    put(slot, recv::DMA_LENGTH, &total.to_ne_bytes())?;
    put(slot, recv::DMA_NUM_SGE, &(sges.len() as u32).to_ne_bytes())?;
    for (i, s) in sges.iter().enumerate() {
        put_sge(slot, recv::DMA_DATA + i * SGE_SIZE, s)?;
    }
    Some(())
}

/// Writes `s` as a `struct rxe_sge` at `off`.
pub fn put_sge(slot: &mut [u8], off: usize, s: &Sge) -> Option<()> {
    put(slot, off, &s.addr.to_ne_bytes())?;
    put(slot, off + 8, &s.length.to_ne_bytes())?;
    put(slot, off + 12, &s.lkey.to_ne_bytes())
}

/// Writes a receive WQE's id.
pub fn write_recv_id(slot: &mut [u8], wr_id: u64) -> Option<()> {
    put(slot, recv::WR_ID, &wr_id.to_ne_bytes())
}

/// Writes a receive WQE's total length and SGE count.
pub fn write_recv_counts(slot: &mut [u8], length: u32, num_sge: u32) -> Option<()> {
    put(slot, recv::DMA_LENGTH, &length.to_ne_bytes())?;
    put(slot, recv::DMA_NUM_SGE, &num_sge.to_ne_bytes())
}

/// Offset of the SGE array of a receive WQE.
pub const fn recv_data_offset() -> usize {
    recv::DMA_DATA
}

/// Offset of `wr.ud.av` in a send WQE.
pub const fn ud_av_offset() -> usize {
    send::WR + 32
}

/// Offset of the data area of a send WQE.
pub const fn send_data_offset() -> usize {
    send::DMA_DATA
}

fn put(slot: &mut [u8], off: usize, v: &[u8]) -> Option<()> {
    slot.get_mut(off..off.checked_add(v.len())?)?
        .copy_from_slice(v);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_round_trip() {
        let mut slot = [0u8; SEND_WQE_SIZE + 2 * SGE_SIZE];
        write_send(&mut slot, 0x1122, op::SEND, flags::SIGNALED, 7).unwrap();
        let sges = [
            Sge {
                addr: 0x1000,
                length: 10,
                lkey: 0x105,
            },
            Sge {
                addr: 0x2000,
                length: 20,
                lkey: 0x206,
            },
        ];
        let mut data = [0u8; 2 * SGE_SIZE];
        for (i, s) in sges.iter().enumerate() {
            put_sge(&mut data, i * SGE_SIZE, s).unwrap();
        }
        write_send_dma(&mut slot, 30, 2, &data).unwrap();
        let w = SendWqe::new(&slot).unwrap();
        assert_eq!(w.wr_id(), 0x1122);
        assert_eq!(w.opcode(), op::SEND);
        assert_eq!(w.send_flags(), flags::SIGNALED);
        assert_eq!(w.ex(), 7);
        assert_eq!(w.dma_length(), 30);
        assert_eq!(w.sge(0), Some(sges[0]));
        assert_eq!(w.sge(1), Some(sges[1]));
        assert_eq!(w.sge(2), None);
    }

    #[test]
    fn hostile_counts_stay_in_the_slot() {
        let mut slot = [0u8; SEND_WQE_SIZE + SGE_SIZE];
        write_send_dma(&mut slot, u32::MAX, u32::MAX, &[]).unwrap();
        let w = SendWqe::new(&slot).unwrap();
        assert!(w.sge(0).is_some());
        assert_eq!(w.sge(1), None);
        assert_eq!(w.sge(u32::MAX - 1), None);
        assert_eq!(w.inline_data(), None);
        assert!(SendWqe::new(&slot[..SEND_WQE_SIZE - 1]).is_none());
    }

    #[test]
    fn reg_round_trip() {
        let mut slot = [0u8; SEND_WQE_SIZE];
        let r = Reg {
            mr_index: 0x1234,
            key: 0x12_34ab,
            access: 7,
            iova: 0xffff_8880_0000_1000,
            length: 0x3000,
        };
        write_send(&mut slot, 5, op::REG_MR, flags::SIGNALED, 0).unwrap();
        write_reg(&mut slot, &r).unwrap();
        let w = SendWqe::new(&slot).unwrap();
        assert_eq!(w.opcode(), op::REG_MR);
        assert_eq!(w.reg(), r);
        assert!(write_reg(&mut slot[..SEND_WQE_SIZE / 4], &r).is_none());
    }

    #[test]
    fn recv_round_trip() {
        let mut slot = [0u8; RECV_WQE_SIZE + SGE_SIZE];
        let s = Sge {
            addr: 5,
            length: 6,
            lkey: 7,
        };
        write_recv(&mut slot, 99, &[s]).unwrap();
        let w = RecvWqe::new(&slot).unwrap();
        assert_eq!((w.wr_id(), w.dma_length(), w.num_sge()), (99, 6, 1));
        assert_eq!(w.sge(0), Some(s));
        assert_eq!(w.sge(1), None);
        assert!(write_recv(&mut slot, 1, &[s, s]).is_none());
    }
}
