//! `braid-bench email`: posts distinct, realistic raw emails to a running Braid's
//! `POST /v1/channels/email/inbound` at a fixed concurrency and prints emails/s and latency
//! percentiles; optionally runs `pgbench` on the same machine for a yardstick.
//!
//! The mix: about `--reply-share` of the emails are replies from earlier senders, with
//! In-Reply-To and References naming the Message-IDs of that sender's earlier mails; some
//! replies carry a `[#number]` subject tag; some messages are multipart/alternative with an
//! HTML part. Every email is a few KB and unique (its raw bytes, its Message-ID, and its
//! sender's address carry a per-run nonce), so every one is stored and placed anew.
//!
//! Order: the plan interleaves every sender's messages at random positions, keeping each
//! sender's own order. A reply is sent only after the server answered the message it
//! replies to, so threading can find it; a worker that reaches a reply whose parent is
//! still in flight waits for that answer (counted and shown). Every email is rendered
//! before the clock starts. The latency of an email is from sending the request to reading
//! the whole 2xx answer, which Braid gives after the message is stored and placed.
//!
//! Bounded: `--emails` timed emails (after `--warmup` untimed ones), stopping after
//! `--max-seconds`; only a loopback `--url` is contacted.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, TimeDelta, Utc};
use clap::Args;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::{Client, Url};
use serde_json::Value;
use tokio::sync::watch;

use crate::db::{Db, redact, text};

#[derive(Debug, Args)]
pub struct EmailArgs {
    /// The running Braid server; must be on the loopback interface.
    #[arg(long, env = "BRAID_BENCH_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The server's inbound email secret (its BRAID_EMAIL_INBOUND_SECRET).
    #[arg(long, env = "BRAID_EMAIL_INBOUND_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Emails in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: u64,
    /// Timed emails. 0 skips the email run (for `--pgbench` alone).
    #[arg(long, default_value_t = 5_000)]
    pub emails: u64,
    /// Untimed emails first, from their own senders (warms connections and caches).
    #[arg(long, default_value_t = 100)]
    pub warmup: u64,
    /// The email run stops after this many seconds even with emails left.
    #[arg(long, default_value_t = 300)]
    pub max_seconds: u64,
    /// The share of emails that are replies from an earlier sender (the rest are first
    /// messages from new senders).
    #[arg(long, default_value_t = 0.5)]
    pub reply_share: f64,
    /// The share of replies whose subject carries the `[#number]` tag of the sender's
    /// ticket. Needs --database-url, to read the number the ticket was given.
    #[arg(long, default_value_t = 0.3)]
    pub tag_share: f64,
    /// The share of emails sent as multipart/alternative with an HTML part.
    #[arg(long, default_value_t = 0.4)]
    pub html_share: f64,
    /// The server's database, read for the numbers of tickets that tagged replies name
    /// (`SELECT number FROM tickets WHERE id = …`, before that email's clock starts) and
    /// for counts after the run. Without it, replies carry no `[#number]` tag.
    #[arg(long, env = "BRAID_BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Seeds the generator (senders, texts, the mix, the order). Senders and Message-IDs
    /// also carry a per-run nonce, so repeated runs against one database never collide.
    #[arg(long, default_value_t = 42)]
    pub rng_seed: u64,
    /// Print the first N emails of the plan (a tag's number shown as `[#NUMBER]`) and exit
    /// without sending anything.
    #[arg(long, value_name = "N")]
    pub sample: Option<usize>,
    /// Also run pgbench (one INSERT and one UPDATE per transaction on its own small table,
    /// in a scratch database it creates and drops) and print its tps next to emails/s.
    #[arg(long, value_name = "PATH")]
    pub pgbench: Option<PathBuf>,
    /// A PostgreSQL database on a loopback host where the scratch pgbench database may be
    /// created; pgbench connects to the scratch database with the same user.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub pgbench_admin_url: String,
    /// pgbench client counts, one run each.
    #[arg(long, value_delimiter = ',', default_values_t = [1u32, 8])]
    pub pgbench_clients: Vec<u32>,
    /// Seconds per pgbench run (`-T`).
    #[arg(long, default_value_t = 15)]
    pub pgbench_seconds: u64,
}

pub fn email(args: EmailArgs) -> anyhow::Result<()> {
    let base = loopback_url(&args.url, "--url")?;
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if args.emails == 0 && args.pgbench.is_none() {
        bail!("--emails 0 runs nothing without --pgbench");
    }
    for (name, share) in [("--reply-share", args.reply_share), ("--tag-share", args.tag_share)] {
        if !(0.0..=1.0).contains(&share) {
            bail!("{name} must be between 0 and 1");
        }
    }
    if !(0.0..=1.0).contains(&args.html_share) {
        bail!("--html-share must be between 0 and 1");
    }
    if let Some(n) = args.sample {
        let plan = Plan::new(&args, args.emails.max(1), &run_nonce(), "s", true, args.rng_seed);
        for (item, raw) in plan.items.iter().zip(&plan.raws).take(n) {
            let size = raw.head.len() + raw.tail.as_ref().map_or(0, Vec::len);
            println!("=== email: sender {} message {} · {size} bytes", item.sender, item.seq);
            print!("{}", String::from_utf8_lossy(&raw.head));
            if let Some(tail) = &raw.tail {
                print!("NUMBER{}", String::from_utf8_lossy(tail));
            }
            println!();
        }
        return Ok(());
    }
    let email_report = if args.emails > 0 {
        let Some(secret) = args.secret.clone().filter(|s| !s.is_empty()) else {
            bail!("pass --secret (or set BRAID_EMAIL_INBOUND_SECRET) to the server's inbound email secret");
        };
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        Some(runtime.block_on(drive(&args, base, secret))?)
    } else {
        None
    };
    let pgbench_results = match &args.pgbench {
        Some(path) => pgbench(path, &args.pgbench_admin_url, &args.pgbench_clients, args.pgbench_seconds)?,
        None => Vec::new(),
    };
    if email_report.is_some() && !pgbench_results.is_empty() {
        print_side_by_side(email_report.as_ref(), args.concurrency, &pgbench_results);
    }
    Ok(())
}

