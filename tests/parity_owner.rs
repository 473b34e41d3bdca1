//! SPEC §11, seed parity: the company owner (Inperium's tenant owner, Intum's Owner
//! role), the standard Guest role (Intum), pending users who hold nothing until
//! activated, and departments (Bitrix24). docs/concepts.md, "The company owner" and
//! "The pieces".

mod common;
use common::*;
use postgres::Client;
use serde_json::Value;

/// Acme (1): owner 1 (created by create_company), 2 an admin by role, 3 a rep (User),
/// 4 a manager, 5 a superuser user, 6 a pending user holding Administrator.
/// Globex (2): owner 20, 21 a user. One deal per user (id = owner id).
const ORG: &str = "
INSERT INTO sharing.object_types (name) VALUES ('deals');
SELECT sharing.create_company('Acme', 1);
SELECT sharing.create_company('Globex', 20);
INSERT INTO sharing.users (id, company_id, name) VALUES
  (2, 1, 'adm'), (3, 1, 'rep'), (4, 1, 'mgr'), (5, 1, 'root'), (6, 1, 'newbie'), (21, 2, 'gil');
INSERT INTO sharing.user_roles (user_id, role_id) VALUES (2, 1), (4, 2), (6, 1);
UPDATE sharing.users SET is_superuser = true WHERE id = 5;
UPDATE sharing.users SET status = 'pending' WHERE id = 6;
CREATE TABLE deals (id bigint PRIMARY KEY, owner_id bigint, company_id bigint, amount int);
SELECT sharing.protect('deals', 'deals');
INSERT INTO deals SELECT u.id, u.id, u.company_id, 100 FROM sharing.users u;
";

fn setup(db: &mut TestDb) -> (Client, String) {
    let app = db.login("app");
    let mut c = db.dba();
    c.batch_execute(ORG).unwrap();
    c.batch_execute(&format!(
        "INSERT INTO sharing.trusted_app_roles VALUES ('{app}');
         GRANT SELECT, INSERT, UPDATE, DELETE ON deals TO {app};"
    ))
    .unwrap();
    (c, app)
}

fn perms(c: &mut Client, user: i64) -> Value {
    serde_json::from_str(&one_str(
        c,
        &format!("SELECT sharing.effective_perms({user})::text"),
    ))
    .unwrap()
}

fn owner(c: &mut Client, company: i64) -> Option<i64> {
    c.query_one(
        &format!("SELECT owner_user FROM sharing.companies WHERE id = {company}"),
        &[],
    )
    .unwrap()
    .get(0)
}

fn can(c: &mut Client, action: &str, record_owner: i64, viewer: i64) -> bool {
    one_bool(
        c,
        &format!("SELECT sharing.can_access('deals', '{action}', {record_owner}, 1, {viewer})"),
    )
}

fn deals_seen(db: &TestDb, app: &str, viewer: i64) -> Vec<i64> {
    let mut v = as_viewer(db, app, viewer);
    ids(&mut v, "SELECT id FROM deals ORDER BY id")
}

#[test]
fn inperium_the_tenant_owner_has_full_access() {
    let mut db = TestDb::new("ownerfull");
    let (mut c, app) = setup(&mut db);
    // create_company created the owner as a user of the company, with the default role.
    assert_eq!(owner(&mut c, 1), Some(1));
    assert_eq!(owner(&mut c, 2), Some(20));
    assert_eq!(
        one_i64(&mut c, "SELECT company_id FROM sharing.users WHERE id = 1"),
        1
    );
    let p = perms(&mut c, 1);
    assert_eq!(p["admin"], true, "{p}");
    assert_eq!(p["superuser"], false);
    assert_eq!(p["roles"], serde_json::json!(["User"]));
    assert_eq!(p["permissions"]["deals"]["delete"], "all");
    assert_eq!(p["privileges"].as_array().unwrap().len(), 10, "{p}");
    assert!(one_bool(
        &mut c,
        "SELECT sharing.has_privilege(1, 'manage_users')"
    ));
    // Every record of their company, none of another's.
    for a in ["view", "edit", "delete", "create"] {
        assert!(can(&mut c, a, 3, 1), "{a}");
    }
    assert!(!one_bool(
        &mut c,
        "SELECT sharing.can_access('deals', 'view', 21, 2, 1)"
    ));
    assert_eq!(deals_seen(&db, &app, 1), vec![1, 2, 3, 4, 5, 6]);
    // explain_access says where the level comes from.
    let e: Value = serde_json::from_str(&one_str(
        &mut c,
        "SELECT sharing.explain_access('deals', 'edit', 3, 1, 1)::text",
    ))
    .unwrap();
    assert_eq!(e["reason"], "level_all", "{e}");
    assert_eq!(e["detail"]["company_owner"], true, "{e}");
    // A plain user of the same roles sees only their own.
    assert_eq!(deals_seen(&db, &app, 3), vec![3]);
    // The owner administers: e.g. gives a role the admin privilege.
    let mut v = as_viewer(&db, &app, 1);
    v.batch_execute(
        "INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (2, 'reports')",
    )
    .unwrap();
}

