//! Incremental updates (docs/design.md, "Incremental updates"): the common
//! changes to the configuration — a user added, changed or removed, a membership,
//! a permission level or privilege, a sharing rule, an agreement and its
//! permissions — patch an [`Org`] and its [`CompiledOrg`] in place instead of
//! compiling the whole organization again.
//!
//! The compiled model stays a function of the org: [`Org::apply`] applies each
//! change to the rows and their indexes, then [`CompiledOrg::patch`] brings the
//! parts the changes touched (the users named, the level rows, the rules, the
//! agreements) in line with the patched org. Anything else — companies, object
//! types, roles (the hierarchy), trusted roles, a truncate, a statement that
//! changed too many rows — is [`Change::Structural`], and the caller compiles
//! from scratch. So does any change that does not fit the rows held (a removal of
//! a row that is not there, an addition of one that is): a patch is all or
//! nothing, never half applied.

use super::engine::{agreements, rules_by_company, CUser, CompiledOrg, IdSlot, RoleIx, UserIndex};
use super::interrupts::Ticker;
use super::org::{
    AgreementPermissionRow, AgreementRow, Org, RolePermissionRow, RolePrivilegeRow, SharingRuleRow,
    UserRoleRow, UserRow,
};
use super::perms::role_level_rows;
use super::types::{Action, Level, Status};
use rustc_hash::FxHashSet as HashSet;

/// One change to the configuration, as the change log records it (one row
/// inserted or deleted; an update is its old row deleted, then its new row
/// inserted).
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A user inserted, or their row's new values (name left out, as loaded).
    UserUpserted(UserRow),
    UserRemoved(i64),
    MembershipAdded(UserRoleRow),
    MembershipRemoved(UserRoleRow),
    /// A permission row inserted (or its new level).
    PermissionSet(RolePermissionRow),
    PermissionRemoved {
        role_id: i64,
        object_type: String,
        action: Action,
    },
    PrivilegeAdded(RolePrivilegeRow),
    PrivilegeRemoved(RolePrivilegeRow),
    RuleUpserted(SharingRuleRow),
    RuleRemoved(i64),
    AgreementUpserted(AgreementRow),
    AgreementRemoved(i64),
    AgreementPermissionAdded(AgreementPermissionRow),
    AgreementPermissionRemoved(AgreementPermissionRow),
    /// Anything else: the model is compiled again.
    Structural,
}

/// A change the model cannot take in place: compile from scratch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotPatchable(pub String);

fn refuse<T>(why: impl Into<String>) -> Result<T, NotPatchable> {
    Err(NotPatchable(why.into()))
}

/// Room for `more` elements, growing by a sixteenth (not doubling, as `push`
/// would): a patched model stays within a few percent of a compiled one's memory,
/// and a growth copies the vector once per len/16 additions.
fn reserve_some<T>(v: &mut Vec<T>, more: usize) {
    if v.len() + more > v.capacity() {
        v.reserve_exact(more.max(v.len() / 16 + 16));
    }
}

/// Remove `rows[i]` (swap_remove), keeping an index of positions by key right.
fn swap_remove_indexed<T, K: std::hash::Hash + Eq>(
    rows: &mut Vec<T>,
    index: &mut rustc_hash::FxHashMap<K, Vec<usize>>,
    key_of: impl Fn(&T) -> K,
    i: usize,
) {
    let last = rows.len() - 1;
    let key = key_of(&rows[i]);
    if let Some(list) = index.get_mut(&key) {
        list.retain(|&p| p != i);
        if list.is_empty() {
            index.remove(&key);
        }
    }
    if i != last {
        let moved = key_of(&rows[last]);
        if let Some(list) = index.get_mut(&moved) {
            for p in list.iter_mut().filter(|p| **p == last) {
                *p = i;
            }
        }
    }
    rows.swap_remove(i);
}

