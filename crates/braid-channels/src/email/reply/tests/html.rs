//! The HTML splitter on the markup each client writes (shapes taken from what Gmail, Apple
//! Mail, Thunderbird, Outlook and Yahoo send), its fallback, and its cost on hostile input.
use super::*;

fn html_split(html: &str) -> Reply {
    split_message("(the text part is not used when the HTML decides)", Some(html))
}

#[test]
fn gmail_quote_attribution_and_signature_are_cut() {
    let reply = html_split(
        r#"<div dir="ltr"><div>Yes, <b>tomorrow</b> works.</div><div><br></div><div>Thanks!</div><br><div class="gmail_signature" data-smartmail="gmail_signature">Ana Lima<br>Acme</div></div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, Jun 3, 2024 at 9:12 AM Support &lt;<a href="mailto:help@braid.test">help@braid.test</a>&gt; wrote:<br></div><blockquote class="gmail_quote" style="margin:0 0 0 .8ex"><div>Can we call?</div></blockquote></div>"#,
    );
    assert_eq!(reply.text, "Yes, tomorrow works.\n\nThanks!");
    assert_eq!(reply.signature.as_deref(), Some("Ana Lima\nAcme"));
    let quoted = reply.quoted.unwrap_or_default();
    assert!(quoted.starts_with("On Mon, Jun 3, 2024") && quoted.ends_with("Can we call?"), "{quoted}");
    let html = reply.html.unwrap_or_default();
    assert!(html.contains("<b>tomorrow</b>") && !html.contains("Can we call") && !html.contains("Ana Lima"), "{html}");
}

#[test]
fn apple_mail_and_thunderbird_cite_blockquotes_are_cut_with_their_attribution() {
    let apple = r#"<html><body dir="auto">Sounds good.<br><br><div dir="ltr">Sent from my iPhone</div><div dir="ltr"><br><blockquote type="cite">On Jun 3, 2024, at 09:12, Support &lt;help@braid.test&gt; wrote:<br><br></blockquote></div><blockquote type="cite"><div dir="ltr">Can we call?</div></blockquote></body></html>"#;
    let reply = html_split(apple);
    assert_eq!(reply.text, "Sounds good.");
    assert_eq!(reply.signature.as_deref(), Some("Sent from my iPhone"));
    let thunderbird = r#"<html><body><p>Fine by me.</p><div class="moz-cite-prefix">On 03/06/2024 09:12, Support wrote:<br></div><blockquote type="cite" cite="mid:x@y"><p>Can we call?</p></blockquote><br><pre class="moz-signature" cols="72">-- 
Ana</pre></body></html>"#;
    let reply = html_split(thunderbird);
    assert_eq!(reply.text, "Fine by me.");
    assert_eq!(reply.quoted.as_deref(), Some("On 03/06/2024 09:12, Support wrote:\n\nCan we call?"));
}

#[test]
fn outlook_reply_headers_quote_everything_below() {
    let web = r#"<div>Received, thanks.</div><div id="appendonsend"></div><hr style="display:inline-block;width:98%"><div id="divRplyFwdMsg" dir="ltr"><b>From:</b> Support &lt;help@braid.test&gt;<br><b>Sent:</b> Tuesday, June 4, 2024 10:02<br><b>Subject:</b> Re: Order</div><div>Your order shipped.</div>"#;
    assert_eq!(html_split(web).text, "Received, thanks.");
    let desktop = r#"<div class="WordSection1"><p class="MsoNormal">Received, thanks.<o:p></o:p></p><p class="MsoNormal"><o:p>&nbsp;</o:p></p><div><div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0in 0in 0in"><p class="MsoNormal"><b>Von:</b> Support &lt;help@braid.test&gt;<br><b>Gesendet:</b> Dienstag, 4. Juni 2024 10:02<br><b>Betreff:</b> AW: Bestellung</p></div></div><p class="MsoNormal">Ihre Bestellung ist unterwegs.</p></div>"#;
    let reply = html_split(desktop);
    assert_eq!(reply.text, "Received, thanks.");
    assert!(reply.quoted.is_some_and(|q| q.contains("Ihre Bestellung")));
    let hr = r#"<div>Ok.</div><hr><font><b>From:</b> Support<br><b>Sent:</b> Tuesday</font><div>Old text</div>"#;
    assert_eq!(html_split(hr).text, "Ok.");
}

