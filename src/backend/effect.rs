//! No escalation by effect (docs/security.md): every statement that changes the
//! configuration is judged once, after all its rows, by comparing the compiled model
//! before and after it (`model::effect`).
//!
//! A BEFORE STATEMENT trigger on every configuration table remembers the baseline
//! (the model of the statement's snapshot); the AFTER STATEMENT trigger of the
//! outermost configuration statement compares the baseline with the model of the
//! state now, and the state it accepted becomes the baseline of whatever runs next
//! in the transaction. Statements nested in it (run by triggers of the extension,
//! or by a user's function) and the several tables of a writable CTE are judged
//! with it, once, after all their rows: every change between the first statement
//! and the last is compared, whatever the order of rows and CTEs. A count of open
//! statements, restored when a subtransaction aborts, tells the outermost one.
//! Sessions that are not judged (DBA sessions, superuser viewers) touch no model.

use super::authority::{acting, Acting};
use super::models::{current_model, CachedModel};
use crate::model::effect::first_escalation;
use crate::model::types::Status;
use crate::pg::errors::{insufficient_privilege, spi_failed};
use crate::pg::identity::as_bootstrap_superuser;
use crate::pg::mvcc::local_xid;
use crate::pg::spi::{read_rows, SpiError};
use pgrx::prelude::*;
use pgrx::PgTryBuilder;
use std::cell::RefCell;
use std::rc::Rc;

#[derive(Default)]
struct Chain {
    /// The local transaction the states belong to.
    xact: u32,
    /// The last state accepted (or the state before the first statement judged).
    baseline: Option<Rc<CachedModel>>,
    /// The state before the first statement judged in this transaction: users
    /// absent from it are created by the change (onboarding is "insert the user,
    /// then their roles", often in two statements).
    origin: Option<Rc<CachedModel>>,
    /// Configuration statements begun and not yet ended. A statement nested in
    /// another (run by a trigger, a RETURNING function, a writable CTE's sibling)
    /// is judged with the enclosing one, at its end.
    open: u32,
    /// `open` and `baseline` at the start of each live subtransaction. When one
    /// aborts, both come back: its statements ended without their AFTER triggers
    /// (a count left high would skip checks), and the states it accepted are undone
    /// (a baseline left on them would judge the next change against a state that
    /// no longer exists — e.g. without a user the rollback brought back).
    open_at: Vec<(pg_sys::SubTransactionId, u32, Option<Rc<CachedModel>>)>,
}

impl Chain {
    /// Start afresh when a new transaction began since the chain was last used.
    fn enter(&mut self, xact: u32) {
        if self.xact != xact {
            *self = Chain {
                xact,
                ..Chain::default()
            };
        }
    }
}

/// Keeps [`Chain::open`] right across subtransactions (registered in `_PG_init`).
#[pg_guard]
unsafe extern "C-unwind" fn subxact_event(
    event: pg_sys::SubXactEvent::Type,
    my_subid: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    let xact = local_xid();
    CHAIN.with(|c| {
        let mut c = c.borrow_mut();
        c.enter(xact);
        match event {
            pg_sys::SubXactEvent::SUBXACT_EVENT_START_SUB => {
                let (open, baseline) = (c.open, c.baseline.clone());
                c.open_at.push((my_subid, open, baseline));
            }
            pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB
            | pg_sys::SubXactEvent::SUBXACT_EVENT_COMMIT_SUB => {
                while let Some((id, open, baseline)) = c.open_at.pop() {
                    if id == my_subid {
                        if event == pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB {
                            c.open = open;
                            c.baseline = baseline;
                        }
                        break;
                    }
                }
            }
            _ => {}
        }
    });
}

/// Register the subtransaction callback (once per backend).
pub fn init() {
    unsafe {
        pg_sys::RegisterSubXactCallback(Some(subxact_event), std::ptr::null_mut());
        pg_sys::RegisterXactCallback(Some(xact_event), std::ptr::null_mut());
    }
}

