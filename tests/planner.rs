//! The planner support of the policies (src/backend/planner.rs): owner-index
//! conditions for owner-bounded viewers, one company comparison for level `all`,
//! and plans kept across a change of viewer or of configuration — which must be
//! made again, or refuse, but never return the wrong rows.

mod common;
use common::*;
use postgres::Client;

/// The Insightly org with 100 more East salespeople (users 100–199), 20,000 more
/// deals spread over all owners, and an index on the owner column. A rep (5, 7)
/// or the West manager (4) reaches a few owners of 108: the owner index. The East
/// manager (3) reaches 103: an inlined constant filter. Director and admin: level all.
fn big_insightly(db: &mut TestDb) -> (Client, String) {
    let (mut dba, app) = insightly_session(db);
    dba.batch_execute(
        "INSERT INTO sharing.users (id, company_id, name) SELECT u, 1, 'rep' || u FROM generate_series(100, 199) u;
         INSERT INTO sharing.user_roles (user_id, role_id) SELECT u, 13 FROM generate_series(100, 199) u;
         DELETE FROM sharing.user_roles WHERE role_id = 3 AND user_id BETWEEN 100 AND 199;
         INSERT INTO deals SELECT g, CASE WHEN g % 2 = 0 THEN g % 8 + 1 ELSE 100 + g % 100 END, 1, g, 'bulk'
           FROM generate_series(100, 20099) g;
         CREATE INDEX deals_owner_idx ON deals (owner_id);",
    )
    .unwrap();
    // VACUUM as well as ANALYZE: an autovacuum of the new rows in the middle of a test
    // would invalidate the plans the tests count (pg_class statistics change).
    dba.batch_execute("VACUUM ANALYZE deals").unwrap();
    (dba, app)
}

/// The InitPlan nodes of a plan (17 also names them inside expressions:
/// `(InitPlan 1).col1`).
fn initplans(plan: &str) -> usize {
    plan.lines()
        .filter(|l| l.trim_start().starts_with("InitPlan"))
        .count()
}

fn plan(c: &mut Client, sql: &str) -> String {
    c.query(&format!("EXPLAIN {sql}"), &[])
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What `viewer` may see, computed by the DBA (no row level security) with `can_access`.
fn expected_count(dba: &mut Client, viewer: i64) -> i64 {
    one_i64(
        dba,
        &format!(
            "SELECT count(*) FROM deals WHERE sharing.can_access('deals', 'view', owner_id, company_id, {viewer})"
        ),
    )
}

/// A session of `viewer` with `q`, a generic plan of `SELECT count(*) FROM deals`.
fn prepared_count(db: &TestDb, app: &str, viewer: i64) -> Client {
    let mut c = as_viewer(db, app, viewer);
    c.batch_execute(
        "SET plan_cache_mode = force_generic_plan; PREPARE q AS SELECT count(*) FROM deals",
    )
    .unwrap();
    c
}

/// `EXECUTE q` (a count of deals) as each viewer in turn, set with `SET
/// sharing.viewer`, against what the DBA computes for that viewer.
fn execute_as_each(c: &mut Client, dba: &mut Client, viewers: &[i64]) {
    for &viewer in viewers {
        c.batch_execute(&format!("SET sharing.viewer = '{viewer}'"))
            .unwrap();
        assert_eq!(
            one_i64(c, "EXECUTE q"),
            expected_count(dba, viewer),
            "viewer {viewer}"
        );
    }
}

/// Does plan `p` show `before` followed by the value of an initplan (the viewer, its
/// company, the guard, read once per statement)? PostgreSQL 15 and 16 print that value
/// as `$0`; 17 and later as `(InitPlan 1).col1` (docs/testing.md, "PostgreSQL versions").
fn then_initplan(p: &str, before: &str) -> bool {
    p.contains(&format!("{before}$")) || p.contains(&format!("{before}(InitPlan "))
}

const OWNER_INDEX_COND: &str = "Index Cond: (owner_id = ANY (sharing._index_owners";

#[test]
fn owner_bounded_viewers_read_through_the_owner_index() {
    let mut db = TestDb::new("plan_owner");
    let (mut dba, app) = big_insightly(&mut db);
    for viewer in [4, 5, 7] {
        let mut c = as_viewer(&db, &app, viewer);
        let p = plan(&mut c, "SELECT count(*), sum(amount) FROM deals");
        assert!(p.contains(OWNER_INDEX_COND), "viewer {viewer}:\n{p}");
        assert!(then_initplan(&p, "CASE WHEN "), "viewer {viewer}:\n{p}");
        assert!(!p.contains("Seq Scan"), "viewer {viewer}:\n{p}");
        let want = expected_count(&mut dba, viewer);
        assert!(want > 0);
        assert_eq!(one_i64(&mut c, "SELECT count(*) FROM deals"), want);
        // Point reads and updates of a row outside the reach find nothing.
        assert_eq!(
            one_i64(&mut c, "SELECT count(*) FROM deals WHERE id = 2"),
            0
        );
        assert_eq!(
            c.execute("UPDATE deals SET amount = 0 WHERE id = 2", &[])
                .unwrap(),
            0
        );
    }
    // The estimate comes from the owner column's statistics: viewer 5 owns 1/16 of
    // the rows; the default for a function would be a third of the table.
    let mut c = as_viewer(&db, &app, 5);
    let p = plan(&mut c, "SELECT id FROM deals");
    let rows: f64 = p
        .split("rows=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no estimate in\n{p}"));
    assert!((400.0..=4000.0).contains(&rows), "estimate {rows}:\n{p}");
}

#[test]
fn a_large_share_is_an_inlined_constant_filter() {
    let mut db = TestDb::new("plan_inline");
    let (mut dba, app) = big_insightly(&mut db);
    let mut c = as_viewer(&db, &app, 3);
    let p = plan(&mut c, "SELECT count(*), sum(amount) FROM deals");
    assert!(then_initplan(&p, "CASE WHEN "), "{p}");
    assert!(
        p.contains("(company_id = '1'::bigint) AND (owner_id = ANY ('{3,5,6,100,"),
        "{p}"
    );
    assert!(p.contains("ELSE sharing._decide_current("), "{p}");
    assert!(!p.contains("_index_owners"), "{p}");
    let want = expected_count(&mut dba, 3);
    assert_eq!(one_i64(&mut c, "SELECT count(*) FROM deals"), want);
    // The guard: true only for the viewer and configuration the filter was made for.
    let owners = "(SELECT array_agg(o ORDER BY o) FROM (SELECT 3 UNION SELECT 5 UNION SELECT 6 UNION SELECT generate_series(100, 199)) s(o))";
    let holds = |c: &mut Client, owners: &str, company: i64| {
        one_bool(
            c,
            &format!("SELECT sharing._filter_holds('deals', 'view', {owners}, {company})"),
        )
    };
    assert!(holds(&mut c, owners, 1));
    assert!(!holds(&mut c, owners, 2));
    assert!(!holds(&mut c, "'{3,5,6}'", 1));
    for viewer in [4, 1] {
        c.batch_execute(&format!("SET sharing.viewer = '{viewer}'"))
            .unwrap();
        assert!(!holds(&mut c, owners, 1), "viewer {viewer}");
    }
    c.batch_execute("SET sharing.viewer = '3'").unwrap();
    // The share is a setting: above 1 even this viewer's policy offers the owner index.
    c.batch_execute("SET sharing.owner_index_max_share = 2")
        .unwrap();
    let p = plan(&mut c, "SELECT count(*) FROM deals");
    assert!(p.contains("sharing._owner_hint"), "{p}");
    assert_eq!(one_i64(&mut c, "SELECT count(*) FROM deals"), want);
    // And at 0 a rep's single owner is read without it.
    c.batch_execute("SET sharing.owner_index_max_share = 0; SET sharing.viewer = '5'")
        .unwrap();
    let p = plan(&mut c, "SELECT count(*) FROM deals");
    assert!(p.contains("owner_id = ANY ('{5}'"), "{p}");
    assert!(!p.contains("_owner_hint"), "{p}");
    assert_eq!(
        one_i64(&mut c, "SELECT count(*) FROM deals"),
        expected_count(&mut dba, 5)
    );
    // A generic plan inlined for viewer 3, executed for others, stays right.
    c.batch_execute(
        "RESET sharing.owner_index_max_share; SET sharing.viewer = '3';
         SET plan_cache_mode = force_generic_plan; PREPARE q AS SELECT count(*) FROM deals",
    )
    .unwrap();
    execute_as_each(&mut c, &mut dba, &[3, 5, 1, 4, 3, 2]);
}

