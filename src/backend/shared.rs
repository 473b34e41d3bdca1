//! One model per database (docs/design.md, "One model per database"): compiled
//! models published as images (`model::image`) in dynamic shared memory, found
//! through a small directory in the server's shared memory, so that the backends
//! of a database read one copy instead of each building its own.
//!
//! Needs `shared_preload_libraries = 'pg_sharing'` (the directory is allocated at
//! server start); without it [`enabled`] is false and every backend keeps its own
//! model, as before.
//!
//! A slot names a committed configuration — (database, generation table,
//! generation), the model key without a command id — and is `Building` (a
//! backend claimed it and is compiling or patching: others wait for it, up to its
//! deadline) or `Ready` (the handle of a pinned segment holding the image). A
//! database keeps its two newest generations; an older one is unpinned when a new
//! one is published, and its segment goes away once the last backend reading it
//! drops it (a REPEATABLE READ transaction keeps what it reads).

use crate::model::engine::CompiledOrg;
use crate::model::image::{decode, ImagePlan};
use crate::model::slab::Keep;
use pgrx::lwlock::PgLwLock;
use pgrx::shmem::PGRXSharedMemory;
use pgrx::{pg_guard, pg_sys};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};

const SLOTS: usize = 32;
/// Ready images kept per (database, generation table).
const KEPT_PER_DATABASE: usize = 2;

#[derive(Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
enum State {
    #[default]
    Empty,
    Building,
    Ready,
}

#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Slot {
    state: State,
    database: u32,
    table: u32,
    generation: i64,
    /// Ready: the segment; its length.
    handle: u32,
    len: u64,
    /// Building: who, and until when (µs) the others wait for it.
    builder: i32,
    deadline: i64,
    /// The directory's clock when the slot was last used (the least recent goes).
    used: u64,
}

#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Directory {
    slots: [Slot; SLOTS],
    clock: u64,
    published: u64,
    evicted: u64,
}

unsafe impl PGRXSharedMemory for Directory {}

static DIRECTORY: PgLwLock<Directory> = unsafe { PgLwLock::new(c"pg_sharing_models") };

/// `sharing.share_models` (registered in `backend::gucs`): whether this backend
/// reads the compiled model from the images the backends of its database share,
/// and publishes the ones it builds. Off: the backend compiles and patches a model
/// of its own, as without the preload. A superuser's setting (it trades memory for
/// CPU; the tests use it to compare a shared model with one compiled afresh).
pub static SHARE_MODELS: pgrx::guc::GucSetting<bool> = pgrx::guc::GucSetting::<bool>::new(true);

/// Set in `_PG_init` when the library is preloaded (the directory exists); the
/// backends forked from the postmaster inherit it.
static ENABLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The slot this backend claimed and has not published yet.
    static CLAIMED: Cell<Option<(u32, u32, i64)>> = const { Cell::new(None) };
    /// (images this backend published, waits for another's build); the images it
    /// read are counted by `backend::models` (`_model_stats()`'s `attaches`).
    static COUNTS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// The bytes before the image in a segment: what it is the image of, checked
/// after attaching (a handle of an unpinned segment may be taken again).
#[derive(Clone, Copy)]
#[repr(C)]
struct Prefix {
    magic: u64,
    database: u64,
    table: u64,
    generation: i64,
}
const PREFIX_MAGIC: u64 = u64::from_le_bytes(*b"PGSHSEG1");
const PREFIX: usize = std::mem::size_of::<Prefix>();

/// Allocate the directory (from `_PG_init`, while preloading only).
#[allow(unexpected_cfgs)]
pub fn init() {
    unsafe {
        if !pg_sys::process_shared_preload_libraries_in_progress {
            return;
        }
    }
    pgrx::pg_shmem_init!(DIRECTORY);
    ENABLED.store(true, Ordering::Relaxed);
    unsafe {
        pg_sys::RegisterXactCallback(Some(xact_event), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(subxact_event), std::ptr::null_mut());
    }
}

/// Are models shared in this server, and by this backend (`sharing.share_models`)?
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed) && unsafe { pg_sys::IsUnderPostmaster } && SHARE_MODELS.get()
}

/// (published, waited) by this backend so far.
pub fn counts() -> (u64, u64) {
    COUNTS.with(|c| c.get())
}

fn count(f: impl FnOnce(&mut (u64, u64))) {
    COUNTS.with(|c| {
        let mut v = c.get();
        f(&mut v);
        c.set(v)
    });
}

fn now_micros() -> i64 {
    unsafe { pg_sys::GetCurrentTimestamp() }
}

/// A segment this backend maps, detached when the last model reading it is dropped.
struct Mapping(*mut pg_sys::dsm_segment);