#[test]
fn inperium_create_company_keeps_its_one_argument_form_and_refuses_bad_owners() {
    let mut db = TestDb::new("ownercreate");
    let (mut c, app) = setup(&mut db);
    let id = one_i64(&mut c, "SELECT sharing.create_company('Initech')");
    assert_eq!(owner(&mut c, id), None);
    // Administrator, Manager and User keep the ids they always had.
    assert_eq!(standard_roles(&mut c, id), (7, 8, 9));
    let msg = refused_unchanged(&mut c, "SELECT sharing.create_company('Hooli', 3)", "23505");
    assert!(msg.contains("user 3") && msg.contains("company 1"), "{msg}");
    assert!(msg.contains("transfer_ownership"), "{msg}");
    refused_unchanged(&mut c, "SELECT sharing.create_company(NULL)", "22004");
    refused_unchanged(&mut c, "SELECT sharing.create_company(NULL, 77)", "22004");
    // Only superusers (or DBAs) create companies, with or without an owner.
    let mut owner_session = as_viewer(&db, &app, 1);
    let before = dump(&mut c);
    expect_error(
        &mut owner_session,
        "SELECT sharing.create_company('Mine', 77)",
        "42501",
    );
    assert_eq!(before, dump(&mut c));
    let mut root = as_viewer(&db, &app, 5);
    let hooli = one_i64(&mut root, "SELECT sharing.create_company('Hooli', 77)");
    assert_eq!(owner(&mut c, hooli), Some(77));
    assert_eq!(perms(&mut c, 77)["admin"], true);
    // A plain INSERT naming an owner that is not one of its users is refused.
    let msg = refused_unchanged(
        &mut c,
        "INSERT INTO sharing.companies (name, owner_user) VALUES ('Pied Piper', 3)",
        "23514",
    );
    assert!(msg.contains("user 3") && msg.contains("company 1"), "{msg}");
}

#[test]
fn intum_the_owner_cannot_be_demoted_disabled_deleted_or_moved_by_others() {
    let mut db = TestDb::new("ownerkeep");
    let (mut c, app) = setup(&mut db);
    // An admin by role, and a superuser user: neither disables, deletes nor moves the owner.
    for viewer in [2, 5] {
        let mut v = as_viewer(&db, &app, viewer);
        for sql in [
            "UPDATE sharing.users SET status = 'disabled' WHERE id = 1",
            "UPDATE sharing.users SET status = 'pending' WHERE id = 1",
            "DELETE FROM sharing.users WHERE id = 1",
            "UPDATE sharing.users SET company_id = 2 WHERE id = 1",
        ] {
            let before = dump(&mut c);
            let msg = expect_error(&mut v, sql, "42501");
            assert!(
                msg.contains(&format!("viewer {viewer}"))
                    && msg.contains("user 1, the owner of company 1"),
                "{sql}: {msg}"
            );
            assert_eq!(before, dump(&mut c), "{sql}");
        }
    }
    // Nor does an admin take it over.
    let mut adm = as_viewer(&db, &app, 2);
    let before = dump(&mut c);
    let msg = expect_error(&mut adm, "SELECT sharing.transfer_ownership(1, 2)", "42501");
    assert!(
        msg.contains("viewer 2") && msg.contains("company 1") && msg.contains("owned by user 1"),
        "{msg}"
    );
    assert_eq!(before, dump(&mut c));
    // The owner is still an admin, active, of their company.
    assert_eq!(perms(&mut c, 1)["admin"], true);
}

