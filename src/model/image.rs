//! A model image (docs/design.md, "One model per database"): a compiled model
//! written into one block of bytes with no pointers, so that every backend of a
//! database reads the same copy from shared memory instead of building its own.
//!
//! Layout, every section 8-byte aligned: a [`Header`]; the user-sized arrays as
//! they lie in memory (users, their roles, the user index, the member table, the
//! level rows) and the role-sized ones (ids, Euler intervals, parents, role
//! levels); then the small parts (types, rules, agreements, counts per company,
//! owners, the level row of each role set) as JSON. [`decode`] gives a
//! [`CompiledOrg`] whose arrays are slices of the image ([`Slab`]) and whose
//! hash maps — sized by roles, rules, agreements and companies, not users — are
//! rebuilt. Nothing here knows where the bytes live.

use super::engine::{CRule, CType, CUser, CompiledOrg, IdSlot, RoleIx, UserIndex};
use super::slab::{Keep, Slab};
use super::types::{Action, Level};
use serde::{Deserialize, Serialize};

const MAGIC: u64 = u64::from_le_bytes(*b"PGSHMDL2");
const VERSION: u32 = 2;

/// Where one array lies: byte offset from the image's start, element count, and
/// the elements it has room for (a patch written in place grows into that room:
/// docs/design.md, "Patching a spare in place").
#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Section {
    offset: u64,
    count: u64,
    capacity: u64,
}

#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Header {
    magic: u64,
    version: u32,
    /// 0: a dense user index (`index_min` + slots), 1: a sparse one (sorted pairs).
    index_kind: u32,
    total_len: u64,
    index_min: i64,
    level_width: u64,
    /// Runs of the role table no user points to (a patch written in place leaves
    /// them, as a patch of a model of its own does).
    user_roles_garbage: u64,
    users: Section,
    user_roles: Section,
    user_index: Section,
    role_ids: Section,
    enter: Section,
    exit: Section,
    parent: Section,
    member_start: Section,
    members: Section,
    level_rows: Section,
    role_levels: Section,
    /// The small parts, JSON (`count` bytes).
    small: Section,
    /// The level row of each role set, as records (`CompiledOrg::role_sets`):
    /// decoded by a patch only.
    role_sets: Section,
}

/// What the image holds besides the flat arrays.
#[derive(Serialize, Deserialize)]
struct SmallParts {
    types: Vec<CType>,
    type_names: Vec<String>,
    rules: Vec<(i64, Vec<CRule>)>,
    agreement_ids: Vec<(i64, i64, i64)>,
    agreement_grants: Vec<(i64, u32, Action)>,
    company_users: Vec<(i64, u32)>,
    owners: Vec<(i64, i64)>,
}

impl SmallParts {
    fn encode(c: &CompiledOrg) -> Vec<u8> {
        let mut type_names = vec![String::new(); c.types.len()];
        for (name, ix) in &c.type_ix {
            type_names[*ix as usize] = name.clone();
        }
        let mut rules: Vec<(i64, Vec<CRule>)> =
            c.rules.iter().map(|(k, v)| (*k, v.clone())).collect();
        rules.sort_unstable_by_key(|(k, _)| *k);
        let small = SmallParts {
            types: c.types.clone(),
            type_names,
            rules,
            agreement_ids: c
                .agreement_ids
                .iter()
                .map(|((a, b), id)| (*a, *b, *id))
                .collect(),
            agreement_grants: c.agreement_grants.iter().copied().collect(),
            company_users: c.company_users.iter().map(|(k, v)| (*k, *v)).collect(),
            owners: c.owners.iter().map(|(k, v)| (*k, *v)).collect(),
        };
        serde_json::to_vec(&small).expect("the small parts encode")
    }
}

/// Room for a growing array of `n` elements: a sixteenth more and `some`.
fn room(n: usize, some: usize) -> usize {
    n + n / 16 + some
}

