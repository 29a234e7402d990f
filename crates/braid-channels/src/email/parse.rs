//! Reading a raw message with mail-parser, into the parts Braid uses.

use mail_parser::{Address, HeaderName, HeaderValue, MessageParser, MimeHeaders};
use serde::Serialize;

/// A name and an address, as a From/To/Cc header lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mailbox {
    pub address: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: Option<String>,
    pub content_type: String,
    pub content_id: Option<String>,
    /// `Content-Disposition: inline`.
    pub inline: bool,
    pub bytes: Vec<u8>,
}

impl Attachment {
    /// An image the HTML body shows by `cid:`: kept, but not an attachment to list.
    pub fn is_inline_image(&self) -> bool {
        self.content_id.is_some() && self.content_type.starts_with("image/") && self.inline
    }
}

/// What Braid reads from a message. Message ids are bare (no angle brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedEmail {
    pub message_id: Option<String>,
    /// The first mailbox of the first `From` header (what MTAs and DMARC judge), when it
    /// has a usable address.
    pub from: Option<Mailbox>,
    /// Mailboxes of any further `From` headers: recorded, never the sender.
    pub extra_from: Vec<Mailbox>,
    /// The fallbacks for a `From` with no usable address, in the order they are tried.
    pub reply_to: Option<Mailbox>,
    pub sender: Option<Mailbox>,
    pub return_path: Option<Mailbox>,
    /// The `Date` header, as RFC 3339 in UTC when it can be read, else as written.
    pub date: Option<String>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub subject: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// The text body, or the HTML body turned into text when there is no text part.
    pub text: String,
    /// The HTML body as sent (sanitise before showing it).
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Every header, lower-cased name and raw value, for the rules that read headers.
    pub headers: Vec<(String, String)>,
    /// `multipart/report; report-type=delivery-status` (a bounce).
    pub delivery_report: bool,
}

impl ParsedEmail {
    /// The first value of header `name` (lower-case), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim())
    }
}

/// Parses `raw`; `None` when it is not a message at all (no headers to speak of).
pub fn parse(raw: &[u8]) -> Option<ParsedEmail> {
    let message = MessageParser::default().parse(raw)?;
    if message.headers().is_empty() {
        return None;
    }
    let attachments = message
        .attachments()
        .filter(|part| !part.is_message() || !part.is_empty())
        .map(|part| Attachment {
            filename: part.attachment_name().and_then(braid_core::text::clean_filename),
            content_type: part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub),
                    None => ct.ctype().to_owned(),
                })
                .unwrap_or_else(|| "application/octet-stream".to_owned())
                .to_lowercase(),
            content_id: part.content_id().map(|id| id.trim_matches(['<', '>']).to_owned()),
            inline: part.content_disposition().is_some_and(|d| d.ctype().eq_ignore_ascii_case("inline")),
            bytes: part.contents().to_vec(),
        })
        .collect();
    let delivery_report = message.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct.attribute("report-type").is_some_and(|r| r.eq_ignore_ascii_case("delivery-status"))
    });
    // Each header's mailboxes, in header order; an address counts only as the sender's
    // system wrote it in the raw header (never one that decoding produced). The raw value is
    // sliced by offset, so a header with 8-bit bytes (an old mailer's Latin-1 name) still
    // pairs with its own value.
    let raw = message.raw_message();
    let mailboxes_of = |name: HeaderName<'_>| -> Vec<Vec<Mailbox>> {
        message
            .headers()
            .iter()
            .filter(|h| h.name == name)
            .map(|h| {
                let value = raw.get(h.offset_start as usize..h.offset_end as usize).unwrap_or_default();
                let written = String::from_utf8_lossy(value);
                match h.value() {
                    HeaderValue::Address(address) => usable(mailboxes(address), &written),
                    HeaderValue::Text(text) => usable(bare_mailbox(text), &written),
                    _ => vec![],
                }
            })
            .collect()
    };
    let mut from_headers = mailboxes_of(HeaderName::From).into_iter();
    let first_of = |name| mailboxes_of(name).into_iter().flatten().next();
    Some(ParsedEmail {
        message_id: message.message_id().map(clean_id).filter(|id| !id.is_empty()),
        from: from_headers.next().and_then(|mailboxes| mailboxes.into_iter().next()),
        extra_from: from_headers.flatten().collect(),
        reply_to: first_of(HeaderName::ReplyTo),
        sender: first_of(HeaderName::Sender),
        return_path: first_of(HeaderName::ReturnPath),
        date: message
            .headers()
            .iter()
            .find(|h| h.name == HeaderName::Date)
            .and_then(|h| raw.get(h.offset_start as usize..h.offset_end as usize))
            .map(|value| normalise_date(&String::from_utf8_lossy(value))),
        to: message.to().map(mailboxes).unwrap_or_default(),
        cc: message.cc().map(mailboxes).unwrap_or_default(),
        subject: message.subject().map(str::to_owned),
        in_reply_to: ids(message.in_reply_to()),
        references: ids(message.references()),
        text: body_text(&message),
        // mail-parser turns a text body into HTML when there is none; only a real one counts.
        html: message
            .html_bodies()
            .find(|part| part.is_text_html())
            .and_then(|part| part.text_contents())
            .map(str::to_owned),
        attachments,
        headers: message
            .headers_raw()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
            .collect(),
        delivery_report,
    })
}

