//! SPEC §5: `can_see`, `can_access`, `reach`, `explain_access`. Each call asks the
//! compiled model of the statement's snapshot (`cache::current_model`), so a
//! decision is a few memory reads after the first call of a statement.
//!
//! These are SECURITY INVOKER on purpose: no `SET search_path`, no definer switch
//! per row. The cache reads the configuration with its own privileges.

use super::cache::current_model;
use super::errors::invalid_parameter;
use crate::model::engine::{CompiledOrg, Decision, Reason};
use crate::model::org::Org;
use crate::model::types::Action;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::{json, Value};

fn parse_action(action: &str) -> Action {
    action.parse().unwrap_or_else(|_| {
        invalid_parameter(
            format!("invalid action \"{action}\""),
            Some("actions are create, view, edit and delete"),
        )
    })
}

fn require_type(org: &Org, object_type: &str) {
    if !org.object_type_names().any(|t| t == object_type) {
        invalid_parameter(
            format!("unknown object type \"{object_type}\""),
            Some("object types are the rows of sharing.object_types (sharing.protect() creates them)"),
        );
    }
}

/// Does `viewer` reach `owner`'s records, whatever their type (hierarchy, owner,
/// type-independent sharing rules, superuser)?
#[pg_extern(stable, strict, parallel_safe)]
fn can_see(owner: i64, viewer: i64) -> bool {
    current_model().compiled.can_see(owner, viewer)
}

/// May `viewer` do `action` on a record of `object_type` owned by `owner` in
/// `company` (and assigned to `assignee`)? NULL viewer: false (fail closed).
#[pg_extern(stable, parallel_safe)]
fn can_access(
    object_type: Option<&str>,
    action: Option<&str>,
    owner: Option<i64>,
    company: Option<i64>,
    viewer: Option<i64>,
    assignee: default!(Option<i64>, "NULL"),
) -> bool {
    let (Some(object_type), Some(action), Some(viewer)) = (object_type, action, viewer) else {
        return false;
    };
    let action = parse_action(action);
    let model = current_model();
    let compiled: &CompiledOrg = &model.compiled;
    let decision = compiled.decide(object_type, action, owner, company, viewer, assignee);
    if decision.reason == Reason::UnknownObjectType {
        require_type(&model.org, object_type);
    }
    decision.allowed
}

/// Every owner whose records `viewer` reaches (see `can_see`).
#[pg_extern(stable, strict, parallel_safe)]
fn reach(viewer: i64) -> SetOfIterator<'static, i64> {
    SetOfIterator::new(current_model().compiled.reach(viewer))
}

fn role_name(org: &Org, id: i64) -> Value {
    org.role(id)
        .map_or(Value::Null, |r| Value::String(r.name.clone()))
}

fn user_name(org: &Org, id: i64) -> Value {
    org.user(id)
        .and_then(|u| u.name.clone())
        .map_or(Value::Null, Value::String)
}