/// Lets the chain's models go when the transaction ends: an idle session would
/// otherwise hold them (and the shared images they read, which are then not
/// written again: docs/design.md, "One model per database") until its next
/// configuration statement.
#[pg_guard]
unsafe extern "C-unwind" fn xact_event(
    event: pg_sys::XactEvent::Type,
    _arg: *mut std::ffi::c_void,
) {
    if matches!(
        event,
        pg_sys::XactEvent::XACT_EVENT_COMMIT
            | pg_sys::XactEvent::XACT_EVENT_PARALLEL_COMMIT
            | pg_sys::XactEvent::XACT_EVENT_ABORT
            | pg_sys::XactEvent::XACT_EVENT_PARALLEL_ABORT
            | pg_sys::XactEvent::XACT_EVENT_PREPARE
    ) {
        // Out of the cell first: dropping a model gives its pin back, which must
        // not find the cell borrowed.
        let chain = CHAIN.with(|c| std::mem::take(&mut *c.borrow_mut()));
        drop(chain);
    }
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
    let (_, status, superuser) = model.compiled.user_standing(v)?;
    (status == Status::Active && !superuser).then_some(v)
}

/// The configuration with every change made so far, this command's included: a
/// model cached earlier in the same command (by a row trigger, before the rows
/// changed) carries the same key, so the command counter moves on first and the
/// model is read in a snapshot that sees this command's rows.
fn state_now() -> Rc<CachedModel> {
    unsafe {
        pg_sys::CommandCounterIncrement();
        pg_sys::PushCopiedSnapshot(pg_sys::GetActiveSnapshot());
        pg_sys::UpdateActiveSnapshotCommandId();
    }
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            unsafe { pg_sys::PopActiveSnapshot() };
        }
    }
    let _pop = Pop;
    let model = current_model();
    // The rows are read in this snapshot, which is popped on return.
    model.org();
    model
}

/// Does any protected table already hold a record owned by or assigned to `user`?
/// A user the change creates counts as new only without records: an id deleted
/// and created again keeps the records it owned, and they must not change hands
/// unjudged. Read as the extension (all rows, whatever the caller may see).
fn holds_records(user: i64) -> bool {
    let found = as_bootstrap_superuser(|| {
        let queries = read_rows(
            "SELECT pg_catalog.format('SELECT EXISTS (SELECT 1 FROM %s WHERE %I OPERATOR(pg_catalog.=) $1%s)',
                           pt.table_name, pt.owner_column,
                           CASE WHEN pt.assignee_column IS NULL THEN ''
                                WHEN sharing._column_type(pt.table_name, pt.assignee_column) OPERATOR(pg_catalog.=) 'pg_catalog.int8[]'::pg_catalog.regtype
                                THEN pg_catalog.format(' OR $1 OPERATOR(pg_catalog.=) ANY (%I)', pt.assignee_column)
                                ELSE pg_catalog.format(' OR %I OPERATOR(pg_catalog.=) $1', pt.assignee_column) END)
               FROM sharing.protected_tables pt",
            &[],
            |row| row.require::<String>(1),
        )?;
        for q in queries {
            let arg = [(pg_sys::INT8OID, user.into_datum().expect("an int8 datum"))];
            if read_rows(&q, &arg, |row| row.require::<bool>(1))?.contains(&true) {
                return Ok(true);
            }
        }
        Ok::<bool, SpiError>(false)
    });
    found.unwrap_or_else(|e| spi_failed("look for a new user's records", e))
}

