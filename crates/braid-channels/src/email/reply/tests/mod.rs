//! Unit tests of reply splitting, on small fixtures written for them.
use super::*;

fn check(body: &str) -> Reply {
    let reply = split(body);
    assert_keeps_every_line(body, &reply);
    reply
}

/// Every visible character of the input is in exactly one of text, quoted and signature (a
/// line with an attribution glued onto the sender's words is cut in two, so not whole lines).
fn assert_keeps_every_line(body: &str, reply: &Reply) {
    let visible = |s: &str| -> Vec<char> {
        let mut chars: Vec<char> =
            s.split('\n').flat_map(|l| super::patterns::key(l).chars().collect::<Vec<_>>()).collect();
        chars.retain(|c| !c.is_whitespace());
        chars.sort_unstable();
        chars
    };
    let output = [reply.text.as_str(), reply.quoted.as_deref().unwrap_or(""), reply.signature.as_deref().unwrap_or("")];
    assert_eq!(visible(body), visible(&output.join("\n")), "characters lost or invented for {body:?} → {reply:#?}");
}

#[test]
fn a_message_without_history_is_all_text() {
    let reply = check("Hello,\r\n\r\nmy order #1042 never arrived.\r\nCan you check?\r\n");
    assert_eq!(
        reply,
        Reply { text: "Hello,\n\nmy order #1042 never arrived.\nCan you check?".into(), ..Reply::default() }
    );
}

#[test]
fn gmail_attribution_and_quote_are_split_off() {
    let reply = check(
        "Yes, tomorrow works.\n\nOn Mon, 3 Jun 2024 at 09:12, Support <help@braid.test> wrote:\n\n> Can we call?\n",
    );
    assert_eq!(reply.text, "Yes, tomorrow works.");
    assert_eq!(
        reply.quoted.as_deref(),
        Some("On Mon, 3 Jun 2024 at 09:12, Support <help@braid.test> wrote:\n\n> Can we call?")
    );
    assert_eq!(reply.signature, None);
}

#[test]
fn attributions_in_many_languages_are_recognised() {
    for header in [
        "Le 4 juin 2024 à 10:02, Support <help@braid.test> a écrit :",
        "Am 04.06.2024 um 10:02 schrieb Support <help@braid.test>:",
        "El 4 jun 2024, a las 10:02, Support <help@braid.test> escribió:",
        "Em ter., 4 de jun. de 2024 às 10:02, Support <help@braid.test> escreveu:",
        "Op di 4 jun. 2024 om 10:02 schreef Support <help@braid.test>:",
        "Il giorno mar 4 giu 2024 alle ore 10:02 Support <help@braid.test> ha scritto:",
        "Den 4 juni 2024 kl. 10:02 skrev Support <help@braid.test>:",
        "W dniu 4.06.2024 o 10:02, Support <help@braid.test> pisze:",
        "2024年6月4日(火) 10:02 Support <help@braid.test>:",
        "2024/06/04 10:02、Support <help@braid.test> のメッセージ:",
        "2024-06-04 10:02 GMT+02:00 Support <help@braid.test>:",
        "2024/06/04 10:02、Support <help@braid.test>のメール:",
        "вт, 4 июн. 2024 г. в 10:02, Support <help@braid.test>:",
        "wt., 4 cze 2024 o 10:02 Support <help@braid.test> napisał(a):",
        "Den tis 4 juni 2024 kl 10:02 skrev Support <help@braid.test>:",
    ] {
        let reply = check(&format!("Thanks!\n\n{header}\n\nOld words.\n"));
        assert_eq!(reply.text, "Thanks!", "{header}");
        assert_eq!(reply.quoted.as_deref(), Some(format!("{header}\n\nOld words.").as_str()));
    }
}

#[test]
fn an_attribution_wrapped_over_lines_is_one_header() {
    let reply = check(
        "Works now.\n\nOn Tue, Sep 25, 2012 at 8:59 AM, Chris Example\n<chris@example.org>wrote:\n\n> Try again?\n",
    );
    assert_eq!(reply.text, "Works now.");
    assert!(reply.quoted.unwrap().starts_with("On Tue, Sep 25, 2012 at 8:59 AM, Chris Example\n<chris"));
    let reply = check("Ok\nOp 12 december 2016 19:05 schreef Support <\nhelp@braid.test>:\n\n> Vraag\n");
    assert_eq!(reply.text, "Ok");
}

