//! Reading the few rows of a table that one btree index finds for an equality,
//! in the active snapshot, without SPI: no parse, plan or executor per call. For
//! lookups made once per request (the shares reaching a viewer), where an SPI
//! query costs more than the rows it returns (docs/design.md, "Record shares").

use pgrx::pg_sys;
use std::ffi::CString;

/// An equality on a column of the table, by name: an `int8` or a `text` value.
pub enum Equals<'a> {
    Int8(&'a str, i64),
    Text(&'a str, &'a str),
}

/// A column of a row found, read by name.
pub struct Row {
    values: Vec<pg_sys::Datum>,
    nulls: Vec<bool>,
    names: Vec<String>,
}

impl Row {
    fn at(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
    /// An `int8` column; `None` when NULL or absent.
    pub fn int8(&self, name: &str) -> Option<i64> {
        let i = self.at(name)?;
        (!self.nulls[i]).then(|| self.values[i].value() as i64)
    }
    /// A `timestamptz` column as PostgreSQL keeps it (microseconds since 2000).
    pub fn timestamp(&self, name: &str) -> Option<i64> {
        self.int8(name)
    }
    /// A `text` column; `None` when NULL or absent.
    pub fn text(&self, name: &str) -> Option<String> {
        let i = self.at(name)?;
        if self.nulls[i] {
            return None;
        }
        unsafe {
            let text = pg_sys::text_to_cstring(self.values[i].cast_mut_ptr());
            let s = std::ffi::CStr::from_ptr(text)
                .to_string_lossy()
                .into_owned();
            pg_sys::pfree(text.cast());
            Some(s)
        }
    }
}

/// Call `each` for every row of `schema.table` that index `schema.index` finds for
/// `keys` (equalities on the index's leading columns), visible to the active
/// snapshot. `Err` names what is missing (the table, the index, a column, or no
/// active snapshot). The caller must have the right to read the table; locks and
/// buffers are released on error with the transaction, as for any scan.
pub fn each_row(
    schema: &str,
    table: &str,
    index: &str,
    keys: &[Equals],
    mut each: impl FnMut(&Row),
) -> Result<(), String> {
    unsafe {
        if !pg_sys::ActiveSnapshotSet() {
            return Err("no active snapshot".into());
        }
        let c = |s: &str| CString::new(s).map_err(|_| format!("bad name {s:?}"));
        let namespace = pg_sys::get_namespace_oid(c(schema)?.as_ptr(), true);
        let table_oid = pg_sys::get_relname_relid(c(table)?.as_ptr(), namespace);
        let index_oid = pg_sys::get_relname_relid(c(index)?.as_ptr(), namespace);
        if table_oid == pg_sys::InvalidOid || index_oid == pg_sys::InvalidOid {
            return Err(format!("{schema}.{table} or its index {index} is missing"));
        }
        let heap = pg_sys::table_open(table_oid, pg_sys::AccessShareLock as i32);
        let desc = (*heap).rd_att;
        let natts = (*desc).natts as usize;
        let attrs = (*desc).attrs.as_slice(natts);
        let names: Vec<String> = attrs
            .iter()
            .map(|a| {
                std::ffi::CStr::from_ptr(a.attname.data.as_ptr())
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        let attno = |name: &str| {
            names
                .iter()
                .position(|n| n == name)
                .filter(|&i| !attrs[i].attisdropped)
                .map(|i| (i + 1) as pg_sys::AttrNumber)
        };
        // The text values live until the scan ends.
        let mut texts = Vec::new();
        let mut scan_keys: Vec<pg_sys::ScanKeyData> = Vec::with_capacity(keys.len());
        for key in keys {
            let (name, procedure, collation, datum) = match key {
                Equals::Int8(name, v) => (
                    *name,
                    pg_sys::F_INT8EQ,
                    pg_sys::InvalidOid,
                    pg_sys::Datum::from(*v),
                ),
                Equals::Text(name, v) => {
                    let text = pg_sys::cstring_to_text_with_len(v.as_ptr().cast(), v.len() as i32);
                    texts.push(text);
                    (
                        *name,
                        pg_sys::F_TEXTEQ,
                        pg_sys::DEFAULT_COLLATION_OID,
                        pg_sys::Datum::from(text),
                    )
                }
            };
            let Some(no) = attno(name) else {
                pg_sys::table_close(heap, pg_sys::AccessShareLock as i32);
                return Err(format!("{schema}.{table} has no column {name}"));
            };
            let mut k: pg_sys::ScanKeyData = std::mem::zeroed();
            pg_sys::ScanKeyEntryInitialize(
                &mut k,
                0,
                no,
                pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
                pg_sys::InvalidOid,
                collation,
                procedure.into(),
                datum,
            );
            scan_keys.push(k);
        }
        let scan = pg_sys::systable_beginscan(
            heap,
            index_oid,
            true,
            pg_sys::GetActiveSnapshot(),
            scan_keys.len() as i32,
            scan_keys.as_mut_ptr(),
        );
        let mut row = Row {
            values: vec![pg_sys::Datum::from(0usize); natts],
            nulls: vec![false; natts],
            names,
        };
        loop {
            let tuple = pg_sys::systable_getnext(scan);
            if tuple.is_null() {
                break;
            }
            pg_sys::heap_deform_tuple(tuple, desc, row.values.as_mut_ptr(), row.nulls.as_mut_ptr());
            each(&row);
        }
        pg_sys::systable_endscan(scan);
        pg_sys::table_close(heap, pg_sys::AccessShareLock as i32);
        for t in texts {
            pg_sys::pfree(t.cast());
        }
        Ok(())
    }
}
