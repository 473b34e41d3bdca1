//! docs/concepts.md, "Effective permissions", and docs/sql-reference.md, "Views": effective permissions, the helpers and views, the standard
//! roles of a company, and the seed scenarios of the help pages.

mod common;
use common::*;
use serde_json::{json, Value};

fn perms(c: &mut postgres::Client, user: i64) -> Value {
    let text = one_str(c, &format!("SELECT sharing.effective_perms({user})::text"));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn effective_perms_has_the_exact_shape() {
    let db = TestDb::new("permsshape");
    let mut c = db.dba();
    c.batch_execute(
        "INSERT INTO sharing.object_types (name) VALUES ('deals'), ('contacts');
         SELECT sharing.create_company('Acme');
         INSERT INTO sharing.roles (id, company_id, name, based_on) VALUES (100, 1, 'Salesperson', 3);
         UPDATE sharing.role_permissions SET level = 'none' WHERE role_id = 3 AND object_type = 'deals' AND action = 'delete';
         INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (100, 'app.crm'), (100, 'reports');
         INSERT INTO sharing.users (id, company_id, name) VALUES (7, 1, 'ann');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (7, 100);
         DELETE FROM sharing.user_roles WHERE user_id = 7 AND role_id = 3;",
    )
    .unwrap();
    let owned = json!({"create": "owned", "view": "owned", "edit": "owned", "delete": "owned"});
    assert_eq!(
        perms(&mut c, 7),
        json!({"user_id": 7, "company_id": 1, "status": "active", "superuser": false, "admin": false,
               "roles": ["Salesperson"],
               "permissions": {
                   "contacts": owned,
                   "deals": {"create": "owned", "view": "owned", "edit": "owned", "delete": "none"}},
               "privileges": ["app.crm", "reports"]})
    );
    // Keys sorted in the text form too (jsonb) and every type listed.
    let rows: Vec<(String, String, String)> = c
        .query(
            "SELECT * FROM sharing.effective_permissions(7) ORDER BY 1, 2",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(rows.len(), 8);
    assert!(rows.contains(&("deals".into(), "delete".into(), "none".into())));
    // Unknown users are an error, NULL is NULL.
    let msg = expect_error(&mut c, "SELECT sharing.effective_perms(4242)", "22023");
    assert!(msg.contains("4242"), "{msg}");
    expect_error(
        &mut c,
        "SELECT sharing.has_privilege(4242, 'reports')",
        "22023",
    );
    assert!(c
        .query_one("SELECT sharing.effective_perms(NULL)::text", &[])
        .unwrap()
        .get::<_, Option<String>>(0)
        .is_none());
}

#[test]
fn admins_superusers_and_inactive_users() {
    let db = TestDb::new("permsflags");
    let mut c = db.dba();
    c.batch_execute(
        "INSERT INTO sharing.object_types (name) VALUES ('deals');
         SELECT sharing.create_company('Acme');
         INSERT INTO sharing.users (id, company_id, name, is_superuser, status) VALUES
            (1, 1, 'admin', false, 'active'), (2, 1, 'root', true, 'active'),
            (3, 1, 'guest', false, 'pending'), (4, 1, 'gone', true, 'disabled'),
            (5, 1, 'ops', false, 'active');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (1, 1);
         INSERT INTO sharing.roles (id, company_id, name) VALUES (100, 1, 'Ops');
         INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (100, 'admin');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (5, 100);",
    )
    .unwrap();
    let all = json!({"create": "all", "view": "all", "edit": "all", "delete": "all"});
    let none = json!({"create": "none", "view": "none", "edit": "none", "delete": "none"});
    for u in [1, 2, 5] {
        let p = perms(&mut c, u);
        assert_eq!(p["admin"], true, "user {u}");
        assert_eq!(p["permissions"]["deals"], all, "user {u}");
        assert_eq!(
            p["privileges"].as_array().unwrap().len(),
            10,
            "user {u}: {p}"
        );
    }
    assert_eq!(perms(&mut c, 2)["superuser"], true);
    assert!(one_bool(
        &mut c,
        "SELECT sharing.has_privilege(2, 'app.anything')"
    ));
    assert!(!one_bool(
        &mut c,
        "SELECT sharing.has_privilege(1, 'app.anything')"
    ));
    assert!(one_bool(
        &mut c,
        "SELECT sharing.has_privilege(1, 'billing')"
    ));
    for u in [3, 4] {
        let p = perms(&mut c, u);
        assert_eq!(p["permissions"]["deals"], none, "user {u}");
        assert_eq!(p["privileges"], json!([]));
        assert_eq!(p["superuser"], false);
        assert_eq!(p["admin"], false);
        assert!(!one_bool(
            &mut c,
            &format!("SELECT sharing.has_privilege({u}, 'reports')")
        ));
    }
    assert_eq!(perms(&mut c, 3)["status"], "pending");
}

#[test]
fn standard_roles_are_real_rows_for_every_type_even_later_ones() {
    let db = TestDb::new("standardroles");
    let mut c = db.dba();
    c.batch_execute(
        "INSERT INTO sharing.object_types (name) VALUES ('deals');
         SELECT sharing.create_company('Acme');
         SELECT sharing.create_company('Globex');
         INSERT INTO sharing.object_types (name) VALUES ('projects');",
    )
    .unwrap();
    let rows: Vec<(String, String, String, String, i64)> = c
        .query(
            "SELECT c.name, r.name, p.object_type, p.level, count(*)
               FROM sharing.role_permissions p JOIN sharing.roles r ON r.id = p.role_id
               JOIN sharing.companies c ON c.id = r.company_id
              GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    let expect = |co: &str, role: &str, t: &str, l: &str| {
        (
            co.to_string(),
            role.to_string(),
            t.to_string(),
            l.to_string(),
            4i64,
        )
    };
    assert_eq!(
        rows,
        vec![
            expect("Acme", "Manager", "deals", "all"),
            expect("Acme", "Manager", "projects", "all"),
            expect("Acme", "User", "deals", "owned"),
            expect("Acme", "User", "projects", "owned"),
            expect("Globex", "Manager", "deals", "all"),
            expect("Globex", "Manager", "projects", "all"),
            expect("Globex", "User", "deals", "owned"),
            expect("Globex", "User", "projects", "owned"),
        ]
    );
    // The hierarchy: User reports to Manager reports to Administrator; flags.
    let shape: Vec<(String, Option<String>, bool, bool, bool)> = c
        .query(
            "SELECT r.name, p.name, r.is_admin, r.is_default, r.is_protected
               FROM sharing.roles r LEFT JOIN sharing.roles p ON p.id = r.reports_to
              WHERE r.company_id = 1 ORDER BY r.id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    assert_eq!(
        shape,
        vec![
            ("Administrator".into(), None, true, false, true),
            (
                "Manager".into(),
                Some("Administrator".into()),
                false,
                false,
                false
            ),
            ("User".into(), Some("Manager".into()), false, true, true),
            ("Guest".into(), Some("Manager".into()), false, false, true),
        ]
    );
    // A DBA may change them like any other row.
    c.batch_execute("DELETE FROM sharing.role_permissions WHERE role_id = 2 AND object_type = 'projects' AND action IN ('delete')")
        .unwrap();
}

#[test]
fn matrix_and_members_views() {
    let db = TestDb::new("views");
    let mut c = db.dba();
    c.batch_execute(
        "INSERT INTO sharing.object_types (name) VALUES ('deals');
         SELECT sharing.create_company('Acme');
         INSERT INTO sharing.roles (id, company_id, name, based_on) VALUES (100, 1, 'Senior', 3);
         INSERT INTO sharing.role_permissions (role_id, object_type, action, level) VALUES (100, 'deals', 'view', 'all');
         INSERT INTO sharing.users (id, company_id, name) VALUES (7, 1, 'ann');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (7, 100);",
    )
    .unwrap();
    let matrix: Vec<(String, String, String)> = c
        .query(
            "SELECT role, action, level FROM sharing.role_permission_matrix
              WHERE company = 'Acme' AND object_type = 'deals' ORDER BY role, action",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let row = |r: &str, a: &str, l: &str| (r.to_string(), a.to_string(), l.to_string());
    assert!(matrix.contains(&row("Senior", "view", "all")));
    assert!(
        matrix.contains(&row("Senior", "edit", "owned")),
        "inherited from User"
    );
    assert!(matrix.contains(&row("Administrator", "delete", "all")));
    assert!(matrix.contains(&row("Guest", "view", "none")));
    assert_eq!(matrix.len(), 20);
    // Filtering by permission: who may view every deal?
    let who: Vec<String> = c
        .query(
            "SELECT role FROM sharing.role_permission_matrix
              WHERE object_type = 'deals' AND action = 'view' AND level = 'all' ORDER BY role",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(who, vec!["Administrator", "Manager", "Senior"]);
    let members: Vec<(String, String, String)> = c
        .query(
            "SELECT role, \"user\", company FROM sharing.role_members ORDER BY role",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        members,
        vec![row("Senior", "ann", "Acme"), row("User", "ann", "Acme")]
    );
}

/// Intum: "Salesperson" based on User plus the Insight permission, a cascade.
#[test]
fn seed_intum_salesperson_based_on_user_plus_insight() {
    let db = TestDb::new("seedintum");
    let mut c = db.dba();
    c.batch_execute(
        "INSERT INTO sharing.object_types (name) VALUES ('deals'), ('contacts');
         SELECT sharing.create_company('Intum');
         INSERT INTO sharing.roles (id, company_id, name, based_on) VALUES (100, 1, 'Salesperson', 3);
         INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (100, 'app.insight');
         INSERT INTO sharing.roles (id, company_id, name, based_on) VALUES (101, 1, 'Senior salesperson', 100);
         INSERT INTO sharing.role_permissions (role_id, object_type, action, level) VALUES (101, 'contacts', 'view', 'all');
         INSERT INTO sharing.users (id, company_id, name) VALUES (7, 1, 'sal'), (8, 1, 'sen'), (9, 1, 'usr');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (7, 100), (8, 101);
         DELETE FROM sharing.user_roles WHERE user_id IN (7, 8) AND role_id = 3;",
    )
    .unwrap();
    let user = perms(&mut c, 9);
    let sal = perms(&mut c, 7);
    assert_eq!(
        sal["permissions"], user["permissions"],
        "everything the User has"
    );
    assert_eq!(sal["privileges"], json!(["app.insight"]), "plus Insight");
    let sen = perms(&mut c, 8);
    assert_eq!(
        sen["privileges"],
        json!(["app.insight"]),
        "inherited through two levels"
    );
    assert_eq!(sen["permissions"]["contacts"]["view"], "all");
    assert_eq!(sen["permissions"]["contacts"]["edit"], "owned");
    // Changing the base changes every role built on it, at the next statement.
    c.batch_execute("UPDATE sharing.role_permissions SET level = 'all' WHERE role_id = 3 AND object_type = 'deals' AND action = 'view'")
        .unwrap();
    assert_eq!(perms(&mut c, 8)["permissions"]["deals"]["view"], "all");
}

/// Inperium: three-level delegation hierarchy Administrator / Manager / Regular user.
#[test]
fn seed_inperium_three_levels() {
    let db = TestDb::new("seedinperium");
    let mut c = db.dba();
    c.batch_execute(
        "INSERT INTO sharing.object_types (name) VALUES ('companies'), ('contacts');
         SELECT sharing.create_company('Inperium');
         UPDATE sharing.roles SET name = 'Regular user' WHERE id = 3;
         INSERT INTO sharing.users (id, company_id, name) VALUES (1, 1, 'owner'), (2, 1, 'manager'), (3, 1, 'regular');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (1, 1), (2, 2);",
    )
    .unwrap();
    let (owner, manager, regular) = (perms(&mut c, 1), perms(&mut c, 2), perms(&mut c, 3));
    assert_eq!(owner["admin"], true);
    assert!(owner["privileges"]
        .as_array()
        .unwrap()
        .contains(&json!("billing")));
    assert_eq!(manager["admin"], false);
    assert_eq!(manager["permissions"]["contacts"]["delete"], "all");
    assert_eq!(regular["roles"], json!(["Regular user"]));
    assert_eq!(regular["permissions"]["companies"]["edit"], "owned");
    assert_eq!(regular["privileges"], json!([]));
    assert!(!one_bool(
        &mut c,
        "SELECT sharing.has_privilege(2, 'billing')"
    ));
}

/// Administrate: every user keeps at least one role; roles combine.
#[test]
fn seed_administrate_at_least_one_role() {
    let db = TestDb::new("seedadministrate");
    let mut c = db.dba();
    c.batch_execute(
        "INSERT INTO sharing.object_types (name) VALUES ('invoices'), ('campaigns');
         SELECT sharing.create_company('Administrate');
         INSERT INTO sharing.roles (id, company_id, name) VALUES (100, 1, 'Finance'), (101, 1, 'Marketing');
         INSERT INTO sharing.role_permissions (role_id, object_type, action, level) VALUES
            (100, 'invoices', 'view', 'all'), (101, 'campaigns', 'view', 'all'), (101, 'campaigns', 'edit', 'all');
         INSERT INTO sharing.users (id, company_id, name) VALUES (7, 1, 'fin-and-mkt');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (7, 100), (7, 101);
         DELETE FROM sharing.user_roles WHERE user_id = 7 AND role_id = 3;",
    )
    .unwrap();
    let p = perms(&mut c, 7);
    assert_eq!(p["roles"], json!(["Finance", "Marketing"]));
    assert_eq!(p["permissions"]["invoices"]["view"], "all");
    assert_eq!(p["permissions"]["campaigns"]["edit"], "all");
    assert_eq!(p["permissions"]["invoices"]["edit"], "none");
    // Deleting both roles' memberships leaves the default role, never nothing.
    c.batch_execute("DELETE FROM sharing.user_roles WHERE user_id = 7")
        .unwrap();
    assert_eq!(perms(&mut c, 7)["roles"], json!(["User"]));
    refused_unchanged(
        &mut c,
        "DELETE FROM sharing.user_roles WHERE user_id = 7",
        "23514",
    );
}

/// Bitrix24: permissions of several roles combine; a copied role carries no members.
#[test]
fn seed_bitrix24_combine_and_copy() {
    let db = TestDb::new("seedbitrix");
    let mut c = db.dba();
    c.batch_execute(
        "INSERT INTO sharing.object_types (name) VALUES ('leads'), ('deals');
         SELECT sharing.create_company('Bitrix');
         INSERT INTO sharing.roles (id, company_id, name, description, reports_to) VALUES
            (100, 1, 'Leads only', 'works leads', 2), (101, 1, 'Deals only', NULL, 2);
         UPDATE sharing.role_permissions SET level = 'none' WHERE role_id = 3;
         INSERT INTO sharing.role_permissions (role_id, object_type, action, level) VALUES
            (100, 'leads', 'view', 'all'), (100, 'leads', 'edit', 'owned'),
            (100, 'deals', 'view', 'none'),
            (101, 'deals', 'view', 'owned'), (101, 'deals', 'create', 'owned');
         INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (100, 'app.leads');
         INSERT INTO sharing.users (id, company_id, name) VALUES (7, 1, 'both'), (8, 1, 'leads');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (7, 100), (7, 101), (8, 100);",
    )
    .unwrap();
    let p = perms(&mut c, 7);
    assert_eq!(p["permissions"]["leads"]["view"], "all");
    assert_eq!(p["permissions"]["deals"]["view"], "owned");
    assert_eq!(p["permissions"]["deals"]["create"], "owned");
    assert_eq!(perms(&mut c, 8)["permissions"]["deals"]["view"], "none");

    let copy = one_i64(&mut c, "SELECT sharing.copy_role(100, 'Leads only (copy)')");
    let same = one_bool(
        &mut c,
        &format!(
            "SELECT (SELECT array_agg((object_type, action, level) ORDER BY object_type, action) FROM sharing.role_permissions WHERE role_id = {copy})
                  = (SELECT array_agg((object_type, action, level) ORDER BY object_type, action) FROM sharing.role_permissions WHERE role_id = 100)
                AND (SELECT array_agg(privilege) FROM sharing.role_privileges WHERE role_id = {copy}) = ARRAY['app.leads']"
        ),
    );
    assert!(same, "the copy has the same permissions and privileges");
    assert_eq!(
        one_i64(
            &mut c,
            &format!("SELECT count(*) FROM sharing.user_roles WHERE role_id = {copy}")
        ),
        0
    );
    assert_eq!(
        one_str(&mut c, &format!("SELECT concat_ws('/', description, reports_to, is_default, is_protected) FROM sharing.roles WHERE id = {copy}")),
        "works leads/2/f/f"
    );
    let msg = refused_unchanged(
        &mut c,
        "SELECT sharing.copy_role(100, 'Deals only')",
        "23505",
    );
    assert!(msg.contains("Deals only"), "{msg}");
    refused_unchanged(&mut c, "SELECT sharing.copy_role(4242, 'Nope')", "22023");
}
