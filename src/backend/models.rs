//! The backend cache of the compiled organization.
//!
//! Key: the configuration generation, a value of `sharing._generation` that every
//! change to a `sharing` table replaces with a fresh `nextval` (sql/generation.sql),
//! read in the asking statement's own snapshot. A change committed by another
//! session is therefore seen at the next statement, a rolled-back change never
//! (its generation number is never reused), and a REPEATABLE READ transaction keeps
//! the generation — and so the model — of its snapshot. When the current
//! transaction itself changed the configuration, the command id joins the key so
//! that its own later commands see its own changes.
//!
//! Reading the generation is one read-only SPI query (a plan kept for the backend);
//! to make a decision a few memory reads, the generation is remembered per snapshot
//! (its xmin, xmax, in-progress sets and command id — and the local transaction id
//! and the current subtransaction once the transaction has an xid, since a rollback
//! to a savepoint changes what the transaction sees of its own writes and nothing
//! else), so rows of one statement, and consecutive read-only statements that see
//! the same committed data, never query it again.
//!
//! When the generation moved on from a model this backend holds, and the change log
//! (`sharing._changes`, read in the same snapshot) shows only changes a model can
//! take in place, the model is patched instead of compiled again
//! (docs/design.md, "Incremental updates"); otherwise, and whenever a patch does not
//! fit, it is rebuilt.

use crate::model::engine::{CompiledOrg, OwnerBound};
use crate::model::incremental::{changes_between, LogEntry};
use crate::model::org::Org;
use crate::model::types::Action;
use crate::pg::errors::spi_failed;
use crate::pg::identity::as_bootstrap_superuser;
use crate::pg::mvcc::{snapshot_key, SnapshotKey};
use pgrx::pg_sys;
use std::cell::RefCell;
use std::rc::Rc;

/// Per-viewer answers remembered with a model: (viewer, action, object type).
type Memo<T> = RefCell<rustc_hash::FxHashMap<(i64, Action, String), T>>;

/// The memo's answer for the key, computed once (a few viewers per backend; the
/// memo is emptied when it grows past 64 entries).
fn remember<T: Clone>(memo: &Memo<T>, key: (i64, Action, &str), compute: impl FnOnce() -> T) -> T {
    let key = (key.0, key.1, key.2.to_string());
    if let Some(v) = memo.borrow().get(&key) {
        return v.clone();
    }
    let value = compute();
    let mut memo = memo.borrow_mut();
    if memo.len() >= 64 {
        memo.clear();
    }
    memo.insert(key, value.clone());
    value
}

/// One compiled configuration.
pub struct CachedModel {
    /// The configuration's rows: kept from a compile or a patch, or read when first
    /// asked for ([`CachedModel::org`]); a model read from a shared image has none
    /// until then, and the backends that only decide never read them.
    org: once_cell::unsync::OnceCell<Org>,
    /// The configuration rows without the people, read when first asked for by a
    /// backend that does not hold the whole rows ([`CachedModel::config`]).
    config: once_cell::unsync::OnceCell<Org>,
    /// The key the model was made for: the rows are read only in a snapshot that
    /// sees it.
    key: ModelKey,
    pub compiled: CompiledOrg,
    /// Owner bounds and inlinable filters asked for so far, so that statements
    /// planned for the same viewer do not compute their arrays again.
    bounds: Memo<OwnerBound>,
    filters: Memo<Option<(Vec<i64>, i64)>>,
    /// The fingerprints the effect check compares, computed when first needed.
    signatures: once_cell::unsync::OnceCell<crate::model::effect::Signatures>,
    /// The newest generation, up to this one, whose change mapped or unmapped a
    /// login (`sharing.users.db_role`; a compile counts as one): the viewer
    /// directory is the same in every committed generation since
    /// ([`CachedModel::directory_key`]).
    logins_since: i64,
}

impl CachedModel {
    /// A configuration as compiled (or patched), with nothing remembered yet.
    fn new(key: ModelKey, org: Option<Org>, compiled: CompiledOrg) -> CachedModel {
        CachedModel {
            org: org
                .map(once_cell::unsync::OnceCell::with_value)
                .unwrap_or_default(),
            config: Default::default(),
            key,
            compiled,
            bounds: RefCell::default(),
            filters: RefCell::default(),
            signatures: once_cell::unsync::OnceCell::new(),
            logins_since: key.generation,
        }
    }

