//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::settings::Overrides;

/// Braid: omnichannel support ticketing, one conversation thread per customer.
#[derive(Debug, Parser)]
#[command(name = "braid", version, about)]
pub struct Cli {
    /// Settings file [default: ./braid.toml when present] (env: BRAID_CONFIG).
    #[arg(long, global = true, env = "BRAID_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on, host:port (env: BRAID_LISTEN) [default: 127.0.0.1:8080].
    #[arg(long, global = true, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Directory for the SQLite database and files (env: BRAID_DATA_DIR) [default: ./data].
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// postgres://… or sqlite://path (env: BRAID_DATABASE_URL) [default: sqlite://<data-dir>/braid.db].
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// redis://… (env: BRAID_REDIS_URL) [default: none, no Redis].
    #[arg(long, global = true, value_name = "URL")]
    pub redis_url: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (migrates first; creates an admin on an empty database).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage agents.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Print the OpenAPI document (JSON) to standard output.
    Openapi,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin, or reset an existing agent with that email to an active admin
    /// with this password.
    Create {
        #[arg(long)]
        email: String,
        /// At least 12 characters.
        #[arg(long)]
        password: String,
        #[arg(long, default_value = "Administrator")]
        name: String,
    },
}

impl Cli {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen.clone(),
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            redis_url: self.redis_url.clone(),
        }
    }
}
