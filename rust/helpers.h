/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C glue for rxe-rs: wrappers for static inline functions and macros that
 * Rust cannot call, and the string module parameter. Each wrapper does what
 * its name says and nothing else; the logic lives in Rust.
 */
#ifndef RXE_RS_HELPERS_H
#define RXE_RS_HELPERS_H

#include <linux/netdevice.h>
#include <rdma/ib_verbs.h>

/* The `link_type` module parameter (NUL-terminated, never NULL). */
const char *rxe_rs_link_type(void);

/* One shared rate limit for messages caused by user or network input. */
bool rxe_rs_ratelimit(void);

struct net_device *rxe_rs_netdev_notifier_info_to_dev(void *info);
void rxe_rs_dev_hold(struct net_device *ndev);
void rxe_rs_dev_put(struct net_device *ndev);
void rxe_rs_netdev_hold(struct net_device *ndev, netdevice_tracker *tracker);
void rxe_rs_netdev_put(struct net_device *ndev, netdevice_tracker *tracker);
bool rxe_rs_is_vlan_dev(struct net_device *ndev);
enum ib_port_state rxe_rs_port_state(struct net_device *ndev);
unsigned int rxe_rs_netdev_mtu(struct net_device *ndev);
const char *rxe_rs_netdev_name(struct net_device *ndev);
/* Copies at most @len bytes of the hardware address; returns its length. */
unsigned int rxe_rs_netdev_addr(struct net_device *ndev, u8 *buf, unsigned int len);
unsigned short rxe_rs_netdev_type(struct net_device *ndev);
int rxe_rs_no_udata_io(struct ib_udata *udata);
int rxe_rs_respond_empty_udata(struct ib_udata *udata);
unsigned int rxe_rs_num_possible_cpus(void);
bool rxe_rs_netdev_registered(struct net_device *ndev);
const char *rxe_rs_ibdev_name(struct ib_device *ibdev);
bool rxe_rs_ib_device_try_get(struct ib_device *ibdev);
struct device *rxe_rs_ibdev_device(struct ib_device *ibdev);
void rxe_rs_random_mac(u8 *addr);
/* The initial network namespace, where rxe devices are born (as in rxe). */
struct net *rxe_rs_init_net(void);

struct nlattr;
struct sk_buff;
long rxe_rs_delayed_work_left_ms(struct work_struct *work);
struct nlattr *rxe_rs_nl_driver_start(struct sk_buff *msg);
void rxe_rs_nl_nest_end(struct sk_buff *msg, struct nlattr *nest);
void rxe_rs_nl_nest_cancel(struct sk_buff *msg, struct nlattr *nest);

/* uverbs calls: the driver's udata and user context, copies in and out. */
struct uverbs_attr_bundle;
struct ib_udata *rxe_rs_attrs_udata(struct uverbs_attr_bundle *attrs);
struct ib_ucontext *rxe_rs_udata_ucontext(struct ib_udata *udata);
u64 rxe_rs_mmap_offset(struct rdma_user_mmap_entry *entry);
int rxe_rs_copy_to_udata(struct ib_udata *udata, const void *src, size_t len);
int rxe_rs_copy_from_udata(void *dst, struct ib_udata *udata, size_t len);
/* copy_to_user: 0 or -EFAULT. */
int rxe_rs_copy_to_user(void __user *dst, const void *src, size_t len);

/* Zeroed memory user space can map (rings). */
void *rxe_rs_vmalloc_user(size_t size);

/* Pinned user memory and page copies for MRs. */
struct ib_umem;
int rxe_rs_umem_get(struct ib_device *ibdev, u64 start, u64 length, int access,
		    struct ib_umem **umem);
size_t rxe_rs_umem_num_pages(struct ib_umem *umem);
/* Fills @pages with at most @n pages of @umem in order; returns how many. */
size_t rxe_rs_umem_pages(struct ib_umem *umem, struct page **pages, size_t n);
void rxe_rs_memcpy_to_page(struct page *page, size_t off, const void *src, size_t len);
void rxe_rs_memcpy_from_page(void *dst, struct page *page, size_t off, size_t len);
void *rxe_rs_kmap_local_page(struct page *page);
void rxe_rs_kunmap_local(void *addr);
/* The page behind a kernel consumer's DMA address (rxe maps DMA virtually). */
struct page *rxe_rs_virt_dma_to_page(u64 dma_addr);

/* The module's workqueue. */
struct workqueue_struct *rxe_rs_alloc_workqueue(void);
void rxe_rs_destroy_workqueue(struct workqueue_struct *wq);
bool rxe_rs_cancel_delayed_work(struct work_struct *work);

/* The jiffies counter (a macro over a volatile). */
unsigned long rxe_rs_jiffies(void);

/* The run sending on this CPU (transport/runs.rs). */
void *rxe_rs_runs_enter(void *runs);
void rxe_rs_runs_exit(void *prev);
void *rxe_rs_runs_current(void);

/* The driver's sysfs attributes (`parent`). */
extern const struct attribute_group rxe_rs_attr_group;

#endif

/* Whether the caller may checkpoint what lives on `ndev`: CAP_CHECKPOINT_RESTORE
 * or CAP_SYS_ADMIN in the user namespace owning its network namespace. */
bool rxe_rs_checkpoint_capable(struct net_device *ndev);

/* sysfs next_qpn (which 0) and next_mrn (1), in Rust (rust/mig/methods.rs). */
u32 rxe_rs_sysfs_next(struct ib_device *ibdev, int which);
int rxe_rs_sysfs_set_next(struct ib_device *ibdev, int which, u32 n);
