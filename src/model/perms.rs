//! Effective permissions: the algebra of roles.
//!
//! * a role has its own rows plus everything inherited through `based_on`, at any
//!   depth; the highest level wins;
//! * a user has the union of all their roles;
//! * an admin role (or the `admin` privilege) gives `all` everywhere and every
//!   system privilege; so does owning one's company (docs/concepts.md, "The
//!   company owner"); superusers have everything; inactive (pending, disabled)
//!   users have nothing, whatever roles they hold or company they own.

use super::interrupts::Ticker;
use super::org::Org;
use super::privileges::{is_system_privilege, SYSTEM_PRIVILEGES};
use super::types::{Action, Level, Status};
use rustc_hash::FxHashMap as HashMap;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One level per action, indexed by [`Action::index`].
pub type ActionLevels = [Level; 4];

/// What a role or a user may do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionSet {
    pub superuser: bool,
    pub admin: bool,
    /// object type -> levels; types missing here are `none` everywhere.
    pub levels: BTreeMap<String, ActionLevels>,
    pub privileges: BTreeSet<String>,
}

impl PermissionSet {
    pub fn level(&self, object_type: &str, action: Action) -> Level {
        if self.superuser || self.admin {
            return Level::All;
        }
        self.levels
            .get(object_type)
            .map_or(Level::None, |l| l[action.index()])
    }

    pub fn has_privilege(&self, name: &str) -> bool {
        self.superuser
            || (self.admin && is_system_privilege(name))
            || self.privileges.contains(name)
    }

    fn raise(&mut self, object_type: &str, action: Action, level: Level) {
        let row = self
            .levels
            .entry(object_type.to_string())
            .or_insert([Level::None; 4]);
        let slot = &mut row[action.index()];
        *slot = (*slot).max(level);
    }

    /// Union with another set: highest level per (type, action), privileges united.
    pub fn merge(&mut self, other: &PermissionSet) {
        self.superuser |= other.superuser;
        self.admin |= other.admin;
        for (t, levels) in &other.levels {
            for a in Action::ALL {
                self.raise(t, *a, levels[a.index()]);
            }
        }
        self.privileges.extend(other.privileges.iter().cloned());
    }

    /// Make `admin`/`superuser` explicit: `all` on every known type, every system
    /// privilege. Used for display; the checks above already honour the flags.
    fn expand(&mut self, object_types: &[&str]) {
        if self.privileges.contains("admin") {
            self.admin = true;
        }
        if self.admin || self.superuser {
            for t in object_types {
                for a in Action::ALL {
                    self.raise(t, *a, Level::All);
                }
            }
            self.privileges
                .extend(SYSTEM_PRIVILEGES.iter().map(|s| s.to_string()));
        }
    }

    /// The first thing `other` holds that `self` does not, if any. This is the
    /// no-escalation test: a viewer may grant only what they hold themselves.
    pub fn first_excess(&self, other: &PermissionSet) -> Option<Excess> {
        if self.superuser {
            return None;
        }
        if other.superuser {
            return Some(Excess::Superuser);
        }
        if self.admin {
            return None;
        }
        if other.admin {
            return Some(Excess::Admin);
        }
        for (t, levels) in &other.levels {
            for a in Action::ALL {
                let wanted = levels[a.index()];
                let held = self.level(t, *a);
                if wanted > held {
                    return Some(Excess::Level {
                        object_type: t.clone(),
                        action: *a,
                        wanted,
                        held,
                    });
                }
            }
        }
        other
            .privileges
            .iter()
            .find(|p| !self.has_privilege(p))
            .map(|p| Excess::Privilege(p.clone()))
    }
}

/// Something a grant would give beyond the granter's own permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Excess {
    Superuser,
    Admin,
    Level {
        object_type: String,
        action: Action,
        wanted: Level,
        held: Level,
    },
    Privilege(String),
}

impl std::fmt::Display for Excess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Excess::Superuser => write!(f, "superuser status"),
            Excess::Admin => write!(f, "the admin flag"),
            Excess::Level {
                object_type,
                action,
                wanted,
                held,
            } => write!(
                f,
                "level \"{wanted}\" for {action} on \"{object_type}\" (you hold \"{held}\")"
            ),
            Excess::Privilege(p) => write!(f, "privilege \"{p}\""),
        }
    }
}

