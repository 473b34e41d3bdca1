//! Who is acting on the configuration, and who may ask about whom
//! (docs/security.md, "The trust model").
//!
//! * A **DBA session**: the role really asking is a PostgreSQL superuser or a member
//!   of `sharing_admin`, and no viewer is set. It is unrestricted (the invariants
//!   still hold). A session without a viewer that is not a DBA changes nothing.
//! * An **acting viewer**: any session with a viewer, a DBA's included; it is held to
//!   the no-escalation checks and sees its own company's configuration.
//! * **Asking about someone else** (`can_access`, `effective_perms`, …): any user in
//!   a DBA session or for a trusted application role; otherwise one's own viewer, or
//!   users of the viewer's company when the viewer holds `manage_users`.

use super::models::current_model;
use super::viewer::resolve_viewer;
use crate::model::authority::Actor;
use crate::model::perms::user_permissions;
use crate::model::types::Status;
use crate::pg::errors::{deny, insufficient_privilege, spi_failed};
use crate::pg::identity::{as_bootstrap_superuser, asking_role, asking_role_name, is_dba_role};
use crate::pg::mvcc::{snapshot_key, SnapshotKey};
use crate::pg::spi::read_row_kept;
use pgrx::prelude::*;
use std::cell::Cell;

/// Who is changing or reading the configuration in this statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acting {
    /// A superuser or `sharing_admin` member without a viewer.
    Dba,
    /// A session with a viewer (checks included, whoever the role is).
    Viewer(i64),
    /// No viewer and not a DBA: may change nothing, reads nothing.
    Nobody,
}

/// The acting party of this statement.
pub fn acting() -> Acting {
    match resolve_viewer() {
        Some(v) => Acting::Viewer(v),
        None if is_dba_role(asking_role()) => Acting::Dba,
        None => Acting::Nobody,
    }
}

/// Refuse a session without a viewer that is not a DBA.
pub fn deny_nobody(what: &str) -> ! {
    insufficient_privilege(
        format!(
            "role \"{}\" has no viewer and is not a DBA: it may not {what}",
            asking_role_name()
        ),
        Some("act as a viewer (a mapped login, or SET LOCAL sharing.viewer from a trusted application role), or connect as a superuser or a member of sharing_admin"),
    )
}

/// Which companies' configuration rows this statement reads and changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigScope {
    /// A DBA session, or an active superuser viewer.
    Every,
    /// The active viewer's own company.
    Company(i64),
    /// No rows (no viewer and no DBA, or an inactive viewer).
    Nothing,
}

pub fn config_scope() -> ConfigScope {
    let v = match acting() {
        Acting::Dba => return ConfigScope::Every,
        Acting::Nobody => return ConfigScope::Nothing,
        Acting::Viewer(v) => v,
    };
    let model = current_model();
    match model.compiled.user_standing(v) {
        Some((_, Status::Active, true)) => ConfigScope::Every,
        Some((company, Status::Active, false)) => ConfigScope::Company(company),
        _ => ConfigScope::Nothing,
    }
}

/// Whose advice `sharing.advise()` gives this statement: `None` for every company
/// (a DBA session, or an active superuser viewer), `Some(company)` for an active
/// viewer holding `admin`, `manage_roles` or `manage_sharing` (their own company's
/// advice only); anyone else is refused (42501): the advice describes the org
/// chart, the rules and the owners' records (docs/security.md).
pub fn advice_scope() -> Option<i64> {
    const WHAT: &str = "read sharing.advise()";
    let v = match acting() {
        Acting::Dba => return None,
        Acting::Nobody => deny_nobody(WHAT),
        Acting::Viewer(v) => v,
    };
    let model = current_model();
    let org = model.org();
    let Some(me) = org.user(v).filter(|u| u.status == Status::Active) else {
        insufficient_privilege(
            format!("viewer {v} is not an active user: it may not {WHAT}"),
            None,
        )
    };
    let perms = user_permissions(org, v);
    if perms.superuser {
        return None;
    }
    if perms.admin || perms.has_privilege("manage_roles") || perms.has_privilege("manage_sharing") {
        return Some(me.company_id);
    }
    insufficient_privilege(
        format!("viewer {v} may not {WHAT}: it needs \"admin\", \"manage_roles\" or \"manage_sharing\""),
        Some("the advice describes the company's roles, rules and records; ask an administrator of the company"),
    )
}

thread_local! {
    /// (snapshot, asking role) → may the asker ask about anyone? One lookup per
    /// statement, not per row of a report that calls `can_access` for many viewers.
    static ANYONE: Cell<Option<(SnapshotKey, u32, bool)>> = const { Cell::new(None) };
}

