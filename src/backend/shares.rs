//! Record shares as the backend reads them (docs/concepts.md, "Record shares"):
//! the live shares of one record, the record ids shared with one viewer, and one
//! protected row's facts. Every read is in the asking statement's snapshot, as the
//! extension's owner (the asking role needs no privilege on `sharing` tables), and
//! "live" is judged with `now()`, the start of the transaction, so one transaction
//! sees one answer and an expired share needs no job to stop counting.
//!
//! Shares are not compiled into the model (`backend::models`): a share written or
//! removed moves no generation, so no backend rebuilds anything for it.

use super::models::current_model;
use crate::model::engine::CompiledOrg;
use crate::model::shares::{accesses_covering, live_record_ids, Grantee, ShareGrant, TimedShare};
use crate::model::types::{Action, Level, RuleAccess};
use crate::pg::errors::{raise, spi_failed};
use crate::pg::identity::as_bootstrap_superuser;
use crate::pg::spi::read_row_kept;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

/// One protected row, as the decisions need it.
#[derive(Debug, Clone)]
pub struct RecordFacts {
    pub object_type: String,
    /// The id in its canonical text form (the id column's type's output).
    pub record_id: String,
    pub owner: Option<i64>,
    pub company: Option<i64>,
    pub assignees: Vec<i64>,
    pub found: bool,
}

/// The facts of row `record_id` of protected table `table` (`sharing._record_facts`,
/// sql/shares.sql), read as the extension's owner: callers check first that the
/// asking session may learn them.
pub fn record_facts(table: pg_sys::Oid, record_id: &str) -> RecordFacts {
    let read = as_bootstrap_superuser(|| {
        read_row_kept(
            "SELECT f.object_type, f.record_key, f.owner, f.company, f.assignees, f.present
               FROM sharing._record_facts($1, $2, false) f",
            &[
                (pg_sys::REGCLASSOID, pg_sys::Datum::from(table.to_u32())),
                (pg_sys::TEXTOID, record_id.into_datum().expect("text")),
            ],
            |row| {
                Ok(RecordFacts {
                    object_type: row.require::<String>(1)?,
                    record_id: row.require::<String>(2)?,
                    owner: row.get::<i64>(3)?,
                    company: row.get::<i64>(4)?,
                    assignees: row
                        .get::<Vec<Option<i64>>>(5)?
                        .unwrap_or_default()
                        .into_iter()
                        .flatten()
                        .collect(),
                    found: row.require::<bool>(6)?,
                })
            },
        )
    });
    read.unwrap_or_else(|e| spi_failed("read a protected record", e))
        .unwrap_or_else(|| spi_failed("read a protected record", "no row"))
}

/// The live shares of one record (any company; the engine keeps those of the
/// record's company).
pub fn live_shares_of(object_type: &str, record_id: &str) -> Vec<ShareGrant> {
    let read = as_bootstrap_superuser(|| {
        read_row_kept(
            "SELECT pg_catalog.array_agg(s.id ORDER BY s.id), pg_catalog.array_agg(s.company_id ORDER BY s.id),
                    pg_catalog.array_agg(s.user_id ORDER BY s.id), pg_catalog.array_agg(s.role_id ORDER BY s.id),
                    pg_catalog.array_agg(s.scope ORDER BY s.id), pg_catalog.array_agg(s.access ORDER BY s.id)
               FROM sharing.record_shares s
              WHERE s.object_type OPERATOR(pg_catalog.=) $1 AND s.record_id OPERATOR(pg_catalog.=) $2
                AND s.valid_from OPERATOR(pg_catalog.<=) pg_catalog.now()
                AND (s.valid_until IS NULL OR s.valid_until OPERATOR(pg_catalog.>) pg_catalog.now())",
            &[
                (pg_sys::TEXTOID, object_type.into_datum().expect("text")),
                (pg_sys::TEXTOID, record_id.into_datum().expect("text")),
            ],
            |row| {
                let ids = row.get::<Vec<i64>>(1)?.unwrap_or_default();
                let companies = row.get::<Vec<i64>>(2)?.unwrap_or_default();
                let users = row.get::<Vec<Option<i64>>>(3)?.unwrap_or_default();
                let roles = row.get::<Vec<Option<i64>>>(4)?.unwrap_or_default();
                let scopes = row.get::<Vec<Option<String>>>(5)?.unwrap_or_default();
                let accesses = row.get::<Vec<String>>(6)?.unwrap_or_default();
                Ok((0..ids.len())
                    .filter_map(|i| {
                        let grantee = Grantee::from_columns(
                            users.get(i).copied().flatten(),
                            roles.get(i).copied().flatten(),
                            scopes.get(i).and_then(|s| s.as_deref()),
                        )?;
                        Some(ShareGrant {
                            id: ids[i],
                            company: *companies.get(i)?,
                            grantee,
                            access: accesses.get(i)?.parse::<RuleAccess>().ok()?,
                        })
                    })
                    .collect::<Vec<_>>())
            },
        )
    });
    read.unwrap_or_else(|e| spi_failed("read sharing.record_shares", e))
        .unwrap_or_default()
}