/// A role's permissions, with its `based_on` cascade.
pub fn role_permissions(org: &Org, role_id: i64) -> PermissionSet {
    let mut set = PermissionSet::default();
    for id in org.based_on_chain(role_id) {
        if org.role(id).is_some_and(|r| r.is_admin) {
            set.admin = true;
        }
        for p in org.own_permissions(id) {
            set.raise(&p.object_type, p.action, p.level);
        }
        set.privileges
            .extend(org.own_privileges(id).map(str::to_string));
    }
    if set.privileges.contains("admin") {
        set.admin = true;
    }
    set
}

/// Every role's effective levels at once: its own rows raised by everything it
/// inherits through `based_on`, and `all` everywhere for an admin role (the `is_admin`
/// flag or the `admin` privilege anywhere up its chain) — for each role the levels
/// [`role_permissions`] gives, without walking every role's chain.
///
/// One row of `types * 4` levels per role of `org.snapshot.roles` (same position),
/// indexed `[type * 4 + action]` with the type indexes of `type_of` (types it does not
/// know are left out). Each role is computed once, from its `based_on` parent, in an
/// order where the parent comes first: an explicit stack, no recursion, linear in
/// roles + permission rows (times the row width), whatever the depth of the chains.
/// A cycle (which the triggers prevent) gives each of its roles the union of the
/// cycle, as the walk of [`Org::based_on_chain`] does.
pub fn role_level_rows(
    org: &Org,
    types: usize,
    type_of: impl Fn(&str) -> Option<usize>,
) -> Vec<Level> {
    let roles = &org.snapshot.roles;
    let (n, width) = (roles.len(), types * 4);
    let mut tick = Ticker::new();
    // Own rows first: `levels` becomes the effective rows in place below.
    let mut levels = vec![Level::None; n * width];
    let mut admin = vec![false; n];
    let mut parent: Vec<Option<usize>> = vec![None; n];
    for (i, r) in roles.iter().enumerate() {
        tick.tick();
        admin[i] = r.is_admin || org.own_privileges(r.id).any(|p| p == "admin");
        parent[i] = r.based_on.and_then(|b| org.role_position(b));
        for p in org.own_permissions(r.id) {
            if let Some(t) = type_of(&p.object_type) {
                let slot = &mut levels[i * width + t * 4 + p.action.index()];
                *slot = (*slot).max(p.level);
            }
        }
    }
    const NEW: u8 = 0;
    const ON_PATH: u8 = 1;
    const DONE: u8 = 2;
    let mut state = vec![NEW; n];
    let mut place = vec![0usize; n]; // position on `path` while ON_PATH
    let mut path: Vec<usize> = Vec::new();
    for start in 0..n {
        // Walk up to a finished role (or the top), then finish the path top-down.
        let mut cur = Some(start);
        while let Some(c) = cur {
            tick.tick();
            match state[c] {
                DONE => break,
                ON_PATH => {
                    // A cycle: path[place[c]..]. Each of its roles gets the union of all.
                    let cycle = path.split_off(place[c]);
                    let mut row = vec![Level::None; width];
                    let mut cycle_admin = false;
                    for &m in &cycle {
                        tick.tick();
                        cycle_admin |= admin[m];
                        for (l, x) in row.iter_mut().zip(&levels[m * width..(m + 1) * width]) {
                            *l = (*l).max(*x);
                        }
                    }
                    for &m in &cycle {
                        tick.tick();
                        admin[m] = cycle_admin;
                        levels[m * width..(m + 1) * width].copy_from_slice(&row);
                        state[m] = DONE;
                    }
                    break;
                }
                _ => {
                    state[c] = ON_PATH;
                    place[c] = path.len();
                    path.push(c);
                    cur = parent[c];
                }
            }
        }
        while let Some(c) = path.pop() {
            tick.tick();
            if let Some(p) = parent[c] {
                admin[c] |= admin[p];
                let (lo, hi) = levels.split_at_mut(c.max(p) * width);
                let (own, inherited) = if c < p {
                    (&mut lo[c * width..(c + 1) * width], &hi[..width])
                } else {
                    (&mut hi[..width], &lo[p * width..(p + 1) * width])
                };
                for (l, x) in own.iter_mut().zip(inherited) {
                    *l = (*l).max(*x);
                }
            }
            state[c] = DONE;
        }
    }
    for (i, is_admin) in admin.iter().enumerate() {
        if *is_admin {
            levels[i * width..(i + 1) * width].fill(Level::All);
        }
    }
    levels
}

