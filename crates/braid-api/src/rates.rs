//! Per-key rates on the public surfaces (the chat widget, web forms): a few limits per
//! surface, each a number of uses per minute per key (a client address, a visitor, a
//! form). With Redis they are counted there (one budget for every node: a fixed
//! one-minute window per key); without it, or while Redis does not answer, each node
//! counts its own with `governor`.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

type Keyed = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

/// One surface's limits, by index: `rates[i]` uses per minute (0 turns limit `i` off).
pub struct Counters {
    surface: &'static str,
    rates: Vec<u32>,
    redis: Option<redis::aio::ConnectionManager>,
    local: Vec<Option<Keyed>>,
    last_sweep: Mutex<Instant>,
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters")
            .field("surface", &self.surface)
            .field("rates", &self.rates)
            .field("redis", &self.redis.is_some())
            .finish()
    }
}

impl Counters {
    /// `surface` names the surface's counters in Redis (`braid:<surface>-rate:…`).
    pub fn new(surface: &'static str, rates: &[u32], redis: Option<redis::aio::ConnectionManager>) -> Self {
        let keyed = |n: u32| NonZeroU32::new(n).map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        Self {
            surface,
            rates: rates.to_vec(),
            redis,
            local: rates.iter().map(|&n| keyed(n)).collect(),
            last_sweep: Mutex::new(Instant::now()),
        }
    }

    /// Counts one use of limit `index` by `key`; `Err(seconds)` to wait when over it.
    pub async fn admit(&self, index: usize, key: &str) -> Result<(), u64> {
        let rate = self.rates.get(index).copied().unwrap_or(0);
        if rate == 0 {
            return Ok(());
        }
        if let Some(redis) = &self.redis {
            match counted_in_redis(redis.clone(), self.surface, index, key, rate).await {
                Ok(result) => return result,
                Err(error) => {
                    tracing::debug!(%error, surface = self.surface, "rate counted on this node: Redis did not answer")
                }
            }
        }
        let Some(Some(limiter)) = self.local.get(index) else { return Ok(()) };
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
    surface: &str,
    index: usize,
    key: &str,
    rate: u32,
) -> redis::RedisResult<Result<(), u64>> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    let (window, left) = (now / 60, 60 - now % 60);
    let name = format!("braid:{surface}-rate:{index}:{key}:{window}");
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
