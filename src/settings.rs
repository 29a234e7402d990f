//! Settings: defaults < `braid.toml` < `BRAID_*` environment < command-line flags, merged
//! into one typed value that start-up passes down. Nothing reads the environment later.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Settings {
    /// Address the HTTP server binds (`host:port`; port 0 picks a free one).
    pub listen: String,
    /// Where Braid keeps files: the default SQLite database, attachments.
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite://path`; unset means `sqlite://<data_dir>/braid.db`.
    pub database_url: Option<String>,
    pub database_pool_size: u32,
    /// `redis://…`; unset runs without Redis, on in-process equivalents.
    pub redis_url: Option<String>,
    /// `text` (readable) or `json` (one object per line).
    pub log_format: LogFormat,
    /// A tracing filter, like `info` or `braid=debug,actix_web=info`.
    pub log: String,
    /// A customer writing within this many days after a ticket was solved reopens it.
    pub reopen_window_days: u32,
    /// For how many days a merge of two customers can be undone.
    pub merge_undo_days: u32,
    /// For how many days the event log keeps events (the feed, the stream and webhooks
    /// resume from it); 0 keeps them forever. A feed cursor older than this answers 410.
    pub event_retention_days: u32,
    /// The largest JSON request body accepted.
    pub json_body_limit_bytes: usize,
    /// The email of the admin created on first start, when no agent exists.
    pub first_admin_email: String,
    /// How long in-flight requests get to finish on shutdown.
    pub shutdown_timeout_secs: u64,
    /// The HS256 secret that signs access tokens. Unset: Braid generates one and keeps it
    /// in the database, so every node sharing the database agrees.
    pub jwt_secret: Option<String>,
    /// The key id of `jwt_secret`, written into each token's header.
    pub jwt_key_id: String,
    /// Retired secrets by key id, still accepted for verification after a rotation.
    pub jwt_retired_secrets: BTreeMap<String, String>,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_days: u32,
    /// Failed sign-ins for one email from one client address within `login_window_secs`
    /// before further tries from that address get 429. Counted in the database, so across
    /// nodes.
    pub login_max_failures: u32,
    pub login_window_secs: u64,
    /// Sign-in attempts per client address (an IPv6 client by its /64) per minute, per
    /// node, before 429; 0 turns the limit off.
    pub login_address_per_minute: u32,
    /// Password hashes running at once (sign-ins, agents' new passwords); 0 means one per
    /// available core.
    pub password_hash_concurrency: usize,
    /// How long a sign-in waits for a hash slot before it gets 503 with `Retry-After`.
    pub password_hash_wait_ms: u64,
    /// For how long a rotated refresh token, presented again, returns the same successor
    /// instead of counting as stolen; 0 turns the grace off.
    pub refresh_grace_secs: u64,
    /// Proxies (CIDRs or addresses) whose `X-Forwarded-For` names the client; empty, the
    /// TCP peer is the client. `BRAID_TRUSTED_PROXIES` takes a comma-separated list.
    #[serde(deserialize_with = "list_or_commas")]
    pub trusted_proxies: Vec<String>,
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_ttl_hours: u32,
    /// The bearer secret of `POST /v1/channels/email/inbound`; unset turns inbound email off.
    pub email_inbound_secret: Option<String>,
    /// The largest raw email accepted (25 MB by default).
    pub email_max_bytes: usize,
    /// Attachments (inline images included) stored and listed per inbound email; the rest
    /// stay in the stored original, and the message says how many there were.
    pub email_max_attachments: usize,
    /// Addresses kept per `To` and `Cc` of an inbound email (the rest are in the original).
    pub email_max_recipients: usize,
    /// Inbound mail parsed at once (0: half the cores, at least one), so heavy mail
    /// queues instead of starving requests and the database.
    pub parse_threads: usize,
    /// Sent to the customer when their email opens a new ticket (never to automated mail);
    /// `{number}`, `{subject}` and `{name}` are filled in. Unset: no acknowledgement.
    pub email_acknowledgement: Option<String>,
    /// Mailgun's webhook signing key, for `/v1/channels/email/inbound/mailgun`.
    pub mailgun_signing_key: Option<String>,
    /// `smtp://[user:pass@]host:port` (STARTTLS when offered; `?tls=required` insists,
    /// `?tls=none` never tries) or `smtps://…`; unset keeps email replies queued.
    pub smtp_url: Option<String>,
    /// A PEM file of root certificates trusted for SMTP besides the system's (an internal
    /// CA). Read at start-up: a file that cannot be read or parsed stops Braid.
    pub smtp_ca_file: Option<PathBuf>,
    /// The From address of replies.
    pub support_address: String,
    /// Where customers reach this Braid from outside: the base of survey links
    /// (`<public_url>/csat/v1/<token>`).
    pub public_url: String,
    /// Survey page requests (views and ratings) per minute per client address.
    pub csat_requests_per_minute: u32,
    /// The first retry of a failed delivery waits this long, each next one twice as long.
    pub smtp_retry_base_secs: u64,
    /// Attempts before a delivery that keeps failing temporarily is given up.
    pub smtp_max_attempts: u32,
    /// A chat reply the visitor has not seen this long after it was sent (and with no
    /// socket of theirs open) goes by email, with the other unseen replies of its ticket.
    pub chat_fallback_delay_secs: u64,
    /// A visitor token's life; the widget refreshes it.
    pub chat_visitor_token_ttl_secs: u64,
    /// How long after expiry a visitor token can still be refreshed into a new session.
    pub chat_visitor_refresh_days: u32,
    /// The longest chat message, in characters.
    pub chat_max_message_chars: usize,
    /// Widget sessions per client address per minute (0: no limit).
    pub chat_sessions_per_minute: u32,
    /// Widget messages per visitor, and per client address, per minute (0: no limit).
    pub chat_messages_per_minute: u32,
    pub chat_address_messages_per_minute: u32,
    /// Socket connects and history reads per client address per minute (0: no limit).
    pub chat_address_reads_per_minute: u32,
    /// Typing and seen per visitor per minute (0: no limit).
    pub chat_signals_per_minute: u32,
    /// Web form submissions per client address (an IPv6 client by its /64) per minute
    /// (0: no limit).
    pub form_submissions_per_minute: u32,
    /// Submissions to one form per minute, from everyone (0: no limit).
    pub form_form_submissions_per_minute: u32,
    /// Form tokens per client address per minute (0: no limit).
    pub form_tokens_per_minute: u32,
    /// The largest web form submission, files included.
    pub form_max_bytes: usize,
    /// Files one web form submission may carry.
    pub form_max_attachments: usize,
    /// A captcha provider's secret (Cloudflare Turnstile, hCaptcha or reCAPTCHA): every
    /// form then needs the captcha widget's answer. Unset: no captcha.
    pub form_captcha_secret: Option<String>,
    /// Where captcha answers are verified; Turnstile's by default (hCaptcha:
    /// `https://api.hcaptcha.com/siteverify`, reCAPTCHA:
    /// `https://www.google.com/recaptcha/api/siteverify`).
    pub form_captcha_verify_url: String,
    /// Webhook (and connector callback) targets may be private, loopback or link-local
    /// addresses. Off: such a URL is refused when registered and when it is called.
    pub webhook_allow_private_targets: bool,
    /// Seconds between a webhook delivery's attempts: about three days in all by default.
    /// `BRAID_WEBHOOK_RETRY_SCHEDULE_SECS` takes a comma-separated list.
    #[serde(deserialize_with = "numbers_or_commas")]
    pub webhook_retry_schedule_secs: Vec<u64>,
    /// Webhook attempts in flight at once per node (half of them to one endpoint at most,
    /// so a slow endpoint never holds up the others).
    pub webhook_concurrency: usize,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("data"),
            database_url: None,
            database_pool_size: 10,
            redis_url: None,
            log_format: LogFormat::Text,
            log: "info".into(),
            reopen_window_days: 7,
            merge_undo_days: 30,
            event_retention_days: 90,
            json_body_limit_bytes: 1024 * 1024,
            first_admin_email: "admin@braid.localhost".into(),
            shutdown_timeout_secs: 30,
            jwt_secret: None,
            jwt_key_id: "primary".into(),
            jwt_retired_secrets: BTreeMap::new(),
            access_token_ttl_secs: 900,
            refresh_token_ttl_days: 30,
            login_max_failures: 5,
            login_window_secs: 900,
            login_address_per_minute: 30,
            password_hash_concurrency: 0,
            password_hash_wait_ms: 500,
            refresh_grace_secs: 30,
            trusted_proxies: Vec::new(),
            idempotency_ttl_hours: 24,
            email_inbound_secret: None,
            email_max_bytes: 25 * 1024 * 1024,
            email_max_attachments: 100,
            email_max_recipients: 100,
            parse_threads: 0,
            email_acknowledgement: None,
            mailgun_signing_key: None,
            smtp_url: None,
            smtp_ca_file: None,
            support_address: "support@braid.localhost".into(),
            public_url: "http://localhost:8080".into(),
            csat_requests_per_minute: 30,
            smtp_retry_base_secs: 30,
            chat_fallback_delay_secs: 120,
            chat_visitor_token_ttl_secs: 3600,
            chat_visitor_refresh_days: 30,
            chat_max_message_chars: 10_000,
            chat_sessions_per_minute: 30,
            chat_messages_per_minute: 30,
            chat_address_messages_per_minute: 120,
            chat_address_reads_per_minute: 120,
            chat_signals_per_minute: 120,
            form_submissions_per_minute: 10,
            form_form_submissions_per_minute: 120,
            form_tokens_per_minute: 60,
            form_max_bytes: 10 * 1024 * 1024,
            form_max_attachments: 5,
            form_captcha_secret: None,
            form_captcha_verify_url: "https://challenges.cloudflare.com/turnstile/v0/siteverify".into(),
            webhook_allow_private_targets: false,
            webhook_retry_schedule_secs: braid_core::webhook::RETRY_DELAYS.iter().map(|d| d.as_secs()).collect(),
            webhook_concurrency: 64,
            smtp_max_attempts: 8,
        }
    }
}

