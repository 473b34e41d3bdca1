//! `sharing.current_viewer()` (SPEC §4): who is asking.

use super::errors::{insufficient_privilege, invalid_parameter, spi_failed};
use crate::gucs;
use pgrx::prelude::*;

/// The PostgreSQL role that is really asking: the session's current role, unaffected
/// by the SECURITY DEFINER functions of this extension (and of anyone else), so a
/// definer's rights can never be used to pick another viewer.
fn asking_role() -> pg_sys::Oid {
    unsafe { pg_sys::GetOuterUserId() }
}

/// Resolve the viewer of this statement, or `None` (no viewer: fail closed).
pub fn resolve_viewer() -> Option<i64> {
    let role = asking_role();
    let role_oid = i64::from(role.to_u32());
    let setting = gucs::viewer_setting();
    let requested = setting.as_deref().map(|text| {
        text.parse::<i64>().unwrap_or_else(|_| {
            invalid_parameter(
                format!("invalid value for sharing.viewer: \"{text}\""),
                Some("sharing.viewer takes a user id of sharing.users, e.g. SET LOCAL sharing.viewer = '42'"),
            )
        })
    });
    let (mapped, rolname, trusted, requested_exists) = Spi::connect(|client| {
        let row = client
            .select(
                "SELECT (SELECT u.id FROM sharing.users u
                          WHERE u.db_role = (SELECT a.rolname FROM pg_catalog.pg_authid a WHERE a.oid = $1::pg_catalog.oid)),
                        (SELECT a.rolname::text FROM pg_catalog.pg_authid a WHERE a.oid = $1::pg_catalog.oid),
                        EXISTS (SELECT 1 FROM sharing.trusted_app_roles t
                                  JOIN pg_catalog.pg_authid a ON a.rolname = t.db_role
                                 WHERE pg_catalog.pg_has_role($1::pg_catalog.oid, a.oid, 'MEMBER')),
                        EXISTS (SELECT 1 FROM sharing.users u WHERE u.id = $2)",
                Some(1),
                &[role_oid.into(), requested.unwrap_or(i64::MIN).into()],
            )?
            .first();
        Ok::<_, pgrx::spi::Error>((
            row.get::<i64>(1)?,
            row.get::<String>(2)?.unwrap_or_default(),
            row.get::<bool>(3)?.unwrap_or(false),
            row.get::<bool>(4)?.unwrap_or(false),
        ))
    })
    .unwrap_or_else(|e| spi_failed("resolve the viewer", e));

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
    if !requested_exists {
        invalid_parameter(
            format!("unknown viewer: sharing.viewer = {requested} is not a user of sharing.users"),
            None,
        );
    }
    Some(requested)
}

/// The application user whose visibility applies now, or NULL when there is none.
#[pg_extern(stable, parallel_restricted, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn current_viewer() -> Option<i64> {
    resolve_viewer()
}
