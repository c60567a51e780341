//! TLS: the connection string's `sslmode` and `sslrootcert` (libpq's
//! parameters, which the driver does not parse in full), and the rustls
//! connector that does what they ask.
//!
//! | `sslmode` | TLS | certificate checked against the roots | host name checked |
//! |---|---|---|---|
//! | `disable` | never | - | - |
//! | `prefer` (default) | if the server offers it | only if a CA file is given | no |
//! | `require` | always | only if a CA file is given | no |
//! | `verify-ca` | always | yes | no |
//! | `verify-full` | always | yes | yes |
//!
//! This is libpq's table, with one difference: libpq also reads a default CA
//! file (`~/.postgresql/root.crt`); here the roots are the CA file named by
//! [`PgOptions::tls_ca_file`](crate::PgOptions::tls_ca_file) or
//! `sslrootcert=PATH`, else (for `verify-ca` / `verify-full`, or
//! `sslrootcert=system`) the operating system's root certificates.

use std::ops::Range;
#[cfg(feature = "tls")]
use std::path::Path;
use std::path::PathBuf;

use crate::driver::PollMessage;
use crate::error::ConfigError;

/// The connection string's `sslmode`: libpq's values, except `allow`
/// (refused). See the crate docs for what each one checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SslMode {
    /// Plaintext only.
    Disable,
    /// TLS when the server offers it, else plaintext; the certificate is
    /// checked only against a given CA file (the default, as in libpq).
    Prefer,
    /// TLS always; the certificate is checked only against a given CA file.
    Require,
    /// TLS always; the certificate must chain to a trusted root.
    VerifyCa,
    /// TLS always; the certificate must chain to a trusted root and name
    /// the host.
    VerifyFull,
}

impl std::fmt::Display for SslMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl SslMode {
    fn parse(value: &str) -> Result<Self, ConfigError> {
        match value {
            "disable" => Ok(SslMode::Disable),
            "prefer" => Ok(SslMode::Prefer),
            "require" => Ok(SslMode::Require),
            "verify-ca" => Ok(SslMode::VerifyCa),
            "verify-full" => Ok(SslMode::VerifyFull),
            "allow" => Err(ConfigError::Unsupported {
                option: "sslmode=allow".to_owned(),
                reason: "use prefer, require, verify-ca or verify-full",
            }),
            other => Err(ConfigError::ConnectionString {
                reason: format!("sslmode={other:?} is not one of disable, prefer, require, verify-ca, verify-full"),
            }),
        }
    }

    /// The value as written in a connection string (`"verify-full"`).
    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// The driver's mode: it only knows whether TLS is off, optional or required.
    pub(crate) fn driver_mode(self) -> tokio_postgres::config::SslMode {
        match self {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
        }
    }
}

/// Where trusted root certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Roots {
    /// A PEM file of CA certificates.
    File(PathBuf),
    /// The operating system's roots (`sslrootcert=system`).
    System,
}

/// The TLS parameters taken out of a connection string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct TlsParams {
    /// `sslmode`, when given.
    pub(crate) mode: Option<SslMode>,
    /// `sslrootcert`, when given.
    pub(crate) roots: Option<Roots>,
}

impl TlsParams {
    /// The mode in force: the given one, else libpq's default, `prefer`
    /// (`verify-full` with `sslrootcert=system`, as in libpq).
    pub(crate) fn mode(&self) -> SslMode {
        match (self.mode, &self.roots) {
            (Some(mode), _) => mode,
            (None, Some(Roots::System)) => SslMode::VerifyFull,
            (None, _) => SslMode::Prefer,
        }
    }
}

/// libpq parameters this crate refuses, and why.
const REFUSED: &[(&str, &str)] = &[
    (
        "sslcert",
        "client certificates are not supported; use password or SCRAM authentication",
    ),
    (
        "sslkey",
        "client certificates are not supported; use password or SCRAM authentication",
    ),
    (
        "sslpassword",
        "client certificates are not supported; use password or SCRAM authentication",
    ),
    ("sslcrl", "certificate revocation lists are not supported"),
    ("sslcrldir", "certificate revocation lists are not supported"),
];

/// One `key=value` parameter of a connection string: its decoded key and
/// value, and the byte range of its text.
struct Param {
    key: String,
    value: String,
    span: Range<usize>,
}