/// BEFORE STATEMENT: remember the state the statement starts from, unless the
/// chain of this transaction already has one.
pub fn statement_begins() {
    let xact = local_xid();
    let judged = judged_viewer().is_some();
    CHAIN.with(|c| {
        let mut c = c.borrow_mut();
        c.enter(xact);
        c.open += 1;
        if !judged {
            c.baseline = None;
        } else if c.baseline.is_none() {
            let now = current_model();
            // The rows of the state before, read now, in its snapshot.
            now.org();
            c.origin.get_or_insert_with(|| now.clone());
            c.baseline = Some(now);
        }
    });
}

/// AFTER STATEMENT: refuse (42501) when somebody gained what the viewer does not hold.
pub fn statement_ends() {
    let xact = local_xid();
    let enclosed = CHAIN.with(|c| {
        let mut c = c.borrow_mut();
        if c.xact != xact {
            return false;
        }
        c.open = c.open.saturating_sub(1);
        c.open > 0
    });
    if enclosed {
        return;
    }
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
    let after = state_now();
    let Some(before) = before else {
        // Every AFTER STATEMENT trigger follows a BEFORE STATEMENT one: fail closed,
        // with a refusal rather than an internal error.
        crate::pg::errors::raise(
            pgrx::PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            "pg_sharing could not judge the effect of this change: no state before it was recorded",
            Some("run the change as separate statements, one table each"),
        );
    };
    let created = RefCell::new(std::collections::HashMap::new());
    let gain = first_escalation(before.state(), after.state(), actor, &|user| {
        *created.borrow_mut().entry(user).or_insert_with(|| {
            origin
                .as_ref()
                .is_some_and(|o| o.org().user(user).is_none())
                && !holds_records(user)
        })
    });
    if let Some(gain) = gain
        .map(|g| g.to_string())
        .or_else(|| share_gain(&before, &after, actor))
    {
        insufficient_privilege(
            format!("viewer {actor} may not make this change: {gain}, which viewer {actor} cannot do"),
            Some("a change may hand out only what you can do yourself, and never widen your own reach; ask an administrator or a DBA"),
        );
    }
    super::models::remember_as_committed(&after);
    CHAIN.with(|c| c.borrow_mut().baseline = Some(after));
}

/// Every protected table the caller may read: (object type, grouped records), the
/// groups read as the caller (row level security applies: the counts are over the
/// records the caller can see).
fn record_groups() -> Vec<(String, crate::model::effect::RecordGroups)> {
    let queries: Vec<(String, String)> = as_bootstrap_superuser(|| {
        read_rows(
            "SELECT pt.object_type,
                    pg_catalog.format('SELECT %I::pg_catalog.int8, %I::pg_catalog.int8, %s, pg_catalog.count(*) FROM %s GROUP BY 1, 2, 3',
                           pt.company_column, pt.owner_column,
                           CASE WHEN sharing._column_type(pt.table_name, pt.assignee_column) OPERATOR(pg_catalog.=) 'pg_catalog.int8[]'::pg_catalog.regtype
                                THEN 'NULL::pg_catalog.int8'
                                ELSE COALESCE(pg_catalog.quote_ident(pt.assignee_column) OPERATOR(pg_catalog.||) '::pg_catalog.int8', 'NULL::pg_catalog.int8') END,
                           pt.table_name)
               FROM sharing.protected_tables pt ORDER BY pt.table_name",
            &[],
            |row| Ok((row.require::<String>(1)?, row.require::<String>(2)?)),
        )
    })
    .unwrap_or_else(|e| spi_failed("list the protected tables", e));
    queries
        .into_iter()
        .map(|(object_type, query)| {
            let groups = read_rows(&query, &[], |row| {
                Ok((
                    row.get::<i64>(1)?,
                    row.get::<i64>(2)?,
                    row.get::<i64>(3)?,
                    row.require::<i64>(4)?,
                ))
            })
            .unwrap_or_else(|e| spi_failed("count the records of a protected table", e));
            (object_type, groups)
        })
        .collect()
}

