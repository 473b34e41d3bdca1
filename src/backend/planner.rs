//! Planner support for the deciding functions: what lets a protected query cost
//! about what the same query costs with the visibility filter written by hand
//! (docs/design.md, "The policies").
//!
//! Policies call `sharing._policy(type, action, owner, company, viewer, assignee,
//! all_rows_company)` (sql/protect.sql). Its support function `_access_support`
//! (`sql_api::planner`) answers three planner requests here:
//!
//! * **Simplify** — [`PolicyShape::choose`] (pure, in `model::shape`) picks the
//!   rewrite for the viewer the statement is planned for; [`build`] only turns the
//!   shape into parse nodes (`pg::nodes`). Each shape is equal to `_policy` for
//!   *every* viewer, so a plan reused for another viewer is still right.
//! * **Selectivity** — the share of rows whose owner is in the viewer's
//!   [`OwnerBound`], estimated from the owner column's statistics.
//! * **IndexCondition** — a lossy `owner = ANY(sharing._index_owners(type, action,
//!   viewer))` (`_index_owners_current` for `_owner_hint`) on a btree index of the
//!   owner column, when the planned viewer's records are owner-bounded. The array is
//!   computed when the scan starts, for the viewer of that execution;
//!   `_index_owners` refuses (SQLSTATE 40001, after resetting this backend's plans)
//!   if that viewer is not owner-bounded, so a plan kept across a change can fail
//!   but never drop a row silently.
//!
//! Plans are kept from going stale by the plan epoch (`backend::plans`, rules in
//! `backend`'s doc) and by `_forget_plans`, which every configuration statement
//! runs on the protected tables so that other sessions re-plan.
//!
//! # Safety
//!
//! The request handlers take the request node PostgreSQL passed to the support
//! function, valid for the call; see `pg::nodes`.
#![allow(clippy::missing_safety_doc)]

use super::models::current_model;
use super::plans::{ShapedCall, Subject};
use super::viewer::resolve_viewer;
use crate::model::engine::OwnerBound;
use crate::model::shape::{PlanClass, PolicyShape, ReachShape, ShapeSettings};
use crate::model::types::Action;
use crate::pg::catalog::functions;
use crate::pg::nodes::{self, copy, int8_const, is_int8, list_len, nth};
use pgrx::pg_sys;

/// The arguments of a planned call, by name: `_policy` and `_can_access_for` take
/// (type, action, owner, company, viewer, assignee, extra), `can_access` the first
/// six, `_owner_hint` (type, action, owner, planned_viewer).
#[derive(Clone, Copy)]
struct Args(*mut pg_sys::List);

impl Args {
    unsafe fn len(self) -> usize {
        list_len(self.0)
    }
    unsafe fn object_type(self) -> *mut pg_sys::Node {
        nth(self.0, 0)
    }
    unsafe fn action(self) -> *mut pg_sys::Node {
        nth(self.0, 1)
    }
    unsafe fn owner(self) -> *mut pg_sys::Node {
        nth(self.0, 2)
    }
    unsafe fn company(self) -> *mut pg_sys::Node {
        nth(self.0, 3)
    }
    unsafe fn viewer(self) -> *mut pg_sys::Node {
        nth(self.0, 4)
    }
    unsafe fn assignee(self) -> *mut pg_sys::Node {
        nth(self.0, 5)
    }
    /// `_can_access_for`'s planned viewer (`_policy`'s `all_rows_company` sub-select,
    /// for calls the planner leaves as they are).
    unsafe fn extra(self) -> *mut pg_sys::Node {
        nth(self.0, 6)
    }
    /// The id of `_policy(…, id)` (a table with a `bigint` id: record shares).
    unsafe fn id(self) -> Option<*mut pg_sys::Node> {
        (self.len() == 8).then(|| nth(self.0, 7))
    }
    /// `_owner_hint`'s planned viewer.
    unsafe fn hint_planned_viewer(self) -> *mut pg_sys::Node {
        nth(self.0, 3)
    }
    /// Is this `_owner_hint(NULL, NULL, …)`, the hint beside an inlined `can_see`,
    /// whose owners are the reach rather than a (type, action)'s?
    unsafe fn is_reach_hint(self, funcid: pg_sys::Oid) -> bool {
        funcid == functions().owner_hint
            && nodes::is_null_constant(self.object_type())
            && nodes::is_null_constant(self.action())
    }
    /// Copies of the first `n` arguments.
    unsafe fn copies(self, n: usize) -> Vec<*mut pg_sys::Node> {
        (0..n).map(|i| copy(nth(self.0, i))).collect()
    }
    /// The (object type, action) of constant first arguments.
    unsafe fn type_and_action(self) -> Option<(String, Action)> {
        let object_type = nodes::text_constant(self.object_type())?;
        let action = nodes::text_constant(self.action())?.parse().ok()?;
        Some((object_type, action))
    }
}

