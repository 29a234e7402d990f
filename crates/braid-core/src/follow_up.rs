//! Follow-ups: a ticket snoozed until a time, reminders for agents, and a team's rule for
//! tickets left pending ("no answer for N business days: remind the customer, then
//! solve"). The times are checked here; the timers that fire them are braid-db's.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::schedule::Calendar;
use crate::{InvalidValue, ScheduleId};

/// How far ahead a snooze or a reminder may be set.
pub const MAX_AHEAD_DAYS: i64 = 366;
pub const MAX_NOTE_CHARS: usize = 2000;
/// The longest a pending rule waits before solving.
pub const MAX_PENDING_DAYS: u32 = 90;
pub const MAX_REMINDER_TEXT_CHARS: usize = 5000;

/// A snooze's or reminder's time: after `now`, within a year.
pub fn future_time(field: &'static str, at: DateTime<Utc>, now: DateTime<Utc>) -> Result<DateTime<Utc>, InvalidValue> {
    if at <= now {
        return Err(InvalidValue::new(field, "must be in the future"));
    }
    if at > now + Duration::days(MAX_AHEAD_DAYS) {
        return Err(InvalidValue::new(field, format!("at most {MAX_AHEAD_DAYS} days ahead")));
    }
    Ok(at)
}

/// A reminder's note: trimmed, at most 2,000 characters, no control characters but line
/// breaks and tabs.
pub fn note(input: &str) -> Result<String, InvalidValue> {
    let note = input.trim();
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(InvalidValue::new("note", format!("at most {MAX_NOTE_CHARS} characters")));
    }
    if note.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r')) {
        return Err(InvalidValue::new("note", "control characters are not allowed"));
    }
    Ok(note.to_owned())
}

/// A team's rule for its pending tickets: when the customer has not answered for
/// `remind_after_days`, send them `reminder_text`; after `solve_after_days`, solve the
/// ticket. Days are working days of `schedule_id`, or calendar days without one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingRule {
    pub remind_after_days: u32,
    pub solve_after_days: u32,
    #[serde(default)]
    pub schedule_id: Option<ScheduleId>,
    pub reminder_text: String,
}

impl PendingRule {
    pub fn check(mut self) -> Result<Self, InvalidValue> {
        if self.remind_after_days == 0 || self.remind_after_days >= self.solve_after_days {
            return Err(InvalidValue::new(
                "pending_rule",
                "remind_after_days is at least 1 and less than solve_after_days",
            ));
        }
        if self.solve_after_days > MAX_PENDING_DAYS {
            return Err(InvalidValue::new("pending_rule", format!("solve_after_days is at most {MAX_PENDING_DAYS}")));
        }
        self.reminder_text = self.reminder_text.trim().to_owned();
        if self.reminder_text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r')) {
            return Err(InvalidValue::new("pending_rule", "reminder_text cannot contain control characters"));
        }
        let chars = self.reminder_text.chars().count();
        if chars == 0 || chars > MAX_REMINDER_TEXT_CHARS {
            return Err(InvalidValue::new(
                "pending_rule",
                format!("reminder_text is 1 to {MAX_REMINDER_TEXT_CHARS} characters"),
            ));
        }
        Ok(self)
    }

    /// When a ticket reminded at `reminded_at` is solved at the earliest: the days between
    /// reminder and solve, from the reminder.
    pub fn solve_after_reminder(
        &self,
        calendar: Option<&Calendar>,
        reminded_at: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let days = self.solve_after_days - self.remind_after_days;
        match calendar {
            Some(calendar) => calendar.after_working_days(reminded_at, days),
            None => reminded_at.checked_add_signed(Duration::days(i64::from(days))),
        }
    }

    /// When a ticket pending since `since` gets its reminder, and when it is solved.
    pub fn due(
        &self,
        calendar: Option<&Calendar>,
        since: DateTime<Utc>,
    ) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let after = |days: u32| match calendar {
            Some(calendar) => calendar.after_working_days(since, days),
            None => since.checked_add_signed(Duration::days(i64::from(days))),
        };
        (after(self.remind_after_days), after(self.solve_after_days))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn rule(remind: u32, solve: u32) -> PendingRule {
        PendingRule {
            remind_after_days: remind,
            solve_after_days: solve,
            schedule_id: None,
            reminder_text: " Any news? ".into(),
        }
    }

    #[test]
    fn times_must_lie_ahead_within_a_year() {
        let now = at("2026-12-01T12:00:00Z");
        assert!(future_time("until", now, now).is_err());
        assert!(future_time("until", now + Duration::days(367), now).is_err());
        assert_eq!(future_time("until", now + Duration::hours(1), now), Ok(now + Duration::hours(1)));
    }

    #[test]
    fn notes_are_bounded_text() {
        assert_eq!(note("  Call back\n after lunch "), Ok("Call back\n after lunch".into()));
        assert!(note("bell \u{7}").is_err());
        assert!(note(&"x".repeat(MAX_NOTE_CHARS + 1)).is_err());
    }

    #[test]
    fn a_pending_rule_reminds_before_it_solves() {
        assert_eq!(rule(3, 7).check().unwrap().reminder_text, "Any news?");
        assert!(rule(0, 7).check().is_err());
        assert!(rule(7, 7).check().is_err());
        assert!(rule(3, MAX_PENDING_DAYS + 1).check().is_err());
        assert!(PendingRule { reminder_text: "  ".into(), ..rule(1, 2) }.check().is_err());
        let since = at("2026-12-01T12:00:00Z");
        assert_eq!(rule(3, 7).due(None, since), (Some(at("2026-12-04T12:00:00Z")), Some(at("2026-12-08T12:00:00Z"))));
    }
}
