// SPDX-License-Identifier: GPL-2.0

//! The opcode sequence a connected responder (RC, UC) accepts: a
//! multi-packet SEND or RDMA WRITE runs FIRST, MIDDLE..., LAST with nothing
//! else between, and a MIDDLE or LAST belongs to a message that began
//! (IBTA 9.7.5.1.2; rxe's check_op_seq()).
//!
//! The responder keeps a [`MsgPos`] beside its expected PSN and checks each
//! in-sequence request against it; what a break costs depends on the
//! transport (RC: an invalid request NAK; UC: the message is dropped).
//! [`payload_fits`] checks the other half of how a message is cut into
//! packets: the payload each carries (C9-92) and the length a RETH may
//! ask for (C9-94).

use super::{opcode::OpcodeInfo, params::PORT_MAX_MSG_SZ};

/// Where a connected responder stands in the stream of requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MsgPos {
    /// Between messages: any FIRST or ONLY may come.
    #[default]
    Between,
    /// Inside a multi-packet SEND: its MIDDLE or LAST packets come next.
    InSend,
    /// Inside a multi-packet RDMA WRITE: its MIDDLE or LAST packets come
    /// next.
    InWrite,
}

/// How a request breaks the opcode sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqBreak {
    /// A MIDDLE or LAST packet with no message begun: its FIRST is missing.
    MissingFirst,
    /// Anything but the next packet of the message in progress: its LAST
    /// is missing.
    MissingLast,
}

/// A packet that continues a message: a MIDDLE or a LAST (not an ONLY).
const fn continues(info: &OpcodeInfo) -> bool {
    info.is_middle() || (info.is_last() && !info.is_first())
}

/// A packet after which its message goes on: a FIRST (not an ONLY) or a
/// MIDDLE.
const fn leaves_open(info: &OpcodeInfo) -> bool {
    info.is_middle() || (info.is_first() && !info.is_last())
}

impl MsgPos {
    /// Whether a request with this opcode may come now.
    pub const fn check(self, info: &OpcodeInfo) -> Result<(), SeqBreak> {
        match self {
            MsgPos::Between if continues(info) => Err(SeqBreak::MissingFirst),
            MsgPos::Between => Ok(()),
            MsgPos::InSend if info.is_send() && continues(info) => Ok(()),
            MsgPos::InWrite if info.is_write() && continues(info) => Ok(()),
            _ => Err(SeqBreak::MissingLast),
        }
    }

    /// The position once a request that passed [`MsgPos::check`] is
    /// carried out. Only SENDs and RDMA WRITEs have FIRST and MIDDLE
    /// packets.
    pub const fn after(info: &OpcodeInfo) -> MsgPos {
        if !leaves_open(info) {
            MsgPos::Between
        } else if info.is_send() {
            MsgPos::InSend
        } else {
            MsgPos::InWrite
        }
    }
}

/// The longest transfer a RETH may ask for (C9-94).
pub const MAX_DMA_LEN: u32 = 1 << 31;

/// Whether a connected request's payload is as long as its place in the
/// message requires on a path of `mtu` bytes: an ONLY packet at most one
/// MTU, a FIRST or MIDDLE exactly one, a LAST at least one byte and at most
/// one MTU (C9-92, as rxe checks it).
pub const fn payload_fits(info: &OpcodeInfo, payload: usize, mtu: u32) -> bool {
    let mtu = mtu as usize;
    if !info.has_payload() {
        return true;
    }
    if info.is_only() {
        payload <= mtu
    } else if info.is_first() || info.is_middle() {
        payload == mtu
    } else {
        payload > 0 && payload <= mtu
    }
}

/// The length of a message once `payload` more bytes of it arrive after
/// `placed`: `None` past the largest message a port takes
/// ([`PORT_MAX_MSG_SZ`], what `query_port` advertises as `max_msg_sz`), a
/// request the responder refuses as invalid. Never wraps, whatever a peer
/// sends: the sum is taken in 64 bits and only then bounded.
pub fn message_grows(placed: u32, payload: usize) -> Option<u32> {
    let total = u64::from(placed).checked_add(u64::try_from(payload).ok()?)?;
    if total > u64::from(PORT_MAX_MSG_SZ) {
        return None;
    }
    u32::try_from(total).ok()
}

#[cfg(test)]
mod tests {
    use super::super::opcode::{self as opc, info};

    #[test]
    fn message_length_is_bounded_not_wrapped() {
        let max = PORT_MAX_MSG_SZ;
        assert_eq!(message_grows(0, 0), Some(0));
        assert_eq!(message_grows(0, 4096), Some(4096));
        assert_eq!(message_grows(max - 4096, 4096), Some(max));
        assert_eq!(message_grows(max, 0), Some(max));
        assert_eq!(message_grows(max - 4095, 4096), None);
        assert_eq!(message_grows(max, 1), None);
        // What a u32 sum would wrap to a small number is refused.
        assert_eq!(message_grows(u32::MAX - 10, 4096), None);
        assert_eq!(message_grows(u32::MAX, usize::MAX), None);
        assert_eq!(message_grows(0, usize::MAX), None);
        // Every step of a long message, one MTU at a time, up to the bound.
        let mut placed = 0u32;
        let mut steps = 0u64;
        while let Some(next) = message_grows(placed, 1 << 20) {
            assert_eq!(u64::from(next), u64::from(placed) + (1 << 20));
            placed = next;
            steps += 1;
        }
        assert_eq!(placed, max);
        assert_eq!(steps, u64::from(max) >> 20);
    }
    use super::*;

