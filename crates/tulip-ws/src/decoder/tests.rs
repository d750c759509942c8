use proptest::prelude::*;

use super::*;
use crate::close::CloseCode;
use crate::deflate::{DeflateConfig, Deflater};

/// One frame as a client would send it (masked with `key`).
fn frame(fin: bool, rsv1: bool, opcode: OpCode, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let h = FrameHeader {
        fin,
        rsv1,
        rsv2: false,
        rsv3: false,
        opcode,
        mask: Some(key),
        len: payload.len() as u64,
    };
    let mut out = Vec::new();
    h.encode(&mut out);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], key, 0);
    out
}

fn server_decoder() -> Decoder {
    Decoder::new(Role::Server, 1 << 20, 1 << 20, false)
}

/// Feeds `wire` in chunks of `step` bytes, collecting events until the first error.
fn run(dec: &mut Decoder, wire: &[u8], step: usize) -> Result<Vec<Event>, ProtocolError> {
    let mut buf = ReadBuf::new(64, &[]);
    let mut events = Vec::new();
    for chunk in wire.chunks(step.max(1)) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let spare = buf.spare();
            let n = spare.len().min(rest.len());
            spare[..n].copy_from_slice(&rest[..n]);
            buf.advance(n);
            rest = &rest[n..];
            while let Some(ev) = dec.decode(&mut buf)? {
                events.push(ev);
            }
        }
    }
    Ok(events)
}

#[test]
fn utf8_across_fragments_table() {
    // (fragments of one text message, expected outcome)
    let euro = "€".as_bytes(); // e2 82 ac
    type Row<'a> = (Vec<&'a [u8]>, Result<&'static str, ProtocolError>);
    let table: Vec<Row<'_>> = vec![
        (vec![b"hello"], Ok("hello")),
        (vec![b"hel", b"lo"], Ok("hello")),
        (vec![&euro[..1], &euro[1..]], Ok("€")),
        (vec![&euro[..2], &euro[2..]], Ok("€")),
        (vec![&euro[..1], &euro[1..2], &euro[2..]], Ok("€")),
        (vec![b"", euro, b""], Ok("€")),
        (
            vec![
                b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",
                b"-\xed\xa0\x80",
            ],
            Err(ProtocolError::InvalidUtf8),
        ),
        (vec![b"\xff", b"ok"], Err(ProtocolError::InvalidUtf8)),
        (vec![&euro[..2]], Err(ProtocolError::InvalidUtf8)),
        (vec![&euro[..2], b"x"], Err(ProtocolError::InvalidUtf8)),
        (vec![b"\xf4\x90\x80\x80"], Err(ProtocolError::InvalidUtf8)),
    ];
    for (fragments, want) in table {
        let mut wire = Vec::new();
        for (i, f) in fragments.iter().enumerate() {
            let op = if i == 0 {
                OpCode::Text
            } else {
                OpCode::Continuation
            };
            wire.extend(frame(i + 1 == fragments.len(), false, op, f, [1, 2, 3, 4]));
        }
        for step in [1, 3, wire.len()] {
            let got = run(&mut server_decoder(), &wire, step);
            let want = want.map(|s| vec![Event::Data(Message::Text(s.into()))]);
            assert_eq!(got, want, "{fragments:?} step {step}");
        }
    }
}

#[test]
fn invalid_utf8_fails_before_the_frame_ends() {
    // A bad byte at the start of a large frame fails as soon as it is seen.
    let mut payload = vec![b'a'; 10_000];
    payload[0] = 0xC0;
    let wire = frame(true, false, OpCode::Text, &payload, [9, 9, 9, 9]);
    let got = run(&mut server_decoder(), &wire[..200], 50);
    assert_eq!(got, Err(ProtocolError::InvalidUtf8));
}

