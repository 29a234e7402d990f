//! Email in: a raw RFC 5322 message becomes an [`Inbound`] for placement.
//!
//! - [`parse`] reads the MIME with mail-parser: every charset, RFC 2047 headers, nested
//!   multiparts, attachments and inline `cid:` images.
//! - [`automated`] recognises auto-replies, bulk mail, loops and delivery reports.
//! - [`digest`] says what makes two deliveries one message (for deduplication).
//! - [`threading`] turns In-Reply-To, References and `[#1042]` subject tags into explicit
//!   references.
//! - [`reply`] separates what the sender newly wrote from quoted history and signature.
//! - [`html`] sanitises HTML bodies, and bounds the work of every HTML parse.
//! - [`limits`] caps attachments and recipients per message (the rest stays in the
//!   original, and the message says what was left out).
//! - [`outbound`] composes agent replies and [`smtp`] sends them.
//!
//! The caller attaches the raw bytes (`Inbound::original`), which placement stores with
//! the message. A message that cannot be parsed at all is still kept, raw, and it lands, flagged, in the thread of an "unknown sender" customer where agents see it.

pub mod automated;
pub mod digest;
pub mod html;
pub mod limits;
pub mod outbound;
pub mod parse;
pub mod providers;
pub mod reply;
pub mod smtp;
pub mod threading;
pub mod tokens;

use braid_core::placement::{Authorship, PlacementReason};
use braid_core::{Channel, CustomerName, IdentityKind, IdentityValue, Trust};
use braid_db::messages::Original;
use braid_db::placement::{FollowUps, Inbound};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::blobs::Blob;
pub use limits::{Limits, OverLimits};
pub use parse::{Attachment, Mailbox, ParsedEmail};

/// The identity unparseable mail is filed under, so it stays visible (reserved: see
/// `braid_core::customer::RESERVED_NAMESPACES`).
pub const UNKNOWN_SENDER: &str = braid_core::customer::RESERVED_NAMESPACES[0];

/// What the message shows of its email envelope (`details` in the API).
#[derive(Debug, Clone, Serialize)]
pub struct Envelope<'a> {
    pub from: Option<&'a Mailbox>,
    /// The header the sender was taken from: `from`, or a fallback when `From` named no
    /// usable address (`reply_to`, `sender`, `return_path`); `null` when none did.
    pub sender_header: Option<SenderHeader>,
    /// The mailbox the message is filed under, when it is not `from`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<&'a Mailbox>,
    /// Further `From` headers: a message should have one, and only the first counts.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub extra_from: &'a [Mailbox],
    pub to: &'a [Mailbox],
    pub cc: &'a [Mailbox],
    pub subject: Option<&'a str>,
    pub message_id: Option<&'a str>,
    pub in_reply_to: &'a [String],
    pub references: &'a [String],
    pub attachments: Vec<AttachmentRef<'a>>,
    /// Inline images (`cid:`) the HTML shows; kept, not listed as attachments.
    pub inline: Vec<AttachmentRef<'a>>,
    /// Why the message was taken as automated, if it was.
    pub automated: Option<&'a str>,
    /// The quoted history under the new text, kept but not shown as the message's text.
    pub quoted: Option<&'a str>,
    /// The sender's signature, kept apart from the text.
    pub signature: Option<&'a str>,
    /// The message forwards another one, kept in its text.
    pub forwarded: bool,
    /// The size and SHA-256 of the raw message as received. Its bytes are kept with the
    /// message (`GET /v1/messages/{id}/original`).
    pub raw: &'a Blob,
    pub malformed: bool,
    /// What the message had beyond Braid's caps, left out here and kept in the original.
    #[serde(skip_serializing_if = "OverLimits::is_empty")]
    pub over_limits: OverLimits,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttachmentRef<'a> {
    pub id: &'a str,
    pub filename: Option<&'a str>,
    pub content_type: &'a str,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_id: Option<&'a str>,
}

/// Which header named the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderHeader {
    From,
    ReplyTo,
    Sender,
    ReturnPath,
}

impl SenderHeader {
    pub fn as_str(self) -> &'static str {
        match self {
            SenderHeader::From => "from",
            SenderHeader::ReplyTo => "reply_to",
            SenderHeader::Sender => "sender",
            SenderHeader::ReturnPath => "return_path",
        }
    }
}

/// Who sent the message: the first usable address of `From`, then `Reply-To`, `Sender`,
/// `Return-Path` (a `From: "Name" <>` from a misconfigured system still has a reply
/// address). `None` when none has one.
pub fn sender(parsed: &ParsedEmail) -> Option<(IdentityValue, &Mailbox, SenderHeader)> {
    [
        (&parsed.from, SenderHeader::From),
        (&parsed.reply_to, SenderHeader::ReplyTo),
        (&parsed.sender, SenderHeader::Sender),
        (&parsed.return_path, SenderHeader::ReturnPath),
    ]
    .into_iter()
    .find_map(|(mailbox, header)| {
        let mailbox = mailbox.as_ref()?;
        let identity = IdentityValue::parse(IdentityKind::Email, &mailbox.address).ok()?;
        Some((identity, mailbox, header))
    })
}

