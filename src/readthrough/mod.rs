//! The read-through flow of one gallery query: key → L1 (memory) → L2 (Redis) → one fill per
//! key → store in both → answer, with stale entries served while revalidating or when
//! PostgreSQL fails. No HTTP here; SQL only through [`GalleryService`].
//!
//! `total_count` is its own entry (see [`CacheKey::count`]): every page of one query shares it,
//! so page 2 after page 1 costs only the page query. A page built on a cached count carries the
//! count's fill time (its oldest data), expires no later than the count, and takes the count's
//! fences and dependencies as well as its own.
//!
//! Writes (invariant 2): every entry is checked against the invalidations applied since its
//! fences were read ([`Generations`] in memory, the counter stamps in Redis) before it answers,
//! fresh or stale. An invalidated entry never answers, not even as stale-if-error. Fences are
//! read before the SQL, so a fill that read before a write is dead once the write is applied,
//! whenever it is stored.

mod fill;
mod flight;

use std::sync::Arc;
use std::time::Duration;

use crate::cache::clock::SharedClock;
use crate::cache::{Entry, Outcome, Policy, State, Tier};
use crate::gallery::key::CacheKey;
use crate::gallery::{ApiError, GalleryQuery};
use crate::invalidation::generations::Generations;
use crate::service::GalleryService;
use crate::store::memory::{Digest, MemoryTier};
use crate::store::redis::{Family, Got, RedisTier};

pub use fill::FillPause;
pub use flight::Flights;

use fill::FillResult;

/// One answer: the entry and how it was produced.
pub struct Answer {
    pub entry: Arc<Entry>,
    pub outcome: Outcome,
}

pub struct ReadThrough {
    service: GalleryService,
    memory: MemoryTier,
    redis: Option<Arc<RedisTier>>,
    generations: Arc<Generations>,
    /// Paused between a fill's SQL and its store (tests of the fence only).
    fill_pause: Option<Arc<FillPause>>,
    flights: Arc<Flights<Digest, FillResult>>,
    policy: Policy,
    clock: SharedClock,
    /// Longest wait for a fill led by another request.
    fill_wait: Duration,
    /// Longest wait for a fill led by another process (then fill here).
    lock_wait: Duration,
    /// Longest time for everything after the memory lookup.
    request_timeout: Duration,
}

