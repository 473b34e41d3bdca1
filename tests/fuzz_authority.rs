//! The escalation fuzzer ("no escalation by effect", docs/security.md): random
//! organizations, delegated administrators mapped to real logins, and random
//! configuration statements run as those logins on every path (plain DML, multi-row
//! statements, writable CTEs, the extension's functions, transactions of several statements).
//! After every accepted change an oracle independent of the engine — the plain-SQL
//! reference of tests/reference.sql, evaluated by the DBA over every user, action and
//! `deals` record — checks the contract:
//!
//! 1. every (user, action, record) newly allowed is the user's own record, a record
//!    of a user the change created, or one the acting viewer could act on before;
//! 2. every privilege a user newly holds was held by the acting viewer before
//!    (`admin`, which brings every system privilege, only if the actor was admin);
//! 3. the acting viewer's own reach over other people's records never grows.
//!
//! A refused statement (`42501`, or an invariant's `23503`/`23514`/`22023`/`23505`)
//! must leave every sharing table as it was.
//!
//! Bounded in time (`PG_SHARING_FUZZ_SECONDS`, default 60) and seeded
//! (`PG_SHARING_FUZZ_SEED`, default 1): organization `k` of a run is built from
//! seed `seed * 1_000_003 + k`, so a reported violation is reproduced by the seed,
//! the organization index and the printed statements.

mod common;
use common::*;
use postgres::Client;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write;
use std::time::{Duration, Instant};

const ACTIONS: [&str; 4] = ["create", "view", "edit", "delete"];
const LEVELS: [&str; 3] = ["none", "owned", "all"];
const SYSTEM_PRIVILEGES: [&str; 10] = [
    "admin",
    "manage_users",
    "manage_roles",
    "manage_sharing",
    "billing",
    "reports",
    "export",
    "api_tokens",
    "webhooks",
    "view_activities",
];
/// Privileges the fuzzer grants (as the DBA) and tries to grant (as actors).
const GRANTABLE: [&str; 9] = [
    "manage_users",
    "manage_roles",
    "manage_sharing",
    "admin",
    "export",
    "reports",
    "billing",
    "app.crm",
    "app.audit",
];
/// SQLSTATEs of a refusal: the no-escalation checks and the invariants.
const REFUSALS: [&str; 5] = ["42501", "23503", "23514", "22023", "23505"];
/// A marker in a privilege set: an active superuser user holds every privilege.
const SUPERUSER: &str = "*superuser";

/// A `deals` record as the decisions see it (no assignee): (owner, company).
type Record = (Option<i64>, Option<i64>);

/// Everything the oracle compares, computed by the DBA from the reference.
#[derive(Default)]
struct Snapshot {
    /// (user, record, action index) allowed by `ref.can_access`.
    access: HashSet<(i64, Record, usize)>,
    /// Active users' privileges (system privileges expanded for admins).
    privileges: HashMap<i64, BTreeSet<String>>,
    /// Every user id, whatever the status.
    users: HashSet<i64>,
}

/// The oracle's helpers, written from the rule (not from the engine): a user's
/// privileges are the union over their roles and the roles' `based_on` ancestors; an
/// admin role (`is_admin`, or the `admin` privilege) gives every system privilege;
/// only active users hold any.
const ORACLE_SQL: &str = "
CREATE SCHEMA fuzz;
CREATE FUNCTION fuzz.privileges() RETURNS TABLE (user_id bigint, privilege text) LANGUAGE sql STABLE AS $$
  WITH RECURSIVE chain(user_id, role_id) AS (
    SELECT m.user_id, m.role_id
      FROM sharing.user_roles m JOIN sharing.users u ON u.id = m.user_id
     WHERE u.status = 'active'
    UNION
    SELECT c.user_id, r.based_on FROM chain c JOIN sharing.roles r ON r.id = c.role_id
     WHERE r.based_on IS NOT NULL)
  SELECT c.user_id, p.privilege FROM chain c JOIN sharing.role_privileges p ON p.role_id = c.role_id
  UNION
  SELECT c.user_id, 'admin' FROM chain c JOIN sharing.roles r ON r.id = c.role_id WHERE r.is_admin
  UNION
  SELECT u.id, '*superuser' FROM sharing.users u WHERE u.status = 'active' AND u.is_superuser $$;
";

fn snapshot(dba: &mut Client) -> Snapshot {
    let mut s = Snapshot::default();
    // Records with the same owner and company are decided alike: each pair once.
    // Inactive users are left out (the reference allows them nothing), so that an
    // activation shows as a gain.
    for row in dba
        .query(
            "WITH recs AS (SELECT DISTINCT owner_id, company_id FROM public.deals)
             SELECT v.id, r.owner_id, r.company_id, a.i
               FROM sharing.users v CROSS JOIN recs r
                    CROSS JOIN (VALUES (0, 'create'), (1, 'view'), (2, 'edit'), (3, 'delete')) a (i, action)
              WHERE v.status = 'active'
                AND ref.can_access('deals', a.action, r.owner_id, r.company_id, v.id, NULL)",
            &[],
        )
        .expect("the reference matrix")
    {
        let i: i32 = row.get(3);
        s.access
            .insert((row.get(0), (row.get(1), row.get(2)), i as usize));
    }
    for row in dba
        .query("SELECT user_id, privilege FROM fuzz.privileges()", &[])
        .expect("the privileges")
    {
        s.privileges
            .entry(row.get(0))
            .or_default()
            .insert(row.get(1));
    }
    for set in s.privileges.values_mut() {
        if set.contains("admin") || set.contains(SUPERUSER) {
            set.extend(SYSTEM_PRIVILEGES.iter().map(|p| p.to_string()));
        }
    }
    s.users = ids(dba, "SELECT id FROM sharing.users")
        .into_iter()
        .collect();
    s
}

fn holds(set: Option<&BTreeSet<String>>, privilege: &str) -> bool {
    set.is_some_and(|s| s.contains(privilege) || s.contains(SUPERUSER))
}