#[test]
fn level_all_is_one_company_comparison_per_row() {
    let mut db = TestDb::new("plan_all");
    let (mut dba, app) = big_insightly(&mut db);
    for viewer in [1, 2] {
        let mut c = as_viewer(&db, &app, viewer);
        let p = plan(&mut c, "SELECT count(*) FROM deals");
        assert!(then_initplan(&p, "(company_id = "), "viewer {viewer}:\n{p}");
        assert!(p.contains("_decide_current"), "viewer {viewer}:\n{p}");
        assert!(!p.contains("_index_owners"), "viewer {viewer}:\n{p}");
        assert_eq!(
            one_i64(&mut c, "SELECT count(*) FROM deals"),
            expected_count(&mut dba, viewer)
        );
    }
    // No viewer: nothing, whichever way the rows are read.
    let mut nobody = db.connect_as(&app);
    assert_eq!(one_i64(&mut nobody, "SELECT count(*) FROM deals"), 0);
    assert_eq!(
        one_i64(&mut nobody, "SELECT count(*) FROM deals WHERE owner_id = 5"),
        0
    );
}

/// Level `all` and another company's rows: refused at once while the viewer reaches
/// nothing beyond their company, decided one by one once an agreement does — in
/// plans made before and after, for every viewer.
#[test]
fn level_all_refuses_another_companys_rows_unless_an_agreement_reaches_them() {
    let mut db = TestDb::new("plan_beyond");
    let (mut dba, app) = big_insightly(&mut db);
    dba.batch_execute(
        "INSERT INTO sharing.companies (id, name) VALUES (50, 'Globex');
         INSERT INTO sharing.users (id, company_id, name) VALUES (300, 50, 'gil');
         INSERT INTO deals SELECT g, 300, 50, g, 'globex' FROM generate_series(30000, 30499) g;
         ANALYZE deals;",
    )
    .unwrap();
    let mut c = as_viewer(&db, &app, 1);
    // The company, and whether the viewer reaches beyond it: two InitPlans.
    let p = plan(&mut c, "SELECT count(*) FROM deals");
    assert_eq!(initplans(&p), 2, "{p}");
    assert!(p.contains(" AND sharing._decide_current("), "{p}");
    let own = expected_count(&mut dba, 1);
    assert_eq!(one_i64(&mut c, "SELECT count(*) FROM deals"), own);
    c.batch_execute(
        "SET plan_cache_mode = force_generic_plan; PREPARE q AS SELECT count(*) FROM deals",
    )
    .unwrap();
    execute_as_each(&mut c, &mut dba, &[1, 2, 300, 1]);
    // Globex lets Acme view its deals: Acme's admin now sees them too.
    dba.batch_execute(
        "WITH a AS (INSERT INTO sharing.agreements (grantor_company, grantee_company) VALUES (50, 1) RETURNING id)
         INSERT INTO sharing.agreement_permissions (agreement_id, object_type, action) SELECT id, 'deals', 'view' FROM a",
    )
    .unwrap();
    assert!(expected_count(&mut dba, 1) > own);
    execute_as_each(&mut c, &mut dba, &[1, 300, 2, 1]);
    assert_eq!(
        one_i64(&mut c, "SELECT count(*) FROM deals"),
        expected_count(&mut dba, 1)
    );
    // A login mapped to the admin with nothing but SELECT on the table: the
    // functions of the rewrite are PUBLIC's.
    let bare = db.login("bare");
    dba.batch_execute(&format!(
        "REVOKE ALL ON ALL TABLES IN SCHEMA sharing FROM {bare};
         REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA sharing FROM {bare};
         GRANT SELECT ON deals TO {bare};
         UPDATE sharing.users SET db_role = '{bare}' WHERE id = 1;"
    ))
    .unwrap();
    let mut b = db.connect_as(&bare);
    assert_eq!(
        one_i64(&mut b, "SELECT count(*) FROM deals"),
        expected_count(&mut dba, 1)
    );
}

#[test]
fn can_access_with_a_constant_viewer_uses_the_owner_index_too() {
    let mut db = TestDb::new("plan_const");
    let (mut dba, _app) = big_insightly(&mut db);
    let q = "SELECT count(*) FROM deals WHERE sharing.can_access('deals', 'view', owner_id, company_id, 4)";
    let p = plan(&mut dba, q);
    assert!(p.contains(OWNER_INDEX_COND), "{p}");
    let by_owner = one_i64(
        &mut dba,
        "SELECT count(*) FROM deals WHERE owner_id IN (4, 7)",
    );
    assert_eq!(one_i64(&mut dba, q), by_owner);
    // A viewer in a column is a join condition: no index condition is made from it.
    let p = plan(
        &mut dba,
        "SELECT count(*) FROM deals d JOIN sharing.users u ON sharing.can_access('deals', 'view', d.owner_id, d.company_id, u.id)",
    );
    assert!(!p.contains("_index_owners"), "{p}");
}

/// A generic plan made for a salesperson, executed after the viewer changed.
#[test]
fn a_plan_kept_across_a_viewer_change_is_made_again() {
    let mut db = TestDb::new("plan_viewer");
    let (mut dba, app) = big_insightly(&mut db);
    let mut c = db.connect_as(&app);
    c.batch_execute(
        "SET plan_cache_mode = force_generic_plan;
         PREPARE q AS SELECT count(*) FROM deals;
         SET sharing.viewer = '5';",
    )
    .unwrap();
    assert_eq!(one_i64(&mut c, "EXECUTE q"), expected_count(&mut dba, 5));
    assert!(plan(&mut c, "EXECUTE q").contains(OWNER_INDEX_COND));
    execute_as_each(&mut c, &mut dba, &[1, 3, 2, 5, 1]);
    // The same through SET LOCAL in transactions, and in a PL/pgSQL function
    // (whose statements keep their plans for the session).
    dba.batch_execute(&format!(
        "CREATE FUNCTION deal_count() RETURNS bigint LANGUAGE plpgsql AS
           $$ BEGIN RETURN (SELECT count(*) FROM deals); END $$;
         GRANT EXECUTE ON FUNCTION deal_count() TO {app};"
    ))
    .unwrap();
    for viewer in [5, 1, 4, 2, 7] {
        c.batch_execute(&format!("BEGIN; SET LOCAL sharing.viewer = '{viewer}'"))
            .unwrap();
        let want = expected_count(&mut dba, viewer);
        assert_eq!(one_i64(&mut c, "EXECUTE q"), want, "viewer {viewer}");
        assert_eq!(
            one_i64(&mut c, "SELECT deal_count()"),
            want,
            "viewer {viewer}"
        );
        c.batch_execute("COMMIT").unwrap();
    }
}