/// The shares of `object_type` records that open them to `viewer` for `action`, in
/// the viewer's company, not yet ended at the transaction's start — with their
/// periods, so that whether each is live is decided per transaction
/// ([`live_record_ids`]). Empty when shares cannot matter: an unknown or inactive
/// viewer, level `none`, or an action shares never give.
pub fn shares_reaching(
    compiled: &CompiledOrg,
    object_type: &str,
    action: Action,
    viewer: i64,
) -> Vec<TimedShare> {
    let accesses = accesses_covering(action);
    if accesses.is_empty() {
        return Vec::new();
    }
    match compiled.level_of(object_type, action, viewer) {
        None | Some(Level::None) => return Vec::new(),
        Some(_) => {}
    }
    let Some(company) = compiled.company_of(viewer) else {
        return Vec::new();
    };
    let anchors = compiled.share_anchors(viewer);
    let now = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };
    // Two probes: the viewer on record_shares_user_idx, and on
    // record_shares_role_idx every role of theirs and every role above one
    // (`role_and_subordinates` shares only) — the rows the SQL form of this lookup
    // read, without an SPI query per request (docs/design.md, "Record shares").
    let read = || -> Result<Vec<TimedShare>, String> {
        use crate::pg::probe::{Equals, Table};
        let table = Table::open("sharing", "record_shares")?;
        let object_type_no = table.column("object_type")?;
        let (user_no, role_no, scope_no) = (
            table.column("user_id")?,
            table.column("role_id")?,
            table.column("scope")?,
        );
        let (company_no, access_no) = (table.column("company_id")?, table.column("access")?);
        let (record_no, from_no, until_no) = (
            table.column("record_id")?,
            table.column("valid_from")?,
            table.column("valid_until")?,
        );
        let mut shares = Vec::new();
        let mut take = |row: &crate::pg::probe::Row| {
            let until = row.int8(until_no);
            let reaches = match row.int8(role_no) {
                None => true,
                Some(role) => {
                    anchors.own.contains(&role)
                        || row.text(scope_no).as_deref() == Some("role_and_subordinates")
                }
            };
            let covers = row
                .text(access_no)
                .is_some_and(|a| accesses.contains(&a.as_str()));
            if reaches
                && covers
                && row.int8(company_no) == Some(company)
                && until.is_none_or(|u| u > now)
            {
                if let (Some(record_id), Some(from)) = (row.text(record_no), row.int8(from_no)) {
                    shares.push(TimedShare {
                        record_id,
                        from,
                        until,
                    });
                }
            }
        };
        table.each_row(
            "record_shares_user_idx",
            &[
                Equals::Text(object_type_no, object_type),
                Equals::Int8(user_no, viewer),
            ],
            &mut take,
        )?;
        let roles: Vec<i64> = anchors.own.iter().chain(&anchors.above).copied().collect();
        if !roles.is_empty() {
            table.each_row(
                "record_shares_role_idx",
                &[
                    Equals::Text(object_type_no, object_type),
                    Equals::AnyInt8(role_no, &roles),
                ],
                &mut take,
            )?;
        }
        Ok(shares)
    };
    read().unwrap_or_else(|e| spi_failed("read sharing.record_shares", e))
}

