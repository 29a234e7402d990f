//! Composing an agent's reply as an email: From the support address with the agent's
//! name, our own Message-ID, In-Reply-To and the full References chain so every client
//! threads it, `Re: … [#1042]`, text and HTML alternatives, and our loop header. Header
//! injection is impossible: names and subjects are validated one-liners, and lettre
//! encodes every header it writes.

use braid_core::TicketNumber;
use lettre::message::header::ContentType;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart};

use super::automated::LOOP_HEADER;
use super::threading::subject_tag;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail<'a> {
    pub from_name: Option<&'a str>,
    pub from_address: &'a str,
    /// The signed reply-token address answers should go to.
    pub reply_to: &'a str,
    pub to_address: &'a str,
    pub to_name: Option<&'a str>,
    pub subject: String,
    /// With angle brackets: `<id@domain>`.
    pub message_id: &'a str,
    pub in_reply_to: Option<&'a str>,
    /// Oldest first, with angle brackets.
    pub references: &'a [String],
    pub text: &'a str,
    pub attachments: &'a [OutgoingAttachment],
}

/// A file sent with a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingAttachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("`{0}` is not an address mail can be sent to")]
    Address(String),
    #[error("cannot build the message: {0}")]
    Build(String),
}

/// `Re: <subject> [#1042]`, without piling up `Re:`s or tags on a long conversation.
pub fn reply_subject(subject: &str, number: TicketNumber) -> String {
    let mut base = subject.trim();
    while let Some(rest) = ["Re:", "RE:", "re:", "Aw:", "AW:", "Fwd:", "FW:"].iter().find_map(|p| base.strip_prefix(p))
    {
        base = rest.trim_start();
    }
    let tag = format!("[#{}]", number.get());
    if subject_tag(base) == Some(number) { format!("Re: {base}") } else { format!("Re: {base} {tag}") }
}

/// A domain for our Message-IDs: the support address's.
pub fn message_id(message: &str, support_address: &str) -> String {
    let domain = support_address.rsplit_once('@').map_or("braid.localhost", |(_, d)| d);
    format!("<braid.{message}@{domain}>")
}

pub fn compose(email: &OutgoingEmail<'_>) -> Result<lettre::Message, ComposeError> {
    let mailbox = |name: Option<&str>, address: &str| -> Result<Mailbox, ComposeError> {
        let address = address.parse().map_err(|_| ComposeError::Address(address.to_owned()))?;
        Ok(Mailbox::new(name.map(one_line), address))
    };
    let mut builder = lettre::Message::builder()
        .from(mailbox(email.from_name, email.from_address)?)
        .reply_to(mailbox(email.from_name, email.reply_to)?)
        .to(mailbox(email.to_name, email.to_address)?)
        .subject(one_line(&email.subject))
        .message_id(Some(email.message_id.to_owned()));
    if let Some(parent) = email.in_reply_to {
        builder = builder.in_reply_to(parent.to_owned());
    }
    if !email.references.is_empty() {
        builder = builder.references(email.references.join(" "));
    }
    builder = builder.raw_header(HeaderValue::new(HeaderName::new_from_ascii_str(LOOP_HEADER), "1".to_owned()));
    let body = MultiPart::alternative_plain_html(email.text.to_owned(), html(email.text));
    let body = if email.attachments.is_empty() {
        body
    } else {
        email.attachments.iter().try_fold(MultiPart::mixed().multipart(body), |mixed, attachment| {
            let content_type = ContentType::parse(&attachment.content_type)
                .map_err(|_| ComposeError::Build(format!("bad content type `{}`", attachment.content_type)))?;
            Ok::<_, ComposeError>(mixed.singlepart(
                Attachment::new(one_line(&attachment.filename)).body(attachment.bytes.clone(), content_type),
            ))
        })?
    };
    builder.multipart(body).map_err(|e| ComposeError::Build(e.to_string()))
}

/// Control characters (a line break starts a new header) become spaces. Braid's own
/// types never hold them; this is the last line of defence, and lettre would panic.
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// The text as HTML: escaped, paragraphs kept.
fn html(text: &str) -> String {
    let escaped = text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    format!("<div>{}</div>", escaped.replace("\r\n", "\n").replace('\n', "<br>\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number() -> TicketNumber {
        TicketNumber::new(1042).unwrap()
    }

    #[test]
    fn reply_subjects_get_one_re_and_one_tag() {
        assert_eq!(reply_subject("Refund", number()), "Re: Refund [#1042]");
        assert_eq!(reply_subject("Re: RE: Refund [#1042]", number()), "Re: Refund [#1042]");
        assert_eq!(reply_subject("Fwd: Refund [#7]", number()), "Re: Refund [#7] [#1042]");
    }

    #[test]
    fn a_reply_carries_threading_headers_our_loop_header_and_both_bodies() {
        let references = vec!["<a@x>".to_owned(), "<b@x>".to_owned()];
        let email = OutgoingEmail {
            from_name: Some("Ana from Support"),
            from_address: "support@braid.test",
            reply_to: "support+1042-abc@braid.test",
            to_address: "cy@example.org",
            to_name: Some("Cy"),
            subject: reply_subject("Refund", number()),
            message_id: "<braid.1@braid.test>",
            in_reply_to: Some("<b@x>"),
            references: &references,
            text: "Done <b>now</b>\nThanks",
            attachments: &[OutgoingAttachment {
                filename: "label.pdf".into(),
                content_type: "application/pdf".into(),
                bytes: b"%PDF-".to_vec(),
            }],
        };
        let raw = String::from_utf8(compose(&email).unwrap().formatted()).unwrap();
        for header in [
            "From: \"Ana from Support\" <support@braid.test>",
            "To: Cy <cy@example.org>",
            "Reply-To: \"Ana from Support\" <support+1042-abc@braid.test>",
            "Subject: Re: Refund [#1042]",
            "Message-ID: <braid.1@braid.test>",
            "In-Reply-To: <b@x>",
            "References: <a@x> <b@x>",
            "x-braid-loop: 1",
        ] {
            assert!(raw.to_lowercase().contains(&header.to_lowercase()), "missing {header} in\n{raw}");
        }
        assert!(raw.contains("multipart/alternative") && raw.contains("multipart/mixed"));
        assert!(raw.contains("filename=\"label.pdf\""), "{raw}");
        assert!(raw.contains("&lt;b&gt;now&lt;/b&gt;"), "HTML escapes the text");
    }

    #[test]
    fn header_injection_through_names_and_subjects_is_impossible() {
        let email = OutgoingEmail {
            from_name: Some("Eve\r\nBcc: victim@example.org"),
            from_address: "support@braid.test",
            reply_to: "support@braid.test",
            to_address: "cy@example.org",
            to_name: None,
            subject: "Hi\r\nBcc: victim@example.org".to_owned(),
            message_id: "<braid.2@braid.test>",
            in_reply_to: None,
            references: &[],
            text: "x",
            attachments: &[],
        };
        let raw = String::from_utf8(compose(&email).unwrap().formatted()).unwrap();
        assert!(!raw.lines().any(|line| line.to_lowercase().starts_with("bcc:")), "{raw}");
        assert!(compose(&OutgoingEmail { to_address: "not an address", ..email }).is_err());
    }
}
