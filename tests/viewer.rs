//! docs/concepts.md, "The viewer": who is asking. Mapped logins, trusted application roles, the GUC,
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
    a.batch_execute("BEGIN; SET LOCAL sharing.viewer = '7'")
        .unwrap();
    assert_eq!(one_i64(&mut a, "SELECT sharing.current_viewer()"), 7);
    a.batch_execute("COMMIT").unwrap();
    // Not even a trusted role may name an unknown user.
    a.batch_execute("BEGIN; SET LOCAL sharing.viewer = '31337'")
        .unwrap();
    expect_error(&mut a, "SELECT sharing.current_viewer()", "22023");
    a.batch_execute("ROLLBACK").unwrap();
    // Revoking trust takes effect at the next statement.
    a.batch_execute("BEGIN; SET LOCAL sharing.viewer = '7'")
        .unwrap();
    assert_eq!(one_i64(&mut a, "SELECT sharing.current_viewer()"), 7);
    c.batch_execute(&format!(
        "DELETE FROM sharing.trusted_app_roles WHERE db_role = '{group}'"
    ))
    .unwrap();
    expect_error(&mut a, "SELECT sharing.current_viewer()", "42501");
    a.batch_execute("ROLLBACK").unwrap();
    drop(a);
    drop(s);
    c.batch_execute(&format!("REVOKE {group} FROM {app}"))
        .unwrap();
    let mut admin = connect_to("postgres", "postgres");
    admin.batch_execute(&format!("DROP ROLE {group}")).ok();
}

/// The rows of `deals` viewer `v` may see, decided by the DBA (the expected answer).
fn visible_to(dba: &mut postgres::Client, v: i64) -> Vec<i64> {
    ids(
        dba,
        &format!("SELECT id FROM deals WHERE sharing.can_access('deals', 'view', owner_id, company_id, {v}) ORDER BY id"),
    )
}

/// A connection as `role` with libpq startup options (PGOPTIONS).
fn connect_with_options(db: &TestDb, role: &str, options: &str) -> postgres::Client {
    let port = std::env::var("PG_SHARING_TEST_PORT").expect("PG_SHARING_TEST_PORT");
    postgres::Client::connect(
        &format!(
            "host=127.0.0.1 port={port} user={role} dbname={} options='{options}'",
            db.name
        ),
        postgres::NoTls,
    )
    .expect("connect with options")
}