#[test]
fn sentences_that_look_like_attributions_stay_text() {
    for body in [
        "On your server you can run:\n\n    braid migrate\n",
        "One question I had:\n\nwhy?\n",
        "Here is what happened.\n\nSomething wrote:\nthe log was empty.\n",
        "On Thursday:\n\nlunch.\n",
        "My booking:\nFrom: Lisbon\nTo: Porto\nDate: 4 June\n\nPlease change it.\n",
    ] {
        assert_eq!(check(body).quoted, None, "{body}");
    }
}

#[test]
fn an_unmarked_original_after_an_attribution_is_quoted_to_the_end() {
    let reply = check("This is my reply.\n\nOn Nov 26, 2013 you wrote:\n\nThis is my quote.\n");
    assert_eq!(reply.text, "This is my reply.");
    assert_eq!(reply.quoted.as_deref(), Some("On Nov 26, 2013 you wrote:\n\nThis is my quote."));
}

#[test]
fn outlook_header_blocks_are_quotes_in_any_language() {
    for block in [
        "-----Original Message-----\nFrom: Support [mailto:help@braid.test]\nSent: Tuesday, June 4, 2024 10:02 AM\nTo: Ana\nSubject: Your order",
        "________________________________\nFrom: Support <help@braid.test>\nSent: 4 June 2024 10:02\nTo: Ana\nSubject: Your order",
        " ------------------------------\n\n*From:* Support [mailto:help@braid.test]\n*Sent:* Tuesday\n*Subject:* Order",
        "   De : Support <help@braid.test>\n   Envoyé le : mardi 4 juin 2024 10:02\n   À : Ana\n   Objet\u{a0}: Commande",
        "Van: Support\nVerzonden: dinsdag 4 juni 2024 10:02\nAan: Ana\nOnderwerp: Bestelling",
        "Von: Support\nGesendet: Dienstag, 4. Juni 2024 10:02\nAn: Ana\nBetreff: Bestellung",
        "发件人: Support <help@braid.test>\n发送时间: 2024年6月4日 10:02\n主题: 订单",
        "========================================\n\nMessage du : 04/06/2024 10:02\nDe : Support <help@braid.test>\nSujet : Commande",
        "From: help@braid.test <help@braid.test>",
        "De: help@braid.test <help@braid.test>",
        "Van: help@braid.test <help@braid.test>",
        "Da: help@braid.test <help@braid.test>",
    ] {
        let reply = check(&format!("Thanks, got it.\n\n{block}\n\nOld message.\n-- \nSupport team\n"));
        assert_eq!(reply.text, "Thanks, got it.", "{block}");
        assert_eq!(reply.signature, None, "the original's signature belongs to the quote: {block}");
    }
}

#[test]
fn signatures_are_set_apart() {
    let reply = check("See attached.\n\n-- \nAna Lima\nAcme Corp\n");
    assert_eq!(reply.text, "See attached.");
    assert_eq!(reply.signature.as_deref(), Some("-- \nAna Lima\nAcme Corp"));
    let reply = check("See attached.\n--\nrick\n");
    assert_eq!((reply.text.as_str(), reply.signature.as_deref()), ("See attached.", Some("--\nrick")));
    let body = "Run it with\n\n-v verbose\n";
    assert_eq!(check(body).text, body.trim());
    let reply = check("Thanks\n\n-Ana\n\n___________\nlist footer\n");
    assert_eq!(reply.text, "Thanks");
    assert_eq!(reply.signature.as_deref(), Some("-Ana\n\n___________\nlist footer"));
}

#[test]
fn phone_signatures_are_set_apart_but_sentences_are_not() {
    for body in [
        "Fine.\n\nSent from my iPhone",
        "Fine.\nEnvoyé de mon iPad\n",
        "Fine.\n\nSent from Mail for Windows 10\n",
        "Fine.\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n",
    ] {
        assert_eq!(check(body).text, "Fine.", "{body}");
    }
    let body = "Fine.\n\nSent from my desk, which is easier than my phone.";
    assert_eq!(check(body).text, body);
    let body = "Fine.\n\nSent from home\n\nand more words later.";
    assert_eq!(check(body).text, body);
}

#[test]
fn the_signature_above_a_quote_and_the_footer_below_it_are_both_kept() {
    let reply = check("Great.\n\n-Ana\n\nOn 01/03/11 7:07 PM, Bob wrote:\n> Hi\n\n___\nlist footer\n");
    assert_eq!(reply.text, "Great.");
    assert_eq!(reply.signature.as_deref(), Some("-Ana\n\n___\nlist footer"));
    assert_eq!(reply.quoted.as_deref(), Some("On 01/03/11 7:07 PM, Bob wrote:\n> Hi"));
}

