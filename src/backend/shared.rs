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
//! database keeps its two newest generations. An older one becomes `Spare`: its
//! segment stays, and the database's next image is written into it once no
//! backend reads it any more (each model read from an image holds a `Pin`,
//! counted in its slot), so that a change costs no new segment, no fresh pages and
//! no unmapping; backends keep their mappings of the directory's segments. A
//! segment too small, or a spare beyond one per database, is unpinned, and goes
//! away once the last backend mapping it lets it go (a REPEATABLE READ
//! transaction keeps what it reads).

use crate::model::engine::CompiledOrg;
use crate::model::image::{decode, decode_in_place, finish_in_place, ImagePlan};
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
    /// A segment kept for the database's next image (its last image is no longer
    /// wanted; backends may still read it while `readers` is above zero).
    Spare,
}

/// Spare segments kept per database.
const SPARES_PER_DATABASE: usize = 1;

#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Slot {
    state: State,
    database: u32,
    table: u32,
    generation: i64,
    /// Ready and Spare (and Building, once a spare is taken for it): the segment,
    /// its size; Ready: the image's length, the publication's number (unique in the
    /// server's life), and how many models in backends read it now.
    handle: u32,
    capacity: u64,
    len: u64,
    publication: u64,
    readers: u32,
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
    /// Images written into a spare segment (of `published`).
    reused: u64,
    /// Images made by patching a spare where it lies (of `reused`).
    in_place: u64,
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
    /// Of the images this backend published, those made by patching a spare.
    static IN_PLACE: Cell<u64> = const { Cell::new(0) };
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
    /// The generation whose change last mapped a login ([`Image::logins_since`]).
    logins_since: i64,
    /// The slot's publication: a segment is written again when reused.
    publication: u64,
}
const PREFIX_MAGIC: u64 = u64::from_le_bytes(*b"PGSHSEG2");
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

/// Images this backend published by patching a spare where it lies.
pub fn in_place_count() -> u64 {
    IN_PLACE.with(|c| c.get())
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

/// A segment this backend maps: kept while the directory names the segment (so
/// that a reused segment is not mapped again), detached once it does not and no
/// model reads it. With how many of its first bytes this backend mapped for writing.
struct Mapping(*mut pg_sys::dsm_segment, Cell<usize>);

impl Mapping {
    fn new(seg: *mut pg_sys::dsm_segment) -> Mapping {
        Mapping(seg, Cell::new(0))
    }

    /// Map the first `len` bytes for writing at once rather than one fault at a
    /// time (Linux 5.14+; older kernels refuse the advice, and the pages fault in as
    /// they are written) — unless this backend wrote them before: a spare it
    /// published once is mapped already, and walking its pages again would cost
    /// 0.4 ms at 200,000 users (docs/benchmarks.md).
    fn populate(&self, len: usize) {
        // From the first page not mapped yet (an image grows a little each change).
        let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
            n if n > 0 => n as usize,
            _ => return,
        };
        let from = self.1.get() / page * page;
        if from >= len {
            return;
        }
        const MADV_POPULATE_WRITE: i32 = 23;
        let advised = unsafe {
            libc::madvise(
                self.base().add(from) as *mut libc::c_void,
                len - from,
                MADV_POPULATE_WRITE,
            )
        };
        if advised == 0 {
            self.1.set(len);
        }
    }

    fn base(&self) -> *mut u8 {
        unsafe { pg_sys::dsm_segment_address(self.0) as *mut u8 }
    }
}

