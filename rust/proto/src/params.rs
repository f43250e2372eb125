// SPDX-License-Identifier: GPL-2.0

//! Device and port limits rxe-rs advertises. They are the C rxe's values
//! (drivers/infiniband/sw/rxe/rxe_param.h), so that software sees the same
//! device whichever driver it runs on, and a checkpoint taken on one can be
//! checked against the other.

/// The default limit for counted objects.
pub const DEFAULT_MAX_VALUE: u32 = 1 << 20;

/// IBTA vendor id rxe reports.
pub const VENDOR_ID: u32 = 0x00ff_ffff;
/// Largest memory region.
pub const MAX_MR_SIZE: u64 = u64::MAX;
/// Page sizes supported for memory registration.
pub const PAGE_SIZE_CAP: u64 = 0xffff_f000;
/// Work requests per queue pair queue.
pub const MAX_QP_WR: u32 = DEFAULT_MAX_VALUE;
/// Scatter/gather entries per send or receive work request.
pub const MAX_SGE: u32 = 32;
/// Scatter/gather entries per RDMA read.
pub const MAX_SGE_RD: u32 = 32;
/// Completion queues.
pub const MAX_CQ: u32 = DEFAULT_MAX_VALUE;
/// log2 of the completion queue size bound.
pub const MAX_LOG_CQE: u32 = 15;
/// Entries per completion queue.
pub const MAX_CQE: u32 = (1 << MAX_LOG_CQE) - 1;
/// Protection domains.
pub const MAX_PD: u32 = DEFAULT_MAX_VALUE;
/// Outstanding RDMA reads/atomics per QP as responder.
pub const MAX_QP_RD_ATOM: u32 = 128;
/// Outstanding RDMA reads/atomics for the whole device.
pub const MAX_RES_RD_ATOM: u32 = 0x3f000;
/// Outstanding RDMA reads/atomics per QP as requester.
pub const MAX_QP_INIT_RD_ATOM: u32 = 128;
/// Multicast groups.
pub const MAX_MCAST_GRP: u32 = 8192;
/// QPs per multicast group.
pub const MAX_MCAST_QP_ATTACH: u32 = 56;
/// Multicast attachments for the whole device.
pub const MAX_TOT_MCAST_QP_ATTACH: u32 = 0x70000;
/// Address handles.
pub const MAX_AH: u32 = (1 << 15) - 1;
/// Work requests per shared receive queue.
pub const MAX_SRQ_WR: u32 = DEFAULT_MAX_VALUE;
/// Scatter/gather entries per SRQ work request.
pub const MAX_SRQ_SGE: u32 = 27;
/// Pages per fast-registration list.
pub const MAX_FMR_PAGE_LIST_LEN: u32 = 512;
/// Partition keys.
pub const MAX_PKEYS: u16 = 64;
/// Local CA ACK delay (4.096 us * 2^15).
pub const LOCAL_CA_ACK_DELAY: u8 = 15;
/// User contexts.
pub const MAX_UCONTEXT: u32 = DEFAULT_MAX_VALUE;

/// First QP index handed out to ordinary QPs (0 and 1 are the special QPs).
pub const MIN_QP_INDEX: u32 = 16;
/// Queue pairs.
pub const MAX_QP: u32 = DEFAULT_MAX_VALUE - MIN_QP_INDEX;
/// First SRQ index.
pub const MIN_SRQ_INDEX: u32 = 0x0002_0001;
/// Shared receive queues.
pub const MAX_SRQ: u32 = DEFAULT_MAX_VALUE - MIN_SRQ_INDEX;
/// First MR index.
pub const MIN_MR_INDEX: u32 = 1;
/// Last MR index.
pub const MAX_MR_INDEX: u32 = DEFAULT_MAX_VALUE >> 1;
/// Memory regions.
pub const MAX_MR: u32 = MAX_MR_INDEX - MIN_MR_INDEX;
/// First MW index.
pub const MIN_MW_INDEX: u32 = MAX_MR_INDEX + 1;
/// Last MW index.
pub const MAX_MW_INDEX: u32 = DEFAULT_MAX_VALUE;
/// Memory windows.
pub const MAX_MW: u32 = MAX_MW_INDEX - MIN_MW_INDEX;

/// GID table entries per port.
pub const PORT_GID_TBL_LEN: u32 = 1024;
/// Largest message.
pub const PORT_MAX_MSG_SZ: u32 = 1 << 31;
/// Virtual lanes.
pub const PORT_MAX_VL_NUM: u8 = 1;
/// P_Key table entries per port.
pub const PORT_PKEY_TBL_LEN: u16 = 1;
/// Default subnet prefix (link-local).
pub const PORT_SUBNET_PREFIX: u64 = 0xfe80_0000_0000_0000;
/// The only P_Key: the full-membership default partition.
pub const DEFAULT_PKEY_FULL: u16 = 0xffff;

/// Node description reported by the device.
pub const NODE_DESC: &[u8] = b"rxe";

// Key and number ranges must not overlap: an lkey names one object.
const _: () = assert!(MIN_MR_INDEX <= MAX_MR_INDEX);
const _: () = assert!(MAX_MR_INDEX < MIN_MW_INDEX);
const _: () = assert!(MIN_QP_INDEX < DEFAULT_MAX_VALUE);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_match_the_c_rxe() {
        assert_eq!(MAX_CQE, 32767);
        assert_eq!(MAX_MR, 524287);
        assert_eq!(MAX_MW, 524287);
    }
}
