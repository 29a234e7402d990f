//! One fixture per class of real-client behaviour the text splitter must handle, written for
//! Braid (the external suites in `tests/reply_fixtures` measure; these pin the classes).
use super::*;

fn new_text(body: &str) -> String {
    check(body).text
}

#[test]
fn attributions_wrapped_over_lines_in_many_languages_are_quotes() {
    for attribution in [
        "On Tue, Jun 4, 2024 at 10:02 AM Support Team <\nhelp@braid.test> wrote:",
        "On Tue, Jun 4, 2024 at 10:02 AM Support Team\n<help@braid.test> wrote:",
        "Le mar. 4 juin 2024 à 10:02, Support Team <help@braid.test> a\nécrit :",
        "Am Di., 4. Juni 2024 um 10:02 Uhr schrieb Support Team <\nhelp@braid.test>:",
        "Support Team <help@braid.test> schrieb am Di., 4. Juni 2024,\n10:02:",
        "Il giorno mar 4 giu 2024 alle ore 10:02 Support Team <\nhelp@braid.test> ha scritto:",
        "El mar, 4 jun 2024 a las 10:02, Support Team (<help@braid.test>)\nescribió:",
        "Em ter., 4 de jun. de 2024 às 10:02, Support Team <\nhelp@braid.test> escreveu:",
        "Op di 4 jun 2024 om 10:02 schreef Support Team <\nhelp@braid.test>:",
        "Den tis 4 juni 2024 kl 10:02 skrev Support Team <\nhelp@braid.test>:",
        "Den tir. 4. jun. 2024 kl. 10.02 skrev Support Team <help@braid.test\n>:",
        "W dniu wt., 4.06.2024 o 10:02 Support Team <help@braid.test>\nnapisał(a):",
        "вт, 4 июн. 2024 г. в 10:02, Support Team <help@braid.test>:",
        "Вт, 4 черв. 2024 р. о 10:02 Support Team <help@braid.test>\nпише:",
        "út 4. 6. 2024 v 10:02 odesílatel Support Team <help@braid.test>\nnapsal:",
        "2024年6月4日(火) 10:02 Support Team <help@braid.test>:",
        "Support Team <help@braid.test> 于2024年6月4日周二 10:02写道：",
        "2024년 6월 4일 (화) 오전 10:02, Support Team <help@braid.test>님이 작성:",
        "2014-03-20 8:48 GMT+01:00 Support Team <help@braid.test>:",
        "---- On Tue, 04 Jun 2024 10:02:00 +0200 Support Team <help@braid.test> wrote ----",
        // Wrapped where an inner line stops mid-date, on a dot or a comma.
        "Support Team <help@braid.test> schrieb am Fr., 28.\nApr. 2017 um 11:53 Uhr:",
        "Am Mo., 3. Juli 2017 um 10:00 Uhr schrieb Support Team <help@braid.test\n>:",
        "Le jeu.\n5 oct. 2017 à 10:00, Support Team <help@braid.test> a écrit :",
        "Den ons. 4. okt.\n2017 kl. 10.00 skrev Support Team <help@braid.test>:",
        "On Tue, Jun 4, 2024 at 10:02 AM,\nSupport Team <help@braid.test> wrote:",
        // Split over a blank line, the address wrapped onto a "> wrote:" line.
        "On Thu, 31 Mar 2016 at 11:16 Support Team\n\n<\nmailto:Support Team <help@braid.test>\n> wrote:",
        // No colon.
        "On Wed, 14 Nov 2018 08:14:43 -0200 Support Team <help@braid.test> wrote",
        "Le mer. 14 nov. 2018 à 08:14, Support Team <help@braid.test> a écrit",
    ] {
        let body = format!("Thanks, that works.\n\n{attribution}\n\n> Try turning it off and on.\n");
        assert_eq!(new_text(&body), "Thanks, that works.", "{attribution}");
        // With an unmarked original under it, everything from the attribution on is quoted.
        let body = format!("Thanks, that works.\n\n{attribution}\n\nTry turning it off and on.\n");
        assert_eq!(new_text(&body), "Thanks, that works.", "{attribution}");
    }
}

#[test]
fn dashed_separators_in_many_languages_start_a_quote() {
    for separator in [
        "-----Original Message-----",
        "-------- Original Message --------",
        "----- Mensaje original -----",
        "-------- Message d'origine --------",
        "-----Ursprüngliche Nachricht-----",
        "-------- Messaggio originale --------",
        "-------- Oprindelig besked --------",
        "-------- Исходное сообщение --------",
    ] {
        let body = format!("Thanks!\n\n{separator}\nFrom: Support\nHello there\n");
        assert_eq!(new_text(&body), "Thanks!", "{separator}");
    }
}

