//! A real SMTP server for the tests, in the test process: `mailin`'s SMTP state machine
//! driven over tokio, with rustls for STARTTLS and SMTPS. It keeps every message it
//! accepts with how its session was secured, so the tests read what Braid sent and a silent
//! fallback to plaintext fails them. `TestCa` makes the certificates for TLS.
//!
//! Not `mailin-embedded`, the server its authors build on the same state machine: it
//! serves forever (a test could not stop it), speaks no implicit TLS, and never tells its
//! handler whether a session is encrypted.

use std::io::{self, BufRead as _};
use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mailin::response::OK;
use mailin::{Action, Handler, Response, SessionBuilder};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ProtocolVersion, ServerConfig};

/// The server; it stops, ending every open session, when dropped.
pub struct SmtpSink {
    pub port: u16,
    inbox: Inbox,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

type Inbox = Arc<Mutex<Vec<Received>>>;

struct Received {
    raw: Vec<u8>,
    session: Session,
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

/// How one received message reached the sink.
#[derive(Debug, Clone)]
pub struct Session {
    pub tls: bool,
    /// `TLSv1.3`, …; none for plaintext.
    pub version: Option<String>,
}

impl SmtpSink {
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts a plaintext server on `port`; it takes connections once this returns.
    pub fn start_on(port: u16) -> Self {
        Self::launch(port, None)
    }

    /// Starts a server securing its sessions with `certificate` (a `localhost` one of a
    /// `TestCa`) as `tls` says.
    pub fn start_tls(tls: SinkTls, certificate: &ServerCertificate) -> Self {
        Self::launch(free_port(), Some((tls, certificate.acceptor())))
    }

    /// Listens before returning, then serves on a thread of its own with a runtime of its
    /// own: the sink does not depend on the test's runtime, and dropping it closes the port
    /// and every session before `drop` returns.
    fn launch(port: u16, tls: Option<(SinkTls, TlsAcceptor)>) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|error| panic!("the SMTP sink cannot listen on port {port}: {error}"));
        listener.set_nonblocking(true).unwrap();
        let inbox = Inbox::default();
        let server = Server { tls, inbox: Arc::clone(&inbox) };
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("smtp-sink-{port}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                runtime.block_on(server.serve(listener, stopped));
            })
            .unwrap();
        Self { port, inbox, stop: Some(stop), thread: Some(thread) }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The messages received so far, oldest first.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.inbox.lock().unwrap().iter().map(|message| message.raw.clone()).collect()
    }

    /// How each message received so far came in, oldest first (in step with `received`).
    pub fn sessions(&self) -> Vec<Session> {
        self.inbox.lock().unwrap().iter().map(|message| message.session.clone()).collect()
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
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // The runtime is dropped on that thread, and with it every open session.
            let _ = thread.join();
        }
    }
}

#[derive(Clone)]
struct Server {
    tls: Option<(SinkTls, TlsAcceptor)>,
    inbox: Inbox,
}

/// How a conversation over one stream ended.
enum Ended {
    Closed,
    StartTls,
}

impl Server {
    async fn serve(self, listener: TcpListener, mut stop: oneshot::Receiver<()>) {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        loop {
            tokio::select! {
                _ = &mut stop => return,
                accepted = listener.accept() => {
                    // A connection reset before it was accepted is the client's business.
                    if let Ok((stream, peer)) = accepted {
                        tokio::spawn(self.clone().session(stream, peer.ip()));
                    }
                }
            }
        }
    }

    /// One client's session; any I/O or handshake failure just ends it, as a real server
    /// would (the client sees the connection close and reports that).
    async fn session(self, stream: TcpStream, peer: IpAddr) {
        let tls_version = Arc::new(OnceLock::new());
        let mode = self.tls.as_ref().map(|(mode, _)| *mode);
        let mut builder = SessionBuilder::new("sink.braid.test");
        if matches!(mode, Some(SinkTls::StartTls | SinkTls::RequireStartTls)) {
            builder.enable_start_tls();
        }
        let mailbox = Mailbox {
            inbox: Arc::clone(&self.inbox),
            tls_version: Arc::clone(&tls_version),
            require_tls: mode == Some(SinkTls::RequireStartTls),
            message: Vec::new(),
        };
        let mut session = builder.build(peer, mailbox);
        let greeting = session.greeting();

        if let Some((SinkTls::Implicit, acceptor)) = &self.tls {
            let Ok(tls) = acceptor.accept(stream).await else { return };
            let _ = tls_version.set(version_name(tls.get_ref().1.protocol_version()));
            let _ = converse(&mut session, &mut BufReader::new(tls), Some(greeting)).await;
            return;
        }
        let mut plain = BufReader::new(stream);
        let Ok(Ended::StartTls) = converse(&mut session, &mut plain, Some(greeting)).await else { return };
        let Some((_, acceptor)) = &self.tls else { return };
        if !plain.buffer().is_empty() {
            return; // Commands sent ahead of the handshake must not count as encrypted.
        }
        let Ok(tls) = acceptor.accept(plain.into_inner()).await else { return };
        let _ = tls_version.set(version_name(tls.get_ref().1.protocol_version()));
        session.tls_active();
        let _ = converse(&mut session, &mut BufReader::new(tls), None).await;
    }
}

