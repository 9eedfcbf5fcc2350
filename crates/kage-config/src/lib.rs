//! kage-config
