//! `sharing.advise()` (docs/sql-reference.md, "Advice"): each situation is built, its
//! advice appears, the fix makes it go; the demo organization has none; who may ask.

mod common;
use common::*;
use postgres::Client;

/// (severity, code, subject) of every advice row, in the function's order.
fn advice(c: &mut Client) -> Vec<(String, String, String)> {
    c.query("SELECT severity, code, subject FROM sharing.advise()", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

fn codes(c: &mut Client) -> Vec<String> {
    advice(c).into_iter().map(|a| a.1).collect()
}

/// The rows of one code: (severity, subject, detail, hint).
fn rows_of(c: &mut Client, code: &str) -> Vec<(String, String, String, String)> {
    c.query(
        "SELECT severity, subject, detail, hint FROM sharing.advise() WHERE code = $1",
        &[&code],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
    .collect()
}

/// The Insightly org with an owner index: nothing to advise.
fn clean_insightly(db: &mut TestDb) -> (Client, String) {
    let (mut dba, app) = insightly(db);
    dba.batch_execute("CREATE INDEX ON deals (owner_id)")
        .unwrap();
    assert_eq!(advice(&mut dba), vec![], "the fixture is clean");
    (dba, app)
}

#[test]
fn a_protected_table_without_an_owner_index() {
    let mut db = TestDb::new("adv_index");
    let (mut dba, _) = insightly(&mut db);
    let rows = rows_of(&mut dba, "owner_index_missing");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, "warning");
    assert_eq!(rows[0].1, "table public.deals");
    assert!(rows[0]
        .3
        .contains("CREATE INDEX CONCURRENTLY ON public.deals (owner_id)"));
    // An index that does not start with the owner, a partial one, a hash one: no.
    dba.batch_execute(
        "CREATE INDEX ON deals (company_id, owner_id);
         CREATE INDEX ON deals (owner_id) WHERE amount > 0;
         CREATE INDEX ON deals USING hash (owner_id);",
    )
    .unwrap();
    assert_eq!(codes(&mut dba), vec!["owner_index_missing"]);
    dba.batch_execute("CREATE INDEX ON deals (owner_id, company_id)")
        .unwrap();
    assert_eq!(advice(&mut dba), vec![]);
    // Partitions: each leaf is judged; a partitioned index covers them all.
    dba.batch_execute(
        "INSERT INTO sharing.object_types (name) VALUES ('leads');
         CREATE TABLE leads (id bigint, owner_id bigint, company_id bigint) PARTITION BY LIST (company_id);
         CREATE TABLE leads_1 PARTITION OF leads FOR VALUES IN (1);
         SELECT sharing.protect('leads', 'leads');",
    )
    .unwrap();
    let subjects: Vec<String> = advice(&mut dba).into_iter().map(|a| a.2).collect();
    assert_eq!(subjects, vec!["table public.leads_1"]);
    dba.batch_execute("CREATE INDEX ON leads (owner_id)")
        .unwrap();
    assert_eq!(advice(&mut dba), vec![]);
}

#[test]
fn ownership_skew_from_the_statistics() {
    let mut db = TestDb::new("adv_skew");
    let (mut dba, _) = clean_insightly(&mut db);
    // 12,000 deals of user 5 and 3,000 spread over the others.
    dba.batch_execute(
        "INSERT INTO deals SELECT 100 + g, 5, 1, g, 'bulk' FROM generate_series(1, 12000) g;
         INSERT INTO deals SELECT 20000 + g, 1 + g % 7, 1, g, 'bulk' FROM generate_series(1, 3000) g;",
    )
    .unwrap();
    // Not analyzed yet (autovacuum may have been quicker: then the skew shows).
    let before = codes(&mut dba);
    assert!(
        before == vec!["table_not_analyzed"] || before == vec!["ownership_skew"],
        "{before:?}"
    );
    dba.batch_execute("ANALYZE deals").unwrap();
    let rows = rows_of(&mut dba, "ownership_skew");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, "warning");
    assert_eq!(rows[0].1, "table public.deals, owner 5 \"ed\"");
    assert!(
        rows[0].2.contains("sharing.skew_threshold is 10000"),
        "{}",
        rows[0].2
    );
    // The threshold is a setting.
    dba.batch_execute("SET sharing.skew_threshold = 20000")
        .unwrap();
    assert_eq!(advice(&mut dba), vec![]);
    dba.batch_execute("RESET sharing.skew_threshold").unwrap();
    // The fix: spread the records.
    dba.batch_execute(
        "UPDATE deals SET owner_id = 6 WHERE id BETWEEN 101 AND 6100; ANALYZE deals;",
    )
    .unwrap();
    assert_eq!(advice(&mut dba), vec![]);
    // Few owners, none standing out: the average is over the threshold.
    dba.batch_execute(
        "CREATE TABLE big (id bigint, owner_id bigint, company_id bigint);
         CREATE INDEX ON big (owner_id);
         SELECT sharing.protect('big', 'deals');
         INSERT INTO big SELECT g, 1000 + g % 200, 1 FROM generate_series(1, 400000) g;
         ANALYZE big;
         SET sharing.skew_threshold = 1000;",
    )
    .unwrap();
    let rows = rows_of(&mut dba, "ownership_skew");
    assert!(
        // Named one by one from the most common values, or as an average.
        rows.iter().any(|r| r.1 == "table public.big"
            || (r.1.starts_with("table public.big, owner ") && r.1.ends_with("(not a user)"))),
        "{rows:?}"
    );
}

#[test]
fn a_table_never_analyzed_is_named() {
    let mut db = TestDb::new("adv_analyze");
    let (mut dba, _) = clean_insightly(&mut db);
    dba.batch_execute(
        "CREATE TABLE fresh (id bigint, owner_id bigint, company_id bigint) WITH (autovacuum_enabled = false);
         CREATE INDEX ON fresh (owner_id);
         SELECT sharing.protect('fresh', 'deals');
         INSERT INTO fresh SELECT g, 1 + g % 7, 1 FROM generate_series(1, 10001) g;
         SET sharing.skew_threshold = 10000;",
    )
    .unwrap();
    let rows = rows_of(&mut dba, "table_not_analyzed");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "notice");
    assert_eq!(
        rows[0].3,
        "ANALYZE public.fresh (autovacuum does it in time)"
    );
    dba.batch_execute("ANALYZE fresh").unwrap();
    assert_eq!(advice(&mut dba), vec![]);
}

