//! The plan epoch: whether some cached plan of this backend was shaped for a
//! viewer since the plan cache was last reset (the rules are in `backend`'s doc).

use pgrx::pg_sys;
use std::cell::Cell;

thread_local! {
    /// Some plan of this backend was shaped for a viewer since the last reset.
    static SHAPED: Cell<bool> = const { Cell::new(false) };
}

/// A plan is being shaped for a viewer (or carries an owner index condition).
pub fn mark_shaped() {
    SHAPED.with(|s| s.set(true));
}

/// Reset this backend's cached plans if any was shaped for a viewer. Called when
/// `sharing.viewer` changes, when the model is rebuilt, and by `_index_owners`
/// before it refuses a stale plan.
pub fn forget_shaped_plans() {
    if SHAPED.with(|s| s.replace(false)) {
        unsafe { pg_sys::ResetPlanCache() };
    }
}
