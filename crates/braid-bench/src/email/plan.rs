//! The plan of an email run: which sender writes each email, in which order, and its
//! rendered bytes, all made before the clock starts.

use chrono::Utc;

use super::EmailArgs;
use super::mail::{Raw, Sender, render, sender};
use crate::rng::Rng;

/// One email of the plan: the `seq`-th message of `sender` (0 is the first).
#[derive(Debug, Clone, Copy)]
pub struct Item {
    pub sender: usize,
    pub seq: u32,
    pub html: bool,
    pub tagged: bool,
}

#[derive(Debug)]
pub struct Plan {
    pub senders: Vec<Sender>,
    pub items: Vec<Item>,
    pub raws: Vec<Raw>,
}

impl Plan {
    /// `emails` emails from about `emails × (1 - reply_share)` senders; `prefix` keeps the
    /// warm-up's senders apart from the timed run's.
    pub fn new(args: &EmailArgs, emails: u64, run: &str, prefix: &str, tags: bool, seed: u64) -> Plan {
        let mut rng = Rng::warmed(seed);
        let emails = usize::try_from(emails).unwrap_or(usize::MAX);
        let sender_count = ((emails as f64 * (1.0 - args.reply_share)).round() as usize).clamp(1, emails.max(1));
        let mut counts = vec![1u32; sender_count];
        for _ in sender_count..emails {
            counts[rng.index(sender_count)] += 1;
        }
        let senders: Vec<Sender> = (0..sender_count).map(|i| sender(&mut rng, run, prefix, i)).collect();
        // Random slots for every message, then each sender's messages in order over its slots.
        let mut slots: Vec<usize> =
            counts.iter().enumerate().flat_map(|(i, &n)| std::iter::repeat_n(i, n as usize)).collect();
        rng.shuffle(&mut slots);
        let mut next_seq = vec![0u32; sender_count];
        let items: Vec<Item> = slots
            .into_iter()
            .map(|s| {
                let seq = next_seq[s];
                next_seq[s] += 1;
                Item {
                    sender: s,
                    seq,
                    html: rng.chance(args.html_share),
                    tagged: tags && seq > 0 && rng.chance(args.tag_share),
                }
            })
            .collect();
        let now = Utc::now();
        let raws = items.iter().map(|item| render(seed, run, &senders[item.sender], item, now)).collect();
        Plan { senders, items, raws }
    }

    /// The plan's size in bytes, a ticket number counted as 4.
    pub fn bytes(&self) -> usize {
        self.raws.iter().map(|r| r.size() + 4).sum()
    }

    /// Prints the first `n` emails, a tag's number shown as `[#NUMBER]`.
    pub fn print_sample(&self, n: usize) {
        for (item, raw) in self.items.iter().zip(&self.raws).take(n) {
            println!("=== email: sender {} message {} · {} bytes", item.sender, item.seq, raw.size());
            print!("{}", String::from_utf8_lossy(&raw.head));
            if let Some(tail) = &raw.tail {
                print!("NUMBER{}", String::from_utf8_lossy(tail));
            }
            println!();
        }
    }
}

/// A short run id, different every run, that keeps senders and Message-IDs unique.
pub fn run_nonce() -> String {
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default().unsigned_abs() ^ u64::from(std::process::id());
    let mut rng = Rng::warmed(nanos);
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..6).map(|_| char::from(ALPHABET[rng.index(ALPHABET.len())])).collect()
}
