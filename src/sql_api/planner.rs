//! The planner support as SQL: `_access_support` (the support function of
//! `_policy`, `_can_access_for` and `can_access`; the work is `backend::planner`),
//! `_owner_hint` and `_forget_plans`.

use crate::backend::planner;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::Internal;

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
            pg_sys::NodeTag::T_SupportRequestSimplify => planner::simplify(node.cast()),
            pg_sys::NodeTag::T_SupportRequestSelectivity => planner::selectivity(node.cast()),
            pg_sys::NodeTag::T_SupportRequestIndexCondition => {
                planner::index_condition(node.cast())
            }
            _ => std::ptr::null_mut(),
        }
    };
    Internal::from(Some(pg_sys::Datum::from(answer)))
}

/// Invalidate the relcache entry of `rel` at commit, so that every session's
/// cached plans on it are made again (for the configuration statement trigger).
#[pg_extern(volatile, strict, parallel_unsafe)]
fn _forget_plans(rel: pg_sys::Oid) {
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(rel) };
}
