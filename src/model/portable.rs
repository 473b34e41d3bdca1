//! The portable form of one company (docs/org-format.md): roles, permissions, privileges,
//! users, memberships, sharing rules, outgoing agreements and record shares, with names in place
//! of database ids (user ids are the application's own and are kept). Sorted, so
//! that export → import → export gives the same document.
//!
//! Documented in docs/org-format.md.

use super::interrupts::Ticker;
use super::perms::incoherence_message;
use super::privileges::classify_privilege;
use super::types::{Action, Level, OrgWideDefault, RuleAccess, RuleScope, Status};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub const FORMAT: &str = "pg_sharing.company/1";

/// The most roles one document may hold: far above any real org chart (large CRMs
/// count hundreds or a few thousand roles), low enough that a hostile document
/// cannot keep a backend busy for long. Documented in docs/org-format.md.
pub const MAX_ROLES: usize = 100_000;
/// The most users one document may hold.
pub const MAX_USERS: usize = 1_000_000;
/// The most role memberships (`users[].roles[]`, all users together).
pub const MAX_MEMBERSHIPS: usize = 10_000_000;
/// The most sharing rules.
pub const MAX_SHARING_RULES: usize = 100_000;
/// The most record shares. Each is one INSERT judged by the `record_shares`
/// trigger; a company with more loads the rest with plain INSERTs.
pub const MAX_RECORD_SHARES: usize = 1_000_000;

/// A document over one of the size limits (`program_limit_exceeded` on the SQL side).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: the document has {count} {what}; the limit is {limit}")]
pub struct LimitError {
    pub path: &'static str,
    pub what: &'static str,
    pub count: usize,
    pub limit: usize,
}

