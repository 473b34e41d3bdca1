//! The hardening catalogue (docs/security.md, "Holes closed in 0.4.0"): each test
//! tries an attack as a low-privileged login holding the grants the documentation
//! recommends (`GRANT … ON ALL TABLES / ALL FUNCTIONS IN SCHEMA sharing`, what
//! `TestDb::login` gives) and asserts that it fails.

mod common;
use common::*;
use postgres::Client;

/// Two companies. Acme (1): roles 1 Administrator, 2 Manager, 3 User, 100 Rep (under
/// Manager, owned levels, manage_users). Users 1 admin, 2 manager, 3 and 4 reps (Rep),
/// 7 a disabled rep. Globex (2): roles 4, 5, 6; user 5 its admin, 6 a user.
/// A protected `deals` table with one deal per user (id = owner id).
const TWO_COMPANIES: &str = "
INSERT INTO sharing.object_types (name) VALUES ('deals');
SELECT sharing.create_company('Acme'); SELECT sharing.create_company('Globex');
INSERT INTO sharing.roles (id, company_id, name, reports_to, based_on) VALUES (100, 1, 'Rep', 2, 3);
INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (100, 'manage_users');
INSERT INTO sharing.users (id, company_id, name, status) VALUES
  (1, 1, 'ada', 'active'), (2, 1, 'max', 'active'), (3, 1, 'sam', 'active'), (4, 1, 'sue', 'active'),
  (7, 1, 'old', 'active'), (5, 2, 'gil', 'active'), (6, 2, 'gus', 'active');
INSERT INTO sharing.user_roles (user_id, role_id) VALUES (1, 1), (2, 2), (3, 100), (4, 100), (7, 100), (5, 4);
DELETE FROM sharing.user_roles WHERE role_id = 3 AND user_id IN (1, 2, 3, 4, 7);
UPDATE sharing.users SET status = 'disabled' WHERE id = 7;
INSERT INTO sharing.agreements (grantor_company, grantee_company, notes) VALUES (1, 2, 'acme secret terms');
CREATE TABLE deals (id bigint PRIMARY KEY, owner_id bigint, company_id bigint, amount int);
SELECT sharing.protect('deals', 'deals');
INSERT INTO deals SELECT u.id, u.id, u.company_id, 100 * u.id FROM sharing.users u;
";

/// The fixture and a login mapped to each of `users` (in that order).
fn fixture(db: &mut TestDb, users: &[i64]) -> (Client, Vec<String>) {
    let mut dba = db.dba();
    dba.batch_execute(TWO_COMPANIES).unwrap();
    let logins = users
        .iter()
        .map(|u| {
            let login = db.login(&format!("u{u}"));
            dba.batch_execute(&format!(
                "UPDATE sharing.users SET db_role = '{login}' WHERE id = {u};
                 GRANT SELECT, INSERT, UPDATE, DELETE ON deals TO {login};"
            ))
            .unwrap();
            login
        })
        .collect();
    (dba, logins)
}

#[test]
fn internal_tables_are_not_writable_with_the_documented_grants() {
    let mut db = TestDb::new("hardint");
    let (mut dba, logins) = fixture(&mut db, &[1]);
    let crm_admin = db.login("crm_admin");
    for role in [&crm_admin, &logins[0]] {
        let mut c = db.connect_as(role);
        for sql in [
            "UPDATE sharing._generation SET gen = 1",
            "DELETE FROM sharing._generation",
            "INSERT INTO sharing._generation VALUES (true, 1)",
            "UPDATE sharing.protected_tables SET owner_column = 'amount'",
            "DELETE FROM sharing.protected_tables",
            "INSERT INTO sharing.audit_log (db_role, table_name, operation) VALUES ('x', 'users', 'INSERT')",
            "DELETE FROM sharing.audit_log",
            "DELETE FROM sharing._standard_roles",
        ] {
            let msg = expect_error(&mut c, sql, "42501");
            assert!(msg.contains("internal") || msg.contains("permission denied"), "{sql}: {msg}");
        }
    }
    // The generation still moves with each change, and protect() still registers.
    let gen = one_i64(&mut dba, "SELECT gen FROM sharing._generation");
    dba.batch_execute("UPDATE sharing.users SET name = 'ada2' WHERE id = 1")
        .unwrap();
    assert!(one_i64(&mut dba, "SELECT gen FROM sharing._generation") > gen);
    assert_eq!(
        one_str(
            &mut dba,
            "SELECT owner_column::text FROM sharing.protected_tables"
        ),
        "owner_id"
    );
}

