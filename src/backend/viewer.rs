//! Who is asking (docs/concepts.md, "The viewer"; docs/integration.md): the
//! resolution of `sharing.viewer` against the asking role, remembered per statement.

use super::gucs;
use crate::pg::errors::{insufficient_privilege, invalid_parameter, spi_failed};
use crate::pg::identity::{as_bootstrap_superuser, asking_role, is_dba_role};
use crate::pg::mvcc::{snapshot_key, SnapshotKey};
use crate::pg::spi::read_row_kept;
use pgrx::prelude::*;

/// (snapshot, asking role, `sharing.viewer` assignments so far, `sharing.viewer_scope`
/// is `session`, `sharing.viewer` is set for the transaction only). The last two are
/// read from PostgreSQL's GUC state each time, so a remembered answer can never
/// outlive the scope it was allowed under.
type ViewerKey = (SnapshotKey, u32, u64, bool, bool);

thread_local! {
    /// The last successful resolution, for the same snapshot, role and setting: the
    /// several InitPlans of one statement resolve the viewer once. Errors are never
    /// remembered. Everything the answer depends on (the sharing tables, the role
    /// catalogs) is read in that snapshot, so the same key gives the same answer.
    static LAST: std::cell::RefCell<Option<(ViewerKey, Option<i64>)>> = const { std::cell::RefCell::new(None) };
}

/// Resolve the viewer of this statement, or `None` (no viewer: fail closed).
pub fn resolve_viewer() -> Option<i64> {
    // Before any switch of ours: inside as_bootstrap_superuser the current user is
    // the bootstrap superuser.
    let role = asking_role();
    let key = snapshot_key().map(|snap| {
        (
            snap,
            role.to_u32(),
            gucs::viewer_assignments(),
            gucs::viewer_scope() == gucs::ViewerScope::Session,
            gucs::viewer_set_locally(),
        )
    });
    if let Some(key) = &key {
        let hit = LAST.with(|l| match &*l.borrow() {
            Some((k, v)) if k == key => Some(*v),
            _ => None,
        });
        if let Some(v) = hit {
            return v;
        }
    }
    // The reads need the extension's rights; the asking role was taken above.
    let viewer = as_bootstrap_superuser(|| resolve_viewer_uncached(role));
    if let Some(key) = key {
        LAST.with(|l| *l.borrow_mut() = Some((key, viewer)));
    }
    viewer
}

fn resolve_viewer_uncached(role: pg_sys::Oid) -> Option<i64> {
    let setting = gucs::viewer_setting();
    let requested = setting.as_deref().map(|text| {
        text.parse::<i64>().unwrap_or_else(|_| {
            invalid_parameter(
                format!("invalid value for sharing.viewer: \"{text}\""),
                Some("sharing.viewer takes a user id of sharing.users, e.g. SET LOCAL sharing.viewer = '42'"),
            )
        })
    });
    // Read-only, in this statement's snapshot, through a plan kept for the backend.
    // Every name and operator is schema-qualified: the plan may be made (and made
    // again) under the asking session's search_path.
    let (mapped, rolname, trusted, requested_exists) = read_row_kept(
        "SELECT (SELECT u.id FROM sharing.users u
                  WHERE u.db_role OPERATOR(pg_catalog.=) (SELECT a.rolname::pg_catalog.text FROM pg_catalog.pg_authid a
                                                            WHERE a.oid OPERATOR(pg_catalog.=) $1)),
                (SELECT a.rolname::pg_catalog.text FROM pg_catalog.pg_authid a WHERE a.oid OPERATOR(pg_catalog.=) $1),
                EXISTS (SELECT 1 FROM sharing.trusted_app_roles t
                          JOIN pg_catalog.pg_authid a ON a.rolname::pg_catalog.text OPERATOR(pg_catalog.=) t.db_role::pg_catalog.text
                         WHERE pg_catalog.pg_has_role($1, a.oid, 'MEMBER')),
                EXISTS (SELECT 1 FROM sharing.users u WHERE u.id OPERATOR(pg_catalog.=) $2)",
        &[
            (pg_sys::OIDOID, pg_sys::Datum::from(role.to_u32())),
            (pg_sys::INT8OID, pg_sys::Datum::from(requested.unwrap_or(i64::MIN))),
        ],
        |row| {
            Ok((
                row.get::<i64>(1)?,
                // NULL for a role dropped since the session began.
                row.get::<String>(2)?.unwrap_or_default(),
                row.require::<bool>(3)?,
                row.require::<bool>(4)?,
            ))
        },
    )
    .unwrap_or_else(|e| spi_failed("resolve the viewer", e))
    .unwrap_or_else(|| spi_failed("resolve the viewer", "no row"));

    if let Some(user) = mapped {
        if let Some(other) = requested.filter(|r| *r != user) {
            insufficient_privilege(
                format!(
                    "login \"{rolname}\" is mapped to user {user} and cannot set sharing.viewer to {other}"
                ),
                Some("a login mapped through sharing.users.db_role always acts as its own user; RESET sharing.viewer"),
            );
        }
        return Some(user);
    }
    let requested = requested?;
    let is_superuser = unsafe { pg_sys::superuser_arg(role) };
    if !is_superuser && !trusted {
        insufficient_privilege(
            format!("role \"{rolname}\" may not set sharing.viewer"),
            Some("only superusers and members of a role listed in sharing.trusted_app_roles may act for another user"),
        );
    }
    // A viewer that outlives the transaction serves whoever gets this connection
    // next behind a transaction pooler (docs/integration.md §2).
    if gucs::viewer_scope() == gucs::ViewerScope::Transaction
        && !gucs::viewer_set_locally()
        && !is_dba_role(role)
    {
        insufficient_privilege(
            format!(
                "role \"{rolname}\" set sharing.viewer = {requested} for the session; it must be set for the transaction"
            ),
            Some("use SET LOCAL sharing.viewer = '…' or set_config('sharing.viewer', '…', true) in each transaction: a session-level viewer would serve the next client of a pooled connection (sharing.viewer_scope = session, for DBAs only, allows it)"),
        );
    }
    if !requested_exists {
        invalid_parameter(
            format!("unknown viewer: sharing.viewer = {requested} is not a user of sharing.users"),
            None,
        );
    }
    Some(requested)
}
