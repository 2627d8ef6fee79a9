//! A throwaway PKI for tests: a CA, server certificates for `localhost`/`127.0.0.1`, and client
//! certificates, generated with rcgen and written as PEM files. Never for production keys.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

/// A generated CA that signs server and client certificates.
pub struct TestPki {
    ca: CertifiedIssuer<'static, KeyPair>,
    dir: PathBuf,
}

/// Paths of a written certificate and its key.
#[derive(Debug, Clone)]
pub struct Issued {
    /// Certificate chain, PEM.
    pub cert: PathBuf,
    /// Private key, PEM.
    pub key: PathBuf,
}

fn err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl TestPki {
    /// A new CA named `name`, whose files go to `dir` (its certificate as `<name>-ca.pem`).
    pub fn new(dir: &Path, name: &str) -> std::io::Result<TestPki> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        let key = KeyPair::generate().map_err(err)?;
        let ca = CertifiedIssuer::self_signed(params, key).map_err(err)?;
        std::fs::write(dir.join(format!("{name}-ca.pem")), ca.pem())?;
        Ok(TestPki {
            ca,
            dir: dir.to_path_buf(),
        })
    }

    /// The CA certificate's file.
    pub fn ca_file(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}-ca.pem"))
    }

    /// A server certificate for `localhost` and `127.0.0.1`, as `<file>.pem` / `<file>-key.pem`.
    pub fn server(&self, file: &str) -> std::io::Result<Issued> {
        self.issue(
            file,
            "localhost",
            ExtendedKeyUsagePurpose::ServerAuth,
            false,
        )
    }

    /// A server certificate that expired on 2020-01-01.
    pub fn expired_server(&self, file: &str) -> std::io::Result<Issued> {
        self.issue(file, "localhost", ExtendedKeyUsagePurpose::ServerAuth, true)
    }

    /// A client certificate whose common name is `cn`.
    pub fn client(&self, file: &str, cn: &str) -> std::io::Result<Issued> {
        self.issue(file, cn, ExtendedKeyUsagePurpose::ClientAuth, false)
    }

    fn issue(
        &self,
        file: &str,
        cn: &str,
        usage: ExtendedKeyUsagePurpose,
        expired: bool,
    ) -> std::io::Result<Issued> {
        let names = match usage {
            ExtendedKeyUsagePurpose::ServerAuth => vec![cn.to_string(), "127.0.0.1".to_string()],
            _ => Vec::new(),
        };
        let mut params = CertificateParams::new(names).map_err(err)?;
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![usage];
        if expired {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        }
        let key = KeyPair::generate().map_err(err)?;
        let cert = params.signed_by(&key, &self.ca).map_err(err)?;
        let issued = Issued {
            cert: self.dir.join(format!("{file}.pem")),
            key: self.dir.join(format!("{file}-key.pem")),
        };
        std::fs::write(&issued.cert, cert.pem())?;
        std::fs::write(&issued.key, key.serialize_pem())?;
        Ok(issued)
    }
}
