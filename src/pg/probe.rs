//! Reading the few rows of a table that one btree index finds for an equality,
//! in the active snapshot, without SPI: no parse, plan or executor per call. For
//! lookups made once per request (the shares reaching a viewer), where an SPI
//! query costs more than the rows it returns (docs/design.md, "Record shares").

use pgrx::pg_sys;
use std::ffi::CString;

/// An equality on a column of the table: an `int8`, a `text`, or `int8 = ANY(…)`.
pub enum Equals<'a> {
    Int8(pg_sys::AttrNumber, i64),
    Text(pg_sys::AttrNumber, &'a str),
    AnyInt8(pg_sys::AttrNumber, &'a [i64]),
}

/// A table opened for probes (closed when dropped).
pub struct Table {
    heap: pg_sys::Relation,
    namespace: pg_sys::Oid,
}

/// A row a probe found: its columns by attribute number, valid during the callback.
pub struct Row<'a> {
    values: &'a [pg_sys::Datum],
    nulls: &'a [bool],
}

impl Row<'_> {
    fn at(&self, attno: pg_sys::AttrNumber) -> Option<pg_sys::Datum> {
        let i = usize::try_from(attno).ok()?.checked_sub(1)?;
        (!*self.nulls.get(i)?).then(|| self.values[i])
    }
    /// An `int8` (or `timestamptz`, in PostgreSQL's microseconds) column.
    pub fn int8(&self, attno: pg_sys::AttrNumber) -> Option<i64> {
        self.at(attno).map(|d| d.value() as i64)
    }
    /// A `text` column.
    pub fn text(&self, attno: pg_sys::AttrNumber) -> Option<String> {
        let d = self.at(attno)?;
        unsafe {
            let text = pg_sys::text_to_cstring(d.cast_mut_ptr());
            let s = std::ffi::CStr::from_ptr(text)
                .to_string_lossy()
                .into_owned();
            pg_sys::pfree(text.cast());
            Some(s)
        }
    }
}

impl Table {
    /// Open `schema.table` for reading (AccessShareLock, held to the transaction's
    /// end as for any read). No privilege is checked: the callers are the
    /// extension's own lookups. `Err` when the table is missing or no snapshot is
    /// active.
    pub fn open(schema: &str, table: &str) -> Result<Table, String> {
        Table::find(schema, table)?.ok_or_else(|| format!("{schema}.{table} is missing"))
    }

    /// [`open`](Self::open), or `Ok(None)` when there is no such table.
    pub fn find(schema: &str, table: &str) -> Result<Option<Table>, String> {
        unsafe {
            if !pg_sys::ActiveSnapshotSet() {
                return Err("no active snapshot".into());
            }
            let schema_c = CString::new(schema).map_err(|e| e.to_string())?;
            let table_c = CString::new(table).map_err(|e| e.to_string())?;
            let namespace = pg_sys::get_namespace_oid(schema_c.as_ptr(), true);
            let oid = pg_sys::get_relname_relid(table_c.as_ptr(), namespace);
            Ok((oid != pg_sys::InvalidOid).then(|| Table {
                heap: pg_sys::table_open(oid, pg_sys::AccessShareLock as i32),
                namespace,
            }))
        }
    }

    /// The attribute number of `column`.
    pub fn column(&self, column: &str) -> Result<pg_sys::AttrNumber, String> {
        unsafe {
            // PgTupleDesc finds the attributes where each version keeps them
            // (PostgreSQL 18 put compact attributes in front of them).
            let desc = pgrx::PgTupleDesc::from_pg_unchecked((*self.heap).rd_att);
            desc.iter()
                .position(|a| {
                    !a.attisdropped
                        && std::ffi::CStr::from_ptr(a.attname.data.as_ptr()).to_bytes()
                            == column.as_bytes()
                })
                .map(|i| (i + 1) as pg_sys::AttrNumber)
                .ok_or_else(|| format!("no column {column}"))
        }
    }

    /// Call `each` for every row that index `index` (in the table's schema) finds
    /// for `keys` — equalities on its leading columns — visible to the active
    /// snapshot.
    pub fn each_row(
        &self,
        index: &str,
        keys: &[Equals],
        mut each: impl FnMut(&Row),
    ) -> Result<(), String> {
        self.scan(index, keys, |row| {
            each(row);
            true
        })
    }

