//! The attack catalogue (docs/security.md): each test tries what an attacker would
//! and asserts that it fails. Fixture: the Insightly org of tests/common (eve = 3 is
//! the east manager and sees deals 3, 5, 6; ed = 5 a rep who sees only deal 5).

mod common;
use common::*;
use postgres::Client;
use std::sync::{Arc, Mutex};

/// A connection as `role` that records every NOTICE it receives.
fn with_notices(db: &TestDb, role: &str) -> (Client, Arc<Mutex<Vec<String>>>) {
    let notices = Arc::new(Mutex::new(Vec::new()));
    let sink = notices.clone();
    let mut cfg: postgres::Config = format!(
        "host=127.0.0.1 port={} user={role} dbname={}",
        std::env::var("PG_SHARING_TEST_PORT").unwrap(),
        db.name
    )
    .parse()
    .unwrap();
    cfg.notice_callback(move |n| sink.lock().unwrap().push(n.message().to_string()));
    (cfg.connect(postgres::NoTls).unwrap(), notices)
}

#[test]
fn viewer_spoofing_through_functions_fails() {
    let mut db = TestDb::new("atkspoof");
    let (mut dba, _app) = insightly_session(&mut db);
    let ed = db.login("ed");
    dba.batch_execute(&format!(
        "UPDATE sharing.users SET db_role = '{ed}' WHERE id = 5;
         GRANT SELECT ON deals TO {ed};
         CREATE FUNCTION as_director() RETURNS SETOF bigint LANGUAGE sql
           SET sharing.viewer = '2' AS 'SELECT id FROM deals';
         CREATE FUNCTION reset_then_read() RETURNS SETOF bigint LANGUAGE plpgsql AS $$
           BEGIN PERFORM set_config('sharing.viewer', '1', true); RETURN QUERY SELECT id FROM deals; END $$;
         GRANT EXECUTE ON FUNCTION as_director(), reset_then_read() TO {ed};"
    ))
    .unwrap();
    let mut c = db.connect_as(&ed);
    expect_error(&mut c, "SELECT * FROM as_director()", "42501");
    expect_error(&mut c, "SELECT * FROM reset_then_read()", "42501");
    // set_config in a WHERE clause: depending on when the planner evaluates it, the
    // statement either keeps ed's viewer (and sees his rows only) or is refused; the
    // next statement is refused either way.
    c.batch_execute("BEGIN").unwrap();
    match c.query(
        "SELECT id FROM deals WHERE set_config('sharing.viewer', '2', true) IS NOT NULL",
        &[],
    ) {
        Ok(rows) => {
            let got: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
            assert_eq!(got, vec![5]);
        }
        Err(e) => assert_eq!(e.code().unwrap().code(), "42501", "{e}"),
    }
    c.batch_execute("ROLLBACK; BEGIN").unwrap();
    c.batch_execute("SELECT set_config('sharing.viewer', '2', true)")
        .unwrap();
    expect_error(&mut c, "SELECT id FROM deals", "42501");
    c.batch_execute("ROLLBACK").unwrap();
    // A SECURITY DEFINER function owned by a superuser does not lend its rights to
    // pick a viewer: the viewer is the role really asking.
    dba.batch_execute(&format!(
        "CREATE FUNCTION definer_read() RETURNS SETOF bigint LANGUAGE plpgsql SECURITY DEFINER AS $$
           BEGIN PERFORM set_config('sharing.viewer', '1', true); RETURN QUERY SELECT sharing.current_viewer(); END $$;
         GRANT EXECUTE ON FUNCTION definer_read() TO {ed};"
    ))
    .unwrap();
    expect_error(&mut c, "SELECT * FROM definer_read()", "42501");
    c.batch_execute("RESET sharing.viewer").unwrap();
    assert_eq!(ids(&mut c, "SELECT id FROM deals"), vec![5]);
}