#[test]
fn a_hierarchy_deeper_than_ten_levels() {
    let mut db = TestDb::new("adv_depth");
    let (mut dba, _) = clean_insightly(&mut db);
    // Administrator (1) > Sales Director (10) > East Manager (11) > East Salesperson
    // (13): four levels. Nine more below make 13; each gets a member.
    dba.batch_execute(
        "INSERT INTO sharing.roles (id, company_id, name, reports_to)
         SELECT 100 + n, 1, 'Level ' || (4 + n), CASE WHEN n = 1 THEN 13 ELSE 99 + n END
           FROM generate_series(1, 9) n;
         INSERT INTO sharing.users (id, company_id, name) SELECT 100 + n, 1, 'u' || n FROM generate_series(1, 9) n;
         INSERT INTO sharing.user_roles (user_id, role_id) SELECT 100 + n, 100 + n FROM generate_series(1, 9) n;",
    )
    .unwrap();
    let rows = rows_of(&mut dba, "hierarchy_too_deep");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, "warning");
    assert_eq!(rows[0].1, "role 109 \"Level 13\" (Acme)");
    assert!(rows[0].2.contains("13 levels deep"), "{}", rows[0].2);
    assert!(
        rows[0]
            .2
            .contains("\"Administrator\" > \"Sales Director\" > \"East Sales Manager\""),
        "{}",
        rows[0].2
    );
    // Ten levels are fine: take the three lowest away.
    dba.batch_execute(
        "DELETE FROM sharing.users WHERE id IN (108, 109);
         DELETE FROM sharing.roles WHERE id = 109; DELETE FROM sharing.roles WHERE id = 108;",
    )
    .unwrap();
    assert_eq!(codes(&mut dba), vec!["hierarchy_too_deep"]);
    dba.batch_execute(
        "DELETE FROM sharing.users WHERE id = 107; DELETE FROM sharing.roles WHERE id = 107",
    )
    .unwrap();
    assert_eq!(advice(&mut dba), vec![]);
}

