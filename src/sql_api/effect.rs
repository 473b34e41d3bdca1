//! The check by effect as SQL (docs/security.md, "No escalation by effect"): the
//! statement triggers of sql/tenancy.sql and `what_if`. The state and its rules
//! are `backend::effect`.

use crate::backend::authority::may_ask_about;
use crate::backend::effect;
use pgrx::prelude::*;

/// BEFORE STATEMENT trigger of every configuration table.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn _effect_baseline() {
    effect::statement_begins();
}

/// AFTER STATEMENT: refuse (42501) when somebody gained what the viewer does not hold.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn _effect_check() {
    effect::statement_ends();
}

/// Run `statements` as the caller (same rights, same checks) in a subtransaction
/// that is always rolled back, and report for every user whose access changes how
/// many records of each protected table they gain and lose per action. Nothing
/// persists. Users the caller may not ask about are left out.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn what_if(
    statements: &str,
) -> TableIterator<
    'static,
    (
        name!(user_id, i64),
        name!(object_type, String),
        name!(action, String),
        name!(gained, i64),
        name!(lost, i64),
    ),
> {
    let rows: Vec<_> = effect::what_if(statements)
        .into_iter()
        .filter(|c| may_ask_about(c.user))
        .map(|c| {
            (
                c.user,
                c.object_type,
                c.action.to_string(),
                c.gained,
                c.lost,
            )
        })
        .collect();
    TableIterator::new(rows)
}