/// `Simplify`: the rewrite of a `_policy` call for the planned viewer — and of a
/// `can_access(type, action, owner, company, sharing.current_viewer() [, assignee])`
/// a user wrote in a policy of their own, which is the same decision: it gets the
/// same rewrite, with the viewer read once per statement.
pub unsafe fn simplify(req: *mut pg_sys::SupportRequestSimplify) -> *mut pg_sys::Node {
    let req = &*req;
    let call = &*req.fcall;
    let f = functions();
    if req.root.is_null() {
        return std::ptr::null_mut();
    }
    super::viewer::refuse_planning_in_a_parallel_worker();
    if list_len(call.args) == 2
        && call.funcid == f.can_see
        && nodes::is_call_of(nth(call.args, 1), f.current_viewer)
    {
        return simplify_can_see(req, nth(call.args, 0));
    }
    // Both rewrite a decision for the statement's viewer: only a call whose viewer
    // argument is `sharing.current_viewer()` (as protect() writes it) is one.
    let args = if ((list_len(call.args) == 7 && call.funcid == f.policy)
        || (list_len(call.args) == 8 && call.funcid == f.policy_with_id))
        && nodes::is_call_of(nth(call.args, 4), f.current_viewer)
    {
        if (*nth(call.args, 4)).type_ == pg_sys::NodeTag::T_FuncExpr {
            // The policy of a Citus table calls the viewer without a sub-select
            // (Citus refuses them in policies, docs/scaling.md): the rewrite reads it
            // once per statement, as the sub-select would.
            let mut policy_args = Args(call.args).copies(list_len(call.args));
            policy_args[4] = nodes::sub_select(f.current_viewer, nodes::INT8, &[]);
            Args(nodes::list_of(&policy_args))
        } else {
            Args(call.args)
        }
    } else if list_len(call.args) == 6
        && call.funcid == f.can_access
        && nodes::is_call_of(nth(call.args, 4), f.current_viewer)
    {
        // As `_policy`'s arguments: the viewer as `(SELECT current_viewer())`.
        let mut policy_args = Args(call.args).copies(6);
        policy_args[4] = nodes::sub_select(f.current_viewer, nodes::INT8, &[]);
        policy_args.push(int8_const(None));
        Args(nodes::list_of(&policy_args))
    } else {
        return std::ptr::null_mut();
    };
    let Some((object_type, action)) = args.type_and_action() else {
        return std::ptr::null_mut();
    };
    // The rewrite brings sub-selects into a query that may have had none (a user's
    // policy, a direct call): the planner turns them into InitPlans after this
    // simplification only when the query says it has some.
    let query = (*req.root).parse;
    if query.is_null() {
        return std::ptr::null_mut();
    }
    (*query).hasSubLinks = true;
    if !pg_sys::ActiveSnapshotSet()
        || [
            f.for_viewer,
            f.decide_current,
            f.all_rows_company_current,
            f.filter_holds,
        ]
        .contains(&pg_sys::InvalidOid)
    {
        return std::ptr::null_mut();
    }
    // A statement about one record (`WHERE id = $1` on the policy's id column, or on
    // any single-column unique key of the table): its own index reads it, and one
    // decision costs less than planning the viewer's filter (its guard, constant
    // arrays and index paths). Right for any viewer and configuration, so nothing is
    // shaped: the plan is kept across both.
    if args.id().is_some_and(|id| nodes::where_pins(query, id))
        || nodes::where_pins_one_row(query, args.owner())
    {
        in_the_leader_only(req);
        return decide_current(args);
    }
    let viewer = resolve_viewer();
    let settings = ShapeSettings {
        has_assignee: !nodes::is_null_constant(args.assignee()),
        owner_index_max_share: super::gucs::OWNER_INDEX_MAX_SHARE.get(),
    };
    let (shape, class) = match viewer {
        Some(_) => {
            let model = current_model();
            let shape = PolicyShape::choose(&*model, &object_type, action, viewer, settings);
            let class =
                PlanClass::of_shape(&shape, &*model, &object_type, action, viewer, settings);
            (shape, class)
        }
        None => (PolicyShape::ForViewer, PlanClass::Only(None)),
    };
    super::plans::mark_shaped_for(ShapedCall {
        subject: Subject::Access(object_type.clone(), action),
        settings,
        class,
    });
    build(args, &shape, viewer, call.inputcollid)
        .unwrap_or_else(|| build_for_viewer(args, viewer, call.inputcollid))
}