/// What identifies the shares every viewer may be reached by: `sharing._share_generation`,
/// which every statement writing `record_shares` or the configuration moves
/// (sql/generation.sql) — with its table's OID, and [`Own`] when this transaction
/// moved it. `None` before `ALTER EXTENSION … UPDATE` created it. With it, what only
/// share writers move (its `shares` column, keyed alike): which types have shares is
/// keyed on the second, so a change of people does not make every backend probe again.
fn share_generations() -> Option<ShareGenerations> {
    // The same snapshot sees the same row: read once per snapshot (a statement's
    // planning, guard and index conditions ask several times).
    let snapshot = crate::pg::mvcc::snapshot_key();
    if let Some(snapshot) = snapshot {
        if let Some((k, generation)) = LAST_SHARE_GENERATION.with(std::cell::Cell::get) {
            if k == snapshot {
                return generation;
            }
        }
    }
    let read =
        crate::pg::probe::read_generation_with("sharing", "_share_generation", Some("shares"))
            .unwrap_or_else(|e| spi_failed("read sharing._share_generation", e));
    if let Some(changing) = read.and_then(|(g, _)| g.changing) {
        super::citus::refuse_a_change_this_connection_cannot_see(changing);
    }
    let generation = read.map(|(g, shares)| {
        let table = g.table.to_u32();
        let own = g.own_command.map(|command| (g.writer, command));
        ((table, g.value, own), (table, shares, own))
    });
    if let Some(snapshot) = snapshot {
        LAST_SHARE_GENERATION.with(|l| l.set(Some((snapshot, generation))));
    }
    generation
}

/// When this transaction wrote the generation row: the (sub)transaction that wrote
/// it, and the statement's command id. Both counters move by `+ 1`, so a rolled-back
/// transaction leaves values the next one writes again; the writer tells them apart.
type Own = Option<(u32, u32)>;

/// A share generation as read: the table's OID (an extension made again starts its
/// counters again), its value, [`Own`].
type ShareGeneration = (u32, i64, Own);

/// What only share writers move: the table's OID, its `shares` column, [`Own`].
type SharesOnly = (u32, i64, Own);

/// Both, as one snapshot reads them.
type ShareGenerations = (ShareGeneration, SharesOnly);

thread_local! {
    /// The share generations of the last snapshot that read them.
    static LAST_SHARE_GENERATION: std::cell::Cell<Option<(crate::pg::mvcc::SnapshotKey, Option<ShareGenerations>)>> =
        const { std::cell::Cell::new(None) };
    /// Per value of the shares-only generation, whether any share of an object type
    /// exists (live or not): most types of most organizations have none, and then no
    /// viewer's shares need reading.
    static TYPES_WITH_SHARES: std::cell::RefCell<(SharesOnly, rustc_hash::FxHashMap<String, bool>)> =
        std::cell::RefCell::new(((0, i64::MIN, None), rustc_hash::FxHashMap::default()));
}

/// Whether any share of `object_type` exists at `generation`, the shares-only one
/// (one index probe per type and generation; a snapshot that sees the generation
/// sees the same shares).
fn type_has_shares(object_type: &str, generation: SharesOnly) -> bool {
    let known = TYPES_WITH_SHARES.with(|t| {
        let t = t.borrow();
        (t.0 == generation)
            .then(|| t.1.get(object_type).copied())
            .flatten()
    });
    if let Some(known) = known {
        return known;
    }
    let probe = || -> Result<bool, String> {
        use crate::pg::probe::{Equals, Table};
        let table = Table::open("sharing", "record_shares")?;
        let object_type_no = table.column("object_type")?;
        // Each index holds one kind of grantee (partial indexes): ask both.
        let key = [Equals::Text(object_type_no, object_type)];
        Ok(table.any_row("record_shares_user_idx", &key)?
            || table.any_row("record_shares_role_idx", &key)?)
    };
    let has = probe().unwrap_or_else(|e| spi_failed("read sharing.record_shares", e));
    TYPES_WITH_SHARES.with(|t| {
        let mut t = t.borrow_mut();
        if t.0 != generation {
            *t = (generation, rustc_hash::FxHashMap::default());
        }
        t.1.insert(object_type.to_string(), has);
    });
    has
}

/// Is any record of `object_type` shared with anyone, in the statement's snapshot?
/// (`true` when the share generation cannot be read: the planner then keeps the
/// shared records' paths.)
pub fn any_share_of(object_type: &str) -> bool {
    match share_generations() {
        Some((_, shares)) => type_has_shares(object_type, shares),
        None => true,
    }
}

/// (share generation, viewer, action, object type).
type ReachingKey = (ShareGeneration, i64, Action, String);

