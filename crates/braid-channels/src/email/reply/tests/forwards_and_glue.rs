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
