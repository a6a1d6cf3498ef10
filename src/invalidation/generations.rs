//! In-process generations: the fence that keeps the memory tier fresh after writes
//! (invariant 2).
//!
//! Every applied batch of change events takes the next sequence number `s` and records it as
//! the last invalidation of each dependency it names. An entry remembers the sequence number
//! read *before* its data was read (its fence). It may answer only while none of its
//! dependencies was invalidated after that: `last[d] <= fence` for all `d`. So a fill whose SQL
//! ran before a write committed (and so before the write's events were applied) is never served
//! once they are, whether it was stored before or after them: there is no race to win.
//!
//! A memory hit with no invalidation at all since its fill checks one atomic; otherwise one map
//! lookup per dependency. Dependencies older than any living entry are forgotten (`floor`).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::RwLock;

pub struct Generations {
    /// The sequence number of the last applied batch; written only under `state`'s lock.
    seq: AtomicU64,
    state: RwLock<State>,
    /// How long an entry can live (freshness, stale windows, a slow fill): invalidations older
    /// than this can no longer concern any entry.
    max_entry_life_ms: u64,
    /// False while invalidations that the consumer could not write to Redis are pending: Redis
    /// may then hold answers it does not know are old, so this process neither reads nor
    /// writes that tier.
    redis_in_step: AtomicBool,
}

#[derive(Default)]
struct State {
    /// Dependency hash → sequence number of its last invalidation.
    last: HashMap<u64, u64, BuildHasherDefault<AlreadyHashed>>,
    /// Entries fenced below this are older than any entry can live; `last` keeps nothing at or
    /// below it.
    floor: u64,
    /// (time, sequence) of applied batches not yet folded into `floor`.
    marks: VecDeque<(u64, u64)>,
}

impl Generations {
    pub fn new(max_entry_life_ms: u64) -> Generations {
        Generations {
            seq: AtomicU64::new(0),
            state: RwLock::new(State::default()),
            max_entry_life_ms,
            redis_in_step: AtomicBool::new(true),
        }
    }

    /// The fence of a fill starting now: read it before reading any data.
    pub fn fence(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// Whether an entry fenced at `fence` with dependency hashes `deps` is still current.
    pub fn is_current(&self, fence: u64, deps: &[u64]) -> bool {
        if self.seq.load(Ordering::Acquire) == fence {
            return true;
        }
        let state = self.state.read().expect("no panics while locked");
        fence >= state.floor
            && deps
                .iter()
                .all(|d| state.last.get(d).is_none_or(|&s| s <= fence))
    }

    /// Invalidates every entry depending on any of `deps`; returns the batch's sequence number.
    pub fn apply(&self, deps: &[u64], now_ms: u64) -> u64 {
        let mut state = self.state.write().expect("no panics while locked");
        let s = self.seq.load(Ordering::Relaxed) + 1;
        for d in deps {
            state.last.insert(*d, s);
        }
        // Published after `last`: a reader that sees `s` also sees what it invalidated.
        self.seq.store(s, Ordering::Release);
        state.marks.push_back((now_ms, s));
        self.forget_old(&mut state, now_ms);
        s
    }

    fn forget_old(&self, state: &mut State, now_ms: u64) {
        let mut floor = state.floor;
        while let Some(&(at, s)) = state.marks.front() {
            if now_ms.saturating_sub(at) <= self.max_entry_life_ms {
                break;
            }
            floor = s;
            state.marks.pop_front();
        }
        // Folded in bulk (a retain pass is linear in the map), at most every 1024 batches.
        if floor > state.floor && (floor - state.floor >= 1024 || state.marks.is_empty()) {
            state.floor = floor;
            state.last.retain(|_, s| *s > floor);
        }
    }

    /// Dependencies remembered now (tests and metrics).
    pub fn remembered(&self) -> usize {
        self.state
            .read()
            .expect("no panics while locked")
            .last
            .len()
    }

    pub fn redis_in_step(&self) -> bool {
        self.redis_in_step.load(Ordering::Acquire)
    }

    pub fn set_redis_in_step(&self, in_step: bool) {
        self.redis_in_step.store(in_step, Ordering::Release);
    }
}

/// The keys of `last` are already 64-bit hashes of dependency names (uniform, not chosen by
/// clients), so hashing them again is wasted work on every memory hit after a write.
#[derive(Default)]
struct AlreadyHashed(u64);

impl Hasher for AlreadyHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_current_until_one_of_its_dependencies_is_invalidated() {
        let generations = Generations::new(60_000);
        let fence = generations.fence();
        assert!(generations.is_current(fence, &[1, 2]));
        generations.apply(&[3], 0);
        assert!(generations.is_current(fence, &[1, 2]), "unrelated write");
        generations.apply(&[2], 0);
        assert!(!generations.is_current(fence, &[1, 2]));
        let later = generations.fence();
        assert!(
            generations.is_current(later, &[1, 2]),
            "filled after the write"
        );
    }

    #[test]
    fn a_fill_fenced_before_a_write_stays_invalid_whenever_it_is_stored() {
        let generations = Generations::new(60_000);
        let fence = generations.fence(); // the fill reads its fence, then runs its SQL
        generations.apply(&[7], 0); // a write commits and its events are applied
        assert!(
            !generations.is_current(fence, &[7]),
            "stored after: never served"
        );
    }

    #[test]
    fn old_invalidations_are_forgotten_without_reviving_old_entries() {
        let generations = Generations::new(1_000);
        let old_fence = generations.fence();
        for i in 0..2000 {
            generations.apply(&[100 + i], 0);
        }
        assert_eq!(generations.remembered(), 2000);
        let recent_fence = generations.fence();
        generations.apply(&[1], 5_000);
        assert_eq!(generations.remembered(), 1, "older than any entry can live");
        assert!(!generations.is_current(old_fence, &[9]), "below the floor");
        assert!(generations.is_current(recent_fence, &[9, 100]));
        assert!(!generations.is_current(recent_fence, &[1]));
    }
}
