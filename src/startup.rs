//! Start-up: connect and migrate the database, create the first admin on an empty one,
//! connect Redis when configured, start the background workers, bind, and serve until
//! SIGTERM or SIGINT. Shutdown is
//! graceful: the listener closes and in-flight requests get `shutdown_timeout_secs` to
//! finish.

use std::net::TcpListener;

use actix_web::{HttpServer, dev::Server, web};
use anyhow::Context;
use braid_api::client::TrustedProxies;
use braid_api::throttle::SignInGuards;
use braid_api::tokens::{self, JwtKeys, SuccessorKey};
use braid_api::{AppState, AuthConfig, ChatConfig, EmailConfig, Limits, Metrics};
use braid_channels::email::tokens::ReplyTokens;
use braid_core::placement::PlacementPolicy;
use braid_core::{AgentName, EmailAddress};
use braid_db::{Db, agents};

use crate::Settings;
use crate::workers::{ChatFallback, ConnectorDelivery, EmailDelivery, Housekeeping, Timers, WebhookDelivery, Workers};

/// The credentials of an admin created on first start, shown once.
#[derive(Debug, Clone)]
pub struct FirstAdmin {
    pub email: String,
    pub password: String,
}

pub struct Application {
    port: u16,
    server: Server,
    workers: Workers,
    db: Db,
    first_admin: Option<FirstAdmin>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("port", &self.port).field("db", &self.db).finish_non_exhaustive()
    }
}

impl Application {
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let db = open_database(settings).await?;
        let first_admin = create_first_admin(&db, settings).await?;
        let redis = connect_redis(settings).await?;
        let auth = auth_config(&db, settings).await?;
        // Computed now so the first sign-in with an unknown email does not run argon2 on
        // an HTTP worker.
        tokio::task::spawn_blocking(braid_api::password::dummy_hash).await?;
        let reply_tokens = reply_tokens(&db, settings).await?;
        let survey_links = survey_links(&db, settings).await?;
        let email = email_delivery(&db, settings, &reply_tokens)?;
        let housekeeping = Housekeeping {
            db: db.clone(),
            idempotency_ttl: chrono::Duration::hours(settings.idempotency_ttl_hours.into()),
            login_window: auth.login_window,
            event_retention: (settings.event_retention_days > 0)
                .then(|| chrono::Duration::days(settings.event_retention_days.into())),
        };
        let webhooks = WebhookDelivery {
            db: db.clone(),
            sender: braid_channels::webhooks::Sender::new(settings.webhook_allow_private_targets)
                .context("the webhook HTTP client")?,
            schedule: settings.webhook_retry_schedule_secs.iter().map(|s| std::time::Duration::from_secs(*s)).collect(),
            concurrency: settings.webhook_concurrency.max(1),
            per_endpoint: (settings.webhook_concurrency / 2).max(1),
        };
        let connectors =
            ConnectorDelivery { db: db.clone(), sender: webhooks.sender.clone(), schedule: webhooks.schedule.clone() };
        let workers = Workers::start(
            housekeeping,
            email,
            ChatFallback { db: db.clone(), delay: chrono::Duration::seconds(settings.chat_fallback_delay_secs as i64) },
            webhooks,
            connectors,
            Timers { db: db.clone(), survey_links: survey_links.clone() },
        );
        let live = braid_live::Hub::start(db.clone(), settings.redis_url.as_deref(), workers.stopped())
            .await
            .map_err(|e| anyhow::anyhow!("live fan-out: {e}"))?;
        let chat = ChatConfig {
            visitor_ttl: chrono::Duration::seconds(settings.chat_visitor_token_ttl_secs as i64),
            refresh_window: chrono::Duration::days(settings.chat_visitor_refresh_days.into()),
            max_message_chars: settings.chat_max_message_chars,
            limits: braid_api::widget::limits::WidgetLimits::new(
                braid_api::widget::limits::Rates {
                    sessions_per_address: settings.chat_sessions_per_minute,
                    messages_per_visitor: settings.chat_messages_per_minute,
                    messages_per_address: settings.chat_address_messages_per_minute,
                    reads_per_address: settings.chat_address_reads_per_minute,
                    signals_per_visitor: settings.chat_signals_per_minute,
                },
                redis.clone(),
            ),
        };
        let forms = braid_api::forms::FormsConfig {
            limits: braid_api::forms::FormLimits::new(
                braid_api::forms::Rates {
                    submissions_per_address: settings.form_submissions_per_minute,
                    submissions_per_form: settings.form_form_submissions_per_minute,
                    tokens_per_address: settings.form_tokens_per_minute,
                },
                redis.clone(),
            ),
            max_bytes: settings.form_max_bytes,
            max_attachments: settings.form_max_attachments,
            captcha: match &settings.form_captcha_secret {
                Some(secret) => Some(
                    braid_channels::web_form::Captcha::new(settings.form_captcha_verify_url.clone(), secret.clone())
                        .context("the captcha HTTP client")?,
                ),
                None => None,
            },
        };

