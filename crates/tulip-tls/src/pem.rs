//! PEM loading (certificates, private keys, identities) through `rustls-pki-types`.
//!
//! Every function returns `std::io::Error` with kind `InvalidData` for malformed or empty PEM and
//! the file system's error (kind and path in the message) for files that cannot be read, so that a
//! misconfigured server says which file is wrong.

use std::fmt;
use std::io;
use std::path::Path;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Parses every `CERTIFICATE` section of `pem`, in order (leaf first for a chain).
///
/// Sections of other kinds are skipped. An input with no certificate is an error, because a
/// caller that loads an empty chain or root set has always made a mistake.
///
/// # Examples
///
/// ```
/// let err = tulip_tls::pem::certs_from_pem(b"not pem").unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
/// ```
pub fn certs_from_pem(pem: &[u8]) -> io::Result<Vec<CertificateDer<'static>>> {
    collect_certs(CertificateDer::pem_slice_iter(pem), "PEM input")
}

/// Reads a PEM file and parses every `CERTIFICATE` section in it, like [`certs_from_pem`].
pub fn certs_from_pem_file(path: impl AsRef<Path>) -> io::Result<Vec<CertificateDer<'static>>> {
    let path = path.as_ref();
    let iter = CertificateDer::pem_file_iter(path).map_err(|e| pem_error(e, path.display()))?;
    collect_certs(iter, &path.display().to_string())
}

/// Parses the first private key (PKCS#8, PKCS#1 RSA or SEC1 EC) in `pem`.
pub fn private_key_from_pem(pem: &[u8]) -> io::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| pem_error(e, "PEM input"))
}

/// Reads a PEM file and parses the first private key in it, like [`private_key_from_pem`].
pub fn private_key_from_pem_file(path: impl AsRef<Path>) -> io::Result<PrivateKeyDer<'static>> {
    let path = path.as_ref();
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_error(e, path.display()))
}

/// A root store holding every certificate of a PEM bundle (a private CA, say).
pub fn root_store_from_pem(pem: &[u8]) -> io::Result<rustls::RootCertStore> {
    roots(certs_from_pem(pem)?)
}

/// A root store holding every certificate of a PEM file.
pub fn root_store_from_pem_file(path: impl AsRef<Path>) -> io::Result<rustls::RootCertStore> {
    roots(certs_from_pem_file(path)?)
}

fn roots(certs: Vec<CertificateDer<'static>>) -> io::Result<rustls::RootCertStore> {
    let mut store = rustls::RootCertStore::empty();
    for cert in certs {
        store.add(cert).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unusable root certificate: {e}"),
            )
        })?;
    }
    Ok(store)
}

fn collect_certs(
    iter: impl Iterator<Item = Result<CertificateDer<'static>, pem::Error>>,
    source: &str,
) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = iter
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(e, source))?;
    if certs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("no CERTIFICATE section found in {source}"),
        ));
    }
    Ok(certs)
}

fn pem_error(e: pem::Error, source: impl fmt::Display) -> io::Error {
    match e {
        // Keep the file system's error kind (NotFound, PermissionDenied) for callers that match on it.
        pem::Error::Io(io) => io::Error::new(io.kind(), format!("cannot read {source}: {io}")),
        pem::Error::NoItemsFound => io::Error::new(
            io::ErrorKind::InvalidData,
            format!("no private key found in {source}"),
        ),
        other => io::Error::new(
            io::ErrorKind::InvalidData,
            format!("malformed PEM in {source}: {other}"),
        ),
    }
}

/// A certificate chain and its private key: a server's identity, or a client's for mutual TLS.
///
/// # Examples
///
/// ```no_run
/// let id = tulip_tls::Identity::from_pem_files("cert.pem", "key.pem")?;
/// let acceptor = tulip_tls::TlsAcceptor::builder(id).build()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Identity {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
}

impl Identity {
    /// An identity from DER values: `chain` is leaf first, then intermediates.
    pub fn new(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Identity {
        Identity { chain, key }
    }

    /// An identity from PEM bytes: the certificate chain and the private key.
    pub fn from_pem(cert_chain_pem: &[u8], key_pem: &[u8]) -> io::Result<Identity> {
        Ok(Identity {
            chain: certs_from_pem(cert_chain_pem)?,
            key: private_key_from_pem(key_pem)?,
        })
    }

    /// An identity from two PEM files (they may be the same file holding both).
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> io::Result<Identity> {
        Ok(Identity {
            chain: certs_from_pem_file(cert_chain)?,
            key: private_key_from_pem_file(key)?,
        })
    }

    /// The certificate chain, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }
}

impl Clone for Identity {
    fn clone(&self) -> Identity {
        Identity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl fmt::Debug for Identity {
    // The key stays out of debug output on purpose: logs must never carry it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("chain_len", &self.chain.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_empty_and_garbage() {
        for input in [
            &b""[..],
            b"hello",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ] {
            let err = certs_from_pem(input).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{input:?}");
        }
        let err = private_key_from_pem(b"").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("no private key"), "{err}");
    }

    #[test]
    fn missing_file_keeps_not_found() {
        let err = certs_from_pem_file("/nonexistent/tulip-tls.pem").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(
            err.to_string().contains("/nonexistent/tulip-tls.pem"),
            "{err}"
        );
    }

    #[test]
    fn unterminated_section_is_invalid_data() {
        let err = certs_from_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
