//! docs/sql-reference.md, "Invariants (triggers) and their errors": every invariant, each checked for the refusal (SQLSTATE) and for
//! "nothing was changed".

mod common;
use common::*;
use postgres::Client;

/// Acme with the standard roles, two object types and three users.
struct Acme {
    company: i64,
    admin_role: i64,
    manager_role: i64,
    user_role: i64,
}

fn acme(c: &mut Client) -> Acme {
    c.batch_execute(
        "INSERT INTO sharing.object_types (name) VALUES ('deals'), ('contacts');
         SELECT sharing.create_company('Acme');",
    )
    .unwrap();
    let company = one_i64(c, "SELECT id FROM sharing.companies WHERE name = 'Acme'");
    let (admin_role, manager_role, user_role) = standard_roles(c, company);
    Acme {
        company,
        admin_role,
        manager_role,
        user_role,
    }
}

#[test]
fn reports_to_and_based_on_cycles_are_refused() {
    let db = TestDb::new("cycles");
    let mut c = db.dba();
    let a = acme(&mut c);
    c.batch_execute(&format!(
        "INSERT INTO sharing.roles (id, company_id, name, reports_to, based_on)
         VALUES (100, {co}, 'Rep', {u}, {u}), (101, {co}, 'Junior', 100, 100)",
        co = a.company,
        u = a.user_role
    ))
    .unwrap();
    // Administrator -> Manager -> User -> Rep -> Junior: closing the loop is refused.
    let msg = refused_unchanged(
        &mut c,
        &format!(
            "UPDATE sharing.roles SET reports_to = 101 WHERE id = {}",
            a.admin_role
        ),
        "23514",
    );
    assert!(msg.contains("cycle"), "{msg}");
    let msg = refused_unchanged(
        &mut c,
        &format!(
            "UPDATE sharing.roles SET based_on = 101 WHERE id = {}",
            a.user_role
        ),
        "23514",
    );
    assert!(msg.contains("based_on") && msg.contains("cycle"), "{msg}");
    refused_unchanged(
        &mut c,
        "UPDATE sharing.roles SET reports_to = id WHERE id = 100",
        "23514",
    );
    // Several rows in one statement: still atomic.
    refused_unchanged(
        &mut c,
        "UPDATE sharing.roles SET based_on = CASE id WHEN 100 THEN 101 ELSE 100 END WHERE id IN (100, 101)",
        "23514",
    );
}

#[test]
fn links_stay_inside_one_company() {
    let db = TestDb::new("crosscompany");
    let mut c = db.dba();
    let a = acme(&mut c);
    let other = one_i64(&mut c, "SELECT sharing.create_company('Globex')");
    let (_, globex_manager, globex_user) = standard_roles(&mut c, other);
    let msg = refused_unchanged(
        &mut c,
        &format!(
            "UPDATE sharing.roles SET reports_to = {globex_manager} WHERE id = {}",
            a.user_role
        ),
        "23514",
    );
    assert!(msg.contains("another") || msg.contains("company"), "{msg}");
    refused_unchanged(
        &mut c,
        &format!(
            "INSERT INTO sharing.roles (company_id, name, based_on) VALUES ({}, 'X', {globex_user})",
            a.company
        ),
        "23514",
    );
    c.batch_execute(&format!(
        "INSERT INTO sharing.users (id, company_id, name) VALUES (7, {}, 'ann')",
        a.company
    ))
    .unwrap();
    refused_unchanged(
        &mut c,
        &format!("INSERT INTO sharing.user_roles (user_id, role_id) VALUES (7, {globex_user})"),
        "23514",
    );
    refused_unchanged(
        &mut c,
        &format!(
            "UPDATE sharing.roles SET company_id = {other} WHERE id = {}",
            a.manager_role
        ),
        "23514",
    );
    let msg = refused_unchanged(
        &mut c,
        &format!(
            "INSERT INTO sharing.sharing_rules (company_id, source_role, target_role)
             VALUES ({}, {}, {globex_user})",
            a.company, a.user_role
        ),
        "23514",
    );
    assert!(
        msg.contains("agreement"),
        "hint points to agreements: {msg}"
    );
}

