//! A bounded pool for the CPU-heavy work of requests (parsing and sanitising mail). It
//! runs on tokio's blocking threads, but at most `threads` jobs at once: a burst of heavy
//! mail waits its turn instead of taking every core from database calls and from other
//! requests. Each job's work is itself bounded (`braid_channels::email::html::bounded`,
//! `email::limits`), so the wait is too.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::ApiError;

#[derive(Debug, Clone)]
pub struct CpuPool {
    permits: Arc<Semaphore>,
    threads: usize,
}

impl CpuPool {
    /// `threads` jobs at once; 0 means half the cores (at least one), leaving the rest to
    /// requests and the database.
    pub fn new(threads: usize) -> Self {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            n => n,
        };
        Self { permits: Arc::new(Semaphore::new(threads)), threads }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `work` when a slot is free. The slot goes with the job, not with the request
    /// waiting for it: a request dropped mid-way (the client went away) does not free a slot
    /// while its job still runs.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        let permit = self.permits.clone().acquire_owned().await.map_err(ApiError::internal)?;
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
}
