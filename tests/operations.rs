//! Operating PostgreSQL with pg_sharing: pg_dump / pg_restore into a fresh database,
//! cancel and terminate during protected scans, and a hot standby that follows
//! role changes without restart.

mod common;
use common::*;
use postgres::Client;
use std::process::Command;

fn pg_bin(tool: &str) -> String {
    let major = std::env::var("PG_MAJOR").unwrap_or_else(|_| "15".into());
    format!("/usr/lib/postgresql/{major}/bin/{tool}")
}

fn port() -> String {
    std::env::var("PG_SHARING_TEST_PORT").unwrap()
}

const ORG: &str = "
INSERT INTO sharing.object_types (name) VALUES ('deals');
SELECT sharing.create_company('Acme'); SELECT sharing.create_company('Globex');
INSERT INTO sharing.roles (id, company_id, name, reports_to, based_on) VALUES
  (100, 1, 'Lead', 2, 3), (101, 1, 'Rep', 100, 3);
INSERT INTO sharing.users (id, company_id, name) VALUES (1, 1, 'admin'), (2, 1, 'lead'), (3, 1, 'rep'), (4, 1, 'rep2'), (5, 2, 'partner');
INSERT INTO sharing.user_roles (user_id, role_id) VALUES (1, 1), (2, 100), (3, 101), (4, 101);
INSERT INTO sharing.sharing_rules (company_id, object_type, source_role, target_role) VALUES (1, 'deals', 101, 101);
INSERT INTO sharing.agreements (grantor_company, grantee_company) VALUES (1, 2);
INSERT INTO sharing.agreement_permissions (agreement_id, object_type, action) VALUES (1, 'deals', 'view');
CREATE TABLE deals (id bigint PRIMARY KEY, owner_id bigint, company_id bigint, amount int);
SELECT sharing.protect('deals', 'deals');
INSERT INTO deals SELECT g, 1 + g % 5, CASE WHEN g % 5 = 4 THEN 2 ELSE 1 END, g FROM generate_series(1, 200) g;
";

/// Every decision for every (viewer, owner, action) as one string.
fn decisions(c: &mut Client) -> String {
    one_str(
        c,
        "SELECT string_agg(format('%s/%s/%s=%s', v.id, o.id, a, sharing.can_access('deals', a, o.id, o.company_id, v.id)), ' '
                           ORDER BY v.id, o.id, a)
           FROM sharing.users v, sharing.users o, unnest(ARRAY['create','view','edit','delete']) a",
    )
}

#[test]
fn dump_and_restore_bring_back_configuration_policies_and_decisions() {
    let source = TestDb::new("dumpsrc");
    let target = TestDb::new("dumpdst");
    let file = format!("/tmp/{}.dump", source.name);
    let mut s = source.dba();
    s.batch_execute(ORG).unwrap();
    let before = decisions(&mut s);
    let out = Command::new(pg_bin("pg_dump"))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port(),
            "-U",
            "postgres",
            "-Fc",
            "-f",
            &file,
            &source.name,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The fresh target database has no extension yet: drop it from the template clone.
    target
        .dba()
        .batch_execute("DROP EXTENSION pg_sharing CASCADE; DROP SCHEMA sharing CASCADE;")
        .unwrap();
    let out = Command::new(pg_bin("pg_restore"))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port(),
            "-U",
            "postgres",
            "--exit-on-error",
            "-d",
            &target.name,
            &file,
        ])
        .env("PGOPTIONS", "-c session_replication_role=replica")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "pg_restore: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut t = target.dba();
    assert_eq!(
        decisions(&mut t),
        before,
        "identical decisions after restore"
    );
    assert_eq!(
        one_str(&mut t, "SELECT string_agg(polname, ',' ORDER BY polname) FROM pg_policy WHERE polrelid = 'deals'::regclass"),
        "sharing_delete,sharing_insert,sharing_select,sharing_update"
    );
    assert!(one_bool(
        &mut t,
        "SELECT relforcerowsecurity FROM pg_class WHERE oid = 'deals'::regclass"
    ));
    assert_eq!(
        one_str(
            &mut t,
            "SELECT table_name::text FROM sharing.protected_tables"
        ),
        "deals"
    );
    // Identity sequences continue after the restored ids.
    t.batch_execute("INSERT INTO sharing.roles (company_id, name) VALUES (1, 'After restore')")
        .unwrap();
    // And the restored database enforces: rep 3 sees his own and (rule) his peer's deals.
    let mut target = target;
    let app = target.login("app");
    t.batch_execute(&format!(
        "INSERT INTO sharing.trusted_app_roles VALUES ('{app}'); GRANT SELECT ON deals TO {app};"
    ))
    .unwrap();
    let mut c = target.connect_as(&app);
    c.batch_execute("SET sharing.viewer = '3'").unwrap();
    assert_eq!(
        one_i64(&mut c, "SELECT count(*) FROM deals"),
        80,
        "owners 3 and 4: 2 × 40 deals"
    );
}