/// Run `statements` as the caller (same rights, same checks) in a subtransaction
/// that is always rolled back: the access changes they would make, for every user
/// (the caller's `may_ask_about` filter is applied by `sql_api::effect::what_if`).
pub fn what_if(statements: &str) -> Vec<crate::model::effect::AccessChange> {
    let tables = record_groups();
    let before = current_model();
    let (context, owner) = unsafe { (pg_sys::CurrentMemoryContext, pg_sys::CurrentResourceOwner) };
    let restore = move || unsafe {
        pg_sys::RollbackAndReleaseCurrentSubTransaction();
        pg_sys::MemoryContextSwitchTo(context);
        pg_sys::CurrentResourceOwner = owner;
        // The rollback's subtransaction callback (`subxact_event`) gives the chain
        // back the baseline it had before: no state of the rolled-back work stays.
    };
    unsafe {
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(context);
    }
    let changes = PgTryBuilder::new(std::panic::AssertUnwindSafe(|| {
        Spi::run(statements).unwrap_or_else(|e| spi_failed("run the statements", e));
        let after = state_now();
        crate::model::effect::access_changes(before.state(), after.state(), &tables)
    }))
    .catch_others(|e| {
        restore();
        e.rethrow()
    })
    .execute();
    restore();
    changes
}

/// The first access to a shared record that the change gives a user (a new role,
/// a place under a role a share reaches down from, a level, an activation) and
/// that neither they nor the acting viewer had before (docs/security.md, "Record
/// shares"). Record shares are not in the compiled model: the users whose share
/// profile moved are found from the two models, then only the live shares to them
/// or to their roles are read, and only a gain is decided on its record.
fn share_gain(before: &CachedModel, after: &CachedModel, actor: i64) -> Option<String> {
    use crate::model::effect::{share_candidates, share_gives};
    use crate::model::types::Action;
    if !super::shares::any_shares() {
        return None;
    }
    let types: Vec<&str> = after.org().object_type_names().collect();
    let users = after.org().snapshot.users.iter().map(|u| u.id);
    let candidates = share_candidates(&before.compiled, &after.compiled, users, &types);
    if candidates.is_empty() {
        return None;
    }
    // Which candidates each role can reach them through (after the change).
    let mut by_role: std::collections::HashMap<i64, Vec<i64>> = std::collections::HashMap::new();
    for &u in &candidates {
        let anchors = after.compiled.share_anchors(u);
        for r in anchors.own.into_iter().chain(anchors.above) {
            by_role.entry(r).or_default().push(u);
        }
    }
    let roles: Vec<i64> = by_role.keys().copied().collect();
    for (object_type, record_id, share) in super::shares::live_shares_to(&candidates, &roles) {
        let reached: Vec<i64> = match share.grantee {
            crate::model::shares::Grantee::User(u) => vec![u],
            crate::model::shares::Grantee::Role { role, .. } => {
                by_role.get(&role).cloned().unwrap_or_default()
            }
        };
        for u in reached {
            for action in [Action::View, Action::Edit] {
                if !share_gives(&after.compiled, &object_type, &share, u, action)
                    || (before.org().user(u).is_some()
                        && share_gives(&before.compiled, &object_type, &share, u, action))
                {
                    continue;
                }
                let Some(facts) = super::shares::find_record(&object_type, &record_id) else {
                    continue; // no such record: nothing to gain
                };
                let shares = super::shares::live_shares_of(&object_type, &facts.record_id);
                let could = |who: i64| {
                    before
                        .compiled
                        .decide_record(
                            &object_type,
                            action,
                            facts.owner,
                            facts.company,
                            who,
                            &facts.assignees,
                            &shares,
                        )
                        .allowed
                };
                if (before.org().user(u).is_some() && could(u)) || could(actor) {
                    continue;
                }
                // The record is one the acting viewer cannot reach: not named.
                return Some(format!(
                    "user {u} would gain {} on a record of \"{object_type}\" through a record share",
                    action.as_str()
                ));
            }
        }
    }
    None
}
