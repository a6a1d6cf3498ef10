//! How long entries stay fresh, how long a stale one may still answer, and what an entry is
//! worth at a given moment. Pure: `now` is always passed in.

use super::entry::Entry;

#[derive(Clone, Debug)]
pub struct Policy {
    /// Each fill's freshness is drawn from `[ttl_min_ms, ttl_max_ms]`, so entries filled
    /// together (a deploy, a popular page) do not all expire in the same second.
    pub ttl_min_ms: u64,
    pub ttl_max_ms: u64,
    /// Past freshness, an entry still answers for this long while one refresh runs behind it.
    pub stale_while_revalidate_ms: u64,
    /// Past freshness, an entry still answers for this long when PostgreSQL fails.
    pub stale_if_error_ms: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            ttl_min_ms: 300_000,
            ttl_max_ms: 600_000,
            stale_while_revalidate_ms: 30_000,
            stale_if_error_ms: 300_000,
        }
    }
}

/// What an entry can do for a request at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Fresh,
    /// Serve it, and refresh it in the background.
    StaleWhileRevalidate,
    /// Do not serve it unless the database fails.
    StaleIfError,
    Dead,
}

impl Policy {
    /// A freshness lifetime drawn uniformly from the configured range.
    pub fn draw_ttl_ms(&self) -> u64 {
        fastrand::u64(self.ttl_min_ms..=self.ttl_max_ms.max(self.ttl_min_ms))
    }

    pub fn state(&self, entry: &Entry, now_ms: u64) -> State {
        let fresh_until = entry.fresh_until_ms();
        if now_ms < fresh_until {
            State::Fresh
        } else if now_ms < fresh_until.saturating_add(self.stale_while_revalidate_ms) {
            State::StaleWhileRevalidate
        } else if now_ms < fresh_until.saturating_add(self.stale_if_error_ms) {
            State::StaleIfError
        } else {
            State::Dead
        }
    }

    /// How long after its freshness ends an entry is still worth keeping in memory.
    pub fn keep_stale_ms(&self) -> u64 {
        self.stale_while_revalidate_ms.max(self.stale_if_error_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn states_follow_the_windows() {
        let policy = Policy {
            ttl_min_ms: 100,
            ttl_max_ms: 100,
            stale_while_revalidate_ms: 10,
            stale_if_error_ms: 50,
        };
        let entry = Entry::new(Bytes::new(), 1_000, policy.draw_ttl_ms());
        assert_eq!(policy.state(&entry, 1_099), State::Fresh);
        assert_eq!(policy.state(&entry, 1_100), State::StaleWhileRevalidate);
        assert_eq!(policy.state(&entry, 1_110), State::StaleIfError);
        assert_eq!(policy.state(&entry, 1_150), State::Dead);
    }

    #[test]
    fn drawn_ttls_stay_in_range_and_spread() {
        let policy = Policy::default();
        let draws: Vec<u64> = (0..1000).map(|_| policy.draw_ttl_ms()).collect();
        assert!(draws.iter().all(|t| (300_000..=600_000).contains(t)));
        assert!(draws.iter().any(|t| *t < 400_000) && draws.iter().any(|t| *t > 500_000));
    }
}