#[test]
fn intum_the_owners_rights_come_from_ownership_not_a_role() {
    let mut db = TestDb::new("ownerrole");
    let (mut c, app) = setup(&mut db);
    // An admin changes the owner's roles: that demotes nobody.
    let mut adm = as_viewer(&db, &app, 2);
    adm.batch_execute(
        "INSERT INTO sharing.user_roles (user_id, role_id)
           SELECT 1, role_id FROM sharing._standard_roles s JOIN sharing.roles r ON r.id = s.role_id
            WHERE r.company_id = 1 AND s.kind = 'guest';
         DELETE FROM sharing.user_roles WHERE user_id = 1 AND role_id = 3;",
    )
    .unwrap();
    let p = perms(&mut c, 1);
    assert_eq!(p["roles"], serde_json::json!(["Guest"]));
    assert_eq!(p["admin"], true, "{p}");
    assert_eq!(deals_seen(&db, &app, 1), vec![1, 2, 3, 4, 5, 6]);
    // A delegated administrator without admin cannot touch the owner at all.
    c.batch_execute(
        "INSERT INTO sharing.roles (id, company_id, name, reports_to, based_on) VALUES (100, 1, 'HR', 2, 3);
         INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (100, 'manage_users');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (3, 100);",
    )
    .unwrap();
    let mut hr = as_viewer(&db, &app, 3);
    let before = dump(&mut c);
    let msg = expect_error(
        &mut hr,
        "UPDATE sharing.users SET name = 'renamed' WHERE id = 1",
        "42501",
    );
    assert!(msg.contains("user 1") && msg.contains("admin"), "{msg}");
    assert_eq!(before, dump(&mut c));
    // The owner themselves may step down to pending, and then has nothing.
    let mut me = as_viewer(&db, &app, 1);
    me.batch_execute("UPDATE sharing.users SET status = 'pending' WHERE id = 1")
        .unwrap();
    assert_eq!(owner(&mut c, 1), Some(1));
    let p = perms(&mut c, 1);
    assert_eq!(p["admin"], false, "{p}");
    assert_eq!(p["permissions"]["deals"]["view"], "none");
    assert!(!can(&mut c, "view", 3, 1));
    assert!(deals_seen(&db, &app, 1).is_empty());
    // A DBA may do anything to the owner: here, move them away, which leaves the
    // company without an owner.
    c.batch_execute("UPDATE sharing.users SET status = 'active' WHERE id = 1")
        .unwrap();
    c.batch_execute("UPDATE sharing.users SET company_id = 2 WHERE id = 1")
        .unwrap();
    assert_eq!(owner(&mut c, 1), None);
    assert_eq!(perms(&mut c, 1)["admin"], false);
}

