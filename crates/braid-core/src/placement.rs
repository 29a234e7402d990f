//! The placement rules: where an inbound message goes. This is the heart of Braid, kept
//! pure so every branch is a unit test. The storage layer gathers the facts (is this a
//! duplicate, who owns the sender's identity, which tickets could it belong to), calls
//! these functions inside one transaction, and stores the reasons they return with the
//! message, so an agent can always read why a message landed where it did.
//!
//! The order is fixed: deduplicate, identify, choose the ticket.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::{CustomerId, IdentityValue, MessageId, TicketId, TicketNumber, TicketStatus, text_enum};

/// Knobs of the rules, read from settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacementPolicy {
    /// A customer writing again within this long after a ticket was solved reopens it
    /// instead of starting a new one.
    pub reopen_window: Duration,
}

impl Default for PlacementPolicy {
    fn default() -> Self {
        Self { reopen_window: Duration::days(7) }
    }
}

/// Why a message was placed where it was. Stored with the message, shown by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum PlacementReason {
    /// The same message (channel reference and content) arrived before; the first stands.
    Duplicate { message_id: MessageId },
    /// The channel reference was used before, by `message_id`, for different content: a
    /// sender that reuses its ids (ticketing and tracker notifications do). This is a new
    /// message, placed by the usual rules.
    MessageIdReused { message_id: MessageId },
    /// The sender's own header named no usable address; the sender was taken from
    /// `header` (`reply_to`, `sender` or `return_path`).
    SenderFallback { header: String },
    /// The sender only typed their identity (a web form's email): a claim, not a proof.
    /// The message joins that identity's customer, unverified; answers go to the
    /// identity, so only its owner reads them.
    ClaimedSender { kind: String, value: String },
    /// The sender's identity belongs to a known customer.
    KnownIdentity { kind: String, value: String },
    /// Nobody had the sender's identity: a new customer, with a new thread.
    NewCustomer { kind: String, value: String },
    /// A signed reply token vouched for the sender: the message joins that ticket's
    /// conversation whoever sent it (a new address of the customer, a colleague in Cc),
    /// and the sender takes nothing over.
    VouchedByToken { kind: String, value: String, ticket: TicketNumber },
    /// An explicit reference chose the ticket.
    Reference { source: ReferenceSource, detail: String, ticket: TicketNumber },
    /// An explicit reference was present but could not be followed.
    ReferenceIgnored { source: ReferenceSource, detail: String, why: IgnoredWhy },
    /// No usable reference: the customer's most recently active unsolved ticket.
    LatestUnsolved { ticket: TicketNumber },
    /// The chosen ticket was solved and comes back to the agents.
    Reopened { ticket: TicketNumber },
    /// The message was written before its ticket was solved and reached us longer than the
    /// reopen window after it was written (history a connector imports): it joins the
    /// ticket, which stays solved. A message only delayed a little still reopens it: the
    /// agent who solved the ticket never saw it.
    WrittenBeforeSolved { ticket: TicketNumber },
    /// The latest solved ticket was solved too long ago to reopen.
    SolvedOutsideWindow { ticket: TicketNumber, solved_at: DateTime<Utc> },
    /// Nothing to continue: a new ticket.
    NewTicket,
    /// An automated message (auto-reply, out-of-office) neither opens nor reopens work.
    AutomatedNoReopen { ticket: Option<TicketNumber> },
}

/// Where an explicit reference came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceSource {
    /// A signed reply token in a recipient address.
    ReplyToken,
    /// The email `In-Reply-To` header.
    InReplyTo,
    /// One of the email `References` values.
    References,
    /// A `[#1042]` tag in the subject.
    SubjectTag,
    /// A chat session bound to a ticket.
    ChatSession,
    /// A ticket named by an API caller.
    Api,
    /// A connector's conversation, following the ticket its earlier messages went to.
    Conversation,
}

text_enum!(ReferenceSource, "source", {
    ReplyToken => "reply_token", InReplyTo => "in_reply_to", References => "references",
    SubjectTag => "subject_tag", ChatSession => "chat_session", Api => "api",
    Conversation => "conversation",
});