#[test]
fn incoherent_levels_are_refused_not_clipped() {
    let db = TestDb::new("coherence");
    let mut c = db.dba();
    let a = acme(&mut c);
    c.batch_execute(&format!(
        "INSERT INTO sharing.roles (id, company_id, name) VALUES (100, {}, 'Viewer')",
        a.company
    ))
    .unwrap();
    let msg = refused_unchanged(
        &mut c,
        "INSERT INTO sharing.role_permissions (role_id, object_type, action, level) VALUES (100, 'deals', 'edit', 'owned')",
        "23514",
    );
    assert!(
        msg.contains("\"Viewer\"") && msg.contains("deals") && msg.contains("edit"),
        "{msg}"
    );
    // The words of perms::incoherence_message, as an import's (tests/portable.rs).
    assert!(
        msg.contains("on \"deals\": edit is \"owned\" but view is \"none\"")
            && msg.contains("hint: edit can be at most view (none < owned < all)"),
        "{msg}"
    );
    // One statement that is coherent as a whole is accepted.
    c.batch_execute(
        "INSERT INTO sharing.role_permissions (role_id, object_type, action, level)
         VALUES (100, 'deals', 'edit', 'owned'), (100, 'deals', 'view', 'all'), (100, 'deals', 'delete', 'owned')",
    )
    .unwrap();
    let msg = refused_unchanged(
        &mut c,
        "UPDATE sharing.role_permissions SET level = 'all' WHERE role_id = 100 AND action = 'delete'",
        "23514",
    );
    assert!(
        msg.contains("delete is \"all\" but edit is \"owned\"")
            && msg.contains("raise edit first, or lower delete"),
        "{msg}"
    );
    refused_unchanged(
        &mut c,
        "UPDATE sharing.role_permissions SET level = 'none' WHERE role_id = 100 AND action = 'view'",
        "23514",
    );
    refused_unchanged(
        &mut c,
        "DELETE FROM sharing.role_permissions WHERE role_id = 100 AND action = 'edit'",
        "23514",
    );
    // The standard User row set can be lowered as a whole.
    c.batch_execute(&format!(
        "UPDATE sharing.role_permissions SET level = 'none' WHERE role_id = {} AND object_type = 'contacts'",
        a.user_role
    ))
    .unwrap();
    // Bad words are refused by the column checks.
    refused_unchanged(
        &mut c,
        "INSERT INTO sharing.role_permissions (role_id, object_type, action, level) VALUES (100, 'contacts', 'view', 'everything')",
        "23514",
    );
}

#[test]
fn every_active_user_keeps_a_role() {
    let db = TestDb::new("lastrole");
    let mut c = db.dba();
    let a = acme(&mut c);
    // A new user without a role gets the default role.
    c.batch_execute(&format!(
        "INSERT INTO sharing.users (id, company_id, name) VALUES (7, {}, 'ann')",
        a.company
    ))
    .unwrap();
    assert_eq!(
        one_i64(
            &mut c,
            "SELECT role_id FROM sharing.user_roles WHERE user_id = 7"
        ),
        a.user_role
    );
    // Removing the default role when it is the only one is refused.
    let msg = refused_unchanged(
        &mut c,
        &format!(
            "DELETE FROM sharing.user_roles WHERE user_id = 7 AND role_id = {}",
            a.user_role
        ),
        "23514",
    );
    assert!(
        msg.contains("\"User\"") && msg.contains("only role"),
        "{msg}"
    );
    // With another role, the default role may go; removing the last role assigns it back.
    c.batch_execute(&format!(
        "INSERT INTO sharing.user_roles (user_id, role_id) VALUES (7, {m});
         DELETE FROM sharing.user_roles WHERE user_id = 7 AND role_id = {u};",
        m = a.manager_role,
        u = a.user_role
    ))
    .unwrap();
    assert_eq!(
        one_i64(
            &mut c,
            "SELECT role_id FROM sharing.user_roles WHERE user_id = 7"
        ),
        a.manager_role
    );
    c.batch_execute(&format!(
        "DELETE FROM sharing.user_roles WHERE user_id = 7 AND role_id = {}",
        a.manager_role
    ))
    .unwrap();
    assert_eq!(
        one_i64(
            &mut c,
            "SELECT role_id FROM sharing.user_roles WHERE user_id = 7"
        ),
        a.user_role
    );
    // A disabled user may be left without roles; reactivating gives the default back.
    c.batch_execute(&format!(
        "UPDATE sharing.users SET status = 'disabled' WHERE id = 7;
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (7, {m});
         DELETE FROM sharing.user_roles WHERE user_id = 7;",
        m = a.manager_role
    ))
    .unwrap();
    assert_eq!(
        one_i64(
            &mut c,
            "SELECT count(*) FROM sharing.user_roles WHERE user_id = 7"
        ),
        0
    );
    c.batch_execute("UPDATE sharing.users SET status = 'active' WHERE id = 7")
        .unwrap();
    assert_eq!(
        one_i64(
            &mut c,
            "SELECT role_id FROM sharing.user_roles WHERE user_id = 7"
        ),
        a.user_role
    );
    // The default role can move, but not disappear.
    c.batch_execute(&format!(
        "UPDATE sharing.roles SET is_default = true WHERE id = {}",
        a.manager_role
    ))
    .unwrap();
    assert_eq!(
        one_i64(
            &mut c,
            &format!(
                "SELECT count(*) FROM sharing.roles WHERE company_id = {} AND is_default",
                a.company
            )
        ),
        1
    );
    refused_unchanged(
        &mut c,
        &format!(
            "UPDATE sharing.roles SET is_default = false WHERE id = {}",
            a.manager_role
        ),
        "23514",
    );
    // Deleting a user takes their memberships along without complaint.
    c.batch_execute("DELETE FROM sharing.users WHERE id = 7")
        .unwrap();
    assert_eq!(
        one_i64(
            &mut c,
            "SELECT count(*) FROM sharing.user_roles WHERE user_id = 7"
        ),
        0
    );
}