#[test]
fn a_role_nobody_uses() {
    let mut db = TestDb::new("adv_unused");
    let (mut dba, _) = clean_insightly(&mut db);
    dba.batch_execute(
        "INSERT INTO sharing.roles (id, company_id, name, reports_to) VALUES (50, 1, 'Ghost', 10)",
    )
    .unwrap();
    let rows = rows_of(&mut dba, "unused_role");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "info");
    assert_eq!(rows[0].1, "role 50 \"Ghost\" (Acme)");
    assert!(rows[0].3.contains("sharing.delete_role(50)"));
    // A role based on it, a subordinate, or a member: each makes it used.
    dba.batch_execute(
        "INSERT INTO sharing.roles (id, company_id, name, based_on) VALUES (51, 1, 'Child', 50)",
    )
    .unwrap();
    assert_eq!(
        advice(&mut dba),
        vec![(
            "info".into(),
            "unused_role".into(),
            "role 51 \"Child\" (Acme)".into()
        )]
    );
    dba.batch_execute("UPDATE sharing.roles SET based_on = NULL, reports_to = 50 WHERE id = 51")
        .unwrap();
    assert_eq!(codes(&mut dba), vec!["unused_role"]);
    dba.batch_execute("INSERT INTO sharing.user_roles (user_id, role_id) VALUES (7, 51)")
        .unwrap();
    assert_eq!(advice(&mut dba), vec![]);
}

#[test]
fn rules_that_give_nothing() {
    let mut db = TestDb::new("adv_rules");
    let (mut dba, _) = clean_insightly(&mut db);
    // East Salespeople's deals to their manager: the hierarchy gives them already.
    dba.batch_execute(
        "INSERT INTO sharing.sharing_rules (id, company_id, object_type, source_role, target_role, access)
         VALUES (70, 1, 'deals', 13, 11, 'read_write')",
    )
    .unwrap();
    let rows = rows_of(&mut dba, "redundant_rule");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, "notice");
    assert_eq!(rows[0].1, "sharing rule 70 (Acme)");
    assert!(rows[0].2.contains("through the hierarchy"), "{}", rows[0].2);
    // Without hierarchy for deals, the rule gives.
    dba.batch_execute("UPDATE sharing.object_types SET grant_via_hierarchy = false")
        .unwrap();
    assert_eq!(advice(&mut dba), vec![]);
    dba.batch_execute("UPDATE sharing.object_types SET grant_via_hierarchy = true")
        .unwrap();
    assert_eq!(codes(&mut dba), vec!["redundant_rule"]);
    // The fix: share sideways, East with West.
    dba.batch_execute("UPDATE sharing.sharing_rules SET target_role = 14 WHERE id = 70")
        .unwrap();
    assert_eq!(advice(&mut dba), vec![]);
    // A target holding `all` needs no rule either (the Sales Director, based on the
    // standard Manager role).
    dba.batch_execute("UPDATE sharing.sharing_rules SET target_role = 10 WHERE id = 70")
        .unwrap();
    let rows = rows_of(&mut dba, "redundant_rule");
    assert!(rows[0].2.contains("level all"), "{}", rows[0].2);
    dba.batch_execute("UPDATE sharing.sharing_rules SET target_role = 14 WHERE id = 70")
        .unwrap();
    // An org-wide default that opens what the rule shares.
    dba.batch_execute("UPDATE sharing.object_types SET org_wide_default = 'public_read_write'")
        .unwrap();
    let rows = rows_of(&mut dba, "rule_covered_by_default");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, "notice");
    assert_eq!(rows[0].1, "sharing rule 70 (Acme)");
    assert!(rows[0].2.contains("public_read_write"), "{}", rows[0].2);
    // public_read covers a read rule, not a read_write one.
    dba.batch_execute("UPDATE sharing.object_types SET org_wide_default = 'public_read'")
        .unwrap();
    assert_eq!(advice(&mut dba), vec![]);
    dba.batch_execute("UPDATE sharing.sharing_rules SET access = 'read' WHERE id = 70")
        .unwrap();
    assert_eq!(codes(&mut dba), vec!["rule_covered_by_default"]);
    dba.batch_execute("UPDATE sharing.object_types SET org_wide_default = 'private'")
        .unwrap();
    assert_eq!(advice(&mut dba), vec![]);
}

