//! Credentials on the wire: short-lived JWT access tokens (HS256, with a key id so keys
//! can rotate), opaque refresh tokens, and API keys. Refresh tokens and API key secrets
//! are random with 256 bits of entropy, so a plain SHA-256 of them is what gets stored.
//!
//! An access token names its session (`sid`), which the principal check looks up with the
//! agent on every request: ending the session ends the token.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use braid_core::{AgentId, Role};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const ISSUER: &str = "braid";
const AUDIENCE: &str = "braid-api";

/// The signing key and the keys still accepted for verification.
pub struct JwtKeys {
    kid: String,
    signing: EncodingKey,
    verifying: HashMap<String, DecodingKey>,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<_> = self.verifying.keys().collect();
        kids.sort();
        f.debug_struct("JwtKeys").field("kid", &self.kid).field("accepted", &kids).finish()
    }
}

impl JwtKeys {
    /// `current` signs new tokens; `retired` (key id → secret) still verifies tokens
    /// signed before a rotation, until they expire.
    pub fn new(kid: &str, current: &str, retired: &HashMap<String, String>) -> Self {
        let mut verifying: HashMap<String, DecodingKey> =
            retired.iter().map(|(kid, secret)| (kid.clone(), DecodingKey::from_secret(secret.as_bytes()))).collect();
        verifying.insert(kid.to_owned(), DecodingKey::from_secret(current.as_bytes()));
        Self { kid: kid.to_owned(), signing: EncodingKey::from_secret(current.as_bytes()), verifying }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    /// The session (refresh-token family) the token belongs to.
    pub sid: String,
}

pub fn issue_access_token(
    keys: &JwtKeys,
    agent: AgentId,
    role: Role,
    session: &str,
    ttl: Duration,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = Utc::now().timestamp();
    let claims = Claims {
        sub: agent.to_string(),
        sid: session.to_owned(),
        role: role.as_str().to_owned(),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        iat: now,
        exp: now + ttl.num_seconds(),
    };
    let header = Header { kid: Some(keys.kid.clone()), ..Header::new(Algorithm::HS256) };
    jsonwebtoken::encode(&header, &claims, &keys.signing)
}

/// What a valid access token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub agent: AgentId,
    pub session: String,
    /// When it was issued, in seconds since the epoch.
    pub issued_at: i64,
}

/// What a valid token says. Only HS256 with a known key id is accepted: `alg:none`,
/// other algorithms, unknown keys, bad signatures, expired tokens and tokens without a
/// session all fail.
pub fn verify_access_token(keys: &JwtKeys, token: &str) -> Option<Verified> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    if header.alg != Algorithm::HS256 {
        return None;
    }
    let key = keys.verifying.get(header.kid.as_deref()?)?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Claims>(token, key, &validation).ok()?.claims;
    Some(Verified { agent: claims.sub.parse().ok()?, session: claims.sid, issued_at: claims.iat })
}

