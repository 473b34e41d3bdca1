//! Record shares and "who can see this record?" as SQL (docs/sql-reference.md,
//! "Record shares"): the policies' share arm, the share and unshare checks of the
//! `record_shares` trigger (sql/shares.sql), and the record forms of `can_access`,
//! `explain_access` and `who_can_access`.

use crate::backend::authority::{
    acting, asker_may_ask_about_anyone, deny_nobody, may_ask_about, require_may_ask_about, Acting,
};
use crate::backend::models::current_model;
use crate::backend::shares::{
    live_shares_of, no_such_record, record_facts, shared_ids_current, RecordFacts,
};
use crate::backend::viewer::resolve_viewer;
use crate::model::engine::Decision;
use crate::model::explain::{explain, reason_summary, Question};
use crate::model::shares::{judge_share, may_unshare, Grantee, ShareRefusal};
use crate::model::types::{Action, RuleAccess, RuleScope, Status};
use crate::pg::errors::insufficient_privilege;
use crate::pg::identity::asking_role;
use crate::sql_api::visibility::parse_action;
use pgrx::prelude::*;
use pgrx::{JsonB, Uuid};

/// The ids of `object_type` records shared with the statement's viewer for
/// `action` — the share arm of a policy on a `bigint` id column (sql/protect.sql).
#[pg_extern(stable, parallel_restricted)]
fn _shared_ids_int8(object_type: Option<&str>, action: Option<&str>) -> Vec<i64> {
    shared_ids_current(object_type, action, |s| s.parse().ok())
}

/// [`_shared_ids_int8`] for an `integer` id column.
#[pg_extern(stable, parallel_restricted)]
fn _shared_ids_int4(object_type: Option<&str>, action: Option<&str>) -> Vec<i32> {
    shared_ids_current(object_type, action, |s| s.parse().ok())
}

/// [`_shared_ids_int8`] for a `uuid` id column.
#[pg_extern(stable, parallel_restricted)]
fn _shared_ids_uuid(object_type: Option<&str>, action: Option<&str>) -> Vec<Uuid> {
    shared_ids_current(object_type, action, parse_uuid)
}

/// A uuid in PostgreSQL's output form (or any hex form with hyphens).
fn parse_uuid(text: &str) -> Option<Uuid> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(Uuid::from_bytes(bytes))
}

/// The statement viewer's company (NULL without a viewer): the share arm of a
/// policy compares the record's company with it once per statement.
#[pg_extern(stable, parallel_restricted)]
fn _current_company() -> Option<i64> {
    let viewer = resolve_viewer()?;
    match current_model().compiled.user_standing(viewer)? {
        (company, Status::Active, _) => Some(company),
        _ => None,
    }
}

/// The full decision for the statement's viewer on a record with participants (a
/// `bigint[]` assignee column): the participants arm of such a table's policy.
#[pg_extern(stable, parallel_safe, cost = 10)]
fn _decide_current_participants(
    object_type: Option<&str>,
    action: Option<&str>,
    owner: Option<i64>,
    company: Option<i64>,
    participants: Option<Vec<Option<i64>>>,
) -> bool {
    let (Some(object_type), Some(action), Some(participants)) = (object_type, action, participants)
    else {
        return false;
    };
    let participants: Vec<i64> = participants.into_iter().flatten().collect();
    if participants.is_empty() {
        return false;
    }
    let Some(viewer) = resolve_viewer() else {
        return false;
    };
    let action = parse_action(action);
    current_model()
        .compiled
        .decide_people(object_type, action, owner, company, viewer, &participants)
        .allowed
}

/// `viewer`'s decision on one record, their live shares of it included.
fn decide_on(
    facts: &RecordFacts,
    shares: &[crate::model::shares::ShareGrant],
    action: Action,
    viewer: i64,
) -> Decision {
    current_model().compiled.decide_record(
        &facts.object_type,
        action,
        facts.owner,
        facts.company,
        viewer,
        &facts.assignees,
        shares,
    )
}

/// Does the active viewer `v` hold `manage_sharing` (or admin) in `company`?
fn manages_sharing(v: i64, company: Option<i64>) -> (bool, bool) {
    let model = current_model();
    let perms = model.permissions_of(v);
    let same = company.is_some() && model.compiled.company_of(v) == company;
    (
        perms.superuser,
        same && perms.has_privilege("manage_sharing"),
    )
}

