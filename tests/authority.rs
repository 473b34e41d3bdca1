//! Authority (docs/security.md, "The trust model" and "No escalation by effect"):
//! each escalation a delegated administrator could make on 0.3.0, tried as that
//! administrator's mapped login with the documented grants, must fail; the
//! ordinary work of delegated administrators must go on.
//!
//! Fixture: the Insightly org of tests/common — 1 ada (admin), 2 dan (director,
//! role 10), 3 eve (east manager, 11), 4 wes (west manager, 12), 5 ed and 6 em (east
//! reps, 13), 7 will (west rep, 14); one deal per user.

mod common;
use common::*;
use postgres::Client;

/// The Insightly org, `privileges` granted to roles, and a mapped login per user.
fn org(db: &mut TestDb, privileges: &[(i64, &str)], users: &[i64]) -> (Client, Vec<String>) {
    let (mut dba, _app) = insightly(db);
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
                "UPDATE sharing.users SET db_role = '{login}' WHERE id = {u}; GRANT SELECT, UPDATE ON deals TO {login};"
            ))
            .unwrap();
            login
        })
        .collect();
    (dba, logins)
}

#[test]
fn a_mapped_login_cannot_unmap_itself_or_map_others() {
    let mut db = TestDb::new("authmap");
    let (mut dba, logins) = org(&mut db, &[(13, "manage_users")], &[5]);
    let other = db.login("other");
    let app = db.login("app2");
    dba.batch_execute(&format!(
        "INSERT INTO sharing.trusted_app_roles VALUES ('{app}')"
    ))
    .unwrap();
    let mut ed = db.connect_as(&logins[0]);
    for sql in [
        "UPDATE sharing.users SET db_role = NULL WHERE id = 5".to_string(),
        format!("UPDATE sharing.users SET db_role = '{other}' WHERE id = 6"),
        format!("UPDATE sharing.users SET db_role = '{app}' WHERE id = 6"),
        "UPDATE sharing.users SET db_role = 'postgres' WHERE id = 6".to_string(),
        format!("INSERT INTO sharing.users (id, company_id, name, db_role) VALUES (60, 1, 'x', '{other}')"),
    ] {
        refused_unchanged(&mut ed, &sql, "42501");
    }
    // Without a viewer a login is nobody: it sees no user to make a superuser, and
    // cannot insert one.
    let mut o = db.connect_as(&other);
    let before = dump(&mut dba);
    assert_eq!(
        o.execute(
            "UPDATE sharing.users SET is_superuser = true WHERE id = 5",
            &[]
        )
        .unwrap(),
        0
    );
    assert_eq!(one_i64(&mut o, "SELECT count(*) FROM sharing.users"), 0);
    expect_error(
        &mut o,
        "INSERT INTO sharing.users (id, company_id, name, is_superuser) VALUES (61, 1, 'me', true)",
        "42501",
    );
    assert_eq!(before, dump(&mut dba));
}

#[test]
fn memberships_written_before_their_user_are_refused() {
    let mut db = TestDb::new("authcte");
    let (mut dba, logins) = org(&mut db, &[(13, "manage_users")], &[5]);
    dba.batch_execute("INSERT INTO sharing.companies (id, name) VALUES (2, 'Globex')")
        .unwrap();
    let mut ed = db.connect_as(&logins[0]);
    for role in [1, 4] {
        refused_unchanged(
            &mut ed,
            &format!(
                "WITH m AS (INSERT INTO sharing.user_roles (user_id, role_id) VALUES (70, {role}) RETURNING 1)
                 INSERT INTO sharing.users (id, company_id, name) SELECT 70, 1, 'ghost' FROM m"
            ),
            "23503",
        );
    }
}

#[test]
fn a_higher_role_with_the_same_levels_is_refused_by_its_effect() {
    let mut db = TestDb::new("authhigher");
    let (_dba, logins) = org(&mut db, &[(13, "manage_users")], &[5]);
    let mut ed = db.connect_as(&logins[0]);
    // The east manager's role has the same levels as ed's (owned): only the
    // hierarchy position differs. ed would read em's deal.
    let msg = refused_unchanged(
        &mut ed,
        "INSERT INTO sharing.user_roles (user_id, role_id) VALUES (5, 11)",
        "42501",
    );
    assert!(
        msg.contains("user 5 would gain") && msg.contains("user 6"),
        "{msg}"
    );
    // The same through a writable CTE that first removes and then re-adds rows.
    refused_unchanged(
        &mut ed,
        "WITH d AS (DELETE FROM sharing.user_roles WHERE user_id = 5 RETURNING 1)
         INSERT INTO sharing.user_roles (user_id, role_id) SELECT 5, 11 FROM d",
        "42501",
    );
    assert_eq!(
        ids(&mut ed, "SELECT id FROM deals ORDER BY id"),
        vec![5],
        "still only his own deal"
    );
}