/// Another session widens the salesperson's visibility (an org-wide default):
/// the next transaction plans again and sees every row.
#[test]
fn a_configuration_change_in_another_session_is_planned_for() {
    let mut db = TestDb::new("plan_config");
    let (mut dba, app) = big_insightly(&mut db);
    let mut c = prepared_count(&db, &app, 5);
    let own = expected_count(&mut dba, 5);
    assert_eq!(one_i64(&mut c, "EXECUTE q"), own);
    dba.batch_execute(
        "UPDATE sharing.object_types SET org_wide_default = 'public_read' WHERE name = 'deals'",
    )
    .unwrap();
    let all = one_i64(&mut dba, "SELECT count(*) FROM deals");
    assert_eq!(expected_count(&mut dba, 5), all);
    assert_eq!(one_i64(&mut c, "EXECUTE q"), all);
    assert!(!plan(&mut c, "EXECUTE q").contains("_index_owners"));
    dba.batch_execute(
        "UPDATE sharing.object_types SET org_wide_default = 'private' WHERE name = 'deals'",
    )
    .unwrap();
    assert_eq!(one_i64(&mut c, "EXECUTE q"), own);
    assert!(plan(&mut c, "EXECUTE q").contains(OWNER_INDEX_COND));
}

/// A change of people that cannot make a viewer reach records of any owner (a new
/// user, a membership of a role without level `all`) leaves the other sessions'
/// plans alone: their next statement runs the plan it has (docs/design.md, "Plans
/// across configurations"). Before, every change made every session plan again.
#[test]
fn a_new_person_leaves_the_other_sessions_plans_alone() {
    let mut db = TestDb::new("plan_people_kept");
    let (mut dba, app) = big_insightly(&mut db);
    dba.batch_execute(&format!(
        "GRANT EXECUTE ON FUNCTION sharing._model_stats() TO {app}"
    ))
    .unwrap();
    let mut c = prepared_count(&db, &app, 5);
    let own = expected_count(&mut dba, 5);
    assert_eq!(one_i64(&mut c, "EXECUTE q"), own);
    assert!(plan(&mut c, "EXECUTE q").contains(OWNER_INDEX_COND));
    let shaped =
        |c: &mut Client| one_i64(c, "SELECT (sharing._model_stats()->>'plans_shaped')::int8");
    // Up to three new reps with the role of rep 7 (peers of 5's: not below 5). A
    // session may also plan again because of PostgreSQL's own invalidations (its
    // queue of them overflowing while other tests run DDL): one kept plan is
    // enough, and the old behaviour (every change resets every plan) never keeps one.
    let mut kept = false;
    for rep in 300..303 {
        let before = shaped(&mut c);
        dba.batch_execute(&format!(
            "INSERT INTO sharing.users (id, company_id, name) VALUES ({rep}, 1, 'new rep');
             INSERT INTO sharing.user_roles (user_id, role_id)
             SELECT {rep}, role_id FROM sharing.user_roles WHERE user_id = 7 ORDER BY role_id DESC LIMIT 1"
        ))
        .unwrap();
        assert_eq!(expected_count(&mut dba, 5), own);
        assert_eq!(one_i64(&mut c, "EXECUTE q"), own);
        if shaped(&mut c) == before {
            kept = true;
            break;
        }
        // The statement above saw the new model: its plans are made again next.
        assert_eq!(one_i64(&mut c, "EXECUTE q"), own);
    }
    assert!(kept, "every change made the plan again");
}

/// A membership that may give a viewer level `all` makes the other sessions plan
/// again at their next statement: a kept plan reading the owner index for that
/// viewer would have to refuse (40001) rather than miss the rows.
#[test]
fn a_role_that_grants_all_is_planned_for_in_the_other_sessions() {
    let mut db = TestDb::new("plan_people_all");
    let (mut dba, app) = big_insightly(&mut db);
    let mut c = prepared_count(&db, &app, 5);
    let own = expected_count(&mut dba, 5);
    assert_eq!(one_i64(&mut c, "EXECUTE q"), own);
    assert!(plan(&mut c, "EXECUTE q").contains(OWNER_INDEX_COND));
    // The admin's role (user 1: level all).
    dba.batch_execute(
        "INSERT INTO sharing.user_roles (user_id, role_id)
         SELECT 5, role_id FROM sharing.user_roles WHERE user_id = 1 ORDER BY role_id LIMIT 1",
    )
    .unwrap();
    let all = expected_count(&mut dba, 5);
    assert!(all > own, "{all} > {own}");
    assert_eq!(one_i64(&mut c, "EXECUTE q"), all);
    assert!(!plan(&mut c, "EXECUTE q").contains("_index_owners"));
}

/// A viewer of level none on a type its org-wide default opens has an owner-bounded
/// plan; an ordinary role makes them reach every owner's records, so the other
/// sessions plan again (an attacker's review got 40001 from the kept plan).
#[test]
fn a_first_role_on_a_public_type_is_planned_for_in_the_other_sessions() {
    let mut db = TestDb::new("plan_people_public");
    let (mut dba, app) = big_insightly(&mut db);
    dba.batch_execute(
        "UPDATE sharing.object_types SET org_wide_default = 'public_read' WHERE name = 'deals';
         INSERT INTO sharing.roles (id, company_id, name) VALUES (990, 1, 'no deals');
         INSERT INTO sharing.users (id, company_id, name) VALUES (990, 1, 'newcomer');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (990, 990);
         DELETE FROM sharing.user_roles WHERE user_id = 990 AND role_id <> 990;",
    )
    .unwrap();
    let mut c = prepared_count(&db, &app, 990);
    assert_eq!(one_i64(&mut c, "EXECUTE q"), expected_count(&mut dba, 990));
    assert!(plan(&mut c, "EXECUTE q").contains(OWNER_INDEX_COND));
    // An ordinary role (the reps' role: level owned on deals).
    dba.batch_execute("INSERT INTO sharing.user_roles (user_id, role_id) VALUES (990, 13)")
        .unwrap();
    let now = expected_count(&mut dba, 990);
    assert!(now > 0);
    assert_eq!(one_i64(&mut c, "EXECUTE q"), now);
}

/// Inside one READ COMMITTED transaction, a change committed by another session
/// is planned for at the next statement as well.
#[test]
fn a_change_during_a_transaction_is_planned_for_at_the_next_statement() {
    let mut db = TestDb::new("plan_txn");
    let (mut dba, app) = big_insightly(&mut db);
    let mut c = prepared_count(&db, &app, 5);
    let own = expected_count(&mut dba, 5);
    // The model is compiled before q is planned: the plan is made with a current model.
    c.batch_execute("SELECT count(*) FROM deals WHERE id = 100")
        .unwrap();
    c.batch_execute("BEGIN").unwrap();
    assert_eq!(one_i64(&mut c, "EXECUTE q"), own);
    dba.batch_execute(
        "UPDATE sharing.object_types SET org_wide_default = 'public_read' WHERE name = 'deals'",
    )
    .unwrap();
    let all = one_i64(&mut dba, "SELECT count(*) FROM deals");
    // The transaction holds its lock on deals, so PostgreSQL keeps q's plan (an
    // owner index read for viewer 5) for this statement: it decides with the new
    // configuration and refuses with 40001 rather than miss the rows the change
    // opened (docs/design.md, "The policies"); the next transaction plans again.
    match c.query_one("EXECUTE q", &[]) {
        Ok(row) => assert_eq!(row.get::<_, i64>(0), all),
        Err(e) => assert_eq!(e.code().map(|c| c.code()), Some("40001"), "{e}"),
    }
    c.batch_execute("ROLLBACK").unwrap();
    assert_eq!(one_i64(&mut c, "EXECUTE q"), all);
}

