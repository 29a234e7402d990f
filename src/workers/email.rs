//! Email delivery: drains the outbox's email entries through SMTP. At-least-once: an
//! entry is leased, sent, then marked; a node dying between send and mark sends again
//! after the lease, with the same Message-ID so the recipient's client shows one mail.
//! Temporary failures (refused connections, 4xx) retry with exponential backoff; a 5xx
//! or a message with nowhere to go fails for good, with the reason on the message.

use std::time::Duration;

use braid_channels::email::outbound::{self, OutgoingAttachment, OutgoingEmail};
use braid_channels::email::smtp::{Mailer, SendError};
use braid_core::{Channel, Direction, IdentityKind};
use braid_db::outbox::{self, Delivery};
use braid_db::{Db, DbError};
use tokio::sync::watch;

/// How long a claimed delivery is ours before another worker may take it over.
const LEASE: chrono::Duration = chrono::Duration::minutes(5);
/// Deliveries claimed per round.
const BATCH: i64 = 10;
/// The pause between rounds when there is nothing to send.
const IDLE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct EmailDelivery {
    pub db: Db,
    pub mailer: Mailer,
    pub support_address: String,
    /// Where reply attachments are read from.
    pub blobs: braid_channels::blobs::BlobStore,
    /// Signs the Reply-To address of each reply.
    pub reply_tokens: braid_channels::email::tokens::ReplyTokens,
    /// The first retry waits this long; each next one twice as long, up to an hour.
    pub retry_base: Duration,
    pub max_attempts: i32,
}

/// A reply ready to compose, owned so it can leave the database closure.
struct Prepared {
    from_name: String,
    reply_to: String,
    to_address: String,
    to_name: Option<String>,
    subject: String,
    message_id: String,
    in_reply_to: Option<String>,
    references: Vec<String>,
    text: String,
    attachments: Vec<OutgoingAttachment>,
}

impl EmailDelivery {
    pub async fn run(self, mut stopped: watch::Receiver<bool>) {
        tracing::info!(from = %self.support_address, "email delivery started");
        loop {
            let delivered = match self.round().await {
                Ok(count) => count,
                Err(error) => {
                    tracing::warn!(%error, "email delivery round failed; retrying");
                    0
                }
            };
            if *stopped.borrow() {
                return;
            }
            if delivered == 0 {
                tokio::select! {
                    _ = tokio::time::sleep(IDLE) => {}
                    _ = stopped.changed() => return,
                }
            }
        }
    }

    /// Claims and delivers one batch; returns how many were claimed.
    async fn round(&self) -> Result<usize, DbError> {
        let deliveries = self.db.run(|conn| outbox::claim(conn, Channel::Email, LEASE, BATCH)).await?;
        let count = deliveries.len();
        for delivery in deliveries {
            self.deliver(delivery).await?;
        }
        Ok(count)
    }

    async fn deliver(&self, delivery: Delivery) -> Result<(), DbError> {
        let (support, tokens) = (self.support_address.clone(), self.reply_tokens.clone());
        let message = delivery.message.clone();
        let text = bundle_text(&delivery);
        let prepared = self.db.run(move |conn| prepare(conn, &message, &support, &tokens)).await?;
        let prepared = prepared.map(|prepared| Prepared { text, ..prepared });
        let prepared = match prepared {
            Ok(prepared) => self.with_attachments(prepared, &delivery.message.details).await,
            Err(reason) => Err(reason),
        };
        let (outcome, sent_to) = match prepared {
            Err(reason) => (Err(SendError::Permanent(reason)), None),
            Ok(prepared) => (self.send(&prepared).await, Some(prepared.to_address)),
        };
        let id = delivery.message.id;
        match outcome {
            Ok(()) => {
                tracing::info!(message = %id, "email sent");
                let sent_to = sent_to.unwrap_or_default();
                self.db.run(move |conn| outbox::sent(conn, &delivery, &sent_to)).await
            }
            Err(SendError::Permanent(reason)) => {
                tracing::warn!(message = %id, %reason, "email failed for good");
                self.db.run(move |conn| outbox::failed(conn, &delivery, &reason)).await
            }
            Err(SendError::Temporary(reason)) if delivery.attempt >= self.max_attempts => {
                let reason = format!("gave up after {} attempts: {reason}", delivery.attempt);
                tracing::warn!(message = %id, %reason, "email failed for good");
                self.db.run(move |conn| outbox::failed(conn, &delivery, &reason)).await
            }
            Err(SendError::Temporary(reason)) => {
                let wait = backoff(self.retry_base, delivery.attempt);
                tracing::info!(message = %id, %reason, retry_in_secs = wait.as_secs(), "email will be retried");
                let at = braid_db::now() + chrono::Duration::from_std(wait).unwrap_or(LEASE);
                self.db.run(move |conn| outbox::retry_later(conn, &delivery, &reason, at)).await
            }
        }
    }

