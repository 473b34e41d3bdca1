//! `PREPARE TRANSACTION` and the configuration's locks (docs/security.md, "Holes
//! closed in 0.4.0"). A prepared transaction keeps its locks after its session ends,
//! until a superuser's `COMMIT PREPARED` or `ROLLBACK PREPARED`; every Citus node
//! allows it (`max_prepared_transactions > 0`). A role that may write a
//! configuration table may also `LOCK` it: `LOCK TABLE sharing.role_permissions IN
//! ACCESS EXCLUSIVE MODE; PREPARE TRANSACTION …` by a delegated administrator
//! blocked every tenant's configuration changes and reports, for good (a seventh
//! attacker review). Such a transaction is refused at `PREPARE`.

use crate::pg::errors::raise;
use pgrx::pg_sys;
use std::ffi::CStr;

/// The pg_sharing tables this transaction holds in a mode that blocks their readers
/// or writers (`SHARE` or stronger: only `LOCK TABLE` and DDL take those; a
/// configuration statement takes `ROW EXCLUSIVE`). Read from `pg_class` in the
/// catalog snapshot: a transaction being prepared has no snapshot left for a query.
/// The tables Citus distributes (`_citus*`, whose shards Citus locks itself) are
/// not counted.
unsafe fn strongly_locked_tables() -> Vec<String> {
    let schema = pg_sys::get_namespace_oid(c"sharing".as_ptr(), true);
    if schema == pg_sys::InvalidOid {
        return Vec::new();
    }
    let mut key = std::mem::MaybeUninit::<pg_sys::ScanKeyData>::uninit();
    pg_sys::ScanKeyInit(
        key.as_mut_ptr(),
        pg_sys::Anum_pg_class_relnamespace as pg_sys::AttrNumber,
        pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
        pg_sys::Oid::from(pg_sys::F_OIDEQ),
        pg_sys::Datum::from(schema),
    );
    let class = pg_sys::table_open(pg_sys::RelationRelationId, pg_sys::AccessShareLock as i32);
    let scan = pg_sys::systable_beginscan(
        class,
        pg_sys::InvalidOid,
        false,
        std::ptr::null_mut(),
        1,
        key.as_mut_ptr(),
    );
    let mut held = Vec::new();
    loop {
        let tuple = pg_sys::systable_getnext(scan);
        if tuple.is_null() {
            break;
        }
        let form = pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_class>(tuple);
        let name = CStr::from_ptr((*form).relname.data.as_ptr())
            .to_string_lossy()
            .into_owned();
        if (*form).relkind as u8 == pg_sys::RELKIND_RELATION
            && !name.starts_with("_citus")
            && pg_sys::CheckRelationOidLockedByMe(
                (*form).oid,
                pg_sys::ShareLock as pg_sys::LOCKMODE,
                true,
            )
        {
            held.push(name);
        }
    }
    pg_sys::systable_endscan(scan);
    pg_sys::table_close(class, pg_sys::AccessShareLock as i32);
    held
}

/// Refuses (`55000`) to prepare a transaction of a role other than a superuser that
/// holds a configuration table in `SHARE` mode or stronger.
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
    if let Some(table) = strongly_locked_tables().first() {
        raise(
            pgrx::PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("cannot PREPARE a transaction that holds a lock on sharing.{table}"),
            Some("a prepared transaction keeps its locks after the session ends, blocking every company's configuration and reports; commit or roll back instead (docs/security.md)"),
        )
    }
}

/// Register the transaction callback (once per backend, from `_PG_init`). It is in
/// every backend that loaded pg_sharing; `shared_preload_libraries` makes that every
/// backend (docs/scaling.md, "Setting it up").
pub fn init() {
    unsafe { pg_sys::RegisterXactCallback(Some(xact_event), std::ptr::null_mut()) };
}