#[test]
fn inline_answers_keep_the_questions_they_answer() {
    let body =
        "> What is your order number?\n\n1042\n\n> Which browser?\n\nFirefox\n\n> Anything else?\n> Thanks\n\n-- \nAna";
    let reply = check(body);
    assert_eq!(reply.text, "> What is your order number?\n\n1042\n\n> Which browser?\n\nFirefox");
    assert_eq!(reply.quoted.as_deref(), Some("> Anything else?\n> Thanks"));
    assert_eq!(reply.signature.as_deref(), Some("-- \nAna"));
}

#[test]
fn a_quoted_line_rewrapped_without_its_marker_stays_in_the_quote() {
    let reply = check(
        "New text.\n\nOn 8 Dec 2016, Bob <bob@example.org> wrote:\n> Lorem ipsum dolor sit amet, consectetur adipiscing elit, nullam d\nignissim odio?\n>\n",
    );
    assert_eq!(reply.text, "New text.");
}

#[test]
fn a_message_of_only_quotes_has_empty_text_and_keeps_the_quote() {
    for body in [
        "On Tue, 4 Jun 2024 at 10:02, Bob <bob@example.org> wrote:\n> Hello\n",
        "\r\nFrom: bob@example.org <bob@example.org>\r\n\r\nMy email is <bob@example.org>",
        "> Only a quote\n> here\n",
    ] {
        let reply = check(body);
        assert_eq!(reply.text, "", "{body}");
        assert_eq!(reply.quoted.as_deref(), Some(body.replace("\r\n", "\n").trim()), "{body}");
    }
    assert_eq!(check(""), Reply::default());
}

#[test]
fn a_bare_forward_is_text_and_marked_forwarded() {
    let body = "---------- Forwarded message ---------\nFrom: Bob <bob@example.org>\nDate: Tue\nSubject: Hi\n\nHello\n";
    let reply = check(body);
    assert_eq!(reply.text, body.trim());
    assert!(reply.forwarded);
    assert_eq!((reply.quoted, reply.signature), (None, None));
}

#[test]
fn trailing_spaces_are_trimmed_from_text_only() {
    let reply = check("Hi \n\n-- \nAna");
    assert_eq!(reply.text, "Hi");
    assert_eq!(reply.signature.as_deref(), Some("-- \nAna"));
}

#[test]
fn giant_bodies_are_split_in_linear_time() {
    // Lines that each start a look-ahead (attribution openers, "-Name", phone lines), then
    // giant lines: a quadratic scan would take minutes here, a linear one a fraction of a
    // second even unoptimised.
    let mut body = String::from("Top.\n");
    for i in 0..8_000 {
        body.push_str(&format!("On {i} Jun 2024 at 10:{:02}, a\n\n-Ana\n\nSent from home\n", i % 60));
    }
    body.push_str(&">".repeat(400_000));
    body.push_str("\nend\n");
    body.push_str(&"x".repeat(400_000));
    let started = std::time::Instant::now();
    let reply = split(&body);
    let elapsed = started.elapsed();
    assert!(elapsed.as_secs_f64() < 2.0, "took {elapsed:?}");
    assert!(reply.text.starts_with("Top."));
    assert_keeps_every_line(&body, &reply);
}

#[test]
fn random_bodies_never_lose_a_line() {
    const PIECES: &[&str] = &[
        "Hello there",
        "",
        "   ",
        "> quoted",
        ">",
        "-- ",
        "--",
        "-Ana",
        "____________",
        "Sent from my iPhone",
        "Sent from home",
        "On Tue, 4 Jun 2024 at 10:02, Bob <bob@example.org> wrote:",
        "On Tue, 4 Jun 2024 at 10:02, Bob",
        "<bob@example.org> wrote:",
        "From: Bob <bob@example.org>",
        "Sent: Tuesday",
        "Subject: Hi",
        "-----Original Message-----",
        "lowercase tail",
        "A long quoted line that goes on and on and on and on and on and on and on",
        "Ünïcödé 写道：",
        "\r",
    ];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..3000 {
        let mut body = String::new();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        for k in 0..(seed % 14) {
            let pick = ((seed >> (k * 4)) as usize + k as usize * 7) % PIECES.len();
            let prefix = if (seed >> (k + 20)) & 3 == 0 { "> " } else { "" };
            body.push_str(prefix);
            body.push_str(PIECES[pick]);
            body.push('\n');
        }
        check(&body);
    }
}

mod classes;
mod clients;
mod each_client;
mod forwards_and_glue;
mod html;
mod round_classes;
