//! Password proofs against independent vectors (PyMySQL 1.x's `_auth`
//! module for native and caching_sha2; RFC 8032 section 7.1 TEST 1 for
//! Ed25519, which client_ed25519 is when the password is a 32-byte seed),
//! and the client state machine through each documented exchange.
use crate::{hex, R};
use limen_wire::mysql::auth::scramble::{
    caching_sha2, ed25519, ed25519_public, native_password, nonce, xor_with_nonce,
};
use limen_wire::mysql::auth::{encode_more_data, encode_switch, AuthReply, AuthStep, ClientAuth};
use limen_wire::mysql::caps::CLIENT_PROTOCOL_41;
use limen_wire::ErrorKind;

const OK: &[u8] = &[0, 0, 0, 2, 0, 0, 0];

fn n20() -> Vec<u8> {
    (1..=20).collect()
}

#[test]
fn proofs_match_pymysql() {
    // pymysql._auth.scramble_native_password(b"secret", bytes(range(1, 21)))
    assert_eq!(
        native_password(b"secret", &n20()),
        hex("b32bb3a583e1340c0a1108d58b1be49781ad8c2f")
    );
    // pymysql._auth.scramble_caching_sha2(b"secret", bytes(range(1, 21)))
    assert_eq!(
        caching_sha2(b"secret", &n20()),
        hex("746ebe205d56a0707acb3e796e834e0dd7b1d61743b26bd5202c7a623230c7c9")
    );
    // pymysql._auth._xor_password(b"secret\0", bytes(range(1, 21)))
    assert_eq!(xor_with_nonce(b"secret", &n20()), hex("72676076607207"));
    assert!(native_password(b"", &n20()).is_empty());
    assert!(caching_sha2(b"", &n20()).is_empty());
    assert_eq!(nonce(b"abc\0"), b"abc");
}

#[test]
fn ed25519_matches_rfc8032_test_1() {
    let seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    assert_eq!(
        ed25519_public(&seed).to_vec(),
        hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    );
    assert_eq!(
        ed25519(&seed, b"").to_vec(),
        hex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
    );
}

fn switch(plugin: &[u8], data: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    let _ = encode_switch(&mut p, plugin, data);
    p
}

fn more(data: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    encode_more_data(&mut p, data);
    p
}

#[test]
fn caching_sha2_fast_and_full_paths() -> R {
    let caps = CLIENT_PROTOCOL_41;
    // Fast path: 0x03 then OK.
    let (mut a, first) =
        ClientAuth::start(b"caching_sha2_password", &n20(), b"secret", false, None)?;
    assert_eq!(first, caching_sha2(b"secret", &n20()));
    assert_eq!(a.on_packet(&more(&[3]), caps)?, AuthStep::Wait);
    assert_eq!(a.on_packet(OK, caps)?, AuthStep::Done { status: 2 });
    assert!(a.on_packet(OK, caps).is_err(), "nothing after the end");
    // Full auth over TLS: the password in clear, NUL-terminated.
    let (mut a, _) = ClientAuth::start(b"caching_sha2_password", &n20(), b"secret", true, None)?;
    assert_eq!(
        a.on_packet(&more(&[4]), caps)?,
        AuthStep::Send(b"secret\0".to_vec())
    );
    // Full auth on plaintext: ask for the key, then encrypt (caller's RSA).
    let (mut a, _) = ClientAuth::start(b"caching_sha2_password", &n20(), b"secret", false, None)?;
    assert_eq!(a.on_packet(&more(&[4]), caps)?, AuthStep::Send(vec![2]));
    let pem = b"-----BEGIN PUBLIC KEY-----\n...\n-----END PUBLIC KEY-----\n";
    assert_eq!(
        a.on_packet(&more(pem), caps)?,
        AuthStep::RsaEncrypt {
            public_key_pem: pem.to_vec(),
            plaintext: xor_with_nonce(b"secret", &n20())
        }
    );
    // ... with a configured key: no request.
    let (mut a, _) = ClientAuth::start(
        b"caching_sha2_password",
        &n20(),
        b"secret",
        false,
        Some(b"KEY"),
    )?;
    assert!(
        matches!(a.on_packet(&more(&[4]), caps)?, AuthStep::RsaEncrypt { public_key_pem, .. } if public_key_pem == b"KEY")
    );
    Ok(())
}

#[test]
fn switches_and_refusals() -> R {
    let caps = CLIENT_PROTOCOL_41;
    // Native first, switched to ed25519 (32-byte nonce, no NUL).
    let (mut a, first) = ClientAuth::start(b"mysql_native_password", &n20(), b"pw", false, None)?;
    assert_eq!(first, native_password(b"pw", &n20()));
    let n32: Vec<u8> = (0..32).collect();
    let AuthStep::Send(sig) = a.on_packet(&switch(b"client_ed25519", &n32), caps)? else {
        return Err("no signature".into());
    };
    assert_eq!(sig, ed25519(b"pw", &n32).to_vec());
    assert_eq!(a.plugin(), b"client_ed25519");
    // A second switch is refused.
    let e = a
        .on_packet(&switch(b"mysql_native_password", &n20()), caps)
        .err()
        .ok_or("ok")?;
    assert_eq!(e.kind(), ErrorKind::Auth);
    // Switch to native with the 20-byte nonce and its NUL.
    let (mut a, _) = ClientAuth::start(b"caching_sha2_password", &n20(), b"pw", false, None)?;
    let mut data = n20();
    data.reverse();
    let step = a.on_packet(
        &switch(b"mysql_native_password", &[&data[..], &[0]].concat()),
        caps,
    )?;
    assert_eq!(step, AuthStep::Send(native_password(b"pw", &data)));
    // Clear text only over TLS; unknown plugins and short nonces refused.
    for (plugin, data, tls) in [
        (&b"mysql_clear_password"[..], &b""[..], false),
        (b"dialog", b"", true),
        (b"client_ed25519", b"short", true),
    ] {
        let (mut a, _) = ClientAuth::start(b"mysql_native_password", &n20(), b"pw", tls, None)?;
        assert_eq!(
            a.on_packet(&switch(plugin, data), caps)
                .err()
                .map(|e| e.kind()),
            Some(ErrorKind::Auth)
        );
    }
    let (mut a, _) = ClientAuth::start(b"mysql_native_password", &n20(), b"pw", true, None)?;
    assert_eq!(
        a.on_packet(&switch(b"mysql_clear_password", b""), caps)?,
        AuthStep::Send(b"pw\0".to_vec())
    );
    // ERR from the server; AuthMoreData where none is expected.
    let (mut a, _) = ClientAuth::start(b"mysql_native_password", &n20(), b"pw", false, None)?;
    let err = hex("ff 15 04 23 32 38 30 30 30 41 63 63 65 73 73");
    assert!(matches!(
        AuthReply::try_parse(&err, caps)?,
        AuthReply::Err(_)
    ));
    assert_eq!(
        a.on_packet(&err, caps).err().map(|e| e.kind()),
        Some(ErrorKind::Auth)
    );
    let (mut a, _) = ClientAuth::start(b"mysql_native_password", &n20(), b"pw", false, None)?;
    assert!(a.on_packet(&more(&[3]), caps).is_err());
    assert!(AuthReply::try_parse(&[0x7f], caps).is_err());
    assert_eq!(
        AuthReply::try_parse(&[0xfe], caps)?,
        AuthReply::OldPasswordRequest
    );
    Ok(())
}