#[test]
fn protect_and_unprotect_need_the_table_owner() {
    let mut db = TestDb::new("hardprot");
    let (mut dba, _) = fixture(&mut db, &[]);
    let crm_admin = db.login("crm_admin");
    dba.batch_execute(&format!(
        "CREATE TABLE mine (id bigint, owner_id bigint, company_id bigint);
         ALTER TABLE mine OWNER TO {crm_admin};"
    ))
    .unwrap();
    let mut c = db.connect_as(&crm_admin);
    // Not the owner of deals: neither unprotect nor re-protect with other columns.
    expect_error(&mut c, "SELECT sharing.unprotect('deals')", "42501");
    expect_error(
        &mut c,
        "SELECT sharing.protect('deals', 'deals', 'amount')",
        "42501",
    );
    // Its own table under a type another table already has: a DBA's decision
    // (record shares name records of a type by id).
    expect_error(&mut c, "SELECT sharing.protect('mine', 'deals')", "42501");
    // A new object type is global: a DBA's.
    expect_error(&mut c, "SELECT sharing.protect('mine', 'tickets')", "42501");
    // Its own table, of an existing type no other table has: fine without being a DBA.
    dba.batch_execute("INSERT INTO sharing.object_types (name) VALUES ('tickets')")
        .unwrap();
    c.batch_execute("SELECT sharing.protect('mine', 'tickets'); SELECT sharing.unprotect('mine')")
        .unwrap();
}

#[test]
fn agreement_views_are_security_barriers() {
    let mut db = TestDb::new("hardleak");
    let (mut dba, _) = fixture(&mut db, &[]);
    let nobody = db.login("nobody");
    dba.batch_execute(&format!(
        "CREATE FUNCTION public.leak(t text) RETURNS bool LANGUAGE plpgsql IMMUTABLE COST 0.000001 AS $$
           BEGIN PERFORM set_config('leak.seen', coalesce(current_setting('leak.seen', true), '') || coalesce(t, '-'), false);
                 RETURN true; END $$;
         GRANT EXECUTE ON FUNCTION public.leak(text) TO {nobody};"
    ))
    .unwrap();
    let mut c = db.connect_as(&nobody);
    for view in ["shared_by_you", "shared_with_you"] {
        let n = one_i64(
            &mut c,
            &format!("SELECT count(*) FROM sharing.{view} WHERE public.leak(notes)"),
        );
        assert_eq!(n, 0);
    }
    let seen = c
        .query_one("SELECT current_setting('leak.seen', true)", &[])
        .unwrap()
        .get::<_, Option<String>>(0)
        .unwrap_or_default();
    assert!(!seen.contains("secret"), "notes leaked: {seen}");
    // The internal view reads as its caller: nothing without a viewer.
    assert_eq!(
        one_i64(
            &mut c,
            "SELECT count(*) FROM sharing._agreements_with_permissions"
        ),
        0
    );
}

