//! A throwaway PKI made at test time: a CA, a server certificate for `localhost` and
//! `127.0.0.1` signed by it, a client certificate for mutual TLS, and a client certificate from
//! an unrelated CA that servers must reject. [`pem_files`] writes them out for the openssl and
//! curl tests (and for the PEM file loaders).

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tulip_tls::{
    Identity, TlsAcceptor, TlsAcceptorBuilder, TlsConnector, TlsConnectorBuilder, pem,
};

pub(crate) struct Pki {
    pub(crate) ca_pem: String,
    pub(crate) server_chain_pem: String,
    pub(crate) server_key_pem: String,
    pub(crate) client_chain_pem: String,
    pub(crate) client_key_pem: String,
    pub(crate) rogue_client_chain_pem: String,
    pub(crate) rogue_client_key_pem: String,
    /// A second server identity from the same CA, for `other.test`.
    pub(crate) other_chain_pem: String,
    pub(crate) other_key_pem: String,
}

/// The PKI as PEM files in a fresh temp folder, removed on drop.
pub(crate) struct PemFiles(PathBuf);

impl PemFiles {
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for PemFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn pem_files() -> PemFiles {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let files =
        PemFiles(std::env::temp_dir().join(format!("tulip-tls-it-{}-{n}", std::process::id())));
    std::fs::create_dir_all(&files.0).unwrap();
    let p = pki();
    for (name, body) in [
        ("ca.pem", &p.ca_pem),
        ("server.pem", &p.server_chain_pem),
        ("server.key", &p.server_key_pem),
        ("client.pem", &p.client_chain_pem),
        ("client.key", &p.client_key_pem),
    ] {
        std::fs::write(files.path(name), body).unwrap();
    }
    files
}

pub(crate) fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(make_pki)
}

fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let mut params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    // A chain file is leaf first, then the issuer, as servers send it.
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

pub(crate) fn server_identity() -> Identity {
    let p = pki();
    Identity::from_pem(p.server_chain_pem.as_bytes(), p.server_key_pem.as_bytes()).unwrap()
}

pub(crate) fn client_identity() -> Identity {
    let p = pki();
    Identity::from_pem(p.client_chain_pem.as_bytes(), p.client_key_pem.as_bytes()).unwrap()
}

pub(crate) fn other_server_identity() -> Identity {
    let p = pki();
    Identity::from_pem(p.other_chain_pem.as_bytes(), p.other_key_pem.as_bytes()).unwrap()
}

pub(crate) fn rogue_client_identity() -> Identity {
    let p = pki();
    Identity::from_pem(
        p.rogue_client_chain_pem.as_bytes(),
        p.rogue_client_key_pem.as_bytes(),
    )
    .unwrap()
}

pub(crate) fn acceptor_builder() -> TlsAcceptorBuilder {
    TlsAcceptor::builder(server_identity())
}

pub(crate) fn acceptor() -> TlsAcceptor {
    acceptor_builder().build().unwrap()
}

pub(crate) fn connector_builder() -> TlsConnectorBuilder {
    TlsConnector::builder().root_store(pem::root_store_from_pem(pki().ca_pem.as_bytes()).unwrap())
}

pub(crate) fn connector() -> TlsConnector {
    connector_builder().build().unwrap()
}