#[test]
fn protocol_errors_table() {
    let k = [1, 2, 3, 4];
    let table: Vec<(Vec<u8>, ProtocolError)> = vec![
        (
            frame(true, true, OpCode::Text, b"x", k),
            ProtocolError::ReservedBits,
        ),
        (
            frame(false, false, OpCode::Ping, b"", k),
            ProtocolError::FragmentedControl,
        ),
        (
            frame(true, false, OpCode::Ping, &[0; 126], k),
            ProtocolError::ControlTooLong,
        ),
        (
            frame(true, false, OpCode::Continuation, b"x", k),
            ProtocolError::UnexpectedContinuation,
        ),
        (
            [
                frame(false, false, OpCode::Text, b"a", k),
                frame(true, false, OpCode::Text, b"b", k),
            ]
            .concat(),
            ProtocolError::ExpectedContinuation,
        ),
        (vec![0x81, 0x00], ProtocolError::Unmasked),
        (
            frame(true, false, OpCode::Close, b"\x03", k),
            ProtocolError::InvalidClosePayload,
        ),
        (
            frame(true, false, OpCode::Close, b"\x03\xed", k),
            ProtocolError::InvalidCloseCode(1005),
        ),
    ];
    for (wire, want) in table {
        assert_eq!(
            run(&mut server_decoder(), &wire, wire.len()),
            Err(want),
            "{wire:x?}"
        );
        assert_eq!(want.close_code(), CloseCode::PROTOCOL_ERROR);
    }
    let mut small = Decoder::new(Role::Server, 10, 20, false);
    let big = frame(true, false, OpCode::Binary, &[0; 11], k);
    assert_eq!(
        run(&mut small, &big, 100),
        Err(ProtocolError::FrameTooLarge)
    );
    let mut small = Decoder::new(Role::Server, 10, 15, false);
    let two = [
        frame(false, false, OpCode::Binary, &[0; 10], k),
        frame(true, false, OpCode::Continuation, &[0; 10], k),
    ]
    .concat();
    assert_eq!(
        run(&mut small, &two, 100),
        Err(ProtocolError::MessageTooLarge)
    );
    assert_eq!(
        ProtocolError::MessageTooLarge.close_code(),
        CloseCode::TOO_BIG
    );
    let mut client = Decoder::new(Role::Client, 100, 100, false);
    assert_eq!(
        run(&mut client, &frame(true, false, OpCode::Binary, b"x", k), 9),
        Err(ProtocolError::Masked)
    );
}

#[test]
fn control_frames_interleave_with_fragments() {
    let k = [5, 6, 7, 8];
    let wire = [
        frame(false, false, OpCode::Binary, b"ab", k),
        frame(true, false, OpCode::Ping, b"p", k),
        frame(false, false, OpCode::Continuation, b"cd", k),
        frame(true, false, OpCode::Pong, b"q", k),
        frame(true, false, OpCode::Continuation, b"ef", k),
        frame(true, false, OpCode::Close, b"\x03\xe8bye", k),
    ]
    .concat();
    let want = vec![
        Event::Ping(b"p".to_vec()),
        Event::Pong(b"q".to_vec()),
        Event::Data(Message::Binary(b"abcdef".to_vec())),
        Event::Close(Some(CloseFrame::new(CloseCode::NORMAL, "bye"))),
    ];
    for step in 1..wire.len() {
        assert_eq!(
            run(&mut server_decoder(), &wire, step),
            Ok(want.clone()),
            "step {step}"
        );
    }
}