#[test]
fn protected_roles_and_roles_in_use_are_not_deleted() {
    let db = TestDb::new("deleterole");
    let mut c = db.dba();
    let a = acme(&mut c);
    let msg = refused_unchanged(
        &mut c,
        &format!("DELETE FROM sharing.roles WHERE id = {}", a.admin_role),
        "42501",
    );
    assert!(
        msg.contains("\"Administrator\"") && msg.contains("protected"),
        "{msg}"
    );
    refused_unchanged(
        &mut c,
        &format!("SELECT sharing.delete_role({}, NULL)", a.user_role),
        "42501",
    );
    c.batch_execute(&format!(
        "INSERT INTO sharing.roles (id, company_id, name, reports_to) VALUES (100, {co}, 'Sales', {m});
         INSERT INTO sharing.users (id, company_id, name) VALUES (7, {co}, 'ann'), (8, {co}, 'bob');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (7, 100), (8, 100);",
        co = a.company,
        m = a.manager_role
    ))
    .unwrap();
    let msg = refused_unchanged(&mut c, "DELETE FROM sharing.roles WHERE id = 100", "23503");
    assert!(
        msg.contains("2 member") && msg.contains("sharing.delete_role(100, reassign_to)"),
        "{msg}"
    );
    // delete_role(100, NULL) would now move them to the default role (their only
    // role goes): tests/parity_roles.rs, administrate_deleting_a_role_….
    refused_unchanged(&mut c, "SELECT sharing.delete_role(100, 100)", "22023");
    refused_unchanged(&mut c, "SELECT sharing.delete_role(100, 987654)", "22023");
    refused_unchanged(&mut c, "SELECT sharing.delete_role(987654, NULL)", "22023");
    // A manager role with subordinates cannot go either.
    refused_unchanged(
        &mut c,
        &format!(
            "SELECT sharing.delete_role({}, {})",
            a.manager_role, a.admin_role
        ),
        "23503",
    );
    // ann (7) also holds the default role she got as a new user: she keeps it and is
    // not moved; bob (8), whose only role is Sales, goes to the heir.
    c.batch_execute(&format!(
        "DELETE FROM sharing.user_roles WHERE user_id = 8 AND role_id = {}",
        a.user_role
    ))
    .unwrap();
    c.batch_execute(&format!(
        "SELECT sharing.delete_role(100, {})",
        a.manager_role
    ))
    .unwrap();
    assert_eq!(
        one_i64(&mut c, "SELECT count(*) FROM sharing.roles WHERE id = 100"),
        0
    );
    assert_eq!(
        ids(
            &mut c,
            "SELECT role_id FROM sharing.user_roles WHERE user_id = 7"
        ),
        vec![a.user_role]
    );
    assert_eq!(
        ids(
            &mut c,
            "SELECT role_id FROM sharing.user_roles WHERE user_id = 8"
        ),
        vec![a.manager_role]
    );
}