impl Org {
    /// Apply one change to the rows and their indexes. `Err` (and the org left
    /// as it was) when the change does not fit the rows held, or is structural.
    pub fn apply(&mut self, change: &Change) -> Result<(), NotPatchable> {
        match change {
            Change::Structural => refuse("a structural change"),
            Change::UserUpserted(row) => {
                let row = UserRow {
                    name: None,
                    ..row.clone()
                };
                match self.user_index.get(&row.id) {
                    Some(&i) => self.snapshot.users[i] = row,
                    None => {
                        self.user_index.insert(row.id, self.snapshot.users.len());
                        reserve_some(&mut self.snapshot.users, 1);
                        self.snapshot.users.push(row);
                    }
                }
                Ok(())
            }
            Change::UserRemoved(id) => {
                let Some(i) = self.user_index.remove(id) else {
                    return refuse(format!("user {id} is not in the model"));
                };
                let last = self.snapshot.users.len() - 1;
                if i != last {
                    let moved = self.snapshot.users[last].id;
                    self.user_index.insert(moved, i);
                }
                self.snapshot.users.swap_remove(i);
                Ok(())
            }
            Change::MembershipAdded(m) => self.add_membership(m),
            Change::MembershipRemoved(m) => self.remove_membership(m),
            Change::PermissionSet(row) => {
                let found = self.role_perm_rows.get(&row.role_id).and_then(|rows| {
                    rows.iter().copied().find(|&i| {
                        let p = &self.snapshot.role_permissions[i];
                        p.object_type == row.object_type && p.action == row.action
                    })
                });
                match found {
                    Some(i) => self.snapshot.role_permissions[i].level = row.level,
                    None => {
                        self.role_perm_rows
                            .entry(row.role_id)
                            .or_default()
                            .push(self.snapshot.role_permissions.len());
                        self.snapshot.role_permissions.push(row.clone());
                    }
                }
                Ok(())
            }
            Change::PermissionRemoved {
                role_id,
                object_type,
                action,
            } => {
                let found = self.role_perm_rows.get(role_id).and_then(|rows| {
                    rows.iter().copied().find(|&i| {
                        let p = &self.snapshot.role_permissions[i];
                        &p.object_type == object_type && p.action == *action
                    })
                });
                let Some(i) = found else {
                    return refuse(format!(
                        "no permission of role {role_id} for {object_type} {action}"
                    ));
                };
                swap_remove_indexed(
                    &mut self.snapshot.role_permissions,
                    &mut self.role_perm_rows,
                    |p| p.role_id,
                    i,
                );
                Ok(())
            }
            Change::PrivilegeAdded(row) => {
                if self.own_privileges(row.role_id).any(|p| p == row.privilege) {
                    return refuse(format!(
                        "role {} already has privilege {}",
                        row.role_id, row.privilege
                    ));
                }
                self.role_priv_rows
                    .entry(row.role_id)
                    .or_default()
                    .push(self.snapshot.role_privileges.len());
                self.snapshot.role_privileges.push(row.clone());
                Ok(())
            }
            Change::PrivilegeRemoved(row) => {
                let found = self.role_priv_rows.get(&row.role_id).and_then(|rows| {
                    rows.iter()
                        .copied()
                        .find(|&i| self.snapshot.role_privileges[i].privilege == row.privilege)
                });
                let Some(i) = found else {
                    return refuse(format!(
                        "role {} has no privilege {}",
                        row.role_id, row.privilege
                    ));
                };
                swap_remove_indexed(
                    &mut self.snapshot.role_privileges,
                    &mut self.role_priv_rows,
                    |p| p.role_id,
                    i,
                );
                Ok(())
            }
            Change::RuleUpserted(row) => {
                let rules = &mut self.snapshot.sharing_rules;
                match rules.iter_mut().find(|r| r.id == row.id) {
                    Some(r) => *r = row.clone(),
                    None => rules.push(row.clone()),
                }
                Ok(())
            }
            Change::RuleRemoved(id) => {
                let rules = &mut self.snapshot.sharing_rules;
                let Some(i) = rules.iter().position(|r| r.id == *id) else {
                    return refuse(format!("sharing rule {id} is not in the model"));
                };
                rules.swap_remove(i);
                Ok(())
            }
            Change::AgreementUpserted(row) => {
                let list = &mut self.snapshot.agreements;
                match list.iter_mut().find(|a| a.id == row.id) {
                    Some(a) => *a = row.clone(),
                    None => list.push(row.clone()),
                }
                Ok(())
            }
            Change::AgreementRemoved(id) => {
                let list = &mut self.snapshot.agreements;
                let Some(i) = list.iter().position(|a| a.id == *id) else {
                    return refuse(format!("agreement {id} is not in the model"));
                };
                list.swap_remove(i);
                Ok(())
            }
            Change::AgreementPermissionAdded(row) => {
                let list = &mut self.snapshot.agreement_permissions;
                if list.contains(row) {
                    return refuse(format!(
                        "agreement {} already grants {} {}",
                        row.agreement_id, row.object_type, row.action
                    ));
                }
                list.push(row.clone());
                Ok(())
            }
            Change::AgreementPermissionRemoved(row) => {
                let list = &mut self.snapshot.agreement_permissions;
                let Some(i) = list.iter().position(|p| p == row) else {
                    return refuse(format!(
                        "agreement {} does not grant {} {}",
                        row.agreement_id, row.object_type, row.action
                    ));
                };
                list.swap_remove(i);
                Ok(())
            }
        }
    }

    /// A new span for the user at the end of `user_role_ids` (the old one is left
    /// as garbage, compacted once it is half the table).
    fn set_roles_of(&mut self, user: i64, roles: &[i64]) {
        if let Some((from, to)) = self.user_role_span.remove(&user) {
            self.user_role_garbage += (to - from) as usize;
        }
        if !roles.is_empty() {
            let from = self.user_role_ids.len() as u32;
            reserve_some(&mut self.user_role_ids, roles.len());
            self.user_role_ids.extend_from_slice(roles);
            self.user_role_span
                .insert(user, (from, self.user_role_ids.len() as u32));
        }
        if self.user_role_garbage > 1024 && self.user_role_garbage * 2 > self.user_role_ids.len() {
            let mut ids = Vec::with_capacity(self.user_role_ids.len() - self.user_role_garbage);
            let mut tick = Ticker::new();
            for span in self.user_role_span.values_mut() {
                tick.tick();
                let from = ids.len() as u32;
                ids.extend_from_slice(&self.user_role_ids[span.0 as usize..span.1 as usize]);
                *span = (from, ids.len() as u32);
            }
            self.user_role_ids = ids;
            self.user_role_garbage = 0;
        }
    }

