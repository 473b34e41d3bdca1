//! docs/org-format.md: export_company / import_company round trips, refusals with JSON paths,
//! all-or-nothing; and the audit log on every table and operation, with tenant
//! isolation.

mod common;
use common::*;
use postgres::Client;
use serde_json::{json, Value};

const ORG: &str = "
INSERT INTO sharing.object_types (name, org_wide_default) VALUES ('deals', 'private'), ('contacts', 'public_read');
SELECT sharing.create_company('Acme');
SELECT sharing.create_company('Globex');
UPDATE sharing.roles SET name = 'Regular user' WHERE company_id = 1 AND name = 'User';
INSERT INTO sharing.roles (company_id, name, description, reports_to, based_on) VALUES
  (1, 'Sales Director', 'top of sales', 1, 2),
  (1, 'Salesperson', 'User plus Insight', 2, 3);
INSERT INTO sharing.role_privileges (role_id, privilege)
  SELECT id, 'app.insight' FROM sharing.roles WHERE name = 'Salesperson';
INSERT INTO sharing.role_permissions (role_id, object_type, action, level)
  SELECT id, 'contacts', 'view', 'all' FROM sharing.roles WHERE name = 'Salesperson';
INSERT INTO sharing.users (id, company_id, name, status, db_role) VALUES
  (7, 1, 'ann', 'active', 'ann_login'), (8, 1, 'bob', 'pending', NULL), (9, 1, 'cy', 'active', NULL);
INSERT INTO sharing.user_roles (user_id, role_id, assigned_at)
  SELECT 7, id, '2026-01-02 03:04:05.123456+00' FROM sharing.roles WHERE name = 'Salesperson';
DELETE FROM sharing.user_roles WHERE user_id = 7 AND role_id = 3;
INSERT INTO sharing.sharing_rules (company_id, object_type, source_role, source_scope, target_role, target_scope, access)
  SELECT 1, 'deals', s.id, 'role_and_subordinates', d.id, 'role', 'read_write'
    FROM sharing.roles s, sharing.roles d WHERE s.name = 'Salesperson' AND d.name = 'Sales Director';
INSERT INTO sharing.agreements (grantor_company, grantee_company, notes) VALUES (1, 2, 'resellers');
INSERT INTO sharing.agreement_permissions (agreement_id, object_type, action) VALUES (1, 'deals', 'view'), (1, 'deals', 'delete');
";

fn export(c: &mut Client, company: &str) -> Value {
    let text = one_str(
        c,
        &format!("SELECT sharing.export_company(id)::text FROM sharing.companies WHERE name = '{company}'"),
    );
    serde_json::from_str(&text).unwrap()
}

fn import(c: &mut Client, doc: &Value) -> Result<i64, postgres::Error> {
    c.query_one(
        "SELECT sharing.import_company($1::text::jsonb)",
        &[&doc.to_string()],
    )
    .map(|r| r.get(0))
}

