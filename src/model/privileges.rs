//! System and custom privileges.
//!
//! A name in [`SYSTEM_PRIVILEGES`] always means the system privilege; any other
//! well-formed name is a custom privilege. Dotted custom names (`app.crm`) are
//! recommended so that a future system privilege can never collide with them.

/// The fixed list of system privileges (docs/sql-reference.md, "Tables": `privileges`).
pub const SYSTEM_PRIVILEGES: &[&str] = &[
    "admin",
    "manage_users",
    "manage_roles",
    "manage_sharing",
    "billing",
    "reports",
    "export",
    "api_tokens",
    "webhooks",
    "view_activities",
];

/// What a privilege name means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivilegeKind {
    System,
    /// A custom name; `dotted` is false for names that deserve a NOTICE.
    Custom {
        dotted: bool,
    },
}

/// Why a privilege name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrivilegeNameError {
    #[error("privilege name must not be empty")]
    Empty,
    #[error("privilege name \"{0}\" contains white space or a comma")]
    Separator(String),
    #[error("privilege name \"{0}\" is longer than 63 characters")]
    TooLong(String),
    #[error(
        "privilege name \"{given}\" differs from the system privilege \"{system}\" only by case"
    )]
    SystemCase { given: String, system: &'static str },
}

pub fn is_system_privilege(name: &str) -> bool {
    SYSTEM_PRIVILEGES.contains(&name)
}

/// Classify a privilege name, refusing names that cannot be stored.
///
/// Names that differ from a system privilege only by case are refused: they would
/// read as the system privilege to a person but be a different custom one to us.
pub fn classify_privilege(name: &str) -> Result<PrivilegeKind, PrivilegeNameError> {
    if name.is_empty() {
        return Err(PrivilegeNameError::Empty);
    }
    if name.chars().any(|c| c.is_whitespace() || c == ',') {
        return Err(PrivilegeNameError::Separator(name.to_string()));
    }
    if name.chars().count() > 63 {
        return Err(PrivilegeNameError::TooLong(name.to_string()));
    }
    if is_system_privilege(name) {
        return Ok(PrivilegeKind::System);
    }
    if let Some(system) = SYSTEM_PRIVILEGES
        .iter()
        .find(|s| s.eq_ignore_ascii_case(name))
    {
        return Err(PrivilegeNameError::SystemCase {
            given: name.to_string(),
            system,
        });
    }
    Ok(PrivilegeKind::Custom {
        dotted: name.contains('.'),
    })
}

/// The names of a privilege list as `sharing.set_role_privileges` takes it (Intum's
/// "comma- or space-separated list of names"): split on commas and white space,
/// empty pieces dropped (so `""` is no privileges and `"a,, b"` is two), each name
/// classified like a row of `role_privileges`, duplicates kept once, in the order
/// they first appear. The first bad name is the error.
pub fn parse_privilege_list(list: &str) -> Result<Vec<String>, PrivilegeNameError> {
    let mut names: Vec<String> = Vec::new();
    for name in list
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|n| !n.is_empty())
    {
        classify_privilege(name)?;
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_names_win() {
        assert_eq!(classify_privilege("billing"), Ok(PrivilegeKind::System));
        assert_eq!(
            classify_privilege("app.crm"),
            Ok(PrivilegeKind::Custom { dotted: true })
        );
        assert_eq!(
            classify_privilege("insight"),
            Ok(PrivilegeKind::Custom { dotted: false })
        );
    }

    #[test]
    fn bad_names_are_refused() {
        assert_eq!(classify_privilege(""), Err(PrivilegeNameError::Empty));
        assert!(matches!(
            classify_privilege("app crm"),
            Err(PrivilegeNameError::Separator(_))
        ));
        assert!(matches!(
            classify_privilege("a,b"),
            Err(PrivilegeNameError::Separator(_))
        ));
        assert_eq!(
            classify_privilege("Billing"),
            Err(PrivilegeNameError::SystemCase {
                given: "Billing".into(),
                system: "billing"
            })
        );
        assert!(matches!(
            classify_privilege(&"x".repeat(64)),
            Err(PrivilegeNameError::TooLong(_))
        ));
    }

    #[test]
    fn privilege_lists_split_on_commas_and_white_space() {
        assert_eq!(parse_privilege_list(""), Ok(vec![]));
        assert_eq!(parse_privilege_list(" ,\t\n, "), Ok(vec![]));
        assert_eq!(
            parse_privilege_list("reports, app.crm export\napp.crm,,reports"),
            Ok(vec!["reports".into(), "app.crm".into(), "export".into()])
        );
        assert_eq!(parse_privilege_list("insight"), Ok(vec!["insight".into()]));
        assert_eq!(
            parse_privilege_list("reports Billing"),
            Err(PrivilegeNameError::SystemCase {
                given: "Billing".into(),
                system: "billing"
            })
        );
        assert!(matches!(
            parse_privilege_list(&format!("app.crm {}", "x".repeat(64))),
            Err(PrivilegeNameError::TooLong(_))
        ));
    }
}
