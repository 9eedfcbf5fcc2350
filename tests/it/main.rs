//! Cross-crate end-to-end tests: one integration-test binary, one module
//! per area.

mod agent;
mod claude;
