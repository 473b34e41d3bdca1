//! Seed parity for roles (docs/concepts.md, "Roles"; SPEC §11): what the products
//! of the seeds do with roles, each test named after the product it comes from.
//! Fixture: the Insightly org of tests/common (company 1 "Acme"; standard roles 1
//! Administrator, 2 Manager, 3 User; 10 Sales Director > 11/12 East/West Sales
//! Manager > 13/14 East/West Salesperson; eve = 3 holds 11, ed = 5 holds 13).

mod common;
use common::*;
use postgres::Client;
use std::sync::{Arc, Mutex};

/// The Insightly org with `privileges` granted to roles and a login mapped to each
/// of `users` (the acting viewer of that login's sessions).
fn org(db: &mut TestDb, privileges: &[(i64, &str)], users: &[i64]) -> (Client, Vec<String>) {
    let (mut dba, _app) = insightly(db);
    // The fixture gives ids by hand: new companies and roles count from further on.
    dba.batch_execute(
        "SELECT setval('sharing.companies_id_seq', 100), setval('sharing.roles_id_seq', 1000)",
    )
    .unwrap();
    for (role, p) in privileges {
        dba.batch_execute(&format!(
            "INSERT INTO sharing.role_privileges (role_id, privilege) VALUES ({role}, '{p}')"
        ))
        .unwrap();
    }
    let logins = users
        .iter()
        .map(|u| {
            let login = db.login(&format!("u{u}"));
            dba.batch_execute(&format!(
                "UPDATE sharing.users SET db_role = '{login}' WHERE id = {u}"
            ))
            .unwrap();
            login
        })
        .collect();
    (dba, logins)
}

/// Notices and warnings as they arrive: (severity, message).
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A connection as `role` that records every notice and warning.
fn with_notices(db: &TestDb, role: &str) -> (Client, Seen) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let mut cfg: postgres::Config = format!(
        "host=127.0.0.1 port={} user={role} dbname={}",
        std::env::var("PG_SHARING_TEST_PORT").unwrap(),
        db.name
    )
    .parse()
    .unwrap();
    cfg.notice_callback(move |n| {
        sink.lock()
            .unwrap()
            .push((n.severity().to_string(), n.message().to_string()))
    });
    (cfg.connect(postgres::NoTls).unwrap(), seen)
}

fn export(c: &mut Client, company: i64) -> serde_json::Value {
    serde_json::from_str(&one_str(
        c,
        &format!("SELECT sharing.export_company({company})::text"),
    ))
    .unwrap()
}

fn import(c: &mut Client, doc: &serde_json::Value) -> i64 {
    c.query_one(
        "SELECT sharing.import_company($1::text::jsonb)",
        &[&doc.to_string()],
    )
    .unwrap()
    .get(0)
}

/// A role's levels on one type, as `action=level` in action order.
fn levels(c: &mut Client, role: i64, object_type: &str) -> String {
    one_str(
        c,
        &format!(
            "SELECT coalesce(string_agg(action || '=' || level, ' ' ORDER BY
                 array_position(ARRAY['create', 'view', 'edit', 'delete'], action)), '')
               FROM sharing.role_permissions WHERE role_id = {role} AND object_type = '{object_type}'"
        ),
    )
}

fn privileges(c: &mut Client, role: i64) -> String {
    one_str(
        c,
        &format!(
            "SELECT coalesce(string_agg(privilege, ' ' ORDER BY privilege), '')
               FROM sharing.role_privileges WHERE role_id = {role}"
        ),
    )
}

fn roles_of(c: &mut Client, user: i64) -> Vec<i64> {
    ids(
        c,
        &format!("SELECT role_id FROM sharing.user_roles WHERE user_id = {user} ORDER BY role_id"),
    )
}