thread_local! {
    /// The segments this backend maps, by handle: a segment is attached once per
    /// backend (PostgreSQL refuses a second attach), however many models read it.
    static MAPPINGS: std::cell::RefCell<rustc_hash::FxHashMap<u32, Rc<Mapping>>> =
        Default::default();
    /// The publications this backend's models read (one entry per [`Pin`]), counted
    /// in their slots' `readers`: given back when the backend exits.
    static PINS: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
    static EXIT_CALLBACK: Cell<bool> = const { Cell::new(false) };
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

/// This backend's mapping of segment `handle`, attached now if it has none. Under
/// the directory's lock (a segment is unpinned only under it, so the handle is
/// good). `None` if the segment cannot be attached.
fn mapping(handle: u32) -> Option<Rc<Mapping>> {
    if let Some(m) = MAPPINGS.with(|m| m.borrow().get(&handle).cloned()) {
        return Some(m);
    }
    let seg = unsafe { pg_sys::dsm_attach(handle) };
    if seg.is_null() {
        return None;
    }
    unsafe { pg_sys::dsm_pin_mapping(seg) };
    let mapping = Rc::new(Mapping::new(seg));
    MAPPINGS.with(|m| m.borrow_mut().insert(handle, mapping.clone()));
    Some(mapping)
}

/// Take out of the registry the mappings of segments the directory no longer
/// names (under its lock); the caller drops them after releasing it (a model still
/// reading one keeps it until it goes).
fn unnamed_mappings(dir: &Directory) -> Vec<Rc<Mapping>> {
    MAPPINGS.with(|m| {
        let mut m = m.borrow_mut();
        let gone: Vec<u32> = m
            .keys()
            .copied()
            .filter(|h| !dir.slots.iter().any(|s| s.capacity > 0 && s.handle == *h))
            .collect();
        gone.into_iter().filter_map(|h| m.remove(&h)).collect()
    })
}

/// A model's hold on the image it reads: counted in the slot's `readers`, so the
/// segment is not written again while it lives.
struct Pin {
    publication: u64,
    _mapping: Rc<Mapping>,
}

/// Count a new reader of `slot` (under the lock).
fn pin(slot: &mut Slot, mapping: Rc<Mapping>) -> Pin {
    if !EXIT_CALLBACK.with(|c| c.replace(true)) {
        // `on_shmem_exit`: after `dsm_backend_shutdown` has detached the segments,
        // so nothing of the exit (the transaction aborted, settings reverted and
        // their hooks run, all in `before_shmem_exit`) reads an image it no longer
        // pins; and before `ProcKill`, so the lock can still be taken.
        unsafe { pg_sys::on_shmem_exit(Some(unpin_all_at_exit), pg_sys::Datum::from(0)) };
    }
    slot.readers += 1;
    PINS.with(|p| p.borrow_mut().push(slot.publication));
    Pin {
        publication: slot.publication,
        _mapping: mapping,
    }
}

/// One reader of `publication` fewer (under the lock; nothing if the slot is gone).
fn unpin(dir: &mut Directory, publication: u64) {
    PINS.with(|p| {
        let mut p = p.borrow_mut();
        if let Some(i) = p.iter().position(|x| *x == publication) {
            p.swap_remove(i);
        }
    });
    if let Some(slot) = dir
        .slots
        .iter_mut()
        .find(|s| matches!(s.state, State::Ready | State::Spare) && s.publication == publication)
    {
        slot.readers = slot.readers.saturating_sub(1);
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        // At exit `unpin_all_at_exit` gives every pin back, once the segments are
        // detached.
        if unsafe { pg_sys::proc_exit_inprogress } {
            return;
        }
        unpin(&mut DIRECTORY.exclusive(), self.publication);
    }
}

/// Give back the pins of this backend's models as it exits.
#[pg_guard]
unsafe extern "C-unwind" fn unpin_all_at_exit(_code: i32, _arg: pg_sys::Datum) {
    let pins = PINS.with(|p| std::mem::take(&mut *p.borrow_mut()));
    if pins.is_empty() {
        return;
    }
    // A FATAL error raised under the directory's lock exits without unwinding.
    unsafe { pg_sys::LWLockReleaseAll() };
    let mut dir = DIRECTORY.exclusive();
    for publication in pins {
        unpin(&mut dir, publication);
    }
}

/// A model read from a published image.
pub struct Image {
    pub generation: i64,
    pub model: CompiledOrg,
    /// The newest generation (up to this one) whose change mapped or unmapped a
    /// login (`sharing.users.db_role`): the viewer directory read in any
    /// generation since is this one's (`backend::viewer`).
    pub logins_since: i64,
}

/// The model of (table, generation) in this database, read from its published
/// image. `None` when nothing is published (or the image cannot be read).
fn attach_ready(table: u32, generation: i64) -> Option<Image> {
    attach_where(table, |g| g == generation)
}

/// The newest published model of this database's generation table older than
/// `generation`, with its generation: a base to patch for a backend that holds none
/// (a new connection that needs a configuration nobody has built yet).
pub fn newest_before(table: u32, generation: i64) -> Option<Image> {
    if !enabled() {
        return None;
    }
    attach_where(table, |g| g < generation)
}

/// Read the image of the newest ready slot of this database's `table` whose
/// generation `wanted` accepts.
fn attach_where(table: u32, wanted: impl Fn(i64) -> bool) -> Option<Image> {
    let database = unsafe { pg_sys::MyDatabaseId.to_u32() };
    // Pin while holding the directory: a segment is written again or unpinned only
    // under the exclusive lock, and only when nobody pins it.
    let (pin, len, generation, unnamed) = {
        let mut dir = DIRECTORY.exclusive();
        dir.clock += 1;
        let clock = dir.clock;
        let unnamed = unnamed_mappings(&dir);
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
        let mapping = mapping(slot.handle)?;
        let (len, generation) = (slot.len as usize, slot.generation);
        (pin(slot, mapping), len, generation, unnamed)
    };
    drop(unnamed);
    let base = pin._mapping.base() as *const u8;
    let prefix = unsafe { std::ptr::read(base as *const Prefix) };
    if prefix.magic != PREFIX_MAGIC
        || prefix.database != database as u64
        || prefix.table != table as u64
        || prefix.generation != generation
        || prefix.publication != pin.publication
    {
        return None;
    }
    let keep: Keep = Rc::new(pin);
    let model = unsafe { decode(base.add(PREFIX), len - PREFIX, keep) }.ok()?;
    Some(Image {
        generation,
        model,
        logins_since: prefix.logins_since,
    })
}

/// What [`find_or_claim`] found.
pub enum Found {
    /// The published model.
    Ready(Box<Image>),
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
        if let Some(image) = attach_ready(table, generation) {
            return Found::Ready(Box::new(image));
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
                .position(|s| matches!(s.state, State::Building | State::Ready) && same(s))
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
                // The build may be waiting for this very backend: a lock it holds
                // that the build's reads wait for, which no deadlock check sees
                // through this wait. It builds its own model instead.
                if holds_a_lock_a_build_waits_for() {
                    return Found::Unshared;
                }
                count(|c| c.1 += 1);
                waited = true;
            }
            pause(&mut nap_ms);
        }
    }
}