/// An image about to be written: its small parts, encoded, and where every
/// section goes.
pub struct ImagePlan {
    small: Vec<u8>,
    /// The header, its sections placed (their counts as written).
    header: Header,
}

fn aligned(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// The bytes of a slice of plain values (no padding: every type written here is
/// `repr(C)` with its padding spelt out as fields, or a primitive).
fn bytes_of<T: Copy>(items: &[T]) -> &[u8] {
    // SAFETY: T is one of the image's plain types, which have no undefined bytes.
    unsafe { std::slice::from_raw_parts(items.as_ptr() as *const u8, std::mem::size_of_val(items)) }
}

impl ImagePlan {
    /// Plan the image of `c`.
    pub fn of(c: &CompiledOrg) -> ImagePlan {
        let small = SmallParts::encode(c);
        let user_roles_len: usize = c.users.iter().map(|u| u.roles_len as usize).sum();
        let mut h = Header {
            magic: MAGIC,
            version: VERSION,
            level_width: c.level_width as u64,
            ..Header::default()
        };
        let mut at = aligned(std::mem::size_of::<Header>());
        let mut place = |count: usize, capacity: usize, size: usize| {
            let s = Section {
                offset: at as u64,
                count: count as u64,
                capacity: capacity as u64,
            };
            at = aligned(at + capacity * size);
            s
        };
        let users = c.users.len();
        h.users = place(users, room(users, 256), std::mem::size_of::<CUser>());
        h.user_roles = place(
            user_roles_len,
            room(user_roles_len, 1024),
            std::mem::size_of::<RoleIx>(),
        );
        h.user_index = match &c.user_ix {
            UserIndex::Dense { min, slots } => {
                h.index_min = *min;
                place(slots.len(), room(slots.len(), 1024), 4)
            }
            UserIndex::Sparse(pairs) => {
                h.index_kind = 1;
                place(
                    pairs.len(),
                    room(pairs.len(), 256),
                    std::mem::size_of::<IdSlot>(),
                )
            }
        };
        let roles = c.role_ids.len();
        h.role_ids = place(roles, roles, 8);
        h.enter = place(c.enter.len(), c.enter.len(), 4);
        h.exit = place(c.exit.len(), c.exit.len(), 4);
        h.parent = place(c.parent.len(), c.parent.len(), 4);
        h.member_start = place(c.member_start.len(), c.member_start.len(), 4);
        h.members = place(c.members.len(), room(c.members.len(), 256), 4);
        h.level_rows = place(
            c.level_rows.len(),
            room(c.level_rows.len(), 64 * c.level_width),
            1,
        );
        h.role_levels = place(c.role_levels.len(), c.role_levels.len(), 1);
        h.small = place(small.len(), small.len() + small.len() / 4 + 16384, 1);
        h.role_sets = place(c.role_sets.len(), room(c.role_sets.len(), 4096), 8);
        h.total_len = at as u64;
        ImagePlan { small, header: h }
    }

    /// The bytes the image takes, with its room to grow.
    pub fn len(&self) -> usize {
        self.header.total_len as usize
    }

    /// Is the image empty? (Never: it has a header.)
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Write the image of `c` (the model this plan was made of) into `out`, which
    /// must be [`ImagePlan::len`] bytes long. The room after each section's values
    /// is left as it was.
    pub fn write(&self, c: &CompiledOrg, out: &mut [u8]) {
        assert_eq!(
            out.len(),
            self.len(),
            "an image's buffer is its planned size"
        );
        let h = self.header;
        // Users with their runs of roles made contiguous, written where they go
        // (no copy of the users on the side: that would be 40 bytes a user of fresh
        // memory in the backend that publishes).
        let users_at = h.users.offset as usize;
        let users_bytes = std::mem::size_of_val(&*c.users);
        let roles_at = h.user_roles.offset as usize;
        let roles_bytes = h.user_roles.count as usize * std::mem::size_of::<RoleIx>();
        // Copied whole, then each run moved by the compaction gets its new offset;
        // the runs themselves are copied a stretch at a time (one stretch when the
        // model was just compiled, or patched by appending a user).
        {
            let (users_out, rest) = out[users_at..].split_at_mut(roles_at - users_at);
            let roles_out = &mut rest[..roles_bytes];
            users_out[..users_bytes].copy_from_slice(bytes_of(&c.users));
            let size = std::mem::size_of::<CUser>();
            let field = std::mem::offset_of!(CUser, roles_at);
            let mut copy = |source: usize, to: usize, len: usize| {
                let bytes = bytes_of(&c.user_roles[source..source + len]);
                roles_out[to * 4..to * 4 + bytes.len()].copy_from_slice(bytes);
            };
            // (where the stretch starts in the model, where it goes, its length)
            let mut stretch = (0usize, 0usize, 0usize);
            let mut to = 0usize;
            for (i, u) in c.users.iter().enumerate() {
                let (at, len) = (u.roles_at as usize, u.roles_len as usize);
                if at != to {
                    let field_at = i * size + field;
                    users_out[field_at..field_at + 4].copy_from_slice(&(to as u32).to_ne_bytes());
                }
                if len > 0 {
                    if stretch.0 + stretch.2 == at {
                        stretch.2 += len;
                    } else {
                        copy(stretch.0, stretch.1, stretch.2);
                        stretch = (at, to, len);
                    }
                }
                to += len;
            }
            copy(stretch.0, stretch.1, stretch.2);
            assert_eq!(to, h.user_roles.count as usize, "the planned runs of roles");
        }
        let put = |out: &mut [u8], s: Section, bytes: &[u8]| {
            out[s.offset as usize..s.offset as usize + bytes.len()].copy_from_slice(bytes);
        };
        match &c.user_ix {
            UserIndex::Dense { slots, .. } => put(out, h.user_index, bytes_of(slots)),
            UserIndex::Sparse(pairs) => put(out, h.user_index, bytes_of(pairs)),
        }
        put(out, h.role_ids, bytes_of(&c.role_ids));
        put(out, h.enter, bytes_of(&c.enter));
        put(out, h.exit, bytes_of(&c.exit));
        put(out, h.parent, bytes_of(&c.parent));
        put(out, h.member_start, bytes_of(&c.member_start));
        put(out, h.members, bytes_of(&c.members));
        put(out, h.level_rows, bytes_of(&c.level_rows));
        put(out, h.role_levels, bytes_of(&c.role_levels));
        put(out, h.small, &self.small);
        put(out, h.role_sets, bytes_of(&c.role_sets));
        out[..std::mem::size_of::<Header>()].copy_from_slice(bytes_of(&[h]));
    }
}

/// Why a patched model cannot be written where it lies: a section outgrew its
/// room (and was copied out) or the user index changed its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the patched model does not fit its image: {0}")]
pub struct NotInPlace(pub String);

/// Finish an image a model read from it with [`decode_in_place`] was patched in:
/// the new counts and the small parts written. `Err` (and the image left
/// unreadable: its magic cleared) when the model no longer lies in it.
///
/// # Safety
/// `base` must be the image `c` was decoded from with [`decode_in_place`], `len`
/// its length, nothing else reading or writing it.
pub unsafe fn finish_in_place(
    c: &CompiledOrg,
    base: *mut u8,
    len: usize,
) -> Result<(), NotInPlace> {
    // Unreadable until finished: whatever fails below leaves it so.
    let mut h: Header = unsafe { std::ptr::read(base as *const Header) };
    unsafe { std::ptr::write(base as *mut u64, 0) };
    let bad = |why: &str| Err(NotInPlace(why.to_string()));
    if h.magic != MAGIC || h.total_len != len as u64 {
        return bad("not the image it was read from");
    }
    fn count<T: Copy + 'static>(
        base: *mut u8,
        s: &mut Section,
        slab: &Slab<T>,
        name: &str,
    ) -> Result<(), NotInPlace> {
        let at = unsafe { base.add(s.offset as usize) } as *const T;
        match slab.window_at() {
            Some(p) if (p == at || s.capacity == 0) && slab.len() as u64 <= s.capacity => {
                s.count = slab.len() as u64;
                Ok(())
            }
            _ => Err(NotInPlace(format!("{name} outgrew its room"))),
        }
    }
    count(base, &mut h.users, &c.users, "the users")?;
    count(base, &mut h.user_roles, &c.user_roles, "the role table")?;
    match &c.user_ix {
        UserIndex::Dense { min, slots } if h.index_kind == 0 && *min == h.index_min => {
            count(base, &mut h.user_index, slots, "the user index")?
        }
        UserIndex::Sparse(pairs) if h.index_kind == 1 => {
            count(base, &mut h.user_index, pairs, "the user index")?
        }
        _ => return bad("the user index changed its kind"),
    }
    count(base, &mut h.role_ids, &c.role_ids, "the roles")?;
    count(base, &mut h.enter, &c.enter, "the roles")?;
    count(base, &mut h.exit, &c.exit, "the roles")?;
    count(base, &mut h.parent, &c.parent, "the roles")?;
    count(
        base,
        &mut h.member_start,
        &c.member_start,
        "the member table",
    )?;
    count(base, &mut h.members, &c.members, "the member table")?;
    count(base, &mut h.level_rows, &c.level_rows, "the level rows")?;
    count(base, &mut h.role_levels, &c.role_levels, "the role levels")?;
    if c.level_width as u64 != h.level_width {
        return bad("the types changed");
    }
    h.user_roles_garbage = c.user_roles_garbage as u64;
    let put = |s: &mut Section, bytes: &[u8], name: &str| {
        if bytes.len() as u64 > s.capacity {
            return Err(NotInPlace(format!("{name} outgrew its room")));
        }
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), base.add(s.offset as usize), bytes.len())
        };
        s.count = bytes.len() as u64;
        Ok(())
    };
    count(base, &mut h.role_sets, &c.role_sets, "the role sets")?;
    put(&mut h.small, &SmallParts::encode(c), "the small parts")?;
    unsafe { std::ptr::write(base as *mut Header, h) };
    Ok(())
}