/// A viewer who is a Manager with manage_users (not admin, not manage_roles).
fn manager_viewer(c: &mut Client, a: &Acme) {
    c.batch_execute(&format!(
        "INSERT INTO sharing.role_privileges (role_id, privilege) VALUES ({m}, 'manage_users');
         INSERT INTO sharing.users (id, company_id, name) VALUES (50, {co}, 'mia'), (51, {co}, 'sam');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (50, {m});
         DELETE FROM sharing.user_roles WHERE user_id = 50 AND role_id = {u};",
        m = a.manager_role,
        u = a.user_role,
        co = a.company
    ))
    .unwrap();
}

#[test]
fn no_escalation_through_plain_dml() {
    let db = TestDb::new("escalationdml");
    let mut c = db.dba();
    let a = acme(&mut c);
    manager_viewer(&mut c, &a);
    c.batch_execute("SET sharing.viewer = '50'").unwrap();
    // Assign themselves the Administrator role.
    let msg = refused_unchanged(
        &mut c,
        &format!(
            "INSERT INTO sharing.user_roles (user_id, role_id) VALUES (50, {})",
            a.admin_role
        ),
        "42501",
    );
    assert!(msg.contains("admin flag"), "{msg}");
    // Grant their own role admin, a privilege or a level: needs manage_roles.
    let msg = refused_unchanged(
        &mut c,
        &format!(
            "UPDATE sharing.roles SET is_admin = true WHERE id = {}",
            a.manager_role
        ),
        "42501",
    );
    assert!(msg.contains("manage_roles"), "{msg}");
    refused_unchanged(
        &mut c,
        &format!(
            "INSERT INTO sharing.role_privileges (role_id, privilege) VALUES ({}, 'billing')",
            a.manager_role
        ),
        "42501",
    );
    // Move their role under nobody.
    refused_unchanged(
        &mut c,
        &format!(
            "UPDATE sharing.roles SET reports_to = NULL WHERE id = {}",
            a.manager_role
        ),
        "42501",
    );
    // Make themselves superuser or super company member.
    refused_unchanged(
        &mut c,
        "UPDATE sharing.users SET is_superuser = true WHERE id = 50",
        "42501",
    );
    refused_unchanged(
        &mut c,
        "UPDATE sharing.users SET is_super_company_member = true WHERE id = 51",
        "42501",
    );
    // Sharing rules and agreements need manage_sharing.
    refused_unchanged(
        &mut c,
        &format!(
            "INSERT INTO sharing.sharing_rules (company_id, source_role, target_role) VALUES ({co}, {u}, {u})",
            co = a.company,
            u = a.user_role
        ),
        "42501",
    );
    refused_unchanged(
        &mut c,
        "INSERT INTO sharing.companies (name) VALUES ('Mine')",
        "42501",
    );
    refused_unchanged(
        &mut c,
        "INSERT INTO sharing.object_types (name) VALUES ('mine')",
        "42501",
    );
    refused_unchanged(
        &mut c,
        "INSERT INTO sharing.trusted_app_roles VALUES ('postgres')",
        "42501",
    );
    // What they hold, they may hand out: the User role to sam, the Manager role too.
    c.batch_execute(&format!(
        "INSERT INTO sharing.user_roles (user_id, role_id) VALUES (51, {})",
        a.manager_role
    ))
    .unwrap();

    // With manage_roles, levels are bounded by their own.
    c.batch_execute(&format!(
        "RESET sharing.viewer;
         INSERT INTO sharing.role_privileges (role_id, privilege) VALUES ({m}, 'manage_roles');
         UPDATE sharing.role_permissions SET level = 'owned' WHERE role_id = {m} AND object_type = 'contacts' AND action = 'delete';
         INSERT INTO sharing.roles (id, company_id, name) VALUES (100, {co}, 'Team');
         SET sharing.viewer = '50';",
        m = a.manager_role,
        co = a.company
    ))
    .unwrap();
    let msg = refused_unchanged(
        &mut c,
        "INSERT INTO sharing.role_permissions (role_id, object_type, action, level)
         VALUES (100, 'contacts', 'view', 'all'), (100, 'contacts', 'edit', 'all'), (100, 'contacts', 'delete', 'all')",
        "42501",
    );
    assert!(
        msg.contains("\"all\"") && msg.contains("\"owned\"") && msg.contains("contacts"),
        "{msg}"
    );
    c.batch_execute(
        "INSERT INTO sharing.role_permissions (role_id, object_type, action, level)
         VALUES (100, 'contacts', 'view', 'all'), (100, 'contacts', 'edit', 'all'), (100, 'contacts', 'delete', 'owned')",
    )
    .unwrap();
    refused_unchanged(
        &mut c,
        &format!(
            "INSERT INTO sharing.roles (company_id, name, is_admin) VALUES ({}, 'Boss', true)",
            a.company
        ),
        "42501",
    );
    refused_unchanged(
        &mut c,
        &format!(
            "UPDATE sharing.roles SET based_on = {} WHERE id = 100",
            a.admin_role
        ),
        "42501",
    );
    refused_unchanged(
        &mut c,
        "INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (100, 'app.secret')",
        "42501",
    );
    // Another company is out of reach altogether.
    c.batch_execute("RESET sharing.viewer").unwrap();
    let other = one_i64(&mut c, "SELECT sharing.create_company('Globex')");
    c.batch_execute("SET sharing.viewer = '50'").unwrap();
    refused_unchanged(
        &mut c,
        &format!("INSERT INTO sharing.roles (company_id, name) VALUES ({other}, 'Spy')"),
        "42501",
    );
}

