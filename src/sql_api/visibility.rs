//! The decision as SQL (docs/concepts.md, "The decision"; docs/sql-reference.md,
//! "Functions"): `can_see`, `can_access`, `reach`, `explain_access`. Each call asks the
//! compiled model of the statement's snapshot (`backend::models::current_model`), so a
//! decision is a few memory reads after the first call of a statement.
//!
//! These are SECURITY INVOKER on purpose: no `SET search_path`, no definer switch
//! per row. The cache reads the configuration with its own privileges.
//!
//! The deciding functions are PARALLEL RESTRICTED: a parallel worker starts with an
//! empty cache and would compile the whole organization again for every query
//! (seconds at millions of users), so decisions stay in the leader, whose model is warm.

use crate::backend::authority::require_may_ask_about;
use crate::backend::models::current_model;
use crate::backend::viewer::resolve_viewer;
use crate::model::engine::{CompiledOrg, OwnerBound, Reason};
use crate::model::explain::{explain, Question};
use crate::model::types::Action;
use crate::pg::errors::invalid_parameter;
use pgrx::prelude::*;
use pgrx::JsonB;

pub(crate) fn parse_action(action: &str) -> Action {
    action.parse().unwrap_or_else(|_| {
        invalid_parameter(
            format!("invalid action \"{action}\""),
            Some("actions are create, view, edit and delete"),
        )
    })
}

fn require_type(compiled: &CompiledOrg, object_type: &str) {
    if !compiled.has_type(object_type) {
        invalid_parameter(
            format!("unknown object type \"{object_type}\""),
            Some("object types are the rows of sharing.object_types (sharing.protect() creates them)"),
        );
    }
}

/// Does `viewer` reach `owner`'s records, whatever their type (hierarchy, owner,
/// type-independent sharing rules, superuser)? Inactive viewers reach nothing.
/// `can_see(owner, sharing.current_viewer())` in a policy is rewritten by the
/// planner (docs/design.md, "The policies").
#[pg_extern(stable, strict, parallel_restricted, support = _access_support)]
fn can_see(owner: i64, viewer: i64) -> bool {
    require_may_ask_about(viewer);
    current_model().compiled.can_see(owner, viewer)
}

/// [`allowed`] for a viewer named by the caller, who must be allowed to ask about
/// them (docs/security.md: the org chart is not public).
fn allowed_for_named(
    object_type: Option<&str>,
    action: Option<&str>,
    owner: Option<i64>,
    company: Option<i64>,
    viewer: Option<i64>,
    assignee: Option<i64>,
) -> bool {
    if let Some(v) = viewer {
        require_may_ask_about(v);
    }
    allowed(object_type, action, owner, company, viewer, assignee)
}

/// The one decision every deciding SQL function makes. NULL viewer: false.
fn allowed(
    object_type: Option<&str>,
    action: Option<&str>,
    owner: Option<i64>,
    company: Option<i64>,
    viewer: Option<i64>,
    assignee: Option<i64>,
) -> bool {
    let (Some(object_type), Some(action), Some(viewer)) = (object_type, action, viewer) else {
        return false;
    };
    let action = parse_action(action);
    let model = current_model();
    let compiled: &CompiledOrg = &model.compiled;
    let decision = compiled.decide(object_type, action, owner, company, viewer, assignee);
    if decision.reason == Reason::UnknownObjectType {
        require_type(&model.compiled, object_type);
    }
    decision.allowed
}

/// May `viewer` do `action` on a record of `object_type` owned by `owner` in
/// `company` (and assigned to `assignee`)? NULL viewer: false (fail closed).
/// With a constant viewer, the planner can use an index on the owner column.
#[pg_extern(stable, parallel_restricted, cost = 10, support = _access_support)]
fn can_access(
    object_type: Option<&str>,
    action: Option<&str>,
    owner: Option<i64>,
    company: Option<i64>,
    viewer: Option<i64>,
    assignee: default!(Option<i64>, "NULL"),
) -> bool {
    allowed_for_named(object_type, action, owner, company, viewer, assignee)
}

