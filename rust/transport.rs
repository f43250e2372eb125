// SPDX-License-Identifier: GPL-2.0

//! The transport layer: a QP's protocol engines. The requester turns send
//! WQEs into request packets, the responder carries out the requests that
//! arrive, the completer turns acknowledgements and responses into
//! completions and retransmits what was lost. They run in the QP's work
//! items (and the doorbell), under the QP's lock, and send through the
//! network layer.

pub(crate) mod comp;
pub(crate) mod live;
pub(crate) mod qp;
pub(crate) mod req;
pub(crate) mod resp;
pub(crate) mod runs;
pub(crate) mod task;
