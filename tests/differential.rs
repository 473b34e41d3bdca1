//! The differential test: on random organizations (seeded, reproducible), the
//! compiled engine and the plain-SQL reference (tests/reference.sql) agree on every
//! (viewer, record, action) — through the functions and through real queries on
//! protected tables as each viewer. The records live in three tables: `deals` (one
//! assignee), `contacts` (none) and `tickets` (participants, `bigint[]`), and carry
//! record shares of every kind (user, role, role and subordinates; read and
//! read_write; live, expired, not yet valid, ending exactly at `now()`, open-ended;
//! some left behind in another company by a transfer).
//!
//! Each org lives in one transaction that is rolled back; `PG_SHARING_ORGS` sets
//! how many (default 200), `PG_SHARING_SEED` the first seed. A third test runs
//! the comparison in a session that keeps its model while another session commits
//! random changes, patched into it (incremental updates).

mod common;
use common::*;
use postgres::Client;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::fmt::Write;

const LEVELS: [&str; 3] = ["none", "owned", "all"];
const TYPES: [&str; 3] = ["deals", "contacts", "tickets"];
/// The protected tables and their object types (one table per type): the
/// assignee argument of the decision for each, as an SQL expression.
const TABLES: [(&str, &str); 3] = [
    ("deals", "array_remove(ARRAY[assignee_id], NULL)"),
    ("contacts", "NULL::bigint[]"),
    ("tickets", "participants"),
];
const ACTIONS: [&str; 4] = ["create", "view", "edit", "delete"];

struct RandomOrg {
    sql: String,
    users: Vec<i64>,
    companies: Vec<i64>,
}

