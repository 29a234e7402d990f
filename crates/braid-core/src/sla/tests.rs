//! Fixtures: a ticket's history in, its clocks out.

use super::*;
use crate::schedule::{Schedule, ScheduleDefinition, TimeOfDay, Week, Window};

fn at(time: &str) -> DateTime<Utc> {
    format!("2026-12-21T{time}:00Z").parse().unwrap()
}

fn on(day: &str, time: &str) -> DateTime<Utc> {
    format!("2026-12-{day}T{time}:00Z").parse().unwrap()
}

fn target(minutes: u32) -> Target {
    Target {
        minutes: PerPriority { normal: Some(minutes), ..PerPriority::default() },
        hours: Hours::Calendar,
        pause_on: None,
    }
}

fn targets(first: Option<u32>, next: Option<u32>, resolution: Option<u32>) -> Targets {
    Targets { first_reply: first.map(target), next_reply: next.map(target), resolution: resolution.map(target) }
}

fn customer(at: DateTime<Utc>) -> Moment {
    Moment { at, what: Happening::CustomerMessage }
}

fn reply(at: DateTime<Utc>) -> Moment {
    Moment { at, what: Happening::AgentReply }
}

fn status(at: DateTime<Utc>, to: TicketStatus) -> Moment {
    Moment { at, what: Happening::Status(to) }
}

fn only(cycles: &[Cycle], metric: Metric) -> Vec<&Cycle> {
    cycles.iter().filter(|c| c.metric == metric).collect()
}

#[test]
fn a_first_reply_in_time_stops_the_clock_unbreached() {
    let cycles = measure(
        &targets(Some(60), None, None),
        Priority::Normal,
        None,
        at("10:00"),
        &[customer(at("10:00")), reply(at("10:30"))],
        at("12:00"),
    );
    assert_eq!(cycles.len(), 1);
    let first = &cycles[0];
    assert_eq!(
        (first.metric, first.started_at, first.stopped_at),
        (Metric::FirstReply, at("10:00"), Some(at("10:30")))
    );
    assert_eq!((first.stopped_by, first.used_seconds, first.breached_at), (Some(Stop::Replied), 1800, None));
    assert_eq!(first.due_at, Some(at("11:00")));
    assert_eq!(next_due(&cycles), None);
}

#[test]
fn a_late_first_reply_breached_when_the_target_passed() {
    let history = [customer(at("10:00")), reply(at("11:30"))];
    let cycles = measure(&targets(Some(60), None, None), Priority::Normal, None, at("10:00"), &history, at("12:00"));
    assert_eq!(cycles[0].breached_at, Some(at("11:00")));
    assert_eq!(cycles[0].used_seconds, 90 * 60);
}

#[test]
fn a_waiting_ticket_is_due_and_breaches_only_once_its_time_comes() {
    let history = [customer(at("10:00"))];
    let policy = targets(Some(60), None, None);
    let before = measure(&policy, Priority::Normal, None, at("10:00"), &history, at("10:20"));
    assert!(before[0].is_running());
    assert_eq!((before[0].due_at, before[0].breached_at), (Some(at("11:00")), None));
    assert_eq!(next_due(&before), Some(at("11:00")));
    let after = measure(&policy, Priority::Normal, None, at("10:00"), &history, at("11:00"));
    assert_eq!(after[0].breached_at, Some(at("11:00")));
    assert_eq!(next_due(&after), None);
}

#[test]
fn each_customer_message_after_a_reply_starts_a_next_reply_clock() {
    let history = [customer(at("10:00")), reply(at("10:10")), customer(at("12:00")), customer(at("12:05"))];
    let cycles =
        measure(&targets(Some(60), Some(60), None), Priority::Normal, None, at("10:00"), &history, at("12:30"));
    let next = only(&cycles, Metric::NextReply);
    assert_eq!(next.len(), 1, "a second message while waiting starts nothing new");
    assert_eq!((next[0].started_at, next[0].due_at), (at("12:00"), Some(at("13:00"))));
    assert_eq!(next_due(&cycles), Some(at("13:00")));
}

