//! The visibility engine (docs/concepts.md, "The decision"): an [`Org`] compiled into dense arrays so that
//! one decision is a few memory reads.
//!
//! * Roles get dense indexes and an Euler-tour interval in their company's
//!   `reports_to` forest: role `a` is strictly below role `b` exactly when
//!   `enter[b] < enter[a] <= exit[b]`. No R×R matrix, O(R) memory.
//! * Users get dense indexes, their roles, flags and a level matrix
//!   (object type × action) with inheritance, unions and admin already applied.
//! * Sharing rules are grouped per company; agreements are a hash set of
//!   (grantor, grantee, type, action).
//!
//! [`CompiledOrg::decide`] returns a [`Reason`] as well as the answer, so that
//! `explain_access` can never disagree with `can_access`.

use super::interrupts::Ticker;
use super::org::Org;
use super::perms::role_level_rows;
use super::shares::{Grantee, ShareAnchors, ShareGrant};
use super::slab::Slab;
use super::types::{Action, Level, OrgWideDefault, RuleAccess, RuleScope, Status};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

pub(super) type RoleIx = u32;
pub(super) type TypeIx = u32;

/// A compiled user: plain values, no pointers (`repr(C)`), so that the users of a
/// model image are read where they lie (src/model/image.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub(super) struct CUser {
    pub(super) id: i64,
    pub(super) company: i64,
    /// The user's roles: `user_roles[roles_at..roles_at + roles_len]`
    /// ([`CompiledOrg::roles`]).
    pub(super) roles_at: u32,
    pub(super) roles_len: u32,
    /// Euler-tour entry of each role, inline for the usual one or two roles, so
    /// that a hierarchy test on a row's owner reads no other memory.
    pub(super) enters: [u32; 2],
    /// The user's row of [`CompiledOrg::level_rows`]: users with the same roles share
    /// one (most users of a large org hold one of a few hundred role sets).
    pub(super) levels: u32,
    pub(super) status: Status,
    pub(super) superuser: bool,
    pub(super) super_member: bool,
    /// Always 0: no padding byte is left undefined in an image.
    pub(super) _pad: u8,
}

// Model images lay users out as they are in memory: 40 bytes, no padding.
const _: () = assert!(std::mem::size_of::<CUser>() == 40);

/// One entry of a sparse [`UserIndex`]: a user id and its dense index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub(super) struct IdSlot {
    pub(super) id: i64,
    pub(super) ix: u32,
    pub(super) _pad: u32,
}

/// User id -> dense index: a direct table when ids are dense enough (the usual
/// case: application ids from a sequence), a table sorted by id otherwise. Both
/// are flat arrays, so a model image holds them as they are.
#[derive(Debug, Clone)]
pub(super) enum UserIndex {
    Dense { min: i64, slots: Slab<u32> },
    Sparse(Slab<IdSlot>),
}

impl Default for UserIndex {
    fn default() -> Self {
        UserIndex::Sparse(Slab::default())
    }
}

impl UserIndex {
    pub(super) const ABSENT: u32 = u32::MAX;

    pub(super) fn build(ids: impl Iterator<Item = i64> + Clone, n: usize) -> UserIndex {
        let (min, max) = ids.clone().fold((i64::MAX, i64::MIN), |(lo, hi), id| {
            (lo.min(id), hi.max(id))
        });
        if n > 0 && (max as i128 - min as i128) < (4 * n as i128 + 1024) {
            let mut slots = vec![Self::ABSENT; (max - min + 1) as usize];
            for (i, id) in ids.enumerate() {
                slots[(id - min) as usize] = i as u32;
            }
            UserIndex::Dense {
                min,
                slots: slots.into(),
            }
        } else {
            let mut pairs: Vec<IdSlot> = ids
                .enumerate()
                .map(|(i, id)| IdSlot {
                    id,
                    ix: i as u32,
                    _pad: 0,
                })
                .collect();
            pairs.sort_unstable_by_key(|p| p.id);
            UserIndex::Sparse(pairs.into())
        }
    }

    #[inline]
    pub(super) fn get(&self, id: i64) -> Option<u32> {
        match self {
            UserIndex::Dense { min, slots } => {
                let off = id.checked_sub(*min)?;
                let slot = *slots.get(usize::try_from(off).ok()?)?;
                (slot != Self::ABSENT).then_some(slot)
            }
            UserIndex::Sparse(pairs) => pairs
                .binary_search_by_key(&id, |p| p.id)
                .ok()
                .map(|at| pairs[at].ix),
        }
    }

    fn owned_bytes(&self) -> usize {
        match self {
            UserIndex::Dense { slots, .. } => slots.owned_bytes(),
            UserIndex::Sparse(pairs) => pairs.owned_bytes(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct CRule {
    pub(super) id: i64,
    pub(super) object_type: Option<TypeIx>,
    pub(super) source: RoleIx,
    pub(super) source_scope: RuleScope,
    pub(super) target: RoleIx,
    pub(super) target_scope: RuleScope,
    pub(super) access: RuleAccess,
}

impl CRule {
    /// Does the rule share records of `object_type` for `action`? (`None`: no
    /// particular type, which only the rules for every type share.) The one test of
    /// "does this rule apply" for the decision and for the owner bound.
    fn covers(&self, object_type: Option<TypeIx>, action: Action) -> bool {
        (self.object_type.is_none() || self.object_type == object_type)
            && self.access.covers(action)
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct CType {
    org_wide_default: OrgWideDefault,
    grant_via_hierarchy: bool,
}

/// Why a decision came out as it did. Cheap to build (no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    UnknownViewer,
    InactiveViewer(Status),
    Superuser,
    UnknownObjectType,
    /// The record has no company: nothing but superusers can reach it.
    NoCompany,
    /// L = none for (type, action).
    NoPermission,
    /// Cross-company and no agreement grants (type, action).
    NoAgreement {
        grantor: i64,
        grantee: i64,
    },
    /// Cross-company, granted by the agreement with this id.
    Agreement {
        agreement_id: i64,
        level: Level,
    },
    /// L = all.
    LevelAll {
        cross_company: bool,
    },
    Owner,
    Assignee,
    /// A role of the owner (or assignee) is strictly below a role of the viewer.
    Hierarchy {
        via_assignee: bool,
        record_role: i64,
        viewer_role: i64,
    },
    Rule {
        rule_id: i64,
        via_assignee: bool,
    },
    OrgWideDefault(OrgWideDefault),
    /// A live record share of this record reaches the viewer (docs/concepts.md,
    /// "Record shares"): the share's id and how it reaches them.
    RecordShare {
        share_id: i64,
        via_role: Option<i64>,
    },
    /// L = owned and none of the owned-level conditions holds.
    NotReached,
    /// `create` with L = owned for an owner that is neither V nor below V.
    CreateNotBelow,
}

/// Why a transfer is refused (see [`CompiledOrg::transfer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferRefusal {
    InactiveViewer,
    /// Only a superuser (or a DBA session) moves a record to another company.
    CompanyChange,
    /// The viewer reaches the record otherwise than by ownership.
    NotHeld,
    /// The new owner is one the viewer could not create a record for.
    CannotCreate,
}

/// One decision: the answer, the reason and the level the viewer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: Reason,
    pub level: Level,
}

fn decision(allowed: bool, reason: Reason, level: Level) -> Decision {
    Decision {
        allowed,
        reason,
        level,
    }
}

/// A compiled organization: shared by every decision of a statement; patched in
/// place between statements for the common changes (src/model/incremental.rs).
#[derive(Debug, Clone, Default)]
pub struct CompiledOrg {
    pub(super) users: Slab<CUser>,
    /// Every user's roles, one run per user ([`CUser::roles_at`]); a patch writes a
    /// user's new run at the end, and the table is compacted once half of it is
    /// runs no user points to (`user_roles_garbage`).
    pub(super) user_roles: Slab<RoleIx>,
    pub(super) user_roles_garbage: u32,
    pub(super) user_ix: UserIndex,
    pub(super) role_ids: Slab<i64>,
    /// Each role id's dense index, made on first use: a model read from an image
    /// answers most statements without it, and making it is most of reading one
    /// (docs/benchmarks.md, "Where the 200,000-user change goes").
    pub(super) role_ix: once_cell::unsync::OnceCell<HashMap<i64, RoleIx>>,
    pub(super) enter: Slab<u32>,
    pub(super) exit: Slab<u32>,
    /// Each role's `reports_to` (its dense index), `RoleIx::MAX` at the top: the
    /// roles above a viewer's, which record shares to "a role and its subordinates"
    /// reach down from.
    pub(super) parent: Slab<RoleIx>,
    pub(super) types: Vec<CType>,
    pub(super) type_ix: HashMap<String, TypeIx>,
    /// company -> its sharing rules
    pub(super) rules: HashMap<i64, Vec<CRule>>,
    /// (grantor, grantee) -> agreement id
    pub(super) agreement_ids: HashMap<(i64, i64), i64>,
    /// (agreement id, type, action) granted
    pub(super) agreement_grants: HashSet<(i64, TypeIx, Action)>,
    /// Users by the Euler-tour entry of each of their roles (a CSR table): the users
    /// of role with entry `e` are `members[member_start[e]..member_start[e + 1]]`,
    /// so the users of a whole subtree are one contiguous run.
    pub(super) member_start: Slab<u32>,
    pub(super) members: Slab<u32>,
    /// company -> how many users it has
    pub(super) company_users: HashMap<i64, u32>,
    /// company -> its owner (docs/concepts.md, "The company owner"): an owner's
    /// level row is "everything", which a patch must know without the rows.
    pub(super) owners: HashMap<i64, i64>,
    /// Level matrices, `level_width` (= types × 4) entries each: [type * 4 + action].
    pub(super) level_rows: Slab<Level>,
    pub(super) level_width: usize,
    /// Each role's effective level matrix (`level_width` entries per role, in role
    /// order): kept so that a change of memberships or levels is patched without a
    /// rebuild (src/model/incremental.rs).
    pub(super) role_levels: Slab<Level>,
    /// The level row of each distinct set of roles (sorted role ids): only a patch
    /// reads it; empty in a model read from an image until a patch needs it.
    pub(super) row_of_roles: HashMap<Vec<i64>, u32>,
    /// The same sets as records `[row, n, role id × n]`, in the order they were
    /// added (sets are never removed): what a model image holds, decoded only by
    /// a patch ([`CompiledOrg::decode_row_of_roles`]), so a backend that reads a
    /// shared model and never patches it never pays for it; a patch appends the
    /// sets it adds, in place in an image it patches.
    pub(super) role_sets: Slab<i64>,
}

/// Which owners' records a viewer may reach for one (type, action), when that is a
/// finite set: what the planner turns into an `owner = ANY(...)` index condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerBound {
    /// Records of any owner may be allowed (level `all`, an org-wide default, an
    /// agreement, a superuser, an unknown type): no owner condition is exact enough.
    Unbounded,
    /// Every allowed record (with no assignee) has one of these owners, ascending.
    Owners(Vec<i64>),
}

/// Exactly what a user may do for one (type, action) on records without an assignee,
/// taking each record to live in its owner's company (docs/security.md, "No
/// escalation by effect"): the unit in which the effect of a change is judged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reach {
    /// Every record of every company (a superuser; a super company member at level
    /// `all` or under a covering org-wide default).
    pub every_company: bool,
    /// Companies all of whose records are reached, ascending.
    pub companies: Vec<i64>,
    /// Owners whose records (in their company) are reached besides those, ascending;
    /// the user's own id included when their level is above `none`.
    pub owners: Vec<i64>,
}

impl Reach {
    /// Does this reach hold the records of `owner` in `company`?
    pub fn holds(&self, company: i64, owner: i64) -> bool {
        self.every_company
            || self.companies.binary_search(&company).is_ok()
            || self.owners.binary_search(&owner).is_ok()
    }

