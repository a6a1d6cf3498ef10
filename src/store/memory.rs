//! L1: the in-process tier, a `moka::future::Cache` bounded by bytes, each entry dropped once
//! neither its freshness nor a stale window can use it any more.
//!
//! Keys are the 32-byte digests of [`CacheKey`](crate::gallery::key::CacheKey)s; values are
//! `Arc<Entry>`, so a hit clones one pointer and the body's `Bytes` are shared, not copied.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;
use moka::Expiry;

use crate::cache::clock::SharedClock;
use crate::cache::{Entry, Policy};

pub type Digest = [u8; 32];

type Entries = Cache<Digest, Arc<Entry>, DigestHash>;

#[derive(Clone)]
pub struct MemoryTier {
    pages: Entries,
    counts: Entries,
}

/// Keys are SHA-256 digests, already uniform and not choosable by a client, so eight of their
/// bytes are a hash: no need to run SipHash over all 32 on every lookup.
#[derive(Clone, Default)]
pub struct DigestHash;

impl std::hash::BuildHasher for DigestHash {
    type Hasher = DigestHasher;

    fn build_hasher(&self) -> DigestHasher {
        DigestHasher(0)
    }
}

#[derive(Default)]
pub struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // `[u8; 32]` hashes as its bytes (no length prefix for arrays); fold in whatever comes.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }
}

/// Expires an entry at the end of its last stale window, by the same clock freshness uses.
struct UntilUseless {
    clock: SharedClock,
    keep_stale_ms: u64,
}

impl UntilUseless {
    fn remaining(&self, entry: &Entry) -> Option<Duration> {
        let end = entry.fresh_until_ms().saturating_add(self.keep_stale_ms);
        Some(Duration::from_millis(
            end.saturating_sub(self.clock.now_ms()),
        ))
    }
}

impl Expiry<Digest, Arc<Entry>> for UntilUseless {
    fn expire_after_create(&self, _: &Digest, entry: &Arc<Entry>, _: Instant) -> Option<Duration> {
        self.remaining(entry)
    }

    fn expire_after_update(
        &self,
        _: &Digest,
        entry: &Arc<Entry>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        self.remaining(entry)
    }
}

impl MemoryTier {
    /// `max_bytes` bounds pages and counts together (counts get a sixteenth, as they are tiny
    /// and many pages share one). 0 turns the tier off.
    pub fn new(max_bytes: u64, policy: &Policy, clock: SharedClock) -> MemoryTier {
        let build = |capacity: u64| {
            Cache::builder()
                .max_capacity(capacity)
                .weigher(|_: &Digest, entry: &Arc<Entry>| entry.weight())
                .expire_after(UntilUseless {
                    clock: clock.clone(),
                    keep_stale_ms: policy.keep_stale_ms(),
                })
                .build_with_hasher(DigestHash)
        };
        MemoryTier {
            pages: build(max_bytes - max_bytes / 16),
            counts: build(max_bytes / 16),
        }
    }

    pub async fn page(&self, key: &Digest) -> Option<Arc<Entry>> {
        self.pages.get(key).await
    }

    pub async fn count(&self, key: &Digest) -> Option<Arc<Entry>> {
        self.counts.get(key).await
    }

    /// Stores a page; `false` when it cannot be kept (the tier is off or smaller than it).
    pub async fn store_page(&self, key: Digest, entry: Arc<Entry>) -> bool {
        store(&self.pages, key, entry).await
    }

    pub async fn store_count(&self, key: Digest, entry: Arc<Entry>) -> bool {
        store(&self.counts, key, entry).await
    }

    pub async fn remove_page(&self, key: &Digest) {
        self.pages.invalidate(key).await;
    }

    /// Drops every entry.
    pub fn clear(&self) {
        self.pages.invalidate_all();
        self.counts.invalidate_all();
    }

    /// Entries and weighed bytes (approximate until moka's pending work runs).
    pub fn usage(&self) -> (u64, u64) {
        (
            self.pages.entry_count() + self.counts.entry_count(),
            self.pages.weighted_size() + self.counts.weighted_size(),
        )
    }
}

async fn store(cache: &Entries, key: Digest, entry: Arc<Entry>) -> bool {
    let capacity = cache.policy().max_capacity().unwrap_or(0);
    if u64::from(entry.weight()) > capacity {
        return false;
    }
    cache.insert(key, entry).await;
    true
}
