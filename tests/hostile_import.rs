//! `sharing.import_company` fed hostile documents (docs/security.md): a role chain
//! deep enough to overflow a recursive walk, a document over the size limits, one
//! that is expensive to import under `statement_timeout`, one that is invalid and
//! sent by someone who may not import, and company names built to break out of a
//! hand-quoted SQL literal under `standard_conforming_strings = off`.

mod common;
use common::*;
use postgres::Client;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const FORMAT: &str = "pg_sharing.company/1";

/// `n` roles, listed deepest first: role `i` depends on role `i + 1`, through
/// `reports_to` and `based_on` alternately (or always through `field`).
fn chain(n: usize, field: Option<&str>, company: &str) -> Value {
    let roles: Vec<Value> = (0..n)
        .map(|i| {
            let mut r = json!({ "name": format!("r{i}") });
            if i + 1 < n {
                let f = field.unwrap_or(if i % 2 == 0 { "reports_to" } else { "based_on" });
                r[f] = format!("r{}", i + 1).into();
            } else {
                r["is_default"] = true.into();
            }
            r
        })
        .collect();
    json!({ "format": FORMAT, "company": { "name": company }, "roles": roles })
}

fn import(c: &mut Client, doc: &Value) -> Result<i64, postgres::Error> {
    c.query_one(
        "SELECT sharing.import_company($1::text::jsonb)",
        &[&doc.to_string()],
    )
    .map(|r| r.get(0))
}

fn sqlstate(e: &postgres::Error) -> String {
    e.as_db_error()
        .unwrap_or_else(|| panic!("not an error of the server (did it crash?): {e}"))
        .code()
        .code()
        .to_string()
}

fn postmaster_start(c: &mut Client) -> String {
    one_str(c, "SELECT pg_postmaster_start_time()::text")
}

fn companies_named(c: &mut Client, name: &str) -> i64 {
    c.query_one(
        "SELECT count(*) FROM sharing.companies WHERE name = $1",
        &[&name],
    )
    .unwrap()
    .get(0)
}

/// 200,000 roles alternating `reports_to` and `based_on`, deepest first, once
/// crashed the server (a recursive ordering overflowed the stack: every backend
/// restarted). Now it is refused by the size limit; and the deepest chain the limit
/// allows is ordered without recursion.
#[test]
fn a_deep_document_does_not_crash_the_server() {
    let db = TestDb::new("deepdoc");
    let mut c = db.dba();
    let started = postmaster_start(&mut c);
    for (n, expected) in [(200_000, "54000"), (100_000, "57014")] {
        // The 100,000 roles are valid: their INSERTs run until the timeout.
        c.batch_execute("SET statement_timeout = '5s'").unwrap();
        match import(&mut c, &chain(n, None, "Deep")) {
            Ok(_) => {}
            Err(e) => assert_eq!(sqlstate(&e), expected, "{n} roles: {e:?}"),
        }
        c.batch_execute("RESET statement_timeout").unwrap();
    }
    // The same connection, a fresh one, and the same postmaster.
    assert_eq!(one_str(&mut c, "SELECT 1::text"), "1");
    let mut fresh = db.dba();
    assert_eq!(one_str(&mut fresh, "SELECT 1::text"), "1");
    assert_eq!(
        postmaster_start(&mut fresh),
        started,
        "the server restarted"
    );
}

#[test]
fn an_oversize_document_is_refused_with_program_limit_exceeded() {
    let db = TestDb::new("oversize");
    let mut c = db.dba();
    let roles: Vec<Value> = (0..=100_000)
        .map(|i| json!({ "name": format!("r{i}"), "is_default": i == 0 }))
        .collect();
    let doc = json!({ "format": FORMAT, "company": { "name": "Big" }, "roles": roles });
    // Bounded: an import of 100,001 roles (without the limit) would take long.
    c.batch_execute("SET statement_timeout = '20s'").unwrap();
    let e = import(&mut c, &doc).expect_err("over the limit");
    let db_error = e.as_db_error().unwrap();
    assert_eq!(db_error.code().code(), "54000", "{}", db_error.message());
    assert!(
        db_error.message().contains("100001 roles")
            && db_error.message().contains("the limit is 100000"),
        "{}",
        db_error.message()
    );
    assert!(db_error
        .hint()
        .is_some_and(|h| h.contains("docs/org-format.md")));
    assert_eq!(companies_named(&mut c, "Big"), 0);
}

