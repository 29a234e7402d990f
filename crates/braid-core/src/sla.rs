//! Service levels: which policy covers a ticket and why, and the clocks its targets run
//! on, derived from the ticket's history alone (so they can always be recomputed). The
//! definitions users rely on are in `docs/sla.md`; in short:
//!
//! - **first reply** starts at the customer's first message, unless an agent wrote
//!   first, and stops at the first agent's public reply;
//! - **next reply** starts at a customer's message when no reply clock runs, and stops at
//!   the next agent's public reply;
//! - **resolution** starts when the ticket opens and stops while it is solved (a reopen
//!   resumes it, the solved time not counted);
//! - solving a ticket stops its reply clocks without a breach; a target pauses while the
//!   ticket is in one of its pausing statuses; notes and automated mail are not replies.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::schedule::{Basis, Calendar};
use crate::{Channel, InvalidValue, Priority, ScheduleId, Tag, TeamId, TicketStatus, text_enum};

/// The longest target: a year.
pub const MAX_TARGET_MINUTES: u32 = 366 * 24 * 60;
/// The longest target in business hours: 1,000 working hours (25 weeks of 40 hours), so a
/// due time lies within the years the arithmetic searches.
pub const MAX_BUSINESS_MINUTES: u32 = 1000 * 60;
/// Values a condition may list at most.
pub const MAX_CONDITION_VALUES: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    FirstReply,
    NextReply,
    Resolution,
}

text_enum!(Metric, "metric", { FirstReply => "first_reply", NextReply => "next_reply", Resolution => "resolution" });

/// How a target's time is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hours {
    #[default]
    Calendar,
    Business,
}

/// Minutes allowed per priority; a priority left out has no target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerPriority {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgent: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normal: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<u32>,
}

impl PerPriority {
    pub fn get(&self, priority: Priority) -> Option<u32> {
        match priority {
            Priority::Urgent => self.urgent,
            Priority::High => self.high,
            Priority::Normal => self.normal,
            Priority::Low => self.low,
        }
    }
}

/// One target of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub minutes: PerPriority,
    #[serde(default)]
    pub hours: Hours,
    /// Statuses in which this target's clock stands still. Left out: `pending` and
    /// `on_hold` for next reply and resolution, none for first reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_on: Option<Vec<TicketStatus>>,
}

impl Target {
    fn pauses(&self, metric: Metric) -> Vec<TicketStatus> {
        match (&self.pause_on, metric) {
            (Some(statuses), _) => statuses.clone(),
            (None, Metric::FirstReply) => vec![],
            (None, _) => vec![TicketStatus::Pending, TicketStatus::OnHold],
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_reply: Option<Target>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_reply: Option<Target>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Target>,
}

impl Targets {
    pub fn of(&self, metric: Metric) -> Option<&Target> {
        match metric {
            Metric::FirstReply => self.first_reply.as_ref(),
            Metric::NextReply => self.next_reply.as_ref(),
            Metric::Resolution => self.resolution.as_ref(),
        }
    }
}

/// Which tickets a policy covers: every list given must hold the ticket's value (for
/// tags: one of the ticket's tags); an empty list is no condition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub priorities: Vec<Priority>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<Channel>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<TeamId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

/// A policy as written, checked by [`PolicyDefinition::check`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDefinition {
    pub conditions: Conditions,
    /// The business hours targets counted in `business` hours use.
    pub schedule_id: Option<ScheduleId>,
    pub targets: Targets,
}

impl PolicyDefinition {
    pub fn check(&self) -> Result<(), InvalidValue> {
        let c = &self.conditions;
        if [c.priorities.len(), c.channels.len(), c.teams.len(), c.tags.len()].iter().any(|n| *n > MAX_CONDITION_VALUES)
        {
            return Err(InvalidValue::new(
                "conditions",
                format!("a condition lists at most {MAX_CONDITION_VALUES} values"),
            ));
        }
        let mut any = false;
        for metric in Metric::ALL {
            let Some(target) = self.targets.of(*metric) else { continue };
            let minutes = target.minutes;
            for value in [minutes.urgent, minutes.high, minutes.normal, minutes.low].into_iter().flatten() {
                if value == 0 || value > MAX_TARGET_MINUTES {
                    return Err(InvalidValue::new(
                        "targets",
                        format!("{metric}: a target is 1 to {MAX_TARGET_MINUTES} minutes"),
                    ));
                }
                any = true;
            }
            if target.hours == Hours::Business
                && [minutes.urgent, minutes.high, minutes.normal, minutes.low]
                    .into_iter()
                    .flatten()
                    .any(|m| m > MAX_BUSINESS_MINUTES)
            {
                return Err(InvalidValue::new(
                    "targets",
                    format!("{metric}: a target in business hours is at most {MAX_BUSINESS_MINUTES} minutes"),
                ));
            }
            if target.hours == Hours::Business && self.schedule_id.is_none() {
                return Err(InvalidValue::new(
                    "schedule_id",
                    format!("{metric} counts business hours: name a schedule"),
                ));
            }
            if let Some(statuses) = &target.pause_on
                && let Some(status) =
                    statuses.iter().find(|s| !matches!(s, TicketStatus::Pending | TicketStatus::OnHold))
            {
                return Err(InvalidValue::new(
                    "targets",
                    format!("{metric}: only pending and on_hold can pause a clock, not {status}"),
                ));
            }
        }
        if !any {
            return Err(InvalidValue::new("targets", "a policy needs at least one target"));
        }
        Ok(())
    }