    /// The model read from a published image, with the generation that last mapped
    /// a login in it.
    fn of_image(key: ModelKey, image: super::shared::Image) -> CachedModel {
        CachedModel::new(key, None, image.model).logins_since(image.logins_since)
    }

    /// The same model, whose logins were last mapped in generation `since`.
    fn logins_since(mut self, since: i64) -> CachedModel {
        self.logins_since = since;
        self
    }

    /// What the viewer directory of this configuration (`backend::viewer`) is
    /// keyed by: committed configurations that map the same logins share one, so a
    /// change of people that maps no login does not read it again.
    pub fn directory_key(&self) -> DirectoryKey {
        if self.key.is_committed() {
            DirectoryKey::Logins {
                table: self.key.table,
                since: self.logins_since,
            }
        } else {
            DirectoryKey::Exact(self.key)
        }
    }

    /// The configuration's rows, read now if this backend does not hold them (a
    /// model read from a shared image). Only in a statement whose snapshot sees
    /// this model's configuration: anything else is refused (40001), never answered
    /// from other rows.
    pub fn org(&self) -> &Org {
        ORG_ASKED.with(|a| a.set(true));
        self.org.get_or_init(|| {
            self.require_current_snapshot();
            as_bootstrap_superuser(super::loader::load_org)
        })
    }

    /// The configuration rows without the people (users and memberships): the
    /// whole rows when this backend holds them, else the configuration tables read
    /// once (a few kilobytes per role, nothing per user), with the same rule as
    /// [`CachedModel::org`] on snapshots.
    pub fn config(&self) -> &Org {
        if let Some(org) = self.org.get() {
            return org;
        }
        self.config.get_or_init(|| {
            self.require_current_snapshot();
            as_bootstrap_superuser(super::loader::load_config)
        })
    }

    /// A user's permissions (their roles' levels and privileges) from the compiled
    /// model and the configuration rows, never the users' rows: what the
    /// per-request questions (`has_privilege`, who may manage shares) read.
    pub fn permissions_of(&self, user: i64) -> crate::model::perms::PermissionSet {
        let Some((company, status, superuser)) = self.compiled.user_standing(user) else {
            return Default::default();
        };
        let standing = crate::model::perms::Standing {
            id: user,
            company,
            status,
            superuser,
        };
        let roles = self.compiled.role_ids_of(user);
        crate::model::perms::permissions_of(self.config(), &standing, &roles)
    }

    /// Refuse (40001) to read rows for this model in a snapshot that does not see
    /// its configuration.
    fn require_current_snapshot(&self) {
        let now = current_key();
        if now != self.key && now != self.key.committed() {
            crate::pg::errors::raise(
                pgrx::PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE,
                "pg_sharing could not read the sharing configuration of this statement: it changed meanwhile",
                Some("run the statement again"),
            );
        }
    }

    /// Does this model hold the configuration's rows?
    pub fn has_org(&self) -> bool {
        self.org.get().is_some()
    }

    /// The configuration's rows if this backend holds them (never read for this).
    pub fn rows_if_held(&self) -> Option<&Org> {
        self.org.get()
    }

    /// This configuration as the effect check sees it (`backend::effect`).
    pub fn state(&self) -> crate::model::effect::State<'_> {
        let org = self.org();
        crate::model::effect::State {
            org,
            compiled: &self.compiled,
            signatures: self
                .signatures
                .get_or_init(|| crate::model::effect::Signatures::of(org, &self.compiled)),
        }
    }

    pub fn owner_bound(&self, object_type: &str, action: Action, viewer: i64) -> OwnerBound {
        remember(&self.bounds, (viewer, action, object_type), || {
            self.compiled.owner_bound(object_type, action, viewer)
        })
    }

    /// [`CompiledOrg::exact_owner_filter`], remembered like the owner bounds.
    pub fn exact_owner_filter(
        &self,
        object_type: &str,
        action: Action,
        viewer: i64,
    ) -> Option<(Vec<i64>, i64)> {
        remember(&self.filters, (viewer, action, object_type), || {
            self.compiled
                .exact_owner_filter(object_type, action, viewer)
        })
    }
}