#[test]
fn trusted_roles_set_the_viewer_per_transaction_only() {
    let mut db = TestDb::new("viewerscope");
    let (mut dba, app) = insightly(&mut db);
    let ed = visible_to(&mut dba, 5);
    let eve = visible_to(&mut dba, 3);
    assert!(!ed.is_empty() && ed != eve, "{ed:?} {eve:?}");
    let mut a = db.connect_as(&app);

    // A session-level SET: refused at the protected statement, in this and any
    // later transaction, naming the role and the viewer.
    a.batch_execute("SET sharing.viewer = '5'").unwrap();
    let msg = expect_error(&mut a, "SELECT id FROM deals", "42501");
    assert!(
        msg.contains(&app) && msg.contains('5') && msg.contains("SET LOCAL"),
        "{msg}"
    );
    expect_error(&mut a, "SELECT sharing.current_viewer()", "42501");
    a.batch_execute("BEGIN; SELECT 1; COMMIT").unwrap();
    expect_error(&mut a, "SELECT id FROM deals", "42501");
    expect_error(&mut a, "BEGIN; SELECT id FROM deals", "42501");
    a.batch_execute("ROLLBACK").unwrap();
    // Set at session level inside a transaction: refused there already.
    a.batch_execute("RESET sharing.viewer").unwrap();
    a.batch_execute("BEGIN; SET sharing.viewer = '5'").unwrap();
    expect_error(&mut a, "SELECT id FROM deals", "42501");
    a.batch_execute("ROLLBACK").unwrap();

    // SET LOCAL and set_config(…, true): the viewer's rows.
    a.batch_execute("BEGIN; SET LOCAL sharing.viewer = '5'")
        .unwrap();
    assert_eq!(ids(&mut a, "SELECT id FROM deals ORDER BY id"), ed);
    a.batch_execute("COMMIT; BEGIN").unwrap();
    a.batch_execute("SELECT set_config('sharing.viewer', '3', true)")
        .unwrap();
    assert_eq!(ids(&mut a, "SELECT id FROM deals ORDER BY id"), eve);
    a.batch_execute("COMMIT").unwrap();
    // No viewer after COMMIT: nothing.
    assert!(ids(&mut a, "SELECT id FROM deals").is_empty());

    // SET LOCAL over a session value is honoured for its transaction; after it,
    // the session value is back and refused again (the memo keeps no "allowed").
    a.batch_execute("SET sharing.viewer = '5'").unwrap();
    a.batch_execute("BEGIN; SET LOCAL sharing.viewer = '3'")
        .unwrap();
    assert_eq!(ids(&mut a, "SELECT id FROM deals ORDER BY id"), eve);
    a.batch_execute("SAVEPOINT s; SET LOCAL sharing.viewer = '5'")
        .unwrap();
    assert_eq!(ids(&mut a, "SELECT id FROM deals ORDER BY id"), ed);
    a.batch_execute("RELEASE SAVEPOINT s").unwrap();
    assert_eq!(ids(&mut a, "SELECT id FROM deals ORDER BY id"), ed);
    // A plain SET after SET LOCAL in the same transaction is session-level again.
    a.batch_execute("SET sharing.viewer = '3'").unwrap();
    expect_error(&mut a, "SELECT id FROM deals", "42501");
    a.batch_execute("ROLLBACK").unwrap();
    expect_error(&mut a, "SELECT id FROM deals", "42501");
    a.batch_execute("RESET sharing.viewer").unwrap();

    // A function's SET clause lasts for the call: honoured.
    dba.batch_execute(&format!(
        "CREATE FUNCTION ed_deals() RETURNS SETOF bigint LANGUAGE sql SET sharing.viewer = '5'
           AS 'SELECT id FROM deals ORDER BY id';
         GRANT EXECUTE ON FUNCTION ed_deals() TO {app};"
    ))
    .unwrap();
    assert_eq!(ids(&mut a, "SELECT * FROM ed_deals()"), ed);
    drop(a);

    // ALTER ROLE … SET and startup options are session-level: refused.
    dba.batch_execute(&format!("ALTER ROLE {app} SET sharing.viewer = '5'"))
        .unwrap();
    let mut a = db.connect_as(&app);
    assert_eq!(one_str(&mut a, "SHOW sharing.viewer"), "5");
    expect_error(&mut a, "SELECT id FROM deals", "42501");
    // …but SET LOCAL over it works.
    a.batch_execute("BEGIN; SET LOCAL sharing.viewer = '3'")
        .unwrap();
    assert_eq!(ids(&mut a, "SELECT id FROM deals ORDER BY id"), eve);
    a.batch_execute("COMMIT").unwrap();
    drop(a);
    dba.batch_execute(&format!("ALTER ROLE {app} RESET sharing.viewer"))
        .unwrap();
    let mut a = connect_with_options(&db, &app, "-c sharing.viewer=5");
    expect_error(&mut a, "SELECT id FROM deals", "42501");
}

#[test]
fn dba_sessions_and_mapped_logins_keep_session_viewers() {
    let mut db = TestDb::new("viewerscopedba");
    let (mut dba, app) = insightly(&mut db);
    let ed = visible_to(&mut dba, 5);
    // A superuser session: a plain SET works (superusers bypass RLS, so ask
    // current_viewer()).
    dba.batch_execute("SET sharing.viewer = '5'").unwrap();
    assert_eq!(one_i64(&mut dba, "SELECT sharing.current_viewer()"), 5);
    dba.batch_execute("BEGIN; COMMIT").unwrap();
    assert_eq!(one_i64(&mut dba, "SELECT sharing.current_viewer()"), 5);
    dba.batch_execute("RESET sharing.viewer").unwrap();

    // A mapped login: its own user, whatever the scope of its (equal) setting.
    let ann = db.login("ann");
    dba.batch_execute(&format!(
        "UPDATE sharing.users SET db_role = '{ann}' WHERE id = 5; GRANT SELECT ON deals TO {ann};"
    ))
    .unwrap();
    let mut m = db.connect_as(&ann);
    assert_eq!(ids(&mut m, "SELECT id FROM deals ORDER BY id"), ed);
    m.batch_execute("SET sharing.viewer = '5'").unwrap();
    assert_eq!(ids(&mut m, "SELECT id FROM deals ORDER BY id"), ed);
    m.batch_execute("BEGIN; COMMIT").unwrap();
    assert_eq!(ids(&mut m, "SELECT id FROM deals ORDER BY id"), ed);

    // A member of sharing_admin is a DBA too (when the role exists).
    let has_admin = one_bool(
        &mut dba,
        "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sharing_admin')",
    );
    if has_admin {
        let ops = db.login("ops");
        dba.batch_execute(&format!(
            "GRANT sharing_admin TO {ops}; INSERT INTO sharing.trusted_app_roles VALUES ('{ops}');
             GRANT SELECT ON deals TO {ops};"
        ))
        .unwrap();
        let mut o = db.connect_as(&ops);
        o.batch_execute("SET sharing.viewer = '5'").unwrap();
        assert_eq!(ids(&mut o, "SELECT id FROM deals ORDER BY id"), ed);
        o.batch_execute("SET sharing.viewer_scope = session")
            .unwrap();
        drop(o);
        dba.batch_execute(&format!("REVOKE sharing_admin FROM {ops}"))
            .unwrap();
    }
    let _ = app;
}