    /// Whether the policy covers the ticket: `Ok` with each condition it met, in words,
    /// or `Err` with the first it did not.
    pub fn covers(&self, ticket: &TicketFacts<'_>) -> Result<Vec<String>, String> {
        let c = &self.conditions;
        let mut met = vec![];
        let list = |values: &[String]| values.join(", ");
        if !c.priorities.is_empty() {
            let names: Vec<String> = c.priorities.iter().map(|p| p.to_string()).collect();
            if !c.priorities.contains(&ticket.priority) {
                return Err(format!("priority {} is not one of {}", ticket.priority, list(&names)));
            }
            met.push(format!("priority {} is one of {}", ticket.priority, list(&names)));
        }
        if !c.channels.is_empty() {
            let names: Vec<String> = c.channels.iter().map(|p| p.to_string()).collect();
            if !c.channels.contains(&ticket.channel) {
                return Err(format!("channel {} is not one of {}", ticket.channel, list(&names)));
            }
            met.push(format!("channel {} is one of {}", ticket.channel, list(&names)));
        }
        if !c.teams.is_empty() {
            let names: Vec<String> = c.teams.iter().map(|p| p.to_string()).collect();
            match ticket.team {
                Some(team) if c.teams.contains(&team) => met.push(format!("team {team} is one of {}", list(&names))),
                Some(team) => return Err(format!("team {team} is not one of {}", list(&names))),
                None => return Err(format!("the ticket has no team; the policy needs one of {}", list(&names))),
            }
        }
        if !c.tags.is_empty() {
            let names: Vec<String> = c.tags.iter().map(|p| p.as_str().to_owned()).collect();
            match ticket.tags.iter().find(|tag| c.tags.contains(tag)) {
                Some(tag) => met.push(format!("tag {} is one of {}", tag.as_str(), list(&names))),
                None => return Err(format!("no tag of the ticket is one of {}", list(&names))),
            }
        }
        if met.is_empty() {
            met.push("the policy has no conditions: it covers every ticket".to_owned());
        }
        Ok(met)
    }
}

/// What a policy's conditions look at.
#[derive(Debug, Clone, Copy)]
pub struct TicketFacts<'a> {
    pub priority: Priority,
    pub channel: Channel,
    pub team: Option<TeamId>,
    pub tags: &'a [Tag],
}

/// Why the chosen policy applies, and why the ones before it did not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice<Id> {
    /// Index of the chosen policy in the list given to [`choose`].
    #[serde(skip)]
    pub chosen: Option<usize>,
    pub matched: Vec<String>,
    pub skipped: Vec<Skipped<Id>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped<Id> {
    pub policy_id: Id,
    pub name: String,
    pub because: String,
}

/// The first policy, in the order given, that covers the ticket.
pub fn choose<Id: Clone>(policies: &[(Id, String, &PolicyDefinition)], ticket: &TicketFacts<'_>) -> Choice<Id> {
    let mut skipped = vec![];
    for (i, (id, name, policy)) in policies.iter().enumerate() {
        match policy.covers(ticket) {
            Ok(matched) => return Choice { chosen: Some(i), matched, skipped },
            Err(because) => skipped.push(Skipped { policy_id: id.clone(), name: name.clone(), because }),
        }
    }
    Choice { chosen: None, matched: vec![], skipped }
}

/// What happened on a ticket that moves its clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Happening {
    /// A message from the customer, on any channel.
    CustomerMessage,
    /// An agent's public reply (not a note, not automated mail).
    AgentReply,
    /// The ticket moved to this status.
    Status(TicketStatus),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment {
    pub at: DateTime<Utc>,
    pub what: Happening,
}

