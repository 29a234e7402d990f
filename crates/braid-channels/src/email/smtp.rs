//! Sending through SMTP with lettre, asynchronously on tokio with a connection pool.
//! `smtp://[user:pass@]host:port` upgrades with STARTTLS when the server offers it
//! (`?tls=required` insists; `?tls=none` never tries, for a trusted local relay),
//! `smtps://…` is TLS from the start. Certificates are verified against the system's roots
//! plus, optionally, the extra roots of a PEM file (an internal CA). Failures are told
//! apart: a 5xx answer is permanent, everything else (4xx, refused connections, timeouts,
//! a certificate we do not trust) is worth retrying.

use std::path::Path;
use std::time::Duration;

use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("temporary: {0}")]
    Temporary(String),
    #[error("permanent: {0}")]
    Permanent(String),
}

/// Why a mailer cannot be built; reported at start-up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid SMTP URL {url}: {reason}")]
    Url { url: String, reason: String },
    #[error("smtp_ca_file {}: {reason}", path.display())]
    CaFile { path: std::path::PathBuf, reason: String },
}

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mailer")
    }
}

/// How the connection is secured, from the URL's scheme and `tls` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsMode {
    /// `smtp://…?tls=none`: plaintext, even when the server offers STARTTLS.
    None,
    /// `smtp://…` (or `?tls=opportunistic`): STARTTLS when offered. A server that offers it
    /// and then fails the handshake is an error, never a silent fallback to plaintext.
    Opportunistic,
    /// `smtp://…?tls=required`: STARTTLS or no delivery.
    Required,
    /// `smtps://…`: TLS from the first byte.
    Wrapper,
}

impl Mailer {
    /// Builds the transport for `url`, trusting the certificates in `ca_file` besides the
    /// system's roots. Nothing is connected yet; a bad URL or CA file is reported now.
    pub fn from_url(url: &str, ca_file: Option<&Path>) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::Url { url: braid_db::redact(url), reason };
        let parsed = url::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
        let mode = tls_mode(&parsed).map_err(invalid)?;
        let host = parsed.host_str().ok_or_else(|| invalid("no host".into()))?.to_owned();
        let roots = match ca_file {
            Some(path) => read_roots(path).map_err(|reason| ConfigError::CaFile { path: path.to_owned(), reason })?,
            None => vec![],
        };

        // lettre reads host, port (with the scheme's default), credentials and HELO name;
        // the TLS part is ours. `tls=none` is not lettre's, so it sees the URL without it.
        let for_lettre = match mode {
            TlsMode::None => without_tls_parameter(&parsed),
            _ => url.to_owned(),
        };
        let builder =
            AsyncSmtpTransport::<Tokio1Executor>::from_url(&for_lettre).map_err(|e| invalid(e.to_string()))?;
        let parameters = || -> Result<TlsParameters, ConfigError> {
            roots
                .iter()
                .cloned()
                .fold(TlsParameters::builder(host.clone()), |builder, root| builder.add_root_certificate(root))
                .build()
                .map_err(|e| invalid(e.to_string()))
        };
        let tls = match mode {
            TlsMode::None => Tls::None,
            TlsMode::Opportunistic => Tls::Opportunistic(parameters()?),
            TlsMode::Required => Tls::Required(parameters()?),
            TlsMode::Wrapper => Tls::Wrapper(parameters()?),
        };
        let transport = builder.tls(tls).timeout(Some(Duration::from_secs(30))).build();
        Ok(Self { transport })
    }

    pub async fn send(&self, message: lettre::Message) -> Result<(), SendError> {
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_permanent() => Err(SendError::Permanent(error.to_string())),
            Err(error) => Err(SendError::Temporary(error.to_string())),
        }
    }
}

fn tls_mode(url: &url::Url) -> Result<TlsMode, String> {
    let tls = url.query_pairs().find(|(key, _)| key == "tls").map(|(_, value)| value.into_owned());
    match (url.scheme(), tls.as_deref()) {
        ("smtp", None | Some("opportunistic")) => Ok(TlsMode::Opportunistic),
        ("smtp", Some("required")) => Ok(TlsMode::Required),
        ("smtp", Some("none")) => Ok(TlsMode::None),
        ("smtps", None) => Ok(TlsMode::Wrapper),
        ("smtp", Some(other)) => Err(format!("tls={other}: expected required, opportunistic or none")),
        ("smtps", Some(_)) => Err("smtps:// is TLS from the start; it takes no tls parameter".into()),
        (scheme, _) => Err(format!("scheme {scheme}: expected smtp or smtps")),
    }
}

