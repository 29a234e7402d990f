//! Realistic raw emails: a sender's identity, and each message rendered as a mail client and
//! an MTA would send it (Received and DKIM headers, RFC 2047 names, 72-column text, quoted
//! replies, an optional HTML part).

use std::fmt::Write as _;

use chrono::{DateTime, TimeDelta, Utc};

use super::plan::Item;
use super::words::{
    ASKS, CLOSINGS, DETAILS, DOMAINS, FIRST_NAMES, FOLLOW_UPS, GREETINGS, LAST_NAMES, MAILERS, OPENERS, SUBJECTS,
};
use crate::rng::Rng;

#[derive(Debug)]
pub struct Sender {
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
pub struct Raw {
    pub head: Vec<u8>,
    pub tail: Option<Vec<u8>>,
}

impl Raw {
    /// Its bytes, without the ticket number.
    pub fn size(&self) -> usize {
        self.head.len() + self.tail.as_ref().map_or(0, Vec::len)
    }
}

pub fn sender(rng: &mut Rng, run: &str, prefix: &str, index: usize) -> Sender {
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
    (0..len).map(|_| char::from(ALPHABET[rng.index(ALPHABET.len())])).collect()
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
    (now - TimeDelta::minutes(minutes) + TimeDelta::seconds(i64::try_from(rng.index(600)).unwrap_or(0)))
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
        rng.index(100),
        rng.index(10_000)
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

pub fn render(seed: u64, run: &str, sender: &Sender, item: &Item, now: DateTime<Utc>) -> Raw {
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