/// An application that sets another viewer for every request keeps its plans —
/// prepared statements included — while the new viewer's plan would be of the
/// same class, and plans again when it would not (docs/design.md, "Plans across
/// viewers"); every answer is the viewer's own.
#[test]
fn switching_between_viewers_of_one_class_keeps_the_plans() {
    let mut db = TestDb::new("plan_class");
    let (mut dba, app) = big_insightly(&mut db);
    // As behind a pooler: no viewer for the session, one per transaction.
    let mut c = db.connect_as(&app);
    c.batch_execute(
        "SET plan_cache_mode = force_generic_plan; PREPARE q AS SELECT count(*) FROM deals",
    )
    .unwrap();
    let counts = |c: &mut Client| {
        let text = one_str(c, "SELECT sharing._model_stats()::text");
        let stats: serde_json::Value = serde_json::from_str(&text).unwrap();
        (
            stats["plans_shaped"].as_i64().unwrap(),
            stats["plan_resets"].as_i64().unwrap(),
        )
    };
    let request = |c: &mut Client, dba: &mut Client, viewer: i64| {
        c.batch_execute(&format!(
            "BEGIN; SELECT set_config('sharing.viewer', '{viewer}', true)"
        ))
        .unwrap();
        assert_eq!(
            one_i64(c, "EXECUTE q"),
            expected_count(dba, viewer),
            "viewer {viewer}"
        );
        c.batch_execute("COMMIT").unwrap();
    };
    request(&mut c, &mut dba, 100);
    let before = counts(&mut c);
    // Salespeople, each reaching a few owners: one plan for all of them.
    for viewer in 101..=130 {
        request(&mut c, &mut dba, viewer);
    }
    let after = counts(&mut c);
    assert_eq!(
        after, before,
        "no plan was made again or reset for viewers of one class"
    );
    // The administrator reads every record of the company: another plan, once.
    request(&mut c, &mut dba, 1);
    let admin = counts(&mut c);
    assert_eq!(
        admin.1,
        after.1 + 1,
        "the plans were reset for the administrator"
    );
    assert!(
        admin.0 > after.0,
        "q was planned again for the administrator"
    );
    request(&mut c, &mut dba, 131);
    assert_eq!(counts(&mut c).1, admin.1 + 1, "and again for a salesperson");
}

/// Should an owner-index condition ever run for a viewer whose records are not
/// owner-bounded (a plan outliving every invalidation), it refuses with 40001
/// instead of returning too few rows.
#[test]
fn an_owner_index_condition_refuses_a_viewer_it_cannot_bound() {
    let mut db = TestDb::new("plan_refuse");
    let (mut dba, app) = big_insightly(&mut db);
    let mut c = as_viewer(&db, &app, 5);
    // The owners of a bounded viewer: the West manager and his rep.
    assert_eq!(
        one_str(
            &mut c,
            "SELECT sharing._index_owners('deals', 'view', 4)::text"
        ),
        "{4,7}"
    );
    assert_eq!(
        one_str(
            &mut c,
            "SELECT sharing._index_owners('deals', 'view', NULL)::text"
        ),
        "{}"
    );
    for unbounded in [1, 2] {
        let message = expect_error(
            &mut c,
            &format!("SELECT sharing._index_owners('deals', 'view', {unbounded})"),
            "40001",
        );
        assert!(message.contains("not owner-bounded"), "{message}");
        assert!(message.contains("run it again"), "{message}");
    }
    expect_error(
        &mut dba,
        "SELECT sharing._index_owners('nope', 'view', 3)",
        "22023",
    );
}

/// A viewer with record shares keeps the owner index and adds the id (primary
/// key) index for the records shared with them: a BitmapOr of the two
/// (docs/design.md, "Record shares"). A generic plan stays right when the shares
/// change between executions, and for another viewer.
#[test]
fn shared_records_are_read_through_the_id_index_beside_the_owner_index() {
    let mut db = TestDb::new("plan_shares");
    let (mut dba, app) = big_insightly(&mut db);
    dba.batch_execute(
        "INSERT INTO sharing.record_shares (object_type, record_id, user_id)
         SELECT 'deals', g::text, 5 FROM generate_series(101, 20099, 400) g;",
    )
    .unwrap();
    let shared = one_i64(&mut dba, "SELECT count(*) FROM sharing.record_shares");
    assert_eq!(shared, 50);
    let mut c = as_viewer(&db, &app, 5);
    let p = plan(&mut c, "SELECT count(*) FROM deals");
    assert!(p.contains("BitmapOr"), "{p}");
    assert!(p.contains(OWNER_INDEX_COND), "{p}");
    assert!(p.contains("Index Cond: (id = ANY ("), "{p}");
    let own = one_i64(&mut dba, "SELECT count(*) FROM deals WHERE owner_id = 5");
    assert_eq!(one_i64(&mut c, "SELECT count(*) FROM deals"), own + 50);
    // A generic plan, executed as the viewer while their shares change, and as others.
    let mut q = prepared_count(&db, &app, 5);
    assert_eq!(one_i64(&mut q, "EXECUTE q"), own + 50);
    dba.batch_execute("DELETE FROM sharing.record_shares WHERE record_id::bigint % 800 = 101")
        .unwrap();
    let left = one_i64(&mut dba, "SELECT count(*) FROM sharing.record_shares");
    assert_eq!(one_i64(&mut q, "EXECUTE q"), own + left);
    for viewer in [3, 7, 100] {
        q.batch_execute(&format!("SET sharing.viewer = '{viewer}'"))
            .unwrap();
        assert_eq!(
            one_i64(&mut q, "EXECUTE q"),
            expected_count(&mut dba, viewer),
            "viewer {viewer}"
        );
    }
}

/// `my_deals`, a copy of `deals` whose policies a user wrote with
/// `can_access(…, sharing.current_viewer())` (view; edit with its WITH CHECK),
/// readable and updatable by `app`.
fn user_can_access_table(dba: &mut Client, app: &str) {
    dba.batch_execute(&format!(
        "CREATE TABLE my_deals (LIKE deals INCLUDING ALL);
         INSERT INTO my_deals SELECT * FROM deals;
         ALTER TABLE my_deals ENABLE ROW LEVEL SECURITY;
         CREATE POLICY mine ON my_deals FOR SELECT
           USING (sharing.can_access('deals', 'view', owner_id, company_id, sharing.current_viewer()));
         CREATE POLICY mine_edit ON my_deals FOR UPDATE
           USING (sharing.can_access('deals', 'edit', owner_id, company_id, sharing.current_viewer()))
           WITH CHECK (sharing.can_access('deals', 'edit', owner_id, company_id, sharing.current_viewer()));
         GRANT SELECT, UPDATE ON my_deals TO {app};
         ANALYZE my_deals;"
    ))
    .unwrap();
}