/// A long `based_on` chain is valid and expensive to import; `statement_timeout`
/// stops it promptly. Validation walked every role's chain (quadratic) without
/// checking for interrupts: the cancel came only after minutes.
#[test]
fn statement_timeout_cancels_an_expensive_import() {
    let db = TestDb::new("importtimeout");
    let mut c = db.dba();
    let doc = chain(30_000, Some("based_on"), "Chain");
    c.batch_execute("SET statement_timeout = '200ms'").unwrap();
    let start = Instant::now();
    let e = import(&mut c, &doc).expect_err("cancelled");
    let took = start.elapsed();
    assert_eq!(sqlstate(&e), "57014", "{e:?}");
    // Not a benchmark: a cancel that ignores the timeout comes minutes late.
    assert!(
        took < Duration::from_secs(30),
        "cancelled {took:?} after a 200 ms timeout"
    );
    c.batch_execute("RESET statement_timeout").unwrap();
    assert_eq!(companies_named(&mut c, "Chain"), 0, "all or nothing");
}

/// Who may import is decided before the document is validated: someone who may not
/// create companies learns nothing about the document and costs no validation.
#[test]
fn who_may_import_is_checked_before_the_document() {
    let db = TestDb::new("importfirst");
    let mut c = db.dba();
    c.batch_execute(
        "SELECT sharing.create_company('Acme');
         INSERT INTO sharing.users (id, company_id, name) VALUES (1, 1, 'admin');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (1, 1);",
    )
    .unwrap();
    // Invalid (a based_on cycle through 2,000 roles) and sent by a company admin.
    let mut doc = chain(2_000, Some("based_on"), "Initech");
    doc["roles"][1999]["based_on"] = "r0".into();
    c.batch_execute("SET sharing.viewer = '1'").unwrap();
    let e = import(&mut c, &doc).expect_err("refused");
    let db_error = e.as_db_error().unwrap();
    assert_eq!(db_error.code().code(), "42501", "{}", db_error.message());
    assert!(
        db_error.message().contains("$.company"),
        "{}",
        db_error.message()
    );
    // A DBA session gets the validation error.
    c.batch_execute("RESET sharing.viewer").unwrap();
    let e = import(&mut c, &doc).expect_err("a cycle");
    assert_eq!(sqlstate(&e), "22023", "{e:?}");
}

/// With `standard_conforming_strings = off`, `\'` inside a literal is a quote: a name
/// quoted by hand (quotes doubled) could close its literal and run SQL as the
/// importer. Names are bound parameters: they import as text and run nothing.
#[test]
fn a_backslash_quote_in_a_company_name_is_only_text() {
    let db = TestDb::new("backslash");
    let mut c = db.dba();
    c.batch_execute("SELECT sharing.create_company('Acme')")
        .unwrap();
    c.batch_execute("SET standard_conforming_strings = off; SET escape_string_warning = off")
        .unwrap();
    for name in [
        r"Evil\'; DROP TABLE sharing.audit_log; --",
        r"Sly\' OR pg_catalog.set_config($$sharing.pwned$$, $$yes$$, false) IS NULL --",
        r"Odd \\\' '' \ names",
    ] {
        let doc = json!({
            "format": FORMAT,
            "company": { "name": name },
            "roles": [{ "name": "Staff", "is_default": true }],
        });
        let id = import(&mut c, &doc).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let stored: String = c
            .query_one("SELECT name FROM sharing.companies WHERE id = $1", &[&id])
            .unwrap()
            .get(0);
        assert_eq!(stored, name, "the name round-trips exactly");
        let exported: Value = serde_json::from_str(&one_str_param(&mut c, id)).unwrap();
        assert_eq!(exported["company"]["name"], name);
        assert_eq!(
            one_str(
                &mut c,
                "SELECT (to_regclass('sharing.audit_log') IS NOT NULL)::text"
            ),
            "true",
            "{name}: the audit log is still there"
        );
        assert_eq!(
            one_str(
                &mut c,
                "SELECT coalesce(current_setting('sharing.pwned', true), '')"
            ),
            "",
            "{name}: no SQL of the name ran"
        );
    }
}

fn one_str_param(c: &mut Client, company_id: i64) -> String {
    c.query_one("SELECT sharing.export_company($1)::text", &[&company_id])
        .unwrap()
        .get(0)
}
