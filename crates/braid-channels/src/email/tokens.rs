//! Signed reply tokens: replies go out with `Reply-To: support+1042-3f9c0a1b2c4d@domain`.
//! A customer answering from any address, or a colleague they forwarded to, lands in
//! ticket #1042 — only because the token is signed (HMAC-SHA256 with a key Braid keeps),
//! so nobody can mint one for a ticket that is not theirs.

use braid_core::TicketNumber;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::blobs::hex;

/// Hex digits of the signature kept in the address: 48 bits, unguessable online.
const MAC_HEX: usize = 12;

#[derive(Clone)]
pub struct ReplyTokens {
    key: Vec<u8>,
    local: String,
    domain: String,
}

impl std::fmt::Debug for ReplyTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyTokens")
            .field("address", &format!("{}@{}", self.local, self.domain))
            .finish_non_exhaustive()
    }
}

impl ReplyTokens {
    /// Tokens on the support address `support_address`, signed with `key`.
    pub fn new(key: &[u8], support_address: &str) -> Self {
        let (local, domain) = support_address.rsplit_once('@').unwrap_or((support_address, "braid.localhost"));
        Self { key: key.to_vec(), local: local.to_ascii_lowercase(), domain: domain.to_ascii_lowercase() }
    }

    fn mac(&self, number: TicketNumber) -> String {
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => return String::new(),
        };
        mac.update(format!("braid-reply:{}", number.get()).as_bytes());
        hex(&mac.finalize().into_bytes())[..MAC_HEX].to_owned()
    }

    /// The Reply-To address for ticket `number`.
    pub fn address(&self, number: TicketNumber) -> String {
        format!("{}+{}-{}@{}", self.local, number.get(), self.mac(number), self.domain)
    }

    /// The ticket a recipient address names, when it carries a valid token.
    pub fn verify(&self, address: &str) -> Option<TicketNumber> {
        let (local, domain) = address.trim().rsplit_once('@')?;
        if !domain.eq_ignore_ascii_case(&self.domain) {
            return None;
        }
        let token = local.to_ascii_lowercase().strip_prefix(&format!("{}+", self.local))?.to_owned();
        let (number, mac) = token.split_once('-')?;
        let number = TicketNumber::parse(number).ok()?;
        let expected = self.mac(number);
        bool::from(mac.as_bytes().ct_eq(expected.as_bytes())).then_some(number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_address_verifies_to_its_ticket_and_forgeries_do_not() {
        let tokens = ReplyTokens::new(b"key", "Support@Braid.test");
        let number = TicketNumber::new(1042).unwrap();
        let address = tokens.address(number);
        assert!(address.starts_with("support+1042-") && address.ends_with("@braid.test"), "{address}");
        assert_eq!(tokens.verify(&address), Some(number));
        assert_eq!(tokens.verify(&address.to_uppercase()), Some(number), "case does not matter");
        let forged = address.replace("+1042-", "+1043-");
        assert_eq!(tokens.verify(&forged), None, "another ticket's number with this signature");
        assert_eq!(ReplyTokens::new(b"other key", "support@braid.test").verify(&address), None);
        assert_eq!(tokens.verify(&address.replace("braid.test", "evil.test")), None);
        assert_eq!(tokens.verify("support@braid.test"), None);
    }
}