/// The policy of a protected table (sql/protect.sql): `can_access` for the
/// statement's viewer, with the company every record of which the viewer may
/// `action` (or NULL) computed once. The planner rewrites it (src/backend/planner.rs).
#[pg_extern(stable, parallel_restricted, cost = 10, support = _access_support)]
#[allow(clippy::too_many_arguments)]
fn _policy(
    object_type: Option<&str>,
    action: Option<&str>,
    owner: Option<i64>,
    company: Option<i64>,
    viewer: Option<i64>,
    assignee: Option<i64>,
    all_rows_company: Option<i64>,
) -> bool {
    (company.is_some() && company == all_rows_company)
        || allowed_for_named(object_type, action, owner, company, viewer, assignee)
}

/// The policy of a protected table with a `bigint` id column: [`_policy`], or the
/// record `id` shared with the statement's viewer (docs/design.md, "Record
/// shares"). The planner rewrites it with the shares inside (src/backend/planner.rs).
#[pg_extern(name = "_policy", stable, parallel_restricted, cost = 10, support = _access_support)]
#[allow(clippy::too_many_arguments)]
fn _policy_with_id(
    object_type: Option<&str>,
    action: Option<&str>,
    owner: Option<i64>,
    company: Option<i64>,
    viewer: Option<i64>,
    assignee: Option<i64>,
    all_rows_company: Option<i64>,
    id: Option<i64>,
) -> bool {
    _policy(
        object_type,
        action,
        owner,
        company,
        viewer,
        assignee,
        all_rows_company,
    ) || (viewer.is_some()
        && viewer == resolve_viewer()
        && shared_now(object_type, action, company, id))
}

/// Is the record shared with the statement's viewer for `action`?
fn shared_now(
    object_type: Option<&str>,
    action: Option<&str>,
    company: Option<i64>,
    id: Option<i64>,
) -> bool {
    let (Some(object_type), Some(action)) = (object_type, action) else {
        return false;
    };
    let Ok(action) = action.parse::<Action>() else {
        return false;
    };
    crate::backend::shares::shared_with_current(object_type, action, company, id)
}

/// The share arm of the planner's rewrites: is record `id` of `company` shared
/// with the statement's viewer for `action`? PARALLEL SAFE: a worker resolves the
/// same viewer and reads the same shares in the leader's snapshot.
#[pg_extern(stable, parallel_safe, cost = 10)]
fn _shared_current(
    object_type: Option<&str>,
    action: Option<&str>,
    id: Option<i64>,
    company: Option<i64>,
) -> bool {
    shared_now(object_type, action, company, id)
}

/// `can_access` as planned for `planned_viewer` (the planner's rewrite of
/// `_policy`): the answer is for `viewer`; `planned_viewer` only shapes the plan.
#[pg_extern(stable, parallel_restricted, cost = 10, support = _access_support)]
#[allow(clippy::too_many_arguments)]
fn _can_access_for(
    object_type: Option<&str>,
    action: Option<&str>,
    owner: Option<i64>,
    company: Option<i64>,
    viewer: Option<i64>,
    assignee: Option<i64>,
    planned_viewer: Option<i64>,
) -> bool {
    let _ = planned_viewer;
    allowed_for_named(object_type, action, owner, company, viewer, assignee)
}

/// Is `viewer`'s filter for (type, action) still exactly "company = `company` and
/// owner in `owners`"? The once-per-statement guard of the constant filter the
/// planner inlines for owner-level viewers (see src/backend/planner.rs); when it is
/// false the policy decides row by row.
#[pg_extern(stable, parallel_restricted)]
fn _filter_holds(
    object_type: Option<&str>,
    action: Option<&str>,
    owners: Option<Vec<i64>>,
    company: Option<i64>,
) -> bool {
    let (Some(object_type), Some(action), Some(owners), Some(company), Some(viewer)) =
        (object_type, action, owners, company, resolve_viewer())
    else {
        return false;
    };
    let Ok(action) = action.parse::<Action>() else {
        return false;
    };
    current_model().exact_owner_filter(object_type, action, viewer) == Some((owners, company))
}

