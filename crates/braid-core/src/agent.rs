//! Agents work tickets; admins also manage agents, teams and API keys.

use serde::{Deserialize, Serialize};

use crate::{InvalidValue, text_enum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Agent,
}

text_enum!(Role, "role", { Admin => "admin", Agent => "agent" });

/// A display name for an agent or team: shown to customers in outbound mail, so it is
/// one line with no control characters (header injection starts with a newline).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct AgentName(String);

impl AgentName {
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let name = input.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(InvalidValue::new("name", "a name is 1 to 100 characters"));
        }
        if name.chars().any(|c| c.is_control() || crate::text::disguises(c)) {
            return Err(InvalidValue::new(
                "name",
                "a name cannot contain control characters, line breaks, direction overrides or zero-width spaces",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_line() {
        assert_eq!(AgentName::parse(" Ana ").unwrap().as_str(), "Ana");
        assert!(AgentName::parse("Ana\r\nBcc: x@y.z").is_err());
        assert!(AgentName::parse("").is_err());
        assert_eq!("admin".parse::<Role>(), Ok(Role::Admin));
    }
}