#[test]
fn when_an_agent_writes_first_the_customer_answer_is_a_next_reply() {
    let history = [reply(at("10:00")), customer(at("11:00"))];
    let cycles =
        measure(&targets(Some(60), Some(30), None), Priority::Normal, None, at("10:00"), &history, at("11:10"));
    assert!(only(&cycles, Metric::FirstReply).is_empty());
    assert_eq!(only(&cycles, Metric::NextReply)[0].due_at, Some(at("11:30")));
}

#[test]
fn pending_pauses_resolution_and_next_reply_but_not_first_reply() {
    let history = [
        customer(at("10:00")),
        status(at("10:30"), TicketStatus::Pending),
        status(at("11:30"), TicketStatus::Open),
        customer(at("11:30")),
    ];
    let cycles =
        measure(&targets(Some(240), Some(60), Some(120)), Priority::Normal, None, at("10:00"), &history, at("12:00"));
    let resolution = only(&cycles, Metric::Resolution)[0];
    assert_eq!(resolution.used_seconds, 60 * 60);
    assert_eq!(
        resolution.paused,
        vec![Pause { from: at("10:30"), until: Some(at("11:30")), status: TicketStatus::Pending }]
    );
    assert_eq!(resolution.due_at, Some(at("13:00")));
    let first = only(&cycles, Metric::FirstReply)[0];
    assert_eq!((first.used_seconds, first.paused.len()), (120 * 60, 0));
}

#[test]
fn a_paused_clock_has_no_due_time_until_it_runs_again() {
    let history = [customer(at("10:00")), status(at("10:30"), TicketStatus::OnHold)];
    let cycles = measure(&targets(None, None, Some(60)), Priority::Normal, None, at("10:00"), &history, at("12:00"));
    assert!(!cycles[0].is_running());
    assert_eq!((cycles[0].due_at, cycles[0].breached_at, cycles[0].used_seconds), (None, None, 1800));
    assert_eq!(next_due(&cycles), None);
}

#[test]
fn thanks_after_a_solve_reopens_and_solving_again_stops_the_reply_clock_unbreached() {
    let history = [
        customer(at("10:00")),
        reply(at("10:20")),
        status(at("10:20"), TicketStatus::Solved),
        status(at("11:00"), TicketStatus::Open),
        customer(at("11:00")),
        status(at("15:00"), TicketStatus::Solved),
    ];
    let cycles =
        measure(&targets(Some(60), Some(60), Some(600)), Priority::Normal, None, at("10:00"), &history, at("16:00"));
    let next = only(&cycles, Metric::NextReply)[0];
    assert_eq!((next.stopped_by, next.stopped_at), (Some(Stop::Solved), Some(at("15:00"))));
    // Four hours passed without a reply before the solve: that was a breach.
    assert_eq!(next.breached_at, Some(at("12:00")));
    let first = only(&cycles, Metric::FirstReply)[0];
    assert_eq!(first.stopped_by, Some(Stop::Replied), "the reply, at the solve's instant, came first");
    let resolution = only(&cycles, Metric::Resolution)[0];
    assert_eq!(
        resolution.paused,
        vec![Pause { from: at("10:20"), until: Some(at("11:00")), status: TicketStatus::Solved }]
    );
    assert_eq!((resolution.stopped_at, resolution.used_seconds), (Some(at("15:00")), (20 + 240) * 60));

    // Solved again within the hour: stopped, not breached.
    let quick = [&history[..5], &[status(at("11:05"), TicketStatus::Solved)]].concat();
    let cycles = measure(&targets(Some(60), Some(60), None), Priority::Normal, None, at("10:00"), &quick, at("16:00"));
    let next = only(&cycles, Metric::NextReply)[0];
    assert_eq!((next.stopped_by, next.breached_at), (Some(Stop::Solved), None));
}

