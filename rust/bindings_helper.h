/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C API rxe-rs uses: bindgen turns this header into
 * rust/bindings_generated.rs at build time (see Kbuild).
 */
#include <linux/netdevice.h>
#include <linux/random.h>
#include <linux/vmalloc.h>
#include <linux/if_vlan.h>
#include <net/addrconf.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/net_namespace.h>
#include <net/udp_tunnel.h>
#include <rdma/ib_verbs.h>
#include <rdma/ib_cache.h>
#include <rdma/ib_mad.h>
#include <rdma/ib_umem.h>
#include <rdma/rdma_netlink.h>
#include <rdma/uverbs_ioctl.h>
#include <uapi/rdma/rdma_user_rxe.h>

#include "helpers.h"
#include "net_glue.h"
#include "uverbs_glue.h"
