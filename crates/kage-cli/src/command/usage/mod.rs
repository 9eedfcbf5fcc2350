//! `kage usage …`: usage recorded outside a lease.

pub(crate) mod import;
