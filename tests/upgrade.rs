//! ALTER EXTENSION pg_sharing UPDATE from every released version keeps all data and
//! decisions, and ends with exactly the objects of a fresh install.

mod common;
use common::*;
use postgres::Client;

/// Every member object of the extension, with what matters of each function.
fn members(c: &mut Client) -> Vec<String> {
    c.query(
        "SELECT pg_describe_object(d.classid, d.objid, 0)
                || COALESCE(' ' || (SELECT concat_ws('|', p.provolatile, p.proisstrict, p.prosecdef, p.proparallel,
                                                     p.proconfig::text, md5(p.prosrc), p.proacl::text)
                                      FROM pg_proc p WHERE d.classid = 'pg_proc'::regclass AND p.oid = d.objid), '')
           FROM pg_depend d
          WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
            AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_sharing')
         UNION ALL
         SELECT 'index ' || pg_get_indexdef(i.indexrelid)
           FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
          WHERE t.relnamespace = 'sharing'::regnamespace
         UNION ALL
         SELECT format('column %s.%s %s %s', a.attrelid::regclass, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull)
           FROM pg_attribute a JOIN pg_class t ON t.oid = a.attrelid
          WHERE t.relnamespace = 'sharing'::regnamespace AND t.relkind IN ('r', 'v') AND a.attnum > 0 AND NOT a.attisdropped
         UNION ALL
         SELECT format('policy %s on %s: %s / %s', p.polname, p.polrelid::regclass,
                       pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
           FROM pg_policy p JOIN pg_class t ON t.oid = p.polrelid
          WHERE t.relnamespace = 'sharing'::regnamespace
         UNION ALL
         SELECT format('relation %s rls %s options %s', t.oid::regclass, t.relrowsecurity, t.reloptions)
           FROM pg_class t
          WHERE t.relnamespace = 'sharing'::regnamespace AND t.relkind IN ('r', 'v')
         UNION ALL
         SELECT format('trigger %s on %s: %s', g.tgname, g.tgrelid::regclass, g.tgenabled)
           FROM pg_trigger g JOIN pg_class t ON t.oid = g.tgrelid
          WHERE t.relnamespace = 'sharing'::regnamespace AND NOT g.tgisinternal
          ORDER BY 1",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

#[test]
fn update_from_0_1_0_keeps_everything_and_matches_a_fresh_install() {
    update_keeps_everything_and_matches_a_fresh_install("0.1.0");
}

#[test]
fn update_from_0_2_0_keeps_everything_and_matches_a_fresh_install() {
    update_keeps_everything_and_matches_a_fresh_install("0.2.0");
}

#[test]
fn update_from_0_3_0_keeps_everything_and_matches_a_fresh_install() {
    update_keeps_everything_and_matches_a_fresh_install("0.3.0");
}

/// Columns 0.4.0 adds to existing tables (with their defaults).
const ADDED_COLUMNS: &[&str] = &["is_copyable", "department", "owner_user"];

fn update_keeps_everything_and_matches_a_fresh_install(from: &str) {
    let old = TestDb::empty(&format!("upgrade{}", from.replace('.', "")));
    let mut c = old.dba();
    c.batch_execute(&format!("CREATE EXTENSION pg_sharing VERSION '{from}'"))
        .unwrap();
    c.batch_execute(SMALL_ORG).unwrap();
    let before = (all_decisions(&mut c), dump_except(&mut c, ADDED_COLUMNS));
    let audit_before = one_i64(&mut c, "SELECT count(*) FROM sharing.audit_log");
    c.batch_execute("ALTER EXTENSION pg_sharing UPDATE")
        .unwrap();
    assert_eq!(
        one_str(
            &mut c,
            "SELECT extversion FROM pg_extension WHERE extname = 'pg_sharing'"
        ),
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(
        (all_decisions(&mut c), dump_except(&mut c, ADDED_COLUMNS)),
        before,
        "data and decisions survive"
    );
    assert_eq!(
        one_i64(&mut c, "SELECT count(*) FROM sharing.audit_log"),
        audit_before
    );
    // What 0.2.0 added works on the upgraded database.
    c.batch_execute("SET sharing.viewer = '3'").unwrap();
    assert_eq!(
        one_str(&mut c, "SELECT sharing.my_permissions()->>'privileges'"),
        r#"["app.insight"]"#
    );
    c.batch_execute("RESET sharing.viewer").unwrap();
    // Protected tables got the 0.3.0 policies, which the planner rewrites per viewer.
    assert_eq!(
        one_i64(
            &mut c,
            "SELECT count(*) FROM pg_policy WHERE polname LIKE 'sharing_%'
                AND (pg_get_expr(polqual, polrelid) NOT LIKE '%sharing._policy(%'
                     OR pg_get_expr(polwithcheck, polrelid) NOT LIKE '%sharing._decide_current(%')"
        ),
        0
    );
    // ... and, with their `bigint` id column, the decision of view and edit takes
    // the id (record shares are planned inside the rewrite).
    assert_eq!(
        one_i64(
            &mut c,
            "SELECT count(*) FROM pg_policy WHERE polrelid = 'deals'::regclass
                AND pg_get_expr(polqual, polrelid) LIKE '%AS _all_rows_company), id)'"
        ),
        2
    );
    // Protected tables carry the transfer check of this version.
    assert_eq!(
        one_i64(
            &mut c,
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'deals'::regclass AND tgname = 'sharing_transfer'"
        ),
        1
    );
    // And the upgraded extension is the same as a fresh install of this version.
    let fresh = TestDb::new(&format!("upgradefresh{}", from.replace('.', "")));
    let upgraded = members(&mut c);
    let installed = members(&mut fresh.dba());
    let only_upgraded: Vec<&String> = upgraded.iter().filter(|m| !installed.contains(m)).collect();
    let only_fresh: Vec<&String> = installed.iter().filter(|m| !upgraded.contains(m)).collect();
    assert!(
        only_upgraded.is_empty() && only_fresh.is_empty(),
        "upgrade and fresh install differ:\nonly after upgrade: {only_upgraded:#?}\nonly in a fresh install: {only_fresh:#?}"
    );
}