/// A list given as a list (in `braid.toml`) or as one comma-separated string (in the
/// environment).
fn list_or_commas<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Given::deserialize(deserializer)? {
        Given::List(items) => items,
        Given::Text(text) => text.split(',').map(str::trim).filter(|item| !item.is_empty()).map(String::from).collect(),
    })
}

/// A list of numbers, or (from the environment) one comma-separated string of them.
fn numbers_or_commas<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        List(Vec<u64>),
        One(u64),
        Text(String),
    }
    match Given::deserialize(deserializer)? {
        Given::List(items) => Ok(items),
        Given::One(n) => Ok(vec![n]),
        Given::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse().map_err(|_| serde::de::Error::custom(format!("`{item}` is not a number of seconds")))
            })
            .collect(),
    }
}

/// The settings a command-line flag can override. Unset flags change nothing.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
}

/// The file read when `--config` is not given; it is fine for it not to exist.
pub const DEFAULT_FILE: &str = "braid.toml";

impl Settings {
    /// Merges the layers. An explicitly named file must exist; the default one may not.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, Box<figment::Error>> {
        let file = match file {
            Some(path) if !path.exists() => {
                return Err(Box::new(figment::Error::from(format!("config file {} does not exist", path.display()))));
            }
            Some(path) => Some(path),
            None => Some(Path::new(DEFAULT_FILE)).filter(|path| path.exists()),
        };
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        let settings: Settings = figment
            .merge(Env::prefixed("BRAID_").ignore(&["config"]))
            .merge(Serialized::defaults(overrides))
            .extract()?;
        Ok(settings.normalised())
    }

    /// Empty strings in the environment mean "unset" (`BRAID_REDIS_URL=` turns Redis off).
    fn normalised(mut self) -> Self {
        self.database_url = self.database_url.filter(|url| !url.trim().is_empty());
        self.jwt_secret = self.jwt_secret.filter(|secret| !secret.is_empty());
        self.email_inbound_secret = self.email_inbound_secret.filter(|secret| !secret.is_empty());
        self.smtp_url = self.smtp_url.filter(|url| !url.trim().is_empty());
        self.smtp_ca_file = self.smtp_ca_file.filter(|path| !path.as_os_str().is_empty());
        self.mailgun_signing_key = self.mailgun_signing_key.filter(|key| !key.is_empty());
        self.email_acknowledgement = self.email_acknowledgement.filter(|text| !text.trim().is_empty());
        self.redis_url = self.redis_url.filter(|url| !url.trim().is_empty());
        self.form_captcha_secret = self.form_captcha_secret.filter(|secret| !secret.is_empty());
        self
    }

    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("braid.db").display()))
    }
}