#[test]
fn moving_roles_in_the_hierarchy_is_judged_by_its_effect() {
    let mut db = TestDb::new("authmove");
    let (mut dba, logins) = org(&mut db, &[(11, "manage_roles"), (11, "manage_users")], &[3]);
    let mut eve = db.connect_as(&logins[0]);
    // Moving the west team under her own role: she would read will's deal.
    let msg = refused_unchanged(
        &mut eve,
        "UPDATE sharing.roles SET reports_to = 11 WHERE id = 14",
        "42501",
    );
    assert!(msg.contains("user 3 would gain"), "{msg}");
    // Her own role to the top (she loses reach: accepted), then the Administrator
    // role under it (she would read the admin's deals): refused.
    eve.batch_execute("UPDATE sharing.roles SET reports_to = NULL WHERE id = 11")
        .unwrap();
    refused_unchanged(
        &mut eve,
        "UPDATE sharing.roles SET reports_to = 11 WHERE id = 1",
        "42501",
    );
    dba.batch_execute("UPDATE sharing.roles SET reports_to = 10 WHERE id = 11")
        .unwrap();
    // copy_role keeps the place in the hierarchy: a copy of the west manager's role
    // (a peer of hers), the west team moved under the copy (nobody gains: those
    // above it held the team already), then the copy given to herself: refused.
    let copy = one_i64(&mut eve, "SELECT sharing.copy_role(12, 'West copy')");
    eve.batch_execute(&format!(
        "UPDATE sharing.roles SET reports_to = {copy} WHERE id = 14"
    ))
    .unwrap();
    let msg = refused_unchanged(
        &mut eve,
        &format!("INSERT INTO sharing.user_roles (user_id, role_id) VALUES (3, {copy})"),
        "42501",
    );
    assert!(msg.contains("user 7"), "{msg}");
}

#[test]
fn delegated_administrators_still_do_their_work() {
    let mut db = TestDb::new("authwork");
    let (mut dba, logins) = org(
        &mut db,
        &[
            (10, "manage_users"),
            (10, "manage_roles"),
            (10, "manage_sharing"),
        ],
        &[2],
    );
    let mut dan = db.connect_as(&logins[0]);
    // A new rep in the east team (his own records are new: they do not count).
    dan.batch_execute(
        "INSERT INTO sharing.users (id, company_id, name) VALUES (50, 1, 'new rep');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (50, 13);",
    )
    .unwrap();
    // Moving ed from the east to the west team: wes gains ed's records, which dan holds.
    dan.batch_execute(
        "INSERT INTO sharing.user_roles (user_id, role_id) VALUES (5, 14);
         DELETE FROM sharing.user_roles WHERE user_id = 5 AND role_id = 13;",
    )
    .unwrap();
    assert_eq!(
        ids(
            &mut dba,
            "SELECT role_id FROM sharing.user_roles WHERE user_id IN (5, 50) ORDER BY 1"
        ),
        vec![3, 13, 14],
        "the new rep in the default role and the east team; ed in the west team"
    );
}