#[test]
fn a_priority_without_a_target_has_no_clock() {
    let history = [customer(at("10:00"))];
    let cycles =
        measure(&targets(Some(60), Some(60), Some(60)), Priority::Urgent, None, at("10:00"), &history, at("12:00"));
    assert!(cycles.is_empty());
}

fn nine_to_five() -> Calendar {
    let day = vec![Window { start: TimeOfDay::parse("09:00").unwrap(), end: TimeOfDay::parse("17:00").unwrap() }];
    let hours = Week {
        monday: day.clone(),
        tuesday: day.clone(),
        wednesday: day.clone(),
        thursday: day.clone(),
        friday: day,
        ..Week::default()
    };
    let definition = ScheduleDefinition { time_zone: "UTC".into(), hours, holidays: vec!["2026-12-25".into()] };
    Calendar::single(Schedule::new(definition).unwrap())
}

#[test]
fn business_hours_carry_a_late_message_over_the_weekend_and_the_holiday() {
    let mut policy = targets(Some(120), None, None);
    policy.first_reply.as_mut().unwrap().hours = Hours::Business;
    let calendar = nine_to_five();
    // Thursday 24th at 16:00: one hour that day, the 25th off, the weekend, Monday 09–10.
    let history = [customer(on("24", "16:00"))];
    let cycles = measure(&policy, Priority::Normal, Some(&calendar), on("24", "16:00"), &history, on("26", "12:00"));
    assert_eq!(cycles[0].hours, Hours::Business);
    assert_eq!(cycles[0].due_at, Some(on("28", "10:00")));
    assert_eq!(cycles[0].used_seconds, 3600);
    let later = measure(&policy, Priority::Normal, Some(&calendar), on("24", "16:00"), &history, on("28", "11:00"));
    assert_eq!(later[0].breached_at, Some(on("28", "10:00")));
}

#[test]
fn the_first_policy_that_covers_the_ticket_applies_and_says_why() {
    let urgent_only = PolicyDefinition {
        conditions: Conditions { priorities: vec![Priority::Urgent], ..Conditions::default() },
        schedule_id: None,
        targets: targets(Some(30), None, None),
    };
    let vip = PolicyDefinition {
        conditions: Conditions {
            tags: vec![Tag::parse("vip").unwrap()],
            channels: vec![Channel::Email, Channel::Chat],
            ..Conditions::default()
        },
        schedule_id: None,
        targets: targets(Some(60), None, None),
    };
    let everyone = PolicyDefinition {
        conditions: Conditions::default(),
        schedule_id: None,
        targets: targets(Some(240), None, None),
    };
    let policies =
        [(1, "Urgent".to_owned(), &urgent_only), (2, "VIP".to_owned(), &vip), (3, "All".to_owned(), &everyone)];
    let tags = [Tag::parse("billing").unwrap(), Tag::parse("vip").unwrap()];
    let ticket = TicketFacts { priority: Priority::Normal, channel: Channel::Email, team: None, tags: &tags };
    let choice = choose(&policies, &ticket);
    assert_eq!(choice.chosen, Some(1));
    assert_eq!(choice.matched, vec!["channel email is one of email, chat", "tag vip is one of vip"]);
    assert_eq!(choice.skipped.len(), 1);
    assert_eq!(choice.skipped[0].because, "priority normal is not one of urgent");

    let plain = TicketFacts { priority: Priority::Normal, channel: Channel::WebForm, team: None, tags: &[] };
    let choice = choose(&policies, &plain);
    assert_eq!(choice.chosen, Some(2));
    assert_eq!(choice.matched, vec!["the policy has no conditions: it covers every ticket"]);
    let team = TeamId::new();
    let teams = PolicyDefinition {
        conditions: Conditions { teams: vec![team], ..Conditions::default() },
        schedule_id: None,
        targets: targets(Some(60), None, None),
    };
    assert!(teams.covers(&plain).unwrap_err().contains("has no team"));
    assert!(teams.covers(&TicketFacts { team: Some(team), ..plain }).is_ok());
}

