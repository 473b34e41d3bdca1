//! The plan epoch: whether some cached plan of this backend was shaped for a
//! viewer since the plan cache was last reset (the rules are in `backend`'s doc).

use pgrx::pg_sys;
use std::cell::Cell;

thread_local! {
    /// Some plan of this backend was shaped for a viewer since the last reset.
    static SHAPED: Cell<bool> = const { Cell::new(false) };
    /// How many calls the planner support shaped, and how many times this backend's
    /// plan cache was reset (for `_model_stats()`: benchmarks count re-planning).
    static COUNTS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// A plan is being shaped for a viewer (or carries an owner index condition).
pub fn mark_shaped() {
    SHAPED.with(|s| s.set(true));
    COUNTS.with(|c| c.set((c.get().0 + 1, c.get().1)));
}

/// Reset this backend's cached plans if any was shaped for a viewer. Called when
/// `sharing.viewer` changes, when the model is rebuilt, and by `_index_owners`
/// before it refuses a stale plan.
pub fn forget_shaped_plans() {
    if SHAPED.with(|s| s.replace(false)) {
        COUNTS.with(|c| c.set((c.get().0, c.get().1 + 1)));
        unsafe { pg_sys::ResetPlanCache() };
    }
}

/// (calls shaped by the planner support, plan cache resets) in this backend.
pub fn counts() -> (u64, u64) {
    COUNTS.with(Cell::get)
}