/// Build one random organization as SQL. Ids are explicit so the seed alone
/// reproduces it.
fn random_org(rng: &mut StdRng) -> RandomOrg {
    let mut sql = String::new();
    let n_companies = rng.gen_range(1..=3);
    let mut companies = Vec::new();
    let mut users = Vec::new();
    let mut next_role = 1000i64;
    let mut next_user = 1i64;
    let mut next_rule = 1i64;
    // Per company: its users and its roles (as SQL expressions), for record shares.
    let mut company_users: Vec<Vec<i64>> = Vec::new();
    let mut company_roles: Vec<Vec<String>> = Vec::new();
    for t in TYPES {
        let owd = ["private", "private", "public_read", "public_read_write"]
            .choose(rng)
            .unwrap();
        let gvh = rng.gen_bool(0.8);
        writeln!(sql, "UPDATE sharing.object_types SET org_wide_default = '{owd}', grant_via_hierarchy = {gvh} WHERE name = '{t}';").unwrap();
    }
    for ci in 0..n_companies {
        let company = 100 + ci as i64;
        companies.push(company);
        writeln!(
            sql,
            "INSERT INTO sharing.companies (id, name) VALUES ({company}, 'c{company}');"
        )
        .unwrap();
        // The standard three roles come with the company; find them by name.
        let std_roles: Vec<String> = ["Administrator", "Manager", "User"]
            .iter()
            .map(|n| {
                format!(
                    "(SELECT id FROM sharing.roles WHERE company_id = {company} AND name = '{n}')"
                )
            })
            .collect();
        // A random forest below Manager / User, depth up to 8.
        let n_roles = rng.gen_range(2..=10);
        let mut roles: Vec<(String, usize)> =
            std_roles.iter().cloned().zip([0usize, 1, 2]).collect();
        for _ in 0..n_roles {
            let id = next_role;
            next_role += 1;
            let (parent, depth) = if rng.gen_bool(0.15) {
                ("NULL".to_string(), 0)
            } else {
                let candidates: Vec<&(String, usize)> =
                    roles.iter().filter(|(_, d)| *d < 8).collect();
                let (p, d) = candidates.choose(rng).unwrap();
                (p.clone(), d + 1)
            };
            let based_on = if rng.gen_bool(0.4) {
                roles.choose(rng).unwrap().0.clone()
            } else {
                "NULL".into()
            };
            let is_admin = rng.gen_bool(0.05);
            writeln!(sql, "INSERT INTO sharing.roles (id, company_id, name, reports_to, based_on, is_admin) VALUES ({id}, {company}, 'r{id}', {parent}, {based_on}, {is_admin});").unwrap();
            for t in TYPES {
                if rng.gen_bool(0.3) {
                    continue;
                }
                let view = rng.gen_range(0..3);
                let edit = rng.gen_range(0..=view);
                let delete = rng.gen_range(0..=edit);
                let create = rng.gen_range(0..3);
                for (a, l) in [
                    ("view", view),
                    ("edit", edit),
                    ("delete", delete),
                    ("create", create),
                ] {
                    writeln!(sql, "INSERT INTO sharing.role_permissions (role_id, object_type, action, level) VALUES ({id}, '{t}', '{a}', '{}');", LEVELS[l]).unwrap();
                }
            }
            if rng.gen_bool(0.05) {
                writeln!(sql, "INSERT INTO sharing.role_privileges (role_id, privilege) VALUES ({id}, 'admin');").unwrap();
            }
            roles.push((id.to_string(), depth));
        }
        // Users with one to three roles; some pending/disabled, rare superusers.
        let mut these_users = Vec::new();
        for _ in 0..rng.gen_range(2..=6) {
            let id = next_user;
            next_user += 1;
            users.push(id);
            these_users.push(id);
            let status = [
                "active", "active", "active", "active", "pending", "disabled",
            ]
            .choose(rng)
            .unwrap();
            let su = rng.gen_bool(0.04);
            let sm = rng.gen_bool(0.08);
            writeln!(sql, "INSERT INTO sharing.users (id, company_id, name, status, is_superuser, is_super_company_member) VALUES ({id}, {company}, 'u{id}', '{status}', {su}, {sm});").unwrap();
            let how_many = rng.gen_range(1..=3);
            let picks: Vec<&(String, usize)> = roles.choose_multiple(rng, how_many).collect();
            for (r, _) in &picks {
                writeln!(sql, "INSERT INTO sharing.user_roles (user_id, role_id) VALUES ({id}, {r}) ON CONFLICT DO NOTHING;").unwrap();
            }
            if !picks.iter().any(|(r, _)| *r == std_roles[2]) {
                writeln!(
                    sql,
                    "DELETE FROM sharing.user_roles WHERE user_id = {id} AND role_id = {};",
                    std_roles[2]
                )
                .unwrap();
            }
        }
        // Sharing rules of both scopes and accesses, typed and for every type.
        for _ in 0..rng.gen_range(0..=3) {
            let t = if rng.gen_bool(0.3) {
                "NULL".to_string()
            } else {
                format!("'{}'", TYPES.choose(rng).unwrap())
            };
            let scope = |rng: &mut StdRng| {
                ["role", "role_and_subordinates"]
                    .choose(rng)
                    .unwrap()
                    .to_string()
            };
            let (ss, ts) = (scope(rng), scope(rng));
            let access = ["read", "read_write"].choose(rng).unwrap();
            let (s, tr) = (
                roles.choose(rng).unwrap().0.clone(),
                roles.choose(rng).unwrap().0.clone(),
            );
            writeln!(sql, "INSERT INTO sharing.sharing_rules (id, company_id, object_type, source_role, source_scope, target_role, target_scope, access) VALUES ({next_rule}, {company}, {t}, {s}, '{ss}', {tr}, '{ts}', '{access}');").unwrap();
            next_rule += 1;
        }
        company_users.push(these_users);
        company_roles.push(roles.into_iter().map(|(r, _)| r).collect());
    }
    // Agreements between ordered pairs of companies.
    let mut agreement = 1;
    for &g in &companies {
        for &e in &companies {
            if g != e && rng.gen_bool(0.6) {
                writeln!(sql, "INSERT INTO sharing.agreements (id, grantor_company, grantee_company) VALUES ({agreement}, {g}, {e});").unwrap();
                for t in TYPES {
                    for a in ACTIONS {
                        if rng.gen_bool(0.35) {
                            writeln!(sql, "INSERT INTO sharing.agreement_permissions (agreement_id, object_type, action) VALUES ({agreement}, '{t}', '{a}');").unwrap();
                        }
                    }
                }
                agreement += 1;
            }
        }
    }
    // Records: owners from any company, mostly their own company, some assignees,
    // some participants (none, NULL, a NULL among them, up to four users).
    let mut records: Vec<(&str, i64, Option<usize>)> = Vec::new();
    for t in TYPES {
        for id in 1..=rng.gen_range(12..=24) {
            let owner = if rng.gen_bool(0.05) {
                "NULL".to_string()
            } else {
                users.choose(rng).unwrap().to_string()
            };
            let company_ix = if rng.gen_bool(0.03) {
                None
            } else {
                Some(rng.gen_range(0..companies.len()))
            };
            records.push((t, id, company_ix));
            let company = company_ix.map_or("NULL".to_string(), |i| companies[i].to_string());
            if t == "tickets" {
                let participants = match rng.gen_range(0..10) {
                    0 => "NULL".to_string(),
                    1 => "'{}'".to_string(),
                    k => {
                        let mut p: Vec<String> = (0..rng.gen_range(1..=4))
                            .map(|_| users.choose(rng).unwrap().to_string())
                            .collect();
                        if k == 2 {
                            p.push("NULL".into());
                        }
                        format!("ARRAY[{}]::bigint[]", p.join(", "))
                    }
                };
                writeln!(sql, "INSERT INTO {t} (id, owner_id, company_id, participants, amount) VALUES ({id}, {owner}, {company}, {participants}, {id});").unwrap();
            } else if t == "deals" {
                let assignee = if rng.gen_bool(0.4) {
                    users.choose(rng).unwrap().to_string()
                } else {
                    "NULL".into()
                };
                writeln!(sql, "INSERT INTO {t} (id, owner_id, company_id, assignee_id, amount) VALUES ({id}, {owner}, {company}, {assignee}, {id});").unwrap();
            } else {
                writeln!(sql, "INSERT INTO {t} (id, owner_id, company_id, amount) VALUES ({id}, {owner}, {company}, {id});").unwrap();
            }
        }
    }
    // Record shares, inserted as the DBA (not judged; the company comes from the
    // record), to users and roles of the record's company.
    let periods = [
        // open-ended from now (the default valid_from)
        ("DEFAULT", "NULL"),
        ("now() - interval '3 days'", "NULL"),
        // live, with an end
        ("now() - interval '1 hour'", "now() + interval '1 hour'"),
        // expired
        ("now() - interval '2 days'", "now() - interval '1 day'"),
        // not yet valid
        ("now() + interval '1 day'", "NULL"),
        ("now() + interval '1 second'", "now() + interval '1 day'"),
        // ends exactly now: no longer live
        ("now() - interval '1 hour'", "now()"),
        // starts exactly now: live
        ("now()", "now() + interval '1 minute'"),
    ];
    let mut next_share = 1i64;
    let mut shared = Vec::new();
    for &(t, id, company_ix) in &records {
        let Some(ci) = company_ix else { continue };
        if !rng.gen_bool(0.45) {
            continue;
        }
        shared.push((t, id));
        for _ in 0..rng.gen_range(1..=3) {
            let (from, until) = *periods.choose(rng).unwrap();
            let access = ["read", "read_write"].choose(rng).unwrap();
            let (user, role, scope) = match rng.gen_range(0..3) {
                0 => (
                    company_users[ci].choose(rng).unwrap().to_string(),
                    "NULL".to_string(),
                    "NULL",
                ),
                k => (
                    "NULL".to_string(),
                    company_roles[ci].choose(rng).unwrap().clone(),
                    // a role share without a scope is for the role alone
                    if k == 1 {
                        ["'role'", "NULL"][rng.gen_range(0..2)]
                    } else {
                        "'role_and_subordinates'"
                    },
                ),
            };
            writeln!(sql, "INSERT INTO sharing.record_shares (id, object_type, record_id, user_id, role_id, scope, access, valid_from, valid_until) VALUES ({next_share}, '{t}', '{id}', {user}, {role}, {scope}, '{access}', {from}, {until});").unwrap();
            next_share += 1;
        }
    }
    // Shares survive a change of owner, and stop counting when the record leaves
    // the company they were made in.
    for &(t, id) in &shared {
        match rng.gen_range(0..12) {
            0 => writeln!(
                sql,
                "UPDATE {t} SET owner_id = {} WHERE id = {id};",
                users.choose(rng).unwrap()
            )
            .unwrap(),
            1 => writeln!(
                sql,
                "UPDATE {t} SET company_id = {} WHERE id = {id};",
                companies.choose(rng).unwrap()
            )
            .unwrap(),
            _ => {}
        }
    }
    RandomOrg {
        sql,
        users,
        companies,
    }
}