    /// Does it hold every record of `company`?
    pub fn holds_company(&self, company: i64) -> bool {
        self.every_company || self.companies.binary_search(&company).is_ok()
    }
}

/// The CSR table of [`CompiledOrg::members`]: entries run from 1 to the number of roles.
pub(super) fn members_by_entry(
    users: &[CUser],
    user_roles: &[RoleIx],
    enter: &[u32],
) -> (Vec<u32>, Vec<u32>) {
    let roles = |u: &CUser| &user_roles[u.roles_at as usize..(u.roles_at + u.roles_len) as usize];
    let slots = enter.len() + 2;
    let mut tick = Ticker::new();
    let mut start = vec![0u32; slots];
    for u in users {
        tick.tick();
        for &r in roles(u) {
            start[enter[r as usize] as usize + 1] += 1;
        }
    }
    for i in 1..slots {
        start[i] += start[i - 1];
    }
    let mut next = start.clone();
    let mut members = vec![0u32; start[slots - 1] as usize];
    for (ix, u) in users.iter().enumerate() {
        tick.tick();
        for &r in roles(u) {
            let e = enter[r as usize] as usize;
            members[next[e] as usize] = ix as u32;
            next[e] += 1;
        }
    }
    (start, members)
}

/// The role indexes the compiled org uses: the roles' ids in snapshot order, and
/// each id's dense index.
fn index_roles(org: &Org) -> (Vec<i64>, HashMap<i64, RoleIx>) {
    let role_ids: Vec<i64> = org.snapshot.roles.iter().map(|r| r.id).collect();
    let role_ix = role_index(&role_ids);
    (role_ids, role_ix)
}

/// Each role id's dense index.
pub(super) fn role_index(role_ids: &[i64]) -> HashMap<i64, RoleIx> {
    role_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, i as RoleIx))
        .collect()
}

/// The Euler tour of the `reports_to` forest: each role's (enter, exit) interval,
/// so "a strictly below b" is `enter[b] < enter[a] <= exit[b]`. A parent outside the
/// company (or a cycle, which the triggers prevent) is treated as no parent.
/// Iterative (an explicit stack): a chain of any depth cannot overflow the stack.
fn euler_tour(
    org: &Org,
    role_ix: &HashMap<i64, RoleIx>,
    tick: &mut Ticker,
) -> (Vec<u32>, Vec<u32>) {
    let roles = &org.snapshot.roles;
    let n = roles.len();
    let mut children: Vec<Vec<RoleIx>> = vec![Vec::new(); n];
    let mut has_parent = vec![false; n];
    for (i, r) in roles.iter().enumerate() {
        tick.tick();
        if let Some(p) = r.reports_to.and_then(|p| role_ix.get(&p).copied()) {
            if roles[p as usize].company_id == r.company_id {
                children[p as usize].push(i as RoleIx);
                has_parent[i] = true;
            }
        }
    }
    let mut enter = vec![0u32; n];
    let mut exit = vec![0u32; n];
    let mut visited = vec![false; n];
    let mut clock = 0u32;
    let mut stack: Vec<(RoleIx, usize)> = Vec::new();
    let roots: Vec<RoleIx> = (0..n as RoleIx)
        .filter(|i| !has_parent[*i as usize])
        .collect();
    // Roots first, then anything left over (members of a cycle).
    for start in roots.into_iter().chain(0..n as RoleIx) {
        if visited[start as usize] {
            continue;
        }
        visited[start as usize] = true;
        clock += 1;
        enter[start as usize] = clock;
        stack.push((start, 0));
        while let Some((node, next_child)) = stack.pop() {
            tick.tick();
            if let Some(&child) = children[node as usize].get(next_child) {
                stack.push((node, next_child + 1));
                if !visited[child as usize] {
                    visited[child as usize] = true;
                    clock += 1;
                    enter[child as usize] = clock;
                    stack.push((child, 0));
                }
            } else {
                exit[node as usize] = clock;
            }
        }
    }
    (enter, exit)
}

/// The object types: each name's dense index, and each type's defaults.
pub(super) fn index_types(org: &Org) -> (HashMap<String, TypeIx>, Vec<CType>) {
    let object_types = &org.snapshot.object_types;
    let type_ix = object_types
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.clone(), i as TypeIx))
        .collect();
    let types = object_types
        .iter()
        .map(|t| CType {
            org_wide_default: t.org_wide_default,
            grant_via_hierarchy: t.grant_via_hierarchy,
        })
        .collect();
    (type_ix, types)
}