#[test]
fn delegated_admins_read_and_change_only_their_own_company() {
    let mut db = TestDb::new("hardtenant");
    let (_dba, logins) = fixture(&mut db, &[5]);
    let mut gil = db.connect_as(&logins[0]); // Globex's admin
    for (table, acme_rows) in [
        ("companies", "id = 1"),
        ("users", "company_id = 1"),
        ("roles", "company_id = 1"),
        ("user_roles", "user_id IN (1, 2, 3, 4)"),
        ("role_permissions", "role_id IN (1, 2, 3, 100)"),
        ("role_privileges", "role_id = 100"),
        ("sharing_rules", "company_id = 1"),
        ("role_members", "company_id = 1"),
        ("role_permission_matrix", "company_id = 1"),
        ("role_privilege_matrix", "company_id = 1"),
        ("trusted_app_roles", "true"),
    ] {
        assert_eq!(
            one_i64(
                &mut gil,
                &format!("SELECT count(*) FROM sharing.{table} WHERE {acme_rows}")
            ),
            0,
            "{table}"
        );
    }
    // Globex is a party to the agreement: it sees that one (its own data).
    assert_eq!(
        one_i64(&mut gil, "SELECT count(*) FROM sharing.agreements"),
        1
    );
    assert!(
        one_i64(
            &mut gil,
            "SELECT count(*) FROM sharing.users WHERE company_id = 2"
        ) >= 2
    );
    // Changes to another company's rows touch nothing.
    gil.batch_execute(
        "UPDATE sharing.users SET name = 'pwned' WHERE company_id = 1;
         DELETE FROM sharing.role_privileges WHERE role_id = 100;",
    )
    .unwrap();
    let mut dba = db.dba();
    assert_eq!(
        one_i64(
            &mut dba,
            "SELECT count(*) FROM sharing.users WHERE name = 'pwned'"
        ),
        0
    );
    assert_eq!(
        one_i64(&mut dba, "SELECT count(*) FROM sharing.role_privileges"),
        1
    );
    // A login without a viewer (and not a DBA) reads nothing and changes nothing.
    let crm_admin = db.login("crm_admin");
    let mut c = db.connect_as(&crm_admin);
    assert_eq!(one_i64(&mut c, "SELECT count(*) FROM sharing.users"), 0);
    assert_eq!(
        one_i64(
            &mut c,
            "SELECT count(*) FROM sharing.role_permission_matrix"
        ),
        0
    );
    expect_error(
        &mut c,
        "INSERT INTO sharing.users (id, company_id, name) VALUES (50, 1, 'x')",
        "42501",
    );
}

#[test]
fn records_are_not_taken_over_through_edit() {
    let mut db = TestDb::new("hardtransfer");
    let (mut dba, logins) = fixture(&mut db, &[3, 5, 2, 1]);
    let (sam, gil, max, ada) = (&logins[0], &logins[1], &logins[2], &logins[3]);
    dba.batch_execute(
        "INSERT INTO sharing.agreement_permissions (agreement_id, object_type, action)
           SELECT a.id, 'deals', x FROM sharing.agreements a, unnest(ARRAY['view', 'edit']) x;
         INSERT INTO sharing.sharing_rules (company_id, object_type, source_role, target_role, access)
           VALUES (1, 'deals', 100, 100, 'read_write');",
    )
    .unwrap();
    // Globex's admin edits Acme's deals through the agreement, but cannot take one.
    let mut c = db.connect_as(gil);
    c.batch_execute("UPDATE deals SET amount = 1 WHERE id = 3")
        .unwrap();
    let msg = expect_error(
        &mut c,
        "UPDATE deals SET company_id = 2, owner_id = 5 WHERE id = 3",
        "42501",
    );
    assert!(msg.contains("company"), "{msg}");
    expect_error(
        &mut c,
        "UPDATE deals SET owner_id = 5 WHERE id = 3",
        "42501",
    );
    // A peer with a read_write rule edits sue's deal but cannot make it his.
    let mut c = db.connect_as(sam);
    c.batch_execute("UPDATE deals SET amount = 2 WHERE id = 4")
        .unwrap();
    let msg = expect_error(
        &mut c,
        "UPDATE deals SET owner_id = 3 WHERE id = 4",
        "42501",
    );
    assert!(msg.contains("ownership"), "{msg}");
    // Nor hand his own deal to a peer (not below him).
    expect_error(
        &mut c,
        "UPDATE deals SET owner_id = 4 WHERE id = 3",
        "42501",
    );
    assert_eq!(
        ids(
            &mut dba,
            "SELECT owner_id FROM deals WHERE id IN (3, 4) ORDER BY id"
        ),
        vec![3, 4]
    );
    // The manager moves a report's deal to another report; the admin anywhere in Acme.
    db.connect_as(max)
        .batch_execute("UPDATE deals SET owner_id = 4 WHERE id = 3")
        .unwrap();
    db.connect_as(ada)
        .batch_execute("UPDATE deals SET owner_id = 2 WHERE id = 4")
        .unwrap();
    expect_error(
        &mut db.connect_as(ada),
        "UPDATE deals SET company_id = 2 WHERE id = 4",
        "42501",
    );
    // A DBA session moves records between companies.
    dba.batch_execute("UPDATE deals SET company_id = 2, owner_id = 6 WHERE id = 4")
        .unwrap();
    assert_eq!(
        ids(
            &mut dba,
            "SELECT owner_id FROM deals WHERE id IN (3, 4) ORDER BY id"
        ),
        vec![4, 6]
    );
}

