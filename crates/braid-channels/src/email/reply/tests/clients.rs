//! Classes of what real mail clients do, each with the ordinary sentences that must stay
//! text beside it: attributions glued onto the reply's last line, the attribution verbs of
//! the languages clients ship, link targets inside a quote, header blocks in any order, and
//! the sign-off lines of phones and apps.
use super::*;

fn new_text(body: &str) -> String {
    check(body).text
}

#[test]
fn an_attribution_glued_onto_the_last_line_is_cut_off_it() {
    for (body, text) in [
        ("Thanks! On Mon, 5 May 2014 at 10:00, Ana <ana@example.com> wrote:\n> Hi", "Thanks!"),
        ("reply On Wed, Apr 4, 2012 at 3:59 PM, bob@example.com wrote:\n> Hi", "reply"),
        ("reply--- On Wed, Apr 4, 2012 at 3:59 PM, me@domain.com wrote:\n> Hi", "reply"),
        ("Merci. Le lun. 5 mai 2014 à 10:00, Ana <ana@example.com> a écrit :\n> Salut", "Merci."),
        ("Danke. Am 5. Mai 2014 um 10:00 schrieb Ana <ana@example.com>:\n> Hallo", "Danke."),
        ("Tack! Den 5 maj 2014 kl. 10:00 skrev Ana <ana@example.com>:\n> Hej", "Tack!"),
        // Wrapped after the glued start.
        ("Thanks! On Mon, 5 May 2014 at 10:00,\nAna <ana@example.com> wrote:\n> Hi", "Thanks!"),
        // An unmarked original under it is quoted to the end.
        ("Sure. On Mon, 5 May 2014 at 10:00, Ana <ana@example.com> wrote:\n\nCan we talk?", "Sure."),
    ] {
        let reply = check(body);
        assert_eq!(reply.text, text, "{body}");
        assert!(reply.quoted.is_some(), "{body}");
    }
    for sentence in [
        "We spoke On Monday about it, see you at 10:00.",
        "I'll call you on Mon, 5 May at 10:00 if that works.",
        "Notes. On Monday 5 May 2014 we decided:\n- ship it",
        "On Mon, 5 May 2014 at 10:00 the server rebooted and Ana wrote: nothing.",
    ] {
        assert_eq!(new_text(sentence), sentence);
    }
}

#[test]
fn attribution_verbs_of_the_languages_clients_ship_are_known() {
    for attribution in [
        "On 11-Apr-2011, at 6:54 PM, Ana Lima <ana@example.com> sent:",
        "Op 17-feb.-2015, om 13:18 heeft Ana Lima <ana@example.com> het volgende geschreven:",
        "Vào 14:24 8 tháng 6, 2017, Ana Lima <ana@example.com> đã viết:",
        "Am 04.06.2024 um 10:02 hat Ana Lima <ana@example.com> geschrieben:",
        "Il giorno 4 giu 2024, alle ore 10:02, Ana Lima <ana@example.com> ha scritto:",
        "El 4 jun 2024, a las 10:02, Ana Lima <ana@example.com> escribió:",
        "Em 4 de jun. de 2024, às 10:02, Ana Lima <ana@example.com> escreveu:",
        "Op 4 jun. 2024 om 10:02 schreef Ana Lima <ana@example.com>:",
        "Den 4. jun. 2024 kl. 10.02 skrev Ana Lima <ana@example.com>:",
        "ti 4.6.2024 klo 10.02 Ana Lima (ana@example.com) kirjoitti:",
        "W dniu 4.06.2024 o 10:02, Ana Lima <ana@example.com> napisała:",
        "Dne 4. 6. 2024 v 10:02 Ana Lima <ana@example.com> napsala:",
        "Dňa 4. 6. 2024 o 10:02 Ana Lima <ana@example.com> napísal(a):",
        "Ana Lima <ana@example.com> ezt írta (időpont: 2024. jún. 4., K, 10:02):",
        "Pe 4 iun. 2024, la 10:02, Ana Lima <ana@example.com> a scris:",
        "4 июня 2024 г., в 10:02, Ana Lima <ana@example.com> написала:",
        "4 черв. 2024 р. о 10:02 Ana Lima <ana@example.com> написав:",
        "Ana Lima <ana@example.com>, 4 Haz 2024 Sal, 10:02 tarihinde şunu yazdı:",
        "Στις 4 Ιουν 2024, 10:02, ο/η Ana Lima <ana@example.com> έγραψε:",
        "ב-4 ביוני 2024, 10:02, Ana Lima <ana@example.com> כתב:",
        "في 4 يونيو 2024، 10:02، كتب Ana Lima <ana@example.com>:",
        "Pada tanggal 4 Jun 2024 10:02, Ana Lima <ana@example.com> menulis:",
        "Ana Lima <ana@example.com> 于2024年6月4日周二 10:02写道：",
        "2024年6月4日(火) 10:02 Ana Lima <ana@example.com>:",
        "2024년 6월 4일 (화) 오전 10:02, Ana Lima <ana@example.com>님이 작성:",
    ] {
        let body = format!("Thanks, that works.\n\n{attribution}\n\n> Try turning it off and on.\n");
        assert_eq!(new_text(&body), "Thanks, that works.", "{attribution}");
        let body = format!("Thanks, that works.\n\n{attribution}\n\nTry turning it off and on.\n");
        assert_eq!(new_text(&body), "Thanks, that works.", "{attribution}");
    }
    for sentence in [
        "Thanks, I sent:\n\nthe invoice and the receipt.",
        "Ana wrote the following in the ticket yesterday.",
        "Het volgende heb ik geschreven.",
    ] {
        assert_eq!(new_text(sentence), sentence);
    }
}

