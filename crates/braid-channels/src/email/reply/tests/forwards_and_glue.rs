//! An "Original Message" separator with nothing above it (a forward), and attributions glued
//! onto the sender's words after capitalised words or without a sentence end, each with the
//! sentences that must stay text beside it.
use super::*;

#[test]
fn an_original_message_separator_with_nothing_above_is_a_forward() {
    for separator in [
        "-------- Original Message --------",
        "-----Original Message-----",
        "-------- Message d'origine --------",
        "-------- Originalnachricht --------",
        "-------- Messaggio originale --------",
        "-------- Mensaje original --------",
        "-------- Mensagem original --------",
        "-------- Oorspronkelijk bericht --------",
    ] {
        // Older Thunderbird: the separator, then a tab-aligned header table.
        let body = format!(
            "{separator}\nSubject: \tInvoice 42\nDate: \tFri, 03 May 2024 10:00:00 +0200\nFrom: \tAna Lima <ana@example.com>\nTo: \thelp@braid.test\n\n\n\nPlease find the invoice attached.\n"
        );
        let reply = check(&body);
        assert!(reply.forwarded, "{body}");
        assert_eq!(reply.text, body.trim(), "{body}");
        assert_eq!(reply.quoted, None, "{body}");
        // Under the sender's words the same separator quotes the original.
        let body = format!("Done, see below.\n\n{separator}\nFrom: Ana Lima <ana@example.com>\nSubject: Hi\n\nHello\n");
        let reply = check(&body);
        assert_eq!((reply.text.as_str(), reply.forwarded), ("Done, see below.", false), "{body}");
        assert!(reply.quoted.is_some_and(|q| q.contains("Hello")), "{body}");
    }
    // Quoted, it is history, as any quoted original.
    let reply = check("> -----Original Message-----\n> From: Ana Lima <ana@example.com>\n> Hello\n");
    assert_eq!((reply.text.as_str(), reply.forwarded), ("", false));
}

#[test]
fn a_name_glued_after_capitalised_words_is_cut_at_the_name() {
    for (body, said) in [
        ("Sounds Good Ana Lima <ana.lima@example.com> wrote:\n> Can we meet?\n", "Sounds Good"),
        ("Sounds Good Ana <ana@example.com> wrote:\n> Can we meet?\n", "Sounds Good"),
        ("Works For Me Jan Novak <jan.novak@example.cz> napsal:\n> Funguje to?\n", "Works For Me"),
        ("Great News Maria <maria.rossi@example.it> ha scritto:\n> Ciao\n", "Great News"),
    ] {
        let reply = check(body);
        assert_eq!(reply.text, said, "{body} → {reply:#?}");
        assert!(reply.quoted.is_some(), "{body}");
    }
    // A lead-in word still decides where the attribution starts.
    let reply = check("Thanks On Mon, 5 May 2014, Ana <ana@example.com> wrote:\n> Can we meet?\n");
    assert_eq!(reply.text, "Thanks");
    // A name with no words of the sender's before it is the attribution's own opening.
    let reply = check("Support Team <help@example.com> wrote:\n> Hello\n");
    assert_eq!(reply.text, "");
    // Capitalised words and an address in a sentence stay text.
    for body in [
        "Please Contact Ana Lima <ana.lima@example.com> for the keys.",
        "Meeting Notes From Ana <ana@example.com>\nAll fine.",
    ] {
        let reply = check(body);
        assert_eq!((reply.text.as_str(), reply.quoted.as_deref()), (body, None), "{body}");
    }
}

#[test]
fn a_date_glued_without_a_sentence_end_is_cut() {
    for (body, said) in [
        ("Works now 2014-03-20 8:48 GMT+01:00 Ana <ana@example.com>:\n> Still broken?\n", "Works now"),
        ("see you then 2024年6月4日(火) 10:02 Ana <ana@example.com>:\n> 10時は？\n", "see you then"),
    ] {
        let reply = check(body);
        assert_eq!(reply.text, said, "{body} → {reply:#?}");
        assert!(reply.quoted.is_some(), "{body}");
    }
    // An attribution's own opening words before a day-first date are not the sender's.
    for body in [
        "ti 4.6.2024 klo 10.02 Ana Lima (ana@example.com) kirjoitti:\n> Hei\n",
        "In data 4 marzo 2024 10:02 Ana <ana@example.com> ha scritto:\n> Ciao\n",
    ] {
        assert_eq!(check(body).text, "", "{body}");
    }
    // Sentences with dates in them stay text.
    for body in [
        "The release on 2024-06-04 10:00 went fine, ask Ana <ana@example.com>.",
        "We shipped it 2024-06-04 and Ana <ana@example.com> confirmed",
        "Deadline 2024-06-04 10:00 for Ana <ana@example.com>: please reply",
    ] {
        let reply = check(body);
        assert_eq!((reply.text.as_str(), reply.quoted.as_deref()), (body, None), "{body}");
    }
}
