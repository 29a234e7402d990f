//! The plain-text splitter: labels every line of a body *text*, *quote* or *signature* in one
//! top-to-bottom pass, and notices a forward.
//!
//! - A quote starts at an attribution (one paragraph of up to five lines ending in one, in
//!   any language `languages` knows, framed in dashes or not), at a header block ("From: /
//!   Sent: / To: / Subject:" and translations, with or without a rule above), at an
//!   "Original Message" separator, or at a `>` line. An attribution followed by `>` lines
//!   quotes those; anything else quotes the rest, since an unmarked original has no end.
//! - A forward ("Forwarded message", "Begin forwarded message:", a header block whose
//!   subject is "Fwd:", or a header block with nothing above it) is what the sender sent: it
//!   and everything under it stays text.
//! - A signature starts at "-- ", a rule of underscores, "-Name", or a phone's sign-off.

use std::borrow::Cow;

use super::languages::{CLOSING_VERBS, Field, forward_subject};
use super::patterns::{
    MAX_HEADER_LINE, Mobile, Separator, ends_mid_date, ends_with_closing_verb, has_date_or_time, has_time,
    header_field, is_attribution, is_capitalised_name, is_name, is_rule, is_short_rule, is_sign_off, key, lead_in_word,
    may_open_attribution, mobile_signature, separator, unquote,
};

#[derive(Debug)]
pub struct Line<'a> {
    pub raw: &'a str,
    /// The trimmed line as matched (see [`key`]).
    pub key: Cow<'a, str>,
    pub quoted: bool,
    /// Cut off the line above, where an attribution glued onto the sender's words starts.
    pub cut: bool,
}

impl<'a> Line<'a> {
    pub fn new(raw: &'a str, cut: bool) -> Self {
        let key = key(raw);
        // A lone ">:" or "> wrote:" is the tail of an address wrapped out of an attribution
        // ("… <a@b\n>:", "<mailto:a@b\n> wrote:").
        let tail = key.strip_prefix('>').and_then(|rest| rest.trim().strip_suffix([':', '：']));
        let quoted = key.starts_with('>')
            && !tail
                .is_some_and(|verb| verb.is_empty() || CLOSING_VERBS.contains(&verb.trim().to_lowercase().as_str()));
        Line { raw, key, quoted, cut }
    }

    pub fn blank(&self) -> bool {
        self.key.is_empty()
    }

    fn short(&self) -> bool {
        self.key.len() <= MAX_HEADER_LINE
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    Blank,
    Text,
    Quote,
    Signature,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Normal,
    /// Inside a run of `>` lines; an unquoted line ends it (unless it is a wrapped tail).
    QuoteRun,
    Signature,
}

/// Where a quote begins at a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// An attribution ending at this line.
    Attribution(usize),
    /// A header block or separator: the original follows unmarked, to the end.
    ToEnd,
    /// A forward: the rest is what the sender sent.
    Forward,
}

/// "Get Outlook for Android": a few words, no clause after a comma.
fn outlook_mobile(key: &str) -> bool {
    key.len() < 120
        && !key.contains(',')
        && key.split_whitespace().count() <= 6
        && key.to_lowercase().contains("outlook")
        && mobile_signature(key).is_some()
}

/// "Word: value" or "Two words: value": a header field of a name the tables lack.
fn unknown_field(key: &str) -> bool {
    key.split_once(':').is_some_and(|(name, _)| {
        let words = name.split_whitespace().count();
        (1..=2).contains(&words) && name.chars().all(|c| c.is_alphabetic() || c == ' ' || c == '-')
    })
}