#[test]
fn a_link_target_between_quoted_lines_stays_in_the_quote() {
    for body in [
        "Blah\n\nOn Thu, Oct 25, 2012 at 3:03 PM, Bob wrote:\n\n> Post a reply\n>\n (http://example.com/c/Yz) >\n> life is short.\n>\n",
        "Blah\n\nOn Mon, 24 Sep 2012 at 3:46 PM, Bob wrote:\n\n> View ticket (http://example.com/action\n_nonce=3dd518)\n>\n",
        "Blah\n\nOn Mon, 24 Sep 2012 at 3:46 PM, Bob wrote:\n\n> See the docs\n<https://example.com/docs>\n> and tell me.\n",
    ] {
        let reply = check(body);
        assert_eq!(reply.text, "Blah", "{body}");
    }
    // A bare link between quotes is the sender's answer, kept in text with the questions.
    let body = "> Where are the docs?\nhttps://docs.example.com\n> And the API?\nhttps://api.example.com";
    assert_eq!(new_text(body), body);
}

#[test]
fn header_blocks_open_with_any_field_in_any_order() {
    for block in [
        "Date: Wed, 16 May 2012 00:15:02 -0600\nTo: support@example.com",
        "Sent: Wednesday, May 16, 2012 12:15 AM\nTo: support@example.com\nSubject: Refund",
        "Subject: Refund\nDate: Wed, 16 May 2012 00:15\nFrom: Ana <ana@example.com>",
        "Datum: 16. Mai 2012 um 00:15\nAn: support@example.com\nBetreff: Erstattung",
        "Dato: 16. maj 2012 00:15\nTil: support@example.com\nEmne: Refusion",
        "Fecha: 16 may 2012 00:15\nPara: support@example.com\nAsunto: Reembolso",
        "________________________________\nSent: Wednesday, May 16, 2012 12:15 AM\nTo: Support\nSubject: Refund",
    ] {
        let body = format!("Blah\n\n{block}\n\nHello, I want a refund.\n");
        let reply = check(&body);
        assert_eq!(reply.text, "Blah", "{block}");
    }
    // A booking pasted into a message, with no address or subject, stays text.
    for booking in ["From: Lisbon\nTo: Porto\nDate: 4 June", "Date: 4 June 2024\nTo: Porto\nSeat: 12A"] {
        let body = format!("My trip:\n\n{booking}\n\nCan I change it?");
        assert_eq!(new_text(&body), body);
    }
}

#[test]
fn phone_and_app_sign_offs_in_more_languages_are_signatures() {
    for sign_off in [
        "Get Outlook for Android",
        "Hent Outlook til Android",
        "Hämta Outlook för iOS",
        "Obtener Outlook para Android",
        "iPhone'umdan gönderildi",
        "Gửi từ iPhone của tôi",
        "Dikirim dari iPhone saya",
        "Trimis de pe iPhone-ul meu",
        "Odoslané z môjho iPhonu",
        "Von meinem iPhone gesendet",
        "从我的iPhone发送",
        "iPhoneから送信",
    ] {
        let reply = check(&format!("Yes, please.\n\n{sign_off}"));
        assert_eq!(reply.text, "Yes, please.", "{sign_off}");
        assert_eq!(reply.signature.as_deref(), Some(sign_off), "{sign_off}");
    }
    for sentence in [
        "Yes, please.\n\nSent from my desk, is much easier than my phone.",
        "Yes, please.\n\nGet Outlook for Android to work with our SSO, that is the question.",
    ] {
        assert_eq!(new_text(sentence), sentence);
    }
}

#[test]
fn forwards_in_more_languages_stay_text_and_are_marked() {
    for opener in [
        "Začátek přeposílané zprávy:",
        "Inizio del messaggio inoltrato:",
        "---------- Mensaje reenviado ---------",
        "---------- Doorgestuurd bericht ---------",
        "-------- Videresendt melding --------",
    ] {
        let body = format!("FYI\n\n{opener}\nFrom: Ana <ana@example.com>\nSubject: Invoice\n\nSee attached.");
        let reply = check(&body);
        assert!(reply.forwarded, "{opener}");
        assert_eq!(reply.text, body, "{opener}");
    }
}
