//! The next statement after a configuration change (issue 18, docs/benchmarks.md
//! "Incremental updates"): N idle connections, each acting as a viewer and warm
//! (its model compiled), then one change by another session; each connection runs
//! one point read on the protected `deals` table, timed, and its backend's CPU
//! time is read from `/proc/<pid>/schedstat` (nanoseconds) before and after.
//!
//! Changes: one user added; one membership added (patched); and, for comparison in
//! the same run, a change of the object types, which every backend rebuilds for
//! (what every change cost before 0.4.0). Per scale of users (the dataset's role
//! tree of 1,365 roles, users spread over its leaves) and number of connections.
//!
//! The connections log in as an application role trusted to set the viewer (a
//! superuser would bypass row level security, and the model with it).
//!
//! Two modes (BENCH_INCREMENTAL_MODES, default `shared,private`): `shared`, the
//! model read from the image one backend builds and publishes (docs/design.md, "One
//! model per database"; the cluster preloads pg_sharing); `private`, every backend
//! with a model of its own (`sharing.share_models = off` for the application role).
//! Memory: the model's own bytes per backend (`heap_bytes`), each backend's private
//! resident memory (RssAnon, all of it, not only the model's), and the images in
//! shared memory, counted once.
//!
//! Run by `scripts/bench.sh` (BENCH_INCREMENTAL=0 skips it) or alone:
//!   BENCH_PORT=… cargo bench --no-default-features --features pg15 --bench incremental
//! Environment: BENCH_PORT, BENCH_INCREMENTAL_USERS (default 20000,200000),
//! BENCH_INCREMENTAL_CONNECTIONS (default 8,50), BENCH_INCREMENTAL_ROUNDS (default 5:
//! each change repeated, medians reported). The backends must be on this machine
//! (schedstat).
//!
//! The extra CPU of a change is measured against a warm pass (every connection one
//! point read, nothing changed) made just before it in the same round: the median
//! of the rounds' differences, so that the machine's drift between rounds (other
//! tenants, a shared cache) is not counted as the change's.

use postgres::{Client, NoTls};
use std::time::Instant;

fn env_list(name: &str, default: &str) -> Vec<i64> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

fn connect_as(db: &str, user: &str) -> Client {
    let port = std::env::var("BENCH_PORT").unwrap_or_else(|_| "54331".into());
    Client::connect(
        &format!("host=127.0.0.1 port={port} user={user} dbname={db}"),
        NoTls,
    )
    .expect("connect to the benchmark cluster")
}

fn connect(db: &str) -> Client {
    connect_as(db, "postgres")
}

/// The application's login: trusted to set the viewer (for its session), no
/// superuser (a superuser bypasses row level security).
const APP: &str = "bench_incremental_app";

/// A database with `users` users over the dataset's role tree and a small
/// protected `deals` table.
fn prepare(users: i64) -> String {
    let db = format!("bench_incremental_{users}");
    let mut admin = connect("postgres");
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .unwrap();
    let mut c = connect(&db);
    c.batch_execute(&format!(
        "SET client_min_messages = warning;
         CREATE EXTENSION pg_sharing;
         INSERT INTO sharing.object_types (name) VALUES ('deals');
         SELECT sharing.create_company('Bench');
         SET session_replication_role = replica;
         INSERT INTO sharing.roles (id, company_id, name, reports_to, based_on)
         SELECT 10000 + n, 1, 'r' || n, CASE WHEN n = 0 THEN 1 ELSE 10000 + (n - 1) / 4 END, 3
           FROM generate_series(0, 1364) n ORDER BY n;
         INSERT INTO sharing.users (id, company_id, name)
         SELECT u, 1, 'u' || u FROM generate_series(1, {users}) u;
         INSERT INTO sharing.user_roles (user_id, role_id)
         SELECT u, 10000 + CASE WHEN u <= 341 THEN u - 1 ELSE 341 + (u % 1024) END
           FROM generate_series(1, {users}) u;
         RESET session_replication_role;
         UPDATE sharing.object_types SET grant_via_hierarchy = true;
         CREATE TABLE deals (id bigint PRIMARY KEY, owner_id bigint NOT NULL, company_id bigint NOT NULL);
         INSERT INTO deals SELECT g, 1 + g % {users}, 1 FROM generate_series(1, 10000) g;
         CREATE INDEX ON deals (owner_id);
         SELECT sharing.protect('deals', 'deals');
         DO $$ BEGIN
             IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP}') THEN
                 CREATE ROLE {APP} LOGIN;
             END IF;
         END $$;
         ALTER ROLE {APP} SET sharing.viewer_scope = session;
         GRANT SELECT ON deals TO {APP};
         GRANT EXECUTE ON FUNCTION sharing._model_stats() TO {APP};
         INSERT INTO sharing.trusted_app_roles VALUES ('{APP}');"
    ))
    .unwrap();
    c.batch_execute("VACUUM ANALYZE").unwrap();
    db
}

