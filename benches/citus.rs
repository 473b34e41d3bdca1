//! The timing of the Citus benchmark (docs/benchmarks.md, "Citus: a coordinator and two
//! workers"): pg_sharing against the hand-written filter and the unprotected query on
//! the same distributed table, per viewer class, for the report and the list view,
//! routed (`company_id = 1`) and multi-shard. `scripts/bench-citus.sh` starts the
//! cluster, loads the dataset and runs this once per coordinator setting; it prints one
//! markdown table.
//!
//! The three variants are timed **in turn** — unprotected, hand-written, pg_sharing,
//! then again, the first of each turn rotating — in **rounds of fresh sessions**
//! (`BENCH_CITUS_ROUNDS`, default 3), each round warmed up before it is timed. A
//! multi-shard statement makes one round trip per shard over the session's cached
//! worker connections, and on this machine a round trip to a backend whose vCPU went
//! idle costs 50–80 µs more, at random per connection (docs/benchmarks.md, "Timing
//! small statements"): timed one variant after the other in one session each, the
//! same statement measured 2.2 or 3.6 ms depending on which sessions were drawn.
//! Turns spread the machine's moments over the three variants; rounds spread the
//! connections drawn; the warm-up keeps each new worker backend's first model build
//! (measured separately, the last column) out of the medians.
//!
//! Environment: BENCH_CITUS_PORT (the coordinator; workers on the next two ports),
//! BENCH_CITUS_DB, BENCH_CITUS_RUNS (timed runs per variant and round, default 7),
//! BENCH_CITUS_SETTING (`default`, `pgbouncer` or `name=value,name=value`: session
//! settings of all three variants), BENCH_CITUS_LABEL (the table's heading).

use postgres::{Client, NoTls};
use std::time::Instant;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.into())
}

