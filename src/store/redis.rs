//! L2: the shared tier in Redis, through deadpool-redis. Every call is bounded (pool wait,
//! connect and command timeouts of tens of milliseconds) and guarded by a circuit breaker, and
//! every failure is an absent answer: Redis trouble makes requests slower, never failed.
//!
//! Key names: `{prefix}page:{digest}`, `{prefix}count:{digest}`, `{prefix}lock:{digest}`.

use std::time::Duration;

use deadpool_redis::redis::{self, FromRedisValue};
use deadpool_redis::{Config, Pool, PoolConfig, Runtime, Timeouts};

use crate::cache::breaker::Breaker;
use crate::cache::clock::SharedClock;
use crate::cache::Entry;
use crate::config::RedisSettings;
use crate::gallery::key::CacheKey;

/// Which entry family a key names.
#[derive(Clone, Copy, Debug)]
pub enum Family {
    Page,
    Count,
}

impl Family {
    fn as_str(self) -> &'static str {
        match self {
            Family::Page => "page",
            Family::Count => "count",
        }
    }
}

/// The answer to "may this process fill the key?".
#[derive(Debug, PartialEq, Eq)]
pub enum Lock {
    /// This process holds the fill lock under `token` until it unlocks or the lock expires.
    Acquired(String),
    /// Another process is filling.
    Held,
    /// Redis did not answer: fill locally.
    Unavailable,
}

/// Deletes the lock only if it is still ours (it may have expired and been taken since).
const UNLOCK: &str =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

pub struct RedisTier {
    pool: Pool,
    prefix: String,
    command_timeout: Duration,
    lock_ttl_ms: u64,
    breaker: Breaker,
    clock: SharedClock,
}

impl RedisTier {
    /// Builds the pool; nothing connects until the first call, so a Redis that is down at
    /// start-up costs nothing but skipped lookups.
    pub fn new(url: &str, settings: &RedisSettings, clock: SharedClock) -> anyhow::Result<Self> {
        let mut config = Config::from_url(url);
        config.pool = Some(PoolConfig {
            max_size: settings.pool_size,
            timeouts: Timeouts {
                wait: Some(Duration::from_millis(settings.wait_timeout_ms)),
                create: Some(Duration::from_millis(settings.connect_timeout_ms)),
                recycle: Some(Duration::from_millis(settings.command_timeout_ms)),
            },
            ..PoolConfig::default()
        });
        let pool = config.create_pool(Some(Runtime::Tokio1))?;
        Ok(RedisTier {
            pool,
            prefix: settings.key_prefix.clone(),
            command_timeout: Duration::from_millis(settings.command_timeout_ms),
            lock_ttl_ms: settings.lock_ttl_ms,
            breaker: Breaker::new(settings.breaker_failures, settings.breaker_backoff_ms),
            clock,
        })
    }

    fn name(&self, family: &str, key: &CacheKey) -> String {
        format!("{}{family}:{}", self.prefix, key.hex())
    }

    /// Runs one command, or skips it while the breaker is open. `None` on any failure.
    async fn query<T: FromRedisValue>(&self, op: &'static str, cmd: &redis::Cmd) -> Option<T> {
        if !self.breaker.allow(self.clock.now_ms()) {
            metrics::counter!("gallery_proxy_redis_skipped_total", "op" => op).increment(1);
            return None;
        }
        let call = async {
            let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
            cmd.query_async::<T>(&mut conn)
                .await
                .map_err(|e| e.to_string())
        };
        let result = match tokio::time::timeout(self.command_timeout, call).await {
            Ok(result) => result,
            Err(_) => Err("timed out".to_string()),
        };
        let value = match result {
            Ok(value) => {
                self.breaker.success();
                Some(value)
            }
            Err(error) => {
                self.breaker.failure(self.clock.now_ms());
                metrics::counter!("gallery_proxy_redis_errors_total", "op" => op).increment(1);
                tracing::debug!(op, %error, "redis call failed");
                None
            }
        };
        metrics::gauge!("gallery_proxy_redis_breaker_open")
            .set(f64::from(u8::from(self.breaker.is_open())));
        value
    }

    pub async fn get(&self, family: Family, key: &CacheKey) -> Option<Entry> {
        let cmd = redis::cmd("GET")
            .arg(self.name(family.as_str(), key))
            .to_owned();
        let bytes: Option<Vec<u8>> = self.query("get", &cmd).await?;
        bytes.and_then(|b| Entry::decode(&b))
    }

    /// Stores `entry` for `ttl_ms`; `false` if Redis did not take it.
    pub async fn put(&self, family: Family, key: &CacheKey, entry: &Entry, ttl_ms: u64) -> bool {
        if ttl_ms == 0 {
            return false;
        }
        let cmd = redis::cmd("SET")
            .arg(self.name(family.as_str(), key))
            .arg(entry.encode())
            .arg("PX")
            .arg(ttl_ms)
            .to_owned();
        self.query::<()>("set", &cmd).await.is_some()
    }

    /// The remaining Redis TTL of a key in ms (tests and diagnostics).
    pub async fn ttl_ms(&self, family: Family, key: &CacheKey) -> Option<i64> {
        let cmd = redis::cmd("PTTL")
            .arg(self.name(family.as_str(), key))
            .to_owned();
        self.query("pttl", &cmd).await
    }

    pub async fn try_lock(&self, key: &CacheKey) -> Lock {
        let token = uuid::Uuid::from_u128(fastrand::u128(..))
            .simple()
            .to_string();
        let cmd = redis::cmd("SET")
            .arg(self.name("lock", key))
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(self.lock_ttl_ms)
            .to_owned();
        match self.query::<Option<String>>("lock", &cmd).await {
            Some(Some(_)) => Lock::Acquired(token),
            Some(None) => Lock::Held,
            None => Lock::Unavailable,
        }
    }

    pub async fn unlock(&self, key: &CacheKey, token: &str) {
        let cmd = redis::cmd("EVAL")
            .arg(UNLOCK)
            .arg(1)
            .arg(self.name("lock", key))
            .arg(token)
            .to_owned();
        let _ = self.query::<i64>("unlock", &cmd).await;
    }
}