#[cfg(test)]
#[expect(clippy::result_large_err, reason = "figment's Jail closures return figment's own error")]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_run_on_sqlite_under_data_without_redis() {
        Jail::expect_with(|_| {
            let settings = Settings::load(None, &Overrides::default()).map_err(|e| *e)?;
            assert_eq!(settings.listen, "127.0.0.1:8080");
            assert_eq!(settings.database_url(), "sqlite://data/braid.db");
            assert_eq!(settings.redis_url, None);
            Ok(())
        });
    }

    #[test]
    fn each_layer_overrides_the_one_before() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "braid.toml",
                "listen = \"0.0.0.0:1\"\ndata_dir = \"/from-file\"\nredis_url = \"redis://file\"\nlog = \"debug\"",
            )?;
            jail.set_env("BRAID_DATA_DIR", "/from-env");
            jail.set_env("BRAID_REDIS_URL", "redis://env");
            jail.set_env("BRAID_LOG_FORMAT", "json");
            jail.set_env("BRAID_DATABASE_POOL_SIZE", "3");
            jail.set_env("BRAID_SMTP_CA_FILE", "/etc/braid/internal-ca.pem");
            let overrides = Overrides { redis_url: Some("redis://flag".into()), ..Overrides::default() };
            let settings = Settings::load(None, &overrides).map_err(|e| *e)?;
            assert_eq!(settings.listen, "0.0.0.0:1", "file over default");
            assert_eq!(settings.log, "debug", "file over default");
            assert_eq!(settings.data_dir, PathBuf::from("/from-env"), "env over file");
            assert_eq!(settings.log_format, LogFormat::Json);
            assert_eq!(settings.database_pool_size, 3);
            assert_eq!(settings.smtp_ca_file.as_deref(), Some(Path::new("/etc/braid/internal-ca.pem")));
            assert_eq!(settings.redis_url.as_deref(), Some("redis://flag"), "flag over env");
            Ok(())
        });
    }

    #[test]
    fn trusted_proxies_come_as_a_list_in_the_file_or_commas_in_the_environment() {
        Jail::expect_with(|jail| {
            jail.create_file("braid.toml", "trusted_proxies = [\"10.0.0.0/8\"]")?;
            let settings = Settings::load(None, &Overrides::default()).map_err(|e| *e)?;
            assert_eq!(settings.trusted_proxies, ["10.0.0.0/8"]);
            jail.set_env("BRAID_TRUSTED_PROXIES", "10.0.0.0/8, fd00::/8");
            let settings = Settings::load(None, &Overrides::default()).map_err(|e| *e)?;
            assert_eq!(settings.trusted_proxies, ["10.0.0.0/8", "fd00::/8"]);
            Ok(())
        });
    }

    #[test]
    fn an_empty_variable_unsets_an_optional_setting() {
        Jail::expect_with(|jail| {
            jail.set_env("BRAID_REDIS_URL", "");
            jail.set_env("BRAID_SMTP_CA_FILE", "");
            let settings = Settings::load(None, &Overrides::default()).map_err(|e| *e)?;
            assert_eq!(settings.redis_url, None);
            assert_eq!(settings.smtp_ca_file, None);
            Ok(())
        });
    }

    #[test]
    fn a_named_config_file_must_exist_and_typos_in_values_are_reported() {
        Jail::expect_with(|jail| {
            let missing = Settings::load(Some(Path::new("nope.toml")), &Overrides::default()).unwrap_err();
            assert!(missing.to_string().contains("nope.toml"), "{missing}");
            jail.set_env("BRAID_DATABASE_POOL_SIZE", "many");
            let bad = Settings::load(None, &Overrides::default()).unwrap_err();
            assert!(bad.to_string().contains("DATABASE_POOL_SIZE"), "{bad}");
            Ok(())
        });
    }
}
