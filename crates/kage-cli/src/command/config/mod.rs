//! `kage config …`: where the config file is, whether it is valid, and what
//! it resolves to.

pub(crate) mod check;
pub(crate) mod path;
pub(crate) mod show;
