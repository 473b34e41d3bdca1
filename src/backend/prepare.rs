//! `PREPARE TRANSACTION` and the configuration's locks (docs/security.md, "Holes
//! closed in 0.4.0"). A prepared transaction keeps its locks — table locks and row
//! locks — after its session ends, until a superuser's `COMMIT PREPARED` or
//! `ROLLBACK PREPARED`; every Citus node allows it (`max_prepared_transactions > 0`).
//! Attacker reviews froze every tenant this way as a delegated administrator: `LOCK
//! TABLE sharing.role_permissions IN ACCESS EXCLUSIVE MODE` (reports and changes
//! waited), `SELECT … FROM sharing.object_types … FOR UPDATE` (every company's shares
//! and permissions of that type waited on the row), and a configuration write of no
//! rows (it still locks the generation rows every change moves). So a transaction of
//! a role other than a superuser that locked or wrote pg_sharing's tables is not
//! prepared — unless it is a worker's part of a change the coordinator sent (applied
//! by `_citus_apply` after its checks), which Citus's own two-phase commit ends at
//! once.

use crate::pg::catalog::tables_of_schema;
use crate::pg::errors::raise;
use crate::pg::mvcc::local_xid;
use pgrx::pg_sys;
use std::cell::Cell;

thread_local! {
    /// The local transaction id and the subtransaction of the last transaction that
    /// applied a change the coordinator sent (`_citus_apply`, through
    /// `sharing._citus_applied()`); forgotten when that subtransaction aborts.
    static APPLIED_IN: Cell<Option<(u32, pg_sys::SubTransactionId)>> = const { Cell::new(None) };
}

/// This transaction applied a change the coordinator signed and sent. Only
/// `_citus_apply` may say so: it runs as the extension's owner, a superuser (`42501`
/// for anyone else — the documented `GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA sharing`
/// reaches this function too, and a tenth review took the exemption by calling it).
pub fn note_applied_change() {
    if !unsafe { pg_sys::superuser() } {
        crate::pg::errors::insufficient_privilege(
            "sharing._citus_applied() is called by sharing._citus_apply only",
            None,
        );
    }
    let subxact = unsafe { pg_sys::GetCurrentSubTransactionId() };
    APPLIED_IN.with(|a| a.set(Some((local_xid(), subxact))));
}

/// Forgets an applied change when the subtransaction that applied it (or one around
/// it) aborts: `ROLLBACK TO SAVEPOINT` undid the change.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn subxact_event(
    event: pg_sys::SubXactEvent::Type,
    my_subid: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    if event == pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB {
        APPLIED_IN.with(|a| {
            if a.get().is_some_and(|(_, subxact)| subxact >= my_subid) {
                a.set(None);
            }
        });
    }
}

/// The first pg_sharing table this transaction locked in a mode that can block
/// others (`ROW SHARE` — `FOR UPDATE`, `FOR SHARE` and foreign key checks — or
/// stronger: writes, `LOCK TABLE`, DDL). The tables are read in the catalog
/// snapshot: a transaction being prepared has no snapshot left for a query.
/// `audit_log` (appended to only) and the tables Citus distributes (`_citus*`, whose
/// shards Citus locks itself) are not counted.
fn blocking_lock() -> Option<String> {
    tables_of_schema(c"sharing")
        .into_iter()
        .filter(|(_, name)| !name.starts_with("_citus") && name != "audit_log")
        .find(|(oid, _)| unsafe {
            pg_sys::CheckRelationOidLockedByMe(*oid, pg_sys::RowShareLock as pg_sys::LOCKMODE, true)
        })
        .map(|(_, name)| name)
}

/// Refuses (`55000`) to prepare a transaction of a role other than a superuser that
/// locked or wrote a pg_sharing table, but for a worker's part of a sent change.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn xact_event(
    event: pg_sys::XactEvent::Type,
    _arg: *mut std::ffi::c_void,
) {
    if event != pg_sys::XactEvent::XACT_EVENT_PRE_PREPARE
        || pg_sys::superuser()
        || pg_sys::get_extension_oid(c"pg_sharing".as_ptr(), true) == pg_sys::InvalidOid
    {
        return;
    }
    // A worker's part of a change the coordinator sent: Citus's own two-phase commit,
    // which ends it at once. Only a change that passed `_citus_apply`'s checks counts
    // (a ninth review took an exemption by the lock alone: a write of no rows into
    // `_citus_changes`).
    if APPLIED_IN
        .with(Cell::get)
        .is_some_and(|(xact, _)| xact == local_xid())
    {
        return;
    }
    if let Some(table) = blocking_lock() {
        raise(
            pgrx::PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("cannot PREPARE a transaction that locked or wrote sharing.{table}"),
            Some("a prepared transaction keeps its locks after the session ends, blocking every company's configuration changes, shares or reports; change the configuration in a transaction that commits (docs/security.md)"),
        )
    }
}

/// Register the transaction callback (once per backend, from `_PG_init`). It is in
/// every backend that loaded pg_sharing; `shared_preload_libraries` makes that every
/// backend (docs/scaling.md, "Setting it up").
pub fn init() {
    unsafe {
        pg_sys::RegisterXactCallback(Some(xact_event), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(subxact_event), std::ptr::null_mut());
    }
}