/// The dense users and their level rows (`width` = types × 4 levels each).
///
/// Each role's level matrix, with its based_on cascade and admin flag, is computed
/// once per role from its parent's ([`role_level_rows`]: linear, however deep the
/// chains). Level rows: 0 = nothing (inactive users), 1 = everything (superusers,
/// and the owners of their companies),
/// then one per distinct set of roles: the union of the roles' matrices, the same
/// as perms::user_permissions. Each user keeps its role indexes, the first two
/// Euler entries inline.
fn users_and_level_rows(
    org: &Org,
    role_ix: &HashMap<i64, RoleIx>,
    type_ix: &HashMap<String, TypeIx>,
    enter: &[u32],
    width: usize,
    tick: &mut Ticker,
) -> LevelsAndUsers {
    let role_levels = role_level_rows(org, width / 4, |t| type_ix.get(t).map(|ix| *ix as usize));
    let levels_of = |role: i64| {
        role_ix
            .get(&role)
            .map(|ix| &role_levels[*ix as usize * width..(*ix as usize + 1) * width])
    };
    let mut level_rows: Vec<Level> = vec![Level::None; width];
    level_rows.extend(std::iter::repeat_n(Level::All, width));
    let mut row_of_roles: HashMap<Vec<i64>, u32> = HashMap::default();
    let mut user_roles: Vec<RoleIx> = Vec::with_capacity(org.snapshot.user_roles.len());
    let users: Vec<CUser> = org
        .snapshot
        .users
        .iter()
        .map(|u| {
            tick.tick();
            let levels = if u.status != Status::Active {
                0
            } else if u.is_superuser || org.is_owner(u) {
                // An owner is an admin of their company: every level (the company
                // bound is the same as any admin role's).
                1
            } else {
                let held: &[i64] = org.roles_of(u.id);
                match row_of_roles.get(held) {
                    Some(row) => *row,
                    None => {
                        let mut row = vec![Level::None; width];
                        for r in held {
                            if let Some(rl) = levels_of(*r) {
                                for (l, x) in row.iter_mut().zip(rl) {
                                    *l = (*l).max(*x);
                                }
                            }
                        }
                        // Rows are counted, not measured: with no object types
                        // every row is empty and they must still be told apart.
                        let index = 2 + row_of_roles.len() as u32;
                        level_rows.extend(row);
                        row_of_roles.insert(held.to_vec(), index);
                        index
                    }
                }
            };
            let roles_at = user_roles.len();
            user_roles.extend(
                org.roles_of(u.id)
                    .iter()
                    .filter_map(|r| role_ix.get(r).copied()),
            );
            let roles = &user_roles[roles_at..];
            let enter_of = |k: usize| roles.get(k).map_or(0, |r| enter[*r as usize]);
            CUser {
                id: u.id,
                company: u.company_id,
                status: u.status,
                superuser: u.is_superuser,
                super_member: u.is_super_company_member,
                enters: [enter_of(0), enter_of(1)],
                _pad: 0,
                roles_at: roles_at as u32,
                roles_len: roles.len() as u32,
                levels,
            }
        })
        .collect();
    LevelsAndUsers {
        level_rows,
        users,
        user_roles,
        role_levels,
        row_of_roles,
    }
}

/// The records of [`CompiledOrg::role_sets`] for `sets`, by row.
fn role_set_records(sets: &HashMap<Vec<i64>, u32>) -> Vec<i64> {
    let mut by_row: Vec<(&u32, &Vec<i64>)> = sets.iter().map(|(k, v)| (v, k)).collect();
    by_row.sort_unstable();
    let mut out = Vec::with_capacity(sets.len() * 4);
    for (row, set) in by_row {
        out.extend([*row as i64, set.len() as i64]);
        out.extend_from_slice(set);
    }
    out
}

/// What [`users_and_level_rows`] computes.
struct LevelsAndUsers {
    level_rows: Vec<Level>,
    users: Vec<CUser>,
    user_roles: Vec<RoleIx>,
    role_levels: Vec<Level>,
    row_of_roles: HashMap<Vec<i64>, u32>,
}

/// The sharing rules grouped by company, each company's by id (the first rule
/// that applies is the one a decision names, whatever order the rows were read
/// or patched in); a rule naming an unknown role or type is left out.
pub(super) fn rules_by_company(
    org: &Org,
    role_ix: &HashMap<i64, RoleIx>,
    type_ix: &HashMap<String, TypeIx>,
    tick: &mut Ticker,
) -> HashMap<i64, Vec<CRule>> {
    let mut rules: HashMap<i64, Vec<CRule>> = HashMap::default();
    for r in &org.snapshot.sharing_rules {
        tick.tick();
        let (Some(&source), Some(&target)) =
            (role_ix.get(&r.source_role), role_ix.get(&r.target_role))
        else {
            continue;
        };
        let object_type = match &r.object_type {
            None => None,
            Some(t) => match type_ix.get(t) {
                Some(ix) => Some(*ix),
                None => continue,
            },
        };
        rules.entry(r.company_id).or_default().push(CRule {
            id: r.id,
            object_type,
            source,
            source_scope: r.source_scope,
            target,
            target_scope: r.target_scope,
            access: r.access,
        });
    }
    for list in rules.values_mut() {
        list.sort_unstable_by_key(|r| r.id);
    }
    rules
}

/// The agreements: (grantor, grantee) → id, and the (agreement, type, action)
/// grants of known types.
#[allow(clippy::type_complexity)]
pub(super) fn agreements(
    org: &Org,
    type_ix: &HashMap<String, TypeIx>,
) -> (HashMap<(i64, i64), i64>, HashSet<(i64, TypeIx, Action)>) {
    let snap = &org.snapshot;
    let ids = snap
        .agreements
        .iter()
        .map(|a| ((a.grantor_company, a.grantee_company), a.id))
        .collect();
    let grants = snap
        .agreement_permissions
        .iter()
        .filter_map(|p| {
            type_ix
                .get(&p.object_type)
                .map(|t| (p.agreement_id, *t, p.action))
        })
        .collect();
    (ids, grants)
}

/// How many users each company has.
pub(super) fn users_per_company(users: &[CUser]) -> HashMap<i64, u32> {
    let mut company_users: HashMap<i64, u32> = HashMap::default();
    for u in users {
        *company_users.entry(u.company).or_default() += 1;
    }
    company_users
}

impl CompiledOrg {
    /// Compile an org, in named steps: index the roles, their Euler tour
    /// ([`euler_tour`]), index the types, the users and their level rows
    /// ([`users_and_level_rows`]), the rules by company, the agreements, and the
    /// users by Euler entry (a CSR table, [`members_by_entry`]). Linear in users +
    /// roles + rows (the role levels come from [`role_level_rows`], each role once; a
    /// user's row is the union of their roles' rows, once per distinct set of
    /// roles). Every loop checks for interrupts ([`Ticker`]), so `statement_timeout`
    /// and cancels stop a rebuild.
    pub fn compile(org: &Org) -> CompiledOrg {
        let mut tick = Ticker::new();
        let (role_ids, role_ix) = index_roles(org);
        let (enter, exit) = euler_tour(org, &role_ix, &mut tick);
        let parent: Vec<RoleIx> = org
            .snapshot
            .roles
            .iter()
            .map(|r| {
                r.reports_to
                    .and_then(|p| role_ix.get(&p).copied())
                    .unwrap_or(RoleIx::MAX)
            })
            .collect();
        let (type_ix, types) = index_types(org);
        let width = types.len() * 4;
        let LevelsAndUsers {
            level_rows,
            users,
            user_roles,
            role_levels,
            row_of_roles,
        } = users_and_level_rows(org, &role_ix, &type_ix, &enter, width, &mut tick);
        let user_ix = UserIndex::build(users.iter().map(|u| u.id), users.len());
        let rules = rules_by_company(org, &role_ix, &type_ix, &mut tick);
        let (agreement_ids, agreement_grants) = agreements(org, &type_ix);
        let (member_start, members) = members_by_entry(&users, &user_roles, &enter);
        let company_users = users_per_company(&users);
        let owners = org
            .snapshot
            .companies
            .iter()
            .filter_map(|c| c.owner_user.map(|o| (c.id, o)))
            .collect();

        CompiledOrg {
            level_rows: level_rows.into(),
            level_width: width,
            company_users,
            owners,
            member_start: member_start.into(),
            members: members.into(),
            users: users.into(),
            user_roles: user_roles.into(),
            user_roles_garbage: 0,
            user_ix,
            role_ids: role_ids.into(),
            role_ix: once_cell::unsync::OnceCell::with_value(role_ix),
            enter: enter.into(),
            exit: exit.into(),
            parent: parent.into(),
            types,
            type_ix,
            rules,
            agreement_ids,
            agreement_grants,
            role_levels: role_levels.into(),
            role_sets: role_set_records(&row_of_roles).into(),
            row_of_roles,
        }
    }

