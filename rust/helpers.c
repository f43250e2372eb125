// SPDX-License-Identifier: GPL-2.0
/*
 * C glue for rxe-rs (see helpers.h).
 */
#include <linux/etherdevice.h>
#include <linux/if_vlan.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/ratelimit.h>
#include <rdma/ib_verbs.h>
#include <rdma/uverbs_ioctl.h>

#include "helpers.h"

/*
 * A string parameter: the Rust `module!` macro only knows integers and bools.
 * Validated by the Rust side at load time.
 */
static char *link_type = "rxe";
module_param(link_type, charp, 0444);
MODULE_PARM_DESC(link_type,
		 "RDMA link type to register (default \"rxe\"); set another to load beside rdma_rxe");

const char *rxe_rs_link_type(void)
{
	return link_type ? link_type : "";
}

static DEFINE_RATELIMIT_STATE(rxe_rs_rs, 5 * HZ, 10);

bool rxe_rs_ratelimit(void)
{
	return __ratelimit(&rxe_rs_rs);
}

struct net_device *rxe_rs_netdev_notifier_info_to_dev(void *info)
{
	return netdev_notifier_info_to_dev(info);
}

void rxe_rs_dev_hold(struct net_device *ndev)
{
	dev_hold(ndev);
}

void rxe_rs_dev_put(struct net_device *ndev)
{
	dev_put(ndev);
}

bool rxe_rs_is_vlan_dev(struct net_device *ndev)
{
	return is_vlan_dev(ndev);
}

enum ib_port_state rxe_rs_port_state(struct net_device *ndev)
{
	return ib_get_curr_port_state(ndev);
}

unsigned int rxe_rs_netdev_mtu(struct net_device *ndev)
{
	return READ_ONCE(ndev->mtu);
}

const char *rxe_rs_netdev_name(struct net_device *ndev)
{
	return ndev->name;
}

unsigned int rxe_rs_netdev_addr(struct net_device *ndev, u8 *buf, unsigned int len)
{
	unsigned int n = min_t(unsigned int, ndev->addr_len, len);

	memcpy(buf, ndev->dev_addr, n);
	return ndev->addr_len;
}

unsigned short rxe_rs_netdev_type(struct net_device *ndev)
{
	return ndev->type;
}

int rxe_rs_no_udata_io(struct ib_udata *udata)
{
	return ib_no_udata_io(udata);
}

int rxe_rs_respond_empty_udata(struct ib_udata *udata)
{
	return ib_respond_empty_udata(udata);
}

bool rxe_rs_netdev_registered(struct net_device *ndev)
{
	return READ_ONCE(ndev->reg_state) == NETREG_REGISTERED;
}

unsigned int rxe_rs_num_possible_cpus(void)
{
	return num_possible_cpus();
}

const char *rxe_rs_ibdev_name(struct ib_device *ibdev)
{
	return dev_name(&ibdev->dev);
}

bool rxe_rs_ib_device_try_get(struct ib_device *ibdev)
{
	return ib_device_try_get(ibdev);
}

struct device *rxe_rs_ibdev_device(struct ib_device *ibdev)
{
	return &ibdev->dev;
}

struct net *rxe_rs_init_net(void)
{
	return &init_net;
}

void rxe_rs_random_mac(u8 *addr)
{
	eth_random_addr(addr);
}

/* sysfs: /sys/class/infiniband/<dev>/parent names the netdev, as in rxe. */
static ssize_t parent_show(struct device *device, struct device_attribute *attr, char *buf)
{
	struct ib_device *ibdev = rdma_device_to_ibdev(device);
	struct net_device *ndev = ib_device_get_netdev(ibdev, 1);
	ssize_t ret;

	if (!ndev)
		return -ENODEV;
	ret = sysfs_emit(buf, "%s\n", netdev_name(ndev));
	dev_put(ndev);
	return ret;
}
static DEVICE_ATTR_RO(parent);

static struct attribute *rxe_rs_dev_attributes[] = {
	&dev_attr_parent.attr,
	NULL
};

const struct attribute_group rxe_rs_attr_group = {
	.attrs = rxe_rs_dev_attributes,
};