/// Does this backend hold an `ACCESS EXCLUSIVE` lock on a pg_sharing table (`LOCK
/// TABLE`, DDL)? A build reads the configuration under `ACCESS SHARE`, which only
/// that mode blocks.
fn holds_a_lock_a_build_waits_for() -> bool {
    crate::pg::catalog::tables_of_schema(c"sharing")
        .into_iter()
        .any(|(oid, _)| unsafe {
            pg_sys::CheckRelationOidLockedByMe(
                oid,
                pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE,
                false,
            )
        })
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
    [State::Spare, State::Ready].into_iter().find_map(|state| {
        slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.state == state)
            .min_by_key(|(_, s)| s.used)
            .map(|(i, _)| i)
    })
}

/// Let a slot's segment go: unpinned, it is destroyed when the last backend
/// mapping it detaches. Under the exclusive lock.
fn evict(slot: &mut Slot) {
    let was = std::mem::take(slot);
    // The slot is empty first: were the unpin to fail, no later call would meet
    // the same handle again.
    if was.capacity > 0 {
        unsafe { pg_sys::dsm_unpin_segment(was.handle) };
    }
}

/// An image no longer among its database's newest: its segment is kept as the
/// database's spare (written again once nobody reads it), or let go when the
/// database has its spares already — unless a spare is still read (a long
/// REPEATABLE READ transaction, an idle session's model): then that spare goes
/// instead, even if this one is read too (by the others' second model, which
/// they let go at their next change), so that the next change finds a spare to
/// patch or reuse; a spare whose reader stays idle would otherwise hold its place
/// for good and every change would take a new segment. Under the exclusive lock.
fn retire(dir: &mut Directory, i: usize) {
    let database = dir.slots[i].database;
    let spares: Vec<usize> = (0..SLOTS)
        .filter(|&j| dir.slots[j].state == State::Spare && dir.slots[j].database == database)
        .collect();
    if spares.len() < SPARES_PER_DATABASE {
        dir.slots[i].state = State::Spare;
    } else if let Some(&j) = spares.iter().find(|&&j| dir.slots[j].readers > 0) {
        evict(&mut dir.slots[j]);
        dir.slots[i].state = State::Spare;
    } else {
        evict(&mut dir.slots[i]);
    }
    dir.evicted += 1;
}

