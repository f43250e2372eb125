// SPDX-License-Identifier: GPL-2.0

//! Address vectors: where a QP's (or an address handle's) packets go. RoCEv2
//! only: the GIDs are IPv4-mapped or IPv6 addresses, carried over UDP.

use kernel::prelude::*;

use crate::{bindings, verbs::device::RxeDev};

/// A RoCEv2 path.
#[derive(Clone, Copy)]
pub(crate) struct Av {
    /// IPv6 addresses (otherwise IPv4-mapped GIDs, sent as IPv4).
    pub(crate) ipv6: bool,
    pub(crate) sgid_index: u8,
    pub(crate) sgid: [u8; 16],
    pub(crate) dgid: [u8; 16],
    pub(crate) flow_label: u32,
    pub(crate) hop_limit: u8,
    pub(crate) traffic_class: u8,
    pub(crate) sl: u8,
    pub(crate) dmac: [u8; 6],
}

/// Whether a GID is an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`).
pub(crate) fn is_v4_mapped(gid: &[u8; 16]) -> bool {
    gid[..10].iter().all(|&b| b == 0) && gid[10] == 0xff && gid[11] == 0xff
}

impl Av {
    /// The path an `rdma_ah_attr` describes; `EINVAL` for anything but a
    /// RoCEv2 path with a GRH on port 1 whose GIDs agree on the IP version.
    pub(crate) fn from_ah_attr(_dev: &RxeDev, ah: &bindings::rdma_ah_attr) -> Result<Av> {
        if ah.type_ != bindings::RDMA_AH_ATTR_TYPE_ROCE
            || ah.port_num != 1
            || u32::from(ah.ah_flags) & bindings::IB_AH_GRH == 0
        {
            return Err(EINVAL);
        }
        let grh = &ah.grh;
        if grh.sgid_attr.is_null() {
            return Err(EINVAL);
        }
        // SAFETY: The core resolved the source GID and holds its attribute
        // for the duration of the call.
        let sattr = unsafe { &*grh.sgid_attr };
        if sattr.gid_type != bindings::IB_GID_TYPE_ROCE_UDP_ENCAP {
            return Err(EINVAL);
        }
        // SAFETY: `raw` is the whole union, any bytes valid.
        let (sgid, dgid) = unsafe { (sattr.gid.raw, grh.dgid.raw) };
        let ipv6 = !is_v4_mapped(&sgid);
        if ipv6 == is_v4_mapped(&dgid) {
            return Err(EINVAL);
        }
        // SAFETY: A RoCE attribute (checked above) uses the `roce` member.
        let dmac = unsafe { ah.__bindgen_anon_1.roce.dmac };
        Ok(Av {
            ipv6,
            sgid_index: grh.sgid_index,
            sgid,
            dgid,
            flow_label: grh.flow_label,
            hop_limit: grh.hop_limit,
            traffic_class: grh.traffic_class,
            sl: ah.sl,
            dmac,
        })
    }

    /// Writes the path back as an `rdma_ah_attr` (for queries; without the
    /// core's GID attribute reference, which queries do not carry).
    pub(crate) fn write_ah_attr(&self, ah: &mut bindings::rdma_ah_attr) {
        // SAFETY: Plain data (a null GID attribute pointer included).
        *ah = unsafe { core::mem::zeroed() };
        ah.type_ = bindings::RDMA_AH_ATTR_TYPE_ROCE;
        ah.port_num = 1;
        ah.sl = self.sl;
        ah.ah_flags = bindings::IB_AH_GRH as u8;
        ah.grh.dgid.raw = self.dgid;
        ah.grh.flow_label = self.flow_label;
        ah.grh.sgid_index = self.sgid_index;
        ah.grh.hop_limit = self.hop_limit;
        ah.grh.traffic_class = self.traffic_class;
        ah.__bindgen_anon_1.roce.dmac = self.dmac;
    }
}

/// Bytes of [`Av::encode`]'s layout.
pub(crate) const ENCODED_LEN: usize = 48;

impl Av {
    /// Writes the path into a kernel send WQE's address area (`wr.ud.av`),
    /// in rxe-rs's own layout: only kernel QPs use it, as kernel AHs have
    /// no number.
    pub(crate) fn encode(&self, out: &mut [u8]) -> Option<()> {
        let b = out.get_mut(..ENCODED_LEN)?;
        b[0] = 1;
        b[1] = u8::from(self.ipv6);
        b[2] = self.sgid_index;
        b[3] = self.hop_limit;
        b[4] = self.traffic_class;
        b[5] = self.sl;
        b[6..12].copy_from_slice(&self.dmac);
        b[12..16].copy_from_slice(&self.flow_label.to_ne_bytes());
        b[16..32].copy_from_slice(&self.sgid);
        b[32..48].copy_from_slice(&self.dgid);
        Some(())
    }

    /// Reads what [`Av::encode`] wrote.
    pub(crate) fn decode(b: &[u8]) -> Option<Av> {
        let b = b.get(..ENCODED_LEN)?;
        if b[0] != 1 {
            return None;
        }
        let mut av = Av {
            ipv6: b[1] != 0,
            sgid_index: b[2],
            hop_limit: b[3],
            traffic_class: b[4],
            sl: b[5],
            dmac: [0; 6],
            flow_label: u32::from_ne_bytes([b[12], b[13], b[14], b[15]]),
            sgid: [0; 16],
            dgid: [0; 16],
        };
        av.dmac.copy_from_slice(&b[6..12]);
        av.sgid.copy_from_slice(&b[16..32]);
        av.dgid.copy_from_slice(&b[32..48]);
        Some(av)
    }
}
