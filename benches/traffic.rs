//! Application traffic (issue 16, docs/benchmarks.md "Application traffic"): 8
//! clients for a fixed time, each transaction `BEGIN`; the viewer set for the
//! transaction to a random user; one statement; `COMMIT` — four round trips, as an
//! application behind a pooler does — through the simple and the extended protocol,
//! with `max_parallel_workers_per_gather = 0` in every connection.
//!
//! Variants: (a) the limit — the unprotected `deals` read by `bench_hand` (BYPASSRLS)
//! with the viewer's owners passed in (`owner_id = ANY($1)`); the SQL policies 3a
//! (`deals_a`) and 3b (`deals_b`); pg_sharing (`deals`); the policies a user writes
//! with `can_see` (`deals_cs`) and `can_access` (`deals_ca`), bench/user_policies.sql.
//!
//! Run by `bash scripts/bench.sh` on the `bench` database after benches/policies.rs
//! (bench/traffic.sql first). Environment: BENCH_PORT, BENCH_TRAFFIC_SECONDS (default
//! 10), BENCH_TRAFFIC_WARMUP (default 2), BENCH_TRAFFIC_VIEWERS (default 2000),
//! BENCH_TRAFFIC_CLIENTS (default 8), BENCH_TRAFFIC_SEED (default 16).

use postgres::{Client, NoTls, SimpleQueryMessage, Statement};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn connect(user: &str) -> Client {
    let port = std::env::var("BENCH_PORT").unwrap_or_else(|_| "54331".into());
    Client::connect(
        &format!("host=127.0.0.1 port={port} user={user} dbname=bench"),
        NoTls,
    )
    .expect("connect to the benchmark cluster (run scripts/bench.sh)")
}

/// A viewer of the sample: its id, the owners it reaches (`sharing.reach`, as the
/// DBA) and one deal it sees (the smallest id of its owners' deals).
struct Viewer {
    id: i64,
    owners: Vec<i64>,
    /// `'{…}'::bigint[]`, for the simple protocol.
    owners_literal: String,
    deal: i64,
}

#[derive(Clone, Copy, PartialEq)]
enum Query {
    Point,
    List,
    Update,
    Report,
}

impl Query {
    const ALL: [Query; 4] = [Query::Point, Query::List, Query::Update, Query::Report];

    fn name(self) -> &'static str {
        match self {
            Query::Point => "point read",
            Query::List => "list view",
            Query::Update => "update one row",
            Query::Report => "report",
        }
    }

    /// The statement on `table`; `hand` adds the owners filter of variant (a). In the
    /// extended protocol `$1` is the deal id (point read, update) and the owners
    /// array the last parameter; in the simple one, `{id}` and `{owners}` are literals.
    fn sql(self, table: &str, hand: bool, extended: bool) -> String {
        let (id, owners) = if extended {
            let owners = if matches!(self, Query::Point | Query::Update) {
                "$2"
            } else {
                "$1"
            };
            ("$1", owners)
        } else {
            ("{id}", "{owners}")
        };
        let filter = |glue: &str| {
            if hand {
                format!(" {glue} owner_id = ANY ({owners})")
            } else {
                String::new()
            }
        };
        match self {
            Query::Point => format!("SELECT * FROM {table} WHERE id = {id}{}", filter("AND")),
            Query::List => format!(
                "SELECT id, amount, created_at FROM {table}{} ORDER BY created_at DESC LIMIT 50",
                filter("WHERE")
            ),
            Query::Update => format!(
                "UPDATE {table} SET amount = amount + 1 WHERE id = {id}{}",
                filter("AND")
            ),
            Query::Report => format!(
                "SELECT count(*), sum(amount) FROM {table}{}",
                filter("WHERE")
            ),
        }
    }

    /// Must the statement find the viewer's deal (a row read or updated)?
    fn finds_one(self) -> bool {
        matches!(self, Query::Point | Query::Update)
    }
}

#[derive(Clone, Copy)]
struct Variant {
    name: &'static str,
    role: &'static str,
    table: &'static str,
    hand: bool,
    /// Count re-planning (`sharing._model_stats()`) in this variant's connections.
    stats: bool,
}

