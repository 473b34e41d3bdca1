//! The vocabulary of the sharing model: levels, actions, statuses and the other
//! closed sets that appear as text in the `sharing` tables.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A value that is not one of the accepted words for its column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} \"{value}\" (expected one of: {expected})")]
pub struct ParseError {
    pub kind: &'static str,
    pub value: String,
    pub expected: &'static str,
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration (and therefore `Ord`) order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(ParseError {
                        kind: $kind,
                        value: s.to_string(),
                        expected: concat!($($text, " "),+),
                    }),
                }
            }
        }
    };
}

text_enum!(
    /// How much of a record type a role may touch. Ordered: `None < Owned < All`.
    /// One byte (`repr(u8)`): level rows are stored in model images.
    #[repr(u8)]
    Level, "level", { None => "none", Owned => "owned", All => "all" }
);

text_enum!(
    /// What a user does to a record.
    Action, "action", { Create => "create", View => "view", Edit => "edit", Delete => "delete" }
);

text_enum!(
    /// A user's lifecycle state; only `Active` users have any permission.
    #[repr(u8)]
    Status, "status", { Active => "active", Pending => "pending", Disabled => "disabled" }
);

text_enum!(
    /// Organization-wide default of an object type.
    #[repr(u8)]
    OrgWideDefault, "org_wide_default", {
        Private => "private", PublicRead => "public_read", PublicReadWrite => "public_read_write"
    }
);

text_enum!(
    /// Access granted by a sharing rule.
    RuleAccess, "access", { Read => "read", ReadWrite => "read_write" }
);

text_enum!(
    /// Which users of a rule's role are covered.
    RuleScope, "scope", { Role => "role", RoleAndSubordinates => "role_and_subordinates" }
);

impl Action {
    /// Index into a `[Level; 4]` row.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl OrgWideDefault {
    /// Does this default open `action` on every record of the type to every user
    /// who holds at least `owned` for it?
    pub fn covers(self, action: Action) -> bool {
        matches!(
            (self, action),
            (OrgWideDefault::PublicRead, Action::View)
                | (OrgWideDefault::PublicReadWrite, Action::View)
                | (OrgWideDefault::PublicReadWrite, Action::Edit)
        )
    }
}

impl RuleAccess {
    /// `read` covers `view`; `read_write` covers `view` and `edit`.
    pub fn covers(self, action: Action) -> bool {
        matches!(
            (self, action),
            (_, Action::View) | (RuleAccess::ReadWrite, Action::Edit)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered() {
        assert!(Level::None < Level::Owned && Level::Owned < Level::All);
        assert_eq!(Level::ALL.iter().max(), Some(&Level::All));
    }

    #[test]
    fn words_round_trip_and_bad_words_name_the_value() {
        for a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>().unwrap(), *a);
        }
        let err = "VIEW".parse::<Action>().unwrap_err();
        assert!(err.to_string().contains("\"VIEW\""), "{err}");
        assert_eq!(
            "public_read_write".parse::<OrgWideDefault>().unwrap(),
            OrgWideDefault::PublicReadWrite
        );
    }

    #[test]
    fn coverage_of_defaults_and_rules() {
        assert!(OrgWideDefault::PublicRead.covers(Action::View));
        assert!(!OrgWideDefault::PublicRead.covers(Action::Edit));
        assert!(OrgWideDefault::PublicReadWrite.covers(Action::Edit));
        assert!(!OrgWideDefault::PublicReadWrite.covers(Action::Delete));
        assert!(!OrgWideDefault::Private.covers(Action::View));
        assert!(RuleAccess::Read.covers(Action::View));
        assert!(!RuleAccess::Read.covers(Action::Edit));
        assert!(RuleAccess::ReadWrite.covers(Action::Edit));
        assert!(!RuleAccess::ReadWrite.covers(Action::Delete));
        assert!(!RuleAccess::ReadWrite.covers(Action::Create));
    }
}