/// The check of a new or changed share (the `record_shares` trigger): a DBA session
/// may; a viewer may when they can edit the record or hold `manage_sharing` in its
/// company, and never with more access than their own on it (docs/security.md,
/// "Record shares"). `found`: the record exists (its facts were read by the trigger).
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
#[allow(clippy::too_many_arguments)]
fn _require_share(
    object_type: &str,
    record_id: &str,
    found: bool,
    owner: Option<i64>,
    company: Option<i64>,
    assignees: Option<Vec<Option<i64>>>,
    access: &str,
) {
    let v = match acting() {
        Acting::Dba => return,
        Acting::Nobody => deny_nobody("share records"),
        Acting::Viewer(v) => v,
    };
    let Ok(access) = access.parse::<RuleAccess>() else {
        return; // the CHECK constraint names it
    };
    let missing = || -> ! { no_such_record(&format!("object type \"{object_type}\""), record_id) };
    if !found {
        missing();
    }
    let facts = RecordFacts {
        object_type: object_type.to_string(),
        record_id: record_id.to_string(),
        owner,
        company,
        assignees: assignees
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .collect(),
        found,
    };
    // Shares give access, not the right to share (as in Salesforce): the viewer's
    // own shares make the record visible, but only their other access counts
    // towards sharing it, so a time-limited share can never be extended or passed
    // on by its grantee.
    let shares = live_shares_of(object_type, record_id);
    if !decide_on(&facts, &shares, Action::View, v).allowed {
        missing();
    }
    let (superuser, manages) = manages_sharing(v, company);
    let refusal = match judge_share(
        |a| decide_on(&facts, &[], a, v).allowed,
        manages,
        superuser,
        access,
    ) {
        Ok(()) => return,
        Err(r) => r,
    };
    match refusal {
        ShareRefusal::NotVisible => insufficient_privilege(
            format!("viewer {v} may not share record {record_id} of \"{object_type}\": they see it only through a record share"),
            Some("a record share gives access, not the right to share; ask the owner, a manager above them or a holder of manage_sharing"),
        ),
        ShareRefusal::MayNotShare => insufficient_privilege(
            format!("viewer {v} may not share record {record_id} of \"{object_type}\": they cannot edit it"),
            Some("the users who can edit a record and the holders of manage_sharing in its company may share it"),
        ),
        ShareRefusal::AboveOwnAccess => insufficient_privilege(
            format!("viewer {v} may not share record {record_id} of \"{object_type}\" with access {}: they cannot edit it themselves", access.as_str()),
            Some("share it with access read, or ask someone who can edit it"),
        ),
    }
}

/// The check of a removed or changed share: its grantor, its grantee user, a
/// `manage_sharing` holder of its company, or anyone who can edit the record.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn _require_unshare(
    share_id: i64,
    object_type: &str,
    record_id: &str,
    company: i64,
    user_id: Option<i64>,
    role_id: Option<i64>,
    granted_by: Option<i64>,
) {
    let v = match acting() {
        Acting::Dba => return,
        Acting::Nobody => deny_nobody("remove record shares"),
        Acting::Viewer(v) => v,
    };
    let grantee = match (user_id, role_id) {
        (Some(u), _) => Grantee::User(u),
        (None, Some(r)) => Grantee::Role {
            role: r,
            scope: RuleScope::Role,
        },
        (None, None) => return,
    };
    let (superuser, manages) = manages_sharing(v, Some(company));
    let can_edit = || {
        let tables = crate::backend::shares::tables_of(object_type);
        tables.into_iter().any(|t| {
            let facts = record_facts(t, record_id);
            facts.found
                && facts.company == Some(company)
                && decide_on(&facts, &[], Action::Edit, v).allowed
        })
    };
    if !may_unshare(v, granted_by, grantee, manages, superuser, can_edit) {
        insufficient_privilege(
            format!("viewer {v} may not remove share {share_id} of record {record_id} of \"{object_type}\""),
            Some("a share is removed by its grantor, its grantee, a holder of manage_sharing in its company, or a user who can edit the record"),
        );
    }
}