/// Splits a connection string into the string the driver parses (every
/// parameter but `sslmode` and `sslrootcert`) and those two.
pub(crate) fn split_tls_params(conn: &str) -> Result<(String, TlsParams), ConfigError> {
    let (params, join) = match url_query(conn) {
        Some(Some(query)) => (url_params(conn, query.clone())?, "&"),
        // A URL without a query has no parameters to take out.
        Some(None) => return Ok((conn.to_owned(), TlsParams::default())),
        None => (key_value_params(conn)?, " "),
    };
    let mut tls = TlsParams::default();
    let mut kept: Vec<&str> = Vec::with_capacity(params.len());
    for param in params {
        if let Some((option, reason)) = REFUSED.iter().find(|(option, _)| *option == param.key) {
            return Err(ConfigError::Unsupported {
                option: (*option).to_owned(),
                reason,
            });
        }
        match param.key.as_str() {
            "sslmode" => tls.mode = Some(SslMode::parse(&param.value)?),
            "sslrootcert" if param.value == "system" => tls.roots = Some(Roots::System),
            "sslrootcert" if param.value.is_empty() => {
                return Err(ConfigError::ConnectionString {
                    reason: "sslrootcert is empty".to_owned(),
                });
            }
            "sslrootcert" => tls.roots = Some(Roots::File(PathBuf::from(&param.value))),
            _ => kept.push(&conn[param.span]),
        }
    }
    let rest = match url_query(conn) {
        Some(Some(query)) if kept.is_empty() => conn[..query.start].to_owned(),
        Some(Some(query)) => format!("{}?{}", &conn[..query.start], kept.join(join)),
        _ => kept.join(join),
    };
    Ok((rest, tls))
}

/// `None` for a `key=value` string; for a `postgres://` or `postgresql://`
/// URL, the byte range of its query including the `?` (to the end of the
/// string), if it has one. Like the driver's parser, the query starts at the
/// first `?` after the user information (which ends at the first `@`).
fn url_query(conn: &str) -> Option<Option<Range<usize>>> {
    let after_scheme = ["postgres://", "postgresql://"]
        .iter()
        .find_map(|scheme| conn.strip_prefix(scheme).map(|_| scheme.len()))?;
    let rest = &conn[after_scheme..];
    let host_start = rest.find('@').map_or(0, |at| at + 1);
    Some(
        rest[host_start..]
            .find('?')
            .map(|question| after_scheme + host_start + question..conn.len()),
    )
}

fn percent_decode(text: &str, what: &str) -> Result<String, ConfigError> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| ConfigError::ConnectionString {
            reason: format!("the {what} {text:?} is not UTF-8 once percent-decoded"),
        })
}

/// The parameters of a URL's query: `key=value` pairs split at `&`, with the
/// driver's rules (a key runs to the first `=`, a value to the next `&`).
fn url_params(conn: &str, query: Range<usize>) -> Result<Vec<Param>, ConfigError> {
    let mut params = Vec::new();
    let mut position = query.start + 1; // after the '?'
    while position < query.end {
        let rest = &conn[position..query.end];
        let Some(equals) = rest.find('=') else {
            return Err(ConfigError::ConnectionString {
                reason: format!("the URL parameter {rest:?} has no '='"),
            });
        };
        let value_end = rest[equals + 1..].find('&').map_or(rest.len(), |amp| equals + 1 + amp);
        params.push(Param {
            key: percent_decode(&rest[..equals], "URL parameter name")?,
            value: percent_decode(&rest[equals + 1..value_end], "URL parameter value")?,
            span: position..position + value_end,
        });
        // Past the value and its '&' (if any).
        position += value_end + 1;
    }
    Ok(params)
}

