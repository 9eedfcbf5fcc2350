//! kage-agent
fn main() {}
