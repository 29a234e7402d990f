//! Business hours: a schedule is a time zone, working windows per weekday and holidays;
//! a [`Calendar`] is a schedule's versions over time, so an edit changes the future and
//! never rewrites what was already measured. The arithmetic (how much working time lies
//! between two instants, when a given amount of working time has passed) is here, pure,
//! with `jiff` doing the time-zone work: windows are wall-clock times, and a day that
//! skips or repeats an hour (DST) has as much working time as the wall clock says.

use std::fmt;

use chrono::{DateTime, Utc};
use jiff::civil::{Date, DateTime as CivilDateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::InvalidValue;

/// Working windows on one day at most; more is a mistake, not a schedule.
pub const MAX_WINDOWS_PER_DAY: usize = 8;
/// Holidays one schedule version lists at most (a decade of public holidays fits).
pub const MAX_HOLIDAYS: usize = 400;
/// How far the arithmetic looks for working time before it says there is none: a
/// schedule that is all holidays has no due time, rather than a loop without end.
const SEARCH_DAYS: i32 = 3 * 366;

/// A wall-clock time of day in minutes, `00:00` to `24:00` (`24:00` ends a window at
/// midnight). Written `HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeOfDay(u16);

impl TimeOfDay {
    pub const MIDNIGHT_END: TimeOfDay = TimeOfDay(24 * 60);

    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let invalid = || InvalidValue::new("hours", format!("`{input}` is not a time of day like `09:30`"));
        let (hours, minutes) = input.split_once(':').ok_or_else(invalid)?;
        if hours.len() != 2 || minutes.len() != 2 {
            return Err(invalid());
        }
        let (hours, minutes): (u16, u16) =
            (hours.parse().map_err(|_| invalid())?, minutes.parse().map_err(|_| invalid())?);
        if minutes >= 60 || hours > 24 || (hours == 24 && minutes != 0) {
            return Err(invalid());
        }
        Ok(Self(hours * 60 + minutes))
    }

    pub fn minutes(self) -> u16 {
        self.0
    }

    /// The wall-clock time on `date`; `24:00` is the next day's midnight.
    fn on(self, date: Date) -> Option<CivilDateTime> {
        if self == Self::MIDNIGHT_END {
            return date.tomorrow().ok().map(|next| next.at(0, 0, 0, 0));
        }
        Some(date.at((self.0 / 60) as i8, (self.0 % 60) as i8, 0, 0))
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// One working window, `start` up to (not including) `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: TimeOfDay,
    pub end: TimeOfDay,
}

/// The working windows of each weekday; a day left out is not worked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Week {
    #[serde(default)]
    pub monday: Vec<Window>,
    #[serde(default)]
    pub tuesday: Vec<Window>,
    #[serde(default)]
    pub wednesday: Vec<Window>,
    #[serde(default)]
    pub thursday: Vec<Window>,
    #[serde(default)]
    pub friday: Vec<Window>,
    #[serde(default)]
    pub saturday: Vec<Window>,
    #[serde(default)]
    pub sunday: Vec<Window>,
}