#[test]
fn yahoo_and_generic_trailing_blockquotes_are_quotes_but_an_inline_one_is_not() {
    let yahoo = r#"<div>See you then.</div><div class="yahoo_quoted"><div>On Monday, June 3, 2024, 09:12, Support wrote:</div><div>Can we call?</div></div>"#;
    assert_eq!(html_split(yahoo).text, "See you then.");
    let trailing = "<p>Agreed.</p><p>Support wrote:</p><blockquote><p>Can we call?</p></blockquote>";
    assert_eq!(html_split(trailing).text, "Agreed.");
    let inline = "<p>You asked:</p><blockquote>Which plan?</blockquote><p>The yearly one.</p>";
    let reply = split_message("You asked:\n\nWhich plan?\n\nThe yearly one.", Some(inline));
    assert_eq!(reply.text, "You asked:\n\nWhich plan?\n\nThe yearly one.");
    assert_eq!(reply.html.as_deref(), Some(inline), "no structure and nothing cut: the whole HTML");
}

#[test]
fn html_forwards_keep_everything_and_are_marked() {
    let gmail = r#"<div dir="ltr">FYI<br><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">---------- Forwarded message ---------<br>From: <b>Bank</b> &lt;no-reply@bank.test&gt;<br>Subject: Receipt<br></div><br><div>Amount: 42 EUR</div></div></div>"#;
    let reply = html_split(gmail);
    assert!(reply.forwarded);
    assert!(reply.text.starts_with("FYI") && reply.text.contains("Amount: 42 EUR"), "{}", reply.text);
    assert_eq!(reply.quoted, None);
}

