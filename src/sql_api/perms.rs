//! Effective permissions (docs/concepts.md, "Effective permissions") as SQL functions.

use crate::backend::authority::{require_may_ask_about, ConfigScope};
use crate::backend::models::current_model;
use crate::model::org::Org;
use crate::model::perms::{
    effective_perms as perms_of, incoherence_message, role_matrix, role_privilege_matrix,
    EffectivePerms,
};
use crate::model::privileges::parse_privilege_list;
use crate::model::types::{Action, Level};
use crate::pg::errors::invalid_parameter;
use pgrx::prelude::*;
use pgrx::JsonB;

/// An unknown user id is an error, never an empty answer.
fn require_user(org: &Org, user_id: i64) {
    if org.user(user_id).is_none() {
        unknown_user(user_id);
    }
}

fn unknown_user(user_id: i64) -> ! {
    invalid_parameter(
        format!("unknown user {user_id}: no such id in sharing.users"),
        None,
    )
}

fn perms_or_error(org: &Org, user_id: i64) -> EffectivePerms {
    require_may_ask_about(user_id);
    require_user(org, user_id);
    perms_of(org, user_id).expect("a known user has effective permissions")
}

/// Everything a user may do, as one JSON document (roles, levels, privileges).
#[pg_extern(stable, strict, parallel_restricted, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn effective_perms(user_id: i64) -> JsonB {
    let model = current_model();
    let org = model.org();
    let doc = perms_or_error(org, user_id);
    JsonB(serde_json::to_value(doc).expect("effective permissions serialize"))
}

/// The same as rows: one per object type and action.
#[pg_extern(stable, strict, parallel_restricted, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn effective_permissions(
    user_id: i64,
) -> TableIterator<
    'static,
    (
        name!(object_type, String),
        name!(action, String),
        name!(level, String),
    ),
> {
    let model = current_model();
    let org = model.org();
    let doc = perms_or_error(org, user_id);
    let rows: Vec<_> = doc
        .permissions
        .into_iter()
        .flat_map(|(t, actions)| {
            actions
                .into_iter()
                .map(move |(a, l)| (t.clone(), a.to_string(), l.to_string()))
        })
        .collect();
    TableIterator::new(rows)
}

/// Does the user hold the privilege (system or custom)?
#[pg_extern(stable, strict, parallel_restricted, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn has_privilege(user_id: i64, name: &str) -> bool {
    let model = current_model();
    require_may_ask_about(user_id);
    if !model.compiled.has_user(user_id) {
        unknown_user(user_id);
    }
    model.permissions_of(user_id).has_privilege(name)
}

/// Every role's effective level per object type and action (inheritance and admin
/// applied); the rows behind `sharing.role_permission_matrix`. Only the companies
/// whose configuration the caller may read (docs/security.md, tenant isolation).
#[pg_extern(stable, parallel_restricted, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn _role_matrix() -> TableIterator<
    'static,
    (
        name!(company_id, i64),
        name!(role_id, i64),
        name!(object_type, String),
        name!(action, String),
        name!(level, String),
    ),
> {
    let scope = crate::backend::authority::config_scope();
    let model = current_model();
    let org = model.org();
    let rows: Vec<_> = role_matrix(org)
        .into_iter()
        .filter(|(c, ..)| match scope {
            ConfigScope::Every => true,
            ConfigScope::Company(own) => *c == own,
            ConfigScope::Nothing => false,
        })
        .map(|(c, r, t, a, l)| (c, r, t, a.to_string(), l.to_string()))
        .collect();
    TableIterator::new(rows)
}

/// Every privilege every role gives, and whether it is inherited (not the role's own
/// row); the rows behind `sharing.role_privilege_matrix`. Only the companies whose
/// configuration the caller may read, as [`_role_matrix`].
#[pg_extern(stable, parallel_restricted, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn _role_privilege_matrix() -> TableIterator<
    'static,
    (
        name!(company_id, i64),
        name!(role_id, i64),
        name!(privilege, String),
        name!(inherited, bool),
    ),
> {
    let scope = crate::backend::authority::config_scope();
    let model = current_model();
    let rows: Vec<_> = role_privilege_matrix(model.org())
        .into_iter()
        .filter(|r| match scope {
            ConfigScope::Every => true,
            ConfigScope::Company(own) => r.company_id == own,
            ConfigScope::Nothing => false,
        })
        .map(|r| (r.company_id, r.role_id, r.privilege, r.inherited))
        .collect();
    TableIterator::new(rows)
}

/// The names of a privilege list for `sharing.set_role_privileges` (split on commas
/// and white space, duplicates once, in order); a bad name is 22023 naming it.
#[pg_extern(immutable, strict, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn _privilege_list(list: &str) -> Vec<String> {
    parse_privilege_list(list).unwrap_or_else(|e| {
        invalid_parameter(
            format!("privilege list: {e}"),
            Some("a comma- or space-separated list of privilege names, e.g. 'reports, app.crm'"),
        )
    })
}

/// For the `role_permissions_coherent` trigger: NULL when a role's (view, edit,
/// delete) levels for one type are coherent (a missing level is `none`), else
/// `{problem, hint}` in the words an import uses (`perms::incoherence_message`).
#[pg_extern(immutable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn _level_incoherence(
    view_level: Option<&str>,
    edit_level: Option<&str>,
    delete_level: Option<&str>,
) -> Option<Vec<String>> {
    let mut levels = [Level::None; 4];
    for (action, level) in [
        (Action::View, view_level),
        (Action::Edit, edit_level),
        (Action::Delete, delete_level),
    ] {
        if let Some(l) = level {
            levels[action.index()] =
                l.parse()
                    .unwrap_or_else(|e: crate::model::types::ParseError| {
                        invalid_parameter(e.to_string(), None)
                    });
        }
    }
    incoherence_message(&levels).map(|(problem, hint)| vec![problem, hint])
}