    /// `user`'s level for (type, action).
    #[inline]
    fn level(&self, user: &CUser, t: TypeIx, action: Action) -> Level {
        self.level_rows[user.levels as usize * self.level_width + t as usize * 4 + action.index()]
    }

    /// Each role id's dense index (made on first use, from `role_ids`).
    pub(super) fn role_ix(&self) -> &HashMap<i64, RoleIx> {
        self.role_ix.get_or_init(|| role_index(&self.role_ids))
    }

    /// A user's roles (dense indexes), in the order of their ids.
    #[inline]
    pub(super) fn roles(&self, u: &CUser) -> &[RoleIx] {
        &self.user_roles[u.roles_at as usize..(u.roles_at + u.roles_len) as usize]
    }

    #[inline]
    pub(super) fn user(&self, id: i64) -> Option<&CUser> {
        self.user_ix.get(id).map(|i| &self.users[i as usize])
    }

    /// Is role `a` strictly below role `b`?
    fn role_below(&self, a: RoleIx, b: RoleIx) -> bool {
        let (a, b) = (a as usize, b as usize);
        self.enter[b] < self.enter[a] && self.enter[a] <= self.exit[b]
    }

    fn in_scope(&self, role: RoleIx, anchor: RoleIx, scope: RuleScope) -> bool {
        role == anchor || (scope == RuleScope::RoleAndSubordinates && self.role_below(role, anchor))
    }

    /// Some role of `record_user` strictly below some role of `viewer`:
    /// returns (record role id, viewer role id).
    fn below(&self, record_user: &CUser, viewer: &CUser) -> Option<(i64, i64)> {
        if record_user.company != viewer.company {
            return None;
        }
        let record_roles = self.roles(record_user);
        for &vr in self.roles(viewer) {
            let (lo, hi) = (self.enter[vr as usize], self.exit[vr as usize]);
            for (k, &rr) in record_roles.iter().enumerate() {
                // The first two entries are inline; more roles are rare.
                let e = if k < 2 {
                    record_user.enters[k]
                } else {
                    self.enter[rr as usize]
                };
                if lo < e && e <= hi {
                    return Some((self.role_ids[rr as usize], self.role_ids[vr as usize]));
                }
            }
        }
        None
    }

    /// The first rule of V's company for `object_type` (None = type-independent
    /// rules only) that shares `record_user`'s records with `viewer` for `action`.
    fn rule_for(
        &self,
        record_user: &CUser,
        viewer: &CUser,
        object_type: Option<TypeIx>,
        action: Action,
    ) -> Option<i64> {
        if record_user.company != viewer.company {
            return None;
        }
        let rules = self.rules.get(&viewer.company)?;
        rules
            .iter()
            .filter(|r| r.covers(object_type, action))
            .find(|r| {
                self.roles(record_user)
                    .iter()
                    .any(|&x| self.in_scope(x, r.source, r.source_scope))
                    && self.rule_reaches_viewer(r, viewer)
            })
            .map(|r| r.id)
    }

    /// Does a role of `viewer` lie in the rule's target (role, or role and subordinates)?
    fn rule_reaches_viewer(&self, rule: &CRule, viewer: &CUser) -> bool {
        self.roles(viewer)
            .iter()
            .any(|&x| self.in_scope(x, rule.target, rule.target_scope))
    }

    /// The hierarchy reason when a role of `person` is strictly below a role of `viewer`.
    fn hierarchy_reason(
        &self,
        person: Option<&CUser>,
        viewer: &CUser,
        via_assignee: bool,
    ) -> Option<Reason> {
        let (record_role, viewer_role) = self.below(person?, viewer)?;
        Some(Reason::Hierarchy {
            via_assignee,
            record_role,
            viewer_role,
        })
    }

    /// `can_see(owner, viewer)`: the type-independent reach.
    /// An inactive viewer sees nothing, not even their own records.
    pub fn can_see(&self, owner: i64, viewer: i64) -> bool {
        let Some(v) = self.user(viewer) else {
            return false;
        };
        if v.status != Status::Active {
            return false;
        }
        if v.superuser {
            return true;
        }
        if owner == viewer {
            return true;
        }
        let Some(o) = self.user(owner) else {
            return false;
        };
        self.below(o, v).is_some() || self.rule_for(o, v, None, Action::View).is_some()
    }

    /// An UPDATE that moves a record to another owner or company (a transfer, see
    /// docs/concepts.md): `viewer` must hold the old record by ownership (owner,
    /// owner strictly below in the hierarchy, or `edit` level `all` in the record's
    /// company) and may create the new one. Assignments, rules, defaults, agreements
    /// and record shares never transfer; only superusers change the company.
    pub fn transfer(
        &self,
        object_type: &str,
        from: (Option<i64>, Option<i64>),
        to: (Option<i64>, Option<i64>),
        viewer: i64,
    ) -> Result<(), TransferRefusal> {
        let ((old_owner, old_company), (new_owner, new_company)) = (from, to);
        let Some(v) = self.user(viewer).filter(|v| v.status == Status::Active) else {
            return Err(TransferRefusal::InactiveViewer);
        };
        if v.superuser {
            return Ok(());
        }
        if old_company != new_company {
            return Err(TransferRefusal::CompanyChange);
        }
        let Some(&t) = self.type_ix.get(object_type) else {
            return Err(TransferRefusal::NotHeld);
        };
        let own_company = old_company.is_some_and(|c| c == v.company || v.super_member);
        let held = old_owner == Some(viewer)
            || (own_company && self.level(v, t, Action::Edit) == Level::All)
            || old_owner
                .and_then(|o| self.user(o))
                .is_some_and(|o| self.below(o, v).is_some());
        if !held {
            return Err(TransferRefusal::NotHeld);
        }
        let create = self.decide(
            object_type,
            Action::Create,
            new_owner,
            new_company,
            viewer,
            None,
        );
        if !create.allowed {
            return Err(TransferRefusal::CannotCreate);
        }
        Ok(())
    }

    /// The owners `can_see` admits for `viewer`, in time linear in the answer
    /// (Euler runs of the roles below the viewer's, and the sources of the
    /// type-independent rules reaching them): [`reach`](Self::reach) for the
    /// planner. `Unbounded` for a superuser, who sees every owner, users or not.
    pub fn reach_bound(&self, viewer: i64) -> OwnerBound {
        let Some(v) = self.user(viewer) else {
            return OwnerBound::Owners(Vec::new());
        };
        if v.status != Status::Active {
            return OwnerBound::Owners(Vec::new());
        }
        if v.superuser {
            return OwnerBound::Unbounded;
        }
        let mut owners = vec![v.id];
        for &vr in self.roles(v) {
            let (lo, hi) = (self.enter[vr as usize], self.exit[vr as usize]);
            self.members_in(lo + 1, hi, v.company, &mut owners);
        }
        for r in self.rules.get(&v.company).into_iter().flatten() {
            if r.covers(None, Action::View) && self.rule_reaches_viewer(r, v) {
                let lo = self.enter[r.source as usize];
                let hi = match r.source_scope {
                    RuleScope::Role => lo,
                    RuleScope::RoleAndSubordinates => self.exit[r.source as usize],
                };
                self.members_in(lo, hi, v.company, &mut owners);
            }
        }
        owners.sort_unstable();
        owners.dedup();
        OwnerBound::Owners(owners)
    }