/// Labels `lines`; the flag says whether the body forwards a message.
pub fn label(lines: &[Line<'_>]) -> (Vec<Label>, bool) {
    let (mut labels, forwarded) = Labeller::new(lines).run();
    sign_off_under_quote(lines, &mut labels);
    (labels, forwarded)
}

/// A reply written above a quote never has the quote between its words and its closing: a
/// sign-off of one to three lines ("Regards,\nRoman", "Viele Grüße, Ana") that is all that
/// follows the last quote, under text the sender wrote above it, is their signature, put
/// below the quote (as Thunderbird does by default when replying above it). The quote is then
/// unanswered, so it goes to `quoted`. With nothing written above the quote, the same lines
/// ("> Can you come?\n\nThanks, Ana") are the reply and stay text.
fn sign_off_under_quote(lines: &[Line<'_>], labels: &mut [Label]) {
    let mut tail = Vec::new();
    let mut i = labels.len();
    while i > 0 {
        i -= 1;
        match labels[i] {
            Label::Blank => {}
            Label::Text if tail.len() < 3 => tail.push(i),
            Label::Quote => break,
            _ => return,
        }
    }
    if labels.get(i) != Some(&Label::Quote) || tail.is_empty() {
        return;
    }
    // Top to bottom: a sign-off line first, then at most two name lines.
    tail.reverse();
    let names_follow = tail[1..].iter().all(|&j| is_capitalised_name(&lines[j].key) && lines[j].key.len() <= 40);
    if !is_sign_off(&lines[tail[0]].key) || !names_follow || !labels[..i].contains(&Label::Text) {
        return;
    }
    for j in tail {
        labels[j] = Label::Signature;
    }
}

/// Whether the quote at the top of the body (before anything the sender wrote) is the
/// client's: it opens with an attribution or header, not with `>` lines the sender picked.
pub fn opens_with_attribution(lines: &[Line<'_>], labels: &[Label]) -> bool {
    let first = labels.iter().position(|l| *l != Label::Blank);
    first.is_some_and(|i| labels[i] == Label::Quote && !lines[i].quoted)
}

struct Labeller<'l, 'a> {
    lines: &'l [Line<'a>],
    /// `next_nonblank[i]`: the first non-blank line at or after `i` (or `lines.len()`), so
    /// look-aheads skip blank runs in constant time.
    next_nonblank: Vec<usize>,
    /// `attribution_end[i]`: the last line of an attribution that starts at line `i`.
    attribution_end: Vec<Option<usize>>,
    labels: Vec<Label>,
}

impl<'l, 'a> Labeller<'l, 'a> {
    fn new(lines: &'l [Line<'a>]) -> Self {
        let n = lines.len();
        let mut next_nonblank = vec![n; n + 1];
        for i in (0..n).rev() {
            next_nonblank[i] = if lines[i].blank() { next_nonblank[i + 1] } else { i };
        }
        let mut labeller =
            Labeller { lines, next_nonblank, attribution_end: vec![None; n], labels: vec![Label::Blank; n] };
        for end in 0..n {
            if let Some(start) = labeller.attribution_ending_at(end) {
                labeller.attribution_end[start].get_or_insert(end);
            }
        }
        labeller
    }

    fn run(mut self) -> (Vec<Label>, bool) {
        let n = self.lines.len();
        let mut state = State::Normal;
        let mut i = 0;
        while i < n {
            let line = &self.lines[i];
            if line.blank() {
                i += 1;
                continue;
            }
            if state == State::QuoteRun {
                if line.quoted || self.wrapped_tail(i) || self.link_between_quotes(i) {
                    self.labels[i] = Label::Quote;
                    i += 1;
                    continue;
                }
                state = State::Normal;
            }
            if line.quoted {
                // Apple Mail quotes the forward it sends: "> Begin forwarded message:".
                if self.forward_at(i, unquote(&line.key)) {
                    self.mark(i, n, Label::Text);
                    return (self.labels, true);
                }
                self.labels[i] = Label::Quote;
                state = State::QuoteRun;
                i += 1;
                continue;
            }
            match self.quote_start(i) {
                Some(Start::Forward) => {
                    self.mark(i, n, Label::Text);
                    return (self.labels, true);
                }
                // A header block or an "Original Message" separator with nothing above it is
                // how Outlook, older Thunderbird ("-------- Original Message --------" over a
                // Subject/Date/From table) and resend tools forward without a comment: what
                // the sender sent is that message, not a quote.
                Some(Start::ToEnd)
                    if self.labels[..i].iter().all(|l| *l == Label::Blank)
                        && (separator(&line.key) == Some(Separator::Original) || self.header_fields_from(i)) =>
                {
                    self.mark(i, n, Label::Text);
                    return (self.labels, true);
                }
                Some(Start::ToEnd) => {
                    self.take_rule_above(i);
                    self.mark(i, n, Label::Quote);
                    break;
                }
                Some(Start::Attribution(end)) => {
                    self.take_rule_above(i);
                    self.mark(i, end + 1, Label::Quote);
                    let next = self.next_nonblank[end + 1];
                    if next < n && self.lines[next].quoted {
                        state = State::QuoteRun;
                        i = end + 1;
                        continue;
                    }
                    // At the very top with unmarked text under it, the text is the sender's
                    // (Gmail's mobile apps put it there); only the attribution is history.
                    if self.labels[..i].iter().all(|l| *l == Label::Blank) {
                        i = end + 1;
                        continue;
                    }
                    self.mark(i, n, Label::Quote);
                    break;
                }
                None => {}
            }
            if state == State::Normal && self.signature_start(i) {
                state = State::Signature;
            }
            // Outlook's mobile apps put their sign-off between the reply and the original,
            // which follows with or without a header: what is under it is the quote.
            if outlook_mobile(&line.key) {
                self.labels[i] = Label::Signature;
                self.mark(i + 1, n, Label::Quote);
                break;
            }
            self.labels[i] = if state == State::Signature { Label::Signature } else { Label::Text };
            i += 1;
        }
        (self.labels, false)
    }

    fn mark(&mut self, from: usize, to: usize, label: Label) {
        for i in from..to {
            if !self.lines[i].blank() {
                self.labels[i] = label;
            }
        }
    }

    /// An unquoted line straight after a long `>` line that carries on its sentence: a
    /// quoted line the sender's client re-wrapped without its `>`.
    fn wrapped_tail(&self, i: usize) -> bool {
        i > 0
            && self.labels[i - 1] == Label::Quote
            && self.lines[i - 1].raw.chars().take(50).count() >= 50
            && self.lines[i].key.chars().next().is_some_and(char::is_lowercase)
    }

    /// A short unquoted line between two `>` lines that is only a link target the client put
    /// on its own line ("(http://…) >", "<https://…>"), or the tail of a URL that the quoted
    /// line above wrapped ("_nonce=3dd518)"): it belongs to the quote around it. A bare URL is
    /// not taken: between quotes it is as likely the sender's inline answer.
    fn link_between_quotes(&self, i: usize) -> bool {
        let next = self.next_nonblank[i + 1];
        if i == 0 || next >= self.lines.len() || !self.lines[next].quoted || self.labels[i - 1] != Label::Quote {
            return false;
        }
        let key = self.lines[i].key.as_ref();
        let bare = key.trim_end_matches(['>', ' ']);
        let link = bare.trim_matches(['<', '>', '(', ')', '[', ']']);
        if link.is_empty() || link.len() > 200 || link.contains(char::is_whitespace) {
            return false;
        }
        let lower = link.to_lowercase();
        let bracketed = bare.len() > link.len() || key.ends_with('>');
        if bracketed && (lower.contains("://") || lower.starts_with("www.") || lower.starts_with("mailto:")) {
            return true;
        }
        // The quoted line above opened a link and did not close it.
        let above = self.lines[i - 1].key.to_lowercase();
        let opened = above.rfind(['(', '<']).filter(|&at| !above[at..].contains([')', '>']));
        opened.is_some_and(|at| above[at..].contains("http"))
    }

    fn quote_start(&self, i: usize) -> Option<Start> {
        let line = &self.lines[i];
        if !line.short() {
            return None;
        }
        match separator(&line.key) {
            Some(Separator::Forward) => return Some(Start::Forward),
            Some(Separator::Original) => return Some(Start::ToEnd),
            None => {}
        }
        if is_rule(&line.key) {
            // Outlook and webmail draw a rule above the header block of the original.
            let next = self.next_nonblank[i + 1];
            if next < self.lines.len() && next - i <= 3 {
                return self.header_block(next);
            }
            return None;
        }
        if let Some(start) = self.header_block(i) {
            return Some(start);
        }
        self.attribution_end[i].map(Start::Attribution)
    }

    fn forward_at(&self, i: usize, key: &str) -> bool {
        separator(key) == Some(Separator::Forward) && (i == 0 || self.labels[..i].iter().all(|l| *l != Label::Quote))
    }

    /// "From: …" with more header fields under it ("Sent:", "To:", "Subject:", …), or a lone
    /// "From: name <address>" line standing by itself. A forward when its subject says so.
    fn header_block(&self, i: usize) -> Option<Start> {
        let (mut from, mut addressed, mut subject, mut forward, mut fields, mut end) =
            (false, false, false, false, 0, i);
        let (mut timed, mut dated) = (false, false);
        let mut unknown = 0;
        while end < self.lines.len() && end < i + 10 {
            let line = &self.lines[end];
            match (line.short() && !line.quoted).then(|| header_field(&line.key)).flatten() {
                Some((Field::From, value)) => {
                    from = true;
                    addressed |= value.contains('@') || value.contains('<');
                }
                Some((Field::Subject, value)) => {
                    subject = true;
                    forward |= forward_subject(value);
                }
                Some((Field::Date, value)) => {
                    addressed |= value.contains('@');
                    timed |= has_time(value);
                    dated |= has_date_or_time(value);
                }
                Some((Field::Other, value)) => {
                    addressed |= value.contains('@');
                    timed |= has_time(value);
                }
                // A field this table does not know ("Risposta:", "Organisation:") inside a block,
                // or a value wrapped onto the next line ("From: Human Resources\n<hr@x.com>").
                None if fields > 0 && unknown < 2 && (unknown_field(&line.key) || self.field_at(end + 1)) => {
                    unknown += 1
                }
                None => break,
            }
            fields += 1;
            end += 1;
        }
        let start = if forward { Start::Forward } else { Start::ToEnd };
        // "From: Lisbon / To: Porto / Date: 4 June" is a booking, not an email: a block needs
        // an address or a subject to be one.
        if from && fields - unknown >= 2 {
            // Outlook with display names only ("От: Имя / Отправлено: … 15:05 / Кому: …"):
            // three known fields in a row and a send time make it an email too.
            let outlook = unknown == 0 && fields >= 3 && timed;
            return (addressed || subject || outlook).then_some(start);
        }
        // Without a "From:" line (some clients open with "Date:", "Sent:", "To:" or "Subject:"
        // and leave the sender out): a send date and an address or a subject, at the start of
        // a paragraph, make it an email.
        let paragraph = i == 0 || self.lines[i - 1].blank() || is_rule(&self.lines[i - 1].key);
        if !from && fields - unknown >= 2 && dated && (addressed || subject) && paragraph {
            return Some(start);
        }
        let fields = fields - unknown;
        if !(from && fields == 1 && unknown == 0 && (i == 0 || self.lines[i - 1].blank())) {
            return None;
        }
        let line = self.lines[i].key.to_lowercase();
        // Outlook on the web can flatten the whole block onto one line.
        let flattened = ["sent:", "date:", "to:", "subject:"].iter().filter(|f| line.contains(*f)).count() >= 2;
        (flattened || (addressed && (end == self.lines.len() || self.lines[end].blank()))).then_some(start)
    }

    /// Whether a block of at least two header fields starts at line `i` (or under the rule
    /// there): a lone "From: a@b" line is not a forwarded message.
    fn header_fields_from(&self, i: usize) -> bool {
        let first = if is_rule(&self.lines[i].key) { self.next_nonblank[i + 1] } else { i };
        self.field_at(first) && self.field_at(first + 1)
    }

    fn field_at(&self, i: usize) -> bool {
        self.lines.get(i).is_some_and(|l| l.short() && header_field(&l.key).is_some())
    }

    /// A short rule ("====") right above the quote starting at `i` belongs to it.
    fn take_rule_above(&mut self, i: usize) {
        if let Some(above) = (0..i).rev().take(3).find(|&j| !self.lines[j].blank())
            && self.labels[above] == Label::Text
            && is_short_rule(&self.lines[above].key)
        {
            self.labels[above] = Label::Quote;
        }
    }

    /// The first line of an attribution that ends at line `end`, if one does. An attribution is
    /// a paragraph of its own, or the tail of one that opens like an attribution ("On …",
    /// a date), so the sender's last words are never glued onto it.
    fn attribution_ending_at(&self, end: usize) -> Option<usize> {
        let last = &self.lines[end];
        if last.blank() || last.quoted || !last.short() {
            return None;
        }
        let framed = last.key.ends_with(['-', '—']);
        let quote_follows = self.quote_follows(end);
        let closed = last.key.ends_with([':', '：']) || framed;
        // Old Gmail left the colon out ("2013/7/20 Name <a@b>") when `>` lines follow.
        let open_ended = quote_follows && last.key.ends_with('>');
        // "On … <a@b> wrote" with no colon (judged on its date and address).
        let bare_verb = ends_with_closing_verb(&last.key);
        if !(closed || open_ended || bare_verb) {
            return None;
        }
        let mut first = end;
        let mut crossed = false;
        while first > 0 && end - first < 4 && !self.lines[first].cut {
            let above = &self.lines[first - 1];
            // An attribution split over a blank line: "On Thu, 31 Mar 2016 at 11:16 Some One",
            // a blank, then "<mailto:…>\n> wrote:". Crossed once, towards a dated opening line.
            if above.blank() && !crossed && first >= 2 && !may_open_attribution(&self.lines[first].key) {
                let opening = &self.lines[first - 2];
                if !opening.quoted
                    && opening.short()
                    && !opening.key.ends_with(['.', '!', '?', ':', '：'])
                    && lead_in_word(&opening.key)
                    && has_date_or_time(&opening.key)
                {
                    first -= 2;
                    crossed = true;
                    continue;
                }
            }
            if above.blank() || above.quoted || !above.short() || above.key.ends_with([':', '：']) {
                break;
            }
            first -= 1;
        }
        let paragraph_start = first == 0 || self.lines[first - 1].blank() || self.lines[first].cut;
        for start in first..=end {
            let opens = may_open_attribution(&self.lines[start].key);
            let whole_paragraph = start == first && paragraph_start;
            if !(opens || whole_paragraph || start == end) {
                continue;
            }
            // A line below that opens an attribution itself is the real start.
            if start < end && self.lines[start + 1..=end].iter().any(|l| lead_in_word(&l.key)) {
                continue;
            }
            // A sentence's end inside is the sender's words, unless it stops mid-date ("Fr., 28.").
            if start < end
                && self.lines[start..end].iter().any(|l| l.key.ends_with(['.', '!', '?']) && !ends_mid_date(&l.key))
            {
                continue;
            }
            let joined: String = self.lines[start..=end].iter().map(|l| l.key.as_ref()).collect::<Vec<_>>().join(" ");
            if is_attribution(&joined, quote_follows) {
                return Some(start);
            }
        }
        None
    }

    fn quote_follows(&self, i: usize) -> bool {
        let next = self.next_nonblank[i + 1];
        next < self.lines.len() && self.lines[next].quoted
    }

    /// Whether nothing but a quote (or the end) follows line `i`.
    fn ends_before_quote(&self, i: usize) -> bool {
        let next = self.next_nonblank[i + 1];
        next == self.lines.len()
            || self.lines[next].quoted
            || (self.lines[next].short() && self.quote_start(next).is_some())
    }

    fn signature_start(&self, i: usize) -> bool {
        let line = self.lines[i].key.as_ref();
        if !self.lines[i].short() {
            return false;
        }
        if line == "--" || line == "—" || line == "---" || (line.len() >= 2 && line.bytes().all(|b| b == b'_')) {
            return true;
        }
        if let Some(name) = line.strip_prefix("-- ") {
            return is_name(name);
        }
        match mobile_signature(line) {
            Some(Mobile::Always) => return true,
            Some(Mobile::AtEnd) => return self.only_sign_offs_follow(i),
            None => {}
        }
        // "-Abhishek Kona": a dash and a capitalised name ("-v" is a flag), set apart,
        // closing the message.
        if let Some(name) = line.strip_prefix('-')
            && name.starts_with(char::is_uppercase)
            && is_name(name)
            && i > 0
            && self.lines[i - 1].blank()
        {
            // Only a short tail (a list footer at most) may follow before the quote or the end.
            let mut j = i;
            for _ in 0..6 {
                if self.ends_before_quote(j) {
                    return true;
                }
                j = self.next_nonblank[j + 1];
            }
        }
        false
    }

    /// Whether only more sign-off lines (or a quote, or the end) follow line `i`.
    fn only_sign_offs_follow(&self, i: usize) -> bool {
        let mut j = i;
        for _ in 0..40 {
            if self.ends_before_quote(j) {
                return true;
            }
            j = self.next_nonblank[j + 1];
            if mobile_signature(&self.lines[j].key).is_none() {
                return false;
            }
        }
        false
    }
}
