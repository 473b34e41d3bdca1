//! The no-escalation checks (docs/security.md, "The trust model"), called by the
//! triggers of sql/triggers.sql. Each returns at once in a DBA session (a superuser
//! or `sharing_admin` member without a viewer), refuses a session that has neither a
//! viewer nor a DBA's role, and otherwise asks `model::authority` about the viewer.

use crate::backend::authority::{require_for_any_viewer, require_for_viewer};
use crate::model::privileges::{classify_privilege, PrivilegeKind};
use crate::model::types::{Action, Level};
use crate::pg::errors::invalid_parameter;
use pgrx::prelude::*;

#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn _require_privilege(
    privilege: &str,
    company_id: Option<i64>,
    allow_super_member: default!(bool, true),
) {
    require_for_viewer(|a| a.require_privilege(privilege, company_id, allow_super_member));
}

#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn _require_superuser() {
    require_for_viewer(|a| a.require_superuser());
}

/// `object_type` NULL means every object type (a rule for every type).
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn _require_level(object_type: Option<&str>, action: &str, level: &str) {
    // Unknown words are left to the tables' CHECK constraints (check_violation).
    let (Ok(action), Ok(level)) = (action.parse::<Action>(), level.parse::<Level>()) else {
        return;
    };
    require_for_viewer(|a| a.require_level(object_type, action, level));
}

#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn _require_grantable_privilege(privilege: &str) {
    require_for_viewer(|a| a.require_grantable_privilege(privilege));
}

#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn _require_role_within(role_id: i64) {
    require_for_viewer(|a| a.require_role_within(role_id));
}

#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn _require_grantor(grantor_company: i64, grantee_company: i64) {
    require_for_viewer(|a| a.require_grantor(grantor_company, grantee_company));
}

/// Validate a privilege name for `role_privileges`: refuse bad names, and NOTICE
/// custom names without a dot.
#[pg_extern(stable, strict, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn _check_privilege_name(privilege: &str) {
    match classify_privilege(privilege) {
        Ok(PrivilegeKind::System) | Ok(PrivilegeKind::Custom { dotted: true }) => {}
        Ok(PrivilegeKind::Custom { dotted: false }) => {
            pgrx::notice!(
                "custom privilege \"{privilege}\" has no dot; dotted names such as \"app.{privilege}\" never collide with a future system privilege"
            );
        }
        Err(e) => invalid_parameter(
            e.to_string(),
            Some("system privileges: admin, manage_users, manage_roles, manage_sharing, billing, reports, export, api_tokens, webhooks, view_activities; custom ones are best dotted, e.g. app.crm"),
        ),
    }
}

/// Changing or removing a user (or one of their memberships) needs a viewer who
/// holds at least what that user holds: a delegated administrator never disables,
/// demotes or removes someone above them (docs/security.md).
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn _require_user_within(user_id: i64) {
    require_for_viewer(|a| a.require_user_within(user_id));
}

/// Changing or deleting a role needs a viewer who holds what it gives and is not
/// below it (docs/security.md).
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn _require_role_changeable(role_id: i64) {
    require_for_viewer(|a| a.require_role_changeable(role_id));
}

/// Handing over the ownership of `company` (owned by `owner`, NULL for none): its
/// owner, a superuser viewer or a DBA session (docs/concepts.md, "The company owner").
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn _require_ownership_transfer(company: i64, owner: Option<i64>) {
    require_for_viewer(|a| a.require_ownership_transfer(company, owner));
}

/// What only `user_id` themselves or a DBA session may do (`what`, e.g. "delete
/// user 7, the owner of company 2"); superuser viewers are refused too.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn _require_self_or_dba(user_id: i64, what: &str) {
    require_for_any_viewer(what, |a| a.require_self(user_id, what));
}