    /// `reach(viewer)`: every owner `can_see` admits, ascending.
    pub fn reach(&self, viewer: i64) -> Vec<i64> {
        let mut out: Vec<i64> = self
            .users
            .iter()
            .map(|u| u.id)
            .filter(|o| self.can_see(*o, viewer))
            .collect();
        if self
            .user(viewer)
            .is_some_and(|v| v.status == Status::Active)
            && !out.contains(&viewer)
        {
            out.push(viewer);
        }
        out.sort_unstable();
        out
    }

    /// `can_access(...)` with its reason. `company` None (a NULL column) is
    /// reachable by superusers only; `owner`/`assignee` None never match.
    pub fn decide(
        &self,
        object_type: &str,
        action: Action,
        owner: Option<i64>,
        company: Option<i64>,
        viewer: i64,
        assignee: Option<i64>,
    ) -> Decision {
        self.decide_people(
            object_type,
            action,
            owner,
            company,
            viewer,
            assignee.as_slice(),
        )
    }

    /// [`decide`](Self::decide) for a record with several assignees (a participants
    /// column, `bigint[]`): every participant counts as an assignee, for the viewer
    /// and for the viewer's place above them in the hierarchy.
    pub fn decide_people(
        &self,
        object_type: &str,
        action: Action,
        owner: Option<i64>,
        company: Option<i64>,
        viewer: i64,
        assignees: &[i64],
    ) -> Decision {
        let Some(v) = self.user(viewer) else {
            return decision(false, Reason::UnknownViewer, Level::None);
        };
        if v.status != Status::Active {
            return decision(false, Reason::InactiveViewer(v.status), Level::None);
        }
        if v.superuser {
            return decision(true, Reason::Superuser, Level::All);
        }
        let Some(&t) = self.type_ix.get(object_type) else {
            return decision(false, Reason::UnknownObjectType, Level::None);
        };
        let level = self.level(v, t, action);
        let Some(company) = company else {
            return decision(false, Reason::NoCompany, level);
        };
        let cross_company = company != v.company;
        if cross_company && !v.super_member {
            let grant = self
                .agreement_ids
                .get(&(company, v.company))
                .filter(|id| self.agreement_grants.contains(&(**id, t, action)));
            return match grant {
                Some(&agreement_id) if level != Level::None => decision(
                    true,
                    Reason::Agreement {
                        agreement_id,
                        level,
                    },
                    level,
                ),
                Some(_) => decision(false, Reason::NoPermission, level),
                None => decision(
                    false,
                    Reason::NoAgreement {
                        grantor: company,
                        grantee: v.company,
                    },
                    level,
                ),
            };
        }
        match level {
            Level::None => return decision(false, Reason::NoPermission, level),
            Level::All => return decision(true, Reason::LevelAll { cross_company }, level),
            Level::Owned => {}
        }
        let ty = &self.types[t as usize];
        let owner_user = owner.and_then(|o| self.user(o));
        if action == Action::Create {
            if owner == Some(viewer) {
                return decision(true, Reason::Owner, level);
            }
            if let Some(reason) = self.hierarchy_reason(owner_user, v, false) {
                return decision(true, reason, level);
            }
            return decision(false, Reason::CreateNotBelow, level);
        }
        if owner == Some(viewer) {
            return decision(true, Reason::Owner, level);
        }
        if assignees.contains(&viewer) {
            return decision(true, Reason::Assignee, level);
        }
        let people = || {
            std::iter::once((owner_user, false))
                .chain(assignees.iter().map(|a| (self.user(*a), true)))
        };
        if ty.grant_via_hierarchy {
            for (person, via_assignee) in people() {
                if let Some(reason) = self.hierarchy_reason(person, v, via_assignee) {
                    return decision(true, reason, level);
                }
            }
        }
        for (person, via_assignee) in people() {
            if let Some(rule_id) = person.and_then(|p| self.rule_for(p, v, Some(t), action)) {
                return decision(
                    true,
                    Reason::Rule {
                        rule_id,
                        via_assignee,
                    },
                    level,
                );
            }
        }
        if ty.org_wide_default.covers(action) {
            return decision(true, Reason::OrgWideDefault(ty.org_wide_default), level);
        }
        decision(false, Reason::NotReached, level)
    }

    /// Does a share to `grantee` reach `viewer`? A user share reaches that user; a
    /// role share the members of the role and, with `role_and_subordinates`, the
    /// members of every role below it — never the roles above.
    pub fn share_reaches(&self, grantee: &Grantee, viewer: i64) -> bool {
        let Some(v) = self.user(viewer) else {
            return false;
        };
        match *grantee {
            Grantee::User(u) => u == viewer,
            Grantee::Role { role, scope } => self.role_ix().get(&role).is_some_and(|&anchor| {
                self.roles(v)
                    .iter()
                    .any(|&r| self.in_scope(r, anchor, scope))
            }),
        }
    }

    /// The roles through which shares reach `viewer` (their own roles, and every
    /// role above them for shares to a role and its subordinates), for the query
    /// of the records shared with them. Empty for an unknown viewer.
    pub fn share_anchors(&self, viewer: i64) -> ShareAnchors {
        let mut anchors = ShareAnchors::default();
        let Some(v) = self.user(viewer) else {
            return anchors;
        };
        let mut seen: HashSet<RoleIx> = HashSet::default();
        for &r in self.roles(v) {
            anchors.own.push(self.role_ids[r as usize]);
            let mut up = self.parent[r as usize];
            // The hierarchy is acyclic (invariant 1); `seen` also bounds the walk.
            while up != RoleIx::MAX && seen.insert(up) {
                anchors.above.push(self.role_ids[up as usize]);
                up = self.parent[up as usize];
            }
        }
        anchors.own.sort_unstable();
        anchors.above.sort_unstable();
        anchors
    }

    /// [`decide_people`](Self::decide_people) for one record with its live
    /// `shares` (docs/concepts.md, "The decision", step 4): where the viewer's
    /// level is `owned` and nothing else reaches the record, a share of the record
    /// in its company that reaches the viewer and covers the action allows it.
    /// Shares never allow `create` or `delete`, and never reach across companies.
    #[allow(clippy::too_many_arguments)]
    pub fn decide_record(
        &self,
        object_type: &str,
        action: Action,
        owner: Option<i64>,
        company: Option<i64>,
        viewer: i64,
        assignees: &[i64],
        shares: &[ShareGrant],
    ) -> Decision {
        let d = self.decide_people(object_type, action, owner, company, viewer, assignees);
        if d.allowed || d.reason != Reason::NotReached {
            return d;
        }
        let viewer_company = self.user(viewer).map(|v| v.company);
        let share = shares.iter().find(|s| {
            Some(s.company) == company
                && viewer_company == company
                && s.access.covers(action)
                && self.share_reaches(&s.grantee, viewer)
        });
        match share {
            Some(s) => decision(
                true,
                Reason::RecordShare {
                    share_id: s.id,
                    via_role: match s.grantee {
                        Grantee::User(_) => None,
                        Grantee::Role { role, .. } => Some(role),
                    },
                },
                d.level,
            ),
            None => d,
        }
    }

    /// Every user who may `action` on one record, with the decision — exactly the
    /// users for whom [`decide_record`](Self::decide_record) allows it, ascending.
    pub fn who_can_access(
        &self,
        object_type: &str,
        action: Action,
        record: (Option<i64>, Option<i64>, &[i64]),
        shares: &[ShareGrant],
    ) -> Vec<(i64, Decision)> {
        let (owner, company, assignees) = record;
        let mut tick = Ticker::new();
        let mut out: Vec<(i64, Decision)> = self
            .users
            .iter()
            .filter_map(|u| {
                tick.tick();
                let d = self.decide_record(
                    object_type,
                    action,
                    owner,
                    company,
                    u.id,
                    assignees,
                    shares,
                );
                d.allowed.then_some((u.id, d))
            })
            .collect();
        out.sort_unstable_by_key(|(u, _)| *u);
        out
    }

    /// The level `viewer` holds for (type, action), `None` for an unknown or
    /// inactive viewer or type: whether shares can matter for them at all.
    pub fn level_of(&self, object_type: &str, action: Action, viewer: i64) -> Option<Level> {
        let v = self.user(viewer).filter(|v| v.status == Status::Active)?;
        let t = *self.type_ix.get(object_type)?;
        Some(if v.superuser {
            Level::All
        } else {
            self.level(v, t, action)
        })
    }

