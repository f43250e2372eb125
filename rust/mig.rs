// SPDX-License-Identifier: GPL-2.0

//! Live migration (docs/migration.md): the driver's own uverbs methods,
//! which stop and resume a user context's QPs, write its checkpoint image,
//! and set the numbers the device's next objects take. The wire side (the
//! stopped NAK, the resume) lives with the engines in `transport`; the
//! image format in `proto::image`.

pub(crate) mod dump;
pub(crate) mod methods;
pub(crate) mod restore;
pub(crate) mod stage;
