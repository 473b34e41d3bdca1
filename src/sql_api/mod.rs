//! The thin pgrx layer: SQL functions that load rows into `crate::model` and
//! return its answers. No sharing rule is decided here.

pub mod authority;
pub mod cache;
pub mod effect;
pub mod errors;
pub mod guards;
pub mod perms;
pub mod planner;
pub mod portable;
pub mod snapshot;
pub mod spi_read;
pub mod transfer;
pub mod viewer;
pub mod visibility;