/// Administrate ("use Toggle All for faster configuration") and Bitrix24: one call
/// sets create, view, edit and delete, for one type or every type, judged by the
/// triggers like the equivalent DML.
#[test]
fn administrate_and_bitrix24_toggle_all() {
    let mut db = TestDb::new("pr_toggle");
    let (mut dba, logins) = org(&mut db, &[(11, "manage_roles")], &[3]);
    dba.batch_execute("INSERT INTO sharing.object_types (name) VALUES ('contacts')")
        .unwrap();
    dba.batch_execute("SELECT sharing.set_role_levels(14, 'deals', 'all')")
        .unwrap();
    assert_eq!(
        levels(&mut dba, 14, "deals"),
        "create=all view=all edit=all delete=all"
    );
    // Coherent by construction: from all everywhere down to owned in one statement
    // (lowering view first, by hand, would be refused).
    dba.batch_execute("SELECT sharing.set_role_levels(14, NULL, 'owned')")
        .unwrap();
    for t in ["deals", "contacts"] {
        assert_eq!(
            levels(&mut dba, 14, t),
            "create=owned view=owned edit=owned delete=owned"
        );
    }
    dba.batch_execute("SELECT sharing.set_role_levels(14, 'contacts', 'none')")
        .unwrap();
    assert_eq!(
        levels(&mut dba, 14, "contacts"),
        "create=none view=none edit=none delete=none"
    );
    assert_eq!(
        levels(&mut dba, 14, "deals"),
        "create=owned view=owned edit=owned delete=owned"
    );
    // Bad input names the value; nothing is written.
    for (sql, state, word) in [
        (
            "SELECT sharing.set_role_levels(987654, 'deals', 'all')",
            "22023",
            "987654",
        ),
        (
            "SELECT sharing.set_role_levels(14, 'nope', 'all')",
            "22023",
            "\"nope\"",
        ),
        (
            "SELECT sharing.set_role_levels(14, 'deals', 'most')",
            "22023",
            "'most'",
        ),
        (
            "SELECT sharing.set_role_levels(14, 'deals', NULL)",
            "22023",
            "NULL",
        ),
        (
            "SELECT sharing.set_role_levels(NULL, 'deals', 'all')",
            "22023",
            "NULL",
        ),
    ] {
        let msg = refused_unchanged(&mut dba, sql, state);
        assert!(msg.contains(word), "{sql}: {msg}");
    }
    // A delegated administrator (eve, manage_roles, owned on deals) is bound by the
    // no-escalation rules: she cannot hand out `all`, can set what she holds on a
    // role below her, and does not see other companies' roles.
    let other = one_i64(&mut dba, "SELECT sharing.create_company('Other')");
    let other_user = standard_roles(&mut dba, other).2;
    let mut eve = db.connect_as(&logins[0]);
    let msg = refused_unchanged(
        &mut eve,
        "SELECT sharing.set_role_levels(13, 'deals', 'all')",
        "42501",
    );
    assert!(msg.contains("all"), "{msg}");
    eve.batch_execute("SELECT sharing.set_role_levels(13, 'deals', 'owned')")
        .unwrap();
    assert_eq!(
        levels(&mut dba, 13, "deals"),
        "create=owned view=owned edit=owned delete=owned"
    );
    let msg = refused_unchanged(
        &mut eve,
        &format!("SELECT sharing.set_role_levels({other_user}, 'deals', 'none')"),
        "22023",
    );
    assert!(msg.contains(&other_user.to_string()), "{msg}");
    // Without manage_roles: refused by the trigger.
    dba.batch_execute("DELETE FROM sharing.role_privileges WHERE role_id = 11")
        .unwrap();
    refused_unchanged(
        &mut eve,
        "SELECT sharing.set_role_levels(13, 'deals', 'none')",
        "42501",
    );
}