#[test]
fn leaky_functions_only_see_visible_rows() {
    // Ported from the categories of PostgreSQL's rowsecurity.sql: every query shape
    // with a leaky probe (tiny COST, RAISE NOTICE of its argument).
    let mut db = TestDb::new("atkleak");
    let (mut dba, app) = insightly_session(&mut db);
    // Before PostgreSQL 15 there is no security_invoker: a view owned by the
    // (non-superuser) application role filters for it all the same.
    let invoker = invoker_option(&mut dba);
    dba.batch_execute(&format!(
        "CREATE FUNCTION leak(text) RETURNS bool LANGUAGE plpgsql COST 0.0000001 AS
           $$ BEGIN RAISE NOTICE 'leak: %', $1; RETURN true; END $$;
         GRANT EXECUTE ON FUNCTION leak(text) TO {app};
         CREATE TABLE notes (deal_id bigint, body text); INSERT INTO notes SELECT id, 'n' || id FROM deals;
         GRANT SELECT ON notes TO {app};
         CREATE VIEW v_deals WITH ({invoker}) AS SELECT * FROM deals;
         CREATE VIEW v_barrier WITH (security_barrier = true, {invoker}) AS SELECT * FROM deals WHERE amount > 0;
         ALTER VIEW v_deals OWNER TO {app}; ALTER VIEW v_barrier OWNER TO {app};
         GRANT SELECT ON v_deals, v_barrier TO {app};"
    ))
    .unwrap();
    let (mut c, notices) = with_notices(&db, &app);
    c.batch_execute("SET sharing.viewer = '3'").unwrap();
    let queries = [
        "SELECT * FROM deals WHERE leak(note)",
        "SELECT * FROM deals WHERE leak(note) AND id > 0 ORDER BY amount",
        "SELECT d.* FROM deals d JOIN notes n ON n.deal_id = d.id WHERE leak(d.note)",
        "SELECT * FROM notes WHERE deal_id IN (SELECT id FROM deals WHERE leak(note))",
        "SELECT * FROM notes n WHERE EXISTS (SELECT 1 FROM deals d WHERE d.id = n.deal_id AND leak(d.note))",
        "WITH x AS (SELECT * FROM deals) SELECT * FROM x WHERE leak(note)",
        "WITH x AS MATERIALIZED (SELECT * FROM deals) SELECT * FROM x WHERE leak(note)",
        "SELECT * FROM v_deals WHERE leak(note)",
        "SELECT * FROM v_barrier WHERE leak(note)",
        "SELECT note, row_number() OVER (ORDER BY id) FROM deals WHERE leak(note)",
        "SELECT count(*) FROM deals GROUP BY owner_id HAVING leak(min(note))",
        "SELECT * FROM deals WHERE leak(note) UNION ALL SELECT * FROM deals WHERE leak(note)",
        "SELECT * FROM (SELECT * FROM deals OFFSET 0) s WHERE leak(note)",
        "SELECT * FROM deals WHERE id = 4 AND leak(note)",
        "SELECT * FROM deals WHERE note = 'deal of wes' OR leak(note)",
        "SELECT * FROM deals d1, deals d2 WHERE d1.id = d2.id AND leak(d2.note)",
        "SELECT * FROM deals WHERE leak(note) FOR UPDATE",
        "SELECT * FROM deals TABLESAMPLE SYSTEM (100) WHERE leak(note)",
        "SELECT n.body FROM notes n, LATERAL (SELECT * FROM deals d WHERE d.id = n.deal_id AND leak(d.note)) x",
        "SELECT DISTINCT ON (owner_id) * FROM deals WHERE leak(note) ORDER BY owner_id",
        "WITH RECURSIVE r (id) AS (SELECT id FROM deals WHERE leak(note) UNION SELECT id + 100 FROM r WHERE id < 50) SELECT * FROM r",
        "SELECT owner_id, count(*) FROM deals WHERE leak(note) GROUP BY GROUPING SETS ((owner_id), ())",
        "SELECT * FROM deals WHERE id IN (4, 5, 6) AND leak(note) ORDER BY id LIMIT 1",
    ];
    let visible = ["deal of eve", "deal of ed", "deal of em"];
    for q in queries {
        notices.lock().unwrap().clear();
        c.batch_execute(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        let seen = notices.lock().unwrap().clone();
        for n in &seen {
            assert!(
                visible.iter().any(|v| n.ends_with(v)),
                "{q}\nleaked a hidden row: {n}"
            );
        }
    }
}

#[test]
fn rejected_writes_return_nothing_and_truncate_is_refused() {
    let mut db = TestDb::new("atkwrites");
    let (mut dba, app) = insightly_session(&mut db);
    dba.batch_execute(&format!("GRANT TRUNCATE ON deals TO {app}"))
        .unwrap();
    let mut ed = as_viewer(&db, &app, 5);
    assert!(ids(
        &mut ed,
        "UPDATE deals SET amount = 0 WHERE id = 4 RETURNING id"
    )
    .is_empty());
    assert!(ids(
        &mut ed,
        "DELETE FROM deals WHERE id IN (3, 4, 6) RETURNING id"
    )
    .is_empty());
    let msg = expect_error(
        &mut ed,
        "INSERT INTO deals VALUES (50, 4, 1, 1, 'x') RETURNING id, note",
        "42501",
    );
    assert!(msg.contains("row-level security"), "{msg}");
    let msg = expect_error(&mut ed, "TRUNCATE deals", "42501");
    assert!(msg.contains("TRUNCATE"), "{msg}");
    assert_eq!(one_i64(&mut dba, "SELECT count(*) FROM deals"), 8);
    // A trigger-based write path runs as the user and obeys the policies too.
    dba.batch_execute(&format!(
        "CREATE TABLE requests (owner_id bigint);
         GRANT INSERT ON requests TO {app};
         CREATE FUNCTION copy_to_deals() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN INSERT INTO deals VALUES (60, NEW.owner_id, 1, 1, 'via trigger'); RETURN NEW; END $$;
         CREATE TRIGGER t AFTER INSERT ON requests FOR EACH ROW EXECUTE FUNCTION copy_to_deals();"
    ))
    .unwrap();
    expect_error(&mut ed, "INSERT INTO requests VALUES (4)", "42501");
    ed.batch_execute("INSERT INTO requests VALUES (5)").unwrap();
    // MERGE (PostgreSQL 15) obeys every policy.
    if !pg15_or_later(&mut dba) {
        return;
    }
    let merged = ed
        .execute(
            "MERGE INTO deals d USING (VALUES (4), (5)) s (id) ON d.id = s.id
             WHEN MATCHED THEN UPDATE SET note = 'merged'",
            &[],
        )
        .unwrap();
    assert_eq!(merged, 1, "only ed's own deal is matched");
    assert_eq!(
        one_str(&mut dba, "SELECT note FROM deals WHERE id = 4"),
        "deal of wes"
    );
    expect_error(
        &mut ed,
        "MERGE INTO deals d USING (VALUES (70)) s (id) ON d.id = s.id
         WHEN NOT MATCHED THEN INSERT VALUES (70, 4, 1, 1, 'for wes')",
        "42501",
    );
}

#[test]
fn partitions_obey_when_named_directly() {
    let mut db = TestDb::new("atkparts");
    let (mut dba, app) = insightly_session(&mut db);
    dba.batch_execute(&format!(
        "CREATE TABLE ev (id int, owner_id bigint, company_id bigint) PARTITION BY RANGE (id);
         CREATE TABLE ev_a PARTITION OF ev FOR VALUES FROM (0) TO (100);
         SELECT sharing.protect('ev', 'events');
         CREATE TABLE ev_b PARTITION OF ev FOR VALUES FROM (100) TO (200);
         INSERT INTO ev VALUES (1, 5, 1), (2, 4, 1), (101, 5, 1), (102, 7, 1);
         GRANT SELECT, INSERT ON ev, ev_a, ev_b TO {app};"
    ))
    .unwrap();
    let mut ed = as_viewer(&db, &app, 5);
    assert_eq!(
        ids(&mut ed, "SELECT id::bigint FROM ev ORDER BY 1"),
        vec![1, 101]
    );
    assert_eq!(
        ids(&mut ed, "SELECT id::bigint FROM ev_a ORDER BY 1"),
        vec![1]
    );
    assert_eq!(
        ids(&mut ed, "SELECT id::bigint FROM ev_b ORDER BY 1"),
        vec![101],
        "a partition created later"
    );
    expect_error(&mut ed, "INSERT INTO ev_b VALUES (150, 4, 1)", "42501");
    ed.batch_execute("INSERT INTO ev_b VALUES (151, 5, 1)")
        .unwrap();
}

#[test]
fn cached_plans_follow_the_viewer() {
    let mut db = TestDb::new("atkplans");
    let (mut dba, app) = insightly_session(&mut db);
    dba.batch_execute(&format!(
        "CREATE FUNCTION deal_ids_sql() RETURNS SETOF bigint LANGUAGE sql STABLE AS 'SELECT id FROM deals ORDER BY id';
         CREATE FUNCTION deal_ids_plpgsql() RETURNS SETOF bigint LANGUAGE plpgsql STABLE AS
           $$ BEGIN RETURN QUERY SELECT id FROM deals ORDER BY id; END $$;
         GRANT EXECUTE ON FUNCTION deal_ids_sql(), deal_ids_plpgsql() TO {app};"
    ))
    .unwrap();
    let mut c = db.connect_as(&app);
    let direct = c.prepare("SELECT id FROM deals ORDER BY id").unwrap();
    let with_cte = c.prepare("WITH d AS (SELECT id FROM deals) SELECT id FROM d WHERE id IN (SELECT id FROM deals) ORDER BY id").unwrap();
    let run = |c: &mut Client, s: &postgres::Statement| -> Vec<i64> {
        c.query(s, &[]).unwrap().iter().map(|r| r.get(0)).collect()
    };
    // Enough executions to reach generic plans, alternating viewers.
    for round in 0..8 {
        for (viewer, want) in [(5i64, vec![5i64]), (3, vec![3, 5, 6]), (7, vec![7])] {
            c.batch_execute(&format!("SET sharing.viewer = '{viewer}'"))
                .unwrap();
            assert_eq!(run(&mut c, &direct), want, "round {round}, viewer {viewer}");
            assert_eq!(
                run(&mut c, &with_cte),
                want,
                "round {round}, viewer {viewer}"
            );
            assert_eq!(
                ids(&mut c, "SELECT deal_ids_sql()"),
                want,
                "inlined SQL function"
            );
            assert_eq!(
                ids(&mut c, "SELECT deal_ids_plpgsql()"),
                want,
                "PL/pgSQL cached plan"
            );
        }
    }
    // Planned as one role, run as another (CVE-2024-10976 shape): SET ROLE between.
    dba.batch_execute(&format!(
        "CREATE ROLE {app}_other; GRANT {app}_other TO {app}; GRANT SELECT ON deals TO {app}_other;"
    ))
    .unwrap();
    c.batch_execute("SET sharing.viewer = '5'").unwrap();
    assert_eq!(run(&mut c, &with_cte), vec![5]);
    c.batch_execute(&format!("SET ROLE {app}_other")).unwrap();
    // The other role is not trusted: the viewer setting is refused, not silently kept.
    let e = c.query(&with_cte, &[]).unwrap_err();
    assert_eq!(e.code().unwrap().code(), "42501");
    c.batch_execute("RESET sharing.viewer").unwrap();
    assert!(run(&mut c, &with_cte).is_empty(), "no viewer: no rows");
    c.batch_execute("RESET ROLE").unwrap();
    // Roles changing between executions are seen by the same cached plan.
    c.batch_execute("SET sharing.viewer = '5'").unwrap();
    dba.batch_execute("INSERT INTO sharing.user_roles (user_id, role_id) VALUES (5, 12)")
        .unwrap();
    assert_eq!(
        run(&mut c, &direct),
        vec![5, 7],
        "ed now also leads the west team"
    );
    assert_eq!(ids(&mut c, "SELECT deal_ids_plpgsql()"), vec![5, 7]);
    drop(c);
    dba.batch_execute(&format!(
        "REVOKE {app}_other FROM {app}; DROP OWNED BY {app}_other; DROP ROLE {app}_other;"
    ))
    .unwrap();
}

#[test]
fn search_path_hijacking_changes_nothing() {
    let mut db = TestDb::new("atkpath");
    let (mut dba, app) = insightly_session(&mut db);
    dba.batch_execute(&format!("GRANT CREATE ON SCHEMA public TO {app}"))
        .unwrap();
    let mut c = as_viewer(&db, &app, 5);
    c.batch_execute(
        "CREATE FUNCTION public.current_viewer() RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint';
         CREATE FUNCTION public.can_access(text, text, bigint, bigint, bigint, bigint) RETURNS bool LANGUAGE sql AS 'SELECT true';
         CREATE FUNCTION public._org_snapshot() RETURNS text LANGUAGE sql AS $$ SELECT '{}' $$;
         CREATE FUNCTION public._generation_key() RETURNS text LANGUAGE sql AS $$ SELECT '0 0 0' $$;
         CREATE TABLE public.users (id bigint, db_role name);
         CREATE FUNCTION pg_temp.current_viewer() RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint';
         SET search_path = public, pg_temp, pg_catalog, sharing;",
    )
    .unwrap();
    assert_eq!(ids(&mut c, "SELECT id FROM deals"), vec![5]);
    assert_eq!(one_i64(&mut c, "SELECT sharing.current_viewer()"), 5);
    c.batch_execute("SET search_path = pg_temp, public, sharing")
        .unwrap();
    assert_eq!(ids(&mut c, "SELECT id FROM deals"), vec![5]);
    // The helpers run with their own pinned search_path.
    let paths: Vec<String> = dba
        .query(
            "SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = 'sharing' AND p.prosecdef
                AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c = 'search_path=pg_catalog, pg_temp')",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        paths.is_empty(),
        "SECURITY DEFINER functions without a pinned search_path: {paths:?}"
    );
}