/// `can_see(owner, sharing.current_viewer())`, the type-independent reach, for
/// the planned viewer ([`ReachShape`]): `CASE WHEN (SELECT _reach_holds(S)) THEN
/// owner = ANY(S) ELSE _can_see_current(owner) END`, with `AND _owner_hint(NULL,
/// NULL, owner, planned_viewer)` for a few owners; `_can_see_current(owner)` for a
/// superuser or no viewer. Right for every viewer, like `_policy`'s shapes.
unsafe fn simplify_can_see(
    req: &pg_sys::SupportRequestSimplify,
    owner: *mut pg_sys::Node,
) -> *mut pg_sys::Node {
    let f = functions();
    let query = (*req.root).parse;
    if query.is_null()
        || !is_int8(owner)
        || !pg_sys::ActiveSnapshotSet()
        || [f.can_see_current, f.reach_holds].contains(&pg_sys::InvalidOid)
    {
        return std::ptr::null_mut();
    }
    let per_row = || {
        nodes::call(
            f.can_see_current,
            pg_sys::BOOLOID,
            &[copy(owner)],
            pg_sys::InvalidOid,
        )
    };
    // A statement about one row (a unique key pinned in the WHERE): decided for its
    // row, as `_policy`'s are — no plan for the viewer.
    if nodes::where_pins_one_row(query, owner) {
        in_the_leader_only(req);
        return per_row();
    }
    // Row by row for any viewer (no viewer, a superuser, an unbounded or empty
    // reach): the viewer is also read once per statement in the leader, which judges
    // its scope before any parallel worker decides a row (`CASE WHEN (SELECT
    // current_viewer()) IS NOT NULL THEN _can_see_current(owner) END`: NULL without a
    // viewer, as before).
    let judged_per_row = || {
        (*query).hasSubLinks = true;
        let viewer = nodes::sub_select(f.current_viewer, nodes::INT8, &[]);
        nodes::case_when(
            nodes::is_not_null(viewer),
            per_row(),
            nodes::null_const(pg_sys::BOOLOID),
        )
    };
    let viewer = resolve_viewer();
    let share = super::gucs::OWNER_INDEX_MAX_SHARE.get();
    let (shape, class) = match viewer {
        Some(_) => ReachShape::choose(&*current_model(), viewer, share),
        None => (ReachShape::PerRow, PlanClass::Only(None)),
    };
    super::plans::mark_shaped_for(ShapedCall {
        subject: Subject::Reach,
        settings: ShapeSettings {
            has_assignee: false,
            owner_index_max_share: share,
        },
        class,
    });
    let ReachShape::InlineOwners {
        owners,
        owner_index,
    } = shape
    else {
        return judged_per_row();
    };
    // `NULL = ANY('{}')` is false where `can_see(NULL, …)` is NULL: an empty reach is
    // decided row by row.
    if owners.is_empty() {
        return judged_per_row();
    }
    let Some(owners_const) = nodes::int8_array_const(owners) else {
        return judged_per_row();
    };
    (*query).hasSubLinks = true;
    let guard = nodes::sub_select(f.reach_holds, pg_sys::BOOLOID, &[copy(owners_const)]);
    let case = nodes::case_when(guard, nodes::int8_any(copy(owner), owners_const), per_row());
    if !owner_index
        || f.owner_hint == pg_sys::InvalidOid
        || f.reach_owners_current == pg_sys::InvalidOid
    {
        return case;
    }
    let hint = owner_hint(
        f.owner_hint,
        [nodes::text_null(), nodes::text_null()],
        owner,
        viewer,
    );
    nodes::and(&[case, hint])
}