const VARIANTS: [Variant; 6] = [
    Variant {
        name: "(a) limit: owners passed in",
        role: "bench_hand",
        table: "deals",
        hand: true,
        stats: false,
    },
    Variant {
        name: "3a SQL policy (set)",
        role: "bench_app",
        table: "deals_a",
        hand: false,
        stats: false,
    },
    Variant {
        name: "3b SQL policy (array)",
        role: "bench_app",
        table: "deals_b",
        hand: false,
        stats: false,
    },
    Variant {
        name: "pg_sharing",
        role: "bench_app",
        table: "deals",
        hand: false,
        stats: true,
    },
    Variant {
        name: "user policy: can_see",
        role: "bench_app",
        table: "deals_cs",
        hand: false,
        stats: true,
    },
    Variant {
        name: "user policy: can_access",
        role: "bench_app",
        table: "deals_ca",
        hand: false,
        stats: true,
    },
];
const LIMIT: usize = 0;
const SQL_A: usize = 1;
const SQL_B: usize = 2;
const COMPARED: [usize; 3] = [3, 4, 5];

/// One client connection, ready for one (variant, query, protocol).
struct Session {
    client: Client,
    variant: Variant,
    query: Query,
    /// Extended protocol: BEGIN, the viewer's set_config, the statement, COMMIT.
    prepared: Option<[Statement; 4]>,
    template: String,
}

impl Session {
    fn open(variant: Variant, query: Query, extended: bool) -> Session {
        let mut client = connect(variant.role);
        client
            .batch_execute("SET max_parallel_workers_per_gather = 0")
            .unwrap();
        let template = query.sql(variant.table, variant.hand, extended);
        let prepared = extended.then(|| {
            [
                client.prepare("BEGIN").unwrap(),
                client
                    .prepare("SELECT set_config('sharing.viewer', $1, true)")
                    .unwrap(),
                client
                    .prepare(&template)
                    .unwrap_or_else(|e| panic!("{template}: {e}")),
                client.prepare("COMMIT").unwrap(),
            ]
        });
        Session {
            client,
            variant,
            query,
            prepared,
            template,
        }
    }

