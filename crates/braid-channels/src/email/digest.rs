//! What makes two deliveries one message. A Message-ID is a label the sender chose, and
//! real senders reuse theirs (ticketing and tracker notifications send many messages under
//! one id); a provider's retry, or the same mail arriving by two routes with different
//! `Received:` headers, has the same content. The digest covers what defines a message —
//! sender, date, subject, body text, attachments — and nothing a relay adds.

use sha2::{Digest, Sha256};

use super::ParsedEmail;
use crate::blobs::{Blob, hex};

/// `sha256:<hex>` of the message's defining parts. `sender` is the address the message is
/// filed under; `attachments` are the stored blobs of `parsed.attachments`.
pub fn content_digest(parsed: &ParsedEmail, sender: Option<&str>, attachments: &[Blob]) -> String {
    let mut hasher = Sha256::new();
    let mut field = |name: &str, value: &[u8]| {
        // Length-prefixed, so no choice of values can make two different messages agree.
        hasher.update(name.as_bytes());
        hasher.update((value.len() as u64).to_be_bytes());
        hasher.update(value);
    };
    field("v", b"1");
    field("sender", sender.unwrap_or_default().to_lowercase().as_bytes());
    field("date", parsed.date.as_deref().unwrap_or_default().as_bytes());
    field("subject", parsed.subject.as_deref().unwrap_or_default().trim().as_bytes());
    field("text", normalise_text(&parsed.text).as_bytes());
    for attachment in attachments {
        field("attachment", attachment.sha256.as_bytes());
    }
    format!("sha256:{}", hex(&hasher.finalize()))
}

/// The body as a relay may have re-encoded it: line endings and trailing whitespace (which
/// transfer encodings and format=flowed change) do not make another message.
fn normalise_text(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    lines.join("\n").trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::parse::parse;

    fn digest(raw: &str) -> String {
        let parsed = parse(raw.as_bytes()).unwrap();
        content_digest(&parsed, parsed.from.as_ref().map(|f| f.address.as_str()), &[])
    }

    const MAIL: &str = "From: a@example.org\r\nMessage-ID: <n@tracker>\r\nDate: Mon, 30 Nov 2026 10:00:00 +0100\r\n\
Subject: Build failed\r\n\r\nJob 41 failed.\r\n";

    #[test]
    fn transport_headers_and_line_endings_do_not_make_another_message() {
        let relayed = format!("Received: from mx2.example.net by mx.braid.test\r\n{}", MAIL.replace("\r\n", "\n"));
        assert_eq!(digest(MAIL), digest(&relayed));
        // The same instant written in another zone is the same date.
        assert_eq!(digest(MAIL), digest(&MAIL.replace("10:00:00 +0100", "09:00:00 +0000")));
    }

    #[test]
    fn another_body_subject_date_or_sender_is_another_message() {
        let base = digest(MAIL);
        for other in [
            MAIL.replace("Job 41", "Job 42"),
            MAIL.replace("Build failed", "Build fixed"),
            MAIL.replace("10:00:00", "10:05:00"),
            MAIL.replace("a@example.org", "b@example.org"),
        ] {
            assert_ne!(base, digest(&other), "{other}");
        }
    }

    #[test]
    fn attachments_count_by_their_content() {
        let parsed = parse(MAIL.as_bytes()).unwrap();
        let one = content_digest(&parsed, None, &[Blob::of(b"one")]);
        assert_ne!(one, content_digest(&parsed, None, &[Blob::of(b"two")]));
        assert_ne!(one, content_digest(&parsed, None, &[]));
        assert_eq!(one, content_digest(&parsed, None, &[Blob::of(b"one")]));
    }
}