        let csat = braid_api::csat::page::CsatConfig {
            tokens: survey_links.tokens.clone(),
            limits: braid_api::csat::page::CsatLimits::new(settings.csat_requests_per_minute, redis.clone()),
        };

        let listener =
            TcpListener::bind(&settings.listen).with_context(|| format!("cannot listen on {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(AppState {
            db: db.clone(),
            redis,
            metrics: Metrics::new()?,
            placement: PlacementPolicy { reopen_window: chrono::Duration::days(settings.reopen_window_days.into()) },
            limits: Limits { json_body_bytes: settings.json_body_limit_bytes, ..Limits::default() },
            merge_undo_window: chrono::Duration::days(settings.merge_undo_days.into()),
            auth,
            email: EmailConfig {
                inbound_secret: settings.email_inbound_secret.clone(),
                max_bytes: settings.email_max_bytes,
                mailgun_signing_key: settings.mailgun_signing_key.clone(),
                acknowledgement: settings.email_acknowledgement.clone(),
                reply_tokens,
                limits: braid_channels::email::Limits {
                    max_attachments: settings.email_max_attachments,
                    max_recipients: settings.email_max_recipients,
                },
            },
            blobs: braid_channels::blobs::BlobStore::new(&settings.data_dir),
            cpu: braid_api::cpu::CpuPool::new(settings.parse_threads),
            chat,
            forms,
            live,
            webhooks: braid_api::WebhookConfig { allow_private_targets: settings.webhook_allow_private_targets },
            csat,
        });
        let server = HttpServer::new(move || braid_api::app(state.clone()))
            .listen(listener)?
            .shutdown_timeout(settings.shutdown_timeout_secs)
            .run();
        tracing::info!(address = %settings.listen, port, database = %db.backend().describe(), "braid is serving");
        Ok(Self { port, server, workers, db, first_admin })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The first admin's one-time credentials, when this start created it.
    pub fn first_admin(&self) -> Option<&FirstAdmin> {
        self.first_admin.as_ref()
    }

    /// Serves until a shutdown signal; returns once in-flight requests are done and the
    /// background workers have stopped.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.workers.shutdown().await;
        served
    }
}

/// Connects and migrates. Errors carry the backend's own words (a refused connection, a
/// wrong password, a missing database) and the URL without its password.
pub async fn open_database(settings: &Settings) -> anyhow::Result<Db> {
    let url = settings.database_url();
    let pool_size = settings.database_pool_size;
    tokio::task::spawn_blocking(move || {
        let db = Db::connect(&url, pool_size)?;
        let applied = db.migrate()?;
        if applied > 0 {
            tracing::info!(applied, database = %db.backend().describe(), "applied migrations");
        }
        Ok(db)
    })
    .await?
}

async fn create_first_admin(db: &Db, settings: &Settings) -> anyhow::Result<Option<FirstAdmin>> {
    let email = EmailAddress::parse(&settings.first_admin_email).context("first_admin_email")?;
    let name = AgentName::parse("Administrator")?;
    let password = braid_api::password::generate();
    let hash = braid_api::password::hash(&password)?;
    let created = {
        let email = email.clone();
        db.run(move |conn| agents::create_first_admin(conn, &email, &name, &hash)).await?
    };
    Ok(created.map(|_| FirstAdmin { email: email.to_string(), password }))
}

async fn connect_redis(settings: &Settings) -> anyhow::Result<Option<redis::aio::ConnectionManager>> {
    let Some(url) = &settings.redis_url else {
        return Ok(None);
    };
    let shown = braid_db::redact(url);
    let client = redis::Client::open(url.as_str()).with_context(|| format!("invalid Redis URL {shown}"))?;
    let manager = redis::aio::ConnectionManager::new(client)
        .await
        .with_context(|| format!("cannot connect to Redis at {shown}"))?;
    Ok(Some(manager))
}

