//! Reply stripping: splits an email's text body into what the sender newly wrote, the quoted
//! history, and their signature, so a thread shows the new words and keeps the rest aside.
//!
//! The body is read line by line, top to bottom, once. Each non-blank line is labelled
//! *text*, *quote* or *signature*:
//!
//! - a quote starts at an attribution ("On … wrote:", "Le … a écrit :", "Am … schrieb …:",
//!   "2014-03-20 8:48 GMT+01:00 Name <a@b>:", …, wrapped over up to three lines), at an
//!   Outlook-style header block ("From: / Sent: / To: / Subject:" in many languages, with the
//!   rule or "-----Original Message-----" line above it), or at a `>` line. An attribution
//!   followed by `>` lines quotes just those; anything else quotes the rest of the body,
//!   because an unmarked original has no visible end.
//! - a signature starts at "-- ", a rule of underscores, "-Name", or "Sent from my iPhone"
//!   and its kin, and runs until a quote starts.
//!
//! `text` runs from the top to the last *text* line, so quotes the sender answered inline stay
//! in it, as mail clients show them. What follows goes to `quoted` or `signature`. Nothing
//! is dropped: every non-blank line of the body lands in exactly one of the three.

use serde::Serialize;

/// What a reply splits into. `text` is what the sender newly wrote; the rest is kept.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Reply {
    pub text: String,
    pub quoted: Option<String>,
    pub signature: Option<String>,
}

/// Splits `body` (plain text, any line endings). Linear in the size of the body.
pub fn split(body: &str) -> Reply {
    let body = body.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<Line<'_>> = body.split('\n').map(Line::new).collect();
    let labels = Labeller::new(&lines).run();
    assemble(&lines, &labels)
}

/// Attribution and header lines are short; anything longer is not one, whatever it says.
/// This bound also keeps the per-line checks constant-time on giant lines.
const MAX_HEADER_LINE: usize = 300;

#[derive(Debug)]
struct Line<'a> {
    raw: &'a str,
    trimmed: &'a str,
    quoted: bool,
}

impl<'a> Line<'a> {
    fn new(raw: &'a str) -> Self {
        let trimmed = raw.trim();
        // A lone ">:" is the tail of an address wrapped out of an attribution ("… <a@b\n>:").
        Line { raw, trimmed, quoted: trimmed.starts_with('>') && trimmed != ">:" }
    }

    fn blank(&self) -> bool {
        self.trimmed.is_empty()
    }

    fn short(&self) -> bool {
        self.trimmed.len() <= MAX_HEADER_LINE
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
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
enum QuoteStart {
    /// An attribution of this many lines.
    Attribution(usize),
    /// A header block or separator: the original follows unmarked, to the end.
    ToEnd,
}

#[derive(Debug)]
struct Labeller<'l, 'a> {
    lines: &'l [Line<'a>],
    /// `next_nonblank[i]`: the first non-blank line at or after `i` (or `lines.len()`), so
    /// look-aheads skip blank runs in constant time.
    next_nonblank: Vec<usize>,
    labels: Vec<Label>,
}

impl<'l, 'a> Labeller<'l, 'a> {
    fn new(lines: &'l [Line<'a>]) -> Self {
        let mut next_nonblank = vec![lines.len(); lines.len() + 1];
        for i in (0..lines.len()).rev() {
            next_nonblank[i] = if lines[i].blank() { next_nonblank[i + 1] } else { i };
        }
        Labeller { lines, next_nonblank, labels: vec![Label::Blank; lines.len()] }
    }

