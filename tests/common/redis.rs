//! Redis for tests: the machine's server on 127.0.0.1:6379 with a key prefix of each test's
//! own (deleted when the test ends), and a TCP forwarder in front of it that a test can cut, to
//! play a Redis that stops mid-test without touching the server other tests share.

use std::net::SocketAddr;
use std::sync::Arc;

use deadpool_redis::redis::{self, AsyncCommands};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

pub const REDIS_ADDR: &str = "127.0.0.1:6379";

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| format!("redis://{REDIS_ADDR}"))
}

/// A key prefix no other test uses; its keys are deleted on drop.
pub struct TestRedis {
    pub prefix: String,
}

impl TestRedis {
    pub fn new() -> TestRedis {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        TestRedis {
            prefix: format!("gp-test:{}:{nanos}:", std::process::id()),
        }
    }

    /// Points a server's settings at the machine's Redis under this prefix.
    pub fn configure(&self, settings: &mut gallery_proxy::config::Settings) {
        settings.redis.url = Some(redis_url());
        settings.redis.key_prefix = self.prefix.clone();
    }

    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(redis_url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .expect("Redis is running on 127.0.0.1:6379")
    }

    pub async fn keys(&self) -> Vec<String> {
        let mut conn = self.connection().await;
        let mut keys: Vec<String> = conn.keys(format!("{}*", self.prefix)).await.unwrap();
        keys.sort();
        keys
    }

    pub async fn pttl(&self, key: &str) -> i64 {
        let mut conn = self.connection().await;
        conn.pttl(key).await.unwrap()
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let prefix = self.prefix.clone();
        super::run_detached(move || async move {
            let Ok(client) = redis::Client::open(redis_url()) else {
                return;
            };
            let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
                return;
            };
            let keys: Vec<String> = conn.keys(format!("{prefix}*")).await.unwrap_or_default();
            if !keys.is_empty() {
                let _: Result<(), _> = conn.del(keys).await;
            }
        });
    }
}

/// Forwards TCP connections to the real Redis until [`Forwarder::cut`], which closes every
/// open connection and stops listening: from the proxy's side, Redis went away.
pub struct Forwarder {
    pub addr: SocketAddr,
    cut: Arc<Notify>,
}

impl Forwarder {
    pub async fn start() -> Forwarder {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(Notify::new());
        let stop = cut.clone();
        tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((mut inbound, _)) = accepted else { continue };
                        connections.spawn(async move {
                            if let Ok(mut outbound) = TcpStream::connect(REDIS_ADDR).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            }
                        });
                    }
                    () = stop.notified() => break,
                }
            }
            // Dropping the listener and aborting the tasks closes every socket.
            connections.abort_all();
        });
        Forwarder { addr, cut }
    }

    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    pub fn cut(&self) {
        self.cut.notify_one();
    }
}
