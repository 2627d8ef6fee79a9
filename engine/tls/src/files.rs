//! Reading PEM files into rustls types, with errors that say what is wrong with which file.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::TlsError;

/// The bytes of `path`.
pub(crate) fn read(field: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::new(field, path, format!("cannot read: {e}")))
}

/// The PEM certificates of `path`; an error if there are none.
pub(crate) fn certs(
    field: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    certs_of(field, path, &read(field, path)?)
}

/// The PEM certificates in `bytes` (read from `path`).
pub(crate) fn certs_of(
    field: &'static str,
    path: &Path,
    bytes: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::new(field, path, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::new(
            field,
            path,
            "contains no certificates (expected PEM blocks `-----BEGIN CERTIFICATE-----`)",
        ));
    }
    Ok(certs)
}

/// The PEM private key of `path`.
pub(crate) fn key(field: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    key_of(field, path, &read(field, path)?)
}

/// The PEM private key in `bytes` (read from `path`).
pub(crate) fn key_of(
    field: &'static str,
    path: &Path,
    bytes: &[u8],
) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(bytes).map_err(|e| {
        TlsError::new(
            field,
            path,
            format!("contains no usable private key (PEM PKCS#8, PKCS#1 or SEC1): {e}"),
        )
    })
}

/// A root store of the CA certificates of `path`.
pub(crate) fn roots(field: &'static str, path: &Path) -> Result<RootCertStore, TlsError> {
    roots_of(field, path, &read(field, path)?)
}

/// A root store of the CA certificates in `bytes`.
pub(crate) fn roots_of(
    field: &'static str,
    path: &Path,
    bytes: &[u8],
) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certs_of(field, path, bytes)? {
        roots.add(cert).map_err(|e| {
            TlsError::new(
                field,
                path,
                format!("holds a certificate that is not a usable CA: {e}"),
            )
        })?;
    }
    Ok(roots)
}

/// What a certificate-and-key error means to a user.
pub(crate) fn key_problem(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InconsistentKeys(_) => {
            "the private key does not belong to the certificate (key_file and cert_file do not match)".into()
        }
        other => format!("certificate and key cannot be used: {other}"),
    }
}

/// What Weir logs and exports about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The subject's common name, or the whole subject if it has none.
    pub subject: String,
    /// When it stops being valid.
    pub not_after: SystemTime,
}

impl CertInfo {
    /// Reads a DER certificate; `None` if it does not parse.
    pub fn of(der: &[u8]) -> Option<CertInfo> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let subject = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map_or_else(|| cert.subject().to_string(), str::to_string);
        let secs = cert.validity().not_after.timestamp();
        let not_after = if secs >= 0 {
            UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
        } else {
            UNIX_EPOCH
        };
        Some(CertInfo { subject, not_after })
    }

    /// The expiry as RFC 3339, for messages.
    pub fn not_after_text(&self) -> String {
        humantime::format_rfc3339_seconds(self.not_after).to_string()
    }

    /// True when it has expired.
    pub fn expired(&self) -> bool {
        self.not_after <= SystemTime::now()
    }

    /// Unix seconds of the expiry, for a gauge.
    pub fn not_after_unix(&self) -> i64 {
        self.not_after
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}