/// Tables, reference functions and a trusted application role, once per database.
fn prepare(db: &mut TestDb) -> (Client, String) {
    let app = db.login("app");
    let mut c = db.dba();
    c.batch_execute(include_str!("reference.sql")).unwrap();
    c.batch_execute(&format!(
        "CREATE TABLE deals (id bigint PRIMARY KEY, owner_id bigint, company_id bigint, assignee_id bigint, amount int);
         CREATE TABLE contacts (id bigint PRIMARY KEY, owner_id bigint, company_id bigint, amount int);
         CREATE TABLE tickets (id bigint PRIMARY KEY, owner_id bigint, company_id bigint, participants bigint[], amount int);
         SELECT sharing.protect('deals', 'deals', assignee_column => 'assignee_id');
         SELECT sharing.protect('contacts', 'contacts');
         SELECT sharing.protect('tickets', 'tickets', assignee_column => 'participants');
         CREATE INDEX ON deals (owner_id);
         CREATE INDEX ON contacts (owner_id);
         CREATE INDEX ON tickets (owner_id);
         GRANT SELECT, INSERT, UPDATE, DELETE ON deals, contacts, tickets TO {app};
         GRANT USAGE ON SCHEMA ref TO {app};
         INSERT INTO sharing.trusted_app_roles VALUES ('{app}');"
    ))
    .unwrap();
    (c, app)
}