/// The text body; for a message with only an HTML body, that body as Braid reads HTML
/// (blocks and `<br>` break lines, so words never run together), or mail-parser's
/// conversion when Braid's gives nothing (a document nested too deep to walk).
fn body_text(message: &mail_parser::Message<'_>) -> String {
    let converted = || message.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
    let has_text_part = message.text_bodies().any(|part| part.is_text() && !part.is_text_html());
    match message.html_bodies().find(|part| part.is_text_html()).and_then(|part| part.text_contents()) {
        Some(html) if !has_text_part => {
            let text = super::reply::html_to_text(html);
            if text.trim().is_empty() { converted() } else { text }
        }
        _ => converted(),
    }
}

fn clean_id(id: &str) -> String {
    let id = id.trim().trim_matches(['<', '>']).trim();
    if usable_id(id) { id.to_owned() } else { String::new() }
}

/// Whether a message id can be kept: not empty, and no control character. No real
/// Message-ID holds one, and PostgreSQL refuses NUL in text, so such an id is dropped (the
/// message is then deduplicated by content, like one without an id) rather than failing
/// the placement with a 500 that the provider retries forever.
pub fn usable_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 998 && !id.chars().any(char::is_control)
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    let ids: Vec<String> = match value {
        HeaderValue::Text(id) => vec![clean_id(id)],
        HeaderValue::TextList(list) => list.iter().map(|id| clean_id(id)).collect(),
        _ => vec![],
    };
    ids.into_iter().filter(|id| !id.is_empty()).collect()
}

/// A `Date` value in one spelling, so the same date written twice compares equal.
pub fn normalise_date(value: &str) -> String {
    let value = value.trim();
    match mail_parser::DateTime::parse_rfc822(value) {
        Some(date) if date.is_valid() => mail_parser::DateTime::from_timestamp(date.to_timestamp()).to_rfc3339(),
        _ => value.to_owned(),
    }
}

/// `Return-Path: <a@b>` is read as text; its angle brackets go.
fn bare_mailbox(text: &str) -> Vec<Mailbox> {
    let address = text.trim().trim_matches(['<', '>']).trim();
    if address.is_empty() { vec![] } else { vec![Mailbox { address: address.to_owned(), name: None }] }
}