/// A chat visitor's token: which visitor of which site. Signed with the agents' keys but
/// for another audience, so neither kind of token passes for the other.
#[derive(Debug, Serialize, Deserialize)]
pub struct VisitorClaims {
    pub sub: String,
    pub site: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

const VISITOR_AUDIENCE: &str = "braid-widget";

pub fn issue_visitor_token(
    keys: &JwtKeys,
    visitor: braid_core::VisitorId,
    site: braid_core::SiteId,
    ttl: Duration,
) -> Result<(String, i64), jsonwebtoken::errors::Error> {
    let now = Utc::now().timestamp();
    let claims = VisitorClaims {
        sub: visitor.to_string(),
        site: site.to_string(),
        iss: ISSUER.into(),
        aud: VISITOR_AUDIENCE.into(),
        iat: now,
        exp: now + ttl.num_seconds(),
    };
    let header = Header { kid: Some(keys.kid.clone()), ..Header::new(Algorithm::HS256) };
    Ok((jsonwebtoken::encode(&header, &claims, &keys.signing)?, claims.exp))
}

/// The visitor and site a visitor token names. `expired_grace`: how long after expiry it
/// still counts (a session refresh takes an expired token; every other call takes none).
pub fn verify_visitor_token(
    keys: &JwtKeys,
    token: &str,
    expired_grace: Duration,
) -> Option<(braid_core::VisitorId, braid_core::SiteId)> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    if header.alg != Algorithm::HS256 {
        return None;
    }
    let key = keys.verifying.get(header.kid.as_deref()?)?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = u64::try_from(expired_grace.num_seconds()).unwrap_or(0);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[VISITOR_AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<VisitorClaims>(token, key, &validation).ok()?.claims;
    Some((claims.sub.parse().ok()?, claims.site.parse().ok()?))
}

/// A form token: proof that a page fetched the form before posting it, and when. Signed
/// with the agents' keys for an audience of its own, so it passes for no other token.
#[derive(Debug, Serialize, Deserialize)]
struct FormClaims {
    /// The form.
    sub: String,
    /// The token's own id: a submission's channel reference, so one token's post twice
    /// is one message.
    jti: String,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
    /// When it was issued, in milliseconds: a fill time of a few seconds needs better
    /// than `iat`'s whole seconds.
    issued_ms: i64,
}

const FORM_AUDIENCE: &str = "braid-form";

/// A token for `form`, issued now; valid for [`braid_core::form::TOKEN_MAX_AGE`].
pub fn issue_form_token(keys: &JwtKeys, form: braid_core::FormId) -> Result<String, jsonwebtoken::errors::Error> {
    let now = Utc::now();
    let claims = FormClaims {
        sub: form.to_string(),
        jti: random_token()[..16].to_owned(),
        iss: ISSUER.into(),
        aud: FORM_AUDIENCE.into(),
        iat: now.timestamp(),
        exp: now.timestamp() + braid_core::form::TOKEN_MAX_AGE.num_seconds(),
        issued_ms: now.timestamp_millis(),
    };
    let header = Header { kid: Some(keys.kid.clone()), ..Header::new(Algorithm::HS256) };
    jsonwebtoken::encode(&header, &claims, &keys.signing)
}

/// A form token's form, id and issue time, when its signature is ours. Its age is judged
/// by the spam rules (`braid_core::form::fill_time`), not here.
pub fn read_form_token(keys: &JwtKeys, token: &str) -> Option<(braid_core::FormId, String, DateTime<Utc>)> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    if header.alg != Algorithm::HS256 {
        return None;
    }
    let key = keys.verifying.get(header.kid.as_deref()?)?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[FORM_AUDIENCE]);
    validation.set_required_spec_claims(&["iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<FormClaims>(token, key, &validation).ok()?.claims;
    let jti = claims.jti;
    if jti.is_empty() || jti.len() > 64 || !jti.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return None;
    }
    Some((claims.sub.parse().ok()?, jti, DateTime::from_timestamp_millis(claims.issued_ms)?))
}

/// What a site's own backend says about its user, in a token signed with the site's
/// secret.
#[derive(Debug, Deserialize)]
pub struct IdentityClaims {
    pub sub: Option<String>,
    pub exp: i64,
    pub iat: Option<i64>,
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    pub name: Option<String>,
}

/// Checks a site's identity token: HS256 only (`alg:none` and every other algorithm are
/// refused), a `kid` naming one of `secrets`, a good signature, `exp` required. The
/// lifetime rule is the caller's (`braid_core::chat::check_lifetime`).
pub fn verify_identity_token(
    secrets: &[(String, String)],
    token: &str,
) -> Result<IdentityClaims, braid_core::chat::TokenRefusal> {
    use braid_core::chat::TokenRefusal;
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenRefusal::Signature)?;
    if header.alg != Algorithm::HS256 {
        return Err(TokenRefusal::Signature);
    }
    let kid = header.kid.ok_or(TokenRefusal::Signature)?;
    let (_, secret) = secrets.iter().find(|(k, _)| *k == kid).ok_or(TokenRefusal::Signature)?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.validate_aud = false;
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["exp"]);
    jsonwebtoken::decode::<IdentityClaims>(token, &DecodingKey::from_secret(secret.as_bytes()), &validation)
        .map(|data| data.claims)
        .map_err(|error| match error.kind() {
            // The signature held (it is checked first): the claims are what is wrong.
            jsonwebtoken::errors::ErrorKind::MissingRequiredClaim(_) | jsonwebtoken::errors::ErrorKind::Json(_) => {
                TokenRefusal::Claims
            }
            _ => TokenRefusal::Signature,
        })
}

/// The key that derives a refresh token's successor from the token itself.
pub struct SuccessorKey(Vec<u8>);

impl SuccessorKey {
    pub fn new(secret: &[u8]) -> Self {
        Self(secret.to_vec())
    }

    /// The successor of refresh token `presented`: HMAC-SHA256 under this key. Deriving it
    /// (rather than drawing it at random) lets a repeat of the same refresh within the
    /// grace period be handed the same successor without storing any token in a form that
    /// can be read back: the database keeps only SHA-256 hashes, and without this key a
    /// copy of it derives nothing. Whoever holds the presented token during the grace
    /// period can get its successor, which is what a grace period means.
    pub fn successor(&self, presented: &str) -> String {
        // HMAC takes keys of any length; this cannot fail.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(presented.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

impl std::fmt::Debug for SuccessorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SuccessorKey(..)")
    }
}

