//! Mail no person wrote: auto-replies, bulk and list mail, our own mail looping back,
//! delivery reports. Such mail joins its ticket but never opens or reopens one, and gets
//! no automatic answer.

use super::ParsedEmail;

/// The header Braid puts on everything it sends, to recognise its own mail coming back.
pub const LOOP_HEADER: &str = "x-braid-loop";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Automated {
    /// `Auto-Submitted` other than `no` (RFC 3834).
    AutoSubmitted,
    /// `X-Autoreply` / `X-Autorespond`: vacation responders.
    AutoReply,
    /// `Precedence: bulk | junk | list`.
    Bulk,
    /// `X-Auto-Response-Suppress`: Exchange marks its automatic mail with it.
    AutoResponseSuppress,
    /// Our own loop header: mail we sent, coming back.
    Loop,
    /// A delivery status notification (a bounce).
    DeliveryReport,
}

impl Automated {
    pub fn reason(self) -> &'static str {
        match self {
            Self::AutoSubmitted => "auto_submitted",
            Self::AutoReply => "auto_reply",
            Self::Bulk => "bulk",
            Self::AutoResponseSuppress => "auto_response_suppress",
            Self::Loop => "loop",
            Self::DeliveryReport => "delivery_report",
        }
    }
}

/// Why `email` is automated, or `None` when a person wrote it.
pub fn detect(email: &ParsedEmail) -> Option<Automated> {
    if email.delivery_report || is_mailer_daemon(email) {
        return Some(Automated::DeliveryReport);
    }
    if email.header(LOOP_HEADER).is_some() {
        return Some(Automated::Loop);
    }
    if email.header("auto-submitted").is_some_and(|v| !v.eq_ignore_ascii_case("no")) {
        return Some(Automated::AutoSubmitted);
    }
    if email.header("x-autoreply").is_some() || email.header("x-autorespond").is_some() {
        return Some(Automated::AutoReply);
    }
    let precedence = email.header("precedence").map(str::to_ascii_lowercase);
    if precedence.is_some_and(|p| matches!(p.as_str(), "bulk" | "junk" | "list")) {
        return Some(Automated::Bulk);
    }
    if email.header("x-auto-response-suppress").is_some() {
        return Some(Automated::AutoResponseSuppress);
    }
    None
}

fn is_mailer_daemon(email: &ParsedEmail) -> bool {
    email.from.as_ref().is_some_and(|from| {
        let local = from.address.split('@').next().unwrap_or_default().to_ascii_lowercase();
        local == "mailer-daemon" || local == "postmaster"
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::parse::parse;

    fn with_header(header: &str) -> Option<Automated> {
        let raw = format!("From: ana@example.org\r\n{header}\r\nSubject: hi\r\n\r\nbody");
        detect(&parse(raw.as_bytes()).unwrap())
    }

    #[test]
    fn each_signal_is_recognised() {
        assert_eq!(with_header("Auto-Submitted: auto-replied"), Some(Automated::AutoSubmitted));
        assert_eq!(with_header("Auto-Submitted: no"), None);
        assert_eq!(with_header("X-Autoreply: yes"), Some(Automated::AutoReply));
        assert_eq!(with_header("X-Autorespond: vacation"), Some(Automated::AutoReply));
        assert_eq!(with_header("Precedence: bulk"), Some(Automated::Bulk));
        assert_eq!(with_header("Precedence: LIST"), Some(Automated::Bulk));
        assert_eq!(with_header("Precedence: first-class"), None);
        assert_eq!(with_header("X-Auto-Response-Suppress: All"), Some(Automated::AutoResponseSuppress));
        assert_eq!(with_header("X-Braid-Loop: 1"), Some(Automated::Loop));
        assert_eq!(with_header("X-Mailer: Thunderbird"), None);
    }

    #[test]
    fn delivery_reports_are_bounces() {
        let raw = b"From: MAILER-DAEMON@mx.example.org\r\nSubject: Undelivered\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain\r\n\r\nfailed\r\n--b--\r\n";
        let email = parse(raw).unwrap();
        assert!(email.delivery_report);
        assert_eq!(detect(&email), Some(Automated::DeliveryReport));
    }
}