fn without_tls_parameter(url: &url::Url) -> String {
    let mut stripped = url.clone();
    let kept: Vec<(String, String)> =
        url.query_pairs().filter(|(key, _)| key != "tls").map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    if kept.is_empty() {
        stripped.set_query(None);
    } else {
        stripped.query_pairs_mut().clear().extend_pairs(kept);
    }
    stripped.into()
}

/// Every certificate of a PEM file. (native-tls reads only the first of a bundle, so the
/// blocks are handed over one by one.)
fn read_roots(path: &Path) -> Result<Vec<Certificate>, String> {
    let pem = std::fs::read_to_string(path).map_err(|e| format!("cannot be read: {e}"))?;
    let blocks = pem_certificates(&pem);
    if blocks.is_empty() {
        return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    blocks
        .iter()
        .enumerate()
        .map(|(n, block)| {
            Certificate::from_pem(block.as_bytes()).map_err(|e| format!("certificate {} is not valid: {e}", n + 1))
        })
        .collect()
}

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// The `BEGIN CERTIFICATE … END CERTIFICATE` blocks of a PEM text, ignoring anything else
/// (comments, keys).
fn pem_certificates(pem: &str) -> Vec<&str> {
    let mut blocks = vec![];
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        let Some(length) = rest[start..].find(END) else {
            // An unterminated block: handed over as it is, so its error names it.
            blocks.push(&rest[start..]);
            break;
        };
        let end = start + length + END.len();
        blocks.push(&rest[start..end]);
        rest = &rest[end..];
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(url: &str) -> Result<TlsMode, String> {
        tls_mode(&url::Url::parse(url).unwrap())
    }

    #[test]
    fn the_url_says_how_the_connection_is_secured() {
        assert_eq!(mode("smtp://mx.example.org:25"), Ok(TlsMode::Opportunistic));
        assert_eq!(mode("smtp://mx.example.org?tls=opportunistic"), Ok(TlsMode::Opportunistic));
        assert_eq!(mode("smtp://u:p@mx.example.org:587?tls=required"), Ok(TlsMode::Required));
        assert_eq!(mode("smtp://localhost:25?tls=none"), Ok(TlsMode::None));
        assert_eq!(mode("smtps://mx.example.org"), Ok(TlsMode::Wrapper));
        assert!(mode("smtp://mx.example.org?tls=maybe").unwrap_err().contains("tls=maybe"));
        assert!(mode("smtps://mx.example.org?tls=none").is_err());
        assert!(mode("http://mx.example.org").unwrap_err().contains("http"));
    }

    #[test]
    fn tls_none_is_taken_out_of_the_url_lettre_reads() {
        let url = url::Url::parse("smtp://u:p@localhost:2525/helo.example?tls=none").unwrap();
        assert_eq!(without_tls_parameter(&url), "smtp://u:p@localhost:2525/helo.example");
        let url = url::Url::parse("smtp://localhost?tls=none&x=1").unwrap();
        assert_eq!(without_tls_parameter(&url), "smtp://localhost?x=1");
    }

    #[test]
    fn every_certificate_of_a_bundle_is_found() {
        let bundle = format!("# internal CA\n{BEGIN}\nAAA\n{END}\n\nsubject=x\n{BEGIN}\nBBB\n{END}\n");
        assert_eq!(pem_certificates(&bundle), [format!("{BEGIN}\nAAA\n{END}"), format!("{BEGIN}\nBBB\n{END}")]);
        assert!(pem_certificates("no certificate here").is_empty());
        assert_eq!(pem_certificates(&format!("{BEGIN}\nCCC")), [format!("{BEGIN}\nCCC")]);
    }

    #[test]
    fn a_bad_ca_file_is_refused_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("braid-smtp-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let garbage = dir.join("garbage.pem");
        std::fs::write(&garbage, format!("{BEGIN}\nbm90IGEgY2VydGlmaWNhdGU=\n{END}\n")).unwrap();
        for (path, says) in [(&missing, "cannot be read"), (&empty, "no PEM certificate"), (&garbage, "not valid")] {
            let error = Mailer::from_url("smtps://mx.example.org", Some(path)).unwrap_err().to_string();
            assert!(error.contains(&path.display().to_string()) && error.contains(says), "{error}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_bad_url_is_refused_without_its_password() {
        let error = Mailer::from_url("smtp://user:hunter2@mx.example.org?tls=maybe", None).unwrap_err().to_string();
        assert!(error.contains("tls=maybe") && !error.contains("hunter2"), "{error}");
    }
}
