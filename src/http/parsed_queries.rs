//! Raw query string → its parsed query and cache key, remembered.
//!
//! Parsing and key building are pure functions of the query string (and of limits fixed at
//! start-up), and they were two thirds of a memory hit's own CPU time (percent-decoding, tag id
//! spellings, the key text and its SHA-256). The frontend sends the same few URLs again and
//! again, so a hit looks them up by the raw string instead. Only successful parses are kept;
//! the bound is in bytes of query text.

use std::sync::Arc;

use moka::future::Cache;

use crate::gallery::key::CacheKey;
use crate::gallery::params::{self, Limits};
use crate::gallery::{ApiError, GalleryQuery};

/// A request as the read-through flow needs it.
pub struct Parsed {
    pub query: GalleryQuery,
    pub key: CacheKey,
}

pub struct ParsedQueries {
    limits: Limits,
    /// foldhash, seeded per process: query strings come from clients, but SipHash over a few
    /// hundred bytes per hit was measurable.
    remembered: Cache<Box<str>, Arc<Parsed>, foldhash::quality::RandomState>,
}

impl ParsedQueries {
    /// `max_bytes`: the bound on remembered query text plus a fixed allowance per entry.
    pub fn new(limits: Limits, max_bytes: u64) -> ParsedQueries {
        ParsedQueries {
            limits,
            remembered: Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|raw: &Box<str>, parsed: &Arc<Parsed>| {
                    (raw.len() + parsed.key.text().len() + 512) as u32
                })
                .build_with_hasher(foldhash::quality::RandomState::default()),
        }
    }

    pub async fn parse(&self, raw: &str) -> Result<Arc<Parsed>, ApiError> {
        if let Some(parsed) = self.remembered.get(raw).await {
            return Ok(parsed);
        }
        let query = params::parse(raw, &self.limits)?;
        let key = CacheKey::page(&query);
        let parsed = Arc::new(Parsed { query, key });
        self.remembered.insert(raw.into(), parsed.clone()).await;
        Ok(parsed)
    }
}