#[test]
fn export_import_export_is_exact() {
    let a = TestDb::new("roundtripa");
    let b = TestDb::new("roundtripb");
    let mut ca = a.dba();
    ca.batch_execute(ORG).unwrap();
    let doc = export(&mut ca, "Acme");
    assert_eq!(doc["format"], "pg_sharing.company/1");
    assert_eq!(doc["company"]["name"], "Acme");
    let roles: Vec<&str> = doc["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        vec![
            "Administrator",
            "Guest",
            "Manager",
            "Regular user",
            "Sales Director",
            "Salesperson"
        ]
    );
    assert_eq!(
        doc["users"][0]["roles"],
        json!([{"role": "Salesperson", "assigned_at": "2026-01-02T03:04:05.123456Z"}])
    );
    assert_eq!(doc["agreements"][0]["grantee_company"], "Globex");
    assert_eq!(doc["sharing_rules"][0]["access"], "read_write");

    let mut cb = b.dba();
    // A different time zone must not change the document.
    cb.batch_execute("SET TimeZone = 'America/Los_Angeles'")
        .unwrap();
    import(&mut cb, &doc).unwrap();
    assert_eq!(export(&mut cb, "Acme"), doc, "export -> import -> export");
    // The grantee did not exist: it was created with the standard roles.
    assert_eq!(one_i64(&mut cb, "SELECT count(*) FROM sharing.roles r JOIN sharing.companies c ON c.id = r.company_id WHERE c.name = 'Globex'"), 4);
    // Decisions agree too.
    let decisions = "SELECT string_agg(sharing.can_access('deals', a, o.id, 1, v.id)::text, ',' ORDER BY a, o.id, v.id)
                       FROM sharing.users o, sharing.users v, unnest(ARRAY['view','edit','delete']) a
                      WHERE o.company_id = (SELECT id FROM sharing.companies WHERE name = 'Acme')
                        AND v.company_id = o.company_id";
    let in_a = one_str(
        &mut ca,
        &decisions.replace(
            ", 1, v.id",
            ", (SELECT id FROM sharing.companies WHERE name = 'Acme'), v.id",
        ),
    );
    let in_b = one_str(
        &mut cb,
        &decisions.replace(
            ", 1, v.id",
            ", (SELECT id FROM sharing.companies WHERE name = 'Acme'), v.id",
        ),
    );
    assert_eq!(in_a, in_b);
    // Importing the same company twice is refused at $.company.name.
    let e = import(&mut cb, &doc).unwrap_err();
    let db = e.as_db_error().unwrap();
    assert_eq!(db.code().code(), "23505");
    assert!(db.message().contains("$.company.name"), "{}", db.message());
}

/// The refusal's message, after checking its SQLSTATE, its path and that nothing remains.
fn bad(c: &mut Client, doc: &Value, sqlstate: &str, path: &str) -> String {
    let before = dump(c);
    let e = import(c, doc).expect_err("a bad document must be refused");
    let db = e.as_db_error().unwrap();
    assert_eq!(db.code().code(), sqlstate, "{}", db.message());
    assert!(
        db.message().contains(path),
        "expected path {path} in: {}",
        db.message()
    );
    assert_eq!(before, dump(c), "nothing of a refused import remains");
    db.message().to_string()
}

#[test]
fn bad_documents_are_refused_whole_with_their_json_path() {
    let a = TestDb::new("baddocs");
    let mut c = a.dba();
    c.batch_execute(ORG).unwrap();
    let mut doc = export(&mut c, "Acme");
    doc["company"]["name"] = "Initech".into();
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut d = doc.clone();
        f(&mut d);
        d
    };
    bad(
        &mut c,
        &edit(&|d| d["roles"][5]["based_on"] = "Nobody".into()),
        "22023",
        "$.roles[5].based_on",
    );
    bad(
        &mut c,
        &edit(&|d| d["roles"][0]["reports_to"] = "Manager".into()),
        "22023",
        "$.roles[0].reports_to",
    );
    // In the words of the role_permissions_coherent trigger (tests/invariants.rs):
    // both come from perms::incoherence_message.
    let msg = bad(
        &mut c,
        &edit(&|d| d["roles"][2]["permissions"]["deals"]["view"] = "none".into()),
        "22023",
        "$.roles[2].permissions.deals",
    );
    assert!(
        msg.contains("incoherent levels for role") && msg.contains(" but view is \"none\""),
        "{msg}"
    );
    bad(
        &mut c,
        &edit(&|d| d["roles"][2]["permissions"]["deals"]["view"] = "lots".into()),
        "22023",
        "$.roles[2].permissions.deals.view",
    );
    bad(
        &mut c,
        &edit(&|d| d["users"][0]["roles"][0]["role"] = "Ghost".into()),
        "22023",
        "$.users[0].roles[0].role",
    );
    bad(
        &mut c,
        &edit(&|d| d["users"][1]["id"] = 7.into()),
        "22023",
        "$.users[1].id",
    );
    bad(
        &mut c,
        &edit(&|d| d["roles"][0]["privileges"] = json!(["Billing"])),
        "22023",
        "$.roles[0].privileges[0]",
    );
    bad(
        &mut c,
        &edit(&|d| d["format"] = "v0".into()),
        "22023",
        "$.format",
    );
    bad(
        &mut c,
        &edit(&|d| d["roles"][3]["is_default"] = false.into()),
        "22023",
        "$.roles",
    );
    // Conflicts only the database can see are reported at their path too.
    bad(
        &mut c,
        &edit(&|d| d["users"][0]["db_role"] = "taken".into()),
        "23505",
        "$.users",
    );
    c.batch_execute("UPDATE sharing.users SET db_role = 'taken' WHERE id = 9")
        .unwrap();
    let clash = edit(&|d| {
        d["users"][0]["db_role"] = "taken".into();
        d["users"][0]["id"] = 70.into();
        d["users"][1]["id"] = 80.into();
        d["users"][2]["id"] = 90.into();
    });
    bad(&mut c, &clash, "23505", "$.users[0]");
    bad(
        &mut c,
        &edit(&|d| {
            d["users"][0]["id"] = 9.into();
            d["users"][1]["id"] = 80.into();
            d["users"][2]["id"] = 90.into();
            d["users"][0]["db_role"] = Value::Null;
        }),
        "23505",
        "$.users[0]",
    );
    // Valid, with new ids: accepted.
    let ok = edit(&|d| {
        d["users"][0]["id"] = 70.into();
        d["users"][1]["id"] = 80.into();
        d["users"][2]["id"] = 90.into();
        d["users"][0]["db_role"] = Value::Null;
    });
    import(&mut c, &ok).unwrap();
    assert_eq!(one_i64(&mut c, "SELECT count(*) FROM sharing.roles r JOIN sharing.companies c ON c.id = r.company_id WHERE c.name = 'Initech'"), 6);
}

