// SPDX-License-Identifier: GPL-2.0
/*
 * C glue for rxe-rs (see helpers.h).
 */
#include <linux/etherdevice.h>
#include <linux/if_vlan.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/ratelimit.h>
#include <linux/capability.h>
#include <net/net_namespace.h>
#include <linux/highmem.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>
#include <net/netlink.h>
#include <rdma/rdma_netlink.h>
#include <rdma/ib_umem.h>
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

/* Process context: the tracker's record is allocated with GFP_KERNEL. */
void rxe_rs_netdev_hold(struct net_device *ndev, netdevice_tracker *tracker)
{
	netdev_hold(ndev, tracker, GFP_KERNEL);
}

void rxe_rs_netdev_put(struct net_device *ndev, netdevice_tracker *tracker)
{
	netdev_put(ndev, tracker);
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

struct ib_udata *rxe_rs_attrs_udata(struct uverbs_attr_bundle *attrs)
{
	return attrs ? &attrs->driver_udata : NULL;
}

struct ib_ucontext *rxe_rs_udata_ucontext(struct ib_udata *udata)
{
	return udata ? rdma_udata_to_uverbs_attr_bundle(udata)->context : NULL;
}

u64 rxe_rs_mmap_offset(struct rdma_user_mmap_entry *entry)
{
	return rdma_user_mmap_get_offset(entry);
}

int rxe_rs_copy_to_udata(struct ib_udata *udata, const void *src, size_t len)
{
	return ib_copy_to_udata(udata, (void *)src, len);
}

int rxe_rs_copy_to_user(void __user *dst, const void *src, size_t len)
{
	return copy_to_user(dst, src, len) ? -EFAULT : 0;
}

int rxe_rs_copy_from_udata(void *dst, struct ib_udata *udata, size_t len)
{
	return ib_copy_from_udata(dst, udata, len);
}

void *rxe_rs_vmalloc_user(size_t size)
{
	return vmalloc_user(size);
}

int rxe_rs_umem_get(struct ib_device *ibdev, u64 start, u64 length, int access,
		    struct ib_umem **umem)
{
	struct ib_umem *u = ib_umem_get_va(ibdev, start, length, access);

	if (IS_ERR(u))
		return PTR_ERR(u);
	*umem = u;
	return 0;
}

size_t rxe_rs_umem_num_pages(struct ib_umem *umem)
{
	return ib_umem_num_pages(umem);
}

size_t rxe_rs_umem_pages(struct ib_umem *umem, struct page **pages, size_t n)
{
	struct sg_page_iter iter;
	size_t i = 0;

	for_each_sgtable_page(&umem->sgt_append.sgt, &iter, 0) {
		if (i == n)
			break;
		pages[i++] = sg_page_iter_page(&iter);
	}
	return i;
}

void rxe_rs_memcpy_to_page(struct page *page, size_t off, const void *src, size_t len)
{
	memcpy_to_page(page, off, src, len);
}

void rxe_rs_memcpy_from_page(void *dst, struct page *page, size_t off, size_t len)
{
	memcpy_from_page(dst, page, off, len);
}

void *rxe_rs_kmap_local_page(struct page *page)
{
	return kmap_local_page(page);
}

void rxe_rs_kunmap_local(void *addr)
{
	kunmap_local(addr);
}

struct page *rxe_rs_virt_dma_to_page(u64 dma_addr)
{
	return ib_virt_dma_to_page(dma_addr);
}

struct workqueue_struct *rxe_rs_alloc_workqueue(void)
{
	return alloc_workqueue("rxe_rs", WQ_UNBOUND | WQ_MEM_RECLAIM, 0);
}

void rxe_rs_destroy_workqueue(struct workqueue_struct *wq)
{
	destroy_workqueue(wq);
}

/*
 * Takes back a delayed work whose timer has not fired yet; true if it was
 * pending (its owner then drops the reference the work held). The kernel
 * crate's DelayedWork has no cancel.
 */
bool rxe_rs_cancel_delayed_work(struct work_struct *work)
{
	return cancel_delayed_work(to_delayed_work(work));
}

/*
 * Where a delayed work (its work_struct) stands: the milliseconds its
 * timer has left, 0 if it waits in its queue (or its timer is due), -1 if
 * it is not set.
 */
long rxe_rs_delayed_work_left_ms(struct work_struct *work)
{
	struct delayed_work *dw = to_delayed_work(work);
	unsigned long expires = READ_ONCE(dw->timer.expires);

	if (!work_pending(work))
		return -1;
	if (timer_pending(&dw->timer) && time_after(expires, jiffies))
		return (long)jiffies_to_msecs(expires - jiffies);
	return 0;
}

/* The nest of driver attributes in an rdma netlink resource entry. */
struct nlattr *rxe_rs_nl_driver_start(struct sk_buff *msg)
{
	return nla_nest_start_noflag(msg, RDMA_NLDEV_ATTR_DRIVER);
}

void rxe_rs_nl_nest_end(struct sk_buff *msg, struct nlattr *nest)
{
	nla_nest_end(msg, nest);
}

void rxe_rs_nl_nest_cancel(struct sk_buff *msg, struct nlattr *nest)
{
	nla_nest_cancel(msg, nest);
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

/*
 * sysfs: next_qpn and next_mrn, the numbers the device's next QP and MR
 * take (when free): a restore sets them so that re-created objects keep
 * their numbers (docs/migration.md). Writing needs CAP_CHECKPOINT_RESTORE
 * or CAP_SYS_ADMIN over the netdev's namespace (rust/mig/methods.rs).
 */
static ssize_t next_show(struct device *device, char *buf, int which)
{
	return sysfs_emit(buf, "%u\n", rxe_rs_sysfs_next(rdma_device_to_ibdev(device), which));
}

static ssize_t next_store(struct device *device, const char *buf, size_t count, int which)
{
	u32 n;
	int ret = kstrtou32(buf, 0, &n);

	if (ret)
		return ret;
	ret = rxe_rs_sysfs_set_next(rdma_device_to_ibdev(device), which, n);
	return ret ? ret : count;
}

static ssize_t next_qpn_show(struct device *device, struct device_attribute *attr, char *buf)
{
	return next_show(device, buf, 0);
}

static ssize_t next_qpn_store(struct device *device, struct device_attribute *attr,
			      const char *buf, size_t count)
{
	return next_store(device, buf, count, 0);
}
static DEVICE_ATTR_RW(next_qpn);

static ssize_t next_mrn_show(struct device *device, struct device_attribute *attr, char *buf)
{
	return next_show(device, buf, 1);
}

static ssize_t next_mrn_store(struct device *device, struct device_attribute *attr,
			      const char *buf, size_t count)
{
	return next_store(device, buf, count, 1);
}
static DEVICE_ATTR_RW(next_mrn);

static struct attribute *rxe_rs_dev_attributes[] = {
	&dev_attr_parent.attr,
	&dev_attr_next_qpn.attr,
	&dev_attr_next_mrn.attr,
	NULL
};

const struct attribute_group rxe_rs_attr_group = {
	.attrs = rxe_rs_dev_attributes,
};

unsigned long rxe_rs_jiffies(void)
{
	return jiffies;
}

/*
 * The run (transport/runs.rs) that is sending on this CPU, if any: set with
 * preemption disabled around a send, so that the softirq which receives the
 * packet locally, nested in that send, can hand the peer QP to it.
 */
static DEFINE_PER_CPU(void *, rxe_rs_runs);

void *rxe_rs_runs_enter(void *runs)
{
	void *prev;

	preempt_disable();
	prev = this_cpu_read(rxe_rs_runs);
	this_cpu_write(rxe_rs_runs, runs);
	return prev;
}

void rxe_rs_runs_exit(void *prev)
{
	this_cpu_write(rxe_rs_runs, prev);
	preempt_enable();
}

void *rxe_rs_runs_current(void)
{
	return this_cpu_read(rxe_rs_runs);
}

bool rxe_rs_checkpoint_capable(struct net_device *ndev)
{
	struct net *net;
	bool ok;

	rcu_read_lock();
	net = maybe_get_net(dev_net_rcu(ndev));
	rcu_read_unlock();
	if (!net)
		return false;
	ok = checkpoint_restore_ns_capable(net->user_ns);
	put_net(net);
	return ok;
}