impl ReadThrough {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        service: GalleryService,
        memory: MemoryTier,
        redis: Option<Arc<RedisTier>>,
        generations: Arc<Generations>,
        fill_pause: Option<Arc<FillPause>>,
        policy: Policy,
        clock: SharedClock,
        fill_wait: Duration,
        lock_wait: Duration,
        request_timeout: Duration,
    ) -> ReadThrough {
        ReadThrough {
            service,
            memory,
            redis,
            generations,
            fill_pause,
            flights: Flights::new(),
            policy,
            clock,
            fill_wait,
            lock_wait,
            request_timeout,
        }
    }

    pub fn service(&self) -> &GalleryService {
        &self.service
    }

    pub fn memory(&self) -> &MemoryTier {
        &self.memory
    }

    pub fn redis(&self) -> Option<&RedisTier> {
        self.redis.as_deref()
    }

    /// Redis, unless this process has invalidations it could not write there yet.
    fn redis_in_step(&self) -> Option<&RedisTier> {
        self.redis
            .as_deref()
            .filter(|_| self.generations.redis_in_step())
    }

    /// Whether `entry` survived every invalidation applied since its fence.
    fn is_current(&self, entry: &Entry) -> bool {
        self.generations
            .is_current(entry.local_fence, entry.deps.hashes())
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// The answer to `query`, whose page key is `key` (`CacheKey::page(query)`; the caller
    /// may have it remembered).
    pub async fn answer(
        self: &Arc<Self>,
        query: &GalleryQuery,
        key: &CacheKey,
    ) -> Result<Answer, ApiError> {
        let now = self.clock.now_ms();

        // L1. A stale entry that cannot answer now is kept as the stale-if-error fallback.
        let mut fallback = None;
        let found = match self.memory.page(key.digest()).await {
            Some(entry) if !self.is_current(&entry) => {
                invalidated("memory");
                self.memory.remove_page(key.digest()).await;
                None
            }
            found => found,
        };
        match found {
            Some(entry) => match self.policy.state(&entry, now) {
                State::Fresh => {
                    memory_hits().increment(1);
                    return Ok(Answer {
                        entry,
                        outcome: Outcome::Hit(Tier::Memory),
                    });
                }
                State::StaleWhileRevalidate => {
                    lookup("memory", "stale");
                    self.revalidate(key.clone(), query);
                    metrics::counter!("gallery_proxy_cache_stale_total", "reason" => "revalidate")
                        .increment(1);
                    return Ok(Answer {
                        entry,
                        outcome: Outcome::StaleWhileRevalidate(Tier::Memory),
                    });
                }
                State::StaleIfError => {
                    lookup("memory", "stale");
                    fallback = Some(entry);
                }
                State::Dead => lookup("memory", "miss"),
            },
            None => lookup("memory", "miss"),
        }

        // Only what follows can take long, so only it is bounded by the request timeout (a
        // timer per memory hit was a measurable share of its cost).
        match tokio::time::timeout(
            self.request_timeout,
            self.beyond_memory(query, key, now, fallback.clone()),
        )
        .await
        {
            Ok(answer) => answer,
            Err(_) => {
                let error = ApiError::StatementTimeout {
                    timeout: format!("{}s", self.request_timeout.as_secs()),
                };
                match fallback {
                    Some(entry) => Ok(self.stale_if_error(entry, &error)),
                    None => Err(error),
                }
            }
        }
    }

    /// L2, then one fill per key, then the stale-if-error fallback.
    async fn beyond_memory(
        self: &Arc<Self>,
        query: &GalleryQuery,
        key: &CacheKey,
        now: u64,
        fallback: Option<Arc<Entry>>,
    ) -> Result<Answer, ApiError> {
        if let Some(entry) = self.fresh_from_redis(key, now).await {
            return Ok(Answer {
                entry,
                outcome: Outcome::Hit(Tier::Redis),
            });
        }

        // One fill per key; this request may lead it or follow it (only a fill started since
        // the last applied invalidation).
        let (receiver, lead) = self.flights.join(key.digest(), self.generations.fence());
        let collapsed = lead.is_none();
        if let Some(lead) = lead {
            let this = self.clone();
            let (key, query) = (key.clone(), query.clone());
            tokio::spawn(async move {
                let result = this.fill(&key, &query).await;
                lead.finish(result);
            });
        } else {
            metrics::counter!("gallery_proxy_cache_coalesced_total").increment(1);
        }
        let result = match tokio::time::timeout(self.fill_wait, flight::outcome(receiver)).await {
            Ok(Some(result)) => result,
            Ok(None) => Err(ApiError::Internal(
                "the fill ended without an answer".into(),
            )),
            Err(_) => Err(ApiError::StatementTimeout {
                timeout: format!("{}s", self.fill_wait.as_secs()),
            }),
        };
        match (result, fallback) {
            (Ok(filled), _) => Ok(Answer {
                outcome: match filled.tier {
                    Tier::Postgres => Outcome::Miss {
                        collapsed,
                        stored: filled.stored,
                    },
                    tier => Outcome::Hit(tier),
                },
                entry: filled.entry,
            }),
            (Err(error), Some(entry)) => Ok(self.stale_if_error(entry, &error)),
            (Err(error), None) => Err(error),
        }
    }

    fn stale_if_error(&self, entry: Arc<Entry>, error: &ApiError) -> Answer {
        tracing::warn!(%error, "serving a stale entry: the database failed");
        metrics::counter!("gallery_proxy_cache_stale_total", "reason" => "error").increment(1);
        Answer {
            entry,
            outcome: Outcome::StaleIfError {
                tier: Tier::Memory,
                status: error.status(),
            },
        }
    }

    /// Starts one background refresh of `key` unless a fill of it is already running.
    fn revalidate(self: &Arc<Self>, key: CacheKey, query: &GalleryQuery) {
        let (_, lead) = self.flights.join(key.digest(), self.generations.fence());
        if let Some(lead) = lead {
            let this = self.clone();
            let query = query.clone();
            tokio::spawn(async move {
                let result = this.fill(&key, &query).await;
                if let Err(error) = &result {
                    tracing::warn!(%error, "background refresh failed; the stale entry stays");
                }
                lead.finish(result);
            });
        }
    }

    /// `key`'s entry as Redis finds it, a current one carrying this process's fence read
    /// *before* the read: an invalidation applied here while the read runs then still counts.
    async fn from_redis(&self, redis: &RedisTier, family: Family, key: &CacheKey) -> Option<Got> {
        let local_fence = self.generations.fence();
        let mut got = redis.get(family, key).await?;
        if let Got::Current(entry) = &mut got {
            entry.local_fence = local_fence;
        }
        Some(got)
    }

    async fn fresh_from_redis(&self, key: &CacheKey, now: u64) -> Option<Arc<Entry>> {
        let redis = self.redis_in_step()?;
        let entry = match self.from_redis(redis, Family::Page, key).await {
            Some(Got::Current(entry)) => entry,
            Some(Got::Invalidated) => {
                invalidated("redis");
                return None;
            }
            None => {
                lookup("redis", "miss");
                return None;
            }
        };
        if self.policy.state(&entry, now) != State::Fresh {
            lookup("redis", "stale");
            return None;
        }
        lookup("redis", "hit");
        // Promoted with its original fill time: Age stays true and only the remaining
        // freshness is left.
        let entry = Arc::new(entry);
        self.memory.store_page(*key.digest(), entry.clone()).await;
        Some(entry)
    }
}

/// The memory-hit counter's handle, registered on first use (always after the recorder is
/// installed at start-up): the hottest series, not looked up per request.
fn memory_hits() -> &'static metrics::Counter {
    static HITS: std::sync::OnceLock<metrics::Counter> = std::sync::OnceLock::new();
    HITS.get_or_init(|| {
        metrics::counter!("gallery_proxy_cache_lookups_total", "tier" => "memory", "outcome" => "hit")
    })
}

/// An entry found but dropped because a write invalidated it.
fn invalidated(tier: &'static str) {
    lookup(tier, "invalidated");
    metrics::counter!("gallery_proxy_cache_invalidated_total", "tier" => tier).increment(1);
}

fn lookup(tier: &'static str, outcome: &'static str) {
    metrics::counter!("gallery_proxy_cache_lookups_total", "tier" => tier, "outcome" => outcome)
        .increment(1);
}