#[test]
fn intum_transfer_ownership_by_the_owner_passes_the_check_by_effect() {
    let mut db = TestDb::new("ownertransfer");
    let (mut c, app) = setup(&mut db);
    let mut me = as_viewer(&db, &app, 1);
    // Bad targets, each named.
    for (sql, state, words) in [
        (
            "SELECT sharing.transfer_ownership(1, 999)",
            "23503",
            "user 999",
        ),
        // another company's user is not even visible to the owner
        (
            "SELECT sharing.transfer_ownership(1, 21)",
            "23503",
            "user 21",
        ),
        (
            "SELECT sharing.transfer_ownership(1, 6)",
            "23514",
            "user 6 is pending",
        ),
        (
            "SELECT sharing.transfer_ownership(2, 3)",
            "23503",
            "company 2",
        ),
        (
            "SELECT sharing.transfer_ownership(1, NULL)",
            "22004",
            "NULL",
        ),
        (
            "SELECT sharing.transfer_ownership(NULL, 3)",
            "22004",
            "NULL",
        ),
    ] {
        let before = dump(&mut c);
        let msg = expect_error(&mut me, sql, state);
        assert!(msg.contains(words), "{sql}: {msg}");
        assert_eq!(before, dump(&mut c), "{sql}");
    }
    // A DBA sees every company: another company's user is the wrong company.
    let msg = refused_unchanged(&mut c, "SELECT sharing.transfer_ownership(1, 21)", "23514");
    assert!(
        msg.contains("user 21 of company 2 cannot own company 1"),
        "{msg}"
    );
    // The owner (an admin only by ownership, not a superuser) hands it over: the
    // new owner gains admin rights, which the owner held — no escalation.
    me.batch_execute("SELECT sharing.transfer_ownership(1, 3)")
        .unwrap();
    assert_eq!(owner(&mut c, 1), Some(3));
    assert_eq!(perms(&mut c, 3)["admin"], true);
    assert_eq!(perms(&mut c, 1)["admin"], false);
    assert_eq!(deals_seen(&db, &app, 1), vec![1]);
    assert_eq!(deals_seen(&db, &app, 3), vec![1, 2, 3, 4, 5, 6]);
    // The former owner cannot take it back; the new one can hand it on.
    let before = dump(&mut c);
    let msg = expect_error(&mut me, "SELECT sharing.transfer_ownership(1, 1)", "42501");
    assert!(
        msg.contains("viewer 1") && msg.contains("owned by user 3"),
        "{msg}"
    );
    assert_eq!(before, dump(&mut c));
    // The plain UPDATE is judged the same way.
    let mut adm = as_viewer(&db, &app, 2);
    let msg = expect_error(
        &mut adm,
        "UPDATE sharing.companies SET owner_user = 2 WHERE id = 1",
        "42501",
    );
    assert!(msg.contains("viewer 2"), "{msg}");
    let mut new_owner = as_viewer(&db, &app, 3);
    new_owner
        .batch_execute("UPDATE sharing.companies SET owner_user = 4 WHERE id = 1")
        .unwrap();
    assert_eq!(owner(&mut c, 1), Some(4));
    // A superuser user and a DBA may hand any company over.
    let mut root = as_viewer(&db, &app, 5);
    root.batch_execute("SELECT sharing.transfer_ownership(2, 21)")
        .unwrap();
    assert_eq!(owner(&mut c, 2), Some(21));
    c.batch_execute("SELECT sharing.transfer_ownership(1, 2)")
        .unwrap();
    assert_eq!(owner(&mut c, 1), Some(2));
    // Renaming a company is still for superusers, owner or not.
    let mut owner2 = as_viewer(&db, &app, 2);
    expect_error(
        &mut owner2,
        "UPDATE sharing.companies SET name = 'Acme Inc' WHERE id = 1",
        "42501",
    );
    // The audit log has every hand-over, with who asked.
    let handovers = ids(
        &mut c,
        "SELECT (new_row->>'owner_user')::bigint FROM sharing.audit_log
          WHERE table_name = 'companies' AND operation = 'UPDATE' AND company_id = 1
            AND old_row->'owner_user' IS DISTINCT FROM new_row->'owner_user'
          ORDER BY id",
    );
    // create_company set 1; then 3, 4, 2
    assert_eq!(handovers, vec![1, 3, 4, 2]);
    let viewers = ids(
        &mut c,
        "SELECT coalesce(viewer, 0) FROM sharing.audit_log
          WHERE table_name = 'companies' AND operation = 'UPDATE' AND company_id = 1
          ORDER BY id",
    );
    assert_eq!(viewers, vec![0, 1, 3, 0]);
}

#[test]
fn intum_a_deleted_owner_leaves_the_company_without_one() {
    let mut db = TestDb::new("ownergone");
    let (mut c, app) = setup(&mut db);
    // A DBA deletes the owner (an admin may not: see above); the company stays,
    // without an owner.
    c.batch_execute("DELETE FROM sharing.users WHERE id = 20")
        .unwrap();
    assert_eq!(owner(&mut c, 2), None);
    assert_eq!(
        one_i64(
            &mut c,
            "SELECT count(*) FROM sharing.users WHERE company_id = 2"
        ),
        1
    );
    // Nobody but a superuser or a DBA gives it a new owner.
    let mut gil = as_viewer(&db, &app, 21);
    let msg = expect_error(
        &mut gil,
        "SELECT sharing.transfer_ownership(2, 21)",
        "42501",
    );
    assert!(
        msg.contains("company 2") && msg.contains("no owner"),
        "{msg}"
    );
    c.batch_execute("SELECT sharing.transfer_ownership(2, 21)")
        .unwrap();
    assert_eq!(owner(&mut c, 2), Some(21));
    // Deleting a company with an owner deletes it whole.
    c.batch_execute("DELETE FROM sharing.companies WHERE id = 2")
        .unwrap();
    assert_eq!(
        one_i64(
            &mut c,
            "SELECT count(*) FROM sharing.users WHERE id IN (20, 21)"
        ),
        0
    );
}