/// Found by the attacker's review (docs/security.md): a delegated administrator
/// placing superiors where their own reach grows, or acting on someone above them.
#[test]
fn superiors_are_not_pulled_into_ones_reach_nor_locked_out() {
    let mut db = TestDb::new("authsuperiors");
    let (mut dba, logins) = org(
        &mut db,
        &[
            (13, "manage_users"),
            (11, "manage_roles"),
            (11, "manage_users"),
        ],
        &[5, 3],
    );
    let (ed, eve) = (&logins[0], &logins[1]);
    dba.batch_execute(
        "INSERT INTO sharing.sharing_rules (company_id, object_type, source_role, target_role, access)
         VALUES (1, 'deals', 13, 13, 'read_write')",
    )
    .unwrap();
    let mut c = db.connect_as(ed);
    // Superiors into his own role, the source of a rule that shares with him.
    refused_unchanged(
        &mut c,
        "INSERT INTO sharing.user_roles (user_id, role_id) VALUES (1, 13), (2, 13), (3, 13)",
        "42501",
    );
    // Disabling the admin or taking the director's role away: they hold more than ed.
    for sql in [
        "UPDATE sharing.users SET status = 'disabled' WHERE id = 1",
        "DELETE FROM sharing.user_roles WHERE user_id = 2",
        "DELETE FROM sharing.users WHERE id = 2",
    ] {
        let msg = refused_unchanged(&mut c, sql, "42501");
        assert!(
            msg.contains("who holds") || msg.contains("above them"),
            "{sql}: {msg}"
        );
    }
    // A peer with the same permissions he may still manage.
    c.batch_execute("UPDATE sharing.users SET name = 'em (renamed)' WHERE id = 6")
        .unwrap();
    // eve: a role below hers holding her superiors, or the west branch under her.
    let mut c = db.connect_as(eve);
    c.batch_execute("INSERT INTO sharing.roles (id, company_id, name, reports_to, based_on) VALUES (500, 1, 'Shadow', 11, 3)")
        .unwrap();
    refused_unchanged(
        &mut c,
        "INSERT INTO sharing.user_roles (user_id, role_id) VALUES (2, 500), (4, 500), (7, 500)",
        "42501",
    );
    refused_unchanged(
        &mut c,
        "UPDATE sharing.roles SET reports_to = 11 WHERE id = 12",
        "42501",
    );
    assert_eq!(
        ids(&mut c, "SELECT id FROM deals ORDER BY id"),
        vec![3, 5, 6]
    );
}

/// Found by the attacker's review: refusals and explanations told about other
/// companies' roles, users and sizes.
#[test]
fn refusals_and_explanations_tell_nothing_about_other_companies() {
    let mut db = TestDb::new("authtell");
    let (mut dba, logins) = org(&mut db, &[(13, "manage_users")], &[5]);
    let gil = db.login("gil");
    dba.batch_execute(&format!(
        "INSERT INTO sharing.companies (id, name) VALUES (2, 'Globex');
         INSERT INTO sharing.users (id, company_id, name, db_role) VALUES (20, 2, 'gil', '{gil}');
         INSERT INTO sharing.user_roles (user_id, role_id) SELECT 20, id FROM sharing.roles WHERE company_id = 2 AND is_admin;"
    ))
    .unwrap();
    let globex_role = one_i64(
        &mut dba,
        "SELECT id FROM sharing.roles WHERE company_id = 2 AND is_admin",
    );
    let mut g = db.connect_as(&gil);
    for sql in [
        "INSERT INTO sharing.user_roles (user_id, role_id) VALUES (20, 11)".to_string(),
        "INSERT INTO sharing.roles (company_id, name, reports_to) VALUES (2, 'x', 12)".to_string(),
        format!("INSERT INTO sharing.sharing_rules (company_id, object_type, source_role, target_role) VALUES (2, 'deals', {globex_role}, 14)"),
    ] {
        let msg = expect_error(&mut g, &sql, "23503");
        assert!(
            msg.contains("does not exist") && !msg.contains("Manager") && !msg.contains("Salesperson") && !msg.contains("company 1"),
            "{sql}: {msg}"
        );
    }
    // ed asks about his own access to records of Globex's admin: no name.
    let mut c = db.connect_as(&logins[0]);
    assert_eq!(
        one_str(
            &mut c,
            "SELECT coalesce(sharing.explain_access('deals', 'view', 20, 2, 5) ->> 'owner_name', 'hidden')"
        ),
        "hidden"
    );
    // A colleague's name is shown.
    assert_eq!(
        one_str(
            &mut c,
            "SELECT sharing.explain_access('deals', 'view', 6, 1, 5) ->> 'owner_name'"
        ),
        "em"
    );
    // Every tenant's figures: DBAs and trusted application roles only.
    expect_error(&mut g, "SELECT sharing._model_stats()", "42501");
    expect_error(&mut c, "SELECT sharing._model_stats()", "42501");
}