/// Refuses anything but a loopback host: this tool floods what it is pointed at.
fn loopback_url(url: &str, flag: &str) -> anyhow::Result<Url> {
    let parsed = Url::parse(url).with_context(|| format!("{flag} {} is not a URL", redact(url)))?;
    let host = parsed.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("{flag} must be on the loopback interface (127.0.0.1, ::1 or localhost), not {}", redact(url));
    }
    Ok(parsed)
}

// ---------------------------------------------------------------------------------------
// The plan: who writes, in which order, and what.

/// splitmix64: small, fast, and good enough for text and shuffles.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut rng = Rng(seed);
        rng.next();
        rng
    }

    /// A generator for one (stream, index, part), independent of every other.
    fn for_item(seed: u64, a: u64, b: u64) -> Self {
        Rng::new(seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F).rotate_left(17))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn range(&mut self, low: usize, high: usize) -> usize {
        low + self.below(high - low + 1)
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// One email of the plan: the `seq`-th message of `sender` (0 is the first).
#[derive(Debug, Clone, Copy)]
struct Item {
    sender: usize,
    seq: u32,
    html: bool,
    tagged: bool,
}

#[derive(Debug)]
struct Sender {
    /// `ana.garcia.17.k3x9@example.net`
    address: String,
    /// As the From header shows it (RFC 2047 when not ASCII).
    from_header: String,
    /// `Ana García`
    name: String,
    domain: &'static str,
    subject: String,
    mailer: &'static str,
}

/// A rendered email. A tagged reply is split around its ticket number, which is known only
/// once the sender's first message has been placed.
#[derive(Debug)]
struct Raw {
    head: Vec<u8>,
    tail: Option<Vec<u8>>,
}

#[derive(Debug)]
struct Plan {
    senders: Vec<Sender>,
    items: Vec<Item>,
    raws: Vec<Raw>,
}

impl Plan {
    /// `emails` emails from about `emails × (1 - reply_share)` senders; `prefix` keeps the
    /// warm-up's senders apart from the timed run's.
    fn new(args: &EmailArgs, emails: u64, run: &str, prefix: &str, tags: bool, seed: u64) -> Plan {
        let mut rng = Rng::new(seed);
        let emails = usize::try_from(emails).unwrap_or(usize::MAX);
        let sender_count = ((emails as f64 * (1.0 - args.reply_share)).round() as usize).clamp(1, emails.max(1));
        let mut counts = vec![1u32; sender_count];
        for _ in sender_count..emails {
            counts[rng.below(sender_count)] += 1;
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

    fn bytes(&self) -> usize {
        self.raws.iter().map(|r| r.head.len() + r.tail.as_ref().map_or(0, Vec::len) + 4).sum()
    }
}

const FIRST_NAMES: &[&str] = &[
    "Ana", "José", "Zoë", "Liam", "Noah", "Emma", "Olivia", "Mateo", "Sofía", "Lukas", "Jürgen", "Amélie", "Chloé",
    "Mia", "Hannah", "Aarav", "Priya", "Kenji", "Yuki", "Oliver", "Ava", "Lucas", "Björn", "Ingrid", "Søren", "Élodie",
    "Tomás", "Fatima", "Omar", "Grace", "Daniel", "Sarah", "Michael", "Laura", "David", "Julia", "Ethan", "Isabella",
    "Wei", "Mei", "Chidi", "Amara", "Kofi", "Nadia", "Ivan", "Olga", "Piotr", "Zofia", "Marco", "Giulia",
];
const LAST_NAMES: &[&str] = &[
    "García",
    "Müller",
    "Smith",
    "Johnson",
    "Nguyen",
    "Kowalski",
    "Rossi",
    "Dubois",
    "Jensen",
    "Tanaka",
    "Sato",
    "Patel",
    "Okafor",
    "Mensah",
    "Ivanova",
    "Silva",
    "Santos",
    "O'Brien",
    "Murphy",
    "Schmidt",
    "Fischer",
    "Larsen",
    "Novak",
    "Horvat",
    "Costa",
    "Martin",
    "Bernard",
    "Lefèvre",
    "Williams",
    "Brown",
    "Davis",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Chen",
    "Wang",
    "Kim",
    "Park",
    "Haddad",
    "Yilmaz",
    "Öztürk",
    "Andersson",
    "Nilsson",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "example.net",
    "example.org",
    "mail.example.com",
    "customers.example.net",
    "shop.example.org",
    "eu.example.com",
    "corp.example.net",
];
const MAILERS: &[&str] = &[
    "Apple Mail (2.3774.600.62)",
    "Microsoft Outlook 16.0",
    "Mozilla Thunderbird 128.5.0",
    "K-9 Mail for Android",
    "Roundcube Webmail/1.6.9",
    "Evolution 3.50.2",
];
/// Subjects; `{o}` becomes an order number, `{i}` an invoice number.
const SUBJECTS: &[&str] = &[
    "Refund for order {o}",
    "Cannot log in to my account",
    "Invoice {i} shows the wrong VAT number",
    "Package for order {o} arrived damaged",
    "How do I export all my data?",
    "Charged twice for the same subscription",
    "Please change my billing address",
    "App crashes when I upload photos",
    "Cancel my subscription at the end of the month",
    "Wrong size delivered (order {o})",
    "Password reset email never arrives",
    "Question about invoice {i}",
    "Two-factor codes are rejected",
    "Where is my order {o}?",
    "Rückerstattung für Bestellung {o}",
    "Problème de facturation — facture {i}",
    "Discount code not accepted at checkout",
    "Need a copy of my receipt for {o}",
    "Shared calendar stopped syncing",
    "Upgrade from Basic to Team plan",
];
const GREETINGS: &[&str] = &["Hi,", "Hello,", "Hello support team,", "Dear Braid team,", "Hi there,", "Good morning,"];
const OPENERS: &[&str] = &[
    "I am writing about order {o}, which I placed on {d}.",
    "Since {d} I have not been able to use my account properly.",
    "I received invoice {i} this morning and something does not look right.",
    "A colleague suggested I contact you directly about this.",
    "I tried the steps in your help centre article, but they did not solve the problem.",
    "This is the second time this month that I have had this issue.",
];
const DETAILS: &[&str] = &[
    "The confirmation email says the total was 129.90 EUR, but my card statement shows 259.80 EUR.",
    "When I open the app and pick more than three photos, it closes without any error message.",
    "The tracking page has said \"label created\" for six days now and nothing has moved.",
    "I already cleared the browser cache, tried a private window and a different browser.",
    "The VAT number on the invoice belongs to our old office; the new one is DE 812 345 678.",
    "Our team has eleven people, and only the first five can see the shared calendar.",
    "The reset link arrives after about twenty minutes and says it has expired.",
    "The parcel was left at the door and the box was soaked; two of the glasses are broken.",
    "I attached nothing this time because the upload form in your portal times out.",
    "The discount code WINTER25 is shown as valid on the product page but rejected in the cart.",
    "My phone number changed, so the two-factor codes go to a number I no longer have.",
    "I would like the refund to go back to the original card, not as store credit.",
    "We need the receipt for our accounting before the end of the quarter.",
    "Everything worked until the update last Tuesday; since then the sync fails every time.",
    "I can send screenshots if that helps; just tell me where to upload them.",
    "Our finance department needs the invoice to show the company name exactly as registered.",
];
const ASKS: &[&str] = &[
    "Could you please look into this and let me know what happens next?",
    "Can you tell me how long this will take?",
    "Please confirm once this has been fixed.",
    "What do you need from me to sort this out?",
    "I would appreciate a quick answer, as this is blocking our work.",
    "Is there a phone number I can call instead?",
];
const FOLLOW_UPS: &[&str] = &[
    "Thanks for the quick answer. Unfortunately the problem is still there.",
    "Just following up on my message below — is there any news?",
    "I tried what you suggested, and it worked for a day, but now it fails again.",
    "Here is the extra information you asked for.",
    "Thank you, that solved part of it. One more question, though.",
    "Sorry, I forgot to mention something in my last email.",
];
const CLOSINGS: &[&str] =
    &["Thanks,", "Best regards,", "Kind regards,", "Many thanks,", "Cheers,", "Thank you in advance,"];

fn sender(rng: &mut Rng, run: &str, prefix: &str, index: usize) -> Sender {
    let first = rng.pick(FIRST_NAMES);
    let last = rng.pick(LAST_NAMES);
    let domain = rng.pick(DOMAINS);
    let name = format!("{first} {last}");
    let local: String = format!("{}.{}", ascii_fold(first), ascii_fold(last)).to_lowercase();
    let address = format!("{local}.{prefix}{index}.{run}@{domain}");
    let from_header = format!("{} <{address}>", encode_word(&name));
    let subject = fill(rng.pick(SUBJECTS), rng);
    Sender { address, from_header, name, domain, subject, mailer: rng.pick(MAILERS) }
}

/// ASCII letters only, for the local part of an address.
fn ascii_fold(name: &str) -> String {
    name.chars()
        .filter_map(|c| match c {
            'á' | 'à' | 'â' => Some('a'),
            'é' | 'è' | 'ê' | 'É' => Some('e'),
            'í' => Some('i'),
            'ó' | 'ö' | 'Ö' | 'ø' => Some('o'),
            'ú' | 'ü' => Some('u'),
            c if c.is_ascii_alphabetic() => Some(c),
            _ => None,
        })
        .collect()
}

/// An RFC 2047 encoded word (Q encoding) when `text` is not plain ASCII, else `text`
/// (quoted when it has characters a display name may not show bare).
fn encode_word(text: &str) -> String {
    if text.is_ascii() {
        return if text.contains(['\'', ',', '.', '"']) {
            format!("\"{}\"", text.replace('"', ""))
        } else {
            text.into()
        };
    }
    let mut out = String::from("=?UTF-8?Q?");
    for byte in text.bytes() {
        match byte {
            b' ' => out.push('_'),
            b if b.is_ascii_alphanumeric() => out.push(char::from(b)),
            b => {
                let _ = write!(out, "={b:02X}");
            }
        }
    }
    out.push_str("?=");
    out
}

fn fill(template: &str, rng: &mut Rng) -> String {
    let order = format!("A-{}", rng.range(100_000, 999_999));
    let invoice = format!("INV-2026-{:05}", rng.range(1, 99_999));
    let day = Utc::now() - TimeDelta::days(i64::try_from(rng.range(1, 40)).unwrap_or(1));
    template.replace("{o}", &order).replace("{i}", &invoice).replace("{d}", &day.format("%B %-d").to_string())
}

/// Random characters from the base64 alphabet, as DKIM signatures show them.
fn base64ish(rng: &mut Rng, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    (0..len).map(|_| char::from(ALPHABET[rng.below(ALPHABET.len())])).collect()
}

fn message_id(run: &str, sender: &Sender, index: usize, seq: u32, seed: u64) -> String {
    let mut rng = Rng::for_item(seed, index as u64, u64::from(seq) + 0x1000);
    format!("{}.{run}.{index}.{seq}@{}", base64ish(&mut rng, 12).replace(['+', '/'], "x"), sender.domain)
}

/// The Date of a sender's `seq`-th message: within the last hours, each later than the one
/// before.
fn date_of(seed: u64, index: usize, seq: u32, now: DateTime<Utc>) -> String {
    let mut rng = Rng::for_item(seed, index as u64, u64::from(seq) + 0x3000);
    let minutes = 600 - 12 * i64::from(seq.min(40));
    (now - TimeDelta::minutes(minutes) + TimeDelta::seconds(i64::try_from(rng.below(600)).unwrap_or(0)))
        .format("%a, %d %b %Y %H:%M:%S +0000")
        .to_string()
}

/// `n` different entries of `items`, in random order.
fn pick_distinct<T: Copy>(rng: &mut Rng, items: &[T], n: usize) -> Vec<T> {
    let mut all = items.to_vec();
    rng.shuffle(&mut all);
    all.truncate(n);
    all
}

/// The text body of a sender's `seq`-th message, the same every time it is asked for (a
/// reply quotes the message before it).
fn body(seed: u64, sender: &Sender, index: usize, seq: u32) -> Vec<String> {
    let mut rng = Rng::for_item(seed, index as u64, u64::from(seq));
    let mut paragraphs = vec![rng.pick(GREETINGS).to_string()];
    let first = if seq == 0 { fill(rng.pick(OPENERS), &mut rng) } else { rng.pick(FOLLOW_UPS).to_string() };
    // Up to 1 + 3 × 4 = 13 of the 16 details, none twice.
    let (lead, rest) = (rng.range(1, 2), rng.range(1, 3));
    let mut details = pick_distinct(&mut rng, DETAILS, lead + 4 * rest).into_iter();
    let mut opening = first;
    for detail in details.by_ref().take(lead) {
        opening.push(' ');
        opening.push_str(detail);
    }
    paragraphs.push(opening);
    for _ in 0..rest {
        let sentences: Vec<&str> = details.by_ref().take(rng.range(2, 4)).collect();
        if !sentences.is_empty() {
            paragraphs.push(sentences.join(" "));
        }
    }
    paragraphs.push(format!(
        "For reference, my customer number is {} and the account is registered to {}.",
        rng.range(10_000_000, 99_999_999),
        sender.address
    ));
    paragraphs.push(rng.pick(ASKS).to_string());
    paragraphs.push(format!(
        "{}\n{}\n+1 555 01{:02} {:04}",
        rng.pick(CLOSINGS),
        sender.name,
        rng.below(100),
        rng.below(10_000)
    ));
    paragraphs
}

/// Wraps a paragraph at 72 columns, as mail clients do.
fn wrap(paragraph: &str, prefix: &str, out: &mut String) {
    for line in paragraph.lines() {
        let mut width = 0;
        out.push_str(prefix);
        for (i, word) in line.split(' ').enumerate() {
            let len = word.chars().count();
            if i > 0 && width + 1 + len > 72 {
                out.push_str("\r\n");
                out.push_str(prefix);
                width = 0;
            } else if i > 0 {
                out.push(' ');
                width += 1;
            }
            out.push_str(word);
            width += len;
        }
        out.push_str("\r\n");
    }
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn render(seed: u64, run: &str, sender: &Sender, item: &Item, now: DateTime<Utc>) -> Raw {
    let index = item.sender;
    let mut rng = Rng::for_item(seed, index as u64, u64::from(item.seq) + 0x2000);
    let date = date_of(seed, index, item.seq, now);
    let id = message_id(run, sender, index, item.seq, seed);
    let host = format!("mail-{}.{}", rng.range(10, 99), sender.domain);

    let mut h = String::with_capacity(8192);
    let _ = write!(
        h,
        "Return-Path: <{addr}>\r\n\
         Received: from {host} ({host} [198.51.100.{ip}])\r\n\
         \tby mx1.braid.localhost (Postfix) with ESMTPS id {qid}\r\n\
         \tfor <support@braid.localhost>; {date}\r\n\
         Received: by {host} with SMTP id {smtp}; {date}\r\n\
         DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=s2026;\r\n\
         \th=from:to:subject:date:message-id:mime-version:content-type;\r\n\
         \tbh={bh}=;\r\n\
         \tb={b1}\r\n\t{b2}\r\n\t{b3}\r\n\t{b4}\r\n\
         MIME-Version: 1.0\r\n\
         Date: {date}\r\n\
         From: {from}\r\n\
         To: Support <support@braid.localhost>\r\n",
        addr = sender.address,
        ip = rng.range(1, 254),
        qid = base64ish(&mut rng, 11).replace(['+', '/'], "Q"),
        smtp = base64ish(&mut rng, 24).replace(['+', '/'], "a"),
        domain = sender.domain,
        bh = base64ish(&mut rng, 43),
        b1 = base64ish(&mut rng, 70),
        b2 = base64ish(&mut rng, 76),
        b3 = base64ish(&mut rng, 76),
        b4 = base64ish(&mut rng, 120),
        from = sender.from_header,
    );
    let subject = if item.seq == 0 { sender.subject.clone() } else { format!("Re: {}", sender.subject) };
    let subject_header = if subject.is_ascii() { subject.clone() } else { encode_word(&subject) };
    let _ = write!(h, "Subject: {subject_header}");
    let split_at_tag = if item.tagged {
        h.push_str(" [#");
        Some(h.len())
    } else {
        None
    };
    if item.tagged {
        h.push(']');
    }
    let _ = write!(h, "\r\nMessage-ID: <{id}>\r\n");
    if item.seq > 0 {
        let previous: Vec<String> =
            (0..item.seq).map(|s| format!("<{}>", message_id(run, sender, index, s, seed))).collect();
        let _ =
            write!(h, "In-Reply-To: {}\r\nReferences: {}\r\n", previous[previous.len() - 1], previous.join("\r\n "));
    }
    let _ = write!(h, "X-Mailer: {}\r\n", sender.mailer);

    // The text: this message, then (in a reply) the previous one quoted.
    let paragraphs = body(seed, sender, index, item.seq);
    let mut text = String::with_capacity(4096);
    for paragraph in &paragraphs {
        wrap(paragraph, "", &mut text);
        text.push_str("\r\n");
    }
    let quoted = (item.seq > 0).then(|| body(seed, sender, index, item.seq - 1));
    if let Some(quoted) = &quoted {
        let _ = write!(
            text,
            "On {}, {} <{}> wrote:\r\n",
            date_of(seed, index, item.seq - 1, now),
            sender.name,
            sender.address
        );
        for paragraph in quoted {
            wrap(paragraph, "> ", &mut text);
            text.push_str(">\r\n");
        }
    }

    if item.html {
        let boundary = format!("=_{}", base64ish(&mut rng, 24).replace(['+', '/'], "-"));
        let mut html = String::with_capacity(6144);
        html.push_str(
            "<!DOCTYPE html>\r\n<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\
             </head>\r\n<body style=\"font-family: -apple-system, Helvetica, Arial, sans-serif; font-size: 14px;\">\r\n",
        );
        for paragraph in &paragraphs {
            let _ = write!(html, "<div dir=\"ltr\">{}</div><br>\r\n", html_escape(paragraph).replace('\n', "<br>\r\n"));
        }
        if let Some(quoted) = &quoted {
            let _ = write!(
                html,
                "<div class=\"gmail_quote\"><div dir=\"ltr\" class=\"gmail_attr\">On {previous}, {} &lt;<a href=\"mailto:{a}\">{a}</a>&gt; \
                 wrote:<br></div>\r\n<blockquote style=\"margin:0 0 0 .8ex;border-left:1px #ccc solid;padding-left:1ex\">\r\n",
                html_escape(&sender.name),
                a = sender.address,
                previous = date_of(seed, index, item.seq - 1, now),
            );
            for paragraph in quoted {
                let _ = write!(html, "<p>{}</p>\r\n", html_escape(paragraph).replace('\n', "<br>\r\n"));
            }
            html.push_str("</blockquote></div>\r\n");
        }
        html.push_str("</body></html>\r\n");
        let _ = write!(
            h,
            "Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n\
             This is a multi-part message in MIME format.\r\n\r\n\
             --{boundary}\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
             {text}\r\n--{boundary}\r\nContent-Type: text/html; charset=\"UTF-8\"\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\n{html}\r\n--{boundary}--\r\n"
        );
    } else {
        let _ = write!(
            h,
            "Content-Type: text/plain; charset=\"UTF-8\"; format=flowed\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}"
        );
    }
    let mut bytes = h.into_bytes();
    match split_at_tag {
        Some(at) => {
            let tail = bytes.split_off(at);
            Raw { head: bytes, tail: Some(tail) }
        }
        None => Raw { head: bytes, tail: None },
    }
}

// ---------------------------------------------------------------------------------------
// Sending.

/// What the answers said about one sender's messages.
#[derive(Debug, Default, Clone)]
struct SenderSeen {
    customer: Option<String>,
    first_ticket: Option<String>,
    ticket_number: Option<i64>,
}

#[derive(Debug)]
struct Outcome {
    /// Latency of 2xx answers, in microseconds.
    latency: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
    elapsed: Duration,
    created: u64,
    duplicates: u64,
    malformed: u64,
    first_messages: u64,
    replies: u64,
    tagged: u64,
    html: u64,
    /// Replies placed on the ticket of the sender's first message / elsewhere.
    threaded: u64,
    misthreaded: u64,
    /// Messages placed under another customer than the sender's first message.
    wrong_customer: u64,
    /// Times a worker waited for the answer to a reply's parent, and for how long.
    parent_waits: u64,
    parent_wait: Duration,
    /// Ticket number look-ups for tagged replies, and their time (outside the latency).
    lookups: u64,
    lookup_time: Duration,
    /// CPU use of the whole machine over the run (from /proc/stat): busy, iowait, steal, %.
    cpu: Option<(f64, f64, f64)>,
}

impl Outcome {
    fn new() -> Self {
        Outcome {
            latency: Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds"),
            errors: BTreeMap::new(),
            first_error: None,
            elapsed: Duration::ZERO,
            created: 0,
            duplicates: 0,
            malformed: 0,
            first_messages: 0,
            replies: 0,
            tagged: 0,
            html: 0,
            threaded: 0,
            misthreaded: 0,
            wrong_customer: 0,
            parent_waits: 0,
            parent_wait: Duration::ZERO,
            lookups: 0,
            lookup_time: Duration::ZERO,
            cpu: None,
        }
    }

    fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    fn answered(&self) -> u64 {
        self.latency.len() + self.error_count()
    }

    fn rate(&self) -> f64 {
        self.answered() as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    fn merge(&mut self, other: Outcome) {
        let _ = self.latency.add(&other.latency);
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.created += other.created;
        self.duplicates += other.duplicates;
        self.malformed += other.malformed;
        self.first_messages += other.first_messages;
        self.replies += other.replies;
        self.tagged += other.tagged;
        self.html += other.html;
        self.threaded += other.threaded;
        self.misthreaded += other.misthreaded;
        self.wrong_customer += other.wrong_customer;
        self.parent_waits += other.parent_waits;
        self.parent_wait += other.parent_wait;
        self.lookups += other.lookups;
        self.lookup_time += other.lookup_time;
    }
}

/// Everything the workers share for one plan.
struct Shared {
    plan: Plan,
    client: Client,
    endpoint: Url,
    auth: String,
    next: AtomicU64,
    /// Per sender: how many of its messages have been answered.
    answered: Vec<watch::Sender<u32>>,
    seen: Vec<Mutex<SenderSeen>>,
    db: Option<Arc<Mutex<Db>>>,
    deadline: Instant,
    bar: Option<ProgressBar>,
}

/// The report of the timed run, for the side-by-side table.
#[derive(Debug)]
struct EmailReport {
    rate: f64,
    p50: f64,
    p95: f64,
    p99: f64,
    errors: u64,
}

async fn drive(args: &EmailArgs, base: Url, secret: String) -> anyhow::Result<EmailReport> {
    let client = Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(usize::try_from(args.concurrency).unwrap_or(64))
        .timeout(Duration::from_secs(60))
        .build()?;
    let health = client.get(base.join("/healthz")?).send().await;
    if !health.as_ref().is_ok_and(|r| r.status().is_success()) {
        bail!("{base}healthz does not answer 200; is `braid serve` running there?");
    }
    let db = match &args.database_url {
        Some(url) => Some(Arc::new(Mutex::new(Db::connect(url)?))),
        None => {
            if args.tag_share > 0.0 {
                eprintln!("note: no --database-url, so no reply carries a [#number] subject tag");
            }
            None
        }
    };
    let run = run_nonce();
    let counts_before = match &db {
        Some(db) => Some(counts(db)?),
        None => None,
    };

    let started = Instant::now();
    let warmup = Plan::new(args, args.warmup, &run, "w", db.is_some(), args.rng_seed ^ 0x5741_524D);
    let plan = Plan::new(args, args.emails, &run, "s", db.is_some(), args.rng_seed);
    let replies = plan.items.iter().filter(|i| i.seq > 0).count();
    println!(
        "braid-bench email: {base} · run {run} · {} emails ({} first messages from new senders, {} replies, {} tagged, \
         {} multipart with HTML; {:.1} KB on average) · concurrency {} · +{} warm-up · rendered in {:.1} s",
        plan.items.len(),
        plan.senders.len(),
        replies,
        plan.items.iter().filter(|i| i.tagged).count(),
        plan.items.iter().filter(|i| i.html).count(),
        plan.bytes() as f64 / plan.items.len().max(1) as f64 / 1024.0,
        args.concurrency,
        warmup.items.len(),
        started.elapsed().as_secs_f64(),
    );
    let endpoint = base.join("/v1/channels/email/inbound")?;
    let auth = format!("Bearer {secret}");
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);

    if args.warmup > 0 {
        let shared = shared(warmup, &client, &endpoint, &auth, db.clone(), deadline, None);
        let outcome = load(shared, args.concurrency).await;
        if outcome.error_count() > 0 {
            print_errors("warm-up", &outcome);
        }
    }

    let bar = ProgressBar::new(plan.items.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>12} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix("emails");
    let total = plan.items.len() as u64;
    let cpu_before = cpu_times();
    let shared = shared(plan, &client, &endpoint, &auth, db.clone(), deadline, Some(bar.clone()));
    let mut outcome = load(shared, args.concurrency).await;
    outcome.cpu = cpu_before.zip(cpu_times()).map(|(a, b)| cpu_use(a, b));
    bar.finish_and_clear();
    if outcome.answered() < total {
        eprintln!("stopped after {} of {total} emails (--max-seconds {})", outcome.answered(), args.max_seconds);
    }
    print_email_report(&outcome, args.concurrency);
    if let (Some(db), Some(before)) = (&db, counts_before) {
        let after = counts(db)?;
        println!(
            "database: +{} customers, +{} tickets, +{} email messages, +{} events (warm-up included)",
            after.0 - before.0,
            after.1 - before.1,
            after.2 - before.2,
            after.3 - before.3
        );
    }
    let quantile = |q: f64| {
        if outcome.latency.is_empty() { f64::NAN } else { outcome.latency.value_at_quantile(q) as f64 / 1000.0 }
    };
    Ok(EmailReport {
        rate: outcome.rate(),
        p50: quantile(0.50),
        p95: quantile(0.95),
        p99: quantile(0.99),
        errors: outcome.error_count(),
    })
}

/// A short run id, different every run, that keeps senders and Message-IDs unique.
fn run_nonce() -> String {
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default().unsigned_abs() ^ u64::from(std::process::id());
    let mut rng = Rng::new(nanos);
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..6).map(|_| char::from(ALPHABET[rng.below(ALPHABET.len())])).collect()
}

fn counts(db: &Mutex<Db>) -> anyhow::Result<(i64, i64, i64, i64)> {
    let mut db = db.lock().map_err(|_| anyhow::anyhow!("the database connection was poisoned"))?;
    Ok((
        db.int("SELECT count(*) AS n FROM customers")?,
        db.int("SELECT count(*) AS n FROM tickets")?,
        db.int("SELECT count(*) AS n FROM messages WHERE channel = 'email'")?,
        db.int("SELECT count(*) AS n FROM events")?,
    ))
}

fn shared(
    plan: Plan,
    client: &Client,
    endpoint: &Url,
    auth: &str,
    db: Option<Arc<Mutex<Db>>>,
    deadline: Instant,
    bar: Option<ProgressBar>,
) -> Arc<Shared> {
    let answered = plan.senders.iter().map(|_| watch::channel(0u32).0).collect();
    let seen = plan.senders.iter().map(|_| Mutex::new(SenderSeen::default())).collect();
    Arc::new(Shared {
        plan,
        client: client.clone(),
        endpoint: endpoint.clone(),
        auth: auth.to_owned(),
        next: AtomicU64::new(0),
        answered,
        seen,
        db,
        deadline,
        bar,
    })
}

/// Sends every email of the plan from `concurrency` tasks; stops at the deadline.
async fn load(shared: Arc<Shared>, concurrency: u64) -> Outcome {
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.min(shared.plan.items.len() as u64) {
        let shared = shared.clone();
        workers.push(tokio::spawn(async move { worker(&shared).await }));
    }
    let mut total = Outcome::new();
    for worker in workers {
        match worker.await {
            Ok(outcome) => total.merge(outcome),
            Err(error) => *total.errors.entry(format!("worker failed: {error}")).or_default() += 1,
        }
    }
    total.elapsed = started.elapsed();
    total
}

async fn worker(shared: &Shared) -> Outcome {
    let mut outcome = Outcome::new();
    loop {
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        let Some(&item) = usize::try_from(i).ok().and_then(|i| shared.plan.items.get(i)) else {
            break;
        };
        if Instant::now() >= shared.deadline {
            break;
        }
        // A reply goes out only once its parent has been answered.
        if item.seq > 0 {
            let mut answered = shared.answered[item.sender].subscribe();
            if *answered.borrow() < item.seq {
                let waited = Instant::now();
                let ready =
                    tokio::time::timeout_at(shared.deadline.into(), answered.wait_for(|n| *n >= item.seq)).await;
                outcome.parent_waits += 1;
                outcome.parent_wait += waited.elapsed();
                if !matches!(ready, Ok(Ok(_))) {
                    break;
                }
            }
        }
        let raw = &shared.plan.raws[usize::try_from(i).unwrap_or_default()];
        let mut body = Vec::with_capacity(raw.head.len() + raw.tail.as_ref().map_or(0, Vec::len) + 20);
        body.extend_from_slice(&raw.head);
        if let Some(tail) = &raw.tail {
            match ticket_number(shared, item.sender, &mut outcome).await {
                Some(number) => {
                    body.extend_from_slice(number.to_string().as_bytes());
                    outcome.tagged += 1;
                }
                // No ticket to name (the first message failed): an empty tag, ignored.
                None => body.extend_from_slice(b"0"),
            }
            body.extend_from_slice(tail);
        }

        let sent = Instant::now();
        let result = match shared
            .client
            .post(shared.endpoint.clone())
            .header("authorization", &shared.auth)
            .header("content-type", "message/rfc822")
            .body(body)
            .send()
            .await
        {
            Ok(response) => {
                let status = response.status();
                match response.bytes().await {
                    Ok(body) if status.is_success() => Ok((status.as_u16(), body)),
                    Ok(body) => Err((status.to_string(), String::from_utf8_lossy(&body).into_owned())),
                    Err(error) => Err(("transport error".to_owned(), error.to_string())),
                }
            }
            Err(error) => Err(("transport error".to_owned(), error.to_string())),
        };
        let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);

        if item.seq == 0 {
            outcome.first_messages += 1;
        } else {
            outcome.replies += 1;
        }
        if item.html {
            outcome.html += 1;
        }
        match result {
            Ok((status, body)) => {
                let _ = outcome.latency.record(micros);
                if status == 201 {
                    outcome.created += 1;
                } else {
                    outcome.duplicates += 1;
                }
                let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                if answer["malformed"].as_bool() == Some(true) {
                    outcome.malformed += 1;
                }
                let customer = answer["customer_id"].as_str().map(str::to_owned);
                let ticket = answer["ticket_id"].as_str().map(str::to_owned);
                if let Ok(mut seen) = shared.seen[item.sender].lock() {
                    if item.seq == 0 {
                        seen.customer = customer;
                        seen.first_ticket = ticket;
                    } else {
                        if seen.customer.is_some() && seen.customer != customer {
                            outcome.wrong_customer += 1;
                        }
                        if seen.first_ticket.is_some() {
                            if seen.first_ticket == ticket {
                                outcome.threaded += 1;
                            } else {
                                outcome.misthreaded += 1;
                            }
                        }
                    }
                }
            }
            Err((kind, body)) => {
                *outcome.errors.entry(kind).or_default() += 1;
                outcome.first_error.get_or_insert(body);
            }
        }
        shared.answered[item.sender].send_modify(|n| *n += 1);
        if let Some(bar) = &shared.bar {
            bar.inc(1);
        }
    }
    outcome
}

/// The number of the ticket the sender's first message opened, read once per sender.
async fn ticket_number(shared: &Shared, sender: usize, outcome: &mut Outcome) -> Option<i64> {
    let (known, ticket) = {
        let seen = shared.seen[sender].lock().ok()?;
        (seen.ticket_number, seen.first_ticket.clone())
    };
    if known.is_some() {
        return known;
    }
    let (db, ticket) = (shared.db.clone()?, ticket?);
    let started = Instant::now();
    let number = tokio::task::spawn_blocking(move || {
        let mut db = db.lock().ok()?;
        db.int(&format!("SELECT number AS n FROM tickets WHERE id = {}", text(&ticket))).ok()
    })
    .await
    .ok()
    .flatten();
    outcome.lookups += 1;
    outcome.lookup_time += started.elapsed();
    if let Ok(mut seen) = shared.seen[sender].lock() {
        seen.ticket_number = number;
    }
    number
}

/// The machine's cumulative CPU times from /proc/stat, in ticks.
#[derive(Debug, Clone, Copy)]
struct CpuTimes {
    /// user, nice, system, irq and softirq.
    busy: u64,
    iowait: u64,
    /// Time the hypervisor gave this VM's CPUs to someone else.
    steal: u64,
    total: u64,
}

fn cpu_times() -> Option<CpuTimes> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let fields: Vec<u64> = line.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let [user, nice, system, idle, iowait, irq, softirq, steal] = fields.get(..8)?.try_into().ok()?;
    let busy = user + nice + system + irq + softirq;
    Some(CpuTimes { busy, iowait, steal, total: busy + idle + iowait + steal })
}

/// Busy, iowait and steal over the interval, in % of all cores.
fn cpu_use(before: CpuTimes, after: CpuTimes) -> (f64, f64, f64) {
    let total = after.total.saturating_sub(before.total).max(1) as f64;
    let share = |a: u64, b: u64| b.saturating_sub(a) as f64 * 100.0 / total;
    (share(before.busy, after.busy), share(before.iowait, after.iowait), share(before.steal, after.steal))
}

fn millis(micros: u64) -> String {
    format!("{:.2}", micros as f64 / 1000.0)
}

fn print_email_report(o: &Outcome, concurrency: u64) {
    let ok = !o.latency.is_empty();
    let q = |q: f64| if ok { millis(o.latency.value_at_quantile(q)) } else { "-".into() };
    println!();
    println!("| scenario | c | emails | errors | emails/s | p50 ms | p95 ms | p99 ms | max ms |");
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|");
    println!(
        "| inbound email | {concurrency} | {} | {} | {:.1} | {} | {} | {} | {} |",
        o.answered(),
        o.error_count(),
        o.rate(),
        q(0.50),
        q(0.95),
        q(0.99),
        if ok { millis(o.latency.max()) } else { "-".into() }
    );
    println!();
    println!(
        "sent: {} first messages, {} replies ({} with a [#number] tag), {} multipart with HTML · wall clock {:.2} s",
        o.first_messages,
        o.replies,
        o.tagged,
        o.html,
        o.elapsed.as_secs_f64()
    );
    println!(
        "answers: {} × 201 created, {} × 200 duplicate, {} malformed · replies on their first message's ticket: {} \
         (elsewhere: {}) · under another customer: {}",
        o.created, o.duplicates, o.malformed, o.threaded, o.misthreaded, o.wrong_customer
    );
    println!(
        "waits for a parent's answer: {} ({:.2} s in all) · ticket-number look-ups: {} ({:.2} s in all, outside the \
         latency)",
        o.parent_waits,
        o.parent_wait.as_secs_f64(),
        o.lookups,
        o.lookup_time.as_secs_f64()
    );
    if let Some((busy, iowait, steal)) = o.cpu {
        println!(
            "machine CPU during the run (/proc/stat, all cores): {busy:.0}% busy, {iowait:.0}% iowait, {steal:.0}% \
             stolen by the hypervisor"
        );
    }
    print_errors("emails", o);
}

fn print_errors(what: &str, o: &Outcome) {
    if o.error_count() == 0 {
        return;
    }
    println!();
    println!("{what}: {} errors", o.error_count());
    for (kind, n) in &o.errors {
        println!("  {n} × {kind}");
    }
    if let Some(body) = &o.first_error {
        let body: String = body.chars().take(500).collect();
        println!("  first: {body}");
    }
}

// ---------------------------------------------------------------------------------------
// pgbench: the same machine's rate for a small write transaction.

/// The pgbench script: one INSERT and one UPDATE in one transaction, on one small table.
const PGBENCH_SCRIPT: &str = "\\set k random(1, 1000)
BEGIN;
INSERT INTO bench_writes (k, n, note, at) VALUES (:k, 0, 'pgbench row for braid-bench email', now());
UPDATE bench_writes SET n = n + 1, at = now() WHERE id = :k;
END;
";

/// Rows the table starts with (the UPDATE's targets).
const PGBENCH_ROWS: u32 = 1_000;

#[derive(Debug)]
struct PgbenchResult {
    clients: u32,
    transactions: Option<u64>,
    tps: f64,
    latency_ms: Option<f64>,
}

fn pgbench(path: &Path, admin_url: &str, clients: &[u32], seconds: u64) -> anyhow::Result<Vec<PgbenchResult>> {
    let mut url = loopback_url(admin_url, "--pgbench-admin-url")?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        bail!("--pgbench-admin-url must be a postgres:// URL");
    }
    if clients.is_empty() || clients.contains(&0) || seconds == 0 {
        bail!("--pgbench-clients and --pgbench-seconds must be at least 1");
    }
    let name = format!("braid_bench_pgbench_{}", std::process::id());
    let mut admin = Db::connect(admin_url)?;
    admin.execute(&format!("DROP DATABASE IF EXISTS {name}"))?;
    admin.execute(&format!("CREATE DATABASE {name}"))?;
    url.set_path(&format!("/{name}"));
    let script = std::env::temp_dir().join(format!("braid-bench-pgbench-{}.sql", std::process::id()));
    let result = (|| {
        let mut db = Db::connect(url.as_str())?;
        db.execute(&format!(
            "CREATE TABLE bench_writes (id BIGSERIAL PRIMARY KEY, k INTEGER NOT NULL, n INTEGER NOT NULL, \
             note TEXT NOT NULL, at TIMESTAMPTZ NOT NULL); \
             INSERT INTO bench_writes (k, n, note, at) \
             SELECT g, 0, 'initial row', now() FROM generate_series(1, {PGBENCH_ROWS}) AS g;"
        ))?;
        db.execute("VACUUM ANALYZE bench_writes")?;
        drop(db);
        std::fs::write(&script, PGBENCH_SCRIPT).with_context(|| format!("cannot write {}", script.display()))?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let mut results = Vec::new();
        for &c in clients {
            let mut command = Command::new(path);
            command.args(["-n", "-M", "prepared", "-c", &c.to_string(), "-j", &c.min(threads).to_string()]);
            command.args(["-T", &seconds.to_string(), "-f"]).arg(&script).arg(url.as_str());
            println!(
                "pgbench: {} -n -M prepared -c {c} -j {} -T {seconds} -f {} {}",
                path.display(),
                c.min(threads),
                script.display(),
                redact(url.as_str())
            );
            let output = command.output().with_context(|| format!("cannot run {}", path.display()))?;
            let stdout = String::from_utf8_lossy(&output.stdout);
            if !output.status.success() {
                bail!("pgbench failed ({}): {}{}", output.status, stdout, String::from_utf8_lossy(&output.stderr));
            }
            let tps = stdout
                .lines()
                .find_map(|l| l.strip_prefix("tps = ")?.split_whitespace().next()?.parse::<f64>().ok())
                .with_context(|| format!("no `tps = ` line in pgbench's output:\n{stdout}"))?;
            let transactions = stdout.lines().find_map(|l| {
                l.strip_prefix("number of transactions actually processed: ")?.split('/').next()?.trim().parse().ok()
            });
            let latency_ms = stdout
                .lines()
                .find_map(|l| l.strip_prefix("latency average = ")?.split_whitespace().next()?.parse::<f64>().ok());
            results.push(PgbenchResult { clients: c, transactions, tps, latency_ms });
        }
        Ok(results)
    })();
    let _ = std::fs::remove_file(&script);
    let dropped = admin.execute(&format!("DROP DATABASE IF EXISTS {name}"));
    let results = result?;
    dropped?;
    println!();
    println!("| pgbench (1 INSERT + 1 UPDATE per transaction) | clients | transactions | tps | latency avg ms |");
    println!("|---|--:|--:|--:|--:|");
    for r in &results {
        println!(
            "| {seconds} s | {} | {} | {:.1} | {} |",
            r.clients,
            r.transactions.map_or("-".into(), |t| t.to_string()),
            r.tps,
            r.latency_ms.map_or("-".into(), |l| format!("{l:.3}"))
        );
    }
    Ok(results)
}

fn print_side_by_side(email: Option<&EmailReport>, concurrency: u64, pgbench: &[PgbenchResult]) {
    let Some(email) = email else { return };
    let header: String = pgbench.iter().map(|r| format!(" pgbench tps, c={} |", r.clients)).collect();
    let rule: String = pgbench.iter().map(|_| "--:|").collect();
    let cells: String = pgbench.iter().map(|r| format!(" {:.1} |", r.tps)).collect();
    println!();
    println!("| c | emails/s | p50 ms | p95 ms | p99 ms | errors |{header}");
    println!("|--:|--:|--:|--:|--:|--:|{rule}");
    println!(
        "| {concurrency} | {:.1} | {:.2} | {:.2} | {:.2} | {} |{cells}",
        email.rate, email.p50, email.p95, email.p99, email.errors
    );
}
