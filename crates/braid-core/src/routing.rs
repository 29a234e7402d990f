//! Routing: which agent of a team takes a ticket, and what agents' presence means. A team
//! routes by hand (`manual`), in turn (`round_robin`), or to whoever has the most room
//! (`least_loaded`: open tickets on the ticket's channel against a capacity per channel).
//! Only agents online now take tickets; every decision says why in words.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::{AgentId, Channel, InvalidValue, text_enum};

/// A heartbeat (or the agent stream's socket) keeps an agent online this long.
pub const LEASE: Duration = Duration::seconds(90);
/// An agent whose lease lapsed is away; this long after, offline.
pub const OFFLINE_AFTER_LAPSE: Duration = Duration::minutes(10);
pub const MAX_CAPACITY: u32 = 1000;
pub const MAX_GRACE_MINUTES: u32 = 24 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Manual,
    RoundRobin,
    LeastLoaded,
}

text_enum!(Mode, "mode", { Manual => "manual", RoundRobin => "round_robin", LeastLoaded => "least_loaded" });

/// What happens to an offline agent's tickets waiting on us once the grace period ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OfflinePolicy {
    /// Routed again, to someone online.
    #[default]
    Reassign,
    /// Back to the team's queue, unassigned.
    Unassign,
    /// Left with the agent.
    Keep,
}

text_enum!(OfflinePolicy, "offline_policy", { Reassign => "reassign", Unassign => "unassign", Keep => "keep" });

/// A team's routing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    #[serde(default)]
    pub mode: Mode,
    /// Open tickets an agent takes per channel; channels left out take `default_capacity`.
    #[serde(default)]
    pub capacity: BTreeMap<Channel, u32>,
    #[serde(default = "default_capacity")]
    pub default_capacity: u32,
    #[serde(default)]
    pub offline_policy: OfflinePolicy,
    /// How long an agent may stay offline before their tickets are re-queued.
    #[serde(default = "default_grace")]
    pub grace_minutes: u32,
}

fn default_capacity() -> u32 {
    20
}

fn default_grace() -> u32 {
    15
}

impl Default for Routing {
    fn default() -> Self {
        Routing {
            mode: Mode::Manual,
            capacity: BTreeMap::new(),
            default_capacity: default_capacity(),
            offline_policy: OfflinePolicy::Reassign,
            grace_minutes: default_grace(),
        }
    }
}

impl Routing {
    pub fn check(self) -> Result<Self, InvalidValue> {
        let capacities = self.capacity.values().chain(std::iter::once(&self.default_capacity));
        if capacities.into_iter().any(|c| *c > MAX_CAPACITY) {
            return Err(InvalidValue::new("routing", format!("a capacity is 0 to {MAX_CAPACITY}")));
        }
        if self.grace_minutes > MAX_GRACE_MINUTES {
            return Err(InvalidValue::new("routing", format!("grace_minutes is at most {MAX_GRACE_MINUTES}")));
        }
        Ok(self)
    }

    pub fn capacity_on(&self, channel: Channel) -> u32 {
        self.capacity.get(&channel).copied().unwrap_or(self.default_capacity)
    }
}

/// The installation's routing: which team a new ticket joins by the channel it came on,
/// so tickets that arrive by email, chat, a form or a connector are routed too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSettings {
    #[serde(default)]
    pub default_teams: BTreeMap<Channel, crate::TeamId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Online,
    Away,
    Offline,
}

text_enum!(Presence, "status", { Online => "online", Away => "away", Offline => "offline" });

/// An agent's presence as it is at `now`: online only while the lease holds; a lapsed
/// lease is away, and offline once it has lapsed for [`OFFLINE_AFTER_LAPSE`].
pub fn effective(stored: Presence, lease_until: DateTime<Utc>, now: DateTime<Utc>) -> Presence {
    match stored {
        Presence::Offline => Presence::Offline,
        _ if now >= lease_until + OFFLINE_AFTER_LAPSE => Presence::Offline,
        Presence::Online if now >= lease_until => Presence::Away,
        other => other,
    }
}

/// A team member as routing sees them, in the team's member order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub agent: AgentId,
    pub presence: Presence,
    /// Their unsolved tickets on the ticket's channel, and on all channels.
    pub load: u32,
    pub total_load: u32,
}

/// Who takes a ticket, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub agent: Option<AgentId>,
    pub reason: String,
}