#[test]
fn only_dbas_may_allow_session_viewers() {
    let mut db = TestDb::new("viewerscopeset");
    let (mut dba, app) = insightly(&mut db);
    let ed = visible_to(&mut dba, 5);
    assert_eq!(
        one_str(&mut dba, "SHOW sharing.viewer_scope"),
        "transaction"
    );
    let preloaded = one_str(&mut dba, "SHOW shared_preload_libraries").contains("pg_sharing");
    let mut a = db.connect_as(&app);
    if preloaded {
        // Preloaded (scripts/cluster.sh): the check hook is there from the start.
        expect_error(&mut a, "SET sharing.viewer_scope = session", "42501");
    } else {
        // Before pg_sharing is loaded in a session the setting is a placeholder: it
        // is checked when the library loads, and dropped (a WARNING) for a non-DBA.
        a.batch_execute("SET sharing.viewer_scope = session")
            .unwrap();
        a.batch_execute("SELECT sharing.current_viewer()").unwrap();
    }
    assert_eq!(one_str(&mut a, "SHOW sharing.viewer_scope"), "transaction");
    for sql in [
        "SET sharing.viewer_scope = session",
        "BEGIN; SET LOCAL sharing.viewer_scope = session",
        "SELECT set_config('sharing.viewer_scope', 'session', false)",
        &format!("ALTER ROLE {app} SET sharing.viewer_scope = session"),
    ] {
        let msg = expect_error(&mut a, sql, "42501");
        assert!(msg.contains(&app) && msg.contains("viewer_scope"), "{msg}");
        a.batch_execute("ROLLBACK").unwrap();
    }
    expect_error(&mut a, "SET sharing.viewer_scope = everything", "22023");
    // Setting it back to transaction is anyone's right.
    a.batch_execute("SET sharing.viewer_scope = transaction")
        .unwrap();
    // Startup options too: refused at login when preloaded, else dropped when the
    // library loads.
    if preloaded {
        let port = std::env::var("PG_SHARING_TEST_PORT").expect("PG_SHARING_TEST_PORT");
        let refused = postgres::Client::connect(
            &format!(
                "host=127.0.0.1 port={port} user={app} dbname={} options='-c sharing.viewer_scope=session'",
                db.name
            ),
            postgres::NoTls,
        )
        .err()
        .expect("the login is refused");
        assert_eq!(
            refused.code(),
            Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{refused}"
        );
    } else {
        let mut o = connect_with_options(&db, &app, "-c sharing.viewer_scope=session");
        o.batch_execute("SELECT sharing.current_viewer()").unwrap();
        assert_eq!(one_str(&mut o, "SHOW sharing.viewer_scope"), "transaction");
    }

    // A DBA may: in its session, for the application role it switches to…
    dba.batch_execute(&format!(
        "SET sharing.viewer_scope = session; SET ROLE {app}; SET sharing.viewer = '5'"
    ))
    .unwrap();
    assert_eq!(ids(&mut dba, "SELECT id FROM deals ORDER BY id"), ed);
    dba.batch_execute("BEGIN; COMMIT").unwrap();
    assert_eq!(ids(&mut dba, "SELECT id FROM deals ORDER BY id"), ed);
    // …and back to transaction, the same session viewer is refused again.
    dba.batch_execute(&format!(
        "RESET ROLE; RESET sharing.viewer_scope; SET ROLE {app}"
    ))
    .unwrap();
    expect_error(&mut dba, "SELECT id FROM deals", "42501");
    dba.batch_execute("RESET ROLE; RESET sharing.viewer")
        .unwrap();

    // …or for the role's sessions, with ALTER ROLE … SET.
    dba.batch_execute(&format!(
        "ALTER ROLE {app} SET sharing.viewer_scope = session"
    ))
    .unwrap();
    let mut a = db.connect_as(&app);
    assert_eq!(one_str(&mut a, "SHOW sharing.viewer_scope"), "session");
    a.batch_execute("SET sharing.viewer = '5'").unwrap();
    assert_eq!(ids(&mut a, "SELECT id FROM deals ORDER BY id"), ed);
    dba.batch_execute(&format!("ALTER ROLE {app} RESET sharing.viewer_scope"))
        .unwrap();
}

