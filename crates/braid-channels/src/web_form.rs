//! The web form channel: a form's submission as placement takes it, and the captcha check.
//!
//! The email typed into a form is a claim: the message goes to the customer who holds that
//! address (flagged `claimed_sender`, `details.sender_verified: false`), or to a new
//! customer holding it as a claim. The submitter learns nothing of that customer, and an
//! agent's answer goes by email to the address, so only its owner reads it; their answer to
//! that mail proves the address (placement's email round trip).
//!
//! A submission's channel reference is `form:<form id>:<form token id>:<digest>` (the day
//! instead of the token for a form that asks for none), and its digest a digest of what was
//! submitted: the same submission posted twice (a double click, a browser's resend) is one
//! message; another message from the same page is another.

use std::net::IpAddr;
use std::time::Duration;

use braid_core::placement::{Authorship, PlacementReason};
use braid_core::{Channel, CustomerName, EmailAddress, FormId, IdentityValue, Trust, TrustSource};
use braid_db::placement::{FollowUps, Inbound};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// A submission that passed the spam checks, its fields checked.
#[derive(Debug, Clone)]
pub struct Submission {
    pub form: FormId,
    pub form_name: String,
    /// The form token's id, when the form asks for one.
    pub token_id: Option<String>,
    pub email: EmailAddress,
    pub name: Option<CustomerName>,
    pub subject: Option<String>,
    pub message: String,
    /// The form's declared fields, as submitted, in the form's order.
    pub fields: Vec<(String, String)>,
    /// Files stored already, as the message's details list them.
    pub attachments: Vec<serde_json::Value>,
    /// The page that posted it.
    pub origin: String,
    /// `passed`, `unavailable` (the provider did not answer: kept, and agents see it), or
    /// absent when no captcha is configured.
    pub captcha: Option<&'static str>,
    pub received_at: DateTime<Utc>,
}

/// A submission's channel reference and deduplication digest.
pub fn reference(submission: &Submission) -> (String, String) {
    let scope = match &submission.token_id {
        Some(token) => token.clone(),
        None => submission.received_at.format("%Y-%m-%d").to_string(),
    };
    let mut digest = Sha256::new();
    for part in [submission.email.as_str(), submission.subject.as_deref().unwrap_or_default(), &submission.message] {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    for (name, value) in &submission.fields {
        digest.update(name.as_bytes());
        digest.update([0]);
        digest.update(value.as_bytes());
        digest.update([0]);
    }
    for file in &submission.attachments {
        digest.update(file["id"].as_str().unwrap_or_default().as_bytes());
        digest.update([0]);
    }
    let digest: String = digest.finalize().iter().map(|b| format!("{b:02x}")).collect();
    // The content is in the reference too: one page (one token) may send several messages,
    // and each is a message of its own, not a reused id.
    (format!("form:{}:{scope}:{}", submission.form, &digest[..16]), digest)
}

/// The submission as placement takes it.
pub fn inbound(submission: Submission) -> Inbound {
    let (channel_ref, digest) = reference(&submission);
    let sender = IdentityValue::email(&submission.email);
    let mut details = serde_json::json!({
        "form": { "id": submission.form, "name": submission.form_name },
        "from": { "address": submission.email.as_str(), "name": submission.name.as_ref().map(|n| n.as_str()) },
        "origin": submission.origin,
        "sender_verified": false,
    });
    if !submission.fields.is_empty() {
        let fields: serde_json::Map<String, serde_json::Value> =
            submission.fields.iter().map(|(name, value)| (name.clone(), value.clone().into())).collect();
        details["fields"] = fields.into();
    }
    if !submission.attachments.is_empty() {
        details["attachments"] = submission.attachments.clone().into();
    }
    if let Some(captcha) = submission.captcha {
        details["captcha"] = captcha.into();
    }
    Inbound {
        channel: Channel::WebForm,
        channel_ref: Some(channel_ref),
        content_digest: digest,
        noted: vec![PlacementReason::ClaimedSender { kind: sender.kind.to_string(), value: sender.value.clone() }],
        // No acknowledgement: a form would let anyone make us mail any address.
        follow_ups: FollowUps::default(),
        echo: false,
        sender,
        sender_trust: Trust::Claimed,
        sender_source: TrustSource::Form,
        sender_name: submission.name,
        language: None,
        utc_offset: None,
        subject: Some(
            submission.subject.unwrap_or_else(|| braid_core::text::first_line(&submission.message, 80, "Web form")),
        ),
        text: submission.message,
        html: None,
        references: vec![],
        authorship: Authorship::Person,
        details,
        original: None,
        received_at: submission.received_at,
    }
}

/// A captcha provider's `siteverify` (Cloudflare Turnstile, hCaptcha and reCAPTCHA answer
/// alike): the widget's answer is posted with the secret, and `success` decides.
#[derive(Debug, Clone)]
pub struct Captcha {
    client: reqwest::Client,
    verify_url: String,
    secret: String,
}

/// What the provider said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptchaOutcome {
    Passed,
    Refused,
    /// The provider did not answer, or answered nonsense: the submission is kept, flagged.
    Unavailable(String),
}

