//! `sharing.current_viewer()` and `sharing._asking_role()`: who is asking
//! (docs/concepts.md, "The viewer"; the resolution is `backend::viewer`).

use crate::backend::viewer::resolve_viewer;
use crate::pg::identity::asking_role_name;
use pgrx::prelude::*;

/// The application user whose visibility applies now, or NULL when there is none.
/// SECURITY INVOKER: its reads switch to the extension's rights themselves, and a
/// definer switch would hide the owner of a restricted operation (REFRESH
/// MATERIALIZED VIEW) from `pg::identity::asking_role`, so each policy shape would resolve
/// another viewer.
#[pg_extern(stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
fn current_viewer() -> Option<i64> {
    resolve_viewer()
}

/// The database role really asking (see `pg::identity::asking_role`), for the audit log.
#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn _asking_role() -> String {
    asking_role_name()
}