/// The facts of a record for a question asked by this session: the asking role
/// must be allowed to SELECT from the table, and a session that may not ask about
/// everyone must have a viewer who sees the record — otherwise it is "missing".
fn facts_for_asker(
    table: pg_sys::Oid,
    record_id: &str,
) -> (RecordFacts, Vec<crate::model::shares::ShareGrant>) {
    let name = crate::pg::catalog::relation_name(table);
    let acl = unsafe {
        pg_sys::pg_class_aclcheck(table, asking_role(), pg_sys::ACL_SELECT as pg_sys::AclMode)
    };
    if acl != pg_sys::AclResult::ACLCHECK_OK {
        insufficient_privilege(
            format!("permission denied for table {name}"),
            Some("asking about a record needs SELECT on its table"),
        );
    }
    let facts = record_facts(table, record_id);
    if !facts.found {
        no_such_record(&name, record_id);
    }
    let shares = live_shares_of(&facts.object_type, &facts.record_id);
    if !asker_may_ask_about_anyone() {
        let sees =
            resolve_viewer().is_some_and(|v| decide_on(&facts, &shares, Action::View, v).allowed);
        if !sees {
            no_such_record(&name, record_id);
        }
    }
    (facts, shares)
}

/// `can_access` on one row of a protected table, its record shares included.
#[pg_extern(stable, parallel_restricted)]
fn _can_access_record(
    tbl: pg_sys::Oid,
    record_id: &str,
    action: &str,
    viewer: Option<i64>,
) -> bool {
    let Some(viewer) = viewer else {
        return false;
    };
    require_may_ask_about(viewer);
    let action = parse_action(action);
    let (facts, shares) = facts_for_asker(tbl, record_id);
    decide_on(&facts, &shares, action, viewer).allowed
}

/// `explain_access` on one row: the share that allows, or why not.
#[pg_extern(stable, parallel_restricted)]
fn _explain_record(tbl: pg_sys::Oid, record_id: &str, action: &str, viewer: Option<i64>) -> JsonB {
    let Some(viewer) = viewer else {
        crate::pg::errors::raise(
            pgrx::PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "explain_access needs a viewer",
            Some("pass the viewer, or set one (sharing.current_viewer() is NULL)"),
        );
    };
    require_may_ask_about(viewer);
    let action = parse_action(action);
    let (facts, shares) = facts_for_asker(tbl, record_id);
    let d = decide_on(&facts, &shares, action, viewer);
    let model = current_model();
    let q = Question {
        object_type: &facts.object_type,
        action,
        owner: facts.owner,
        company: facts.company,
        viewer,
        assignees: &facts.assignees,
        record_id: Some(&facts.record_id),
    };
    let mut answer = explain(model.org(), &model.compiled, &q, d);
    // A share that reaches the viewer but not for this action is the usual "why not".
    if d.reason == crate::model::engine::Reason::NotReached {
        let partial: Vec<String> = shares
            .iter()
            .filter(|s| {
                s.company == facts.company.unwrap_or(i64::MIN)
                    && model.compiled.share_reaches(&s.grantee, viewer)
            })
            .map(|s| {
                format!(
                    "record share {} reaches the viewer with access {}, which does not cover {}",
                    s.id,
                    s.access.as_str(),
                    action.as_str()
                )
            })
            .collect();
        if let Some(list) = answer
            .pointer_mut("/detail/why_not")
            .and_then(|x| x.as_array_mut())
        {
            list.extend(partial.into_iter().map(serde_json::Value::String));
        }
    }
    if let crate::model::engine::Reason::RecordShare { share_id, .. } = d.reason {
        if let Some(detail) = answer.get_mut("detail").and_then(|x| x.as_object_mut()) {
            detail.insert("share".into(), crate::backend::shares::share_row(share_id));
        }
    }
    // Names are not kept in the model (see explain_access): none here.
    for key in ["owner_name", "viewer_name"] {
        if let Some(slot) = answer.get_mut(key) {
            *slot = serde_json::Value::Null;
        }
    }
    JsonB(answer)
}