/// The parameters of a libpq `key=value` string, with the driver's rules:
/// whitespace around `=` is allowed, a value is either bare (up to
/// whitespace) or single-quoted, and `\` escapes the next character in both.
fn key_value_params(conn: &str) -> Result<Vec<Param>, ConfigError> {
    let bytes = conn.as_bytes();
    let is_space = |index: usize| bytes.get(index).is_some_and(u8::is_ascii_whitespace);
    let malformed = |reason: String| ConfigError::ConnectionString { reason };
    let mut params = Vec::new();
    let mut position = 0;
    loop {
        while is_space(position) {
            position += 1;
        }
        if position >= bytes.len() {
            return Ok(params);
        }
        let start = position;
        while position < bytes.len() && !is_space(position) && bytes[position] != b'=' {
            position += 1;
        }
        let key = conn[start..position].to_owned();
        while is_space(position) {
            position += 1;
        }
        if bytes.get(position) != Some(&b'=') {
            return Err(malformed(format!("the parameter {key:?} has no '='")));
        }
        position += 1;
        while is_space(position) {
            position += 1;
        }
        let quoted = bytes.get(position) == Some(&b'\'');
        if quoted {
            position += 1;
        }
        let mut value = String::new();
        let mut closed = false;
        let mut chars = conn[position..].char_indices();
        while let Some((offset, c)) = chars.next() {
            if (quoted && c == '\'') || (!quoted && c.is_whitespace()) {
                position += offset;
                closed = true;
                break;
            }
            if c == '\\' {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            } else {
                value.push(c);
            }
        }
        if !closed {
            position = bytes.len();
        }
        if quoted {
            if !closed {
                return Err(malformed(format!("the value of {key:?} has no closing quote")));
            }
            position += 1; // the closing quote
        } else if value.is_empty() {
            return Err(malformed(format!("the parameter {key:?} has no value")));
        }
        params.push(Param {
            key,
            value,
            span: start..position,
        });
    }
}

/// Opens driver connections in plaintext or with TLS.
pub(crate) enum Connector {
    /// No TLS: `sslmode=disable`, or `prefer` where TLS cannot be used.
    Plain,
    /// TLS with rustls.
    #[cfg(feature = "tls")]
    Rustls(tokio_postgres_rustls::MakeRustlsConnect),
}

impl Connector {
    /// The connector for `mode`, trusting `roots` (none: the system's, when
    /// verifying). `has_host_name`: the connection string names a host (not
    /// only `hostaddr` or a socket directory), which TLS needs for SNI and
    /// verification.
    pub(crate) fn new(mode: SslMode, roots: Option<&Roots>, has_host_name: bool) -> Result<Self, ConfigError> {
        match mode {
            SslMode::Disable => Ok(Connector::Plain),
            // Opportunistic TLS needs a host name to send; without one,
            // plaintext is what `prefer` falls back to.
            SslMode::Prefer if !has_host_name => Ok(Connector::Plain),
            #[cfg(not(feature = "tls"))]
            SslMode::Prefer => {
                let _ = roots;
                Ok(Connector::Plain)
            }
            #[cfg(not(feature = "tls"))]
            other => Err(ConfigError::TlsNotBuilt {
                sslmode: other.name().to_owned(),
            }),
            #[cfg(feature = "tls")]
            other => rustls_connector::build(other, roots).map(Connector::Rustls),
        }
    }

    /// Connects: the client, and the connection half to poll.
    pub(crate) async fn connect(
        &self,
        config: &tokio_postgres::Config,
    ) -> Result<(tokio_postgres::Client, Box<dyn PollMessage>), tokio_postgres::Error> {
        match self {
            Connector::Plain => {
                let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
                Ok((client, Box::new(connection)))
            }
            #[cfg(feature = "tls")]
            Connector::Rustls(connector) => {
                let (client, connection) = config.connect(connector.clone()).await?;
                Ok((client, Box::new(connection)))
            }
        }
    }

    /// True for a connector that uses TLS.
    #[cfg(test)]
    pub(crate) fn uses_tls(&self) -> bool {
        !matches!(self, Connector::Plain)
    }
}

/// True when `error` is the TLS library refusing the handshake (an
/// untrusted or misnamed certificate, no shared protocol).
pub(crate) fn is_tls_failure(error: &tokio_postgres::Error) -> bool {
    #[cfg(feature = "tls")]
    {
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
        // The chain is short (driver error, I/O error, TLS error); the bound
        // only guards against a cycle.
        for _ in 0..16 {
            let Some(current) = next else { break };
            if current.is::<rustls::Error>() {
                return true;
            }
            // `io::Error::source` skips the error it wraps; look inside.
            if let Some(io) = current.downcast_ref::<std::io::Error>()
                && io.get_ref().is_some_and(|inner| inner.is::<rustls::Error>())
            {
                return true;
            }
            next = current.source();
        }
        false
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = error;
        false
    }
}

