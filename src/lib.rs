//! The `braid` binary's library half: settings, the command line, start-up and logging.
//! `main.rs` only parses the command line and dispatches here, so the tests start the
//! very same application the binary does.

pub mod cli;
pub mod commands;
pub mod settings;
pub mod startup;
pub mod telemetry;
pub mod workers;

pub use settings::Settings;
pub use startup::Application;