/// A statement decided row by row with no once-per-statement read of the viewer (a
/// statement about one row) runs in the leader only: a parallel worker receives the
/// leader's settings as session values and cannot judge whether the viewer was set
/// for the transaction (docs/security.md, "Holes closed in 0.4.0"), so the leader must
/// decide. One row loses nothing by it.
unsafe fn in_the_leader_only(req: &pg_sys::SupportRequestSimplify) {
    if !req.root.is_null() && !(*req.root).glob.is_null() {
        (*(*req.root).glob).parallelModeOK = false;
    }
}

/// `_owner_hint(type, action, owner, planned_viewer)`: always true, it offers the
/// owner index beside an inlined filter (type and action NULL beside an inlined
/// `can_see`, see [`Args::is_reach_hint`]).
unsafe fn owner_hint(
    function: pg_sys::Oid,
    [object_type, action]: [*mut pg_sys::Node; 2],
    owner: *mut pg_sys::Node,
    planned_viewer: Option<i64>,
) -> *mut pg_sys::Node {
    nodes::call(
        function,
        pg_sys::BOOLOID,
        &[object_type, action, copy(owner), int8_const(planned_viewer)],
        pg_sys::DEFAULT_COLLATION_OID,
    )
}

/// The nodes of `shape`, or `None` when the call cannot take them (then the
/// per-row decision for the planned viewer is built instead).
unsafe fn build(
    args: Args,
    shape: &PolicyShape,
    viewer: Option<i64>,
    collation: pg_sys::Oid,
) -> Option<*mut pg_sys::Node> {
    match shape {
        PolicyShape::AllRowsCompany { .. } => build_all_rows(args),
        PolicyShape::InlineFilter {
            owners,
            company,
            owner_index,
        } => build_inline_filter(args, owners, *company, *owner_index, viewer?),
        PolicyShape::ForViewer => Some(build_for_viewer(args, viewer, collation)),
    }
}

/// `company = (SELECT _all_rows_company_current(type, action)) OR
/// ((SELECT _beyond_company_current(type, action)) AND _decide_current(…))`: one
/// comparison per row of the viewer's company, and the other companies' rows
/// decided one by one only when the viewer reaches beyond their company (an
/// agreement, …) — otherwise refused at once (a Citus shard of another tenant, a
/// shared table). Parallel-safe.
unsafe fn build_all_rows(args: Args) -> Option<*mut pg_sys::Node> {
    if !is_int8(args.company()) {
        return None;
    }
    let f = functions();
    let all_rows_company =
        once_per_statement(f.all_rows_company_current, nodes::INT8, &args.copies(2))?;
    let same_company = nodes::int8_equal(copy(args.company()), all_rows_company);
    let others =
        match once_per_statement(f.beyond_company_current, pg_sys::BOOLOID, &args.copies(2)) {
            Some(beyond) => nodes::and(&[beyond, decide_current(args)]),
            None => decide_current(args),
        };
    // Not `same_company OR …`: with no viewer, or a NULL company, that is NULL
    // where `can_access` is false — the same in a policy, not under NOT.
    Some(nodes::true_or(same_company, others))
}