/// The database-kept signing key's name in `secrets`.
const GENERATED_JWT_SECRET: &str = "jwt_signing_key";

/// The key deriving refresh tokens' successors, kept in `secrets` so every node derives
/// the same one.
const REFRESH_SUCCESSOR_KEY: &str = "refresh_successor_key";

async fn auth_config(db: &Db, settings: &Settings) -> anyhow::Result<AuthConfig> {
    let (kid, secret) = match &settings.jwt_secret {
        Some(secret) => (settings.jwt_key_id.clone(), secret.clone()),
        None => {
            let candidate = tokens::random_token();
            let secret =
                db.run(move |conn| braid_db::auth::secret_or_insert(conn, GENERATED_JWT_SECRET, &candidate)).await?;
            ("generated".to_owned(), secret)
        }
    };
    let retired = settings.jwt_retired_secrets.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let candidate = tokens::random_token();
    let successor_key =
        db.run(move |conn| braid_db::auth::secret_or_insert(conn, REFRESH_SUCCESSOR_KEY, &candidate)).await?;
    let trusted_proxies =
        TrustedProxies::parse(&settings.trusted_proxies).map_err(|bad| anyhow::anyhow!("trusted_proxies: {bad}"))?;
    Ok(AuthConfig {
        keys: JwtKeys::new(&kid, &secret, &retired),
        access_ttl: chrono::Duration::seconds(i64::try_from(settings.access_token_ttl_secs)?),
        refresh_ttl: chrono::Duration::days(settings.refresh_token_ttl_days.into()),
        login_max_failures: settings.login_max_failures.into(),
        login_window: chrono::Duration::seconds(i64::try_from(settings.login_window_secs)?),
        successor_key: SuccessorKey::new(successor_key.as_bytes()),
        refresh_grace: chrono::Duration::seconds(i64::try_from(settings.refresh_grace_secs)?),
        trusted_proxies,
        guards: SignInGuards::new(
            settings.password_hash_concurrency,
            std::time::Duration::from_millis(settings.password_hash_wait_ms),
            settings.login_address_per_minute,
        ),
    })
}

/// The reply-token key is generated once and kept in the database, so every node signs
/// and verifies alike.
async fn reply_tokens(db: &Db, settings: &Settings) -> anyhow::Result<ReplyTokens> {
    let candidate = tokens::random_token();
    let key = db.run(move |conn| braid_db::auth::secret_or_insert(conn, "reply_token_key", &candidate)).await?;
    Ok(ReplyTokens::new(key.as_bytes(), &settings.support_address))
}

/// Survey links are signed with a key kept in the database, like reply tokens.
async fn survey_links(db: &Db, settings: &Settings) -> anyhow::Result<braid_db::csat::Links> {
    let candidate = tokens::random_token();
    let key = db.run(move |conn| braid_db::auth::secret_or_insert(conn, "csat_token_key", &candidate)).await?;
    let base_url = settings.public_url.trim_end_matches('/').to_owned();
    anyhow::ensure!(
        base_url.starts_with("http://") || base_url.starts_with("https://"),
        "public_url must be an http(s) URL, not {base_url:?}"
    );
    Ok(braid_db::csat::Links { tokens: braid_core::csat::SurveyTokens::new(key.as_bytes()), base_url })
}

fn email_delivery(db: &Db, settings: &Settings, reply_tokens: &ReplyTokens) -> anyhow::Result<Option<EmailDelivery>> {
    let Some(url) = &settings.smtp_url else {
        return Ok(None);
    };
    EmailAddress::parse(&settings.support_address).context("support_address")?;
    let mailer = braid_channels::email::smtp::Mailer::from_url(url, settings.smtp_ca_file.as_deref())?;
    Ok(Some(EmailDelivery {
        db: db.clone(),
        mailer,
        support_address: settings.support_address.clone(),
        reply_tokens: reply_tokens.clone(),
        blobs: braid_channels::blobs::BlobStore::new(&settings.data_dir),
        retry_base: std::time::Duration::from_secs(settings.smtp_retry_base_secs.max(1)),
        max_attempts: i32::try_from(settings.smtp_max_attempts.max(1)).unwrap_or(i32::MAX),
    }))
}