/// The policy shapes read the cached model: the inlinable filters are remembered.
impl crate::model::shape::ShapeSource for CachedModel {
    fn all_rows_company(&self, object_type: &str, action: Action, viewer: i64) -> Option<i64> {
        self.compiled.all_rows_company(object_type, action, viewer)
    }
    fn exact_owner_filter(
        &self,
        object_type: &str,
        action: Action,
        viewer: i64,
    ) -> Option<(Vec<i64>, i64)> {
        CachedModel::exact_owner_filter(self, object_type, action, viewer)
    }
    fn company_user_count(&self, company: i64) -> usize {
        self.compiled.company_user_count(company)
    }
    fn owner_bound(&self, object_type: &str, action: Action, viewer: i64) -> OwnerBound {
        CachedModel::owner_bound(self, object_type, action, viewer)
    }
    fn company_of(&self, user: i64) -> Option<i64> {
        self.compiled.company_of(user)
    }
    fn reach_bound(&self, viewer: i64) -> OwnerBound {
        self.compiled.reach_bound(viewer)
    }
}

/// What identifies the viewer directory of a configuration
/// ([`CachedModel::directory_key`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DirectoryKey {
    /// Committed: the generation table, and the generation that last mapped a login.
    Logins { table: u32, since: i64 },
    /// Written by this transaction: that configuration only.
    Exact(ModelKey),
}

/// What identifies a configuration: the generation row as this snapshot sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ModelKey {
    table: u32,
    generation: i64,
    /// Some(command id) when the generation row was written by this transaction.
    own_command: Option<u32>,
}

impl ModelKey {
    /// Is this a committed configuration (not one this transaction wrote)?
    pub fn is_committed(&self) -> bool {
        self.own_command.is_none()
    }

    /// The same configuration once committed: what the other sessions will read.
    fn committed(self) -> ModelKey {
        ModelKey {
            own_command: None,
            ..self
        }
    }
}

thread_local! {
    /// Has this backend asked for the configuration's rows ([`CachedModel::org`])?
    /// A backend that never did (one that only decides) lets them go once its model
    /// is published, keeping nothing of the configuration but the shared image.
    static ORG_ASKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[derive(Default)]
struct Cache {
    by_snapshot: Option<(SnapshotKey, ModelKey)>,
    /// Most recent first; two entries so that alternating between a REPEATABLE
    /// READ snapshot and a newer one does not rebuild every time.
    models: Vec<(ModelKey, Rc<CachedModel>)>,
    rebuilds: u64,
    last_rebuild_micros: u64,
    patches: u64,
    last_patch_micros: u64,
    /// Patches that found the model held elsewhere too (copied, then patched).
    patch_copies: u64,
    /// Models read from a shared image (`backend::shared`), and how long the last took.
    attaches: u64,
    last_attach_micros: u64,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// Read the generation row in the active snapshot, directly (`pg::probe`: no SPI
/// query per snapshot; the asking role needs no privilege on the sharing tables).
fn model_key() -> ModelKey {
    let generation = crate::pg::probe::read_generation("sharing", "_generation")
        .and_then(|g| g.ok_or_else(|| "sharing._generation is missing".to_string()))
        .unwrap_or_else(|e| spi_failed("read sharing._generation", e));
    if let Some(changing) = generation.changing {
        super::citus::refuse_a_change_this_connection_cannot_see(changing);
    }
    ModelKey {
        table: generation.table.to_u32(),
        generation: generation.value,
        own_command: generation.own_command,
    }
}

/// The key of the configuration the asking statement's snapshot sees (one read
/// of the generation row per snapshot, shared with [`current_model`]).
pub fn current_key() -> ModelKey {
    let snap = snapshot_key();
    let known = CACHE.with(|c| match (snap, c.borrow().by_snapshot) {
        (Some(s), Some((cached, key))) if s == cached => Some(key),
        _ => None,
    });
    known.unwrap_or_else(|| {
        let key = model_key();
        CACHE.with(|c| c.borrow_mut().by_snapshot = snap.map(|s| (s, key)));
        key
    })
}

/// The model compiled for `key`, if this backend has it (no rebuild).
pub fn model_for(key: ModelKey) -> Option<Rc<CachedModel>> {
    CACHE.with(|c| {
        c.borrow()
            .models
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, m)| m.clone())
    })
}

