//! A bounded pool for the CPU-heavy work of requests (parsing and sanitising mail). It
//! runs on tokio's blocking threads, but at most `threads` jobs at once: a burst of heavy
//! mail waits its turn instead of taking every core from database calls and from other
//! requests. Each job's work is itself bounded (`braid_channels::email::html::bounded`,
//! `email::limits`), so the wait is too; a request that still waits longer than `wait` (each
//! holding its body) is answered `503`, which providers retry later.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::{ApiError, ErrorCode};

#[derive(Debug, Clone)]
pub struct CpuPool {
    permits: Arc<Semaphore>,
    threads: usize,
    wait: Duration,
}

impl CpuPool {
    /// `threads` jobs at once; 0 means half the cores (at least one), leaving the rest to
    /// requests and the database.
    pub fn new(threads: usize) -> Self {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            n => n,
        };
        Self { permits: Arc::new(Semaphore::new(threads)), threads, wait: Duration::from_secs(30) }
    }

    /// How long a job may wait for a slot before its request is answered `503`.
    pub fn with_wait(self, wait: Duration) -> Self {
        Self { wait, ..self }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `work` when a slot is free. The slot goes with the job, not with the request
    /// waiting for it: a request dropped mid-way (the client went away) does not free a slot
    /// while its job still runs.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::new(ErrorCode::Unavailable, "this server is busy parsing mail; retry later"))?
            .map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(move || {
            let done = work();
            drop(permit);
            done
        })
        .await
        .map_err(ApiError::internal)
    }
}

impl Default for CpuPool {
    fn default() -> Self {
        Self::new(0)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn no_more_than_the_pool_size_run_at_once() {
        let pool = CpuPool::new(2);
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let jobs: Vec<_> = (0..8)
            .map(|_| {
                let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    pool.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        for job in jobs {
            job.await.expect("joined").expect("ran");
        }
        assert!((1..=2).contains(&most.load(Ordering::SeqCst)), "{most:?} at once");
    }

    #[tokio::test]
    async fn a_job_that_waits_too_long_for_a_slot_is_refused_as_unavailable() {
        let pool = CpuPool::new(1).with_wait(Duration::from_millis(50));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let busy = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(move || hold.recv()).await })
        };
        while pool.permits.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let refused = pool.run(|| ()).await.expect_err("no slot within the wait");
        assert_eq!(refused.code, ErrorCode::Unavailable);
        release.send(()).expect("the busy job waits");
        busy.await.expect("joined").expect("ran").expect("released");
        pool.run(|| ()).await.expect("a slot is free again");
    }
}
