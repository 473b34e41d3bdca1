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

use crate::model::engine::{CompiledOrg, OwnerBound};
use crate::model::org::Org;
use crate::model::types::Action;
use crate::pg::errors::spi_failed;
use crate::pg::identity::as_bootstrap_superuser;
use crate::pg::mvcc::{snapshot_key, SnapshotKey};
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
    pub org: Org,
    pub compiled: CompiledOrg,
    /// Owner bounds and inlinable filters asked for so far, so that statements
    /// planned for the same viewer do not compute their arrays again.
    bounds: Memo<OwnerBound>,
    filters: Memo<Option<(Vec<i64>, i64)>>,
    /// The fingerprints the effect check compares, computed when first needed.
    signatures: once_cell::unsync::OnceCell<crate::model::effect::Signatures>,
}

impl CachedModel {
    /// This configuration as the effect check sees it (`backend::effect`).
    pub fn state(&self) -> crate::model::effect::State<'_> {
        crate::model::effect::State {
            org: &self.org,
            compiled: &self.compiled,
            signatures: self
                .signatures
                .get_or_init(|| crate::model::effect::Signatures::of(&self.org, &self.compiled)),
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

/// What identifies a configuration: the generation row as this snapshot sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ModelKey {
    table: u32,
    generation: i64,
    /// Some(command id) when the generation row was written by this transaction.
    own_command: Option<u32>,
}

#[derive(Default)]
struct Cache {
    by_snapshot: Option<(SnapshotKey, ModelKey)>,
    /// Most recent first; two entries so that alternating between a REPEATABLE
    /// READ snapshot and a newer one does not rebuild every time.
    models: Vec<(ModelKey, Rc<CachedModel>)>,
    rebuilds: u64,
    last_rebuild_micros: u64,
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

/// The compiled model for the asking statement's snapshot.
pub fn current_model() -> Rc<CachedModel> {
    let key = current_key();
    if let Some(model) = model_for(key) {
        return model;
    }
    let snap = snapshot_key();
    let started = std::time::Instant::now();
    let org = as_bootstrap_superuser(super::loader::load_org);
    let compiled = CompiledOrg::compile(&org);
    let took = started.elapsed().as_micros() as u64;
    let model = Rc::new(CachedModel {
        org,
        compiled,
        bounds: RefCell::default(),
        filters: RefCell::default(),
        signatures: once_cell::unsync::OnceCell::new(),
    });
    // Plans shaped for the previous configuration are made again.
    super::plans::forget_shaped_plans();
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        c.models.insert(0, (key, model.clone()));
        c.models.truncate(2);
        c.by_snapshot = snap.map(|s| (s, key));
        c.rebuilds += 1;
        c.last_rebuild_micros = took;
    });
    model
}

/// Keep `model`, the configuration this transaction has written as of now, for the
/// statements that will read it once committed: they read the same generation, no
/// longer as this transaction's own write. Sound because every change to the
/// configuration moves the generation: if this transaction writes more, the
/// generation moves on; if it aborts, the generation is never seen again (its
/// numbers come from a sequence). Called by the effect check after a statement.
pub fn remember_as_committed(model: &Rc<CachedModel>) {
    let key = model_key();
    if key.own_command.is_none() {
        return;
    }
    let committed = ModelKey {
        own_command: None,
        ..key
    };
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
