//! pg_sharing: a CRM-grade sharing model enforced by Row Level Security.
//!
//! `model` is plain Rust (the rules and decisions); `sql_api` is the thin pgrx glue
//! that loads rows into the model and exposes it to SQL.

pub mod model;
