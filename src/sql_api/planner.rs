//! Planner support for the deciding functions: what lets a protected query cost
//! about what the same query costs with the visibility filter written by hand.
//!
//! Policies call `sharing._policy(type, action, owner, company, viewer, assignee,
//! all_rows_company)` (sql/protect.sql). Its support function `_access_support`
//! answers three planner requests:
//!
//! * **Simplify** — rewrites `_policy` for the viewer the statement is planned for
//!   (docs/design.md has the picture): level `all` gives `company =
//!   (SELECT _all_rows_company_current(…)) OR _decide_current(…)` (one comparison per
//!   row, parallel-safe); a viewer whose decisions are exactly "company = C and owner
//!   in S" gets that filter inlined as constants behind a once-per-statement guard
//!   ([`inline_filter`]); any other viewer gets `_can_access_for(…, planned_viewer)`.
//!   Each is equal to `_policy` for *every* viewer, so a plan reused for another
//!   viewer is still right.
//! * **Selectivity** — the share of rows whose owner is in the viewer's
//!   [`OwnerBound`], estimated from the owner column's statistics.
//! * **IndexCondition** — a lossy `owner = ANY(sharing._index_owners(type, action,
//!   viewer))` (`_index_owners_current` for `_owner_hint`) on a btree index of the
//!   owner column, when the planned viewer's
//!   records are owner-bounded. The array is computed when the scan starts, for the
//!   viewer of that execution; `_index_owners` refuses (SQLSTATE 40001, after
//!   resetting this backend's plans) if that viewer is not owner-bounded, so a plan
//!   kept across a change can fail but never drop a row silently.
//!
//! Plans are kept from going stale: [`forget_shaped_plans`] resets the backend's
//! plan cache when `sharing.viewer` changes or the model is rebuilt, and every
//! configuration statement invalidates the relcache of the protected tables
//! (`_forget_plans`), which makes other sessions re-plan at their next transaction.

use super::cache::current_model;
use super::viewer::resolve_viewer;
use crate::model::engine::OwnerBound;
use crate::model::types::Action;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::Internal;
use std::cell::Cell;
use std::ffi::CStr;

thread_local! {
    /// Some plan of this backend was shaped for a viewer since the last reset.
    static SHAPED: Cell<bool> = const { Cell::new(false) };
}

/// Reset this backend's cached plans if any was shaped for a viewer. Called when
/// `sharing.viewer` changes and when the model is rebuilt.
pub fn forget_shaped_plans() {
    if SHAPED.with(|s| s.replace(false)) {
        unsafe { pg_sys::ResetPlanCache() };
    }
}

/// `sharing._owner_hint(type, action, owner, viewer, planned_viewer)`: always true.
/// It exists for its planner support, which offers the owner index (a lossy
/// `owner = ANY(_index_owners(…))`) next to an inlined filter that decides the rows.
/// Written without pgrx's call wrapper: it reads nothing and cannot fail, and it
/// runs once per row.
#[no_mangle]
pub extern "C" fn pg_finfo__owner_hint() -> &'static pg_sys::Pg_finfo_record {
    static V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

/// See [`pg_finfo__owner_hint`].
#[no_mangle]
pub extern "C" fn _owner_hint(_fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    pg_sys::Datum::from(true)
}

const INT8_EQ_OP: u32 = 410;
const INT8_EQ_FUNC: u32 = 467;
const BT_EQUAL_STRATEGY: i16 = 3;
const OWNER_ARG: usize = 2;
const COMPANY_ARG: usize = 3;
const VIEWER_ARG: usize = 4;
const ASSIGNEE_ARG: usize = 5;
/// `_policy`'s last argument; `_can_access_for`'s planned viewer.
const EXTRA_ARG: usize = 6;
/// `_owner_hint(type, action, owner, planned_viewer)`.
const HINT_PLANNED_ARG: usize = 3;

/// The OID of `sharing.<name>(<args>)`, or InvalidOid (inside a transaction).
pub fn sharing_function(name: &CStr, args: &[pg_sys::Oid]) -> pg_sys::Oid {
    unsafe {
        let names = [c"sharing", name]
            .iter()
            .fold(std::ptr::null_mut(), |l, n| {
                pg_sys::lappend(l, pg_sys::makeString(pg_sys::pstrdup(n.as_ptr())).cast())
            });
        pg_sys::LookupFuncName(names, args.len() as i32, args.as_ptr(), true)
    }
}