    fn add_membership(&mut self, m: &UserRoleRow) -> Result<(), NotPatchable> {
        let mut roles = self.roles_of(m.user_id).to_vec();
        let Err(at) = roles.binary_search(&m.role_id) else {
            return refuse(format!(
                "user {} already holds role {}",
                m.user_id, m.role_id
            ));
        };
        roles.insert(at, m.role_id);
        self.set_roles_of(m.user_id, &roles);
        reserve_some(&mut self.snapshot.user_roles, 1);
        self.snapshot.user_roles.push(m.clone());
        Ok(())
    }

    fn remove_membership(&mut self, m: &UserRoleRow) -> Result<(), NotPatchable> {
        let mut roles = self.roles_of(m.user_id).to_vec();
        let Ok(at) = roles.binary_search(&m.role_id) else {
            return refuse(format!(
                "user {} does not hold role {}",
                m.user_id, m.role_id
            ));
        };
        roles.remove(at);
        // The rows as read (kept for the memory report and exports): one scan.
        if let Some(i) = self
            .snapshot
            .user_roles
            .iter()
            .position(|r| r.user_id == m.user_id && r.role_id == m.role_id)
        {
            self.snapshot.user_roles.swap_remove(i);
        }
        self.set_roles_of(m.user_id, &roles);
        Ok(())
    }
}

impl UserIndex {
    fn insert(&mut self, id: i64, ix: u32, users: usize) {
        if let UserIndex::Dense { min, slots } = self {
            let (lo, hi) = ((*min).min(id), (*min + slots.len() as i64 - 1).max(id));
            if (hi as i128 - lo as i128) < (4 * users as i128 + 1024) {
                if lo < *min {
                    let grow = (*min - lo) as usize;
                    slots
                        .make_mut()
                        .splice(0..0, std::iter::repeat_n(Self::ABSENT, grow));
                    *min = lo;
                }
                let off = (id - *min) as usize;
                if off >= slots.len() {
                    slots.resize(off + 1, Self::ABSENT);
                }
                slots.as_mut_slice()[off] = ix;
                return;
            }
            // Too sparse now: a table sorted by id.
            let pairs: Vec<IdSlot> = slots
                .iter()
                .enumerate()
                .filter(|(_, s)| **s != Self::ABSENT)
                .map(|(off, s)| IdSlot {
                    id: *min + off as i64,
                    ix: *s,
                    _pad: 0,
                })
                .collect();
            *self = UserIndex::Sparse(pairs.into());
        }
        if let UserIndex::Sparse(pairs) = self {
            let slot = IdSlot { id, ix, _pad: 0 };
            match pairs.binary_search_by_key(&id, |p| p.id) {
                Ok(at) => pairs.as_mut_slice()[at] = slot,
                Err(at) => pairs.insert(at, slot),
            }
        }
    }

    fn remove(&mut self, id: i64) {
        match self {
            UserIndex::Dense { min, slots } => {
                if let Some(off) = id
                    .checked_sub(*min)
                    .and_then(|off| usize::try_from(off).ok())
                    .filter(|off| *off < slots.len())
                {
                    slots.as_mut_slice()[off] = Self::ABSENT;
                }
            }
            UserIndex::Sparse(pairs) => {
                if let Ok(at) = pairs.binary_search_by_key(&id, |p| p.id) {
                    pairs.remove(at);
                }
            }
        }
    }
}

/// What a compiled user is made of: their row's values and the ids of their roles
/// (ascending), from the org's rows ([`CompiledOrg::patch`]) or from the model and
/// the change itself ([`CompiledOrg::patch_people_free`]).
struct UserFacts {
    id: i64,
    company: i64,
    status: Status,
    superuser: bool,
    super_member: bool,
    role_ids: Vec<i64>,
}

impl UserFacts {
    fn of_org(org: &Org, id: i64) -> Option<UserFacts> {
        let u = org.user(id)?;
        Some(UserFacts {
            id,
            company: u.company_id,
            status: u.status,
            superuser: u.is_superuser,
            super_member: u.is_super_company_member,
            role_ids: org.roles_of(id).to_vec(),
        })
    }
}

/// What a batch of changes touched in the compiled model.
#[derive(Default)]
struct Dirty {
    users: Vec<i64>,
    levels: bool,
    rules: bool,
    agreements: bool,
}

