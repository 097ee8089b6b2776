//! Where this process reaches an engine's API (a unix socket, `tcp://` in the clear or over
//! TLS) and the checks of the TLS files an endpoint names: readable, holding the PEM block
//! their role needs, and never quoted.

use std::net::IpAddr;

use super::EngineError;

/// Where an engine's API is reached from this process.
#[derive(Debug, Clone)]
pub enum EngineAddress {
    /// A unix socket on this machine (the host engine, a unix:// endpoint).
    Unix(std::path::PathBuf),
    /// `tcp://HOST:PORT` (a dind engine on its private IP, a tcp:// endpoint), with the
    /// endpoint's TLS files when it has them.
    Tcp {
        url: String,
        tls: Option<crate::matrix::TlsFiles>,
    },
}

impl EngineAddress {
    /// What `DOCKER_HOST` is for a client of this engine.
    pub fn docker_host(&self) -> String {
        match self {
            EngineAddress::Unix(p) => format!("unix://{}", p.display()),
            EngineAddress::Tcp { url, .. } => url.clone(),
        }
    }

    /// The host engine's: DOCKER_HOST, else the default socket.
    pub fn of_host() -> EngineAddress {
        match std::env::var("DOCKER_HOST") {
            Ok(h) if h.starts_with("tcp://") => EngineAddress::Tcp { url: h, tls: None },
            Ok(h) if h.starts_with("unix://") => {
                EngineAddress::Unix(h.trim_start_matches("unix://").into())
            }
            _ => EngineAddress::Unix("/var/run/docker.sock".into()),
        }
    }

    pub(super) fn of_endpoint(url: &str, tls: Option<&crate::matrix::TlsFiles>) -> EngineAddress {
        match url.strip_prefix("unix://") {
            Some(path) => EngineAddress::Unix(path.into()),
            None => EngineAddress::Tcp {
                url: url.to_string(),
                tls: tls.cloned(),
            },
        }
    }
}

pub(super) fn host_of_url(url: &str) -> Option<IpAddr> {
    let rest = url.split_once("://")?.1;
    let host = rest.split(['/', ':']).next()?;
    host.parse().ok()
}

/// What a TLS file must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PemKind {
    Certificate,
    PrivateKey,
}

impl std::fmt::Display for PemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PemKind::Certificate => "certificate",
            PemKind::PrivateKey => "private key",
        })
    }
}

/// Whether `path` is readable and holds a PEM block of `kind`. Only the file's name goes
/// into errors, never its content (a key is a secret).
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(super) fn check_tls_file(
    role: &'static str,
    path: &std::path::Path,
    kind: PemKind,
) -> Result<(), EngineError> {
    let text =
        crate::safe_io::read_user_file(path, crate::safe_io::MAX_CONFIG_BYTES).map_err(|e| {
            EngineError::TlsRead {
                role,
                path: path.to_path_buf(),
                source: match e {
                    crate::safe_io::SafeIoError::Read { source, .. } => source,
                    other => std::io::Error::new(std::io::ErrorKind::InvalidInput, other.reason()),
                },
            }
        })?;
    if holds_pem(&String::from_utf8_lossy(&text), kind) {
        Ok(())
    } else {
        Err(EngineError::TlsNotPem {
            role,
            path: path.to_path_buf(),
            kind,
        })
    }
}

/// Whether `text` holds a PEM block of `kind`.
pub(super) fn holds_pem(text: &str, kind: PemKind) -> bool {
    text.lines().any(|l| {
        let l = l.trim();
        l.starts_with("-----BEGIN ")
            && match kind {
                PemKind::Certificate => l == "-----BEGIN CERTIFICATE-----",
                // PKCS#8, PKCS#1 (RSA) and SEC1 (EC) keys, as `docker` accepts them.
                PemKind::PrivateKey => l.ends_with("PRIVATE KEY-----"),
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_files_are_checked_and_named_never_shown() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing-ca.pem");
        match check_tls_file("tls-ca", &missing, PemKind::Certificate) {
            Err(e @ EngineError::TlsRead { .. }) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("tls-ca") && msg.contains("missing-ca.pem"),
                    "{msg}"
                );
            }
            other => panic!("expected a read error, got {other:?}"),
        }
        let key = dir.path().join("key.pem");
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n",
        )
        .expect("written");
        assert!(check_tls_file("tls-key", &key, PemKind::PrivateKey).is_ok());
        // A key where a certificate belongs: named, and its content never in the message.
        let e = check_tls_file("tls-cert", &key, PemKind::Certificate)
            .expect_err("a key is no certificate");
        let msg = e.to_string();
        assert!(
            msg.contains("tls-cert")
                && msg.contains("key.pem")
                && msg.contains("no PEM certificate"),
            "{msg}"
        );
        assert!(!msg.contains("c2VjcmV0"), "{msg}");
        let rsa = dir.path().join("rsa.pem");
        std::fs::write(&rsa, "-----BEGIN RSA PRIVATE KEY-----\nx\n").expect("written");
        assert!(check_tls_file("tls-key", &rsa, PemKind::PrivateKey).is_ok());
    }
}
