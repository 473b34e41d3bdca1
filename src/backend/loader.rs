//! Loading the organization into the pure model.
//!
//! Two reads in the current statement's snapshot: `sharing._org_snapshot()`
//! (sql/snapshot.sql), every small table as one JSON document, and
//! `sharing._org_people()`, the users and their roles as parallel arrays —
//! building JSON for every user was most of a rebuild's time.

use crate::model::org::{Org, OrgSnapshot, UserRoleRow, UserRow};
use crate::pg::errors::{raise, spi_failed};
use crate::pg::spi::{read_row_kept, read_text};
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

fn corrupt(what: impl std::fmt::Display) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
        format!("pg_sharing could not decode the sharing configuration: {what}"),
        None,
    )
}

/// An array column of `_org_people()`, NULL elements refused.
unsafe fn column<T>(datums: &[Option<pg_sys::Datum>], i: usize) -> Vec<T>
where
    Vec<Option<T>>: FromDatum,
{
    let Some(datum) = datums.get(i).copied().flatten() else {
        return Vec::new(); // array_agg of no rows
    };
    Vec::<Option<T>>::from_datum(datum, false)
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.unwrap_or_else(|| corrupt(format!("a NULL in column {i} of _org_people()"))))
        .collect()
}

/// The users and user_roles rows (names are left out: only explanations show them).
fn load_people(snapshot: &mut OrgSnapshot) {
    let people = read_row_kept("SELECT * FROM sharing._org_people()", &[], |row| {
        let d = &row.datums();
        Ok(unsafe { people_of(d) })
    })
    .unwrap_or_else(|e| spi_failed("read the sharing users", e))
    .unwrap_or_else(|| spi_failed("read the sharing users", "no rows"));
    (snapshot.users, snapshot.user_roles) = people;
}

/// The users and their roles from the row of `_org_people()`.
unsafe fn people_of(d: &[Option<pg_sys::Datum>]) -> (Vec<UserRow>, Vec<UserRoleRow>) {
    let ids: Vec<i64> = column(d, 0);
    let companies: Vec<i64> = column(d, 1);
    let statuses: Vec<String> = column(d, 2);
    let superusers: Vec<bool> = column(d, 3);
    let super_members: Vec<bool> = column(d, 4);
    let member_users: Vec<i64> = column(d, 5);
    let member_roles: Vec<i64> = column(d, 6);
    if [
        companies.len(),
        statuses.len(),
        superusers.len(),
        super_members.len(),
    ]
    .iter()
    .any(|n| *n != ids.len())
        || member_users.len() != member_roles.len()
    {
        corrupt("arrays of different lengths from _org_people()");
    }
    let users: Vec<UserRow> = (0..ids.len())
        .map(|i| UserRow {
            id: ids[i],
            company_id: companies[i],
            name: None,
            status: statuses[i]
                .parse()
                .unwrap_or_else(|_| corrupt(format!("user status \"{}\"", statuses[i]))),
            is_superuser: superusers[i],
            is_super_company_member: super_members[i],
        })
        .collect();
    let user_roles: Vec<UserRoleRow> = member_users
        .iter()
        .zip(&member_roles)
        .map(|(u, r)| UserRoleRow {
            user_id: *u,
            role_id: *r,
        })
        .collect();
    (users, user_roles)
}

fn people_function_exists() -> bool {
    crate::pg::catalog::sharing_function(c"_org_people", &[]) != pg_sys::InvalidOid
}

/// The configuration tables without the people (users and memberships), read in
/// the current statement's snapshot: what a patch of a shared model reads levels,
/// rules and agreements from (docs/design.md, "One model per database").
pub fn load_config() -> Org {
    Org::new(load_config_rows())
}

fn load_config_rows() -> OrgSnapshot {
    crate::pg::interrupts::install_interrupt_check();
    let text = read_text("SELECT sharing._org_snapshot()")
        .unwrap_or_else(|e| spi_failed("read the sharing configuration", e))
        .unwrap_or_else(|| spi_failed("read the sharing configuration", "no rows"));
    serde_json::from_str(&text).unwrap_or_else(|e| corrupt(e))
}

/// The whole configuration, read in the current statement's snapshot.
pub fn load_org() -> Org {
    let mut snapshot = load_config_rows();
    // Until ALTER EXTENSION … UPDATE, a database of 0.2.0 or older has no
    // _org_people() and its _org_snapshot() still carries the users.
    if people_function_exists() {
        load_people(&mut snapshot);
    }
    Org::new(snapshot)
}