impl Dirty {
    fn of(changes: &[Change]) -> Result<Dirty, NotPatchable> {
        let mut dirty = Dirty::default();
        for c in changes {
            match c {
                Change::Structural => return refuse("a structural change"),
                Change::UserUpserted(u) => dirty.users.push(u.id),
                Change::UserRemoved(id) => dirty.users.push(*id),
                Change::MembershipAdded(m) | Change::MembershipRemoved(m) => {
                    dirty.users.push(m.user_id)
                }
                Change::PermissionSet(_)
                | Change::PermissionRemoved { .. }
                | Change::PrivilegeAdded(_)
                | Change::PrivilegeRemoved(_) => dirty.levels = true,
                Change::RuleUpserted(_) | Change::RuleRemoved(_) => dirty.rules = true,
                Change::AgreementUpserted(_)
                | Change::AgreementRemoved(_)
                | Change::AgreementPermissionAdded(_)
                | Change::AgreementPermissionRemoved(_) => dirty.agreements = true,
            }
        }
        Ok(dirty)
    }

    /// Do the changes need the configuration's rows (levels, rules, agreements),
    /// beyond the users and memberships a model patches from itself?
    fn needs_config(&self) -> bool {
        self.levels || self.rules || self.agreements
    }
}

/// Is `change` about the people (users, memberships), which a model patches from
/// itself, rather than about the configuration rows ([`Org::apply_to_config`])?
pub fn is_about_people(change: &Change) -> bool {
    matches!(
        change,
        Change::UserUpserted(_)
            | Change::UserRemoved(_)
            | Change::MembershipAdded(_)
            | Change::MembershipRemoved(_)
    )
}

/// Do `changes` need the configuration's rows to be patched in
/// ([`CompiledOrg::patch_people_free`])? `Err` for a structural change.
pub fn needs_config(changes: &[Change]) -> Result<bool, NotPatchable> {
    Ok(Dirty::of(changes)?.needs_config())
}

impl Org {
    /// Apply the changes that are not about people to an org of the configuration
    /// rows alone (loaded without its users and memberships): what
    /// [`CompiledOrg::patch_people_free`] reads levels, rules and agreements from.
    pub fn apply_to_config(&mut self, changes: &[Change]) -> Result<(), NotPatchable> {
        for change in changes.iter().filter(|c| !is_about_people(c)) {
            self.apply(change)?;
        }
        Ok(())
    }
}

impl CompiledOrg {
    /// Bring the model in line with `org` after `changes` were applied to it
    /// ([`Org::apply`], every one of them, in order): the users they name, the
    /// level rows, the rules or the agreements, each recomputed from `org`. Costs
    /// the users named (and a move of the member table), or the role levels and
    /// the distinct role sets, or the rules, or the agreements — never a compile.
    pub fn patch(&mut self, org: &Org, changes: &[Change]) -> Result<(), NotPatchable> {
        let dirty = Dirty::of(changes)?;
        self.decode_row_of_roles()?;
        self.patch_config(org, &dirty);
        let mut seen: HashSet<i64> = HashSet::default();
        for id in dirty.users {
            if seen.insert(id) {
                self.refresh_user(id, UserFacts::of_org(org, id));
            }
        }
        Ok(())
    }

    /// The same patch without the people's rows: each user and membership change is
    /// applied, in order, to the user as the model holds them (so a model read from
    /// a shared image, whose backend never loaded the users, patches in place);
    /// levels, rules and agreements are recomputed from `config`, the configuration
    /// rows with the changes applied ([`Org::apply_to_config`]), needed only when
    /// the changes touch them ([`needs_config`]). `Err` when a change does not fit
    /// the model (a membership of a user it does not hold, a role it does not know).
    pub fn patch_people_free(
        &mut self,
        config: Option<&Org>,
        changes: &[Change],
    ) -> Result<(), NotPatchable> {
        let dirty = Dirty::of(changes)?;
        self.decode_row_of_roles()?;
        if dirty.needs_config() {
            let Some(config) = config else {
                return refuse("the configuration rows are needed");
            };
            self.patch_config(config, &dirty);
        }
        // The roles of users the model does not hold: the log writes an update of
        // a user as its old row removed, then its new row inserted (the roles
        // stay); a user deleted for good loses their memberships by the foreign
        // key's cascade, logged too; a membership added by a trigger on a new
        // user's row is logged before the user's row.
        let mut absent: rustc_hash::FxHashMap<i64, Vec<i64>> = Default::default();
        for change in changes {
            match change {
                Change::UserUpserted(row) => {
                    let role_ids = match self.user(row.id) {
                        Some(_) => self.role_ids_of(row.id),
                        None => absent.remove(&row.id).unwrap_or_default(),
                    };
                    self.refresh_user(
                        row.id,
                        Some(UserFacts {
                            id: row.id,
                            company: row.company_id,
                            status: row.status,
                            superuser: row.is_superuser,
                            super_member: row.is_super_company_member,
                            role_ids,
                        }),
                    );
                }
                Change::UserRemoved(id) => {
                    if self.user(*id).is_none() {
                        return refuse(format!("user {id} is not in the model"));
                    }
                    absent.insert(*id, self.role_ids_of(*id));
                    self.refresh_user(*id, None);
                }
                Change::MembershipAdded(m) | Change::MembershipRemoved(m) => {
                    let adding = matches!(change, Change::MembershipAdded(_));
                    if adding && !self.role_ix().contains_key(&m.role_id) {
                        return refuse(format!("role {} is not in the model", m.role_id));
                    }
                    let facts = self.facts_of(m.user_id);
                    let held = match &facts {
                        Some(f) => f.role_ids.clone(),
                        None => absent.get(&m.user_id).cloned().unwrap_or_default(),
                    };
                    let mut held = held;
                    match (held.binary_search(&m.role_id), adding) {
                        (Err(at), true) => held.insert(at, m.role_id),
                        (Ok(at), false) => {
                            held.remove(at);
                        }
                        (Ok(_), true) => {
                            return refuse(format!(
                                "user {} already holds role {}",
                                m.user_id, m.role_id
                            ))
                        }
                        (Err(_), false) => {
                            return refuse(format!(
                                "user {} does not hold role {}",
                                m.user_id, m.role_id
                            ))
                        }
                    }
                    match facts {
                        Some(mut f) => {
                            f.role_ids = held;
                            self.refresh_user(m.user_id, Some(f));
                        }
                        None => {
                            absent.insert(m.user_id, held);
                        }
                    }
                }
                _ => {}
            }
        }
        // Memberships of a user who is not there: the rows do not add up.
        if let Some((user, _)) = absent.iter().find(|(_, roles)| !roles.is_empty()) {
            return refuse(format!("user {user} holds roles but is not in the model"));
        }
        Ok(())
    }