/// The channel reference of a message: its Message-ID, or for a message without one, its
/// content digest, so a provider's retry is still recognised.
pub fn channel_ref(message_id: Option<&str>, content_digest: &str) -> String {
    match message_id {
        Some(id) => format!("<{id}>"),
        None => content_digest.to_owned(),
    }
}

/// The display name to file a sender under. A name that holds an email address other than
/// the sender's own ("support@bank.example" <x@evil.example>) is how a stranger poses as
/// someone else: it is kept in the envelope, never shown as the customer's name.
fn customer_name(mailbox: &Mailbox) -> Option<CustomerName> {
    let name = mailbox.name.as_deref()?;
    let poses = name
        .split(|c: char| c.is_whitespace() || "<>\"'(),;:[]".contains(c))
        .filter(|word| word.contains('@'))
        .any(|word| {
            IdentityValue::parse(IdentityKind::Email, word)
                .is_ok_and(|id| !id.value.eq_ignore_ascii_case(&mailbox.address))
        });
    if poses { None } else { CustomerName::from_inbound(name) }
}

/// Builds the placement input for a parsed message. `attachments` are the stored blobs of
/// `parsed.attachments`, in order; `over_limits` is what [`limits::apply`] cut from it.
pub fn inbound(
    parsed: &ParsedEmail,
    raw: &Blob,
    attachments: &[Blob],
    tokens: Option<&tokens::ReplyTokens>,
    received_at: DateTime<Utc>,
    mut over_limits: OverLimits,
) -> Inbound {
    let automated = automated::detect(parsed);
    let reply = reply::split_message(&parsed.text, parsed.html.as_deref());
    let html = match reply.html.as_deref().map(html::sanitise) {
        Some(Ok(clean)) => Some(clean),
        Some(Err(too_complex)) => {
            over_limits.html = Some(too_complex);
            None
        }
        None => {
            over_limits.html = reply.html_too_complex;
            None
        }
    };
    let found = sender(parsed);
    let content_digest =
        digest::content_digest(parsed, found.as_ref().map(|(_, m, _)| m.address.as_str()), attachments);
    let (sender, sender_mailbox, sender_header, malformed) = match found {
        Some((identity, mailbox, header)) => (identity, Some(mailbox), Some(header), false),
        None => (unknown_sender(), None, None, true),
    };
    let noted = match sender_header {
        Some(header) if header != SenderHeader::From => {
            vec![PlacementReason::SenderFallback { header: header.as_str().to_owned() }]
        }
        _ => vec![],
    };
    let (mut listed, mut inline) = (Vec::new(), Vec::new());
    for (attachment, blob) in parsed.attachments.iter().zip(attachments) {
        let reference = AttachmentRef {
            id: &blob.sha256,
            filename: attachment.filename.as_deref(),
            content_type: &attachment.content_type,
            size: blob.size,
            content_id: attachment.content_id.as_deref(),
        };
        if attachment.is_inline_image() { inline.push(reference) } else { listed.push(reference) }
    }
    let envelope = Envelope {
        from: parsed.from.as_ref(),
        sender_header,
        sender: sender_mailbox.filter(|_| sender_header != Some(SenderHeader::From)),
        extra_from: &parsed.extra_from,
        to: &parsed.to,
        cc: &parsed.cc,
        subject: parsed.subject.as_deref(),
        message_id: parsed.message_id.as_deref(),
        in_reply_to: &parsed.in_reply_to,
        references: &parsed.references,
        attachments: listed,
        inline,
        automated: automated.map(|a| a.reason()),
        quoted: reply.quoted.as_deref(),
        signature: reply.signature.as_deref(),
        forwarded: reply.forwarded,
        raw,
        malformed,
        over_limits,
    };
    Inbound {
        channel: Channel::Email,
        channel_ref: Some(channel_ref(parsed.message_id.as_deref(), &content_digest)),
        content_digest,
        noted,
        follow_ups: FollowUps::default(),
        echo: automated == Some(automated::Automated::Loop),
        sender,
        sender_trust: Trust::Claimed,
        sender_source: braid_core::TrustSource::Sender,
        sender_name: sender_mailbox.and_then(customer_name),
        language: parsed.header("content-language").and_then(braid_core::preferences::language_tag),
        utc_offset: parsed.header("date").and_then(braid_core::preferences::utc_offset_of_date),
        subject: parsed.subject.clone(),
        text: reply.text.clone(),
        // The new part only; the quoted history is in `details.quoted`, the whole message in
        // its original.
        html,
        references: threading::references(parsed, tokens),
        authorship: if automated.is_some() { Authorship::Automated } else { Authorship::Person },
        details: serde_json::to_value(&envelope).unwrap_or_default(),
        original: None,
        received_at,
    }
}

