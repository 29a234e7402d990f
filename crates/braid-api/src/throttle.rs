//! What keeps sign-in from being turned against the server: a budget of concurrent
//! password hashes, and a rate of sign-in attempts per client address.
//!
//! An argon2id check takes about 19 MiB and a core for tens of milliseconds; unbounded,
//! a few hundred parallel sign-ins with made-up emails exhaust memory and starve every
//! other request. Hashes therefore run under a semaphore sized to the cores; a sign-in
//! that cannot get a permit within a short wait is answered `503` with `Retry-After`.
//!
//! Both limits here are in-process, so per node: N nodes admit N times the rate, and each
//! node bounds its own memory and CPU, which is what the hash budget is for. The lock-out
//! of one email at one address after repeated failures is counted in the database and
//! holds across nodes.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

type PerAddress = RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock>;

/// How often idle addresses are dropped from the per-address limiter.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

pub struct SignInGuards {
    hashing: Arc<Semaphore>,
    permits: usize,
    hash_wait: Duration,
    per_address: Option<PerAddress>,
    last_sweep: Mutex<Instant>,
}

impl std::fmt::Debug for SignInGuards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInGuards")
            .field("hash_permits", &self.permits)
            .field("hash_wait", &self.hash_wait)
            .field("per_address", &self.per_address.is_some())
            .finish_non_exhaustive()
    }
}

impl SignInGuards {
    /// `hash_permits` concurrent hashes (0: one per available core), each waited for at
    /// most `hash_wait`; `per_address_per_minute` sign-in attempts per client address, as
    /// a burst that refills evenly over the minute (0: no per-address limit).
    pub fn new(hash_permits: usize, hash_wait: Duration, per_address_per_minute: u32) -> Self {
        let permits = match hash_permits {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            n => n,
        };
        let per_address = NonZeroU32::new(per_address_per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        Self {
            hashing: Arc::new(Semaphore::new(permits)),
            permits,
            hash_wait,
            per_address,
            last_sweep: Mutex::new(Instant::now()),
        }
    }

    /// Counts a sign-in attempt from `address`; `Err(seconds)` to wait when over the rate.
    pub fn admit(&self, address: IpAddr) -> Result<(), u64> {
        let Some(limiter) = &self.per_address else {
            return Ok(());
        };
        self.sweep(limiter);
        limiter.check_key(&crate::client::throttle_key(address)).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    fn sweep(&self, limiter: &PerAddress) {
        let Ok(mut last) = self.last_sweep.try_lock() else {
            return;
        };
        if last.elapsed() >= SWEEP_EVERY {
            *last = Instant::now();
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// A permit to hash, waiting at most the configured time; `None` when the budget stays
    /// spent that long.
    pub async fn try_hash_permit(&self) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout(self.hash_wait, self.hashing.clone().acquire_owned()).await.ok()?.ok()
    }

    /// A permit to hash, waiting as long as it takes (admins setting passwords: few, and
    /// already authenticated).
    pub async fn hash_permit(&self) -> Option<OwnedSemaphorePermit> {
        self.hashing.clone().acquire_owned().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_over_its_rate_waits_and_others_do_not() {
        let guards = SignInGuards::new(1, Duration::from_millis(1), 3);
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        for _ in 0..3 {
            assert_eq!(guards.admit(a), Ok(()));
        }
        let wait = guards.admit(a).unwrap_err();
        assert!((1..=20).contains(&wait), "{wait}");
        assert_eq!(guards.admit(b), Ok(()));
    }

    #[tokio::test]
    async fn the_hash_budget_refuses_after_its_wait() {
        let guards = SignInGuards::new(1, Duration::from_millis(10), 0);
        let held = guards.try_hash_permit().await.unwrap();
        assert!(guards.try_hash_permit().await.is_none());
        drop(held);
        assert!(guards.try_hash_permit().await.is_some());
    }
}