#[test]
fn disabled_users_still_mapped() {
    let mut db = TestDb::new("adv_disabled");
    let (mut dba, _) = clean_insightly(&mut db);
    let login = db.login("will");
    dba.batch_execute(&format!(
        "UPDATE sharing.users SET db_role = '{login}' WHERE id = 7"
    ))
    .unwrap();
    assert_eq!(advice(&mut dba), vec![], "an active mapped user is fine");
    dba.batch_execute("UPDATE sharing.users SET status = 'disabled' WHERE id = 7")
        .unwrap();
    let rows = rows_of(&mut dba, "disabled_user_mapped");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "warning");
    assert_eq!(rows[0].1, "user 7 \"will\"");
    assert!(rows[0].2.contains(&login));
    dba.batch_execute("UPDATE sharing.users SET db_role = NULL WHERE id = 7")
        .unwrap();
    assert_eq!(advice(&mut dba), vec![]);
}

#[test]
fn agreements_without_permissions() {
    let mut db = TestDb::new("adv_agreement");
    let (mut dba, _) = clean_insightly(&mut db);
    dba.batch_execute(
        "INSERT INTO sharing.companies (id, name) VALUES (2, 'Globex');
         INSERT INTO sharing.agreements (id, grantor_company, grantee_company) VALUES (9, 1, 2);",
    )
    .unwrap();
    let rows = rows_of(&mut dba, "agreement_without_permissions");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "notice");
    assert_eq!(rows[0].1, "agreement 9 (Acme to Globex)");
    dba.batch_execute(
        "INSERT INTO sharing.agreement_permissions (agreement_id, object_type, action) VALUES (9, 'deals', 'view')",
    )
    .unwrap();
    assert_eq!(advice(&mut dba), vec![]);
}

#[test]
fn expired_record_shares() {
    let mut db = TestDb::new("adv_shares");
    let (mut dba, _) = insightly(&mut db);
    dba.batch_execute(
        "SELECT sharing.unprotect('deals');
         SELECT sharing.protect('deals', 'deals', id_column => 'id');
         CREATE INDEX ON deals (owner_id);
         INSERT INTO sharing.record_shares (object_type, record_id, user_id, valid_from, valid_until)
         VALUES ('deals', '5', 7, now() - interval '2 days', now() - interval '1 day'),
                ('deals', '6', 7, now() - interval '2 days', now() - interval '1 hour'),
                ('deals', '3', 7, now() - interval '2 days', now() + interval '1 day');",
    )
    .unwrap();
    let rows = rows_of(&mut dba, "expired_record_shares");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, "info");
    assert_eq!(rows[0].1, "record shares of deals (Acme)");
    assert!(rows[0].2.starts_with("2 record shares"), "{}", rows[0].2);
    assert_eq!(rows[0].3, "SELECT sharing.purge_expired_shares()");
    assert_eq!(
        one_i64(&mut dba, "SELECT sharing.purge_expired_shares()"),
        2
    );
    assert_eq!(advice(&mut dba), vec![]);
}

/// Ordered by severity, then code, then subject.
#[test]
fn rows_come_by_severity_then_code() {
    let mut db = TestDb::new("adv_order");
    let (mut dba, _) = insightly(&mut db);
    dba.batch_execute(
        "INSERT INTO sharing.roles (id, company_id, name) VALUES (50, 1, 'Ghost');
         INSERT INTO sharing.sharing_rules (company_id, object_type, source_role, target_role)
         VALUES (1, 'deals', 13, 10);",
    )
    .unwrap();
    assert_eq!(
        codes(&mut dba),
        vec!["owner_index_missing", "redundant_rule", "unused_role"]
    );
}

