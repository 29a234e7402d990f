//! Who may do what. Agents act by role; integrations act through API keys with scopes.

use serde::{Deserialize, Serialize};

use crate::{Role, text_enum};

/// What an API key may do. `admin` implies every other scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "tickets:read")]
    TicketsRead,
    #[serde(rename = "tickets:write")]
    TicketsWrite,
    #[serde(rename = "customers:read")]
    CustomersRead,
    #[serde(rename = "customers:write")]
    CustomersWrite,
    /// The event log as a feed (`GET /v1/events`): every change, customers' data included.
    #[serde(rename = "events:read")]
    EventsRead,
    #[serde(rename = "admin")]
    Admin,
}

text_enum!(Scope, "scopes", {
    TicketsRead => "tickets:read", TicketsWrite => "tickets:write",
    CustomersRead => "customers:read", CustomersWrite => "customers:write",
    EventsRead => "events:read", Admin => "admin",
});

impl Scope {
    /// Whether an agent of `role` holds this scope: agents work tickets and customers,
    /// admins also manage agents, teams and keys.
    pub fn granted_to(self, role: Role) -> bool {
        role == Role::Admin || self != Scope::Admin
    }

    /// Whether a key holding `held` may act with this scope.
    pub fn granted_by(self, held: &[Scope]) -> bool {
        held.contains(&Scope::Admin) || held.contains(&self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_hold_every_scope_but_admin() {
        for &scope in Scope::ALL {
            assert_eq!(scope.granted_to(Role::Agent), scope != Scope::Admin, "{scope}");
            assert!(scope.granted_to(Role::Admin));
        }
    }

    #[test]
    fn an_admin_key_implies_every_scope_and_others_only_themselves() {
        for &scope in Scope::ALL {
            assert!(scope.granted_by(&[Scope::Admin]));
        }
        assert!(Scope::TicketsRead.granted_by(&[Scope::TicketsRead]));
        assert!(!Scope::TicketsWrite.granted_by(&[Scope::TicketsRead]));
        assert!(!Scope::CustomersRead.granted_by(&[]));
    }
}