    /// Whether index `index` finds any row for `keys` visible to the active
    /// snapshot (the scan stops at the first).
    pub fn any_row(&self, index: &str, keys: &[Equals]) -> Result<bool, String> {
        let mut found = false;
        self.scan(index, keys, |_| {
            found = true;
            false
        })?;
        Ok(found)
    }

    /// The scan of [`Table::each_row`]; `each` returns whether to go on.
    fn scan(
        &self,
        index: &str,
        keys: &[Equals],
        mut each: impl FnMut(&Row) -> bool,
    ) -> Result<(), String> {
        unsafe {
            let index_c = CString::new(index).map_err(|e| e.to_string())?;
            let index_oid = pg_sys::get_relname_relid(index_c.as_ptr(), self.namespace);
            if index_oid == pg_sys::InvalidOid {
                return Err(format!("index {index} is missing"));
            }
            // Key values live until the scan ends.
            let mut owned: Vec<pg_sys::Datum> = Vec::new();
            let mut scan_keys: Vec<pg_sys::ScanKeyData> = Vec::with_capacity(keys.len());
            for key in keys {
                let (attno, flags, procedure, collation, datum) = match key {
                    Equals::Int8(a, v) => (
                        *a,
                        0,
                        pg_sys::F_INT8EQ,
                        pg_sys::InvalidOid,
                        pg_sys::Datum::from(*v),
                    ),
                    Equals::Text(a, v) => {
                        let t = pg_sys::cstring_to_text_with_len(v.as_ptr().cast(), v.len() as i32);
                        owned.push(pg_sys::Datum::from(t));
                        (
                            *a,
                            0,
                            pg_sys::F_TEXTEQ,
                            pg_sys::DEFAULT_COLLATION_OID,
                            pg_sys::Datum::from(t),
                        )
                    }
                    Equals::AnyInt8(a, values) => {
                        let datums: Vec<pg_sys::Datum> =
                            values.iter().map(|v| pg_sys::Datum::from(*v)).collect();
                        let array = pg_sys::construct_array(
                            datums.as_ptr() as *mut pg_sys::Datum,
                            datums.len() as i32,
                            pg_sys::INT8OID,
                            8,
                            true,
                            pg_sys::TYPALIGN_DOUBLE as std::ffi::c_char,
                        );
                        owned.push(pg_sys::Datum::from(array));
                        (
                            *a,
                            pg_sys::SK_SEARCHARRAY as i32,
                            pg_sys::F_INT8EQ,
                            pg_sys::InvalidOid,
                            pg_sys::Datum::from(array),
                        )
                    }
                };
                let mut k: pg_sys::ScanKeyData = std::mem::zeroed();
                pg_sys::ScanKeyEntryInitialize(
                    &mut k,
                    flags,
                    attno,
                    pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
                    pg_sys::InvalidOid,
                    collation,
                    procedure.into(),
                    datum,
                );
                scan_keys.push(k);
            }
            let desc = (*self.heap).rd_att;
            let natts = (*desc).natts as usize;
            let mut values = vec![pg_sys::Datum::from(0usize); natts];
            let mut nulls = vec![false; natts];
            let scan = pg_sys::systable_beginscan(
                self.heap,
                index_oid,
                true,
                pg_sys::GetActiveSnapshot(),
                scan_keys.len() as i32,
                scan_keys.as_mut_ptr(),
            );
            loop {
                let tuple = pg_sys::systable_getnext(scan);
                if tuple.is_null() {
                    break;
                }
                pg_sys::heap_deform_tuple(tuple, desc, values.as_mut_ptr(), nulls.as_mut_ptr());
                let go_on = each(&Row {
                    values: &values,
                    nulls: &nulls,
                });
                if !go_on {
                    break;
                }
            }
            pg_sys::systable_endscan(scan);
            for d in owned {
                pg_sys::pfree(d.cast_mut_ptr());
            }
            Ok(())
        }
    }
}

impl Table {
    /// The table's OID.
    pub fn oid(&self) -> pg_sys::Oid {
        unsafe { (*self.heap).rd_id }
    }

