//! `explain_access`: a decision of the engine rendered for people — the answer,
//! the viewer's level and the roles that give it, and the reason (hierarchy path
//! by role names, sharing rule, agreement, org-wide default, or the first missing
//! condition). Built from the same [`Decision`] as `can_access`, so the two can
//! never disagree.

use super::engine::{CompiledOrg, Decision, Reason};
use super::org::Org;
use super::types::Action;
use serde_json::{json, Value};

/// One access question, as `can_access` takes it.
#[derive(Debug, Clone, Copy)]
pub struct Question<'a> {
    pub object_type: &'a str,
    pub action: Action,
    pub owner: Option<i64>,
    pub company: Option<i64>,
    pub viewer: i64,
    /// The assignee, or the participants of a `bigint[]` assignee column.
    pub assignees: &'a [i64],
    /// The record, when the question is about one row (`explain_access(tbl,
    /// record_id, …)`): its record shares were part of the decision.
    pub record_id: Option<&'a str>,
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
pub fn explain(org: &Org, compiled: &CompiledOrg, q: &Question, d: Decision) -> Value {
    let Question {
        object_type,
        action,
        owner,
        company,
        viewer,
        assignees,
        record_id,
    } = *q;
    // Which of the viewer's roles give the level they hold.
    let level_from: Vec<Value> = compiled
        .role_ids_of(viewer)
        .into_iter()
        .filter(|r| super::perms::role_permissions(org, *r).level(object_type, action) == d.level)
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
        Reason::LevelAll { cross_company } => {
            let mut detail = json!({"super_company_member": cross_company});
            // The level comes from owning the company, not from a role
            // (docs/concepts.md, "The company owner").
            if org.user(viewer).is_some_and(|u| org.is_owner(u)) {
                detail["company_owner"] = json!(true);
            }
            ("level_all", detail)
        }
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
        Reason::RecordShare { share_id, via_role } => (
            "record_share",
            json!({
            "share_id": share_id,
            "record_id": record_id,
            "via": if via_role.is_some() { "role" } else { "user" },
            "role_id": via_role,
            "role": via_role.map_or(Value::Null, |r| role_name(org, r))}),
        ),
        Reason::NotReached => (
            "not_reached",
            json!({
            "needed": "owner or assignee is the viewer or below the viewer in the role hierarchy, a sharing rule, an org-wide default that opens this action, or a record share",
            "why_not": why_not(org, compiled, q)}),
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
        "assignee": match assignees { [] => Value::Null, [one] => json!(one), many => json!(many) },
        "record_id": record_id,
        "company": company,
        "viewer": viewer, "viewer_name": user_name(org, viewer),
        "viewer_level": d.level.as_str(),
        "level_from_roles": level_from,
    })
}

/// Why an `owned`-level viewer is not reached, condition by condition (§5: "a
/// denial says why not"): not the owner or an assignee, no role above the owner's
/// (or the type does not grant through the hierarchy), no sharing rule, a default
/// that does not open the action, and — for one record — no live share.
fn why_not(org: &Org, compiled: &CompiledOrg, q: &Question) -> Vec<String> {
    let names = |user: i64| -> String {
        let roles: Vec<String> = compiled
            .role_ids_of(user)
            .into_iter()
            .map(|r| {
                org.role(r)
                    .map_or(r.to_string(), |x| format!("\"{}\"", x.name))
            })
            .collect();
        if roles.is_empty() {
            "no roles".into()
        } else {
            roles.join(", ")
        }
    };
    let people = if q.assignees.is_empty() {
        "the owner".to_string()
    } else {
        "the owner or an assignee".to_string()
    };
    let mut out = vec![format!("viewer {} is not {people}", q.viewer)];
    let ty = org.object_type(q.object_type);
    if ty.is_some_and(|t| !t.grant_via_hierarchy) {
        out.push(format!(
            "object type \"{}\" does not grant access through the role hierarchy",
            q.object_type
        ));
    } else {
        let owner = q.owner.map_or("no owner".to_string(), |o| {
            format!("owner {o} holds {}", names(o))
        });
        out.push(format!(
            "no role of the viewer ({}) is above a role of the record's people ({owner})",
            names(q.viewer)
        ));
    }
    out.push(format!(
        "no sharing rule for \"{}\" shares their records with a role of the viewer for {}",
        q.object_type,
        q.action.as_str()
    ));
    if let Some(t) = ty {
        out.push(format!(
            "the org-wide default of \"{}\" is {}, which does not open {}",
            q.object_type,
            t.org_wide_default.as_str(),
            q.action.as_str()
        ));
    }
    match q.record_id {
        Some(id) => out.push(format!(
            "no live record share of record {id} gives the viewer {}",
            q.action.as_str()
        )),
        None => out.push(
            "record shares were not considered: ask explain_access(table, record_id, action, viewer)"
                .into(),
        ),
    }
    out
}

/// The reason of an allowing decision as `who_can_access` lists it: a code
/// (superuser, level_all, owner, assignee, hierarchy, sharing_rule,
/// org_wide_default, agreement, record_share) and the ids behind it — cheap enough
/// for every user of a large organization.
pub fn reason_summary(reason: &Reason) -> (&'static str, Value) {
    match *reason {
        Reason::Superuser => ("superuser", json!({})),
        Reason::LevelAll { cross_company } => {
            ("level_all", json!({"super_company_member": cross_company}))
        }
        Reason::Owner => ("owner", json!({})),
        Reason::Assignee => ("assignee", json!({})),
        Reason::Hierarchy {
            via_assignee,
            record_role,
            viewer_role,
        } => (
            "hierarchy",
            json!({"via": if via_assignee { "assignee" } else { "owner" },
                   "record_role_id": record_role, "viewer_role_id": viewer_role}),
        ),
        Reason::Rule {
            rule_id,
            via_assignee,
        } => (
            "sharing_rule",
            json!({"rule_id": rule_id, "via": if via_assignee { "assignee" } else { "owner" }}),
        ),
        Reason::OrgWideDefault(owd) => (
            "org_wide_default",
            json!({"org_wide_default": owd.as_str()}),
        ),
        Reason::Agreement {
            agreement_id,
            level,
        } => (
            "agreement",
            json!({"agreement_id": agreement_id, "viewer_level": level.as_str()}),
        ),
        Reason::RecordShare { share_id, via_role } => (
            "record_share",
            json!({"share_id": share_id, "via": if via_role.is_some() { "role" } else { "user" }, "role_id": via_role}),
        ),
        Reason::UnknownViewer
        | Reason::InactiveViewer(_)
        | Reason::UnknownObjectType
        | Reason::NoCompany
        | Reason::NoPermission
        | Reason::NoAgreement { .. }
        | Reason::NotReached
        | Reason::CreateNotBelow => ("denied", json!({})),
    }
}