#[test]
fn only_a_quote_in_html_gives_empty_text() {
    let reply = html_split(r#"<div class="gmail_quote">On Mon, Support wrote:<blockquote>Hi</blockquote></div>"#);
    assert_eq!((reply.text.as_str(), reply.html.is_none()), ("", true));
    assert!(reply.quoted.is_some());
}

#[test]
fn html_without_structure_falls_back_to_the_text() {
    let reply = split_message(
        "Thanks!\n\nOn Mon, Jun 3, 2024 at 9:12 AM Support <help@braid.test> wrote:\n> Hi\n",
        Some("<p>Thanks!</p><p>On Mon, Jun 3, 2024 at 9:12 AM Support wrote:</p><p>&gt; Hi</p>"),
    );
    assert_eq!(reply.text, "Thanks!");
    assert_eq!(reply.html, None, "the HTML would still show the quote");
}

#[test]
fn html_text_reads_well() {
    let reply = html_split(
        "<p>First paragraph<br>same paragraph</p><ul><li>one</li><li>two</li></ul><div>Last</div><blockquote type=\"cite\">q</blockquote>",
    );
    assert_eq!(reply.text, "First paragraph\nsame paragraph\n\n- one\n- two\n\nLast");
}

#[test]
/// Too deep to parse within the bounds (`email::html::bounded`, whose tests check the work
/// stays bounded): the text decides. Many markers: a fixed number are looked at.
fn deeply_nested_html_falls_back_to_the_text_and_many_markers_still_split() {
    let deep = format!("{}Hi{}", "<div>".repeat(100_000), "</div>".repeat(100_000));
    let reply = split_message("Hi", Some(&deep));
    assert_eq!(reply.text, "Hi");
    assert_eq!(reply.html, None, "HTML that cannot be parsed is not shown");
    assert_eq!(reply.html_too_complex, Some(crate::email::html::TooComplex::Depth));
    let many = format!("<p>Hi</p>{}", "<hr><blockquote>x</blockquote><p>y</p>".repeat(20_000));
    let reply = split_message("Hi", Some(&many));
    assert!(reply.text.starts_with("Hi"), "{}", &reply.text[..reply.text.len().min(80)]);
}

#[test]
fn a_cite_blockquote_answered_below_stays_in_text_marked_as_a_quote() {
    let thunderbird = r#"<p>Answers below.</p><div class="moz-cite-prefix">On 03/06/2024 09:12, Support wrote:<br></div><blockquote type="cite"><p>Which plan?</p></blockquote><p>The yearly one.</p><blockquote type="cite"><p>Which country?</p></blockquote><p>Portugal.</p><blockquote type="cite"><p>Thanks, Support</p></blockquote>"#;
    let reply = html_split(thunderbird);
    assert_eq!(
        reply.text,
        "Answers below.\n\nOn 03/06/2024 09:12, Support wrote:\n\n> Which plan?\n\nThe yearly one.\n\n> Which country?\n\nPortugal."
    );
    assert_eq!(reply.quoted.as_deref(), Some("Thanks, Support"));
    // Followed only by a signature or another quote, it is cut as before.
    let apple = r#"Sounds good.<blockquote type="cite">On Jun 3, 2024, at 09:12, Support &lt;help@braid.test&gt; wrote:</blockquote><blockquote type="cite">Can we call?</blockquote><div class="moz-signature">Ana</div>"#;
    let reply = html_split(apple);
    assert_eq!(reply.text, "Sounds good.");
    assert_eq!(reply.signature.as_deref(), Some("Ana"));
}

#[test]
fn line_breaks_of_br_div_and_p_survive_the_conversion() {
    let quote = r#"<div class="gmail_quote">On Mon, Jun 3, 2024 at 9:12 AM Ana &lt;ana@example.com&gt; wrote:<blockquote>Hi</blockquote></div>"#;
    for (html, text) in [
        ("Thanks,<br>Alex", "Thanks,\nAlex"),
        ("<div>Thanks,</div><div>Alex</div>", "Thanks,\nAlex"),
        ("<p>Thanks,</p><p>Alex</p>", "Thanks,\n\nAlex"),
        ("<div>Thanks,<br></div><div>Alex<br></div>", "Thanks,\nAlex"),
    ] {
        assert_eq!(html_split(&format!("{html}{quote}")).text, text, "{html}");
    }
}

#[test]
fn a_div_with_a_solid_top_border_over_a_header_block_starts_the_original() {
    // Windows Mail: the border in three declarations, any colour; the header in Russian.
    let reply = html_split(
        r#"<div><div>Hi. I am fine.</div><div>Thanks,</div><div>Alex<br></div><div style="padding-top: 5px; border-top-color: rgb(229, 229, 229); border-top-width: 1px; border-top-style: solid;"><div><b>От:</b>&nbsp;<a href="mailto:a@example.com">Alexander</a><br><b>Отправлено:</b>&nbsp;четверг, 26 июня 2014 г. 15:05<br><b>Кому:</b>&nbsp;Alex</div></div><div>Hello! How are you?</div></div>"#,
    );
    assert_eq!(reply.text, "Hi. I am fine.\nThanks,\nAlex");
    assert!(reply.quoted.is_some_and(|q| q.contains("Hello! How are you?")));
    // A bordered box the sender drew around their own words is not a quote.
    let html = r#"<div>Order:</div><div style="border-top: 1px solid #ccc">Two chairs, one table.</div>"#;
    let boxed = split_message("Order:\nTwo chairs, one table.", Some(html));
    assert_eq!(
        (boxed.text.as_str(), boxed.quoted, boxed.html.as_deref()),
        ("Order:\nTwo chairs, one table.", None, Some(html))
    );
}
