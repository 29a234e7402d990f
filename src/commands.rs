//! What each subcommand does.

use anyhow::Context;
use braid_core::{AgentName, EmailAddress};
use braid_db::agents::{self, Upserted};

use crate::Settings;
use crate::startup::{self, Application};

pub async fn serve(settings: &Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    if let Some(admin) = app.first_admin() {
        // Printed, not logged: credentials must not end up in a log aggregator.
        println!(
            "\nBraid created the first admin. These credentials are shown only this once:\n\
             \n    email:    {}\n    password: {}\n\n\
             Change them with `braid admin create --email … --password …`.\n",
            admin.email, admin.password
        );
    }
    app.run_until_stopped().await.context("the HTTP server failed")?;
    tracing::info!("braid stopped");
    Ok(())
}

pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let db = startup::open_database(settings).await?;
    println!("database is up to date ({})", db.backend().describe());
    Ok(())
}

pub async fn admin_create(settings: &Settings, email: &str, password: &str, name: &str) -> anyhow::Result<()> {
    let email = EmailAddress::parse(email)?;
    let name = AgentName::parse(name)?;
    let hash = braid_api::password::hash(password)?;
    let db = startup::open_database(settings).await?;
    let (agent, outcome) = {
        let email = email.clone();
        db.run(move |conn| agents::upsert_admin(conn, &email, &name, &hash)).await?
    };
    let verb = match outcome {
        Upserted::Created => "created",
        Upserted::Reset => "reset",
    };
    println!("admin {} {verb} (id {})", agent.email, agent.id);
    Ok(())
}

pub fn openapi() -> anyhow::Result<()> {
    let json = braid_api::openapi().to_pretty_json().context("cannot render the OpenAPI document")?;
    println!("{json}");
    Ok(())
}