/// Why a clock stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    Replied,
    Solved,
}

/// A stretch of time a clock stood still, and the status that held it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    pub status: TicketStatus,
}

/// One run of one target's clock: a first reply, one of the next replies, the resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cycle {
    pub metric: Metric,
    pub hours: Hours,
    pub target_minutes: u32,
    pub started_at: DateTime<Utc>,
    /// When the target is (or was, or would have been when the clock stopped) reached;
    /// `None` while paused, since it moves until the clock runs again.
    pub due_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub stopped_by: Option<Stop>,
    pub paused: Vec<Pause>,
    /// Counted time the clock ran, up to its stop or to now, in seconds.
    pub used_seconds: i64,
    /// When the target was missed; `None` when it was met or still can be.
    pub breached_at: Option<DateTime<Utc>>,
}

impl Cycle {
    pub fn is_running(&self) -> bool {
        self.stopped_at.is_none() && self.paused.last().is_none_or(|pause| pause.until.is_some())
    }

    /// The identity of a cycle across recomputations: its metric and start.
    pub fn key(&self) -> (Metric, DateTime<Utc>) {
        (self.metric, self.started_at)
    }
}

/// A clock being replayed: the intervals it ran.
struct Run {
    metric: Metric,
    started_at: DateTime<Utc>,
    running: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>,
    paused: Vec<Pause>,
    stopped: Option<(DateTime<Utc>, Stop)>,
    pauses_on: Vec<TicketStatus>,
}

impl Run {
    fn new(metric: Metric, at: DateTime<Utc>, status: TicketStatus, pauses_on: Vec<TicketStatus>) -> Self {
        let mut run = Self { metric, started_at: at, running: vec![], paused: vec![], stopped: None, pauses_on };
        run.status(at, status);
        run
    }

    fn is_moving(&self) -> bool {
        self.running.last().is_some_and(|(_, until)| until.is_none())
    }

    /// The ticket is now in `status`: run, pause or hold still accordingly.
    fn status(&mut self, at: DateTime<Utc>, status: TicketStatus) {
        let should_run = status.is_unsolved() && !self.pauses_on.contains(&status);
        if self.is_moving()
            && !should_run
            && let Some((_, until)) = self.running.last_mut()
        {
            *until = Some(at);
        }
        if let Some(pause) = self.paused.last_mut()
            && pause.until.is_none()
            && pause.status != status
        {
            pause.until = Some(at);
        }
        if !status.is_unsolved() {
            // Solved (or closed): the clock stops; a reopen resumes it (resolution only).
            if self.stopped.is_none() {
                self.stopped = Some((at, Stop::Solved));
            }
            return;
        }
        if let Some((stopped_at, Stop::Solved)) = self.stopped {
            self.stopped = None;
            self.paused.push(Pause { from: stopped_at, until: Some(at), status: TicketStatus::Solved });
        }
        if should_run && !self.is_moving() {
            self.running.push((at, None));
        } else if !should_run && self.paused.last().is_none_or(|p| p.until.is_some()) {
            self.paused.push(Pause { from: at, until: None, status });
        }
    }

    fn stop(&mut self, at: DateTime<Utc>, why: Stop) {
        if let Some((_, until)) = self.running.last_mut()
            && until.is_none()
        {
            *until = Some(at);
        }
        if let Some(pause) = self.paused.last_mut()
            && pause.until.is_none()
        {
            pause.until = Some(at);
        }
        self.stopped = Some((at, why));
    }

    fn finish(mut self, target: &Target, priority: Priority, basis: Basis<'_>, now: DateTime<Utc>) -> Option<Cycle> {
        self.paused.retain(|pause| pause.until != Some(pause.from));
        let minutes = target.minutes.get(priority)?;
        let goal = Duration::minutes(i64::from(minutes));
        let mut used = Duration::zero();
        let mut breached_at = None;
        let mut last_start = None;
        for (from, until) in &self.running {
            let until = until.unwrap_or(now).min(now).max(*from);
            let counted = basis.between(*from, until);
            if breached_at.is_none() && used + counted >= goal {
                breached_at = basis.add(*from, goal - used).filter(|at| *at <= now);
            }
            used += counted;
            last_start = Some(*from);
        }
        let due_at = match (breached_at, &self.stopped) {
            (Some(at), _) => Some(at),
            (None, Some((stopped_at, _))) => basis.add(*stopped_at, goal - used),
            (None, None) if self.is_moving() => basis.add(now.max(last_start.unwrap_or(now)), goal - used),
            (None, None) => None,
        };
        Some(Cycle {
            metric: self.metric,
            hours: target.hours,
            target_minutes: minutes,
            started_at: self.started_at,
            due_at,
            stopped_at: self.stopped.map(|(at, _)| at),
            stopped_by: self.stopped.map(|(_, why)| why),
            paused: self.paused,
            used_seconds: used.num_seconds(),
            breached_at,
        })
    }
}

