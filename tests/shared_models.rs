//! One model per database (docs/design.md, "One model per database"): with
//! pg_sharing preloaded (scripts/cluster.sh does), a configuration is compiled or
//! patched by one backend and read by the others from a shared image — they
//! decide exactly like a model compiled afresh, a change is built once for all of
//! them, and a REPEATABLE READ transaction keeps the image it reads.

mod common;
use common::*;
use postgres::Client;

/// (patches, rebuilds, attaches) of the session's backend so far.
fn counters(c: &mut Client) -> (i64, i64, i64) {
    let row = c
        .query_one(
            "SELECT (s->>'patches')::int8, (s->>'rebuilds')::int8, (s->>'attaches')::int8
               FROM sharing._model_stats() s",
            &[],
        )
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

/// The decisions of a session whose model is compiled afresh, of its own.
fn fresh_decisions(db: &TestDb) -> String {
    let mut fresh = db.dba();
    fresh
        .batch_execute("SET sharing.share_models = off")
        .unwrap();
    let decisions = all_decisions(&mut fresh);
    assert_eq!(counters(&mut fresh), (0, 1, 0), "compiled afresh");
    decisions
}

fn shared(c: &mut Client) -> bool {
    one_bool(c, "SELECT (sharing._model_stats()->>'shared')::bool")
}

#[test]
fn the_server_shares_models() {
    let db = TestDb::new("shmpreload");
    let mut c = db.dba();
    assert!(
        one_str(&mut c, "SHOW shared_preload_libraries").contains("pg_sharing"),
        "scripts/cluster.sh preloads pg_sharing: these tests need it"
    );
}

#[test]
fn a_session_reads_the_model_another_built() {
    let mut db = TestDb::new("shmattach");
    let (_other, _) = insightly(&mut db);
    let mut first = db.dba();
    let decisions = all_decisions(&mut first);
    assert_eq!(counters(&mut first), (0, 1, 0), "the first compiles");
    assert!(shared(&mut first), "and reads its published image too");
    let mut second = db.dba();
    assert_eq!(all_decisions(&mut second), decisions);
    assert_eq!(counters(&mut second), (0, 0, 1), "the second reads it");
    assert!(shared(&mut second));
    assert_eq!(decisions, fresh_decisions(&db));
    // Its own memory for the model: the small maps, not the users.
    let own = one_i64(
        &mut second,
        "SELECT (sharing._model_stats()->>'heap_bytes')::int8",
    );
    let mut private = db.dba();
    private
        .batch_execute("SET sharing.share_models = off")
        .unwrap();
    let private_bytes = one_i64(
        &mut private,
        "SELECT (sharing._model_stats()->>'heap_bytes')::int8",
    );
    assert!(
        own < private_bytes,
        "a shared model holds less of its own: {own} against {private_bytes}"
    );
}

#[test]
fn a_change_is_built_once_for_every_backend() {
    let mut db = TestDb::new("shmonce");
    let (mut other, _) = insightly(&mut db);
    let mut sessions: Vec<Client> = (0..6).map(|_| db.dba()).collect();
    for s in &mut sessions {
        all_decisions(s);
    }
    let steps = [
        // people: patched from the model alone
        "INSERT INTO sharing.users (id, company_id, name) VALUES (9, 1, 'newbie');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (9, 13)",
        "UPDATE sharing.users SET status = 'disabled' WHERE id = 6",
        "DELETE FROM sharing.user_roles WHERE user_id = 7",
        // configuration rows: the patch reads them
        "UPDATE sharing.role_permissions SET level = 'all' WHERE role_id = 3 AND action = 'view'",
        "INSERT INTO sharing.sharing_rules (company_id, object_type, source_role, target_role, access)
             VALUES (1, 'deals', 13, 14, 'read_write')",
        // the hierarchy: compiled, once
        "UPDATE sharing.roles SET reports_to = 11 WHERE id = 14",
        "DELETE FROM sharing.users WHERE id = 9",
    ];
    for step in steps {
        let before: Vec<(i64, i64, i64)> = sessions.iter_mut().map(counters).collect();
        other.batch_execute(step).unwrap();
        let expected = fresh_decisions(&db);
        for s in &mut sessions {
            assert_eq!(all_decisions(s), expected, "{step}");
        }
        let after: Vec<(i64, i64, i64)> = sessions.iter_mut().map(counters).collect();
        let built: i64 = before
            .iter()
            .zip(&after)
            .map(|(b, a)| (a.0 - b.0) + (a.1 - b.1))
            .sum();
        let attached: i64 = before.iter().zip(&after).map(|(b, a)| a.2 - b.2).sum();
        assert_eq!(built, 1, "one backend builds the model of {step}");
        assert_eq!(attached, 5, "the others read it: {step}");
        let rebuilt: i64 = before.iter().zip(&after).map(|(b, a)| a.1 - b.1).sum();
        assert_eq!(rebuilt, step.contains("sharing.roles") as i64, "{step}");
    }
}

/// A change of people patches the database's spare image where it lies
/// (docs/design.md, "Patching a spare in place") instead of writing a whole image
/// — also while an idle session still reads an old image (which would otherwise
/// hold the spare's place for good) — and every session decides as a model
/// compiled afresh.
#[test]
fn changes_patch_the_spare_in_place_even_with_an_idle_reader() {
    let mut db = TestDb::new("shminplace");
    let (mut other, _) = insightly(&mut db);
    let mut idle = db.dba();
    let first = all_decisions(&mut idle);
    let mut sessions: Vec<Client> = (0..3).map(|_| db.dba()).collect();
    for s in &mut sessions {
        all_decisions(s);
    }
    let in_place = |c: &mut Client| {
        one_i64(
            c,
            "SELECT (sharing._model_stats()->>'images_patched_in_place_here')::int8",
        )
    };
    let before: i64 = sessions.iter_mut().map(in_place).sum::<i64>() + in_place(&mut other);
    let steps = [
        "INSERT INTO sharing.users (id, company_id, name) VALUES (9, 1, 'newbie')",
        "INSERT INTO sharing.user_roles (user_id, role_id) VALUES (9, 13)",
        "UPDATE sharing.users SET status = 'disabled' WHERE id = 6",
        "DELETE FROM sharing.user_roles WHERE user_id = 7",
        "UPDATE sharing.role_permissions SET level = 'all' WHERE role_id = 3 AND action = 'view'",
        "INSERT INTO sharing.user_roles (user_id, role_id) VALUES (7, 14)",
        "UPDATE sharing.users SET status = 'active' WHERE id = 6",
        "INSERT INTO sharing.users (id, company_id, name) VALUES (10, 1, 'second')",
        "DELETE FROM sharing.users WHERE id = 9",
        "INSERT INTO sharing.user_roles (user_id, role_id) VALUES (10, 12)",
    ];
    for step in steps {
        other.batch_execute(step).unwrap();
        let expected = fresh_decisions(&db);
        for s in &mut sessions {
            assert_eq!(all_decisions(s), expected, "{step}");
        }
    }
    let after: i64 = sessions.iter_mut().map(in_place).sum::<i64>() + in_place(&mut other);
    assert!(
        after - before >= 6,
        "{} of {} changes patched a spare in place",
        after - before,
        steps.len()
    );
    // The idle session reads the newest configuration at its next statement.
    assert_ne!(all_decisions(&mut idle), first);
    assert_eq!(all_decisions(&mut idle), fresh_decisions(&db));
}

#[test]
fn a_repeatable_read_transaction_keeps_the_image_it_reads() {
    let mut db = TestDb::new("shmrr");
    let (mut other, _) = insightly(&mut db);
    let mut reader = db.dba();
    reader
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .unwrap();
    let before = all_decisions(&mut reader);
    let reused = |c: &mut postgres::Client| {
        c.query_one(
            "SELECT (sharing._model_stats()->'server_images'->>'reused')::int8",
            &[],
        )
        .unwrap()
        .get::<_, i64>(0)
    };
    let reused_before = reused(&mut other);
    // Six more generations: the image the reader holds is no longer kept, and the
    // database's spare segment is written again for the others' images — never
    // the one the reader still reads (docs/design.md, "One model per database").
    for step in [
        "UPDATE sharing.users SET status = 'disabled' WHERE id = 6",
        "UPDATE sharing.users SET status = 'active' WHERE id = 6",
        "DELETE FROM sharing.user_roles WHERE user_id = 7",
        "UPDATE sharing.users SET status = 'disabled' WHERE id = 5",
        "UPDATE sharing.users SET status = 'active' WHERE id = 5",
        "UPDATE sharing.users SET status = 'disabled' WHERE id = 6",
    ] {
        other.batch_execute(step).unwrap();
        let mut s = db.dba();
        all_decisions(&mut s);
        assert_eq!(all_decisions(&mut reader), before, "the snapshot's model");
    }
    assert!(
        reused(&mut other) > reused_before,
        "no image was written into a spare segment"
    );
    assert_eq!(all_decisions(&mut reader), before, "the snapshot's model");
    reader.batch_execute("COMMIT").unwrap();
    assert_eq!(all_decisions(&mut reader), fresh_decisions(&db));
    assert_ne!(all_decisions(&mut reader), before);
}

#[test]
fn backends_that_start_together_wait_for_one_build() {
    let mut db = TestDb::new("shmwait");
    let (mut other, _) = insightly(&mut db);
    // A hierarchy change: nobody holds a model of it, every session needs one.
    other
        .batch_execute("UPDATE sharing.roles SET reports_to = 11 WHERE id = 14")
        .unwrap();
    let expected = fresh_decisions(&db);
    let name = db.name.clone();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(6));
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let (name, barrier) = (name.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut c = connect_to(&name, "postgres");
                barrier.wait();
                (all_decisions(&mut c), counters(&mut c))
            })
        })
        .collect();
    let results: Vec<(String, (i64, i64, i64))> =
        threads.into_iter().map(|t| t.join().unwrap()).collect();
    for (decisions, _) in &results {
        assert_eq!(decisions, &expected);
    }
    let built: i64 = results.iter().map(|(_, c)| c.0 + c.1).sum();
    // The fresh session above compiled a model of its own (not published); of the
    // six, one builds and publishes, the others read it — or, when one asked before
    // the other's claim was made, build too: never all six.
    assert!((1..6).contains(&built), "built {built} times");
}

