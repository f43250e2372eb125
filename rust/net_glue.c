// SPDX-License-Identifier: GPL-2.0
/*
 * C glue for the network layer of rxe-rs (see net_glue.h).
 */
#include <linux/err.h>
#include <linux/if_ether.h>
#include <linux/if_vlan.h>
#include <linux/inetdevice.h>
#include <linux/ip.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <linux/workqueue.h>
#include <net/dst.h>
#include <net/ip6_route.h>
#include <net/ipv6.h>
#include <net/net_namespace.h>
#include <net/route.h>
#include <net/sock.h>

#include "net_glue.h"

struct net *rxe_rs_dev_net_rcu(struct net_device *ndev)
{
	return dev_net_rcu(ndev);
}

struct net *rxe_rs_maybe_get_net(struct net *net)
{
	return maybe_get_net(net);
}

void rxe_rs_put_net(struct net *net)
{
	put_net(net);
}

u64 rxe_rs_net_cookie(struct net *net)
{
	return net->net_cookie;
}

struct sock *rxe_rs_socket_sk(struct socket *sock)
{
	return sock->sk;
}

void *rxe_rs_sk_user_data(struct sock *sk)
{
	return rcu_dereference_sk_user_data(sk);
}

struct net_device *rxe_rs_vlan_real_dev(struct net_device *ndev)
{
	return is_vlan_dev(ndev) ? vlan_dev_real_dev(ndev) : NULL;
}

struct net_device *rxe_rs_loopback_owner(struct sk_buff *skb)
{
	struct net *net = dev_net(skb->dev);
	struct net_device *ndev = NULL;

	if (!(skb->dev->flags & IFF_LOOPBACK))
		return NULL;
	if (skb->protocol == htons(ETH_P_IP)) {
		ndev = ip_dev_find(net, ip_hdr(skb)->daddr);
	} else if (skb->protocol == htons(ETH_P_IPV6)) {
		rcu_read_lock();
		ndev = ipv6_dev_find(net, &ipv6_hdr(skb)->daddr, NULL);
		if (ndev)
			dev_hold(ndev);
		rcu_read_unlock();
	}
	return ndev;
}

int rxe_rs_skb_linearize(struct sk_buff *skb)
{
	return skb_linearize(skb);
}

struct net_device *rxe_rs_skb_dev(struct sk_buff *skb)
{
	return skb->dev;
}

void rxe_rs_skb_dst_drop(struct sk_buff *skb)
{
	skb_dst_drop(skb);
}

unsigned char *rxe_rs_skb_data(struct sk_buff *skb)
{
	return skb->data;
}

unsigned int rxe_rs_skb_len(struct sk_buff *skb)
{
	return skb->len;
}

int rxe_rs_skb_network_offset(struct sk_buff *skb)
{
	return skb_network_offset(skb);
}

u16 rxe_rs_skb_protocol(struct sk_buff *skb)
{
	return ntohs(skb->protocol);
}

void rxe_rs_kfree_skb(struct sk_buff *skb)
{
	kfree_skb(skb);
}

void rxe_rs_consume_skb(struct sk_buff *skb)
{
	consume_skb(skb);
}

void rxe_rs_skb_queue_init(struct sk_buff_head *list)
{
	skb_queue_head_init(list);
}

unsigned int rxe_rs_skb_queue_len(struct sk_buff_head *list)
{
	return skb_queue_len_lockless(list);
}

struct sk_buff *rxe_rs_alloc_tx_skb(struct net_device *ndev, unsigned int hdr_room,
				    unsigned int len)
{
	unsigned int room = hdr_room + LL_RESERVED_SPACE(ndev);
	struct sk_buff *skb = alloc_skb(room + len, GFP_ATOMIC);

	if (!skb)
		return NULL;
	skb_reserve(skb, room);
	skb_put(skb, len);
	return skb;
}

unsigned char *rxe_rs_skb_push_transport(struct sk_buff *skb, unsigned int len)
{
	__skb_push(skb, len);
	skb_reset_transport_header(skb);
	return skb->data;
}

unsigned char *rxe_rs_skb_push_network(struct sk_buff *skb, unsigned int len, u16 proto)
{
	__skb_push(skb, len);
	skb_reset_network_header(skb);
	skb->protocol = htons(proto);
	return skb->data;
}

void rxe_rs_skb_dst_set(struct sk_buff *skb, struct dst_entry *dst)
{
	skb_dst_set(skb, dst);
}

void rxe_rs_dst_hold(struct dst_entry *dst)
{
	dst_hold(dst);
}

struct dst_entry *rxe_rs_dst_check(struct dst_entry *dst, u32 cookie)
{
	return dst_check(dst, cookie);
}

u32 rxe_rs_dst_cookie(struct dst_entry *dst, bool ipv6)
{
#if IS_ENABLED(CONFIG_IPV6)
	if (ipv6)
		return rt6_get_cookie(dst_rt6_info(dst));
#endif
	return 0;
}

struct dst_entry *rxe_rs_route4(struct net *net, struct net_device *ndev,
				const u8 saddr[4], const u8 daddr[4])
{
	struct flowi4 fl = {};
	struct rtable *rt;

	fl.flowi4_oif = ndev->ifindex;
	fl.flowi4_proto = IPPROTO_UDP;
	memcpy(&fl.saddr, saddr, sizeof(fl.saddr));
	memcpy(&fl.daddr, daddr, sizeof(fl.daddr));
	rt = ip_route_output_key(net, &fl);
	if (IS_ERR(rt))
		return ERR_CAST(rt);
	return &rt->dst;
}

struct dst_entry *rxe_rs_route6(struct net *net, struct net_device *ndev,
				const u8 saddr[16], const u8 daddr[16], u8 tclass,
				u32 flowlabel)
{
#if IS_ENABLED(CONFIG_IPV6)
	struct flowi6 fl6 = {};
	struct dst_entry *dst;
	int err;

	fl6.flowi6_oif = ndev->ifindex;
	fl6.flowi6_proto = IPPROTO_UDP;
	fl6.flowlabel = ip6_make_flowinfo(tclass, htonl(flowlabel) & IPV6_FLOWLABEL_MASK);
	memcpy(&fl6.saddr, saddr, sizeof(fl6.saddr));
	memcpy(&fl6.daddr, daddr, sizeof(fl6.daddr));
	dst = ip6_dst_lookup_flow(net, NULL, &fl6, NULL);
	if (IS_ERR(dst))
		return dst;
	err = dst->error;
	if (err) {
		dst_release(dst);
		return ERR_PTR(err);
	}
	return dst;
#else
	return ERR_PTR(-EAFNOSUPPORT);
#endif
}