#[test]
fn outlook_header_blocks_with_or_without_a_rule_are_quotes_in_any_language() {
    for block in [
        "From: Support <help@braid.test>\nSent: Tuesday, June 4, 2024 10:02 AM\nTo: Ana <ana@example.org>\nSubject: Re: Order",
        "Von: Support <help@braid.test>\nGesendet: Dienstag, 4. Juni 2024 10:02\nAn: Ana\nBetreff: AW: Bestellung",
        "De : Support <help@braid.test>\nEnvoyé : mardi 4 juin 2024 10:02\nÀ : Ana\nObjet : RE: Commande",
        "Da: Support <help@braid.test>\nInviato: martedì 4 giugno 2024 10:02\nA: Ana\nOggetto: R: Ordine",
        "Från: Support <help@braid.test>\nSkickat: den 4 juni 2024 10:02\nTill: Ana\nÄmne: SV: Order",
        "Od: Support <help@braid.test>\nOdesláno: úterý 4. června 2024 10:02\nKomu: Ana\nPředmět: RE: Objednávka",
        "От: Support <help@braid.test>\nОтправлено: 4 июня 2024 г. 10:02\nКому: Ana\nТема: RE: Заказ",
        "*From:* Support <help@braid.test>\n*Sent:* Tuesday, June 4, 2024 10:02 AM\n*Subject:* Re: Order",
        "From: Support Team\n<help@braid.test>\nSent: Tuesday, June 4, 2024 10:02 AM\nTo: Ana\nSubject: Re: Order",
        "Da: Support\nRisposta: Support <help@braid.test>\nData: 4 giugno 2024\nA: Ana\nOggetto: Ordine",
        // Display names only, no subject: three known fields and a send time are enough.
        "От: Support\nОтправлено: четверг, 26 июня 2014 г. 15:05\nКому: Ana",
        "From: Support\nSent: Tuesday, June 4, 2024 10:02 AM\nTo: Ana",
    ] {
        for rule in ["", "________________________________\n", "====\n"] {
            let body = format!("Received, thanks.\n\n{rule}{block}\n\nYour order shipped.\n");
            assert_eq!(new_text(&body), "Received, thanks.", "{rule}{block}");
        }
    }
}

#[test]
fn sentences_ending_in_a_date_or_a_bare_wrote_stay_text() {
    for body in [
        "We met on Fri.\nOn Monday Ana wrote the plan.",
        "See you on 28.\nMy colleague wrote",
        "On Monday Ana <ana@example.org> wrote",
        "From: Lisbon\nTo: Porto\nDate: 4 June 2024\n\nPlease change it.",
    ] {
        assert_eq!(new_text(body), body, "{body}");
    }
}

#[test]
fn forwards_stay_text_and_are_marked() {
    for forward in [
        "---------- Forwarded message ---------\nFrom: Bank <no-reply@bank.test>\nDate: Tue, Jun 4, 2024\nSubject: Receipt",
        "Begin forwarded message:\n\nFrom: Bank <no-reply@bank.test>\nSubject: Receipt",
        "> Begin forwarded message:\n>\n> From: Bank <no-reply@bank.test>\n> Subject: Receipt",
        "-------- Message transféré --------\nDe : Bank <no-reply@bank.test>\nObjet : Reçu",
        "-------- Weitergeleitete Nachricht --------\nVon: Bank <no-reply@bank.test>\nBetreff: Beleg",
        "________________________________\nFrom: Bank <no-reply@bank.test>\nSent: Tuesday, June 4, 2024\nSubject: FW: Receipt",
    ] {
        let body = format!("See the receipt below.\n\n{forward}\n\nAmount: 42 EUR\n");
        let reply = check(&body);
        assert!(reply.forwarded, "{forward}");
        assert_eq!(reply.text, body.trim(), "{forward}");
    }
}

#[test]
fn a_forward_inside_a_quote_is_part_of_the_quote() {
    let body = "Done.\n\nOn Tue, Jun 4, 2024 at 10:02 AM Ana <ana@example.org> wrote:\n> ---------- Forwarded message ---------\n> From: Bank\n";
    let reply = check(body);
    assert_eq!((reply.text.as_str(), reply.forwarded), ("Done.", false));
}

#[test]
fn invisible_characters_do_not_defeat_detection_and_are_kept() {
    let body = "Thanks\u{200B}!\n\n\u{FEFF}On Tue, Jun 4, 2024 at 10:02\u{00A0}AM Support <help@braid.test>\u{200E} wrote:\u{00A0}\n>\u{200C} Hello\n--\u{00A0}\nAna\n";
    let reply = check(body);
    assert_eq!(reply.text, "Thanks\u{200B}!");
    assert!(reply.quoted.as_deref().is_some_and(|q| q.contains("\u{FEFF}On Tue")), "{reply:?}");
    let signed = check("Thanks\n\n--\u{00A0}\nAna\n");
    assert_eq!(signed.text, "Thanks");
    assert_eq!(new_text("Hi\n\n\u{1427}\n"), "Hi");
}

#[test]
fn bottom_posting_under_a_clients_quote_shows_only_the_new_words() {
    let body = "On Tue, Jun 4, 2024 at 10:02 AM Support <help@braid.test> wrote:\n\n> Is it fixed?\n\nYes, since this morning.\n";
    let reply = check(body);
    assert_eq!(reply.text, "Yes, since this morning.");
    assert!(reply.quoted.is_some_and(|q| q.contains("Is it fixed?")));
    // A quote the sender picked and answers inline stays, so the answer keeps its question.
    assert_eq!(new_text("> Order number?\n\n1042\n"), "> Order number?\n\n1042");
}

#[test]
fn phone_and_app_sign_offs_in_many_languages_are_signatures() {
    for sign_off in [
        "Sent from my iPhone",
        "Von meinem Mobilgerät gesendet",
        "Envoyé de mon iPad",
        "Sent from my cell, please excuse any typos.",
        "Get Outlook for Android<https://aka.ms/ghei36>",
        "Diese Nachricht wurde von meinem Android-Mobiltelefon mit K-9 Mail gesendet.",
        "iPhoneから送信",
    ] {
        let reply = check(&format!("On my way.\n\n{sign_off}\n"));
        assert_eq!(reply.text, "On my way.", "{sign_off}");
    }
    assert_eq!(
        new_text("Here it is.\n\nSent from my desk, is much easier then my mobile phone."),
        "Here it is.\n\nSent from my desk, is much easier then my mobile phone."
    );
}
