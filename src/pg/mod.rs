//! The PostgreSQL layer: thin, safe-as-possible wrappers over PostgreSQL internals.
//! It decides nothing about sharing and imports nothing from `backend` or `sql_api`
//! (tests/layers.rs checks the direction).
//!
//! * `spi` — read-only SPI in the statement's snapshot, typed rows and `Result`.
//! * `catalog` — function lookups and the function-OID cache.
//! * `mvcc` — snapshot keys.
//! * `guc` — PostgreSQL's records of configuration variables.
//! * `identity` — the role really asking, the DBA test, switching identity.
//! * `nodes` — parse-node builders for the planner support.
//! * `probe` — the few rows one btree index finds, without SPI.
//! * `errors` — raising errors with a SQLSTATE; `interrupts` — CHECK_FOR_INTERRUPTS
//!   for the model's long loops.

pub mod catalog;
pub mod errors;
pub mod guc;
pub mod identity;
pub mod interrupts;
pub mod mvcc;
pub mod nodes;
pub mod probe;
pub mod spi;