/// Compare engine and reference through the functions; returns (decisions, mismatches).
fn compare_functions(c: &mut Client) -> (i64, Vec<String>) {
    let decisions: i64 = c
        .query_one(
            "SELECT (SELECT count(*) FROM sharing.users) * ((SELECT count(*) FROM deals) + (SELECT count(*) FROM contacts)) * 4
                  + (SELECT count(*) FROM sharing.users) ^ 2",
            &[],
        )
        .unwrap()
        .get::<_, f64>(0) as i64;
    let rows = c
        .query(
            "WITH recs AS (
               SELECT 'deals' AS t, id, owner_id, company_id, assignee_id FROM deals
               UNION ALL SELECT 'contacts', id, owner_id, company_id, NULL FROM contacts),
             checks AS (
               SELECT v.id AS viewer, r.t, r.id, a.action,
                      sharing.can_access(r.t, a.action, r.owner_id, r.company_id, v.id, r.assignee_id) AS engine,
                      ref.can_access(r.t, a.action, r.owner_id, r.company_id, v.id, r.assignee_id) AS reference
                 FROM sharing.users v CROSS JOIN recs r
                 CROSS JOIN (VALUES ('create'), ('view'), ('edit'), ('delete')) a (action))
             SELECT format('can_access(%s, %s, record %s, viewer %s): engine %s, reference %s', t, action, id, viewer, engine, reference)
               FROM checks WHERE engine IS DISTINCT FROM reference
             UNION ALL
             SELECT format('explain_access(%s, %s, record %s, viewer %s) disagrees with can_access', t, action, id, viewer)
               FROM checks c
              WHERE (SELECT (sharing.explain_access(c.t, c.action, r.owner_id, r.company_id, c.viewer, r.assignee_id)->>'allowed')::bool
                       FROM recs r WHERE r.t = c.t AND r.id = c.id) IS DISTINCT FROM c.engine
             UNION ALL
             SELECT format('can_see(owner %s, viewer %s): engine %s, reference %s', o.id, v.id,
                           sharing.can_see(o.id, v.id), ref.can_see(o.id, v.id))
               FROM sharing.users o CROSS JOIN sharing.users v
              WHERE sharing.can_see(o.id, v.id) IS DISTINCT FROM ref.can_see(o.id, v.id)
             UNION ALL
             SELECT format('reach(%s) differs from can_see', v.id)
               FROM sharing.users v
              WHERE ARRAY(SELECT sharing.reach(v.id) ORDER BY 1)
                    IS DISTINCT FROM ARRAY(SELECT o.id FROM sharing.users o WHERE ref.can_see(o.id, v.id) ORDER BY 1)
             LIMIT 10",
            &[],
        )
        .unwrap();
    let mut bad: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let (n, more) = compare_records(c);
    bad.extend(more);
    (decisions + n, bad)
}