/// A delivery made ready to place: the placement input (with the original attached), and
/// the attachment files to store before placing it.
#[derive(Debug)]
pub struct Prepared {
    pub inbound: Inbound,
    /// Each stored attachment's blob (as [`Blob::of`] its bytes) and bytes.
    pub files: Vec<(Blob, Vec<u8>)>,
}

/// All the CPU work between a provider's delivery and its placement: parse, cap, split,
/// sanitise, hash. No I/O, so the caller can run it on a bounded pool. `request_body` is
/// kept as the original when the provider sent the message already taken apart.
///
/// A panic in any parser (mail-parser asserts on some malformed nesting in debug builds) loses
/// nothing: the message is kept raw, like mail that cannot be read at all, and flagged
/// `parser_failed`, instead of failing the request that providers would retry forever.
pub fn prepare(
    delivered: providers::Delivered,
    request_body: &[u8],
    tokens: Option<&tokens::ReplyTokens>,
    limits: &Limits,
    received_at: DateTime<Utc>,
) -> Prepared {
    let (bytes, parsed, content_type) = match delivered {
        providers::Delivered::Raw(bytes) => (bytes, None, "message/rfc822"),
        providers::Delivered::Parsed(parsed) => (request_body.to_vec(), Some(*parsed), "application/json"),
    };
    let original = Blob::of(&bytes);
    // Unwind safety: on a panic everything the closure built is dropped, and only `bytes`,
    // which it never changes, is used.
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let parsed = parsed.or_else(|| parse::parse(&bytes))?;
        Some(read(parsed, &bytes, &original, tokens, limits, received_at))
    }));
    let (mut inbound, files) = match read {
        Ok(Some(read)) => read,
        Ok(None) => (unparseable(&bytes, &original, received_at), vec![]),
        Err(_) => {
            let mut inbound = unparseable(&bytes, &original, received_at);
            inbound.details["parser_failed"] = true.into();
            (inbound, vec![])
        }
    };
    inbound.original = Some(Original { content_type: content_type.to_owned(), bytes });
    Prepared { inbound, files }
}

/// [`prepare`] for a message that parsed: capped, built, with its attachment files.
fn read(
    mut parsed: ParsedEmail,
    bytes: &[u8],
    original: &Blob,
    tokens: Option<&tokens::ReplyTokens>,
    limits: &Limits,
    received_at: DateTime<Utc>,
) -> (Inbound, Vec<(Blob, Vec<u8>)>) {
    let over_limits = limits::apply(&mut parsed, limits);
    let blobs: Vec<Blob> = parsed.attachments.iter().map(|a| Blob::of(&a.bytes)).collect();
    let mut inbound = inbound(&parsed, original, &blobs, tokens, received_at, over_limits);
    // A bounce marks the replies it returns as failed; the bounce itself opens nothing.
    if automated::detect(&parsed) == Some(automated::Automated::DeliveryReport) {
        inbound.follow_ups.returns = automated::bounced_message_ids(bytes, parsed.message_id.as_deref());
    }
    let files = blobs.into_iter().zip(parsed.attachments.into_iter().map(|a| a.bytes)).collect();
    (inbound, files)
}

/// A message mail-parser could not read at all: kept raw, flagged, in the unknown
/// sender's thread.
pub fn unparseable(raw_bytes: &[u8], raw: &Blob, received_at: DateTime<Utc>) -> Inbound {
    let preview: String = String::from_utf8_lossy(&raw_bytes[..raw_bytes.len().min(4000)]).into_owned();
    let content_digest = format!("sha256:{}", raw.sha256);
    Inbound {
        channel: Channel::Email,
        channel_ref: Some(content_digest.clone()),
        content_digest,
        noted: vec![],
        follow_ups: FollowUps::default(),
        echo: false,
        sender: unknown_sender(),
        sender_trust: Trust::Claimed,
        sender_source: braid_core::TrustSource::Sender,
        sender_name: CustomerName::from_inbound("Unknown sender"),
        language: None,
        utc_offset: None,
        subject: Some("(unreadable message)".to_owned()),
        text: preview,
        html: None,
        references: vec![],
        authorship: Authorship::Person,
        details: serde_json::json!({ "raw": raw, "malformed": true }),
        original: None,
        received_at,
    }
}

fn unknown_sender() -> IdentityValue {
    IdentityValue { kind: IdentityKind::External(UNKNOWN_SENDER.to_owned()), value: UNKNOWN_SENDER.to_owned() }
}