#[test]
fn the_org_chart_is_not_public() {
    let mut db = TestDb::new("hardchart");
    let (mut dba, logins) = fixture(&mut db, &[4, 3]);
    let (sue, sam) = (&logins[0], &logins[1]);
    dba.batch_execute("DELETE FROM sharing.role_privileges WHERE role_id = 100; INSERT INTO sharing.roles (id, company_id, name, reports_to, based_on) VALUES (101, 1, 'Hr', 2, 3); INSERT INTO sharing.role_privileges VALUES (DEFAULT, 101, 'manage_users'); INSERT INTO sharing.user_roles (user_id, role_id) VALUES (3, 101);")
        .unwrap();
    let questions = |u: i64| {
        vec![
            format!("SELECT sharing.can_access('deals', 'view', 1, 1, {u})"),
            format!("SELECT sharing.can_see(1, {u})"),
            format!("SELECT count(*) FROM sharing.reach({u})"),
            format!("SELECT sharing.explain_access('deals', 'view', 1, 1, {u})"),
            format!("SELECT sharing.effective_perms({u})"),
            format!("SELECT count(*) FROM sharing.effective_permissions({u})"),
            format!("SELECT sharing.has_privilege({u}, 'admin')"),
            format!("SELECT sharing._can_access_for('deals', 'view', 1, 1, {u}, NULL, NULL)"),
            format!("SELECT sharing._policy('deals', 'view', 1, 1, {u}, NULL, NULL)"),
            format!("SELECT sharing._all_rows_company('deals', 'view', {u})"),
            format!("SELECT sharing._index_owners('deals', 'view', {u})"),
        ]
    };
    // Allowed questions are answered (or refused for another reason: an owner index
    // for a viewer who is not owner-bounded is 40001).
    let answered = |c: &mut Client, q: &str| {
        if let Err(e) = c.batch_execute(q) {
            assert_ne!(e.code().map(|c| c.code()), Some("42501"), "{q}: {e}");
        }
    };
    // sue (no manage_users) asks about herself, not about ada, max or Globex's admin.
    let mut c = db.connect_as(sue);
    for q in questions(4) {
        answered(&mut c, &q);
    }
    for other in [1, 2, 5] {
        for q in questions(other) {
            expect_error(&mut c, &q, "42501");
        }
    }
    // sam holds manage_users: his company's users, not Globex's.
    let mut c = db.connect_as(sam);
    for q in questions(1) {
        answered(&mut c, &q);
    }
    for q in questions(5) {
        expect_error(&mut c, &q, "42501");
    }
    // A login with no viewer asks about nobody; a trusted application role about anyone.
    let nobody = db.login("nobody");
    let mut c = db.connect_as(&nobody);
    for q in questions(1) {
        expect_error(&mut c, &q, "42501");
    }
    let app = db.login("app");
    dba.batch_execute(&format!(
        "INSERT INTO sharing.trusted_app_roles VALUES ('{app}')"
    ))
    .unwrap();
    let mut c = db.connect_as(&app);
    for q in questions(5) {
        answered(&mut c, &q);
    }
}