/// `seen`, a copy of `deals` whose policy a user wrote with `can_see(owner_id,
/// sharing.current_viewer())`, readable and updatable by `app`.
fn user_can_see_table(dba: &mut Client, app: &str) {
    dba.batch_execute(&format!(
        "CREATE TABLE seen (LIKE deals INCLUDING ALL);
         INSERT INTO seen SELECT * FROM deals;
         ALTER TABLE seen ENABLE ROW LEVEL SECURITY;
         CREATE POLICY mine ON seen USING (sharing.can_see(owner_id, sharing.current_viewer()));
         GRANT SELECT, UPDATE ON seen TO {app};
         ANALYZE seen;"
    ))
    .unwrap();
}

/// A policy a user writes with `can_access(…, sharing.current_viewer())` gets the
/// rewrite of protect()'s policies (docs/design.md, "The policies"): the viewer is
/// read once per statement, a salesperson reads through the owner index, a
/// manager through the company comparison — and every viewer gets exactly the rows
/// of the protected table, also through one generic plan kept across viewers, and
/// writes are checked the same way.
#[test]
fn a_users_own_can_access_policy_gets_the_same_rewrite() {
    let mut db = TestDb::new("plan_user_policy");
    let (mut dba, app) = big_insightly(&mut db);
    user_can_access_table(&mut dba, &app);
    let mut c = db.connect_as(&app);
    c.batch_execute(
        "SET plan_cache_mode = force_generic_plan; PREPARE mine AS SELECT count(*) FROM my_deals",
    )
    .unwrap();
    for viewer in [5, 1, 4, 7, 100, 101, 3, 2, 150] {
        c.batch_execute(&format!(
            "BEGIN; SELECT set_config('sharing.viewer', '{viewer}', true)"
        ))
        .unwrap();
        let want = expected_count(&mut dba, viewer);
        assert_eq!(
            one_i64(&mut c, "SELECT count(*) FROM my_deals"),
            want,
            "viewer {viewer}"
        );
        assert_eq!(
            one_i64(&mut c, "EXECUTE mine"),
            want,
            "viewer {viewer}, prepared"
        );
        let p = plan(&mut c, "SELECT count(*), sum(amount) FROM my_deals");
        assert!(
            p.contains("InitPlan"),
            "the viewer is read once per statement:\n{p}"
        );
        assert!(
            !p.contains("current_viewer()) AND") && !p.contains("can_access("),
            "rewritten:\n{p}"
        );
        if viewer == 5 {
            assert!(
                p.contains("my_deals_owner_id_idx") && p.contains("_index_owners_current"),
                "{p}"
            );
        }
        c.batch_execute("COMMIT").unwrap();
    }
    // Writes: an update of a row out of reach changes nothing; one in reach does.
    c.batch_execute("BEGIN; SELECT set_config('sharing.viewer', '5', true)")
        .unwrap();
    let theirs = one_i64(&mut dba, "SELECT min(id) FROM deals WHERE owner_id = 5");
    let other = one_i64(&mut dba, "SELECT min(id) FROM deals WHERE owner_id = 1");
    assert_eq!(
        c.execute(
            &format!("UPDATE my_deals SET amount = 1 WHERE id = {other}"),
            &[]
        )
        .unwrap(),
        0
    );
    assert_eq!(
        c.execute(
            &format!("UPDATE my_deals SET amount = 1 WHERE id = {theirs}"),
            &[]
        )
        .unwrap(),
        1
    );
    expect_error(
        &mut c,
        &format!("UPDATE my_deals SET owner_id = 1 WHERE id = {theirs}"),
        "42501",
    );
    c.batch_execute("ROLLBACK").unwrap();
}

/// `can_see(owner_id, sharing.current_viewer())` in a user's policy: the reach
/// inlined for the planned viewer behind a guard, the owner index for a few
/// owners, the row-by-row fallback for any other viewer — the rows `can_see`
/// admits for every viewer, through one generic plan kept across viewers too.
#[test]
fn a_users_own_can_see_policy_gets_the_reach_inlined() {
    let mut db = TestDb::new("plan_user_can_see");
    let (mut dba, app) = big_insightly(&mut db);
    user_can_see_table(&mut dba, &app);
    let mut c = db.connect_as(&app);
    c.batch_execute(
        "SET plan_cache_mode = force_generic_plan; PREPARE seen_count AS SELECT count(*) FROM seen",
    )
    .unwrap();
    for viewer in [5, 1, 4, 7, 100, 101, 3, 2, 150, 5] {
        c.batch_execute(&format!(
            "BEGIN; SELECT set_config('sharing.viewer', '{viewer}', true)"
        ))
        .unwrap();
        let want = one_i64(
            &mut dba,
            &format!("SELECT count(*) FROM seen WHERE sharing.can_see(owner_id, {viewer})"),
        );
        assert_eq!(
            one_i64(&mut c, "SELECT count(*) FROM seen"),
            want,
            "viewer {viewer}"
        );
        assert_eq!(
            one_i64(&mut c, "EXECUTE seen_count"),
            want,
            "viewer {viewer}, prepared"
        );
        let p = plan(&mut c, "SELECT count(*), sum(amount) FROM seen");
        assert!(!p.contains("can_see("), "rewritten:\n{p}");
        if viewer == 5 {
            assert!(
                p.contains("_reach_owners_current()") && p.contains("owner_id_idx"),
                "{p}"
            );
        }
        c.batch_execute("COMMIT").unwrap();
    }
    // Without a viewer: nothing.
    assert_eq!(one_i64(&mut c, "SELECT count(*) FROM seen"), 0);
}

/// The rewrites answer as the functions do under three-valued logic, so `NOT`,
/// `IS NULL` and restrictive policies written with them keep their meaning:
/// `can_access` is never NULL (false without a viewer, for a NULL owner or
/// company), `can_see` is NULL where it is STRICT (no viewer, a NULL owner) — also
/// through one prepared plan kept across viewers (found by the attacker review).
#[test]
fn rewrites_keep_the_functions_nulls() {
    let mut db = TestDb::new("plan_nulls");
    let (mut dba, app) = big_insightly(&mut db);
    dba.batch_execute(&format!(
        "CREATE TABLE pub AS SELECT id, owner_id, company_id FROM deals;
         INSERT INTO pub VALUES (-1, NULL, 1), (-2, 5, NULL), (-3, NULL, NULL), (-4, 5, 1);
         CREATE INDEX ON pub (owner_id);
         ANALYZE pub;
         GRANT SELECT ON pub TO {app};
         INSERT INTO sharing.users (id, company_id, name, status) VALUES (300, 1, 'gone', 'disabled');"
    ))
    .unwrap();
    let questions = [
        ("NOT sharing.can_see(owner_id, {v})", "see not"),
        ("sharing.can_see(owner_id, {v}) IS NULL", "see null"),
        (
            "NOT sharing.can_access('deals', 'view', owner_id, company_id, {v})",
            "view not",
        ),
        (
            "NOT sharing.can_access('deals', 'edit', owner_id, company_id, {v})",
            "edit not",
        ),
        (
            "sharing.can_access('deals', 'view', owner_id, company_id, {v}) IS NULL",
            "view null",
        ),
    ];
    let mut c = db.connect_as(&app);
    for (i, (q, _)) in questions.iter().enumerate() {
        c.batch_execute(&format!(
            "SET plan_cache_mode = force_generic_plan; PREPARE q{i} AS SELECT count(*) FROM pub WHERE {}",
            q.replace("{v}", "sharing.current_viewer()")
        ))
        .unwrap();
    }
    // Viewers in an order that leaves each kind of plan for the next: the admin's,
    // a salesperson's, none, a disabled one.
    for viewer in [
        Some(1),
        None,
        Some(5),
        None,
        Some(300),
        Some(100),
        Some(1),
        None,
    ] {
        let set = viewer.map_or("BEGIN".to_string(), |v| {
            format!("BEGIN; SELECT set_config('sharing.viewer', '{v}', true)")
        });
        c.batch_execute(&set).unwrap();
        for (i, (q, name)) in questions.iter().enumerate() {
            let constant = viewer.map_or("NULL::bigint".to_string(), |v| v.to_string());
            let want = one_i64(
                &mut dba,
                &format!(
                    "SELECT count(*) FROM pub WHERE {}",
                    q.replace("{v}", &constant)
                ),
            );
            let ad_hoc = q.replace("{v}", "sharing.current_viewer()");
            assert_eq!(
                one_i64(&mut c, &format!("SELECT count(*) FROM pub WHERE {ad_hoc}")),
                want,
                "{name}, viewer {viewer:?}"
            );
            assert_eq!(
                one_i64(&mut c, &format!("EXECUTE q{i}")),
                want,
                "{name}, viewer {viewer:?}, prepared"
            );
        }
        c.batch_execute("COMMIT").unwrap();
    }
}