/// `can_access` for the statement's viewer, resolved inside (remembered per
/// snapshot, role and setting): the fallback of the planner's rewrites, which then
/// need no InitPlan for the viewer. PARALLEL SAFE: a worker resolves the same viewer.
#[pg_extern(stable, parallel_safe, cost = 10)]
fn _decide_current(
    object_type: Option<&str>,
    action: Option<&str>,
    owner: Option<i64>,
    company: Option<i64>,
    assignee: Option<i64>,
) -> bool {
    allowed(
        object_type,
        action,
        owner,
        company,
        resolve_viewer(),
        assignee,
    )
}

/// [`_decide_current`] for a table with a `bigint` id: also true for a record
/// shared with the viewer — the WITH CHECK of its policies and the row-by-row
/// fallback of the planner's rewrites.
#[pg_extern(name = "_decide_current", stable, parallel_safe, cost = 10)]
fn _decide_current_with_id(
    object_type: Option<&str>,
    action: Option<&str>,
    owner: Option<i64>,
    company: Option<i64>,
    assignee: Option<i64>,
    id: Option<i64>,
) -> bool {
    _decide_current(object_type, action, owner, company, assignee)
        || shared_now(object_type, action, company, id)
}

/// [`_filter_holds`] for a table with a `bigint` id: also, the records shared with
/// the viewer are exactly `shared` (ascending, no repeats), in `company` — the
/// guard of a rewrite that inlined them. NULL `shared`: the rewrite did not inline
/// them (it asks row by row), only the owners are compared.
#[pg_extern(name = "_filter_holds", stable, parallel_restricted)]
fn _filter_holds_with_shares(
    object_type: Option<&str>,
    action: Option<&str>,
    owners: Option<Vec<i64>>,
    company: Option<i64>,
    shared: Option<Vec<i64>>,
) -> bool {
    if !_filter_holds(object_type, action, owners, company) {
        return false;
    }
    let Some(shared) = shared else {
        return true;
    };
    let (Some(object_type), Some(action), Some(viewer)) = (object_type, action, resolve_viewer())
    else {
        return false;
    };
    let Ok(action) = action.parse::<Action>() else {
        return false;
    };
    (shared.is_empty() || current_model().compiled.company_of(viewer) == company)
        && crate::backend::shares::shared_int8_ids_current(object_type, action) == shared
}

/// `can_see(owner, viewer)` for the statement's viewer, resolved inside: the
/// row-by-row fallback of the planner's rewrite of `can_see(owner,
/// current_viewer())`.
/// NULL without a viewer, as `can_see(owner, NULL)` (STRICT) is.
#[pg_extern(stable, strict, parallel_safe, cost = 10)]
fn _can_see_current(owner: i64) -> Option<bool> {
    resolve_viewer().map(|v| current_model().compiled.can_see(owner, v))
}

/// Whether the statement's viewer reaches exactly `owners`: the once-per-statement
/// guard of the inlined `can_see` filter; false for another viewer or configuration.
#[pg_extern(stable, strict, parallel_restricted)]
fn _reach_holds(owners: Vec<i64>) -> bool {
    resolve_viewer()
        .is_some_and(|v| current_model().compiled.reach_bound(v) == OwnerBound::Owners(owners))
}

/// The owners the statement's viewer reaches (`can_see`), for the owner index
/// condition of the inlined `can_see` filter. A superuser (no bound) means the
/// plan was made for another viewer: refuse (40001) rather than miss rows.
#[pg_extern(stable, parallel_restricted)]
fn _reach_owners_current() -> Vec<i64> {
    let Some(viewer) = resolve_viewer() else {
        return Vec::new();
    };
    match current_model().compiled.reach_bound(viewer) {
        OwnerBound::Owners(owners) => owners,
        OwnerBound::Unbounded => stale_owner_index(&format!(
            "whose records are not owner-bounded (viewer {viewer})"
        )),
    }
}

/// `_all_rows_company` for the statement's viewer (the planner's level-`all` rewrite).
#[pg_extern(stable, parallel_restricted)]
fn _all_rows_company_current(object_type: Option<&str>, action: Option<&str>) -> Option<i64> {
    _all_rows_company(object_type, action, resolve_viewer())
}