/// A DBA role or a member of a trusted application role.
pub fn asker_may_ask_about_anyone() -> bool {
    let role = asking_role();
    let snap = snapshot_key();
    if let Some(s) = snap {
        if let Some((k, r, answer)) = ANYONE.with(Cell::get) {
            if k == s && r == role.to_u32() {
                return answer;
            }
        }
    }
    let answer = is_dba_role(role) || is_trusted_role(role);
    if let Some(s) = snap {
        ANYONE.with(|c| c.set(Some((s, role.to_u32(), answer))));
    }
    answer
}

fn is_trusted_role(role: pg_sys::Oid) -> bool {
    as_bootstrap_superuser(|| {
        read_row_kept(
            "SELECT EXISTS (SELECT 1 FROM sharing.trusted_app_roles t
                              JOIN pg_catalog.pg_authid a ON a.rolname::pg_catalog.text OPERATOR(pg_catalog.=) t.db_role::pg_catalog.text
                             WHERE pg_catalog.pg_has_role($1, a.oid, 'MEMBER'))",
            &[(pg_sys::OIDOID, pg_sys::Datum::from(role.to_u32()))],
            |row| row.require::<bool>(1),
        )
    })
    .unwrap_or_else(|e| spi_failed("read sharing.trusted_app_roles", e))
    .unwrap_or_else(|| spi_failed("read sharing.trusted_app_roles", "no row"))
}

/// May this session ask about `user`? Cheap when `user` is its own viewer (the
/// per-row case of a policy).
pub fn may_ask_about(user: i64) -> bool {
    let viewer = resolve_viewer();
    if viewer == Some(user) || asker_may_ask_about_anyone() {
        return true;
    }
    let Some(v) = viewer else {
        return false;
    };
    let model = current_model();
    let org = model.org();
    org.user(v).is_some_and(|me| {
        if me.status != Status::Active {
            return false;
        }
        let perms = user_permissions(org, v);
        perms.superuser
            || (perms.has_privilege("manage_users")
                && org
                    .user(user)
                    .is_some_and(|u| u.company_id == me.company_id))
    })
}

/// [`may_ask_about`], or 42501.
pub fn require_may_ask_about(user: i64) {
    if may_ask_about(user) {
        return;
    }
    match resolve_viewer() {
        None => insufficient_privilege(
            format!(
                "role \"{}\" has no viewer and may not ask about user {user}",
                asking_role_name()
            ),
            Some("only DBA sessions and trusted application roles ask about any user; others ask about their own viewer"),
        ),
        Some(v) => insufficient_privilege(
            format!("viewer {v} may not ask about user {user}"),
            Some("ask about your own viewer; users with manage_users may ask about users of their own company"),
        ),
    }
}

/// Refuse (42501) unless this is a DBA role or a trusted application role.
pub fn require_may_ask_about_anyone() {
    if !asker_may_ask_about_anyone() {
        insufficient_privilege(
            format!(
                "role \"{}\" may not read every company's figures",
                asking_role_name()
            ),
            Some("DBA sessions (superusers, members of sharing_admin) and trusted application roles may"),
        );
    }
}

/// Run `check` for the acting viewer (superusers pass; inactive viewers fail); a DBA
/// session passes, a session with neither a viewer nor a DBA's role is refused.
pub fn require_for_viewer(
    check: impl FnOnce(&Actor) -> Result<(), crate::model::authority::Denial>,
) {
    let viewer = match acting() {
        Acting::Dba => return,
        Acting::Nobody => deny_nobody("change the sharing configuration"),
        Acting::Viewer(v) => v,
    };
    let model = current_model();
    let actor = Actor::resolve(model.org(), viewer).unwrap_or_else(|d| deny(d));
    if actor.is_superuser() {
        return;
    }
    check(&actor).unwrap_or_else(|d| deny(d));
}

/// [`require_for_viewer`] where superuser viewers are judged too: only a DBA
/// session passes at once (what only a user may do to themselves).
pub fn require_for_any_viewer(
    what: &str,
    check: impl FnOnce(&Actor) -> Result<(), crate::model::authority::Denial>,
) {
    let viewer = match acting() {
        Acting::Dba => return,
        Acting::Nobody => deny_nobody(what),
        Acting::Viewer(v) => v,
    };
    let model = current_model();
    let actor = Actor::resolve(model.org(), viewer).unwrap_or_else(|d| deny(d));
    check(&actor).unwrap_or_else(|d| deny(d));
}