/// Replays a ticket's history against a policy's targets and returns every clock cycle,
/// as it stands at `now`. `calendar` is the policy's schedule (needed by targets counted
/// in business hours; without it they count calendar time). `history` is in time order;
/// the ticket opened `open` at `opened_at`.
pub fn measure(
    targets: &Targets,
    priority: Priority,
    calendar: Option<&Calendar>,
    opened_at: DateTime<Utc>,
    history: &[Moment],
    now: DateTime<Utc>,
) -> Vec<Cycle> {
    let pauses = |metric: Metric| targets.of(metric).map(|t| t.pauses(metric)).unwrap_or_default();
    // At one instant, a reopen comes before the message that caused it, and a reply
    // before the solve it came with.
    let rank = |what: Happening| match what {
        Happening::Status(to) if to.is_unsolved() => 0,
        Happening::CustomerMessage => 1,
        Happening::AgentReply => 2,
        Happening::Status(_) => 3,
    };
    let mut history = history.to_vec();
    history.sort_by_key(|moment| (moment.at, rank(moment.what)));
    let mut status = TicketStatus::Open;
    let mut resolution = Run::new(Metric::Resolution, opened_at, status, pauses(Metric::Resolution));
    let mut replies: Vec<Run> = vec![];
    let (mut agent_wrote, mut waiting) = (false, false);
    for moment in &history {
        let at = moment.at.max(opened_at).min(now);
        let reply_running = replies.last().is_some_and(|run| run.stopped.is_none());
        match moment.what {
            // On a solved ticket the customer waits from when it reopens (if it does).
            Happening::CustomerMessage if !reply_running && !status.is_unsolved() => waiting = true,
            Happening::CustomerMessage if !reply_running => {
                let metric = if agent_wrote || !replies.is_empty() { Metric::NextReply } else { Metric::FirstReply };
                replies.push(Run::new(metric, at, status, pauses(metric)));
            }
            Happening::CustomerMessage => {}
            Happening::AgentReply => {
                (agent_wrote, waiting) = (true, false);
                if let Some(run) = replies.last_mut().filter(|run| run.stopped.is_none()) {
                    run.stop(at, Stop::Replied);
                }
            }
            Happening::Status(to) => {
                status = to;
                resolution.status(at, to);
                if let Some(run) = replies.last_mut().filter(|run| run.stopped.is_none()) {
                    if to.is_unsolved() { run.status(at, to) } else { run.stop(at, Stop::Solved) }
                } else if waiting && to.is_unsolved() {
                    let metric =
                        if agent_wrote || !replies.is_empty() { Metric::NextReply } else { Metric::FirstReply };
                    replies.push(Run::new(metric, at, status, pauses(metric)));
                }
                if !to.is_unsolved() || replies.last().is_some_and(|run| run.stopped.is_none()) {
                    waiting = false;
                }
            }
        }
    }
    let basis = |target: &Target| match (target.hours, calendar) {
        (Hours::Business, Some(calendar)) => Basis::Business(calendar),
        _ => Basis::Calendar,
    };
    let mut cycles: Vec<Cycle> = replies
        .into_iter()
        .filter_map(|run| {
            let target = targets.of(run.metric)?;
            run.finish(target, priority, basis(target), now)
        })
        .collect();
    if let Some(target) = targets.of(Metric::Resolution) {
        cycles.extend(resolution.finish(target, priority, basis(target), now));
    }
    cycles.sort_by_key(|cycle| (cycle.started_at, cycle.metric));
    cycles
}

/// The next instant a running clock reaches its target, if any will: when a timer must
/// announce a breach.
pub fn next_due(cycles: &[Cycle]) -> Option<DateTime<Utc>> {
    cycles.iter().filter(|c| c.is_running() && c.breached_at.is_none()).filter_map(|c| c.due_at).min()
}

/// The soonest due time of a running clock, breached ones included (in the past): what a
/// queue sorted by urgency puts first.
pub fn soonest_due(cycles: &[Cycle]) -> Option<DateTime<Utc>> {
    cycles.iter().filter(|c| c.is_running()).filter_map(|c| c.due_at).min()
}

#[cfg(test)]
mod tests;