/// Is a slot this backend's claim of (database, table, generation)?
fn my_claim(database: u32, table: u32, generation: i64) -> impl Fn(&Slot) -> bool + Copy {
    let me = unsafe { pg_sys::MyProcPid };
    move |s: &Slot| {
        s.state == State::Building
            && s.builder == me
            && s.database == database
            && s.table == table
            && s.generation == generation
    }
}

/// Give up this backend's claim (its build failed): the others build.
fn release_claim() {
    let Some((database, table, generation)) = CLAIMED.with(|c| c.take()) else {
        return;
    };
    let mine = my_claim(database, table, generation);
    let mut dir = DIRECTORY.exclusive();
    if let Some(slot) = dir.slots.iter_mut().find(|s| mine(s)) {
        // With the spare it may have taken for its image.
        evict(slot);
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

/// The databases other than `database` the directory holds images of that no longer
/// exist (no hook tells when one is dropped): looked up in the catalog outside the
/// directory's lock, let go under it when an image is made ready.
fn dropped_databases(database: u32) -> Vec<u32> {
    let mut dbs: Vec<u32> = {
        let dir = DIRECTORY.share();
        dir.slots
            .iter()
            .filter(|s| s.capacity > 0 && s.database != database)
            .map(|s| s.database)
            .collect()
    };
    dbs.sort_unstable();
    dbs.dedup();
    dbs.retain(|db| !crate::pg::catalog::database_exists(*db));
    dbs
}

/// What a spare offers to be patched in place: its image's generation and the
/// generation that last mapped a login in it.
pub struct SpareBase {
    pub generation: i64,
    pub logins_since: i64,
}

/// Publish the model of this backend's claim by patching the database's spare
/// where it lies (docs/design.md, "Patching a spare in place"): the spare, if no
/// backend reads it and it holds an older generation of the same table, is taken
/// into the claim, read as windows, and `patch` brings it from its generation to
/// the claim's (returning the new `logins_since`, or `None` if it cannot); the
/// image is then finished where it lies and published, so no backend copies or
/// writes the organization's arrays for a change of a few users. Returns the
/// published model, read back, and its `logins_since`; `None` when there is no
/// such spare or the patch does not fit — the claim then holds the spare's
/// segment, unreadable, and [`publish`] writes the whole image into it.
pub fn publish_in_place(
    table: u32,
    generation: i64,
    patch: impl FnOnce(&SpareBase, &mut CompiledOrg) -> Option<i64>,
) -> Option<(CompiledOrg, i64)> {
    let database = unsafe { pg_sys::MyDatabaseId.to_u32() };
    let claimed = CLAIMED.with(|c| c.get()) == Some((database, table, generation));
    if !enabled() || !claimed {
        return None;
    }
    let mine = my_claim(database, table, generation);
    // The spare, taken into the claim's slot under the lock (nobody reads it, and
    // nobody will until it is published again).
    let (mapping, len, spare_generation, spare_publication, publication) = {
        let mut dir = DIRECTORY.exclusive();
        dir.clock += 1;
        let publication = dir.clock;
        let claim = dir.slots.iter().position(mine)?;
        if dir.slots[claim].capacity > 0 {
            return None;
        }
        let Some(j) = dir.slots.iter().position(|s| {
            s.state == State::Spare
                && s.database == database
                && s.table == table
                && s.readers == 0
                && s.generation < generation
                && s.len as usize > PREFIX
                && s.len <= s.capacity
        }) else {
            let read = dir
                .slots
                .iter()
                .any(|s| s.state == State::Spare && s.database == database && s.readers > 0);
            drop(dir);
            pgrx::debug1!(
                "pg_sharing writes the whole image: {}",
                if read {
                    "the spare is still read"
                } else {
                    "no spare"
                }
            );
            return None;
        };
        let spare = dir.slots[j];
        let mapping = mapping(spare.handle)?;
        dir.slots[j] = Slot::default();
        dir.slots[claim].handle = spare.handle;
        dir.slots[claim].capacity = spare.capacity;
        (
            mapping,
            spare.len as usize,
            spare.generation,
            spare.publication,
            publication,
        )
    };
    let base = mapping.base();
    let prefix = unsafe { std::ptr::read(base as *const Prefix) };
    if prefix.magic != PREFIX_MAGIC
        || prefix.database != database as u64
        || prefix.table != table as u64
        || prefix.generation != spare_generation
        || prefix.publication != spare_publication
    {
        pgrx::debug1!("pg_sharing writes the whole image: the spare is not what its slot says");
        return None;
    }
    // Unreadable as what it was from here on.
    unsafe { std::ptr::write(base as *mut u64, 0) };
    let keep: Keep = mapping.clone();
    let image = unsafe { base.add(PREFIX) };
    let mut model = match unsafe { decode_in_place(image, len - PREFIX, keep) } {
        Ok(model) => model,
        Err(e) => {
            pgrx::debug1!("pg_sharing writes the whole image: {e}");
            return None;
        }
    };
    let spare = SpareBase {
        generation: spare_generation,
        logins_since: prefix.logins_since,
    };
    let logins_since = patch(&spare, &mut model)?;
    if let Err(e) = unsafe { finish_in_place(&model, image, len - PREFIX) } {
        pgrx::debug1!("pg_sharing writes the whole image: {e}");
        return None;
    }
    drop(model);
    let prefix = [Prefix {
        magic: PREFIX_MAGIC,
        database: database as u64,
        table: table as u64,
        generation,
        logins_since,
        publication,
    }];
    unsafe { std::ptr::copy_nonoverlapping(prefix.as_ptr() as *const u8, base, PREFIX) };
    let handle = {
        let dir = DIRECTORY.share();
        dir.slots.iter().find(|s| mine(s))?.handle
    };
    let ready = Ready {
        database,
        table,
        generation,
        handle,
        len,
        publication,
    };
    let gone = dropped_databases(database);
    let model = make_ready(ready, Written::InPlace, &gone, mapping)?;
    IN_PLACE.with(|c| c.set(c.get() + 1));
    Some((model, logins_since))
}

/// Publish the model this backend built for its claim: written into the
/// database's spare segment when nobody reads it any more and it is big enough,
/// else into a new segment; the directory then names it. Returns the model read
/// back from the image (so this backend, too, holds no copy of its own), or `None`
/// when it could not be published (the caller keeps its own model).
pub fn publish(
    table: u32,
    generation: i64,
    model: &CompiledOrg,
    logins_since: i64,
) -> Option<CompiledOrg> {
    let database = unsafe { pg_sys::MyDatabaseId.to_u32() };
    let claimed = CLAIMED.with(|c| c.get()) == Some((database, table, generation));
    if !enabled() || !claimed {
        return None;
    }
    let gone = dropped_databases(database);
    let plan = ImagePlan::of(model);
    let len = PREFIX + plan.len();
    let mine = my_claim(database, table, generation);
    let lost = || {
        // The claim went stale and was taken (with the segment it held): keep the
        // model to ourselves.
        CLAIMED.with(|c| c.set(None));
        None
    };
    // The segment: the database's spare, taken into the claim's slot under the
    // lock (nobody reads it: nobody will until it is published again).
    let (publication, reused) = {
        let mut dir = DIRECTORY.exclusive();
        dir.clock += 1;
        let publication = dir.clock;
        let Some(claim) = dir.slots.iter().position(mine) else {
            return lost();
        };
        // A segment the claim holds already (a spare it could not patch in place:
        // its image is unreadable now) is written again if it is big enough.
        let held = (dir.slots[claim].handle, dir.slots[claim].capacity);
        let reused = if held.1 >= len as u64 && mapping(held.0).is_some() {
            true
        } else {
            if held.1 > 0 {
                dir.slots[claim].capacity = 0;
                unsafe { pg_sys::dsm_unpin_segment(held.0) };
            }
            let spare = dir.slots.iter().position(|s| {
                s.state == State::Spare
                    && s.database == database
                    && s.readers == 0
                    && s.capacity >= len as u64
            });
            match spare {
                Some(j) => {
                    let (handle, capacity) = (dir.slots[j].handle, dir.slots[j].capacity);
                    // Mapped here under the lock, while the claim holds the handle.
                    match mapping(handle) {
                        Some(_) => {
                            dir.slots[j] = Slot::default();
                            dir.slots[claim].handle = handle;
                            dir.slots[claim].capacity = capacity;
                            true
                        }
                        None => false,
                    }
                }
                None => false,
            }
        };
        (publication, reused)
    };
    if !reused {
        // A new segment, with room for the next whole image to be a little larger
        // (a thirty-second, at least 64 kB: a small organization's image grows by
        // a larger share per user); the image itself has room for its arrays to
        // grow in place (`model::image`).
        let capacity = len + (len / 32).max(64 << 10);
        if !room_for(capacity) {
            release_claim();
            return None;
        }
        let seg =
            unsafe { pg_sys::dsm_create(capacity, pg_sys::DSM_CREATE_NULL_IF_MAXSEGMENTS as i32) };
        if seg.is_null() {
            release_claim();
            return None;
        }
        unsafe {
            pg_sys::dsm_pin_segment(seg);
            pg_sys::dsm_pin_mapping(seg);
        }
        let handle = unsafe { pg_sys::dsm_segment_handle(seg) };
        MAPPINGS.with(|m| m.borrow_mut().insert(handle, Rc::new(Mapping::new(seg))));
        let mut dir = DIRECTORY.exclusive();
        let Some(claim) = dir.slots.iter().position(mine) else {
            drop(dir);
            unsafe { pg_sys::dsm_unpin_segment(handle) };
            MAPPINGS.with(|m| m.borrow_mut().remove(&handle));
            return lost();
        };
        dir.slots[claim].handle = handle;
        dir.slots[claim].capacity = capacity as u64;
    }
    let handle = {
        let dir = DIRECTORY.share();
        match dir.slots.iter().find(|s| mine(s)) {
            Some(s) => s.handle,
            None => return lost(),
        }
    };
    // The claim's slot holds the segment pinned (only an eviction under the lock
    // unpins it, and this backend maps it): written outside the lock.
    let mapping = MAPPINGS.with(|m| m.borrow().get(&handle).cloned())?;
    let base = mapping.base();
    mapping.populate(len);
    let out = unsafe { std::slice::from_raw_parts_mut(base, len) };
    let prefix = [Prefix {
        magic: PREFIX_MAGIC,
        database: database as u64,
        table: table as u64,
        generation,
        logins_since,
        publication,
    }];
    out[..PREFIX].copy_from_slice(unsafe {
        std::slice::from_raw_parts(prefix.as_ptr() as *const u8, PREFIX)
    });
    plan.write(model, &mut out[PREFIX..]);
    let written = if reused {
        Written::Reused
    } else {
        Written::New
    };
    let ready = Ready {
        database,
        table,
        generation,
        handle,
        len,
        publication,
    };
    make_ready(ready, written, &gone, mapping)
}

/// How a published image was written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Written {
    /// Into a new segment.
    New,
    /// Whole, into a spare segment.
    Reused,
    /// By patching the spare's image where it lies.
    InPlace,
}

/// An image this backend wrote for its claim.
struct Ready {
    database: u32,
    table: u32,
    generation: i64,
    handle: u32,
    /// The prefix and the image.
    len: usize,
    publication: u64,
}

/// Name the image this backend wrote for its claim in the directory (ready; the
/// database's generations beyond the newest kept retired, the images of databases
/// dropped let go) and read it back, pinned. `None` if the claim was lost.
fn make_ready(
    ready: Ready,
    written: Written,
    gone: &[u32],
    mapping: Rc<Mapping>,
) -> Option<CompiledOrg> {
    let Ready {
        database,
        table,
        generation,
        handle,
        len,
        publication,
    } = ready;
    let mine = my_claim(database, table, generation);
    let lost = || {
        CLAIMED.with(|c| c.set(None));
        None
    };
    let base = mapping.base();
    let (pin, unnamed) = {
        let mut dir = DIRECTORY.exclusive();
        dir.clock += 1;
        let clock = dir.clock;
        let same_db = |s: &Slot| s.database == database && s.table == table;
        let Some(i) = dir.slots.iter().position(mine) else {
            return lost();
        };
        let capacity = dir.slots[i].capacity;
        dir.slots[i] = Slot {
            state: State::Ready,
            database,
            table,
            generation,
            handle,
            capacity,
            len: len as u64,
            publication,
            used: clock,
            ..Slot::default()
        };
        dir.published += 1;
        dir.reused += (written != Written::New) as u64;
        dir.in_place += (written == Written::InPlace) as u64;
        for i in 0..SLOTS {
            if dir.slots[i].capacity > 0 && gone.contains(&dir.slots[i].database) {
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
            retire(&mut dir, i);
        }
        // Pinned last: nothing after it under the lock can raise an ERROR, whose
        // unwinding would drop the pin, which takes this lock again. (An image
        // retired at once, older than one published meanwhile, is not read.)
        let Some(i) = dir
            .slots
            .iter()
            .position(|s| s.state == State::Ready && s.publication == publication)
        else {
            return lost();
        };
        let unnamed = unnamed_mappings(&dir);
        (pin(&mut dir.slots[i], mapping.clone()), unnamed)
    };
    drop(unnamed);
    CLAIMED.with(|c| c.set(None));
    count(|c| c.0 += 1);
    let keep: Keep = Rc::new(pin);
    unsafe { decode(base.add(PREFIX), len - PREFIX, keep) }.ok()
}

/// The server's images: published (of which written into a spare segment) and
/// retired so far; ready and spare now; the bytes of all their segments, and of
/// this database's.
pub struct DirectoryStats {
    pub published: u64,
    pub reused: u64,
    pub evicted: u64,
    pub ready: usize,
    pub spare: usize,
    /// Spares some model still reads (the next image cannot be written into them).
    pub spare_read: usize,
    /// Images made by patching a spare where it lies.
    pub in_place: u64,
    pub bytes: u64,
    pub database_bytes: u64,
}

pub fn directory_stats() -> Option<DirectoryStats> {
    if !enabled() {
        return None;
    }
    let database = unsafe { pg_sys::MyDatabaseId.to_u32() };
    let dir = DIRECTORY.share();
    let held = || dir.slots.iter().filter(|s| s.capacity > 0);
    let count = |state: State| dir.slots.iter().filter(|s| s.state == state).count();
    Some(DirectoryStats {
        published: dir.published,
        reused: dir.reused,
        evicted: dir.evicted,
        ready: count(State::Ready),
        spare: count(State::Spare),
        spare_read: dir
            .slots
            .iter()
            .filter(|s| s.state == State::Spare && s.readers > 0)
            .count(),
        in_place: dir.in_place,
        bytes: held().map(|s| s.capacity).sum(),
        database_bytes: held()
            .filter(|s| s.database == database)
            .map(|s| s.capacity)
            .sum(),
    })
}