/// The image of `c` in a vector of its own (the tests' way to read a model back).
#[cfg(test)]
pub fn encode(c: &CompiledOrg) -> Vec<u64> {
    let plan = ImagePlan::of(c);
    // u64 words: the buffer is 8-byte aligned, as an image must be.
    let mut words = vec![0u64; plan.len() / 8];
    // SAFETY: u64 words are plain bytes, and the length is the plan's (a multiple of 8).
    let out = unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr() as *mut u8, plan.len()) };
    plan.write(c, out);
    words
}

/// A section of the image at `base` as a slab: mapped, or a window to write in.
///
/// # Safety
/// [`decode_as`]'s contract.
unsafe fn section<T: Copy + 'static>(
    base: *mut u8,
    len: usize,
    s: Section,
    keep: &Keep,
    writable: bool,
) -> Result<Slab<T>, BadImage> {
    let size = (s.capacity as usize)
        .checked_mul(std::mem::size_of::<T>())
        .ok_or_else(|| BadImage("a section too large".into()))?;
    let end = (s.offset as usize).checked_add(size);
    if end.is_none_or(|e| e > len)
        || s.count > s.capacity
        || !(s.offset as usize).is_multiple_of(std::mem::align_of::<T>())
    {
        return Err(BadImage("a section outside the image".into()));
    }
    let (at, count, capacity) = unsafe {
        (
            base.add(s.offset as usize) as *mut T,
            s.count as usize,
            s.capacity as usize,
        )
    };
    // SAFETY: within the image (checked), aligned (checked), written by
    // `ImagePlan::write` from values of T (the caller's contract); a window's
    // room is within the image too.
    Ok(unsafe {
        if writable {
            Slab::window(at, count, capacity, keep.clone())
        } else {
            Slab::mapped(at, count, keep.clone())
        }
    })
}

