//! Inbound formats of email providers, beside raw MIME: Postmark's JSON, and Mailgun's
//! request signature. (Mailgun's `body-mime` and SendGrid's raw Inbound Parse carry the
//! raw message itself, in a form field.)

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use super::parse::{Attachment, Mailbox, ParsedEmail};

/// What a provider delivered: the raw message, or (Postmark without raw content) the
/// message already taken apart.
#[derive(Debug)]
pub enum Delivered {
    Raw(Vec<u8>),
    Parsed(Box<ParsedEmail>),
}

#[derive(Debug, thiserror::Error)]
#[error("not a Postmark inbound message: {0}")]
pub struct NotPostmark(String);

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Postmark {
    raw_email: Option<String>,
    from_full: Option<PostmarkAddress>,
    #[serde(default)]
    to_full: Vec<PostmarkAddress>,
    #[serde(default)]
    cc_full: Vec<PostmarkAddress>,
    subject: Option<String>,
    #[serde(default)]
    from: String,
    #[serde(default)]
    reply_to: String,
    date: Option<String>,
    #[serde(rename = "MessageID")]
    message_id: Option<String>,
    text_body: Option<String>,
    html_body: Option<String>,
    #[serde(default)]
    headers: Vec<PostmarkHeader>,
    #[serde(default)]
    attachments: Vec<PostmarkAttachment>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PostmarkAddress {
    email: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PostmarkHeader {
    name: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PostmarkAttachment {
    name: Option<String>,
    content: String,
    content_type: Option<String>,
    #[serde(rename = "ContentID", default)]
    content_id: String,
}

/// Reads Postmark's inbound webhook JSON. With "include raw email" on, the raw message
/// is used as is; otherwise the message is rebuilt from Postmark's fields.
pub fn postmark(json: &[u8]) -> Result<Delivered, NotPostmark> {
    let message: Postmark = serde_json::from_slice(json).map_err(|e| NotPostmark(e.to_string()))?;
    if let Some(raw) = message.raw_email.filter(|raw| !raw.trim().is_empty()) {
        return Ok(Delivered::Raw(raw.into_bytes()));
    }
    // Postmark always sends its own id: JSON without one (`{}`) is not Postmark's and is
    // refused rather than stored as an empty, malformed message.
    if message.message_id.as_deref().is_none_or(|id| id.trim().is_empty()) {
        return Err(NotPostmark("no `MessageID` and no `RawEmail`".into()));
    }
    let headers: Vec<(String, String)> =
        message.headers.iter().map(|h| (h.name.to_ascii_lowercase(), h.value.trim().to_owned())).collect();
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let ids = |value: Option<String>| -> Vec<String> {
        value
            .unwrap_or_default()
            .split_whitespace()
            .map(|id| id.trim_matches(['<', '>', ',']).to_owned())
            .filter(|id| super::parse::usable_id(id))
            .collect()
    };
    let mailbox = |a: &PostmarkAddress| Mailbox {
        address: a.email.trim().to_owned(),
        name: Some(a.name.trim().to_owned()).filter(|n| !n.is_empty()),
    };
    let attachments = message
        .attachments
        .iter()
        .map(|a| {
            let bytes = STANDARD.decode(a.content.as_bytes()).map_err(|e| NotPostmark(format!("attachment: {e}")))?;
            let content_id = Some(a.content_id.trim_matches(['<', '>']).to_owned()).filter(|id| !id.is_empty());
            Ok(Attachment {
                filename: a.name.as_deref().and_then(braid_core::text::clean_filename),
                content_type: a
                    .content_type
                    .clone()
                    .unwrap_or_else(|| "application/octet-stream".into())
                    .to_lowercase(),
                inline: content_id.is_some(),
                content_id,
                bytes,
            })
        })
        .collect::<Result<Vec<_>, NotPostmark>>()?;
    let message_id = ids(header("message-id")).into_iter().next().or_else(|| {
        // Postmark always sends its own id; a message without a Message-ID header keeps
        // that, so a retried webhook is still recognised.
        message.message_id.as_ref().filter(|id| super::parse::usable_id(id)).map(|id| format!("{id}@postmark"))
    });
    // The sender headers are read as a raw message's are, by the same rules (fallbacks,
    // no address from an encoded-word or a comment): Postmark passes them on as written.
    let sender_headers = sender_headers(&message.from, &message.reply_to, message.date.as_deref(), &headers);
    Ok(Delivered::Parsed(Box::new(ParsedEmail {
        message_id,
        from: sender_headers.from.or_else(|| message.from_full.as_ref().map(mailbox)).filter(|m| !m.address.is_empty()),
        extra_from: sender_headers.extra_from,
        reply_to: sender_headers.reply_to,
        sender: sender_headers.sender,
        return_path: sender_headers.return_path,
        date: sender_headers.date,
        to: message.to_full.iter().map(mailbox).collect(),
        cc: message.cc_full.iter().map(mailbox).collect(),
        subject: message.subject,
        in_reply_to: ids(header("in-reply-to")),
        references: ids(header("references")),
        text: message.text_body.unwrap_or_default(),
        html: message.html_body.filter(|h| !h.trim().is_empty()),
        attachments,
        headers,
        delivery_report: false,
    })))
}

/// Postmark's `From`, `ReplyTo` and `Date` fields and its `Sender`/`Return-Path` headers, as
/// the header block of a message, parsed like a raw one. Line breaks in a value are spaces:
/// a value never writes another header.
fn sender_headers(from: &str, reply_to: &str, date: Option<&str>, headers: &[(String, String)]) -> ParsedEmail {
    let one_line = |value: &str| value.replace(['\r', '\n'], " ");
    let mut block = String::new();
    for (name, value) in [("From", from), ("Reply-To", reply_to)] {
        if !value.trim().is_empty() {
            block.push_str(&format!("{name}: {}\r\n", one_line(value)));
        }
    }
    if let Some(date) = date {
        block.push_str(&format!("Date: {}\r\n", one_line(date)));
    }
    for (name, value) in headers.iter().filter(|(n, _)| matches!(n.as_str(), "sender" | "return-path" | "date")) {
        block.push_str(&format!("{name}: {}\r\n", one_line(value)));
    }
    block.push_str("\r\n");
    super::parse::parse(block.as_bytes()).unwrap_or_else(|| ParsedEmail {
        message_id: None,
        from: None,
        extra_from: vec![],
        reply_to: None,
        sender: None,
        return_path: None,
        date: None,
        to: vec![],
        cc: vec![],
        subject: None,
        in_reply_to: vec![],
        references: vec![],
        text: String::new(),
        html: None,
        attachments: vec![],
        headers: vec![],
        delivery_report: false,
    })
}

/// How old a Mailgun signature may be.
pub const MAILGUN_MAX_AGE_SECS: i64 = 300;

/// Whether Mailgun signed `timestamp` and `token` with `signing_key` (HMAC-SHA256, hex),
/// recently enough. The caller also refuses a token it has seen before.
pub fn mailgun_signature_valid(signing_key: &str, timestamp: &str, token: &str, signature: &str, now: i64) -> bool {
    let Ok(sent_at) = timestamp.parse::<i64>() else {
        return false;
    };
    if (now - sent_at).abs() > MAILGUN_MAX_AGE_SECS {
        return false;
    }
    let Ok(expected) = decode_hex(signature) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(signing_key.as_bytes()) else {
        return false;
    };
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    mac.verify_slice(&expected).is_ok()
}

fn decode_hex(text: &str) -> Result<Vec<u8>, ()> {
    if !text.len().is_multiple_of(2) {
        return Err(());
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|_| ())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(key: &str, timestamp: &str, token: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(timestamp.as_bytes());
        mac.update(token.as_bytes());
        crate::blobs::hex(&mac.finalize().into_bytes())
    }

    #[test]
    fn mailgun_signatures_must_match_and_be_fresh() {
        let now = 1_800_000_000;
        let good = sign("key", &now.to_string(), "tok");
        assert!(mailgun_signature_valid("key", &now.to_string(), "tok", &good, now));
        assert!(!mailgun_signature_valid("other", &now.to_string(), "tok", &good, now));
        assert!(!mailgun_signature_valid("key", &now.to_string(), "tok2", &good, now));
        assert!(!mailgun_signature_valid("key", &now.to_string(), "tok", &good, now + 301), "stale");
        assert!(!mailgun_signature_valid("key", "soon", "tok", &good, now));
        assert!(!mailgun_signature_valid("key", &now.to_string(), "tok", "zz", now));
    }

    #[test]
    fn postmark_json_becomes_a_parsed_email() {
        let json = br#"{"FromFull":{"Email":"ana@example.org","Name":"Ana"},"ToFull":[{"Email":"support@braid.test","Name":""}],
          "CcFull":[],"Subject":"Hi [#1042]","MessageID":"pm-1","TextBody":"Hello","HtmlBody":"<p>Hello</p>",
          "Headers":[{"Name":"Message-ID","Value":"<m1@mail.example.org>"},{"Name":"In-Reply-To","Value":"<o1@braid.test>"},
                     {"Name":"Auto-Submitted","Value":"auto-replied"}],
          "Attachments":[{"Name":"a.txt","Content":"aGk=","ContentType":"text/plain","ContentLength":2}]}"#;
        let Delivered::Parsed(email) = postmark(json).unwrap() else { panic!("no raw given") };
        assert_eq!(email.message_id.as_deref(), Some("m1@mail.example.org"));
        assert_eq!(email.from.as_ref().unwrap().address, "ana@example.org");
        assert_eq!(email.in_reply_to, ["o1@braid.test"]);
        assert_eq!(email.header("auto-submitted"), Some("auto-replied"));
        assert_eq!(email.attachments[0].bytes, b"hi");
        assert!(matches!(postmark(br#"{"RawEmail":"From: a@b.c\r\n\r\nx"}"#).unwrap(), Delivered::Raw(_)));
        assert!(postmark(b"[1,2]").is_err());
        assert!(postmark(b"{}").is_err(), "not Postmark's format");
        let nul = br#"{"MessageID":"pm-2","Headers":[{"Name":"Message-ID","Value":"<a\u0000b@x>"},{"Name":"References","Value":"<ok@x> <n\u0000@x>"}]}"#;
        let Delivered::Parsed(email) = postmark(nul).unwrap() else { panic!("no raw given") };
        assert_eq!(email.message_id.as_deref(), Some("pm-2@postmark"));
        assert_eq!(email.references, ["ok@x"]);
    }
}