/// A user's permissions: the union of their roles, or nothing when not active.
pub fn user_permissions(org: &Org, user_id: i64) -> PermissionSet {
    let Some(user) = org.user(user_id) else {
        return PermissionSet::default();
    };
    let standing = Standing {
        id: user.id,
        company: user.company_id,
        status: user.status,
        superuser: user.is_superuser,
    };
    permissions_of(org, &standing, org.roles_of(user_id))
}

/// Who a user is, as far as their permissions go (from the rows, or from a
/// compiled model that holds no rows: docs/design.md, "One model per database").
pub struct Standing {
    pub id: i64,
    pub company: i64,
    pub status: Status,
    pub superuser: bool,
}

/// The permissions of a user of `standing` holding `role_ids`, from the
/// configuration rows of `config` (its roles, permissions, privileges and owners;
/// its users are not read).
pub fn permissions_of(config: &Org, standing: &Standing, role_ids: &[i64]) -> PermissionSet {
    if standing.status != Status::Active {
        return PermissionSet::default();
    }
    let mut set = PermissionSet {
        superuser: standing.superuser,
        // The owner of their company is an admin by ownership, whatever their roles.
        admin: config.owner_of(standing.company) == Some(standing.id),
        ..PermissionSet::default()
    };
    for role_id in role_ids {
        set.merge(&role_permissions(config, *role_id));
    }
    set
}

/// The document `sharing.effective_perms(user_id)` returns (docs/concepts.md, "Effective permissions").
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EffectivePerms {
    pub user_id: i64,
    pub company_id: i64,
    pub status: Status,
    pub superuser: bool,
    pub admin: bool,
    pub roles: Vec<String>,
    pub permissions: BTreeMap<String, BTreeMap<Action, Level>>,
    pub privileges: Vec<String>,
}

/// Everything a user may do, with every object type listed (missing ones `none`).
/// `None` for an unknown user.
pub fn effective_perms(org: &Org, user_id: i64) -> Option<EffectivePerms> {
    let user = org.user(user_id)?;
    let types: Vec<&str> = org.object_type_names().collect();
    let mut set = user_permissions(org, user_id);
    set.expand(&types);
    let mut roles: Vec<String> = org
        .roles_of(user_id)
        .iter()
        .filter_map(|id| org.role(*id).map(|r| r.name.clone()))
        .collect();
    roles.sort();
    let permissions = types
        .iter()
        .map(|t| {
            let per_action = Action::ALL.iter().map(|a| (*a, set.level(t, *a))).collect();
            (t.to_string(), per_action)
        })
        .collect();
    Some(EffectivePerms {
        user_id,
        company_id: user.company_id,
        status: user.status,
        superuser: set.superuser,
        admin: set.admin || set.superuser,
        roles,
        permissions,
        privileges: set.privileges.into_iter().collect(),
    })
}

/// A role's effective level for every (object type, action): the rows of the
/// `sharing.role_permission_matrix` view.
/// Linear in roles × types (see [`role_level_rows`]).
pub fn role_matrix(org: &Org) -> Vec<(i64, i64, String, Action, Level)> {
    let types: Vec<&str> = org.object_type_names().collect();
    let type_ix: HashMap<&str, usize> = types.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    let width = types.len() * 4;
    let levels = role_level_rows(org, types.len(), |t| type_ix.get(t).copied());
    let mut tick = Ticker::new();
    let mut rows = Vec::new();
    for (i, role) in org.snapshot.roles.iter().enumerate() {
        tick.tick();
        for t in &types {
            for a in Action::ALL {
                rows.push((
                    role.company_id,
                    role.id,
                    t.to_string(),
                    *a,
                    levels[i * width + type_ix[t] * 4 + a.index()],
                ));
            }
        }
    }
    rows
}

/// One row of the `sharing.role_privilege_matrix` view: a privilege a role gives,
/// and whether it comes from somewhere else than the role's own `role_privileges` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePrivilege {
    pub company_id: i64,
    pub role_id: i64,
    pub privilege: String,
    /// Not the role's own row: inherited through `based_on` (a cascade of any depth),
    /// or a system privilege an admin role gives (docs/concepts.md, "Comparing
    /// privileges").
    pub inherited: bool,
}

