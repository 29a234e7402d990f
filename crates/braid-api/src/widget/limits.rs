//! Rates on the public chat surface: sessions per client address, messages per visitor
//! and per address. With Redis they are counted there (one budget for every node: a
//! fixed one-minute window per key); without it, or while Redis does not answer, each
//! node counts its own.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

type Keyed = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

/// Per minute; 0 turns a limit off.
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    pub sessions_per_address: u32,
    pub messages_per_visitor: u32,
    pub messages_per_address: u32,
    /// Socket connects and history reads per address.
    pub reads_per_address: u32,
    /// Typing and seen per visitor.
    pub signals_per_visitor: u32,
}

impl Default for Rates {
    fn default() -> Self {
        Self {
            sessions_per_address: 30,
            messages_per_visitor: 30,
            messages_per_address: 120,
            reads_per_address: 120,
            signals_per_visitor: 120,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Limit {
    Sessions,
    MessagesPerVisitor,
    MessagesPerAddress,
    Reads,
    Signals,
}

pub struct WidgetLimits {
    rates: Rates,
    redis: Option<redis::aio::ConnectionManager>,
    local: [Option<Keyed>; 5],
    last_sweep: Mutex<Instant>,
}

impl std::fmt::Debug for WidgetLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WidgetLimits").field("rates", &self.rates).field("redis", &self.redis.is_some()).finish()
    }
}

impl WidgetLimits {
    pub fn new(rates: Rates, redis: Option<redis::aio::ConnectionManager>) -> Self {
        let keyed = |n: u32| NonZeroU32::new(n).map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        Self {
            local: [
                keyed(rates.sessions_per_address),
                keyed(rates.messages_per_visitor),
                keyed(rates.messages_per_address),
                keyed(rates.reads_per_address),
                keyed(rates.signals_per_visitor),
            ],
            rates,
            redis,
            last_sweep: Mutex::new(Instant::now()),
        }
    }

    fn rate(&self, limit: Limit) -> u32 {
        match limit {
            Limit::Sessions => self.rates.sessions_per_address,
            Limit::MessagesPerVisitor => self.rates.messages_per_visitor,
            Limit::MessagesPerAddress => self.rates.messages_per_address,
            Limit::Reads => self.rates.reads_per_address,
            Limit::Signals => self.rates.signals_per_visitor,
        }
    }

    /// Counts one use of `limit` by `key`; `Err(seconds)` to wait when over it.
    pub async fn admit(&self, limit: Limit, key: &str) -> Result<(), u64> {
        let rate = self.rate(limit);
        if rate == 0 {
            return Ok(());
        }
        if let Some(redis) = &self.redis {
            match counted_in_redis(redis.clone(), limit, key, rate).await {
                Ok(result) => return result,
                Err(error) => tracing::debug!(%error, "widget rate counted on this node: Redis did not answer"),
            }
        }
        let Some(limiter) = &self.local[limit as usize] else { return Ok(()) };
        self.sweep();
        limiter.check_key(&key.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    fn sweep(&self) {
        let Ok(mut last) = self.last_sweep.try_lock() else { return };
        if last.elapsed() >= Duration::from_secs(60) {
            *last = Instant::now();
            for limiter in self.local.iter().flatten() {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        }
    }
}

async fn counted_in_redis(
    mut redis: redis::aio::ConnectionManager,
    limit: Limit,
    key: &str,
    rate: u32,
) -> redis::RedisResult<Result<(), u64>> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    let (window, left) = (now / 60, 60 - now % 60);
    let name = format!("braid:widget-rate:{}:{key}:{window}", limit as usize);
    let counted = async {
        let (count,): (u64,) =
            redis::pipe().atomic().incr(&name, 1).expire(&name, 120).ignore().query_async(&mut redis).await?;
        Ok::<_, redis::RedisError>(count)
    };
    let count = tokio::time::timeout(Duration::from_millis(250), counted)
        .await
        .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "timed out")))??;
    Ok(if count > u64::from(rate) { Err(left) } else { Ok(()) })
}

/// The key of a client address (an IPv6 one by its /64).
pub fn address_key(address: Option<IpAddr>) -> String {
    address.map_or_else(|| "unknown".to_owned(), |a| crate::client::throttle_key(a).to_string())
}
