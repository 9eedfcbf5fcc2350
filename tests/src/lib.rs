//! kage-tests
