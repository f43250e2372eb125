// SPDX-License-Identifier: GPL-2.0

//! Path MTU: the IBTA MTU enumeration and how rxe derives it from the MTU of
//! the Ethernet device underneath.

/// Bytes of headers rxe reserves out of the netdev MTU: Ethernet is not
/// counted by the netdev MTU, but IPv6 (40) + UDP (8) + BTH (12) + the
/// largest extended header set + ICRC (4) are, rounded up as rxe does.
pub const MAX_HDR_LENGTH: u32 = 80;

/// The IBTA path MTU values (`enum ib_mtu`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u32)]
pub enum IbMtu {
    /// 256 bytes.
    Mtu256 = 1,
    /// 512 bytes.
    Mtu512 = 2,
    /// 1024 bytes.
    Mtu1024 = 3,
    /// 2048 bytes.
    Mtu2048 = 4,
    /// 4096 bytes.
    Mtu4096 = 5,
}

impl IbMtu {
    /// The payload size in bytes.
    pub const fn bytes(self) -> u32 {
        match self {
            IbMtu::Mtu256 => 256,
            IbMtu::Mtu512 => 512,
            IbMtu::Mtu1024 => 1024,
            IbMtu::Mtu2048 => 2048,
            IbMtu::Mtu4096 => 4096,
        }
    }

    /// The enumeration value of a raw `enum ib_mtu`, if it is one.
    pub const fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            1 => Some(IbMtu::Mtu256),
            2 => Some(IbMtu::Mtu512),
            3 => Some(IbMtu::Mtu1024),
            4 => Some(IbMtu::Mtu2048),
            5 => Some(IbMtu::Mtu4096),
            _ => None,
        }
    }

    /// The largest IBTA MTU that fits in `bytes`, or `None` below 256.
    pub const fn fitting(bytes: u32) -> Option<Self> {
        if bytes >= 4096 {
            Some(IbMtu::Mtu4096)
        } else if bytes >= 2048 {
            Some(IbMtu::Mtu2048)
        } else if bytes >= 1024 {
            Some(IbMtu::Mtu1024)
        } else if bytes >= 512 {
            Some(IbMtu::Mtu512)
        } else if bytes >= 256 {
            Some(IbMtu::Mtu256)
        } else {
            None
        }
    }

    /// The active MTU of a port on a netdev with MTU `netdev_mtu`: what fits
    /// after the headers, and never below 256 (a tiny netdev still gets the
    /// smallest IBTA MTU, as in rxe).
    pub const fn for_netdev(netdev_mtu: u32) -> Self {
        match Self::fitting(netdev_mtu.saturating_sub(MAX_HDR_LENGTH)) {
            Some(m) => m,
            None => IbMtu::Mtu256,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netdev_mtus() {
        assert_eq!(IbMtu::for_netdev(1500), IbMtu::Mtu1024);
        assert_eq!(IbMtu::for_netdev(9000), IbMtu::Mtu4096);
        assert_eq!(IbMtu::for_netdev(4096 + 80), IbMtu::Mtu4096);
        assert_eq!(IbMtu::for_netdev(4096 + 79), IbMtu::Mtu2048);
        assert_eq!(IbMtu::for_netdev(68), IbMtu::Mtu256);
        assert_eq!(IbMtu::for_netdev(0), IbMtu::Mtu256);
        assert_eq!(IbMtu::for_netdev(u32::MAX), IbMtu::Mtu4096);
    }

    #[test]
    fn raw_round_trip() {
        for raw in 0..8 {
            match IbMtu::from_raw(raw) {
                Some(m) => assert_eq!(m as u32, raw),
                None => assert!(raw == 0 || raw > 5),
            }
        }
        assert_eq!(IbMtu::Mtu4096.bytes(), 4096);
    }
}