    /// The company of `user`.
    pub fn company_of(&self, user: i64) -> Option<i64> {
        self.user(user).map(|u| u.company)
    }

    /// The company all of whose records `viewer` may `action` on `object_type`
    /// (their own company when their level is `all`), or `None`. Lets a policy
    /// decide those rows by comparing the company column alone: step 4 of the decision (docs/concepts.md, "The decision")
    /// allows every record of the viewer's company once L = all.
    pub fn all_rows_company(&self, object_type: &str, action: Action, viewer: i64) -> Option<i64> {
        let v = self.user(viewer)?;
        if v.status != Status::Active {
            return None;
        }
        let t = *self.type_ix.get(object_type)?;
        (self.level(v, t, action) == Level::All).then_some(v.company)
    }

    /// Whether `viewer` may `action` some record of `object_type` outside their own
    /// company: the cross-company steps of the decision (a superuser, a super-company
    /// member, an agreement granting the action at a level). When false,
    /// [`decide`](Self::decide) refuses every record of another company, so a policy
    /// need not decide those rows one by one (docs/design.md, "The policies").
    pub fn reaches_beyond_company(&self, object_type: &str, action: Action, viewer: i64) -> bool {
        let Some(v) = self.user(viewer) else {
            return false;
        };
        if v.status != Status::Active {
            return false;
        }
        if v.superuser || v.super_member {
            return true;
        }
        let Some(&t) = self.type_ix.get(object_type) else {
            return false;
        };
        self.level(v, t, action) != Level::None
            && self.agreement_ids.iter().any(|(&(_, grantee), id)| {
                grantee == v.company && self.agreement_grants.contains(&(*id, t, action))
            })
    }

    pub fn can_access(
        &self,
        object_type: &str,
        action: Action,
        owner: Option<i64>,
        company: Option<i64>,
        viewer: i64,
        assignee: Option<i64>,
    ) -> bool {
        self.decide(object_type, action, owner, company, viewer, assignee)
            .allowed
    }

    /// The users holding a role whose Euler entry lies in `lo..=hi`, in `company`.
    fn members_in(&self, lo: u32, hi: u32, company: i64, out: &mut Vec<i64>) {
        let (lo, hi) = (
            lo as usize,
            (hi as usize + 1).min(self.member_start.len() - 1),
        );
        if lo >= hi {
            return;
        }
        let run = &self.members[self.member_start[lo] as usize..self.member_start[hi] as usize];
        out.extend(
            run.iter()
                .map(|&ix| &self.users[ix as usize])
                .filter(|u| u.company == company)
                .map(|u| u.id),
        );
    }

    /// The owners whose records (without an assignee) `viewer` may `action` on
    /// `object_type`, when [`decide`](Self::decide) can allow no other: every
    /// allowed `(owner, company)` has `owner` in the list. Linear in the answer,
    /// through the Euler tour: a subtree's users are one run of [`Self::members`].
    pub fn owner_bound(&self, object_type: &str, action: Action, viewer: i64) -> OwnerBound {
        let Some(v) = self.user(viewer) else {
            return OwnerBound::Owners(Vec::new());
        };
        if v.status != Status::Active {
            return OwnerBound::Owners(Vec::new());
        }
        let Some(&t) = self.type_ix.get(object_type) else {
            return OwnerBound::Unbounded;
        };
        if v.superuser {
            return OwnerBound::Unbounded;
        }
        let level = self.level(v, t, action);
        match level {
            Level::None => return OwnerBound::Owners(Vec::new()),
            Level::All => return OwnerBound::Unbounded,
            Level::Owned => {}
        }
        // Another company's records through an agreement: any owner.
        let agreed = self.agreement_ids.iter().any(|(&(_, grantee), id)| {
            grantee == v.company && self.agreement_grants.contains(&(*id, t, action))
        });
        if agreed {
            return OwnerBound::Unbounded;
        }
        let ty = &self.types[t as usize];
        if action != Action::Create && ty.org_wide_default.covers(action) {
            return OwnerBound::Unbounded;
        }
        OwnerBound::Owners(self.owned_level_owners(v, t, action))
    }

    /// The owners an `owned` level reaches in `v`'s company: `v`, the users below
    /// them (for `create`, or where the type grants through the hierarchy) and the
    /// sources of the rules that share with them; ascending.
    fn owned_level_owners(&self, v: &CUser, t: TypeIx, action: Action) -> Vec<i64> {
        let ty = &self.types[t as usize];
        let mut owners = vec![v.id];
        if action == Action::Create || ty.grant_via_hierarchy {
            for &vr in self.roles(v) {
                let (lo, hi) = (self.enter[vr as usize], self.exit[vr as usize]);
                self.members_in(lo + 1, hi, v.company, &mut owners);
            }
        }
        if action != Action::Create {
            for r in self.rules.get(&v.company).into_iter().flatten() {
                let applies = r.covers(Some(t), action) && self.rule_reaches_viewer(r, v);
                if applies {
                    let lo = self.enter[r.source as usize];
                    let hi = match r.source_scope {
                        RuleScope::Role => lo,
                        RuleScope::RoleAndSubordinates => self.exit[r.source as usize],
                    };
                    self.members_in(lo, hi, v.company, &mut owners);
                }
            }
        }
        owners.sort_unstable();
        owners.dedup();
        owners
    }

    /// The exact [`Reach`] of `user` for (`object_type`, `action`): the same decision
    /// as [`decide`](Self::decide), gathered over companies and owners.
    pub fn reach_for(&self, object_type: &str, action: Action, user: i64) -> Reach {
        let mut reach = Reach::default();
        let Some(v) = self.user(user).filter(|v| v.status == Status::Active) else {
            return reach;
        };
        if v.superuser {
            reach.every_company = true;
            return reach;
        }
        let Some(&t) = self.type_ix.get(object_type) else {
            return reach;
        };
        let level = self.level(v, t, action);
        if level == Level::None {
            return reach;
        }
        if !v.super_member {
            for (&(grantor, grantee), id) in &self.agreement_ids {
                if grantee == v.company && self.agreement_grants.contains(&(*id, t, action)) {
                    reach.companies.push(grantor);
                }
            }
        }
        let ty = &self.types[t as usize];
        let whole_company =
            level == Level::All || (action != Action::Create && ty.org_wide_default.covers(action));
        if whole_company {
            if v.super_member {
                reach.every_company = true;
            } else {
                reach.companies.push(v.company);
            }
        } else {
            reach.owners = self.owned_level_owners(v, t, action);
        }
        reach.companies.sort_unstable();
        reach.companies.dedup();
        reach
    }