#[derive(serde::Deserialize)]
struct Verdict {
    success: bool,
    #[serde(default, rename = "error-codes")]
    error_codes: Vec<String>,
}

impl Captcha {
    pub fn new(verify_url: String, secret: String) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self { client, verify_url, secret })
    }

    pub async fn check(&self, response: &str, remote_ip: Option<IpAddr>) -> CaptchaOutcome {
        let mut form = vec![("secret", self.secret.clone()), ("response", response.to_owned())];
        if let Some(ip) = remote_ip {
            form.push(("remoteip", ip.to_string()));
        }
        let answer = match self.client.post(&self.verify_url).form(&form).send().await {
            Ok(answer) if answer.status().is_success() => answer,
            // The provider is overloaded or down: not the submitter's doing.
            Ok(answer) if answer.status().is_server_error() || answer.status().as_u16() == 429 => {
                return CaptchaOutcome::Unavailable(format!("the provider answered {}", answer.status()));
            }
            // It refused what was asked (an answer it cannot read).
            Ok(_) => return CaptchaOutcome::Refused,
            Err(error) => return CaptchaOutcome::Unavailable(error.to_string()),
        };
        match answer.json::<Verdict>().await {
            Ok(Verdict { success: true, .. }) => CaptchaOutcome::Passed,
            // Our secret is wrong: every submission would be refused for our mistake.
            Ok(Verdict { error_codes, .. }) if error_codes.iter().any(|c| c.contains("secret")) => {
                tracing::error!(?error_codes, "the captcha provider refuses our secret: check form_captcha_secret");
                CaptchaOutcome::Unavailable(format!("the provider refuses the secret: {error_codes:?}"))
            }
            Ok(_) => CaptchaOutcome::Refused,
            Err(error) => CaptchaOutcome::Unavailable(format!("unreadable answer: {error}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submission(message: &str, token: Option<&str>) -> Submission {
        Submission {
            form: FormId::new(),
            form_name: "Contact".into(),
            token_id: token.map(str::to_owned),
            email: EmailAddress::parse("ana@example.org").unwrap(),
            name: CustomerName::parse("Ana").unwrap(),
            subject: None,
            message: message.into(),
            fields: vec![("order".into(), "42".into())],
            attachments: vec![],
            origin: "https://shop.example".into(),
            captcha: None,
            received_at: Utc::now(),
        }
    }

    #[test]
    fn the_same_submission_twice_is_one_message_and_another_is_not() {
        let first = submission("Where is my order?", Some("t1"));
        let again = Submission { received_at: first.received_at + chrono::Duration::seconds(2), ..first.clone() };
        assert_eq!(reference(&first), reference(&again));
        let other = Submission { message: "And a refund".into(), ..first.clone() };
        assert_ne!(reference(&first), reference(&other));
        assert!(reference(&other).0.starts_with(&format!("form:{}:t1:", first.form)));
        let other_field = Submission { fields: vec![("order".into(), "43".into())], ..first.clone() };
        assert_ne!(reference(&first).1, reference(&other_field).1);
    }

    #[test]
    fn a_submission_is_a_claim_placed_without_acknowledgement() {
        let placed = inbound(submission("Where is my order?\nThanks", None));
        assert_eq!(placed.channel, Channel::WebForm);
        assert_eq!(placed.sender_trust, Trust::Claimed);
        assert_eq!(placed.sender_source, TrustSource::Form);
        assert!(matches!(placed.noted[0], PlacementReason::ClaimedSender { .. }));
        assert!(placed.follow_ups.acknowledgement.is_none());
        assert_eq!(placed.subject.as_deref(), Some("Where is my order?"));
        assert_eq!(placed.details["from"]["address"], "ana@example.org");
        assert_eq!(placed.details["fields"]["order"], "42");
        assert_eq!(placed.details["sender_verified"], false);
    }
}
