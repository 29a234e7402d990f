//! One test per mail client, with the shapes that client writes (plain text, and HTML where
//! the client marks its quote in the markup), and ordinary sentences that must stay text.
use super::*;

fn html_split(html: &str) -> Reply {
    split_message("(the text part is not used when the HTML decides)", Some(html))
}

/// The reply above `attribution` and a quote (or an unmarked original) is the text; the same
/// attribution's words inside a sentence are not cut.
fn assert_attribution(attribution: &str) {
    for original in ["> Can we call?\n> Ana", "Can we call?\nAna"] {
        let body = format!("Yes, tomorrow works.\n\n{attribution}\n{original}\n");
        let reply = check(&body);
        assert_eq!(reply.text, "Yes, tomorrow works.", "{body}");
        assert!(reply.quoted.as_deref().is_some_and(|q| q.ends_with("Ana")), "{body}");
    }
}

fn assert_stays_text(body: &str) {
    let reply = check(body);
    assert_eq!(reply.text, body.trim(), "{body}");
    assert_eq!((reply.quoted.as_deref(), reply.forwarded), (None, false), "{body}");
}

#[test]
fn outlook_on_the_web() {
    assert_attribution(
        "________________________________\nFrom: Ana Lima <ana@example.com>\nSent: Friday, May 3, 2024 10:00 AM\nTo: Support <help@braid.test>\nSubject: Re: Invoice",
    );
    let html = r#"<div>Yes, tomorrow works.</div><hr style="display:inline-block;width:98%"><div id="divRplyFwdMsg" dir="ltr"><font face="Calibri"><b>From:</b> Ana Lima &lt;ana@example.com&gt;<br><b>Sent:</b> Friday, May 3, 2024 10:00 AM<br><b>To:</b> Support<br><b>Subject:</b> Re: Invoice</font><div>&nbsp;</div></div><div>Can we call?</div>"#;
    let reply = html_split(html);
    assert_eq!(reply.text, "Yes, tomorrow works.");
    assert!(reply.quoted.is_some_and(|q| q.contains("Can we call?")));
    let html = r#"<div>Yes.</div><hr><div><b>From:</b> Ana Lima &lt;ana@example.com&gt;<br><b>Sent:</b> Friday, May 3, 2024 10:00 AM<br><b>Subject:</b> Hi</div><div>Can we call?</div>"#;
    assert_eq!(html_split(html).text, "Yes.");
    assert_stays_text("From the team: thanks.\nSent: the parcel, on Friday.");
}

#[test]
fn gmail() {
    assert_attribution("On Fri, May 3, 2024 at 10:00 AM Ana Lima <ana@example.com> wrote:");
    let html = r#"<div dir="ltr">Yes, tomorrow works.</div><br><div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">On Fri, May 3, 2024 at 10:00 AM Ana Lima &lt;ana@example.com&gt; wrote:<br></div><blockquote class="gmail_quote">Can we call?</blockquote></div>"#;
    assert_eq!(html_split(html).text, "Yes, tomorrow works.");
    assert_stays_text("On Friday we wrote: the plan is fine.");
}

#[test]
fn apple_mail() {
    assert_attribution("On May 3, 2024, at 10:00, Ana Lima <ana@example.com> wrote:");
    assert_attribution("On May 3, 2024, at 10:00,\nAna Lima <ana@example.com> wrote:");
    assert_attribution("On 3 May 2024, at 10:00, Ana Lima <ana@example.com> wrote:");
    let html = r#"<html><body dir="auto"><div dir="ltr">Yes, tomorrow works.</div><div dir="ltr"><br><blockquote type="cite">On May 3, 2024, at 10:00, Ana Lima &lt;ana@example.com&gt; wrote:<br><br></blockquote></div><blockquote type="cite"><div dir="ltr">Can we call?</div></blockquote></body></html>"#;
    assert_eq!(html_split(html).text, "Yes, tomorrow works.");
    assert_stays_text("On May 3, 2024, at 10:00, we open the new office.");
}

#[test]
fn thunderbird() {
    assert_attribution("On 03/05/2024 10:00, Ana Lima wrote:");
    assert_attribution("Am 03.05.24 um 10:00 schrieb Ana Lima:");
    let html = r#"<html><body><p>Yes, tomorrow works.</p><div class="moz-cite-prefix">On 03/05/2024 10:00, Ana Lima wrote:<br></div><blockquote type="cite" cite="mid:x@y">Can we call?</blockquote></body></html>"#;
    assert_eq!(html_split(html).text, "Yes, tomorrow works.");
}

#[test]
fn outlook_for_mac() {
    assert_attribution("On 5/3/24, 10:00 AM, \"Ana Lima\" <ana@example.com> wrote:");
    assert_attribution(
        "From: Ana Lima <ana@example.com>\nDate: Friday, 3 May 2024 at 10:00\nTo: Support <help@braid.test>\nSubject: Re: Invoice",
    );
    let html = r#"<div>Yes, tomorrow works.</div><div id="mail-editor-reference-message-container"><div style="border:none;border-top:solid #B5C4DF 1.0pt;padding:3.0pt 0in 0in 0in"><b>From: </b>Ana Lima &lt;ana@example.com&gt;<br><b>Date: </b>Friday, 3 May 2024 at 10:00<br><b>Subject: </b>Re: Invoice</div><div>Can we call?</div></div>"#;
    assert_eq!(html_split(html).text, "Yes, tomorrow works.");
}

