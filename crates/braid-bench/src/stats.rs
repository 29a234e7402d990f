//! What a load run measured: the latency of every 2xx answer in a histogram, the failures
//! counted by kind, and the figures the tables print from them.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

/// A request that got no 2xx answer: its kind ("503 Service Unavailable", "transport
/// error") and the answer's body or the error's text.
#[derive(Debug)]
pub struct Failure {
    pub kind: String,
    pub body: String,
}

/// Latencies and failures of one worker, or of all of them merged.
#[derive(Debug)]
pub struct Tally {
    /// Latency of 2xx answers, in microseconds.
    pub latency: Histogram<u64>,
    /// Failures by kind → count.
    pub errors: BTreeMap<String, u64>,
    /// The first failure's body, for the report.
    pub first_error: Option<String>,
    /// Wall clock of the whole run (set once the workers are merged).
    pub elapsed: Duration,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            // 1 µs to 10 min, 3 significant digits.
            latency: Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds"),
            errors: BTreeMap::new(),
            first_error: None,
            elapsed: Duration::ZERO,
        }
    }
}

impl Tally {
    /// Counts one answer: its latency when it succeeded (then hands back what it carried),
    /// else its failure.
    pub fn record<T>(&mut self, micros: u64, result: Result<T, Failure>) -> Option<T> {
        match result {
            Ok(answer) => {
                let _ = self.latency.record(micros);
                Some(answer)
            }
            Err(failure) => {
                *self.errors.entry(failure.kind).or_default() += 1;
                self.first_error.get_or_insert(failure.body);
                None
            }
        }
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn answered(&self) -> u64 {
        self.latency.len() + self.error_count()
    }

    /// Answers per second of wall clock.
    pub fn rate(&self) -> f64 {
        self.answered() as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// The latency at quantile `q` in milliseconds; NaN when nothing succeeded.
    pub fn millis_at(&self, q: f64) -> f64 {
        if self.latency.is_empty() { f64::NAN } else { self.latency.value_at_quantile(q) as f64 / 1000.0 }
    }

    /// answered, errors, rate/s, p50, p95, p99 and max ms, as the tables print them.
    pub fn figures(&self) -> [String; 7] {
        let ok = !self.latency.is_empty();
        let quantile = |q: f64| if ok { millis(self.latency.value_at_quantile(q)) } else { "-".into() };
        [
            self.answered().to_string(),
            self.error_count().to_string(),
            format!("{:.1}", self.rate()),
            quantile(0.50),
            quantile(0.95),
            quantile(0.99),
            if ok { millis(self.latency.max()) } else { "-".into() },
        ]
    }

    /// The failures under a heading naming `what` failed; nothing when none did.
    pub fn print_errors(&self, what: &str) {
        if self.error_count() == 0 {
            return;
        }
        println!();
        println!("{what}: {} errors", self.error_count());
        for (kind, n) in &self.errors {
            println!("  {n} × {kind}");
        }
        if let Some(body) = &self.first_error {
            let body: String = body.chars().take(500).collect();
            println!("  first: {body}");
        }
    }
}

/// What one worker brings back, merged with the others' into one.
pub trait Outcome: Default + Send + 'static {
    fn merge(&mut self, other: Self);
    fn tally(&mut self) -> &mut Tally;
}

impl Outcome for Tally {
    fn merge(&mut self, other: Tally) {
        let _ = self.latency.add(&other.latency);
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn tally(&mut self) -> &mut Tally {
        self
    }
}

fn millis(micros: u64) -> String {
    format!("{:.2}", micros as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::{Failure, Outcome, Tally};

    fn failure(kind: &str, body: &str) -> Failure {
        Failure { kind: kind.into(), body: body.into() }
    }

    #[test]
    fn a_success_is_timed_and_a_failure_counted_with_its_body() {
        let mut tally = Tally::default();
        assert_eq!(tally.record(1_500, Ok(7)), Some(7));
        assert_eq!(tally.record::<()>(9, Err(failure("503 Service Unavailable", "busy"))), None);
        assert_eq!((tally.latency.len(), tally.error_count(), tally.answered()), (1, 1, 2));
        assert_eq!(tally.first_error.as_deref(), Some("busy"));
        assert_eq!(tally.figures()[3], "1.50");
    }

    #[test]
    fn merging_adds_latencies_and_errors_and_keeps_the_first_body() {
        let mut total = Tally::default();
        total.record(1_000, Ok(()));
        let mut other = Tally::default();
        other.record(2_000, Ok(()));
        other.record::<()>(1, Err(failure("transport error", "reset")));
        total.merge(other);
        assert_eq!((total.latency.len(), total.error_count()), (2, 1));
        assert_eq!(total.first_error.as_deref(), Some("reset"));
    }

    #[test]
    fn no_success_prints_dashes_and_nan() {
        let tally = Tally::default();
        assert_eq!(tally.figures()[3..], ["-", "-", "-", "-"]);
        assert!(tally.millis_at(0.5).is_nan());
    }
}
