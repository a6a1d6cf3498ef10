//! The consumer: applies the outbox's change events to both tiers, in every proxy process.
//!
//! It LISTENs for the triggers' wake-ups and reads the outbox by position (see
//! [`Position`]) on each wake-up and every `poll_ms` besides, so a lost notification or a
//! dropped connection costs latency, never an event. Each batch goes to Redis first (so another
//! process cannot promote an answer that this process already considers old), then to this
//! process's generations. If Redis does not take a batch, its dependencies wait for the next
//! round and this process leaves Redis alone meanwhile.
//!
//! On start it re-applies the events of the last `replay_ms`: entries that Redis may still hold
//! from while no proxy was running are invalidated too. Events older than `retention_ms` are
//! pruned; a consumer that finds itself settled below the pruned ids (disconnected for longer
//! than the retention) invalidates everything.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::watch;

use super::deps::{self, hash};
use super::generations::Generations;
use super::position::Position;
use crate::cache::clock::SharedClock;
use crate::store::postgres::outbox::{self, Event};
use crate::store::redis::RedisTier;

/// The channel the triggers notify.
pub const CHANNEL: &str = "gallery_proxy_changes";

/// Rows per outbox read.
const BATCH: i64 = 5000;

#[derive(Clone, Debug)]
pub struct ConsumerSettings {
    /// Outbox read without a wake-up, at least this often.
    pub poll_ms: u64,
    /// Events re-applied at start.
    pub replay_ms: u64,
    /// Events kept this long, then pruned.
    pub retention_ms: u64,
}

pub struct Consumer {
    pub pool: PgPool,
    pub progress: Arc<Progress>,
    pub generations: Arc<Generations>,
    pub redis: Option<Arc<RedisTier>>,
    pub clock: SharedClock,
    pub settings: ConsumerSettings,
}

/// How far the consumer has come (tests wait on it).
#[derive(Default)]
pub struct Progress {
    /// Complete reads of the outbox, each counted after its events were applied. Two more
    /// than at some moment means a read that began after it has been applied.
    pub reads: AtomicU64,
    /// When the last complete read was applied (Unix ms; the start-up time before the first).
    pub last_read_ms: AtomicU64,
}

impl Progress {
    pub fn starting_at(now_ms: u64) -> Progress {
        Progress {
            last_read_ms: AtomicU64::new(now_ms),
            ..Progress::default()
        }
    }

    /// Whether a complete read was applied within `limit_ms` of `now_ms`: if not, this process
    /// cannot hear about writes, and its cached answers may be old.
    pub fn keeping_up(&self, now_ms: u64, limit_ms: u64) -> bool {
        now_ms.saturating_sub(self.last_read_ms.load(Ordering::Acquire)) <= limit_ms
    }
}

/// Why a session with PostgreSQL ended.
enum Ended {
    Stopped,
    Failed(sqlx::Error),
}