/// The decision as a JSON document: answer, the viewer's level and the roles that
/// give it, and the reason — hierarchy path, rule, agreement, default, or the
/// first missing condition.
pub fn explain(
    org: &Org,
    compiled: &CompiledOrg,
    object_type: &str,
    action: Action,
    owner: Option<i64>,
    company: Option<i64>,
    viewer: i64,
    assignee: Option<i64>,
    d: Decision,
) -> Value {
    // Which of the viewer's roles give the level they hold.
    let level_from: Vec<Value> = compiled
        .role_ids_of(viewer)
        .into_iter()
        .filter(|r| {
            crate::model::perms::role_permissions(org, *r).level(object_type, action) == d.level
        })
        .map(|r| json!({"role_id": r, "role": role_name(org, r)}))
        .collect();
    let (code, detail) = match d.reason {
        Reason::UnknownViewer => ("unknown_viewer", json!({})),
        Reason::InactiveViewer(s) => ("inactive_viewer", json!({"status": s.as_str()})),
        Reason::Superuser => ("superuser", json!({})),
        Reason::UnknownObjectType => ("unknown_object_type", json!({})),
        Reason::NoCompany => ("record_without_company", json!({})),
        Reason::NoPermission => (
            "missing_permission",
            json!({
            "needed": "owned or all", "held": d.level.as_str()}),
        ),
        Reason::NoAgreement { grantor, grantee } => (
            "no_agreement",
            json!({
            "grantor_company": grantor, "grantee_company": grantee,
            "needed": format!("an agreement from company {grantor} to company {grantee} granting {action} on {object_type}")}),
        ),
        Reason::Agreement {
            agreement_id,
            level,
        } => (
            "agreement",
            json!({
            "agreement_id": agreement_id, "grantor_company": company,
            "permission": {"object_type": object_type, "action": action.as_str()},
            "viewer_level": level.as_str()}),
        ),
        Reason::LevelAll { cross_company } => (
            "level_all",
            json!({
            "super_company_member": cross_company}),
        ),
        Reason::Owner => ("owner", json!({})),
        Reason::Assignee => ("assignee", json!({})),
        Reason::Hierarchy {
            via_assignee,
            record_role,
            viewer_role,
        } => {
            let path: Vec<Value> = compiled
                .role_path(org, record_role, viewer_role)
                .into_iter()
                .map(|r| role_name(org, r))
                .collect();
            (
                "hierarchy",
                json!({
                "via": if via_assignee { "assignee" } else { "owner" },
                "record_role": role_name(org, record_role),
                "viewer_role": role_name(org, viewer_role),
                "path": path}),
            )
        }
        Reason::Rule {
            rule_id,
            via_assignee,
        } => {
            let rule = org.snapshot.sharing_rules.iter().find(|r| r.id == rule_id);
            (
                "sharing_rule",
                json!({
                "rule_id": rule_id,
                "via": if via_assignee { "assignee" } else { "owner" },
                "object_type": rule.and_then(|r| r.object_type.clone()),
                "source_role": rule.map(|r| role_name(org, r.source_role)),
                "source_scope": rule.map(|r| r.source_scope.as_str()),
                "target_role": rule.map(|r| role_name(org, r.target_role)),
                "target_scope": rule.map(|r| r.target_scope.as_str()),
                "access": rule.map(|r| r.access.as_str())}),
            )
        }
        Reason::OrgWideDefault(owd) => (
            "org_wide_default",
            json!({"org_wide_default": owd.as_str()}),
        ),
        Reason::NotReached => (
            "not_reached",
            json!({
            "needed": "owner or assignee is the viewer or below the viewer in the role hierarchy, a sharing rule, or an org-wide default that opens this action"}),
        ),
        Reason::CreateNotBelow => (
            "create_owner_not_below",
            json!({
            "needed": "with level owned, the new owner must be the viewer or below the viewer"}),
        ),
    };
    json!({
        "allowed": d.allowed,
        "reason": code,
        "detail": detail,
        "object_type": object_type,
        "action": action.as_str(),
        "owner": owner, "owner_name": owner.map_or(Value::Null, |o| user_name(org, o)),
        "assignee": assignee,
        "company": company,
        "viewer": viewer, "viewer_name": user_name(org, viewer),
        "viewer_level": d.level.as_str(),
        "level_from_roles": level_from,
    })
}

/// `can_access` with its reasons (SPEC §5; issue: "why can this user see this record?").
#[pg_extern(stable, parallel_safe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn explain_access(
    object_type: Option<&str>,
    action: Option<&str>,
    owner: Option<i64>,
    company: Option<i64>,
    viewer: Option<i64>,
    assignee: default!(Option<i64>, "NULL"),
) -> JsonB {
    let (Some(object_type), Some(action), Some(viewer)) = (object_type, action, viewer) else {
        super::errors::raise(
            pgrx::PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "explain_access needs an object type, an action and a viewer",
            None,
        );
    };
    let action = parse_action(action);
    let model = current_model();
    require_type(&model.org, object_type);
    let d = model
        .compiled
        .decide(object_type, action, owner, company, viewer, assignee);
    JsonB(explain(
        &model.org,
        &model.compiled,
        object_type,
        action,
        owner,
        company,
        viewer,
        assignee,
        d,
    ))
}

/// How many times this backend compiled the model; for tests of the cache.
#[pg_extern(volatile, parallel_restricted)]
fn _model_rebuilds() -> i64 {
    super::cache::rebuild_count() as i64
}
