//! Catalog lookups: the OIDs of the extension's functions, looked up once per
//! backend and forgotten whenever pg_proc changes (see `backend` for the list of
//! every piece of per-backend state).

use super::nodes::{INT8, TEXT};
use pgrx::pg_sys;
use std::cell::Cell;
use std::ffi::CStr;

/// The OID of `sharing.<name>(<args>)`, or InvalidOid (inside a transaction).
pub fn sharing_function(name: &CStr, args: &[pg_sys::Oid]) -> pg_sys::Oid {
    unsafe {
        let names = [c"sharing", name]
            .iter()
            .fold(std::ptr::null_mut(), |l, n| {
                pg_sys::lappend(l, pg_sys::makeString(pg_sys::pstrdup(n.as_ptr())).cast())
            });
        pg_sys::LookupFuncName(names, args.len() as i32, args.as_ptr(), true)
    }
}

/// The OIDs of the functions the planner support knows (InvalidOid for one that
/// does not exist, e.g. before `ALTER EXTENSION … UPDATE`).
#[derive(Clone, Copy)]
pub struct Functions {
    pub policy: pg_sys::Oid,
    /// `_policy(…, id)`: the policy of a table with a `bigint` id (record shares).
    pub policy_with_id: pg_sys::Oid,
    pub for_viewer: pg_sys::Oid,
    pub can_access: pg_sys::Oid,
    pub index_owners: pg_sys::Oid,
    pub all_rows_company: pg_sys::Oid,
    pub filter_holds: pg_sys::Oid,
    pub owner_hint: pg_sys::Oid,
    /// `_owner_hint_unshared`: the hint of a plan made while no record of the type was shared.
    pub owner_hint_unshared: pg_sys::Oid,
    pub decide_current: pg_sys::Oid,
    pub decide_current_with_id: pg_sys::Oid,
    pub filter_holds_with_shares: pg_sys::Oid,
    pub shared_current: pg_sys::Oid,
    pub shared_ids_int8: pg_sys::Oid,
    pub id_hint: pg_sys::Oid,
    pub all_rows_company_current: pg_sys::Oid,
    pub beyond_company_current: pg_sys::Oid,
    pub index_owners_current: pg_sys::Oid,
    pub index_owners_unshared: pg_sys::Oid,
    pub current_viewer: pg_sys::Oid,
    pub can_see: pg_sys::Oid,
    pub can_see_current: pg_sys::Oid,
    pub reach_holds: pg_sys::Oid,
    pub reach_owners_current: pg_sys::Oid,
}

thread_local! {
    /// Emptied by the pg_proc syscache callback registered in [`init`].
    static FUNCTIONS: Cell<Option<Functions>> = const { Cell::new(None) };
}