    /// The level row of each role set, decoded from its records (once: a model
    /// read from an image holds the records only).
    pub(super) fn decode_row_of_roles(&mut self) -> Result<(), NotPatchable> {
        if !self.row_of_roles.is_empty() || self.role_sets.is_empty() {
            return Ok(());
        }
        let bad = || NotPatchable("the image's role sets do not read back".into());
        let (records, mut at) = (&self.role_sets, 0usize);
        let mut sets = Vec::new();
        while at < records.len() {
            let (row, n) = (
                *records.get(at).ok_or_else(bad)?,
                *records.get(at + 1).ok_or_else(bad)?,
            );
            let n = usize::try_from(n).map_err(|_| bad())?;
            let set = records.get(at + 2..at + 2 + n).ok_or_else(bad)?;
            sets.push((set.to_vec(), u32::try_from(row).map_err(|_| bad())?));
            at += 2 + n;
        }
        self.row_of_roles = sets.into_iter().collect();
        Ok(())
    }

    /// The user `id` as the model holds them.
    fn facts_of(&self, id: i64) -> Option<UserFacts> {
        let u = self.user(id)?;
        Some(UserFacts {
            id,
            company: u.company,
            status: u.status,
            superuser: u.superuser,
            super_member: u.super_member,
            role_ids: self.role_ids_of(id),
        })
    }

    /// Levels, rules and agreements recomputed from `org`, as far as `dirty` says.
    fn patch_config(&mut self, org: &Org, dirty: &Dirty) {
        if dirty.levels {
            self.refresh_levels(org);
        }
        if dirty.rules {
            let mut tick = Ticker::new();
            self.rules = rules_by_company(org, self.role_ix(), &self.type_ix, &mut tick);
        }
        if dirty.agreements {
            (self.agreement_ids, self.agreement_grants) = agreements(org, &self.type_ix);
        }
    }

    /// The level row of a set of roles: found, or added.
    fn row_for_roles(&mut self, held: &[i64]) -> u32 {
        if let Some(row) = self.row_of_roles.get(held) {
            return *row;
        }
        let row = self.union_of_roles(held);
        let index = 2 + self.row_of_roles.len() as u32;
        self.level_rows.extend_from_slice(&row);
        self.row_of_roles.insert(held.to_vec(), index);
        self.role_sets
            .extend_from_slice(&[index as i64, held.len() as i64]);
        self.role_sets.extend_from_slice(held);
        index
    }

    /// The union of the roles' level matrices (unknown roles hold nothing).
    fn union_of_roles(&self, held: &[i64]) -> Vec<Level> {
        let width = self.level_width;
        let mut row = vec![Level::None; width];
        for r in held {
            if let Some(&ix) = self.role_ix().get(r) {
                let rl = &self.role_levels[ix as usize * width..(ix as usize + 1) * width];
                for (l, x) in row.iter_mut().zip(rl) {
                    *l = (*l).max(*x);
                }
            }
        }
        row
    }