#[test]
fn what_if_reports_gains_and_losses_and_keeps_nothing() {
    let mut db = TestDb::new("authwhatif");
    let (mut dba, logins) = org(&mut db, &[(11, "manage_roles"), (11, "manage_users")], &[3]);
    let before = dump(&mut dba);
    let audit = one_i64(&mut dba, "SELECT count(*) FROM sharing.audit_log");
    let generation = one_i64(&mut dba, "SELECT gen FROM sharing._generation");
    // The west team under the east manager: eve gains will's deal, wes loses it.
    let rows: Vec<(i64, String, String, i64, i64)> = dba
        .query(
            "SELECT user_id, object_type, action, gained, lost
               FROM sharing.what_if('UPDATE sharing.roles SET reports_to = 11 WHERE id = 14')
              WHERE action = 'view' ORDER BY user_id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    assert_eq!(
        rows,
        vec![
            (3, "deals".to_string(), "view".to_string(), 1, 0),
            (4, "deals".to_string(), "view".to_string(), 0, 1),
        ]
    );
    assert_eq!(before, dump(&mut dba), "what_if kept a change");
    assert_eq!(
        audit,
        one_i64(&mut dba, "SELECT count(*) FROM sharing.audit_log")
    );
    assert_eq!(
        generation,
        one_i64(&mut dba, "SELECT gen FROM sharing._generation")
    );
    // As the delegated administrator: the same checks as the statements themselves.
    let mut eve = db.connect_as(&logins[0]);
    expect_error(
        &mut eve,
        "SELECT * FROM sharing.what_if('UPDATE sharing.roles SET reports_to = 11 WHERE id = 14')",
        "42501",
    );
    // …and the session goes on, seeing what it saw.
    assert_eq!(
        ids(&mut eve, "SELECT id FROM deals ORDER BY id"),
        vec![3, 5, 6]
    );
    assert_eq!(before, dump(&mut dba));
}

/// A statement ended by an error caught in a PL/pgSQL exception block runs no AFTER
/// trigger: the next change must still be judged.
#[test]
fn an_error_caught_in_an_exception_block_does_not_skip_the_next_check() {
    let mut db = TestDb::new("authcaught");
    let (mut dba, logins) = org(&mut db, &[(13, "manage_users")], &[5]);
    dba.batch_execute(&format!(
        "CREATE FUNCTION public.sneaky() RETURNS void LANGUAGE plpgsql AS $$
         BEGIN
           BEGIN
             INSERT INTO sharing.user_roles (user_id, role_id) VALUES (999999, 13);
           EXCEPTION WHEN others THEN NULL;
           END;
           INSERT INTO sharing.user_roles (user_id, role_id) VALUES (5, 11);
         END $$;
         GRANT EXECUTE ON FUNCTION public.sneaky() TO {};",
        logins[0]
    ))
    .unwrap();
    let mut ed = db.connect_as(&logins[0]);
    refused_unchanged(&mut ed, "SELECT public.sneaky()", "42501");
    ed.batch_execute("BEGIN").unwrap();
    expect_error(&mut ed, "SELECT public.sneaky()", "42501");
    ed.batch_execute("ROLLBACK").unwrap();
    assert_eq!(ids(&mut ed, "SELECT id FROM deals ORDER BY id"), vec![5]);
}

/// Found by the second attacker review: a change undone by ROLLBACK TO SAVEPOINT (or
/// an exception block) must not leave the check judging against the undone state;
/// an id deleted and created again keeps its records, which must not change hands;
/// a superior's role is not demoted by a delegated administrator.
#[test]
fn undone_changes_recreated_ids_and_superiors_roles_do_not_open_a_way() {
    let mut db = TestDb::new("authundone");
    let (mut dba, logins) = org(
        &mut db,
        &[
            (13, "manage_users"),
            (11, "manage_roles"),
            (11, "manage_users"),
            (10, "manage_sharing"),
        ],
        &[5, 3],
    );
    let (ed, eve) = (&logins[0], &logins[1]);
    dba.batch_execute(
        "INSERT INTO sharing.sharing_rules (company_id, object_type, source_role, target_role, access)
         VALUES (1, 'deals', 13, 13, 'read_write')",
    )
    .unwrap();
    let mut c = db.connect_as(ed);
    // Will (7) deleted in a savepoint, brought back by the rollback, then moved into
    // ed's team: ed would edit will's deal.
    c.batch_execute("BEGIN; SAVEPOINT s; DELETE FROM sharing.users WHERE id = 7; ROLLBACK TO s;")
        .unwrap();
    expect_error(
        &mut c,
        "UPDATE sharing.user_roles SET role_id = 13 WHERE user_id = 7",
        "42501",
    );
    c.batch_execute("ROLLBACK").unwrap();
    c.batch_execute(
        "BEGIN; DO $$ BEGIN DELETE FROM sharing.users WHERE id = 7; RAISE EXCEPTION 'undo'; EXCEPTION WHEN others THEN NULL; END $$;",
    )
    .unwrap();
    expect_error(
        &mut c,
        "UPDATE sharing.user_roles SET role_id = 13 WHERE user_id = 7",
        "42501",
    );
    c.batch_execute("ROLLBACK").unwrap();
    // A harmless statement after an undone one is still accepted.
    c.batch_execute(
        "BEGIN; SAVEPOINT s; DELETE FROM sharing.user_roles WHERE user_id = 6; ROLLBACK TO s;
         UPDATE sharing.user_roles SET role_id = 13 WHERE user_id = 6; COMMIT;",
    )
    .unwrap();
    // Will deleted, then created again with his old id in ed's team: his deal exists.
    c.batch_execute("DELETE FROM sharing.users WHERE id = 7")
        .unwrap();
    c.batch_execute(
        "BEGIN; INSERT INTO sharing.users (id, company_id, name) VALUES (7, 1, 'will')",
    )
    .unwrap();
    expect_error(
        &mut c,
        "INSERT INTO sharing.user_roles (user_id, role_id) VALUES (7, 13)",
        "42501",
    );
    c.batch_execute("ROLLBACK").unwrap();
    assert_eq!(ids(&mut c, "SELECT id FROM deals ORDER BY id"), vec![5, 6]);
    // eve cannot strip her director's role of what she lacks, nor act on him.
    let mut c = db.connect_as(eve);
    for sql in [
        "DELETE FROM sharing.role_privileges WHERE role_id = 10",
        "INSERT INTO sharing.role_permissions (role_id, object_type, action, level) VALUES (10, 'deals', 'create', 'none')",
        "UPDATE sharing.roles SET name = 'Demoted' WHERE id = 10",
        "SELECT sharing.delete_role(10, 3)",
        "UPDATE sharing.users SET status = 'disabled' WHERE id = 2",
        "DELETE FROM sharing.user_roles WHERE user_id = 2",
    ] {
        refused_unchanged(&mut c, sql, "42501");
    }
}

/// Record shares to a role reach whoever holds it (docs/security.md, "Record
/// shares"): a delegated administrator with `manage_users` cannot reach a record
/// shared with a role by putting themselves — or anyone — into that role, unless
/// they can see the record themselves.
#[test]
fn memberships_do_not_hand_out_records_shared_with_a_role() {
    let mut db = TestDb::new("authshare");
    // will (7, West Salesperson) and dan (2, Sales Director) manage users.
    let (mut dba, logins) = org(
        &mut db,
        &[(14, "manage_users"), (10, "manage_users")],
        &[7, 2],
    );
    // em's deal (6) is shared with the East Salespeople (role 13).
    dba.batch_execute(
        "INSERT INTO sharing.record_shares (object_type, record_id, role_id, access) VALUES ('deals', '6', 13, 'read')",
    )
    .unwrap();
    let mut will = db.connect_as(&logins[0]);
    let seen = |c: &mut Client| ids(c, "SELECT id FROM deals ORDER BY id");
    assert_eq!(seen(&mut will), vec![7]);
    let msg = refused_unchanged(
        &mut will,
        "INSERT INTO sharing.user_roles (user_id, role_id) VALUES (7, 13)",
        "42501",
    );
    assert!(
        msg.contains("record share") && !msg.contains("record 6"),
        "{msg}"
    );
    will.batch_execute(
        "INSERT INTO sharing.users (id, company_id, name) VALUES (70, 1, 'new hire')",
    )
    .unwrap();
    refused_unchanged(
        &mut will,
        "INSERT INTO sharing.user_roles (user_id, role_id) VALUES (70, 13)",
        "42501",
    );
    assert_eq!(seen(&mut will), vec![7], "nothing gained");
    // dan sees em's deal (and will's) through the hierarchy: he may put will into
    // the role, and will then reads the deal through the share.
    let mut dan = db.connect_as(&logins[1]);
    dan.batch_execute("INSERT INTO sharing.user_roles (user_id, role_id) VALUES (7, 13)")
        .unwrap();
    assert_eq!(seen(&mut will), vec![6, 7]);
}
