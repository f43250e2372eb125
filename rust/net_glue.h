/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C glue for the network layer of rxe-rs: the static inline functions and
 * macros of the network stack that Rust cannot call (namespaces, sk_buffs,
 * routes, workqueues). Each wrapper does what its name says and nothing
 * else; the logic lives in Rust (net/: netns.rs, tunnel.rs, recv.rs,
 * tx.rs, skb.rs).
 */
#ifndef RXE_RS_NET_GLUE_H
#define RXE_RS_NET_GLUE_H

#include <linux/in6.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <linux/workqueue.h>
#include <net/net_namespace.h>

/* Network namespaces. */
/* dev_net_rcu(): the caller holds the RCU read lock. */
struct net *rxe_rs_dev_net_rcu(struct net_device *ndev);
/* maybe_get_net(): a reference, or NULL if the namespace is dying. */
struct net *rxe_rs_maybe_get_net(struct net *net);
void rxe_rs_put_net(struct net *net);
/* The namespace's cookie: unique, never reused while the system runs. */
u64 rxe_rs_net_cookie(struct net *net);

/* UDP tunnel sockets. */
struct sock *rxe_rs_socket_sk(struct socket *sock);
/* rcu_dereference_sk_user_data(): the caller holds the RCU read lock. */
void *rxe_rs_sk_user_data(struct sock *sk);

/* The real netdev under a VLAN netdev, or NULL if @ndev is not one. */
struct net_device *rxe_rs_vlan_real_dev(struct net_device *ndev);

/*
 * For a packet that came over the loopback netdev (sent to a local
 * address): the netdev in its namespace that owns its destination address,
 * held; NULL if it did not come over loopback or no netdev owns it.
 */
struct net_device *rxe_rs_loopback_owner(struct sk_buff *skb);

/* Received sk_buffs. */
int rxe_rs_skb_linearize(struct sk_buff *skb);
struct net_device *rxe_rs_skb_dev(struct sk_buff *skb);
void rxe_rs_skb_dst_drop(struct sk_buff *skb);
unsigned char *rxe_rs_skb_data(struct sk_buff *skb);
unsigned int rxe_rs_skb_len(struct sk_buff *skb);
/* skb_network_offset(): negative while the data is past the IP header. */
int rxe_rs_skb_network_offset(struct sk_buff *skb);
/* skb->protocol in host byte order (ETH_P_IP, ETH_P_IPV6). */
u16 rxe_rs_skb_protocol(struct sk_buff *skb);
void rxe_rs_kfree_skb(struct sk_buff *skb);
void rxe_rs_consume_skb(struct sk_buff *skb);

/* sk_buff queues (each has its own spinlock). */
void rxe_rs_skb_queue_init(struct sk_buff_head *list);
unsigned int rxe_rs_skb_queue_len(struct sk_buff_head *list);

/*
 * Sent sk_buffs: room for @hdr_room bytes of headers plus the netdev's
 * link-layer headroom, then @len bytes of data (skb_put). NULL if out of
 * memory (GFP_ATOMIC: senders may hold spinlocks).
 */
struct sk_buff *rxe_rs_alloc_tx_skb(struct net_device *ndev, unsigned int hdr_room,
				    unsigned int len);
/* __skb_push() of @len bytes, made the transport (UDP) header. */
unsigned char *rxe_rs_skb_push_transport(struct sk_buff *skb, unsigned int len);
/* __skb_push() of @len bytes, made the network header of protocol @proto. */
unsigned char *rxe_rs_skb_push_network(struct sk_buff *skb, unsigned int len, u16 proto);
/* skb_dst_set(): the skb takes over the caller's reference on @dst. */
void rxe_rs_skb_dst_set(struct sk_buff *skb, struct dst_entry *dst);

/*
 * A kept route: dst_hold() takes another reference on @dst; dst_check()
 * says whether it is still valid (NULL if the IP layer has obsoleted it;
 * no reference is taken or dropped) against @cookie, which
 * rxe_rs_dst_cookie() read when it was looked up (IPv6's fib serial
 * number; 0 for IPv4).
 */
void rxe_rs_dst_hold(struct dst_entry *dst);
struct dst_entry *rxe_rs_dst_check(struct dst_entry *dst, u32 cookie);
u32 rxe_rs_dst_cookie(struct dst_entry *dst, bool ipv6);

/*
 * Routes out of @ndev (flowi4_oif/flowi6_oif = its ifindex) for UDP:
 * a referenced dst_entry, or an ERR_PTR. Addresses are in network byte
 * order; @tclass and @flowlabel (20 bits, host order) make the IPv6 flow
 * information.
 */
struct dst_entry *rxe_rs_route4(struct net *net, struct net_device *ndev,
				const u8 saddr[4], const u8 daddr[4]);
struct dst_entry *rxe_rs_route6(struct net *net, struct net_device *ndev,
				const u8 saddr[16], const u8 daddr[16], u8 tclass,
				u32 flowlabel);

#endif
