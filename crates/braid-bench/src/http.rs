//! Driving a running Braid over HTTP: the loopback-only guard, the client, one timed
//! exchange, and the workers that share a run.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::{Client, RequestBuilder, StatusCode, Url};

use crate::db::redact;
use crate::stats::{Failure, Outcome};

pub fn parse_url(url: &str, flag: &str) -> anyhow::Result<Url> {
    Url::parse(url).with_context(|| format!("{flag} {} is not a URL", redact(url)))
}

pub fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Refuses anything but a loopback host: this tool floods what it is pointed at.
pub fn loopback_url(url: &str, flag: &str) -> anyhow::Result<Url> {
    let parsed = parse_url(url, flag)?;
    if !is_loopback(&parsed) {
        bail!("{flag} must be on the loopback interface (127.0.0.1, ::1 or localhost), not {}", redact(url));
    }
    Ok(parsed)
}

/// Runs `future` to its end on a multi-threaded runtime.
pub fn block_on<F: Future>(future: F) -> anyhow::Result<F::Output> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(future))
}

/// A client keeping `concurrency` connections to `base`, once `base` answers its health
/// check.
pub async fn connect(base: &Url, concurrency: u64, timeout: Duration) -> anyhow::Result<Client> {
    let client = Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(usize::try_from(concurrency).unwrap_or(64))
        .timeout(timeout)
        .build()?;
    let health = client.get(base.join("/healthz")?).send().await;
    if !health.as_ref().is_ok_and(|r| r.status().is_success()) {
        bail!("{base}healthz does not answer 200; is `braid serve` running there?");
    }
    Ok(client)
}

/// Builds a request with `make`, sends it and reads the whole answer. Returns the latency
/// in microseconds (from before `make` to the answer's last byte) and, for a 2xx, what
/// `read` makes of its status and body once the clock has stopped.
pub async fn exchange<T>(
    make: impl FnOnce() -> RequestBuilder,
    read: impl FnOnce(StatusCode, &[u8]) -> T,
) -> (u64, Result<T, Failure>) {
    let transport = |error: reqwest::Error| Failure { kind: "transport error".to_owned(), body: error.to_string() };
    let sent = Instant::now();
    let result = match make().send().await {
        Ok(response) => {
            let status = response.status();
            match response.bytes().await {
                Ok(body) if status.is_success() => Ok((status, body)),
                Ok(body) => {
                    Err(Failure { kind: status.to_string(), body: String::from_utf8_lossy(&body).into_owned() })
                }
                Err(error) => Err(transport(error)),
            }
        }
        Err(error) => Err(transport(error)),
    };
    let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
    (micros, result.map(|(status, body)| read(status, &body)))
}

/// Runs `workers` tasks made by `worker` at once and merges what they bring back; the
/// merged outcome's elapsed time is the wall clock from start to the last one's end.
pub async fn fan_out<O, F>(workers: u64, mut worker: impl FnMut() -> F) -> O
where
    O: Outcome,
    F: Future<Output = O> + Send + 'static,
{
    let started = Instant::now();
    let handles: Vec<_> = (0..workers).map(|_| tokio::spawn(worker())).collect();
    let mut total = O::default();
    for handle in handles {
        match handle.await {
            Ok(outcome) => total.merge(outcome),
            Err(error) => *total.tally().errors.entry(format!("worker failed: {error}")).or_default() += 1,
        }
    }
    total.tally().elapsed = started.elapsed();
    total
}

#[cfg(test)]
mod tests {
    use super::loopback_url;

    #[test]
    fn only_loopback_hosts_are_driven() {
        for url in ["http://127.0.0.1:8080", "http://localhost", "http://[::1]:1"] {
            assert!(loopback_url(url, "--url").is_ok(), "{url}");
        }
        for url in ["http://10.0.0.1", "http://example.org", "not a url"] {
            assert!(loopback_url(url, "--url").is_err(), "{url}");
        }
    }

    #[test]
    fn a_refused_url_is_shown_without_its_password() {
        let error = loopback_url("postgres://u:secret@10.0.0.1/db", "--pgbench-admin-url").unwrap_err();
        assert!(!error.to_string().contains("secret"), "{error}");
    }
}