/// What the contract forbids in the change from `before` to `after` made by `actor`.
fn violations(before: &Snapshot, after: &Snapshot, actor: i64) -> Vec<String> {
    // Users created by the change: created earlier in the same statement or
    // transaction. A user deleted and created again with the same id within the
    // change is not new — their records existed before, and handing those out is
    // exactly what the rule forbids — so "created" is "an id that did not exist
    // before" (the generator never reuses fresh ids).
    let created: HashSet<i64> = after.users.difference(&before.users).copied().collect();
    let mut out = Vec::new();
    for &(u, (owner, company), a) in &after.access {
        if before.access.contains(&(u, (owner, company), a)) {
            continue;
        }
        // A user's own records do not count. A record with no owner is nobody's own
        // and never a created user's: it counts like any other.
        if owner == Some(u) || owner.is_some_and(|o| created.contains(&o)) {
            continue;
        }
        let action = ACTIONS[a];
        if u == actor {
            out.push(format!(
                "(3) the actor {actor} gained {action} on the records of owner {owner:?} in company {company:?}"
            ));
        } else if !before.access.contains(&(actor, (owner, company), a)) {
            out.push(format!(
                "(1) user {u} gained {action} on the records of owner {owner:?} in company {company:?}, \
                 which the actor {actor} could not {action} before"
            ));
        }
    }
    let actor_before = before.privileges.get(&actor);
    for (u, privileges) in &after.privileges {
        for p in privileges {
            if !holds(before.privileges.get(u), p) && !holds(actor_before, p) {
                out.push(format!(
                    "(2) user {u} gained the privilege {p:?}, which the actor {actor} did not hold (actor held {actor_before:?})"
                ));
            }
        }
    }
    out.sort();
    out
}

/// The configuration as the generator sees it (read by the DBA before each statement).
struct World {
    companies: Vec<i64>,
    /// (id, company, status)
    users: Vec<(i64, i64, String)>,
    /// (id, company)
    roles: Vec<(i64, i64)>,
    /// (id, user, role)
    memberships: Vec<(i64, i64, i64)>,
    /// (id, company)
    rules: Vec<(i64, i64)>,
    /// (id, grantor, grantee)
    agreements: Vec<(i64, i64, i64)>,
}

impl World {
    fn load(dba: &mut Client) -> World {
        let q = |dba: &mut Client, sql: &str| dba.query(sql, &[]).expect(sql);
        World {
            companies: ids(dba, "SELECT id FROM sharing.companies ORDER BY id"),
            users: q(
                dba,
                "SELECT id, company_id, status FROM sharing.users ORDER BY id",
            )
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect(),
            roles: q(dba, "SELECT id, company_id FROM sharing.roles ORDER BY id")
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect(),
            memberships: q(
                dba,
                "SELECT id, user_id, role_id FROM sharing.user_roles ORDER BY id",
            )
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect(),
            rules: q(
                dba,
                "SELECT id, company_id FROM sharing.sharing_rules ORDER BY id",
            )
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect(),
            agreements: q(
                dba,
                "SELECT id, grantor_company, grantee_company FROM sharing.agreements ORDER BY id",
            )
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect(),
        }
    }

    fn company_of(&self, user: i64) -> i64 {
        self.users
            .iter()
            .find(|u| u.0 == user)
            .map(|u| u.1)
            .unwrap_or(self.companies[0])
    }

    /// Mostly the actor's company, sometimes another one (refused by the checks).
    fn company(&self, rng: &mut StdRng, home: i64) -> i64 {
        if rng.gen_bool(0.88) {
            home
        } else {
            *self.companies.choose(rng).unwrap()
        }
    }

    fn role(&self, rng: &mut StdRng, home: i64) -> i64 {
        let c = self.company(rng, home);
        let of: Vec<i64> = self
            .roles
            .iter()
            .filter(|r| r.1 == c)
            .map(|r| r.0)
            .collect();
        of.choose(rng)
            .or_else(|| self.roles.choose(rng).map(|r| &r.0))
            .copied()
            .unwrap_or(1)
    }

    fn role_or_null(&self, rng: &mut StdRng, home: i64) -> String {
        if rng.gen_bool(0.15) {
            "NULL".into()
        } else {
            self.role(rng, home).to_string()
        }
    }

    fn user(&self, rng: &mut StdRng, home: i64) -> i64 {
        let c = self.company(rng, home);
        let of: Vec<i64> = self
            .users
            .iter()
            .filter(|u| u.1 == c)
            .map(|u| u.0)
            .collect();
        of.choose(rng)
            .or_else(|| self.users.choose(rng).map(|u| &u.0))
            .copied()
            .unwrap_or(1)
    }

    fn membership(&self, rng: &mut StdRng, home: i64) -> Option<(i64, i64, i64)> {
        let c = self.company(rng, home);
        let of: Vec<&(i64, i64, i64)> = self
            .memberships
            .iter()
            .filter(|m| self.company_of(m.1) == c)
            .collect();
        of.choose(rng).map(|m| **m)
    }
}

/// Counters for fresh ids and names (never reused, so that "created by the change"
/// is exactly "an id that did not exist before").
struct Fresh {
    user: i64,
    name: i64,
}

impl Fresh {
    fn name(&mut self, prefix: &str) -> String {
        self.name += 1;
        format!("{prefix}{}", self.name)
    }
    fn user(&mut self) -> i64 {
        self.user += 1;
        self.user
    }
}

fn level(rng: &mut StdRng) -> &'static str {
    LEVELS.choose(rng).unwrap()
}

/// Four coherent levels (edit ≤ view, delete ≤ edit) for `create, view, edit, delete`.
fn coherent_levels(rng: &mut StdRng) -> [&'static str; 4] {
    let view = rng.gen_range(0..3);
    let edit = rng.gen_range(0..=view);
    let delete = rng.gen_range(0..=edit);
    [
        LEVELS[rng.gen_range(0..3)],
        LEVELS[view],
        LEVELS[edit],
        LEVELS[delete],
    ]
}