/// The compiled model for the asking statement's snapshot: held by this backend;
/// else, for a committed configuration where models are shared, read from the
/// published image (or built once for every backend: patched or compiled here, then
/// published); else patched from an older model this backend holds, or compiled.
pub fn current_model() -> Rc<CachedModel> {
    let key = current_key();
    if let Some(model) = model_for(key) {
        return model;
    }
    if !key.is_committed() {
        return build(key);
    }
    // How long the others wait for this backend's build before building too: only a
    // claimer that vanished without aborting (its abort releases the claim) makes
    // them wait that long, so it is generous — four compiles, at least two seconds.
    let expected = CACHE.with(|c| (4 * c.borrow().last_rebuild_micros).max(2_000_000) as i64);
    let started = std::time::Instant::now();
    match super::shared::find_or_claim(key.table, key.generation, expected) {
        super::shared::Found::Ready(image) => {
            let model = Rc::new(CachedModel::of_image(key, *image));
            let took = started.elapsed().as_micros() as u64;
            keep(key, &model, |c| {
                c.attaches += 1;
                c.last_attach_micros = took;
            });
            model
        }
        super::shared::Found::Claimed => {
            if let Some(model) = patched_in_place(key) {
                return model;
            }
            let model = build(key);
            let logins_since = model.logins_since;
            let Some(shared) =
                super::shared::publish(key.table, key.generation, &model.compiled, logins_since)
            else {
                return model;
            };
            // This backend, too, reads the published image; it keeps the rows only
            // if it uses them.
            // (Out of the cache first, so that the rows move rather than copy.)
            CACHE.with(|c| c.borrow_mut().models.retain(|(k, _)| *k != key));
            let org = if ORG_ASKED.with(|a| a.get()) {
                Rc::try_unwrap(model).ok().and_then(|m| m.org.into_inner())
            } else {
                None
            };
            let model = Rc::new(CachedModel::new(key, org, shared).logins_since(logins_since));
            keep(key, &model, |_| {});
            model
        }
        super::shared::Found::Unshared => build(key),
    }
}

/// Store `model` as the one for `key` (most recent first), and count.
fn keep(key: ModelKey, model: &Rc<CachedModel>, count: impl FnOnce(&mut Cache)) {
    // Plans shaped for the previous configuration are made again.
    super::plans::forget_shaped_plans();
    let snap = snapshot_key();
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        c.models.retain(|(k, _)| *k != key);
        c.models.insert(0, (key, model.clone()));
        c.models.truncate(2);
        c.by_snapshot = snap.map(|s| (s, key));
        count(&mut c);
    });
}

/// The model for `key` made by this backend: patched from an older one it holds,
/// or compiled.
fn build(key: ModelKey) -> Rc<CachedModel> {
    if let Some(model) = patched_model(key) {
        return model;
    }
    // No model of this configuration's past here (a new connection): the newest
    // published one, patched, if the change log still reaches back to it.
    if key.is_committed() && newest_base(key).is_none() {
        if let Some(image) = super::shared::newest_before(key.table, key.generation) {
            let base_key = ModelKey {
                generation: image.generation,
                ..key
            };
            let base = Rc::new(CachedModel::of_image(base_key, image));
            CACHE.with(|c| c.borrow_mut().models.push((base_key, base)));
            if let Some(model) = patched_model(key) {
                return model;
            }
        }
    }
    let started = std::time::Instant::now();
    let org = as_bootstrap_superuser(super::loader::load_org);
    let compiled = CompiledOrg::compile(&org);
    let took = started.elapsed().as_micros() as u64;
    let model = Rc::new(CachedModel::new(key, Some(org), compiled));
    keep(key, &model, |c| {
        c.rebuilds += 1;
        c.last_rebuild_micros = took;
    });
    model
}

/// The key of the newest model this backend holds that it could patch up to
/// `key`: of the same generation table, committed, older.
fn newest_base(key: ModelKey) -> Option<ModelKey> {
    CACHE.with(|c| {
        c.borrow()
            .models
            .iter()
            .filter(|(k, _)| {
                k.table == key.table && k.is_committed() && k.generation < key.generation
            })
            .max_by_key(|(k, _)| k.generation)
            .map(|(k, _)| *k)
    })
}