    fn run(mut self) -> Vec<Label> {
        let n = self.lines.len();
        let mut state = State::Normal;
        let mut i = 0;
        while i < n {
            if self.lines[i].blank() {
                i += 1;
                continue;
            }
            if state == State::QuoteRun {
                if self.lines[i].quoted || self.wrapped_tail(i) {
                    self.labels[i] = Label::Quote;
                    i += 1;
                    continue;
                }
                state = State::Normal;
            }
            if self.lines[i].quoted {
                self.labels[i] = Label::Quote;
                state = State::QuoteRun;
                i += 1;
                continue;
            }
            match self.quote_start(i) {
                Some(QuoteStart::ToEnd) => {
                    self.mark(i, n, Label::Quote);
                    break;
                }
                Some(QuoteStart::Attribution(len)) => {
                    self.mark(i, i + len, Label::Quote);
                    let next = self.next_nonblank[i + len];
                    if next < n && self.lines[next].quoted {
                        state = State::QuoteRun;
                        i += len;
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
            self.labels[i] = if state == State::Signature { Label::Signature } else { Label::Text };
            i += 1;
        }
        self.labels
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
            && self.lines[i].trimmed.chars().next().is_some_and(char::is_lowercase)
    }

    fn quote_start(&self, i: usize) -> Option<QuoteStart> {
        let line = &self.lines[i];
        if !line.short() {
            return None;
        }
        if is_original_message_separator(line.trimmed) {
            return Some(QuoteStart::ToEnd);
        }
        if is_rule(line.trimmed) {
            // Outlook and webmail draw a rule above the header block of the original.
            let next = self.next_nonblank[i + 1];
            if next < self.lines.len() && next - i <= 3 && self.header_block(next) {
                return Some(QuoteStart::ToEnd);
            }
            return None;
        }
        if self.header_block(i) {
            return Some(QuoteStart::ToEnd);
        }
        self.attribution(i).map(QuoteStart::Attribution)
    }

    /// "From: …" with more header fields under it ("Sent:", "To:", "Subject:", …), or a lone
    /// "From: name <address>" line standing by itself.
    fn header_block(&self, i: usize) -> bool {
        let (mut from, mut addressed, mut subject, mut fields, mut end) = (false, false, false, 0, i);
        while end < self.lines.len() && end < i + 8 {
            let line = &self.lines[end];
            match (line.short() && !line.quoted).then(|| header_field(line.trimmed)).flatten() {
                Some(Field::From) => {
                    from = true;
                    addressed = line.trimmed.contains('@');
                }
                Some(Field::Subject) => subject = true,
                Some(Field::Other) => {}
                None => break,
            }
            fields += 1;
            end += 1;
        }
        // "From: Lisbon / To: Porto / Date: 4 June" is a booking, not an email: a block needs
        // an address or a subject to be one.
        if from && fields >= 2 {
            return addressed || subject;
        }
        if !(from && fields == 1 && (i == 0 || self.lines[i - 1].blank())) {
            return false;
        }
        let line = self.lines[i].trimmed.to_lowercase();
        // Outlook on the web can flatten the whole block onto one line.
        let flattened = ["sent:", "date:", "to:", "subject:"].iter().filter(|f| line.contains(*f)).count() >= 2;
        flattened || (addressed && (end == self.lines.len() || self.lines[end].blank()))
    }

    /// The number of lines (1 to 3) of an attribution starting at `i`, if one does.
    fn attribution(&self, i: usize) -> Option<usize> {
        if self.attribution_line(i) {
            return Some(1);
        }
        let first = &self.lines[i];
        if !may_open_attribution(first.trimmed) || first.trimmed.ends_with(':') {
            return None;
        }
        for len in 2..=3 {
            let last = i + len - 1;
            let window = self.lines.get(i..=last)?;
            if window.iter().any(|l| l.blank() || l.quoted || !l.short())
                // An attribution opening lower down is the real start; do not glue the
                // sender's last words onto it.
                || lead_in_word(window[len - 1].trimmed)
                || window[..len - 1].iter().skip(1).any(|l| l.trimmed.ends_with(':'))
            {
                return None;
            }
            if !window[len - 1].trimmed.ends_with([':', '：']) {
                continue;
            }
            let joined = window.iter().map(|l| l.trimmed).collect::<Vec<_>>().join(" ");
            if is_attribution(&joined, self.quote_follows(last)) {
                return Some(len);
            }
        }
        None
    }

    fn attribution_line(&self, i: usize) -> bool {
        let line = &self.lines[i];
        line.trimmed.ends_with([':', '：'])
            && !line.quoted
            && line.short()
            && is_attribution(line.trimmed, self.quote_follows(i))
    }

    fn quote_follows(&self, i: usize) -> bool {
        let next = self.next_nonblank[i + 1];
        next < self.lines.len() && self.lines[next].quoted
    }

    /// Whether nothing but a quote (or the end) follows line `i`.
    fn ends_before_quote(&self, i: usize) -> bool {
        let next = self.next_nonblank[i + 1];
        next == self.lines.len() || self.lines[next].quoted || self.quote_start(next).is_some()
    }

    fn signature_start(&self, i: usize) -> bool {
        let line = self.lines[i].trimmed;
        if !self.lines[i].short() {
            return false;
        }
        if line == "--" || line == "—" || (line.len() >= 2 && line.bytes().all(|b| b == b'_')) {
            return true;
        }
        if let Some(name) = line.strip_prefix("-- ") {
            return is_name(name);
        }
        match mobile_signature(line) {
            Some(Mobile::Always) => return true,
            Some(Mobile::AtEnd) => return self.ends_before_quote(i),
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
}

/// A short sign-off name: up to four words of letters (and dots, hyphens, apostrophes).
fn is_name(s: &str) -> bool {
    let words = s.split_whitespace().count();
    (1..=4).contains(&words) && s.chars().all(|c| c.is_alphabetic() || c.is_whitespace() || ".-'’".contains(c))
}

/// A line of ten or more `-`, `_` or `=`.
fn is_rule(s: &str) -> bool {
    let mut bytes = s.bytes();
    let Some(first) = bytes.next() else { return false };
    matches!(first, b'-' | b'_' | b'=') && s.len() >= 10 && bytes.all(|b| b == first)
}

/// "-----Original Message-----", "---------- Forwarded message ---------",
/// "Begin forwarded message:" and their translations.
fn is_original_message_separator(s: &str) -> bool {
    #[rustfmt::skip]
    const DASHED: &[&str] = &[
        "original message", "forwarded message", "message d'origine", "message d’origine", "message original",
        "message transféré", "ursprüngliche nachricht", "weitergeleitete nachricht", "mensaje original",
        "mensaje reenviado", "mensagem original", "mensagem encaminhada", "oorspronkelijk bericht",
        "doorgestuurd bericht", "messaggio originale", "messaggio inoltrato", "ursprungligt meddelande",
        "vidarebefordrat meddelande", "oryginalna wiadomość", "wiadomość oryginalna", "przekazana wiadomość",
        "исходное сообщение", "пересылаемое сообщение", "原始邮件", "元のメッセージ",
    ];
    #[rustfmt::skip]
    const PLAIN: &[&str] = &[
        "begin forwarded message:", "début du message réexpédié :", "début du message réexpédié:",
        "anfang der weitergeleiteten nachricht:", "inicio del mensaje reenviado:",
        "início da mensagem reencaminhada:", "inizio messaggio inoltrato:", "begin doorgestuurd bericht:",
    ];
    if !s.starts_with("--") && !s.ends_with(':') {
        return false;
    }
    let lower = s.to_lowercase();
    if PLAIN.contains(&lower.as_str()) {
        return true;
    }
    lower.starts_with("--") && DASHED.contains(&lower.trim_matches(|c: char| c == '-' || c == '*' || c.is_whitespace()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    From,
    Subject,
    Other,
}

/// The kind of an email header field line ("From: …", "*Envoyé :* …", "发件人: …").
fn header_field(line: &str) -> Option<Field> {
    #[rustfmt::skip]
    const FROM: &[&str] = &[
        "from", "de", "van", "da", "von", "från", "fra", "od", "от", "lähettäjä", "feladó", "afzender",
        "expéditeur", "remitente", "absender", "gönderen", "kimden", "odesílatel", "发件人", "寄件者", "差出人", "보낸 사람",
        "보낸사람",
    ];
    #[rustfmt::skip]
    const SUBJECT: &[&str] = &[
        "subject", "objet", "sujet", "onderwerp", "oggetto", "betreff", "assunto", "asunto", "ämne", "emne",
        "temat", "тема", "主题", "主旨", "件名", "제목", "tárgy", "aihe", "konu", "předmět",
    ];
    #[rustfmt::skip]
    const OTHER: &[&str] = &[
        // sent, date
        "sent", "date", "envoyé", "envoyé le", "verzonden", "inviato", "gesendet", "enviado", "enviado el",
        "enviada", "enviado em", "skickat", "sendt", "wysłano", "wysłane", "data", "datum", "fecha", "发送时间", "送信日時",
        "日期", "отправлено", "дата", "message du", "lähetetty", "päivämäärä", "elküldve", "dátum", "tarih",
        "odesláno", "보낸 날짜",
        // to
        "to", "à", "a", "aan", "an", "para", "till", "do", "til", "кому", "收件人", "宛先", "받는 사람", "címzett",
        "vastaanottaja", "destinataire", "alıcı", "komu",
        // copy
        "cc", "copie", "copie à", "kopie", "kopia", "cópia", "copia", "kopio", "抄送", "reply-to", "répondre à",
    ];
    let line = line.trim_start_matches(['*', ' ', '\t']);
    let (colon, _) = line.char_indices().take(24).find(|(_, c)| *c == ':' || *c == '：')?;
    let name = line[..colon].trim().trim_end_matches('*').trim().to_lowercase();
    if FROM.contains(&name.as_str()) {
        Some(Field::From)
    } else if SUBJECT.contains(&name.as_str()) {
        Some(Field::Subject)
    } else if OTHER.contains(&name.as_str()) {
        Some(Field::Other)
    } else {
        None
    }
}

/// Whether a line can be the first of an attribution wrapped over several lines.
fn may_open_attribution(s: &str) -> bool {
    let s = s.trim_start_matches(['-', '*', ' ']);
    !s.ends_with(['.', '!', '?']) && (starts_with_lead_in(s) || s.chars().take(12).any(|c| c.is_ascii_digit()))
}

/// How attributions open: "On", "Le", "El", "Am", "Op", "Il", "Em", "Den", "W dniu", "在", or a date.
fn starts_with_lead_in(s: &str) -> bool {
    lead_in_word(s) || s.starts_with(|c: char| c.is_ascii_digit())
}

fn lead_in_word(s: &str) -> bool {
    const LEAD_INS: &[&str] = &["on", "le", "el", "em", "il", "am", "op", "den", "dne", "w", "dnia", "på", "在"];
    let first = s.trim_start_matches(['-', '*', ' ']).split_whitespace().next().unwrap_or_default();
    LEAD_INS.contains(&first.trim_end_matches(',').to_lowercase().as_str())
}

/// Whether `s` (one attribution, its lines joined) says who wrote what follows.
/// `quote_follows`: `>` lines come next, which makes a bare "Name wrote:" believable.
fn is_attribution(s: &str, quote_follows: bool) -> bool {
    #[rustfmt::skip]
    const CLOSING: &[&str] = &[
        "wrote", "writes", "escribió", "escribio", "escribe", "escrit", "escreveu", "escreve", "écrit", "ecrit",
        "schrieb", "schreef", "scritto", "scrisse", "skrev", "napisał", "napisała", "napisał(a)", "pisze", "napsal",
        "napsal(a)", "napísal", "написал", "написала", "написал(а)", "написав", "kirjoitti", "írta",
        "yazdı", "έγραψε", "a scris", "rašė", "rakstīja",
    ];
    const CLOSING_CJK: &[&str] = &["写道", "寫道", "작성", "のメッセージ", "のメール", "さんは書きました"];
    // Verbs that come before the name: "Am … schrieb Name <a@b>:".
    const OPENING: &[&str] = &["schrieb", "skrev", "schreef", "kirjoitti", "wrote"];

    let Some(body) = s.trim_start_matches(['-', '*', ' ']).strip_suffix([':', '：']) else { return false };
    let body = body.trim().to_lowercase();
    let dated = has_date_or_time(&body);
    let addressed = body.contains('@');

    let closes = CLOSING_CJK.iter().any(|v| body.ends_with(v))
        || CLOSING
            .iter()
            .any(|v| body.strip_suffix(v).is_some_and(|before| !before.ends_with(|c: char| c.is_alphanumeric())));
    if closes && ((starts_with_lead_in(&body) && dated) || addressed || quote_follows) {
        return true;
    }
    let words: Vec<&str> = body.split_whitespace().collect();
    let opens = words.iter().position(|w| OPENING.contains(w)).is_some_and(|at| {
        let before = words[..at].join(" ");
        at > 0 && has_date_or_time(&before) && words.len() - at - 1 <= 8
    });
    if opens {
        return true;
    }
    // Gmail in several locales has no verb: "2014-03-20 8:48 GMT+01:00 Name <a@b>:",
    // "вт, 4 июн. 2024 г. в 10:02, Name <a@b>:".
    body.chars().take(12).any(|c| c.is_ascii_digit()) && body.ends_with('>') && addressed && dated
}

/// A four-digit year, a time like "8:48", or a date like "19/03" or "25.06".
fn has_date_or_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    (0..b.len()).any(|i| {
        (digit(i) && digit(i + 1) && digit(i + 2) && digit(i + 3))
            || (digit(i) && matches!(b.get(i + 1), Some(b':' | b'/' | b'.' | b'h')) && digit(i + 2) && digit(i + 3))
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mobile {
    /// "Sent from my iPhone": a signature wherever it stands.
    Always,
    /// "Sent from Mail for Windows 10": only when nothing but a quote follows, since the
    /// words could be a sentence.
    AtEnd,
}

/// The line a phone or mail app appends: "Sent from my iPhone", "Envoyé de mon iPad", ….
fn mobile_signature(line: &str) -> Option<Mobile> {
    #[rustfmt::skip]
    const MY: &[&str] = &[
        "sent from my ", "envoyé de mon ", "envoyé depuis mon ", "von meinem ", "gesendet von meinem ",
        "enviado desde mi ", "enviado de mi ", "enviado do meu ", "enviado de meu ", "enviado desde o meu ",
        "verzonden vanaf mijn ", "verstuurd vanaf mijn ", "inviato dal mio ", "skickat från min ", "sendt fra min ",
        "wysłane z mojego ", "wysłano z mojego ", "отправлено с моего ",
    ];
    #[rustfmt::skip]
    const APP: &[&str] = &[
        "sent from ", "sent via ", "sent using ", "sent with ", "get outlook for ", "envoyé de ", "envoyé depuis ",
        "gesendet von ", "enviado desde ", "enviado de ", "verzonden met ", "inviato da ", "skickat från ",
        "sendt fra ", "wysłane z ", "отправлено с ",
    ];
    if line.len() > 80 {
        return None;
    }
    let lower = line.to_lowercase();
    if lower.ends_with("から送信") || lower.starts_with("发自我的") || lower.starts_with("從我的") {
        return Some(Mobile::Always);
    }
    let device = |prefixes: &[&str], max_words: usize| {
        prefixes.iter().filter_map(|p| lower.strip_prefix(p)).any(|rest| {
            // "Get Outlook for iOS<https://aka.ms/o0ukef>": the link is not part of the name.
            let rest = rest.split('<').next().unwrap_or_default();
            let words = rest.split_whitespace().count();
            (1..=max_words).contains(&words)
                && rest.chars().all(|c| c.is_alphanumeric() || c.is_whitespace() || "-'’".contains(c))
        })
    };
    if device(MY, 5) {
        Some(Mobile::Always)
    } else if device(APP, 6) {
        Some(Mobile::AtEnd)
    } else {
        None
    }
}

/// Builds the reply from the labels: `text` to the last text line, the rest by label.
fn assemble(lines: &[Line<'_>], labels: &[Label]) -> Reply {
    let Some(last_text) = labels.iter().rposition(|l| *l == Label::Text) else { return whole(lines) };
    let text = join(lines[..=last_text].iter().map(|l| l.raw.trim_end()));
    let (mut quoted, mut signature) = (Vec::new(), Vec::new());
    let mut run: Option<(Label, usize)> = None;
    // Blank lines go with the run above them; each run is trimmed of them at its edges.
    for i in last_text + 1..=lines.len() {
        let label = labels.get(i).copied().unwrap_or(Label::Blank);
        let ends_run = i == lines.len() || (label != Label::Blank && run.is_some_and(|(l, _)| l != label));
        if ends_run && let Some((l, start)) = run.take() {
            let part = join(lines[start..i].iter().map(|l| l.raw));
            if l == Label::Quote { quoted.push(part) } else { signature.push(part) }
        }
        if label != Label::Blank && run.is_none() {
            run = Some((label, i));
        }
    }
    let joined = |parts: Vec<String>| (!parts.is_empty()).then(|| parts.join("\n\n"));
    Reply { text, quoted: joined(quoted), signature: joined(signature) }
}

/// The whole body as text: nothing new was found above the quote (a bare forward, or only
/// an attribution on top), and a message with no text would show nothing at all.
fn whole(lines: &[Line<'_>]) -> Reply {
    Reply { text: join(lines.iter().map(|l| l.raw.trim_end())), quoted: None, signature: None }
}

/// Joins lines, leaving out blank lines at either end.
fn join<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    let lines: Vec<&str> = lines.collect();
    let first = lines.iter().position(|l| !l.trim().is_empty()).unwrap_or(lines.len());
    let last = lines.iter().rposition(|l| !l.trim().is_empty()).map_or(first, |l| l + 1);
    lines[first..last.max(first)].join("\n")
}

#[cfg(test)]
mod tests;
