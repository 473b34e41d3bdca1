//! The plan epoch: which cached plans of this backend were shaped for a viewer,
//! and for which class of viewer (the rules are in `backend`'s doc;
//! docs/design.md, "Plans across viewers").

use crate::model::shape::{PlanClass, ReachShape, ShapeSettings, ShapeSource};
use crate::model::types::Action;
use pgrx::pg_sys;
use std::cell::{Cell, RefCell};

/// What a shaped call decides.
#[derive(Clone, Debug, PartialEq)]
pub enum Subject {
    /// `_policy` / `can_access` for (object type, action).
    Access(String, Action),
    /// `can_see`: the type-independent reach.
    Reach,
}

/// One policy call the planner shaped for the viewer of the statement it planned.
#[derive(Clone, Debug, PartialEq)]
pub struct ShapedCall {
    pub subject: Subject,
    pub settings: ShapeSettings,
    pub class: PlanClass,
}

#[derive(Default)]
struct Shaped {
    /// Some plan depends on the model (a constant viewer's owners, estimates).
    any: bool,
    /// The policy calls shaped for the statement's viewer, one per (type, action,
    /// assignee), with the class of the viewer they were planned for; a second
    /// class for the same call is recorded too (then no viewer matches both).
    calls: Vec<ShapedCall>,
}

thread_local! {
    static SHAPED: RefCell<Shaped> = RefCell::new(Shaped::default());
    /// How many calls the planner support shaped, and how many times this backend's
    /// plan cache was reset (for `_model_stats()`: benchmarks count re-planning).
    static COUNTS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

fn count_shaped() {
    COUNTS.with(|c| c.set((c.get().0 + 1, c.get().1)));
}

/// A plan depends on the model but not on the statement's viewer (a constant
/// viewer's owner index condition): made again when the model is rebuilt.
pub fn mark_shaped() {
    SHAPED.with(|s| s.borrow_mut().any = true);
    count_shaped();
}

/// A policy call was shaped for the statement's viewer, of class `call.class`.
pub fn mark_shaped_for(call: ShapedCall) {
    SHAPED.with(|s| {
        let mut s = s.borrow_mut();
        s.any = true;
        if !s.calls.contains(&call) {
            s.calls.push(call);
        }
    });
    count_shaped();
}

/// Reset this backend's cached plans if any was shaped. Called when the model is
/// rebuilt, when the viewer changes class ([`viewer_changed`]), and by
/// `_index_owners` before it refuses a stale plan.
pub fn forget_shaped_plans() {
    let any = SHAPED.with(|s| std::mem::take(&mut *s.borrow_mut()).any);
    if any {
        COUNTS.with(|c| c.set((c.get().0, c.get().1 + 1)));
        unsafe { pg_sys::ResetPlanCache() };
    }
}

/// `sharing.viewer` is now `setting`: keep the plans when every shaped call would
/// be shaped into a plan of the same class for the new viewer (judged on the
/// model they were shaped with), reset them otherwise. Unsetting the viewer keeps
/// them: without a viewer every shape allows nothing, whatever it was planned for.
/// It cannot fail: it runs in `sharing.viewer`'s assign hook, also when a
/// transaction ends.
/// `model` is the one the plans were shaped with (`models::last_model`).
pub fn viewer_changed<M: ShapeSource>(setting: Option<&str>, model: Option<&M>) {
    let Some(setting) = setting else {
        return;
    };
    let keep = SHAPED.with(|s| {
        let s = s.borrow();
        if s.calls.is_empty() {
            return true;
        }
        let (Ok(viewer), Some(model)) = (setting.trim().parse::<i64>(), model) else {
            return false;
        };
        s.calls.iter().all(|c| {
            let class = match &c.subject {
                Subject::Reach => {
                    ReachShape::choose(model, Some(viewer), c.settings.owner_index_max_share).1
                }
                Subject::Access(object_type, action) => {
                    PlanClass::of(model, object_type, *action, Some(viewer), c.settings)
                }
            };
            class == c.class
        })
    });
    if !keep {
        forget_shaped_plans();
    }
}

/// (calls shaped by the planner support, plan cache resets) in this backend.
pub fn counts() -> (u64, u64) {
    COUNTS.with(Cell::get)
}