const TEXT: pg_sys::Oid = pg_sys::TEXTOID;
const INT8: pg_sys::Oid = pg_sys::INT8OID;

/// The OIDs of the functions the planner support knows, looked up once per backend
/// and forgotten whenever pg_proc changes (a syscache callback).
#[derive(Clone, Copy)]
struct Functions {
    policy: pg_sys::Oid,
    for_viewer: pg_sys::Oid,
    can_access: pg_sys::Oid,
    index_owners: pg_sys::Oid,
    all_rows_company: pg_sys::Oid,
    filter_holds: pg_sys::Oid,
    owner_hint: pg_sys::Oid,
    decide_current: pg_sys::Oid,
    all_rows_company_current: pg_sys::Oid,
    index_owners_current: pg_sys::Oid,
}

thread_local! {
    static FUNCTIONS: Cell<Option<Functions>> = const { Cell::new(None) };
}

fn functions() -> Functions {
    if let Some(f) = FUNCTIONS.with(Cell::get) {
        return f;
    }
    let seven = [TEXT, TEXT, INT8, INT8, INT8, INT8, INT8];
    let f = Functions {
        policy: sharing_function(c"_policy", &seven),
        for_viewer: sharing_function(c"_can_access_for", &seven),
        can_access: sharing_function(c"can_access", &seven[..6]),
        index_owners: sharing_function(c"_index_owners", &seven[..3]),
        all_rows_company: sharing_function(c"_all_rows_company", &seven[..3]),
        filter_holds: sharing_function(c"_filter_holds", &[TEXT, TEXT, pg_sys::INT8ARRAYOID, INT8]),
        owner_hint: sharing_function(c"_owner_hint", &seven[..4]),
        decide_current: sharing_function(c"_decide_current", &seven[..5]),
        all_rows_company_current: sharing_function(c"_all_rows_company_current", &seven[..2]),
        index_owners_current: sharing_function(c"_index_owners_current", &seven[..2]),
    };
    FUNCTIONS.with(|c| c.set(Some(f)));
    f
}

#[pg_guard]
unsafe extern "C-unwind" fn functions_changed(_arg: pg_sys::Datum, _cache: i32, _hash: u32) {
    FUNCTIONS.with(|c| c.set(None));
}

/// Register the pg_proc callback (from `_PG_init`).
pub fn init() {
    unsafe {
        pg_sys::CacheRegisterSyscacheCallback(
            pg_sys::SysCacheIdentifier::PROCOID as i32,
            Some(functions_changed),
            pg_sys::Datum::from(0usize),
        );
    }
}

unsafe fn list_len(list: *mut pg_sys::List) -> usize {
    if list.is_null() {
        0
    } else {
        (*list).length as usize
    }
}

unsafe fn nth(list: *mut pg_sys::List, n: usize) -> *mut pg_sys::Node {
    (*(*list).elements.add(n)).ptr_value.cast()
}

unsafe fn list_of(nodes: &[*mut pg_sys::Node]) -> *mut pg_sys::List {
    nodes
        .iter()
        .fold(std::ptr::null_mut(), |l, n| pg_sys::lappend(l, (*n).cast()))
}

unsafe fn copy(node: *mut pg_sys::Node) -> *mut pg_sys::Node {
    pg_sys::copyObjectImpl(node.cast()).cast()
}

/// A non-null constant argument, as a Const.
unsafe fn constant(node: *mut pg_sys::Node) -> Option<&'static pg_sys::Const> {
    if node.is_null() || (*node).type_ != pg_sys::NodeTag::T_Const {
        return None;
    }
    let c = &*(node as *const pg_sys::Const);
    (!c.constisnull).then_some(c)
}

unsafe fn is_null_constant(node: *mut pg_sys::Node) -> bool {
    !node.is_null()
        && (*node).type_ == pg_sys::NodeTag::T_Const
        && (*(node as *const pg_sys::Const)).constisnull
}

unsafe fn text_constant(node: *mut pg_sys::Node) -> Option<String> {
    let c = constant(node)?;
    if c.consttype != TEXT {
        return None;
    }
    String::from_datum(c.constvalue, false)
}

/// The viewer a constant argument names: `Some(None)` for a NULL constant.
unsafe fn viewer_constant(node: *mut pg_sys::Node) -> Option<Option<i64>> {
    if is_null_constant(node) {
        return Some(None);
    }
    let c = constant(node)?;
    (c.consttype == INT8).then(|| i64::from_datum(c.constvalue, false))
}

