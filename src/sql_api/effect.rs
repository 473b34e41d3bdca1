//! No escalation by effect (docs/security.md): every statement that changes the
//! configuration is judged once, after all its rows, by comparing the compiled model
//! before and after it (`model::effect`).
//!
//! A BEFORE STATEMENT trigger on every configuration table remembers the baseline
//! (the model of the statement's snapshot); each AFTER STATEMENT trigger compares
//! the baseline with the model of the state now, and the state it accepted becomes
//! the baseline of whatever runs next in the transaction. Nested statements (run by
//! triggers of the extension, or by a user's function) and the several tables of a
//! writable CTE are so judged as an unbroken chain of states: every change between
//! the first statement and the last is compared at least once, whatever the order
//! of rows and CTEs. Sessions that are not judged (DBA sessions, superuser viewers)
//! touch no model.

use super::authority::{acting, Acting};
use super::cache::{current_model, local_xid, Model};
use super::errors::insufficient_privilege;
use crate::model::effect::{first_escalation, State};
use crate::model::types::Status;
use pgrx::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;

#[derive(Default)]
struct Chain {
    /// The local transaction the states belong to.
    xact: u32,
    /// The last state accepted (or the state before the first statement judged).
    baseline: Option<Rc<Model>>,
    /// The state before the first statement judged in this transaction: users
    /// absent from it are created by the change (onboarding is "insert the user,
    /// then their roles", often in two statements).
    origin: Option<Rc<Model>>,
}

thread_local! {
    static CHAIN: RefCell<Chain> = RefCell::new(Chain::default());
}

/// The acting viewer this statement is judged for, if any: an active viewer who is
/// not a superuser (inactive viewers are refused by the row checks already).
fn judged_viewer() -> Option<i64> {
    let Acting::Viewer(v) = acting() else {
        return None;
    };
    let model = current_model();
    let user = model.org.user(v)?;
    (user.status == Status::Active && !user.is_superuser).then_some(v)
}

/// BEFORE STATEMENT: remember the state the statement starts from, unless the
/// chain of this transaction already has one.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn _effect_baseline() {
    let xact = local_xid();
    let judged = judged_viewer().is_some();
    CHAIN.with(|c| {
        let mut c = c.borrow_mut();
        if c.xact != xact {
            *c = Chain {
                xact,
                ..Chain::default()
            };
        }
        if !judged {
            c.baseline = None;
        } else if c.baseline.is_none() {
            let now = current_model();
            c.origin.get_or_insert_with(|| now.clone());
            c.baseline = Some(now);
        }
    });
}

/// AFTER STATEMENT: refuse (42501) when somebody gained what the viewer does not hold.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn _effect_check() {
    let xact = local_xid();
    let Some(actor) = judged_viewer() else {
        CHAIN.with(|c| c.borrow_mut().baseline = None);
        return;
    };
    let (before, origin) = CHAIN.with(|c| {
        let c = c.borrow();
        if c.xact == xact {
            (c.baseline.clone(), c.origin.clone())
        } else {
            (None, None)
        }
    });
    let after = current_model();
    let Some(before) = before else {
        // Every AFTER STATEMENT trigger follows a BEFORE STATEMENT one: fail closed.
        super::errors::spi_failed("judge the effect of this change", "no state before it");
    };
    let gain = first_escalation(
        State {
            org: &before.org,
            compiled: &before.compiled,
        },
        State {
            org: &after.org,
            compiled: &after.compiled,
        },
        actor,
        &|user| {
            origin
                .as_ref()
                .is_some_and(|o| o.org.user(user).is_none())
        },
    );
    if let Some(gain) = gain {
        insufficient_privilege(
            format!("viewer {actor} may not make this change: {gain}, which viewer {actor} cannot do"),
            Some("a change may hand out only what you can do yourself, and never widen your own reach; ask an administrator or a DBA"),
        );
    }
    CHAIN.with(|c| c.borrow_mut().baseline = Some(after));
}
