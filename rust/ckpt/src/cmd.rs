// SPDX-License-Identifier: GPL-2.0

//! The uverbs `write()` commands a restore runs inside the process
//! (`include/uapi/rdma/ib_user_verbs.h`), with the rxe driver's response
//! data after the core's (`include/uapi/rdma/rdma_user_rxe.h`): each
//! command is a header and a core structure, little-endian; its response
//! goes where the structure's `response` field points.

/// `IB_USER_VERBS_CMD_*`.
const GET_CONTEXT: u32 = 0;
const ALLOC_PD: u32 = 3;
const DEALLOC_PD: u32 = 4;
const CREATE_AH: u32 = 5;
const REG_MR: u32 = 9;
const CREATE_COMP_CHANNEL: u32 = 17;
const CREATE_CQ: u32 = 18;
const CREATE_QP: u32 = 24;
const CREATE_SRQ: u32 = 32;

/// A command, ready to be copied into the process: its bytes, and the size
/// of its response.
pub struct Cmd {
    pub bytes: Vec<u8>,
    pub resp_len: usize,
}

/// Little-endian fields, in order.
#[derive(Default)]
struct Body(Vec<u8>);

impl Body {
    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn bytes(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
}

/// A command `command` with core structure `body` and a response of
/// `resp_len` bytes (a multiple of 4).
fn cmd(command: u32, body: Body, resp_len: usize) -> Cmd {
    let len = 8 + body.0.len();
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(&command.to_le_bytes());
    bytes.extend_from_slice(&((len / 4) as u16).to_le_bytes());
    bytes.extend_from_slice(&((resp_len / 4) as u16).to_le_bytes());
    bytes.extend_from_slice(&body.0);
    Cmd { bytes, resp_len }
}

/// GET_CONTEXT; answers the async event fd and the vector count.
pub fn get_context(resp: u64) -> Cmd {
    cmd(GET_CONTEXT, Body::default().u64(resp), 8)
}

/// ALLOC_PD; answers the handle.
pub fn alloc_pd(resp: u64) -> Cmd {
    cmd(ALLOC_PD, Body::default().u64(resp), 4)
}

/// DEALLOC_PD; no answer.
pub fn dealloc_pd(handle: u32) -> Cmd {
    cmd(DEALLOC_PD, Body::default().u32(handle), 0)
}

/// CREATE_COMP_CHANNEL; answers the channel's fd.
pub fn create_comp_channel(resp: u64) -> Cmd {
    cmd(CREATE_COMP_CHANNEL, Body::default().u64(resp), 4)
}

/// CREATE_CQ; answers the handle and size, then the ring's `mminfo`.
pub fn create_cq(resp: u64, user_handle: u64, cqe: u32, vector: u32, channel: i32) -> Cmd {
    let b = Body::default()
        .u64(resp)
        .u64(user_handle)
        .u32(cqe)
        .u32(vector)
        .u32(channel as u32)
        .u32(0);
    cmd(CREATE_CQ, b, 8 + 16)
}

/// REG_MR; answers the handle, lkey and rkey.
pub fn reg_mr(resp: u64, start: u64, length: u64, iova: u64, pd: u32, access: u32) -> Cmd {
    let b = Body::default()
        .u64(resp)
        .u64(start)
        .u64(length)
        .u64(iova)
        .u32(pd)
        .u32(access);
    cmd(REG_MR, b, 12)
}

/// An AH's path, as CREATE_AH takes it.
pub struct AhPath {
    pub dgid: [u8; 16],
    pub flow_label: u32,
    pub sgid_index: u8,
    pub hop_limit: u8,
    pub traffic_class: u8,
    pub sl: u8,
}

/// CREATE_AH; answers the handle, then the AH number.
pub fn create_ah(resp: u64, user_handle: u64, pd: u32, p: &AhPath) -> Cmd {
    let b = Body::default()
        .u64(resp)
        .u64(user_handle)
        .u32(pd)
        .u32(0)
        // struct ib_uverbs_global_route
        .bytes(&p.dgid)
        .u32(p.flow_label)
        .u8(p.sgid_index)
        .u8(p.hop_limit)
        .u8(p.traffic_class)
        .u8(0)
        // dlid, sl, src_path_bits, static_rate, is_global, port_num, reserved
        .u16(0)
        .u8(p.sl)
        .u8(0)
        .u8(0)
        .u8(1)
        .u8(1)
        .u8(0);
    cmd(CREATE_AH, b, 4 + 8)
}

/// CREATE_SRQ; answers the handle, sizes and number, then the ring's
/// `mminfo` and the SRQ number.
pub fn create_srq(
    resp: u64,
    user_handle: u64,
    pd: u32,
    max_wr: u32,
    max_sge: u32,
    limit: u32,
) -> Cmd {
    let b = Body::default()
        .u64(resp)
        .u64(user_handle)
        .u32(pd)
        .u32(max_wr)
        .u32(max_sge)
        .u32(limit);
    cmd(CREATE_SRQ, b, 16 + 24)
}

/// What CREATE_QP asks for.
pub struct QpInit {
    pub user_handle: u64,
    pub pd: u32,
    pub send_cq: u32,
    pub recv_cq: u32,
    /// `u32::MAX`: none.
    pub srq: u32,
    pub max_send_wr: u32,
    pub max_recv_wr: u32,
    pub max_send_sge: u32,
    pub max_recv_sge: u32,
    pub max_inline: u32,
    pub sig_all: bool,
    pub qp_type: u8,
}

/// CREATE_QP; answers the handle, QPN and sizes, then the RQ's and SQ's
/// `mminfo`.
pub fn create_qp(resp: u64, q: &QpInit) -> Cmd {
    let has_srq = q.srq != u32::MAX;
    let b = Body::default()
        .u64(resp)
        .u64(q.user_handle)
        .u32(q.pd)
        .u32(q.send_cq)
        .u32(q.recv_cq)
        .u32(if has_srq { q.srq } else { 0 })
        .u32(q.max_send_wr)
        .u32(q.max_recv_wr)
        .u32(q.max_send_sge)
        .u32(q.max_recv_sge)
        .u32(q.max_inline)
        .u8(u8::from(q.sig_all))
        .u8(q.qp_type)
        .u8(u8::from(has_srq))
        .u8(0);
    cmd(CREATE_QP, b, 32 + 32)
}

/// The `u32` at byte `at` of a response.
pub fn u32_at(resp: &[u8], at: usize) -> u32 {
    resp.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

/// The `u64` at byte `at` of a response.
pub fn u64_at(resp: &[u8], at: usize) -> u64 {
    resp.get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes as the kernel's structures have them: the header's word
    /// counts are what `ib_uverbs_write` checks against the write's length.
    #[test]
    fn sizes() {
        let c = create_cq(0x1000, 7, 15, 0, -1);
        assert_eq!(c.bytes.len(), 8 + 32);
        assert_eq!(u16::from_le_bytes([c.bytes[4], c.bytes[5]]), 10);
        assert_eq!(u16::from_le_bytes([c.bytes[6], c.bytes[7]]), 6);
        assert_eq!(reg_mr(0, 0, 0, 0, 0, 0).bytes.len(), 8 + 40);
        let p = AhPath {
            dgid: [0; 16],
            flow_label: 0,
            sgid_index: 1,
            hop_limit: 64,
            traffic_class: 0,
            sl: 0,
        };
        // response, user_handle, pd_handle, reserved, ah_attr (32)
        assert_eq!(create_ah(0, 0, 0, &p).bytes.len(), 8 + 24 + 32);
        let q = QpInit {
            user_handle: 0,
            pd: 0,
            send_cq: 0,
            recv_cq: 0,
            srq: u32::MAX,
            max_send_wr: 0,
            max_recv_wr: 0,
            max_send_sge: 0,
            max_recv_sge: 0,
            max_inline: 0,
            sig_all: false,
            qp_type: 2,
        };
        assert_eq!(create_qp(0, &q).bytes.len(), 8 + 56);
        assert_eq!(create_srq(0, 0, 0, 0, 0, 0).bytes.len(), 8 + 32);
        assert_eq!(dealloc_pd(3).bytes.len(), 12);
        assert_eq!(u32_at(&[1, 0, 0, 0, 2, 0, 0, 0], 4), 2);
        assert_eq!(u32_at(&[1, 0], 0), 0);
    }
}
