//! The SQL entry points: only `#[pg_extern]` functions that parse their arguments,
//! call `backend` and `model`, and map refusals to errors. No sharing rule is decided
//! and no per-backend state is kept here (see `backend`).

pub mod advise;
pub mod authority;
pub mod citus;
pub mod effect;
pub mod guards;
pub mod perms;
pub mod planner;
pub mod portable;
pub mod shares;
pub mod transfer;
pub mod viewer;
pub mod visibility;
