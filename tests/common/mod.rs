//! Shared test harness: a database per test (cloned from a seeded template), the real server
//! on port 0, a small HTTP client, and an independent in-memory model of the gallery.
#![allow(dead_code, unused_imports)]

pub mod client;
pub mod db;
pub mod model;
pub mod redis;

pub use client::{get, request, Reply};
pub use db::TestDb;
pub use redis::{Forwarder, TestRedis};

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use gallery_proxy::app::{App, BuildOptions};
use gallery_proxy::cache::clock::{SharedClock, SystemClock};
use gallery_proxy::config::Settings;
use tokio::sync::oneshot;

/// The admin user of the seed, who owns the first 50 items of each partition.
pub const ADMIN: &str = "121e194b-4caa-4b81-ad4f-86ca3919d5b9";

/// A running server; dropping it stops it.
pub struct TestServer {
    pub api: SocketAddr,
    pub admin: SocketAddr,
    /// How far this server's invalidation consumer has come.
    pub invalidation: Arc<gallery_proxy::invalidation::consumer::Progress>,
    stop: Option<oneshot::Sender<()>>,
    pub task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub async fn start(db: &TestDb) -> TestServer {
        Self::start_with(db, |_| {}).await
    }

    /// A server with both cache tiers off: every answer comes from PostgreSQL, for tests of
    /// the SQL itself that write between reads.
    pub async fn uncached(db: &TestDb) -> TestServer {
        Self::start_with(db, |s| {
            s.cache.memory_bytes = 0;
            s.redis.url = None;
        })
        .await
    }

    pub async fn start_with(db: &TestDb, adjust: impl FnOnce(&mut Settings)) -> TestServer {
        Self::start_with_clock(db, Arc::new(SystemClock), adjust).await
    }

    /// A server judging freshness by `clock`, with both tiers (Redis under `redis`'s prefix).
    pub async fn cached(db: &TestDb, redis: &TestRedis, clock: SharedClock) -> TestServer {
        Self::start_with_clock(db, clock, |s| redis.configure(s)).await
    }

    pub async fn start_with_clock(
        db: &TestDb,
        clock: SharedClock,
        adjust: impl FnOnce(&mut Settings),
    ) -> TestServer {
        let options = BuildOptions {
            clock,
            ..BuildOptions::default()
        };
        Self::start_with_options(db, options, adjust).await
    }

    pub async fn start_with_options(
        db: &TestDb,
        options: BuildOptions,
        adjust: impl FnOnce(&mut Settings),
    ) -> TestServer {
        let mut settings = Settings::default();
        settings.server.listen = "127.0.0.1:0".into();
        settings.server.admin_listen = "127.0.0.1:0".into();
        settings.database.url = db.url.clone();
        settings.database.max_connections = 8;
        settings.invalidation.poll_ms = 100;
        adjust(&mut settings);
        let app = App::build_with(&settings, options)
            .await
            .expect("server builds");
        let (api, admin) = (app.api_addr(), app.admin_addr());
        let invalidation = app.invalidation_progress();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async move {
            let _ = stopped.await;
        }));
        TestServer {
            api,
            admin,
            invalidation,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Waits until this server has applied every change event committed so far: two complete
    /// outbox reads from now, so one began after this call.
    pub async fn caught_up(&self) {
        let progress = self.invalidation.clone();
        let start = progress.reads.load(std::sync::atomic::Ordering::Acquire);
        eventually("two outbox reads after the write", || {
            let progress = progress.clone();
            async move { progress.reads.load(std::sync::atomic::Ordering::Acquire) >= start + 2 }
        })
        .await;
    }

    /// Signals shutdown, as SIGTERM would.
    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    pub async fn gallery(&self, query: &str) -> Reply {
        get(self.api, &format!("/api/v1/content/unified?{query}")).await
    }

    /// The admin listener's `/metrics` text.
    pub async fn metrics(&self) -> String {
        get(self.admin, "/metrics").await.text()
    }

    /// The value of one metric line (name with labels, exactly as rendered), 0 if absent.
    pub async fn metric(&self, series: &str) -> f64 {
        self.metrics()
            .await
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Runs `cleanup` to completion on a thread and runtime of its own: `Drop` cannot await, and
/// must work inside a test's runtime as well as outside one.
pub fn run_detached<F>(cleanup: impl FnOnce() -> F + Send + 'static)
where
    F: Future<Output = ()>,
{
    let _ = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(cleanup());
    })
    .join();
}

/// Polls `condition` every 10 ms for at most 10 s; panics naming `what` if it never holds.
pub async fn eventually<F: Future<Output = bool>>(what: &str, mut condition: impl FnMut() -> F) {
    for _ in 0..1000 {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}