/// Reads a PEM file of CA certificates.
#[cfg(feature = "tls")]
fn load_ca_file(path: &Path) -> Result<rustls::RootCertStore, ConfigError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let ca_error = |reason: String| ConfigError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let certificates =
        CertificateDer::pem_file_iter(path).map_err(|error| ca_error(format!("cannot be read: {error}")))?;
    let mut roots = rustls::RootCertStore::empty();
    // A CA bundle holds tens to a few hundred certificates.
    const MAX_CA_CERTIFICATES: usize = 10_000;
    for (index, certificate) in certificates.enumerate() {
        if index >= MAX_CA_CERTIFICATES {
            return Err(ca_error(format!("holds more than {MAX_CA_CERTIFICATES} certificates")));
        }
        let certificate = certificate.map_err(|error| ca_error(format!("is not valid PEM: {error}")))?;
        roots
            .add(certificate)
            .map_err(|error| ca_error(format!("certificate {} is not usable as a root: {error}", index + 1)))?;
    }
    if roots.is_empty() {
        return Err(ca_error(
            "holds no certificate (expected PEM `BEGIN CERTIFICATE` blocks)".to_owned(),
        ));
    }
    Ok(roots)
}

#[cfg(feature = "tls")]
mod rustls_connector {
    use std::sync::Arc;

    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
    use tokio_postgres_rustls::MakeRustlsConnect;

    use super::{Roots, SslMode, load_ca_file};
    use crate::error::ConfigError;

    fn tls_error(error: impl std::fmt::Display) -> ConfigError {
        ConfigError::Tls {
            reason: error.to_string(),
        }
    }

