//! Incremental updates (docs/design.md, "Incremental updates"): a change committed
//! by another session is patched into a live session's model, not rebuilt; a
//! rolled-back change is never applied; REPEATABLE READ keeps its model; the
//! hierarchy still rebuilds; and after every change of a random sequence, the
//! patched session decides exactly like a fresh one.

mod common;
use common::*;
use postgres::Client;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// (patches, rebuilds) of the session's backend so far.
fn counters(c: &mut Client) -> (i64, i64) {
    let row = c
        .query_one(
            "SELECT (s->>'patches')::int8, (s->>'rebuilds')::int8 FROM sharing._model_stats() s",
            &[],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

/// The decisions of a session that has just connected, its model compiled afresh
/// (not read from the image the patched session published: docs/design.md, "One
/// model per database").
fn fresh_decisions(db: &TestDb) -> String {
    let mut fresh = db.dba();
    fresh
        .batch_execute("SET sharing.share_models = off")
        .unwrap();
    let decisions = all_decisions(&mut fresh);
    assert_eq!(counters(&mut fresh), (0, 1), "compiled afresh");
    decisions
}

#[test]
fn changes_of_another_session_are_patched_in() {
    let mut db = TestDb::new("incpatch");
    let (mut other, _) = insightly(&mut db);
    let mut live = db.dba();
    assert!(!one_bool(&mut live, "SELECT sharing.can_see(9, 3)"));
    let (patches, rebuilds) = counters(&mut live);
    let steps = [
        // a new hire below eve (East Sales Manager)
        "INSERT INTO sharing.users (id, company_id, name) VALUES (9, 1, 'newbie');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (9, 13)",
        "UPDATE sharing.users SET status = 'disabled' WHERE id = 6",
        "DELETE FROM sharing.user_roles WHERE user_id = 7",
        "UPDATE sharing.role_permissions SET level = 'all' WHERE role_id = 3 AND action = 'view'",
        "INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (14, 'app.reports')",
        "INSERT INTO sharing.sharing_rules (company_id, object_type, source_role, target_role, access)
             VALUES (1, 'deals', 13, 14, 'read_write')",
        "UPDATE sharing.object_types SET org_wide_default = 'private'",
        "DELETE FROM sharing.users WHERE id = 9",
    ];
    let (mut expected_patches, mut expected_rebuilds) = (patches, rebuilds);
    for (i, step) in steps.iter().enumerate() {
        other.batch_execute(step).unwrap();
        let decisions = all_decisions(&mut live);
        assert_eq!(decisions, fresh_decisions(&db), "step {i}: {step}");
        if step.contains("object_types") {
            expected_rebuilds += 1;
        } else {
            expected_patches += 1;
        }
        assert_eq!(
            counters(&mut live),
            (expected_patches, expected_rebuilds),
            "step {i}: {step}"
        );
    }
    // The new hire was seen while there.
    other
        .batch_execute(
            "INSERT INTO sharing.users (id, company_id, name) VALUES (9, 1, 'again');
             INSERT INTO sharing.user_roles (user_id, role_id) VALUES (9, 13)",
        )
        .unwrap();
    assert!(one_bool(&mut live, "SELECT sharing.can_see(9, 3)"));
}

#[test]
fn rollback_is_never_applied_and_repeatable_read_keeps_its_model() {
    let mut db = TestDb::new("incsnap");
    let (mut other, _) = insightly(&mut db);
    let mut live = db.dba();
    assert!(!one_bool(&mut live, "SELECT sharing.can_see(9, 3)"));
    let before = counters(&mut live);
    other
        .batch_execute(
            "BEGIN;
             INSERT INTO sharing.users (id, company_id, name) VALUES (9, 1, 'rolled back');
             INSERT INTO sharing.user_roles (user_id, role_id) VALUES (9, 13);
             ROLLBACK",
        )
        .unwrap();
    assert!(!one_bool(&mut live, "SELECT sharing.can_see(9, 3)"));
    assert_eq!(counters(&mut live), before, "nothing to patch or rebuild");

    live.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .unwrap();
    assert!(!one_bool(&mut live, "SELECT sharing.can_see(9, 3)"));
    other
        .batch_execute(
            "INSERT INTO sharing.users (id, company_id, name) VALUES (9, 1, 'committed');
             INSERT INTO sharing.user_roles (user_id, role_id) VALUES (9, 13)",
        )
        .unwrap();
    assert!(
        !one_bool(&mut live, "SELECT sharing.can_see(9, 3)"),
        "the transaction's snapshot keeps its model"
    );
    live.batch_execute("COMMIT").unwrap();
    assert!(one_bool(&mut live, "SELECT sharing.can_see(9, 3)"));
    let (patches, rebuilds) = counters(&mut live);
    assert_eq!((patches, rebuilds), (before.0 + 1, before.1), "patched");

    // A statement that sees half of a transaction's changes does not exist: the
    // two statements commit together, and are patched together.
    other
        .batch_execute(
            "BEGIN;
             INSERT INTO sharing.users (id, company_id, name) VALUES (10, 1, 'ten');
             INSERT INTO sharing.user_roles (user_id, role_id) VALUES (10, 11);
             DELETE FROM sharing.user_roles WHERE user_id = 3;
             COMMIT",
        )
        .unwrap();
    assert_eq!(all_decisions(&mut live), fresh_decisions(&db));
    assert_eq!(counters(&mut live), (patches + 1, rebuilds));
}

#[test]
fn the_hierarchy_and_large_statements_rebuild() {
    let mut db = TestDb::new("increbuild");
    let (mut other, _) = insightly(&mut db);
    let mut live = db.dba();
    all_decisions(&mut live);
    let (patches, rebuilds) = counters(&mut live);
    other
        .batch_execute("UPDATE sharing.roles SET reports_to = 11 WHERE id = 14")
        .unwrap();
    assert_eq!(all_decisions(&mut live), fresh_decisions(&db));
    assert_eq!(
        counters(&mut live),
        (patches, rebuilds + 1),
        "roles rebuild"
    );
    // More rows than a patch is worth: one 'X' entry, a rebuild.
    other
        .batch_execute(
            "INSERT INTO sharing.users (id, company_id, name)
                 SELECT g, 1, 'bulk ' || g FROM generate_series(100, 500) g",
        )
        .unwrap();
    assert_eq!(all_decisions(&mut live), fresh_decisions(&db));
    assert_eq!(
        counters(&mut live),
        (patches, rebuilds + 2),
        "bulk rebuilds"
    );
    // TRUNCATE of a patchable table rebuilds.
    other
        .batch_execute("TRUNCATE sharing.role_privileges")
        .unwrap();
    assert_eq!(all_decisions(&mut live), fresh_decisions(&db));
    assert_eq!(
        counters(&mut live),
        (patches, rebuilds + 3),
        "truncate rebuilds"
    );
}

/// The change log is internal: nothing for PUBLIC, and no one but the extension
/// writes it (tests/catalog.rs tries the writes too).
#[test]
fn the_change_log_is_internal() {
    let mut db = TestDb::new("inclog");
    let (_dba, app) = insightly(&mut db);
    let mut c = db.connect_as(&app);
    expect_error(
        &mut c,
        "INSERT INTO sharing._changes (gen, tbl, op) VALUES (1, 'users', 'X')",
        "42501",
    );
    expect_error(&mut c, "DELETE FROM sharing._changes", "42501");
}

/// A long random sequence of changes in one session while another keeps its model
/// and patches it: after every change, the live session decides exactly like a
/// fresh one, and it patched (never rebuilt) for all of them.
#[test]
fn random_changes_patch_like_a_rebuild() {
    let mut db = TestDb::new("incrandom");
    let (mut other, _) = insightly(&mut db);
    other
        .batch_execute(
            "INSERT INTO sharing.object_types (name, org_wide_default) VALUES ('notes', 'public_read');
             INSERT INTO sharing.companies (id, name) VALUES (2, 'Globex');
             INSERT INTO sharing.roles (id, company_id, name) VALUES (20, 2, 'Globex rep');",
        )
        .unwrap();
    let mut live = db.dba();
    all_decisions(&mut live);
    let (patches0, rebuilds0) = counters(&mut live);
    let mut rng = StdRng::seed_from_u64(18);
    let roles = [1i64, 10, 11, 12, 13, 14];
    let mut next_user = 100;
    let steps = std::env::var("PG_SHARING_INCREMENTAL_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let mut changes = 0;
    for step in 0..steps {
        let users = ids(&mut other, "SELECT id FROM sharing.users ORDER BY id");
        let user = users[rng.gen_range(0..users.len())];
        let role = roles[rng.gen_range(0..roles.len())];
        let sql = match rng.gen_range(0..10) {
            0 => {
                next_user += 1;
                format!(
                    "INSERT INTO sharing.users (id, company_id, name) VALUES ({next_user}, 1, 'u{next_user}');
                     INSERT INTO sharing.user_roles (user_id, role_id) VALUES ({next_user}, {role})"
                )
            }
            1 => format!(
                "UPDATE sharing.users SET status = (ARRAY['active','pending','disabled'])[{}] WHERE id = {user} AND id <> 1",
                rng.gen_range(1..4)
            ),
            2 if user > 8 => format!("DELETE FROM sharing.users WHERE id = {user}"),
            3 => format!(
                "INSERT INTO sharing.user_roles (user_id, role_id) VALUES ({user}, {role}) ON CONFLICT DO NOTHING"
            ),
            4 => format!(
                "DELETE FROM sharing.user_roles WHERE user_id = {user} AND role_id = {role} AND user_id <> 1"
            ),
            5 => format!(
                "INSERT INTO sharing.role_permissions (role_id, object_type, action, level)
                     VALUES ({role}, '{}', '{}', '{}')
                     ON CONFLICT (role_id, object_type, action) DO UPDATE SET level = EXCLUDED.level",
                ["deals", "notes"][rng.gen_range(0..2)],
                ["create", "view", "edit", "delete"][rng.gen_range(0..4)],
                ["none", "owned", "all"][rng.gen_range(0..3)]
            ),
            6 => format!(
                "INSERT INTO sharing.sharing_rules (company_id, object_type, source_role, source_scope, target_role, access)
                     VALUES (1, {}, {role}, '{}', {}, 'read')",
                ["NULL", "'deals'"][rng.gen_range(0..2)],
                ["role", "role_and_subordinates"][rng.gen_range(0..2)],
                roles[rng.gen_range(0..roles.len())]
            ),
            7 => "DELETE FROM sharing.sharing_rules WHERE id = (SELECT min(id) FROM sharing.sharing_rules)".into(),
            8 => "INSERT INTO sharing.agreements (grantor_company, grantee_company) VALUES (2, 1) ON CONFLICT DO NOTHING;
                  INSERT INTO sharing.agreement_permissions (agreement_id, object_type, action)
                      SELECT id, 'deals', 'view' FROM sharing.agreements ON CONFLICT DO NOTHING"
                .into(),
            _ => "DELETE FROM sharing.agreements".into(),
        };
        other
            .batch_execute(&sql)
            .unwrap_or_else(|e| panic!("step {step}: {sql}: {e}"));
        changes += 1;
        assert_eq!(
            all_decisions(&mut live),
            fresh_decisions(&db),
            "step {step}: {sql}"
        );
    }
    let (patches, rebuilds) = counters(&mut live);
    assert_eq!(rebuilds, rebuilds0, "every change was patched");
    assert!(patches - patches0 >= changes - 2, "{patches} patches");
}
