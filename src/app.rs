//! Start-up and shutdown: `App::build` binds the listeners and makes the pool (tests use port 0
//! and read the real ports back), `App::run` serves until the shutdown future resolves.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cache::clock::{SharedClock, SystemClock};
use crate::config::Settings;
use crate::http::admin::Admin;
use crate::http::cors::Cors;
use crate::http::gallery::GalleryRoute;
use crate::http::parsed_queries::ParsedQueries;
use crate::http::request_metrics::RequestMetrics;
use crate::http::router::{route, ApiState};
use crate::http::server::serve;
use crate::invalidation::consumer::{Consumer, ConsumerSettings, Progress};
use crate::invalidation::generations::Generations;
use crate::readthrough::{FillPause, ReadThrough};
use crate::service::GalleryService;
use crate::store::memory::MemoryTier;
use crate::store::postgres;
use crate::store::redis::RedisTier;
use crate::telemetry;

pub struct App {
    api_listener: TcpListener,
    admin_listener: TcpListener,
    api: Arc<ApiState>,
    admin: Arc<Admin>,
    consumer: Consumer,
    grace: Duration,
}

/// What tests may change about a build besides the settings.
#[derive(Clone)]
pub struct BuildOptions {
    /// The clock freshness is judged by (tests move it).
    pub clock: SharedClock,
    /// A gate every fill waits at between its SQL and its store (tests of the fence).
    pub fill_pause: Option<Arc<FillPause>>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            clock: Arc::new(SystemClock),
            fill_pause: None,
        }
    }
}

impl App {
    pub async fn build(settings: &Settings) -> anyhow::Result<App> {
        App::build_with(settings, BuildOptions::default()).await
    }

    /// As [`App::build`], with the clock freshness is judged by.
    pub async fn build_with_clock(settings: &Settings, clock: SharedClock) -> anyhow::Result<App> {
        let options = BuildOptions {
            clock,
            ..BuildOptions::default()
        };
        App::build_with(settings, options).await
    }

    pub async fn build_with(settings: &Settings, options: BuildOptions) -> anyhow::Result<App> {
        let clock = options.clock;
        // The recorder first: metric handles registered below must reach it.
        let metrics = telemetry::prometheus();
        let pool = postgres::pool(&settings.database)?;
        // Its own two connections: one LISTENs for good, one reads the outbox.
        let events_pool = postgres::small_pool(&settings.database, 2)?;
        let api_listener = TcpListener::bind(settings.listen_addr()?).await?;
        let admin_listener = TcpListener::bind(settings.admin_listen_addr()?).await?;
        let policy = settings.cache.policy();
        let memory = MemoryTier::new(settings.cache.memory_bytes, &policy, clock.clone());
        let redis = match &settings.redis.url {
            Some(url) => Some(Arc::new(RedisTier::new(
                url,
                &settings.redis,
                settings.replay_ms(),
                clock.clone(),
            )?)),
            None => None,
        };
        let generations = Arc::new(Generations::new(settings.max_entry_life_ms()));
        let progress = Arc::new(Progress::starting_at(clock.now_ms()));
        let consumer = Consumer {
            pool: events_pool.clone(),
            progress: progress.clone(),
            generations: generations.clone(),
            redis: redis.clone(),
            clock: clock.clone(),
            settings: ConsumerSettings {
                poll_ms: settings.invalidation.poll_ms,
                replay_ms: settings.replay_ms(),
                retention_ms: settings.invalidation.retention_s * 1000,
            },
        };
        let readthrough = Arc::new(ReadThrough::new(
            GalleryService::new(pool.clone(), settings.statement_timeout()),
            memory.clone(),
            redis,
            generations,
            options.fill_pause,
            policy,
            clock.clone(),
            Duration::from_millis(settings.cache.fill_wait_ms),
            Duration::from_millis(settings.redis.lock_wait_ms),
            Duration::from_millis(settings.server.request_timeout_ms),
        ));
        let api = Arc::new(ApiState {
            gallery: GalleryRoute {
                readthrough,
                queries: ParsedQueries::new(settings.limits(), 16 * 1024 * 1024),
                cache_control: http::HeaderValue::from_str(&settings.cache.cache_control)?,
            },
            cors: Cors::new(settings.cors.allowed_origins.clone()),
            metrics: RequestMetrics::new(),
        });
        let admin = Arc::new(Admin {
            metrics,
            pool,
            events_pool,
            memory,
            purge_token: settings.invalidation.purge_token.clone(),
            invalidation: progress,
            clock: clock.clone(),
            // Ten missed polls (at least a second): the consumer cannot read the outbox.
            invalidation_limit_ms: (settings.invalidation.poll_ms * 10).max(1_000),
            limits: settings.limits(),
        });
        Ok(App {
            api_listener,
            admin_listener,
            api,
            admin,
            consumer,
            grace: Duration::from_millis(settings.server.shutdown_grace_ms),
        })
    }

    pub fn api_addr(&self) -> SocketAddr {
        self.api_listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// How far this process has applied the change events.
    pub fn invalidation_progress(&self) -> Arc<Progress> {
        self.consumer.progress.clone()
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves both listeners and applies change events until `shutdown` resolves, then drains
    /// within the grace period.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let consumer = tokio::spawn(self.consumer.run(stop_rx.clone()));
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let api = self.api.clone();
        let api_server = serve(
            self.api_listener,
            move |request| route(api.clone(), request),
            stopped(stop_rx.clone()),
            self.grace,
        );
        let admin = self.admin.clone();
        let admin_server = serve(
            self.admin_listener,
            move |request| {
                let admin = admin.clone();
                async move { admin.handle(request).await }
            },
            stopped(stop_rx),
            self.grace,
        );
        tokio::join!(api_server, admin_server);
        let _ = consumer.await;
        self.api.gallery.readthrough.service().pool().close().await;
        self.admin.events_pool.close().await;
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received: no new connections, draining");
}
