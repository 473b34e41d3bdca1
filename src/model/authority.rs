//! No escalation (docs/security.md, "The trust model"): what an acting viewer may change in the sharing
//! configuration. Every function answers for one viewer of one [`Org`]; a session
//! without a viewer (a DBA) never reaches this module.

use super::org::Org;
use super::perms::{role_permissions, user_permissions, PermissionSet};
use super::privileges::is_system_privilege;
use super::types::{Action, Level, Status};

/// A refusal; always `insufficient_privilege` on the SQL side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub message: String,
    pub hint: Option<String>,
}

fn deny(message: String, hint: Option<&str>) -> Denial {
    Denial {
        message,
        hint: hint.map(str::to_string),
    }
}

/// The acting viewer, resolved against the org.
pub struct Actor<'a> {
    pub org: &'a Org,
    pub user_id: i64,
    pub company_id: i64,
    pub super_member: bool,
    pub perms: PermissionSet,
}

impl<'a> Actor<'a> {
    /// Resolve a viewer; inactive or unknown viewers may change nothing.
    pub fn resolve(org: &'a Org, user_id: i64) -> Result<Actor<'a>, Denial> {
        let Some(user) = org.user(user_id) else {
            return Err(deny(
                format!("viewer {user_id} is not a user of sharing.users"),
                None,
            ));
        };
        if user.status != Status::Active {
            return Err(deny(
                format!(
                    "viewer {user_id} is {} and may not change the sharing configuration",
                    user.status
                ),
                Some("only active users act; a DBA session without sharing.viewer is not limited"),
            ));
        }
        Ok(Actor {
            org,
            user_id,
            company_id: user.company_id,
            super_member: user.is_super_company_member,
            perms: user_permissions(org, user_id),
        })
    }

    pub fn is_superuser(&self) -> bool {
        self.perms.superuser
    }

    /// The viewer may act on `company` (their own, or any for a super company member
    /// when `allow_super_member`).
    pub fn require_company(&self, company: i64, allow_super_member: bool) -> Result<(), Denial> {
        if self.is_superuser()
            || company == self.company_id
            || (allow_super_member && self.super_member)
        {
            return Ok(());
        }
        Err(deny(
            format!(
                "viewer {} of company {} may not change the configuration of company {company}",
                self.user_id, self.company_id
            ),
            None,
        ))
    }

    /// `manage_roles`, `manage_users`, `manage_sharing`, `admin`…, optionally for a company.
    pub fn require_privilege(
        &self,
        privilege: &str,
        company: Option<i64>,
        allow_super_member: bool,
    ) -> Result<(), Denial> {
        if let Some(c) = company {
            self.require_company(c, allow_super_member)?;
        }
        if self.perms.has_privilege(privilege) {
            return Ok(());
        }
        Err(deny(
            format!(
                "viewer {} lacks the privilege \"{privilege}\"",
                self.user_id
            ),
            Some(&format!(
                "a role with \"{privilege}\" (or an admin role) must be assigned to user {} first",
                self.user_id
            )),
        ))
    }

    pub fn require_superuser(&self) -> Result<(), Denial> {
        if self.is_superuser() {
            return Ok(());
        }
        Err(deny(
            format!("viewer {} is not a superuser", self.user_id),
            Some("only superusers (or a DBA session without sharing.viewer) may change this"),
        ))
    }

    /// Granting `level` for (`object_type`, `action`); `None` type means every type.
    pub fn require_level(
        &self,
        object_type: Option<&str>,
        action: Action,
        level: Level,
    ) -> Result<(), Denial> {
        let types: Vec<&str> = match object_type {
            Some(t) => vec![t],
            None => self.org.object_type_names().collect(),
        };
        for t in types {
            let held = self.perms.level(t, action);
            if level > held {
                return Err(deny(
                    format!(
                        "viewer {} cannot grant level \"{level}\" for {action} on \"{t}\": their own level is \"{held}\"",
                        self.user_id
                    ),
                    Some("you can grant only levels you hold yourself"),
                ));
            }
        }
        Ok(())
    }

    pub fn require_grantable_privilege(&self, privilege: &str) -> Result<(), Denial> {
        if self.perms.has_privilege(privilege)
            || (self.perms.admin && !is_system_privilege(privilege))
        {
            return Ok(());
        }
        Err(deny(
            format!(
                "viewer {} cannot grant the privilege \"{privilege}\" they do not hold",
                self.user_id
            ),
            Some("you can grant only privileges you hold yourself"),
        ))
    }

    /// Assigning a role, or basing a role on it: everything it gives must be held.
    pub fn require_role_within(&self, role_id: i64) -> Result<(), Denial> {
        let Some(role) = self.org.role(role_id) else {
            return Ok(()); // the foreign key reports a missing role
        };
        if let Some(excess) = self
            .perms
            .first_excess(&role_permissions(self.org, role_id))
        {
            return Err(deny(
                format!(
                    "viewer {} cannot hand out role \"{}\" ({role_id}): it gives {excess}",
                    self.user_id, role.name
                ),
                Some("you can assign or inherit only roles within your own permissions"),
            ));
        }
        Ok(())
    }

    /// The roles strictly above the viewer's own roles in the hierarchy.
    fn roles_above_me(&self) -> std::collections::HashSet<i64> {
        let mut above = std::collections::HashSet::new();
        for &r in self.org.roles_of(self.user_id) {
            let mut at = self.org.role(r).and_then(|x| x.reports_to);
            while let Some(id) = at {
                if !above.insert(id) {
                    break;
                }
                at = self.org.role(id).and_then(|x| x.reports_to);
            }
        }
        above
    }

    /// Changing or deleting a role (its permissions, privileges, place or flags): it
    /// must give nothing beyond the viewer's own permissions and must not be above
    /// the viewer's own roles — a delegated administrator never demotes a superior's
    /// role (docs/security.md).
    pub fn require_role_changeable(&self, role_id: i64) -> Result<(), Denial> {
        if self.perms.admin {
            return Ok(());
        }
        if let Some(role) = self.org.role(role_id) {
            if self.roles_above_me().contains(&role_id) {
                return Err(deny(
                    format!(
                        "viewer {} cannot change role \"{}\" ({role_id}): it is above their own in the hierarchy",
                        self.user_id, role.name
                    ),
                    Some("roles above yours are changed by an administrator"),
                ));
            }
        }
        self.require_role_within(role_id)
    }

    /// Acting on an existing user (their row, status or memberships): everything they
    /// hold must be within the viewer's own permissions, and they must not be above
    /// the viewer in the hierarchy; oneself is always within.
    pub fn require_user_within(&self, user_id: i64) -> Result<(), Denial> {
        if user_id == self.user_id || self.org.user(user_id).is_none() || self.perms.admin {
            return Ok(());
        }
        let above = self.roles_above_me();
        if self.org.roles_of(user_id).iter().any(|r| above.contains(r)) {
            return Err(deny(
                format!(
                    "viewer {} cannot change user {user_id}, who is above them in the hierarchy",
                    self.user_id
                ),
                Some("users above you are changed by an administrator"),
            ));
        }
        if let Some(excess) = self
            .perms
            .first_excess(&user_permissions(self.org, user_id))
        {
            return Err(deny(
                format!(
                    "viewer {} cannot change user {user_id}, who holds {excess}",
                    self.user_id
                ),
                Some("users who hold more than you (an admin, a superior with more privileges) are changed by an administrator"),
            ));
        }
        Ok(())
    }

    /// Handing over (or giving up) the ownership of `company`, now owned by `owner`:
    /// its owner or a superuser (a DBA session never reaches this) — the new owner
    /// gets admin rights in the company (docs/concepts.md, "The company owner").
    pub fn require_ownership_transfer(
        &self,
        company: i64,
        owner: Option<i64>,
    ) -> Result<(), Denial> {
        if self.is_superuser() || owner == Some(self.user_id) {
            return Ok(());
        }
        let whose = match owner {
            Some(o) => format!("it is owned by user {o}"),
            None => "it has no owner".to_string(),
        };
        Err(deny(
            format!(
                "viewer {} may not hand over the ownership of company {company}: {whose}",
                self.user_id
            ),
            Some("only the owner, a superuser or a DBA session may; the new owner gets admin rights in the company"),
        ))
    }

    /// What only `user` may do to themselves (deleting, disabling or moving a
    /// company's owner): superusers included, nobody else but a DBA session.
    pub fn require_self(&self, user: i64, what: &str) -> Result<(), Denial> {
        if user == self.user_id {
            return Ok(());
        }
        Err(deny(
            format!("viewer {} may not {what}", self.user_id),
            Some("only the owner themselves or a DBA session may; the owner may first hand over with sharing.transfer_ownership()"),
        ))
    }

    /// Invariant 6: agreements are created and changed from the grantor company only.
    pub fn require_grantor(&self, grantor: i64, grantee: i64) -> Result<(), Denial> {
        self.require_privilege("manage_sharing", None, false)?;
        if self.is_superuser() || self.company_id == grantor {
            return Ok(());
        }
        let side = if self.company_id == grantee {
            "the grantee"
        } else {
            "a third company"
        };
        Err(deny(
            format!(
                "the agreement from company {grantor} to company {grantee} can only be created or changed by company {grantor}; viewer {} belongs to company {} ({side})",
                self.user_id, self.company_id
            ),
            Some("agreements are managed from the grantor company; the grantee sees them in sharing.shared_with_you"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::org::*;
    use crate::model::types::*;

    fn org() -> Org {
        let mut s = OrgSnapshot::default();
        s.object_types.push(ObjectTypeRow {
            name: "deals".into(),
            org_wide_default: OrgWideDefault::Private,
            grant_via_hierarchy: true,
        });
        for (id, company, name, admin) in [
            (1, 1, "Administrator", true),
            (2, 1, "Manager", false),
            (3, 1, "User", false),
            (4, 2, "Administrator", true),
        ] {
            s.roles.push(RoleRow {
                id,
                company_id: company,
                name: name.into(),
                reports_to: None,
                based_on: None,
                is_admin: admin,
                is_default: false,
            });
        }
        for (role, level) in [(2, Level::All), (3, Level::Owned)] {
            for a in Action::ALL {
                s.role_permissions.push(RolePermissionRow {
                    role_id: role,
                    object_type: "deals".into(),
                    action: *a,
                    level,
                });
            }
        }
        s.role_privileges.push(RolePrivilegeRow {
            role_id: 2,
            privilege: "manage_users".into(),
        });
        for (id, company, status, role) in [
            (10, 1, Status::Active, 1),
            (11, 1, Status::Active, 2),
            (12, 1, Status::Active, 3),
            (13, 1, Status::Pending, 1),
            (20, 2, Status::Active, 4),
        ] {
            s.users.push(UserRow {
                id,
                company_id: company,
                name: None,
                status,
                is_superuser: false,
                is_super_company_member: false,
            });
            s.user_roles.push(UserRoleRow {
                user_id: id,
                role_id: role,
            });
        }
        Org::new(s)
    }

    #[test]
    fn managers_assign_only_roles_within_their_permissions() {
        let org = org();
        let manager = Actor::resolve(&org, 11).unwrap();
        assert!(manager
            .require_privilege("manage_users", Some(1), true)
            .is_ok());
        assert!(manager
            .require_privilege("manage_roles", Some(1), true)
            .is_err());
        assert!(manager.require_role_within(3).is_ok());
        let err = manager.require_role_within(1).unwrap_err();
        assert!(err.message.contains("Administrator") && err.message.contains("admin flag"));
        assert!(manager
            .require_level(Some("deals"), Action::Delete, Level::All)
            .is_ok());
        let user = Actor::resolve(&org, 12).unwrap();
        let err = user
            .require_level(Some("deals"), Action::View, Level::All)
            .unwrap_err();
        assert!(err.message.contains("\"owned\""), "{}", err.message);
    }

    #[test]
    fn admins_are_bounded_by_their_company_and_inactive_viewers_by_everything() {
        let org = org();
        let admin = Actor::resolve(&org, 10).unwrap();
        assert!(admin
            .require_privilege("manage_roles", Some(1), true)
            .is_ok());
        assert!(admin
            .require_privilege("manage_roles", Some(2), true)
            .is_err());
        assert!(admin.require_grantable_privilege("app.crm").is_ok());
        assert!(admin.require_superuser().is_err());
        assert!(Actor::resolve(&org, 13).is_err());
        assert!(Actor::resolve(&org, 99).is_err());
    }

    #[test]
    fn agreements_only_from_the_grantor() {
        let org = org();
        let grantor_admin = Actor::resolve(&org, 10).unwrap();
        assert!(grantor_admin.require_grantor(1, 2).is_ok());
        let grantee_admin = Actor::resolve(&org, 20).unwrap();
        let err = grantee_admin.require_grantor(1, 2).unwrap_err();
        assert!(err.message.contains("the grantee"), "{}", err.message);
        let manager = Actor::resolve(&org, 11).unwrap();
        assert!(
            manager.require_grantor(1, 2).is_err(),
            "needs manage_sharing"
        );
    }
}
