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
    /// An abuse or spam complaint report (ARF, RFC 5965) or a provider's complaint mail.
    FeedbackReport,
    /// A sender no person answers: postmaster, no-reply addresses, notification services.
    MachineSender,
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
            Self::FeedbackReport => "feedback_report",
            Self::MachineSender => "machine_sender",
        }
    }
}

/// Why `email` is automated, or `None` when a person wrote it.
pub fn detect(email: &ParsedEmail) -> Option<Automated> {
    if email.delivery_report || sender_local_part(email).as_deref() == Some("mailer-daemon") {
        return Some(Automated::DeliveryReport);
    }
    let report_type = report_type(email);
    if report_type.as_deref() == Some("feedback-report") || subject_starts_with(email, COMPLAINT_SUBJECTS) {
        return Some(Automated::FeedbackReport);
    }
    if email.header(LOOP_HEADER).is_some() {
        return Some(Automated::Loop);
    }
    if email.header("auto-submitted").is_some_and(|v| !v.eq_ignore_ascii_case("no")) {
        return Some(Automated::AutoSubmitted);
    }
    if email.header("x-autoreply").is_some()
        || email.header("x-autorespond").is_some()
        || subject_starts_with(email, AUTO_REPLY_SUBJECTS)
    {
        return Some(Automated::AutoReply);
    }
    let precedence = email.header("precedence").map(str::to_ascii_lowercase);
    if precedence.is_some_and(|p| matches!(p.as_str(), "bulk" | "junk" | "list")) {
        return Some(Automated::Bulk);
    }
    if email.header("x-auto-response-suppress").is_some() {
        return Some(Automated::AutoResponseSuppress);
    }
    if report_type.is_some() {
        return Some(Automated::DeliveryReport);
    }
    if sender_local_part(email).is_some_and(|local| MACHINE_SENDERS.contains(&local.as_str())) {
        return Some(Automated::MachineSender);
    }
    None
}

/// Local parts of addresses no person reads.
const MACHINE_SENDERS: &[&str] =
    &["postmaster", "post_master", "no-reply", "noreply", "do-not-reply", "donotreply", "bounce", "bounces"];

/// How vacation responders start their subjects, in the languages we see most.
const AUTO_REPLY_SUBJECTS: &[&str] = &[
    "auto reply",
    "auto-reply",
    "autoreply",
    "automatic reply",
    "auto response",
    "out of office",
    "out of the office",
    "réponse automatique",
    "absence",
    "abwesenheitsnotiz",
    "automatische antwort",
    "respuesta automática",
    "resposta automática",
    "risposta automatica",
    "afwezig",
];

/// How abuse and complaint reports start their subjects.
const COMPLAINT_SUBJECTS: &[&str] = &["complaint about message", "email feedback report", "abuse report"];

fn subject_starts_with(email: &ParsedEmail, prefixes: &[&str]) -> bool {
    email.subject.as_deref().is_some_and(|subject| {
        let subject = subject.trim().to_lowercase();
        prefixes.iter().any(|prefix| subject.starts_with(prefix))
    })
}

fn sender_local_part(email: &ParsedEmail) -> Option<String> {
    email.from.as_ref().map(|from| from.address.split('@').next().unwrap_or_default().to_ascii_lowercase())
}

/// The `report-type` of a `multipart/report`, if the message is one.
fn report_type(email: &ParsedEmail) -> Option<String> {
    let content_type = email.header("content-type")?.to_ascii_lowercase();
    if !content_type.starts_with("multipart/report") {
        return None;
    }
    let value = content_type.split("report-type=").nth(1).unwrap_or_default();
    Some(value.trim_matches(['"', ' ']).split([';', '"', ' ']).next().unwrap_or_default().to_owned())
}

/// The Message-IDs a delivery report speaks of: those in the returned message or headers
/// it quotes (every `Message-ID:` line but the report's own), at most [`MAX_BOUNCED`]. Only
/// ids of messages we sent will match anything.
pub fn bounced_message_ids(raw: &[u8], own_id: Option<&str>) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let mut seen = std::collections::HashSet::new();
    let mut ids = Vec::new();
    for line in text.lines() {
        let Some((name, value)) = line.split_once(':') else { continue };
        if !name.trim().eq_ignore_ascii_case("message-id") {
            continue;
        }
        let id = value.trim().trim_matches(['<', '>']).trim();
        if id.is_empty() || Some(id) == own_id || !seen.insert(id) {
            continue;
        }
        ids.push(format!("<{id}>"));
        if ids.len() == MAX_BOUNCED {
            break;
        }
    }
    ids
}

/// A real report returns one message; a report quoting thousands is not one to trust.
const MAX_BOUNCED: usize = 20;

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
    fn subjects_senders_and_feedback_reports_are_recognised() {
        let mail = |from: &str, subject: &str| {
            detect(&parse(format!("From: {from}\r\nSubject: {subject}\r\n\r\nx").as_bytes()).unwrap())
        };
        assert_eq!(mail("ana@example.org", "Automatic reply: Refund"), Some(Automated::AutoReply));
        assert_eq!(mail("ana@example.org", "Réponse automatique : absent"), Some(Automated::AutoReply));
        assert_eq!(mail("ana@example.org", "Re: auto reply settings are broken"), None, "only a leading marker counts");
        assert_eq!(mail("no-reply@shop.example", "Your receipt"), Some(Automated::MachineSender));
        assert_eq!(
            mail("abuse@isp.example", "complaint about message from 192.0.2.1"),
            Some(Automated::FeedbackReport)
        );
        let arf = b"From: abuse@isp.example\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=b\r\n\r\n--b--\r\n";
        assert_eq!(detect(&parse(arf).unwrap()), Some(Automated::FeedbackReport));
    }

    #[test]
    fn a_bounce_names_the_returned_messages_id_not_its_own() {
        let raw = b"From: MAILER-DAEMON@mx\r\nMessage-ID: <dsn@mx>\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <braid.1@braid.test>\r\nSubject: Re: x\r\n--b--\r\n";
        assert_eq!(bounced_message_ids(raw, Some("dsn@mx")), ["<braid.1@braid.test>"]);
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