/// Chooses among `candidates` for a ticket on `channel`; `after` is whom the team's turn
/// last went to (round robin starts past them); `excluded` never gets it (the agent a
/// ticket is being taken from).
pub fn choose(
    routing: &Routing,
    channel: Channel,
    candidates: &[Candidate],
    after: Option<AgentId>,
    excluded: Option<AgentId>,
) -> Decision {
    let capacity = routing.capacity_on(channel);
    let able: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| Some(c.agent) != excluded && c.presence == Presence::Online && c.load < capacity)
        .collect();
    let online = candidates.iter().filter(|c| c.presence == Presence::Online && Some(c.agent) != excluded).count();
    let Some(first) = able.first() else {
        let reason = match (candidates.len(), online) {
            (0, _) => "the team has no active members".to_owned(),
            (_, 0) => "no member of the team is online".to_owned(),
            _ => format!("every online member is at capacity ({capacity} on {channel})"),
        };
        return Decision { agent: None, reason };
    };
    match routing.mode {
        Mode::Manual => Decision { agent: None, reason: "the team routes by hand".into() },
        Mode::RoundRobin => {
            // The first able member after the last one served, in member order, wrapping.
            let start = after.and_then(|last| candidates.iter().position(|c| c.agent == last)).map_or(0, |i| i + 1);
            let turn = (0..candidates.len())
                .map(|k| &candidates[(start + k) % candidates.len()])
                .find(|c| able.iter().any(|a| a.agent == c.agent))
                .unwrap_or(first);
            Decision {
                agent: Some(turn.agent),
                reason: format!("round robin: next online member with room ({} of {capacity} on {channel})", turn.load),
            }
        }
        Mode::LeastLoaded => {
            let least = able.iter().min_by_key(|c| (c.load, c.total_load)).copied().unwrap_or(first);
            Decision {
                agent: Some(least.agent),
                reason: format!(
                    "least loaded: {} of {capacity} open on {channel}, the fewest among {} online with room",
                    least.load,
                    able.len()
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agents(n: usize) -> Vec<AgentId> {
        let mut ids: Vec<AgentId> = (0..n).map(|_| AgentId::new()).collect();
        ids.sort();
        ids
    }

    fn candidate(agent: AgentId, load: u32) -> Candidate {
        Candidate { agent, presence: Presence::Online, load, total_load: load }
    }

    fn routing(mode: Mode, capacity: u32) -> Routing {
        Routing { mode, default_capacity: capacity, ..Routing::default() }
    }

    #[test]
    fn least_loaded_takes_the_emptiest_online_member_with_room() {
        let ids = agents(3);
        let mut team = vec![candidate(ids[0], 3), candidate(ids[1], 1), candidate(ids[2], 0)];
        team[2].presence = Presence::Away;
        let chosen = choose(&routing(Mode::LeastLoaded, 5), Channel::Email, &team, None, None);
        assert_eq!(chosen.agent, Some(ids[1]), "{}", chosen.reason);
        assert!(chosen.reason.contains("1 of 5"), "{}", chosen.reason);
        team[1].load = 5;
        let chosen = choose(&routing(Mode::LeastLoaded, 5), Channel::Email, &team, None, None);
        assert_eq!(chosen.agent, Some(ids[0]), "at capacity is out");
    }

    #[test]
    fn round_robin_goes_past_the_last_served_and_skips_who_cannot_take_it() {
        let ids = agents(3);
        let team: Vec<_> = ids.iter().map(|id| candidate(*id, 0)).collect();
        let rr = routing(Mode::RoundRobin, 5);
        assert_eq!(choose(&rr, Channel::Chat, &team, None, None).agent, Some(ids[0]));
        assert_eq!(choose(&rr, Channel::Chat, &team, Some(ids[0]), None).agent, Some(ids[1]));
        assert_eq!(choose(&rr, Channel::Chat, &team, Some(ids[2]), None).agent, Some(ids[0]), "wraps");
        assert_eq!(
            choose(&rr, Channel::Chat, &team, Some(ids[0]), Some(ids[1])).agent,
            Some(ids[2]),
            "skips the excluded"
        );
    }

    #[test]
    fn nobody_takes_it_and_the_reason_says_why() {
        let ids = agents(2);
        let lr = routing(Mode::LeastLoaded, 1);
        assert!(choose(&lr, Channel::Email, &[], None, None).reason.contains("no active members"));
        let away: Vec<_> = ids.iter().map(|id| Candidate { presence: Presence::Away, ..candidate(*id, 0) }).collect();
        assert!(choose(&lr, Channel::Email, &away, None, None).reason.contains("no member of the team is online"));
        let full: Vec<_> = ids.iter().map(|id| candidate(*id, 1)).collect();
        let decision = choose(&lr, Channel::Email, &full, None, None);
        assert_eq!(decision.agent, None);
        assert!(decision.reason.contains("capacity (1 on email)"), "{}", decision.reason);
        assert_eq!(choose(&routing(Mode::Manual, 5), Channel::Email, &full[..0], None, None).agent, None);
    }

    #[test]
    fn capacity_is_per_channel() {
        let mut r = routing(Mode::LeastLoaded, 10);
        r.capacity.insert(Channel::Chat, 2);
        assert_eq!((r.capacity_on(Channel::Chat), r.capacity_on(Channel::Email)), (2, 10));
        assert!(Routing { grace_minutes: MAX_GRACE_MINUTES + 1, ..Routing::default() }.check().is_err());
        assert!(Routing { default_capacity: MAX_CAPACITY + 1, ..Routing::default() }.check().is_err());
        let parsed: Routing =
            serde_json::from_value(serde_json::json!({"mode": "least_loaded", "capacity": {"chat": 3}})).unwrap();
        assert_eq!((parsed.capacity_on(Channel::Chat), parsed.grace_minutes), (3, 15));
    }

    #[test]
    fn presence_lapses_to_away_then_offline() {
        let now = Utc::now();
        assert_eq!(effective(Presence::Online, now + LEASE, now), Presence::Online);
        assert_eq!(effective(Presence::Online, now - Duration::seconds(1), now), Presence::Away);
        assert_eq!(effective(Presence::Away, now + LEASE, now), Presence::Away);
        assert_eq!(effective(Presence::Online, now - OFFLINE_AFTER_LAPSE, now), Presence::Offline);
        assert_eq!(effective(Presence::Offline, now + LEASE, now), Presence::Offline);
    }
}