/// Entries of [`REACHING`]: the transaction start of the read, and the shares.
type Reaching = (i64, std::rc::Rc<Vec<TimedShare>>);

thread_local! {
    /// The shares reaching a viewer, kept across statements and transactions while
    /// the share generation stays (docs/design.md, "Record shares"): with the
    /// transaction start of their read, since shares ended by then were left out —
    /// an older transaction reads again. At most 256 entries.
    static REACHING: std::cell::RefCell<rustc_hash::FxHashMap<ReachingKey, Reaching>> =
        std::cell::RefCell::new(rustc_hash::FxHashMap::default());
}

/// [`shares_reaching`], remembered while the share generation stays.
fn shares_reaching_remembered(
    compiled: &CompiledOrg,
    object_type: &str,
    action: Action,
    viewer: i64,
) -> std::rc::Rc<Vec<TimedShare>> {
    let now = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };
    let Some((generation, shares)) = share_generations() else {
        return std::rc::Rc::new(shares_reaching(compiled, object_type, action, viewer));
    };
    if !type_has_shares(object_type, shares) {
        return std::rc::Rc::new(Vec::new());
    }
    let key = (generation, viewer, action, object_type.to_string());
    let hit = REACHING.with(|r| {
        r.borrow()
            .get(&key)
            .filter(|(read_at, _)| *read_at <= now)
            .map(|(_, shares)| shares.clone())
    });
    if let Some(shares) = hit {
        return shares;
    }
    let shares = std::rc::Rc::new(shares_reaching(compiled, object_type, action, viewer));
    REACHING.with(|r| {
        let mut r = r.borrow_mut();
        if r.len() >= 256 {
            r.clear();
        }
        r.retain(|k, _| k.0 == generation);
        r.insert(key, (now, shares.clone()));
    });
    shares
}

/// (snapshot, transaction start, viewer, action, object type) of the last lookup.
type SharedKey = (crate::pg::mvcc::SnapshotKey, i64, i64, Action, String);

/// Is `k` the key of a lookup for these arguments? (Compared in place: the
/// per-row decisions below ask this for every row and must not allocate.)
fn same_lookup(
    k: &SharedKey,
    snap: crate::pg::mvcc::SnapshotKey,
    started: i64,
    viewer: i64,
    action: Action,
    object_type: &str,
) -> bool {
    k.0 == snap && k.1 == started && k.2 == viewer && k.3 == action && k.4 == object_type
}

thread_local! {
    /// The last lookup of [`shared_ids_current`]: a policy's share arm reads the ids
    /// twice per statement (the hashed probe and the index condition); the same
    /// snapshot and transaction start give the same answer.
    static LAST_SHARED: std::cell::RefCell<Option<(SharedKey, std::rc::Rc<Vec<String>>)>> =
        const { std::cell::RefCell::new(None) };
}

/// [`shared_ids`] for the statement's viewer, parsed with `parse` (ids that do not
/// parse as the table's id type belong to another table of the type and are left out).
pub fn shared_ids_current<T>(
    object_type: Option<&str>,
    action: Option<&str>,
    parse: impl Fn(&str) -> Option<T>,
) -> Vec<T> {
    let (Some(object_type), Some(action)) = (object_type, action) else {
        return Vec::new();
    };
    let Ok(action) = action.parse::<Action>() else {
        return Vec::new();
    };
    let Some(viewer) = super::viewer::resolve_viewer() else {
        return Vec::new();
    };
    let started = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };
    let snap = crate::pg::mvcc::snapshot_key();
    let hit = LAST_SHARED.with(|l| match (&*l.borrow(), snap) {
        (Some((k, ids)), Some(snap))
            if same_lookup(k, snap, started, viewer, action, object_type) =>
        {
            Some(ids.clone())
        }
        _ => None,
    });
    let ids = hit.unwrap_or_else(|| {
        let model = current_model();
        let shares = shares_reaching_remembered(&model.compiled, object_type, action, viewer);
        let ids = std::rc::Rc::new(live_record_ids(&shares, started));
        if let Some(snap) = snap {
            let key = (snap, started, viewer, action, object_type.to_string());
            LAST_SHARED.with(|l| *l.borrow_mut() = Some((key, ids.clone())));
        }
        ids
    });
    ids.iter().filter_map(|s| parse(s)).collect()
}