/// The (object type, action) of constant first arguments.
unsafe fn type_and_action(args: *mut pg_sys::List) -> Option<(String, Action)> {
    let object_type = text_constant(nth(args, 0))?;
    let action = text_constant(nth(args, 1))?.parse().ok()?;
    Some((object_type, action))
}

/// Planner support function of `_policy`, `_can_access_for` and `can_access`.
#[pg_extern(immutable, strict, parallel_safe)]
pub fn _access_support(request: Internal) -> Internal {
    // The planner reads a NULL pointer (not an SQL NULL) as "no help".
    let Some(datum) = request.unwrap() else {
        return Internal::from(Some(pg_sys::Datum::from(0usize)));
    };
    let node = datum.cast_mut_ptr::<pg_sys::Node>();
    let answer = unsafe {
        match (*node).type_ {
            pg_sys::NodeTag::T_SupportRequestSimplify => simplify(node.cast()),
            pg_sys::NodeTag::T_SupportRequestSelectivity => selectivity(node.cast()),
            pg_sys::NodeTag::T_SupportRequestIndexCondition => index_condition(node.cast()),
            _ => std::ptr::null_mut(),
        }
    };
    Internal::from(Some(pg_sys::Datum::from(answer)))
}

unsafe fn simplify(req: *mut pg_sys::SupportRequestSimplify) -> *mut pg_sys::Node {
    let req = &*req;
    let call = &*req.fcall;
    if req.root.is_null() || list_len(call.args) != 7 || call.funcid != functions().policy {
        return std::ptr::null_mut();
    }
    let args = call.args;
    let Some((object_type, action)) = type_and_action(args) else {
        return std::ptr::null_mut();
    };
    let f = functions();
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
    let viewer = resolve_viewer();
    SHAPED.with(|s| s.set(true));
    let all_rows = viewer.is_some_and(|v| {
        current_model()
            .compiled
            .all_rows_company(&object_type, action, v)
            .is_some()
    });
    let company = nth(args, COMPANY_ARG);
    if all_rows && pg_sys::exprType(company) == INT8 {
        let once = once_per_statement(
            nth(args, EXTRA_ARG),
            f.all_rows_company_current,
            INT8,
            &[copy(nth(args, 0)), copy(nth(args, 1))],
        );
        if let Some(all_rows_company) = once {
            let same_company = int8_equal(copy(company), all_rows_company);
            let either = list_of(&[same_company, decide_current(args)]);
            return pg_sys::makeBoolExpr(pg_sys::BoolExprType::OR_EXPR, either, -1).cast();
        }
    }
    if let Some(viewer) = viewer {
        if let Some(inline) = inline_filter(args, &object_type, action, viewer) {
            return inline;
        }
    }
    let planned = int8_const(viewer);
    let mut for_args: Vec<*mut pg_sys::Node> = (0..6).map(|i| copy(nth(args, i))).collect();
    for_args.push(planned.cast());
    pg_sys::makeFuncExpr(
        f.for_viewer,
        pg_sys::BOOLOID,
        list_of(&for_args),
        pg_sys::InvalidOid,
        call.inputcollid,
        pg_sys::CoercionForm::COERCE_EXPLICIT_CALL,
    )
    .cast()
}

/// Above this many owners the constant array is not worth its planning time.
const MAX_INLINE_OWNERS: usize = 1_000_000;

