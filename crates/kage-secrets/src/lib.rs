//! kage-secrets