/// Check the size limits on the raw JSON, before anything else is done with it:
/// counting array lengths costs nothing, whatever the document holds.
pub fn check_limits(doc: &serde_json::Value) -> Result<(), LimitError> {
    let len = |key: &str| doc.get(key).and_then(|v| v.as_array()).map_or(0, Vec::len);
    let memberships: usize = doc
        .get("users")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .map(|u| {
            u.get("roles")
                .and_then(|r| r.as_array())
                .map_or(0, Vec::len)
        })
        .sum();
    for (path, what, count, limit) in [
        ("$.roles", "roles", len("roles"), MAX_ROLES),
        ("$.users", "users", len("users"), MAX_USERS),
        (
            "$.users[*].roles",
            "role memberships",
            memberships,
            MAX_MEMBERSHIPS,
        ),
        (
            "$.sharing_rules",
            "sharing rules",
            len("sharing_rules"),
            MAX_SHARING_RULES,
        ),
        (
            "$.record_shares",
            "record shares",
            len("record_shares"),
            MAX_RECORD_SHARES,
        ),
    ] {
        if count > limit {
            return Err(LimitError {
                path,
                what,
                count,
                limit,
            });
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanyDoc {
    pub format: String,
    pub company: CompanyHeader,
    #[serde(default)]
    pub object_types: Vec<ObjectTypeDoc>,
    #[serde(default)]
    pub roles: Vec<RoleDoc>,
    #[serde(default)]
    pub users: Vec<UserDoc>,
    #[serde(default)]
    pub sharing_rules: Vec<RuleDoc>,
    #[serde(default)]
    pub agreements: Vec<AgreementDoc>,
    /// The company's record shares. Left out when there are none, so that a
    /// company without shares exports exactly as before they existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub record_shares: Vec<ShareDoc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanyHeader {
    pub name: String,
    /// The id of the user (one of `users`, active) who owns the company; left out
    /// when it has no owner (docs/concepts.md, "The company owner").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_user: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectTypeDoc {
    pub name: String,
    pub org_wide_default: OrgWideDefault,
    pub grant_via_hierarchy: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleDoc {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub reports_to: Option<String>,
    #[serde(default)]
    pub based_on: Option<String>,
    #[serde(default)]
    pub is_admin: bool,
    #[serde(default)]
    pub is_default: bool,
    #[serde(default)]
    pub is_protected: bool,
    /// `false` for a role `sharing.copy_role` refuses to copy. Left out when true
    /// (the default), so that documents of copyable roles are unchanged.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub is_copyable: bool,
    /// object type -> action -> level; only the rows that exist. Actions are
    /// checked by `validate`, so that a bad one is reported at its own path.
    #[serde(default)]
    pub permissions: BTreeMap<String, BTreeMap<String, Level>>,
    #[serde(default)]
    pub privileges: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserDoc {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "active")]
    pub status: Status,
    #[serde(default)]
    pub is_superuser: bool,
    #[serde(default)]
    pub is_super_company_member: bool,
    #[serde(default)]
    pub db_role: Option<String>,
    /// Left out when NULL, so that documents without departments stay as they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default)]
    pub roles: Vec<MembershipDoc>,
}

fn active() -> Status {
    Status::Active
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipDoc {
    pub role: String,
    #[serde(default)]
    pub assigned_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDoc {
    #[serde(default)]
    pub object_type: Option<String>,
    pub source_role: String,
    pub source_scope: RuleScope,
    pub target_role: String,
    pub target_scope: RuleScope,
    pub access: RuleAccess,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementDoc {
    pub grantee_company: String,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub permissions: Vec<AgreementPermissionDoc>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementPermissionDoc {
    pub object_type: String,
    pub action: Action,
}

/// One record share (`sharing.record_shares`): the record by object type and id
/// (the id column's text form), and exactly one grantee — a user of the document by
/// id, or a role of the document by name with its scope (`role` when left out).
/// Timestamps as elsewhere (UTC ISO 8601; `infinity` and `-infinity` as such);
/// `valid_from` left out means the time of the import, `valid_until` null no end.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareDoc {
    pub object_type: String,
    pub record_id: String,
    #[serde(default)]
    pub user: Option<i64>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub scope: Option<RuleScope>,
    pub access: RuleAccess,
    #[serde(default)]
    pub valid_from: Option<String>,
    #[serde(default)]
    pub valid_until: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    /// The user who shared it, kept as a number like the table does (that user
    /// may be gone, or in another company).
    #[serde(default)]
    pub granted_by: Option<i64>,
}

/// A problem in a document, with the JSON path of the element at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct DocError {
    pub path: String,
    pub message: String,
}

fn err(path: impl Into<String>, message: impl Into<String>) -> DocError {
    DocError {
        path: path.into(),
        message: message.into(),
    }
}

/// Parse a document, reporting the JSON path of a malformed element.
pub fn parse(text: &str) -> Result<CompanyDoc, DocError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let doc: CompanyDoc = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        err(
            if path == "." {
                "$".to_string()
            } else {
                format!("$.{path}")
            },
            e.into_inner().to_string(),
        )
    })?;
    validate(&doc)?;
    Ok(doc)
}

impl CompanyDoc {
    /// Put every list in its canonical order.
    pub fn normalize(&mut self) {
        self.object_types.sort_by(|a, b| a.name.cmp(&b.name));
        self.roles.sort_by(|a, b| a.name.cmp(&b.name));
        for r in &mut self.roles {
            r.privileges.sort();
            r.privileges.dedup();
        }
        self.users.sort_by_key(|u| u.id);
        for u in &mut self.users {
            u.roles.sort_by(|a, b| a.role.cmp(&b.role));
        }
        self.sharing_rules.sort();
        self.agreements
            .sort_by(|a, b| a.grantee_company.cmp(&b.grantee_company));
        for a in &mut self.agreements {
            a.permissions.sort();
            a.permissions.dedup();
        }
        // Equal shares are distinct rows: sorted, never deduplicated.
        self.record_shares.sort();
    }

    /// Roles in an order where every `reports_to` and `based_on` target comes first.
    /// `validate` has already refused cycles.
    pub fn roles_in_dependency_order(&self) -> Vec<&RoleDoc> {
        self.role_indexes_in_dependency_order()
            .into_iter()
            .map(|i| &self.roles[i])
            .collect()
    }

    /// The same as positions in `roles`: a depth-first post-order over `reports_to`
    /// and `based_on`, from each role in document order. An explicit stack, not
    /// recursion: a document whose roles form one chain of any depth (a hostile one
    /// lists the deepest role first) cannot overflow the backend's stack. Linear.
    pub fn role_indexes_in_dependency_order(&self) -> Vec<usize> {
        let by_name: HashMap<&str, usize> = self
            .roles
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.as_str(), i))
            .collect();
        let deps = |i: usize| {
            let r = &self.roles[i];
            [&r.reports_to, &r.based_on]
                .map(|d| d.as_ref().and_then(|n| by_name.get(n.as_str()).copied()))
        };
        let mut tick = Ticker::new();
        let mut visited = vec![false; self.roles.len()];
        let mut out = Vec::with_capacity(self.roles.len());
        // (role, how many of its two dependencies were visited already)
        let mut stack: Vec<(usize, usize)> = Vec::new();
        for root in 0..self.roles.len() {
            if visited[root] {
                continue;
            }
            visited[root] = true;
            stack.push((root, 0));
            while let Some((i, next)) = stack.pop() {
                tick.tick();
                if next == 2 {
                    out.push(i);
                    continue;
                }
                stack.push((i, next + 1));
                if let Some(d) = deps(i)[next] {
                    if !visited[d] {
                        visited[d] = true;
                        stack.push((d, 0));
                    }
                }
            }
        }
        out
    }
}