/// For a viewer whose decisions are exactly "company = C and owner in S": the
/// hand-written filter itself, guarded once per statement —
/// `CASE WHEN (SELECT _filter_holds(type, action, S, C))
///       THEN company = C AND owner = ANY(S) ELSE _decide_current(…) END`.
/// PostgreSQL hashes the constant array and may read in parallel; if the viewer or
/// the configuration changed since planning, the guard is false and every row is
/// decided by the engine, so the plan stays right for any viewer. When S is a small
/// share of the company, `AND _owner_hint(type, action, owner, planned_viewer)`
/// follows: always true, it lets the planner read through the owner index.
unsafe fn inline_filter(
    args: *mut pg_sys::List,
    object_type: &str,
    action: Action,
    viewer: i64,
) -> Option<*mut pg_sys::Node> {
    // The filter is exact only for records without an assignee.
    if !is_null_constant(nth(args, ASSIGNEE_ARG)) {
        return None;
    }
    let model = current_model();
    let (owners, company_id) = model.exact_owner_filter(object_type, action, viewer)?;
    if owners.len() > MAX_INLINE_OWNERS {
        return None;
    }
    // A viewer reaching a few owners is best read through the owner index; a large
    // share of the company by sequential, parallel or created_at scans.
    let company_users = model.compiled.company_user_count(company_id).max(1) as f64;
    let few = (owners.len() as f64) < crate::gucs::OWNER_INDEX_MAX_SHARE.get() * company_users;
    let (owner, company) = (nth(args, OWNER_ARG), nth(args, COMPANY_ARG));
    if pg_sys::exprType(owner) != INT8 || pg_sys::exprType(company) != INT8 {
        return None;
    }
    let f = functions();
    let owners_const = pg_sys::makeConst(
        pg_sys::INT8ARRAYOID,
        -1,
        pg_sys::InvalidOid,
        -1,
        owners.clone().into_datum()?,
        false,
        false,
    );
    let company_const = int8_const(Some(company_id));
    let guard = once_per_statement(
        nth(args, EXTRA_ARG),
        f.filter_holds,
        pg_sys::BOOLOID,
        &[
            copy(nth(args, 0)),
            copy(nth(args, 1)),
            copy(owners_const.cast()),
            copy(company_const.cast()),
        ],
    )?;
    let same_company = pg_sys::make_opclause(
        pg_sys::Oid::from(INT8_EQ_OP),
        pg_sys::BOOLOID,
        false,
        copy(company).cast(),
        copy(company_const.cast()).cast(),
        pg_sys::InvalidOid,
        pg_sys::InvalidOid,
    );
    (*(same_company as *mut pg_sys::OpExpr)).opfuncid = pg_sys::Oid::from(INT8_EQ_FUNC);
    let owned = any_of(owner, copy(owners_const.cast()));
    let then = pg_sys::makeBoolExpr(
        pg_sys::BoolExprType::AND_EXPR,
        list_of(&[same_company.cast(), owned]),
        -1,
    );
    let otherwise = decide_current(args);
    let when = pg_sys::palloc0(std::mem::size_of::<pg_sys::CaseWhen>()) as *mut pg_sys::CaseWhen;
    (*when).xpr.type_ = pg_sys::NodeTag::T_CaseWhen;
    (*when).expr = guard.cast();
    (*when).result = then.cast();
    (*when).location = -1;
    let case = pg_sys::palloc0(std::mem::size_of::<pg_sys::CaseExpr>()) as *mut pg_sys::CaseExpr;
    (*case).xpr.type_ = pg_sys::NodeTag::T_CaseExpr;
    (*case).casetype = pg_sys::BOOLOID;
    (*case).args = list_of(&[when.cast()]);
    (*case).defresult = otherwise.cast();
    (*case).location = -1;
    if !few || f.owner_hint == pg_sys::InvalidOid {
        return Some(case.cast());
    }
    let planned = int8_const(Some(viewer));
    let hint = pg_sys::makeFuncExpr(
        f.owner_hint,
        pg_sys::BOOLOID,
        list_of(&[
            copy(nth(args, 0)),
            copy(nth(args, 1)),
            copy(owner),
            planned.cast(),
        ]),
        pg_sys::InvalidOid,
        pg_sys::DEFAULT_COLLATION_OID,
        pg_sys::CoercionForm::COERCE_EXPLICIT_CALL,
    );
    let both = list_of(&[case.cast(), hint.cast()]);
    Some(pg_sys::makeBoolExpr(pg_sys::BoolExprType::AND_EXPR, both, -1).cast())
}

