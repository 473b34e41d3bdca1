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
//! prepared — unless it is a worker's part of a change the coordinator sent, which
//! Citus's own two-phase commit ends at once.

use crate::pg::catalog::tables_of_schema;
use crate::pg::errors::raise;
use pgrx::pg_sys;

/// What this transaction holds of pg_sharing's tables: the first one it locked in a
/// mode that can block others (`ROW SHARE` — `FOR UPDATE`, `FOR SHARE` and foreign
/// key checks — or stronger: writes, `LOCK TABLE`, DDL), and whether it applied a
/// change sent by the coordinator (it wrote `_citus_changes`). The tables are read
/// in the catalog snapshot: a transaction being prepared has no snapshot left for a
/// query. `audit_log` (appended to only) and the tables Citus distributes
/// (`_citus*`, whose shards Citus locks itself) are not counted.
fn locks_held() -> (Option<String>, bool) {
    let locked = |oid, mode: u32| unsafe {
        pg_sys::CheckRelationOidLockedByMe(oid, mode as pg_sys::LOCKMODE, true)
    };
    let (mut blocking, mut applied) = (None, false);
    for (oid, name) in tables_of_schema(c"sharing") {
        if name.starts_with("_citus_changes") {
            applied |= locked(oid, pg_sys::RowExclusiveLock);
        } else if blocking.is_none()
            && !name.starts_with("_citus")
            && name != "audit_log"
            && locked(oid, pg_sys::RowShareLock)
        {
            blocking = Some(name);
        }
    }
    (blocking, applied)
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
    if let (Some(table), false) = locks_held() {
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
    unsafe { pg_sys::RegisterXactCallback(Some(xact_event), std::ptr::null_mut()) };
}