    fn system_roots() -> Result<RootCertStore, ConfigError> {
        let loaded = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(loaded.certs);
        if roots.is_empty() {
            let reason = if loaded.errors.is_empty() {
                "the system store is empty".to_owned()
            } else {
                loaded
                    .errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            return Err(ConfigError::NoSystemRoots { reason });
        }
        Ok(roots)
    }

    fn roots(source: Option<&Roots>) -> Result<RootCertStore, ConfigError> {
        match source {
            Some(Roots::File(path)) => load_ca_file(path),
            Some(Roots::System) | None => system_roots(),
        }
    }

    /// The rustls connector for a mode that may use TLS.
    pub(super) fn build(mode: SslMode, source: Option<&Roots>) -> Result<MakeRustlsConnect, ConfigError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?;
        let config = match (mode, source) {
            (SslMode::VerifyFull, _) => builder.with_root_certificates(roots(source)?).with_no_client_auth(),
            // A CA file means "check the chain", in every mode (as libpq).
            (SslMode::VerifyCa, _) | (SslMode::Prefer | SslMode::Require, Some(Roots::File(_))) => {
                let chain =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots(source)?), Arc::clone(&provider))
                        .build()
                        .map_err(tls_error)?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(ChainOnly { chain }))
                    .with_no_client_auth()
            }
            (SslMode::Prefer | SslMode::Require, Some(Roots::System)) => {
                return Err(ConfigError::Unsupported {
                    option: format!("sslrootcert=system with sslmode={}", mode.name()),
                    reason: "the system's roots are used with sslmode=verify-full only (as in libpq)",
                });
            }
            (SslMode::Prefer | SslMode::Require, None) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(EncryptOnly { provider }))
                .with_no_client_auth(),
            (SslMode::Disable, _) => return Err(tls_error("sslmode=disable needs no TLS connector")),
        };
        Ok(MakeRustlsConnect::new(config))
    }

    /// `verify-ca` (or a CA file with `prefer` / `require`): the chain must
    /// lead to a trusted root; the name in the certificate is not checked.
    #[derive(Debug)]
    struct ChainOnly {
        chain: Arc<WebPkiServerVerifier>,
    }

    impl ServerCertVerifier for ChainOnly {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            server_name: &ServerName<'_>,
            ocsp_response: &[u8],
            now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            // The verifier checks the chain first and the name last, so a
            // name error means the chain is good.
            match self
                .chain
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            {
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
                )) => Ok(ServerCertVerified::assertion()),
                other => other,
            }
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.chain.verify_tls12_signature(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.chain.verify_tls13_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.chain.supported_verify_schemes()
        }
    }

    /// `prefer` / `require` without a CA file: the connection is encrypted
    /// but the server is not authenticated (libpq's behaviour; it protects
    /// against eavesdropping only). The handshake signatures are still
    /// checked, so the session is bound to the certificate presented.
    #[derive(Debug)]
    struct EncryptOnly {
        provider: Arc<CryptoProvider>,
    }

    impl ServerCertVerifier for EncryptOnly {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.provider.signature_verification_algorithms.supported_schemes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(conn: &str) -> (String, TlsParams) {
        split_tls_params(conn).unwrap()
    }

    #[test]
    fn a_url_keeps_every_parameter_but_the_tls_ones() {
        let (rest, tls) = split(
            "postgres://u:p@h:5432/db?application_name=a&sslmode=verify-full&sslrootcert=%2Ftmp%2Fca%20x.pem&connect_timeout=3",
        );
        assert_eq!(rest, "postgres://u:p@h:5432/db?application_name=a&connect_timeout=3");
        assert_eq!(tls.mode, Some(SslMode::VerifyFull));
        assert_eq!(tls.roots, Some(Roots::File(PathBuf::from("/tmp/ca x.pem"))));

        let (rest, tls) = split("postgresql://h/db?sslmode=require");
        assert_eq!(rest, "postgresql://h/db");
        assert_eq!(tls.mode(), SslMode::Require);

        let (rest, tls) = split("postgres://h/db");
        assert_eq!(rest, "postgres://h/db");
        assert_eq!(tls, TlsParams::default());
        assert_eq!(tls.mode(), SslMode::Prefer);
    }

    #[test]
    fn a_question_mark_in_the_password_does_not_start_the_query() {
        let (rest, tls) = split("postgres://u:p?w@h/db?sslmode=disable");
        assert_eq!(rest, "postgres://u:p?w@h/db");
        assert_eq!(tls.mode, Some(SslMode::Disable));
    }

    #[test]
    fn a_key_value_string_keeps_every_parameter_but_the_tls_ones() {
        let (rest, tls) =
            split("host=h  sslmode = verify-ca user='a b' sslrootcert='/tmp/my ca.pem' password=x\\ y dbname=d");
        assert_eq!(rest, "host=h user='a b' password=x\\ y dbname=d");
        assert_eq!(tls.mode, Some(SslMode::VerifyCa));
        assert_eq!(tls.roots, Some(Roots::File(PathBuf::from("/tmp/my ca.pem"))));
        // The driver reads what is left as it would have read it.
        let config: tokio_postgres::Config = rest.parse().unwrap();
        assert_eq!(config.get_user(), Some("a b"));
        assert_eq!(config.get_password(), Some(&b"x y"[..]));
    }

    #[test]
    fn system_roots_default_to_verify_full() {
        let (_, tls) = split("host=h sslrootcert=system");
        assert_eq!(tls.roots, Some(Roots::System));
        assert_eq!(tls.mode(), SslMode::VerifyFull);
    }

    #[test]
    fn bad_tls_parameters_are_config_errors() {
        assert!(matches!(
            split_tls_params("postgres://h/db?sslmode=bogus"),
            Err(ConfigError::ConnectionString { .. })
        ));
        assert!(matches!(
            split_tls_params("host=h sslmode=allow"),
            Err(ConfigError::Unsupported { .. })
        ));
        assert!(matches!(
            split_tls_params("postgres://h/db?sslcert=/c.pem"),
            Err(ConfigError::Unsupported { .. })
        ));
        assert!(matches!(
            split_tls_params("host=h sslrootcert=''"),
            Err(ConfigError::ConnectionString { .. })
        ));
        assert!(matches!(
            split_tls_params("host=h user='unclosed"),
            Err(ConfigError::ConnectionString { .. })
        ));
        assert!(matches!(
            split_tls_params("host=h user"),
            Err(ConfigError::ConnectionString { .. })
        ));
        assert!(matches!(
            split_tls_params("postgres://h/db?novalue"),
            Err(ConfigError::ConnectionString { .. })
        ));
    }

    #[test]
    fn prefer_without_a_host_name_is_plaintext() {
        let connector = Connector::new(SslMode::Prefer, None, false).unwrap();
        assert!(!connector.uses_tls());
        assert!(!Connector::new(SslMode::Disable, None, true).unwrap().uses_tls());
    }

    #[cfg(feature = "tls")]
    #[test]
    fn a_missing_or_empty_ca_file_is_a_config_error() {
        let missing = Roots::File(PathBuf::from("/nonexistent/tally/ca.pem"));
        assert!(matches!(
            Connector::new(SslMode::VerifyFull, Some(&missing), true),
            Err(ConfigError::CaFile { .. })
        ));
        let dir = std::env::temp_dir().join(format!("tally-pg-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        assert!(matches!(
            Connector::new(SslMode::VerifyCa, Some(&Roots::File(empty)), true),
            Err(ConfigError::CaFile { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn tls_modes_need_the_tls_feature() {
        assert!(matches!(
            Connector::new(SslMode::VerifyFull, None, true),
            Err(ConfigError::TlsNotBuilt { .. })
        ));
        assert!(!Connector::new(SslMode::Prefer, None, true).unwrap().uses_tls());
    }
}