/// Every active user who may `action` on one row, with the reason — exactly those
/// for whom the record form of `can_access` is true. A session that may not ask
/// about everyone sees only the users it may ask about.
#[pg_extern(stable, parallel_restricted)]
fn _who_can_access(
    tbl: pg_sys::Oid,
    record_id: &str,
    action: &str,
) -> TableIterator<
    'static,
    (
        name!(user_id, i64),
        name!(reason, String),
        name!(detail, JsonB),
    ),
> {
    let action = parse_action(action);
    let (facts, shares) = facts_for_asker(tbl, record_id);
    let model = current_model();
    let everyone = asker_may_ask_about_anyone();
    let rows: Vec<(i64, String, JsonB)> = model
        .compiled
        .who_can_access(
            &facts.object_type,
            action,
            (facts.owner, facts.company, &facts.assignees),
            &shares,
        )
        .into_iter()
        .filter(|(u, _)| everyone || may_ask_about(*u))
        .map(|(u, d)| {
            let (code, detail) = reason_summary(&d.reason);
            (u, code.to_string(), JsonB(detail))
        })
        .collect();
    TableIterator::new(rows)
}

/// Does the statement's viewer hold `manage_sharing` (or admin) in their company?
/// The row level security of `record_shares` and of its audit entries: such a viewer
/// reads every share of the company; others read the shares they granted or received
/// and those of records they may share ([`_may_manage_share`]).
#[pg_extern(stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
fn _config_manages_sharing() -> bool {
    let Some(v) = resolve_viewer() else {
        return false;
    };
    // permissions_of is empty for a user who is not active.
    current_model()
        .permissions_of(v)
        .has_privilege("manage_sharing")
}

/// May the statement's viewer see (and remove) this share because they could grant
/// it: they can edit the record in its company other than through a record share.
/// One record read per call; asked last by the row level security of
/// `record_shares`, after the cheap conditions.
#[pg_extern(stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
fn _may_manage_share(object_type: &str, record_id: &str, company: i64) -> bool {
    let Some(v) = resolve_viewer() else {
        return false;
    };
    crate::backend::shares::tables_of(object_type)
        .into_iter()
        .map(|t| record_facts(t, record_id))
        .any(|facts| {
            facts.found
                && facts.company == Some(company)
                && decide_on(&facts, &[], Action::Edit, v).allowed
        })
}

/// An UPDATE that changes a protected record's assignees (the `sharing_transfer`
/// trigger, sql/protect.sql): assigning gives access like a share, so adding or
/// removing someone needs the right to share — the acting viewer edits the record
/// other than through a record share, or holds `manage_sharing` in its company.
/// Leaving an assignment oneself is an edit.
#[pg_extern(stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
fn _check_assignment(
    object_type: &str,
    owner: Option<i64>,
    company: Option<i64>,
    old_assignees: Option<Vec<Option<i64>>>,
    new_assignees: Option<Vec<Option<i64>>>,
) {
    let v = match acting() {
        Acting::Dba => return,
        Acting::Nobody => deny_nobody("assign records"),
        Acting::Viewer(v) => v,
    };
    let old: Vec<i64> = old_assignees
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect();
    let new: Vec<i64> = new_assignees
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect();
    // Added assignees, and removed ones other than the viewer leaving: both decide
    // who reaches the record.
    let changed: Vec<i64> = new
        .iter()
        .filter(|a| !old.contains(a))
        .chain(old.iter().filter(|a| !new.contains(a) && **a != v))
        .copied()
        .collect();
    if changed.is_empty() {
        return;
    }
    let model = current_model();
    let held = model
        .compiled
        .decide_people(object_type, Action::Edit, owner, company, v, &old)
        .allowed;
    let (superuser, manages) = manages_sharing(v, company);
    if held || superuser || manages {
        return;
    }
    insufficient_privilege(
        format!(
            "viewer {v} may not change the assignment of user {} to a record of \"{object_type}\": they edit it only through a record share",
            changed[0]
        ),
        Some("assigning a record gives access like sharing it: the owner, those above the owner, editors by role, rule or level, and holders of manage_sharing may"),
    )
}

/// The check after a protected record is deleted (sql/protect.sql,
/// `_forget_record_shares`): no share written concurrently may outlive it.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn _require_no_unseen_shares(object_type: &str, record_id: &str) {
    crate::backend::shares::require_no_unseen_shares(object_type, record_id);
}
