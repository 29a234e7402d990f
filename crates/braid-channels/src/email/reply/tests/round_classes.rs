//! A message that opens with a header block (a forward without a comment), attributions glued
//! onto the sender's words without a lead-in word, and a sign-off under a quote, each with the
//! sentences that must stay text beside it.
use super::*;

#[test]
fn a_header_block_with_nothing_above_it_is_a_forward() {
    for body in [
        "From: Ana Lima <ana@example.com>\nSent: Friday, May 3, 2024 10:00 AM\nTo: Support <help@braid.test>\nSubject: Invoice 42\n\nPlease find the invoice attached.\n",
        "________________________________\nFrom: Ana Lima <ana@example.com>\nSent: Friday, May 3, 2024 10:00 AM\nTo: Support <help@braid.test>\nSubject: Invoice 42\n\nHello\n",
        "Od: Jan Kowalski <jan@example.pl>\nWysłano: piątek, 3 maja 2024 10:00\nDo: Support <help@braid.test>\nTemat: Faktura\n\nDzień dobry\n",
        "De : Ana Lima <ana@example.com>\nEnvoyé : vendredi 3 mai 2024 10:00\nÀ : Support <help@braid.test>\nObjet : Facture\n\nBonjour\n",
    ] {
        let reply = check(body);
        assert!(reply.forwarded, "{body}");
        assert_eq!(reply.text, body.trim(), "{body}");
        assert_eq!(reply.quoted, None, "{body}");
    }
    // An attribution with `>` lines and nothing above is still only quotes; so is the same
    // header block under the sender's words, and a lone "From:" line.
    let reply = check("On Fri, 3 May 2024 at 10:00, Ana <ana@example.com> wrote:\n> Hello\n");
    assert_eq!((reply.text.as_str(), reply.forwarded), ("", false));
    let reply =
        check("Done.\n\nFrom: Ana Lima <ana@example.com>\nSent: Friday, May 3, 2024 10:00 AM\nSubject: Hi\n\nHello\n");
    assert_eq!((reply.text.as_str(), reply.forwarded), ("Done.", false));
    // Ordinary text that starts with "From:" stays text and is no forward.
    for body in ["From: Lisbon\nTo: Porto\nDate: 4 June\n\nIs this train still running?", "From: me\n\nHi there"] {
        let reply = check(body);
        assert_eq!((reply.text.as_str(), reply.forwarded), (body, false), "{body}");
    }
}

#[test]
fn outlooks_html_header_with_nothing_above_is_a_forward() {
    let html = r#"<div id="divRplyFwdMsg"><b>From:</b> Ana Lima &lt;ana@example.com&gt;<br><b>Sent:</b> Friday, May 3, 2024 10:00 AM<br><b>To:</b> help@braid.test<br><b>Subject:</b> Invoice</div><div>Please pay.</div>"#;
    let reply = split_message("", Some(html));
    assert!(reply.forwarded);
    assert!(reply.text.contains("Please pay."), "{reply:#?}");
    assert_eq!(reply.quoted, None);
    let html = r#"<div>Forwarding this.</div><hr><b>From:</b> Ana Lima &lt;ana@example.com&gt;<br><b>Sent:</b> Friday, May 3, 2024 10:00 AM<br><div>Please pay.</div>"#;
    let reply = split_message("", Some(html));
    assert!(!reply.forwarded);
    assert_eq!(reply.text, "Forwarding this.");
}

#[test]
fn an_attribution_glued_without_a_lead_in_word_is_cut_off() {
    for (body, text) in [
        ("Thanks Ana <ana@example.com> schrieb am 3. Mai 2024 um 10:00:\n> Hallo", "Thanks"),
        ("Thanks! Ana Lima <ana@example.com> schrieb am 3. Mai 2024 um 10:00:\n> Hallo", "Thanks!"),
        ("Sounds good \"Ana Lima\" <ana@example.com> wrote on 3 May 2024 10:00:\n> Hi", "Sounds good"),
        ("Works now. 2014-03-20 8:48 GMT+01:00 Ana Lima <ana@example.com>:\n> Hi", "Works now."),
        ("Merci 2024-05-03 10:00 GMT+02:00 Ana Lima <ana@example.com>:\n\nBonjour", "Merci"),
        ("Thanks ana@example.com wrote on 3 May 2024 at 10:00:\n> Hi", "Thanks"),
    ] {
        let reply = check(body);
        assert_eq!(reply.text, text, "{body}");
        assert!(reply.quoted.is_some(), "{body}");
    }
    for sentence in [
        "Please write to Ana <ana@example.com> before 3 May 2024.",
        "We Met Bob yesterday and he wrote: fine",
        "Call Ana Lima <ana@example.com> at 10:00 about this",
        "Order 2024-05-03 10:00 was shipped to Ana Lima <ana@example.com>",
        "Tickets: 2 of 3 done, see the board at 10:00:",
    ] {
        let reply = check(sentence);
        assert_eq!(reply.text, sentence, "{sentence}");
    }
    // A whole line that is an attribution in a language whose lead-in words the tables lack
    // is not cut inside.
    for line in [
        "Wednesday, 4 June 2024 at 10:00, Ana Lima <ana@example.com>:",
        "In data 4 marzo 2024 10:00 Ana Lima <ana@example.com>:",
    ] {
        let body = format!("Fine.\n\n{line}\n> Hi");
        assert_eq!(check(&body).text, "Fine.", "{line}");
    }
}

#[test]
fn a_sign_off_under_a_quote_is_the_signature_of_the_reply_above() {
    for (closing, body_end) in [
        ("Regards, Roman", ""),
        ("Regards,\nRoman", ""),
        ("Viele Grüße\nAna Lima", ""),
        ("Cordialement,\n\nAna", ""),
        ("Pozdrawiam,\nJan Kowalski", ""),
        ("С уважением,\nАнна", ""),
        ("Thanks!\nAna", "\n"),
    ] {
        let body = format!(
            "Test reply\n\nOn Fri, 3 May 2024 at 10:00, Bob <bob@example.org> wrote:\n> Test\n\n{closing}{body_end}"
        );
        let reply = check(&body);
        assert_eq!(reply.text, "Test reply", "{body}");
        assert_eq!(reply.signature.as_deref(), Some(closing), "{body}");
        assert!(reply.quoted.is_some_and(|q| q.ends_with("> Test")), "{body}");
    }
    // Under a quote with nothing written above it, the same words are the reply; a real answer
    // under a quote keeps the quote as an inline answer.
    for (body, text) in [
        ("> Can you come on Monday?\n\nThanks, Ana", "> Can you come on Monday?\n\nThanks, Ana"),
        ("Hi,\n\n> Can you come?\n\nThanks for asking, yes.", "Hi,\n\n> Can you come?\n\nThanks for asking, yes."),
        ("Hi,\n\n> Can you come?\n\nBest time is Monday\nAna", "Hi,\n\n> Can you come?\n\nBest time is Monday\nAna"),
        (
            "Hi,\n\n> Which one?\n\nRegards, the blue one\nplease",
            "Hi,\n\n> Which one?\n\nRegards, the blue one\nplease",
        ),
    ] {
        assert_eq!(check(body).text, text, "{body}");
    }
}