#[test]
fn imports_obey_the_no_escalation_rules() {
    let a = TestDb::new("importviewer");
    let mut c = a.dba();
    c.batch_execute(ORG).unwrap();
    let mut doc = export(&mut c, "Acme");
    doc["company"]["name"] = "Initech".into();
    for (i, id) in [(0, 70), (1, 80), (2, 90)] {
        doc["users"][i]["id"] = id.into();
        doc["users"][i]["db_role"] = Value::Null;
    }
    // A company admin (not a superuser) may not create companies at all.
    c.batch_execute(
        "RESET sharing.viewer;
         INSERT INTO sharing.users (id, company_id, name) VALUES (1, 1, 'admin');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (1, 1);
         SET sharing.viewer = '1';",
    )
    .unwrap();
    bad(&mut c, &doc, "42501", "$.company");
    c.batch_execute("RESET sharing.viewer").unwrap();
}

#[test]
fn audit_log_records_every_change_and_isolates_tenants() {
    let mut db = TestDb::new("audit");
    let app = db.login("app");
    let mut c = db.dba();
    c.batch_execute(ORG).unwrap();
    c.batch_execute(&format!(
        "INSERT INTO sharing.trusted_app_roles VALUES ('{app}');
         INSERT INTO sharing.users (id, company_id, name) VALUES (1, 1, 'acme admin'), (2, 2, 'globex admin');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (1, 1), (2, 4);
         CREATE TABLE t (id int, owner_id bigint, company_id bigint);
         SELECT sharing.protect('t', 'things');
         UPDATE sharing.object_types SET grant_via_hierarchy = false WHERE name = 'things';
         UPDATE sharing.companies SET name = 'Acme Inc' WHERE id = 1;
         UPDATE sharing.users SET name = 'ann b' WHERE id = 7;
         UPDATE sharing.roles SET description = 'changed' WHERE name = 'Salesperson';
         UPDATE sharing.user_roles SET assigned_at = now() WHERE user_id = 7;
         UPDATE sharing.role_permissions SET level = 'owned' WHERE object_type = 'contacts' AND action = 'view' AND level = 'all' AND role_id > 6;
         UPDATE sharing.role_privileges SET privilege = 'app.insight2';
         UPDATE sharing.sharing_rules SET access = 'read';
         UPDATE sharing.agreements SET notes = 'changed';
         UPDATE sharing.agreement_permissions SET action = 'edit' WHERE action = 'delete';
         UPDATE sharing.trusted_app_roles SET db_role = db_role;
         UPDATE sharing.protected_tables SET protected_at = now();
         SET sharing.viewer = '1';
         DELETE FROM sharing.sharing_rules;
         RESET sharing.viewer;
         DELETE FROM sharing.agreement_permissions WHERE action = 'edit';
         DELETE FROM sharing.agreements;
         DELETE FROM sharing.role_privileges;
         DELETE FROM sharing.role_permissions WHERE object_type = 'things';
         DELETE FROM sharing.user_roles WHERE user_id = 8;
         DELETE FROM sharing.users WHERE id = 9;
         SELECT sharing.unprotect('t');
         DELETE FROM sharing.object_types WHERE name = 'things';
         DELETE FROM sharing.roles WHERE name = 'Sales Director';
         DELETE FROM sharing.trusted_app_roles;
         DELETE FROM sharing.companies WHERE id = 2;"
    ))
    .unwrap();
    let seen: Vec<String> = c
        .query(
            "SELECT DISTINCT table_name || ':' || operation FROM sharing.audit_log ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut want = Vec::new();
    for t in [
        "agreement_permissions",
        "agreements",
        "companies",
        "object_types",
        "protected_tables",
        "role_permissions",
        "role_privileges",
        "roles",
        "sharing_rules",
        "trusted_app_roles",
        "user_roles",
        "users",
    ] {
        for op in ["DELETE", "INSERT", "UPDATE"] {
            want.push(format!("{t}:{op}"));
        }
    }
    assert_eq!(seen, want, "every table, every operation");
    // The row images, the role and the viewer are recorded.
    let (role, viewer, old, new): (String, Option<i64>, Option<Value>, Option<Value>) = {
        let r = c
            .query_one(
                "SELECT db_role::text, viewer, old_row::text, new_row::text FROM sharing.audit_log
                  WHERE table_name = 'sharing_rules' AND operation = 'DELETE'",
                &[],
            )
            .unwrap();
        let parse = |s: Option<String>| s.map(|t| serde_json::from_str::<Value>(&t).unwrap());
        (r.get(0), r.get(1), parse(r.get(2)), parse(r.get(3)))
    };
    assert_eq!((role.as_str(), viewer), ("postgres", Some(1)));
    assert_eq!(old.unwrap()["access"], "read");
    assert!(new.is_none());
    let (old, new): (String, String) = {
        let r = c
            .query_one(
                "SELECT old_row->>'name', new_row->>'name' FROM sharing.audit_log
                  WHERE table_name = 'companies' AND operation = 'UPDATE'",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((old.as_str(), new.as_str()), ("Acme", "Acme Inc"));

    // Tenant isolation: Acme's admin reads only Acme's entries; no viewer reads none.
    c.batch_execute(&format!(
        "INSERT INTO sharing.trusted_app_roles VALUES ('{app}')"
    ))
    .unwrap();
    let mut acme = db.connect_as(&app);
    // A trusted application role sets its viewer per transaction (sharing.viewer_scope).
    acme.batch_execute("BEGIN; SET LOCAL sharing.viewer = '1'")
        .unwrap();
    let companies: Vec<Option<i64>> = acme
        .query("SELECT DISTINCT company_id FROM sharing.audit_log", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(companies, vec![Some(1)]);
    assert!(one_i64(&mut acme, "SELECT count(*) FROM sharing.audit_log") > 10);
    let mut nobody = db.connect_as(&app);
    assert_eq!(
        one_i64(&mut nobody, "SELECT count(*) FROM sharing.audit_log"),
        0
    );
    acme.batch_execute("COMMIT").unwrap();
    // Application users cannot rewrite history, even with blanket table grants: the
    // table is internal to the extension (sql/tenancy.sql refuses every change).
    expect_error(&mut acme, "DELETE FROM sharing.audit_log", "42501");
    expect_error(
        &mut acme,
        "UPDATE sharing.audit_log SET viewer = 0",
        "42501",
    );
    expect_error(&mut acme, "INSERT INTO sharing.audit_log (db_role, table_name, operation) VALUES ('x', 'y', 'INSERT')", "42501");
}

#[test]
fn explain_access_gives_reasons() {
    let db = TestDb::new("explain");
    let mut c = db.dba();
    c.batch_execute(ORG).unwrap();
    c.batch_execute(
        "INSERT INTO sharing.users (id, company_id, name) VALUES (1, 1, 'dora'), (2, 2, 'gus');
         INSERT INTO sharing.user_roles (user_id, role_id)
           SELECT 1, id FROM sharing.roles WHERE name = 'Sales Director';
         UPDATE sharing.roles SET based_on = 3 WHERE name = 'Sales Director';",
    )
    .unwrap();
    let explain = |c: &mut Client, args: &str| -> Value {
        serde_json::from_str(&one_str(
            c,
            &format!("SELECT sharing.explain_access({args})::text"),
        ))
        .unwrap()
    };
    // Hierarchy: the path by role names.
    let e = explain(&mut c, "'deals', 'view', 7, 1, 1");
    assert_eq!(
        (e["allowed"].clone(), e["reason"].clone()),
        (json!(true), json!("sharing_rule"))
    );
    assert_eq!(e["detail"]["access"], "read_write");
    let e = explain(&mut c, "'deals', 'delete', 7, 1, 1");
    assert_eq!(e["reason"], "not_reached", "{e}");
    assert_eq!(e["allowed"], false);
    let e = explain(&mut c, "'contacts', 'view', 7, 1, 9");
    assert_eq!(e["reason"], "org_wide_default");
    let e = explain(&mut c, "'deals', 'view', 7, 1, 2");
    assert_eq!(e["reason"], "agreement");
    assert_eq!(e["detail"]["agreement_id"], 1);
    let e = explain(&mut c, "'deals', 'edit', 7, 1, 2");
    assert_eq!(
        (e["allowed"].clone(), e["reason"].clone()),
        (json!(false), json!("no_agreement"))
    );
    let e = explain(&mut c, "'deals', 'view', 7, 1, 8");
    assert_eq!(e["reason"], "inactive_viewer");
    c.batch_execute(
        "DELETE FROM sharing.sharing_rules;
         UPDATE sharing.roles SET reports_to = (SELECT id FROM sharing.roles WHERE name = 'Sales Director')
          WHERE name = 'Salesperson';",
    )
    .unwrap();
    let e = explain(&mut c, "'deals', 'view', 7, 1, 1");
    assert_eq!(e["reason"], "hierarchy", "{e}");
    assert_eq!(
        e["detail"]["path"],
        json!(["Salesperson", "Sales Director"]),
        "{e}"
    );
    assert_eq!(e["detail"]["viewer_role"], "Sales Director");
    let from: Vec<&str> = e["level_from_roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["role"].as_str().unwrap())
        .collect();
    assert_eq!(from, vec!["Regular user", "Sales Director"], "{e}");
    // And it always agrees with can_access.
    let disagreements = one_i64(
        &mut c,
        "SELECT count(*) FROM sharing.users o, sharing.users v, sharing.companies co,
                unnest(ARRAY['create','view','edit','delete']) a, unnest(ARRAY['deals','contacts']) t
          WHERE (sharing.explain_access(t, a, o.id, co.id, v.id)->>'allowed')::bool
                IS DISTINCT FROM sharing.can_access(t, a, o.id, co.id, v.id)",
    );
    assert_eq!(disagreements, 0);
    expect_error(
        &mut c,
        "SELECT sharing.explain_access('deals', 'view', 7, 1, NULL)",
        "22004",
    );
}

#[test]
fn the_documented_example_imports_and_round_trips() {
    let md = include_str!("../docs/org-format.md");
    let start = md
        .find("```json\n")
        .expect("docs/org-format.md has a JSON example")
        + 8;
    let end = start + md[start..].find("```").unwrap();
    let example: Value = serde_json::from_str(&md[start..end]).expect("the example is valid JSON");
    let db = TestDb::new("docexample");
    let mut c = db.dba();
    import(&mut c, &example).unwrap();
    assert_eq!(
        export(&mut c, "Acme"),
        example,
        "the example is exactly what export writes"
    );
}

/// Shares of every kind on a protected table of company Acme (ORG): a user share
/// with a note and a grantor, a role share with its subordinates, an expired one,
/// one not yet valid, one from -infinity to infinity.
const SHARES: &str = "
CREATE TABLE deals (id bigint PRIMARY KEY, owner_id bigint, company_id bigint, amount int);
SELECT sharing.protect('deals', 'deals');
INSERT INTO deals VALUES (1, 9, 1, 10), (2, 7, 1, 20), (3, 9, 1, 30);
INSERT INTO sharing.record_shares (object_type, record_id, user_id, access, note, granted_by)
  VALUES ('deals', '1', 7, 'read', 'for the review', 9);
INSERT INTO sharing.record_shares (object_type, record_id, role_id, scope, access, valid_from, valid_until)
  SELECT 'deals', '3', id, 'role_and_subordinates', 'read_write', '2026-01-01 00:00+00', '2999-01-01 00:00+00'
    FROM sharing.roles WHERE name = 'Sales Director';
INSERT INTO sharing.record_shares (object_type, record_id, user_id, access, valid_from, valid_until) VALUES
  ('deals', '3', 7, 'read', '2020-01-01 00:00:00.5+00', '2020-02-01 00:00+00'),
  ('deals', '2', 9, 'read_write', '2999-01-01 00:00+00', NULL),
  ('deals', '1', 9, 'read', '-infinity', 'infinity');
";

/// The shares of company `name`, by names and user ids, timestamps in UTC.
fn shares_of(c: &mut Client, name: &str) -> Vec<String> {
    c.batch_execute("SET TimeZone = 'UTC'").unwrap();
    let rows = c
        .query(
            "SELECT format('%s %s user=%s role=%s scope=%s %s %s..%s note=%s by=%s', s.object_type, s.record_id,
                           s.user_id, r.name, s.scope, s.access, s.valid_from, s.valid_until, s.note, s.granted_by)
               FROM sharing.record_shares s
               JOIN sharing.companies c ON c.id = s.company_id
               LEFT JOIN sharing.roles r ON r.id = s.role_id
              WHERE c.name = $1 ORDER BY 1",
            &[&name],
        )
        .unwrap();
    c.batch_execute("RESET TimeZone").unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

/// who_can_access for every record of deals and every action, as text.
fn who_on_deals(c: &mut Client) -> String {
    one_str(
        c,
        "SELECT string_agg(format('%s/%s:%s', d.id, a, (SELECT string_agg(w.user_id::text || '=' || w.reason, ',' ORDER BY w.user_id)
                                                       FROM sharing.who_can_access('deals', d.id, a) w)), ' ' ORDER BY d.id, a)
           FROM deals d, unnest(ARRAY['view', 'edit', 'delete']) a",
    )
}

#[test]
fn record_shares_export_and_import() {
    let a = TestDb::new("sharesa");
    let b = TestDb::new("sharesb");
    let mut ca = a.dba();
    ca.batch_execute(ORG).unwrap();
    ca.batch_execute(SHARES).unwrap();
    let doc = export(&mut ca, "Acme");
    let shares = doc["record_shares"].as_array().expect("record_shares");
    assert_eq!(shares.len(), 5, "{shares:?}");
    assert_eq!(
        shares[0],
        json!({"object_type": "deals", "record_id": "1", "user": 7, "role": null, "scope": null,
               "access": "read", "valid_from": shares[0]["valid_from"], "valid_until": null,
               "note": "for the review", "granted_by": 9})
    );
    assert_eq!(shares[1]["valid_from"], "-infinity");
    assert_eq!(shares[1]["valid_until"], "infinity");
    let role_share = shares
        .iter()
        .find(|s| s["role"] == "Sales Director")
        .expect("the role share names its role");
    assert_eq!(role_share["scope"], "role_and_subordinates");
    assert_eq!(role_share["valid_from"], "2026-01-01T00:00:00.000000Z");
    assert_eq!(role_share["valid_until"], "2999-01-01T00:00:00.000000Z");
    assert!(shares
        .iter()
        .any(|s| s["valid_from"] == "2020-01-01T00:00:00.500000Z"
            && s["valid_until"] == "2020-02-01T00:00:00.000000Z"));
    // The shares' object type is listed.
    assert!(doc["object_types"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == "deals"));

    // A fresh database with the same (empty) table: the DBA's import judges each
    // share through the table as any DBA INSERT.
    let mut cb = b.dba();
    cb.batch_execute("SET TimeZone = 'Asia/Kolkata'").unwrap();
    cb.batch_execute(
        "CREATE TABLE deals (id bigint PRIMARY KEY, owner_id bigint, company_id bigint, amount int);
         SELECT sharing.protect('deals', 'deals');",
    )
    .unwrap();
    let acme = import(&mut cb, &doc).unwrap();
    assert_eq!(export(&mut cb, "Acme"), doc, "export -> import -> export");
    assert_eq!(shares_of(&mut ca, "Acme"), shares_of(&mut cb, "Acme"));
    // With the same records, the same users may do the same things.
    cb.batch_execute(&format!(
        "INSERT INTO deals VALUES (1, 9, {acme}, 10), (2, 7, {acme}, 20), (3, 9, {acme}, 30)"
    ))
    .unwrap();
    assert_eq!(who_on_deals(&mut ca), who_on_deals(&mut cb));
    let who = who_on_deals(&mut cb);
    assert!(
        who.contains("7=record_share"),
        "the imported share counts: {who}"
    );

    // A share is judged by the record_shares trigger: record 1 belongs to Acme, so
    // another company's document sharing it is refused whole, at the share's path.
    let mut other = doc.clone();
    other["company"]["name"] = "Initech".into();
    for u in other["users"].as_array_mut().unwrap() {
        u["id"] = (u["id"].as_i64().unwrap() * 10).into();
        u["db_role"] = Value::Null;
    }
    for s in other["record_shares"].as_array_mut().unwrap() {
        if let Some(u) = s["user"].as_i64() {
            s["user"] = (u * 10).into();
        }
    }
    let before = shares_of(&mut cb, "Acme").len();
    let message = bad(&mut cb, &other, "23514", "$.record_shares[0]");
    assert!(message.contains("belongs to company"), "{message}");
    assert_eq!(shares_of(&mut cb, "Acme").len(), before);
    assert_eq!(
        one_i64(
            &mut cb,
            "SELECT count(*) FROM sharing.companies WHERE name = 'Initech'"
        ),
        0
    );
    // A superuser viewer's import is judged as that viewer's INSERTs: a share of a
    // record that does not exist is refused (P0002), as it would be by hand.
    let mut missing = other.clone();
    missing["company"]["name"] = "Umbrella".into();
    for s in missing["record_shares"].as_array_mut().unwrap() {
        s["record_id"] = "404".into();
    }
    cb.batch_execute(&format!(
        "INSERT INTO sharing.users (id, company_id, name, is_superuser) VALUES (100, {acme}, 'root', true);
         SET sharing.viewer = '100';"
    ))
    .unwrap();
    let message = bad(&mut cb, &missing, "P0002", "$.record_shares[0]");
    assert!(message.contains("404"), "{message}");
    cb.batch_execute("RESET sharing.viewer").unwrap();
    // Without the shares the same document imports (a document without
    // record_shares is read as before).
    other.as_object_mut().unwrap().remove("record_shares");
    import(&mut cb, &other).unwrap();
    assert!(export(&mut cb, "Initech").get("record_shares").is_none());
}