/// Why an explicit reference was not followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IgnoredWhy {
    /// It names nothing we know.
    Unknown,
    /// It names a ticket of another customer: quoting someone's ticket number must never
    /// let a stranger into their conversation.
    OtherCustomer,
    /// It names a closed ticket, which never reopens.
    Closed,
}

/// What the rules need to know about a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketSnapshot {
    pub id: TicketId,
    pub number: TicketNumber,
    pub customer_id: CustomerId,
    pub status: TicketStatus,
    pub solved_at: Option<DateTime<Utc>>,
}

/// An explicit reference found in the message, resolved by storage to the ticket it
/// names, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub source: ReferenceSource,
    /// What was seen: the header value, the tag, the token.
    pub detail: String,
    pub target: Option<TicketSnapshot>,
}

impl Reference {
    /// The ticket this reference places a message of `customer` into, or why it may not:
    /// it names nothing we know, a ticket of someone else's, or a closed ticket.
    pub fn ticket_for(&self, customer: CustomerId) -> Result<TicketSnapshot, IgnoredWhy> {
        match self.target {
            None => Err(IgnoredWhy::Unknown),
            Some(target) if target.customer_id != customer => Err(IgnoredWhy::OtherCustomer),
            Some(target) if target.status == TicketStatus::Closed => Err(IgnoredWhy::Closed),
            Some(target) => Ok(target),
        }
    }
}

/// Whether rule 3 will look past the references to the customer's latest tickets; when a
/// reference decides, storage need not read them.
pub fn needs_latest_tickets(references: &[Reference], customer: CustomerId) -> bool {
    references.iter().all(|reference| reference.ticket_for(customer).is_err())
}

/// Whether a person wrote the message, or a machine on their behalf. Automated messages
/// are kept in the thread (context matters) but never create or reopen work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Authorship {
    #[default]
    Person,
    Automated,
}

/// A message stored before under the channel reference of the one being placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Earlier {
    pub message_id: MessageId,
    /// It came in from outside (not one of our replies, which carry our own ids).
    pub inbound: bool,
    /// The digest of what defines it; `None` for our replies and for messages stored
    /// before digests were.
    pub content_digest: Option<String>,
}

/// Rule 1's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deduplication {
    /// A repeat (a provider's retry, the same mail by a second route): answer with it.
    Duplicate(MessageId),
    /// The reference was used before for something else: a new message, and why.
    Reused(MessageId),
    New,
}

/// Rule 1: a message is a repeat only when an inbound message with its channel reference
/// also has its content. A reference is a label the sender chose, and real senders reuse
/// theirs; the content (sender, date, subject, body, attachments — not transport headers)
/// is what makes two deliveries one message. A message stored before digests existed has
/// no content to compare, so it is never taken as the same: a retry that spans the upgrade
/// is stored twice rather than a different message lost. `echo` says the message carries
/// our own loop marker: our reply come back is the reply, not a new message.
/// `earlier` holds the oldest message under the reference first.
pub fn deduplicate(earlier: &[Earlier], content_digest: &str, echo: bool) -> Deduplication {
    let same = earlier.iter().find(|e| e.inbound && e.content_digest.as_deref() == Some(content_digest));
    let ours = earlier.iter().find(|e| echo && !e.inbound);
    match (same.or(ours), earlier.first()) {
        (Some(same), _) => Deduplication::Duplicate(same.message_id),
        (None, Some(first)) => Deduplication::Reused(first.message_id),
        (None, None) => Deduplication::New,
    }
}

/// Who sent the message, as rule 2 decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identification {
    Known(CustomerId),
    New,
}

/// Rule 2: the sender's identity names the customer; an unknown one makes a new customer.
pub fn identify(sender: &IdentityValue, owner: Option<CustomerId>) -> (Identification, PlacementReason) {
    let kind = sender.kind.to_string();
    let value = sender.value.clone();
    match owner {
        Some(customer) => (Identification::Known(customer), PlacementReason::KnownIdentity { kind, value }),
        None => (Identification::New, PlacementReason::NewCustomer { kind, value }),
    }
}

