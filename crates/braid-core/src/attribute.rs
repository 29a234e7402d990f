//! Custom attributes: the keys admins define, the kinds a value can be, and the check every
//! value passes before it is stored, so a stored value always fits its definition.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use serde_json::Value;

use crate::{InvalidValue, text_enum};

/// Definitions an installation may have: every value write reads the ones it names, and an
/// agent's view of a customer shows them all, so the list stays one screen, not a table.
pub const MAX_DEFINITIONS: usize = 200;

/// Values one customer may hold. A connector syncing a whole CRM record is the use case;
/// hundreds are a script, and every read of the customer returns them all.
pub const MAX_VALUES_PER_CUSTOMER: usize = 100;

/// The longest `text` value, in characters.
pub const MAX_TEXT_CHARS: usize = 1000;

/// The longest description of a definition, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1000;

/// A definition's key, as values name it: `plan`, `seats`, `renewal_date`. Lower-case ASCII
/// so the same attribute cannot exist twice under two spellings, and safe in a URL path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AttributeKey(String);

impl AttributeKey {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let valid = (1..=Self::MAX_CHARS).contains(&input.len())
            && input.starts_with(|c: char| c.is_ascii_lowercase())
            && input.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(InvalidValue::new(
                "key",
                format!(
                    "{:?} is not a key: 1 to {} lower-case letters, digits and `_`, starting with a letter",
                    shown(input),
                    Self::MAX_CHARS
                ),
            ));
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AttributeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The start of an input for an error message: enough to recognise it, never all of a
/// 16 KiB string.
fn shown(input: &str) -> String {
    input.chars().take(AttributeKey::MAX_CHARS).collect()
}

/// What a value of an attribute is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeKind {
    /// A string, at most 1,000 characters; newlines and tabs allowed.
    Text,
    /// A JSON number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// One of the definition's options.
    List,
}

text_enum!(AttributeKind, "kind", {
    Text => "text", Number => "number", Boolean => "boolean", Date => "date", List => "list",
});

/// A definition's label, as agents see it: one line, 1 to 100 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct AttributeLabel(String);

impl AttributeLabel {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        Ok(Self(one_line("label", input, Self::MAX_CHARS)?))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The allowed values of a `list` attribute: 1 to 200 distinct strings of 1 to 100
/// characters, in the order the admin gave them (the order agents pick from).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ListOptions(Vec<String>);

impl ListOptions {
    pub const MAX: usize = 200;
    pub const MAX_CHARS: usize = 100;

    pub fn parse(input: &[String]) -> Result<Self, InvalidValue> {
        if input.is_empty() || input.len() > Self::MAX {
            return Err(InvalidValue::new("options", format!("a list has 1 to {} options", Self::MAX)));
        }
        let mut options: Vec<String> = Vec::with_capacity(input.len());
        for option in input {
            let option = one_line("options", option, Self::MAX_CHARS)?;
            if options.contains(&option) {
                return Err(InvalidValue::new("options", format!("{option:?} is listed twice")));
            }
            options.push(option);
        }
        Ok(Self(options))
    }

