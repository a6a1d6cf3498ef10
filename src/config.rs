//! Settings: defaults, then a TOML file, then the environment; validated once at start-up.
//!
//! Every key has a default, so the file and the environment name only what differs. A bad
//! value stops start-up with one line naming the key and what is wrong.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::gallery::params::Limits;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub cache: CacheSettings,
    pub limits: LimitSettings,
    pub cors: CorsSettings,
    pub invalidation: InvalidationSettings,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Where the gallery API listens (`GALLERY_PROXY_LISTEN`).
    pub listen: String,
    /// Where /metrics, /healthz and /readyz listen (`GALLERY_PROXY_ADMIN_LISTEN`).
    pub admin_listen: String,
    /// The Genonaut API that requests other than the gallery route go to
    /// (`GALLERY_PROXY_UPSTREAM`).
    pub upstream: String,
    /// How long shutdown waits for in-flight requests before giving up.
    pub shutdown_grace_ms: u64,
    /// Longest time one gallery request may take end to end; past it the answer is a 504.
    pub request_timeout_ms: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `DATABASE_URL`.
    pub url: String,
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before answering 503.
    pub acquire_timeout_ms: u64,
    /// PostgreSQL `statement_timeout` per connection; upstream uses 15 s, and its 504 says so.
    pub statement_timeout_ms: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSettings {
    /// `REDIS_URL`; unset means no shared cache tier.
    pub url: Option<String>,
    /// Prepended to every key, so several deployments (or tests) can share one Redis.
    pub key_prefix: String,
    pub pool_size: usize,
    /// Longest wait for a pooled connection. Redis is an optimization: a request never
    /// waits long for it.
    pub wait_timeout_ms: u64,
    /// Longest time to open a new connection.
    pub connect_timeout_ms: u64,
    /// Longest time for one command, the pool's connection check included.
    pub command_timeout_ms: u64,
    /// Failures in a row that open the breaker (Redis is then skipped).
    pub breaker_failures: u32,
    /// How long an open breaker skips Redis before one request probes it again.
    pub breaker_backoff_ms: u64,
    /// How long the cluster-wide fill lock of one key lives if its holder never releases it.
    pub lock_ttl_ms: u64,
    /// How long a process waits for another process's fill before filling itself.
    pub lock_wait_ms: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    /// Bound of the in-process tier in bytes (bodies plus a small allowance each); 0 = off.
    pub memory_bytes: u64,
    /// Each fill's freshness is drawn from [ttl_min_s, ttl_max_s]; also its Redis TTL.
    pub ttl_min_s: u64,
    pub ttl_max_s: u64,
    /// Past freshness, serve the old entry for this long while one refresh runs.
    pub stale_while_revalidate_s: u64,
    /// Past freshness, serve the old entry for this long when PostgreSQL fails.
    pub stale_if_error_s: u64,
    /// The `Cache-Control` header of gallery answers.
    pub cache_control: String,
    /// Longest time a request waits for another request's fill of the same key.
    pub fill_wait_ms: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Longer query strings get a 414.
    pub max_query_bytes: usize,
    /// More distinct tags than this get a 400.
    pub max_tags: usize,
    /// Longer search terms get a 400.
    pub max_search_chars: usize,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InvalidationSettings {
    /// The outbox is read on every wake-up and at least this often besides (a lost wake-up
    /// costs at most this much lag).
    pub poll_ms: u64,
    /// Change events are kept this long, then pruned. A proxy disconnected for longer
    /// invalidates everything when it comes back.
    pub retention_s: u64,
    /// Bearer token of the admin purge endpoints (`GALLERY_PROXY_PURGE_TOKEN`, environment
    /// only: a secret stays out of files). Unset: every purge is refused.
    #[serde(skip)]
    pub purge_token: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsSettings {
    /// Origins answered with credentialed CORS headers; upstream's list by default.
    pub allowed_origins: Vec<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: "127.0.0.1:8080".into(),
            admin_listen: "127.0.0.1:9090".into(),
            upstream: "http://127.0.0.1:8001".into(),
            shutdown_grace_ms: 10_000,
            request_timeout_ms: 20_000,
        }
    }
}

