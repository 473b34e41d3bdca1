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

const MAGIC: u64 = u64::from_le_bytes(*b"PGSHMDL1");
const VERSION: u32 = 1;

/// Where one array lies: byte offset from the image's start, element count.
#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Section {
    offset: u64,
    count: u64,
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
    /// The level row of each role set, JSON: decoded by a patch only.
    row_of_roles: Section,
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

/// An image about to be written: its small parts, encoded, and its size.
pub struct ImagePlan {
    small: Vec<u8>,
    row_of_roles: Vec<u8>,
    len: usize,
    /// Every user's roles, compacted (the model's table may hold garbage runs).
    user_roles_len: usize,
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
        let small = serde_json::to_vec(&small).expect("the small parts encode");
        let row_of_roles = match &c.row_of_roles_encoded {
            Some(bytes) => bytes.to_vec(),
            None => {
                let pairs: Vec<(&Vec<i64>, &u32)> = c.row_of_roles.iter().collect();
                serde_json::to_vec(&pairs).expect("the role sets encode")
            }
        };
        let user_roles_len: usize = c.users.iter().map(|u| u.roles_len as usize).sum();
        let index_bytes = match &c.user_ix {
            UserIndex::Dense { slots, .. } => slots.len() * 4,
            UserIndex::Sparse(pairs) => std::mem::size_of_val(&**pairs),
        };
        let len = [
            std::mem::size_of::<Header>(),
            std::mem::size_of_val(&*c.users),
            user_roles_len * 4,
            index_bytes,
            std::mem::size_of_val(&*c.role_ids),
            c.enter.len() * 4,
            c.exit.len() * 4,
            c.parent.len() * 4,
            c.member_start.len() * 4,
            c.members.len() * 4,
            c.level_rows.len(),
            c.role_levels.len(),
            small.len(),
            row_of_roles.len(),
        ]
        .iter()
        .map(|n| aligned(*n))
        .sum();
        ImagePlan {
            small,
            row_of_roles,
            len,
            user_roles_len,
        }
    }

    /// The bytes the image takes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Is the image empty? (Never: it has a header.)
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Write the image of `c` (the model this plan was made of) into `out`, which
    /// must be [`ImagePlan::len`] bytes long.
    pub fn write(&self, c: &CompiledOrg, out: &mut [u8]) {
        assert_eq!(out.len(), self.len, "an image's buffer is its planned size");
        let mut at = aligned(std::mem::size_of::<Header>());
        let mut h = Header {
            magic: MAGIC,
            version: VERSION,
            total_len: self.len as u64,
            level_width: c.level_width as u64,
            ..Header::default()
        };
        // Users with their runs of roles made contiguous, written where they go
        // (no copy of the users on the side: that would be 40 bytes a user of fresh
        // memory in the backend that publishes).
        let users_at = at;
        let users_bytes = std::mem::size_of_val(&*c.users);
        let roles_at = aligned(users_at + users_bytes);
        let roles_bytes = self.user_roles_len * std::mem::size_of::<RoleIx>();
        // Copied whole, then each run moved by the compaction gets its new offset;
        // the runs themselves are copied a stretch at a time (one stretch when the
        // model was just compiled, or patched by appending a user).
        {
            let (users_out, rest) = out[users_at..].split_at_mut(roles_at - users_at);
            let roles_out = &mut rest[..roles_bytes];
            users_out[..users_bytes].copy_from_slice(bytes_of(&c.users));
            users_out[users_bytes..].fill(0);
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
            assert_eq!(to, self.user_roles_len, "the planned runs of roles");
        }
        h.users = Section {
            offset: users_at as u64,
            count: c.users.len() as u64,
        };
        h.user_roles = Section {
            offset: roles_at as u64,
            count: self.user_roles_len as u64,
        };
        out[roles_at + roles_bytes..aligned(roles_at + roles_bytes)].fill(0);
        at = aligned(roles_at + roles_bytes);
        let mut put = |out: &mut [u8], bytes: &[u8], count: usize| {
            let section = Section {
                offset: at as u64,
                count: count as u64,
            };
            out[at..at + bytes.len()].copy_from_slice(bytes);
            out[at + bytes.len()..aligned(at + bytes.len())].fill(0);
            at = aligned(at + bytes.len());
            section
        };
        h.user_index = match &c.user_ix {
            UserIndex::Dense { min, slots } => {
                h.index_min = *min;
                put(out, bytes_of(slots), slots.len())
            }
            UserIndex::Sparse(pairs) => {
                h.index_kind = 1;
                put(out, bytes_of(pairs), pairs.len())
            }
        };
        h.role_ids = put(out, bytes_of(&c.role_ids), c.role_ids.len());
        h.enter = put(out, bytes_of(&c.enter), c.enter.len());
        h.exit = put(out, bytes_of(&c.exit), c.exit.len());
        h.parent = put(out, bytes_of(&c.parent), c.parent.len());
        h.member_start = put(out, bytes_of(&c.member_start), c.member_start.len());
        h.members = put(out, bytes_of(&c.members), c.members.len());
        h.level_rows = put(out, bytes_of(&c.level_rows), c.level_rows.len());
        h.role_levels = put(out, bytes_of(&c.role_levels), c.role_levels.len());
        h.small = put(out, &self.small, self.small.len());
        h.row_of_roles = put(out, &self.row_of_roles, self.row_of_roles.len());
        let header = [h];
        out[..std::mem::size_of::<Header>()].copy_from_slice(bytes_of(&header));
    }
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
    fn slab<T: Copy + 'static>(
        base: *const u8,
        len: usize,
        s: Section,
        keep: &Keep,
    ) -> Result<Slab<T>, BadImage> {
        let size = (s.count as usize)
            .checked_mul(std::mem::size_of::<T>())
            .ok_or_else(|| BadImage("a section too large".into()))?;
        let end = (s.offset as usize).checked_add(size);
        if end.is_none_or(|e| e > len)
            || !(s.offset as usize).is_multiple_of(std::mem::align_of::<T>())
        {
            return Err(BadImage("a section outside the image".into()));
        }
        // SAFETY: within the image (checked), aligned (checked), written by
        // `ImagePlan::write` from values of T (the caller's contract).
        Ok(unsafe {
            Slab::mapped(
                base.add(s.offset as usize) as *const T,
                s.count as usize,
                keep.clone(),
            )
        })
    }
    let small: Slab<u8> = slab(base, len, h.small, &keep)?;
    let small: SmallParts =
        serde_json::from_slice(&small).map_err(|e| BadImage(format!("its small parts: {e}")))?;
    let role_ids: Slab<i64> = slab(base, len, h.role_ids, &keep)?;
    let user_ix = if h.index_kind == 0 {
        UserIndex::Dense {
            min: h.index_min,
            slots: slab(base, len, h.user_index, &keep)?,
        }
    } else {
        UserIndex::Sparse(slab::<IdSlot>(base, len, h.user_index, &keep)?)
    };
    let type_ix = small
        .type_names
        .iter()
        .enumerate()
        .map(|(i, name)| (name.clone(), i as u32))
        .collect();
    Ok(CompiledOrg {
        users: slab(base, len, h.users, &keep)?,
        user_roles: slab(base, len, h.user_roles, &keep)?,
        user_roles_garbage: 0,
        user_ix,
        role_ix: Default::default(),
        role_ids,
        enter: slab(base, len, h.enter, &keep)?,
        exit: slab(base, len, h.exit, &keep)?,
        parent: slab(base, len, h.parent, &keep)?,
        types: small.types,
        type_ix,
        rules: small.rules.into_iter().collect(),
        agreement_ids: small
            .agreement_ids
            .into_iter()
            .map(|(a, b, id)| ((a, b), id))
            .collect(),
        agreement_grants: small.agreement_grants.into_iter().collect(),
        member_start: slab(base, len, h.member_start, &keep)?,
        members: slab(base, len, h.members, &keep)?,
        company_users: small.company_users.into_iter().collect(),
        owners: small.owners.into_iter().collect(),
        level_rows: slab::<Level>(base, len, h.level_rows, &keep)?,
        level_width: h.level_width as usize,
        role_levels: slab::<Level>(base, len, h.role_levels, &keep)?,
        row_of_roles: Default::default(),
        row_of_roles_encoded: Some(slab(base, len, h.row_of_roles, &keep)?),
    })
}