fn connect(port: u16, user: &str) -> Client {
    let db = env_or("BENCH_CITUS_DB", "bench_citus");
    Client::connect(
        &format!("host=127.0.0.1 port={port} user={user} dbname={db}"),
        NoTls,
    )
    .expect("connect to the Citus benchmark cluster (run scripts/bench-citus.sh)")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// One way of asking for the rows: who asks, with which viewer, what.
struct Variant {
    user: &'static str,
    viewer: Option<i64>,
    sql: String,
}

/// Milliseconds of one run of `v` in `c`: its own transaction, the viewer set first
/// (`SET LOCAL`, as an application behind a pooler does), only the query timed.
fn run_once(c: &mut Client, v: &Variant) -> f64 {
    c.batch_execute("BEGIN").unwrap();
    if let Some(viewer) = v.viewer {
        c.batch_execute(&format!("SET LOCAL sharing.viewer = '{viewer}'"))
            .unwrap();
    }
    let started = Instant::now();
    c.batch_execute(&v.sql)
        .unwrap_or_else(|e| panic!("{}: {e}", v.sql));
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    c.batch_execute("COMMIT").unwrap();
    ms
}

/// Sessions started so far on the two workers (`pg_stat_database.sessions`), read
/// over `monitors`, one kept-open session per worker.
fn worker_sessions(monitors: &mut [Client]) -> i64 {
    monitors
        .iter_mut()
        .map(|m| {
            m.query_one(
                "SELECT sessions FROM pg_stat_database WHERE datname = current_database()",
                &[],
            )
            .unwrap()
            .get::<_, i64>(0)
        })
        .sum()
}

/// The medians of `variants` timed in turn over `rounds` rounds of fresh sessions
/// (`runs` timed runs each per round, after two warm-up runs), and the worker sessions
/// the last variant's statements started, per statement (warm-ups included).
fn time_in_turn(
    port: u16,
    monitors: &mut [Client],
    settings: &[String],
    variants: &[Variant],
    rounds: usize,
    runs: usize,
) -> (Vec<f64>, f64) {
    let mut times = vec![Vec::new(); variants.len()];
    let mut started_by_last = 0;
    for _ in 0..rounds {
        let mut sessions: Vec<Client> = variants
            .iter()
            .map(|v| {
                let mut c = connect(port, v.user);
                for s in settings {
                    c.batch_execute(&format!("SET {s}")).unwrap();
                }
                c
            })
            .collect();
        let last = variants.len() - 1;
        for (i, (v, c)) in variants.iter().zip(sessions.iter_mut()).enumerate() {
            let before = (i == last).then(|| worker_sessions(monitors));
            run_once(c, v);
            run_once(c, v);
            if let Some(before) = before {
                started_by_last += worker_sessions(monitors) - before;
            }
        }
        for run in 0..runs {
            for k in 0..variants.len() {
                let i = (run + k) % variants.len();
                let before = (i == last).then(|| worker_sessions(monitors));
                times[i].push(run_once(&mut sessions[i], &variants[i]));
                if let Some(before) = before {
                    started_by_last += worker_sessions(monitors) - before;
                }
            }
        }
    }
    let statements = (rounds * (runs + 2)) as f64;
    (
        times.into_iter().map(median).collect(),
        started_by_last as f64 / statements,
    )
}

/// The query (`report` or `list view`) with `filter` (none when empty).
fn shape(query: &str, filter: &str) -> String {
    let filter = if filter.is_empty() {
        String::new()
    } else {
        format!(" WHERE {filter}")
    };
    if query == "report" {
        format!("SELECT count(*), sum(amount) FROM deals{filter}")
    } else {
        format!(
            "SELECT id, amount, created_at FROM deals{filter} ORDER BY created_at DESC LIMIT 50"
        )
    }
}

fn main() {
    let port: u16 = env_or("BENCH_CITUS_PORT", "55480").parse().unwrap();
    let runs: usize = env_or("BENCH_CITUS_RUNS", "7").parse().unwrap();
    let rounds: usize = env_or("BENCH_CITUS_ROUNDS", "3").parse().unwrap();
    let setting = env_or("BENCH_CITUS_SETTING", "default");
    let settings: Vec<String> = if setting == "default" || setting == "pgbouncer" {
        Vec::new()
    } else {
        setting.split(',').map(|s| s.trim().to_string()).collect()
    };
    println!(
        "{}; median of {runs} runs in each of {rounds} rounds of fresh sessions, the three variants timed in turn, milliseconds\n",
        env_or("BENCH_CITUS_LABEL", "## Citus")
    );
    println!("| viewer | query | 1 unprotected | 2 hand-written | 5 pg_sharing | 5 ÷ 2 | 5 ÷ 1 | worker backends started per statement of 5 |");
    println!("|---|---|---|---|---|---|---|---|");
    let viewers = [
        ("salesperson (leaf)", 400_i64),
        ("manager (2 above leaves)", 22),
        ("director (1 below top)", 2),
        ("admin", 20001),
    ];
    let mut dba = connect(port, "postgres");
    let mut monitors = [connect(port + 1, "postgres"), connect(port + 2, "postgres")];
    for (name, id) in viewers {
        let owners: String = dba
            .query_one(
                "SELECT array_agg(r ORDER BY r)::text FROM sharing.reach($1) r",
                &[&id],
            )
            .unwrap()
            .get(0);
        for scope in ["routed", "multi-shard"] {
            for query in ["report", "list view"] {
                // Multi-shard: the unprotected query's company filter is written so
                // that Citus does not prune on it, and the hand-written filter names
                // the owners only (the company would route the query).
                let (company, hand, ours) = if scope == "routed" {
                    (
                        "company_id = 1".to_string(),
                        format!("company_id = 1 AND owner_id = ANY ('{owners}'::bigint[])"),
                        "company_id = 1",
                    )
                } else {
                    (
                        "company_id + 0 = 1".to_string(),
                        format!("owner_id = ANY ('{owners}'::bigint[])"),
                        "",
                    )
                };
                let variants = [
                    Variant {
                        user: "postgres",
                        viewer: None,
                        sql: shape(query, &company),
                    },
                    Variant {
                        user: "postgres",
                        viewer: None,
                        sql: shape(query, &hand),
                    },
                    Variant {
                        user: "bench_app",
                        viewer: Some(id),
                        sql: shape(query, ours),
                    },
                ];
                let (ms, started) =
                    time_in_turn(port, &mut monitors, &settings, &variants, rounds, runs);
                println!(
                    "| {name} | {query}, {scope} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {started:.1} |",
                    ms[0],
                    ms[1],
                    ms[2],
                    ms[2] / ms[1],
                    ms[2] / ms[0]
                );
            }
        }
    }
    println!();
}