/// A DBA sees everything; a company's administrators (admin, manage_roles or
/// manage_sharing) their company's advice without the table checks; a salesperson,
/// a login without a viewer: 42501.
#[test]
fn who_may_ask() {
    let mut db = TestDb::new("adv_who");
    let (mut dba, app) = insightly(&mut db);
    dba.batch_execute(
        "INSERT INTO sharing.companies (id, name) VALUES (2, 'Globex');
         INSERT INTO sharing.roles (id, company_id, name) VALUES (50, 1, 'Acme ghost');
         INSERT INTO sharing.roles (id, company_id, name) VALUES (60, 2, 'Globex ghost');
         INSERT INTO sharing.users (id, company_id, name) VALUES (20, 2, 'gil');
         INSERT INTO sharing.agreements (id, grantor_company, grantee_company) VALUES (9, 2, 1);
         INSERT INTO sharing.roles (id, company_id, name, reports_to) VALUES (15, 1, 'Sharing desk', 10);
         INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (15, 'manage_sharing');
         INSERT INTO sharing.users (id, company_id, name) VALUES (9, 1, 'sharon');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (9, 15);",
    )
    .unwrap();
    let all = advice(&mut dba);
    let subjects: Vec<&str> = all.iter().map(|a| a.2.as_str()).collect();
    assert!(subjects.contains(&"table public.deals"), "{all:?}");
    assert!(subjects.contains(&"role 60 \"Globex ghost\" (Globex)"));
    assert!(subjects.contains(&"role 50 \"Acme ghost\" (Acme)"));
    // Acme's administrator (user 1) and the manage_sharing holder (user 9): Acme's
    // advice, the agreement Acme is party to, no table check, nothing of Globex.
    for viewer in [1, 9] {
        let mut c = as_viewer(&db, &app, viewer);
        assert_eq!(
            advice(&mut c),
            vec![
                (
                    "notice".into(),
                    "agreement_without_permissions".into(),
                    "agreement 9 (Globex to Acme)".into()
                ),
                (
                    "info".into(),
                    "unused_role".into(),
                    "role 50 \"Acme ghost\" (Acme)".into()
                ),
            ],
            "viewer {viewer}"
        );
    }
    // A salesperson, the pending guest: 42501.
    let mut rep = as_viewer(&db, &app, 5);
    let msg = expect_error(&mut rep, "SELECT * FROM sharing.advise()", "42501");
    assert!(msg.contains("manage_sharing"), "{msg}");
    let mut guest = as_viewer(&db, &app, 8);
    expect_error(&mut guest, "SELECT * FROM sharing.advise()", "42501");
    // Without a viewer and not a DBA: 42501.
    let mut app_alone = db.connect_as(&app);
    expect_error(&mut app_alone, "SELECT * FROM sharing.advise()", "42501");
    // The helper of the rules refuses the same way.
    expect_error(&mut rep, "SELECT * FROM sharing._advise_rules()", "42501");
    // A skewed owner of Acme shows to Acme's administrator, not Globex's.
    dba.batch_execute(
        "CREATE INDEX ON deals (owner_id);
         INSERT INTO deals SELECT 100 + g, 5, 1, g, 'bulk' FROM generate_series(1, 12000) g;
         ANALYZE deals;
         INSERT INTO sharing.user_roles (user_id, role_id)
         SELECT 20, id FROM sharing.roles WHERE company_id = 2 AND name = 'Administrator';",
    )
    .unwrap();
    let mut acme = as_viewer(&db, &app, 1);
    assert!(codes(&mut acme).contains(&"ownership_skew".to_string()));
    let mut globex = as_viewer(&db, &app, 20);
    assert!(!codes(&mut globex).contains(&"ownership_skew".to_string()));
}

fn psql_file(db: &str, file: &str) {
    let port = std::env::var("PG_SHARING_TEST_PORT").unwrap();
    let out = std::process::Command::new(pg_bin("psql"))
        .args([
            "-X",
            "-q",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "postgres",
            "-d",
            db,
            "-f",
            file,
        ])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "{file}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The demo organization (demo/01_walkthrough.sql, then demo/02_realistic.sql) has
/// nothing to advise.
#[test]
fn the_demo_has_no_advice() {
    let db = TestDb::empty("adv_demo");
    let mut dba = db.dba();
    // The walkthrough creates the global role demo_app.
    dba.batch_execute("DROP ROLE IF EXISTS demo_app").unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    psql_file(&db.name, &format!("{root}/demo/01_walkthrough.sql"));
    psql_file(&db.name, &format!("{root}/demo/02_realistic.sql"));
    let mut dba = db.dba();
    let got = advice(&mut dba);
    let name = db.name.clone();
    drop(db);
    let _ = connect_to("postgres", "postgres").batch_execute("DROP ROLE IF EXISTS demo_app");
    assert_eq!(got, vec![], "in {name}");
}
