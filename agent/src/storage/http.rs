//! The storage drivers' HTTP client: one request at a time to an `http://` or `https://` endpoint,
//! over hyper's HTTP/1.1 connection and rustls (the same stack the agent serves with), each bounded
//! by a timeout. A driver sends a batch every few seconds, so a connection is made per request
//! rather than pooled.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::http::uri::{Scheme, Uri};
use hyper::{Method, Request, header};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The client side of TLS, from a driver's flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM CA certificates the server's chain must lead to; none: the Mozilla roots built in.
    pub ca_file: Option<std::path::PathBuf>,
    /// PEM client certificate chain and key, for servers that ask for one.
    pub cert_file: Option<std::path::PathBuf>,
    pub key_file: Option<std::path::PathBuf>,
    /// Accept any server certificate (testing only).
    pub insecure_skip_verify: bool,
}

/// Why a client could not be set up or a request failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("invalid URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS handshake with {addr}: {source}")]
    Handshake {
        addr: String,
        source: std::io::Error,
    },
    #[error("HTTP exchange with {addr}: {source}")]
    Exchange { addr: String, source: hyper::Error },
    #[error("no answer from {addr} within {timeout:?}")]
    Timeout { addr: String, timeout: Duration },
}

/// An answer (status and whole body).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: Bytes,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The start of the body, for a log line or an error.
    pub fn body_excerpt(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        match text.char_indices().nth(256) {
            Some((i, _)) => format!("{}...", &text[..i]),
            None => text.to_string(),
        }
    }
}

/// One server: where to connect and how.
#[derive(Clone)]
pub struct Endpoint {
    /// Scheme and authority (`https://host:port`); a request's path is appended.
    base: String,
    /// The URL's path and query (`/api/v1/write`), `/` when it has none.
    path: String,
    host: String,
    port: u16,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Endpoint({}{})", self.base, self.path)
    }
}

impl Endpoint {
    /// Parses `url` (`http://` or `https://`; port defaults 80/443). `tls` applies to `https`.
    pub fn new(url: &str, tls: &TlsOptions) -> Result<Self, HttpError> {
        let bad = |reason: &str| HttpError::Url {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| bad(&e.to_string()))?;
        let https = match uri.scheme() {
            Some(s) if *s == Scheme::HTTPS => true,
            Some(s) if *s == Scheme::HTTP => false,
            _ => return Err(bad("the scheme must be http or https")),
        };
        let host = uri.host().ok_or_else(|| bad("no host"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls = if https {
            let name = ServerName::try_from(host.clone()).map_err(|e| bad(&e.to_string()))?;
            Some((TlsConnector::from(client_config(tls)?), name))
        } else {
            None
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        let authority = uri.authority().map_or("", |a| a.as_str());
        Ok(Self {
            base: format!("{}://{authority}", if https { "https" } else { "http" }),
            path,
            host,
            port,
            tls,
        })
    }

    /// The URL's path and query.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `scheme://host:port` (for messages, and for endpoints of other nodes of a cluster).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Whether requests go over TLS.
    pub fn is_https(&self) -> bool {
        self.tls.is_some()
    }

    /// Sends one request to `path` (absolute, with its query) and reads the whole answer, all
    /// within `timeout`.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(header::HeaderName, header::HeaderValue)],
        body: Bytes,
        timeout: Duration,
    ) -> Result<Response, HttpError> {
        let addr = format!("{}:{}", self.host, self.port);
        let exchange = async {
            let tcp = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|source| HttpError::Connect {
                    addr: addr.clone(),
                    source,
                })?;
            let _ = tcp.set_nodelay(true);
            let mut req = Request::builder().method(method).uri(path).header(
                header::HOST,
                self.base.split_once("://").map_or("", |(_, a)| a),
            );
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let req = req
                .header(header::CONTENT_LENGTH, body.len())
                .body(Full::new(body))
                .map_err(|e| HttpError::Url {
                    url: format!("{}{path}", self.base),
                    reason: e.to_string(),
                })?;
            let exchange_err = |source| HttpError::Exchange {
                addr: addr.clone(),
                source,
            };
            let resp = match &self.tls {
                None => send(TokioIo::new(tcp), req).await.map_err(exchange_err)?,
                Some((connector, name)) => {
                    let tls = connector
                        .connect(name.clone(), tcp)
                        .await
                        .map_err(|source| HttpError::Handshake {
                            addr: addr.clone(),
                            source,
                        })?;
                    send(TokioIo::new(tls), req).await.map_err(exchange_err)?
                }
            };
            Ok(resp)
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| HttpError::Timeout {
                addr: addr.clone(),
                timeout,
            })?
    }
}

async fn send<T>(io: TokioIo<T>, req: Request<Full<Bytes>>) -> Result<Response, hyper::Error>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    // The connection is driven beside the request and ends with it.
    let driver = tokio::spawn(conn);
    let resp = sender.send_request(req).await;
    let out = match resp {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await?.to_bytes();
            Ok(Response { status, body })
        }
        Err(e) => Err(e),
    };
    driver.abort();
    out
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, HttpError> {
    std::fs::read(path).map_err(|e| HttpError::Tls(format!("reading {}: {e}", path.display())))
}

