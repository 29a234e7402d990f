//! Timers: fires due jobs (`braid_db::due_jobs`) within seconds of their time: SLA targets
//! being reached (`braid_db::sla::fire`, announced once as `ticket.sla_breached` however
//! many nodes run this), and follow-ups (`braid_db::follow_ups::fire`: snoozes ending,
//! reminders, teams' pending rules), satisfaction surveys (`braid_db::csat::fire`), and
//! offline agents' tickets re-queued (`braid_db::routing::requeue`).
//! Runs on every node; a job's lease
//! keeps two from taking it, and the ticket's thread lock keeps a breach from being
//! announced twice even if a lease runs out mid-job.

use std::time::Duration;

use braid_db::{Db, DbError, due_jobs};
use tokio::sync::watch;

const LEASE: chrono::Duration = chrono::Duration::minutes(1);
const BATCH: i64 = 50;
/// How often due jobs are looked for: well inside "to the minute".
const EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct Timers {
    pub db: Db,
    /// How satisfaction surveys' links are made.
    pub survey_links: braid_db::csat::Links,
}

impl Timers {
    pub async fn run(self, mut stopped: watch::Receiver<bool>) {
        loop {
            if let Err(error) = self.round().await {
                tracing::warn!(%error, "timers round failed; retrying");
            }
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = stopped.changed() => return,
            }
        }
    }

    async fn round(&self) -> Result<(), DbError> {
        let due = self.db.run(|conn| due_jobs::claim(conn, braid_db::now(), LEASE, BATCH)).await?;
        for job in due {
            match job.kind.as_str() {
                due_jobs::SLA => {
                    let ticket = job.subject.clone();
                    match self.db.run(move |conn| braid_db::sla::fire(conn, &job, braid_db::now())).await {
                        Ok(0) => {}
                        Ok(breaches) => tracing::info!(%ticket, breaches, "SLA targets breached"),
                        // The lease runs out and another round tries again.
                        Err(error) => tracing::warn!(%ticket, %error, "an SLA timer failed; retrying after its lease"),
                    }
                }
                braid_db::routing::REQUEUE => {
                    let agent = job.subject.clone();
                    match self.db.run(move |conn| braid_db::routing::requeue(conn, &job, braid_db::now())).await {
                        Ok(0) => {}
                        Ok(moved) => tracing::info!(%agent, moved, "an offline agent's tickets were re-queued"),
                        Err(error) => tracing::warn!(%agent, %error, "a re-queue failed; retrying after its lease"),
                    }
                }
                braid_db::routing::DRAIN => {
                    let agent = job.subject.clone();
                    match self.db.run(move |conn| braid_db::routing::drain(conn, &job, braid_db::now())).await {
                        Ok(0) => {}
                        Ok(routed) => {
                            tracing::info!(%agent, routed, "an agent came online; their teams' queues were routed")
                        }
                        Err(error) => {
                            tracing::warn!(%agent, %error, "routing the queues failed; retrying after its lease")
                        }
                    }
                }
                braid_db::csat::SURVEY => {
                    let (survey, links) = (job.subject.clone(), self.survey_links.clone());
                    match self.db.run(move |conn| braid_db::csat::fire(conn, &job, &links, braid_db::now())).await {
                        Ok("nothing") => {}
                        Ok(done) => tracing::info!(%survey, done, "a satisfaction survey fell due"),
                        Err(error) => tracing::warn!(%survey, %error, "a survey failed; retrying after its lease"),
                    }
                }
                _ => {
                    let (kind, subject) = (job.kind.clone(), job.subject.clone());
                    match self.db.run(move |conn| braid_db::follow_ups::fire(conn, &job, braid_db::now())).await {
                        Ok("nothing") => {}
                        Ok(done) => tracing::info!(%kind, %subject, done, "a follow-up fell due"),
                        Err(error) => {
                            tracing::warn!(%kind, %subject, %error, "a follow-up failed; retrying after its lease")
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
