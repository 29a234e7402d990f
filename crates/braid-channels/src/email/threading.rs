//! Which ticket a mail says it belongs to: In-Reply-To, every References value (latest
//! first), and a `[#1042]` tag in the subject. Placement follows a reference only into
//! the sender's own thread.

use braid_core::TicketNumber;
use braid_core::placement::ReferenceSource;
use braid_db::placement::{InboundReference, ReferenceTarget};

use super::ParsedEmail;
use super::tokens::ReplyTokens;

/// The explicit references of `email`, strongest first: a signed reply token in a
/// recipient address, In-Reply-To, References (newest first), the subject tag.
pub fn references(email: &ParsedEmail, tokens: Option<&ReplyTokens>) -> Vec<InboundReference> {
    let mut found = Vec::new();
    if let Some(tokens) = tokens {
        let recipients = email.to.iter().chain(&email.cc).map(|m| m.address.clone());
        let delivered =
            ["delivered-to", "x-original-to"].into_iter().filter_map(|h| email.header(h).map(str::to_owned));
        if let Some((address, number)) =
            recipients.chain(delivered).find_map(|address| tokens.verify(&address).map(|n| (address, n)))
        {
            found.push(InboundReference {
                source: ReferenceSource::ReplyToken,
                detail: address,
                target: ReferenceTarget::TicketNumber(number),
            });
        }
    }
    let mut seen = std::collections::HashSet::new();
    let message = |source, id: &String| InboundReference {
        source,
        detail: format!("<{id}>"),
        target: ReferenceTarget::Message(format!("<{id}>")),
    };
    for id in &email.in_reply_to {
        if seen.insert(id.clone()) {
            found.push(message(ReferenceSource::InReplyTo, id));
        }
    }
    for id in email.references.iter().rev() {
        if seen.insert(id.clone()) {
            found.push(message(ReferenceSource::References, id));
        }
    }
    if let Some(number) = email.subject.as_deref().and_then(subject_tag) {
        found.push(InboundReference {
            source: ReferenceSource::SubjectTag,
            detail: number.to_string(),
            target: ReferenceTarget::TicketNumber(number),
        });
    }
    found
}

/// The ticket number of a `[#1042]` tag, the last one when there are several (a reply to
/// a forwarded ticket keeps the newest).
pub fn subject_tag(subject: &str) -> Option<TicketNumber> {
    subject
        .match_indices("[#")
        .filter_map(|(start, _)| {
            let rest = &subject[start + 2..];
            let end = rest.find(']')?;
            let digits = &rest[..end];
            (!digits.is_empty() && digits.len() <= 18 && digits.bytes().all(|b| b.is_ascii_digit()))
                .then(|| TicketNumber::parse(digits).ok())
                .flatten()
        })
        .last()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::parse::parse;

    #[test]
    fn subject_tags_are_found_and_junk_is_not() {
        assert_eq!(subject_tag("Re: Refund [#1042]").map(TicketNumber::get), Some(1042));
        assert_eq!(subject_tag("Fwd: [#7] and [#1042]").map(TicketNumber::get), Some(1042));
        assert_eq!(subject_tag("[#] [#abc] [# 12] #1042"), None);
        assert_eq!(subject_tag("[#99999999999999999999999]"), None);
    }

    #[test]
    fn in_reply_to_comes_first_then_references_newest_first_then_the_tag() {
        let raw = b"From: a@example.org\r\nSubject: Re: x [#1042]\r\nIn-Reply-To: <b@x>\r\n\
References: <a@x> <b@x> <c@x>\r\n\r\nhi";
        let refs = references(&parse(raw).unwrap(), None);
        let seen: Vec<_> = refs.iter().map(|r| (r.source, r.detail.as_str())).collect();
        assert_eq!(
            seen,
            [
                (ReferenceSource::InReplyTo, "<b@x>"),
                (ReferenceSource::References, "<c@x>"),
                (ReferenceSource::References, "<a@x>"),
                (ReferenceSource::SubjectTag, "#1042"),
            ]
        );
    }
}

#[cfg(test)]
mod token_tests {
    use super::*;
    use crate::email::parse::parse;

    #[test]
    fn a_signed_token_in_a_recipient_comes_first() {
        let tokens = ReplyTokens::new(b"k", "support@braid.test");
        let address = tokens.address(TicketNumber::new(1042).unwrap());
        let raw =
            format!("From: a@example.org\r\nTo: Support <{address}>\r\nSubject: x\r\nIn-Reply-To: <b@x>\r\n\r\nhi");
        let refs = references(&parse(raw.as_bytes()).unwrap(), Some(&tokens));
        assert_eq!(refs[0].source, ReferenceSource::ReplyToken);
        assert_eq!(refs[0].target, ReferenceTarget::TicketNumber(TicketNumber::new(1042).unwrap()));
        assert_eq!(refs[1].source, ReferenceSource::InReplyTo);
        let forged = raw.replace("+1042-", "+1043-");
        assert_eq!(references(&parse(forged.as_bytes()).unwrap(), Some(&tokens))[0].source, ReferenceSource::InReplyTo);
    }
}
