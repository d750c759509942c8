//! The shared test PKI (`tulip_test_support::pki`) as tulip-tls identities, acceptors and
//! connectors.

use tulip_test_support::pki::PemFiles;
pub(crate) use tulip_test_support::pki::pki;
use tulip_tls::{
    Identity, TlsAcceptor, TlsAcceptorBuilder, TlsConnector, TlsConnectorBuilder, pem,
};

/// The PKI as PEM files in a fresh temp folder, removed on drop.
pub(crate) fn pem_files() -> PemFiles {
    PemFiles::new("tulip-tls-it")
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