    /// A fingerprint per user of everything [`reach_for`](Self::reach_for) reads for
    /// them: their row and levels, the users below each of their roles, the rules
    /// that share with them (and the users they share), their company's agreements
    /// and the object types. Two models give a user the same fingerprint only when
    /// their reach is the same (up to hash collisions), so a change is compared for
    /// the users whose fingerprint moved. Linear in users + roles + rules.
    pub fn access_signatures(&self) -> HashMap<i64, u64> {
        use std::hash::{Hash, Hasher};
        let fx = |f: &dyn Fn(&mut rustc_hash::FxHasher)| {
            let mut h = rustc_hash::FxHasher::default();
            f(&mut h);
            h.finish()
        };
        let mut tick = Ticker::new();
        // prefix[e]: the sum of member hashes of the roles entered before entry e.
        let entries = self.member_start.len().saturating_sub(1);
        let mut prefix = vec![0u64; entries + 1];
        for e in 0..entries {
            tick.tick();
            let run =
                &self.members[self.member_start[e] as usize..self.member_start[e + 1] as usize];
            let sum = run.iter().fold(0u64, |acc, &ix| {
                let u = &self.users[ix as usize];
                acc.wrapping_add(fx(&|h| (u.id, u.company).hash(h)) | 1)
            });
            prefix[e + 1] = prefix[e].wrapping_add(sum);
        }
        let span = |lo: u32, hi: u32| -> u64 {
            let (lo, hi) = (lo as usize, (hi as usize + 1).min(entries));
            if lo >= hi {
                0
            } else {
                prefix[hi].wrapping_sub(prefix[lo])
            }
        };
        let mut types: Vec<(&String, &TypeIx)> = self.type_ix.iter().collect();
        types.sort();
        let types_hash = fx(&|h| {
            for (name, &t) in &types {
                let ty = &self.types[t as usize];
                (
                    name,
                    t,
                    ty.org_wide_default.as_str(),
                    ty.grant_via_hierarchy,
                )
                    .hash(h)
            }
        });
        let mut agreements: HashMap<i64, u64> = HashMap::default();
        for (&(grantor, grantee), &id) in &self.agreement_ids {
            let grants = fx(&|h| {
                for &(_, t) in &types {
                    for a in Action::ALL {
                        self.agreement_grants.contains(&(id, *t, *a)).hash(h);
                    }
                }
            });
            let e = agreements.entry(grantee).or_insert(0);
            *e = e.wrapping_add(fx(&|h| (grantor, id, grants).hash(h)));
        }
        let mut out = HashMap::default();
        out.reserve(self.users.len());
        for u in self.users.iter() {
            tick.tick();
            let row = &self.level_rows
                [u.levels as usize * self.level_width..(u.levels as usize + 1) * self.level_width];
            let mut sig = fx(&|h| {
                (
                    u.id,
                    u.company,
                    u.status.as_str(),
                    u.superuser,
                    u.super_member,
                )
                    .hash(h);
                for l in row {
                    l.as_str().hash(h);
                }
            });
            for &r in self.roles(u) {
                let below = span(self.enter[r as usize] + 1, self.exit[r as usize]);
                sig = sig.wrapping_add(fx(&|h| (1u8, below).hash(h)));
            }
            for rule in self.rules.get(&u.company).into_iter().flatten() {
                tick.tick();
                let applies = self
                    .roles(u)
                    .iter()
                    .any(|&x| self.in_scope(x, rule.target, rule.target_scope));
                if applies {
                    let lo = self.enter[rule.source as usize];
                    let hi = match rule.source_scope {
                        RuleScope::Role => lo,
                        RuleScope::RoleAndSubordinates => self.exit[rule.source as usize],
                    };
                    let shared = span(lo, hi);
                    sig = sig.wrapping_add(fx(&|h| {
                        (2u8, rule.id, rule.object_type, rule.access.as_str(), shared).hash(h)
                    }));
                }
            }
            let agreed = agreements.get(&u.company).copied().unwrap_or(0);
            sig = fx(&|h| (sig, agreed, types_hash).hash(h));
            out.insert(u.id, sig);
        }
        out
    }

    /// When `viewer`'s decisions on records without an assignee are exactly "the
    /// company is C and the owner is one of these": `Some((owners, C))`. That is a
    /// filter the planner can inline as constants (level `owned` in the viewer's own
    /// company, no org-wide default, agreement or super-company membership that
    /// reaches further). An unknown or inactive viewer, or level `none`, gives no
    /// owners: nothing is allowed.
    pub fn exact_owner_filter(
        &self,
        object_type: &str,
        action: Action,
        viewer: i64,
    ) -> Option<(Vec<i64>, i64)> {
        let Some(v) = self.user(viewer) else {
            return Some((Vec::new(), 0));
        };
        if v.status != Status::Active || !self.type_ix.contains_key(object_type) {
            return (v.status != Status::Active).then(|| (Vec::new(), v.company));
        }
        if v.super_member {
            return None;
        }
        match self.owner_bound(object_type, action, viewer) {
            OwnerBound::Owners(owners) => Some((owners, v.company)),
            OwnerBound::Unbounded => None,
        }
    }

    /// How many users `company` has (to tell a few owners from a large share).
    pub fn company_user_count(&self, company: i64) -> usize {
        self.company_users.get(&company).map_or(0, |n| *n as usize)
    }

    pub fn has_user(&self, id: i64) -> bool {
        self.user_ix.get(id).is_some()
    }

    /// Are the model's user arrays read from a shared image?
    pub fn is_mapped(&self) -> bool {
        self.users.is_mapped()
    }

    /// A user's company, status and superuser flag, as compiled.
    pub fn user_standing(&self, id: i64) -> Option<(i64, Status, bool)> {
        self.user(id).map(|u| (u.company, u.status, u.superuser))
    }

    /// Is `name` an object type of the configuration?
    pub fn has_type(&self, name: &str) -> bool {
        self.type_ix.contains_key(name)
    }

    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    pub fn role_count(&self) -> usize {
        self.role_ids.len()
    }

    /// Approximate bytes of this backend's own memory held, for the memory report:
    /// the arrays read from a shared image count nothing ([`Slab::owned_bytes`]).
    pub fn heap_bytes(&self) -> usize {
        let arrays = self.users.owned_bytes()
            + self.user_roles.owned_bytes()
            + self.user_ix.owned_bytes()
            + self.role_ids.owned_bytes()
            + self.enter.owned_bytes()
            + self.exit.owned_bytes()
            + self.parent.owned_bytes()
            + self.member_start.owned_bytes()
            + self.members.owned_bytes()
            + self.level_rows.owned_bytes()
            + self.role_levels.owned_bytes();
        let rules: usize = self
            .rules
            .values()
            .map(|v| v.capacity() * std::mem::size_of::<CRule>())
            .sum();
        let arrays = arrays + self.role_sets.owned_bytes();
        let maps = self.role_ix.get().map_or(0, |m| m.capacity()) * 24
            + (self.company_users.capacity() + self.owners.capacity()) * 24
            + self.agreement_grants.capacity() * 32
            + self
                .row_of_roles
                .keys()
                .map(|k| 48 + k.capacity() * 8)
                .sum::<usize>();
        arrays + rules + maps
    }