/// (can_access for viewers 5, 6 and 3 on their own deals) as the DBA sees it now.
fn access(dba: &mut postgres::Client) -> (bool, bool, bool) {
    let row = dba
        .query_one(
            "SELECT sharing.can_access('deals', 'view', 5, 1, 5), sharing.can_access('deals', 'view', 6, 1, 6),
                    sharing.can_access('deals', 'view', 5, 1, 3)",
            &[],
        )
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

#[test]
fn a_change_rolled_back_to_a_savepoint_no_longer_counts() {
    let mut db = TestDb::new("viewersavepoint");
    let (mut dba, _app) = insightly(&mut db);
    let all = (true, true, true);
    assert_eq!(access(&mut dba), all);
    for isolation in ["REPEATABLE READ", "READ COMMITTED", "SERIALIZABLE"] {
        // Disable a user in a savepoint, roll it back.
        dba.batch_execute(&format!("BEGIN ISOLATION LEVEL {isolation}"))
            .unwrap();
        assert_eq!(access(&mut dba), all, "{isolation}");
        dba.batch_execute("SAVEPOINT s; UPDATE sharing.users SET status = 'disabled' WHERE id = 5")
            .unwrap();
        assert_eq!(access(&mut dba), (false, true, true), "{isolation}");
        dba.batch_execute("ROLLBACK TO SAVEPOINT s").unwrap();
        assert_eq!(access(&mut dba), all, "{isolation}: after ROLLBACK TO");

        // Nested: the outer change stays, the inner one goes.
        dba.batch_execute(
            "SAVEPOINT a; UPDATE sharing.users SET status = 'disabled' WHERE id = 5;
             SAVEPOINT b; UPDATE sharing.users SET status = 'disabled' WHERE id = 6",
        )
        .unwrap();
        assert_eq!(access(&mut dba), (false, false, true), "{isolation}");
        dba.batch_execute("ROLLBACK TO SAVEPOINT b").unwrap();
        assert_eq!(access(&mut dba), (false, true, true), "{isolation}: to b");
        // Move eve's role out of ed's chain, then undo it with the outer savepoint.
        dba.batch_execute("SAVEPOINT c; UPDATE sharing.roles SET reports_to = 12 WHERE id = 13")
            .unwrap();
        assert_eq!(access(&mut dba), (false, true, false), "{isolation}");
        dba.batch_execute("RELEASE SAVEPOINT c").unwrap();
        assert_eq!(
            access(&mut dba),
            (false, true, false),
            "{isolation}: released"
        );
        dba.batch_execute("ROLLBACK TO SAVEPOINT a").unwrap();
        assert_eq!(access(&mut dba), all, "{isolation}: to a");
        dba.batch_execute("COMMIT").unwrap();
        assert_eq!(access(&mut dba), all, "{isolation}: committed");
    }
    // A PL/pgSQL exception block is a savepoint too.
    dba.batch_execute(
        "DO $$ BEGIN
           BEGIN
             UPDATE sharing.users SET status = 'disabled' WHERE id = 5;
             IF sharing.can_access('deals', 'view', 5, 1, 5) THEN RAISE 'still allowed'; END IF;
             RAISE EXCEPTION 'undo';
           EXCEPTION WHEN raise_exception THEN NULL;
           END;
           IF NOT sharing.can_access('deals', 'view', 5, 1, 5) THEN RAISE 'denied after the rollback'; END IF;
         END $$",
    )
    .unwrap_or_else(|e| panic!("{:?}", e.as_db_error()));
}

#[test]
fn materialized_views_are_refreshed_as_their_owner() {
    let mut db = TestDb::new("viewermatview");
    let (mut dba, app) = insightly(&mut db);
    let ed = visible_to(&mut dba, 5);
    let wes = visible_to(&mut dba, 4);
    assert_ne!(ed, wes);
    let owner = db.login("owner");
    let other = db.login("other");
    dba.batch_execute(&format!(
        "UPDATE sharing.users SET db_role = '{owner}' WHERE id = 5;
         UPDATE sharing.users SET db_role = '{other}' WHERE id = 4;
         GRANT SELECT ON deals TO {owner}, {other};
         GRANT CREATE ON SCHEMA public TO {owner};
         GRANT {owner} TO {other};"
    ))
    .unwrap();
    let mut o = db.connect_as(&owner);
    o.batch_execute(
        "CREATE MATERIALIZED VIEW mv AS SELECT id FROM deals;
         CREATE MATERIALIZED VIEW mv_viewer AS SELECT sharing.current_viewer() AS v;",
    )
    .unwrap();
    let read = |c: &mut postgres::Client| {
        (
            ids(c, "SELECT id FROM mv ORDER BY id"),
            c.query_one("SELECT v FROM mv_viewer", &[])
                .unwrap()
                .get::<_, Option<i64>>(0),
        )
    };
    assert_eq!(
        read(&mut dba),
        (ed.clone(), Some(5)),
        "created by the owner"
    );
    // Refreshed by a superuser: still the owner's rows.
    dba.batch_execute("REFRESH MATERIALIZED VIEW mv; REFRESH MATERIALIZED VIEW mv_viewer")
        .unwrap();
    assert_eq!(
        read(&mut dba),
        (ed.clone(), Some(5)),
        "refreshed by a superuser"
    );
    // With a viewer of its own set, the owner's mapping refuses it (it used to fill
    // the view with the director's rows).
    dba.batch_execute("SET sharing.viewer = '2'").unwrap();
    expect_error(&mut dba, "REFRESH MATERIALIZED VIEW mv", "42501");
    expect_error(&mut dba, "REFRESH MATERIALIZED VIEW mv_viewer", "42501");
    dba.batch_execute("RESET sharing.viewer").unwrap();
    assert_eq!(read(&mut dba), (ed.clone(), Some(5)), "unchanged");
    // Refreshed by another mapped login (a member of the owner role).
    let mut b = db.connect_as(&other);
    b.batch_execute("REFRESH MATERIALIZED VIEW mv; REFRESH MATERIALIZED VIEW mv_viewer")
        .unwrap();
    assert_eq!(
        read(&mut dba),
        (ed.clone(), Some(5)),
        "refreshed by another login"
    );
    // By a trusted application role (a member of the owner role): the owner's rows
    // again; with a viewer of its own set, the owner's mapping refuses that viewer.
    dba.batch_execute(&format!("GRANT {owner} TO {app}"))
        .unwrap();
    let mut a = db.connect_as(&app);
    a.batch_execute("REFRESH MATERIALIZED VIEW mv; REFRESH MATERIALIZED VIEW mv_viewer")
        .unwrap();
    assert_eq!(
        read(&mut dba),
        (ed.clone(), Some(5)),
        "refreshed by the application"
    );
    expect_error(
        &mut a,
        "BEGIN; SET LOCAL sharing.viewer = '4'; REFRESH MATERIALIZED VIEW mv",
        "42501",
    );
    a.batch_execute("ROLLBACK").unwrap();
    assert_eq!(read(&mut dba), (ed, Some(5)), "unchanged");
    drop((o, b, a));
    dba.batch_execute(&format!(
        "DROP MATERIALIZED VIEW mv, mv_viewer; REVOKE CREATE ON SCHEMA public FROM {owner};
         REVOKE {owner} FROM {other}, {app};"
    ))
    .unwrap();
}
