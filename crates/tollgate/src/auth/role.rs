//! Roles of callers (LiteLLM's `user_role`) and of team members.

use std::fmt;

/// A caller's role on the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    ProxyAdmin,
    ProxyAdminViewer,
    OrgAdmin,
    InternalUser,
    InternalUserViewer,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::ProxyAdmin,
        Role::ProxyAdminViewer,
        Role::OrgAdmin,
        Role::InternalUser,
        Role::InternalUserViewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::ProxyAdmin => "proxy_admin",
            Role::ProxyAdminViewer => "proxy_admin_viewer",
            Role::OrgAdmin => "org_admin",
            Role::InternalUser => "internal_user",
            Role::InternalUserViewer => "internal_user_viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Roles that see everything.
    pub fn is_admin(self) -> bool {
        matches!(self, Role::ProxyAdmin | Role::ProxyAdminViewer)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Roles inside a team.
pub const TEAM_ROLES: [&str; 2] = ["admin", "user"];

/// Roles inside an organization.
pub const ORG_ROLES: [&str; 3] = ["org_admin", "internal_user", "internal_user_viewer"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