fn permissions_values(role: &str, levels: [&str; 4]) -> String {
    ACTIONS
        .iter()
        .zip(levels)
        .map(|(a, l)| format!("({role}, 'deals', '{a}', '{l}')"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One random configuration statement as `actor`.
fn statement(
    rng: &mut StdRng,
    w: &World,
    actor: i64,
    fresh: &mut Fresh,
    dba: &mut Client,
) -> String {
    let home = w.company_of(actor);
    let status = |rng: &mut StdRng| {
        *["active", "active", "pending", "disabled"]
            .choose(rng)
            .unwrap()
    };
    let scope = |rng: &mut StdRng| *["role", "role_and_subordinates"].choose(rng).unwrap();
    let access = |rng: &mut StdRng| *["read", "read_write"].choose(rng).unwrap();
    let rule_type = |rng: &mut StdRng| if rng.gen_bool(0.7) { "'deals'" } else { "NULL" };
    let privilege = |rng: &mut StdRng| *GRANTABLE.choose(rng).unwrap();
    match rng.gen_range(0..34) {
        // Memberships: one to three rows.
        0..=2 => {
            let rows: Vec<String> = (0..rng.gen_range(1..=3))
                .map(|_| format!("({}, {})", w.user(rng, home), w.role(rng, home)))
                .collect();
            format!(
                "INSERT INTO sharing.user_roles (user_id, role_id) VALUES {}",
                rows.join(", ")
            )
        }
        3 | 4 => match (w.membership(rng, home), rng.gen_range(0..3)) {
            (Some((id, _, _)), 0) => format!("DELETE FROM sharing.user_roles WHERE id = {id}"),
            (Some((_, user, _)), 1) => {
                format!("DELETE FROM sharing.user_roles WHERE user_id = {user}")
            }
            (Some((_, _, role)), _) => {
                format!("DELETE FROM sharing.user_roles WHERE role_id = {role}")
            }
            (None, _) => "DELETE FROM sharing.user_roles WHERE id = -1".into(),
        },
        5 => match w.membership(rng, home) {
            Some((id, _, _)) => format!(
                "UPDATE sharing.user_roles SET role_id = {} WHERE id = {id}",
                w.role(rng, home)
            ),
            None => "UPDATE sharing.user_roles SET role_id = role_id WHERE id = -1".into(),
        },
        // The hierarchy and the inheritance.
        6 | 7 => {
            let target = if rng.gen_bool(0.2) {
                format!("IN ({}, {})", w.role(rng, home), w.role(rng, home))
            } else {
                format!("= {}", w.role(rng, home))
            };
            format!(
                "UPDATE sharing.roles SET reports_to = {} WHERE id {target}",
                w.role_or_null(rng, home)
            )
        }
        8 => format!(
            "UPDATE sharing.roles SET based_on = {} WHERE id = {}",
            w.role_or_null(rng, home),
            w.role(rng, home)
        ),
        9 | 10 => {
            let c = w.company(rng, home);
            let admin = if rng.gen_bool(0.1) { "true" } else { "false" };
            format!(
                "INSERT INTO sharing.roles (company_id, name, reports_to, based_on, is_admin) VALUES ({c}, '{}', {}, {}, {admin})",
                fresh.name("r"),
                w.role_or_null(rng, home),
                w.role_or_null(rng, home)
            )
        }
        // Levels.
        11 | 12 => {
            let role = w.role(rng, home).to_string();
            if rng.gen_bool(0.5) {
                format!(
                    "INSERT INTO sharing.role_permissions (role_id, object_type, action, level) VALUES {}
                     ON CONFLICT (role_id, object_type, action) DO UPDATE SET level = EXCLUDED.level",
                    permissions_values(&role, coherent_levels(rng))
                )
            } else {
                format!(
                    "INSERT INTO sharing.role_permissions (role_id, object_type, action, level) VALUES ({role}, 'deals', '{}', '{}')
                     ON CONFLICT (role_id, object_type, action) DO UPDATE SET level = EXCLUDED.level",
                    ACTIONS.choose(rng).unwrap(),
                    level(rng)
                )
            }
        }
        13 => {
            let only = if rng.gen_bool(0.5) {
                format!(" AND action IN ('create', '{}')", ACTIONS.choose(rng).unwrap())
            } else {
                String::new()
            };
            format!(
                "UPDATE sharing.role_permissions SET level = '{}' WHERE role_id = {}{only}",
                level(rng),
                w.role(rng, home)
            )
        }
        14 => format!(
            "DELETE FROM sharing.role_permissions WHERE role_id = {} AND action IN ('create', '{}')",
            w.role(rng, home),
            ACTIONS.choose(rng).unwrap()
        ),
        // Privileges.
        15 | 16 => {
            let rows: Vec<String> = (0..rng.gen_range(1..=2))
                .map(|_| format!("({}, '{}')", w.role(rng, home), privilege(rng)))
                .collect();
            format!(
                "INSERT INTO sharing.role_privileges (role_id, privilege) VALUES {} ON CONFLICT DO NOTHING",
                rows.join(", ")
            )
        }
        17 => format!(
            "DELETE FROM sharing.role_privileges WHERE role_id = {}{}",
            w.role(rng, home),
            if rng.gen_bool(0.6) {
                format!(" AND privilege = '{}'", privilege(rng))
            } else {
                String::new()
            }
        ),
        // Users.
        18 => {
            let rows: Vec<String> = (0..rng.gen_range(1..=2))
                .map(|_| {
                    let id = fresh.user();
                    format!(
                        "({id}, {}, 'n{id}', '{}')",
                        w.company(rng, home),
                        status(rng)
                    )
                })
                .collect();
            format!(
                "INSERT INTO sharing.users (id, company_id, name, status) VALUES {}",
                rows.join(", ")
            )
        }
        19 | 20 => {
            if rng.gen_bool(0.25) {
                format!(
                    "UPDATE sharing.users SET status = '{}' WHERE id IN ({}, {})",
                    status(rng),
                    w.user(rng, home),
                    w.user(rng, home)
                )
            } else {
                format!(
                    "UPDATE sharing.users SET status = '{}' WHERE id = {}",
                    status(rng),
                    w.user(rng, home)
                )
            }
        }
        21 => format!("DELETE FROM sharing.users WHERE id = {}", w.user(rng, home)),
        // Sharing rules.
        22 | 23 => format!(
            "INSERT INTO sharing.sharing_rules (company_id, object_type, source_role, source_scope, target_role, target_scope, access)
             VALUES ({}, {}, {}, '{}', {}, '{}', '{}')",
            w.company(rng, home),
            rule_type(rng),
            w.role(rng, home),
            scope(rng),
            w.role(rng, home),
            scope(rng),
            access(rng)
        ),
        24 => match w.rules.choose(rng) {
            Some((id, _)) => match rng.gen_range(0..4) {
                0 => format!("DELETE FROM sharing.sharing_rules WHERE id = {id}"),
                1 => format!(
                    "UPDATE sharing.sharing_rules SET access = '{}', target_scope = '{}' WHERE id = {id}",
                    access(rng),
                    scope(rng)
                ),
                2 => format!(
                    "UPDATE sharing.sharing_rules SET target_role = {} WHERE id = {id}",
                    w.role(rng, home)
                ),
                _ => format!(
                    "UPDATE sharing.sharing_rules SET source_role = {}, source_scope = '{}', object_type = {} WHERE id = {id}",
                    w.role(rng, home),
                    scope(rng),
                    rule_type(rng)
                ),
            },
            None => "DELETE FROM sharing.sharing_rules WHERE id = -1".into(),
        },
        // Writable CTEs combining two tables.
        25 => match w.membership(rng, home) {
            Some((_, user, role)) => format!(
                "WITH d AS (DELETE FROM sharing.user_roles WHERE user_id = {user} AND role_id = {role} RETURNING user_id)
                 INSERT INTO sharing.user_roles (user_id, role_id) SELECT user_id, {} FROM d",
                w.role(rng, home)
            ),
            None => "SELECT 1".into(),
        },
        26 => {
            let id = fresh.user();
            format!(
                "WITH u AS (INSERT INTO sharing.users (id, company_id, name, status) VALUES ({id}, {}, 'n{id}', '{}') RETURNING id)
                 INSERT INTO sharing.user_roles (user_id, role_id) SELECT id, {} FROM u",
                w.company(rng, home),
                status(rng),
                w.role(rng, home)
            )
        }
        27 => {
            let c = w.company(rng, home);
            let name = fresh.name("r");
            if rng.gen_bool(0.5) {
                format!(
                    "WITH r AS (INSERT INTO sharing.roles (company_id, name, reports_to, based_on) VALUES ({c}, '{name}', {}, {}) RETURNING id)
                     INSERT INTO sharing.role_permissions (role_id, object_type, action, level)
                     SELECT r.id, 'deals', v.a, v.l FROM r, (VALUES {}) v (a, l)",
                    w.role_or_null(rng, home),
                    w.role_or_null(rng, home),
                    ACTIONS
                        .iter()
                        .zip(coherent_levels(rng))
                        .map(|(a, l)| format!("('{a}', '{l}')"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                format!(
                    "WITH r AS (INSERT INTO sharing.roles (company_id, name, reports_to) VALUES ({c}, '{name}', {}) RETURNING id)
                     INSERT INTO sharing.role_privileges (role_id, privilege) SELECT r.id, '{}' FROM r",
                    w.role_or_null(rng, home),
                    privilege(rng)
                )
            }
        }
        28 => match w.membership(rng, home) {
            // Give a user a role and move them in the hierarchy in one statement.
            Some((_, user, _)) => {
                let role = w.role(rng, home);
                format!(
                    "WITH m AS (INSERT INTO sharing.user_roles (user_id, role_id) VALUES ({user}, {role}) RETURNING role_id)
                     UPDATE sharing.roles SET reports_to = {} WHERE id = (SELECT role_id FROM m)",
                    w.role_or_null(rng, home)
                )
            }
            None => "SELECT 1".into(),
        },
        // The extension's functions.
        29 => {
            if rng.gen_bool(0.6) {
                format!(
                    "SELECT sharing.copy_role({}, '{}')",
                    w.role(rng, home),
                    fresh.name("copy")
                )
            } else {
                format!(
                    "SELECT sharing.delete_role({}, {})",
                    w.role(rng, home),
                    w.role_or_null(rng, home)
                )
            }
        }
        30 => {
            if rng.gen_bool(0.5) {
                format!("SELECT sharing.create_company('{}')", fresh.name("co"))
            } else {
                // A small document: an existing company's roles, rules and
                // agreements under a new name, without its users.
                let c = w.company(rng, home);
                let name = fresh.name("imp");
                let doc = one_str(
                    dba,
                    &format!(
                        "SELECT jsonb_set(jsonb_set(sharing.export_company({c}), '{{company,name}}', to_jsonb('{name}'::text)), '{{users}}', '[]')::text"
                    ),
                );
                format!(
                    "SELECT sharing.import_company('{}'::jsonb)",
                    doc.replace('\'', "''")
                )
            }
        }
        // Flags and mappings that need an admin, a superuser user or a DBA.
        31 => match rng.gen_range(0..6) {
            0 => format!("UPDATE sharing.users SET db_role = NULL WHERE id = {actor}"),
            1 => format!(
                "UPDATE sharing.users SET is_superuser = true WHERE id = {}",
                w.user(rng, home)
            ),
            2 => format!(
                "UPDATE sharing.users SET is_super_company_member = true WHERE id = {}",
                w.user(rng, home)
            ),
            3 => format!(
                "UPDATE sharing.roles SET is_admin = {} WHERE id = {}",
                rng.gen_bool(0.7),
                w.role(rng, home)
            ),
            4 => format!(
                "UPDATE sharing.roles SET is_default = true WHERE id = {}",
                w.role(rng, home)
            ),
            _ => format!(
                "UPDATE sharing.users SET company_id = {} WHERE id = {}",
                w.company(rng, home),
                w.user(rng, home)
            ),
        },
        // Agreements.
        _ => {
            let others: Vec<i64> = w
                .companies
                .iter()
                .copied()
                .filter(|c| *c != home)
                .collect();
            match (w.agreements.choose(rng), rng.gen_range(0..3)) {
                (Some((id, _, _)), 0) => format!(
                    "INSERT INTO sharing.agreement_permissions (agreement_id, object_type, action) VALUES ({id}, 'deals', '{}') ON CONFLICT DO NOTHING",
                    ACTIONS.choose(rng).unwrap()
                ),
                (Some((id, _, _)), 1) => format!(
                    "DELETE FROM sharing.agreement_permissions WHERE agreement_id = {id} AND action = '{}'",
                    ACTIONS.choose(rng).unwrap()
                ),
                _ => match others.choose(rng) {
                    Some(other) => {
                        let (g, e) = if rng.gen_bool(0.8) {
                            (home, *other)
                        } else {
                            (*other, home)
                        };
                        format!(
                            "WITH g AS (INSERT INTO sharing.agreements (grantor_company, grantee_company) VALUES ({g}, {e}) RETURNING id)
                             INSERT INTO sharing.agreement_permissions (agreement_id, object_type, action) SELECT id, 'deals', '{}' FROM g",
                            ACTIONS.choose(rng).unwrap()
                        )
                    }
                    None => "SELECT 1".into(),
                },
            }
        }
    }
}

/// Two statements for one transaction that only make sense together: the second
/// refers to what the first created (a user, a role) or undoes part of it.
fn paired(rng: &mut StdRng, w: &World, actor: i64, fresh: &mut Fresh) -> Vec<String> {
    let home = w.company_of(actor);
    let c = w.company(rng, home);
    match rng.gen_range(0..4) {
        // A user deleted and created again with the same id (and so with the same
        // records), then given a role: not a new user for the oracle.
        3 => {
            let user = w.user(rng, home);
            vec![
                format!("DELETE FROM sharing.users WHERE id = {user}"),
                format!("INSERT INTO sharing.users (id, company_id, name) VALUES ({user}, {c}, 'again{user}')"),
                format!(
                    "INSERT INTO sharing.user_roles (user_id, role_id) VALUES ({user}, {})",
                    w.role(rng, home)
                ),
            ]
        }
        0 => {
            let id = fresh.user();
            vec![
                format!(
                    "INSERT INTO sharing.users (id, company_id, name) VALUES ({id}, {c}, 'n{id}')"
                ),
                format!(
                    "INSERT INTO sharing.user_roles (user_id, role_id) VALUES ({id}, {}), ({}, {})",
                    w.role(rng, home),
                    w.user(rng, home),
                    w.role(rng, home)
                ),
            ]
        }
        1 => {
            let name = fresh.name("r");
            vec![
                format!(
                    "INSERT INTO sharing.roles (company_id, name, reports_to, based_on) VALUES ({c}, '{name}', {}, {})",
                    w.role_or_null(rng, home),
                    w.role_or_null(rng, home)
                ),
                format!(
                    "INSERT INTO sharing.user_roles (user_id, role_id)
                     SELECT {}, id FROM sharing.roles WHERE company_id = {c} AND name = '{name}'",
                    w.user(rng, home)
                ),
            ]
        }
        _ => match w.membership(rng, home) {
            Some((id, user, _)) => vec![
                format!(
                    "INSERT INTO sharing.user_roles (user_id, role_id) VALUES ({user}, {})",
                    w.role(rng, home)
                ),
                format!("DELETE FROM sharing.user_roles WHERE id = {id}"),
            ],
            None => vec!["SELECT 1".into(), "SELECT 2".into()],
        },
    }
}

/// Run `sql` as the DBA while building an organization, logging it.
fn setup(dba: &mut Client, log: &mut String, sql: &str) {
    writeln!(log, "{sql};").unwrap();
    if let Err(e) = dba.batch_execute(sql) {
        panic!("the random organization did not load: {e:?}\n{log}");
    }
}

fn setup_id(dba: &mut Client, log: &mut String, sql: &str) -> i64 {
    writeln!(log, "{sql};").unwrap();
    match dba.query_one(sql, &[]) {
        Ok(row) => row.get(0),
        Err(e) => panic!("the random organization did not load: {e:?}\n{log}"),
    }
}

struct Org {
    /// (user id, client of its mapped login, login)
    actors: Vec<(i64, Client, String)>,
    log: String,
    fresh: Fresh,
}

/// A random organization in `db`: companies, a role forest, users, deals, rules,
/// maybe an agreement, and two to four delegated administrators with mapped logins.
fn build_org(db: &mut TestDb, dba: &mut Client, rng: &mut StdRng, k: usize) -> Org {
    let mut log = String::new();
    dba.batch_execute(include_str!("reference.sql"))
        .expect("load the reference");
    dba.batch_execute(ORACLE_SQL).expect("load the oracle");
    let owd = ["private", "private", "public_read", "public_read_write"]
        .choose(rng)
        .unwrap();
    setup(
        dba,
        &mut log,
        &format!(
            "INSERT INTO sharing.object_types (name, org_wide_default, grant_via_hierarchy) VALUES ('deals', '{owd}', {})",
            rng.gen_bool(0.8)
        ),
    );
    setup(
        dba,
        &mut log,
        "CREATE TABLE public.deals (id bigint PRIMARY KEY, owner_id bigint, company_id bigint); SELECT sharing.protect('deals', 'deals')",
    );
    let mut companies = Vec::new();
    // (company, roles, the User role)
    let mut next_role = 10_000i64;
    for ci in 0..rng.gen_range(1..=2) {
        let c = setup_id(
            dba,
            &mut log,
            &format!("SELECT sharing.create_company('org{k}_{ci}')"),
        );
        let (admin, manager, user) = standard_roles(dba, c);
        let mut roles = vec![admin, manager, user];
        for _ in 0..rng.gen_range(4..=12) {
            let id = next_role;
            next_role += 1;
            let parent = if rng.gen_bool(0.15) {
                "NULL".to_string()
            } else {
                roles[1..].choose(rng).unwrap().to_string()
            };
            let based_on = match rng.gen_range(0..10) {
                0..=3 => user.to_string(),
                4 => roles[1..].choose(rng).unwrap().to_string(),
                _ => "NULL".into(),
            };
            setup(
                dba,
                &mut log,
                &format!(
                    "INSERT INTO sharing.roles (id, company_id, name, reports_to, based_on) VALUES ({id}, {c}, 'r{id}', {parent}, {based_on})"
                ),
            );
            if rng.gen_bool(0.7) {
                setup(
                    dba,
                    &mut log,
                    &format!(
                        "INSERT INTO sharing.role_permissions (role_id, object_type, action, level) VALUES {}",
                        permissions_values(&id.to_string(), coherent_levels(rng))
                    ),
                );
            }
            roles.push(id);
        }
        companies.push((c, roles, user));
    }
    // Users, each with one or two roles of their company (the Administrator rarely).
    let n_users = rng.gen_range(8..=25);
    let mut users: Vec<(i64, i64, bool)> = Vec::new();
    for id in 1..=n_users {
        let (c, roles, user_role) = if companies.len() > 1 && rng.gen_bool(0.3) {
            &companies[1]
        } else {
            &companies[0]
        };
        let status = *[
            "active", "active", "active", "active", "pending", "disabled",
        ]
        .choose(rng)
        .unwrap();
        setup(
            dba,
            &mut log,
            &format!("INSERT INTO sharing.users (id, company_id, name, status) VALUES ({id}, {c}, 'u{id}', '{status}')"),
        );
        let mut picks: Vec<i64> = Vec::new();
        for _ in 0..rng.gen_range(1..=2) {
            let r = if rng.gen_bool(0.05) {
                roles[0]
            } else {
                *roles[1..].choose(rng).unwrap()
            };
            if !picks.contains(&r) {
                picks.push(r);
            }
        }
        for r in &picks {
            setup(
                dba,
                &mut log,
                &format!("INSERT INTO sharing.user_roles (user_id, role_id) VALUES ({id}, {r}) ON CONFLICT DO NOTHING"),
            );
        }
        if !picks.contains(user_role) {
            setup(
                dba,
                &mut log,
                &format!(
                    "DELETE FROM sharing.user_roles WHERE user_id = {id} AND role_id = {user_role}"
                ),
            );
        }
        users.push((id, *c, status == "active"));
    }
    // One or two deals per user (the second sometimes in the other company), and
    // some records with no owner.
    let mut deal = 0;
    let mut deals = Vec::new();
    for (u, c, _) in &users {
        deal += 1;
        deals.push(format!("({deal}, {u}, {c})"));
        if rng.gen_bool(0.4) {
            deal += 1;
            let other = companies.choose(rng).unwrap().0;
            deals.push(format!("({deal}, {u}, {other})"));
        }
    }
    for (c, _, _) in &companies {
        if rng.gen_bool(0.4) {
            deal += 1;
            deals.push(format!("({deal}, NULL, {c})"));
        }
    }
    setup(
        dba,
        &mut log,
        &format!(
            "INSERT INTO public.deals (id, owner_id, company_id) VALUES {}",
            deals.join(", ")
        ),
    );
    for (c, roles, _) in &companies {
        for _ in 0..rng.gen_range(0..=3) {
            let t = if rng.gen_bool(0.7) { "'deals'" } else { "NULL" };
            setup(
                dba,
                &mut log,
                &format!(
                    "INSERT INTO sharing.sharing_rules (company_id, object_type, source_role, source_scope, target_role, target_scope, access)
                     VALUES ({c}, {t}, {}, '{}', {}, '{}', '{}')",
                    roles[1..].choose(rng).unwrap(),
                    ["role", "role_and_subordinates"].choose(rng).unwrap(),
                    roles[1..].choose(rng).unwrap(),
                    ["role", "role_and_subordinates"].choose(rng).unwrap(),
                    ["read", "read_write"].choose(rng).unwrap()
                ),
            );
        }
    }
    if companies.len() == 2 && rng.gen_bool(0.5) {
        let (g, e) = if rng.gen_bool(0.5) {
            (companies[0].0, companies[1].0)
        } else {
            (companies[1].0, companies[0].0)
        };
        let a = setup_id(
            dba,
            &mut log,
            &format!("INSERT INTO sharing.agreements (grantor_company, grantee_company) VALUES ({g}, {e}) RETURNING id"),
        );
        for action in ACTIONS {
            if rng.gen_bool(0.4) {
                setup(
                    dba,
                    &mut log,
                    &format!("INSERT INTO sharing.agreement_permissions (agreement_id, object_type, action) VALUES ({a}, 'deals', '{action}')"),
                );
            }
        }
    }
    // The actors: delegated administrators at random places.
    let active: Vec<(i64, i64)> = users.iter().filter(|u| u.2).map(|u| (u.0, u.1)).collect();
    let how_many = rng.gen_range(2..=4).min(active.len());
    let mut actors = Vec::new();
    for (i, &(u, c)) in active.choose_multiple(rng, how_many).enumerate() {
        let roles = &companies.iter().find(|x| x.0 == c).unwrap().1;
        let role = if rng.gen_bool(0.5) {
            let id = next_role;
            next_role += 1;
            let parent = if rng.gen_bool(0.1) {
                "NULL".to_string()
            } else {
                roles[1..].choose(rng).unwrap().to_string()
            };
            let based_on = if rng.gen_bool(0.5) {
                companies.iter().find(|x| x.0 == c).unwrap().2.to_string()
            } else {
                "NULL".into()
            };
            setup(
                dba,
                &mut log,
                &format!(
                    "INSERT INTO sharing.roles (id, company_id, name, reports_to, based_on) VALUES ({id}, {c}, 'actor{id}', {parent}, {based_on});
                     INSERT INTO sharing.user_roles (user_id, role_id) VALUES ({u}, {id})"
                ),
            );
            id
        } else {
            one_i64(
                dba,
                &format!("SELECT min(role_id) FROM sharing.user_roles WHERE user_id = {u}"),
            )
        };
        let mut privileges: Vec<&str> = ["manage_users", "manage_roles", "manage_sharing"]
            .into_iter()
            .filter(|_| rng.gen_bool(0.6))
            .collect();
        if privileges.is_empty() {
            privileges
                .push(["manage_users", "manage_roles", "manage_sharing"][rng.gen_range(0..3)]);
        }
        for (p, chance) in [("admin", 0.08), ("export", 0.2), ("app.crm", 0.3)] {
            if rng.gen_bool(chance) {
                privileges.push(p);
            }
        }
        // Actors often hold much (so that many of their changes are accepted and
        // give others new access: the boundary the oracle checks), sometimes little.
        let actor_levels = match rng.gen_range(0..4) {
            0 => ["all", "all", "all", "all"],
            1 => ["owned", "all", "owned", "none"],
            _ => coherent_levels(rng),
        };
        for p in privileges {
            setup(
                dba,
                &mut log,
                &format!("INSERT INTO sharing.role_privileges (role_id, privilege) VALUES ({role}, '{p}') ON CONFLICT DO NOTHING"),
            );
        }
        if rng.gen_bool(0.7) {
            setup(
                dba,
                &mut log,
                &format!(
                    "INSERT INTO sharing.role_permissions (role_id, object_type, action, level) VALUES {}
                     ON CONFLICT (role_id, object_type, action) DO UPDATE SET level = EXCLUDED.level",
                    permissions_values(&role.to_string(), actor_levels)
                ),
            );
        }
        let login = db.login(&format!("o{k}a{i}"));
        setup(
            dba,
            &mut log,
            &format!(
                "UPDATE sharing.users SET db_role = '{login}' WHERE id = {u};
                 GRANT SELECT, UPDATE, INSERT, DELETE ON public.deals TO {login}"
            ),
        );
        actors.push((u, db.connect_as(&login), login));
    }
    Org {
        actors,
        log,
        fresh: Fresh {
            user: 1_000,
            name: 0,
        },
    }
}

/// Run `statements` as one client: one alone in autocommit, several in a transaction
/// (rolled back at the first error). The SQLSTATE and message of a refusal.
fn run(client: &mut Client, statements: &[String]) -> Result<(), (String, String)> {
    let err = |e: postgres::Error| match e.as_db_error() {
        Some(db) => (db.code().code().to_string(), db.message().to_string()),
        None => ("client".to_string(), e.to_string()),
    };
    if statements.len() == 1 {
        return client.batch_execute(&statements[0]).map_err(err);
    }
    client.batch_execute("BEGIN").map_err(err)?;
    for s in statements {
        if let Err(e) = client.batch_execute(s) {
            let e = err(e);
            client.batch_execute("ROLLBACK").expect("rollback");
            return Err(e);
        }
    }
    client.batch_execute("COMMIT").map_err(err)
}

#[derive(Default)]
struct Stats {
    tried: usize,
    accepted: usize,
    transactions: usize,
    refused: BTreeMap<String, usize>,
    /// SQLSTATEs outside [`REFUSALS`], with a sample message.
    other: BTreeMap<String, (usize, String)>,
    violations: Vec<String>,
    orgs: usize,
    /// Accepted changes after which somebody could do something new (allowed: their
    /// own records, created users' records, or what the actor could do).
    accepted_with_gains: usize,
    gains: usize,
    /// Accepted changes that changed no configuration row (e.g. matched no row).
    unchanged: usize,
    snapshots: usize,
    snapshot_time: Duration,
}

#[test]
fn no_escalation_by_effect_on_random_changes() {
    let seconds: u64 = std::env::var("PG_SHARING_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let seed: u64 = std::env::var("PG_SHARING_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut stats = Stats::default();
    let mut k = 0usize;
    while Instant::now() < deadline {
        let org_seed = seed.wrapping_mul(1_000_003).wrapping_add(k as u64);
        let mut rng = StdRng::seed_from_u64(org_seed);
        let mut db = TestDb::new("fuzzauth");
        let mut dba = db.dba();
        let mut org = build_org(&mut db, &mut dba, &mut rng, k);
        stats.orgs += 1;
        let mut before = snapshot(&mut dba);
        let mut data = dump(&mut dba);
        let mut history = String::new();
        let budget = rng.gen_range(100..=200);
        for _ in 0..budget {
            if Instant::now() >= deadline {
                break;
            }
            let world = World::load(&mut dba);
            let ai = rng.gen_range(0..org.actors.len());
            let actor = org.actors[ai].0;
            let n = if rng.gen_bool(0.12) { 2 } else { 1 };
            let statements: Vec<String> = if n == 2 && rng.gen_bool(0.3) {
                // A change undone by ROLLBACK TO SAVEPOINT, then another: the second
                // must be judged against the state the rollback brought back.
                let first = statement(&mut rng, &world, actor, &mut org.fresh, &mut dba);
                let second = statement(&mut rng, &world, actor, &mut org.fresh, &mut dba);
                vec![
                    "SAVEPOINT undo".to_string(),
                    first,
                    "ROLLBACK TO SAVEPOINT undo".to_string(),
                    second,
                ]
            } else if n == 2 && rng.gen_bool(0.5) {
                paired(&mut rng, &world, actor, &mut org.fresh)
            } else {
                (0..n)
                    .map(|_| statement(&mut rng, &world, actor, &mut org.fresh, &mut dba))
                    .collect()
            };
            stats.tried += 1;
            if statements.len() > 1 {
                stats.transactions += 1;
            }
            let shown = if statements.len() > 1 {
                format!("BEGIN; {}; COMMIT", statements.join("; "))
            } else {
                statements[0].clone()
            };
            match run(&mut org.actors[ai].1, &statements) {
                Ok(()) => {
                    stats.accepted += 1;
                    writeln!(
                        history,
                        "-- as user {actor} ({})\n{shown};",
                        org.actors[ai].2
                    )
                    .unwrap();
                    let now = dump(&mut dba);
                    if now == data {
                        // Nothing of the configuration changed: nor can the matrix.
                        stats.unchanged += 1;
                        continue;
                    }
                    let clock = Instant::now();
                    let after = snapshot(&mut dba);
                    stats.snapshot_time += clock.elapsed();
                    stats.snapshots += 1;
                    let gained = after.access.difference(&before.access).count();
                    if gained > 0 {
                        stats.accepted_with_gains += 1;
                        stats.gains += gained;
                    }
                    let found = violations(&before, &after, actor);
                    if !found.is_empty() {
                        stats.violations.push(format!(
                            "seed {seed}, organization {k} (seed_from_u64({org_seed})), actor user {actor}:\n{shown}\n\
                             violations:\n  {}\n\nthe organization:\n{}\nthe accepted statements so far:\n{history}",
                            found.join("\n  "),
                            org.log
                        ));
                        // The organization's state is now outside the contract: on to
                        // the next one.
                        break;
                    }
                    before = after;
                    data = now;
                    // A mapping the actor removed (the DBA's to change, so this should
                    // never be accepted): put it back and say so.
                    let login = &org.actors[ai].2;
                    if dba
                        .execute(
                            &format!("UPDATE sharing.users SET db_role = '{login}' WHERE id = {actor} AND db_role IS DISTINCT FROM '{login}'"),
                            &[],
                        )
                        .unwrap()
                        > 0
                    {
                        stats.violations.push(format!(
                            "seed {seed}, organization {k}, actor user {actor}: changed its own mapping (db_role), a DBA's setting:\n{shown}"
                        ));
                        data = dump(&mut dba);
                    }
                }
                Err((code, message)) => {
                    if REFUSALS.contains(&code.as_str()) {
                        *stats.refused.entry(code).or_default() += 1;
                    } else {
                        let e = stats.other.entry(code).or_insert((0, String::new()));
                        e.0 += 1;
                        e.1 = format!("{message}\n    {shown}");
                    }
                    let now = dump(&mut dba);
                    if now != data {
                        stats.violations.push(format!(
                            "seed {seed}, organization {k}, actor user {actor}: a refused change was kept:\n{shown}\n\
                             before:\n{data}\nafter:\n{now}"
                        ));
                        break;
                    }
                }
            }
        }
        drop(org);
        drop(dba);
        drop(db);
        k += 1;
    }
    let refused: usize = stats.refused.values().sum();
    let other: usize = stats.other.values().map(|o| o.0).sum();
    eprintln!(
        "fuzz_authority seed {seed}, {:.1}s: {} organizations, {} changes tried ({} transactions of several statements), {} accepted ({} of them giving someone {} new decisions), {} refused {:?}, {} other errors, {} violations; {} accepted changes changed nothing, {} reference matrices in {:.1}s",
        start.elapsed().as_secs_f64(),
        stats.orgs,
        stats.tried,
        stats.transactions,
        stats.accepted,
        stats.accepted_with_gains,
        stats.gains,
        refused,
        stats.refused,
        other,
        stats.violations.len(),
        stats.unchanged,
        stats.snapshots,
        stats.snapshot_time.as_secs_f64()
    );
    for (code, (n, sample)) in &stats.other {
        eprintln!("  other error {code} x{n}, e.g. {sample}");
    }
    for v in &stats.violations {
        eprintln!("VIOLATION {v}\n");
    }
    assert!(
        stats.violations.is_empty(),
        "{} violations of no escalation by effect (see above); the first:\n{}",
        stats.violations.len(),
        stats.violations[0]
    );
    assert!(stats.tried > 100, "only {} changes tried", stats.tried);
    assert!(stats.accepted > 0, "no change was accepted");
    assert!(refused > 0, "no change was refused");
}

/// The oracle is not vacuous: changes made by the DBA (no checks) that would be
/// escalations for a delegated administrator are reported.
#[test]
fn the_oracle_reports_escalations() {
    let mut db = TestDb::new("fuzzoracle");
    let (mut dba, _app) = insightly(&mut db);
    dba.batch_execute(include_str!("reference.sql")).unwrap();
    dba.batch_execute(ORACLE_SQL).unwrap();
    let before = snapshot(&mut dba);
    // em (6) given the east manager's role, will (7, a west rep) as the "actor": em
    // gains ed's deal, which will could not read.
    dba.batch_execute("INSERT INTO sharing.user_roles (user_id, role_id) VALUES (6, 11)")
        .unwrap();
    let after = snapshot(&mut dba);
    let found = violations(&before, &after, 7);
    assert!(
        found
            .iter()
            .any(|v| v.starts_with("(1) user 6 gained view")),
        "{found:?}"
    );
    // The director (2) as the actor: he held all of that already.
    assert_eq!(violations(&before, &after, 2), Vec::<String>::new());
    // ed giving himself a privilege, and his own role more reach.
    dba.batch_execute(
        "INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (13, 'manage_roles');
         UPDATE sharing.roles SET reports_to = 11 WHERE id = 14",
    )
    .unwrap();
    let later = snapshot(&mut dba);
    let found = violations(&after, &later, 5);
    assert!(
        found
            .iter()
            .any(|v| v.starts_with("(2) user 5 gained the privilege \"manage_roles\"")),
        "{found:?}"
    );
    let found = violations(&after, &later, 3);
    assert!(
        found
            .iter()
            .any(|v| v.starts_with("(3) the actor 3 gained view")),
        "{found:?}"
    );
    // A user created by the change: their records do not count, their access does.
    let before = later;
    dba.batch_execute(
        "INSERT INTO sharing.users (id, company_id, name) VALUES (90, 1, 'new');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (90, 11);
         INSERT INTO deals VALUES (90, 90, 1, 1, 'new')",
    )
    .unwrap();
    let after = snapshot(&mut dba);
    let found = violations(&before, &after, 4);
    assert!(
        found
            .iter()
            .any(|v| v.starts_with("(1) user 90 gained view on the records of owner Some(5)")),
        "{found:?}"
    );
    assert!(
        !found.iter().any(|v| v.contains("owner Some(90)")),
        "{found:?}"
    );
}