/// Everything rule 3 looks at.
#[derive(Debug, Clone)]
pub struct TicketCandidates {
    /// The customer the message was identified as.
    pub customer: CustomerId,
    /// Explicit references in the order they should be tried.
    pub references: Vec<Reference>,
    /// The customer's unsolved ticket with the latest activity.
    pub latest_unsolved: Option<TicketSnapshot>,
    /// The customer's most recently solved ticket.
    pub latest_solved: Option<TicketSnapshot>,
    pub authorship: Authorship,
    /// When the message was written (an import's own time).
    pub now: DateTime<Utc>,
    /// When it reached us: later than `now` only for history brought in late.
    pub arrived: DateTime<Utc>,
}

/// Rule 3's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketChoice {
    /// Append to this ticket, and move it to `status` (which may be where it is).
    Existing { ticket: TicketSnapshot, status: TicketStatus },
    /// Open a new ticket.
    New,
    /// Keep the message in the thread only (automated messages with nothing to attach to).
    ThreadOnly,
}

/// Rule 3: choose the ticket. An explicit reference wins when it points into the
/// customer's own thread at a ticket that is not closed; else the latest unsolved ticket;
/// else a ticket solved within the reopen window comes back; else a new ticket.
pub fn choose_ticket(candidates: &TicketCandidates, policy: &PlacementPolicy) -> (TicketChoice, Vec<PlacementReason>) {
    let mut reasons = Vec::new();
    let automated = candidates.authorship == Authorship::Automated;

    for reference in &candidates.references {
        let target = match reference.ticket_for(candidates.customer) {
            Ok(target) => target,
            Err(why) => {
                let detail = reference.detail.clone();
                reasons.push(PlacementReason::ReferenceIgnored { source: reference.source, detail, why });
                continue;
            }
        };
        reasons.push(PlacementReason::Reference {
            source: reference.source,
            detail: reference.detail.clone(),
            ticket: target.number,
        });
        return (continue_ticket(target, candidates, policy, &mut reasons), reasons);
    }

    if let Some(ticket) = candidates.latest_unsolved {
        reasons.push(PlacementReason::LatestUnsolved { ticket: ticket.number });
        return (continue_ticket(ticket, candidates, policy, &mut reasons), reasons);
    }

    if let Some(ticket) = candidates.latest_solved {
        let solved_at = ticket.solved_at.unwrap_or(candidates.now);
        if candidates.now - solved_at <= policy.reopen_window {
            return (continue_ticket(ticket, candidates, policy, &mut reasons), reasons);
        }
        reasons.push(PlacementReason::SolvedOutsideWindow { ticket: ticket.number, solved_at });
    }

    if automated {
        reasons.push(PlacementReason::AutomatedNoReopen { ticket: None });
        return (TicketChoice::ThreadOnly, reasons);
    }
    reasons.push(PlacementReason::NewTicket);
    (TicketChoice::New, reasons)
}

