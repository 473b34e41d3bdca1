//! The sharing model in plain Rust: no pgrx, no SQL. The `sql_api` side loads rows
//! into an [`org::Org`] and asks these modules for decisions.

pub mod advice;
pub mod authority;
pub mod effect;
pub mod engine;
pub mod explain;
pub mod image;
pub mod incremental;
pub mod interrupts;
pub mod org;
pub mod perms;
pub mod portable;
pub mod privileges;
pub mod shape;
pub mod shares;
pub mod slab;
pub mod types;

#[cfg(test)]
mod advice_tests;
#[cfg(test)]
mod effect_tests;
#[cfg(test)]
mod incremental_tests;
#[cfg(test)]
mod owner_tests;
#[cfg(test)]
mod shares_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod transfer_tests;
