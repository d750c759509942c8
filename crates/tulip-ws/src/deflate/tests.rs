use super::*;

fn round_trip(params: DeflateParams, messages: &[&[u8]]) -> Vec<usize> {
    let config = DeflateConfig::default();
    let mut tx = Deflater::new(
        params.client_max_window_bits,
        params.client_no_context_takeover,
        &config,
    );
    let mut rx = Inflater::new();
    let mut sizes = Vec::new();
    for m in messages {
        let mut wire = Vec::new();
        tx.compress(m, &mut wire);
        sizes.push(wire.len());
        let mut out = Vec::new();
        rx.decompress(&wire, &mut out, usize::MAX).unwrap();
        assert_eq!(&out, m);
    }
    sizes
}

fn params(no_takeover: bool, bits: u8) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: no_takeover,
        client_no_context_takeover: no_takeover,
        server_max_window_bits: bits,
        client_max_window_bits: bits,
    }
}

#[test]
fn round_trips_with_and_without_context_takeover() {
    let text = b"the quick brown fox jumps over the lazy dog, again and again and again";
    let msgs: Vec<&[u8]> = vec![text, text, b"", b"x", text];
    let with = round_trip(params(false, 15), &msgs);
    let without = round_trip(params(true, 15), &msgs);
    // With takeover the repeated message refers back into the previous one and shrinks.
    assert!(with[1] < without[1], "{with:?} vs {without:?}");
    assert_eq!(with[0], without[0]);
    round_trip(params(false, 9), &msgs);
    round_trip(params(true, 8), &msgs);
}

#[test]
fn large_and_incompressible_round_trip() {
    let mut seed = 0x1234_5678u32;
    let noise: Vec<u8> = (0..300_000)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as u8
        })
        .collect();
    let zeros = vec![0u8; 1 << 20];
    for bits in [15, 8] {
        round_trip(params(false, bits), &[&noise, &zeros, &noise]);
    }
}

#[test]
fn inflate_limit_stops_a_bomb() {
    let mut tx = Deflater::new(15, false, &DeflateConfig::default());
    let mut wire = Vec::new();
    tx.compress(&vec![0u8; 1 << 20], &mut wire);
    assert!(wire.len() < 8192);
    let mut out = Vec::new();
    let err = Inflater::new()
        .decompress(&wire, &mut out, 1000)
        .unwrap_err();
    assert_eq!(err, ProtocolError::MessageTooLarge);
}

#[test]
fn garbage_is_an_error() {
    let mut out = Vec::new();
    let err = Inflater::new().decompress(&[0xFF, 0xFF, 0xFF, 0xFF], &mut out, 1 << 20);
    assert_eq!(err, Err(ProtocolError::InvalidCompressedData));
}

#[test]
fn server_negotiation_table() {
    let cfg = DeflateConfig::default();
    let table: &[(&str, Option<&str>)] = &[
        ("permessage-deflate", Some("permessage-deflate")),
        (
            "x-webkit-deflate-frame, permessage-deflate",
            Some("permessage-deflate"),
        ),
        (
            "permessage-deflate; client_max_window_bits",
            Some("permessage-deflate"),
        ),
        (
            "permessage-deflate; client_max_window_bits=10",
            Some("permessage-deflate; client_max_window_bits=10"),
        ),
        (
            "permessage-deflate; server_max_window_bits=9; server_no_context_takeover",
            Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=9"),
        ),
        (
            "permessage-deflate; client_no_context_takeover",
            Some("permessage-deflate; client_no_context_takeover"),
        ),
        ("permessage-deflate; server_max_window_bits=7", None),
        ("permessage-deflate; server_max_window_bits=16", None),
        ("permessage-deflate; server_max_window_bits", None),
        ("permessage-deflate; server_max_window_bits=09", None),
        ("permessage-deflate; server_no_context_takeover=1", None),
        ("permessage-deflate; foo", None),
        (
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            None,
        ),
        (
            "permessage-deflate; foo, permessage-deflate; server_no_context_takeover",
            Some("permessage-deflate; server_no_context_takeover"),
        ),
        ("x-other", None),
    ];
    for (offer, want) in table {
        let got = negotiate_server([*offer], &cfg).map(|(_, r)| r);
        assert_eq!(got.as_deref(), *want, "{offer}");
    }
}

#[test]
fn server_config_can_limit_client_and_force_reset() {
    let cfg = DeflateConfig {
        server_no_context_takeover: true,
        client_max_window_bits: Some(12),
        ..DeflateConfig::default()
    };
    let (p, r) = negotiate_server(["permessage-deflate; client_max_window_bits"], &cfg).unwrap();
    assert_eq!(
        r,
        "permessage-deflate; server_no_context_takeover; client_max_window_bits=12"
    );
    assert_eq!(p.client_max_window_bits, 12);
    assert!(p.server_no_context_takeover);
    // Without client_max_window_bits in the offer we must not limit the client.
    let (p, r) = negotiate_server(["permessage-deflate"], &cfg).unwrap();
    assert_eq!(r, "permessage-deflate; server_no_context_takeover");
    assert_eq!(p.client_max_window_bits, 15);
}

#[test]
fn client_offer_and_response_table() {
    let cfg = DeflateConfig {
        client_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    assert_eq!(
        client_offer(&cfg),
        "permessage-deflate; client_no_context_takeover; client_max_window_bits"
    );
    let ok = accept_client_response(["permessage-deflate; client_max_window_bits=9"], &cfg)
        .unwrap()
        .unwrap();
    assert_eq!(ok.client_max_window_bits, 9);
    assert!(ok.client_no_context_takeover);
    assert_eq!(accept_client_response([], &cfg), Ok(None));
    for bad in [
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; bogus",
        "permessage-deflate, permessage-deflate",
        "x-unknown",
    ] {
        assert!(accept_client_response([bad], &cfg).is_err(), "{bad}");
    }
}