/// Intum: privileges are entered "as a comma- or space-separated list of names";
/// the list becomes the role's exact set, through role_privileges and its guards.
#[test]
fn intum_privileges_as_a_list() {
    let mut db = TestDb::new("pr_privlist");
    let (mut dba, logins) = org(&mut db, &[(11, "manage_roles")], &[3]);
    dba.batch_execute("SELECT sharing.set_role_privileges(14, 'reports, app.crm  export,reports')")
        .unwrap();
    assert_eq!(privileges(&mut dba, 14), "app.crm export reports");
    dba.batch_execute("SELECT sharing.set_role_privileges(14, E'export\\tapp.x,')")
        .unwrap();
    assert_eq!(privileges(&mut dba, 14), "app.x export");
    dba.batch_execute("SELECT sharing.set_role_privileges(14, '')")
        .unwrap();
    assert_eq!(privileges(&mut dba, 14), "");
    // Names are validated like role_privileges: a custom name without a dot gets the
    // NOTICE, a near-system name is refused (and nothing changes).
    let (mut c, seen) = with_notices(&db, "postgres");
    c.batch_execute("SELECT sharing.set_role_privileges(14, 'insight reports')")
        .unwrap();
    assert_eq!(privileges(&mut dba, 14), "insight reports");
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|(s, m)| s == "NOTICE" && m.contains("\"insight\"") && m.contains("dot")),
        "{seen:?}"
    );
    for (sql, word) in [
        (
            "SELECT sharing.set_role_privileges(14, 'app.crm Billing')",
            "\"Billing\"",
        ),
        ("SELECT sharing.set_role_privileges(14, NULL)", "NULL"),
        (
            "SELECT sharing.set_role_privileges(987654, 'reports')",
            "987654",
        ),
    ] {
        let msg = refused_unchanged(&mut dba, sql, "22023");
        assert!(msg.contains(word), "{sql}: {msg}");
    }
    // eve (manage_roles only) cannot hand out a privilege she lacks; she can
    // remove them and give what she holds.
    dba.batch_execute("SELECT sharing.set_role_privileges(13, 'app.crm')")
        .unwrap();
    dba.batch_execute(
        "INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (11, 'app.crm')",
    )
    .unwrap();
    let mut eve = db.connect_as(&logins[0]);
    let msg = refused_unchanged(
        &mut eve,
        "SELECT sharing.set_role_privileges(13, 'app.crm billing')",
        "42501",
    );
    assert!(msg.contains("billing"), "{msg}");
    eve.batch_execute("SELECT sharing.set_role_privileges(13, '')")
        .unwrap();
    assert_eq!(privileges(&mut dba, 13), "");
    eve.batch_execute("SELECT sharing.set_role_privileges(13, 'app.crm,app.crm')")
        .unwrap();
    assert_eq!(privileges(&mut dba, 13), "app.crm");
}

/// Bitrix24: "the Head role cannot be duplicated". `is_copyable = false` makes
/// copy_role refuse a role; manage_roles sets it; export and import carry it.
#[test]
fn bitrix24_roles_that_cannot_be_copied() {
    let mut db = TestDb::new("pr_copyable");
    let (mut dba, logins) = org(&mut db, &[(11, "manage_roles")], &[3, 5]);
    assert!(one_bool(
        &mut dba,
        "SELECT bool_and(is_copyable) FROM sharing.roles"
    ));
    dba.batch_execute("UPDATE sharing.roles SET is_copyable = false WHERE id = 10")
        .unwrap();
    let msg = refused_unchanged(
        &mut dba,
        "SELECT sharing.copy_role(10, 'Director copy')",
        "55000",
    );
    assert!(
        msg.contains("\"Sales Director\"") && msg.contains("is_copyable"),
        "{msg}"
    );
    let copy = one_i64(&mut dba, "SELECT sharing.copy_role(12, 'West copy')");
    assert!(one_bool(
        &mut dba,
        &format!("SELECT is_copyable FROM sharing.roles WHERE id = {copy}")
    ));
    // manage_roles (no admin) sets and clears it on a role below; without
    // manage_roles it is refused.
    let mut eve = db.connect_as(&logins[0]);
    eve.batch_execute("UPDATE sharing.roles SET is_copyable = false WHERE id = 13")
        .unwrap();
    refused_unchanged(&mut eve, "SELECT sharing.copy_role(13, 'Again')", "55000");
    eve.batch_execute("UPDATE sharing.roles SET is_copyable = true WHERE id = 13")
        .unwrap();
    let mut ed = db.connect_as(&logins[1]);
    refused_unchanged(
        &mut ed,
        "UPDATE sharing.roles SET is_copyable = false WHERE id = 13",
        "42501",
    );
    // Export writes it for the roles that cannot be copied; import restores it.
    let doc = export(&mut dba, 1);
    let roles = doc["roles"].as_array().unwrap();
    for r in roles {
        let expected = if r["name"] == "Sales Director" {
            Some(serde_json::json!(false))
        } else {
            None
        };
        assert_eq!(r.get("is_copyable").cloned(), expected, "{r}");
    }
    let mut copy_doc = doc.clone();
    copy_doc["company"]["name"] = "Acme copy".into();
    copy_doc["users"] = serde_json::json!([]);
    let imported = import(&mut dba, &copy_doc);
    assert_eq!(
        one_str(
            &mut dba,
            &format!(
                "SELECT string_agg(name, ',' ORDER BY name) FROM sharing.roles
                  WHERE company_id = {imported} AND NOT is_copyable"
            )
        ),
        "Sales Director"
    );
    let again = export(&mut dba, imported);
    assert_eq!(again["roles"], copy_doc["roles"]);
}