impl Week {
    fn days(&self) -> [(&'static str, &Vec<Window>); 7] {
        [
            ("monday", &self.monday),
            ("tuesday", &self.tuesday),
            ("wednesday", &self.wednesday),
            ("thursday", &self.thursday),
            ("friday", &self.friday),
            ("saturday", &self.saturday),
            ("sunday", &self.sunday),
        ]
    }

    fn on(&self, date: Date) -> &[Window] {
        self.days()[date.weekday().to_monday_zero_offset() as usize].1
    }
}

/// A schedule as written: where, when, and which days are off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDefinition {
    /// An IANA time zone, `Europe/Berlin`.
    pub time_zone: String,
    pub hours: Week,
    /// Days off, `YYYY-MM-DD` in the schedule's time zone.
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// A checked schedule: the definition with its time zone and holidays resolved.
#[derive(Debug, Clone)]
pub struct Schedule {
    definition: ScheduleDefinition,
    zone: TimeZone,
    holidays: Vec<Date>,
}

impl Schedule {
    pub fn new(mut definition: ScheduleDefinition) -> Result<Self, InvalidValue> {
        let zone = TimeZone::get(&definition.time_zone).map_err(|_| {
            InvalidValue::new("time_zone", format!("`{}` is not an IANA time zone", definition.time_zone))
        })?;
        let mut worked = false;
        for (day, windows) in definition.hours.days() {
            if windows.len() > MAX_WINDOWS_PER_DAY {
                return Err(InvalidValue::new("hours", format!("{day} has more than {MAX_WINDOWS_PER_DAY} windows")));
            }
            let mut previous_end = None;
            for window in windows {
                if window.start >= window.end {
                    return Err(InvalidValue::new(
                        "hours",
                        format!("{day}: a window must end after it starts ({}–{})", window.start, window.end),
                    ));
                }
                if previous_end.is_some_and(|end| window.start < end) {
                    return Err(InvalidValue::new(
                        "hours",
                        format!("{day}: windows must be in order and must not overlap"),
                    ));
                }
                previous_end = Some(window.end);
                worked = true;
            }
        }
        if !worked {
            return Err(InvalidValue::new("hours", "a schedule needs at least one working window"));
        }
        if definition.holidays.len() > MAX_HOLIDAYS {
            return Err(InvalidValue::new("holidays", format!("at most {MAX_HOLIDAYS} holidays")));
        }
        let mut holidays = definition
            .holidays
            .iter()
            .map(|day| {
                day.parse::<Date>()
                    .map_err(|_| InvalidValue::new("holidays", format!("`{day}` is not a date like `2026-12-25`")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        holidays.sort();
        holidays.dedup();
        definition.holidays = holidays.iter().map(|day| day.to_string()).collect();
        definition.time_zone = zone.iana_name().unwrap_or(&definition.time_zone).to_owned();
        Ok(Self { definition, zone, holidays })
    }

    pub fn definition(&self) -> &ScheduleDefinition {
        &self.definition
    }

    /// The working intervals of one civil day, as instants. A window edge in a skipped
    /// hour moves forward with the clock; in a repeated hour it takes the first pass.
    fn intervals_on(&self, date: Date) -> Vec<(Timestamp, Timestamp)> {
        if self.holidays.binary_search(&date).is_ok() {
            return vec![];
        }
        let instant =
            |time: TimeOfDay| time.on(date).and_then(|civil| self.zone.to_ambiguous_timestamp(civil).compatible().ok());
        self.definition
            .hours
            .on(date)
            .iter()
            .filter_map(|window| Some((instant(window.start)?, instant(window.end)?)))
            .filter(|(start, end)| start < end)
            .collect()
    }

    fn date_of(&self, at: Timestamp) -> Date {
        self.zone.to_datetime(at).date()
    }

    /// Working time in `[from, to)`.
    fn between(&self, from: Timestamp, to: Timestamp) -> SignedDuration {
        if to <= from {
            return SignedDuration::ZERO;
        }
        // A window can start the evening before (in another offset): begin a day early.
        let (mut date, last) = (self.date_of(from).yesterday().unwrap_or(Date::MIN), self.date_of(to));
        let mut total = SignedDuration::ZERO;
        while date <= last {
            for (start, end) in self.intervals_on(date) {
                let (start, end) = (start.max(from), end.min(to));
                if start < end {
                    total += end.duration_since(start);
                }
            }
            let Ok(next) = date.tomorrow() else { break };
            date = next;
        }
        total
    }

    /// A day with working time: a window, and not a holiday.
    fn is_working(&self, date: Date) -> bool {
        !self.definition.hours.on(date).is_empty() && self.holidays.binary_search(&date).is_err()
    }

    /// The same wall-clock time as `from`, `days` working days later; `None` when none
    /// come for years.
    fn after_working_days(&self, from: Timestamp, days: u32) -> Option<Timestamp> {
        if days == 0 {
            return Some(from);
        }
        let start = self.zone.to_datetime(from);
        let (mut date, mut left) = (start.date(), days);
        for _ in 0..SEARCH_DAYS {
            date = date.tomorrow().ok()?;
            if self.is_working(date) {
                left -= 1;
                if left == 0 {
                    return self.zone.to_ambiguous_timestamp(date.to_datetime(start.time())).compatible().ok();
                }
            }
        }
        None
    }

    /// The instant when `amount` of working time has passed since `from`; `None` when
    /// the schedule has no working time for years ahead.
    fn add(&self, from: Timestamp, amount: SignedDuration) -> Option<Timestamp> {
        let mut left = amount;
        let mut date = self.date_of(from).yesterday().unwrap_or(Date::MIN);
        for _ in 0..SEARCH_DAYS {
            for (start, end) in self.intervals_on(date) {
                let start = start.max(from);
                if start >= end {
                    continue;
                }
                let available = end.duration_since(start);
                if left <= available {
                    return start.checked_add(left).ok();
                }
                left -= available;
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

/// A schedule's versions: each applies from its instant until the next one's. The first
/// applies to all time before it too (tickets older than the schedule).
#[derive(Debug, Clone)]
pub struct Calendar {
    versions: Vec<(Timestamp, Schedule)>,
}

impl Calendar {
    /// `versions` in any order; `None` when empty.
    pub fn new(mut versions: Vec<(DateTime<Utc>, Schedule)>) -> Option<Self> {
        versions.sort_by_key(|(from, _)| *from);
        let versions: Vec<_> = versions.into_iter().map(|(from, schedule)| (timestamp(from), schedule)).collect();
        (!versions.is_empty()).then_some(Self { versions })
    }

    /// One schedule for all time.
    pub fn single(schedule: Schedule) -> Self {
        Self { versions: vec![(Timestamp::MIN, schedule)] }
    }

    /// The versions' spans: `(from, until, schedule)`, the first from the beginning of time.
    fn spans(&self) -> impl Iterator<Item = (Timestamp, Timestamp, &Schedule)> {
        self.versions.iter().enumerate().map(|(i, (_, schedule))| {
            let from = if i == 0 { Timestamp::MIN } else { self.versions[i].0 };
            let until = self.versions.get(i + 1).map_or(Timestamp::MAX, |(next, _)| *next);
            (from, until, schedule)
        })
    }

    /// The same wall-clock time as `from`, `days` working days later, by the version in
    /// effect at `from`: "remind after three business days" on a Friday is Wednesday.
    pub fn after_working_days(&self, from: DateTime<Utc>, days: u32) -> Option<DateTime<Utc>> {
        let at = timestamp(from);
        let (_, schedule) =
            self.versions.iter().rev().find(|(valid_from, _)| *valid_from <= at).unwrap_or(&self.versions[0]);
        schedule.after_working_days(at, days).map(datetime)
    }

    fn between(&self, from: Timestamp, to: Timestamp) -> SignedDuration {
        self.spans()
            .map(|(span_from, span_until, schedule)| schedule.between(from.max(span_from), to.min(span_until)))
            .sum()
    }

    fn add(&self, from: Timestamp, amount: SignedDuration) -> Option<Timestamp> {
        let mut left = amount;
        for (span_from, span_until, schedule) in self.spans() {
            if span_until <= from {
                continue;
            }
            let start = from.max(span_from);
            if span_until == Timestamp::MAX {
                return schedule.add(start, left);
            }
            let available = schedule.between(start, span_until);
            if left <= available {
                return schedule.add(start, left);
            }
            left -= available;
        }
        None
    }
}

/// How a target's time is counted: by the wall clock, or in a schedule's working hours.
#[derive(Debug, Clone, Copy)]
pub enum Basis<'a> {
    Calendar,
    Business(&'a Calendar),
}

impl Basis<'_> {
    /// Time counted in `[from, to)`.
    pub fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> chrono::Duration {
        match self {
            Self::Calendar => (to - from).max(chrono::Duration::zero()),
            Self::Business(calendar) => duration(calendar.between(timestamp(from), timestamp(to))),
        }
    }

    /// When `amount` of counted time has passed since `from`; `None` when it never does.
    pub fn add(&self, from: DateTime<Utc>, amount: chrono::Duration) -> Option<DateTime<Utc>> {
        match self {
            Self::Calendar => from.checked_add_signed(amount),
            Self::Business(calendar) => {
                let amount = SignedDuration::new(amount.num_seconds(), amount.subsec_nanos());
                calendar.add(timestamp(from), amount).map(datetime)
            }
        }
    }
}

fn timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp::new(at.timestamp(), at.timestamp_subsec_nanos() as i32).unwrap_or(Timestamp::MAX)
}

fn datetime(at: Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp(at.as_second(), at.subsec_nanosecond() as u32).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn duration(amount: SignedDuration) -> chrono::Duration {
    chrono::Duration::seconds(amount.as_secs()) + chrono::Duration::nanoseconds(i64::from(amount.subsec_nanos()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn window(start: &str, end: &str) -> Window {
        Window { start: TimeOfDay::parse(start).unwrap(), end: TimeOfDay::parse(end).unwrap() }
    }

    fn weekdays(zone: &str, windows: Vec<Window>, holidays: &[&str]) -> Schedule {
        let hours = Week {
            monday: windows.clone(),
            tuesday: windows.clone(),
            wednesday: windows.clone(),
            thursday: windows.clone(),
            friday: windows,
            ..Week::default()
        };
        Schedule::new(ScheduleDefinition {
            time_zone: zone.to_owned(),
            hours,
            holidays: holidays.iter().map(|d| d.to_string()).collect(),
        })
        .unwrap()
    }

    fn hours(h: i64) -> chrono::Duration {
        chrono::Duration::hours(h)
    }

    #[test]
    fn times_of_day_read_and_refuse() {
        assert_eq!(TimeOfDay::parse("09:30").unwrap().minutes(), 570);
        assert_eq!(TimeOfDay::parse("24:00").unwrap(), TimeOfDay::MIDNIGHT_END);
        for bad in ["9:30", "24:01", "12:60", "noon", "", "12:3a", "-1:00"] {
            assert!(TimeOfDay::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_schedule_refuses_what_cannot_be_worked() {
        let definition = |zone: &str, windows: Vec<Window>| ScheduleDefinition {
            time_zone: zone.to_owned(),
            hours: Week { monday: windows, ..Week::default() },
            holidays: vec![],
        };
        assert!(Schedule::new(definition("Mars/Olympus", vec![window("09:00", "17:00")])).is_err());
        assert!(Schedule::new(definition("UTC", vec![])).is_err());
        assert!(Schedule::new(definition("UTC", vec![window("17:00", "09:00")])).is_err());
        assert!(Schedule::new(definition("UTC", vec![window("09:00", "13:00"), window("12:00", "17:00")])).is_err());
        let mut holidays = definition("UTC", vec![window("09:00", "17:00")]);
        holidays.holidays = vec!["25/12/2026".into()];
        assert!(Schedule::new(holidays).is_err());
    }

    #[test]
    fn business_time_skips_nights_weekends_and_holidays() {
        // Mon 2026-12-21 … Fri 2026-12-25 (a holiday), 09:00–12:00 and 13:00–17:00 in Berlin (UTC+1).
        let schedule =
            weekdays("Europe/Berlin", vec![window("09:00", "12:00"), window("13:00", "17:00")], &["2026-12-25"]);
        let basis = Basis::Business(&Calendar::single(schedule));
        // Thursday 16:00 local (15:00Z) plus 2 working hours: one hour Thursday, the
        // holiday and the weekend skipped, one hour on Monday: 10:00 local.
        assert_eq!(basis.add(at("2026-12-24T15:00:00Z"), hours(2)), Some(at("2026-12-28T09:00:00Z")));
        assert_eq!(basis.between(at("2026-12-24T15:00:00Z"), at("2026-12-28T09:00:00Z")), hours(2));
        // Before opening: the clock starts at 09:00 local; the lunch break does not count
        // (09–12 and 13–14 local, 08–11Z and 12–13Z).
        assert_eq!(basis.add(at("2026-12-21T05:00:00Z"), hours(4)), Some(at("2026-12-21T13:00:00Z")));
        assert_eq!(basis.between(at("2026-12-21T10:30:00Z"), at("2026-12-21T12:30:00Z")), hours(1));
        assert_eq!(basis.between(at("2026-12-21T12:00:00Z"), at("2026-12-21T10:00:00Z")), chrono::Duration::zero());
    }

    #[test]
    fn spring_forward_loses_the_skipped_hour_of_a_window() {
        // 2026-03-29: Berlin skips 02:00–03:00. A Sunday window 01:00–04:00 is two real hours.
        let schedule = Schedule::new(ScheduleDefinition {
            time_zone: "Europe/Berlin".into(),
            hours: Week { sunday: vec![window("01:00", "04:00")], ..Week::default() },
            holidays: vec![],
        })
        .unwrap();
        let basis = Basis::Business(&Calendar::single(schedule));
        assert_eq!(basis.between(at("2026-03-28T00:00:00Z"), at("2026-03-30T00:00:00Z")), hours(2));
        // 01:00 CET is 00:00Z; 90 minutes of work later it is 01:30Z, 03:30 CEST.
        assert_eq!(
            basis.add(at("2026-03-29T00:00:00Z"), chrono::Duration::minutes(90)),
            Some(at("2026-03-29T01:30:00Z"))
        );
    }

    #[test]
    fn a_window_starting_in_the_skipped_hour_starts_when_the_clock_resumes() {
        // New York skips 02:00–03:00 on 2026-03-08. A window 02:30–05:00 starts as the
        // clock would read had it not jumped: 03:30 EDT (07:30Z), the RFC 5545 reading.
        let schedule = Schedule::new(ScheduleDefinition {
            time_zone: "America/New_York".into(),
            hours: Week { sunday: vec![window("02:30", "05:00")], ..Week::default() },
            holidays: vec![],
        })
        .unwrap();
        let basis = Basis::Business(&Calendar::single(schedule));
        assert_eq!(
            basis.add(at("2026-03-08T00:00:00Z"), chrono::Duration::minutes(1)),
            Some(at("2026-03-08T07:31:00Z"))
        );
        assert_eq!(
            basis.between(at("2026-03-08T00:00:00Z"), at("2026-03-09T00:00:00Z")),
            chrono::Duration::minutes(90)
        );
    }

    #[test]
    fn fall_back_gives_the_repeated_hour_to_a_window_across_it() {
        // Berlin repeats 02:00–03:00 on 2026-10-25: a Sunday window 01:00–04:00 is four real hours.
        let schedule = Schedule::new(ScheduleDefinition {
            time_zone: "Europe/Berlin".into(),
            hours: Week { sunday: vec![window("01:00", "04:00")], ..Week::default() },
            holidays: vec![],
        })
        .unwrap();
        let basis = Basis::Business(&Calendar::single(schedule));
        assert_eq!(basis.between(at("2026-10-24T00:00:00Z"), at("2026-10-26T00:00:00Z")), hours(4));
        // 01:00 CEST is 23:00Z the evening before: the window begins on the UTC day before.
        assert_eq!(basis.add(at("2026-10-24T22:00:00Z"), hours(4)), Some(at("2026-10-25T03:00:00Z")));
    }

    #[test]
    fn a_window_to_midnight_and_one_from_midnight_join() {
        let schedule = Schedule::new(ScheduleDefinition {
            time_zone: "UTC".into(),
            hours: Week {
                monday: vec![window("22:00", "24:00")],
                tuesday: vec![window("00:00", "02:00")],
                ..Week::default()
            },
            holidays: vec![],
        })
        .unwrap();
        let basis = Basis::Business(&Calendar::single(schedule));
        assert_eq!(basis.add(at("2026-12-21T23:00:00Z"), hours(2)), Some(at("2026-12-22T01:00:00Z")));
    }

    #[test]
    fn an_edit_counts_only_from_when_it_was_made() {
        // Until Wednesday noon the team works 09–17 UTC; from then on, 09–13.
        let before = weekdays("UTC", vec![window("09:00", "17:00")], &[]);
        let after = weekdays("UTC", vec![window("09:00", "13:00")], &[]);
        let calendar =
            Calendar::new(vec![(at("2026-12-23T12:00:00Z"), after), (at("2026-01-01T00:00:00Z"), before)]).unwrap();
        let basis = Basis::Business(&calendar);
        // Tuesday 09:00 to Thursday 17:00: 8 h + 3 h (Wed 09–12 under the old hours)
        // + 1 h (Wed 12–13 under the new) + 4 h (Thursday) = 16 h.
        assert_eq!(basis.between(at("2026-12-22T09:00:00Z"), at("2026-12-24T17:00:00Z")), hours(16));
        // Wednesday 11:00 plus 3 h: 1 h old, then 12–13 new, then Thursday 09–10.
        assert_eq!(basis.add(at("2026-12-23T11:00:00Z"), hours(3)), Some(at("2026-12-24T10:00:00Z")));
        // Times before the first version use it.
        assert_eq!(basis.between(at("2025-12-29T09:00:00Z"), at("2025-12-29T17:00:00Z")), hours(8));
    }

    #[test]
    fn a_schedule_of_holidays_has_no_due_time() {
        let mut every_day: Vec<String> = vec![];
        let mut day: Date = "2026-12-21".parse().unwrap();
        for _ in 0..MAX_HOLIDAYS {
            every_day.push(day.to_string());
            day = day.tomorrow().unwrap();
        }
        let schedule = Schedule::new(ScheduleDefinition {
            time_zone: "UTC".into(),
            hours: Week { monday: vec![window("09:00", "10:00")], ..Week::default() },
            holidays: every_day,
        })
        .unwrap();
        let basis = Basis::Business(&Calendar::single(schedule));
        // 400 days of holidays, then Mondays again: found, just far away.
        assert!(basis.add(at("2026-12-21T00:00:00Z"), hours(1)).unwrap() > at("2028-01-01T00:00:00Z"));
        assert_eq!(basis.add(at("2026-12-21T00:00:00Z"), hours(24 * 365 * 10)), None);
    }

    #[test]
    fn working_days_skip_weekends_and_holidays_and_keep_the_wall_clock() {
        let calendar = Calendar::single(weekdays("Europe/Berlin", vec![window("09:00", "17:00")], &["2026-12-25"]));
        // Tuesday 22nd, 15:00 CET: three working days on, the 25th off, is Monday 28th.
        assert_eq!(calendar.after_working_days(at("2026-12-22T14:00:00Z"), 3), Some(at("2026-12-28T14:00:00Z")));
        assert_eq!(calendar.after_working_days(at("2026-12-22T14:00:00Z"), 0), Some(at("2026-12-22T14:00:00Z")));
        // Across the spring change: 10:00 CET on Friday is 10:00 CEST on Monday, an hour
        // less of UTC offset.
        assert_eq!(calendar.after_working_days(at("2026-03-27T09:00:00Z"), 1), Some(at("2026-03-30T08:00:00Z")));
    }

    #[test]
    fn calendar_time_is_plain_arithmetic() {
        let basis = Basis::Calendar;
        assert_eq!(basis.add(at("2026-03-29T00:30:00Z"), hours(2)), Some(at("2026-03-29T02:30:00Z")));
        assert_eq!(basis.between(at("2026-03-29T00:30:00Z"), at("2026-03-29T02:30:00Z")), hours(2));
    }
}