/// The rustls client configuration for `opts`.
pub fn client_config(opts: &TlsOptions) -> Result<Arc<ClientConfig>, HttpError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Tls(e.to_string()))?;
    let builder = if opts.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        match &opts.ca_file {
            Some(ca) => {
                let pem = read(ca)?;
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert =
                        cert.map_err(|e| HttpError::Tls(format!("{}: {e}", ca.display())))?;
                    roots
                        .add(cert)
                        .map_err(|e| HttpError::Tls(format!("{}: {e}", ca.display())))?;
                }
                if roots.is_empty() {
                    return Err(HttpError::Tls(format!(
                        "{}: no PEM certificate",
                        ca.display()
                    )));
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        builder.with_root_certificates(roots)
    };
    let config = match (&opts.cert_file, &opts.key_file) {
        (Some(cert), Some(key)) => {
            let pem = read(cert)?;
            let chain = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| HttpError::Tls(format!("{}: {e}", cert.display())))?;
            let key = PrivateKeyDer::from_pem_slice(&read(key)?)
                .map_err(|e| HttpError::Tls(format!("{}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| HttpError::Tls(e.to_string()))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(HttpError::Tls(
                "a client certificate needs both its certificate and its key file".into(),
            ));
        }
    };
    Ok(Arc::new(config))
}

/// `insecure_skip_verify`: any certificate is accepted; signatures are still checked so the
/// handshake itself stays sound.
#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
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
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn urls_give_host_port_and_path() {
        let e = Endpoint::new("http://127.0.0.1:9090/api/v1/write", &TlsOptions::default())
            .expect("url");
        assert_eq!(
            (e.host.as_str(), e.port, e.path()),
            ("127.0.0.1", 9090, "/api/v1/write")
        );
        assert_eq!(e.base(), "http://127.0.0.1:9090");
        assert!(!e.is_https());
        let e = Endpoint::new("https://mimir.example", &TlsOptions::default()).expect("url");
        assert_eq!((e.port, e.path()), (443, "/"));
        assert!(e.is_https());
        let e = Endpoint::new("http://[::1]:9200", &TlsOptions::default()).expect("url");
        assert_eq!(e.host, "::1");
        for bad in ["localhost:9090", "ftp://x/", "http://"] {
            assert!(Endpoint::new(bad, &TlsOptions::default()).is_err(), "{bad}");
        }
        let half = TlsOptions {
            cert_file: Some("/nonexistent.pem".into()),
            ..Default::default()
        };
        assert!(Endpoint::new("https://x", &half).is_err());
        // Plain http never reads the TLS files.
        assert!(Endpoint::new("http://x", &half).is_ok());
    }

    #[tokio::test]
    async fn a_request_reads_the_whole_answer_and_times_out_on_silence() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.expect("read");
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            s.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                .await
                .expect("write");
            // A second connection that never answers.
            let (_silent, _) = listener.accept().await.expect("accept");
            tokio::time::sleep(Duration::from_secs(5)).await;
            req
        });
        let e =
            Endpoint::new(&format!("http://{addr}/write"), &TlsOptions::default()).expect("url");
        let resp = e
            .request(
                Method::POST,
                e.path(),
                &[(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("application/x-protobuf"),
                )],
                Bytes::from_static(b"abc"),
                Duration::from_secs(5),
            )
            .await
            .expect("answer");
        assert_eq!(resp.status, 204);
        let err = e
            .request(
                Method::GET,
                "/",
                &[],
                Bytes::new(),
                Duration::from_millis(200),
            )
            .await
            .expect_err("timeout");
        assert!(matches!(err, HttpError::Timeout { .. }), "{err}");
        server.abort();
        let _ = server.await;
    }
}