/// protect()'s policy on a table with a `bigint` id plans the records shared with
/// the viewer inside the rewrite (docs/design.md, "Record shares"): a statement
/// plans one sub-select (the guard) and no other, and the shared ids are
/// constants beside the owners. A plan kept while a share ends by its period —
/// no write, so nothing makes the plan again — stays right through its guard,
/// for this viewer and for others; so does a write's check.
#[test]
fn shares_are_planned_inside_the_rewrite_behind_its_guard() {
    let mut db = TestDb::new("plan_inline_shares");
    let (mut dba, app) = big_insightly(&mut db);
    let own = |dba: &mut Client, viewer: i64| expected_count(dba, viewer);
    // Without shares: one InitPlan (the guard), no SubPlan, for a point read, an
    // update (view and edit, and the checks) and the manager's inlined filter.
    for viewer in [5, 3] {
        let mut c = as_viewer(&db, &app, viewer);
        for sql in [
            "SELECT * FROM deals WHERE id IN (101, 102)",
            "SELECT count(*) FROM deals",
        ] {
            let p = plan(&mut c, sql);
            assert_eq!(initplans(&p), 1, "viewer {viewer}: {p}");
            assert!(!p.contains("SubPlan"), "viewer {viewer}: {p}");
        }
        // An UPDATE: the guards of `edit` and `view` on the scan, and of `view` again
        // on the new row (PostgreSQL checks the SELECT policy there too).
        let p = plan(
            &mut c,
            "UPDATE deals SET amount = amount WHERE id IN (101, 102)",
        );
        assert_eq!(initplans(&p), 3, "viewer {viewer}: {p}");
        assert!(!p.contains("SubPlan"), "viewer {viewer}: {p}");
    }
    // A share to the rep ending in two seconds, and one to the manager for good.
    dba.batch_execute(
        "INSERT INTO sharing.record_shares (object_type, record_id, user_id, access, valid_until)
           VALUES ('deals', '20001', 5, 'read_write', clock_timestamp() + interval '2 seconds');
         INSERT INTO sharing.record_shares (object_type, record_id, user_id) VALUES ('deals', '20000', 3);",
    )
    .unwrap();
    let own5 = own(&mut dba, 5);
    let own3 = own(&mut dba, 3);
    for (viewer, shared, own_count) in [(5, "20001", own5), (3, "20000", own3)] {
        let mut c = prepared_count(&db, &app, viewer);
        let p = plan(&mut c, "EXECUTE q");
        assert!(
            p.contains(&format!("(id = ANY ('{{{shared}}}'::bigint[]))")),
            "viewer {viewer}: the shared id is a constant\n{p}"
        );
        assert_eq!(initplans(&p), 1, "viewer {viewer}: {p}");
        assert_eq!(
            one_i64(&mut c, "EXECUTE q"),
            own_count + 1,
            "viewer {viewer}"
        );
    }
    // The rep's generic plan, kept across the end of the share (no write happened).
    let mut rep = prepared_count(&db, &app, 5);
    assert_eq!(one_i64(&mut rep, "EXECUTE q"), own5 + 1);
    let mut writer = as_viewer(&db, &app, 5);
    writer
        .batch_execute("PREPARE w AS UPDATE deals SET amount = amount + 1 WHERE id IN (20001, -1)")
        .unwrap();
    assert_eq!(writer.execute("EXECUTE w", &[]).unwrap(), 1);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(one_i64(&mut rep, "EXECUTE q"), own5, "the share has ended");
    assert_eq!(
        one_i64(&mut rep, "SELECT count(*) FROM deals WHERE id = 20001"),
        0
    );
    assert_eq!(writer.execute("EXECUTE w", &[]).unwrap(), 0);
    // The same kept plan for other viewers: the manager's share counts, the rep's not.
    for (viewer, want) in [(3, own3 + 1), (7, own(&mut dba, 7)), (5, own5)] {
        rep.batch_execute(&format!("SET sharing.viewer = '{viewer}'"))
            .unwrap();
        assert_eq!(one_i64(&mut rep, "EXECUTE q"), want, "viewer {viewer}");
    }
}

/// A statement about one record (`WHERE id = <value>` on the policy's id column) is
/// decided row by row — `_decide_current(…, id)`: no guard, no constant arrays, no
/// owner index path to plan — and its plan is right for every viewer and every
/// configuration (kept across both); any other statement gets the viewer's filter.
#[test]
fn a_statement_about_one_record_is_decided_without_a_plan_for_the_viewer() {
    let mut db = TestDb::new("plan_one_record");
    let (mut dba, app) = big_insightly(&mut db);
    let mine = one_i64(&mut dba, "SELECT min(id) FROM deals WHERE owner_id = 5");
    let theirs = one_i64(&mut dba, "SELECT min(id) FROM deals WHERE owner_id = 1");
    let mut c = as_viewer(&db, &app, 5);
    c.batch_execute(
        "SET plan_cache_mode = force_generic_plan;
         PREPARE one(bigint) AS SELECT count(*) FROM deals WHERE id = $1;
         PREPARE upd(bigint) AS UPDATE deals SET amount = amount WHERE $1 = id AND amount >= 0",
    )
    .unwrap();
    for sql in [
        format!("SELECT count(*) FROM deals WHERE id = {mine}"),
        format!("SELECT count(*) FROM deals WHERE id = {mine}::smallint AND amount >= 0"),
        "EXECUTE one(1)".to_string(),
        "EXECUTE upd(1)".to_string(),
    ] {
        let p = plan(&mut c, &sql);
        assert!(p.contains("_decide_current"), "{sql}\n{p}");
        assert!(
            !p.contains("_owner_hint") && initplans(&p) == 0,
            "{sql}\n{p}"
        );
    }
    for sql in [
        "SELECT count(*) FROM deals",
        "SELECT count(*) FROM deals WHERE id = 101 OR amount = 3",
        "SELECT count(*) FROM deals WHERE id > 101",
    ] {
        let p = plan(&mut c, sql);
        assert!(
            p.contains("_owner_hint") && initplans(&p) == 1,
            "{sql}\n{p}"
        );
    }
    let check = |c: &mut Client, cases: &[(i64, i64)], who: &str| {
        for &(id, want) in cases {
            let n = one_i64(c, &format!("EXECUTE one({id})"));
            assert_eq!(n, want, "{who}: record {id}");
            let updated = c.execute(&format!("EXECUTE upd({id})"), &[]).unwrap();
            assert_eq!(updated, want as u64, "{who}: record {id}");
        }
    };
    check(&mut c, &[(mine, 1), (theirs, 0), (20001, 0)], "the rep");
    // The same plans for the CEO (everything), then for the rep with a share.
    c.batch_execute("SET sharing.viewer = '1'").unwrap();
    check(&mut c, &[(mine, 1), (theirs, 1), (20001, 1)], "the CEO");
    dba.batch_execute(
        "INSERT INTO sharing.record_shares (object_type, record_id, user_id, access)
           VALUES ('deals', '20001', 5, 'read_write')",
    )
    .unwrap();
    c.batch_execute("SET sharing.viewer = '5'").unwrap();
    check(
        &mut c,
        &[(mine, 1), (theirs, 0), (20001, 1)],
        "the rep, shared",
    );
    // No viewer: nothing.
    c.batch_execute("RESET sharing.viewer").unwrap();
    check(&mut c, &[(mine, 0), (theirs, 0), (20001, 0)], "no viewer");
}