/// Whether the statement's viewer may `action` some record of `object_type` outside
/// their own company (an agreement, super-company membership, a superuser); false
/// without a viewer. The level-`all` rewrite asks it once per statement and, when
/// false, refuses the other companies' rows without deciding them one by one.
#[pg_extern(stable, parallel_restricted)]
fn _beyond_company_current(object_type: Option<&str>, action: Option<&str>) -> bool {
    let (Some(object_type), Some(action), Some(viewer)) = (object_type, action, resolve_viewer())
    else {
        return false;
    };
    let action = parse_action(action);
    current_model()
        .compiled
        .reaches_beyond_company(object_type, action, viewer)
}

/// `_index_owners` for the statement's viewer (the index condition of `_owner_hint`).
#[pg_extern(stable, parallel_restricted)]
fn _index_owners_current(object_type: Option<&str>, action: Option<&str>) -> Vec<i64> {
    _index_owners(object_type, action, resolve_viewer())
}

/// `_index_owners_current` for a plan made while no record of `object_type` was
/// shared (`_owner_hint_unshared`: no id index beside the owner index). A viewer with
/// records of the type shared with them would miss them in that scan: refuse
/// (40001) instead — the share's commit makes other sessions plan again.
#[pg_extern(stable, parallel_restricted)]
fn _index_owners_unshared(object_type: Option<&str>, action: Option<&str>) -> Vec<i64> {
    if let (Some(object_type), Some(action)) = (object_type, action) {
        let shared =
            crate::backend::shares::shared_int8_ids_current(object_type, parse_action(action));
        if !shared.is_empty() {
            let viewer = resolve_viewer().unwrap_or_default();
            stale_owner_index(&format!(
                "with {object_type} records shared with them (viewer {viewer}), planned while none were shared"
            ));
        }
    }
    _index_owners_current(object_type, action)
}

/// The owners of an index condition the planner made from a policy: the viewer's
/// [`OwnerBound`]. A viewer whose records are not owner-bounded means the plan was
/// made for another viewer or configuration: refuse (40001) rather than miss rows.
#[pg_extern(stable, parallel_restricted)]
fn _index_owners(object_type: Option<&str>, action: Option<&str>, viewer: Option<i64>) -> Vec<i64> {
    let (Some(object_type), Some(action), Some(viewer)) = (object_type, action, viewer) else {
        return Vec::new();
    };
    require_may_ask_about(viewer);
    let action = parse_action(action);
    match current_model().owner_bound(object_type, action, viewer) {
        OwnerBound::Owners(owners) => owners,
        OwnerBound::Unbounded => {
            require_type(&current_model().compiled, object_type);
            stale_owner_index(&format!(
                "whose {object_type} are not owner-bounded (viewer {viewer})"
            ))
        }
    }
}

/// An owner index condition ran for a viewer it cannot bound: reset this backend's
/// plans and refuse (40001), so that the statement runs again with a new plan.
fn stale_owner_index(whose: &str) -> ! {
    crate::backend::plans::forget_shaped_plans();
    crate::pg::errors::raise(
        pgrx::PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE,
        format!("the plan of this statement used an owner index for a viewer {whose}"),
        Some("the viewer or the sharing configuration changed after the statement was planned; run it again"),
    )
}

/// The company every record of which `viewer` may `action` (level `all`), or NULL.
/// Policies compare the company column with it first, so viewers with level `all`
/// (admins, managers) pay one comparison per row instead of a decision.
#[pg_extern(stable, parallel_safe)]
fn _all_rows_company(
    object_type: Option<&str>,
    action: Option<&str>,
    viewer: Option<i64>,
) -> Option<i64> {
    let (object_type, action, viewer) = (object_type?, action?, viewer?);
    require_may_ask_about(viewer);
    let action = parse_action(action);
    current_model()
        .compiled
        .all_rows_company(object_type, action, viewer)
}

/// Every owner whose records `viewer` reaches (see `can_see`).
#[pg_extern(stable, strict, parallel_restricted)]
fn reach(viewer: i64) -> SetOfIterator<'static, i64> {
    require_may_ask_about(viewer);
    SetOfIterator::new(current_model().compiled.reach(viewer))
}