/// The planner resolves the viewer while planning, as the asking role and under its
/// search_path: an operator planted ahead of pg_catalog must never be called (it
/// would run with the extension's rights) nor change a decision.
#[test]
fn planted_operators_are_never_called_by_the_planner_support() {
    let mut db = TestDb::new("atkoper");
    let (mut dba, app) = insightly_session(&mut db);
    dba.batch_execute(&format!(
        "CREATE SCHEMA evil AUTHORIZATION {app};
         CREATE TABLE evil.calls (op text);
         GRANT ALL ON evil.calls TO PUBLIC;"
    ))
    .unwrap();
    let mut c = db.connect_as(&app);
    c.batch_execute(
        "CREATE FUNCTION evil.eq_oid(a oid, b oid) RETURNS bool LANGUAGE plpgsql AS
           $$ BEGIN INSERT INTO evil.calls VALUES ('oid'); RETURN true; END $$;
         CREATE FUNCTION evil.eq_int8(a bigint, b bigint) RETURNS bool LANGUAGE plpgsql AS
           $$ BEGIN INSERT INTO evil.calls VALUES ('bigint'); RETURN true; END $$;
         CREATE FUNCTION evil.eq_name(a name, b text) RETURNS bool LANGUAGE plpgsql AS
           $$ BEGIN INSERT INTO evil.calls VALUES ('name'); RETURN true; END $$;
         CREATE FUNCTION evil.eq_text(a text, b text) RETURNS bool LANGUAGE plpgsql AS
           $$ BEGIN INSERT INTO evil.calls VALUES ('text'); RETURN true; END $$;
         CREATE OPERATOR evil.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = evil.eq_oid);
         CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.eq_int8);
         CREATE OPERATOR evil.= (LEFTARG = name, RIGHTARG = text, FUNCTION = evil.eq_name);
         CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.eq_text);
         SET search_path = evil, pg_catalog;
         SET sharing.viewer = '5';",
    )
    .unwrap();
    // Planned and executed in this fresh backend: the kept reads are made here.
    assert_eq!(
        ids(&mut c, "SELECT id FROM public.deals ORDER BY id"),
        vec![5]
    );
    c.batch_execute("SET sharing.viewer = '3'").unwrap();
    assert_eq!(
        ids(&mut c, "SELECT id FROM public.deals ORDER BY id"),
        vec![3, 5, 6]
    );
    assert_eq!(one_i64(&mut dba, "SELECT count(*) FROM evil.calls"), 0);
}