/// Administrate: "Each User must be assigned at least one Role ... Before deleting a
/// Role, ensure affected Users have another Role." Deleting a role whose members hold
/// other roles is allowed; only members left with no role are moved.
#[test]
fn administrate_deleting_a_role_whose_members_hold_other_roles() {
    let mut db = TestDb::new("pr_delete");
    let (mut dba, _) = org(&mut db, &[], &[]);
    dba.batch_execute(
        "INSERT INTO sharing.roles (id, company_id, name, reports_to) VALUES
           (100, 1, 'Temp', 2), (101, 1, 'Project', 2);
         INSERT INTO sharing.users (id, company_id, name) VALUES (20, 1, 'tia'), (21, 1, 'tom'), (22, 1, 'pat');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES
           (5, 100), (7, 100), (20, 100), (21, 100), (5, 101), (22, 101);
         DELETE FROM sharing.user_roles WHERE user_id IN (20, 21, 22) AND role_id = 3;",
    )
    .unwrap();
    // Without reassign_to: ed (5) and will (7) keep their other roles and are not
    // moved; tia and tom, left with none, get the default role (User, 3).
    dba.batch_execute("SELECT sharing.delete_role(100)")
        .unwrap();
    assert_eq!(
        one_i64(
            &mut dba,
            "SELECT count(*) FROM sharing.roles WHERE id = 100"
        ),
        0
    );
    assert_eq!(roles_of(&mut dba, 5), vec![13, 101]);
    assert_eq!(roles_of(&mut dba, 7), vec![14]);
    assert_eq!(roles_of(&mut dba, 20), vec![3]);
    assert_eq!(roles_of(&mut dba, 21), vec![3]);
    // A protected role is still refused, whatever its members hold.
    dba.batch_execute("UPDATE sharing.roles SET is_protected = true WHERE id = 101")
        .unwrap();
    let msg = refused_unchanged(&mut dba, "SELECT sharing.delete_role(101, 12)", "42501");
    assert!(
        msg.contains("\"Project\"") && msg.contains("protected"),
        "{msg}"
    );
    refused_unchanged(&mut dba, "SELECT sharing.delete_role(3, 2)", "42501");
    dba.batch_execute("UPDATE sharing.roles SET is_protected = false WHERE id = 101")
        .unwrap();
    // With reassign_to: only pat (22), left with no role, goes to West Sales Manager.
    dba.batch_execute("SELECT sharing.delete_role(101, 12)")
        .unwrap();
    assert_eq!(roles_of(&mut dba, 5), vec![13]);
    assert_eq!(roles_of(&mut dba, 22), vec![12]);
    // Bad heirs are still refused.
    dba.batch_execute(
        "INSERT INTO sharing.roles (id, company_id, name, reports_to) VALUES (102, 1, 'Last', 2);
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (22, 102);",
    )
    .unwrap();
    refused_unchanged(&mut dba, "SELECT sharing.delete_role(102, 102)", "22023");
    refused_unchanged(&mut dba, "SELECT sharing.delete_role(102, 987654)", "22023");
    refused_unchanged(&mut dba, "SELECT sharing.delete_role(987654)", "22023");
}