impl Consumer {
    /// Runs until `stop` turns true, reconnecting after any failure.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut position: Option<Position> = None;
        let mut unsent: BTreeSet<String> = BTreeSet::new();
        let mut backoff = Duration::from_millis(50);
        loop {
            match self.session(&mut position, &mut unsent, &mut stop).await {
                Ended::Stopped => return,
                Ended::Failed(error) => {
                    metrics::counter!("gallery_proxy_invalidation_reconnects_total").increment(1);
                    tracing::warn!(%error, "invalidation consumer lost PostgreSQL; reconnecting");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    async fn session(
        &self,
        position: &mut Option<Position>,
        unsent: &mut BTreeSet<String>,
        stop: &mut watch::Receiver<bool>,
    ) -> Ended {
        let mut listener = match PgListener::connect_with(&self.pool).await {
            Ok(listener) => listener,
            Err(error) => return Ended::Failed(error),
        };
        // LISTEN before reading: a write committing in between is then both read and notified.
        if let Err(error) = listener.listen(CHANNEL).await {
            return Ended::Failed(error);
        }
        match position {
            None => match outbox::start(&self.pool, self.settings.replay_ms).await {
                Ok((start, horizon)) => *position = Some(Position::new(start, horizon)),
                Err(error) => return Ended::Failed(error),
            },
            Some(p) => match outbox::pruned_through(&self.pool).await {
                Ok(pruned) if pruned > p.settled() => {
                    tracing::warn!(pruned, settled = p.settled(), "events were pruned unread");
                    self.apply(&[deps::ALL.to_string()], unsent).await;
                }
                Ok(_) => {}
                Err(error) => return Ended::Failed(error),
            },
        }
        let position = position.as_mut().expect("set above");
        let mut last_prune = std::time::Instant::now();
        loop {
            if let Err(error) = self.catch_up(position, unsent).await {
                return Ended::Failed(error);
            }
            if last_prune.elapsed() > Duration::from_secs(60) {
                last_prune = std::time::Instant::now();
                self.prune().await;
            }
            tokio::select! {
                received = listener.try_recv() => match received {
                    Ok(Some(_)) => {}
                    // The connection dropped and was made anew: read, since wake-ups may be lost.
                    Ok(None) => metrics::counter!("gallery_proxy_invalidation_reconnects_total").increment(1),
                    Err(error) => return Ended::Failed(error),
                },
                () = tokio::time::sleep(Duration::from_millis(self.settings.poll_ms)) => {}
                _ = stop.wait_for(|s| *s) => return Ended::Stopped,
            }
        }
    }

    /// Reads and applies everything visible now.
    async fn catch_up(
        &self,
        position: &mut Position,
        unsent: &mut BTreeSet<String>,
    ) -> Result<(), sqlx::Error> {
        loop {
            let read = outbox::read(&self.pool, position.ask(), BATCH).await?;
            let complete = (read.events.len() as i64) < BATCH;
            let ids: Vec<i64> = read.events.iter().map(|e| e.id).collect();
            let new: Vec<&Event> = position
                .accept(read.horizon, &ids, complete)
                .into_iter()
                .map(|i| &read.events[i])
                .collect();
            if !new.is_empty() || !unsent.is_empty() {
                let names: Vec<String> = new.iter().map(|e| e.dep.clone()).collect();
                self.apply(&names, unsent).await;
                let now = self.clock.now_ms();
                for event in &new {
                    metrics::histogram!("gallery_proxy_invalidation_lag_seconds")
                        .record(now.saturating_sub(event.written_ms) as f64 / 1000.0);
                }
                metrics::counter!("gallery_proxy_invalidation_events_total")
                    .increment(new.len() as u64);
            }
            if complete {
                metrics::gauge!("gallery_proxy_invalidation_backlog_events").set(0.0);
                // Every id at or below it is applied. A long write transaction anywhere in the
                // cluster holds it back (snapshot horizons are cluster-wide); applying never waits.
                metrics::gauge!("gallery_proxy_invalidation_position")
                    .set(position.settled() as f64);
                self.progress
                    .last_read_ms
                    .store(self.clock.now_ms(), Ordering::Release);
                self.progress.reads.fetch_add(1, Ordering::AcqRel);
                return Ok(());
            }
            let backlog = outbox::backlog(&self.pool, position.ask().above).await?;
            metrics::gauge!("gallery_proxy_invalidation_backlog_events").set(backlog as f64);
        }
    }

    /// Redis first (with whatever an earlier round could not send), then this process.
    async fn apply(&self, names: &[String], unsent: &mut BTreeSet<String>) {
        let mut names: Vec<String> = names.to_vec();
        names.sort_unstable();
        names.dedup();
        if let Some(redis) = &self.redis {
            unsent.extend(names.iter().cloned());
            let all: Vec<String> = unsent.iter().cloned().collect();
            if redis.bump(&all).await {
                unsent.clear();
                self.generations.set_redis_in_step(true);
            } else {
                self.generations.set_redis_in_step(false);
                metrics::counter!("gallery_proxy_invalidation_redis_failures_total").increment(1);
            }
        }
        if !names.is_empty() {
            let hashes: Vec<u64> = names.iter().map(|n| hash(n)).collect();
            self.generations.apply(&hashes, self.clock.now_ms());
        }
    }

    async fn prune(&self) {
        match outbox::prune(&self.pool, self.settings.retention_ms).await {
            Ok(deleted) if deleted > 0 => tracing::debug!(deleted, "outbox pruned"),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "outbox prune failed"),
        }
    }
}
