//! SPEC §4: who is asking. Mapped logins, trusted application roles, the GUC,
//! and every way of getting it wrong.

mod common;
use common::*;

fn org(db: &TestDb) -> postgres::Client {
    let mut c = db.dba();
    c.batch_execute(
        "SELECT sharing.create_company('Acme');
         INSERT INTO sharing.users (id, company_id, name) VALUES (7, 1, 'ann'), (8, 1, 'bob'), (9, 1, 'cat');",
    )
    .unwrap();
    c
}

#[test]
fn no_viewer_is_null_and_superusers_may_set_one() {
    let db = TestDb::new("viewerdba");
    let mut c = org(&db);
    assert_eq!(
        c.query_one("SELECT sharing.current_viewer()", &[])
            .unwrap()
            .get::<_, Option<i64>>(0),
        None
    );
    c.batch_execute("SET sharing.viewer = '8'").unwrap();
    assert_eq!(one_i64(&mut c, "SELECT sharing.current_viewer()"), 8);
    // SET LOCAL lasts one transaction, as an application server uses it per request.
    c.batch_execute("RESET sharing.viewer; BEGIN; SET LOCAL sharing.viewer = '9'")
        .unwrap();
    assert_eq!(one_i64(&mut c, "SELECT sharing.current_viewer()"), 9);
    c.batch_execute("COMMIT").unwrap();
    assert_eq!(
        c.query_one("SELECT sharing.current_viewer()", &[])
            .unwrap()
            .get::<_, Option<i64>>(0),
        None
    );
    // An empty setting (what poolers reset to) is no viewer.
    c.batch_execute("SET sharing.viewer = ''").unwrap();
    assert_eq!(
        c.query_one("SELECT sharing.current_viewer()", &[])
            .unwrap()
            .get::<_, Option<i64>>(0),
        None
    );
}

#[test]
fn malformed_and_unknown_ids_are_errors() {
    let db = TestDb::new("viewerbad");
    let mut c = org(&db);
    c.batch_execute("SET sharing.viewer = 'seven'").unwrap();
    let msg = expect_error(&mut c, "SELECT sharing.current_viewer()", "22023");
    assert!(msg.contains("\"seven\""), "{msg}");
    c.batch_execute("SET sharing.viewer = '99999999999999999999'")
        .unwrap();
    expect_error(&mut c, "SELECT sharing.current_viewer()", "22023");
    c.batch_execute("SET sharing.viewer = '4242'").unwrap();
    let msg = expect_error(&mut c, "SELECT sharing.current_viewer()", "22023");
    assert!(msg.contains("4242"), "{msg}");
}

#[test]
fn mapped_logins_are_their_user_and_cannot_pretend() {
    let mut db = TestDb::new("viewermapped");
    let mut c = org(&db);
    let ann = db.login("ann");
    c.batch_execute(&format!(
        "UPDATE sharing.users SET db_role = '{ann}' WHERE id = 7"
    ))
    .unwrap();
    let mut a = db.connect_as(&ann);
    assert_eq!(one_i64(&mut a, "SELECT sharing.current_viewer()"), 7);
    a.batch_execute("SET sharing.viewer = '7'").unwrap();
    assert_eq!(one_i64(&mut a, "SELECT sharing.current_viewer()"), 7);
    a.batch_execute("SET sharing.viewer = '8'").unwrap();
    let msg = expect_error(&mut a, "SELECT sharing.current_viewer()", "42501");
    assert!(msg.contains(&ann) && msg.contains('8'), "{msg}");
    // set_config in a subquery is the same thing.
    a.batch_execute("RESET sharing.viewer").unwrap();
    expect_error(
        &mut a,
        "SELECT sharing.current_viewer() FROM (SELECT set_config('sharing.viewer', '9', false)) s",
        "42501",
    );
}

#[test]
fn only_trusted_roles_may_set_the_viewer() {
    let mut db = TestDb::new("viewertrust");
    let mut c = org(&db);
    let app = db.login("app");
    let stranger = db.login("stranger");
    let group = format!("{}_grp", db.name);
    c.batch_execute(&format!(
        "DROP ROLE IF EXISTS {group}; CREATE ROLE {group} NOLOGIN; GRANT {group} TO {app};
         INSERT INTO sharing.trusted_app_roles VALUES ('{group}');"
    ))
    .unwrap();
    let mut s = db.connect_as(&stranger);
    s.batch_execute("SET sharing.viewer = '7'").unwrap();
    let msg = expect_error(&mut s, "SELECT sharing.current_viewer()", "42501");
    assert!(
        msg.contains(&stranger) && msg.contains("trusted_app_roles"),
        "{msg}"
    );
    // SET ROLE to the trusted group is refused without membership.
    expect_error(&mut s, &format!("SET ROLE {group}"), "42501");

    let mut a = db.connect_as(&app);
    a.batch_execute("SET sharing.viewer = '7'").unwrap();
    assert_eq!(one_i64(&mut a, "SELECT sharing.current_viewer()"), 7);
    // Not even a trusted role may name an unknown user.
    a.batch_execute("SET sharing.viewer = '31337'").unwrap();
    expect_error(&mut a, "SELECT sharing.current_viewer()", "22023");
    // Revoking trust takes effect at the next statement.
    a.batch_execute("SET sharing.viewer = '7'").unwrap();
    c.batch_execute(&format!(
        "DELETE FROM sharing.trusted_app_roles WHERE db_role = '{group}'"
    ))
    .unwrap();
    expect_error(&mut a, "SELECT sharing.current_viewer()", "42501");
    drop(a);
    drop(s);
    c.batch_execute(&format!("REVOKE {group} FROM {app}"))
        .unwrap();
    let mut admin = connect_to("postgres", "postgres");
    admin.batch_execute(&format!("DROP ROLE {group}")).ok();
}
