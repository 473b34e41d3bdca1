//! Read-only SPI in the statement's own snapshot.
//!
//! pgrx's `Spi` runs queries read-write as soon as the transaction has an xid, and
//! read-write SPI takes a fresh snapshot per query in READ COMMITTED. Decisions
//! must match the snapshot of the statement that asks, so every read of the
//! sharing configuration goes through `SPI_execute(..., read_only = true, ...)`,
//! which uses the active snapshot and never increments the command counter.

use super::errors::spi_failed;
use pgrx::prelude::*;
use std::ffi::{CStr, CString};

/// The first row of `query` as text columns (`None` for NULL); `None` when no row.
pub fn read_row(query: &str) -> Option<Vec<Option<String>>> {
    let sql = CString::new(query).expect("queries have no NUL bytes");
    Spi::connect(|_client| unsafe {
        let rc = pg_sys::SPI_execute(sql.as_ptr(), true, 1);
        if rc != pg_sys::SPI_OK_SELECT as i32 {
            spi_failed("read the sharing configuration", format!("SPI code {rc}"));
        }
        first_row()
    })
}

/// The first tuple of the last SPI result, which has one, and its descriptor.
unsafe fn first_tuple() -> (pg_sys::HeapTuple, pg_sys::TupleDesc) {
    let table = &*pg_sys::SPI_tuptable;
    (*table.vals, table.tupdesc)
}

/// The first row of the last SPI result as text columns.
unsafe fn first_row() -> Option<Vec<Option<String>>> {
    if pg_sys::SPI_processed == 0 || pg_sys::SPI_tuptable.is_null() {
        return None;
    }
    let (tuple, desc) = first_tuple();
    let row = (1..=(*desc).natts)
        .map(|i| {
            let v = pg_sys::SPI_getvalue(tuple, desc, i);
            (!v.is_null()).then(|| CStr::from_ptr(v).to_string_lossy().into_owned())
        })
        .collect();
    Some(row)
}

/// A single text value.
pub fn read_text(query: &str) -> Option<String> {
    read_row(query).and_then(|mut r| r.swap_remove(0))
}

thread_local! {
    /// Plans of the per-statement reads, prepared once per backend (SPI_keepplan),
    /// keyed by their query text.
    static KEPT: std::cell::RefCell<std::collections::HashMap<&'static str, pg_sys::SPIPlanPtr>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The backend's kept plan of `query` (prepared on first use). Inside `Spi::connect`.
/// PostgreSQL analyzes a kept plan again under the search_path current at each
/// execution, so `query` must qualify every name and operator (`OPERATOR(pg_catalog.=)`).
unsafe fn kept_plan(query: &'static str, types: &[pg_sys::Oid]) -> pg_sys::SPIPlanPtr {
    if let Some(p) = KEPT.with(|k| k.borrow().get(query).copied()) {
        return p;
    }
    let sql = CString::new(query).expect("queries have no NUL bytes");
    let mut types = types.to_vec();
    let p = pg_sys::SPI_prepare(sql.as_ptr(), types.len() as i32, types.as_mut_ptr());
    if p.is_null() || pg_sys::SPI_keepplan(p) != 0 {
        spi_failed("prepare a read of the sharing configuration", query);
    }
    KEPT.with(|k| k.borrow_mut().insert(query, p));
    p
}

/// Run a kept plan read-only in the active snapshot; true when it returned a row.
unsafe fn execute_kept(query: &'static str, args: &[(pg_sys::Oid, pg_sys::Datum)]) -> bool {
    let types: Vec<pg_sys::Oid> = args.iter().map(|a| a.0).collect();
    let plan = kept_plan(query, &types);
    let mut values: Vec<pg_sys::Datum> = args.iter().map(|a| a.1).collect();
    let rc = pg_sys::SPI_execute_plan(plan, values.as_mut_ptr(), std::ptr::null(), true, 1);
    if rc != pg_sys::SPI_OK_SELECT as i32 {
        spi_failed("read the sharing configuration", format!("SPI code {rc}"));
    }
    pg_sys::SPI_processed > 0 && !pg_sys::SPI_tuptable.is_null()
}

/// `read_row` for a fixed query with parameters `$1…`, through a plan kept for the
/// backend's life: what every statement pays is the execution, not parse and plan.
pub fn read_row_kept(
    query: &'static str,
    args: &[(pg_sys::Oid, pg_sys::Datum)],
) -> Option<Vec<Option<String>>> {
    Spi::connect(|_client| unsafe {
        if !execute_kept(query, args) {
            return None;
        }
        first_row()
    })
}

/// The first row of a fixed query (kept plan, no parameters) as binary datums,
/// handed to `f` while they are still valid (before SPI releases its memory).
pub fn with_first_row_kept<R>(
    query: &'static str,
    f: impl FnOnce(&[Option<pg_sys::Datum>]) -> R,
) -> Option<R> {
    Spi::connect(|_client| unsafe {
        if !execute_kept(query, &[]) {
            return None;
        }
        let (tuple, desc) = first_tuple();
        let datums: Vec<Option<pg_sys::Datum>> = (1..=(*desc).natts)
            .map(|i| {
                let mut isnull = false;
                let d = pg_sys::SPI_getbinval(tuple, desc, i, &mut isnull);
                (!isnull).then_some(d)
            })
            .collect();
        Some(f(&datums))
    })
}