/// The mailboxes whose address the raw header spells out as an address: inside `<…>` or
/// as a bare `local@domain` word, outside comments and quoted strings. An address that
/// appears only by decoding an encoded-word (`=?utf-8?q?ceo=40bank.example?=`), or only in
/// a comment or a quoted display name, is not something the sender's system wrote as the
/// address, and never becomes the sender.
fn usable(mailboxes: Vec<Mailbox>, raw: &str) -> Vec<Mailbox> {
    let written = written_addresses(raw);
    mailboxes
        .into_iter()
        .filter(|m| {
            let address = m.address.to_lowercase();
            let local = address.rsplit_once('@').map_or("", |(local, _)| local);
            !local.is_empty() && !address.contains("=?") && written.contains(&address)
        })
        .collect()
}

/// The addresses a raw address header writes, lower-cased: comments `(…)` (nested, with
/// escapes) and quoted strings `"…"` removed, then every `<…>` and every bare word with an
/// `@`.
fn written_addresses(raw: &str) -> Vec<String> {
    let mut plain = String::with_capacity(raw.len());
    let (mut depth, mut quoted, mut escaped) = (0usize, false, false);
    for c in raw.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted || depth > 0 => escaped = true,
            '"' if depth == 0 => {
                quoted = !quoted;
                plain.push(' ');
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => {
                depth -= 1;
                plain.push(' ');
            }
            _ if quoted || depth > 0 => {}
            _ => plain.push(c),
        }
    }
    let mut written = Vec::new();
    for part in plain.split(['<', '>', ',', ';', ' ', '\t', '\r', '\n']) {
        let part = part.trim().trim_end_matches(':');
        if part.contains('@') {
            written.push(part.to_lowercase());
        }
    }
    // A group's display name ends in ':' before its first address ("Team: a@b, c@d;").
    for part in plain.split([',', ';', ' ', '<', '>']) {
        if let Some((_, address)) = part.split_once(':')
            && address.contains('@')
        {
            written.push(address.trim().to_lowercase());
        }
    }
    written
}

