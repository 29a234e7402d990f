//! Text from outside that is shown to people: which characters disguise it, what a file
//! name may hold, and what free text may.

/// Unicode format characters that no name needs and that make one read as something it
/// is not: bidirectional overrides, embeddings and isolates (U+202E shows `exe.pdf` as
/// `fdp.exe`), zero-width spaces, the byte order mark, soft hyphens. Zero-width joiners
/// and non-joiners stay: emoji sequences and Persian spelling need them.
pub fn disguises(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// A file name as a sender wrote it, made safe to store, show and save: its last path
/// component only (no `../`), without control or disguising characters, no leading dots,
/// at most 255 bytes; `None` when nothing is left.
pub fn clean_filename(name: &str) -> Option<String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let kept: String = last.chars().filter(|&c| !c.is_control() && !disguises(c)).collect();
    let trimmed = kept.trim().trim_start_matches('.').trim();
    let mut end = trimmed.len().min(255);
    while !trimmed.is_char_boundary(end) {
        end -= 1;
    }
    Some(trimmed[..end].trim_end().to_owned()).filter(|n| !n.is_empty())
}

/// Free text people write (a note, a text attribute): `\r\n` as `\n`, trimmed, 1 to `max`
/// characters, with newlines and tabs the only control characters (NUL never reaches the
/// database, and escape sequences never reach a terminal).
pub fn multiline(field: &'static str, input: &str, max: usize) -> Result<String, crate::InvalidValue> {
    let text = input.replace("\r\n", "\n");
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(crate::InvalidValue::new(
            field,
            format!("{field} cannot contain control characters other than newlines and tabs"),
        ));
    }
    let text = text.trim();
    if text.is_empty() {
        return Err(crate::InvalidValue::new(field, format!("{field} cannot be empty")));
    }
    if text.chars().count() > max {
        return Err(crate::InvalidValue::new(field, format!("{field} is at most {max} characters")));
    }
    Ok(text.to_owned())
}

/// A name an admin gives something (a site, a form): trimmed, 1 to 200 characters, no
/// control characters.
pub fn label(field: &'static str, input: &str) -> Result<String, crate::InvalidValue> {
    let label = input.trim();
    if label.is_empty() || label.chars().count() > 200 || label.chars().any(char::is_control) {
        return Err(crate::InvalidValue::new(field, "1 to 200 characters, no control characters"));
    }
    Ok(label.to_owned())
}

/// A subject made from a message: its first non-blank line, cut to `max` characters (with
/// `…` when cut), or `fallback` when it has none.
pub fn first_line(text: &str, max: usize, fallback: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or(fallback);
    let mut subject: String = line.chars().take(max).collect();
    if line.chars().count() > max {
        subject.push('…');
    }
    subject
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_paths_controls_and_disguises() {
        assert_eq!(clean_filename("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(clean_filename("..\\boot.ini").as_deref(), Some("boot.ini"));
        assert_eq!(clean_filename("a\0b\r\nc.txt").as_deref(), Some("abc.txt"));
        assert_eq!(clean_filename("invoice\u{202E}fdp.exe").as_deref(), Some("invoicefdp.exe"));
        assert_eq!(clean_filename("..").as_deref(), None);
        assert_eq!(clean_filename("\u{200B}").as_deref(), None);
        assert_eq!(clean_filename(".hidden").as_deref(), Some("hidden"));
        assert_eq!(clean_filename(&"é".repeat(200)).map(|n| n.len()), Some(254));
        assert_eq!(clean_filename("Relatório 2026.pdf").as_deref(), Some("Relatório 2026.pdf"));
    }

    #[test]
    fn multiline_text_keeps_newlines_and_tabs_only() {
        assert_eq!(multiline("body", " a\r\n\tb ", 10).unwrap(), "a\n\tb");
        assert_eq!(multiline("body", &"é".repeat(10), 10).unwrap().chars().count(), 10);
        for bad in ["", " \n ", "a\0b", "a\rb", "a\u{1b}b", &"é".repeat(11)] {
            assert_eq!(multiline("body", bad, 10).unwrap_err().field, "body", "{bad:?}");
        }
    }

    #[test]
    fn joiners_are_not_disguises() {
        assert!(disguises('\u{202E}') && disguises('\u{200B}') && disguises('\u{FEFF}'));
        assert!(!disguises('\u{200D}') && !disguises('\u{200C}') && !disguises('a'));
    }
}
