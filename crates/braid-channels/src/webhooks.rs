//! Outbound webhooks over HTTP: a signed POST per attempt, with no redirects followed, a
//! 15-second limit, and no way to reach a private address (checked on the address each
//! connection really uses, so a name that changes what it resolves to gains nothing).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use braid_core::webhook;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

/// How long one attempt may take, connecting included.
pub const TIMEOUT: Duration = Duration::from_secs(15);
/// The start of an answer's body kept in the delivery log.
pub const EXCERPT_BYTES: usize = 1024;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TargetError {
    #[error("the URL is not valid: {0}")]
    Invalid(String),
    #[error("only http and https URLs can receive webhooks")]
    Scheme,
    #[error("{0} is a private, loopback or link-local address; webhooks only reach public ones")]
    Private(String),
    #[error("{0} does not resolve")]
    Unresolved(String),
}

/// Checks a target URL before it is saved: http(s), a host, and (unless private targets
/// are allowed) only public addresses behind it.
pub async fn check_target(url: &str, allow_private: bool) -> Result<Url, TargetError> {
    let parsed = Url::parse(url).map_err(|e| TargetError::Invalid(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(TargetError::Scheme);
    }
    let host = parsed.host_str().filter(|h| !h.is_empty()).ok_or_else(|| TargetError::Invalid("no host".into()))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(TargetError::Invalid(
            "credentials in the URL would be sent in the clear in logs; use a path token".into(),
        ));
    }
    if allow_private {
        return Ok(parsed);
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addresses: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => {
            tokio::net::lookup_host((host, port)).await.map_err(|_| TargetError::Unresolved(host.to_owned()))?.collect()
        }
    };
    if addresses.is_empty() {
        return Err(TargetError::Unresolved(host.to_owned()));
    }
    match addresses.iter().find(|a| !webhook::is_public(a.ip())) {
        Some(private) => Err(TargetError::Private(private.ip().to_string())),
        None => Ok(parsed),
    }
}

/// Resolves names like the system does, refusing every answer that holds a private address.
#[derive(Debug)]
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            if let Some(private) = addresses.iter().find(|a| !webhook::is_public(a.ip())) {
                let refused = TargetError::Private(private.ip().to_string());
                return Err(Box::new(refused) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: Option<u16>,
    pub retry_after: Option<Duration>,
    pub latency: Duration,
    pub error: Option<String>,
    /// The start of the body, as text.
    pub excerpt: Option<String>,
}

/// Sends webhooks. Cheap to clone; clones share connections.
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
}

impl Sender {
    pub fn new(allow_private: bool) -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(16)
            // A proxy would connect anywhere, past the address check below.
            .no_proxy()
            .user_agent(concat!("Braid-Webhooks/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Sender { client: builder.build()?, allow_private })
    }

    /// POSTs `body` to `url` signed with `keys` as delivery `id` (the `webhook-id`).
    pub async fn send(&self, url: &str, id: &str, keys: &[Vec<u8>], body: &str) -> Answer {
        let started = Instant::now();
        let failed = |error: String| Answer {
            status: None,
            retry_after: None,
            latency: started.elapsed(),
            error: Some(error),
            excerpt: None,
        };
        // A literal address never meets the resolver: checked here.
        let target = match Url::parse(url) {
            Ok(target) => target,
            Err(error) => return failed(format!("the URL is not valid: {error}")),
        };
        if !self.allow_private
            && let Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) = target.host()
            && let Err(error) = check_target(url, false).await
        {
            return failed(error.to_string());
        }
        let timestamp = chrono::Utc::now().timestamp();
        let signature = webhook::signature(keys, id, timestamp, body.as_bytes());
        let request = self
            .client
            .post(target)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_owned());
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return failed(describe(error)),
        };
        let status = response.status().as_u16();
        let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(retry_after);
        let mut excerpt = Vec::new();
        let mut response = response;
        while excerpt.len() < EXCERPT_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk[..chunk.len().min(EXCERPT_BYTES - excerpt.len())]),
                _ => break,
            }
        }
        Answer {
            status: Some(status),
            retry_after,
            latency: started.elapsed(),
            error: (!(200..300).contains(&status)).then(|| format!("answered {status}")),
            // PostgreSQL text holds no NUL.
            excerpt: (!excerpt.is_empty()).then(|| String::from_utf8_lossy(&excerpt).replace('\0', "")),
        }
    }
}

/// The error with its causes, which say what really happened (refused, timed out, a
/// private address).
fn describe(error: reqwest::Error) -> String {
    // Without the URL: its path may hold a token, and this text is logged and shown.
    let error = &error.without_url();
    let mut text = if error.is_timeout() { "timed out".to_owned() } else { error.to_string() };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(value: &str) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn targets_must_be_public_http_urls() {
        for (url, expected) in [
            ("ftp://example.org/hook", TargetError::Scheme),
            ("http://127.0.0.1:9/hook", TargetError::Private("127.0.0.1".into())),
            ("http://[::1]/hook", TargetError::Private("::1".into())),
            ("http://169.254.169.254/latest/meta-data", TargetError::Private("169.254.169.254".into())),
            ("http://localhost:8080/hook", TargetError::Private("127.0.0.1".into())),
        ] {
            let error = check_target(url, false).await.unwrap_err();
            match (&error, &expected) {
                // localhost may resolve to ::1 first.
                (TargetError::Private(_), TargetError::Private(_)) => {}
                _ => assert_eq!(error, expected, "{url}"),
            }
        }
        assert!(matches!(check_target("not a url", false).await, Err(TargetError::Invalid(_))));
        assert!(matches!(check_target("https://u:p@example.org/", false).await, Err(TargetError::Invalid(_))));
        assert!(check_target("http://127.0.0.1:9/hook", true).await.is_ok());
        assert!(check_target("https://93.184.215.14/hook", false).await.is_ok());
    }

    #[tokio::test]
    async fn a_private_literal_is_refused_when_sending_too() {
        let sender = Sender::new(false).unwrap();
        let answer = sender.send("http://127.0.0.1:9/hook", "msg_1", &[vec![1; 24]], "{}").await;
        assert_eq!(answer.status, None);
        assert!(answer.error.unwrap().contains("private"));
    }

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None, "a past date");
        let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc2822();
        assert!(retry_after(&later).is_some_and(|d| d > Duration::from_secs(3500)));
        assert_eq!(retry_after("soon"), None);
    }
}
