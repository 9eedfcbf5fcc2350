//! kage-ports
