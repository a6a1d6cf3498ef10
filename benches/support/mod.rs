//! What the harnesses in `benches/` share: a kept-alive HTTP/1 client and percentiles.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1 as client_http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub type Sender = client_http1::SendRequest<Empty<Bytes>>;

/// One kept-alive connection to `addr`.
pub async fn connect(addr: SocketAddr) -> Sender {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, connection) = client_http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    sender
}

/// One GET on a kept-alive connection: status, headers and body.
pub async fn fetch(
    sender: &mut Sender,
    addr: SocketAddr,
    target: &str,
) -> (u16, http::HeaderMap, Bytes) {
    sender.ready().await.unwrap();
    let request = hyper::Request::get(target)
        .header("host", addr.to_string())
        .body(Empty::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body)
}

/// The `p` quantile (0..=1) of sorted samples, in milliseconds.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}