/// Everything that can be checked without the database, each error at its path.
pub fn validate(doc: &CompanyDoc) -> Result<(), DocError> {
    if doc.format != FORMAT {
        return Err(err(
            "$.format",
            format!(
                "unsupported format \"{}\" (expected \"{FORMAT}\")",
                doc.format
            ),
        ));
    }
    if doc.company.name.trim().is_empty() {
        return Err(err("$.company.name", "company name must not be empty"));
    }
    let mut tick = Ticker::new();
    let mut role_names: HashMap<&str, usize> = HashMap::new();
    for (i, r) in doc.roles.iter().enumerate() {
        tick.tick();
        if r.name.trim().is_empty() {
            return Err(err(
                format!("$.roles[{i}].name"),
                "role name must not be empty",
            ));
        }
        if role_names.insert(&r.name, i).is_some() {
            return Err(err(
                format!("$.roles[{i}].name"),
                format!("role \"{}\" appears twice", r.name),
            ));
        }
    }
    let defaults: Vec<usize> = (0..doc.roles.len())
        .filter(|i| doc.roles[*i].is_default)
        .collect();
    if defaults.len() != 1 {
        return Err(err(
            "$.roles",
            format!(
                "exactly one role must have is_default = true (found {})",
                defaults.len()
            ),
        ));
    }
    let target = |name: &Option<String>| {
        name.as_ref()
            .and_then(|n| role_names.get(n.as_str()).copied())
    };
    let reports_to: Vec<Option<usize>> = doc.roles.iter().map(|r| target(&r.reports_to)).collect();
    let based_on: Vec<Option<usize>> = doc.roles.iter().map(|r| target(&r.based_on)).collect();
    let on_cycle = [on_a_cycle(&reports_to), on_a_cycle(&based_on)];
    for (i, r) in doc.roles.iter().enumerate() {
        tick.tick();
        for (k, (field, target)) in [("reports_to", &r.reports_to), ("based_on", &r.based_on)]
            .into_iter()
            .enumerate()
        {
            let Some(t) = target else { continue };
            if !role_names.contains_key(t.as_str()) {
                return Err(err(
                    format!("$.roles[{i}].{field}"),
                    format!("role \"{}\": {field} names unknown role \"{t}\"", r.name),
                ));
            }
            // Following the field from this role comes back to it.
            if on_cycle[k][i] {
                return Err(err(
                    format!("$.roles[{i}].{field}"),
                    format!("role \"{}\": {field} closes a cycle", r.name),
                ));
            }
        }
        for (t, actions) in &r.permissions {
            let mut levels = [Level::None; 4];
            for (a, l) in actions {
                let action: Action = a.parse().map_err(|e: super::types::ParseError| {
                    err(format!("$.roles[{i}].permissions.{t}.{a}"), e.to_string())
                })?;
                levels[action.index()] = *l;
            }
            if let Some((problem, _)) = incoherence_message(&levels) {
                return Err(err(
                    format!("$.roles[{i}].permissions.{t}"),
                    format!("incoherent levels for role \"{}\": {problem}", r.name),
                ));
            }
        }
        for (j, p) in r.privileges.iter().enumerate() {
            classify_privilege(p)
                .map_err(|e| err(format!("$.roles[{i}].privileges[{j}]"), e.to_string()))?;
        }
    }
    let mut user_ids = BTreeSet::new();
    for (i, u) in doc.users.iter().enumerate() {
        tick.tick();
        if !user_ids.insert(u.id) {
            return Err(err(
                format!("$.users[{i}].id"),
                format!("user {} appears twice", u.id),
            ));
        }
        for (j, m) in u.roles.iter().enumerate() {
            if !role_names.contains_key(m.role.as_str()) {
                return Err(err(
                    format!("$.users[{i}].roles[{j}].role"),
                    format!("user {} holds unknown role \"{}\"", u.id, m.role),
                ));
            }
        }
        if u.status == Status::Active && u.roles.is_empty() {
            return Err(err(
                format!("$.users[{i}].roles"),
                format!("active user {} must hold at least one role", u.id),
            ));
        }
    }
    if let Some(owner) = doc.company.owner_user {
        match doc.users.iter().find(|u| u.id == owner) {
            None => {
                return Err(err(
                    "$.company.owner_user",
                    format!("the owner, user {owner}, is not a user of the document"),
                ))
            }
            Some(u) if u.status != Status::Active => {
                return Err(err(
                    "$.company.owner_user",
                    format!(
                        "the owner, user {owner}, is {} (an owner is active)",
                        u.status
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    for (i, s) in doc.sharing_rules.iter().enumerate() {
        tick.tick();
        for (field, name) in [
            ("source_role", &s.source_role),
            ("target_role", &s.target_role),
        ] {
            if !role_names.contains_key(name.as_str()) {
                return Err(err(
                    format!("$.sharing_rules[{i}].{field}"),
                    format!("unknown role \"{name}\""),
                ));
            }
        }
    }
    let mut grantees = BTreeSet::new();
    for (i, a) in doc.agreements.iter().enumerate() {
        tick.tick();
        if a.grantee_company == doc.company.name {
            return Err(err(
                format!("$.agreements[{i}].grantee_company"),
                "a company cannot have an agreement with itself",
            ));
        }
        if !grantees.insert(&a.grantee_company) {
            return Err(err(
                format!("$.agreements[{i}].grantee_company"),
                format!("two agreements with \"{}\"", a.grantee_company),
            ));
        }
    }
    for (i, s) in doc.record_shares.iter().enumerate() {
        tick.tick();
        let at = |field: &str| format!("$.record_shares[{i}].{field}");
        if s.object_type.trim().is_empty() {
            return Err(err(at("object_type"), "object type must not be empty"));
        }
        if s.record_id.is_empty() {
            return Err(err(at("record_id"), "record id must not be empty"));
        }
        match (&s.user, &s.role) {
            (Some(u), None) => {
                if !user_ids.contains(u) {
                    return Err(err(
                        at("user"),
                        format!("user {u} is not a user of the document (records are shared inside their company)"),
                    ));
                }
                if s.scope.is_some() {
                    return Err(err(
                        at("scope"),
                        "a scope goes with a role, not with a user",
                    ));
                }
            }
            (None, Some(r)) => {
                if !role_names.contains_key(r.as_str()) {
                    return Err(err(at("role"), format!("unknown role \"{r}\"")));
                }
            }
            _ => {
                return Err(err(
                    format!("$.record_shares[{i}]"),
                    "a share names exactly one grantee: user or role",
                ))
            }
        }
    }
    Ok(())
}

/// Which positions lie on a cycle of `next` (each position has at most one next:
/// a forest of chains, possibly closed into cycles). Each position is walked once
/// (colours: new, on the current walk, finished), so a chain of any length is linear,
/// where walking every role's own chain was quadratic.
fn on_a_cycle(next: &[Option<usize>]) -> Vec<bool> {
    const NEW: u8 = 0;
    const WALKING: u8 = 1;
    const DONE: u8 = 2;
    let mut tick = Ticker::new();
    let mut state = vec![NEW; next.len()];
    let mut cycle = vec![false; next.len()];
    let mut walk = Vec::new();
    for start in 0..next.len() {
        let mut cur = Some(start);
        while let Some(c) = cur {
            tick.tick();
            match state[c] {
                NEW => {
                    state[c] = WALKING;
                    walk.push(c);
                    cur = next[c];
                }
                WALKING => {
                    // Came back to c: c and everything walked after it form a cycle.
                    for &m in walk.iter().rev() {
                        cycle[m] = true;
                        if m == c {
                            break;
                        }
                    }
                    break;
                }
                _ => break,
            }
        }
        for m in walk.drain(..) {
            state[m] = DONE;
        }
    }
    cycle
}

/// A setting of an object type that exists already and that an import keeps, although
/// the document says otherwise (object types are global: docs/org-format.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeDifference {
    /// Position in the document's `object_types`.
    pub index: usize,
    pub object_type: String,
    pub setting: &'static str,
    pub existing: String,
    pub document: String,
}

impl std::fmt::Display for TypeDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "$.object_types[{}]: object type \"{}\" keeps {} = {} (the document has {})",
            self.index, self.object_type, self.setting, self.existing, self.document
        )
    }
}

/// The settings in which the document's object types differ from existing ones of
/// the same name, in document order (`org_wide_default` before
/// `grant_via_hierarchy`). Types that do not exist yet are not differences: the
/// import creates them as the document says.
pub fn object_type_differences(
    existing: &[ObjectTypeDoc],
    document: &[ObjectTypeDoc],
) -> Vec<TypeDifference> {
    let by_name: HashMap<&str, &ObjectTypeDoc> =
        existing.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut out = Vec::new();
    for (index, t) in document.iter().enumerate() {
        let Some(old) = by_name.get(t.name.as_str()) else {
            continue;
        };
        if old.org_wide_default != t.org_wide_default {
            out.push(TypeDifference {
                index,
                object_type: t.name.clone(),
                setting: "org_wide_default",
                existing: old.org_wide_default.as_str().to_string(),
                document: t.org_wide_default.as_str().to_string(),
            });
        }
        if old.grant_via_hierarchy != t.grant_via_hierarchy {
            out.push(TypeDifference {
                index,
                object_type: t.name.clone(),
                setting: "grant_via_hierarchy",
                existing: old.grant_via_hierarchy.to_string(),
                document: t.grant_via_hierarchy.to_string(),
            });
        }
    }
    out
}

/// The raw rows of one company, as `sharing._company_rows` renders them.
#[derive(Debug, Clone, Deserialize)]
pub struct CompanyRows {
    pub company: Option<RawCompany>,
    pub object_types: Vec<ObjectTypeDoc>,
    pub roles: Vec<RawRole>,
    pub role_permissions: Vec<RawPermission>,
    pub role_privileges: Vec<RawPrivilege>,
    pub users: Vec<RawUser>,
    pub user_roles: Vec<RawMembership>,
    pub sharing_rules: Vec<RawRule>,
    pub agreements: Vec<RawAgreement>,
    pub agreement_permissions: Vec<RawAgreementPermission>,
    /// Absent from rows rendered before record shares existed.
    #[serde(default)]
    pub record_shares: Vec<RawShare>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RawCompany {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub owner_user: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RawRole {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub reports_to: Option<i64>,
    pub based_on: Option<i64>,
    pub is_admin: bool,
    pub is_default: bool,
    pub is_protected: bool,
    /// Absent from rows rendered before `roles.is_copyable` existed.
    #[serde(default = "yes")]
    pub is_copyable: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RawPermission {
    pub role_id: i64,
    pub object_type: String,
    pub action: Action,
    pub level: Level,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RawPrivilege {
    pub role_id: i64,
    pub privilege: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RawUser {
    pub id: i64,
    pub name: Option<String>,
    pub status: Status,
    pub is_superuser: bool,
    pub is_super_company_member: bool,
    pub db_role: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RawMembership {
    pub user_id: i64,
    pub role_id: i64,
    pub assigned_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RawRule {
    pub object_type: Option<String>,
    pub source_role: i64,
    pub source_scope: RuleScope,
    pub target_role: i64,
    pub target_scope: RuleScope,
    pub access: RuleAccess,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RawAgreement {
    pub id: i64,
    pub grantee_company: String,
    pub notes: Option<String>,
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RawAgreementPermission {
    pub agreement_id: i64,
    pub object_type: String,
    pub action: Action,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RawShare {
    pub object_type: String,
    pub record_id: String,
    pub user_id: Option<i64>,
    pub role_id: Option<i64>,
    pub scope: Option<RuleScope>,
    pub access: RuleAccess,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    pub note: Option<String>,
    pub granted_by: Option<i64>,
}

/// Build the portable document from a company's rows: ids become names, only the
/// object types the company refers to are listed, everything in canonical order.
pub fn export_document(rows: &CompanyRows) -> Option<CompanyDoc> {
    let company = rows.company.as_ref()?;
    let role_name: HashMap<i64, &str> =
        rows.roles.iter().map(|r| (r.id, r.name.as_str())).collect();
    let name_of = |id: Option<i64>| id.and_then(|i| role_name.get(&i).map(|n| n.to_string()));
    // Rows grouped by their parent's id once (a filter per parent was quadratic).
    fn group<T>(items: &[T], key: impl Fn(&T) -> i64) -> HashMap<i64, Vec<&T>> {
        let mut tick = Ticker::new();
        let mut by: HashMap<i64, Vec<&T>> = HashMap::new();
        for item in items {
            tick.tick();
            by.entry(key(item)).or_default().push(item);
        }
        by
    }
    let perms_of = group(&rows.role_permissions, |p| p.role_id);
    let privs_of = group(&rows.role_privileges, |p| p.role_id);
    let memberships_of = group(&rows.user_roles, |m| m.user_id);
    let grants_of = group(&rows.agreement_permissions, |p| p.agreement_id);
    let mut tick = Ticker::new();
    let mut used_types: BTreeSet<&str> = BTreeSet::new();
    let roles = rows
        .roles
        .iter()
        .map(|r| {
            tick.tick();
            let mut permissions: BTreeMap<String, BTreeMap<String, Level>> = BTreeMap::new();
            for p in perms_of.get(&r.id).into_iter().flatten() {
                used_types.insert(&p.object_type);
                permissions
                    .entry(p.object_type.clone())
                    .or_default()
                    .insert(p.action.to_string(), p.level);
            }
            RoleDoc {
                name: r.name.clone(),
                description: r.description.clone(),
                reports_to: name_of(r.reports_to),
                based_on: name_of(r.based_on),
                is_admin: r.is_admin,
                is_default: r.is_default,
                is_protected: r.is_protected,
                is_copyable: r.is_copyable,
                permissions,
                privileges: privs_of
                    .get(&r.id)
                    .into_iter()
                    .flatten()
                    .map(|p| p.privilege.clone())
                    .collect(),
            }
        })
        .collect();
    let users = rows
        .users
        .iter()
        .inspect(|_| tick.tick())
        .map(|u| UserDoc {
            id: u.id,
            name: u.name.clone(),
            status: u.status,
            is_superuser: u.is_superuser,
            is_super_company_member: u.is_super_company_member,
            db_role: u.db_role.clone(),
            department: u.department.clone(),
            roles: memberships_of
                .get(&u.id)
                .into_iter()
                .flatten()
                .filter_map(|m| {
                    role_name.get(&m.role_id).map(|n| MembershipDoc {
                        role: n.to_string(),
                        assigned_at: m.assigned_at.clone(),
                    })
                })
                .collect(),
        })
        .collect();
    let sharing_rules = rows
        .sharing_rules
        .iter()
        .filter_map(|s| {
            if let Some(t) = &s.object_type {
                used_types.insert(t);
            }
            Some(RuleDoc {
                object_type: s.object_type.clone(),
                source_role: name_of(Some(s.source_role))?,
                source_scope: s.source_scope,
                target_role: name_of(Some(s.target_role))?,
                target_scope: s.target_scope,
                access: s.access,
            })
        })
        .collect();
    let agreements = rows
        .agreements
        .iter()
        .map(|a| AgreementDoc {
            grantee_company: a.grantee_company.clone(),
            notes: a.notes.clone(),
            created_at: a.created_at.clone(),
            permissions: grants_of
                .get(&a.id)
                .into_iter()
                .flatten()
                .map(|p| {
                    used_types.insert(&p.object_type);
                    AgreementPermissionDoc {
                        object_type: p.object_type.clone(),
                        action: p.action,
                    }
                })
                .collect(),
        })
        .collect();
    // A share to a role of another company cannot exist (the trigger refuses it);
    // one whose role is not in the rows is left out rather than misnamed.
    let record_shares = rows
        .record_shares
        .iter()
        .filter_map(|s| {
            tick.tick();
            let role = match s.role_id {
                Some(r) => Some(role_name.get(&r)?.to_string()),
                None => None,
            };
            used_types.insert(&s.object_type);
            Some(ShareDoc {
                object_type: s.object_type.clone(),
                record_id: s.record_id.clone(),
                user: s.user_id,
                scope: role.as_ref().map(|_| s.scope.unwrap_or(RuleScope::Role)),
                role,
                access: s.access,
                valid_from: s.valid_from.clone(),
                valid_until: s.valid_until.clone(),
                note: s.note.clone(),
                granted_by: s.granted_by,
            })
        })
        .collect();
    let object_types = rows
        .object_types
        .iter()
        .filter(|t| used_types.contains(t.name.as_str()))
        .cloned()
        .collect();
    let mut doc = CompanyDoc {
        format: FORMAT.to_string(),
        company: CompanyHeader {
            name: company.name.clone(),
            owner_user: company.owner_user,
        },
        object_types,
        roles,
        users,
        sharing_rules,
        agreements,
        record_shares,
    };
    doc.normalize();
    Some(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> serde_json::Value {
        serde_json::json!({
            "format": FORMAT,
            "company": {"name": "Acme"},
            "roles": [
                {"name": "Boss", "is_admin": true},
                {"name": "Staff", "reports_to": "Boss", "based_on": "Boss", "is_default": true,
                 "permissions": {"deals": {"view": "all", "edit": "owned"}}, "privileges": ["app.crm"]}
            ],
            "users": [{"id": 7, "name": "ann", "roles": [{"role": "Staff"}]}]
        })
    }

    fn parse_value(v: &serde_json::Value) -> Result<CompanyDoc, DocError> {
        parse(&v.to_string())
    }

    #[test]
    fn a_minimal_document_parses_and_orders_roles() {
        let doc = parse_value(&minimal()).unwrap();
        let order: Vec<&str> = doc
            .roles_in_dependency_order()
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(order, vec!["Boss", "Staff"]);
        assert_eq!(doc.users[0].status, Status::Active);
    }

    #[test]
    fn errors_point_at_the_json_path() {
        let mut v = minimal();
        v["roles"][1]["permissions"]["deals"]["view"] = "everything".into();
        let e = parse_value(&v).unwrap_err();
        assert_eq!(e.path, "$.roles[1].permissions.deals.view", "{e}");
        let mut v = minimal();
        v["roles"][1]["permissions"]["deals"]["read"] = "all".into();
        assert_eq!(
            parse_value(&v).unwrap_err().path,
            "$.roles[1].permissions.deals.read"
        );
        let mut v = minimal();
        v["roles"][0]["reports_to"] = "Staff".into();
        let e = parse_value(&v).unwrap_err();
        assert!(
            e.path.ends_with(".reports_to") && e.message.contains("cycle"),
            "{e}"
        );
        let mut v = minimal();
        v["users"][0]["roles"][0]["role"] = "Ghost".into();
        assert_eq!(
            parse_value(&v).unwrap_err().path,
            "$.users[0].roles[0].role"
        );
        let mut v = minimal();
        v["roles"][1]["permissions"]["deals"]["view"] = "none".into();
        assert_eq!(
            parse_value(&v).unwrap_err().path,
            "$.roles[1].permissions.deals"
        );
        let mut v = minimal();
        v["roles"][1]["privileges"][0] = "Billing".into();
        assert_eq!(
            parse_value(&v).unwrap_err().path,
            "$.roles[1].privileges[0]"
        );
        let mut v = minimal();
        v["surprise"] = 1.into();
        assert!(parse_value(&v).unwrap_err().message.contains("surprise"));
        let mut v = minimal();
        v["format"] = "other/9".into();
        assert_eq!(parse_value(&v).unwrap_err().path, "$.format");
    }

    /// `n` roles, listed deepest first: role `i` depends on role `i + 1`, through
    /// `reports_to` and `based_on` alternately (`field` forces one of them).
    fn chain(n: usize, field: Option<&str>) -> CompanyDoc {
        let roles: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                let mut r = serde_json::json!({"name": format!("r{i}")});
                if i + 1 < n {
                    let f = field.unwrap_or(if i % 2 == 0 { "reports_to" } else { "based_on" });
                    r[f] = format!("r{}", i + 1).into();
                } else {
                    r["is_default"] = true.into();
                }
                r
            })
            .collect();
        let v = serde_json::json!({"format": FORMAT, "company": {"name": "Deep"}, "roles": roles});
        serde_json::from_value(v).unwrap()
    }

    /// 200,000 roles in one alternating chain: ordered without recursion (a test
    /// thread has a 2 MB stack; the recursive walk overflowed it), dependencies first.
    #[test]
    fn a_deep_alternating_chain_orders_without_recursion() {
        let n = 200_000;
        let doc = chain(n, None);
        validate(&doc).unwrap();
        let order = doc.role_indexes_in_dependency_order();
        assert_eq!(order.len(), n);
        let mut place = vec![usize::MAX; n];
        for (k, i) in order.iter().enumerate() {
            place[*i] = k;
        }
        for i in 0..n - 1 {
            assert!(place[i + 1] < place[i], "r{} before r{i}", i + 1);
        }
        assert_eq!(
            doc.roles_in_dependency_order()[0].name,
            format!("r{}", n - 1)
        );
    }

    /// Cycle checks are linear: a 100,000-role chain validates, and closing it into a
    /// cycle is reported at the first role of the document on the cycle.
    #[test]
    fn long_chains_and_cycles_are_checked_linearly() {
        let n = 100_000;
        for field in ["reports_to", "based_on"] {
            let mut doc = chain(n, Some(field));
            validate(&doc).unwrap();
            let last = n - 1;
            if field == "reports_to" {
                doc.roles[last].reports_to = Some(format!("r{}", n / 2));
            } else {
                doc.roles[last].based_on = Some(format!("r{}", n / 2));
            }
            let e = validate(&doc).unwrap_err();
            assert_eq!(e.path, format!("$.roles[{}].{field}", n / 2), "{e}");
            assert!(e.message.contains("closes a cycle"), "{e}");
        }
        // An unknown role further up a chain is reported at its own path.
        let mut doc = chain(1000, Some("based_on"));
        doc.roles[999].based_on = Some("Ghost".into());
        let e = validate(&doc).unwrap_err();
        assert_eq!(e.path, "$.roles[999].based_on", "{e}");
    }

    #[test]
    fn size_limits_name_the_count_and_the_limit() {
        let roles: Vec<serde_json::Value> = (0..=MAX_ROLES)
            .map(|i| serde_json::json!({"name": format!("r{i}")}))
            .collect();
        let v = serde_json::json!({"format": FORMAT, "company": {"name": "Big"}, "roles": roles});
        let e = check_limits(&v).unwrap_err();
        assert_eq!(
            (e.count, e.limit, e.path),
            (MAX_ROLES + 1, MAX_ROLES, "$.roles")
        );
        assert_eq!(
            e.to_string(),
            "$.roles: the document has 100001 roles; the limit is 100000"
        );
        assert_eq!(check_limits(&minimal()), Ok(()));
    }

    fn with_shares() -> serde_json::Value {
        let mut v = minimal();
        v["record_shares"] = serde_json::json!([
            {"object_type": "deals", "record_id": "42", "role": "Staff", "scope": "role_and_subordinates",
             "access": "read_write", "valid_from": "2026-01-02T03:04:05.000000Z",
             "valid_until": "2026-02-01T00:00:00.000000Z", "note": "handover", "granted_by": 7},
            {"object_type": "deals", "record_id": "42", "user": 7, "access": "read"},
            {"object_type": "contacts", "record_id": "9", "user": 7, "access": "read",
             "valid_from": "-infinity", "valid_until": null, "granted_by": 999}
        ]);
        v
    }

    /// Shares survive serde both ways, in canonical order; a role share without a
    /// scope is `role` only in the database, the document keeps what it was given.
    #[test]
    fn record_shares_round_trip_through_serde() {
        let mut doc = parse_value(&with_shares()).unwrap();
        assert_eq!(doc.record_shares.len(), 3);
        let user_share = &doc.record_shares[1];
        assert_eq!(
            (user_share.user, &user_share.role, user_share.scope),
            (Some(7), &None, None)
        );
        assert_eq!(user_share.access, RuleAccess::Read);
        assert_eq!(
            doc.record_shares[0].scope,
            Some(RuleScope::RoleAndSubordinates)
        );
        doc.normalize();
        let order: Vec<(&str, &str, Option<i64>)> = doc
            .record_shares
            .iter()
            .map(|s| (s.object_type.as_str(), s.record_id.as_str(), s.user))
            .collect();
        assert_eq!(
            order,
            vec![
                ("contacts", "9", Some(7)),
                ("deals", "42", None),
                ("deals", "42", Some(7))
            ]
        );
        let text = serde_json::to_string(&doc).unwrap();
        let again = parse(&text).unwrap();
        assert_eq!(again, doc);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["record_shares"][0]["valid_from"], "-infinity");
        assert_eq!(
            v["record_shares"][0]["valid_until"],
            serde_json::Value::Null
        );
        assert_eq!(v["record_shares"][1]["role"], "Staff");
        assert_eq!(v["record_shares"][1]["scope"], "role_and_subordinates");
        assert_eq!(v["record_shares"][1]["access"], "read_write");
        assert_eq!(v["record_shares"][1]["granted_by"], 7);
        // Equal shares are two rows and stay two.
        let mut twice = doc.clone();
        twice.record_shares.push(twice.record_shares[0].clone());
        twice.normalize();
        assert_eq!(twice.record_shares.len(), 4);
    }

    /// A document without shares parses as before, and exports without the key.
    #[test]
    fn documents_without_shares_are_unchanged() {
        let doc = parse_value(&minimal()).unwrap();
        assert!(doc.record_shares.is_empty());
        let v = serde_json::to_value(&doc).unwrap();
        assert!(v.get("record_shares").is_none(), "{v}");
        let mut v = minimal();
        v["record_shares"] = serde_json::json!([]);
        assert_eq!(parse_value(&v).unwrap(), doc);
    }

    #[test]
    fn bad_record_shares_are_refused_at_their_path() {
        let cases: [(&str, serde_json::Value, &str); 7] = [
            (
                "both grantees",
                serde_json::json!({"user": 7, "role": "Staff"}),
                "$.record_shares[0]",
            ),
            ("no grantee", serde_json::json!({}), "$.record_shares[0]"),
            (
                "unknown role",
                serde_json::json!({"role": "Ghost"}),
                "$.record_shares[0].role",
            ),
            (
                "user of no document",
                serde_json::json!({"user": 8}),
                "$.record_shares[0].user",
            ),
            (
                "scope with a user",
                serde_json::json!({"user": 7, "scope": "role"}),
                "$.record_shares[0].scope",
            ),
            (
                "bad access",
                serde_json::json!({"user": 7, "access": "delete"}),
                "$.record_shares[0].access",
            ),
            (
                "empty id",
                serde_json::json!({"user": 7, "record_id": ""}),
                "$.record_shares[0].record_id",
            ),
        ];
        for (what, patch, path) in cases {
            let mut share =
                serde_json::json!({"object_type": "deals", "record_id": "1", "access": "read"});
            for (k, val) in patch.as_object().unwrap() {
                share[k] = val.clone();
            }
            let mut v = minimal();
            v["record_shares"] = serde_json::json!([share]);
            let e = parse_value(&v).unwrap_err();
            assert_eq!(e.path, path, "{what}: {e}");
        }
        let mut v = minimal();
        v["record_shares"] = serde_json::json!([{"object_type": "deals", "record_id": "1", "user": 7, "access": "read", "surprise": 1}]);
        assert!(parse_value(&v).unwrap_err().message.contains("surprise"));
    }

    /// The rows of the database become the document: role ids become names, the
    /// shares' object types are listed, the grantee's scope is kept.
    #[test]
    fn export_document_names_the_roles_of_shares() {
        let rows: CompanyRows = serde_json::from_value(serde_json::json!({
            "company": {"id": 1, "name": "Acme"},
            "object_types": [
                {"name": "deals", "org_wide_default": "private", "grant_via_hierarchy": true},
                {"name": "tickets", "org_wide_default": "private", "grant_via_hierarchy": false},
                {"name": "unused", "org_wide_default": "private", "grant_via_hierarchy": true}
            ],
            "roles": [{"id": 5, "name": "Staff", "description": null, "reports_to": null, "based_on": null,
                       "is_admin": false, "is_default": true, "is_protected": false}],
            "role_permissions": [], "role_privileges": [],
            "users": [{"id": 7, "name": "ann", "status": "active", "is_superuser": false,
                       "is_super_company_member": false, "db_role": null}],
            "user_roles": [{"user_id": 7, "role_id": 5, "assigned_at": null}],
            "sharing_rules": [], "agreements": [], "agreement_permissions": [],
            "record_shares": [
                {"object_type": "tickets", "record_id": "3", "user_id": null, "role_id": 5, "scope": "role",
                 "access": "read_write", "valid_from": "2026-01-02T03:04:05.000000Z", "valid_until": "infinity",
                 "note": null, "granted_by": null},
                {"object_type": "deals", "record_id": "1", "user_id": 7, "role_id": null, "scope": null,
                 "access": "read", "valid_from": "2026-01-02T03:04:05.000000Z", "valid_until": null,
                 "note": "n", "granted_by": 7}
            ]
        }))
        .unwrap();
        let doc = export_document(&rows).unwrap();
        let types: Vec<&str> = doc.object_types.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(types, vec!["deals", "tickets"]);
        assert_eq!(doc.record_shares[0].user, Some(7));
        assert_eq!(doc.record_shares[1].role.as_deref(), Some("Staff"));
        assert_eq!(doc.record_shares[1].scope, Some(RuleScope::Role));
        assert_eq!(
            doc.record_shares[1].valid_until.as_deref(),
            Some("infinity")
        );
        validate(&doc).unwrap();
        // Rows from before record shares existed have no key at all.
        let rows: CompanyRows = serde_json::from_value(rows_without_shares()).unwrap();
        assert!(export_document(&rows).unwrap().record_shares.is_empty());
    }

    fn rows_without_shares() -> serde_json::Value {
        serde_json::json!({
            "company": {"id": 1, "name": "Acme"}, "object_types": [], "roles": [],
            "role_permissions": [], "role_privileges": [], "users": [], "user_roles": [],
            "sharing_rules": [], "agreements": [], "agreement_permissions": []
        })
    }

    #[test]
    fn the_share_limit_is_checked_on_the_raw_document() {
        let shares = vec![serde_json::Value::Null; MAX_RECORD_SHARES + 1];
        let v = serde_json::json!({"format": FORMAT, "record_shares": shares});
        let e = check_limits(&v).unwrap_err();
        assert_eq!(e.path, "$.record_shares");
        assert_eq!(e.count, MAX_RECORD_SHARES + 1);
    }

    /// Validation and ordering times of long chains (not asserted):
    /// `cargo test --lib validation_times -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn validation_times() {
        for n in [8_000, 100_000] {
            for field in [Some("based_on"), None] {
                let text = serde_json::to_string(&chain(n, field)).unwrap();
                let start = std::time::Instant::now();
                let doc = parse(&text).unwrap();
                let parsed = start.elapsed();
                let order = doc.role_indexes_in_dependency_order();
                assert_eq!(order.len(), n);
                println!(
                    "{n} roles ({}): parse + validate {parsed:?}, with the order {:?}",
                    field.unwrap_or("alternating"),
                    start.elapsed()
                );
            }
        }
    }

    #[test]
    fn is_copyable_defaults_to_true_and_is_written_only_when_false() {
        let mut v = minimal();
        v["roles"][0]["is_copyable"] = false.into();
        let doc = parse_value(&v).unwrap();
        assert!(!doc.roles[0].is_copyable);
        assert!(doc.roles[1].is_copyable);
        let back = serde_json::to_value(&doc).unwrap();
        assert_eq!(back["roles"][0]["is_copyable"], serde_json::json!(false));
        assert!(back["roles"][1].get("is_copyable").is_none());
        // Rows without the column (rendered before it existed) are copyable.
        let raw: RawRole = serde_json::from_value(serde_json::json!({
            "id": 1, "name": "A", "description": null, "reports_to": null, "based_on": null,
            "is_admin": false, "is_default": true, "is_protected": false
        }))
        .unwrap();
        assert!(raw.is_copyable);
    }

    #[test]
    fn object_type_differences_name_each_setting() {
        let t = |name: &str, owd: OrgWideDefault, via: bool| ObjectTypeDoc {
            name: name.into(),
            org_wide_default: owd,
            grant_via_hierarchy: via,
        };
        let existing = [
            t("deals", OrgWideDefault::Private, true),
            t("contacts", OrgWideDefault::PublicRead, true),
            t("tasks", OrgWideDefault::Private, false),
        ];
        let document = [
            t("contacts", OrgWideDefault::PublicReadWrite, false),
            t("deals", OrgWideDefault::Private, true),
            t("leads", OrgWideDefault::PublicRead, false),
            t("tasks", OrgWideDefault::Private, true),
        ];
        let d = object_type_differences(&existing, &document);
        let got: Vec<(usize, &str, &str, &str, &str)> = d
            .iter()
            .map(|x| {
                (
                    x.index,
                    x.object_type.as_str(),
                    x.setting,
                    x.existing.as_str(),
                    x.document.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    0,
                    "contacts",
                    "org_wide_default",
                    "public_read",
                    "public_read_write"
                ),
                (0, "contacts", "grant_via_hierarchy", "true", "false"),
                (3, "tasks", "grant_via_hierarchy", "false", "true"),
            ]
        );
        assert_eq!(
            d[0].to_string(),
            "$.object_types[0]: object type \"contacts\" keeps org_wide_default = public_read (the document has public_read_write)"
        );
        assert!(object_type_differences(&existing, &[]).is_empty());
    }
}