    /// One transaction as `v`; the rows the statement returned or updated.
    fn transaction(&mut self, v: &Viewer) -> u64 {
        if let Some([begin, set, stmt, commit]) = &self.prepared {
            let c = &mut self.client;
            c.execute(begin, &[]).unwrap();
            c.execute(set, &[&v.id.to_string()]).unwrap();
            let n = match (self.query, self.variant.hand) {
                (Query::Point | Query::Update, false) => c.execute(stmt, &[&v.deal]),
                (Query::Point | Query::Update, true) => c.execute(stmt, &[&v.deal, &v.owners]),
                (_, false) => c.execute(stmt, &[]),
                (_, true) => c.execute(stmt, &[&v.owners]),
            }
            .unwrap_or_else(|e| panic!("{}: {e}", self.template));
            c.execute(commit, &[]).unwrap();
            n
        } else {
            let sql = self
                .template
                .replace("{id}", &v.deal.to_string())
                .replace("{owners}", &v.owners_literal);
            let c = &mut self.client;
            c.batch_execute("BEGIN").unwrap();
            c.batch_execute(&format!("SET LOCAL sharing.viewer = '{}'", v.id))
                .unwrap();
            let mut n = 0;
            for m in c
                .simple_query(&sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
            {
                match m {
                    SimpleQueryMessage::Row(_) => n += 1,
                    SimpleQueryMessage::CommandComplete(k) if self.query == Query::Update => n = k,
                    _ => {}
                }
            }
            c.batch_execute("COMMIT").unwrap();
            n
        }
    }

    /// (plans_shaped, plan_resets) of this backend, for variants that count them.
    fn plan_counts(&mut self) -> (u64, u64) {
        if !self.variant.stats {
            return (0, 0);
        }
        let text: String = self
            .client
            .query_one("SELECT sharing._model_stats()::text", &[])
            .unwrap()
            .get(0);
        let stats: serde_json::Value = serde_json::from_str(&text).unwrap();
        (
            stats["plans_shaped"].as_u64().unwrap(),
            stats["plan_resets"].as_u64().unwrap(),
        )
    }
}

/// What the clients of one case did in the timed period.
struct Outcome {
    tps: f64,
    p50_ms: f64,
    p99_ms: f64,
    transactions: u64,
    /// Point reads and updates that found no row (must be 0: each viewer's deal is
    /// visible to it).
    misses: u64,
    shaped_per_tx: f64,
    resets_per_tx: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Plan {
    clients: usize,
    warmup: Duration,
    seconds: Duration,
    seed: u64,
}

fn run_case(
    plan: &Plan,
    viewers: &Arc<Vec<Viewer>>,
    variant: Variant,
    query: Query,
    extended: bool,
    case: u64,
) -> Outcome {
    let barrier = Arc::new(Barrier::new(plan.clients));
    let threads: Vec<_> = (0..plan.clients)
        .map(|t| {
            let barrier = Arc::clone(&barrier);
            let viewers = Arc::clone(viewers);
            let (warmup, seconds) = (plan.warmup, plan.seconds);
            let mut rng = StdRng::seed_from_u64(plan.seed ^ (case << 16) ^ t as u64);
            std::thread::spawn(move || {
                let mut s = Session::open(variant, query, extended);
                barrier.wait();
                let until = Instant::now() + warmup;
                while Instant::now() < until {
                    s.transaction(&viewers[rng.gen_range(0..viewers.len())]);
                }
                let before = s.plan_counts();
                barrier.wait();
                let start = Instant::now();
                let until = start + seconds;
                let mut latencies = Vec::new();
                let mut misses = 0u64;
                while Instant::now() < until {
                    let v = &viewers[rng.gen_range(0..viewers.len())];
                    let t = Instant::now();
                    let n = s.transaction(v);
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    if query.finds_one() && n == 0 {
                        misses += 1;
                    }
                }
                let elapsed = start.elapsed();
                let after = s.plan_counts();
                (
                    latencies,
                    misses,
                    elapsed,
                    after.0 - before.0,
                    after.1 - before.1,
                )
            })
        })
        .collect();
    let mut all = Vec::new();
    let (mut misses, mut shaped, mut resets) = (0, 0, 0);
    let mut elapsed = Duration::ZERO;
    for t in threads {
        let (l, m, e, s, r) = t.join().expect("a client thread failed");
        all.extend(l);
        misses += m;
        shaped += s;
        resets += r;
        elapsed = elapsed.max(e);
    }
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = all.len() as u64;
    Outcome {
        tps: n as f64 / elapsed.as_secs_f64(),
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
        transactions: n,
        misses,
        shaped_per_tx: shaped as f64 / n.max(1) as f64,
        resets_per_tx: resets as f64 / n.max(1) as f64,
    }
}

/// The seeded sample of viewers, with their owners and a visible deal (as the DBA,
/// before any timing). Users whose owners have no deal are left out (said so).
fn sample_viewers(dba: &mut Client, k: usize, seed: u64) -> Vec<Viewer> {
    let mut rng = StdRng::seed_from_u64(seed);
    let ids: Vec<i64> = rand::seq::index::sample(&mut rng, 20_000, k.min(20_000))
        .into_iter()
        .map(|i| i as i64 + 1)
        .collect();
    let rows = dba
        .query(
            "SELECT v, r.owners, (SELECT min(d.id) FROM deals d WHERE d.owner_id = ANY (r.owners))
               FROM unnest($1::bigint[]) WITH ORDINALITY AS s (v, n),
                    LATERAL (SELECT array_agg(o ORDER BY o) AS owners FROM sharing.reach(s.v) o) r
              ORDER BY s.n",
            &[&ids],
        )
        .unwrap();
    let mut out = Vec::new();
    for r in rows {
        let (id, owners, deal): (i64, Vec<i64>, Option<i64>) = (r.get(0), r.get(1), r.get(2));
        let Some(deal) = deal else { continue };
        let owners_literal = format!(
            "'{{{}}}'::bigint[]",
            owners
                .iter()
                .map(|o| o.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        out.push(Viewer {
            id,
            owners,
            owners_literal,
            deal,
        });
    }
    if out.len() < ids.len() {
        println!(
            "({} sampled users reach no deal and were left out.)\n",
            ids.len() - out.len()
        );
    }
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// On one connection: the point read right after the viewer changed, and the same
/// statement again in the same transaction (medians of `n`, milliseconds).
fn viewer_change(
    viewers: &[Viewer],
    variant: Variant,
    extended: bool,
    n: usize,
    seed: u64,
) -> (f64, f64) {
    let mut s = Session::open(variant, Query::Point, extended);
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for i in 0..n + 20 {
        let v = &viewers[rng.gen_range(0..viewers.len())];
        let sql = s
            .template
            .replace("{id}", &v.deal.to_string())
            .replace("{owners}", &v.owners_literal);
        let c = &mut s.client;
        c.batch_execute("BEGIN").unwrap();
        match &s.prepared {
            Some([_, set, _, _]) => {
                c.execute(set, &[&v.id.to_string()]).unwrap();
            }
            None => c
                .batch_execute(&format!("SET LOCAL sharing.viewer = '{}'", v.id))
                .unwrap(),
        }
        let once = |c: &mut Client| {
            let t = Instant::now();
            let found = match &s.prepared {
                Some([_, _, stmt, _]) if variant.hand => c.execute(stmt, &[&v.deal, &v.owners]),
                Some([_, _, stmt, _]) => c.execute(stmt, &[&v.deal]),
                None => c.simple_query(&sql).map(|m| {
                    m.iter()
                        .filter(|m| matches!(m, SimpleQueryMessage::Row(_)))
                        .count() as u64
                }),
            }
            .unwrap();
            assert!(
                found > 0,
                "{}: the viewer's deal is not visible",
                variant.name
            );
            t.elapsed().as_secs_f64() * 1000.0
        };
        let a = once(c);
        let b = once(c);
        c.batch_execute("COMMIT").unwrap();
        // The first transactions warm the connection up (model, plans).
        if i >= 20 {
            first.push(a);
            second.push(b);
        }
    }
    (median(first), median(second))
}

fn main() {
    let plan = Plan {
        clients: env_or("BENCH_TRAFFIC_CLIENTS", 8),
        warmup: Duration::from_secs_f64(env_or("BENCH_TRAFFIC_WARMUP", 2.0)),
        seconds: Duration::from_secs_f64(env_or("BENCH_TRAFFIC_SECONDS", 10.0)),
        seed: env_or("BENCH_TRAFFIC_SEED", 16),
    };
    let k: usize = env_or("BENCH_TRAFFIC_VIEWERS", 2000);
    let mut dba = connect("postgres");
    let rows: i64 = dba
        .query_one("SELECT count(*) FROM deals", &[])
        .unwrap()
        .get(0);
    let users: i64 = dba
        .query_one("SELECT count(*) FROM sharing.users", &[])
        .unwrap()
        .get(0);
    let viewers = Arc::new(sample_viewers(&mut dba, k, plan.seed));
    let mean_owners =
        viewers.iter().map(|v| v.owners.len()).sum::<usize>() as f64 / viewers.len() as f64;
    let max_owners = viewers.iter().map(|v| v.owners.len()).max().unwrap_or(0);
    println!(
        "## Application traffic: {rows} deals, {users} users; {} clients, {:.0} s per case after {:.0} s of warm-up; {} viewers sampled uniformly from users 1..20000 (seed {}; owners reached: mean {mean_owners:.1}, max {max_owners}); max_parallel_workers_per_gather = 0 in every connection\n",
        plan.clients,
        plan.seconds.as_secs_f64(),
        plan.warmup.as_secs_f64(),
        viewers.len(),
        plan.seed
    );
    println!("Each transaction: `BEGIN`; the viewer for the transaction (`SET LOCAL sharing.viewer` in the simple protocol, `set_config('sharing.viewer', $1, true)` prepared in the extended one); one statement; `COMMIT`. Latency is the whole transaction's.\n");

    // results[query][protocol][variant]
    let mut results: Vec<Vec<Vec<Outcome>>> = Vec::new();
    let mut case = 0u64;
    for query in Query::ALL {
        let mut per_protocol = Vec::new();
        for extended in [false, true] {
            let mut per_variant = Vec::new();
            for variant in VARIANTS {
                case += 1;
                let o = run_case(&plan, &viewers, variant, query, extended, case);
                eprintln!(
                    "  {} / {} / {}: {:.0} tps, p50 {:.2} ms, p99 {:.2} ms ({} transactions)",
                    query.name(),
                    protocol(extended),
                    variant.name,
                    o.tps,
                    o.p50_ms,
                    o.p99_ms,
                    o.transactions
                );
                per_variant.push(o);
            }
            per_protocol.push(per_variant);
        }
        results.push(per_protocol);
    }

    let header = || {
        let mut h = "| query | protocol |".to_string();
        for v in VARIANTS {
            h.push_str(&format!(" {} |", v.name));
        }
        println!("{h}");
        println!("|---|---|{}", "---|".repeat(VARIANTS.len()));
    };
    println!("### Throughput, transactions per second\n");
    header();
    each(&results, |q, p, row| {
        let cells: Vec<String> = row.iter().map(|o| format!("{:.0}", o.tps)).collect();
        println!("| {q} | {p} | {} |", cells.join(" | "));
    });
    println!("\n### Latency of the whole transaction, p50 / p99, milliseconds\n");
    header();
    each(&results, |q, p, row| {
        let cells: Vec<String> = row
            .iter()
            .map(|o| format!("{:.2} / {:.2}", o.p50_ms, o.p99_ms))
            .collect();
        println!("| {q} | {p} | {} |", cells.join(" | "));
    });

    println!("\n### Ratios (goals: tps ÷ (a) ≥ 0.8; tps ÷ 3a > 1 and tps ÷ 3b > 1; p99 ÷ (a)'s p99 ≤ 2)\n");
    println!(
        "| query | protocol | variant | tps ÷ (a) | tps ÷ 3a | tps ÷ 3b | p99 ÷ (a) p99 | goals |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut missed = Vec::new();
    each(&results, |q, p, row| {
        for i in COMPARED {
            let o = &row[i];
            let to_a = o.tps / row[LIMIT].tps;
            let to_3a = o.tps / row[SQL_A].tps;
            let to_3b = o.tps / row[SQL_B].tps;
            let p99 = o.p99_ms / row[LIMIT].p99_ms;
            let mut fails = Vec::new();
            if to_a < 0.8 {
                fails.push(format!("tps {to_a:.2}× (a)"));
            }
            if to_3a <= 1.0 {
                fails.push(format!("tps {to_3a:.2}× 3a"));
            }
            if to_3b <= 1.0 {
                fails.push(format!("tps {to_3b:.2}× 3b"));
            }
            if p99 > 2.0 {
                fails.push(format!("p99 {p99:.2}× (a)"));
            }
            let verdict = if fails.is_empty() {
                "met".to_string()
            } else {
                format!("**missed**: {}", fails.join(", "))
            };
            if i == COMPARED[0] && !fails.is_empty() {
                missed.push(format!("{q}, {p}: {}", fails.join(", ")));
            }
            println!(
                "| {q} | {p} | {} | {to_a:.2} | {to_3a:.2} | {to_3b:.2} | {p99:.2} | {verdict} |",
                VARIANTS[i].name
            );
        }
    });

    println!("\n### Planning: per transaction, in the timed period (`sharing._model_stats()` of each client's backend, before and after)\n");
    println!("`plans_shaped`: calls the planner support shaped for a viewer; `plan_resets`: resets of the backend's cached plans (a viewer change after a shaped plan).\n");
    println!("| query | protocol | variant | plans shaped per transaction | plan-cache resets per transaction |");
    println!("|---|---|---|---|---|");
    each(&results, |q, p, row| {
        for i in COMPARED {
            println!(
                "| {q} | {p} | {} | {:.2} | {:.2} |",
                VARIANTS[i].name, row[i].shaped_per_tx, row[i].resets_per_tx
            );
        }
    });

    let n = 200;
    println!("\n### The point read right after a viewer change, and again in the same transaction (one connection, median of {n}), milliseconds\n");
    println!("| variant | protocol | first statement after `SET LOCAL` / `set_config` | the same statement again | first ÷ second |");
    println!("|---|---|---|---|---|");
    for i in [LIMIT, COMPARED[0], COMPARED[1], COMPARED[2]] {
        for extended in [false, true] {
            let (first, second) = viewer_change(&viewers, VARIANTS[i], extended, n, plan.seed);
            println!(
                "| {} | {} | {first:.3} | {second:.3} | {:.2} |",
                VARIANTS[i].name,
                protocol(extended),
                first / second
            );
        }
    }

    let misses: u64 = results.iter().flatten().flatten().map(|o| o.misses).sum();
    if misses > 0 {
        println!("\n**{misses} point reads or updates found no row** (each viewer's deal is visible to it: a variant is wrong).");
    }
    println!("\n### Summary: pg_sharing against the goals\n");
    if missed.is_empty() {
        println!("- every query and protocol: met");
    }
    for m in missed {
        println!("- {m}");
    }
}

fn protocol(extended: bool) -> &'static str {
    if extended {
        "extended (prepared)"
    } else {
        "simple"
    }
}

/// Calls `f(query name, protocol name, outcomes of every variant)` in table order.
fn each(results: &[Vec<Vec<Outcome>>], mut f: impl FnMut(&str, &str, &[Outcome])) {
    for (qi, per_protocol) in results.iter().enumerate() {
        for (pi, row) in per_protocol.iter().enumerate() {
            f(Query::ALL[qi].name(), protocol(pi == 1), row);
        }
    }
}