#[test]
fn no_escalation_through_helper_functions() {
    let db = TestDb::new("escalationfn");
    let mut c = db.dba();
    let a = acme(&mut c);
    manager_viewer(&mut c, &a);
    c.batch_execute(&format!(
        "INSERT INTO sharing.role_privileges (role_id, privilege) VALUES ({}, 'manage_roles');
         SET sharing.viewer = '50';",
        a.manager_role
    ))
    .unwrap();
    let msg = refused_unchanged(
        &mut c,
        &format!("SELECT sharing.copy_role({}, 'My admin')", a.admin_role),
        "42501",
    );
    assert!(msg.contains("admin"), "{msg}");
    refused_unchanged(&mut c, "SELECT sharing.create_company('Mine')", "42501");
    // copy_role of a role within their permissions works.
    let copy = one_i64(
        &mut c,
        &format!("SELECT sharing.copy_role({}, 'Helper')", a.user_role),
    );
    assert!(copy > 0);
    // delete_role needs manage_roles: without it, refused.
    c.batch_execute(&format!(
        "RESET sharing.viewer;
         DELETE FROM sharing.role_privileges WHERE role_id = {} AND privilege = 'manage_roles';
         SET sharing.viewer = '50';",
        a.manager_role
    ))
    .unwrap();
    refused_unchanged(
        &mut c,
        &format!("SELECT sharing.delete_role({copy}, NULL)"),
        "42501",
    );
    // And a pending viewer can do nothing at all.
    c.batch_execute("RESET sharing.viewer; UPDATE sharing.users SET status = 'pending' WHERE id = 50; SET sharing.viewer = '50';")
        .unwrap();
    refused_unchanged(
        &mut c,
        &format!("SELECT sharing.copy_role({}, 'Again')", a.user_role),
        "42501",
    );
}

#[test]
fn custom_privileges_and_system_names() {
    let db = TestDb::new("privnames");
    let mut c = db.dba();
    let a = acme(&mut c);
    // A system name always means the system privilege: 'manage_roles' on a role
    // really lets its members manage roles.
    c.batch_execute(&format!(
        "INSERT INTO sharing.roles (id, company_id, name) VALUES (100, {co}, 'Role keeper');
         INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (100, 'manage_roles');
         INSERT INTO sharing.users (id, company_id, name) VALUES (7, {co}, 'ann');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (7, 100);",
        co = a.company
    ))
    .unwrap();
    assert!(one_bool(
        &mut c,
        "SELECT sharing.has_privilege(7, 'manage_roles')"
    ));
    c.batch_execute(&format!(
        "SET sharing.viewer = '7'; INSERT INTO sharing.roles (company_id, name) VALUES ({}, 'Made by ann'); RESET sharing.viewer;",
        a.company
    ))
    .unwrap();
    let privs = one_str(
        &mut c,
        "SELECT (sharing.effective_perms(7)->'privileges')::text",
    );
    assert_eq!(privs, r#"["manage_roles"]"#);
    // Case variants of a system name, empty names and separators are refused.
    let msg = refused_unchanged(
        &mut c,
        "INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (100, 'Manage_Roles')",
        "22023",
    );
    assert!(
        msg.contains("\"Manage_Roles\"") && msg.contains("manage_roles"),
        "{msg}"
    );
    refused_unchanged(
        &mut c,
        "INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (100, '')",
        "22023",
    );
    refused_unchanged(
        &mut c,
        "INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (100, 'app.crm, app.x')",
        "22023",
    );
    // A custom name without a dot is accepted with a NOTICE recommending dots.
    let notices = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = notices.clone();
    let mut cfg: postgres::Config = format!(
        "host=127.0.0.1 port={} user=postgres dbname={}",
        std::env::var("PG_SHARING_TEST_PORT").unwrap(),
        db.name
    )
    .parse()
    .unwrap();
    cfg.notice_callback(move |n| sink.lock().unwrap().push(n.message().to_string()));
    let mut c2 = cfg.connect(postgres::NoTls).unwrap();
    c2.batch_execute(
        "INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (100, 'insight')",
    )
    .unwrap();
    let seen = notices.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|n| n.contains("\"insight\"") && n.contains("dot")),
        "{seen:?}"
    );
    assert!(one_bool(
        &mut c,
        "SELECT sharing.has_privilege(7, 'insight')"
    ));
    assert!(!one_bool(
        &mut c,
        "SELECT sharing.has_privilege(7, 'billing')"
    ));
}