#[test]
fn a_session_that_only_decides_reads_no_rows() {
    let mut db = TestDb::new("shmrows");
    let (_other, _) = insightly(&mut db);
    let mut first = db.dba();
    all_decisions(&mut first);
    let mut reader = db.dba();
    let rows_bytes =
        |c: &mut Client| one_i64(c, "SELECT (sharing._model_stats()->>'rows_bytes')::int8");
    let decisions = all_decisions(&mut reader);
    // The per-request questions read the compiled model and the configuration
    // tables, never the users' rows.
    let privileges = one_str(
        &mut reader,
        "SELECT string_agg(format('%s:%s', u.id, sharing.has_privilege(u.id, 'manage_sharing')), ' ' ORDER BY u.id)
           FROM sharing.users u",
    );
    assert_eq!(counters(&mut reader), (0, 0, 1), "read from the image");
    assert_eq!(rows_bytes(&mut reader), 0, "no rows read to decide");
    // The same answers as a backend of its own.
    let mut private = db.dba();
    private
        .batch_execute("SET sharing.share_models = off")
        .unwrap();
    assert_eq!(all_decisions(&mut private), decisions);
    assert_eq!(
        one_str(
            &mut private,
            "SELECT string_agg(format('%s:%s', u.id, sharing.has_privilege(u.id, 'manage_sharing')), ' ' ORDER BY u.id)
               FROM sharing.users u",
        ),
        privileges
    );
    assert!(
        privileges.contains(":t") && privileges.contains(":f"),
        "{privileges}"
    );
    // An explanation reads the rows, in this statement's snapshot.
    let explained = one_str(
        &mut reader,
        "SELECT sharing.explain_access('deals', 'view', 3, 1, 2)::text",
    );
    assert!(rows_bytes(&mut reader) > 0, "the rows, read when asked for");
    assert_eq!(
        explained,
        one_str(
            &mut private,
            "SELECT sharing.explain_access('deals', 'view', 3, 1, 2)::text"
        )
    );
}