impl DatabaseSettings {
    pub fn statement_timeout_ms_duration(&self) -> Duration {
        Duration::from_millis(self.statement_timeout_ms)
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: "postgres://postgres@127.0.0.1:5432/gallery_demo".into(),
            max_connections: 16,
            acquire_timeout_ms: 2_000,
            statement_timeout_ms: 15_000,
        }
    }
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings {
            url: None,
            key_prefix: "gallery-proxy:".into(),
            pool_size: 32,
            wait_timeout_ms: 20,
            connect_timeout_ms: 50,
            command_timeout_ms: 50,
            breaker_failures: 3,
            breaker_backoff_ms: 5_000,
            lock_ttl_ms: 5_000,
            lock_wait_ms: 500,
        }
    }
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            memory_bytes: 256 * 1024 * 1024,
            ttl_min_s: 300,
            ttl_max_s: 600,
            stale_while_revalidate_s: 30,
            stale_if_error_s: 300,
            cache_control: "no-cache".into(),
            fill_wait_ms: 15_000,
        }
    }
}

impl CacheSettings {
    pub fn policy(&self) -> crate::cache::Policy {
        crate::cache::Policy {
            ttl_min_ms: self.ttl_min_s * 1000,
            ttl_max_ms: self.ttl_max_s * 1000,
            stale_while_revalidate_ms: self.stale_while_revalidate_s * 1000,
            stale_if_error_ms: self.stale_if_error_s * 1000,
        }
    }
}

impl Default for InvalidationSettings {
    fn default() -> Self {
        InvalidationSettings {
            poll_ms: 1_000,
            retention_s: 3_600,
            purge_token: None,
        }
    }
}

impl Default for LimitSettings {
    fn default() -> Self {
        let limits = Limits::default();
        LimitSettings {
            max_query_bytes: limits.max_query_bytes,
            max_tags: limits.max_tags,
            max_search_chars: limits.max_search_chars,
        }
    }
}

impl Default for CorsSettings {
    fn default() -> Self {
        // Genonaut's list: Vite 5173-5176, preview 4173, 3000, each on localhost and 127.0.0.1.
        let ports = [5173, 5174, 5175, 5176, 4173, 3000];
        let allowed_origins = ["localhost", "127.0.0.1"]
            .iter()
            .flat_map(|host| {
                ports
                    .iter()
                    .map(move |port| format!("http://{host}:{port}"))
            })
            .collect();
        CorsSettings { allowed_origins }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server: ServerSettings::default(),
            database: DatabaseSettings::default(),
            redis: RedisSettings::default(),
            cache: CacheSettings::default(),
            limits: LimitSettings::default(),
            cors: CorsSettings::default(),
            invalidation: InvalidationSettings::default(),
        }
    }
}

/// A configuration problem, always naming the key.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {key}: {problem}")]
pub struct ConfigError {
    pub key: String,
    pub problem: String,
}

fn bad(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        problem: problem.into(),
    }
}

/// The environment variables read, with the setting each one overrides.
pub const ENV_KEYS: &[&str] = &[
    "DATABASE_URL",
    "REDIS_URL",
    "GALLERY_PROXY_LISTEN",
    "GALLERY_PROXY_ADMIN_LISTEN",
    "GALLERY_PROXY_UPSTREAM",
    "GALLERY_PROXY_DB_MAX_CONNECTIONS",
    "GALLERY_PROXY_STATEMENT_TIMEOUT_MS",
    "GALLERY_PROXY_PURGE_TOKEN",
];