    /// Role levels changed: every role's matrix again (linear in roles, with
    /// their based_on cascade), then every role set's row. Users keep their rows.
    fn refresh_levels(&mut self, org: &Org) {
        let type_ix = &self.type_ix;
        let levels = role_level_rows(org, self.level_width / 4, |t| {
            type_ix.get(t).map(|ix| *ix as usize)
        });
        self.role_levels.replace(levels);
        let width = self.level_width;
        let sets: Vec<(Vec<i64>, u32)> = self
            .row_of_roles
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        let mut tick = Ticker::new();
        for (held, index) in sets {
            tick.tick();
            let row = self.union_of_roles(&held);
            let at = index as usize * width;
            self.level_rows.as_mut_slice()[at..at + width].copy_from_slice(&row);
        }
    }

    /// The compiled user for `facts` (their roles written at the end of the role
    /// table by the caller when they changed: `roles_at` is left to it).
    fn compiled_user(&mut self, f: &UserFacts) -> (CUser, Vec<RoleIx>) {
        let levels = if f.status != Status::Active {
            0
        } else if f.superuser || self.owners.get(&f.company) == Some(&f.id) {
            // An owner is an admin of their company (as compiled).
            1
        } else {
            self.row_for_roles(&f.role_ids)
        };
        let roles: Vec<RoleIx> = f
            .role_ids
            .iter()
            .filter_map(|r| self.role_ix().get(r).copied())
            .collect();
        let enter_of = |k: usize| roles.get(k).map_or(0, |r| self.enter[*r as usize]);
        let user = CUser {
            id: f.id,
            company: f.company,
            status: f.status,
            superuser: f.superuser,
            super_member: f.super_member,
            enters: [enter_of(0), enter_of(1)],
            _pad: 0,
            roles_at: 0,
            roles_len: roles.len() as u32,
            levels,
        };
        (user, roles)
    }

    /// Write `roles` as a new run at the end of the role table and point `user` to
    /// it (the old run, `old_len` long, becomes garbage; the table is compacted
    /// first once half of it is garbage).
    fn store_roles(&mut self, user: &mut CUser, roles: &[RoleIx], old_len: u32) {
        self.user_roles_garbage += old_len;
        let table = &mut self.user_roles;
        if self.user_roles_garbage > 1024 && self.user_roles_garbage as usize * 2 > table.len() {
            let live = table.len().saturating_sub(self.user_roles_garbage as usize);
            let mut compact = Vec::with_capacity(live + live / 16 + roles.len());
            let mut tick = Ticker::new();
            for u in self.users.as_mut_slice().iter_mut() {
                tick.tick();
                let from = compact.len() as u32;
                compact.extend_from_slice(
                    &table[u.roles_at as usize..(u.roles_at + u.roles_len) as usize],
                );
                u.roles_at = from;
            }
            table.replace(compact);
            self.user_roles_garbage = 0;
        }
        user.roles_at = table.len() as u32;
        table.extend_from_slice(roles);
    }

    /// Insert user `ix` into the member run of each of `roles`.
    fn add_member_entries(&mut self, ix: u32, roles: &[RoleIx]) {
        let (members, starts) = (&mut self.members, self.member_start.as_mut_slice());
        for &r in roles {
            let e = self.enter[r as usize] as usize;
            let at = starts[e + 1] as usize;
            members.insert(at, ix);
            for s in &mut starts[e + 1..] {
                *s += 1;
            }
        }
    }

    /// Remove user `ix` from the member run of each of `roles`.
    fn remove_member_entries(&mut self, ix: u32, roles: &[RoleIx]) {
        let (members, starts) = (&mut self.members, self.member_start.as_mut_slice());
        for &r in roles {
            let e = self.enter[r as usize] as usize;
            let (from, to) = (starts[e] as usize, starts[e + 1] as usize);
            if let Some(p) = members[from..to].iter().position(|&m| m == ix) {
                members.remove(from + p);
                for s in &mut starts[e + 1..] {
                    *s -= 1;
                }
            }
        }
    }

    fn count_company(&mut self, company: i64, up: bool) {
        if up {
            *self.company_users.entry(company).or_default() += 1;
        } else if let Some(n) = self.company_users.get_mut(&company) {
            *n -= 1;
            if *n == 0 {
                self.company_users.remove(&company);
            }
        }
    }