#[test]
fn a_new_connection_patches_the_newest_image_instead_of_compiling() {
    let mut db = TestDb::new("shmnewconn");
    let (mut other, _) = insightly(&mut db);
    let mut first = db.dba();
    all_decisions(&mut first);
    other
        .batch_execute(
            "INSERT INTO sharing.users (id, company_id, name) VALUES (9, 1, 'newbie');
             INSERT INTO sharing.user_roles (user_id, role_id) VALUES (9, 13)",
        )
        .unwrap();
    // A connection that holds no model, first to need the new configuration.
    let mut newcomer = db.dba();
    let decisions = all_decisions(&mut newcomer);
    assert_eq!(
        counters(&mut newcomer),
        (1, 0, 0),
        "patched from the published image of the configuration before"
    );
    assert_eq!(decisions, fresh_decisions(&db));
    // And it published the result: the first session reads it.
    assert_eq!(all_decisions(&mut first), decisions);
    assert_eq!(counters(&mut first), (0, 1, 1));
}

#[test]
fn backends_wait_asleep_behind_a_build_blocked_by_a_lock() {
    let mut db = TestDb::new("shmlock");
    let (mut other, _) = insightly(&mut db);
    // A hierarchy change: compiled, reading every configuration table.
    other
        .batch_execute("UPDATE sharing.roles SET reports_to = 11 WHERE id = 14")
        .unwrap();
    let expected = fresh_decisions(&db);
    let mut locker = db.dba();
    locker
        .batch_execute("BEGIN; LOCK TABLE sharing.user_roles IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let name = db.name.clone();
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let name = name.clone();
            std::thread::spawn(move || {
                // One first, the others once it has claimed the build.
                std::thread::sleep(std::time::Duration::from_millis(if i == 0 {
                    0
                } else {
                    500
                }));
                let mut c = connect_to(&name, "postgres");
                c.batch_execute(&format!("SET application_name = 'shmlock_{i}'"))
                    .unwrap();
                (all_decisions(&mut c), counters(&mut c))
            })
        })
        .collect();
    // Past the claim's two-second deadline: the builder still lives (it waits for
    // the lock), so the others still wait for it, asleep.
    std::thread::sleep(std::time::Duration::from_millis(3500));
    let waits = one_str(
        &mut db.dba(),
        "SELECT string_agg(coalesce(wait_event_type, 'running'), ',' ORDER BY wait_event_type)
           FROM pg_stat_activity WHERE application_name LIKE 'shmlock_%'",
    );
    assert_eq!(waits, "Extension,Extension,Extension,Lock", "{waits}");
    // The lock's holder needs the model too: it does not wait for the build that
    // waits for its lock (nothing would end that wait but a timeout), it builds its
    // own.
    locker
        .batch_execute("SET LOCAL statement_timeout = '20s'")
        .unwrap();
    assert_eq!(all_decisions(&mut locker), expected);
    let (_, rebuilt_by_locker, _) = counters(&mut locker);
    assert_eq!(rebuilt_by_locker, 1);
    locker.batch_execute("COMMIT").unwrap();
    let results: Vec<(String, (i64, i64, i64))> =
        threads.into_iter().map(|t| t.join().unwrap()).collect();
    for (decisions, _) in &results {
        assert_eq!(decisions, &expected);
    }
    let rebuilt: i64 = results.iter().map(|(_, c)| c.1).sum();
    assert_eq!(rebuilt, 1, "one build, the others read it: {results:?}");
}
