//! The decision, enforcement and the agreement views (docs/concepts.md) through real RLS: the seed scenarios, every read and write path,
//! consistency across sessions and snapshots, protect()/unprotect().

mod common;
use common::*;
use postgres::Client;
use std::io::Read;

fn visible(c: &mut Client) -> Vec<i64> {
    ids(c, "SELECT id FROM deals ORDER BY id")
}

#[test]
fn seed_insightly_role_hierarchy() {
    let mut db = TestDb::new("insightly");
    let (mut dba, app) = insightly_session(&mut db);
    let expect: [(i64, &[i64]); 8] = [
        (1, &[1, 2, 3, 4, 5, 6, 7, 8]), // admin: all
        (2, &[1, 2, 3, 4, 5, 6, 7, 8]), // director: Manager-based, level all
        (3, &[3, 5, 6]),                // east manager: own + east reps
        (4, &[4, 7]),                   // west manager
        (5, &[5]),                      // reps don't see each other
        (6, &[6]),
        (7, &[7]),
        (8, &[]), // pending guest
    ];
    for (viewer, rows) in expect {
        assert_eq!(
            visible(&mut as_viewer(&db, &app, viewer)),
            rows,
            "viewer {viewer}"
        );
    }
    // The director sees everything through the hierarchy even with level owned.
    dba.batch_execute("UPDATE sharing.roles SET based_on = 3 WHERE id = 10")
        .unwrap();
    assert_eq!(
        visible(&mut as_viewer(&db, &app, 2)),
        vec![2, 3, 4, 5, 6, 7]
    );
    // A sharing rule cuts across: east reps see each other's deals (read only).
    dba.batch_execute(
        "INSERT INTO sharing.sharing_rules (company_id, object_type, source_role, target_role, access)
         VALUES (1, 'deals', 13, 13, 'read')",
    )
    .unwrap();
    let mut ed = as_viewer(&db, &app, 5);
    assert_eq!(visible(&mut ed), vec![5, 6]);
    assert_eq!(
        ed.execute("UPDATE deals SET amount = 0 WHERE id = 6", &[])
            .unwrap(),
        0
    );
    assert_eq!(
        ed.execute("UPDATE deals SET amount = 1 WHERE id = 5", &[])
            .unwrap(),
        1
    );
    // role_and_subordinates: west manager's team shares with the east manager.
    dba.batch_execute(
        "INSERT INTO sharing.sharing_rules (company_id, source_role, source_scope, target_role, access)
         VALUES (1, 12, 'role_and_subordinates', 11, 'read_write')",
    )
    .unwrap();
    let mut eve = as_viewer(&db, &app, 3);
    assert_eq!(visible(&mut eve), vec![3, 4, 5, 6, 7]);
    assert_eq!(
        eve.execute("UPDATE deals SET note = 'seen' WHERE id = 7", &[])
            .unwrap(),
        1
    );
    assert_eq!(
        eve.execute("DELETE FROM deals WHERE id = 7", &[]).unwrap(),
        0,
        "read_write is not delete"
    );
    // The org-wide default opens viewing (public_read), then editing
    // (public_read_write), to every `owned` holder; it never opens delete.
    dba.batch_execute(
        "UPDATE sharing.object_types SET org_wide_default = 'public_read' WHERE name = 'deals'",
    )
    .unwrap();
    let mut will = as_viewer(&db, &app, 7);
    assert_eq!(visible(&mut will), vec![1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(
        will.execute("UPDATE deals SET note = 'x' WHERE id = 5", &[])
            .unwrap(),
        0
    );
    dba.batch_execute("UPDATE sharing.object_types SET org_wide_default = 'public_read_write' WHERE name = 'deals'")
        .unwrap();
    assert_eq!(
        will.execute("UPDATE deals SET note = 'x' WHERE id = 5", &[])
            .unwrap(),
        1
    );
    assert_eq!(
        will.execute("DELETE FROM deals WHERE id = 5", &[]).unwrap(),
        0
    );
    assert_eq!(
        visible(&mut as_viewer(&db, &app, 8)),
        Vec::<i64>::new(),
        "pending sees nothing"
    );
}

#[test]
fn seed_administrate_agreements() {
    let mut db = TestDb::new("agreementsrls");
    let (mut dba, app) = insightly_session(&mut db);
    dba.batch_execute(
        "INSERT INTO sharing.companies (id, name) VALUES (2, 'Partner');
         INSERT INTO sharing.users (id, company_id, name) VALUES (20, 2, 'pat'), (21, 2, 'pia');
         INSERT INTO sharing.user_roles (user_id, role_id)
           SELECT 20, id FROM sharing.roles WHERE company_id = 2 AND name = 'Manager';
         UPDATE sharing.role_permissions SET level = 'none'
          WHERE role_id = (SELECT id FROM sharing.roles WHERE company_id = 2 AND name = 'User')
            AND action IN ('delete');
         INSERT INTO deals VALUES (100, 20, 2, 5, 'partner deal');",
    )
    .unwrap();
    // No agreement: nothing of Acme, even for the partner's manager with level all.
    let mut pat = as_viewer(&db, &app, 20);
    assert_eq!(visible(&mut pat), vec![100]);
    // Acme's admin shares view and delete of deals with Partner.
    dba.batch_execute(
        "SET sharing.viewer = '1';
         INSERT INTO sharing.agreements (id, grantor_company, grantee_company, notes) VALUES (1, 1, 2, 'joint venture');
         INSERT INTO sharing.agreement_permissions (agreement_id, object_type, action) VALUES (1, 'deals', 'view'), (1, 'deals', 'delete');
         RESET sharing.viewer;",
    )
    .unwrap();
    assert_eq!(visible(&mut pat), vec![1, 2, 3, 4, 5, 6, 7, 8, 100]);
    assert_eq!(
        pat.execute("UPDATE deals SET note = 'x' WHERE id = 5", &[])
            .unwrap(),
        0,
        "no edit granted"
    );
    assert_eq!(
        pat.execute("DELETE FROM deals WHERE id = 8", &[]).unwrap(),
        1,
        "cross-company delete"
    );
    // pia has level owned for view: an agreement gives company-wide reach when L != none,
    // but her delete level is none.
    let mut pia = as_viewer(&db, &app, 21);
    assert_eq!(visible(&mut pia), vec![1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(
        pia.execute("DELETE FROM deals WHERE id = 7", &[]).unwrap(),
        0
    );
    // Shared by you / shared with you, as each side sees it.
    let by = |c: &mut Client| -> Vec<String> {
        c.query(
            "SELECT grantee_name || ':' || permissions::text FROM sharing.shared_by_you",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
    };
    let with = |c: &mut Client| -> Vec<String> {
        c.query(
            "SELECT grantor_name || ':' || notes FROM sharing.shared_with_you",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
    };
    let mut acme_admin = as_viewer(&db, &app, 1);
    assert_eq!(
        by(&mut acme_admin),
        vec![
            r#"Partner:[{"action": "delete", "object_type": "deals"}, {"action": "view", "object_type": "deals"}]"#
        ]
    );
    assert!(with(&mut acme_admin).is_empty());
    assert!(by(&mut pat).is_empty());
    assert_eq!(with(&mut pat), vec!["Acme:joint venture"]);
    // Without a viewer the views show nothing.
    let mut nobody = db.connect_as(&app);
    assert!(by(&mut nobody).is_empty() && with(&mut nobody).is_empty());
}

#[test]
fn changes_take_effect_at_the_next_statement() {
    let mut db = TestDb::new("nextstatement");
    let (mut dba, app) = insightly_session(&mut db);
    let mut ed = as_viewer(&db, &app, 5);
    let stmt = ed.prepare("SELECT id FROM deals ORDER BY id").unwrap();
    let run = |c: &mut Client| -> Vec<i64> {
        c.query(&stmt, &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    assert_eq!(run(&mut ed), vec![5]);
    // Bitrix24 asks for re-authorization; here the next statement is enough.
    dba.batch_execute("INSERT INTO sharing.user_roles (user_id, role_id) VALUES (5, 11)")
        .unwrap();
    // Ed now also holds East Sales Manager: em's deals come into reach, but not
    // eve's, who holds the same role (peers do not see each other).
    assert_eq!(run(&mut ed), vec![5, 6]);
    dba.batch_execute("DELETE FROM sharing.user_roles WHERE user_id = 5 AND role_id = 11")
        .unwrap();
    assert_eq!(run(&mut ed), vec![5]);
    // The same prepared statement, another viewer.
    ed.batch_execute("SET sharing.viewer = '3'").unwrap();
    assert_eq!(run(&mut ed), vec![3, 5, 6]);
    ed.batch_execute("RESET sharing.viewer").unwrap();
    assert_eq!(run(&mut ed), Vec::<i64>::new(), "no viewer: no rows");
    // A rolled-back change is never seen.
    dba.batch_execute("BEGIN; INSERT INTO sharing.user_roles (user_id, role_id) VALUES (7, 1);")
        .unwrap();
    let mut will = as_viewer(&db, &app, 7);
    assert_eq!(visible(&mut will), vec![7]);
    dba.batch_execute("ROLLBACK").unwrap();
    assert_eq!(visible(&mut will), vec![7]);
    // Disabling a user closes everything at once.
    dba.batch_execute("UPDATE sharing.users SET status = 'disabled' WHERE id = 7")
        .unwrap();
    assert_eq!(visible(&mut will), Vec::<i64>::new());
}

#[test]
fn snapshots_keep_their_view() {
    let mut db = TestDb::new("snapshots");
    let (mut dba, app) = insightly_session(&mut db);
    // REPEATABLE READ: the transaction keeps the configuration of its snapshot.
    let mut rr = as_viewer(&db, &app, 5);
    rr.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .unwrap();
    assert_eq!(visible(&mut rr), vec![5]);
    dba.batch_execute("INSERT INTO sharing.user_roles (user_id, role_id) VALUES (5, 11)")
        .unwrap();
    assert_eq!(visible(&mut rr), vec![5], "same snapshot, same answer");
    // Another session in READ COMMITTED sees the change at once; the backend caches
    // of both sessions stay independent.
    let mut rc = as_viewer(&db, &app, 5);
    assert_eq!(visible(&mut rc), vec![5, 6]);
    assert_eq!(visible(&mut rr), vec![5]);
    rr.batch_execute("COMMIT").unwrap();
    assert_eq!(visible(&mut rr), vec![5, 6]);
    // A long READ COMMITTED transaction sees committed role changes at its next statement.
    rc.batch_execute("BEGIN").unwrap();
    dba.batch_execute("DELETE FROM sharing.user_roles WHERE user_id = 5 AND role_id = 11")
        .unwrap();
    assert_eq!(visible(&mut rc), vec![5]);
    rc.batch_execute("COMMIT").unwrap();
    // A transaction's own uncommitted change is visible to its own next statement.
    let mut owner_session = db.dba();
    owner_session
        .batch_execute(&format!(
            "BEGIN; INSERT INTO sharing.user_roles (user_id, role_id) VALUES (5, 11);
             SET LOCAL ROLE {app}; SET LOCAL sharing.viewer = '5';"
        ))
        .unwrap();
    assert_eq!(visible(&mut owner_session), vec![5, 6]);
    owner_session.batch_execute("ROLLBACK").unwrap();
    assert_eq!(visible(&mut as_viewer(&db, &app, 5)), vec![5]);
}

#[test]
fn every_read_path_obeys() {
    let mut db = TestDb::new("readpaths");
    let (mut dba, app) = insightly_session(&mut db);
    let invoker = invoker_option(&mut dba);
    dba.batch_execute(&format!(
        "CREATE TABLE notes (id serial PRIMARY KEY, deal_id bigint, body text);
         INSERT INTO notes (deal_id, body) SELECT id, 'note ' || id FROM deals;
         GRANT SELECT ON notes TO {app};
         CREATE VIEW deals_invoker WITH ({invoker}) AS SELECT id, amount FROM deals;
         ALTER VIEW deals_invoker OWNER TO {app};
         GRANT SELECT ON deals_invoker TO {app};
         CREATE FUNCTION deal_ids() RETURNS SETOF bigint LANGUAGE sql STABLE AS 'SELECT id FROM deals';",
    ))
    .unwrap();
    let mut eve = as_viewer(&db, &app, 3);
    let want = vec![3, 5, 6];
    assert_eq!(
        ids(
            &mut eve,
            "SELECT d.id FROM deals d JOIN notes n ON n.deal_id = d.id ORDER BY 1"
        ),
        want
    );
    assert_eq!(
        ids(
            &mut eve,
            "SELECT deal_id FROM notes WHERE deal_id IN (SELECT id FROM deals) ORDER BY 1"
        ),
        want
    );
    assert_eq!(
        ids(
            &mut eve,
            "WITH d AS (SELECT * FROM deals) SELECT id FROM d ORDER BY 1"
        ),
        want
    );
    assert_eq!(
        ids(&mut eve, "SELECT id FROM deals_invoker ORDER BY 1"),
        want
    );
    assert_eq!(ids(&mut eve, "SELECT deal_ids() ORDER BY 1"), want);
    assert_eq!(
        ids(
            &mut eve,
            "SELECT count(*)::bigint FROM deals UNION ALL SELECT sum(amount)::bigint FROM deals"
        ),
        vec![3, 1400]
    );
    let copy = |c: &mut Client, sql: &str| -> String {
        let mut out = String::new();
        c.copy_out(sql).unwrap().read_to_string(&mut out).unwrap();
        out
    };
    assert_eq!(
        copy(
            &mut eve,
            "COPY (SELECT id FROM deals ORDER BY id) TO STDOUT"
        ),
        "3\n5\n6\n"
    );
    let whole = copy(&mut eve, "COPY deals (id) TO STDOUT");
    let mut lines: Vec<&str> = whole.lines().collect();
    lines.sort();
    assert_eq!(lines, vec!["3", "5", "6"]);
    // The table owner obeys too (FORCE). A view without security_invoker, created
    // by the (non-superuser) table owner, still filters for the asking viewer.
    let owner = format!("{app}_owner");
    dba.batch_execute(&format!(
        "CREATE ROLE {owner} LOGIN; GRANT CREATE ON SCHEMA public TO {owner};
         ALTER TABLE deals OWNER TO {owner};"
    ))
    .unwrap();
    let mut o = db.connect_as(&owner);
    assert_eq!(
        ids(&mut o, "SELECT id FROM deals"),
        Vec::<i64>::new(),
        "owner, no viewer: no rows"
    );
    o.batch_execute(&format!(
        "CREATE VIEW deals_definer AS SELECT id FROM deals; GRANT SELECT ON deals_definer TO {app};"
    ))
    .unwrap();
    assert_eq!(
        ids(&mut eve, "SELECT id FROM deals_definer ORDER BY 1"),
        want
    );
    drop(o);
    dba.batch_execute(&format!(
        "DROP VIEW deals_definer; ALTER TABLE deals OWNER TO postgres;
         REVOKE CREATE ON SCHEMA public FROM {owner}; DROP ROLE {owner};"
    ))
    .unwrap();
}

#[test]
fn every_write_path_obeys() {
    let mut db = TestDb::new("writepaths");
    let (mut dba, app) = insightly_session(&mut db);
    let mut eve = as_viewer(&db, &app, 3); // east manager: level owned (User-based)
                                           // INSERT for herself or a report: allowed; for a peer or up the chain: refused.
    let ret = ids(
        &mut eve,
        "INSERT INTO deals VALUES (30, 3, 1, 1, 'mine'), (31, 5, 1, 1, 'for ed') RETURNING id",
    );
    assert_eq!(ret, vec![30, 31]);
    expect_error(
        &mut eve,
        "INSERT INTO deals VALUES (32, 4, 1, 1, 'for wes')",
        "42501",
    );
    expect_error(
        &mut eve,
        "INSERT INTO deals VALUES (33, 2, 1, 1, 'for the director')",
        "42501",
    );
    // UPDATE moving a record out of her reach is refused; inside her reach it works.
    let msg = expect_error(
        &mut eve,
        "UPDATE deals SET owner_id = 4 WHERE id = 5",
        "42501",
    );
    // Refused as a transfer (the sharing_transfer trigger runs before the WITH CHECK).
    assert!(
        msg.contains("row-level security") || msg.contains("may not move a record"),
        "{msg}"
    );
    assert_eq!(
        eve.execute("UPDATE deals SET owner_id = 6 WHERE id = 5", &[])
            .unwrap(),
        1
    );
    assert_eq!(
        eve.execute("UPDATE deals SET amount = 0 WHERE id = 4", &[])
            .unwrap(),
        0
    );
    // DELETE only what she may delete; RETURNING shows nothing else.
    assert_eq!(
        ids(
            &mut eve,
            "DELETE FROM deals WHERE id IN (4, 6) RETURNING id"
        ),
        vec![6]
    );
    // ON CONFLICT: a hidden conflicting row is not updated through the back door.
    let res = eve.batch_execute("INSERT INTO deals VALUES (4, 3, 1, 1, 'steal') ON CONFLICT (id) DO UPDATE SET note = 'stolen'");
    assert!(res.is_err(), "conflict on a row she cannot see must fail");
    assert_eq!(
        dba.query_one("SELECT note FROM deals WHERE id = 4", &[])
            .unwrap()
            .get::<_, String>(0),
        "deal of wes"
    );
    eve.batch_execute("INSERT INTO deals VALUES (30, 3, 1, 1, 'x') ON CONFLICT (id) DO UPDATE SET note = 'updated'")
        .unwrap();
    assert_eq!(
        dba.query_one("SELECT note FROM deals WHERE id = 30", &[])
            .unwrap()
            .get::<_, String>(0),
        "updated"
    );
    // No viewer: no writes at all.
    let mut nobody = db.connect_as(&app);
    expect_error(
        &mut nobody,
        "INSERT INTO deals VALUES (40, 3, 1, 1, 'x')",
        "42501",
    );
    assert_eq!(
        nobody.execute("UPDATE deals SET note = 'x'", &[]).unwrap(),
        0
    );
    assert_eq!(nobody.execute("DELETE FROM deals", &[]).unwrap(), 0);
    // A pending user cannot write either.
    let mut guest = as_viewer(&db, &app, 8);
    expect_error(
        &mut guest,
        "INSERT INTO deals VALUES (41, 8, 1, 1, 'x')",
        "42501",
    );
}

#[test]
fn mapped_logins_see_their_own_rows() {
    let mut db = TestDb::new("mappedrls");
    let (mut dba, _app) = insightly_session(&mut db);
    let ed = db.login("ed");
    dba.batch_execute(&format!(
        "UPDATE sharing.users SET db_role = '{ed}' WHERE id = 5; GRANT SELECT ON deals TO {ed};"
    ))
    .unwrap();
    let mut c = db.connect_as(&ed);
    assert_eq!(visible(&mut c), vec![5]);
    c.batch_execute("SET sharing.viewer = '2'").unwrap();
    expect_error(&mut c, "SELECT id FROM deals", "42501");
}

#[test]
fn protect_validates_and_unprotect_undoes() {
    let mut db = TestDb::new("protect");
    let (mut dba, app) = insightly_session(&mut db);
    dba.batch_execute(
        "CREATE TABLE \"odd \"\"name\"\"; x\" (id int, \"who owns\" bigint, co bigint, label text);
         CREATE VIEW deals_view AS SELECT * FROM deals;
         CREATE TABLE other (id int, owner_id bigint, company_id bigint);
         CREATE POLICY everyone ON other FOR SELECT USING (true);",
    )
    .unwrap();
    let msg = refused_unchanged(
        &mut dba,
        "SELECT sharing.protect('deals_view', 'deals')",
        "42809",
    );
    assert!(msg.contains("deals_view"), "{msg}");
    let msg = refused_unchanged(
        &mut dba,
        "SELECT sharing.protect('deals', 'deals', 'nobody')",
        "42703",
    );
    assert!(msg.contains("nobody"), "{msg}");
    refused_unchanged(
        &mut dba,
        "SELECT sharing.protect('deals', 'deals', 'note')",
        "42804",
    );
    let msg = refused_unchanged(
        &mut dba,
        "SELECT sharing.protect('other', 'other')",
        "55000",
    );
    assert!(msg.contains("everyone"), "{msg}");
    refused_unchanged(&mut dba, "SELECT sharing.unprotect('other')", "22023");
    // Quotes, spaces and semicolons in names are identifiers, never SQL.
    dba.batch_execute(&format!(
        "SELECT sharing.protect('\"odd \"\"name\"\"; x\"', 'odd type', 'who owns', 'co');
         INSERT INTO \"odd \"\"name\"\"; x\" VALUES (1, 5, 1, 'ed''s'), (2, 7, 1, 'will''s');
         GRANT SELECT ON \"odd \"\"name\"\"; x\" TO {app};"
    ))
    .unwrap();
    let mut ed = as_viewer(&db, &app, 5);
    assert_eq!(
        ids(&mut ed, "SELECT id::bigint FROM \"odd \"\"name\"\"; x\""),
        vec![1]
    );
    let listed: Vec<String> = dba
        .query("SELECT table_name::text || '/' || object_type FROM sharing.protected_tables ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        listed,
        vec!["\"odd \"\"name\"\"; x\"/odd type", "deals/deals"]
    );
    // The object type was created with the standard rows for the companies.
    assert_eq!(
        one_i64(
            &mut dba,
            "SELECT count(*) FROM sharing.role_permissions WHERE object_type = 'odd type'"
        ),
        8
    );
    dba.batch_execute("SELECT sharing.unprotect('deals')")
        .unwrap();
    assert_eq!(
        one_str(&mut dba, "SELECT relrowsecurity::text || relforcerowsecurity::text FROM pg_class WHERE oid = 'deals'::regclass"),
        "falsefalse"
    );
    assert_eq!(
        one_i64(
            &mut dba,
            "SELECT count(*) FROM pg_policy WHERE polrelid = 'deals'::regclass"
        ),
        0
    );
    // Protecting twice is idempotent.
    dba.batch_execute(
        "SELECT sharing.protect('deals', 'deals'); SELECT sharing.protect('deals', 'deals');",
    )
    .unwrap();
    assert_eq!(visible(&mut as_viewer(&db, &app, 5)), vec![5]);
}

#[test]
fn functions_answer_directly() {
    let mut db = TestDb::new("functions");
    let (mut dba, _app) = insightly_session(&mut db);
    assert!(one_bool(&mut dba, "SELECT sharing.can_see(5, 3)"));
    assert!(!one_bool(&mut dba, "SELECT sharing.can_see(6, 5)"), "peers");
    assert!(
        !one_bool(&mut dba, "SELECT sharing.can_see(3, 5)"),
        "upwards"
    );
    assert!(one_bool(&mut dba, "SELECT sharing.can_see(7, 2)"));
    assert_eq!(
        ids(&mut dba, "SELECT sharing.reach(3) ORDER BY 1"),
        vec![3, 5, 6]
    );
    assert_eq!(
        ids(&mut dba, "SELECT sharing.reach(1) ORDER BY 1"),
        vec![1, 2, 3, 4, 5, 6, 7, 8]
    );
    assert!(one_bool(
        &mut dba,
        "SELECT sharing.can_access('deals', 'edit', 5, 1, 3)"
    ));
    assert!(!one_bool(
        &mut dba,
        "SELECT sharing.can_access('deals', 'edit', 4, 1, 3)"
    ));
    assert!(!one_bool(
        &mut dba,
        "SELECT sharing.can_access('deals', 'view', 4, 1, NULL)"
    ));
    assert!(
        one_bool(
            &mut dba,
            "SELECT sharing.can_access('deals', 'view', 4, 1, 3, 3)"
        ),
        "assignee"
    );
    assert!(
        !one_bool(
            &mut dba,
            "SELECT sharing.can_access('deals', 'view', 4, 1, 4242)"
        ),
        "unknown viewer"
    );
    let msg = expect_error(
        &mut dba,
        "SELECT sharing.can_access('deals', 'read', 4, 1, 3)",
        "22023",
    );
    assert!(msg.contains("\"read\""), "{msg}");
    let msg = expect_error(
        &mut dba,
        "SELECT sharing.can_access('dealz', 'view', 4, 1, 3)",
        "22023",
    );
    assert!(msg.contains("dealz"), "{msg}");
    assert!(!one_bool(
        &mut dba,
        "SELECT sharing.can_access('deals', 'view', 9223372036854775807, -9223372036854775808, 3)"
    ));
}

/// docs/concepts.md, "The hierarchy": what an org-wide default does not open is still
/// decided by the hierarchy and the rules — under `public_read` a manager edits and
/// deletes their reports' records and not a peer's; under `public_read_write` the
/// hierarchy still decides delete. The engine (`can_access`) and the policies agree.
#[test]
fn owd_public_read_leaves_edit_and_delete_to_the_hierarchy() {
    let mut db = TestDb::new("owdhier");
    let (mut dba, app) = insightly_session(&mut db);
    dba.batch_execute(
        "UPDATE sharing.object_types SET org_wide_default = 'public_read' WHERE name = 'deals'",
    )
    .unwrap();
    let allowed = |dba: &mut Client, action: &str, viewer: i64| {
        ids(
            dba,
            &format!(
                "SELECT id FROM deals WHERE sharing.can_access('deals', '{action}', owner_id, company_id, {viewer}) ORDER BY id"
            ),
        )
    };
    // eve (East manager): views all, edits and deletes her own and her reps' (5, 6).
    assert_eq!(allowed(&mut dba, "view", 3), vec![1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(allowed(&mut dba, "edit", 3), vec![3, 5, 6]);
    assert_eq!(allowed(&mut dba, "delete", 3), vec![3, 5, 6]);
    let mut eve = as_viewer(&db, &app, 3);
    let mut tx = eve.transaction().unwrap();
    assert_eq!(
        tx.execute("UPDATE deals SET note = 'e' WHERE id IN (5, 7)", &[])
            .unwrap(),
        1
    );
    assert_eq!(
        tx.execute("DELETE FROM deals WHERE id IN (6, 7)", &[])
            .unwrap(),
        1
    );
    tx.rollback().unwrap();
    dba.batch_execute(
        "UPDATE sharing.object_types SET org_wide_default = 'public_read_write' WHERE name = 'deals'",
    )
    .unwrap();
    assert_eq!(allowed(&mut dba, "edit", 3), vec![1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(allowed(&mut dba, "delete", 3), vec![3, 5, 6]);
    let mut tx = eve.transaction().unwrap();
    assert_eq!(
        tx.execute("UPDATE deals SET note = 'e' WHERE id IN (5, 7)", &[])
            .unwrap(),
        2
    );
    assert_eq!(
        tx.execute("DELETE FROM deals WHERE id IN (6, 7)", &[])
            .unwrap(),
        1
    );
    tx.rollback().unwrap();
}