impl Settings {
    /// Defaults, then `file` if given (or `config/default.toml` if it exists), then `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let default_file = Path::new("config/default.toml");
        let path = match file {
            Some(path) => Some(path),
            None => default_file.exists().then_some(default_file),
        };
        let mut settings = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| bad(&path.display().to_string(), format!("cannot read: {e}")))?;
                toml::from_str(&text).map_err(|e| {
                    bad(
                        &path.display().to_string(),
                        e.to_string().lines().collect::<Vec<_>>().join(" "),
                    )
                })?
            }
            None => Settings::default(),
        };
        settings.apply_env(env)?;
        settings.validate()?;
        Ok(settings)
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = env("DATABASE_URL") {
            self.database.url = v;
        }
        if let Some(v) = env("REDIS_URL") {
            self.redis.url = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = env("GALLERY_PROXY_LISTEN") {
            self.server.listen = v;
        }
        if let Some(v) = env("GALLERY_PROXY_ADMIN_LISTEN") {
            self.server.admin_listen = v;
        }
        if let Some(v) = env("GALLERY_PROXY_UPSTREAM") {
            self.server.upstream = v;
        }
        if let Some(v) = env("GALLERY_PROXY_DB_MAX_CONNECTIONS") {
            self.database.max_connections = v.parse().map_err(|_| {
                bad(
                    "GALLERY_PROXY_DB_MAX_CONNECTIONS",
                    format!("not a number: {v:?}"),
                )
            })?;
        }
        if let Some(v) = env("GALLERY_PROXY_PURGE_TOKEN") {
            self.invalidation.purge_token = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = env("GALLERY_PROXY_STATEMENT_TIMEOUT_MS") {
            self.database.statement_timeout_ms = v.parse().map_err(|_| {
                bad(
                    "GALLERY_PROXY_STATEMENT_TIMEOUT_MS",
                    format!("not a number: {v:?}"),
                )
            })?;
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        self.admin_listen_addr()?;
        let upstream: http::Uri = self.server.upstream.parse().map_err(|e| {
            bad(
                "server.upstream (GALLERY_PROXY_UPSTREAM)",
                format!("not a URL: {e}"),
            )
        })?;
        if upstream.scheme_str() != Some("http") || upstream.host().is_none() {
            return Err(bad(
                "server.upstream (GALLERY_PROXY_UPSTREAM)",
                "must be an http:// URL with a host",
            ));
        }
        let db = &self.database.url;
        if !(db.starts_with("postgres://") || db.starts_with("postgresql://")) {
            return Err(bad(
                "database.url (DATABASE_URL)",
                "must start with postgres:// or postgresql://",
            ));
        }
        if let Some(redis) = &self.redis.url {
            if !(redis.starts_with("redis://")
                || redis.starts_with("rediss://")
                || redis.starts_with("unix://"))
            {
                return Err(bad(
                    "redis.url (REDIS_URL)",
                    "must start with redis://, rediss:// or unix://",
                ));
            }
        }
        for (key, value) in [
            (
                "database.max_connections",
                u64::from(self.database.max_connections),
            ),
            (
                "database.acquire_timeout_ms",
                self.database.acquire_timeout_ms,
            ),
            (
                "database.statement_timeout_ms",
                self.database.statement_timeout_ms,
            ),
            ("server.shutdown_grace_ms", self.server.shutdown_grace_ms),
            ("server.request_timeout_ms", self.server.request_timeout_ms),
            ("limits.max_query_bytes", self.limits.max_query_bytes as u64),
            ("cache.ttl_min_s", self.cache.ttl_min_s),
            ("cache.fill_wait_ms", self.cache.fill_wait_ms),
            ("redis.pool_size", self.redis.pool_size as u64),
            ("redis.wait_timeout_ms", self.redis.wait_timeout_ms),
            ("redis.connect_timeout_ms", self.redis.connect_timeout_ms),
            ("redis.command_timeout_ms", self.redis.command_timeout_ms),
            (
                "redis.breaker_failures",
                u64::from(self.redis.breaker_failures),
            ),
            ("redis.lock_ttl_ms", self.redis.lock_ttl_ms),
            ("invalidation.poll_ms", self.invalidation.poll_ms),
            ("invalidation.retention_s", self.invalidation.retention_s),
            ("limits.max_tags", self.limits.max_tags as u64),
            (
                "limits.max_search_chars",
                self.limits.max_search_chars as u64,
            ),
        ] {
            if value == 0 {
                return Err(bad(key, "must be greater than 0"));
            }
        }
        if self.invalidation.retention_s < self.cache.ttl_max_s * 2 {
            return Err(bad(
                "invalidation.retention_s",
                "must be at least twice cache.ttl_max_s (a restarting proxy replays that much)",
            ));
        }
        if self.cache.ttl_max_s < self.cache.ttl_min_s {
            return Err(bad(
                "cache.ttl_max_s",
                "must not be less than cache.ttl_min_s",
            ));
        }
        if http::HeaderValue::from_str(&self.cache.cache_control).is_err() {
            return Err(bad("cache.cache_control", "not a valid header value"));
        }
        for origin in &self.cors.allowed_origins {
            if http::HeaderValue::from_str(origin).is_err() {
                return Err(bad(
                    "cors.allowed_origins",
                    format!("not a valid origin: {origin:?}"),
                ));
            }
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.listen.parse().map_err(|_| {
            bad(
                "server.listen (GALLERY_PROXY_LISTEN)",
                format!("not host:port: {:?}", self.server.listen),
            )
        })
    }

    pub fn admin_listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.admin_listen.parse().map_err(|_| {
            bad(
                "server.admin_listen (GALLERY_PROXY_ADMIN_LISTEN)",
                format!("not host:port: {:?}", self.server.admin_listen),
            )
        })
    }

    pub fn limits(&self) -> Limits {
        Limits {
            max_query_bytes: self.limits.max_query_bytes,
            max_tags: self.limits.max_tags,
            max_search_chars: self.limits.max_search_chars,
        }
    }

    /// The longest an entry can be of use after its fence was read: freshness, the longer stale
    /// window, and a fill as slow as the request timeout allows.
    pub fn max_entry_life_ms(&self) -> u64 {
        let cache = &self.cache;
        (cache.ttl_max_s + cache.stale_while_revalidate_s.max(cache.stale_if_error_s)) * 1000
            + self.server.request_timeout_ms
    }

    /// How far back a starting consumer re-applies events, and how long a Redis invalidation
    /// stamp lives: longer than any Redis entry fenced before it (Redis keeps entries only while
    /// fresh).
    pub fn replay_ms(&self) -> u64 {
        self.cache.ttl_max_s * 1000 + self.server.request_timeout_ms + 60_000
    }

    pub fn statement_timeout(&self) -> Duration {
        self.database.statement_timeout_ms_duration()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load_with(file_text: Option<&str>, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let dir = std::env::temp_dir().join(format!("gp-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}.toml", file_text.map_or(0, |t| t.len())));
        if let Some(text) = file_text {
            std::fs::write(&path, text).unwrap();
        }
        let file = file_text.map(|_| path.as_path());
        Settings::load(file, |k| env.get(k).cloned())
    }

    #[test]
    fn file_then_environment() {
        let s = load_with(
            Some("[server]\nlisten = \"127.0.0.1:1\"\n[database]\nmax_connections = 3\n"),
            &[
                ("GALLERY_PROXY_LISTEN", "127.0.0.1:2"),
                ("REDIS_URL", "redis://127.0.0.1:6379/0"),
            ],
        )
        .unwrap();
        assert_eq!(s.server.listen, "127.0.0.1:2");
        assert_eq!(s.database.max_connections, 3);
        assert_eq!(s.redis.url.as_deref(), Some("redis://127.0.0.1:6379/0"));
    }

    /// The shipped `config/default.toml` documents the built-in defaults; keep them in step.
    #[test]
    fn shipped_file_states_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
        let shipped = Settings::load(Some(&path), |_| None).unwrap();
        assert_eq!(format!("{shipped:?}"), format!("{:?}", Settings::default()));
    }

    #[test]
    fn errors_name_the_key() {
        let e = load_with(None, &[("GALLERY_PROXY_LISTEN", "nowhere")]).unwrap_err();
        assert!(e.to_string().contains("GALLERY_PROXY_LISTEN"), "{e}");
        let e = load_with(None, &[("DATABASE_URL", "mysql://x")]).unwrap_err();
        assert!(e.to_string().contains("DATABASE_URL"), "{e}");
        let e = load_with(Some("[database]\nmax_conections = 3\n"), &[]).unwrap_err();
        assert!(e.to_string().contains("max_conections"), "{e}");
        let e = load_with(Some("[limits]\nmax_tags = 0\n"), &[]).unwrap_err();
        assert!(e.to_string().contains("limits.max_tags"), "{e}");
        assert_eq!(e.to_string().lines().count(), 1);
    }
}
