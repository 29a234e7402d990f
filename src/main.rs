//! `braid`: parse the command line, load settings, dispatch.

use std::process::ExitCode;

use braid::cli::{AdminCommand, Cli, Command};
use braid::{Settings, commands, telemetry};
use clap::Parser;

/// glibc's allocator took a tenth of the server's CPU under load (docs/benchmarks-email.md);
/// mimalloc is faster with many threads allocating small, short-lived buffers.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref(), &cli.overrides()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("braid: invalid settings: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings);

    let result = match cli.command {
        Command::Openapi => commands::openapi(),
        command => actix_web::rt::System::new().block_on(async {
            match command {
                Command::Serve => commands::serve(&settings).await,
                Command::Migrate => commands::migrate(&settings).await,
                Command::Admin(AdminCommand::Create { email, password, name }) => {
                    commands::admin_create(&settings, &email, &password, &name).await
                }
                Command::Openapi => commands::openapi(),
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("braid: {error:#}");
            ExitCode::FAILURE
        }
    }
}