/// The records one viewer may open by a share, for the row-by-row decision: the
/// viewer's company (shares open records of that company only) and the ids.
struct SharedSet {
    company: Option<i64>,
    ids: rustc_hash::FxHashSet<i64>,
}

thread_local! {
    /// The last set of [`shared_with_current`]: the `bigint` ids shared with the
    /// statement's viewer, for a decision made row by row (the fallback of the
    /// planner's rewrites and the WITH CHECK of a write).
    static LAST_SHARED_SET: std::cell::RefCell<Option<(SharedKey, std::rc::Rc<SharedSet>)>> =
        const { std::cell::RefCell::new(None) };
}

/// The `bigint` ids of `object_type` records shared with the statement's viewer
/// for `action`, ascending and without repeats: what the planner inlines beside a
/// viewer's owners, and what the guard of that rewrite compares.
pub fn shared_int8_ids_current(object_type: &str, action: Action) -> Vec<i64> {
    let mut ids = shared_ids_current(Some(object_type), Some(action.as_str()), |s| {
        s.parse::<i64>().ok()
    });
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Is record `id` of `company` shared with the statement's viewer for `action`?
/// Shares open records of the viewer's own company only (docs/concepts.md). Asked
/// row by row: a repeated question of one statement reads memory only.
pub fn shared_with_current(
    object_type: &str,
    action: Action,
    company: Option<i64>,
    id: Option<i64>,
) -> bool {
    let (Some(company), Some(id)) = (company, id) else {
        return false;
    };
    let Some(viewer) = super::viewer::resolve_viewer() else {
        return false;
    };
    let started = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };
    let snap = crate::pg::mvcc::snapshot_key();
    let hit = LAST_SHARED_SET.with(|l| match (&*l.borrow(), snap) {
        (Some((k, set)), Some(snap))
            if same_lookup(k, snap, started, viewer, action, object_type) =>
        {
            Some(set.clone())
        }
        _ => None,
    });
    let set = hit.unwrap_or_else(|| {
        let set = std::rc::Rc::new(SharedSet {
            company: current_model().compiled.company_of(viewer),
            ids: shared_int8_ids_current(object_type, action)
                .into_iter()
                .collect(),
        });
        if let Some(snap) = snap {
            let key = (snap, started, viewer, action, object_type.to_string());
            LAST_SHARED_SET.with(|l| *l.borrow_mut() = Some((key, set.clone())));
        }
        set
    });
    set.company == Some(company) && set.ids.contains(&id)
}

/// A record the asking session may not learn about is reported as missing, the
/// same way as one that does not exist.
pub fn no_such_record(table: &str, record_id: &str) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_NO_DATA_FOUND,
        format!("record {record_id} of {table} does not exist"),
        Some("name the record by the value of the id column given to sharing.protect() (docs/sql-reference.md)"),
    )
}

/// The protected tables of `object_type` that have an id column for record shares.
pub fn tables_of(object_type: &str) -> Vec<pg_sys::Oid> {
    let read = as_bootstrap_superuser(|| {
        read_row_kept(
            "SELECT pg_catalog.array_agg(p.table_name::pg_catalog.oid::pg_catalog.int8)
               FROM sharing.protected_tables p
               JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.table_name::pg_catalog.oid
              WHERE p.object_type OPERATOR(pg_catalog.=) $1 AND p.id_column IS NOT NULL",
            &[(pg_sys::TEXTOID, object_type.into_datum().expect("text"))],
            |row| row.get::<Vec<i64>>(1),
        )
    });
    read.unwrap_or_else(|e| spi_failed("read sharing.protected_tables", e))
        .flatten()
        .unwrap_or_default()
        .into_iter()
        .map(|oid| pg_sys::Oid::from(oid as u32))
        .collect()
}

