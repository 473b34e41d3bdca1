//! An organization as plain data: the rows of the `sharing` tables, loaded once
//! (as one JSON document built in SQL) and indexed for lookups.
//!
//! Nothing here knows about PostgreSQL; the SQL side only serializes rows.

use super::interrupts::Ticker;
use super::types::{Action, Level, OrgWideDefault, RuleAccess, RuleScope, Status};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ObjectTypeRow {
    pub name: String,
    pub org_wide_default: OrgWideDefault,
    pub grant_via_hierarchy: bool,
}

/// A company with an owner (docs/concepts.md, "The company owner"); the snapshot
/// lists only those.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CompanyRow {
    pub id: i64,
    #[serde(default)]
    pub owner_user: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserRow {
    pub id: i64,
    pub company_id: i64,
    #[serde(default)]
    pub name: Option<String>,
    pub status: Status,
    pub is_superuser: bool,
    pub is_super_company_member: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RoleRow {
    pub id: i64,
    pub company_id: i64,
    pub name: String,
    pub reports_to: Option<i64>,
    pub based_on: Option<i64>,
    pub is_admin: bool,
    #[serde(default)]
    pub is_default: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RolePermissionRow {
    pub role_id: i64,
    pub object_type: String,
    pub action: Action,
    pub level: Level,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RolePrivilegeRow {
    pub role_id: i64,
    pub privilege: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserRoleRow {
    pub user_id: i64,
    pub role_id: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SharingRuleRow {
    pub id: i64,
    pub company_id: i64,
    pub object_type: Option<String>,
    pub source_role: i64,
    pub source_scope: RuleScope,
    pub target_role: i64,
    pub target_scope: RuleScope,
    pub access: RuleAccess,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgreementRow {
    pub id: i64,
    pub grantor_company: i64,
    pub grantee_company: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgreementPermissionRow {
    pub agreement_id: i64,
    pub object_type: String,
    pub action: Action,
}

/// Every row the model needs, exactly as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct OrgSnapshot {
    #[serde(default)]
    pub companies: Vec<CompanyRow>,
    #[serde(default)]
    pub object_types: Vec<ObjectTypeRow>,
    #[serde(default)]
    pub users: Vec<UserRow>,
    #[serde(default)]
    pub roles: Vec<RoleRow>,
    #[serde(default)]
    pub role_permissions: Vec<RolePermissionRow>,
    #[serde(default)]
    pub role_privileges: Vec<RolePrivilegeRow>,
    #[serde(default)]
    pub user_roles: Vec<UserRoleRow>,
    #[serde(default)]
    pub sharing_rules: Vec<SharingRuleRow>,
    #[serde(default)]
    pub agreements: Vec<AgreementRow>,
    #[serde(default)]
    pub agreement_permissions: Vec<AgreementPermissionRow>,
}

/// A snapshot with the indexes every computation needs.
#[derive(Debug, Clone, Default)]
pub struct Org {
    pub snapshot: OrgSnapshot,
    pub(super) user_index: HashMap<i64, usize>,
    pub(super) role_index: HashMap<i64, usize>,
    /// role id -> its own permission rows (indexes into `snapshot.role_permissions`)
    pub(super) role_perm_rows: HashMap<i64, Vec<usize>>,
    /// role id -> its own privileges
    pub(super) role_priv_rows: HashMap<i64, Vec<usize>>,
    /// user id -> its span of `user_role_ids` (role ids sorted, distinct): one
    /// table for all users, not a vector each (millions of users rebuild fast).
    pub(super) user_role_span: HashMap<i64, (u32, u32)>,
    pub(super) user_role_ids: Vec<i64>,
    /// Entries of `user_role_ids` no span points at any more (left by patches,
    /// src/model/incremental.rs; compacted once they are half the table).
    pub(super) user_role_garbage: usize,
    /// company id -> its owner
    pub(super) owners: HashMap<i64, i64>,
}

impl Org {
    pub fn new(snapshot: OrgSnapshot) -> Org {
        let user_index = snapshot
            .users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.id, i))
            .collect();
        let role_index = snapshot
            .roles
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id, i))
            .collect();
        let mut tick = Ticker::new();
        let mut role_perm_rows: HashMap<i64, Vec<usize>> = HashMap::default();
        for (i, p) in snapshot.role_permissions.iter().enumerate() {
            tick.tick();
            role_perm_rows.entry(p.role_id).or_default().push(i);
        }
        let mut role_priv_rows: HashMap<i64, Vec<usize>> = HashMap::default();
        for (i, p) in snapshot.role_privileges.iter().enumerate() {
            tick.tick();
            role_priv_rows.entry(p.role_id).or_default().push(i);
        }
        let mut pairs: Vec<(i64, i64)> = snapshot
            .user_roles
            .iter()
            .map(|m| (m.user_id, m.role_id))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        let mut user_role_span: HashMap<i64, (u32, u32)> = HashMap::default();
        user_role_span.reserve(snapshot.users.len());
        for (i, (user, _)) in pairs.iter().enumerate() {
            tick.tick();
            let span = user_role_span.entry(*user).or_insert((i as u32, i as u32));
            span.1 = i as u32 + 1;
        }
        let user_role_ids = pairs.into_iter().map(|(_, role)| role).collect();
        let owners = snapshot
            .companies
            .iter()
            .filter_map(|c| c.owner_user.map(|o| (c.id, o)))
            .collect();
        Org {
            snapshot,
            user_index,
            role_index,
            role_perm_rows,
            role_priv_rows,
            user_role_span,
            user_role_ids,
            user_role_garbage: 0,
            owners,
        }
    }

    /// Approximate heap bytes held (rows, strings and indexes), for the memory report.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let s = &self.snapshot;
        let strings: usize = s
            .users
            .iter()
            .map(|u| u.name.as_ref().map_or(0, |n| n.capacity()))
            .sum::<usize>()
            + s.roles.iter().map(|r| r.name.capacity()).sum::<usize>()
            + s.role_permissions
                .iter()
                .map(|p| p.object_type.capacity())
                .sum::<usize>()
            + s.role_privileges
                .iter()
                .map(|p| p.privilege.capacity())
                .sum::<usize>();
        let rows = s.users.capacity() * size_of::<UserRow>()
            + s.roles.capacity() * size_of::<RoleRow>()
            + s.role_permissions.capacity() * size_of::<RolePermissionRow>()
            + s.role_privileges.capacity() * size_of::<RolePrivilegeRow>()
            + s.user_roles.capacity() * size_of::<UserRoleRow>()
            + s.sharing_rules.capacity() * size_of::<SharingRuleRow>();
        let index_entry = 32;
        let indexes = (self.user_index.len() + self.role_index.len() + self.owners.len())
            * index_entry
            + (self.role_perm_rows.len() + self.role_priv_rows.len()) * (index_entry + 24)
            + self.user_role_span.len() * index_entry
            + self.user_role_ids.capacity() * 8;
        strings + rows + indexes
    }

    pub fn from_json(text: &str) -> Result<Org, serde_json::Error> {
        serde_json::from_str::<OrgSnapshot>(text).map(Org::new)
    }

    pub fn user(&self, id: i64) -> Option<&UserRow> {
        self.user_index.get(&id).map(|&i| &self.snapshot.users[i])
    }

    /// The owner of `company`, if it has one.
    pub fn owner_of(&self, company: i64) -> Option<i64> {
        self.owners.get(&company).copied()
    }

    /// Does `user` own the company they belong to? (Admin rights by ownership, when
    /// active: docs/concepts.md, "The company owner".)
    pub fn is_owner(&self, user: &UserRow) -> bool {
        self.owner_of(user.company_id) == Some(user.id)
    }

    pub fn role(&self, id: i64) -> Option<&RoleRow> {
        self.role_index.get(&id).map(|&i| &self.snapshot.roles[i])
    }

    /// The position of a role in `snapshot.roles`.
    pub fn role_position(&self, id: i64) -> Option<usize> {
        self.role_index.get(&id).copied()
    }

    pub fn roles_of(&self, user_id: i64) -> &[i64] {
        self.user_role_span
            .get(&user_id)
            .map_or(&[], |&(from, to)| {
                &self.user_role_ids[from as usize..to as usize]
            })
    }

    pub fn own_permissions(&self, role_id: i64) -> impl Iterator<Item = &RolePermissionRow> {
        self.role_perm_rows
            .get(&role_id)
            .into_iter()
            .flatten()
            .map(|&i| &self.snapshot.role_permissions[i])
    }

    pub fn own_privileges(&self, role_id: i64) -> impl Iterator<Item = &str> {
        self.role_priv_rows
            .get(&role_id)
            .into_iter()
            .flatten()
            .map(|&i| self.snapshot.role_privileges[i].privilege.as_str())
    }

    pub fn object_type(&self, name: &str) -> Option<&ObjectTypeRow> {
        self.snapshot.object_types.iter().find(|t| t.name == name)
    }

    pub fn object_type_names(&self) -> impl Iterator<Item = &str> {
        self.snapshot.object_types.iter().map(|t| t.name.as_str())
    }

    /// The role and every role it is `based_on`, nearest first. Stops at a repeated
    /// role, so a cycle that slipped past the triggers cannot hang a backend.
    /// Linear in the chain (a set of the roles seen, not a scan of the chain so far:
    /// any `manage_roles` holder can build a chain of thousands).
    pub fn based_on_chain(&self, role_id: i64) -> Vec<i64> {
        let mut chain = Vec::new();
        let mut seen: HashSet<i64> = HashSet::default();
        let mut tick = Ticker::new();
        let mut next = Some(role_id);
        while let Some(id) = next {
            tick.tick();
            if !seen.insert(id) {
                break;
            }
            let Some(role) = self.role(id) else { break };
            chain.push(id);
            next = role.based_on;
        }
        chain
    }
}