/// Feeds the client's lines to the state machine and writes its answers.
async fn converse<S>(
    session: &mut mailin::Session<Mailbox>,
    stream: &mut S,
    greeting: Option<Response>,
) -> io::Result<Ended>
where
    S: AsyncBufRead + AsyncWrite + Unpin,
{
    if let Some(greeting) = greeting {
        reply(stream, &greeting).await?;
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        if stream.read_until(b'\n', &mut line).await? == 0 {
            return Ok(Ended::Closed);
        }
        let response = session.process(&line);
        match response.action {
            Action::NoReply => {}
            Action::Reply => reply(stream, &response).await?,
            Action::Close => {
                reply(stream, &response).await?;
                return Ok(Ended::Closed);
            }
            Action::UpgradeTls => {
                reply(stream, &response).await?;
                return Ok(Ended::StartTls);
            }
        }
    }
}

async fn reply<S: AsyncWrite + Unpin>(stream: &mut S, response: &Response) -> io::Result<()> {
    stream.write_all(&response.buffer()?).await?;
    stream.flush().await
}

/// `TLSv1.3`-style, as OpenSSL and Python name them.
fn version_name(version: Option<ProtocolVersion>) -> String {
    match version {
        Some(ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
        Some(ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
        other => format!("{other:?}"),
    }
}

/// Decides on each command of one session, and keeps the messages it accepts.
struct Mailbox {
    inbox: Inbox,
    /// Set once the session's TLS handshake is done.
    tls_version: Arc<OnceLock<String>>,
    require_tls: bool,
    message: Vec<u8>,
}

impl Handler for Mailbox {
    fn mail(&mut self, _ip: IpAddr, _domain: &str, _from: &str) -> Response {
        if self.require_tls && self.tls_version.get().is_none() {
            return Response::custom(530, "5.7.0 Must issue a STARTTLS command first".to_owned());
        }
        OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        let local_part = to.split('@').next().unwrap_or_default();
        if local_part.eq_ignore_ascii_case("reject") {
            return Response::custom(550, "5.1.1 mailbox unavailable".to_owned());
        }
        OK
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, _to: &[String]) -> Response {
        self.message.clear();
        OK
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.message.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let version = self.tls_version.get().cloned();
        let session = Session { tls: version.is_some(), version };
        self.inbox.lock().unwrap().push(Received { raw: std::mem::take(&mut self.message), session });
        Response::custom(250, "2.0.0 Message accepted".to_owned())
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

impl ServerCertificate {
    /// A TLS acceptor serving this certificate (ring, the provider rcgen already brings).
    fn acceptor(&self) -> TlsAcceptor {
        let chain: Vec<_> = CertificateDer::pem_file_iter(&self.cert).unwrap().collect::<Result<_, _>>().unwrap();
        let key = PrivateKeyDer::from_pem_file(&self.key).unwrap();
        let config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        TlsAcceptor::from(Arc::new(config))
    }
}

// The sink's own promises, which the email tests lean on.

#[test]
fn the_sink_refuses_mail_until_starttls_when_it_requires_it() {
    let ca = TestCa::new();
    let sink = SmtpSink::start_tls(SinkTls::RequireStartTls, &ca.localhost_certificate());
    let mut client = RawClient::connect(sink.port);
    assert!(client.command("EHLO client.test").contains("STARTTLS"));
    assert!(client.command("MAIL FROM:<a@example.org>").starts_with("530 "));
}

#[test]
fn the_sink_refuses_the_reject_mailbox_at_rcpt_permanently() {
    let sink = SmtpSink::start();
    let mut client = RawClient::connect(sink.port);
    client.command("EHLO client.test");
    assert!(client.command("MAIL FROM:<a@example.org>").starts_with("250 "));
    assert!(client.command("RCPT TO:<reject@example.org>").starts_with("550 "));
    assert!(client.command("RCPT TO:<b@example.org>").starts_with("250 "));
}

#[test]
fn a_dropped_sink_closes_its_port_and_its_sessions() {
    let sink = SmtpSink::start();
    let port = sink.port;
    let mut client = RawClient::connect(port);
    drop(sink);
    let mut rest = String::new();
    assert_eq!(client.reader.read_line(&mut rest).unwrap(), 0, "the open session ended: {rest}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "nothing listens any more");
}

/// A plaintext SMTP client speaking one command at a time.
struct RawClient {
    reader: std::io::BufReader<std::net::TcpStream>,
}

impl RawClient {
    fn connect(port: u16) -> Self {
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut client = Self { reader: std::io::BufReader::new(stream) };
        assert!(client.response().starts_with("220 "));
        client
    }

    /// Sends `line`; returns the whole answer, continuation lines included.
    fn command(&mut self, line: &str) -> String {
        use std::io::Write;
        self.reader.get_mut().write_all(format!("{line}\r\n").as_bytes()).unwrap();
        self.response()
    }

    fn response(&mut self) -> String {
        let mut answer = String::new();
        loop {
            let start = answer.len();
            assert_ne!(self.reader.read_line(&mut answer).unwrap(), 0, "the server hung up: {answer}");
            // The last line of an answer has a space after its code, the others a dash.
            if answer.as_bytes().get(start + 3) != Some(&b'-') {
                return answer;
            }
        }
    }
}
