//! Rates on the public chat surface: sessions per client address, messages per visitor
//! and per address, reads per address, signals per visitor (counted as
//! [`crate::rates`] counts every public surface's).

use crate::rates::Counters;

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

#[derive(Debug)]
pub struct WidgetLimits(Counters);

impl WidgetLimits {
    pub fn new(rates: Rates, redis: Option<redis::aio::ConnectionManager>) -> Self {
        let per_limit = [
            rates.sessions_per_address,
            rates.messages_per_visitor,
            rates.messages_per_address,
            rates.reads_per_address,
            rates.signals_per_visitor,
        ];
        Self(Counters::new("widget", &per_limit, redis))
    }

    /// Counts one use of `limit` by `key`; `Err(seconds)` to wait when over it.
    pub async fn admit(&self, limit: Limit, key: &str) -> Result<(), u64> {
        self.0.admit(limit as usize, key).await
    }
}
