//! The fill side of the read-through: fences read before the SQL, the shared count entry,
//! the fill from PostgreSQL (stored only while still current), the cluster-wide fill lock, and
//! the test gate between a fill's SQL and its store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{invalidated, lookup, ReadThrough};
use crate::cache::{Entry, State, Tier};
use crate::gallery::key::CacheKey;
use crate::gallery::{ApiError, GalleryQuery};
use crate::invalidation::deps;
use crate::store::postgres::DbError;
use crate::store::redis::{Family, Got, Lock};

/// What a fill hands to every request that waited for it.
#[derive(Clone)]
pub(super) struct Filled {
    pub(super) entry: Arc<Entry>,
    /// Whether a tier kept it.
    pub(super) stored: bool,
    /// `Redis` when another process filled it and this one only read it back.
    pub(super) tier: Tier,
}

pub(super) type FillResult = Result<Filled, ApiError>;

/// The invalidation fences of a fill, read before its data.
#[derive(Clone, Copy, Debug)]
struct Fences {
    local: u64,
    redis: Option<u64>,
}

impl Fences {
    fn of(entry: &Entry) -> Fences {
        Fences {
            local: entry.local_fence,
            redis: entry.redis_fence,
        }
    }

    /// The older of two: data read under both is as old as the older.
    fn min(self, other: Fences) -> Fences {
        Fences {
            local: self.local.min(other.local),
            redis: match (self.redis, other.redis) {
                (Some(a), Some(b)) => Some(a.min(b)),
                _ => None,
            },
        }
    }
}

/// A gate between a fill's SQL and its store, so a test can commit a write in between. It
/// stops the first fill that reaches it after [`FillPause::arm`], and no other.
#[derive(Default)]
pub struct FillPause {
    armed: std::sync::atomic::AtomicBool,
    /// Notified when the fill reaches the gate.
    pub reached: tokio::sync::Notify,
    /// Notified by the test to let it go on.
    pub release: tokio::sync::Notify,
}

impl FillPause {
    pub fn arm(&self) {
        self.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    async fn pass(&self) {
        if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            self.reached.notify_one();
            self.release.notified().await;
        }
    }
}

impl ReadThrough {
    /// Fills `key`, unless another process is already doing so and finishes in time.
    pub(super) async fn fill(&self, key: &CacheKey, query: &GalleryQuery) -> FillResult {
        let lock = match self.redis_in_step() {
            Some(redis) => redis.try_lock(key).await,
            None => Lock::Unavailable,
        };
        if lock == Lock::Held {
            if let Some(entry) = self.wait_for_other_process(key).await {
                metrics::counter!("gallery_proxy_cache_lock_total", "outcome" => "waited_hit")
                    .increment(1);
                return Ok(Filled {
                    entry,
                    stored: true,
                    tier: Tier::Redis,
                });
            }
            metrics::counter!("gallery_proxy_cache_lock_total", "outcome" => "waited_fallback")
                .increment(1);
        }
        let started = Instant::now();
        let result = self.fill_from_postgres(key, query).await;
        let label = match &result {
            Ok(filled) if filled.stored => "stored",
            Ok(_) => "not_stored",
            Err(_) => "error",
        };
        metrics::counter!("gallery_proxy_cache_fills_total", "result" => label).increment(1);
        metrics::histogram!("gallery_proxy_cache_fill_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        if let (Lock::Acquired(token), Some(redis)) = (&lock, self.redis.as_deref()) {
            redis.unlock(key, token).await;
        }
        result
    }

