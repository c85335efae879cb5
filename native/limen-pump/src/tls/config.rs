//! TLS configurations from PEM: the listener's (certificate chain and key)
//! and the upstream's (libpq's sslmode: `require` encrypts without
//! verifying, `verify-ca` checks the chain, `verify-full` also the name).
//! TLS 1.2 and 1.3 only, ring's algorithms.
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, Error, RootCertStore, ServerConfig,
    SignatureScheme,
};

use super::{err, TlsError};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(what, e))?;
    if certs.is_empty() {
        return Err(TlsError(format!("{what}: no certificate in the file")));
    }
    Ok(certs)
}

fn key(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    // The parse error names the PEM section at most, never key bytes.
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| err(what, e))
}

/// The listener's configuration: its certificate chain and key (PEM).
pub fn server_config(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<ServerConfig>, TlsError> {
    let cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| err("TLS", e))?
        .with_no_client_auth()
        .with_single_cert(
            certs(cert_pem, "the certificate")?,
            key(key_pem, "the key")?,
        )
        .map_err(|e| err("the certificate and key", e))?;
    Ok(Arc::new(cfg))
}

/// How the upstream's certificate is checked (libpq's sslmode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verify {
    /// `prefer`/`require`: encrypted, not verified.
    None,
    /// `verify-ca`: the chain up to a trusted root, any name.
    Ca,
    /// `verify-full`: the chain and the server's name.
    Full,
}

/// The upstream's configuration: `roots_pem` (the CA file, or the
/// system's bundle) for the verifying modes, and a client certificate.
pub fn client_config(
    verify: Verify,
    roots_pem: Option<&[u8]>,
    client_cert: Option<(&[u8], &[u8])>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = match verify {
        Verify::None => Arc::new(NoVerify(Arc::clone(&provider))),
        Verify::Ca | Verify::Full => {
            let pem =
                roots_pem.ok_or_else(|| TlsError("no CA certificates to verify with".into()))?;
            let mut roots = RootCertStore::empty();
            let anchors = certs(pem, "the CA file")?;
            for c in &anchors {
                roots.add(c.clone()).map_err(|e| err("the CA file", e))?;
            }
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                    .build()
                    .map_err(|e| err("the CA file", e))?;
            Arc::new(Roots {
                webpki,
                anchors,
                check_name: verify == Verify::Full,
            })
        }
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err("TLS", e))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let cfg = match client_cert {
        Some((cert, k)) => builder
            .with_client_auth_cert(
                certs(cert, "the client certificate")?,
                key(k, "the client key")?,
            )
            .map_err(|e| err("the client certificate and key", e))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(cfg))
}

/// `require`: any certificate (the handshake's signatures still verify).
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca` and `verify-full`: the chain must verify up to the CA
/// file's certificates; `verify-ca` accepts a name mismatch alone (webpki
/// checks the name only after the chain). A server certificate that is
/// itself in the CA file (a self-signed certificate given as the CA, often
/// marked CA:TRUE, which webpki refuses as an end entity; OpenSSL, hence
/// libpq, accepts it) is trusted as pinned, byte for byte, its name still
/// checked for `verify-full`.
#[derive(Debug)]
struct Roots {
    webpki: Arc<WebPkiServerVerifier>,
    anchors: Vec<CertificateDer<'static>>,
    check_name: bool,
}

impl ServerCertVerifier for Roots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let name_mismatch = |e: &Error| {
            matches!(
                e,
                Error::InvalidCertificate(
                    CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. }
                )
            )
        };
        if self
            .anchors
            .iter()
            .any(|a| a.as_ref() == end_entity.as_ref())
        {
            if self.check_name {
                let cert = webpki::EndEntityCert::try_from(end_entity)
                    .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
                cert.verify_is_valid_for_subject_name(server_name)
                    .map_err(|_| Error::InvalidCertificate(CertificateError::NotValidForName))?;
            }
            return Ok(ServerCertVerified::assertion());
        }
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(e) if !self.check_name && name_mismatch(&e) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}