#[test]
fn a_policy_must_be_workable() {
    let valid = PolicyDefinition {
        conditions: Conditions::default(),
        schedule_id: None,
        targets: targets(Some(60), None, None),
    };
    assert!(valid.check().is_ok());
    let mut business = valid.clone();
    business.targets.first_reply.as_mut().unwrap().hours = Hours::Business;
    assert_eq!(business.check().unwrap_err().field, "schedule_id");
    business.schedule_id = Some(ScheduleId::new());
    assert!(business.check().is_ok());
    let mut open_pauses = valid.clone();
    open_pauses.targets.first_reply.as_mut().unwrap().pause_on = Some(vec![TicketStatus::Open]);
    assert!(open_pauses.check().is_err());
    let mut zero = valid.clone();
    zero.targets.first_reply.as_mut().unwrap().minutes.normal = Some(0);
    assert!(zero.check().is_err());
    let empty = PolicyDefinition { conditions: Conditions::default(), schedule_id: None, targets: Targets::default() };
    assert!(empty.check().is_err());
    let no_minutes = PolicyDefinition {
        targets: Targets {
            resolution: Some(Target { minutes: PerPriority::default(), hours: Hours::Calendar, pause_on: None }),
            ..Targets::default()
        },
        ..empty
    };
    assert!(no_minutes.check().is_err());
}

#[test]
fn a_message_on_a_solved_ticket_starts_its_clock_when_the_ticket_reopens() {
    // The message was written before the reopen was recorded (a mail parsed while an agent
    // solved the ticket): the customer waits from the reopen on.
    let history = [
        customer(at("10:00")),
        reply(at("10:10")),
        status(at("10:20"), TicketStatus::Solved),
        customer(at("10:25")),
        status(at("10:30"), TicketStatus::Open),
    ];
    let cycles =
        measure(&targets(Some(60), Some(60), None), Priority::Normal, None, at("10:00"), &history, at("10:40"));
    let next = only(&cycles, Metric::NextReply);
    assert_eq!(next.len(), 1, "{cycles:#?}");
    assert!(next[0].is_running());
    assert_eq!((next[0].started_at, next[0].due_at), (at("10:30"), Some(at("11:30"))));
    // Never reopened (an automated answer, an old import): no clock.
    let cycles =
        measure(&targets(Some(60), Some(60), None), Priority::Normal, None, at("10:00"), &history[..4], at("10:40"));
    assert!(only(&cycles, Metric::NextReply).is_empty());
}

#[test]
fn an_overdue_clock_stays_first_in_the_queue_but_needs_no_timer() {
    let cycles = measure(
        &targets(Some(60), None, Some(600)),
        Priority::Normal,
        None,
        at("10:00"),
        &[customer(at("10:00"))],
        at("12:00"),
    );
    assert_eq!(soonest_due(&cycles), Some(at("11:00")), "the breached first reply is the most urgent");
    assert_eq!(next_due(&cycles), Some(at("20:00")), "the timer waits for the resolution");
}

#[test]
fn business_targets_stay_within_reach() {
    let mut policy = PolicyDefinition {
        conditions: Conditions::default(),
        schedule_id: Some(ScheduleId::new()),
        targets: targets(Some(60), None, None),
    };
    policy.targets.first_reply.as_mut().unwrap().hours = Hours::Business;
    policy.targets.first_reply.as_mut().unwrap().minutes.normal = Some(MAX_BUSINESS_MINUTES + 1);
    assert!(policy.check().is_err());
    policy.targets.first_reply.as_mut().unwrap().minutes.normal = Some(MAX_BUSINESS_MINUTES);
    assert!(policy.check().is_ok());
}