/// A once-per-statement `(SELECT function(args))`: a copy of the policy's
/// `(SELECT _all_rows_company(type, action, (SELECT current_viewer())))` sub-select
/// calling `function(args)` instead (functions that resolve the viewer inside, so
/// no nested InitPlan remains). PostgreSQL runs it as one InitPlan per execution.
unsafe fn once_per_statement(
    template: *mut pg_sys::Node,
    function: pg_sys::Oid,
    result_type: pg_sys::Oid,
    args: &[*mut pg_sys::Node],
) -> Option<*mut pg_sys::Node> {
    let f = functions();
    if template.is_null()
        || (*template).type_ != pg_sys::NodeTag::T_SubLink
        || function == pg_sys::InvalidOid
    {
        return None;
    }
    let link = copy(template) as *mut pg_sys::SubLink;
    let query = (*link).subselect as *mut pg_sys::Query;
    if (*link).subLinkType != pg_sys::SubLinkType::EXPR_SUBLINK
        || query.is_null()
        || (*query).type_ != pg_sys::NodeTag::T_Query
        || list_len((*query).targetList) != 1
    {
        return None;
    }
    let entry = nth((*query).targetList, 0) as *mut pg_sys::TargetEntry;
    let call = (*entry).expr as *mut pg_sys::FuncExpr;
    if call.is_null()
        || (*call).xpr.type_ != pg_sys::NodeTag::T_FuncExpr
        || (*call).funcid != f.all_rows_company
    {
        return None;
    }
    (*call).funcid = function;
    (*call).funcresulttype = result_type;
    (*call).args = list_of(args);
    // The sub-select no longer contains the nested viewer sub-select.
    (*query).hasSubLinks = false;
    Some(link.cast())
}

/// A bigint constant (NULL for `None`).
unsafe fn int8_const(value: Option<i64>) -> *mut pg_sys::Const {
    pg_sys::makeConst(
        INT8,
        -1,
        pg_sys::InvalidOid,
        8,
        value.map_or(pg_sys::Datum::from(0), pg_sys::Datum::from),
        value.is_none(),
        true,
    )
}

/// `left = right` on bigint.
unsafe fn int8_equal(left: *mut pg_sys::Node, right: *mut pg_sys::Node) -> *mut pg_sys::Node {
    let eq = pg_sys::make_opclause(
        pg_sys::Oid::from(INT8_EQ_OP),
        pg_sys::BOOLOID,
        false,
        left.cast(),
        right.cast(),
        pg_sys::InvalidOid,
        pg_sys::InvalidOid,
    );
    (*(eq as *mut pg_sys::OpExpr)).opfuncid = pg_sys::Oid::from(INT8_EQ_FUNC);
    eq.cast()
}

/// `_decide_current(type, action, owner, company, assignee)`: the full decision for
/// the statement's viewer, resolved inside (no InitPlan), parallel-safe.
unsafe fn decide_current(args: *mut pg_sys::List) -> *mut pg_sys::Node {
    let decide_args: Vec<*mut pg_sys::Node> = [0, 1, OWNER_ARG, COMPANY_ARG, ASSIGNEE_ARG]
        .iter()
        .map(|i| copy(nth(args, *i)))
        .collect();
    pg_sys::makeFuncExpr(
        functions().decide_current,
        pg_sys::BOOLOID,
        list_of(&decide_args),
        pg_sys::InvalidOid,
        pg_sys::DEFAULT_COLLATION_OID,
        pg_sys::CoercionForm::COERCE_EXPLICIT_CALL,
    )
    .cast()
}

/// The viewer whose records a `_can_access_for` / `can_access` call is planned
/// for: its planned-viewer constant, or a constant viewer argument.
unsafe fn viewer_planned_for(funcid: pg_sys::Oid, args: *mut pg_sys::List) -> Option<Option<i64>> {
    let f = functions();
    match list_len(args) {
        7 if funcid == f.for_viewer => viewer_constant(nth(args, EXTRA_ARG)),
        6 if funcid == f.can_access => viewer_constant(nth(args, VIEWER_ARG)),
        4 if funcid == f.owner_hint => viewer_constant(nth(args, HINT_PLANNED_ARG)),
        _ => None,
    }
}

/// The owner bound of the planned viewer, when the call has no assignee.
unsafe fn planned_bound(funcid: pg_sys::Oid, args: *mut pg_sys::List) -> Option<OwnerBound> {
    let viewer = viewer_planned_for(funcid, args)?;
    if funcid != functions().owner_hint && !is_null_constant(nth(args, ASSIGNEE_ARG)) {
        return None;
    }
    let (object_type, action) = type_and_action(args)?;
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
    Some(super::visibility::owner_bound(&object_type, action, viewer))
}

/// `owner = ANY('{…}'::bigint[])` over at most 64 of the owners.
unsafe fn owner_sample_clause(owner: *mut pg_sys::Node, owners: &[i64]) -> *mut pg_sys::Node {
    let sample: Vec<i64> = owners.iter().take(64).copied().collect();
    let array = sample.into_datum().expect("an array datum");
    let array_const = pg_sys::makeConst(
        pg_sys::INT8ARRAYOID,
        -1,
        pg_sys::InvalidOid,
        -1,
        array,
        false,
        false,
    );
    any_of(owner, array_const.cast())
}