fn continue_ticket(
    ticket: TicketSnapshot,
    candidates: &TicketCandidates,
    policy: &PlacementPolicy,
    reasons: &mut Vec<PlacementReason>,
) -> TicketChoice {
    if candidates.authorship == Authorship::Automated {
        reasons.push(PlacementReason::AutomatedNoReopen { ticket: Some(ticket.number) });
        return TicketChoice::Existing { ticket, status: ticket.status };
    }
    let (written, arrived) = (candidates.now, candidates.arrived);
    let history = arrived - written > policy.reopen_window;
    if ticket.status == TicketStatus::Solved && history && ticket.solved_at.is_some_and(|solved| written < solved) {
        reasons.push(PlacementReason::WrittenBeforeSolved { ticket: ticket.number });
        return TicketChoice::Existing { ticket, status: ticket.status };
    }
    if ticket.status == TicketStatus::Solved {
        reasons.push(PlacementReason::Reopened { ticket: ticket.number });
    }
    TicketChoice::Existing { ticket, status: ticket.status.on_customer_message() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IdentityKind;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn ticket(customer: CustomerId, number: i64, status: TicketStatus) -> TicketSnapshot {
        TicketSnapshot {
            id: TicketId::new(),
            number: TicketNumber::new(number).unwrap(),
            customer_id: customer,
            status,
            solved_at: (status == TicketStatus::Solved).then(|| now() - Duration::days(1)),
        }
    }

    fn reference(source: ReferenceSource, target: Option<TicketSnapshot>) -> Reference {
        Reference { source, detail: "<ref@example.org>".into(), target }
    }

    fn candidates(customer: CustomerId) -> TicketCandidates {
        TicketCandidates {
            customer,
            references: vec![],
            latest_unsolved: None,
            latest_solved: None,
            authorship: Authorship::Person,
            now: now(),
            arrived: now(),
        }
    }

    fn choose(c: &TicketCandidates) -> (TicketChoice, Vec<PlacementReason>) {
        choose_ticket(c, &PlacementPolicy::default())
    }

    fn earlier(inbound: bool, digest: Option<&str>) -> Earlier {
        Earlier { message_id: MessageId::new(), inbound, content_digest: digest.map(str::to_owned) }
    }

    #[test]
    fn the_same_reference_with_the_same_content_is_a_duplicate() {
        let first = earlier(true, Some("d1"));
        assert_eq!(deduplicate(std::slice::from_ref(&first), "d1", false), Deduplication::Duplicate(first.message_id));
        assert_eq!(deduplicate(&[], "d1", false), Deduplication::New);
    }

    #[test]
    fn the_same_reference_with_other_content_is_a_new_message_that_says_so() {
        let (first, second) = (earlier(true, Some("d1")), earlier(true, Some("d2")));
        assert_eq!(deduplicate(&[first.clone(), second.clone()], "d3", false), Deduplication::Reused(first.message_id));
        // The second of two contents sharing an id is still recognised when it comes again.
        assert_eq!(deduplicate(&[first, second.clone()], "d2", false), Deduplication::Duplicate(second.message_id));
    }

    #[test]
    fn our_own_reply_is_the_duplicate_only_of_its_own_echo() {
        let ours = earlier(false, None);
        assert_eq!(deduplicate(std::slice::from_ref(&ours), "d1", false), Deduplication::Reused(ours.message_id));
        assert_eq!(deduplicate(std::slice::from_ref(&ours), "d1", true), Deduplication::Duplicate(ours.message_id));
    }

    #[test]
    fn a_message_stored_before_digests_is_never_taken_for_a_repeat() {
        let legacy = earlier(true, None);
        assert_eq!(deduplicate(std::slice::from_ref(&legacy), "d9", false), Deduplication::Reused(legacy.message_id));
    }

    #[test]
    fn a_known_identity_names_its_customer_and_an_unknown_one_makes_a_new_one() {
        let sender = IdentityValue::parse(IdentityKind::Email, "Ana@Example.org").unwrap();
        let customer = CustomerId::new();
        let (known, reason) = identify(&sender, Some(customer));
        assert_eq!(known, Identification::Known(customer));
        assert_eq!(reason, PlacementReason::KnownIdentity { kind: "email".into(), value: "ana@example.org".into() });
        let (new, reason) = identify(&sender, None);
        assert_eq!(new, Identification::New);
        assert!(matches!(reason, PlacementReason::NewCustomer { .. }));
    }

    #[test]
    fn a_first_message_opens_a_new_ticket() {
        let (choice, reasons) = choose(&candidates(CustomerId::new()));
        assert_eq!(choice, TicketChoice::New);
        assert_eq!(reasons, vec![PlacementReason::NewTicket]);
    }

    #[test]
    fn an_explicit_reference_into_the_customers_own_thread_wins_over_the_latest_ticket() {
        let me = CustomerId::new();
        let referenced = ticket(me, 1001, TicketStatus::Pending);
        let mut c = candidates(me);
        c.latest_unsolved = Some(ticket(me, 1002, TicketStatus::Open));
        c.references = vec![reference(ReferenceSource::InReplyTo, Some(referenced))];
        let (choice, reasons) = choose(&c);
        assert_eq!(choice, TicketChoice::Existing { ticket: referenced, status: TicketStatus::Open });
        assert!(matches!(reasons[0], PlacementReason::Reference { source: ReferenceSource::InReplyTo, .. }));
    }

    #[test]
    fn a_reference_to_another_customers_ticket_is_ignored_and_recorded() {
        let me = CustomerId::new();
        let theirs = ticket(CustomerId::new(), 1042, TicketStatus::Open);
        let mut c = candidates(me);
        c.references = vec![reference(ReferenceSource::SubjectTag, Some(theirs))];
        let (choice, reasons) = choose(&c);
        assert_eq!(choice, TicketChoice::New);
        assert!(matches!(
            reasons[0],
            PlacementReason::ReferenceIgnored {
                source: ReferenceSource::SubjectTag,
                why: IgnoredWhy::OtherCustomer,
                ..
            }
        ));
        assert_eq!(reasons[1], PlacementReason::NewTicket);
    }

    #[test]
    fn the_latest_tickets_matter_only_when_no_reference_decides() {
        let me = CustomerId::new();
        let unknown = reference(ReferenceSource::InReplyTo, None);
        let theirs = reference(ReferenceSource::SubjectTag, Some(ticket(CustomerId::new(), 1042, TicketStatus::Open)));
        let closed = reference(ReferenceSource::References, Some(ticket(me, 1001, TicketStatus::Closed)));
        let mine = reference(ReferenceSource::References, Some(ticket(me, 1002, TicketStatus::Solved)));
        assert!(needs_latest_tickets(&[], me));
        assert!(needs_latest_tickets(&[unknown.clone(), theirs.clone(), closed.clone()], me));
        assert!(!needs_latest_tickets(&[unknown, theirs, closed, mine], me));
    }

    #[test]
    fn unknown_references_are_skipped_for_the_next_one() {
        let me = CustomerId::new();
        let mine = ticket(me, 1001, TicketStatus::Open);
        let mut c = candidates(me);
        c.references =
            vec![reference(ReferenceSource::InReplyTo, None), reference(ReferenceSource::References, Some(mine))];
        let (choice, reasons) = choose(&c);
        assert_eq!(choice, TicketChoice::Existing { ticket: mine, status: TicketStatus::Open });
        assert!(matches!(reasons[0], PlacementReason::ReferenceIgnored { why: IgnoredWhy::Unknown, .. }));
        assert!(matches!(reasons[1], PlacementReason::Reference { source: ReferenceSource::References, .. }));
    }

    #[test]
    fn a_reference_to_a_closed_ticket_falls_through_to_the_latest_unsolved() {
        let me = CustomerId::new();
        let open = ticket(me, 1003, TicketStatus::OnHold);
        let mut c = candidates(me);
        c.references = vec![reference(ReferenceSource::ReplyToken, Some(ticket(me, 1001, TicketStatus::Closed)))];
        c.latest_unsolved = Some(open);
        let (choice, reasons) = choose(&c);
        assert_eq!(choice, TicketChoice::Existing { ticket: open, status: TicketStatus::OnHold });
        assert!(matches!(reasons[0], PlacementReason::ReferenceIgnored { why: IgnoredWhy::Closed, .. }));
        assert_eq!(reasons[1], PlacementReason::LatestUnsolved { ticket: open.number });
    }

    #[test]
    fn a_reference_to_a_solved_ticket_reopens_it_even_outside_the_window() {
        let me = CustomerId::new();
        let mut solved = ticket(me, 1001, TicketStatus::Solved);
        solved.solved_at = Some(now() - Duration::days(90));
        let mut c = candidates(me);
        c.references = vec![reference(ReferenceSource::InReplyTo, Some(solved))];
        let (choice, reasons) = choose(&c);
        assert_eq!(choice, TicketChoice::Existing { ticket: solved, status: TicketStatus::Open });
        assert_eq!(reasons[1], PlacementReason::Reopened { ticket: solved.number });
    }

    #[test]
    fn without_a_reference_the_latest_unsolved_ticket_continues_and_pending_wakes_up() {
        let me = CustomerId::new();
        let pending = ticket(me, 1005, TicketStatus::Pending);
        let mut c = candidates(me);
        c.latest_unsolved = Some(pending);
        c.latest_solved = Some(ticket(me, 1004, TicketStatus::Solved));
        let (choice, reasons) = choose(&c);
        assert_eq!(choice, TicketChoice::Existing { ticket: pending, status: TicketStatus::Open });
        assert_eq!(reasons, vec![PlacementReason::LatestUnsolved { ticket: pending.number }]);
    }

    #[test]
    fn a_ticket_solved_within_the_window_is_reopened() {
        let me = CustomerId::new();
        let mut solved = ticket(me, 1001, TicketStatus::Solved);
        solved.solved_at = Some(now() - Duration::days(7));
        let mut c = candidates(me);
        c.latest_solved = Some(solved);
        let (choice, reasons) = choose(&c);
        assert_eq!(choice, TicketChoice::Existing { ticket: solved, status: TicketStatus::Open });
        assert_eq!(reasons, vec![PlacementReason::Reopened { ticket: solved.number }]);
    }

    #[test]
    fn a_ticket_solved_before_the_window_gives_way_to_a_new_one() {
        let me = CustomerId::new();
        let mut solved = ticket(me, 1001, TicketStatus::Solved);
        let solved_at = now() - Duration::days(7) - Duration::seconds(1);
        solved.solved_at = Some(solved_at);
        let mut c = candidates(me);
        c.latest_solved = Some(solved);
        let (choice, reasons) = choose(&c);
        assert_eq!(choice, TicketChoice::New);
        assert_eq!(
            reasons,
            vec![PlacementReason::SolvedOutsideWindow { ticket: solved.number, solved_at }, PlacementReason::NewTicket]
        );
    }

    #[test]
    fn history_written_before_the_solve_joins_without_reopening() {
        let me = CustomerId::new();
        let mut solved = ticket(me, 1001, TicketStatus::Solved);
        solved.solved_at = Some(now() - Duration::hours(1));
        let mut c = candidates(me);
        c.latest_solved = Some(solved);
        c.now = now() - Duration::days(30);
        let (choice, reasons) = choose(&c);
        assert_eq!(choice, TicketChoice::Existing { ticket: solved, status: TicketStatus::Solved });
        assert_eq!(reasons, vec![PlacementReason::WrittenBeforeSolved { ticket: solved.number }]);
        let reopened = TicketChoice::Existing { ticket: solved, status: TicketStatus::Open };
        c.now = now() - Duration::hours(2);
        assert_eq!(choose(&c).0, reopened, "a message only delayed reopens: nobody saw it before the solve");
        c.now = now();
        assert_eq!(choose(&c).0, reopened, "a new message reopens");
    }

    #[test]
    fn the_reopen_window_is_configurable() {
        let me = CustomerId::new();
        let mut c = candidates(me);
        c.latest_solved = Some(ticket(me, 1001, TicketStatus::Solved)); // solved a day ago
        let (choice, _) = choose_ticket(&c, &PlacementPolicy { reopen_window: Duration::hours(1) });
        assert_eq!(choice, TicketChoice::New);
    }

    #[test]
    fn an_automated_message_joins_its_ticket_without_changing_its_status() {
        let me = CustomerId::new();
        let pending = ticket(me, 1001, TicketStatus::Pending);
        let mut c = candidates(me);
        c.authorship = Authorship::Automated;
        c.references = vec![reference(ReferenceSource::InReplyTo, Some(pending))];
        let (choice, reasons) = choose(&c);
        assert_eq!(choice, TicketChoice::Existing { ticket: pending, status: TicketStatus::Pending });
        assert_eq!(reasons[1], PlacementReason::AutomatedNoReopen { ticket: Some(pending.number) });
    }

    #[test]
    fn an_automated_message_never_reopens_a_solved_ticket() {
        let me = CustomerId::new();
        let solved = ticket(me, 1001, TicketStatus::Solved);
        let mut c = candidates(me);
        c.authorship = Authorship::Automated;
        c.latest_solved = Some(solved);
        let (choice, _) = choose(&c);
        assert_eq!(choice, TicketChoice::Existing { ticket: solved, status: TicketStatus::Solved });
    }

    #[test]
    fn an_automated_message_with_nothing_to_join_stays_in_the_thread_only() {
        let mut c = candidates(CustomerId::new());
        c.authorship = Authorship::Automated;
        let (choice, reasons) = choose(&c);
        assert_eq!(choice, TicketChoice::ThreadOnly);
        assert_eq!(reasons, vec![PlacementReason::AutomatedNoReopen { ticket: None }]);
    }
}