/// The function OIDs, looked up on first use after a change of pg_proc.
pub fn functions() -> Functions {
    if let Some(f) = FUNCTIONS.with(Cell::get) {
        return f;
    }
    let seven = [TEXT, TEXT, INT8, INT8, INT8, INT8, INT8];
    let f = Functions {
        policy: sharing_function(c"_policy", &seven),
        policy_with_id: sharing_function(c"_policy", &[&seven[..], &[INT8]].concat()),
        for_viewer: sharing_function(c"_can_access_for", &seven),
        can_access: sharing_function(c"can_access", &seven[..6]),
        index_owners: sharing_function(c"_index_owners", &seven[..3]),
        all_rows_company: sharing_function(c"_all_rows_company", &seven[..3]),
        filter_holds: sharing_function(c"_filter_holds", &[TEXT, TEXT, pg_sys::INT8ARRAYOID, INT8]),
        owner_hint: sharing_function(c"_owner_hint", &seven[..4]),
        owner_hint_unshared: sharing_function(c"_owner_hint_unshared", &seven[..4]),
        decide_current: sharing_function(c"_decide_current", &seven[..5]),
        decide_current_with_id: sharing_function(c"_decide_current", &seven[..6]),
        filter_holds_with_shares: sharing_function(
            c"_filter_holds",
            &[TEXT, TEXT, pg_sys::INT8ARRAYOID, INT8, pg_sys::INT8ARRAYOID],
        ),
        shared_current: sharing_function(c"_shared_current", &seven[..4]),
        shared_ids_int8: sharing_function(c"_shared_ids_int8", &seven[..2]),
        id_hint: sharing_function(c"_id_hint", &seven[..4]),
        all_rows_company_current: sharing_function(c"_all_rows_company_current", &seven[..2]),
        beyond_company_current: sharing_function(c"_beyond_company_current", &seven[..2]),
        index_owners_current: sharing_function(c"_index_owners_current", &seven[..2]),
        index_owners_unshared: sharing_function(c"_index_owners_unshared", &seven[..2]),
        current_viewer: sharing_function(c"current_viewer", &[]),
        can_see: sharing_function(c"can_see", &[INT8, INT8]),
        can_see_current: sharing_function(c"_can_see_current", &[INT8]),
        reach_holds: sharing_function(c"_reach_holds", &[pg_sys::INT8ARRAYOID]),
        reach_owners_current: sharing_function(c"_reach_owners_current", &[]),
    };
    FUNCTIONS.with(|c| c.set(Some(f)));
    f
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn functions_changed(_arg: pg_sys::Datum, _cache: i32, _hash: u32) {
    FUNCTIONS.with(|c| c.set(None));
}

/// Register the pg_proc callback (from `_PG_init`).
pub fn init() {
    unsafe {
        pg_sys::CacheRegisterSyscacheCallback(
            pg_sys::SysCacheIdentifier::PROCOID as i32,
            Some(functions_changed),
            pg_sys::Datum::from(0usize),
        );
    }
}

/// Does database `oid` exist (the catalog as of now)?
pub fn database_exists(oid: u32) -> bool {
    unsafe {
        pg_sys::SearchSysCacheExists(
            pg_sys::SysCacheIdentifier::DATABASEOID as i32,
            pg_sys::Datum::from(oid),
            pg_sys::Datum::from(0usize),
            pg_sys::Datum::from(0usize),
            pg_sys::Datum::from(0usize),
        )
    }
}

/// The qualified, quoted name of a relation as `regclass` prints it (`oid N` for
/// one that no longer exists).
pub fn relation_name(rel: pg_sys::Oid) -> String {
    unsafe {
        let name = pg_sys::get_rel_name(rel);
        if name.is_null() {
            return format!("oid {}", rel.to_u32());
        }
        let schema = pg_sys::get_namespace_name(pg_sys::get_rel_namespace(rel));
        let quoted = pg_sys::quote_qualified_identifier(schema, name);
        std::ffi::CStr::from_ptr(quoted)
            .to_string_lossy()
            .into_owned()
    }
}

/// The plain tables of schema `schema` (OID and name; none when it does not exist),
/// read from `pg_class` in the catalog snapshot — so also where no snapshot is active,
/// as in a transaction callback.
pub fn tables_of_schema(schema: &CStr) -> Vec<(pg_sys::Oid, String)> {
    unsafe {
        let namespace = pg_sys::get_namespace_oid(schema.as_ptr(), true);
        if namespace == pg_sys::InvalidOid {
            return Vec::new();
        }
        let mut key = std::mem::MaybeUninit::<pg_sys::ScanKeyData>::uninit();
        pg_sys::ScanKeyInit(
            key.as_mut_ptr(),
            pg_sys::Anum_pg_class_relnamespace as pg_sys::AttrNumber,
            pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
            pg_sys::Oid::from(pg_sys::F_OIDEQ),
            pg_sys::Datum::from(namespace),
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
        let mut tables = Vec::new();
        loop {
            let tuple = pg_sys::systable_getnext(scan);
            if tuple.is_null() {
                break;
            }
            let form = pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_class>(tuple);
            if (*form).relkind as u8 == pg_sys::RELKIND_RELATION {
                let name = CStr::from_ptr((*form).relname.data.as_ptr())
                    .to_string_lossy()
                    .into_owned();
                tables.push(((*form).oid, name));
            }
        }
        pg_sys::systable_endscan(scan);
        pg_sys::table_close(class, pg_sys::AccessShareLock as i32);
        tables
    }
}