/// A user's own policy (`can_access` or `can_see` with `sharing.current_viewer()`) on
/// a statement that pins one row — its primary key compared with `=` to a constant
/// or a parameter — is decided for that row (`_decide_current`, `_can_see_current`):
/// no InitPlan, no inlined owners, one plan right for every viewer. A column that is
/// not a unique key (`owner_id = 5`), or only of a partial or deferrable unique index,
/// keeps the viewer's rewrite.
#[test]
fn a_users_own_policy_decides_a_statement_about_one_row_for_that_row() {
    let mut db = TestDb::new("plan_user_one_row");
    let (mut dba, app) = big_insightly(&mut db);
    user_can_access_table(&mut dba, &app);
    user_can_see_table(&mut dba, &app);
    let mut c = db.connect_as(&app);
    c.batch_execute(
        "SET sharing.viewer = '5'; SET plan_cache_mode = force_generic_plan;
         PREPARE acc(bigint) AS SELECT count(*) FROM my_deals WHERE id = $1;
         PREPARE upd(bigint) AS UPDATE my_deals SET amount = amount WHERE id = $1;
         PREPARE see(bigint) AS SELECT count(*) FROM seen WHERE $1 = id AND amount >= 0",
    )
    .unwrap();
    for (sql, decision) in [
        (
            "SELECT count(*) FROM my_deals WHERE id = 101",
            "_decide_current",
        ),
        ("EXECUTE acc(101)", "_decide_current"),
        ("EXECUTE upd(101)", "_decide_current"),
        (
            "SELECT * FROM seen WHERE id = 101::integer",
            "_can_see_current",
        ),
        ("EXECUTE see(101)", "_can_see_current"),
    ] {
        let p = plan(&mut c, sql);
        assert!(
            p.contains(decision),
            "{sql}
{p}"
        );
        assert!(
            initplans(&p) == 0 && !p.contains("_owner_hint"),
            "{sql}
{p}"
        );
    }
    for sql in [
        "SELECT count(*) FROM my_deals WHERE owner_id = 5",
        "SELECT count(*) FROM seen WHERE owner_id = 5",
        "SELECT count(*) FROM seen WHERE id = 101 OR amount = 3",
    ] {
        let p = plan(&mut c, sql);
        assert_eq!(
            initplans(&p),
            1,
            "{sql}
{p}"
        );
    }
    // Only a valid, whole-table, immediately checked unique index pins a row: a
    // partial or a deferrable one (which may match more rows) keeps the rewrite.
    dba.batch_execute(
        "ALTER TABLE seen ADD COLUMN code bigint, ADD COLUMN ref bigint, ADD COLUMN tag bigint;
         UPDATE seen SET code = id, ref = id, tag = id;
         CREATE UNIQUE INDEX seen_code ON seen (code);
         ALTER TABLE seen ADD CONSTRAINT seen_ref UNIQUE (ref) DEFERRABLE;
         CREATE UNIQUE INDEX seen_tag ON seen (tag) WHERE tag > 0;
         ANALYZE seen",
    )
    .unwrap();
    for (sql, pinned) in [
        ("SELECT count(*) FROM seen WHERE code = 101", true),
        ("SELECT count(*) FROM seen WHERE ref = 101", false),
        ("SELECT count(*) FROM seen WHERE tag = 101", false),
    ] {
        let p = plan(&mut c, sql);
        assert_eq!(
            p.contains("_can_see_current") && initplans(&p) == 0,
            pinned,
            "{sql}
{p}"
        );
    }
    // The same generic plans, for viewers who see everything, some or none of them.
    let ids: Vec<i64> = [5, 1, 101]
        .iter()
        .map(|o| {
            one_i64(
                &mut dba,
                &format!("SELECT min(id) FROM deals WHERE owner_id = {o}"),
            )
        })
        .collect();
    c.batch_execute("BEGIN").unwrap();
    for viewer in [5, 1, 100, 3, 150] {
        c.batch_execute(&format!("SET LOCAL sharing.viewer = '{viewer}'"))
            .unwrap();
        for id in &ids {
            let mut may = |action: &str| {
                one_i64(
                    &mut dba,
                    &format!(
                        "SELECT count(*) FROM deals WHERE id = {id}
                           AND sharing.can_access('deals', '{action}', owner_id, company_id, {viewer})"
                    ),
                )
            };
            let (view, edit) = (may("view"), may("edit"));
            let sees = one_i64(
                &mut dba,
                &format!("SELECT count(*) FROM deals WHERE id = {id} AND sharing.can_see(owner_id, {viewer})"),
            );
            let who = format!("viewer {viewer}, record {id}");
            assert_eq!(
                one_i64(&mut c, &format!("EXECUTE acc({id})")),
                view,
                "{who}"
            );
            assert_eq!(
                c.execute(&format!("EXECUTE upd({id})"), &[]).unwrap(),
                (view * edit) as u64,
                "{who}"
            );
            assert_eq!(
                one_i64(&mut c, &format!("EXECUTE see({id})")),
                sees,
                "{who}"
            );
        }
    }
    c.batch_execute("RESET sharing.viewer").unwrap();
    for id in &ids {
        assert_eq!(
            one_i64(&mut c, &format!("EXECUTE acc({id})")),
            0,
            "no viewer"
        );
        assert_eq!(
            one_i64(&mut c, &format!("EXECUTE see({id})")),
            0,
            "no viewer"
        );
    }
    c.batch_execute("ROLLBACK").unwrap();
}