#[test]
fn agreements_are_changed_only_from_the_grantor() {
    let db = TestDb::new("agreements");
    let mut c = db.dba();
    let a = acme(&mut c);
    let globex = one_i64(&mut c, "SELECT sharing.create_company('Globex')");
    let (globex_admin, _, _) = standard_roles(&mut c, globex);
    c.batch_execute(&format!(
        "INSERT INTO sharing.users (id, company_id, name) VALUES (1, {acme}, 'acme admin'), (2, {globex}, 'globex admin');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (1, {aa}), (2, {globex_admin});
         SET sharing.viewer = '1';
         INSERT INTO sharing.agreements (id, grantor_company, grantee_company, notes) VALUES (10, {acme}, {globex}, 'partners');
         INSERT INTO sharing.agreement_permissions (agreement_id, object_type, action) VALUES (10, 'deals', 'view');
         SET sharing.viewer = '2';",
        acme = a.company,
        aa = a.admin_role
    ))
    .unwrap();
    let msg = refused_unchanged(
        &mut c,
        "UPDATE sharing.agreements SET notes = 'mine now' WHERE id = 10",
        "42501",
    );
    assert!(msg.contains("grantee"), "{msg}");
    refused_unchanged(
        &mut c,
        "INSERT INTO sharing.agreement_permissions (agreement_id, object_type, action) VALUES (10, 'deals', 'delete')",
        "42501",
    );
    refused_unchanged(
        &mut c,
        "DELETE FROM sharing.agreement_permissions WHERE agreement_id = 10",
        "42501",
    );
    refused_unchanged(
        &mut c,
        "DELETE FROM sharing.agreements WHERE id = 10",
        "42501",
    );
    refused_unchanged(
        &mut c,
        &format!(
            "INSERT INTO sharing.agreements (grantor_company, grantee_company) VALUES ({}, {globex})",
            a.company
        ),
        "42501",
    );
    // The grantee may create its own agreement towards the grantor.
    c.batch_execute(&format!(
        "INSERT INTO sharing.agreements (grantor_company, grantee_company) VALUES ({globex}, {})",
        a.company
    ))
    .unwrap();
    // One agreement per ordered pair, never with itself.
    c.batch_execute("RESET sharing.viewer").unwrap();
    refused_unchanged(
        &mut c,
        &format!("INSERT INTO sharing.agreements (grantor_company, grantee_company) VALUES ({}, {globex})", a.company),
        "23505",
    );
    refused_unchanged(
        &mut c,
        &format!(
            "INSERT INTO sharing.agreements (grantor_company, grantee_company) VALUES ({0}, {0})",
            a.company
        ),
        "23514",
    );
}

#[test]
fn deleting_a_company_takes_everything_along() {
    let db = TestDb::new("dropcompany");
    let mut c = db.dba();
    let a = acme(&mut c);
    c.batch_execute(&format!(
        "INSERT INTO sharing.users (id, company_id, name) VALUES (7, {co}, 'ann');
         INSERT INTO sharing.roles (company_id, name, reports_to, based_on) VALUES ({co}, 'Sales', {m}, {u});
         DELETE FROM sharing.companies WHERE id = {co};",
        co = a.company,
        m = a.manager_role,
        u = a.user_role
    ))
    .unwrap();
    assert_eq!(one_i64(&mut c, "SELECT count(*) FROM sharing.roles"), 0);
    assert_eq!(one_i64(&mut c, "SELECT count(*) FROM sharing.users"), 0);
    assert_eq!(
        one_i64(&mut c, "SELECT count(*) FROM sharing.user_roles"),
        0
    );
}