/// `can_access` with its reasons — "why can this user see this record?" (docs/sql-reference.md, "Functions").
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
        crate::pg::errors::raise(
            pgrx::PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "explain_access needs an object type, an action and a viewer",
            None,
        );
    };
    require_may_ask_about(viewer);
    let action = parse_action(action);
    let model = current_model();
    require_type(&model.compiled, object_type);
    let d = model
        .compiled
        .decide(object_type, action, owner, company, viewer, assignee);
    let question = Question {
        object_type,
        action,
        owner,
        company,
        viewer,
        assignees: assignee.as_slice(),
        record_id: None,
    };
    let mut answer = explain(model.org(), &model.compiled, &question, d);
    // The model keeps no user names (memory): explanations read them. An owner's
    // name only when the session may ask about the owner, or the owner is a
    // colleague of the viewer asked about (the org chart is not public).
    let colleague = |o: i64| {
        let company = |u: i64| model.org().user(u).map(|u| u.company_id);
        company(o).is_some() && company(o) == company(viewer)
    };
    for (name_key, id) in [("owner_name", owner), ("viewer_name", Some(viewer))] {
        if let (Some(slot), Some(id)) = (answer.get_mut(name_key), id) {
            let shown =
                id == viewer || colleague(id) || crate::backend::authority::may_ask_about(id);
            *slot = shown
                .then(|| user_name(id))
                .flatten()
                .map_or(serde_json::Value::Null, serde_json::Value::String);
        }
    }
    JsonB(answer)
}

/// A user's name, read in the statement's snapshot.
fn user_name(id: i64) -> Option<String> {
    crate::pg::spi::read_row_kept(
        "SELECT u.name FROM sharing.users u WHERE u.id OPERATOR(pg_catalog.=) $1",
        &[(pg_sys::INT8OID, pg_sys::Datum::from(id))],
        |row| row.get::<String>(1),
    )
    .unwrap_or_else(|e| crate::pg::errors::spi_failed("read a user's name", e))
    .flatten()
}

/// The compiled model of this backend, for benchmarks and monitoring: users, roles,
/// approximate heap bytes, rebuilds and patches so far and the last one's duration.
#[pg_extern(stable, parallel_restricted)]
fn _model_stats() -> JsonB {
    // Counts of every tenant: DBA sessions and trusted application roles only.
    crate::backend::authority::require_may_ask_about_anyone();
    let model = current_model();
    let (rebuilds, last_micros) = crate::backend::models::rebuild_stats();
    let (patches, patch_copies, last_patch_micros) = crate::backend::models::patch_stats();
    let (plans_shaped, plan_resets) = crate::backend::plans::counts();
    let rows_bytes = model.rows_if_held().map_or(0, |org| org.heap_bytes());
    let (attaches, last_attach_micros) = crate::backend::models::attach_stats();
    let (published_here, waits) = crate::backend::shared::counts();
    let server = crate::backend::shared::directory_stats();
    JsonB(serde_json::json!({
        "users": model.compiled.user_count(),
        "roles": model.compiled.role_count(),
        "heap_bytes": model.compiled.heap_bytes() + rows_bytes,
        "compiled_bytes": model.compiled.heap_bytes(),
        "rows_bytes": rows_bytes,
        "shared": model.compiled.is_mapped(),
        "attaches": attaches,
        "last_attach_ms": last_attach_micros as f64 / 1000.0,
        "images_published_here": published_here,
        "images_patched_in_place_here": crate::backend::shared::in_place_count(),
        "waits_for_another_build": waits,
        "server_images": server.map(|d| serde_json::json!({
            "published": d.published,
            "reused": d.reused,
            "evicted": d.evicted,
            "ready": d.ready,
            "spare": d.spare,
            "spare_read": d.spare_read,
            "in_place": d.in_place,
            "bytes": d.bytes,
            "database_bytes": d.database_bytes,
        })),
        "rebuilds": rebuilds,
        "last_rebuild_ms": last_micros as f64 / 1000.0,
        "patches": patches,
        "patch_copies": patch_copies,
        "last_patch_ms": last_patch_micros as f64 / 1000.0,
        "plans_shaped": plans_shaped,
        "plan_resets": plan_resets,
    }))
}

/// How many times this backend compiled the model; for tests of the cache.
#[pg_extern(volatile, parallel_restricted)]
fn _model_rebuilds() -> i64 {
    crate::backend::models::rebuild_count() as i64
}