#[test]
fn hostile_inputs_are_clean_errors_or_false() {
    let mut db = TestDb::new("atkinputs");
    let (mut dba, _app) = insightly_session(&mut db);
    for q in [
        "SELECT sharing.can_access(NULL, NULL, NULL, NULL, NULL, NULL)",
        "SELECT sharing.can_access('deals', 'view', NULL, NULL, 3)",
        "SELECT sharing.can_access('deals', 'view', -1, -1, -1)",
        "SELECT sharing.can_access('deals', 'view', 9223372036854775807, 1, 9223372036854775807)",
    ] {
        assert!(!one_bool(&mut dba, q), "{q}");
    }
    assert!(dba
        .query_one("SELECT sharing.can_see(NULL, 3)", &[])
        .unwrap()
        .get::<_, Option<bool>>(0)
        .is_none());
    assert_eq!(
        one_i64(
            &mut dba,
            "SELECT count(*) FROM sharing.reach(-9223372036854775808)"
        ),
        0
    );
    expect_error(
        &mut dba,
        "SELECT sharing.can_access('deals', 'view''; DROP TABLE deals; --', 1, 1, 3)",
        "22023",
    );
    expect_error(
        &mut dba,
        "SELECT sharing.can_access(repeat('x', 100000), 'view', 1, 1, 3)",
        "22023",
    );
    expect_error(&mut dba, "SELECT sharing.effective_perms(-1)", "22023");
    expect_error(
        &mut dba,
        "SELECT sharing.explain_access('deals', 'fly', 1, 1, 3)",
        "22023",
    );
    expect_error(&mut dba, "SELECT sharing.import_company('[]')", "22023");
    expect_error(
        &mut dba,
        "SELECT sharing.import_company('{\"format\": 1}')",
        "22023",
    );
    expect_error(&mut dba, "SELECT sharing.protect('deals', NULL)", "22004");
    dba.batch_execute("SET sharing.viewer = '-0x1'").unwrap();
    expect_error(&mut dba, "SELECT sharing.current_viewer()", "22023");
    dba.batch_execute("SET sharing.viewer = ' 3 '").unwrap();
    assert_eq!(one_i64(&mut dba, "SELECT sharing.current_viewer()"), 3);
    assert_eq!(
        one_i64(&mut dba, "SELECT count(*) FROM deals"),
        8,
        "table intact"
    );
}

#[test]
fn materialized_views_are_built_as_their_owner() {
    // Documented behaviour: a materialized view stores what its owner could see at
    // refresh time. Owned by a non-superuser with no viewer, that is nothing.
    let mut db = TestDb::new("atkmatview");
    let (mut dba, app) = insightly_session(&mut db);
    let owner = db.login("mvowner");
    dba.batch_execute(&format!(
        "GRANT SELECT ON deals TO {owner}; GRANT CREATE ON SCHEMA public TO {owner};"
    ))
    .unwrap();
    let mut o = db.connect_as(&owner);
    o.batch_execute(&format!(
        "CREATE MATERIALIZED VIEW mv AS SELECT id FROM deals; GRANT SELECT ON mv TO {app};"
    ))
    .unwrap();
    let mut ed = as_viewer(&db, &app, 5);
    assert_eq!(one_i64(&mut ed, "SELECT count(*) FROM mv"), 0);
    drop(o);
    dba.batch_execute(&format!(
        "DROP MATERIALIZED VIEW mv; REVOKE CREATE ON SCHEMA public FROM {owner};"
    ))
    .unwrap();
}
