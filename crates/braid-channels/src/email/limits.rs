//! Caps on what one message can make Braid store and show, so the work per email stays
//! bounded whatever its structure. What goes over a cap is never lost: the raw original is
//! stored whole with the message (`GET /v1/messages/{id}/original`); the message is placed
//! as usual and `details.over_limits` says what was left out of the parsed view.

use serde::Serialize;

use super::ParsedEmail;
use super::html::TooComplex;

/// The caps (settings `email_max_attachments`, `email_max_recipients`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Attachments (inline images included) stored as files and listed; the rest stay in
    /// the original only. Each stored file costs a write and two fsyncs.
    pub max_attachments: usize,
    /// Addresses kept per recipient header (`To`, `Cc`) in the message's details.
    pub max_recipients: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_attachments: 100, max_recipients: 100 }
    }
}

/// What a message had beyond the caps. Empty for nearly every message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OverLimits {
    /// The HTML part could not be parsed within bounds (`size`, `depth`, `nodes` or `work`): the
    /// message shows its text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<TooComplex>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Kept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Kept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cc: Option<Kept>,
}

impl OverLimits {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// How many were kept of how many there were.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Kept {
    pub kept: usize,
    pub total: usize,
}

/// Cuts `parsed` down to the caps, first ones kept, and says what was cut.
pub fn apply(parsed: &mut ParsedEmail, limits: &Limits) -> OverLimits {
    fn cut<T>(items: &mut Vec<T>, max: usize) -> Option<Kept> {
        let total = items.len();
        (total > max).then(|| {
            items.truncate(max);
            Kept { kept: max, total }
        })
    }
    OverLimits {
        html: None,
        attachments: cut(&mut parsed.attachments, limits.max_attachments),
        to: cut(&mut parsed.to, limits.max_recipients),
        cc: cut(&mut parsed.cc, limits.max_recipients),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_attachments_and_recipients_are_kept_and_the_cut_is_counted() {
        let mut raw = String::from("From: a@example.org\r\nTo: ");
        raw.push_str(&(0..5).map(|i| format!("r{i}@example.org")).collect::<Vec<_>>().join(", "));
        raw.push_str("\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n");
        raw.push_str("--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n");
        for i in 0..4 {
            raw.push_str(&format!(
                "--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=f{i}.bin\r\n\r\n{i}\r\n"
            ));
        }
        raw.push_str("--b--\r\n");
        let mut parsed = super::super::parse::parse(raw.as_bytes()).expect("a message");
        let over = apply(&mut parsed, &Limits { max_attachments: 3, max_recipients: 2 });
        assert_eq!(over.attachments, Some(Kept { kept: 3, total: 4 }));
        assert_eq!(over.to, Some(Kept { kept: 2, total: 5 }));
        assert_eq!(over.cc, None);
        assert_eq!(
            parsed.attachments.iter().map(|a| a.filename.as_deref()).collect::<Vec<_>>(),
            [Some("f0.bin"), Some("f1.bin"), Some("f2.bin")]
        );
        assert_eq!(parsed.to[1].address, "r1@example.org");
        assert!(apply(&mut parsed, &Limits::default()).is_empty());
    }
}
