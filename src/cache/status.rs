//! The RFC 9211 `Cache-Status` value of one answer.
//!
//! Parameters used: `hit`, `fwd=miss|stale`, `fwd-status`, `stored`, `collapsed`, `ttl` (whole
//! seconds of freshness left, negative when stale), and `detail` naming the tier that produced
//! the body (`memory`, `redis`, `postgres`). Stale answers also carry the extension parameter
//! `stale=revalidate` (served while a background refresh runs) or `stale=if-error` (served
//! because PostgreSQL failed).

use std::fmt::Write;

/// The cache's name in `Cache-Status`.
pub const CACHE_NAME: &str = "gallery-proxy";

/// Where a body came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    Memory,
    Redis,
    Postgres,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Memory => "memory",
            Tier::Redis => "redis",
            Tier::Postgres => "postgres",
        }
    }
}

/// How one answer was produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Hit(Tier),
    /// A stale entry answered while one refresh runs.
    StaleWhileRevalidate(Tier),
    /// PostgreSQL answered after a miss; `collapsed` when this request waited for another's
    /// fill, `stored` when the answer went into a tier.
    Miss {
        collapsed: bool,
        stored: bool,
    },
    /// PostgreSQL failed with `status`, and a stale entry answered.
    StaleIfError {
        tier: Tier,
        status: u16,
    },
}

impl Outcome {
    /// A small fixed label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Hit(Tier::Memory) => "hit_memory",
            Outcome::Hit(_) => "hit_redis",
            Outcome::StaleWhileRevalidate(_) => "stale_revalidate",
            Outcome::Miss {
                collapsed: true, ..
            } => "collapsed",
            Outcome::Miss { .. } => "miss",
            Outcome::StaleIfError { .. } => "stale_if_error",
        }
    }

    pub fn cache_status(self, ttl_secs: i64) -> String {
        let mut s = String::with_capacity(64);
        s.push_str(CACHE_NAME);
        let tier = match self {
            Outcome::Hit(tier) => {
                let _ = write!(s, "; hit; ttl={ttl_secs}");
                tier
            }
            Outcome::StaleWhileRevalidate(tier) => {
                let _ = write!(s, "; hit; ttl={ttl_secs}; stale=revalidate");
                tier
            }
            Outcome::Miss { collapsed, stored } => {
                s.push_str("; fwd=miss");
                if collapsed {
                    s.push_str("; collapsed");
                }
                if stored {
                    s.push_str("; stored");
                }
                let _ = write!(s, "; ttl={ttl_secs}");
                Tier::Postgres
            }
            Outcome::StaleIfError { tier, status } => {
                let _ = write!(
                    s,
                    "; fwd=stale; fwd-status={status}; ttl={ttl_secs}; stale=if-error"
                );
                tier
            }
        };
        let _ = write!(s, "; detail={}", tier.as_str());
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rfc9211_members() {
        assert_eq!(
            Outcome::Hit(Tier::Memory).cache_status(299),
            "gallery-proxy; hit; ttl=299; detail=memory"
        );
        assert_eq!(
            Outcome::Miss {
                collapsed: true,
                stored: true
            }
            .cache_status(412),
            "gallery-proxy; fwd=miss; collapsed; stored; ttl=412; detail=postgres"
        );
        assert_eq!(
            Outcome::StaleWhileRevalidate(Tier::Memory).cache_status(-3),
            "gallery-proxy; hit; ttl=-3; stale=revalidate; detail=memory"
        );
        assert_eq!(
            Outcome::StaleIfError {
                tier: Tier::Memory,
                status: 504
            }
            .cache_status(-40),
            "gallery-proxy; fwd=stale; fwd-status=504; ttl=-40; stale=if-error; detail=memory"
        );
    }
}
