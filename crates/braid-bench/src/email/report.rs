//! What an email run prints: its table and tallies, the machine's CPU use over the run,
//! and emails/s beside pgbench's tps.

use super::pgbench::PgbenchResult;
use super::send::Outcome;
use crate::report::Table;
use crate::stats::Tally;

/// The machine's cumulative CPU times from /proc/stat, in ticks.
#[derive(Debug, Clone, Copy)]
pub struct CpuTimes {
    /// user, nice, system, irq and softirq.
    busy: u64,
    iowait: u64,
    /// Time the hypervisor gave this VM's CPUs to someone else.
    steal: u64,
    total: u64,
}

pub fn cpu_times() -> Option<CpuTimes> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let fields: Vec<u64> = line.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let [user, nice, system, idle, iowait, irq, softirq, steal] = fields.get(..8)?.try_into().ok()?;
    let busy = user + nice + system + irq + softirq;
    Some(CpuTimes { busy, iowait, steal, total: busy + idle + iowait + steal })
}

/// Busy, iowait and steal over the interval, in % of all cores.
pub fn cpu_use(before: CpuTimes, after: CpuTimes) -> (f64, f64, f64) {
    let total = after.total.saturating_sub(before.total).max(1) as f64;
    let share = |a: u64, b: u64| b.saturating_sub(a) as f64 * 100.0 / total;
    (share(before.busy, after.busy), share(before.iowait, after.iowait), share(before.steal, after.steal))
}

/// The timed run's table, then what was sent and what the answers said.
pub fn print_email_report(o: &Outcome, concurrency: u64) {
    let mut table =
        Table::new(["scenario", "c", "emails", "errors", "emails/s", "p50 ms", "p95 ms", "p99 ms", "max ms"], 1);
    table.row(["inbound email".to_owned(), concurrency.to_string()].into_iter().chain(o.tally.figures()));
    println!();
    print!("{}", table.compact());
    println!();
    println!(
        "sent: {} first messages, {} replies ({} with a [#number] tag), {} multipart with HTML · wall clock {:.2} s",
        o.first_messages,
        o.replies,
        o.tagged,
        o.html,
        o.tally.elapsed.as_secs_f64()
    );
    println!(
        "answers: {} × 201 created, {} × 200 duplicate, {} malformed · replies on their first message's ticket: {} \
         (elsewhere: {}) · under another customer: {}",
        o.created, o.duplicates, o.malformed, o.threaded, o.misthreaded, o.wrong_customer
    );
    println!(
        "waits for a parent's answer: {} ({:.2} s in all) · ticket-number look-ups: {} ({:.2} s in all, outside the \
         latency)",
        o.parent_waits,
        o.parent_wait.as_secs_f64(),
        o.lookups,
        o.lookup_time.as_secs_f64()
    );
    if let Some((busy, iowait, steal)) = o.cpu {
        println!(
            "machine CPU during the run (/proc/stat, all cores): {busy:.0}% busy, {iowait:.0}% iowait, {steal:.0}% \
             stolen by the hypervisor"
        );
    }
    o.tally.print_errors("emails");
}

/// The timed email run beside pgbench's tps at each client count.
pub fn print_side_by_side(email: &Tally, concurrency: u64, pgbench: &[PgbenchResult]) {
    let mut table = Table::new(
        ["c", "emails/s", "p50 ms", "p95 ms", "p99 ms", "errors"]
            .map(str::to_owned)
            .into_iter()
            .chain(pgbench.iter().map(|r| format!("pgbench tps, c={}", r.clients))),
        0,
    );
    let latency = [0.50, 0.95, 0.99].map(|q| format!("{:.2}", email.millis_at(q)));
    table.row(
        [concurrency.to_string(), format!("{:.1}", email.rate())]
            .into_iter()
            .chain(latency)
            .chain([email.error_count().to_string()])
            .chain(pgbench.iter().map(|r| format!("{:.1}", r.tps))),
    );
    println!();
    print!("{}", table.compact());
}