    /// Polls Redis for the entry another process is filling, for at most `lock_wait`.
    async fn wait_for_other_process(&self, key: &CacheKey) -> Option<Arc<Entry>> {
        let deadline = Instant::now() + self.lock_wait;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
            if let Some(entry) = self.fresh_from_redis(key, self.clock.now_ms()).await {
                return Some(entry);
            }
        }
        None
    }

    /// The fences of a fill starting now; read before any of its data.
    async fn fences(&self) -> Fences {
        let local = self.generations.fence();
        let redis = match self.redis_in_step() {
            Some(redis) => redis.fence().await,
            None => None,
        };
        Fences { local, redis }
    }

    async fn fill_from_postgres(&self, key: &CacheKey, query: &GalleryQuery) -> FillResult {
        let fences = self.fences().await;
        // Taken before the SQL: the data is at least this new, so Age never understates.
        let read_at = self.clock.now_ms();
        let count = async {
            match CacheKey::count(query) {
                Some(count_key) => self.count(&count_key, query).await,
                None => Ok((0, None)),
            }
        };
        let (body, count_entry, shown) = self.service.answer_with(query, count).await?;
        if let Some(pause) = &self.fill_pause {
            pause.pass().await;
        }
        let mut filled_at = read_at;
        let mut fresh_until = read_at + self.policy.draw_ttl_ms();
        let mut page_deps = deps::of_page(query, key, &shown);
        let mut fences = fences;
        if let Some(count) = count_entry.flatten() {
            filled_at = filled_at.min(count.filled_at_ms);
            fresh_until = fresh_until.min(count.fresh_until_ms());
            page_deps = page_deps.union(&count.deps);
            fences = fences.min(Fences::of(&count));
        }
        let entry = Arc::new(Entry::fenced(
            Bytes::from(body),
            filled_at,
            fresh_until.saturating_sub(filled_at),
            Arc::new(page_deps),
            fences.local,
            fences.redis,
        ));
        if !self.is_current(&entry) {
            // A write was applied while the SQL ran: keep nothing. The requests waiting on this
            // fill began before that (later ones start their own), so they may have it.
            metrics::counter!("gallery_proxy_cache_fills_fenced_total").increment(1);
            return Ok(Filled {
                entry,
                stored: false,
                tier: Tier::Postgres,
            });
        }
        let in_memory = self.memory.store_page(*key.digest(), entry.clone()).await;
        let in_redis = match self.redis_in_step() {
            Some(redis) => {
                let ttl = fresh_until.saturating_sub(self.clock.now_ms());
                redis.put(Family::Page, key, &entry, ttl).await
            }
            None => false,
        };
        Ok(Filled {
            entry,
            stored: in_memory || in_redis,
            tier: Tier::Postgres,
        })
    }

    /// `total_count` from L1, L2 or PostgreSQL, with its entry (when it was read, until when
    /// it is fresh, what invalidates it).
    async fn count(
        &self,
        key: &CacheKey,
        query: &GalleryQuery,
    ) -> Result<(u64, Option<Arc<Entry>>), DbError> {
        let now = self.clock.now_ms();
        let usable = |entry: &Arc<Entry>| {
            let total = std::str::from_utf8(&entry.body).ok()?.parse::<u64>().ok()?;
            (self.policy.state(entry, now) == State::Fresh).then(|| (total, Some(entry.clone())))
        };
        if let Some(entry) = self.memory.count(key.digest()).await {
            if !self.is_current(&entry) {
                invalidated("memory_count");
            } else if let Some(found) = usable(&entry) {
                lookup("memory_count", "hit");
                return Ok(found);
            }
        }
        if let Some(redis) = self.redis_in_step() {
            match self.from_redis(redis, Family::Count, key).await {
                Some(Got::Current(entry)) => {
                    let entry = Arc::new(entry);
                    if let Some(found) = usable(&entry) {
                        lookup("redis_count", "hit");
                        self.memory.store_count(*key.digest(), entry).await;
                        return Ok(found);
                    }
                }
                Some(Got::Invalidated) => invalidated("redis_count"),
                None => {}
            }
        }
        lookup("count", "miss");
        let fences = self.fences().await;
        let read_at = self.clock.now_ms();
        let total = self.service.count(query).await?;
        let entry = Arc::new(Entry::fenced(
            Bytes::from(total.to_string()),
            read_at,
            self.policy.draw_ttl_ms(),
            Arc::new(deps::of_count(query, key)),
            fences.local,
            fences.redis,
        ));
        if self.is_current(&entry) {
            self.memory.store_count(*key.digest(), entry.clone()).await;
            if let Some(redis) = self.redis_in_step() {
                let ttl = entry.fresh_until_ms().saturating_sub(self.clock.now_ms());
                redis.put(Family::Count, key, &entry, ttl).await;
            }
        }
        Ok((total, Some(entry)))
    }
}
