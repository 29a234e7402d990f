//! The rules of the identity graph: when a presented identity merges two customers, when it
//! only suggests a merge, which value of a field survives a merge, and where a ticket goes
//! when a merge is undone. Pure functions; `braid-db` applies them.

use serde::{Deserialize, Serialize};

use crate::{CustomerId, Trust, text_enum};

/// Why two customers were merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeReason {
    /// An agent (or an integration) asked for it.
    Agent,
    /// An agent accepted a merge suggestion.
    Suggestion,
    /// A verified link proved both customers are one person (see [`link`]).
    VerifiedLink,
}

text_enum!(MergeReason, "reason", { Agent => "agent", Suggestion => "suggestion", VerifiedLink => "verified_link" });

/// What to do with an identity someone presents (a sender, a pre-chat field, a signed
/// widget token, a connector's record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Nobody holds it and nobody presents it on behalf of a customer: a new customer.
    NewCustomer,
    /// Nobody holds it: it joins the presenting customer, with the presented trust.
    Attach { customer: CustomerId },
    /// The presenting customer holds it already; `upgrade` when the proof raises its trust.
    Held { customer: CustomerId, upgrade: bool },
    /// Someone with no customer yet presents a held identity: the message goes to the
    /// holder. `unverified` when nothing proved it (an email typed into a form): the
    /// presenter is shown nothing of the holder, and answers go to the identity itself, so
    /// only its owner reads them. `upgrade` when the proof raises the holder's trust.
    Holder { customer: CustomerId, unverified: bool, upgrade: bool },
    /// Proof on both sides: the presenting customer merges into the holder.
    Merge { source: CustomerId, target: CustomerId },
    /// Another customer holds it and one side is only a claim: nothing merges, nothing of
    /// the holder is shown, and agents get a suggestion to decide on.
    Suggest { customer: CustomerId, holder: CustomerId },
}

/// Decides what a presented identity does. `presenter`: the customer presenting it, if
/// any (a visitor already known, the customer a connector writes to); `proof`: what the
/// presentation proves; `holder`: who holds the identity now, and with what trust.
///
/// Only a verified link merges by itself: a signed token naming an address that is
/// verified on another customer. Everything weaker becomes a suggestion.
pub fn link(presenter: Option<CustomerId>, proof: Trust, holder: Option<(CustomerId, Trust)>) -> Link {
    let proven = proof == Trust::Verified;
    match (presenter, holder) {
        (None, None) => Link::NewCustomer,
        (Some(customer), None) => Link::Attach { customer },
        (Some(customer), Some((held_by, held))) if customer == held_by => {
            Link::Held { customer, upgrade: proven && held == Trust::Claimed }
        }
        (None, Some((customer, held))) => {
            Link::Holder { customer, unverified: !proven, upgrade: proven && held == Trust::Claimed }
        }
        (Some(source), Some((target, Trust::Verified))) if proven => Link::Merge { source, target },
        (Some(customer), Some((holder, _))) => Link::Suggest { customer, holder },
    }
}

/// One side of a merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Target,
    Source,
}

/// How a field comes out of a merge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldOutcome<V> {
    pub winner: Side,
    /// The value the merged customer keeps.
    pub value: Option<V>,
    /// Both sides have a value and they differ.
    pub conflict: bool,
    /// The target's value changes.
    pub changes_target: bool,
}

/// The target wins and the source fills its gaps, unless the caller picks a side. A side
/// picked that has no value keeps the other's: an override never blanks a field.
pub fn resolve_field<V: Clone + PartialEq>(
    target: Option<&V>,
    source: Option<&V>,
    choice: Option<Side>,
) -> FieldOutcome<V> {
    let winner = match (choice, target, source) {
        (Some(Side::Source), _, Some(_)) | (None, None, Some(_)) => Side::Source,
        _ => Side::Target,
    };
    let value = match winner {
        Side::Target => target.or(source),
        Side::Source => source,
    }
    .cloned();
    let conflict = matches!((target, source), (Some(t), Some(s)) if t != s);
    let changes_target = value.as_ref() != target;
    FieldOutcome { winner, value, conflict, changes_target }
}

/// Where a ticket held by the merged customer stood before the merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketOrigin {
    /// The target's own.
    Target,
    /// Moved from the source by the merge.
    Source,
    /// Opened after the merge.
    AfterMerge,
}

/// What an undo does with a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UndoTicket {
    /// Goes back to the source, with all its messages.
    Back,
    /// Stays with the target.
    Stays,
    /// Holds the customer's messages from both sides: it stays with the target and is
    /// listed for an agent to review.
    Review,
}

