//! A real SMTP server for the tests: `tests/smtp_sink.py` (aiosmtpd) in a child process,
//! saving every message it accepts as a file, and whether it came over TLS beside it. The
//! tests read what Braid sent from there. `TestCa` makes the certificates for TLS.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};

pub struct SmtpSink {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// How the sink secures its sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkTls {
    /// Offers STARTTLS; plaintext mail is accepted too.
    StartTls,
    /// Refuses mail (530) until STARTTLS.
    RequireStartTls,
    /// TLS from the first byte (SMTPS).
    Implicit,
}

impl SinkTls {
    fn flag(self) -> &'static str {
        match self {
            SinkTls::StartTls => "starttls",
            SinkTls::RequireStartTls => "require-starttls",
            SinkTls::Implicit => "implicit",
        }
    }
}

/// How one received message reached the sink.
#[derive(Debug, serde::Deserialize)]
pub struct Session {
    pub tls: bool,
    /// `TLSv1.3`, …; none for plaintext.
    pub version: Option<String>,
}

impl SmtpSink {
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts the server on `port`; fails (never skips) when python3 or aiosmtpd is missing.
    pub fn start_on(port: u16) -> Self {
        Self::launch(port, &[])
    }

    /// Starts a server securing its sessions with `certificate` (a `localhost` one of a
    /// `TestCa`) as `tls` says.
    pub fn start_tls(tls: SinkTls, certificate: &ServerCertificate) -> Self {
        let (cert, key) = (certificate.cert.to_str().unwrap(), certificate.key.to_str().unwrap());
        Self::launch(free_port(), &["--tls", tls.flag(), "--cert", cert, "--key", key])
    }

    fn launch(port: u16, options: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(port.to_string())
            .arg(dir.path())
            .args(options)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs the SMTP sink (pip install aiosmtpd)");
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut ready).unwrap();
        assert_eq!(ready.trim(), "ready", "the SMTP sink did not start; is aiosmtpd installed?");
        Self { port, dir, child: Some(child) }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The messages received so far, oldest first.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.received_files().into_iter().map(|path| std::fs::read(path).unwrap()).collect()
    }

    /// How each message received so far came in, oldest first (in step with `received`).
    pub fn sessions(&self) -> Vec<Session> {
        self.received_files()
            .into_iter()
            .map(|path| serde_json::from_slice(&std::fs::read(path.with_extension("json")).unwrap()).unwrap())
            .collect()
    }

    fn received_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        files
    }

    /// Waits until `count` messages arrived (or fails after `timeout`).
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let received = self.received();
            if received.len() >= count || Instant::now() > deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A certificate authority made for one test, its certificate written as `ca.pem` (what
/// `smtp_ca_file` points at) in a directory of its own.
pub struct TestCa {
    dir: tempfile::TempDir,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A server's certificate and key, PEM files the sink reads.
pub struct ServerCertificate {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    pub fn new() -> Self {
        let mut params = CertificateParams::default();
        // A name of its own: two test CAs must not pass for each other's issuer.
        params.distinguished_name.push(DnType::CommonName, format!("Braid test CA {}", uuid::Uuid::now_v7()));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), issuer.pem()).unwrap();
        Self { dir, issuer }
    }

    pub fn pem_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A certificate for `localhost` and `127.0.0.1`, signed by this CA.
    pub fn localhost_certificate(&self) -> ServerCertificate {
        let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "localhost");
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (cert_file, key_file) = (self.file("localhost.pem"), self.file("localhost.key"));
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        ServerCertificate { cert: cert_file, key: key_file }
    }

    fn file(&self, name: &str) -> PathBuf {
        Path::new(self.dir.path()).join(name)
    }
}