thread_local! {
    /// The segments this backend maps, by handle: a segment is attached once per
    /// backend (PostgreSQL refuses a second attach), however many models read it.
    static MAPPINGS: std::cell::RefCell<rustc_hash::FxHashMap<u32, std::rc::Weak<Mapping>>> =
        Default::default();
}

/// This backend's mapping of segment `handle`, if it has one.
fn mapped(handle: u32) -> Option<Rc<Mapping>> {
    MAPPINGS.with(|m| {
        let mut m = m.borrow_mut();
        m.retain(|_, w| w.strong_count() > 0);
        m.get(&handle).and_then(|w| w.upgrade())
    })
}

fn remember_mapping(handle: u32, mapping: &Rc<Mapping>) {
    MAPPINGS.with(|m| m.borrow_mut().insert(handle, Rc::downgrade(mapping)));
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // At backend exit the segments are already detached (and their handles
        // freed) before Rust's thread-local destructors drop the cache.
        if unsafe { pg_sys::proc_exit_inprogress } {
            return;
        }
        unsafe { pg_sys::dsm_detach(self.0) };
    }
}

/// The model of (table, generation) in this database, read from its published
/// image. `None` when nothing is published (or the image cannot be read).
fn attach_ready(table: u32, generation: i64) -> Option<CompiledOrg> {
    attach_where(table, |g| g == generation).map(|(_, model)| model)
}

/// The newest published model of this database's generation table older than
/// `generation`, with its generation: a base to patch for a backend that holds none
/// (a new connection that needs a configuration nobody has built yet).
pub fn newest_before(table: u32, generation: i64) -> Option<(i64, CompiledOrg)> {
    if !enabled() {
        return None;
    }
    attach_where(table, |g| g < generation)
}

/// Read the image of the newest ready slot of this database's `table` whose
/// generation `wanted` accepts.
fn attach_where(table: u32, wanted: impl Fn(i64) -> bool) -> Option<(i64, CompiledOrg)> {
    let database = unsafe { pg_sys::MyDatabaseId.to_u32() };
    // Attach while holding the directory: a segment is unpinned only under the
    // exclusive lock, so the handle stays good until then.
    let (mapping, len, generation) = {
        let mut dir = DIRECTORY.exclusive();
        dir.clock += 1;
        let clock = dir.clock;
        let slot = dir
            .slots
            .iter_mut()
            .filter(|s| {
                s.state == State::Ready
                    && s.database == database
                    && s.table == table
                    && wanted(s.generation)
            })
            .max_by_key(|s| s.generation)?;
        slot.used = clock;
        let mapping = match mapped(slot.handle) {
            Some(mapping) => mapping,
            None => {
                let seg = unsafe { pg_sys::dsm_attach(slot.handle) };
                if seg.is_null() {
                    return None;
                }
                unsafe { pg_sys::dsm_pin_mapping(seg) };
                let mapping = Rc::new(Mapping(seg));
                remember_mapping(slot.handle, &mapping);
                mapping
            }
        };
        (mapping, slot.len as usize, slot.generation)
    };
    let seg = mapping.0;
    let keep: Keep = mapping;
    let base = unsafe { pg_sys::dsm_segment_address(seg) } as *const u8;
    let prefix = unsafe { std::ptr::read(base as *const Prefix) };
    if prefix.magic != PREFIX_MAGIC
        || prefix.database != database as u64
        || prefix.table != table as u64
        || prefix.generation != generation
    {
        return None;
    }
    let model = unsafe { decode(base.add(PREFIX), len - PREFIX, keep) }.ok()?;
    Some((generation, model))
}

/// What [`find_or_claim`] found.
pub enum Found {
    /// The published model.
    Ready(Box<CompiledOrg>),
    /// Nothing published and nobody building it: this backend builds it and
    /// [`publish`]es it.
    Claimed,
    /// Not shared (not preloaded, or no free slot): build it for this backend.
    Unshared,
}

