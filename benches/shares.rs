//! The record-shares benchmark of docs/benchmarks.md ("Record shares"): the policies
//! with live shares present against the hand-written equivalent, the plan shapes,
//! `who_can_access` on one record, and the memory of a backend at 200,000 users and
//! 1M shares. One run, one cluster (BENCH_PORT), database BENCH_DB (default
//! `bench_shares`) loaded with bench/dataset.sql then bench/shares.sql.
//!
//! Timings are medians of BENCH_RUNS rounds (default 9); in each round every variant
//! of a query runs once, one after the other, so that a busy machine slows them
//! alike. Ratios compare timings of the same run; nothing here asserts a time.
//!
//! Run it with `bash scripts/bench.sh`, which prepares everything.

use postgres::{Client, NoTls};
use std::time::Instant;

fn connect(user: &str) -> Client {
    let port = std::env::var("BENCH_PORT").unwrap_or_else(|_| "54331".into());
    let db = std::env::var("BENCH_DB").unwrap_or_else(|_| "bench_shares".into());
    Client::connect(
        &format!("host=127.0.0.1 port={port} user={user} dbname={db}"),
        NoTls,
    )
    .expect("connect to the benchmark cluster (run scripts/bench.sh)")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn once(c: &mut Client, sql: &str) -> f64 {
    let t = Instant::now();
    c.batch_execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    t.elapsed().as_secs_f64() * 1000.0
}

/// Median milliseconds of each (session, statement) pair, over `runs` interleaved
/// rounds after one warm-up round.
fn time_interleaved(pairs: &mut [(&mut Client, String)], runs: usize) -> Vec<f64> {
    for (c, sql) in pairs.iter_mut() {
        once(c, sql);
    }
    let mut samples = vec![Vec::with_capacity(runs); pairs.len()];
    for _ in 0..runs {
        for (i, (c, sql)) in pairs.iter_mut().enumerate() {
            samples[i].push(once(c, sql));
        }
    }
    samples.into_iter().map(median).collect()
}

fn array_literal(v: &[i64]) -> String {
    format!(
        "'{{{}}}'::bigint[]",
        v.iter()
            .map(|o| o.to_string())
            .collect::<Vec<_>>()
            .join(",")
    )
}

/// The plan's nodes, one per line, without their details.
fn plan_shape(c: &mut Client, sql: &str) -> String {
    c.query(&format!("EXPLAIN (COSTS OFF) {sql}"), &[])
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("Filter")
                || t.starts_with("Recheck Cond")
                || t.starts_with("Index Cond")
                || t.starts_with("Sort Key")
                || t.starts_with("Workers")
                || t.starts_with("Output")
                || t.starts_with("One-Time Filter"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn explain_analyze(c: &mut Client, sql: &str) -> String {
    c.query(
        &format!("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) {sql}"),
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| r.get::<_, String>(0))
    .collect::<Vec<_>>()
    .join("\n")
}

struct Viewer {
    name: &'static str,
    id: i64,
}

/// VmRSS, RssAnon and RssShmem of a backend, in kB.
fn rss_kb(pid: i32) -> (i64, i64, i64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(-1)
    };
    (field("VmRSS:"), field("RssAnon:"), field("RssShmem:"))
}

/// One application session for `viewer`, warmed by the queries of the bench; its
/// model statistics and memory.
fn memory_row(viewer: i64, label: &str) {
    let mut app = connect("bench_app");
    app.batch_execute(&format!("SET sharing.viewer = '{viewer}'"))
        .unwrap();
    for sql in [
        "SELECT count(*), sum(amount) FROM deals",
        "SELECT id, amount, created_at FROM deals ORDER BY created_at DESC LIMIT 50",
        "SELECT count(*), sum(amount) FROM deals",
    ] {
        app.batch_execute(sql).unwrap();
    }
    let text: String = app
        .query_one("SELECT sharing._model_stats()::text", &[])
        .unwrap()
        .get(0);
    let stats: serde_json::Value = serde_json::from_str(&text).unwrap();
    let pid: i32 = app
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let (rss, anon, shmem) = rss_kb(pid);
    println!(
        "| {label} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
        stats["users"],
        stats["heap_bytes"].as_f64().unwrap_or(0.0) / 1e6,
        rss as f64 / 1024.0,
        anon as f64 / 1024.0,
        shmem as f64 / 1024.0
    );
}

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(9);
    let viewers = [
        Viewer {
            name: "salesperson (leaf), with shares",
            id: 400,
        },
        Viewer {
            name: "salesperson (leaf), no share",
            id: 10401,
        },
        Viewer {
            name: "manager (2 above leaves)",
            id: 22,
        },
        Viewer {
            name: "director (1 below top)",
            id: 2,
        },
        Viewer {
            name: "admin",
            id: 20001,
        },
    ];
    let mut dba = connect("postgres");
    let mut app = connect("bench_app");
    let (rows, live, expired): (i64, i64, i64) = {
        let r = dba
            .query_one(
                "SELECT (SELECT count(*) FROM deals),
                        count(*) FILTER (WHERE valid_from <= now() AND (valid_until IS NULL OR valid_until > now())),
                        count(*) FILTER (WHERE valid_until <= now())
                   FROM sharing.record_shares",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    println!("## Record shares: {rows} deals, 20,000 users, {live} live shares (+ {expired} expired); median of {runs} interleaved runs, milliseconds\n");
    println!("Variants: (1) the table without RLS; (2) hand-written `owner_id = ANY('{{owners}}') OR id = ANY('{{shared ids}}')`, both lists literal; (2b) the same with the ids computed in the statement, `id = ANY((SELECT bench_shared_ids(v, 'view'))::bigint[])`; (5) pg_sharing.\n");
    println!("| viewer | owners | shared ids | query | visible rows | 1 unprotected | 2 hand-written | 2b hand-written, ids in SQL | 5 pg_sharing | 5 ÷ 2 | 5 ÷ 2b |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut summary = Vec::new();
    let mut lookups = Vec::new();
    for v in &viewers {
        let reach: Vec<i64> = dba
            .query("SELECT sharing.reach($1)", &[&v.id])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let shared: Vec<i64> = dba
            .query_one("SELECT bench_shared_ids($1, 'view')", &[&v.id])
            .unwrap()
            .get(0);
        app.batch_execute(&format!("SET sharing.viewer = '{}'", v.id))
            .unwrap();
        // The same ids as the policies' share arm (a check, not a timing).
        let mut theirs: Vec<i64> = app
            .query_one("SELECT sharing._shared_ids_int8('deals', 'view')", &[])
            .unwrap()
            .get(0);
        theirs.sort_unstable();
        assert_eq!(
            theirs, shared,
            "{}: the ids shared with the viewer differ between SQL and pg_sharing",
            v.name
        );
        let owners = array_literal(&reach);
        let ids = array_literal(&shared);
        let filter = format!("(owner_id = ANY ({owners}) OR id = ANY ({ids}))");
        let filter_sql = format!(
            "(owner_id = ANY ({owners}) OR id = ANY ((SELECT bench_shared_ids({}, 'view'))::bigint[]))",
            v.id
        );
        let owned_id: i64 = dba
            .query_one(
                &format!("SELECT min(id) FROM deals WHERE owner_id = ANY ({owners})"),
                &[],
            )
            .unwrap()
            .get(0);
        let shared_only: Option<i64> = dba
            .query_one(
                &format!("SELECT min(id) FROM deals WHERE id = ANY ({ids}) AND NOT owner_id = ANY ({owners})"),
                &[],
            )
            .unwrap()
            .get(0);
        let mut queries = vec![
            (
                "report",
                "SELECT count(*), sum(amount) FROM {t}{w}".to_string(),
            ),
            (
                "list view",
                "SELECT id, amount, created_at FROM {t}{w} ORDER BY created_at DESC LIMIT 50"
                    .to_string(),
            ),
            (
                "point read (owned)",
                format!("SELECT * FROM {{t}} WHERE id = {owned_id}{{and}}"),
            ),
        ];
        if let Some(id) = shared_only {
            queries.push((
                "point read (shared)",
                format!("SELECT * FROM {{t}} WHERE id = {id}{{and}}"),
            ));
        }
        // Correctness first: the rows pg_sharing shows are the hand-written ones.
        let count = |c: &mut Client, w: &str| -> i64 {
            c.query_one(&format!("SELECT count(*) FROM deals{w}"), &[])
                .unwrap()
                .get(0)
        };
        let expected = count(&mut dba, &format!(" WHERE {filter}"));
        let seen = count(&mut app, "");
        assert_eq!(expected, seen, "{}: visible rows differ", v.name);
        let ms_lookup = {
            let mut c = [(
                &mut app,
                "SELECT sharing._shared_ids_int8('deals', 'view')".to_string(),
            )];
            time_interleaved(&mut c, runs)[0]
        };
        lookups.push((v.name, shared.len(), ms_lookup));
        for (qname, q) in &queries {
            let render = |filter: Option<&str>| {
                q.replace("{t}", "deals")
                    .replace(
                        "{w}",
                        &filter.map(|f| format!(" WHERE {f}")).unwrap_or_default(),
                    )
                    .replace(
                        "{and}",
                        &filter.map(|f| format!(" AND {f}")).unwrap_or_default(),
                    )
            };
            let mut dba2 = connect("postgres");
            let t = {
                let mut pairs = [
                    (&mut dba, render(None)),
                    (&mut dba2, render(Some(&filter))),
                    (&mut app, render(None)),
                ];
                time_interleaved(&mut pairs, runs)
            };
            let t2b = {
                let mut pairs = [(&mut dba2, render(Some(&filter_sql)))];
                time_interleaved(&mut pairs, runs)[0]
            };
            let (plain, optimal, ours) = (t[0], t[1], t[2]);
            println!(
                "| {} | {} | {} | {qname} | {expected} | {plain:.2} | {optimal:.2} | {t2b:.2} | {ours:.2} | {:.2} | {:.2} |",
                v.name,
                reach.len(),
                shared.len(),
                ours / optimal,
                ours / t2b
            );
            summary.push((v.name, *qname, ours / optimal, ours / t2b));
        }
    }

    println!("\n### The shared-ids lookup alone (`sharing._shared_ids_int8('deals', 'view')`, once per statement)\n");
    println!("| viewer | ids | ms |");
    println!("|---|---|---|");
    for (name, n, ms) in &lookups {
        println!("| {name} | {n} | {ms:.2} |");
    }

    println!("\n### Plans\n");
    for (v, sql) in [
        (400, "SELECT count(*), sum(amount) FROM deals"),
        (
            400,
            "SELECT id, amount, created_at FROM deals ORDER BY created_at DESC LIMIT 50",
        ),
        (10401, "SELECT count(*), sum(amount) FROM deals"),
    ] {
        app.batch_execute(&format!("SET sharing.viewer = '{v}'"))
            .unwrap();
        let plan = explain_analyze(&mut app, sql);
        let bitmap_or = plan.contains("BitmapOr")
            && plan.contains("deals_owner_idx")
            && plan.contains("deals_pkey");
        println!(
            "Viewer {v}, `{sql}` — BitmapOr of the owner index and the primary key: {}\n",
            if bitmap_or { "yes" } else { "no" }
        );
        println!("```\n{plan}\n```\n");
    }
    println!("Plan shapes of the other viewers (pg_sharing):\n");
    for v in &viewers[2..] {
        app.batch_execute(&format!("SET sharing.viewer = '{}'", v.id))
            .unwrap();
        for sql in [
            "SELECT count(*), sum(amount) FROM deals",
            "SELECT id, amount, created_at FROM deals ORDER BY created_at DESC LIMIT 50",
        ] {
            println!(
                "{}, `{sql}`:\n```\n{}\n```\n",
                v.name,
                plan_shape(&mut app, sql)
            );
        }
    }

    // who_can_access on one record, in a DBA session.
    println!("\n### `sharing.who_can_access('deals', id, 'view')` in a DBA session (20,000 users), median of {runs} runs\n");
    println!("| record | live shares of it | users listed | ms per call |");
    println!("|---|---|---|---|");
    let picks: Vec<(String, i64)> = {
        let most: i64 = dba
            .query_one(
                "SELECT record_id::bigint FROM sharing.record_shares
                  WHERE valid_until IS NULL OR valid_until > now()
                  GROUP BY record_id ORDER BY count(*) DESC, record_id LIMIT 1",
                &[],
            )
            .unwrap()
            .get(0);
        let role_sub: i64 = dba
            .query_one(
                "SELECT min(record_id::bigint) FROM sharing.record_shares
                  WHERE scope = 'role_and_subordinates' AND role_id = 10005
                    AND (valid_until IS NULL OR valid_until > now())",
                &[],
            )
            .unwrap()
            .get(0);
        let unshared: i64 = dba
            .query_one(
                "SELECT min(d.id) FROM deals d
                  WHERE NOT EXISTS (SELECT 1 FROM sharing.record_shares s
                                     WHERE s.object_type = 'deals' AND s.record_id = d.id::text)",
                &[],
            )
            .unwrap()
            .get(0);
        vec![
            ("the most shared record".into(), most),
            (
                "a record shared with role r5 and subordinates".into(),
                role_sub,
            ),
            ("a record without shares".into(), unshared),
        ]
    };
    let mut wca = Vec::new();
    for (label, id) in &picks {
        let r = dba
            .query_one(
                &format!(
                    "SELECT (SELECT count(*) FROM sharing.record_shares s
                              WHERE s.object_type = 'deals' AND s.record_id = '{id}'
                                AND (s.valid_until IS NULL OR s.valid_until > now())),
                            (SELECT count(*) FROM sharing.who_can_access('deals', {id}::bigint, 'view'))"
                ),
                &[],
            )
            .unwrap();
        let (shares, users): (i64, i64) = (r.get(0), r.get(1));
        let ms = {
            let mut c = [(
                &mut dba,
                format!(
                    "SELECT count(*) FROM sharing.who_can_access('deals', {id}::bigint, 'view')"
                ),
            )];
            time_interleaved(&mut c, runs)[0]
        };
        wca.push(ms);
        println!("| {label} (id {id}) | {shares} | {users} | {ms:.2} |");
    }

    // Memory: the model is per backend; shares are not in it.
    println!("\n### Memory of an application backend (warm: report and list view as viewer 400)\n");
    println!("| state | users | model heap (MB, `_model_stats`) | VmRSS (MB) | RssAnon (MB) | RssShmem (MB) |");
    println!("|---|---|---|---|---|---|");
    {
        let mut idle = connect("bench_app");
        let pid: i32 = idle
            .query_one("SELECT pg_backend_pid()", &[])
            .unwrap()
            .get(0);
        let (rss, anon, shmem) = rss_kb(pid);
        println!(
            "| a new backend, before any query | — | — | {:.1} | {:.1} | {:.1} |",
            rss as f64 / 1024.0,
            anon as f64 / 1024.0,
            shmem as f64 / 1024.0
        );
    }
    memory_row(400, &format!("20,000 users, {live} live shares"));
    let users_target: i64 = std::env::var("BENCH_SHARES_USERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let shares_target: i64 = std::env::var("BENCH_SHARES_MAX")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let have: i64 = dba
        .query_one("SELECT count(*) FROM sharing.users", &[])
        .unwrap()
        .get(0);
    if users_target > have {
        // As benches/policies.rs: more leaf users, loaded in bulk.
        dba.batch_execute(&format!(
            "SET session_replication_role = replica;
             INSERT INTO sharing.users (id, company_id, name) SELECT u, 1, 'x' || u FROM generate_series({first}, {first} + {add} - 1) u;
             INSERT INTO sharing.user_roles (user_id, role_id) SELECT u, 10000 + 341 + (u % 1024) FROM generate_series({first}, {first} + {add} - 1) u;
             RESET session_replication_role;
             UPDATE sharing.roles SET description = 'more users' WHERE id = 10001;",
            add = users_target - have,
            first = 100_000 + have
        ))
        .unwrap();
    }
    if shares_target > live {
        let started = Instant::now();
        dba.batch_execute(&format!(
            "SET session_replication_role = replica;
             INSERT INTO sharing.record_shares (object_type, record_id, company_id, user_id, role_id, scope, access, valid_from, valid_until, note)
             SELECT * FROM bench_share_rows({}, {shares_target}, 'live', {rows});
             RESET session_replication_role;",
            live + 1
        ))
        .unwrap();
        dba.batch_execute("VACUUM ANALYZE sharing.record_shares")
            .unwrap();
        eprintln!(
            "(loaded {} more shares in {:.1} s)",
            shares_target - live,
            started.elapsed().as_secs_f64()
        );
    }
    let (users_now, live_now): (i64, i64) = {
        let r = dba
            .query_one(
                "SELECT (SELECT count(*) FROM sharing.users),
                        count(*) FILTER (WHERE valid_until IS NULL OR valid_until > now())
                   FROM sharing.record_shares",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    memory_row(
        400,
        &format!("{users_now} users, {live_now} live shares (viewer 400)"),
    );
    memory_row(
        2,
        &format!("{users_now} users, {live_now} live shares (viewer 2, director)"),
    );

    // The salesperson with shares again, at this size.
    let shared: Vec<i64> = dba
        .query_one("SELECT bench_shared_ids(400, 'view')", &[])
        .unwrap()
        .get(0);
    let reach: Vec<i64> = dba
        .query("SELECT sharing.reach(400)", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let filter = format!(
        "(owner_id = ANY ({}) OR id = ANY ({}))",
        array_literal(&reach),
        array_literal(&shared)
    );
    app.batch_execute("SET sharing.viewer = '400'").unwrap();
    println!("\n### Salesperson with shares at {users_now} users and {live_now} live shares ({} shared with them)\n", shared.len());
    println!("| query | 2 hand-written | 5 pg_sharing | 5 ÷ 2 |");
    println!("|---|---|---|---|");
    for (qname, q) in [
        ("report", "SELECT count(*), sum(amount) FROM deals{w}"),
        (
            "list view",
            "SELECT id, amount, created_at FROM deals{w} ORDER BY created_at DESC LIMIT 50",
        ),
    ] {
        let mut pairs = [
            (&mut dba, q.replace("{w}", &format!(" WHERE {filter}"))),
            (&mut app, q.replace("{w}", "")),
        ];
        let t = time_interleaved(&mut pairs, runs);
        println!(
            "| {qname} | {:.2} | {:.2} | {:.2} |",
            t[0],
            t[1],
            t[1] / t[0]
        );
    }
    for sql in [
        "SELECT count(*), sum(amount) FROM deals",
        "SELECT id, amount, created_at FROM deals ORDER BY created_at DESC LIMIT 50",
    ] {
        println!(
            "\npg_sharing, `{sql}`:\n```\n{}\n```",
            plan_shape(&mut app, sql)
        );
        println!(
            "hand-written:\n```\n{}\n```",
            plan_shape(
                &mut dba,
                &sql.replace(" FROM deals", &format!(" FROM deals WHERE {filter}"))
            )
        );
    }

    println!("\n### Summary (goals: 5 ÷ 2 ≤ 1.5; who_can_access ≤ 10 ms; backend ≤ 128 MB)\n");
    for (v, q, r2, r2b) in summary {
        println!("- {v}, {q}: 5÷2 = {r2:.2}, 5÷2b = {r2b:.2}");
    }
    println!(
        "- who_can_access: {} ms per call",
        wca.iter()
            .map(|m| format!("{m:.2}"))
            .collect::<Vec<_>>()
            .join(" / ")
    );
}