    /// Make user `id` what `facts` says: added, changed (roles, flags, company) or
    /// removed (`None`).
    fn refresh_user(&mut self, id: i64, facts: Option<UserFacts>) {
        let now = facts.map(|f| self.compiled_user(&f));
        match (self.user_ix.get(id), now) {
            (None, None) => {}
            (None, Some((mut cu, roles))) => {
                let ix = self.users.len() as u32;
                self.count_company(cu.company, true);
                self.add_member_entries(ix, &roles);
                self.store_roles(&mut cu, &roles, 0);
                self.users.push(cu);
                self.user_ix.insert(id, ix, self.users.len());
            }
            (Some(ix), None) => {
                let old = self.users[ix as usize];
                let old_roles = self.roles(&old).to_vec();
                self.count_company(old.company, false);
                self.remove_member_entries(ix, &old_roles);
                self.user_roles_garbage += old.roles_len;
                self.user_ix.remove(id);
                let last = self.users.len() as u32 - 1;
                if ix != last {
                    // The last user takes the freed place: its member entries follow.
                    let moved = self.users[last as usize];
                    let moved_roles = self.roles(&moved).to_vec();
                    let (members, starts) = (self.members.as_mut_slice(), &self.member_start);
                    for &r in &moved_roles {
                        let e = self.enter[r as usize] as usize;
                        let (from, to) = (starts[e] as usize, starts[e + 1] as usize);
                        for m in &mut members[from..to] {
                            if *m == last {
                                *m = ix;
                            }
                        }
                    }
                    self.user_ix.insert(moved.id, ix, self.users.len());
                }
                self.users.swap_remove(ix as usize);
            }
            (Some(ix), Some((mut cu, roles))) => {
                let old = self.users[ix as usize];
                let old_roles = self.roles(&old).to_vec();
                if old.company != cu.company {
                    self.count_company(old.company, false);
                    self.count_company(cu.company, true);
                }
                if old_roles != roles {
                    // Only the roles that changed: every entry moves the member
                    // table's tail (a user given a 20th role moves it once, not 39
                    // times).
                    let gone: Vec<RoleIx> = old_roles
                        .iter()
                        .copied()
                        .filter(|r| !roles.contains(r))
                        .collect();
                    let new: Vec<RoleIx> = roles
                        .iter()
                        .copied()
                        .filter(|r| !old_roles.contains(r))
                        .collect();
                    self.remove_member_entries(ix, &gone);
                    self.add_member_entries(ix, &new);
                    self.store_roles(&mut cu, &roles, old.roles_len);
                } else {
                    cu.roles_at = old.roles_at;
                }
                self.users.as_mut_slice()[ix as usize] = cu;
            }
        }
    }
}

/// One entry of the change log `sharing._changes` (sql/generation.sql).
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub generation: i64,
    pub table: String,
    /// 'B' a statement began (its generation), 'E' its rows are all logged, 'X'
    /// rebuild, 'I' a row inserted, 'D' a row deleted.
    pub op: char,
    pub row: Option<String>,
}

/// The changes that lead from the model of generation `from` to that of `to`, read
/// from the log entries of the generations in `from..=to` (of `from`, only its 'B').
/// `Err` unless the log shows every statement of the span completely: the entry of
/// `from` (older entries may have been pruned) and of `to`, no 'X', and for every
/// statement begun on a table its end.
pub fn changes_between(
    from: i64,
    to: i64,
    entries: &[LogEntry],
) -> Result<Vec<Change>, NotPatchable> {
    let began = |g: i64| entries.iter().any(|e| e.generation == g && e.op == 'B');
    if !began(from) {
        return refuse(format!("the change log no longer holds generation {from}"));
    }
    if !began(to) {
        return refuse(format!("the change log does not hold generation {to}"));
    }
    let mut open: rustc_hash::FxHashMap<&str, i64> = Default::default();
    let mut changes = Vec::new();
    for e in entries.iter().filter(|e| e.generation > from) {
        if e.generation > to {
            return refuse("an entry past the generation asked for");
        }
        match e.op {
            'B' => *open.entry(&e.table).or_default() += 1,
            'E' => *open.entry(&e.table).or_default() -= 1,
            'X' => return refuse(format!("a structural change of {}", e.table)),
            'I' | 'D' => changes.push(change_of_row(&e.table, e.op, e.row.as_deref())?),
            other => return refuse(format!("an unknown log entry '{other}'")),
        }
    }
    if let Some((table, _)) = open.iter().find(|(_, n)| **n != 0) {
        return refuse(format!("a statement on {table} without its rows logged"));
    }
    Ok(changes)
}

/// Whether the log entries of generations after `from` change which logins are
/// mapped to users: a logged `users` row (inserted or deleted, an update's old or
/// new row) with a `db_role`. The logins are the viewer directory's (docs/design.md,
/// "One model per database"): a change that maps no login keeps it.
pub fn maps_logins(from: i64, entries: &[LogEntry]) -> bool {
    #[derive(serde::Deserialize)]
    struct Login {
        #[serde(default)]
        db_role: Option<String>,
    }
    entries
        .iter()
        .filter(|e| e.generation > from && e.table == "users" && matches!(e.op, 'I' | 'D'))
        .any(|e| {
            e.row
                .as_deref()
                .and_then(|r| serde_json::from_str::<Login>(r).ok())
                .is_none_or(|l| l.db_role.is_some())
        })
}