/// The published model of (table, generation), after waiting for another backend
/// that is building it; or the claim to build it.
pub fn find_or_claim(table: u32, generation: i64, expected_micros: i64) -> Found {
    if !enabled() {
        return Found::Unshared;
    }
    let database = unsafe { pg_sys::MyDatabaseId.to_u32() };
    let (mut waited, mut retried) = (false, false);
    let mut nap_ms = 1i64;
    loop {
        if let Some(model) = attach_ready(table, generation) {
            return Found::Ready(Box::new(model));
        }
        let now = now_micros();
        let me = unsafe { pg_sys::MyProcPid };
        let busy = {
            let mut dir = DIRECTORY.exclusive();
            dir.clock += 1;
            let clock = dir.clock;
            let slots = &mut dir.slots;
            let same =
                |s: &Slot| s.database == database && s.table == table && s.generation == generation;
            match slots
                .iter()
                .position(|s| s.state != State::Empty && same(s))
            {
                // Published since the attempt above: read it (once; an image that
                // cannot be read leaves this backend to its own model).
                Some(i) if slots[i].state == State::Ready => {
                    if retried {
                        return Found::Unshared;
                    }
                    retried = true;
                    false
                }
                // Another backend is building it: wait while it lives (it may be
                // waiting for a lock, which this backend would wait for too), or
                // until its deadline.
                Some(i)
                    if slots[i].builder != me
                        && (slots[i].deadline > now || alive(slots[i].builder)) =>
                {
                    true
                }
                found => {
                    let Some(i) = found.or_else(|| free_slot(slots, now)) else {
                        return Found::Unshared;
                    };
                    evict(&mut slots[i]);
                    slots[i] = Slot {
                        state: State::Building,
                        database,
                        table,
                        generation,
                        builder: me,
                        deadline: now + expected_micros,
                        used: clock,
                        ..Slot::default()
                    };
                    CLAIMED.with(|c| c.set(Some((database, table, generation))));
                    return Found::Claimed;
                }
            }
        };
        if busy {
            if !waited {
                count(|c| c.1 += 1);
                waited = true;
            }
            pause(&mut nap_ms);
        }
    }
}

/// Is backend `pid` still there?
fn alive(pid: i32) -> bool {
    !unsafe { pg_sys::BackendPidGetProc(pid) }.is_null()
}

/// Sleep `nap_ms` milliseconds on the latch (seen as an `Extension` wait in
/// `pg_stat_activity`, cancellable), each nap twice the last up to 10 ms: a short
/// build is met within a millisecond, a long one costs its waiters nothing.
fn pause(nap_ms: &mut i64) {
    pgrx::check_for_interrupts!();
    unsafe {
        pg_sys::WaitLatch(
            pg_sys::MyLatch,
            (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as i32,
            *nap_ms as _,
            pg_sys::PG_WAIT_EXTENSION,
        );
        pg_sys::ResetLatch(pg_sys::MyLatch);
    }
    pgrx::check_for_interrupts!();
    *nap_ms = (*nap_ms * 2).min(10);
}

/// An empty slot, a stale claim, or the least recently used image.
fn free_slot(slots: &mut [Slot; SLOTS], now: i64) -> Option<usize> {
    if let Some(i) = slots.iter().position(|s| s.state == State::Empty) {
        return Some(i);
    }
    if let Some(i) = slots
        .iter()
        .position(|s| s.state == State::Building && s.deadline <= now)
    {
        return Some(i);
    }
    slots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.state == State::Ready)
        .min_by_key(|(_, s)| s.used)
        .map(|(i, _)| i)
}

/// Let an image go: unpinned, its segment is destroyed when its last reader
/// detaches. Under the exclusive lock.
fn evict(slot: &mut Slot) {
    let was = std::mem::take(slot);
    // The slot is empty first: were the unpin to fail, no later call would meet
    // the same handle again.
    if was.state == State::Ready {
        unsafe { pg_sys::dsm_unpin_segment(was.handle) };
    }
}