/// Every privilege every role gives (docs/concepts.md, "Comparing privileges"): its
/// own rows (`inherited = false`), what it inherits through `based_on`, and, for an
/// admin role (the `is_admin` flag or the `admin` privilege anywhere up its chain, as
/// [`role_level_rows`] decides), every system privilege. Per role, sorted by name.
///
/// Each role's set is computed once from its `based_on` parent, parent first (an
/// explicit stack, no recursion), so the work is linear in roles plus the rows given
/// out, whatever the depth of the chains. A cycle (which the triggers prevent) gives
/// each of its roles the union of the cycle, as [`Org::based_on_chain`] does.
pub fn role_privilege_matrix(org: &Org) -> Vec<RolePrivilege> {
    let roles = &org.snapshot.roles;
    let n = roles.len();
    let mut tick = Ticker::new();
    let mut sets: Vec<BTreeSet<&str>> = Vec::with_capacity(n);
    let mut admin = vec![false; n];
    let mut parent: Vec<Option<usize>> = vec![None; n];
    for (i, r) in roles.iter().enumerate() {
        tick.tick();
        let own: BTreeSet<&str> = org.own_privileges(r.id).collect();
        admin[i] = r.is_admin || own.contains("admin");
        parent[i] = r.based_on.and_then(|b| org.role_position(b));
        sets.push(own);
    }
    const NEW: u8 = 0;
    const ON_PATH: u8 = 1;
    const DONE: u8 = 2;
    let mut state = vec![NEW; n];
    let mut place = vec![0usize; n];
    let mut path: Vec<usize> = Vec::new();
    for start in 0..n {
        let mut cur = Some(start);
        while let Some(c) = cur {
            tick.tick();
            match state[c] {
                DONE => break,
                ON_PATH => {
                    let cycle = path.split_off(place[c]);
                    let mut union: BTreeSet<&str> = BTreeSet::new();
                    let mut cycle_admin = false;
                    for &m in &cycle {
                        tick.tick();
                        cycle_admin |= admin[m];
                        union.extend(sets[m].iter().copied());
                    }
                    for &m in &cycle {
                        tick.tick();
                        admin[m] = cycle_admin;
                        sets[m] = union.clone();
                        state[m] = DONE;
                    }
                    break;
                }
                _ => {
                    state[c] = ON_PATH;
                    place[c] = path.len();
                    path.push(c);
                    cur = parent[c];
                }
            }
        }
        while let Some(c) = path.pop() {
            tick.tick();
            if let Some(p) = parent[c] {
                admin[c] |= admin[p];
                let inherited: Vec<&str> = sets[p].iter().copied().collect();
                sets[c].extend(inherited);
            }
            state[c] = DONE;
        }
    }
    let mut rows = Vec::new();
    for (i, r) in roles.iter().enumerate() {
        tick.tick();
        if admin[i] {
            sets[i].extend(SYSTEM_PRIVILEGES.iter().copied());
        }
        let own: BTreeSet<&str> = org.own_privileges(r.id).collect();
        for p in &sets[i] {
            rows.push(RolePrivilege {
                company_id: r.company_id,
                role_id: r.id,
                privilege: p.to_string(),
                inherited: !own.contains(p),
            });
        }
    }
    rows
}

/// Per-role, per-type coherence (docs/sql-reference.md, "Invariants (triggers) and their errors"): `edit <= view` and `delete <= edit`.
/// Returns the offending pair, if any.
pub fn incoherence(levels: &ActionLevels) -> Option<(Action, Level, Action, Level)> {
    let view = levels[Action::View.index()];
    let edit = levels[Action::Edit.index()];
    let delete = levels[Action::Delete.index()];
    if edit > view {
        return Some((Action::Edit, edit, Action::View, view));
    }
    if delete > edit {
        return Some((Action::Delete, delete, Action::Edit, edit));
    }
    None
}

/// The words of an [`incoherence`], the same for a statement (the
/// `role_permissions_coherent` trigger, through `sharing._level_incoherence`) and
/// for an import: `(problem, hint)`, e.g. `edit is "all" but view is "owned"`.
pub fn incoherence_message(levels: &ActionLevels) -> Option<(String, String)> {
    let (a, la, b, lb) = incoherence(levels)?;
    Some((
        format!("{a} is \"{la}\" but {b} is \"{lb}\""),
        format!("{a} can be at most {b} (none < owned < all): raise {b} first, or lower {a}"),
    ))
}