/// For a viewer whose decisions are exactly "company = C and owner in S": the
/// hand-written filter itself, guarded once per statement —
/// `CASE WHEN (SELECT _filter_holds(type, action, S, C))
///       THEN company = C AND owner = ANY(S) ELSE _decide_current(…) END`.
/// PostgreSQL hashes the constant array and may read in parallel; if the viewer or
/// the configuration changed since planning, the guard is false and every row is
/// decided by the engine, so the plan stays right for any viewer. With
/// `owner_index`, `AND _owner_hint(type, action, owner, planned_viewer)` follows:
/// always true, it lets the planner read through the owner index.
unsafe fn build_inline_filter(
    args: Args,
    owners: &[i64],
    company_id: i64,
    owner_index: bool,
    viewer: i64,
) -> Option<*mut pg_sys::Node> {
    let (owner, company) = (args.owner(), args.company());
    if !is_int8(owner) || !is_int8(company) {
        return None;
    }
    let f = functions();
    let owners_const = nodes::int8_array_const(owners.to_vec())?;
    let company_const = int8_const(Some(company_id));
    let mut guard_args = args.copies(2);
    guard_args.extend([copy(owners_const), copy(company_const)]);
    let same_company = nodes::int8_equal(copy(company), copy(company_const));
    let mut owned = nodes::int8_any(owner, copy(owners_const));
    let mut guard_function = f.filter_holds;
    // A table with a `bigint` id: the records shared with the viewer join the owned
    // ones — inlined (and compared by the guard) when they are few, else asked row
    // by row (docs/design.md, "Record shares").
    let id = args.id().filter(|id| is_int8(*id));
    // While no record of the type is shared at all, no id index path is offered (it
    // costs every statement's planning a BitmapOr): the owner index's condition then
    // refuses a viewer who has shares by the time the plan runs (`_owner_hint_unshared`).
    let mut hint_function = f.owner_hint;
    let mut id_path = id;
    if let Some(id) = id {
        let (object_type, action) = args.type_and_action()?;
        guard_function = f.filter_holds_with_shares;
        if f.owner_hint_unshared != pg_sys::InvalidOid && !super::shares::any_share_of(&object_type)
        {
            hint_function = f.owner_hint_unshared;
            id_path = None;
        }
        match inlinable_shares(&object_type, action, viewer, company_id) {
            Some(shared) if shared.is_empty() => {
                guard_args.push(nodes::int8_array_const(shared)?);
            }
            Some(shared) => {
                let shared_const = nodes::int8_array_const(shared)?;
                guard_args.push(copy(shared_const));
                owned = nodes::or(&[owned, nodes::int8_any(copy(id), shared_const)]);
            }
            None => {
                guard_args.push(nodes::null_const(pg_sys::INT8ARRAYOID));
                owned = nodes::or(&[owned, shared_current(args, id)]);
            }
        }
    }
    let guard = once_per_statement(guard_function, pg_sys::BOOLOID, &guard_args)?;
    // False, never NULL, for a NULL owner or company, as `can_access` answers.
    let then = nodes::true_or(nodes::and(&[same_company, owned]), nodes::bool_const(false));
    let case = nodes::case_when(guard, then, decide_current(args));
    if !owner_index || hint_function == pg_sys::InvalidOid {
        return Some(case);
    }
    let hint = owner_hint(
        hint_function,
        [copy(args.object_type()), copy(args.action())],
        owner,
        Some(viewer),
    );
    // The shared records of the viewer who runs the plan come through the id index.
    let hint = match id_path {
        Some(id) => nodes::or(&[hint, id_hint(args, id, Some(viewer))]),
        None => hint,
    };
    Some(nodes::and(&[case, hint]))
}