#[test]
fn disabled_employees_see_nothing_through_can_see_and_reach() {
    let mut db = TestDb::new("hardinactive");
    let (mut dba, _) = fixture(&mut db, &[]);
    // 7 was a rep; as a manager they would reach others too: make them one.
    dba.batch_execute("UPDATE sharing.users SET status = 'active' WHERE id = 7; INSERT INTO sharing.user_roles (user_id, role_id) VALUES (7, 2)")
        .unwrap();
    assert!(one_bool(&mut dba, "SELECT sharing.can_see(3, 7)"));
    assert!(one_i64(&mut dba, "SELECT count(*) FROM sharing.reach(7)") >= 3);
    for status in ["disabled", "pending"] {
        dba.batch_execute(&format!(
            "UPDATE sharing.users SET status = '{status}' WHERE id = 7"
        ))
        .unwrap();
        assert!(
            !one_bool(&mut dba, "SELECT sharing.can_see(3, 7)"),
            "{status}"
        );
        assert!(
            !one_bool(&mut dba, "SELECT sharing.can_see(7, 7)"),
            "{status}"
        );
        assert_eq!(
            one_i64(&mut dba, "SELECT count(*) FROM sharing.reach(7)"),
            0,
            "{status}"
        );
    }
}

#[test]
fn standard_roles_are_known_by_identity_not_by_name() {
    let mut db = TestDb::new("hardstandard");
    let (mut dba, _) = fixture(&mut db, &[]);
    // Acme renames its default role; Globex renames its Manager and creates a
    // custom role named "Manager".
    dba.batch_execute(
        "UPDATE sharing.roles SET name = 'Staff' WHERE company_id = 1 AND name = 'User';
         UPDATE sharing.roles SET name = 'Head' WHERE company_id = 2 AND name = 'Manager';
         INSERT INTO sharing.roles (id, company_id, name, reports_to) VALUES (200, 2, 'Manager', 4);
         INSERT INTO sharing.users (id, company_id, name) VALUES (20, 2, 'custom'), (21, 1, 'staffer');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (20, 200);
         DELETE FROM sharing.user_roles WHERE user_id = 20 AND role_id <> 200;
         INSERT INTO sharing.object_types (name) VALUES ('tickets');",
    )
    .unwrap();
    let level = |c: &mut Client, user: i64| {
        one_str(
            c,
            &format!("SELECT sharing.effective_perms({user}) #>> '{{permissions,tickets,view}}'"),
        )
    };
    assert_eq!(
        level(&mut dba, 21),
        "owned",
        "the renamed default role is still User"
    );
    assert_eq!(
        level(&mut dba, 20),
        "none",
        "a custom role named Manager is not one"
    );
    assert_eq!(
        one_str(
            &mut dba,
            "SELECT p.level FROM sharing.role_permissions p JOIN sharing.roles r ON r.id = p.role_id
              WHERE r.company_id = 2 AND r.name = 'Head' AND p.object_type = 'tickets' AND p.action = 'view'"
        ),
        "all"
    );
}