#[test]
fn compressed_fragments_inflate() {
    let mut d = Deflater::new(15, false, &DeflateConfig::default());
    let text = "compress me, compress me, compress me please";
    let mut z = Vec::new();
    d.compress(text.as_bytes(), &mut z);
    let (a, b) = z.split_at(z.len() / 2);
    let wire = [
        frame(false, true, OpCode::Text, a, [1, 1, 1, 1]),
        frame(true, false, OpCode::Continuation, b, [2, 2, 2, 2]),
    ]
    .concat();
    let mut dec = Decoder::new(Role::Server, 1 << 20, 1 << 20, true);
    assert_eq!(
        run(&mut dec, &wire, 5),
        Ok(vec![Event::Data(Message::Text(text.into()))])
    );
    // RSV1 on a continuation frame is an error even with deflate on.
    let bad = [
        frame(false, true, OpCode::Text, a, [1, 1, 1, 1]),
        frame(true, true, OpCode::Continuation, b, [2, 2, 2, 2]),
    ]
    .concat();
    let mut dec = Decoder::new(Role::Server, 1 << 20, 1 << 20, true);
    assert_eq!(run(&mut dec, &bad, 5), Err(ProtocolError::ReservedBits));
}

fn message() -> impl Strategy<Value = (bool, Vec<u8>, usize)> {
    (
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..3000),
        1usize..5,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(debug_assertions) { 64 } else { 256 }))]

    /// Messages split into fragments and fed in arbitrary chunk sizes come back whole.
    #[test]
    fn round_trip(msgs in prop::collection::vec(message(), 1..5), step in 1usize..700, key in any::<[u8; 4]>()) {
        let mut wire = Vec::new();
        let mut want = Vec::new();
        for (text, bytes, parts) in &msgs {
            let payload: Vec<u8> = if *text {
                String::from_utf8_lossy(bytes).into_owned().into_bytes()
            } else {
                bytes.clone()
            };
            let chunk = payload.len() / parts + 1;
            let pieces: Vec<&[u8]> = if payload.is_empty() { vec![&[]] } else { payload.chunks(chunk).collect() };
            for (i, p) in pieces.iter().enumerate() {
                let op = match (i, text) { (0, true) => OpCode::Text, (0, false) => OpCode::Binary, _ => OpCode::Continuation };
                wire.extend(frame(i + 1 == pieces.len(), false, op, p, key));
            }
            want.push(Event::Data(if *text {
                Message::Text(String::from_utf8(payload).unwrap())
            } else {
                Message::Binary(payload)
            }));
        }
        prop_assert_eq!(run(&mut server_decoder(), &wire, step), Ok(want));
    }

    /// Arbitrary bytes never panic, whatever the chunking and role.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), step in 1usize..64, client in any::<bool>(), deflate in any::<bool>()) {
        let role = if client { Role::Client } else { Role::Server };
        let mut dec = Decoder::new(role, 300, 500, deflate);
        let _ = run(&mut dec, &bytes, step);
    }

    /// One frame split at every byte boundary decodes the same.
    #[test]
    fn every_split_point(payload in prop::collection::vec(any::<u8>(), 0..300), key in any::<[u8; 4]>()) {
        let wire = frame(true, false, OpCode::Binary, &payload, key);
        for cut in 0..=wire.len() {
            let mut dec = server_decoder();
            let mut buf = ReadBuf::new(1024, &wire[..cut]);
            let mut events = Vec::new();
            if let Some(ev) = dec.decode(&mut buf).unwrap() { events.push(ev); }
            let spare = buf.spare();
            spare[..wire.len() - cut].copy_from_slice(&wire[cut..]);
            buf.advance(wire.len() - cut);
            if let Some(ev) = dec.decode(&mut buf).unwrap() { events.push(ev); }
            prop_assert_eq!(events, vec![Event::Data(Message::Binary(payload.clone()))]);
        }
    }
}

#[test]
fn fuzz_regression_final_deflate_block_mid_message() {
    let input = b"\xc1\x8b\x01\x02\x03\x04\x32\xcb\x4a\xce\xcd\xc8\x55\xcb\x44\x56\x02\x03\xc1\x87\x01\x02\x03\x79\x04\x4b\x4e\x4c\xc8\xcd\x01\x03";
    for step in [1, 7, input.len()] {
        let mut dec = Decoder::new(Role::Server, 16 << 10, 64 << 10, true);
        let _ = run(&mut dec, input, step);
    }
}