/// Administrate's Permissions Comparison: `role_privilege_matrix` beside
/// `role_permission_matrix`, with inherited privileges marked, and only the
/// viewer's company for a delegated administrator.
#[test]
fn administrate_comparing_privileges() {
    let mut db = TestDb::new("pr_privmatrix");
    let (mut dba, logins) = org(&mut db, &[(11, "manage_roles")], &[3]);
    dba.batch_execute(
        "INSERT INTO sharing.role_privileges (role_id, privilege) VALUES
           (3, 'export'), (12, 'app.west'), (12, 'export');
         UPDATE sharing.roles SET based_on = 12 WHERE id = 14;",
    )
    .unwrap();
    let rows = |c: &mut Client, role: i64| -> Vec<String> {
        c.query(
            &format!(
                "SELECT company || '/' || role || '/' || privilege || '/' || inherited
                   FROM sharing.role_privilege_matrix WHERE role_id = {role} ORDER BY privilege"
            ),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
    };
    assert_eq!(
        rows(&mut dba, 12),
        vec![
            "Acme/West Sales Manager/app.west/false",
            "Acme/West Sales Manager/export/false"
        ]
    );
    // 14 is based on 12, which is based on 3: both inherited, at any depth.
    assert_eq!(
        rows(&mut dba, 14),
        vec![
            "Acme/West Salesperson/app.west/true",
            "Acme/West Salesperson/export/true"
        ]
    );
    assert_eq!(rows(&mut dba, 3), vec!["Acme/User/export/false"]);
    // The admin role gives every system privilege, none of them its own row.
    assert_eq!(
        one_str(
            &mut dba,
            "SELECT count(*) || '/' || bool_and(inherited) FROM sharing.role_privilege_matrix WHERE role_id = 1"
        ),
        "10/true"
    );
    // Tenant isolation: eve sees her company's rows only.
    let other = one_i64(&mut dba, "SELECT sharing.create_company('Other')");
    assert!(
        one_i64(
            &mut dba,
            &format!(
                "SELECT count(*) FROM sharing.role_privilege_matrix WHERE company_id = {other}"
            )
        ) > 0
    );
    let mut eve = db.connect_as(&logins[0]);
    assert_eq!(
        one_i64(
            &mut eve,
            "SELECT count(*) FROM sharing.role_privilege_matrix WHERE company_id <> 1"
        ),
        0
    );
    assert_eq!(
        rows(&mut eve, 14),
        vec![
            "Acme/West Salesperson/app.west/true",
            "Acme/West Salesperson/export/true"
        ]
    );
}

/// An import that meets existing object types with other settings keeps them (they
/// are global) and says so, one WARNING per setting.
#[test]
fn imports_warn_about_object_types_with_other_settings() {
    let mut db = TestDb::new("pr_importtypes");
    let (mut dba, _) = org(&mut db, &[], &[]);
    let mut doc = export(&mut dba, 1);
    doc["users"] = serde_json::json!([]);
    doc["company"]["name"] = "Same types".into();
    let (mut c, seen) = with_notices(&db, "postgres");
    import(&mut c, &doc);
    assert!(
        !seen.lock().unwrap().iter().any(|(s, _)| s == "WARNING"),
        "{:?}",
        seen.lock().unwrap()
    );
    doc["company"]["name"] = "Other types".into();
    doc["object_types"] = serde_json::json!([
        {"name": "deals", "org_wide_default": "public_read", "grant_via_hierarchy": false}
    ]);
    import(&mut c, &doc);
    let warnings: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(s, _)| s == "WARNING")
        .map(|(_, m)| m.clone())
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].contains("\"deals\"")
            && warnings[0].contains("org_wide_default = private")
            && warnings[0].contains("public_read)"),
        "{warnings:?}"
    );
    assert!(
        warnings[1].contains("\"deals\"")
            && warnings[1].contains("grant_via_hierarchy = true")
            && warnings[1].contains("false"),
        "{warnings:?}"
    );
    assert_eq!(
        one_str(
            &mut dba,
            "SELECT org_wide_default || '/' || grant_via_hierarchy FROM sharing.object_types WHERE name = 'deals'"
        ),
        "private/true"
    );
}