/// The log entries of generations `from..=to` (of `from`, its 'B' only), in the
/// active snapshot; `None` when there are more than a patch is worth, or the log
/// does not exist (a database not yet updated to 0.4.0).
fn read_log(from: i64, to: i64) -> Option<Vec<LogEntry>> {
    const CAP: i64 = 4096;
    let exists = unsafe {
        let ns = pg_sys::get_namespace_oid(c"sharing".as_ptr(), true);
        ns != pg_sys::InvalidOid
            && pg_sys::get_relname_relid(c"_changes".as_ptr(), ns) != pg_sys::InvalidOid
    };
    if !exists {
        return None;
    }
    let read = crate::pg::spi::read_row_kept(
        "SELECT pg_catalog.array_agg(c.gen ORDER BY c.gen, c.seq),
                pg_catalog.array_agg(c.tbl ORDER BY c.gen, c.seq),
                pg_catalog.array_agg(c.op::pg_catalog.text ORDER BY c.gen, c.seq),
                pg_catalog.array_agg(c.row_data::pg_catalog.text ORDER BY c.gen, c.seq),
                pg_catalog.count(*)
           FROM (SELECT x.gen, x.seq, x.tbl, x.op, x.row_data FROM sharing._changes x
                  WHERE x.gen OPERATOR(pg_catalog.>=) $1 AND x.gen OPERATOR(pg_catalog.<=) $2
                    AND (x.gen OPERATOR(pg_catalog.>) $1
                         OR x.op::pg_catalog.text OPERATOR(pg_catalog.=) 'B')
                  ORDER BY x.gen, x.seq
                  LIMIT 4097) c",
        &[
            (pg_sys::INT8OID, pg_sys::Datum::from(from)),
            (pg_sys::INT8OID, pg_sys::Datum::from(to)),
        ],
        |row| {
            let n: i64 = row.require(5)?;
            if n > CAP {
                return Ok(None);
            }
            let gens: Vec<Option<i64>> = row.get(1)?.unwrap_or_default();
            let tables: Vec<Option<String>> = row.get(2)?.unwrap_or_default();
            let ops: Vec<Option<String>> = row.get(3)?.unwrap_or_default();
            let rows: Vec<Option<String>> = row.get(4)?.unwrap_or_default();
            if [tables.len(), ops.len(), rows.len()]
                .iter()
                .any(|l| *l != gens.len())
            {
                return Ok(None);
            }
            let entries = (0..gens.len())
                .map(|i| LogEntry {
                    generation: gens[i].unwrap_or(i64::MIN),
                    table: tables[i].clone().unwrap_or_default(),
                    op: ops[i]
                        .as_deref()
                        .and_then(|o| o.chars().next())
                        .unwrap_or('?'),
                    row: rows[i].clone(),
                })
                .collect();
            Ok(Some(entries))
        },
    );
    read.unwrap_or_else(|e| spi_failed("read sharing._changes", e))
        .flatten()
}

/// The model for `key` patched from an older one this backend holds, when the
/// change log between them holds only changes a model takes in place. A model no
/// one else holds is patched where it is (its old key dropped: a later statement
/// that still sees the old generation, a cursor's, rebuilds); one held elsewhere too
/// is copied first. Any change that does not fit drops the patch for a rebuild.
fn patched_model(key: ModelKey) -> Option<Rc<CachedModel>> {
    if !key.is_committed() {
        return None;
    }
    let base_key = newest_base(key)?;
    let started = std::time::Instant::now();
    let entries = as_bootstrap_superuser(|| read_log(base_key.generation, key.generation))?;
    let changes = changes_between(base_key.generation, key.generation, &entries)
        .map_err(|e| pgrx::debug1!("pg_sharing rebuilds the model: {}", e.0))
        .ok()?;
    // Take the base out of the cache: patched in place when nothing else holds it.
    let base = CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let at = c.models.iter().position(|(k, _)| *k == base_key)?;
        Some(c.models.remove(at).1)
    })?;
    let logins_since = if crate::model::incremental::maps_logins(base_key.generation, &entries) {
        key.generation
    } else {
        base.logins_since
    };
    let (org, mut compiled, copied) = match Rc::try_unwrap(base) {
        Ok(model) => (model.org.into_inner(), model.compiled, false),
        Err(shared) => {
            // Still in use (an effect check's baseline): keep it for its holder.
            // (A model read from a shared image copies only what the patch writes.)
            CACHE.with(|c| c.borrow_mut().models.push((base_key, shared.clone())));
            let copied = shared.has_org() || !shared.compiled.is_mapped();
            (shared.org.get().cloned(), shared.compiled.clone(), copied)
        }
    };
    let org = match org {
        // The rows too, patched with the model.
        Some(mut org) => {
            let patched = changes
                .iter()
                .try_for_each(|change| org.apply(change))
                .and_then(|()| compiled.patch(&org, &changes));
            if let Err(e) = patched {
                pgrx::debug1!("pg_sharing rebuilds the model: {}", e.0);
                return None;
            }
            Some(org)
        }
        // A model without its rows (read from a shared image) patches from the
        // changes and itself, and reads the configuration tables only when
        // levels, rules or agreements changed (in this snapshot: they are the
        // patched generation's already).
        None => {
            let config = crate::model::incremental::needs_config(&changes)
                .ok()?
                .then(|| as_bootstrap_superuser(super::loader::load_config));
            if let Err(e) = compiled.patch_people_free(config.as_ref(), &changes) {
                pgrx::debug1!("pg_sharing rebuilds the model: {}", e.0);
                return None;
            }
            None
        }
    };
    let took = started.elapsed().as_micros() as u64;
    let model = Rc::new(CachedModel::new(key, org, compiled).logins_since(logins_since));
    keep(key, &model, |c| {
        c.patches += 1;
        c.patch_copies += copied as u64;
        c.last_patch_micros = took;
    });
    Some(model)
}

