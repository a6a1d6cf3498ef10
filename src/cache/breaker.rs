//! A circuit breaker for Redis: after `threshold` failures in a row, Redis is skipped for
//! `backoff_ms`; then one request probes it, and success closes the breaker again. Lock-free,
//! since every request asks it.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

pub struct Breaker {
    threshold: u32,
    backoff_ms: u64,
    failures: AtomicU32,
    /// 0 while closed; otherwise the moment (Unix ms) the next probe may go.
    open_until_ms: AtomicU64,
}

impl Breaker {
    pub fn new(threshold: u32, backoff_ms: u64) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            backoff_ms,
            failures: AtomicU32::new(0),
            open_until_ms: AtomicU64::new(0),
        }
    }

    /// Whether a call may go to Redis now. Once the back-off has passed, exactly one caller
    /// is let through as the probe (the others keep skipping until it reports).
    pub fn allow(&self, now_ms: u64) -> bool {
        let until = self.open_until_ms.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        if now_ms < until {
            return false;
        }
        self.open_until_ms
            .compare_exchange(
                until,
                now_ms + self.backoff_ms,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    pub fn success(&self) {
        self.failures.store(0, Ordering::Release);
        self.open_until_ms.store(0, Ordering::Release);
    }

    pub fn failure(&self, now_ms: u64) {
        let failures = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if failures >= self.threshold {
            self.open_until_ms
                .store(now_ms + self.backoff_ms, Ordering::Release);
        }
    }

    pub fn is_open(&self) -> bool {
        self.open_until_ms.load(Ordering::Acquire) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_repeated_failures_and_lets_one_probe_through() {
        let breaker = Breaker::new(3, 1_000);
        breaker.failure(0);
        breaker.failure(0);
        assert!(breaker.allow(0), "two failures are not yet an outage");
        breaker.failure(0);
        assert!(!breaker.allow(500));
        assert!(breaker.allow(1_000), "the probe");
        assert!(!breaker.allow(1_001), "only one probe at a time");
        breaker.failure(1_001);
        assert!(!breaker.allow(1_500));
        assert!(breaker.allow(2_001));
        breaker.success();
        assert!(breaker.allow(2_002) && breaker.allow(2_003));
        assert!(!breaker.is_open());
    }
}