/// The change one logged row stands for.
pub fn change_of_row(table: &str, op: char, row: Option<&str>) -> Result<Change, NotPatchable> {
    fn parse<T: serde::de::DeserializeOwned>(row: Option<&str>) -> Result<T, NotPatchable> {
        let text = row.ok_or_else(|| NotPatchable("a logged row without data".into()))?;
        serde_json::from_str(text).map_err(|e| NotPatchable(format!("a logged row: {e}")))
    }
    #[derive(serde::Deserialize)]
    struct Id {
        id: i64,
    }
    let inserted = op == 'I';
    Ok(match table {
        "users" if inserted => Change::UserUpserted(UserRow {
            name: None,
            ..parse(row)?
        }),
        "users" => Change::UserRemoved(parse::<Id>(row)?.id),
        "user_roles" if inserted => Change::MembershipAdded(parse(row)?),
        "user_roles" => Change::MembershipRemoved(parse(row)?),
        "role_permissions" if inserted => Change::PermissionSet(parse(row)?),
        "role_permissions" => {
            let p: RolePermissionRow = parse(row)?;
            Change::PermissionRemoved {
                role_id: p.role_id,
                object_type: p.object_type,
                action: p.action,
            }
        }
        "role_privileges" if inserted => Change::PrivilegeAdded(parse(row)?),
        "role_privileges" => Change::PrivilegeRemoved(parse(row)?),
        "sharing_rules" if inserted => Change::RuleUpserted(parse(row)?),
        "sharing_rules" => Change::RuleRemoved(parse::<Id>(row)?.id),
        "agreements" if inserted => Change::AgreementUpserted(parse(row)?),
        "agreements" => Change::AgreementRemoved(parse::<Id>(row)?.id),
        "agreement_permissions" if inserted => Change::AgreementPermissionAdded(parse(row)?),
        "agreement_permissions" => Change::AgreementPermissionRemoved(parse(row)?),
        other => return refuse(format!("a change of {other}")),
    })
}

#[cfg(test)]
pub(crate) mod canon {
    //! A canonical form of a compiled model, for the tests: every field, with
    //! dense indexes replaced by ids and orders made canonical, so that a patched
    //! model and one compiled from scratch compare field by field.
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// A user: company, status, flags, role ids, inline entries, level row.
    type CanonUser = (i64, Status, bool, bool, Vec<i64>, [u32; 2], Vec<Level>);

    #[derive(Debug, PartialEq, Eq)]
    pub struct Canon {
        users: BTreeMap<i64, CanonUser>,
        roles: Vec<(i64, u32, u32, Option<i64>)>,
        members: BTreeMap<u32, BTreeSet<i64>>,
        rules: BTreeMap<i64, Vec<super::super::engine::CRule>>,
        agreement_ids: BTreeMap<(i64, i64), i64>,
        agreement_grants: BTreeSet<(i64, u32, Action)>,
        company_users: BTreeMap<i64, u32>,
        role_levels: Vec<Level>,
    }

    pub fn of(c: &CompiledOrg) -> Canon {
        let w = c.level_width;
        let users = c
            .users
            .iter()
            .map(|u| {
                let row = c.level_rows[u.levels as usize * w..(u.levels as usize + 1) * w].to_vec();
                let mut roles: Vec<i64> =
                    c.roles(u).iter().map(|r| c.role_ids[*r as usize]).collect();
                roles.sort_unstable();
                (
                    u.id,
                    (
                        u.company,
                        u.status,
                        u.superuser,
                        u.super_member,
                        roles,
                        u.enters,
                        row,
                    ),
                )
            })
            .collect();
        // Every user index resolves to its user, and only those.
        for (ix, u) in c.users.iter().enumerate() {
            assert_eq!(
                c.user_ix.get(u.id),
                Some(ix as u32),
                "user index of {}",
                u.id
            );
        }
        // Inline entries follow the role order.
        for u in c.users.iter() {
            for k in 0..2 {
                let e = c.roles(u).get(k).map_or(0, |r| c.enter[*r as usize]);
                assert_eq!(u.enters[k], e);
            }
        }
        let roles = (0..c.role_ids.len())
            .map(|i| {
                (
                    c.role_ids[i],
                    c.enter[i],
                    c.exit[i],
                    (c.parent[i] != RoleIx::MAX).then(|| c.role_ids[c.parent[i] as usize]),
                )
            })
            .collect();
        let mut members = BTreeMap::new();
        for e in 0..c.member_start.len() - 1 {
            let run = &c.members[c.member_start[e] as usize..c.member_start[e + 1] as usize];
            let ids: BTreeSet<i64> = run.iter().map(|ix| c.users[*ix as usize].id).collect();
            assert_eq!(ids.len(), run.len(), "no user twice in one run");
            if !ids.is_empty() {
                members.insert(e as u32, ids);
            }
        }
        assert_eq!(
            *c.member_start.last().unwrap() as usize,
            c.members.len(),
            "the member table ends where its last run does"
        );
        Canon {
            users,
            roles,
            members,
            rules: c
                .rules
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (*k, v.clone()))
                .collect(),
            agreement_ids: c.agreement_ids.iter().map(|(k, v)| (*k, *v)).collect(),
            agreement_grants: c.agreement_grants.iter().copied().collect(),
            company_users: c.company_users.iter().map(|(k, v)| (*k, *v)).collect(),
            role_levels: c.role_levels.to_vec(),
        }
    }
}
