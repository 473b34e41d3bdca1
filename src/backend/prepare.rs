//! `PREPARE TRANSACTION` and the configuration's locks (docs/security.md, "Holes
//! closed in 0.4.0"). A prepared transaction keeps its locks after its session ends,
//! until a superuser's `COMMIT PREPARED` or `ROLLBACK PREPARED`; every Citus node
//! allows it (`max_prepared_transactions > 0`). A role that may write a
//! configuration table may also `LOCK` it: `LOCK TABLE sharing.role_permissions IN
//! ACCESS EXCLUSIVE MODE; PREPARE TRANSACTION …` by a delegated administrator
//! blocked every tenant's configuration changes and reports, for good (a seventh
//! attacker review). Such a transaction is refused at `PREPARE`.

use crate::pg::errors::{raise, spi_failed};
use crate::pg::identity::as_bootstrap_superuser;
use crate::pg::spi::write_rows;
use pgrx::pg_sys;

/// The pg_sharing tables this transaction holds in a mode that blocks their readers
/// or writers (`SHARE` or stronger: only `LOCK TABLE` and DDL take those; a
/// configuration statement takes `ROW EXCLUSIVE`). The tables Citus distributes
/// (`_citus*`, whose shards Citus locks itself) are not counted.
fn strongly_locked_tables() -> Vec<String> {
    let tables = as_bootstrap_superuser(|| {
        write_rows(
            "SELECT c.oid::pg_catalog.int8, c.relname::pg_catalog.text
               FROM pg_catalog.pg_class c
              WHERE c.relnamespace OPERATOR(pg_catalog.=) 'sharing'::pg_catalog.regnamespace
                AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}')
                AND c.relname::pg_catalog.text NOT LIKE '\\_citus%'",
            &[],
            |row| Ok((row.require::<i64>(1)?, row.require::<String>(2)?)),
        )
    })
    .unwrap_or_else(|e| spi_failed("list the tables of schema sharing", e));
    tables
        .into_iter()
        .filter(|(oid, _)| unsafe {
            pg_sys::CheckRelationOidLockedByMe(
                pg_sys::Oid::from(*oid as u32),
                pg_sys::ShareLock as pg_sys::LOCKMODE,
                true,
            )
        })
        .map(|(_, name)| name)
        .collect()
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