fn mailboxes(address: &Address<'_>) -> Vec<Mailbox> {
    address
        .iter()
        .filter_map(|addr| {
            let email = addr.address()?.trim();
            (!email.is_empty()).then(|| Mailbox {
                address: email.to_owned(),
                name: addr.name().map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_holding_a_control_character_are_dropped() {
        let raw = b"From: a@example.org\r\nMessage-ID: <a\0b@x>\r\nIn-Reply-To: <c\0@x>\r\n\
References: <ok@x> <n\x01@x>\r\n\r\nbody";
        let email = parse(raw).unwrap();
        assert_eq!(email.message_id, None);
        assert!(email.in_reply_to.is_empty());
        assert_eq!(email.references, ["ok@x"]);
    }

    const PLAIN: &[u8] = b"From: =?UTF-8?Q?Ana_L=C3=ADma?= <Ana@Example.org>\r\n\
To: support@braid.test, Bob <bob@example.org>\r\n\
Cc: carol@example.org\r\n\
Subject: =?ISO-8859-1?Q?R=E9sum=E9?= [#1042]\r\n\
Message-ID: <abc@mail.example.org>\r\n\
In-Reply-To: <out-1@braid.test>\r\n\
References: <root@x> <out-1@braid.test>\r\n\
Content-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Ol=E1, obrigado!\r\n";

    #[test]
    fn headers_charsets_and_ids_are_decoded() {
        let email = parse(PLAIN).unwrap();
        assert_eq!(email.message_id.as_deref(), Some("abc@mail.example.org"));
        assert_eq!(email.from, Some(Mailbox { address: "Ana@Example.org".into(), name: Some("Ana Líma".into()) }));
        assert_eq!(email.to.len(), 2);
        assert_eq!(email.cc[0].address, "carol@example.org");
        assert_eq!(email.subject.as_deref(), Some("Résumé [#1042]"));
        assert_eq!(email.in_reply_to, ["out-1@braid.test"]);
        assert_eq!(email.references, ["root@x", "out-1@braid.test"]);
        assert_eq!(email.text.trim(), "Olá, obrigado!");
        assert_eq!(email.html, None);
        assert!(!email.delivery_report);
    }

    #[test]
    fn alternatives_attachments_and_inline_images_are_told_apart() {
        let raw = b"From: a@example.org\r\nSubject: pics\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
--outer\r\nContent-Type: multipart/related; boundary=\"rel\"\r\n\r\n\
--rel\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n\
--alt\r\nContent-Type: text/plain\r\n\r\nsee picture\r\n\
--alt\r\nContent-Type: text/html\r\n\r\n<p>see <img src=\"cid:pic1\"></p>\r\n--alt--\r\n\
--rel\r\nContent-Type: image/png\r\nContent-ID: <pic1>\r\nContent-Disposition: inline\r\n\
Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--rel--\r\n\
--outer\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\n\
Content-Disposition: attachment; filename=\"invoice.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--outer--\r\n";
        let email = parse(raw).unwrap();
        assert_eq!(email.text.trim(), "see picture");
        assert!(email.html.as_deref().unwrap().contains("cid:pic1"));
        assert_eq!(email.attachments.len(), 2);
        let (image, pdf) = (&email.attachments[0], &email.attachments[1]);
        assert!(image.is_inline_image());
        assert_eq!(image.content_id.as_deref(), Some("pic1"));
        assert_eq!(pdf.filename.as_deref(), Some("invoice.pdf"));
        assert_eq!(pdf.content_type, "application/pdf");
        assert_eq!(pdf.bytes, b"%PDF-");
        assert!(!pdf.is_inline_image());
    }

    #[test]
    fn html_only_mail_gets_a_text_body() {
        let raw = b"From: a@example.org\r\nContent-Type: text/html\r\n\r\n<p>Hello <b>there</b></p>";
        let email = parse(raw).unwrap();
        assert!(email.text.contains("Hello") && email.text.contains("there"), "{:?}", email.text);
        assert!(email.html.is_some());
    }

    #[test]
    fn an_address_only_in_a_comment_a_quoted_name_or_an_encoded_word_is_not_the_sender() {
        let from = |header: &str| {
            let raw = format!("{header}\r\nSubject: x\r\n\r\nbody");
            parse(raw.as_bytes()).unwrap().from.map(|m| m.address)
        };
        assert_eq!(
            from("From: =?utf-8?q?ceo=40bank.example?= (ceo@bank.example), <x@evil.example>").as_deref(),
            Some("x@evil.example")
        );
        assert_eq!(from("From: \"ceo@bank.example\" <x@evil.example>").as_deref(), Some("x@evil.example"));
        assert_eq!(from("From: =?utf-8?q?ceo=40bank.example?=").as_deref(), None);
        assert_eq!(from("From: Ana (home) <Ana@Example.org>").as_deref(), Some("Ana@Example.org"));
        assert_eq!(from("From: ana@example.org (Ana)").as_deref(), Some("ana@example.org"));
    }

    #[test]
    fn a_header_with_8_bit_bytes_keeps_its_address() {
        let raw = b"From: Jos\xe9 Mar\xeda <jose@example.es>\r\nReply-To: other@example.es\r\nSubject: x\r\n\r\nbody";
        let email = parse(raw).unwrap();
        assert_eq!(email.from.map(|m| m.address).as_deref(), Some("jose@example.es"));
        assert_eq!(email.reply_to.map(|m| m.address).as_deref(), Some("other@example.es"));
    }

    #[test]
    fn an_html_only_body_keeps_its_line_breaks_in_text() {
        let raw =
            b"From: a@example.org\r\nContent-Type: text/html\r\n\r\n<div>Works now.</div><div>Thanks,<br>Alex</div>";
        let text = parse(raw).unwrap().text;
        assert!(text.contains("Thanks,\nAlex") && text.contains("Works now.\n"), "{text:?}");
    }

    #[test]
    fn garbage_is_not_a_message() {
        assert_eq!(parse(b""), None);
    }
}
