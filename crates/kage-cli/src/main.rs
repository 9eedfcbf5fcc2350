//! kage
fn main() {}