#[test]
fn intum_guest_is_a_standard_protected_role_with_nothing() {
    let mut db = TestDb::new("guestrole");
    let (mut c, app) = setup(&mut db);
    // Beside Administrator, Manager and User, whose ids are unchanged (Globex: 4, 5, 6).
    assert_eq!(standard_roles(&mut c, 1), (1, 2, 3));
    assert_eq!(standard_roles(&mut c, 2), (4, 5, 6));
    let guest = one_i64(
        &mut c,
        "SELECT r.id FROM sharing._standard_roles s JOIN sharing.roles r ON r.id = s.role_id
          WHERE r.company_id = 1 AND s.kind = 'guest'",
    );
    let (name, protected, default, admin): (String, bool, bool, bool) = {
        let r = c
            .query_one(
                &format!("SELECT name, is_protected, is_default, is_admin FROM sharing.roles WHERE id = {guest}"),
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1), r.get(2), r.get(3))
    };
    assert_eq!(
        (name.as_str(), protected, default, admin),
        ("Guest", true, false, false)
    );
    let rows = |c: &mut Client| {
        one_i64(
            c,
            &format!(
                "SELECT (SELECT count(*) FROM sharing.role_permissions WHERE role_id = {guest})
                      + (SELECT count(*) FROM sharing.role_privileges WHERE role_id = {guest})"
            ),
        )
    };
    assert_eq!(rows(&mut c), 0);
    // A new object type gives Guest nothing either (Manager and User get their rows).
    c.batch_execute("INSERT INTO sharing.object_types (name) VALUES ('tickets')")
        .unwrap();
    assert_eq!(rows(&mut c), 0);
    // A guest holds nothing and sees only their own records... of which they may
    // create none.
    c.batch_execute(&format!(
        "INSERT INTO sharing.users (id, company_id, name) VALUES (30, 1, 'visitor');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (30, {guest});
         DELETE FROM sharing.user_roles WHERE user_id = 30 AND role_id = 3;
         INSERT INTO deals VALUES (30, 30, 1, 1);"
    ))
    .unwrap();
    let p = perms(&mut c, 30);
    assert_eq!(p["roles"], serde_json::json!(["Guest"]));
    assert_eq!(p["privileges"], serde_json::json!([]));
    for a in ["create", "view", "edit", "delete"] {
        assert_eq!(p["permissions"]["deals"][a], "none", "{a}");
        assert!(!can(&mut c, a, 3, 30), "{a}");
    }
    assert!(deals_seen(&db, &app, 30).is_empty());
    // Protected: an admin cannot delete it; renamed, it stays the standard Guest.
    let mut adm = as_viewer(&db, &app, 2);
    let msg = expect_error(
        &mut adm,
        &format!("DELETE FROM sharing.roles WHERE id = {guest}"),
        "42501",
    );
    assert!(msg.contains("Guest") && msg.contains("protected"), "{msg}");
    adm.batch_execute(&format!(
        "UPDATE sharing.roles SET name = 'Visitor' WHERE id = {guest}"
    ))
    .unwrap();
    assert_eq!(
        one_str(
            &mut c,
            &format!("SELECT kind FROM sharing._standard_roles WHERE role_id = {guest}")
        ),
        "guest"
    );
}

