//! Cross-crate end-to-end tests: one integration-test binary, one module
//! per area. (`kage-agent`'s end-to-end tests live beside the binary, in
//! `crates/kage-agent/tests/it`, where Cargo builds it for them.)
