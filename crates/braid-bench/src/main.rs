//! `braid-bench`: seed a migrated Braid database with synthetic data, then measure a
//! running Braid server over HTTP. See `docs/benchmarks.md` and `docs/benchmarks-email.md`.

mod chat;
mod connector;
mod db;
mod email;
mod feed;
mod http;
mod report;
mod rng;
mod run;
mod seed;
mod stats;
mod webhooks;

use clap::{Parser, Subcommand};

/// The database both subcommands use unless told otherwise.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/braid_bench";

/// Seed a Braid database with synthetic data and benchmark a running Braid server.
#[derive(Debug, Parser)]
#[command(name = "braid-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fill an empty Braid database with customers, threads, tickets and messages.
    Seed(seed::SeedArgs),
    /// Drive a running Braid server and print requests/s and latency percentiles.
    Run(run::RunArgs),
    /// Post realistic raw emails to a running Braid's inbound endpoint and print emails/s
    /// and latency percentiles; optionally run pgbench for comparison.
    Email(email::EmailArgs),
    /// Open many visitor sockets and time a chat message from a visitor's socket to the
    /// agents' live stream, on one node or two; and the memory of an idle socket.
    Chat(chat::ChatArgs),
    /// Fill a PostgreSQL event log to a million events and time the sync feed
    /// (`GET /v1/events`): one follower from the start, random readers, and the feed's
    /// query straight on the database beside them.
    Feed(feed::FeedArgs),
    /// Deliver synthetic events as webhooks to a local receiver and print deliveries/s
    /// beside the receiver's own capacity.
    Webhooks(webhooks::WebhooksArgs),
    /// Post connector messages through a connector's key and print messages/s beside
    /// inbound email's in the same run.
    Connector(connector::ConnectorArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Seed(args) => seed::seed(&args),
        Command::Run(args) => run::run(args),
        Command::Email(args) => email::email(args),
        Command::Chat(args) => chat::chat(args),
        Command::Feed(args) => feed::feed(args),
        Command::Webhooks(args) => webhooks::webhooks(args),
        Command::Connector(args) => connector::connector(args),
    }
}
