//! Read-only SPI in the statement's own snapshot.
//!
//! pgrx's `Spi` runs queries read-write as soon as the transaction has an xid, and
//! read-write SPI takes a fresh snapshot per query in READ COMMITTED. Decisions
//! must match the snapshot of the statement that asks, so every read of the
//! sharing configuration goes through `SPI_execute(..., read_only = true, ...)`,
//! which uses the active snapshot and never increments the command counter.

use pgrx::prelude::*;
use std::ffi::{CStr, CString};

/// Why a read failed. "No row" is not a failure: the reads answer `Ok(None)`.
#[derive(Debug)]
pub enum SpiError {
    /// SPI answered with this code instead of `SPI_OK_SELECT`.
    Code(i32),
    /// The query could not be prepared and kept.
    Prepare(&'static str),
    /// A column is missing or has another type than the one asked for.
    Column {
        column: usize,
        expected: u32,
        found: u32,
    },
}

impl std::fmt::Display for SpiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpiError::Code(rc) => write!(f, "SPI code {rc}"),
            SpiError::Prepare(query) => write!(f, "could not prepare {query}"),
            SpiError::Column {
                column,
                expected,
                found,
            } => write!(
                f,
                "column {column} has type oid {found}, expected type oid {expected}"
            ),
        }
    }
}

/// A row of an SPI result, valid while the read runs: its values are
/// read by type ([`Row::get`]), never parsed from text with defaults.
pub struct Row {
    tuple: pg_sys::HeapTuple,
    desc: pg_sys::TupleDesc,
}

impl Row {
    /// Column `column` (1-based) as `T`, `None` for NULL; an error when the column
    /// does not exist or is not of `T`'s SQL type.
    pub fn get<T: FromDatum + IntoDatum>(&self, column: usize) -> Result<Option<T>, SpiError> {
        unsafe {
            let found = pg_sys::SPI_gettypeid(self.desc, column as i32);
            if found != T::type_oid() {
                return Err(SpiError::Column {
                    column,
                    expected: T::type_oid().to_u32(),
                    found: found.to_u32(),
                });
            }
            let mut isnull = false;
            let datum = pg_sys::SPI_getbinval(self.tuple, self.desc, column as i32, &mut isnull);
            Ok(T::from_datum(datum, isnull))
        }
    }

    /// Column `column` as `T`, an error for NULL.
    pub fn require<T: FromDatum + IntoDatum>(&self, column: usize) -> Result<T, SpiError> {
        self.get(column)?.ok_or(SpiError::Column {
            column,
            expected: T::type_oid().to_u32(),
            found: 0,
        })
    }

    /// Every column as its binary datum (`None` for NULL), for values read with
    /// their own `FromDatum` (arrays) while the row is valid.
    pub fn datums(&self) -> Vec<Option<pg_sys::Datum>> {
        unsafe {
            (1..=(*self.desc).natts)
                .map(|i| {
                    let mut isnull = false;
                    let d = pg_sys::SPI_getbinval(self.tuple, self.desc, i, &mut isnull);
                    (!isnull).then_some(d)
                })
                .collect()
        }
    }

    /// Column `column`'s text form (its type's output function), `None` for NULL:
    /// for documents (`json` as text) and settings, whatever their type.
    pub fn text(&self, column: usize) -> Option<String> {
        unsafe {
            let v = pg_sys::SPI_getvalue(self.tuple, self.desc, column as i32);
            (!v.is_null()).then(|| CStr::from_ptr(v).to_string_lossy().into_owned())
        }
    }
}

/// `f` of every row of the last SPI result.
unsafe fn result_rows<R>(
    f: &mut impl FnMut(&Row) -> Result<R, SpiError>,
) -> Result<Vec<R>, SpiError> {
    let n = pg_sys::SPI_processed as usize;
    if n == 0 || pg_sys::SPI_tuptable.is_null() {
        return Ok(Vec::new());
    }
    let table = &*pg_sys::SPI_tuptable;
    (0..n)
        .map(|i| {
            f(&Row {
                tuple: *table.vals.add(i),
                desc: table.tupdesc,
            })
        })
        .collect()
}

/// The first row of the last SPI result, if it has one.
unsafe fn first_row() -> Option<Row> {
    if pg_sys::SPI_processed == 0 || pg_sys::SPI_tuptable.is_null() {
        return None;
    }
    let table = &*pg_sys::SPI_tuptable;
    Some(Row {
        tuple: *table.vals,
        desc: table.tupdesc,
    })
}

/// `f` of the first row of `query` (planned for this call); `Ok(None)` when no row.
pub fn read_row<R>(
    query: &str,
    f: impl FnOnce(&Row) -> Result<R, SpiError>,
) -> Result<Option<R>, SpiError> {
    let sql = CString::new(query).expect("queries have no NUL bytes");
    Spi::connect(|_client| unsafe {
        let rc = pg_sys::SPI_execute(sql.as_ptr(), true, 1);
        if rc != pg_sys::SPI_OK_SELECT as i32 {
            return Err(SpiError::Code(rc));
        }
        first_row().map(|row| f(&row)).transpose()
    })
}

