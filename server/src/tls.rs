//! TLS for listeners that have a certificate (SPEC §6, §8): rustls with the
//! ring provider, loaded once at bind, and the stream type a connection runs
//! over either way.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::Context as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::boundary::Boundary;
use crate::config::TlsFiles;

/// A listener's TLS acceptor (cheap to clone: the config is shared).
#[derive(Clone)]
pub(crate) struct Acceptor(TlsAcceptor);

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Acceptor(rustls)")
    }
}

impl Acceptor {
    /// The TLS handshake on an accepted socket.
    pub(crate) async fn accept(&self, socket: TcpStream) -> io::Result<Stream> {
        Ok(Stream::Tls(Box::new(self.0.accept(socket).await?)))
    }
}

/// Builds the acceptor for a listener's certificate and key.
pub(crate) fn acceptor(files: &TlsFiles) -> anyhow::Result<Acceptor> {
    let certs = CertificateDer::pem_file_iter(&files.certificate)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading the certificate {}", files.certificate.display()))?;
    anyhow::ensure!(!certs.is_empty(), "no certificate in {}", files.certificate.display());
    // The error names the file, never the key material.
    let key = PrivateKeyDer::from_pem_file(&files.private_key)
        .with_context(|| format!("reading the private key {}", files.private_key.display()))?;
    // An explicit provider: the process default is ambiguous when another
    // crate in the build enables a second one.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "the certificate {} and key {} do not form a usable pair",
                files.certificate.display(),
                files.private_key.display()
            )
        })?;
    Ok(Acceptor(TlsAcceptor::from(Arc::new(config))))
}

/// A connection's byte stream: plain TCP, or TLS over it. The TLS state is
/// boxed (it is tens of KiB of buffers) so a plain session pays one tag.
///
/// A plain stream also follows where its incoming bytes stand relative to
/// WebSocket frames ([`Boundary`]), which is what lets an idle plain session
/// be parked (`crate::park`); TLS sessions are never parked (rustls holds
/// buffered plaintext and session state that cannot be handed over).
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream, Boundary),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s, boundary) => {
                let before = buf.filled().len();
                let read = Pin::new(s).poll_read(cx, buf);
                if let Poll::Ready(Ok(())) = read {
                    boundary.feed(&buf.filled()[before..]);
                }
                read
            }
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s, _) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s, _) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s, _) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