/// While no record of a type is shared, its rewrite offers no id index path (the
/// hint is `_owner_hint_unshared`: planning stays as cheap as without shares). A plan
/// kept past the first share — a READ COMMITTED transaction that planned before the
/// share committed, its lock held, so it has not read the share's invalidation; a
/// share valid since before that transaction began, so it counts there —
/// refuses (40001) in the owner index instead of missing the shared record; the next
/// transaction plans the id path and counts it.
#[test]
fn a_plan_made_while_nothing_was_shared_refuses_a_viewer_with_a_share() {
    let mut db = TestDb::new("plan_unshared");
    let (mut dba, app) = big_insightly(&mut db);
    let own5 = expected_count(&mut dba, 5);
    let mut rep = prepared_count(&db, &app, 5);
    rep.batch_execute("SET enable_seqscan = off; BEGIN")
        .unwrap();
    let p = plan(&mut rep, "EXECUTE q");
    assert!(p.contains("_index_owners_unshared"), "the owner index\n{p}");
    assert!(!p.contains("_id_hint"), "no id path\n{p}");
    assert_eq!(one_i64(&mut rep, "EXECUTE q"), own5);
    dba.batch_execute(
        "INSERT INTO sharing.record_shares (object_type, record_id, user_id, valid_from)
           VALUES ('deals', '20001', 5, now() - interval '1 hour')",
    )
    .unwrap();
    // The kept plan refuses; should the backend have read the share's invalidation
    // anyway (it may, at any lock it takes: seen once on 18 in CI), the plan is made
    // again and counts the shared record. Never the count without it.
    match rep.query_one("EXECUTE q", &[]) {
        Err(err) => {
            assert_eq!(err.code().map(|c| c.code()), Some("40001"), "{err}");
            let message = err
                .as_db_error()
                .map(|e| e.message().to_string())
                .unwrap_or_default();
            assert!(
                message.contains("planned while none were shared"),
                "{message}"
            );
        }
        Ok(row) => assert_eq!(row.get::<_, i64>(0), own5 + 1, "planned again"),
    }
    rep.batch_execute("ROLLBACK").unwrap();
    let p = plan(&mut rep, "EXECUTE q");
    assert!(p.contains("_id_hint") && !p.contains("_unshared"), "{p}");
    assert_eq!(one_i64(&mut rep, "EXECUTE q"), own5 + 1);
    // Another viewer's rows through the same statement, planned again, unchanged.
    rep.batch_execute("SET sharing.viewer = '3'").unwrap();
    assert_eq!(one_i64(&mut rep, "EXECUTE q"), expected_count(&mut dba, 3));
}

/// Parallel workers decide for the viewer a trusted application role set for the
/// transaction. A worker receives the leader's settings as session values; it took
/// `SET LOCAL sharing.viewer` for a session-level viewer and refused the statement
/// (42501) wherever a worker resolved the viewer — here the row-by-row share arm of a
/// viewer with more shares than the rewrite inlines (attacker review; docs/security.md).
#[test]
fn parallel_workers_take_the_transaction_viewer_of_a_trusted_role() {
    let mut db = TestDb::new("plan_parallel_local");
    let (mut dba, app) = big_insightly(&mut db);
    dba.batch_execute(&format!(
        "ALTER ROLE {app} RESET sharing.viewer_scope;
         INSERT INTO sharing.record_shares (object_type, record_id, user_id)
         SELECT 'deals', g::text, 5 FROM generate_series(100, 20099) g WHERE g % 2 = 1 OR g = 102;"
    ))
    .unwrap();
    let shared = one_i64(&mut dba, "SELECT count(*) FROM sharing.record_shares");
    assert_eq!(shared, 10_001);
    let mut c = db.connect_as(&app);
    c.batch_execute(
        "SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0;
         SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;",
    )
    .unwrap();
    for viewer in [5, 1, 3, 4] {
        let want = expected_count(&mut dba, viewer) + if viewer == 5 { shared } else { 0 };
        c.batch_execute(&format!("BEGIN; SET LOCAL sharing.viewer = '{viewer}'"))
            .unwrap();
        let p = plan(&mut c, "SELECT count(*) FROM deals");
        assert!(
            p.contains("Gather"),
            "viewer {viewer}: a parallel plan\n{p}"
        );
        assert_eq!(
            one_i64(&mut c, "SELECT count(*) FROM deals"),
            want,
            "viewer {viewer}"
        );
        c.batch_execute("COMMIT").unwrap();
    }
    // A session-level viewer is still refused (by the leader).
    let err = c
        .batch_execute("SET sharing.viewer = '5'; SELECT count(*) FROM deals")
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("42501"), "{err}");
}

/// A statement decided row by row without a once-per-statement read of the viewer —
/// about one row (`WHERE id = …`, any single-column unique key), or a user's `can_see`
/// policy planned with no viewer — never lets a parallel worker decide: a worker
/// cannot tell a session-level viewer from one set for the transaction. Under
/// `force_parallel_mode` (a seventh attacker review) a session-level viewer read the
/// row; now the leader refuses it (42501), and a viewer set for the transaction still
/// reads what it may. A protected statement planned inside a worker is refused.
#[test]
fn a_session_viewer_is_refused_when_rows_are_decided_one_by_one_in_parallel() {
    let mut db = TestDb::new("plan_parallel_row");
    let (mut dba, app) = big_insightly(&mut db);
    user_can_see_table(&mut dba, &app);
    dba.batch_execute(&format!(
        "ALTER ROLE {app} RESET sharing.viewer_scope;
         ALTER TABLE seen ADD COLUMN code text;
         UPDATE seen SET code = 'c' || id;
         CREATE UNIQUE INDEX seen_code ON seen (code);
         ANALYZE seen;"
    ))
    .unwrap();
    let visible = one_i64(&mut dba, "SELECT min(id) FROM deals WHERE owner_id = 5");
    let mut c = db.connect_as(&app);
    c.batch_execute(
        "SELECT set_config(CASE WHEN current_setting('server_version_num')::int >= 160000
                                THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END, 'on', false);
         SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
         SET plan_cache_mode = force_generic_plan;
         PREPARE anyone AS SELECT count(*) FROM seen;",
    )
    .unwrap();
    // Its generic plan, made with no viewer: row by row.
    assert_eq!(one_i64(&mut c, "EXECUTE anyone"), 0);
    let pinned = [
        format!("SELECT count(*) FROM deals WHERE id = {visible}"),
        format!("SELECT count(*) FROM seen WHERE id = {visible}"),
        format!("SELECT count(*) FROM seen WHERE code = 'c{visible}'"),
    ];
    // Set for the transaction: the row, decided in the leader (no Gather).
    for sql in &pinned {
        c.batch_execute("BEGIN; SET LOCAL sharing.viewer = '5'")
            .unwrap();
        let p = plan(&mut c, sql);
        assert!(!p.contains("Gather"), "{sql}\n{p}");
        assert_eq!(one_i64(&mut c, sql), 1, "{sql}");
        c.batch_execute("COMMIT").unwrap();
    }
    // Set for the session: refused, for the pinned statements and for the plan made
    // with no viewer.
    c.batch_execute("SET sharing.viewer = '5'").unwrap();
    for sql in pinned.iter().map(String::as_str).chain(["EXECUTE anyone"]) {
        let err = c.batch_execute(sql).unwrap_err();
        assert_eq!(err.code().map(|c| c.code()), Some("42501"), "{sql}: {err}");
    }
    // A protected statement planned inside a parallel worker (the query of a PARALLEL
    // SAFE function; an eighth review read the session viewer's rows so): no leader
    // judged it, so it is refused while a viewer is set.
    c.batch_execute(
        "CREATE FUNCTION pg_temp.peek() RETURNS bigint LANGUAGE plpgsql PARALLEL SAFE
           AS $$ BEGIN RETURN (SELECT count(*) FROM deals); END $$",
    )
    .unwrap();
    let err = c.batch_execute("SELECT pg_temp.peek()").unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("42501"), "{err}");
}