    /// Reads the reply's attachments from the blob store; a missing file fails the reply.
    /// lettre composes a message in memory, so they are read whole: the API bounds them
    /// (20 files, 18 MiB in all), which bounds what one send holds.
    async fn with_attachments(&self, mut prepared: Prepared, details: &serde_json::Value) -> Result<Prepared, String> {
        let listed = details["attachments"].as_array().cloned().unwrap_or_default();
        for attachment in listed {
            let (blobs, id) = (self.blobs.clone(), attachment["id"].as_str().unwrap_or_default().to_owned());
            let bytes = tokio::task::spawn_blocking(move || blobs.get(&id))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("attachment {} is missing", attachment["id"]))?;
            prepared.attachments.push(OutgoingAttachment {
                filename: attachment["filename"].as_str().unwrap_or("attachment").to_owned(),
                content_type: attachment["content_type"].as_str().unwrap_or("application/octet-stream").to_owned(),
                bytes,
            });
        }
        Ok(prepared)
    }

    async fn send(&self, prepared: &Prepared) -> Result<(), SendError> {
        let email = OutgoingEmail {
            from_name: Some(&prepared.from_name),
            from_address: &self.support_address,
            reply_to: &prepared.reply_to,
            to_address: &prepared.to_address,
            to_name: prepared.to_name.as_deref(),
            subject: prepared.subject.clone(),
            message_id: &prepared.message_id,
            in_reply_to: prepared.in_reply_to.as_deref(),
            references: &prepared.references,
            text: &prepared.text,
            attachments: &prepared.attachments,
        };
        let message = outbound::compose(&email).map_err(|e| SendError::Permanent(e.to_string()))?;
        self.mailer.send(message).await
    }
}

/// What the mail says: the message, or the chat replies of a bundle one after another.
fn bundle_text(delivery: &Delivery) -> String {
    let texts: Vec<&str> = delivery.messages().iter().map(|m| m.text.as_str()).collect();
    texts.join("\n\n")
}

/// `base · 2^(attempt-1)`, at most an hour.
fn backoff(base: Duration, attempt: i32) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1)).unwrap_or(0).min(16);
    base.saturating_mul(2u32.pow(exponent)).min(Duration::from_secs(3600))
}

/// Reads what the reply needs. `Ok(Err(reason))`: the message can never be sent.
fn prepare(
    conn: &mut braid_db::DbConn,
    message: &braid_db::messages::Message,
    support_address: &str,
    tokens: &braid_channels::email::tokens::ReplyTokens,
) -> Result<Result<Prepared, String>, DbError> {
    let Some(ticket_id) = message.ticket_id else {
        return Ok(Err("the message belongs to no ticket".into()));
    };
    let ticket = braid_db::tickets::get(conn, ticket_id)?;
    // A web form's message names the address typed into it (`details.from`), as a mail's
    // From does: the answer goes there, so only the address's owner reads it.
    let history = braid_db::messages::channel_history(conn, ticket_id, &[Channel::Email, Channel::WebForm])?;
    let last_inbound = history.iter().rev().find(|m| m.direction == Direction::Inbound);

    let from_details = last_inbound.and_then(|m| m.details.get("from")).filter(|from| from.is_object());
    // A name typed into a form is the submitter's claim: the address's owner is greeted by
    // the name their customer record has.
    let typed = last_inbound.is_some_and(|m| m.channel == Channel::WebForm);
    let (to_address, to_name) = match from_details {
        Some(from) if typed => {
            (from["address"].as_str().map(str::to_owned), braid_db::customers::get(conn, ticket.customer_id)?.name)
        }
        Some(from) => (from["address"].as_str().map(str::to_owned), from["name"].as_str().map(str::to_owned)),
        None => {
            let identities = braid_db::customers::identities_of(conn, ticket.customer_id)?;
            let email = identities.into_iter().find(|i| i.kind == IdentityKind::Email).map(|i| i.value);
            (email, braid_db::customers::get(conn, ticket.customer_id)?.name)
        }
    };
    let Some(to_address) = to_address else {
        return Ok(Err("the customer has no email address".into()));
    };
    let from_name = match message.author_agent_id {
        Some(agent) => braid_db::agents::get(conn, agent)?.name.as_str().to_owned(),
        None => "Support".to_owned(),
    };
    let message_id =
        outbox::assign_channel_ref(conn, message, &outbound::message_id(&message.id.to_string(), support_address))?;
    // Our earlier mails are referenced only when they went to this same address: a
    // Message-ID of ours is the proof its recipient answers with (placement verifies an
    // address by it), so it is never shown to anyone else on the ticket.
    let to_key = to_address.to_lowercase();
    let references: Vec<String> = history
        .iter()
        .filter(|m| m.id != message.id)
        .filter(|m| m.direction != Direction::Outbound || m.sent_to.as_deref() == Some(to_key.as_str()))
        .filter_map(|m| m.channel_ref.clone())
        .filter(|r| r.starts_with('<'))
        .collect();
    Ok(Ok(Prepared {
        from_name,
        reply_to: tokens.address(ticket.number),
        to_address,
        to_name,
        subject: outbound::reply_subject(ticket.subject.as_str(), ticket.number),
        message_id,
        in_reply_to: history
            .iter()
            .rev()
            .find(|m| m.direction == Direction::Inbound && m.channel == Channel::Email)
            .and_then(|m| m.channel_ref.clone())
            .filter(|r| r.starts_with('<')),
        references,
        text: message.text.clone(),
        attachments: vec![],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let base = Duration::from_secs(30);
        assert_eq!(backoff(base, 1), Duration::from_secs(30));
        assert_eq!(backoff(base, 2), Duration::from_secs(60));
        assert_eq!(backoff(base, 4), Duration::from_secs(240));
        assert_eq!(backoff(base, 30), Duration::from_secs(3600));
    }
}
