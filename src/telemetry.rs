//! Logging through `tracing`: readable lines by default, one JSON object per line with
//! `BRAID_LOG_FORMAT=json`. Logs go to standard error, so `braid openapi > file` stays
//! clean. Each HTTP request is one span carrying its `request_id`.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::settings::{LogFormat, Settings};

pub fn init(settings: &Settings) {
    let filter = EnvFilter::try_new(&settings.log).unwrap_or_else(|error| {
        eprintln!("braid: ignoring invalid log filter `{}`: {error}", settings.log);
        EnvFilter::new("info")
    });
    // A request's span closing is its access-log line: method, route, status, latency.
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_span_events(FmtSpan::CLOSE);
    let installed = match settings.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
    };
    // A second init (tests start many apps in one process) keeps the first subscriber.
    drop(installed);
}