/// Why an image cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a model image is unreadable: {0}")]
pub struct BadImage(pub String);

/// The model in the image at `base` (`len` bytes), its arrays read where they lie.
///
/// # Safety
/// `base` must be 8-byte aligned and point to `len` bytes that hold an image
/// written by [`ImagePlan::write`] and that nothing changes while `keep` lives.
pub unsafe fn decode(base: *const u8, len: usize, keep: Keep) -> Result<CompiledOrg, BadImage> {
    unsafe { decode_as(base as *mut u8, len, keep, false) }
}

/// The model in the image at `base`, its arrays windows of the image that a patch
/// writes where they lie (and copies out only what outgrows its room); then
/// [`finish_in_place`] makes the image the patched model's.
///
/// # Safety
/// As [`decode`], and nothing else reads or writes the image while `keep` lives.
pub unsafe fn decode_in_place(
    base: *mut u8,
    len: usize,
    keep: Keep,
) -> Result<CompiledOrg, BadImage> {
    unsafe { decode_as(base, len, keep, true) }
}

unsafe fn decode_as(
    base: *mut u8,
    len: usize,
    keep: Keep,
    writable: bool,
) -> Result<CompiledOrg, BadImage> {
    let bad = |why: &str| Err(BadImage(why.to_string()));
    if !(base as usize).is_multiple_of(8) {
        return bad("not aligned");
    }
    if len < std::mem::size_of::<Header>() {
        return bad("shorter than its header");
    }
    let h: Header = unsafe { std::ptr::read(base as *const Header) };
    if h.magic != MAGIC || h.version != VERSION {
        return bad("not an image of this version");
    }
    if h.total_len != len as u64 {
        return bad("its length is not the one written");
    }
    let small: Slab<u8> = unsafe { section(base, len, h.small, &keep, false) }?;
    let small: SmallParts =
        serde_json::from_slice(&small).map_err(|e| BadImage(format!("its small parts: {e}")))?;
    let role_ids: Slab<i64> = unsafe { section(base, len, h.role_ids, &keep, writable) }?;
    let user_ix = if h.index_kind == 0 {
        UserIndex::Dense {
            min: h.index_min,
            slots: unsafe { section(base, len, h.user_index, &keep, writable) }?,
        }
    } else {
        UserIndex::Sparse(unsafe { section::<IdSlot>(base, len, h.user_index, &keep, writable) }?)
    };
    let type_ix = small
        .type_names
        .iter()
        .enumerate()
        .map(|(i, name)| (name.clone(), i as u32))
        .collect();
    Ok(CompiledOrg {
        users: unsafe { section(base, len, h.users, &keep, writable) }?,
        user_roles: unsafe { section(base, len, h.user_roles, &keep, writable) }?,
        user_roles_garbage: h.user_roles_garbage as u32,
        user_ix,
        role_ix: Default::default(),
        role_ids,
        enter: unsafe { section(base, len, h.enter, &keep, writable) }?,
        exit: unsafe { section(base, len, h.exit, &keep, writable) }?,
        parent: unsafe { section(base, len, h.parent, &keep, writable) }?,
        types: small.types,
        type_ix,
        rules: small.rules.into_iter().collect(),
        agreement_ids: small
            .agreement_ids
            .into_iter()
            .map(|(a, b, id)| ((a, b), id))
            .collect(),
        agreement_grants: small.agreement_grants.into_iter().collect(),
        member_start: unsafe { section(base, len, h.member_start, &keep, writable) }?,
        members: unsafe { section(base, len, h.members, &keep, writable) }?,
        company_users: small.company_users.into_iter().collect(),
        owners: small.owners.into_iter().collect(),
        level_rows: unsafe { section::<Level>(base, len, h.level_rows, &keep, writable) }?,
        level_width: h.level_width as usize,
        role_levels: unsafe { section::<Level>(base, len, h.role_levels, &keep, writable) }?,
        row_of_roles: Default::default(),
        role_sets: unsafe { section(base, len, h.role_sets, &keep, writable) }?,
    })
}
