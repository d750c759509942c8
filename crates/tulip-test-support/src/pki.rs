//! A throwaway PKI made at test time: a CA, a server certificate for `localhost` and
//! `127.0.0.1` signed by it, a client certificate for mutual TLS, a second server certificate
//! (`other.test`) for SNI tests, and a client certificate from an unrelated CA that servers
//! must reject.
//!
//! [`pki`] makes it once per test binary (key generation is the slow part) and hands out PEM
//! text; [`PemFiles`] writes it to a fresh folder for command-line peers (curl, openssl,
//! Python). Chains are leaf first, then the issuer, as servers send them.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// The test PKI as PEM text.
#[derive(Debug)]
pub struct Pki {
    /// The CA's certificate: the one root a client trusts.
    pub ca_pem: String,
    /// The server's chain (`localhost`, `127.0.0.1`), leaf first.
    pub server_chain_pem: String,
    /// The server's private key.
    pub server_key_pem: String,
    /// A client certificate chain from the same CA, for mutual TLS.
    pub client_chain_pem: String,
    /// The client's private key.
    pub client_key_pem: String,
    /// A client chain from an unrelated CA: servers requiring client auth must reject it.
    pub rogue_client_chain_pem: String,
    /// The rogue client's private key.
    pub rogue_client_key_pem: String,
    /// A second server chain from the same CA, for `other.test`.
    pub other_chain_pem: String,
    /// That server's private key.
    pub other_key_pem: String,
}

/// The test PKI, made on first use and shared by every test in the binary.
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(make_pki)
}

/// A self-signed certificate for `names` and its key, `(cert_pem, key_pem)`: the simplest
/// server identity, trusted by a client that takes the certificate itself as its root.
pub fn self_signed(names: &[&str]) -> (String, String) {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let c = rcgen::generate_simple_self_signed(names).expect("rcgen: self-signed certificate");
    (c.cert.pem(), c.signing_key.serialize_pem())
}

/// The PKI as PEM files in a fresh temp folder, removed on drop: `ca.pem`, `server.pem`,
/// `server.key`, `client.pem`, `client.key`.
#[derive(Debug)]
pub struct PemFiles(PathBuf);

impl PemFiles {
    /// Writes the PKI into a new folder whose name starts with `tag`.
    pub fn new(tag: &str) -> PemFiles {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the PEM folder");
        let files = PemFiles(dir);
        let p = pki();
        for (name, body) in [
            ("ca.pem", &p.ca_pem),
            ("server.pem", &p.server_chain_pem),
            ("server.key", &p.server_key_pem),
            ("client.pem", &p.client_chain_pem),
            ("client.key", &p.client_key_pem),
        ] {
            std::fs::write(files.path(name), body).expect("write a PEM file");
        }
        files
    }

    /// The path of one of the files (`"ca.pem"`, ...), or of a file a test adds beside them.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.0
    }
}

impl Drop for PemFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA")
}

fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let mut params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("leaf params");
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().expect("leaf key");
    let cert = params.signed_by(&key, issuer).expect("sign a leaf");
    (
        format!("{}{}", cert.pem(), issuer.pem()),
        key.serialize_pem(),
    )
}

fn make_pki() -> Pki {
    let ca = new_ca("tulip test CA");
    let rogue = new_ca("tulip rogue CA");
    let (server_chain_pem, server_key_pem) = leaf(
        &ca,
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_chain_pem, client_key_pem) = leaf(
        &ca,
        &["client.tulip.test"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let (rogue_client_chain_pem, rogue_client_key_pem) = leaf(
        &rogue,
        &["rogue.tulip.test"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let (other_chain_pem, other_key_pem) =
        leaf(&ca, &["other.test"], ExtendedKeyUsagePurpose::ServerAuth);
    Pki {
        ca_pem: ca.pem(),
        server_chain_pem,
        server_key_pem,
        client_chain_pem,
        client_key_pem,
        rogue_client_chain_pem,
        rogue_client_key_pem,
        other_chain_pem,
        other_key_pem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_are_leaf_then_ca_and_files_go_away_on_drop() {
        let p = pki();
        assert_eq!(p.server_chain_pem.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(p.server_chain_pem.ends_with(&p.ca_pem));
        assert!(!p.rogue_client_chain_pem.contains(&p.ca_pem));
        let files = PemFiles::new("tulip-test-support-pki");
        let dir = files.dir().to_path_buf();
        assert_eq!(
            std::fs::read_to_string(files.path("ca.pem")).unwrap(),
            p.ca_pem
        );
        drop(files);
        assert!(!dir.exists());
    }
}
