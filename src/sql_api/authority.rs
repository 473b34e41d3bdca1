//! The SQL side of `backend::authority`: the scope the configuration tables'
//! row level security reads (sql/tenancy.sql), and the DBA-only guard.

use crate::backend::authority::{acting, config_scope, deny_nobody, Acting, ConfigScope};
use crate::pg::errors::insufficient_privilege;
use pgrx::prelude::*;

/// `true` when the configuration tables show every company's rows to this
/// statement (the row level security of sql/tenancy.sql).
#[pg_extern(stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
fn _config_all() -> bool {
    config_scope() == ConfigScope::Every
}

/// The company whose configuration rows this statement reads and changes, or NULL.
#[pg_extern(stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
fn _config_company() -> Option<i64> {
    match config_scope() {
        ConfigScope::Company(c) => Some(c),
        _ => None,
    }
}

/// Refuse unless this is a DBA session (the global settings: `users.db_role`,
/// `trusted_app_roles`, `object_types`).
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn _require_dba(what: &str) {
    match acting() {
        Acting::Dba => {}
        Acting::Viewer(v) => insufficient_privilege(
            format!("viewer {v} may not {what}: only a DBA session may"),
            Some("a DBA is a superuser or a member of sharing_admin, connected without sharing.viewer"),
        ),
        Acting::Nobody => deny_nobody(what),
    }
}