/// `_can_access_for(type, action, owner, company, viewer, assignee, planned_viewer)`.
unsafe fn build_for_viewer(
    args: Args,
    viewer: Option<i64>,
    collation: pg_sys::Oid,
) -> *mut pg_sys::Node {
    let mut for_args = args.copies(6);
    for_args.push(int8_const(viewer));
    let decided = nodes::call(
        functions().for_viewer,
        pg_sys::BOOLOID,
        &for_args,
        collation,
    );
    // The records shared with the viewer, with the id index beside an owner index.
    match args.id().filter(|id| is_int8(*id)) {
        Some(id) => nodes::or(&[
            decided,
            nodes::and(&[shared_current(args, id), id_hint(args, id, viewer)]),
        ]),
        None => decided,
    }
}

/// A once-per-statement `(SELECT function(args))` (functions that resolve the
/// viewer inside).
unsafe fn once_per_statement(
    function: pg_sys::Oid,
    result_type: pg_sys::Oid,
    call_args: &[*mut pg_sys::Node],
) -> Option<*mut pg_sys::Node> {
    (function != pg_sys::InvalidOid).then(|| nodes::sub_select(function, result_type, call_args))
}

/// `_decide_current(type, action, owner, company, assignee [, id])`: the full
/// decision for the statement's viewer (records shared with them included when the
/// policy passes an id), resolved inside (no InitPlan), parallel-safe.
unsafe fn decide_current(args: Args) -> *mut pg_sys::Node {
    let mut decide_args = vec![
        copy(args.object_type()),
        copy(args.action()),
        copy(args.owner()),
        copy(args.company()),
        copy(args.assignee()),
    ];
    let mut function = functions().decide_current;
    if let Some(id) = args.id() {
        decide_args.push(copy(id));
        function = functions().decide_current_with_id;
    }
    nodes::call(
        function,
        pg_sys::BOOLOID,
        &decide_args,
        pg_sys::DEFAULT_COLLATION_OID,
    )
}

/// `_shared_current(type, action, id, company)`: is the record shared with the
/// statement's viewer? Row by row, parallel-safe.
unsafe fn shared_current(args: Args, id: *mut pg_sys::Node) -> *mut pg_sys::Node {
    nodes::call(
        functions().shared_current,
        pg_sys::BOOLOID,
        &[
            copy(args.object_type()),
            copy(args.action()),
            copy(id),
            copy(args.company()),
        ],
        pg_sys::DEFAULT_COLLATION_OID,
    )
}

/// `_id_hint(type, action, id, planned_viewer)`: always true, it offers the id
/// index for the records shared with the viewer (see [`index_condition`]).
unsafe fn id_hint(
    args: Args,
    id: *mut pg_sys::Node,
    planned_viewer: Option<i64>,
) -> *mut pg_sys::Node {
    nodes::call(
        functions().id_hint,
        pg_sys::BOOLOID,
        &[
            copy(args.object_type()),
            copy(args.action()),
            copy(id),
            int8_const(planned_viewer),
        ],
        pg_sys::DEFAULT_COLLATION_OID,
    )
}

/// The records shared with the planned viewer, as the rewrite of a `_policy(…, id)`
/// may inline them: `Some(ids)` (ascending) when they are few and of `company`,
/// `None` when they must be asked row by row.
fn inlinable_shares(
    object_type: &str,
    action: Action,
    viewer: i64,
    company: i64,
) -> Option<Vec<i64>> {
    let ids = super::shares::shared_int8_ids_current(object_type, action);
    if ids.len() > MAX_INLINE_SHARES {
        return None;
    }
    if !ids.is_empty() && current_model().compiled.company_of(viewer) != Some(company) {
        return None;
    }
    Some(ids)
}