/// CPU time of a backend so far, in nanoseconds.
fn cpu_ns(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

struct Session {
    client: Client,
    pid: i32,
    viewer: i64,
}

/// A new connection of the application acting for `viewer`.
fn open_session(db: &str, viewer: i64) -> Session {
    let mut client = connect_as(db, APP);
    client
        .batch_execute(&format!("SET sharing.viewer = '{viewer}'"))
        .unwrap();
    let pid: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    Session {
        client,
        pid,
        viewer,
    }
}

/// One point read as the session's viewer: (milliseconds, backend CPU nanoseconds).
fn point_read(s: &mut Session) -> (f64, u64) {
    let before = cpu_ns(s.pid);
    let started = Instant::now();
    s.client
        .query_one(
            "SELECT count(*) FROM deals WHERE id = $1",
            &[&(s.viewer * 7 % 10000 + 1)],
        )
        .unwrap();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    (ms, cpu_ns(s.pid).saturating_sub(before))
}

/// A backend's private resident memory (`RssAnon`), in MB.
fn rss_anon_mb(pid: i32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("RssAnon:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let scales = env_list("BENCH_INCREMENTAL_USERS", "20000,200000");
    let conns = env_list("BENCH_INCREMENTAL_CONNECTIONS", "8,50");
    let rounds = env_list("BENCH_INCREMENTAL_ROUNDS", "5")[0].max(1) as usize;
    let modes: Vec<String> = std::env::var("BENCH_INCREMENTAL_MODES")
        .unwrap_or_else(|_| "shared,private".into())
        .split(',')
        .map(|m| m.trim().to_string())
        .collect();
    println!("| model | users | connections | change | next statement, median ms (warm read) | extra ms per backend | CPU of all backends' next statement, ms (warm reads) | extra CPU, all backends, ms | model memory per backend, MB (RssAnon median) | this database's images, MB | model memory, all connections, MB | build ms (the one backend) / read ms (the others) |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for &users in &scales {
        let db = prepare(users);
        let mut admin = connect(&db);
        let mut next_user = users + 1000;
        let mut next_role = 0;
        for mode in &modes {
            // `private`: every backend compiles and patches its own model, as without
            // the preload (docs/design.md, "One model per database").
            let setting = if mode == "private" { "off" } else { "on" };
            admin
                .batch_execute(&format!(
                    "ALTER ROLE {APP} SET sharing.share_models = {setting}"
                ))
                .unwrap();
            for &n in &conns {
                let mut sessions: Vec<Session> = (0..n)
                    .map(|i| open_session(&db, 1 + (i * 7919) % users))
                    .collect();
                for s in &mut sessions {
                    for _ in 0..3 {
                        point_read(s);
                    }
                }
                let warm: Vec<(f64, u64)> = sessions.iter_mut().map(point_read).collect();
                let steady = median(warm.iter().map(|w| w.0).collect());
                // A connection that is new (a pool growing, a Citus worker's
                // backend): its first statement, with the configuration unchanged.
                if n == conns[0] {
                    let firsts: Vec<(f64, u64)> = (0..rounds)
                        .map(|k| {
                            point_read(&mut open_session(&db, 1 + (k as i64 * 7919 + 13) % users))
                        })
                        .collect();
                    let ms = median(firsts.iter().map(|f| f.0).collect());
                    let cpu = median(firsts.iter().map(|f| f.1 as f64 / 1e6).collect());
                    println!(
                        "| {mode} | {users} | – | a new connection's first statement | {ms:.2} ({steady:.2}) | {:.2} | {cpu:.2} per backend | | | | | |",
                        ms - steady
                    );
                }
                for change in [
                    "add one user",
                    "add one membership",
                    "rebuild (object types)",
                ] {
                    let (mut firsts, mut cpus, mut inner) = (Vec::new(), Vec::new(), Vec::new());
                    let (mut warms, mut extras) = (Vec::new(), Vec::new());
                    for _ in 0..rounds {
                        // The round's baseline: one warm read per connection.
                        let warm_cpu: u64 = sessions.iter_mut().map(|s| point_read(s).1).sum();
                        let sql = match change {
                            "add one user" => {
                                next_user += 1;
                                format!("INSERT INTO sharing.users (id, company_id, name) VALUES ({next_user}, 1, 'new')")
                            }
                            "add one membership" => {
                                next_role += 1;
                                format!(
                                "INSERT INTO sharing.user_roles (user_id, role_id) VALUES ({next_user}, {})",
                                10341 + next_role % 1024
                            )
                            }
                            _ => {
                                "UPDATE sharing.object_types SET grant_via_hierarchy = true".into()
                            }
                        };
                        admin.batch_execute(&sql).unwrap();
                        let mut total_cpu = 0u64;
                        let mut first = Vec::new();
                        for s in &mut sessions {
                            let (ms, cpu) = point_read(s);
                            first.push(ms);
                            total_cpu += cpu;
                        }
                        firsts.push(median(first));
                        cpus.push(total_cpu as f64 / 1e6);
                        warms.push(warm_cpu as f64 / 1e6);
                        extras.push((total_cpu as f64 - warm_cpu as f64) / 1e6);
                        let stats = |s: &mut Session| {
                            let row = s
                            .client
                            .query_one(
                                "SELECT (s->>'last_patch_ms')::float8, (s->>'last_rebuild_ms')::float8,
                                        (s->>'heap_bytes')::float8 / 1e6, (s->>'last_attach_ms')::float8,
                                        coalesce((s->'server_images'->>'database_bytes')::float8 / 1e6, 0)
                                   FROM sharing._model_stats() s",
                                &[],
                            )
                            .unwrap();
                            let v: (f64, f64, f64, f64, f64) =
                                (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
                            v
                        };
                        // The first session asked first: it built the model (in shared
                        // mode the others read it).
                        let (p, r, _, _, images) = stats(&mut sessions[0]);
                        let (_, _, own, attach, _) = stats(sessions.last_mut().unwrap());
                        let rss = median(sessions.iter().map(|s| rss_anon_mb(s.pid)).collect());
                        inner.push((
                            if change.starts_with("rebuild") { r } else { p },
                            own,
                            attach,
                            images,
                            rss,
                        ));
                    }
                    let first = median(firsts);
                    let cpu = median(cpus);
                    let round_warm = median(warms);
                    let extra = median(extras);
                    let build_ms = median(inner.iter().map(|x| x.0).collect());
                    let attach_ms = median(inner.iter().map(|x| x.2).collect());
                    let &(_, own, _, images, rss) = inner.last().unwrap();
                    let images = if mode == "private" { 0.0 } else { images };
                    let read = if mode == "private" {
                        "each its own".to_string()
                    } else {
                        format!("{attach_ms:.3}")
                    };
                    println!(
                    "| {mode} | {users} | {n} | {change} | {first:.2} ({steady:.2}) | {:.2} | {cpu:.1} ({round_warm:.1}) | {extra:.1} | {own:.2} ({rss:.1}) | {images:.1} | {:.1} | {build_ms:.3} / {read} |",
                    first - steady,
                    n as f64 * own + images
                );
                }
            }
        }
        drop(admin);
        connect("postgres")
            .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            .unwrap();
    }
}