#[test]
fn intum_a_pending_user_has_nothing_until_activated() {
    let mut db = TestDb::new("pendingnothing");
    let (mut c, app) = setup(&mut db);
    // User 6 holds Administrator (and the default User role), and is pending.
    c.batch_execute(
        "INSERT INTO sharing.roles (id, company_id, name) VALUES (100, 1, 'Reporter');
         INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (100, 'reports'), (100, 'app.crm');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (6, 100);",
    )
    .unwrap();
    let p = perms(&mut c, 6);
    assert_eq!(p["status"], "pending");
    assert_eq!(p["admin"], false);
    assert_eq!(p["privileges"], serde_json::json!([]));
    assert_eq!(p["roles"].as_array().unwrap().len(), 3, "{p}");
    for a in ["create", "view", "edit", "delete"] {
        assert_eq!(p["permissions"]["deals"][a], "none");
        assert!(!can(&mut c, a, 6, 6), "own record, {a}");
        assert!(!can(&mut c, a, 3, 6), "{a}");
    }
    assert!(!one_bool(
        &mut c,
        "SELECT sharing.has_privilege(6, 'reports')"
    ));
    assert!(!one_bool(
        &mut c,
        "SELECT sharing.has_privilege(6, 'app.crm')"
    ));
    assert!(deals_seen(&db, &app, 6).is_empty());
    // And changes nothing.
    let mut v = as_viewer(&db, &app, 6);
    let before = dump(&mut c);
    expect_error(
        &mut v,
        "INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (3, 'reports')",
        "42501",
    );
    assert_eq!(before, dump(&mut c));
    // Activated, they have what their roles give.
    c.batch_execute("UPDATE sharing.users SET status = 'active' WHERE id = 6")
        .unwrap();
    let p = perms(&mut c, 6);
    assert_eq!(p["admin"], true);
    assert!(can(&mut c, "delete", 3, 6));
    assert_eq!(deals_seen(&db, &app, 6), vec![1, 2, 3, 4, 5, 6]);
    // Disabled, nothing again.
    c.batch_execute("UPDATE sharing.users SET status = 'disabled' WHERE id = 6")
        .unwrap();
    assert!(!can(&mut c, "view", 6, 6));
    assert!(deals_seen(&db, &app, 6).is_empty());
}

#[test]
fn bitrix24_departments_show_in_role_members_and_travel_with_the_company() {
    let mut db = TestDb::new("departments");
    let (mut c, _app) = setup(&mut db);
    c.batch_execute(
        "UPDATE sharing.users SET department = 'Sales' WHERE id IN (3, 4);
         UPDATE sharing.users SET department = 'Board' WHERE id = 1;",
    )
    .unwrap();
    // The last column of the view.
    assert_eq!(
        one_str(
            &mut c,
            "SELECT attname::text FROM pg_attribute WHERE attrelid = 'sharing.role_members'::regclass
              AND attnum > 0 ORDER BY attnum DESC LIMIT 1"
        ),
        "department"
    );
    let rows: Vec<(i64, Option<String>)> = c
        .query(
            "SELECT user_id, department FROM sharing.role_members WHERE company_id = 1 AND role = 'User' ORDER BY user_id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        rows,
        vec![
            (1, Some("Board".into())),
            (2, None),
            (3, Some("Sales".into())),
            (4, Some("Sales".into())),
            (5, None),
            (6, None)
        ]
    );
    // Export and import carry departments and the owner.
    let doc = one_str(&mut c, "SELECT sharing.export_company(1)::text");
    let v: Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(v["company"]["owner_user"], 1, "{v}");
    let rep = v["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == 3)
        .unwrap();
    assert_eq!(rep["department"], "Sales");
    let other = TestDb::new("departments2");
    let mut d = other.dba();
    d.batch_execute("INSERT INTO sharing.object_types (name) VALUES ('deals')")
        .unwrap();
    let id: i64 = d
        .query_one("SELECT sharing.import_company($1::text::jsonb)", &[&doc])
        .unwrap()
        .get(0);
    assert_eq!(owner(&mut d, id), Some(1));
    assert_eq!(perms(&mut d, 1)["admin"], true);
    assert_eq!(
        one_str(&mut d, "SELECT department FROM sharing.users WHERE id = 4"),
        "Sales"
    );
    let again: Value = serde_json::from_str(&one_str(
        &mut d,
        &format!("SELECT sharing.export_company({id})::text"),
    ))
    .unwrap();
    assert_eq!(again, v);
    // An owner the document does not hold is refused at its path.
    let mut bad: Value = serde_json::from_str(&doc).unwrap();
    bad["company"]["name"] = "Other".into();
    bad["company"]["owner_user"] = 999.into();
    let msg = expect_error(
        &mut d,
        &format!(
            "SELECT sharing.import_company('{}'::jsonb)",
            bad.to_string().replace('\'', "''")
        ),
        "22023",
    );
    assert!(
        msg.contains("$.company.owner_user") && msg.contains("user 999"),
        "{msg}"
    );
}