    /// rxe's check_op_seq() for one transport (RC or UC), from
    /// drivers/infiniband/sw/rxe/rxe_resp.c, keyed by the last opcode it
    /// carried out (`None`: -1, a fresh or reset QP).
    fn rxe_check(last: Option<u8>, op: u8) -> Result<(), SeqBreak> {
        let t = op & opc::TRANSPORT_MASK;
        let (sf, sm, sl, sli, slv) = (
            t,
            t | 1,
            t | 2,
            t | 3,
            if t == 0 { Some(0x16) } else { None },
        );
        let (wf, wm, wl, wli) = (t | 6, t | 7, t | 8, t | 9);
        let send_cont = |o: u8| o == sm || o == sl || o == sli || Some(o) == slv;
        let write_cont = |o: u8| o == wm || o == wl || o == wli;
        match last {
            Some(l) if l == sf || l == sm => {
                if send_cont(op) {
                    Ok(())
                } else {
                    Err(SeqBreak::MissingLast)
                }
            }
            Some(l) if l == wf || l == wm => {
                if write_cont(op) {
                    Ok(())
                } else {
                    Err(SeqBreak::MissingLast)
                }
            }
            _ => {
                if send_cont(op) || write_cont(op) {
                    Err(SeqBreak::MissingFirst)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The requests of one transport (RC or UC) the opcode table knows.
    fn requests(t: u8) -> impl Iterator<Item = u8> {
        (t..t + 0x20).filter(|&o| info(o).is_some_and(|i| i.is_request()))
    }

    #[test]
    fn agrees_with_rxe_for_every_pair() {
        for t in [opc::TRANSPORT_RC, opc::TRANSPORT_UC] {
            for last in requests(t) {
                let Some(li) = info(last) else { continue };
                let pos = MsgPos::after(&li);
                for op in requests(t) {
                    let Some(oi) = info(op) else { continue };
                    assert_eq!(
                        pos.check(&oi),
                        rxe_check(Some(last), op),
                        "{last:#x} then {op:#x}"
                    );
                }
            }
            for op in requests(t) {
                let Some(oi) = info(op) else { continue };
                assert_eq!(
                    MsgPos::Between.check(&oi),
                    rxe_check(None, op),
                    "fresh, {op:#x}"
                );
            }
        }
    }

    #[test]
    fn payloads_fill_their_packets() {
        let get = |o| info(o).unwrap();
        for (op, ok, bad) in [
            (opc::RC_SEND_ONLY, &[0usize, 1, 1024][..], &[1025usize][..]),
            (opc::UC_RDMA_WRITE_ONLY_WITH_IMMEDIATE, &[0, 1024], &[1025]),
            (opc::RC_SEND_FIRST, &[1024], &[0, 512, 1023, 1025]),
            (opc::UC_RDMA_WRITE_MIDDLE, &[1024], &[0, 1025]),
            (opc::RC_SEND_LAST_WITH_INVALIDATE, &[1, 4, 1024], &[0, 1025]),
            (opc::UC_RDMA_WRITE_LAST, &[1, 1024], &[0, 2048]),
            // No payload: nothing to check (read requests, atomics).
            (opc::RC_RDMA_READ_REQUEST, &[0], &[]),
            (opc::RC_COMPARE_SWAP, &[0], &[]),
        ] {
            for &n in ok {
                assert!(payload_fits(&get(op), n, 1024), "{op:#x} with {n}");
            }
            for &n in bad {
                assert!(!payload_fits(&get(op), n, 1024), "{op:#x} with {n}");
            }
        }
    }

    #[test]
    fn a_message_runs_first_middle_last() {
        let get = |o| info(o).unwrap();
        let mut pos = MsgPos::default();
        for op in [
            opc::RC_SEND_FIRST,
            opc::RC_SEND_MIDDLE,
            opc::RC_SEND_MIDDLE,
            opc::RC_SEND_LAST,
        ] {
            assert_eq!(pos.check(&get(op)), Ok(()));
            pos = MsgPos::after(&get(op));
        }
        assert_eq!(pos, MsgPos::Between);
        pos = MsgPos::after(&get(opc::UC_RDMA_WRITE_FIRST));
        assert_eq!(pos, MsgPos::InWrite);
        assert_eq!(
            pos.check(&get(opc::UC_SEND_MIDDLE)),
            Err(SeqBreak::MissingLast)
        );
        assert_eq!(
            pos.check(&get(opc::UC_RDMA_WRITE_ONLY)),
            Err(SeqBreak::MissingLast)
        );
        assert_eq!(
            pos.check(&get(opc::UC_RDMA_WRITE_LAST_WITH_IMMEDIATE)),
            Ok(())
        );
        assert_eq!(
            MsgPos::Between.check(&get(opc::RC_RDMA_READ_REQUEST)),
            Ok(())
        );
        assert_eq!(
            MsgPos::InSend.check(&get(opc::RC_COMPARE_SWAP)),
            Err(SeqBreak::MissingLast)
        );
    }
}