/// Give up this backend's claim (its build failed): the others build.
fn release_claim() {
    let Some((database, table, generation)) = CLAIMED.with(|c| c.take()) else {
        return;
    };
    let me = unsafe { pg_sys::MyProcPid };
    let mut dir = DIRECTORY.exclusive();
    if let Some(slot) = dir.slots.iter_mut().find(|s| {
        s.state == State::Building
            && s.builder == me
            && s.database == database
            && s.table == table
            && s.generation == generation
    }) {
        *slot = Slot::default();
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn xact_event(
    event: pg_sys::XactEvent::Type,
    _arg: *mut std::ffi::c_void,
) {
    if event == pg_sys::XactEvent::XACT_EVENT_ABORT
        || event == pg_sys::XactEvent::XACT_EVENT_PARALLEL_ABORT
    {
        release_claim();
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn subxact_event(
    event: pg_sys::SubXactEvent::Type,
    _my: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    if event == pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB {
        release_claim();
    }
}

/// Room on the file system behind POSIX shared memory for `len` more bytes, with
/// as much to spare and a tenth of the file system left to the server's other uses
/// (parallel queries): a full `/dev/shm` makes the model this backend's own instead
/// of failing the statement.
fn room_for(len: usize) -> bool {
    const POSIX: i32 = 1; // DSM_IMPL_POSIX
    if unsafe { pg_sys::dynamic_shared_memory_type } != POSIX {
        return true;
    }
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::statvfs(c"/dev/shm".as_ptr(), &mut st) } == 0;
    let free = (st.f_bavail as u128) * (st.f_frsize as u128);
    let size = (st.f_blocks as u128) * (st.f_frsize as u128);
    ok && free > 2 * len as u128 + size / 10
}

/// Publish the model this backend built for its claim: written into a new
/// segment, which the directory then names. Returns the model read back from the
/// image (so this backend, too, holds no copy of its own), or `None` when it
/// could not be published (the caller keeps its own model).
pub fn publish(table: u32, generation: i64, model: &CompiledOrg) -> Option<CompiledOrg> {
    let database = unsafe { pg_sys::MyDatabaseId.to_u32() };
    let claimed = CLAIMED.with(|c| c.get()) == Some((database, table, generation));
    if !enabled() || !claimed {
        return None;
    }
    // The images of databases dropped since (no hook tells): looked up in the
    // catalog outside the directory's lock, let go under it below.
    let gone: Vec<u32> = {
        let dir = DIRECTORY.share();
        let mut dbs: Vec<u32> = dir
            .slots
            .iter()
            .filter(|s| s.state == State::Ready && s.database != database)
            .map(|s| s.database)
            .collect();
        dbs.sort_unstable();
        dbs.dedup();
        dbs
    }
    .into_iter()
    .filter(|db| !crate::pg::catalog::database_exists(*db))
    .collect();
    let plan = ImagePlan::of(model);
    let len = PREFIX + plan.len();
    if !room_for(len) {
        release_claim();
        return None;
    }
    let seg = unsafe { pg_sys::dsm_create(len, pg_sys::DSM_CREATE_NULL_IF_MAXSEGMENTS as i32) };
    if seg.is_null() {
        release_claim();
        return None;
    }
    let base = unsafe { pg_sys::dsm_segment_address(seg) } as *mut u8;
    let out = unsafe { std::slice::from_raw_parts_mut(base, len) };
    let prefix = [Prefix {
        magic: PREFIX_MAGIC,
        database: database as u64,
        table: table as u64,
        generation,
    }];
    out[..PREFIX].copy_from_slice(unsafe {
        std::slice::from_raw_parts(prefix.as_ptr() as *const u8, PREFIX)
    });
    plan.write(model, &mut out[PREFIX..]);
    unsafe {
        pg_sys::dsm_pin_segment(seg);
        pg_sys::dsm_pin_mapping(seg);
    }
    let handle = unsafe { pg_sys::dsm_segment_handle(seg) };
    {
        let mut dir = DIRECTORY.exclusive();
        dir.clock += 1;
        let clock = dir.clock;
        let me = unsafe { pg_sys::MyProcPid };
        let same_db = |s: &Slot| s.database == database && s.table == table;
        let Some(i) = dir.slots.iter().position(|s| {
            s.state == State::Building
                && s.builder == me
                && same_db(s)
                && s.generation == generation
        }) else {
            // The claim went stale and was taken: keep the model to ourselves.
            drop(dir);
            unsafe {
                pg_sys::dsm_unpin_segment(handle);
                pg_sys::dsm_detach(seg);
            }
            CLAIMED.with(|c| c.set(None));
            return None;
        };
        dir.slots[i] = Slot {
            state: State::Ready,
            database,
            table,
            generation,
            handle,
            len: len as u64,
            used: clock,
            ..Slot::default()
        };
        dir.published += 1;
        for i in 0..SLOTS {
            if dir.slots[i].state == State::Ready && gone.contains(&dir.slots[i].database) {
                evict(&mut dir.slots[i]);
                dir.evicted += 1;
            }
        }
        // Older generations of this database beyond the newest ones kept go.
        let mut ready: Vec<(i64, usize)> = dir
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.state == State::Ready && same_db(s))
            .map(|(i, s)| (s.generation, i))
            .collect();
        ready.sort_unstable_by(|a, b| b.cmp(a));
        for &(_, i) in ready.iter().skip(KEPT_PER_DATABASE) {
            evict(&mut dir.slots[i]);
            dir.evicted += 1;
        }
    }
    CLAIMED.with(|c| c.set(None));
    count(|c| c.0 += 1);
    let mapping = Rc::new(Mapping(seg));
    remember_mapping(handle, &mapping);
    let keep: Keep = mapping;
    unsafe { decode(base.add(PREFIX), len - PREFIX, keep) }.ok()
}

/// The server's images: published and evicted so far, ready now and their bytes,
/// and the bytes of this database's.
pub struct DirectoryStats {
    pub published: u64,
    pub evicted: u64,
    pub ready: usize,
    pub bytes: u64,
    pub database_bytes: u64,
}

pub fn directory_stats() -> Option<DirectoryStats> {
    if !enabled() {
        return None;
    }
    let database = unsafe { pg_sys::MyDatabaseId.to_u32() };
    let dir = DIRECTORY.share();
    let ready = || dir.slots.iter().filter(|s| s.state == State::Ready);
    Some(DirectoryStats {
        published: dir.published,
        evicted: dir.evicted,
        ready: ready().count(),
        bytes: ready().map(|s| s.len).sum(),
        database_bytes: ready()
            .filter(|s| s.database == database)
            .map(|s| s.len)
            .sum(),
    })
}