/// Decides a ticket's side on undo. `from_source`: it holds messages placed after the
/// merge from identities that came from the source; `from_target`: messages from the
/// target's own identities (moved tickets: placed after the merge).
pub fn undo_ticket(origin: TicketOrigin, from_source: bool, from_target: bool) -> UndoTicket {
    match (origin, from_source, from_target) {
        (TicketOrigin::Source, _, false) => UndoTicket::Back,
        (TicketOrigin::Source, _, true) => UndoTicket::Review,
        (TicketOrigin::AfterMerge, true, false) => UndoTicket::Back,
        (TicketOrigin::AfterMerge, true, true) => UndoTicket::Review,
        (TicketOrigin::AfterMerge, false, _) => UndoTicket::Stays,
        (TicketOrigin::Target, true, _) => UndoTicket::Review,
        (TicketOrigin::Target, false, _) => UndoTicket::Stays,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (CustomerId, CustomerId) {
        (CustomerId::new(), CustomerId::new())
    }

    #[test]
    fn an_identity_nobody_holds_makes_a_customer_or_joins_its_presenter() {
        let (a, _) = ids();
        assert_eq!(link(None, Trust::Claimed, None), Link::NewCustomer);
        assert_eq!(link(None, Trust::Verified, None), Link::NewCustomer);
        assert_eq!(link(Some(a), Trust::Claimed, None), Link::Attach { customer: a });
        assert_eq!(link(Some(a), Trust::Verified, None), Link::Attach { customer: a });
    }

    #[test]
    fn the_presenters_own_identity_is_upgraded_only_by_proof() {
        let (a, _) = ids();
        assert_eq!(
            link(Some(a), Trust::Verified, Some((a, Trust::Claimed))),
            Link::Held { customer: a, upgrade: true }
        );
        assert_eq!(
            link(Some(a), Trust::Claimed, Some((a, Trust::Claimed))),
            Link::Held { customer: a, upgrade: false }
        );
        assert_eq!(
            link(Some(a), Trust::Verified, Some((a, Trust::Verified))),
            Link::Held { customer: a, upgrade: false }
        );
        assert_eq!(
            link(Some(a), Trust::Claimed, Some((a, Trust::Verified))),
            Link::Held { customer: a, upgrade: false },
            "a claim never lowers trust"
        );
    }

    #[test]
    fn a_stranger_presenting_a_held_identity_goes_to_its_holder_unverified_unless_proven() {
        let (a, _) = ids();
        assert_eq!(
            link(None, Trust::Claimed, Some((a, Trust::Verified))),
            Link::Holder { customer: a, unverified: true, upgrade: false }
        );
        assert_eq!(
            link(None, Trust::Claimed, Some((a, Trust::Claimed))),
            Link::Holder { customer: a, unverified: true, upgrade: false }
        );
        assert_eq!(
            link(None, Trust::Verified, Some((a, Trust::Claimed))),
            Link::Holder { customer: a, unverified: false, upgrade: true }
        );
        assert_eq!(
            link(None, Trust::Verified, Some((a, Trust::Verified))),
            Link::Holder { customer: a, unverified: false, upgrade: false }
        );
    }

    #[test]
    fn only_proof_on_both_sides_merges() {
        let (a, b) = ids();
        assert_eq!(link(Some(a), Trust::Verified, Some((b, Trust::Verified))), Link::Merge { source: a, target: b });
    }

    #[test]
    fn anything_weaker_between_two_customers_is_a_suggestion() {
        let (a, b) = ids();
        let suggestion = Link::Suggest { customer: a, holder: b };
        assert_eq!(link(Some(a), Trust::Claimed, Some((b, Trust::Verified))), suggestion, "typed into a form");
        assert_eq!(link(Some(a), Trust::Claimed, Some((b, Trust::Claimed))), suggestion);
        assert_eq!(link(Some(a), Trust::Verified, Some((b, Trust::Claimed))), suggestion, "the holder only claimed it");
    }

    #[test]
    fn the_target_wins_and_the_source_fills_gaps() {
        let kept = resolve_field(Some(&"Ana"), Some(&"Ana Lima"), None);
        assert_eq!(
            kept,
            FieldOutcome { winner: Side::Target, value: Some("Ana"), conflict: true, changes_target: false }
        );
        let filled = resolve_field(None, Some(&"Ana Lima"), None);
        assert_eq!(
            filled,
            FieldOutcome { winner: Side::Source, value: Some("Ana Lima"), conflict: false, changes_target: true }
        );
        let same = resolve_field(Some(&"Ana"), Some(&"Ana"), None);
        assert!(!same.conflict && !same.changes_target);
        let neither = resolve_field::<&str>(None, None, None);
        assert_eq!(neither.value, None);
        assert!(!neither.changes_target);
    }

    #[test]
    fn the_caller_may_pick_a_side_but_never_blank_a_field() {
        let picked = resolve_field(Some(&"Ana"), Some(&"Ana Lima"), Some(Side::Source));
        assert_eq!(
            picked,
            FieldOutcome { winner: Side::Source, value: Some("Ana Lima"), conflict: true, changes_target: true }
        );
        let empty_source = resolve_field(Some(&"Ana"), None, Some(Side::Source));
        assert_eq!(empty_source.value, Some("Ana"));
        assert_eq!(empty_source.winner, Side::Target);
        let target_picked = resolve_field(None, Some(&"Ana Lima"), Some(Side::Target));
        assert_eq!(target_picked.value, Some("Ana Lima"), "an empty target still takes the source's value");
    }

    #[test]
    fn undo_sends_back_what_is_the_sources_alone_and_flags_what_is_mixed() {
        use TicketOrigin::*;
        use UndoTicket::*;
        assert_eq!(undo_ticket(Source, false, false), Back);
        assert_eq!(undo_ticket(Source, true, false), Back);
        assert_eq!(undo_ticket(Source, false, true), Review);
        assert_eq!(undo_ticket(Source, true, true), Review);
        assert_eq!(undo_ticket(AfterMerge, true, false), Back);
        assert_eq!(undo_ticket(AfterMerge, true, true), Review);
        assert_eq!(undo_ticket(AfterMerge, false, true), Stays);
        assert_eq!(undo_ticket(AfterMerge, false, false), Stays);
        assert_eq!(undo_ticket(Target, true, false), Review);
        assert_eq!(undo_ticket(Target, true, true), Review);
        assert_eq!(undo_ticket(Target, false, true), Stays);
        assert_eq!(undo_ticket(Target, false, false), Stays);
    }
}