/// Above this many records shared with one viewer, the rewrite asks for them row by
/// row instead of inlining a constant array.
const MAX_INLINE_SHARES: usize = 10_000;

/// The viewer whose records a `_can_access_for` / `can_access` / `_owner_hint`
/// call is planned for: its planned-viewer constant, or a constant viewer argument.
unsafe fn viewer_planned_for(funcid: pg_sys::Oid, args: Args) -> Option<Option<i64>> {
    let f = functions();
    match args.len() {
        7 if funcid == f.for_viewer => nodes::int8_constant(args.extra()),
        6 if funcid == f.can_access => nodes::int8_constant(args.viewer()),
        4 if funcid == f.owner_hint || funcid == f.owner_hint_unshared => {
            nodes::int8_constant(args.hint_planned_viewer())
        }
        _ => None,
    }
}

/// The owner bound of the planned viewer, when the call has no assignee.
unsafe fn planned_bound(funcid: pg_sys::Oid, args: Args) -> Option<OwnerBound> {
    let viewer = viewer_planned_for(funcid, args)?;
    let f = functions();
    let hint = funcid == f.owner_hint || funcid == f.owner_hint_unshared;
    if !hint && !nodes::is_null_constant(args.assignee()) {
        return None;
    }
    let subject = if args.is_reach_hint(funcid) {
        None
    } else {
        Some(args.type_and_action()?)
    };
    let Some(viewer) = viewer else {
        return Some(OwnerBound::Owners(Vec::new()));
    };
    if !pg_sys::ActiveSnapshotSet() {
        return None;
    }
    // A plan (its estimates in EXPLAIN) must not tell about a viewer the session may
    // not ask about (docs/security.md); such a call is refused when it runs.
    if !super::authority::may_ask_about(viewer) {
        return None;
    }
    Some(match subject {
        Some((object_type, action)) => current_model().owner_bound(&object_type, action, viewer),
        None => current_model().compiled.reach_bound(viewer),
    })
}

/// `Selectivity`: the share of rows whose owner the planned viewer may reach.
pub unsafe fn selectivity(req: *mut pg_sys::SupportRequestSelectivity) -> *mut pg_sys::Node {
    let r = &mut *req;
    if r.is_join || r.root.is_null() {
        return std::ptr::null_mut();
    }
    let args = Args(r.args);
    if r.funcid == functions().id_hint {
        return id_hint_selectivity(r, args);
    }
    let Some(bound) = planned_bound(r.funcid, args) else {
        return std::ptr::null_mut();
    };
    let owner = args.owner();
    r.selectivity = match bound {
        OwnerBound::Unbounded => 1.0,
        OwnerBound::Owners(owners) if owners.is_empty() => 0.0,
        OwnerBound::Owners(owners) => {
            if !is_int8(owner) {
                return std::ptr::null_mut();
            }
            // `owner = ANY('{…}'::bigint[])` over at most 64 of the owners.
            let sample: Vec<i64> = owners.iter().take(64).copied().collect();
            let array = nodes::int8_array_const(sample).expect("an array datum");
            let clause = nodes::int8_any(owner, array);
            let sampled = owners.len().min(64) as f64;
            let s = pg_sys::clause_selectivity(r.root, clause, r.varRelid, r.jointype, r.sjinfo);
            (s * owners.len() as f64 / sampled).clamp(0.0, 1.0)
        }
    };
    req.cast()
}

