//! What every request handler can reach: the database, Redis when configured, metrics,
//! and the limits and rules from settings.

use braid_core::placement::PlacementPolicy;
use braid_db::Db;

use crate::Metrics;
use crate::client::TrustedProxies;
use crate::throttle::SignInGuards;
use crate::tokens::{JwtKeys, SuccessorKey};

/// The email channel.
#[derive(Debug, Clone)]
pub struct EmailConfig {
    /// The bearer secret of `POST /v1/channels/email/inbound`; unset turns it off.
    pub inbound_secret: Option<String>,
    /// The largest raw message accepted.
    pub max_bytes: usize,
    /// Mailgun's webhook signing key; unset turns the Mailgun endpoint off.
    pub mailgun_signing_key: Option<String>,
    /// The acknowledgement sent for a new email ticket (`{number}`, `{subject}` and `{name}`
    /// are filled in); none when unset.
    pub acknowledgement: Option<String>,
    /// Verifies the signed reply tokens in recipient addresses.
    pub reply_tokens: braid_channels::email::tokens::ReplyTokens,
    /// Attachments and recipients kept per inbound message.
    pub limits: braid_channels::email::Limits,
}

/// Sessions and login throttling.
#[derive(Debug)]
pub struct AuthConfig {
    pub keys: JwtKeys,
    pub access_ttl: chrono::Duration,
    pub refresh_ttl: chrono::Duration,
    /// Failed logins for one email from one client address within `login_window` before
    /// further tries from that address get 429.
    pub login_max_failures: i64,
    pub login_window: chrono::Duration,
    /// Derives a refresh token's successor, so a repeat within `refresh_grace` gets the same.
    pub successor_key: SuccessorKey,
    /// How long a rotated refresh token still returns its successor instead of counting as
    /// reuse.
    pub refresh_grace: chrono::Duration,
    /// Whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// The password-hash budget and the per-address sign-in rate.
    pub guards: SignInGuards,
}

/// Request body limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub json_body_bytes: usize,
    /// Files one reply may send (the email worker holds them all in memory to send).
    pub reply_attachments: usize,
    /// Their total size: mail servers commonly refuse messages over 25 MB, and base64
    /// makes attachments a third larger on the wire.
    pub reply_attachment_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { json_body_bytes: 1024 * 1024, reply_attachments: 20, reply_attachment_bytes: 18 * 1024 * 1024 }
    }
}

pub struct AppState {
    pub db: Db,
    pub redis: Option<redis::aio::ConnectionManager>,
    pub metrics: Metrics,
    pub placement: PlacementPolicy,
    pub limits: Limits,
    /// How long a customer merge can be undone.
    pub merge_undo_window: chrono::Duration,
    pub auth: AuthConfig,
    pub email: EmailConfig,
    /// Raw messages and attachments, by content hash.
    pub blobs: braid_channels::blobs::BlobStore,
    /// Where parsing runs, a few jobs at a time.
    pub cpu: crate::cpu::CpuPool,
    /// The chat channel: visitor tokens, message limits, rates.
    pub chat: crate::widget::ChatConfig,
    /// Live fan-out: what sockets listen to, and what writers wake.
    pub live: braid_live::Hub,
    /// The web form channel: limits, rates, the captcha check.
    pub forms: crate::forms::FormsConfig,
    /// Outbound webhooks: which targets may be registered.
    pub webhooks: crate::WebhookConfig,
    /// Satisfaction surveys: how links are checked, and their rates.
    pub csat: crate::csat::page::CsatConfig,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("db", &self.db)
            .field("redis", &self.redis.is_some())
            .field("placement", &self.placement)
            .field("limits", &self.limits)
            .field("auth", &self.auth)
            .field("email_inbound", &self.email.inbound_secret.is_some())
            .finish_non_exhaustive()
    }
}