    pub fn contains(&self, value: &str) -> bool {
        self.0.iter().any(|option| option == value)
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// Options belong to `list` attributes, and every `list` attribute has them.
pub fn check_options(kind: AttributeKind, options: Option<&ListOptions>) -> Result<(), InvalidValue> {
    match (kind, options) {
        (AttributeKind::List, Some(_)) => Ok(()),
        (AttributeKind::List, None) => Err(InvalidValue::new("options", "a `list` attribute needs its options")),
        (_, None) => Ok(()),
        (other, Some(_)) => {
            Err(InvalidValue::new("options", format!("only `list` attributes have options, not `{other}` ones")))
        }
    }
}

/// A definition's description: free text up to 1,000 characters; blank is none.
pub fn description(input: &str) -> Result<Option<String>, InvalidValue> {
    if input.trim().is_empty() {
        return Ok(None);
    }
    multiline("description", input, MAX_DESCRIPTION_CHARS).map(Some)
}

/// Checks `value` against a definition of `kind` (with `options` for a list) and returns it
/// as stored: text trimmed with `\r\n` as `\n`, a date in `YYYY-MM-DD`, a list value as its
/// option. `null` is not a value here: callers treat it as "remove".
pub fn validate(kind: AttributeKind, options: Option<&ListOptions>, value: &Value) -> Result<Value, InvalidValue> {
    let wrong = |expected: &str| InvalidValue::new("value", format!("expected {expected}, not {}", type_of(value)));
    match kind {
        AttributeKind::Text => {
            let Value::String(text) = value else { return Err(wrong("a string")) };
            Ok(Value::String(multiline("value", text, MAX_TEXT_CHARS)?))
        }
        AttributeKind::Number => match value {
            // Always finite as parsed from JSON; the check keeps it so for any other caller.
            Value::Number(number) if number.as_f64().is_some_and(f64::is_finite) => Ok(value.clone()),
            _ => Err(wrong("a number")),
        },
        AttributeKind::Boolean => match value {
            Value::Bool(_) => Ok(value.clone()),
            _ => Err(wrong("true or false")),
        },
        AttributeKind::Date => {
            let Value::String(text) = value else { return Err(wrong("a date as a string, YYYY-MM-DD")) };
            let date = parse_date(text.trim())
                .ok_or_else(|| InvalidValue::new("value", format!("{:?} is not a date as YYYY-MM-DD", shown(text))))?;
            Ok(Value::String(date.format("%Y-%m-%d").to_string()))
        }
        AttributeKind::List => {
            let Value::String(text) = value else { return Err(wrong("one of the options, as a string")) };
            let options = options.ok_or_else(|| InvalidValue::new("value", "this list attribute has no options"))?;
            let text = text.trim();
            if !options.contains(text) {
                return Err(InvalidValue::new(
                    "value",
                    format!("{:?} is not one of the options: {}", shown(text), listed(options.as_slice())),
                ));
            }
            Ok(Value::String(text.to_owned()))
        }
    }
}

/// A few options for an error message, not all 200.
fn listed(options: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut text = options.iter().take(SHOWN).map(|o| format!("{o:?}")).collect::<Vec<_>>().join(", ");
    if options.len() > SHOWN {
        text.push_str(&format!(" and {} more", options.len() - SHOWN));
    }
    text
}

fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Exactly `YYYY-MM-DD`, years 1 to 9999. Checked by hand because chrono's `%Y` also takes
/// signs and longer years, which would store dates no client expects.
fn parse_date(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    let shape = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes.iter().enumerate().all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<u32>().ok();
    let year = i32::try_from(number(0..4)?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, number(5..7)?, number(8..10)?)?;
    (date.year() >= 1).then_some(date)
}

/// A one-line name: trimmed, 1 to `max` characters, no control or disguising characters.
fn one_line(field: &'static str, input: &str, max: usize) -> Result<String, InvalidValue> {
    if input.chars().any(|c| c.is_control() || crate::text::disguises(c)) {
        return Err(InvalidValue::new(
            field,
            format!("{field} cannot contain control characters, direction overrides or zero-width spaces"),
        ));
    }
    let text = input.trim();
    if text.is_empty() || text.chars().count() > max {
        return Err(InvalidValue::new(field, format!("{field} is 1 to {max} characters")));
    }
    Ok(text.to_owned())
}

/// Free text: trimmed, `\r\n` as `\n`, 1 to `max` characters; newlines and tabs are the
/// only control characters, and nothing disguises what it says (U+202E, zero-width spaces).
fn multiline(field: &'static str, input: &str, max: usize) -> Result<String, InvalidValue> {
    let text = crate::text::multiline(field, input, max)?;
    if text.chars().any(crate::text::disguises) {
        return Err(InvalidValue::new(
            field,
            format!("{field} cannot contain direction overrides or zero-width spaces"),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn options(items: &[&str]) -> ListOptions {
        ListOptions::parse(&items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn keys_are_lower_case_identifiers() {
        for good in ["plan", "renewal_date", "a", "seats2", &"k".repeat(64)] {
            assert_eq!(AttributeKey::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", "Plan", "2fa", "_x", "plan-type", "plan type", "plän", "a\0", &"k".repeat(65)] {
            let err = AttributeKey::parse(bad).unwrap_err();
            assert_eq!(err.field, "key", "{bad:?}");
        }
    }

    #[test]
    fn kinds_parse_and_print_the_same() {
        for &kind in AttributeKind::ALL {
            assert_eq!(kind.as_str().parse::<AttributeKind>(), Ok(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
        }
        assert_eq!("enum".parse::<AttributeKind>().unwrap_err().field, "kind");
    }

    #[test]
    fn labels_are_one_trimmed_line_of_at_most_100_characters() {
        assert_eq!(AttributeLabel::parse("  Plan ").unwrap().as_str(), "Plan");
        assert!(AttributeLabel::parse(&"é".repeat(100)).is_ok());
        for bad in ["", "   ", "a\nb", "a\0b", "Plan\u{202E}", &"é".repeat(101)] {
            assert_eq!(AttributeLabel::parse(bad).unwrap_err().field, "label", "{bad:?}");
        }
    }

    #[test]
    fn options_are_distinct_bounded_and_only_for_lists() {
        assert_eq!(options(&[" free ", "pro"]).as_slice(), ["free", "pro"]);
        let parse = |items: Vec<String>| ListOptions::parse(&items);
        assert!(parse(vec![]).is_err());
        assert!(parse(vec!["a".into(), " a".into()]).is_err(), "the same option twice");
        assert!(parse(vec!["".into()]).is_err());
        assert!(parse(vec!["x".repeat(101)]).is_err());
        assert!(parse((0..200).map(|i| format!("o{i}")).collect()).is_ok());
        assert!(parse((0..201).map(|i| format!("o{i}")).collect()).is_err());

        assert!(check_options(AttributeKind::List, Some(&options(&["a"]))).is_ok());
        assert!(check_options(AttributeKind::Text, None).is_ok());
        assert_eq!(check_options(AttributeKind::List, None).unwrap_err().field, "options");
        assert_eq!(check_options(AttributeKind::Number, Some(&options(&["a"]))).unwrap_err().field, "options");
    }

    #[test]
    fn descriptions_are_optional_free_text() {
        assert_eq!(description("  ").unwrap(), None);
        assert_eq!(
            description(" Billing plan.\r\nSet by the CRM. ").unwrap().as_deref(),
            Some("Billing plan.\nSet by the CRM.")
        );
        assert!(description(&"x".repeat(1001)).is_err());
        assert!(description("a\u{7}b").is_err());
    }

    #[test]
    fn text_is_trimmed_and_keeps_newlines_and_tabs() {
        let check = |v: Value| validate(AttributeKind::Text, None, &v);
        assert_eq!(check(json!("  two\r\nlines\tand a tab ")).unwrap(), json!("two\nlines\tand a tab"));
        assert!(check(json!("x".repeat(1000))).is_ok());
        for bad in [
            json!("x".repeat(1001)),
            json!(""),
            json!("  "),
            json!("a\0b"),
            json!("a\u{1b}[31m"),
            json!("\u{202E}gnp"),
            json!(1),
            json!(["a"]),
        ] {
            assert_eq!(check(bad.clone()).unwrap_err().field, "value", "{bad}");
        }
    }

    #[test]
    fn numbers_and_booleans_are_what_json_says() {
        for good in [json!(12), json!(-3.5), json!(0), json!(u64::MAX)] {
            assert_eq!(validate(AttributeKind::Number, None, &good).unwrap(), good);
        }
        for bad in [json!("12"), json!(true), json!(null), json!({})] {
            assert!(validate(AttributeKind::Number, None, &bad).is_err(), "{bad}");
        }
        assert_eq!(validate(AttributeKind::Boolean, None, &json!(false)).unwrap(), json!(false));
        for bad in [json!("true"), json!(1), json!("yes")] {
            assert!(validate(AttributeKind::Boolean, None, &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_are_calendar_days_as_yyyy_mm_dd() {
        let check = |v: &str| validate(AttributeKind::Date, None, &json!(v));
        assert_eq!(check(" 2026-02-28 ").unwrap(), json!("2026-02-28"));
        assert_eq!(check("2024-02-29").unwrap(), json!("2024-02-29"));
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-1-01",
            "26-01-01",
            "+2026-01-01",
            "2026/01/01",
            "0000-01-01",
            "2026-01-01T00:00:00Z",
            "２０２６-01-01",
            "",
        ] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
        assert!(validate(AttributeKind::Date, None, &json!(20260101)).is_err());
    }

    #[test]
    fn list_values_are_one_of_the_options() {
        let plans = options(&["free", "pro", "enterprise"]);
        assert_eq!(validate(AttributeKind::List, Some(&plans), &json!(" pro ")).unwrap(), json!("pro"));
        let err = validate(AttributeKind::List, Some(&plans), &json!("Pro")).unwrap_err();
        assert!(err.message.contains("\"free\", \"pro\", \"enterprise\""), "{}", err.message);
        assert!(validate(AttributeKind::List, Some(&plans), &json!(1)).is_err());
        assert!(validate(AttributeKind::List, None, &json!("pro")).is_err());
        let many = ListOptions::parse(&(0..50).map(|i| format!("o{i}")).collect::<Vec<_>>()).unwrap();
        let err = validate(AttributeKind::List, Some(&many), &json!("x")).unwrap_err();
        assert!(err.message.ends_with("and 40 more"), "{}", err.message);
    }
}