/// 32 random bytes, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn sha256_hex(value: &str) -> String {
    Sha256::digest(value.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// API keys read `brd_<prefix>_<secret>`: the prefix finds the key, the secret proves it.
pub const API_KEY_PREFIX: &str = "brd_";

pub struct NewApiKey {
    pub prefix: String,
    pub secret_hash: String,
    /// Shown once, never stored.
    pub token: String,
}

impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiKey").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

pub fn new_api_key() -> NewApiKey {
    let mut prefix_bytes = [0u8; 6];
    rand::thread_rng().fill_bytes(&mut prefix_bytes);
    let prefix: String = prefix_bytes.iter().map(|b| format!("{b:02x}")).collect();
    let secret = random_token();
    NewApiKey { token: format!("{API_KEY_PREFIX}{prefix}_{secret}"), secret_hash: sha256_hex(&secret), prefix }
}

/// Splits a presented API key into its prefix and secret.
pub fn split_api_key(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(API_KEY_PREFIX)?;
    let (prefix, secret) = rest.split_once('_')?;
    (prefix.len() == 12 && !secret.is_empty()).then_some((prefix, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new("k2", "current secret", &HashMap::from([("k1".to_owned(), "old secret".to_owned())]))
    }

    #[test]
    fn a_token_verifies_to_its_agent() {
        let agent = AgentId::new();
        let token = issue_access_token(&keys(), agent, Role::Agent, "s1", Duration::minutes(5)).unwrap();
        assert_eq!(verify_access_token(&keys(), &token).map(|v| (v.agent, v.session)), Some((agent, "s1".into())));
    }

    #[test]
    fn tokens_of_a_retired_key_still_verify_and_unknown_keys_do_not() {
        let agent = AgentId::new();
        let old = JwtKeys::new("k1", "old secret", &HashMap::new());
        let token = issue_access_token(&old, agent, Role::Agent, "s1", Duration::minutes(5)).unwrap();
        assert_eq!(verify_access_token(&keys(), &token).map(|v| (v.agent, v.session)), Some((agent, "s1".into())));
        let stranger = JwtKeys::new("k9", "other", &HashMap::new());
        let token = issue_access_token(&stranger, agent, Role::Agent, "s1", Duration::minutes(5)).unwrap();
        assert_eq!(verify_access_token(&keys(), &token), None);
    }

    #[test]
    fn expired_and_tampered_tokens_fail() {
        let agent = AgentId::new();
        let expired = issue_access_token(&keys(), agent, Role::Agent, "s1", Duration::seconds(-1)).unwrap();
        assert_eq!(verify_access_token(&keys(), &expired), None);
        let token = issue_access_token(&keys(), agent, Role::Agent, "s1", Duration::minutes(5)).unwrap();
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(verify_access_token(&keys(), &tampered), None);
    }

    #[test]
    fn a_token_without_a_session_fails() {
        #[derive(Serialize)]
        struct Old<'a> {
            sub: String,
            role: &'a str,
            iss: &'a str,
            aud: &'a str,
            iat: i64,
            exp: i64,
        }
        let now = Utc::now().timestamp();
        let claims =
            Old { sub: AgentId::new().to_string(), role: "admin", iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 60 };
        let header = Header { kid: Some("k2".into()), ..Header::new(Algorithm::HS256) };
        let token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(b"current secret")).unwrap();
        assert_eq!(verify_access_token(&keys(), &token), None);
    }

    #[test]
    fn a_successor_is_the_same_for_the_same_token_and_key_only() {
        let key = SuccessorKey::new(b"key one");
        let token = random_token();
        assert_eq!(key.successor(&token), key.successor(&token));
        assert_ne!(key.successor(&token), key.successor(&random_token()));
        assert_ne!(key.successor(&token), SuccessorKey::new(b"key two").successor(&token));
        assert_eq!(key.successor(&token).len(), token.len(), "as long as a random token");
    }

    #[test]
    fn api_keys_split_into_prefix_and_secret() {
        let key = new_api_key();
        let (prefix, secret) = split_api_key(&key.token).unwrap();
        assert_eq!(prefix, key.prefix);
        assert_eq!(sha256_hex(secret), key.secret_hash);
        assert_eq!(split_api_key("brd_short_x"), None);
        assert_eq!(split_api_key("eyJhbGciOi"), None);
    }
}