    /// The role ids of a user (for explanations).
    pub fn role_ids_of(&self, user: i64) -> Vec<i64> {
        self.user(user)
            .map(|u| {
                self.roles(u)
                    .iter()
                    .map(|r| self.role_ids[*r as usize])
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The chain of role ids from `from` up to (and including) `to`, following
    /// `reports_to`; used to show the hierarchy path in explanations.
    pub fn role_path(&self, org: &Org, from: i64, to: i64) -> Vec<i64> {
        let mut path = vec![from];
        let mut seen: HashSet<i64> = HashSet::default();
        seen.insert(from);
        let mut tick = Ticker::new();
        let mut cur = from;
        while cur != to {
            tick.tick();
            match org.role(cur).and_then(|r| r.reports_to) {
                Some(p) if seen.insert(p) => {
                    path.push(p);
                    cur = p;
                }
                _ => break,
            }
        }
        path
    }

    pub fn is_role(&self, id: i64) -> bool {
        self.role_ix().contains_key(&id)
    }

    /// Is role `a` strictly below role `b` in the `reports_to` hierarchy (the test
    /// the decision's hierarchy step uses)? False for unknown roles.
    pub fn role_strictly_below(&self, a: i64, b: i64) -> bool {
        match (self.role_ix().get(&a), self.role_ix().get(&b)) {
            (Some(&a), Some(&b)) => self.role_below(a, b),
            _ => false,
        }
    }

    /// Does role `role` lie in (`anchor`, `scope`): the anchor itself, or with
    /// `role_and_subordinates` any role below it? The scope test of the rules.
    pub fn role_in_scope(&self, role: i64, anchor: i64, scope: RuleScope) -> bool {
        match (self.role_ix().get(&role), self.role_ix().get(&anchor)) {
            (Some(&r), Some(&a)) => self.in_scope(r, a, scope),
            _ => false,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::org::*;

    fn org_with_ids(ids: &[i64]) -> Org {
        let mut s = OrgSnapshot::default();
        s.object_types.push(ObjectTypeRow {
            name: "deals".into(),
            org_wide_default: OrgWideDefault::Private,
            grant_via_hierarchy: true,
        });
        for (id, parent) in [(1, None), (2, Some(1)), (3, Some(2))] {
            s.roles.push(RoleRow {
                id,
                company_id: 1,
                name: format!("r{id}"),
                reports_to: parent,
                based_on: None,
                is_admin: false,
                is_default: false,
            });
            s.role_permissions.push(RolePermissionRow {
                role_id: id,
                object_type: "deals".into(),
                action: Action::View,
                level: Level::Owned,
            });
        }
        for (k, id) in ids.iter().enumerate() {
            s.users.push(UserRow {
                id: *id,
                company_id: 1,
                name: None,
                status: Status::Active,
                is_superuser: false,
                is_super_company_member: false,
            });
            // The first user holds r1 and two more roles (the third is not inline).
            let roles: &[i64] = if k == 0 { &[3, 2, 1] } else { &[3] };
            for r in roles {
                s.user_roles.push(UserRoleRow {
                    user_id: *id,
                    role_id: *r,
                });
            }
        }
        Org::new(s)
    }

    #[test]
    fn dense_and_sparse_user_ids_decide_alike() {
        for ids in [vec![1, 2, 3], vec![-5, 1_000_000_000_000, i64::MAX - 1]] {
            let c = CompiledOrg::compile(&org_with_ids(&ids));
            let (boss, a, b) = (ids[0], ids[1], ids[2]);
            assert!(c.can_see(a, boss), "{ids:?}: r1 (third role) is above r3");
            assert!(!c.can_see(a, b), "{ids:?}: peers");
            assert!(c.can_access("deals", Action::View, Some(b), Some(1), boss, None));
            assert!(!c.can_access("deals", Action::View, Some(boss), Some(1), a, None));
            for absent in [i64::MIN, i64::MAX, 0, 7] {
                if !ids.contains(&absent) {
                    assert!(!c.has_user(absent), "{absent}");
                    assert!(!c.can_access(
                        "deals",
                        Action::View,
                        Some(absent),
                        Some(1),
                        absent,
                        None
                    ));
                }
            }
            assert_eq!(c.reach(boss), {
                let mut v = ids.clone();
                v.sort();
                v
            });
        }
    }

    /// A random organization of two companies: role forests, memberships, rules,
    /// agreements, org-wide defaults and levels, all drawn from `seed`.
    pub(crate) fn random_org(seed: u64) -> Org {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut s = OrgSnapshot::default();
        let owds = OrgWideDefault::ALL;
        for name in ["deals", "notes"] {
            s.object_types.push(ObjectTypeRow {
                name: name.into(),
                org_wide_default: owds[rng.gen_range(0..owds.len())],
                grant_via_hierarchy: rng.gen_bool(0.7),
            });
        }
        let roles: i64 = rng.gen_range(2..14);
        for id in 1..=roles {
            let company_id = if id <= roles / 2 + 1 { 1 } else { 2 };
            let parent = (id > 1 && rng.gen_bool(0.8)).then(|| rng.gen_range(1..id));
            s.roles.push(RoleRow {
                id,
                company_id,
                name: format!("r{id}"),
                reports_to: parent,
                based_on: None,
                is_admin: false,
                is_default: false,
            });
            for t in ["deals", "notes"] {
                for a in Action::ALL {
                    let level =
                        [Level::None, Level::Owned, Level::Owned, Level::All][rng.gen_range(0..4)];
                    s.role_permissions.push(RolePermissionRow {
                        role_id: id,
                        object_type: t.into(),
                        action: *a,
                        level,
                    });
                }
            }
        }
        let company_of = |r: i64| if r <= roles / 2 + 1 { 1 } else { 2 };
        for id in 100..100 + rng.gen_range(1..16) {
            let role = rng.gen_range(1..=roles);
            s.users.push(UserRow {
                id,
                company_id: company_of(role),
                name: None,
                status: if rng.gen_bool(0.9) {
                    Status::Active
                } else {
                    Status::Disabled
                },
                is_superuser: rng.gen_bool(0.05),
                is_super_company_member: rng.gen_bool(0.1),
            });
            s.user_roles.push(UserRoleRow {
                user_id: id,
                role_id: role,
            });
            if rng.gen_bool(0.2) {
                let other = rng.gen_range(1..=roles);
                if company_of(other) == company_of(role) && other != role {
                    s.user_roles.push(UserRoleRow {
                        user_id: id,
                        role_id: other,
                    });
                }
            }
        }
        for id in 1..rng.gen_range(1..5) {
            let (src, dst) = (rng.gen_range(1..=roles), rng.gen_range(1..=roles));
            if company_of(src) != company_of(dst) {
                continue;
            }
            let scope = |b: bool| {
                if b {
                    RuleScope::Role
                } else {
                    RuleScope::RoleAndSubordinates
                }
            };
            s.sharing_rules.push(SharingRuleRow {
                id,
                company_id: company_of(src),
                object_type: rng.gen_bool(0.5).then(|| "deals".to_string()),
                source_role: src,
                source_scope: scope(rng.gen_bool(0.5)),
                target_role: dst,
                target_scope: scope(rng.gen_bool(0.5)),
                access: if rng.gen_bool(0.5) {
                    RuleAccess::Read
                } else {
                    RuleAccess::ReadWrite
                },
            });
        }
        if rng.gen_bool(0.3) {
            s.agreements.push(AgreementRow {
                id: 1,
                grantor_company: 2,
                grantee_company: 1,
            });
            s.agreement_permissions.push(AgreementPermissionRow {
                agreement_id: 1,
                object_type: "deals".into(),
                action: Action::View,
            });
        }
        Org::new(s)
    }

    /// The planner's owner condition never drops a record `decide` allows.
    #[test]
    fn owner_bound_holds_every_allowed_owner() {
        let mut bounded = 0;
        for seed in 0..300 {
            let org = random_org(seed);
            let c = CompiledOrg::compile(&org);
            let users: Vec<i64> = org.snapshot.users.iter().map(|u| u.id).collect();
            let owners: Vec<Option<i64>> = users
                .iter()
                .map(|u| Some(*u))
                .chain([None, Some(999)])
                .collect();
            for &viewer in users.iter().chain([&12345]) {
                for t in ["deals", "notes", "missing"] {
                    for &a in Action::ALL {
                        let OwnerBound::Owners(list) = c.owner_bound(t, a, viewer) else {
                            continue;
                        };
                        bounded += 1;
                        assert!(list.windows(2).all(|w| w[0] < w[1]), "sorted, distinct");
                        for owner in &owners {
                            for company in [Some(1), Some(2), None] {
                                if c.can_access(t, a, *owner, company, viewer, None) {
                                    assert!(
                                        owner.is_some_and(|o| list.contains(&o)),
                                        "seed {seed}: {viewer} may {a:?} {t} of {owner:?} in {company:?} outside {list:?}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(bounded > 1000, "the bound was exercised ({bounded})");
    }

    /// And it is tight: every listed owner other than the viewer is reached.
    #[test]
    fn owner_bound_lists_only_reached_owners() {
        for seed in 0..300 {
            let org = random_org(seed);
            let c = CompiledOrg::compile(&org);
            for u in &org.snapshot.users {
                for &a in Action::ALL {
                    if let OwnerBound::Owners(list) = c.owner_bound("deals", a, u.id) {
                        for o in list.iter().filter(|o| **o != u.id) {
                            assert!(
                                c.can_access("deals", a, Some(*o), Some(u.company_id), u.id, None),
                                "seed {seed}: {o} listed for {} but not reached",
                                u.id
                            );
                        }
                    }
                }
            }
        }
    }

    /// The constant filter is exactly `decide` (for records without an assignee).
    #[test]
    fn exact_owner_filter_is_exactly_the_decision() {
        let mut exact = 0;
        for seed in 0..300 {
            let org = random_org(seed);
            let c = CompiledOrg::compile(&org);
            let users: Vec<i64> = org.snapshot.users.iter().map(|u| u.id).collect();
            for &viewer in users.iter().chain([&12345]) {
                for t in ["deals", "notes", "missing"] {
                    for &a in Action::ALL {
                        let Some((owners, company)) = c.exact_owner_filter(t, a, viewer) else {
                            continue;
                        };
                        exact += 1;
                        for owner in users.iter().map(|u| Some(*u)).chain([None, Some(999)]) {
                            for co in [Some(1), Some(2), None] {
                                let inline = co == Some(company)
                                    && owner.is_some_and(|o| owners.contains(&o));
                                assert_eq!(
                                    c.can_access(t, a, owner, co, viewer, None),
                                    inline,
                                    "seed {seed}: viewer {viewer} {a:?} {t} owner {owner:?} company {co:?}"
                                );
                            }
                        }
                    }
                }
            }
        }
        assert!(exact > 1000, "exercised ({exact})");
    }
}
