//! Integration tests of kage-domain: one binary, one module per area.
//!
//! - `transitions`: the state machine (`apply_outcome`, `enable`, `disable`)
//! - `signals`: every row of the signal table, classified then applied
//! - `routing`: routing rules, validation and merging
//! - `names`: the validated value types
//! - `selection`: ordering, reasons, capacity and recovery cases
//! - `properties`: proptest invariants of selection against a model

mod names;
mod properties;
mod routing;
mod selection;
mod signals;
mod support;
mod transitions;