/// `f` of every row of `query` with parameters `$1…` (planned for this call), run
/// as pgrx's `Spi` runs it: read-write once the transaction has an xid, so it then
/// sees the changes made so far by the statement that runs it (for the checks
/// after a statement's own writes). Not for reads that must match the asking
/// statement's snapshot: those are [`read_row`] and [`read_row_kept`].
pub fn read_rows<R>(
    query: &str,
    args: &[(pg_sys::Oid, pg_sys::Datum)],
    mut f: impl FnMut(&Row) -> Result<R, SpiError>,
) -> Result<Vec<R>, SpiError> {
    let sql = CString::new(query).expect("queries have no NUL bytes");
    Spi::connect(|_client| unsafe {
        let mut types: Vec<pg_sys::Oid> = args.iter().map(|a| a.0).collect();
        let mut values: Vec<pg_sys::Datum> = args.iter().map(|a| a.1).collect();
        let rc = pg_sys::SPI_execute_with_args(
            sql.as_ptr(),
            args.len() as i32,
            types.as_mut_ptr(),
            values.as_mut_ptr(),
            std::ptr::null(),
            // pgrx's rule: read-only until the transaction has an xid.
            pg_sys::GetCurrentTransactionIdIfAny() == pg_sys::InvalidTransactionId,
            0,
        );
        if rc != pg_sys::SPI_OK_SELECT as i32 {
            return Err(SpiError::Code(rc));
        }
        result_rows(&mut f)
    })
}

/// The text form of the first column of the first row of `query`; `Ok(None)` when
/// there is no row or the value is NULL.
pub fn read_text(query: &str) -> Result<Option<String>, SpiError> {
    Ok(read_row(query, |row| Ok(row.text(1)))?.flatten())
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
unsafe fn kept_plan(
    query: &'static str,
    types: &[pg_sys::Oid],
) -> Result<pg_sys::SPIPlanPtr, SpiError> {
    if let Some(p) = KEPT.with(|k| k.borrow().get(query).copied()) {
        return Ok(p);
    }
    let sql = CString::new(query).expect("queries have no NUL bytes");
    let mut types = types.to_vec();
    // A generic plan: planned once, never again per execution (PostgreSQL would
    // otherwise plan each of the first executions for its parameter values, and
    // keep doing so whenever it estimates the generic plan dearer).
    let p = pg_sys::SPI_prepare_cursor(
        sql.as_ptr(),
        types.len() as i32,
        types.as_mut_ptr(),
        pg_sys::CURSOR_OPT_GENERIC_PLAN as i32,
    );
    if p.is_null() || pg_sys::SPI_keepplan(p) != 0 {
        return Err(SpiError::Prepare(query));
    }
    KEPT.with(|k| k.borrow_mut().insert(query, p));
    Ok(p)
}

/// `f` of the first row of a fixed query with parameters `$1…`, run read-only in
/// the active snapshot through a plan kept for the backend's life: what every
/// statement pays is the execution, not parse and plan. `Ok(None)` when no row.
pub fn read_row_kept<R>(
    query: &'static str,
    args: &[(pg_sys::Oid, pg_sys::Datum)],
    f: impl FnOnce(&Row) -> Result<R, SpiError>,
) -> Result<Option<R>, SpiError> {
    Spi::connect(|_client| unsafe {
        let types: Vec<pg_sys::Oid> = args.iter().map(|a| a.0).collect();
        let plan = kept_plan(query, &types)?;
        let mut values: Vec<pg_sys::Datum> = args.iter().map(|a| a.1).collect();
        let rc = pg_sys::SPI_execute_plan(plan, values.as_mut_ptr(), std::ptr::null(), true, 1);
        if rc != pg_sys::SPI_OK_SELECT as i32 {
            return Err(SpiError::Code(rc));
        }
        first_row().map(|row| f(&row)).transpose()
    })
}

/// Runs `query` — any statement, read-write — with text parameters `$1…` (`None`
/// is NULL; the query casts them), and returns `f` of each row it returns. For the
/// few writes the extension makes from Rust (docs/scaling.md, sending the Citus
/// changes), never for reads of the configuration (see the top of this file).
pub fn write_rows<R>(
    query: &str,
    args: &[Option<&str>],
    mut f: impl FnMut(&Row) -> Result<R, SpiError>,
) -> Result<Vec<R>, SpiError> {
    let sql = CString::new(query).expect("queries have no NUL bytes");
    Spi::connect(|_client| unsafe {
        let mut types: Vec<pg_sys::Oid> = vec![pg_sys::TEXTOID; args.len()];
        let mut values: Vec<pg_sys::Datum> = args
            .iter()
            .map(|a| a.into_datum().unwrap_or(pg_sys::Datum::from(0)))
            .collect();
        let nulls: Vec<std::ffi::c_char> = args
            .iter()
            .map(|a| if a.is_some() { b' ' } else { b'n' } as std::ffi::c_char)
            .collect();
        let rc = pg_sys::SPI_execute_with_args(
            sql.as_ptr(),
            args.len() as i32,
            types.as_mut_ptr(),
            values.as_mut_ptr(),
            nulls.as_ptr(),
            false,
            0,
        );
        if rc < 0 {
            return Err(SpiError::Code(rc));
        }
        result_rows(&mut f)
    })
}
