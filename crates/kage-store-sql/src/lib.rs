//! kage-store-sql