/// `_id_hint`'s selectivity: the share of rows whose id is one of the records
/// shared with the planned viewer (when it is the statement's), from the id
/// column's statistics; one row's worth when there are none.
unsafe fn id_hint_selectivity(
    r: &mut pg_sys::SupportRequestSelectivity,
    args: Args,
) -> *mut pg_sys::Node {
    let id = args.owner();
    let Some((object_type, action)) = args.type_and_action() else {
        return std::ptr::null_mut();
    };
    if !is_int8(id) || !pg_sys::ActiveSnapshotSet() {
        return std::ptr::null_mut();
    }
    let planned = nodes::int8_constant(args.hint_planned_viewer()).flatten();
    let shared = match planned {
        Some(v) if Some(v) == resolve_viewer() => {
            super::shares::shared_int8_ids_current(&object_type, action)
        }
        _ => Vec::new(),
    };
    let sample: Vec<i64> = if shared.is_empty() {
        vec![i64::MIN]
    } else {
        shared.iter().take(64).copied().collect()
    };
    let sampled = sample.len() as f64;
    let Some(array) = nodes::int8_array_const(sample) else {
        return std::ptr::null_mut();
    };
    let clause = nodes::int8_any(id, array);
    let s = pg_sys::clause_selectivity(r.root, clause, r.varRelid, r.jointype, r.sjinfo);
    r.selectivity = (s * shared.len().max(1) as f64 / sampled).clamp(0.0, 1.0);
    (r as *mut pg_sys::SupportRequestSelectivity).cast()
}

/// `IndexCondition`: a lossy owner condition on a btree index of the owner column.
pub unsafe fn index_condition(req: *mut pg_sys::SupportRequestIndexCondition) -> *mut pg_sys::Node {
    let r = &mut *req;
    if r.node.is_null() || (*r.node).type_ != pg_sys::NodeTag::T_FuncExpr {
        return std::ptr::null_mut();
    }
    let call = &*(r.node as *const pg_sys::FuncExpr);
    let args = Args(call.args);
    // The owner is the third argument of every supported function.
    if r.indexarg != 2 || r.index.is_null() {
        return std::ptr::null_mut();
    }
    let owner = args.owner();
    if (*r.index).relam != pg_sys::BTREE_AM_OID
        || !is_int8(owner)
        || !nodes::is_int8_btree_equality(r.opfamily)
    {
        return std::ptr::null_mut();
    }
    let f = functions();
    // `_id_hint`: the records shared with the execution's viewer, read when the
    // scan starts (the id index beside the owner index, in a BitmapOr).
    if call.funcid == f.id_hint {
        if f.shared_ids_int8 == pg_sys::InvalidOid {
            return std::ptr::null_mut();
        }
        super::plans::mark_shaped();
        let ids = nodes::call(
            f.shared_ids_int8,
            pg_sys::INT8ARRAYOID,
            &args.copies(2),
            call.inputcollid,
        );
        r.lossy = true;
        return nodes::list_of(&[nodes::int8_any(owner, ids)]).cast();
    }
    let Some(OwnerBound::Owners(_)) = planned_bound(call.funcid, args) else {
        return std::ptr::null_mut();
    };
    // The owners of the execution's viewer: `_owner_hint` resolves it inside, the
    // others pass their viewer argument.
    let (index_owners, owners_args) = if args.is_reach_hint(call.funcid) {
        (f.reach_owners_current, Vec::new())
    } else if call.funcid == f.owner_hint {
        (f.index_owners_current, args.copies(2))
    } else if call.funcid == f.owner_hint_unshared {
        (f.index_owners_unshared, args.copies(2))
    } else {
        let mut owners_args = args.copies(2);
        owners_args.push(copy(args.viewer()));
        (f.index_owners, owners_args)
    };
    if index_owners == pg_sys::InvalidOid {
        return std::ptr::null_mut();
    }
    super::plans::mark_shaped();
    let owners = nodes::call(
        index_owners,
        pg_sys::INT8ARRAYOID,
        &owners_args,
        call.inputcollid,
    );
    r.lossy = true;
    nodes::list_of(&[nodes::int8_any(owner, owners)]).cast()
}