/// The model for `key` (claimed by this backend) made by patching the database's
/// spare image where it lies and published (`shared::publish_in_place`): the
/// change log from the spare's generation applied to it, as to a model read from
/// an image. Not for a backend that holds the rows of its model and uses them
/// (they would be loaded again whole); `None` when there is no spare to patch or
/// a change does not fit, and the caller builds and publishes the whole image.
fn patched_in_place(key: ModelKey) -> Option<Rc<CachedModel>> {
    let uses_rows = ORG_ASKED.with(|a| a.get())
        && newest_base(key)
            .and_then(model_for)
            .is_some_and(|m| m.has_org());
    if uses_rows {
        return None;
    }
    let started = std::time::Instant::now();
    let (compiled, logins_since) =
        super::shared::publish_in_place(key.table, key.generation, |spare, model| {
            let entries = as_bootstrap_superuser(|| read_log(spare.generation, key.generation))?;
            let changes = changes_between(spare.generation, key.generation, &entries)
                .map_err(|e| pgrx::debug1!("pg_sharing writes the whole image: {}", e.0))
                .ok()?;
            let config = crate::model::incremental::needs_config(&changes)
                .ok()?
                .then(|| as_bootstrap_superuser(super::loader::load_config));
            if let Err(e) = model.patch_people_free(config.as_ref(), &changes) {
                pgrx::debug1!("pg_sharing writes the whole image: {}", e.0);
                return None;
            }
            Some(
                if crate::model::incremental::maps_logins(spare.generation, &entries) {
                    key.generation
                } else {
                    spare.logins_since
                },
            )
        })?;
    let took = started.elapsed().as_micros() as u64;
    let model = Rc::new(CachedModel::new(key, None, compiled).logins_since(logins_since));
    keep(key, &model, |c| {
        c.patches += 1;
        c.last_patch_micros = took;
    });
    Some(model)
}

/// Keep `model`, the configuration this transaction has written as of now, for the
/// statements that will read it once committed: they read the same generation, no
/// longer as this transaction's own write. Sound because every change to the
/// configuration moves the generation: if this transaction writes more, the
/// generation moves on; if it aborts, the generation is never seen again (its
/// numbers come from a sequence). Called by the effect check after a statement.
pub fn remember_as_committed(model: &Rc<CachedModel>) {
    let key = model_key();
    if key.is_committed() {
        return;
    }
    let committed = key.committed();
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if !c.models.iter().any(|(k, _)| *k == committed) {
            c.models.insert(0, (committed, model.clone()));
            c.models.truncate(2);
        }
    });
}

/// The model this backend used last, without reading the generation: what the
/// plans it shaped were shaped with (`backend::plans`), or `None` before the first.
pub fn last_model() -> Option<Rc<CachedModel>> {
    CACHE.with(|c| {
        let c = c.borrow();
        let (_, key) = c.by_snapshot?;
        c.models
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, m)| m.clone())
    })
}

/// How many times this backend compiled the model (for tests and benchmarks).
pub fn rebuild_count() -> u64 {
    CACHE.with(|c| c.borrow().rebuilds)
}

/// (rebuilds so far, duration of the last rebuild in microseconds).
pub fn rebuild_stats() -> (u64, u64) {
    CACHE.with(|c| {
        let c = c.borrow();
        (c.rebuilds, c.last_rebuild_micros)
    })
}

/// (models read from a shared image so far, duration of the last in microseconds).
pub fn attach_stats() -> (u64, u64) {
    CACHE.with(|c| {
        let c = c.borrow();
        (c.attaches, c.last_attach_micros)
    })
}

/// (patches so far, of which copies, duration of the last patch in microseconds).
pub fn patch_stats() -> (u64, u64, u64) {
    CACHE.with(|c| {
        let c = c.borrow();
        (c.patches, c.patch_copies, c.last_patch_micros)
    })
}