#[test]
fn global_settings_and_flags_need_a_dba_or_an_admin() {
    let mut db = TestDb::new("hardflags");
    let (mut dba, logins) = fixture(&mut db, &[1, 3]);
    let (ada, sam) = (&logins[0], &logins[1]);
    let app = db.login("app");
    let mut c = db.connect_as(ada); // an admin of Acme: not a DBA
    for sql in [
        format!("UPDATE sharing.users SET db_role = '{app}' WHERE id = 2"),
        "UPDATE sharing.users SET db_role = NULL WHERE id = 1".to_string(),
        format!("INSERT INTO sharing.trusted_app_roles VALUES ('{app}')"),
        "UPDATE sharing.object_types SET org_wide_default = 'public_read' WHERE name = 'deals'"
            .to_string(),
        "INSERT INTO sharing.object_types (name) VALUES ('tickets')".to_string(),
        "UPDATE sharing.users SET is_superuser = true WHERE id = 1".to_string(),
    ] {
        refused_unchanged(&mut c, &sql, "42501");
    }
    // A manage_users holder (not an admin) cannot touch the role flags either.
    dba.batch_execute(
        "INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (100, 'manage_roles')",
    )
    .unwrap();
    let mut c = db.connect_as(sam);
    for sql in [
        "UPDATE sharing.roles SET is_admin = false WHERE id = 1",
        "UPDATE sharing.roles SET is_protected = false WHERE id = 1",
        "UPDATE sharing.roles SET is_default = true WHERE id = 1",
        "INSERT INTO sharing.roles (company_id, name, is_protected) VALUES (1, 'Fort', true)",
    ] {
        refused_unchanged(&mut c, sql, "42501");
    }
    // A membership for a user created later in the same statement is refused.
    refused_unchanged(
        &mut c,
        "WITH m AS (INSERT INTO sharing.user_roles (user_id, role_id) VALUES (90, 100) RETURNING 1)
         INSERT INTO sharing.users (id, company_id, name) SELECT 90, 1, 'ghost' FROM m",
        "23503",
    );
    // A sharing_admin member without a viewer is a DBA.
    let dba_login = db.login("dbalogin");
    dba.batch_execute(&format!("GRANT sharing_admin TO {dba_login}"))
        .unwrap();
    db.connect_as(&dba_login)
        .batch_execute(&format!(
            "UPDATE sharing.users SET db_role = '{app}' WHERE id = 2;
             INSERT INTO sharing.object_types (name) VALUES ('tickets');"
        ))
        .unwrap();
}

/// Found by the fourth attacker review: identity ids are shared by every company,
/// so a delegated administrator who inserted rows with ids ahead of a sequence made
/// other companies' next inserts fail; and memberships could be added to users
/// above the administrator or holding more than them.
#[test]
fn ids_ahead_of_their_sequence_and_memberships_of_superiors_are_refused() {
    let mut db = TestDb::new("hardids");
    let (mut dba, _) = fixture(&mut db, &[]);
    let login = db.login("hank");
    dba.batch_execute(&format!(
        "INSERT INTO sharing.users (id, company_id, name, db_role) VALUES (90, 1, 'hank', '{login}');
         INSERT INTO sharing.roles (company_id, name, reports_to, based_on) VALUES (1, 'HR', 1, 3);
         INSERT INTO sharing.role_privileges (role_id, privilege)
           SELECT id, p FROM sharing.roles, unnest(ARRAY['manage_users', 'manage_roles']) p WHERE name = 'HR';
         INSERT INTO sharing.user_roles (user_id, role_id) SELECT 90, id FROM sharing.roles WHERE name = 'HR';"
    ))
    .unwrap();
    let hr = one_i64(&mut dba, "SELECT id FROM sharing.roles WHERE name = 'HR'");
    let mut hank = db.connect_as(&login);
    // An id a little ahead moves the sequence past it: Globex's next role is fine.
    let near = one_i64(&mut dba, "SELECT last_value + 5 FROM sharing.roles_id_seq");
    hank.batch_execute(&format!(
        "INSERT INTO sharing.roles (id, company_id, name, reports_to, based_on) VALUES ({near}, 1, 'Recruiter', {hr}, 3)"
    ))
    .unwrap();
    let next = one_i64(
        &mut dba,
        "INSERT INTO sharing.roles (company_id, name) VALUES (2, 'Globex team') RETURNING id",
    );
    assert!(next > near, "{next} after {near}");
    // Far ahead (the sequence would run out), or into the Guest roles' range: refused.
    for id in [near + 10_000_000, 1_000_000_000_099] {
        let msg = expect_error(
            &mut hank,
            &format!("INSERT INTO sharing.roles (id, company_id, name, reports_to) VALUES ({id}, 1, 'squat', {hr})"),
            "42501",
        );
        assert!(msg.contains("far ahead of its sequence"), "{msg}");
    }
    // User 1 is the company's admin: hank may not give them (more) roles.
    expect_error(
        &mut hank,
        &format!("INSERT INTO sharing.user_roles (user_id, role_id) VALUES (1, {hr})"),
        "42501",
    );
    // A DBA still chooses ids freely.
    dba.batch_execute(
        "INSERT INTO sharing.roles (id, company_id, name) VALUES (900000000, 1, 'chosen')",
    )
    .unwrap();
}