unsafe fn any_of(owner: *mut pg_sys::Node, array: *mut pg_sys::Node) -> *mut pg_sys::Node {
    let saop = pg_sys::palloc0(std::mem::size_of::<pg_sys::ScalarArrayOpExpr>())
        as *mut pg_sys::ScalarArrayOpExpr;
    (*saop).xpr.type_ = pg_sys::NodeTag::T_ScalarArrayOpExpr;
    (*saop).opno = pg_sys::Oid::from(INT8_EQ_OP);
    (*saop).opfuncid = pg_sys::Oid::from(INT8_EQ_FUNC);
    (*saop).useOr = true;
    (*saop).inputcollid = pg_sys::InvalidOid;
    (*saop).args = list_of(&[copy(owner), array]);
    (*saop).location = -1;
    saop.cast()
}

unsafe fn selectivity(req: *mut pg_sys::SupportRequestSelectivity) -> *mut pg_sys::Node {
    let r = &mut *req;
    if r.is_join || r.root.is_null() {
        return std::ptr::null_mut();
    }
    let Some(bound) = planned_bound(r.funcid, r.args) else {
        return std::ptr::null_mut();
    };
    let owner = nth(r.args, OWNER_ARG);
    r.selectivity = match bound {
        OwnerBound::Unbounded => 1.0,
        OwnerBound::Owners(owners) if owners.is_empty() => 0.0,
        OwnerBound::Owners(owners) => {
            if pg_sys::exprType(owner) != INT8 {
                return std::ptr::null_mut();
            }
            let clause = owner_sample_clause(owner, &owners);
            let sampled = owners.len().min(64) as f64;
            let s = pg_sys::clause_selectivity(r.root, clause, r.varRelid, r.jointype, r.sjinfo);
            (s * owners.len() as f64 / sampled).clamp(0.0, 1.0)
        }
    };
    req.cast()
}

unsafe fn index_condition(req: *mut pg_sys::SupportRequestIndexCondition) -> *mut pg_sys::Node {
    let r = &mut *req;
    if r.node.is_null() || (*r.node).type_ != pg_sys::NodeTag::T_FuncExpr {
        return std::ptr::null_mut();
    }
    let call = &*(r.node as *const pg_sys::FuncExpr);
    if r.indexarg as usize != OWNER_ARG || r.index.is_null() {
        return std::ptr::null_mut();
    }
    let owner = nth(call.args, OWNER_ARG);
    let equal = pg_sys::get_opfamily_member(r.opfamily, INT8, INT8, BT_EQUAL_STRATEGY);
    if (*r.index).relam != pg_sys::BTREE_AM_OID
        || pg_sys::exprType(owner) != INT8
        || equal != pg_sys::Oid::from(INT8_EQ_OP)
    {
        return std::ptr::null_mut();
    }
    let Some(OwnerBound::Owners(_)) = planned_bound(call.funcid, call.args) else {
        return std::ptr::null_mut();
    };
    // The owners of the execution's viewer: `_owner_hint` resolves it inside, the
    // others pass their viewer argument.
    let f = functions();
    let (index_owners, mut owners_args) = if call.funcid == f.owner_hint {
        (f.index_owners_current, Vec::new())
    } else {
        (f.index_owners, vec![copy(nth(call.args, VIEWER_ARG))])
    };
    if index_owners == pg_sys::InvalidOid {
        return std::ptr::null_mut();
    }
    owners_args.insert(0, copy(nth(call.args, 1)));
    owners_args.insert(0, copy(nth(call.args, 0)));
    SHAPED.with(|s| s.set(true));
    let owners = pg_sys::makeFuncExpr(
        index_owners,
        pg_sys::INT8ARRAYOID,
        list_of(&owners_args),
        pg_sys::InvalidOid,
        call.inputcollid,
        pg_sys::CoercionForm::COERCE_EXPLICIT_CALL,
    );
    r.lossy = true;
    list_of(&[any_of(owner, owners.cast())]).cast()
}

/// Invalidate the relcache entry of `rel` at commit, so that every session's
/// cached plans on it are made again (for the configuration statement trigger).
#[pg_extern(volatile, strict, parallel_unsafe)]
fn _forget_plans(rel: pg_sys::Oid) {
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(rel) };
}