/// One share as JSON (for explanations).
pub fn share_row(share_id: i64) -> serde_json::Value {
    let read = as_bootstrap_superuser(|| {
        read_row_kept(
            "SELECT pg_catalog.to_jsonb(s)::pg_catalog.text FROM sharing.record_shares s WHERE s.id OPERATOR(pg_catalog.=) $1",
            &[(pg_sys::INT8OID, pg_sys::Datum::from(share_id))],
            |row| row.get::<String>(1),
        )
    });
    read.unwrap_or_else(|e| spi_failed("read sharing.record_shares", e))
        .flatten()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// Are there any record shares at all? (The check by effect looks no further
/// when there are none.) Read in the latest snapshot of the statement.
pub fn any_shares() -> bool {
    as_bootstrap_superuser(|| {
        crate::pg::spi::read_rows(
            "SELECT EXISTS (SELECT 1 FROM sharing.record_shares)",
            &[],
            |row| row.require::<bool>(1),
        )
    })
    .unwrap_or_else(|e| spi_failed("read sharing.record_shares", e))
    .contains(&true)
}

/// The shares to one of `users` or to one of `roles` that are live now or will be
/// (a share that starts later is a gain all the same): (object type, record id,
/// share). Read as the statement sees the tables after its own writes.
pub fn live_shares_to(users: &[i64], roles: &[i64]) -> Vec<(String, String, ShareGrant)> {
    let rows = as_bootstrap_superuser(|| {
        crate::pg::spi::read_rows(
            "SELECT s.object_type, s.record_id, s.id, s.company_id, s.user_id, s.role_id, s.scope, s.access
               FROM sharing.record_shares s
              WHERE (s.user_id OPERATOR(pg_catalog.=) ANY ($1) OR s.role_id OPERATOR(pg_catalog.=) ANY ($2))
                AND (s.valid_until IS NULL OR s.valid_until OPERATOR(pg_catalog.>) pg_catalog.now())",
            &[
                (pg_sys::INT8ARRAYOID, users.to_vec().into_datum().expect("bigint[]")),
                (pg_sys::INT8ARRAYOID, roles.to_vec().into_datum().expect("bigint[]")),
            ],
            |row| {
                // A row with no grantee (the table's CHECK forbids it) reaches nobody.
                let grantee = Grantee::from_columns(
                    row.get::<i64>(5)?,
                    row.get::<i64>(6)?,
                    row.get::<String>(7)?.as_deref(),
                )
                .unwrap_or(Grantee::User(i64::MIN));
                Ok((
                    row.require::<String>(1)?,
                    row.require::<String>(2)?,
                    ShareGrant {
                        id: row.require::<i64>(3)?,
                        company: row.require::<i64>(4)?,
                        grantee,
                        access: row
                            .require::<String>(8)?
                            .parse::<RuleAccess>()
                            .unwrap_or(RuleAccess::Read),
                    },
                ))
            },
        )
    });
    rows.unwrap_or_else(|e| spi_failed("read sharing.record_shares", e))
}

/// The facts of record `record_id` of `object_type`, on whichever of its tables
/// holds it.
pub fn find_record(object_type: &str, record_id: &str) -> Option<RecordFacts> {
    tables_of(object_type)
        .into_iter()
        .map(|t| record_facts(t, record_id))
        .find(|f| f.found)
}

/// In a transaction whose snapshot is fixed (REPEATABLE READ, SERIALIZABLE): refuse
/// (40001) when a share of the record exists in the latest snapshot although the
/// transaction does not see it — it was written concurrently, and deleting the
/// record would leave it behind, waiting for the id.
pub fn require_no_unseen_shares(object_type: &str, record_id: &str) {
    if unsafe { pg_sys::XactIsoLevel } < pg_sys::XACT_REPEATABLE_READ as i32 {
        return;
    }
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            unsafe { pg_sys::PopActiveSnapshot() };
        }
    }
    unsafe { pg_sys::PushActiveSnapshot(pg_sys::GetLatestSnapshot()) };
    let _pop = Pop;
    let exists = as_bootstrap_superuser(|| {
        read_row_kept(
            "SELECT EXISTS (SELECT 1 FROM sharing.record_shares s
                             WHERE s.object_type OPERATOR(pg_catalog.=) $1 AND s.record_id OPERATOR(pg_catalog.=) $2)",
            &[
                (pg_sys::TEXTOID, object_type.into_datum().expect("text")),
                (pg_sys::TEXTOID, record_id.into_datum().expect("text")),
            ],
            |row| row.require::<bool>(1),
        )
    })
    .unwrap_or_else(|e| spi_failed("read sharing.record_shares", e))
    .unwrap_or(false);
    if exists {
        raise(
            PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE,
            format!(
                "record {record_id} of \"{object_type}\" was shared by a concurrent transaction"
            ),
            Some("its shares must go with it: run the deletion again"),
        );
    }
}
