//! SCRAM-SHA-256 against the RFC 7677 test vector, md5 against a known
//! answer, and the upstream authentication state machine's rules.
use limen_wire::pg::auth::{
    md5_password, nonce_from_random, AuthPolicy, AuthStep, ChannelBinding, ScramClient,
    UpstreamAuth,
};
use limen_wire::pg::backend::Authentication;
use limen_wire::pg::frontend::AuthContext;
use limen_wire::pg::{BackendDecoder, BackendMessage, FrontendDecoder, FrontendMessage, Limits};
use limen_wire::ErrorKind;

type R = Result<(), Box<dyn std::error::Error>>;

const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
const SERVER_FIRST: &[u8] =
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const CLIENT_FINAL: &[u8] =
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const SERVER_FINAL: &[u8] = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

fn rfc_client() -> Result<ScramClient, limen_wire::Error> {
    ScramClient::try_new("user", b"pencil", NONCE, ChannelBinding::Unsupported)
}

#[test]
fn rfc7677_test_vector() -> R {
    let mut c = rfc_client()?;
    assert_eq!(c.mechanism(), "SCRAM-SHA-256");
    assert_eq!(c.try_client_first()?, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    assert_eq!(c.try_client_final(SERVER_FIRST)?, CLIENT_FINAL);
    assert!(!c.is_verified());
    c.try_verify_server_final(SERVER_FINAL)?;
    assert!(c.is_verified());
    Ok(())
}

#[test]
fn wrong_server_signature_is_refused() -> R {
    let mut c = rfc_client()?;
    c.try_client_first()?;
    c.try_client_final(SERVER_FIRST)?;
    let e = c
        .try_verify_server_final(b"v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        .err();
    assert_eq!(e.map(|e| e.kind()), Some(ErrorKind::ServerNotVerified));
    assert!(!c.is_verified());
    // The exchange is over: no second try.
    assert!(c.try_verify_server_final(SERVER_FINAL).is_err());
    Ok(())
}

#[test]
fn server_error_and_malformed_server_first_are_refused() -> R {
    let mut c = rfc_client()?;
    c.try_client_first()?;
    c.try_client_final(SERVER_FIRST)?;
    assert_eq!(
        c.try_verify_server_final(b"e=invalid-proof")
            .err()
            .map(|e| e.kind()),
        Some(ErrorKind::Auth)
    );
    for bad in [
        &b"r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"[..], // nonce not extending ours
        b"r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", // no server part
        b"r=rOprNGfwEbeRWgbNEkqOx,s=!!!,i=4096",                 // bad base64
        b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
        b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999",
        b"m=ext,r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==",
        b"\xff\xfe",
    ] {
        let mut c = rfc_client()?;
        c.try_client_first()?;
        assert!(
            c.try_client_final(bad).is_err(),
            "accepted {:?}",
            String::from_utf8_lossy(bad)
        );
    }
    Ok(())
}

#[test]
fn iteration_cap_is_configurable() -> R {
    let mut c = rfc_client()?.with_max_iterations(4095);
    c.try_client_first()?;
    assert_eq!(
        c.try_client_final(SERVER_FIRST).err().map(|e| e.kind()),
        Some(ErrorKind::InvalidValue)
    );
    Ok(())
}

#[test]
fn nonce_and_username_rules() -> R {
    assert!(ScramClient::try_new("", b"p", "has,comma", ChannelBinding::Unsupported).is_err());
    assert!(ScramClient::try_new("", b"p", "", ChannelBinding::Unsupported).is_err());
    let n = nonce_from_random(&[0xfb; 18]);
    assert!(!n.contains(','));
    let mut c = ScramClient::try_new("a=b,c", b"p", &n, ChannelBinding::NotOffered)?;
    let first = String::from_utf8(c.try_client_first()?)?;
    assert_eq!(first, format!("y,,n=a=3Db=2Cc,r={n}"));
    // Out of order.
    assert!(c.try_client_first().is_err());
    Ok(())
}

#[test]
fn channel_binding_uses_plus_and_binds_the_hash() -> R {
    let mut c = ScramClient::try_new(
        "",
        b"pencil",
        NONCE,
        ChannelBinding::TlsServerEndPoint(vec![1, 2, 3]),
    )?;
    assert_eq!(c.mechanism(), "SCRAM-SHA-256-PLUS");
    assert!(c
        .try_client_first()?
        .starts_with(b"p=tls-server-end-point,,n=,r="));
    let fin = String::from_utf8(c.try_client_final(SERVER_FIRST)?)?;
    // c= is base64("p=tls-server-end-point,," + [1,2,3]).
    assert!(
        fin.starts_with("c=cD10bHMtc2VydmVyLWVuZC1wb2ludCwsAQID,r="),
        "{fin}"
    );
    Ok(())
}

#[test]
fn md5_known_answer() {
    // md5(md5("hunter2" + "bot") as hex + [1,2,3,4]), computed independently.
    assert_eq!(
        md5_password(b"bot", b"hunter2", [1, 2, 3, 4]),
        b"md5330d8570833925aac331737dcf38d78e"
    );
}

/// Runs one server message through `UpstreamAuth` via real encode/decode.
fn step(auth: &mut UpstreamAuth, m: &Authentication<'_>) -> Result<AuthStep, limen_wire::Error> {
    let mut bytes = Vec::new();
    m.try_encode(&mut bytes)?;
    let mut d = BackendDecoder::default();
    d.receive_data(&bytes)?;
    match d.next_message()? {
        Some((_, BackendMessage::Authentication(a))) => auth.try_handle(&a),
        _ => auth.try_handle(&Authentication::Gss),
    }
}

#[test]
fn upstream_trust_md5_cleartext_policy() -> R {
    let mut a = UpstreamAuth::new(b"bot", b"hunter2", NONCE, AuthPolicy::default());
    assert_eq!(step(&mut a, &Authentication::Ok)?, AuthStep::Authenticated);
    assert!(
        step(&mut a, &Authentication::Ok).is_err(),
        "nothing after success"
    );

    let mut a = UpstreamAuth::new(b"bot", b"hunter2", NONCE, AuthPolicy::default());
    assert_eq!(
        step(&mut a, &Authentication::CleartextPassword)
            .err()
            .map(|e| e.kind()),
        Some(ErrorKind::Auth)
    );
    let mut a = UpstreamAuth::new(b"bot", b"hunter2", NONCE, AuthPolicy::default());
    assert!(step(&mut a, &Authentication::Md5Password { salt: [1, 2, 3, 4] }).is_err());

    let policy = AuthPolicy {
        allow_md5: true,
        allow_cleartext: true,
        ..AuthPolicy::default()
    };
    let mut a = UpstreamAuth::new(b"bot", b"hunter2", NONCE, policy.clone());
    let AuthStep::Send(bytes) = step(&mut a, &Authentication::Md5Password { salt: [1, 2, 3, 4] })?
    else {
        return Err("nothing to send".into());
    };
    let mut d = FrontendDecoder::new_regular(Limits::default());
    d.set_auth_context(AuthContext::Password);
    d.receive_data(&bytes)?;
    let Some((_, FrontendMessage::Password(p))) = d.next_message()? else {
        return Err("no password".into());
    };
    assert_eq!(p.password, b"md5330d8570833925aac331737dcf38d78e");

    let mut a = UpstreamAuth::new(b"bot", b"hunter2", NONCE, policy);
    let AuthStep::Send(bytes) = step(&mut a, &Authentication::CleartextPassword)? else {
        return Err("nothing to send".into());
    };
    assert!(bytes.windows(7).any(|w| w == b"hunter2"));
    Ok(())
}

#[test]
fn upstream_scram_must_verify_server_before_ok() -> R {
    let mut list = Vec::new();
    Authentication::encode_sasl(&[b"SCRAM-SHA-256"], &mut list)?;
    let mut d = BackendDecoder::default();
    d.receive_data(&list)?;
    let Some((_, BackendMessage::Authentication(sasl))) = d.next_message()? else {
        return Err("no SASL".into());
    };
    // A server that skips SASLFinal and claims success is refused.
    let mut a = UpstreamAuth::new(b"", b"pencil", NONCE, AuthPolicy::default());
    let AuthStep::Send(first) = a.try_handle(&sasl)? else {
        return Err("nothing to send".into());
    };
    let mut fd = FrontendDecoder::new_regular(Limits::default());
    fd.set_auth_context(AuthContext::SaslInitial);
    fd.receive_data(&first)?;
    let Some((_, FrontendMessage::SaslInitialResponse(init))) = fd.next_message()? else {
        return Err("no SASLInitialResponse".into());
    };
    assert_eq!(init.mechanism, b"SCRAM-SHA-256");
    assert_eq!(init.data, Some(&b"n,,n=,r=rOprNGfwEbeRWgbNEkqO"[..]));
    assert!(matches!(
        a.try_handle(&Authentication::SaslContinue(SERVER_FIRST))?,
        AuthStep::Send(_)
    ));
    assert_eq!(
        a.try_handle(&Authentication::Ok).err().map(|e| e.kind()),
        Some(ErrorKind::ServerNotVerified)
    );

    // Only SCRAM-SHA-256-PLUS offered and no TLS binding available: refused.
    let mut list = Vec::new();
    Authentication::encode_sasl(&[b"SCRAM-SHA-256-PLUS"], &mut list)?;
    let mut d = BackendDecoder::default();
    d.receive_data(&list)?;
    let Some((_, BackendMessage::Authentication(plus_only))) = d.next_message()? else {
        return Err("no SASL".into());
    };
    let mut a = UpstreamAuth::new(b"", b"pencil", NONCE, AuthPolicy::default());
    assert_eq!(
        a.try_handle(&plus_only).err().map(|e| e.kind()),
        Some(ErrorKind::Auth)
    );
    // SASLContinue before SASL is unexpected.
    let mut a = UpstreamAuth::new(b"", b"pencil", NONCE, AuthPolicy::default());
    assert!(a
        .try_handle(&Authentication::SaslContinue(SERVER_FIRST))
        .is_err());
    Ok(())
}
