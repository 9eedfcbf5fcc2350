//! kage-core
