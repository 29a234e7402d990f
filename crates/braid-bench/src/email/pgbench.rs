//! pgbench on the same machine, for a yardstick: one INSERT and one UPDATE per
//! transaction, in a scratch database created and dropped around the runs.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use crate::db::{Db, redact};
use crate::http::loopback_url;
use crate::report::Table;

/// The pgbench script: one INSERT and one UPDATE in one transaction, on one small table.
const PGBENCH_SCRIPT: &str = "\\set k random(1, 1000)
BEGIN;
INSERT INTO bench_writes (k, n, note, at) VALUES (:k, 0, 'pgbench row for braid-bench email', now());
UPDATE bench_writes SET n = n + 1, at = now() WHERE id = :k;
END;
";

/// Rows the table starts with (the UPDATE's targets).
const PGBENCH_ROWS: u32 = 1_000;

#[derive(Debug)]
pub struct PgbenchResult {
    pub clients: u32,
    pub transactions: Option<u64>,
    pub tps: f64,
    pub latency_ms: Option<f64>,
}

/// Runs pgbench once per client count for `seconds` each and prints their table.
pub fn pgbench(path: &Path, admin_url: &str, clients: &[u32], seconds: u64) -> anyhow::Result<Vec<PgbenchResult>> {
    let mut url = loopback_url(admin_url, "--pgbench-admin-url")?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        bail!("--pgbench-admin-url must be a postgres:// URL");
    }
    if clients.is_empty() || clients.contains(&0) || seconds == 0 {
        bail!("--pgbench-clients and --pgbench-seconds must be at least 1");
    }
    let name = format!("braid_bench_pgbench_{}", std::process::id());
    let mut admin = Db::connect(admin_url)?;
    admin.execute(&format!("DROP DATABASE IF EXISTS {name}"))?;
    admin.execute(&format!("CREATE DATABASE {name}"))?;
    url.set_path(&format!("/{name}"));
    let script = std::env::temp_dir().join(format!("braid-bench-pgbench-{}.sql", std::process::id()));
    let result = (|| {
        let mut db = Db::connect(url.as_str())?;
        db.execute(&format!(
            "CREATE TABLE bench_writes (id BIGSERIAL PRIMARY KEY, k INTEGER NOT NULL, n INTEGER NOT NULL, \
             note TEXT NOT NULL, at TIMESTAMPTZ NOT NULL); \
             INSERT INTO bench_writes (k, n, note, at) \
             SELECT g, 0, 'initial row', now() FROM generate_series(1, {PGBENCH_ROWS}) AS g;"
        ))?;
        db.execute("VACUUM ANALYZE bench_writes")?;
        drop(db);
        std::fs::write(&script, PGBENCH_SCRIPT).with_context(|| format!("cannot write {}", script.display()))?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let mut results = Vec::new();
        for &c in clients {
            let mut command = Command::new(path);
            command.args(["-n", "-M", "prepared", "-c", &c.to_string(), "-j", &c.min(threads).to_string()]);
            command.args(["-T", &seconds.to_string(), "-f"]).arg(&script).arg(url.as_str());
            println!(
                "pgbench: {} -n -M prepared -c {c} -j {} -T {seconds} -f {} {}",
                path.display(),
                c.min(threads),
                script.display(),
                redact(url.as_str())
            );
            let output = command.output().with_context(|| format!("cannot run {}", path.display()))?;
            let stdout = String::from_utf8_lossy(&output.stdout);
            if !output.status.success() {
                bail!("pgbench failed ({}): {}{}", output.status, stdout, String::from_utf8_lossy(&output.stderr));
            }
            let tps = stdout
                .lines()
                .find_map(|l| l.strip_prefix("tps = ")?.split_whitespace().next()?.parse::<f64>().ok())
                .with_context(|| format!("no `tps = ` line in pgbench's output:\n{stdout}"))?;
            let transactions = stdout.lines().find_map(|l| {
                l.strip_prefix("number of transactions actually processed: ")?.split('/').next()?.trim().parse().ok()
            });
            let latency_ms = stdout
                .lines()
                .find_map(|l| l.strip_prefix("latency average = ")?.split_whitespace().next()?.parse::<f64>().ok());
            results.push(PgbenchResult { clients: c, transactions, tps, latency_ms });
        }
        Ok(results)
    })();
    let _ = std::fs::remove_file(&script);
    let dropped = admin.execute(&format!("DROP DATABASE IF EXISTS {name}"));
    let results = result?;
    dropped?;
    let mut table = Table::new(
        ["pgbench (1 INSERT + 1 UPDATE per transaction)", "clients", "transactions", "tps", "latency avg ms"],
        1,
    );
    for r in &results {
        table.row([
            format!("{seconds} s"),
            r.clients.to_string(),
            r.transactions.map_or("-".into(), |t| t.to_string()),
            format!("{:.1}", r.tps),
            r.latency_ms.map_or("-".into(), |l| format!("{l:.3}")),
        ]);
    }
    println!();
    print!("{}", table.compact());
    Ok(results)
}