/// The records' own decisions, shares and participants included: the record form
/// of `can_access` for every user against the reference, `explain_access`'s answer
/// against it, and `who_can_access` against the users for whom it is true.
fn compare_records(c: &mut Client) -> (i64, Vec<String>) {
    let recs = TABLES
        .iter()
        .map(|(t, a)| format!("SELECT '{t}'::text AS t, '{t}'::regclass AS tbl, id, owner_id, company_id, {a} AS people FROM {t}"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let decisions: i64 = c
        .query_one(
            &format!("SELECT (SELECT count(*) FROM sharing.users) * (SELECT count(*) FROM ({recs}) r) * 4"),
            &[],
        )
        .unwrap()
        .get(0);
    let rows = c
        .query(
            &format!(
                "WITH recs AS ({recs}),
                 checks AS (
                   SELECT v.id AS viewer, r.t, r.tbl, r.id, a.action,
                          sharing.can_access(r.tbl, r.id, a.action, v.id) AS engine,
                          ref.decide(r.t, a.action, r.owner_id, r.company_id, v.id, r.people, r.id::text) AS reference
                     FROM sharing.users v CROSS JOIN recs r
                     CROSS JOIN (VALUES ('create'), ('view'), ('edit'), ('delete')) a (action))
                 SELECT format('can_access(%s, record %s, %s, viewer %s): engine %s, reference %s', t, id, action, viewer, engine, reference)
                   FROM checks WHERE engine IS DISTINCT FROM reference
                 UNION ALL
                 SELECT format('explain_access(%s, record %s, %s, viewer %s) disagrees with can_access', t, id, action, viewer)
                   FROM checks c
                  WHERE (sharing.explain_access(c.tbl, c.id, c.action, c.viewer)->>'allowed')::bool IS DISTINCT FROM c.engine
                 UNION ALL
                 SELECT format('who_can_access(%s, record %s, %s): %s, can_access true for %s', t, id, action, who, allowed)
                   FROM (SELECT r.t, r.id, a.action,
                                ARRAY(SELECT w.user_id FROM sharing.who_can_access(r.tbl, r.id, a.action) w ORDER BY 1) AS who,
                                ARRAY(SELECT k.viewer FROM checks k WHERE k.t = r.t AND k.id = r.id AND k.action = a.action AND k.engine ORDER BY 1) AS allowed
                           FROM recs r CROSS JOIN (VALUES ('create'), ('view'), ('edit'), ('delete')) a (action)) x
                  WHERE who IS DISTINCT FROM allowed
                 LIMIT 10"
            ),
            &[],
        )
        .unwrap();
    // What the run covered: users admitted by a record share, and by being a
    // participant (or above one, or sharing a rule with one) of a ticket.
    let covered = c
        .query_one(
            "SELECT count(*) FILTER (WHERE w.reason = 'record_share'),
                    count(*) FILTER (WHERE t.participants IS NOT NULL AND w.reason IN ('assignee', 'hierarchy', 'sharing_rule')
                                       AND w.detail->>'via' IS DISTINCT FROM 'owner')
               FROM (SELECT 'deals'::regclass AS tbl, id, NULL::bigint[] AS participants FROM deals
                     UNION ALL SELECT 'contacts'::regclass, id, NULL FROM contacts
                     UNION ALL SELECT 'tickets'::regclass, id, participants FROM tickets) t
               CROSS JOIN (VALUES ('view'), ('edit')) a (action)
               CROSS JOIN LATERAL sharing.who_can_access(t.tbl, t.id, a.action) w",
            &[],
        )
        .unwrap();
    SHARE_GRANTS.fetch_add(
        covered.get::<_, i64>(0) as usize,
        std::sync::atomic::Ordering::Relaxed,
    );
    PARTICIPANT_GRANTS.fetch_add(
        covered.get::<_, i64>(1) as usize,
        std::sync::atomic::Ordering::Relaxed,
    );
    (decisions, rows.iter().map(|r| r.get(0)).collect())
}

/// Decisions (view, edit) allowed by a record share, over the whole run.
static SHARE_GRANTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// Decisions on tickets allowed through a participant, over the whole run.
static PARTICIPANT_GRANTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Compare what real queries on the protected tables return, as each viewer.
fn compare_queries(
    c: &mut Client,
    app: &str,
    users: &[i64],
    companies: &[i64],
    rng: &mut StdRng,
) -> (i64, Vec<String>) {
    let mut checked = 0;
    let mut bad = Vec::new();
    for &v in users {
        // Expected, computed by the DBA (RLS does not apply to superusers).
        // The reference on the record: its assignees (one, none or participants)
        // and its record shares.
        let decide = |t: &str, action: &str| {
            let people = TABLES.iter().find(|(n, _)| *n == t).unwrap().1;
            format!("ref.decide('{t}', '{action}', owner_id, company_id, {v}, {people}, id::text)")
        };
        let expect = |c: &mut Client, t: &str, action: &str, extra: &str| {
            ids(
                c,
                &format!(
                    "SELECT id FROM {t} WHERE {} {extra} ORDER BY id",
                    decide(t, action)
                ),
            )
        };
        let mut expected = Vec::new();
        for (t, _) in TABLES {
            let view = expect(c, t, "view", "");
            let edit_and_view = expect(c, t, "edit", &format!("AND {}", decide(t, "view")));
            let delete = expect(c, t, "delete", "");
            expected.push((t, view, edit_and_view, delete));
        }
        // Half the viewers read without sequential scans, so that the planner's
        // owner-index conditions (src/backend/planner.rs) are compared too.
        let no_seqscan = if rng.gen_bool(0.5) {
            "SET LOCAL enable_seqscan = off; SET LOCAL jit = off;"
        } else {
            ""
        };
        // And the planner's shapes for owner-level viewers are all compared: the
        // inlined filter alone (share 0) or with the owner-index hint (share 1.5).
        let share = ["0", "1.5", "0.05"][rng.gen_range(0..3)];
        c.batch_execute(&format!(
            "SAVEPOINT q; SET LOCAL ROLE {app}; SET LOCAL sharing.viewer = '{v}'; {no_seqscan}
             SET LOCAL sharing.owner_index_max_share = {share};"
        ))
        .unwrap();
        if !no_seqscan.is_empty() {
            count_plan(
                c,
                "SELECT id FROM contacts ORDER BY id",
                "_index_owners",
                &INDEX_PLANS,
            );
        }
        count_plan(c, "SELECT id FROM contacts", "CASE WHEN", &INLINE_PLANS);
        for (t, view, edit_and_view, delete) in expected {
            let got = ids(c, &format!("SELECT id FROM {t} ORDER BY id"));
            if got != view {
                bad.push(format!(
                    "SELECT {t} as viewer {v}: got {got:?}, expected {view:?}"
                ));
            }
            // UPDATE reads columns, so SELECT policies apply too: edit ∧ view.
            let updated = ids(
                c,
                &format!("UPDATE {t} SET amount = amount + 1 RETURNING id"),
            );
            let mut updated = updated;
            updated.sort();
            if updated != edit_and_view {
                bad.push(format!(
                    "UPDATE {t} as viewer {v}: got {updated:?}, expected {edit_and_view:?}"
                ));
            }
            c.batch_execute("SAVEPOINT d").unwrap();
            let deleted = c.execute(&format!("DELETE FROM {t}"), &[]).unwrap() as usize;
            if deleted != delete.len() {
                bad.push(format!(
                    "DELETE {t} as viewer {v}: deleted {deleted}, expected {}",
                    delete.len()
                ));
            }
            c.batch_execute("ROLLBACK TO SAVEPOINT d").unwrap();
            checked += 3;
        }
        // INSERT as viewer v: a random owner and company; accepted exactly when `create` allows.
        let owner = *users.choose(rng).unwrap();
        let company = *companies.choose(rng).unwrap();
        c.batch_execute("RESET ROLE; SAVEPOINT i").unwrap();
        let allowed: bool = c
            .query_one(
                &format!("SELECT ref.can_access('deals', 'create', {owner}, {company}, {v}, NULL)"),
                &[],
            )
            .unwrap()
            .get(0);
        c.batch_execute(&format!("SET LOCAL ROLE {app}")).unwrap();
        let res = c.batch_execute(&format!(
            "INSERT INTO deals (id, owner_id, company_id, amount) VALUES (100000, {owner}, {company}, 1)"
        ));
        match (&res, allowed) {
            (Ok(()), true) => {}
            (Err(e), false) if e.code().map(|c| c.code()) == Some("42501") => {}
            _ => bad.push(format!("INSERT owner {owner} company {company} as viewer {v}: {res:?}, expected allowed={allowed}")),
        }
        c.batch_execute(
            "ROLLBACK TO SAVEPOINT i; RESET ROLE; ROLLBACK TO SAVEPOINT q; RESET ROLE;",
        )
        .unwrap();
        checked += 1;
    }
    (checked, bad)
}

/// Protected reads planned with an owner-index condition, over the whole run.
static INDEX_PLANS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// Protected reads planned with an inlined constant filter.
static INLINE_PLANS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Count in `counter` when the plan of `query` contains `shape`.
fn count_plan(c: &mut Client, query: &str, shape: &str, counter: &std::sync::atomic::AtomicUsize) {
    let explained = c.query(&format!("EXPLAIN {query}"), &[]).unwrap();
    if explained
        .iter()
        .any(|r| r.get::<_, String>(0).contains(shape))
    {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Run `orgs` random orgs from seed `first` in a database of their own.
fn run_orgs(name: &str, first: u64, orgs: u64) {
    let mut db = TestDb::new(name);
    let (mut c, app) = prepare(&mut db);
    let (mut decisions, mut queries) = (0i64, 0i64);
    for seed in first..first + orgs {
        let mut rng = StdRng::seed_from_u64(seed);
        let org = random_org(&mut rng);
        c.batch_execute("BEGIN").unwrap();
        if let Err(e) = c.batch_execute(&org.sql) {
            panic!(
                "seed {seed}: the random org did not load: {e:?}\n{}",
                org.sql
            );
        }
        let (n, bad) = compare_functions(&mut c);
        assert!(
            bad.is_empty(),
            "seed {seed}: engine and reference disagree:\n{}\n\n{}",
            bad.join("\n"),
            org.sql
        );
        decisions += n;
        let (q, bad) = compare_queries(&mut c, &app, &org.users, &org.companies, &mut rng);
        assert!(
            bad.is_empty(),
            "seed {seed}: protected queries disagree:\n{}\n\n{}",
            bad.join("\n"),
            org.sql
        );
        queries += q;
        c.batch_execute("ROLLBACK").unwrap();
    }
    let index_plans = INDEX_PLANS.load(std::sync::atomic::Ordering::Relaxed);
    let inline_plans = INLINE_PLANS.load(std::sync::atomic::Ordering::Relaxed);
    let share_grants = SHARE_GRANTS.load(std::sync::atomic::Ordering::Relaxed);
    let participant_grants = PARTICIPANT_GRANTS.load(std::sync::atomic::Ordering::Relaxed);
    println!("differential seeds {first}..{}: {orgs} random orgs, {decisions} decisions through the functions, {queries} protected statements (so far {index_plans} reads planned with an owner-index condition, {inline_plans} with an inlined filter, {share_grants} decisions allowed by a record share, {participant_grants} through a participant), 0 disagreements", first + orgs - 1);
    // (A handful of orgs may by chance have none; the default run has many.)
    if orgs >= 20 {
        assert!(
            share_grants > 0,
            "no decision was allowed by a record share"
        );
        assert!(
            participant_grants > 0,
            "no decision was allowed through a participant"
        );
    }
    assert!(index_plans > 0, "no protected read used the owner index");
    assert!(inline_plans > 0, "no protected read used an inlined filter");
}

fn settings() -> (u64, u64) {
    let orgs = std::env::var("PG_SHARING_ORGS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let first = std::env::var("PG_SHARING_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    (first, orgs)
}

// Two halves, so that the test runner spreads them over both cores.
#[test]
fn engine_agrees_with_the_sql_reference_on_random_orgs_first_half() {
    let (first, orgs) = settings();
    run_orgs("diff_a", first, orgs / 2);
}

#[test]
fn engine_agrees_with_the_sql_reference_on_random_orgs_second_half() {
    let (first, orgs) = settings();
    run_orgs("diff_b", first + orgs / 2, orgs - orgs / 2);
}

/// (patches, rebuilds) of a session's backend so far.
fn model_counters(c: &mut Client) -> (i64, i64) {
    let row = c
        .query_one(
            "SELECT (s->>'patches')::int8, (s->>'rebuilds')::int8 FROM sharing._model_stats() s",
            &[],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

/// The differential test with incremental updates (docs/design.md, "Incremental
/// updates"): a session keeps its model while another commits random changes of
/// every patched kind to a random org; after each, the live session's patched
/// model agrees with the SQL reference, and it was patched, not rebuilt.
/// `PG_SHARING_PATCHED_ORGS` orgs (default 2), 8 changes each (each comparison is
/// the whole of `compare_functions`: seconds).
#[test]
fn patched_models_agree_with_the_sql_reference() {
    let orgs: u64 = std::env::var("PG_SHARING_PATCHED_ORGS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    for seed in 1000..1000 + orgs {
        let mut db = TestDb::new("diff_patch");
        let (mut other, _app) = prepare(&mut db);
        let mut rng = StdRng::seed_from_u64(seed);
        let org = random_org(&mut rng);
        other.batch_execute(&org.sql).unwrap();
        let mut live = db.dba();
        let (_, bad) = compare_functions(&mut live);
        assert!(bad.is_empty(), "seed {seed}: {}", bad.join("\n"));
        let (patches0, rebuilds0) = model_counters(&mut live);
        let mut next_user = 5000;
        let mut refused = 0;
        for step in 0..8 {
            let company = *org.companies.choose(&mut rng).unwrap();
            let roles = ids(
                &mut other,
                &format!("SELECT id FROM sharing.roles WHERE company_id = {company} ORDER BY id"),
            );
            let users = ids(
                &mut other,
                &format!("SELECT id FROM sharing.users WHERE company_id = {company} ORDER BY id"),
            );
            let role = *roles.choose(&mut rng).unwrap();
            let user = users.choose(&mut rng).copied().unwrap_or(1);
            let t = TYPES.choose(&mut rng).unwrap();
            let a = ACTIONS.choose(&mut rng).unwrap();
            let sql = match rng.gen_range(0..8) {
                0 => {
                    next_user += 1;
                    format!(
                        "INSERT INTO sharing.users (id, company_id, name) VALUES ({next_user}, {company}, 'n{next_user}');
                         INSERT INTO sharing.user_roles (user_id, role_id) VALUES ({next_user}, {role})"
                    )
                }
                1 => format!(
                    "UPDATE sharing.users SET status = '{}' WHERE id = {user}",
                    ["active", "pending", "disabled"].choose(&mut rng).unwrap()
                ),
                2 => format!(
                    "INSERT INTO sharing.user_roles (user_id, role_id) VALUES ({user}, {role}) ON CONFLICT DO NOTHING"
                ),
                3 => format!("DELETE FROM sharing.user_roles WHERE user_id = {user} AND role_id = {role}"),
                4 => format!(
                    "INSERT INTO sharing.role_permissions (role_id, object_type, action, level) VALUES ({role}, '{t}', '{a}', '{}')
                     ON CONFLICT (role_id, object_type, action) DO UPDATE SET level = EXCLUDED.level",
                    LEVELS.choose(&mut rng).unwrap()
                ),
                5 => format!(
                    "INSERT INTO sharing.sharing_rules (company_id, object_type, source_role, source_scope, target_role, target_scope, access)
                     VALUES ({company}, {}, {role}, 'role_and_subordinates', {}, 'role', 'read_write')",
                    if rng.gen_bool(0.5) { format!("'{t}'") } else { "NULL".into() },
                    roles.choose(&mut rng).unwrap()
                ),
                6 => format!("DELETE FROM sharing.sharing_rules WHERE company_id = {company} AND id = (SELECT max(id) FROM sharing.sharing_rules)"),
                _ => match org.companies.iter().find(|c| **c != company) {
                    Some(grantee) => format!(
                        "INSERT INTO sharing.agreements (grantor_company, grantee_company) VALUES ({company}, {grantee}) ON CONFLICT DO NOTHING;
                         INSERT INTO sharing.agreement_permissions (agreement_id, object_type, action)
                         SELECT id, '{t}', '{a}' FROM sharing.agreements WHERE grantor_company = {company} ON CONFLICT DO NOTHING"
                    ),
                    None => format!("DELETE FROM sharing.role_permissions WHERE role_id = {role} AND object_type = '{t}'"),
                },
            };
            if let Err(e) = other.batch_execute(&sql) {
                // The configuration's invariants refuse some random changes (a level
                // above the action's view level): nothing changed, nothing to patch.
                let code = e.code().map(|c| c.code().to_string()).unwrap_or_default();
                assert!(
                    code.starts_with("23"),
                    "seed {seed} step {step}: {sql}: {e:?}"
                );
                refused += 1;
                continue;
            }
            let (_, bad) = compare_functions(&mut live);
            assert!(
                bad.is_empty(),
                "seed {seed} step {step} after {sql}: engine and reference disagree:\n{}\n\n{}",
                bad.join("\n"),
                org.sql
            );
        }
        let (patches, rebuilds) = model_counters(&mut live);
        assert_eq!(rebuilds, rebuilds0, "seed {seed}: every change was patched");
        assert!(
            patches - patches0 >= 8 - refused - 2,
            "seed {seed}: {patches} patches, {refused} changes refused"
        );
    }
}