    /// `f` of the first row visible to the active snapshot, of the transaction id
    /// that wrote it (its `xmin`) and of another transaction, still in progress,
    /// that is replacing it (its updating `xmax`, if any), by a sequential scan: for
    /// the one-row tables the caches are keyed on. `None` when the table has no
    /// visible row.
    pub fn first_row<R>(&self, f: impl FnOnce(&Row, u32, Option<u32>) -> R) -> Option<R> {
        unsafe {
            let desc = (*self.heap).rd_att;
            let natts = (*desc).natts as usize;
            let mut values = vec![pg_sys::Datum::from(0usize); natts];
            let mut nulls = vec![false; natts];
            let scan = pg_sys::systable_beginscan(
                self.heap,
                pg_sys::InvalidOid,
                false,
                pg_sys::GetActiveSnapshot(),
                0,
                std::ptr::null_mut(),
            );
            let tuple = pg_sys::systable_getnext(scan);
            let answer = (!tuple.is_null()).then(|| {
                pg_sys::heap_deform_tuple(tuple, desc, values.as_mut_ptr(), nulls.as_mut_ptr());
                let xmin = u32::from((*(*tuple).t_data).t_choice.t_heap.t_xmin);
                f(
                    &Row {
                        values: &values,
                        nulls: &nulls,
                    },
                    xmin,
                    updater_in_progress((*tuple).t_data),
                )
            });
            pg_sys::systable_endscan(scan);
            answer
        }
    }
}

/// The transaction, other than this one and still in progress, that updated or
/// deleted the tuple (a lock alone is no update), if any.
unsafe fn updater_in_progress(header: pg_sys::HeapTupleHeader) -> Option<u32> {
    let mask = u32::from((*header).t_infomask);
    let locked_only = mask & pg_sys::HEAP_XMAX_LOCK_ONLY != 0
        || mask & (pg_sys::HEAP_XMAX_IS_MULTI | pg_sys::HEAP_LOCK_MASK)
            == pg_sys::HEAP_XMAX_EXCL_LOCK;
    if mask & pg_sys::HEAP_XMAX_INVALID != 0 || locked_only {
        return None;
    }
    let updater = if mask & pg_sys::HEAP_XMAX_IS_MULTI != 0 {
        pg_sys::HeapTupleGetUpdateXid(header)
    } else {
        (*header).t_choice.t_heap.t_xmax
    };
    (u32::from(updater) >= pg_sys::FirstNormalTransactionId.into()
        && !pg_sys::TransactionIdIsCurrentTransactionId(updater)
        && pg_sys::TransactionIdIsInProgress(updater))
    .then(|| u32::from(updater))
}

/// A generation row (`sharing._generation`, `sharing._share_generation`): what the
/// backend's caches are keyed on.
#[derive(Clone, Copy, Debug)]
pub struct Generation {
    /// The table's OID (a table dropped and created again is another one).
    pub table: pg_sys::Oid,
    /// Its `gen` column.
    pub value: i64,
    /// The command id when this transaction wrote the row (`mvcc::own_command`).
    pub own_command: Option<u32>,
    /// The row's xmin: with `own_command`, what tells this transaction's write from
    /// a rolled-back one's that left the same value (a counter moved by `+ 1`).
    pub writer: u32,
    /// Another transaction, in progress, replacing the row: a configuration change
    /// this snapshot does not see (yet).
    pub changing: Option<u32>,
}

/// The generation row of `schema.table` as the active snapshot sees it, read
/// directly (no SPI query per statement). `Ok(None)` when the table does not exist;
/// `Err` when its row is missing or its `gen` is NULL.
pub fn read_generation(schema: &str, table: &str) -> Result<Option<Generation>, String> {
    Ok(read_generation_with(schema, table, None)?.map(|(g, _)| g))
}

/// [`read_generation`], with one more bigint column of the same row (`Err` when
/// the table lacks it or it is NULL).
pub fn read_generation_with(
    schema: &str,
    table: &str,
    also: Option<&str>,
) -> Result<Option<(Generation, i64)>, String> {
    let Some(t) = Table::find(schema, table)? else {
        return Ok(None);
    };
    let gen_no = t.column("gen")?;
    let also_no = also.map(|name| t.column(name)).transpose()?;
    let (value, other, writer, changing) = t
        .first_row(|row, xmin, updater| {
            let other = also_no.map(|no| row.int8(no));
            (row.int8(gen_no), other, xmin, updater)
        })
        .ok_or("the row is missing")?;
    let other = match other {
        Some(v) => v.ok_or("a generation column is NULL")?,
        None => 0,
    };
    Ok(Some((
        Generation {
            table: t.oid(),
            value: value.ok_or("gen is NULL")?,
            own_command: super::mvcc::own_command(writer),
            writer,
            changing,
        },
        other,
    )))
}

impl Drop for Table {
    fn drop(&mut self) {
        unsafe { pg_sys::table_close(self.heap, pg_sys::AccessShareLock as i32) };
    }
}