#[test]
fn zimbra() {
    assert_attribution(
        "----- Original Message -----\nFrom: \"Ana Lima\" <ana@example.com>\nTo: \"Support\" <help@braid.test>\nSent: Friday, May 3, 2024 10:00:00 AM\nSubject: Re: Invoice",
    );
    let html = r#"<div>Yes, tomorrow works.</div><hr id="zwchr"><div><b>From: </b>"Ana Lima" &lt;ana@example.com&gt;<br><b>To: </b>"Support" &lt;help@braid.test&gt;<br><b>Sent: </b>Friday, May 3, 2024 10:00:00 AM<br><b>Subject: </b>Re: Invoice<br></div><div>Can we call?</div>"#;
    assert_eq!(html_split(html).text, "Yes, tomorrow works.");
}

#[test]
fn lotus_notes() {
    assert_attribution("Ana Lima/Acme@Acme wrote on 01/02/2024 10:00:");
    assert_attribution("\"Ana Lima\" <ana@example.com> wrote on 02/01/2024 10:00:00 AM:");
    assert_stays_text("The team wrote on 01/02/2024 that it is fixed.");
}

#[test]
fn yahoo() {
    assert_attribution("On Friday, May 3, 2024, 10:00:00 AM GMT+2, Ana Lima <ana@example.com> wrote:");
    assert_attribution("On Friday, May 3, 2024, 10:00:00 AM GMT+2, Ana Lima\n<ana@example.com> wrote:");
    let html = r#"<div>Yes, tomorrow works.</div><div class="ydp1c2b3yahoo_quoted" id="ydp1c2b3yahoo_quoted_1234"><div>On Friday, May 3, 2024, 10:00:00 AM GMT+2, Ana Lima &lt;ana@example.com&gt; wrote:</div><div>Can we call?</div></div>"#;
    assert_eq!(html_split(html).text, "Yes, tomorrow works.");
}

#[test]
fn protonmail() {
    assert_attribution(
        "------- Original Message -------\nOn Friday, May 3rd, 2024 at 10:00, Ana Lima <ana@example.com> wrote:",
    );
    assert_attribution("On Friday, May 3rd, 2024 at 10:00 AM, Ana Lima <ana@example.com> wrote:");
    let html = r#"<div style="font-family: Arial">Yes, tomorrow works.</div><div class="protonmail_quote">On Friday, May 3rd, 2024 at 10:00, Ana Lima &lt;ana@example.com&gt; wrote:<br><blockquote class="protonmail_quote" type="cite"><div>Can we call?</div></blockquote><br></div>"#;
    assert_eq!(html_split(html).text, "Yes, tomorrow works.");
    let html = r#"<div>Yes, tomorrow works.</div><div class="protonmail_quote">On Friday, May 3rd, 2024 at 10:00, Ana Lima wrote:<blockquote class="protonmail_quote"><div>Can we call?</div></blockquote></div>"#;
    assert_eq!(html_split(html).text, "Yes, tomorrow works.");
}

#[test]
fn fastmail() {
    assert_attribution("On Fri, 3 May 2024, at 10:00, Ana Lima wrote:");
    let html = r#"<div>Yes, tomorrow works.</div><div><br></div><div id="qt" style=""><div>On Fri, 3 May 2024, at 10:00, Ana Lima wrote:</div><blockquote type="cite" id="qt"><div>Can we call?</div></blockquote></div>"#;
    assert_eq!(html_split(html).text, "Yes, tomorrow works.");
    let html = r#"<div>Yes, tomorrow works.</div><div id="qt"><div>On Fri, 3 May 2024, at 10:00, Ana Lima wrote:</div><blockquote id="qt"><div>Can we call?</div></blockquote></div>"#;
    assert_eq!(html_split(html).text, "Yes, tomorrow works.");
}

#[test]
fn hey_superhuman_spark_airmail_newton() {
    for attribution in [
        "On May 3, 2024, Ana Lima <ana@example.com> wrote:",
        "On Fri, May 03, 2024 at 10:00 AM, Ana Lima <ana@example.com> wrote:",
        "On 3 May 2024 at 10:00 +0200, Ana Lima <ana@example.com>, wrote:",
        "On May 3, 2024 at 10:00 AM, Ana Lima (ana@example.com) wrote:",
        "On May 3, 2024 at 10:00:00, Ana Lima (ana@example.com) wrote:",
        "On Fri, May 3, 2024 at 10:00 AM, Ana Lima <ana@example.com> wrote:",
        "On Fri, May 3, 2024 at 10:00 AM Ana Lima <ana@example.com> wrote:",
    ] {
        assert_attribution(attribution);
    }
    assert_stays_text("On May 3, 2024, the team wrote a new guide.");
}

#[test]
fn phones_sign_off_in_many_languages() {
    for sign_off in [
        "Sent from my iPhone",
        "Envoyé de mon iPhone",
        "Von meinem iPhone gesendet",
        "Enviado desde mi iPhone",
        "Inviato da iPhone",
        "Skickat från min iPhone",
        "Verstuurd vanaf mijn iPhone",
        "Wysłane z iPhone'a",
        "Отправлено с iPhone",
        "iPhoneから送信",
        "Sent from my Galaxy",
        "Enviado do meu iPhone",
        "Sendt fra min iPhone",
        "Lähetetty iPhonesta",
    ] {
        let body = format!("Yes, tomorrow works.\n\n{sign_off}\n");
        let reply = check(&body);
        assert_eq!(reply.text, "Yes, tomorrow works.", "{sign_off}");
        assert_eq!(reply.signature.as_deref(), Some(sign_off), "{sign_off}");
    }
    for sentence in [
        "I sent from my iPhone the photos you asked for, did they arrive?",
        "The invoice was sent from my office yesterday, please check.",
        "Inviato da Roma il pacco, arriva lunedì.",
    ] {
        assert_stays_text(sentence);
    }
}
