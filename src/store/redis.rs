//! L2: the shared tier in Redis, through deadpool-redis. Every call is bounded (pool wait,
//! connect and command timeouts of tens of milliseconds) and guarded by a circuit breaker, and
//! every failure is an absent answer: Redis trouble makes requests slower, never failed.
//!
//! Key names: `{prefix}page:{digest}`, `{prefix}count:{digest}`, `{prefix}lock:{digest}`, and
//! for invalidation `{prefix}gen` (a counter bumped by every applied batch of change events)
//! and `{prefix}gen:{dependency}` (the counter's value when that dependency was last
//! invalidated). An entry carries the counter's value read before its SQL ran (its fence) and
//! is current while no dependency of it was invalidated later (`gen:{d} <= fence`): checked
//! on every read, and by the store itself, so a fill that read before a write is never kept
//! nor served once any proxy has applied that write (invariant 2, across processes).

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

/// What a read found.
#[derive(Debug)]
pub enum Got {
    Current(Entry),
    /// There, but a dependency was invalidated after its fill read the database.
    Invalidated,
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

/// Bumps the counter and stamps each dependency with its new value. KEYS: counter, then
/// `gen:{d}`...; ARGV: the stamps' lifetime in ms.
const BUMP: &str = "local g = redis.call('INCR', KEYS[1]) \
for i = 2, #KEYS do redis.call('SET', KEYS[i], g, 'PX', ARGV[1]) end \
return g";

/// Returns an entry only if it is still current: one round trip for a read. KEYS: entry,
/// counter; ARGV: the stamps' key prefix (stamp names come from the value's first line, so
/// this needs a single Redis, not a cluster). Nil when absent, 0 when invalidated.
const GET_IF_CURRENT: &str = "local v = redis.call('GET', KEYS[1]) \
if not v then return false end \
local nl = string.find(v, '\\n', 1, true) \
if not nl then return v end \
local fence = nil \
for word in string.gmatch(string.sub(v, 1, nl - 1), '%S+') do \
  if not fence then \
    fence = tonumber(word) \
    if not fence or tonumber(redis.call('GET', KEYS[2]) or '0') < fence then return 0 end \
  else \
    local g = redis.call('GET', ARGV[1] .. word) \
    if g and tonumber(g) > fence then return 0 end \
  end \
end \
return v";

/// Stores an entry only if it is still current. KEYS: entry, counter, `gen:{d}`...; ARGV:
/// value, ttl ms, fence. A counter below the fence means Redis lost its keys (restart,
/// eviction): nothing fenced before that can be trusted.
const PUT_IF_CURRENT: &str = "local fence = tonumber(ARGV[3]) \
if tonumber(redis.call('GET', KEYS[2]) or '0') < fence then return 0 end \
for i = 3, #KEYS do \
  local g = redis.call('GET', KEYS[i]) \
  if g and tonumber(g) > fence then return 0 end \
end \
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) \
return 1";

/// Deletes the lock only if it is still ours (it may have expired and been taken since).
const UNLOCK: &str =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

pub struct RedisTier {
    pool: Pool,
    prefix: String,
    command_timeout: Duration,
    lock_ttl_ms: u64,
    /// Lifetime of `gen:{d}` stamps: longer than any entry fenced before them can live.
    stamp_ttl_ms: u64,
    breaker: Breaker,
    clock: SharedClock,
}

impl RedisTier {
    /// Builds the pool; nothing connects until the first call, so a Redis that is down at
    /// start-up costs nothing but skipped lookups.
    pub fn new(
        url: &str,
        settings: &RedisSettings,
        stamp_ttl_ms: u64,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
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
            stamp_ttl_ms,
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

    fn counter(&self) -> String {
        format!("{}gen", self.prefix)
    }

    fn stamp(&self, dep: &str) -> String {
        format!("{}gen:{dep}", self.prefix)
    }

    /// The entry under `key`, if it is there, decodes, and is still current.
    pub async fn get(&self, family: Family, key: &CacheKey) -> Option<Got> {
        let cmd = redis::cmd("EVAL")
            .arg(GET_IF_CURRENT)
            .arg(2)
            .arg(self.name(family.as_str(), key))
            .arg(self.counter())
            .arg(self.stamp(""))
            .to_owned();
        match self.query::<redis::Value>("get", &cmd).await? {
            redis::Value::BulkString(bytes) => Entry::decode(&bytes).map(Got::Current),
            redis::Value::Int(0) => Some(Got::Invalidated),
            _ => None,
        }
    }

    /// The counter now: the Redis fence of a fill starting now.
    pub async fn fence(&self) -> Option<u64> {
        let cmd = redis::cmd("GET").arg(self.counter()).to_owned();
        let value: Option<u64> = self.query("fence", &cmd).await?;
        Some(value.unwrap_or(0))
    }

    /// Invalidates every entry depending on any of `deps`; `false` if Redis did not take it.
    pub async fn bump(&self, deps: &[String]) -> bool {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(BUMP).arg(deps.len() + 1).arg(self.counter());
        for dep in deps {
            cmd.arg(self.stamp(dep));
        }
        cmd.arg(self.stamp_ttl_ms);
        self.query::<u64>("bump", &cmd).await.is_some()
    }

    /// Stores `entry` for `ttl_ms` if it is still current by its Redis fence; `false` if it was
    /// not stored (no fence, invalidated meanwhile, or Redis did not answer).
    pub async fn put(&self, family: Family, key: &CacheKey, entry: &Entry, ttl_ms: u64) -> bool {
        let Some(fence) = entry.redis_fence else {
            return false;
        };
        if ttl_ms == 0 {
            return false;
        }
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(PUT_IF_CURRENT)
            .arg(entry.deps.names().len() + 2)
            .arg(self.name(family.as_str(), key))
            .arg(self.counter());
        for dep in entry.deps.names() {
            cmd.arg(self.stamp(dep));
        }
        cmd.arg(entry.encode()).arg(ttl_ms).arg(fence);
        self.query::<i64>("set", &cmd).await == Some(1)
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
