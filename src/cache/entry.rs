//! A cached answer: the body with what is needed to answer honestly about it (when the
//! database was read, how long it stays fresh, its ETag), what invalidates it (its
//! dependencies and the fences read before its SQL), and its versioned Redis encoding.

use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::HeaderValue;
use sha2::{Digest, Sha256};

use crate::invalidation::deps::Deps;

/// Leads the binary part of every Redis value; the byte after it is the encoding version.
const MAGIC: &[u8; 2] = b"GP";
/// 3: the fence and dependencies lead the value as a text line (Redis checks them in Lua).
const ENCODING_VERSION: u8 = 3;
/// Fixed part of the binary encoding: magic, version, fill time, freshness, ETag length.
const HEADER_LEN: usize = 2 + 1 + 8 + 8 + 2;

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub body: Bytes,
    /// Strong validator of `body`, quoted, ready for the `ETag` header.
    pub etag: HeaderValue,
    /// When the oldest data in `body` was read from PostgreSQL (Unix ms). `Age` counts from
    /// here in every tier, so a promoted entry keeps its original age.
    pub filled_at_ms: u64,
    /// Freshness lifetime from `filled_at_ms`.
    pub fresh_ms: u64,
    /// What invalidates it (`invalidation::deps`).
    pub deps: Arc<Deps>,
    /// This process's invalidation sequence read before its data was read (or, for an entry
    /// read from Redis, before that read): see `invalidation::generations`. Not encoded.
    pub local_fence: u64,
    /// The Redis invalidation counter read before its data was read; `None` when Redis did not
    /// answer then, and the entry may not go to Redis.
    pub redis_fence: Option<u64>,
}

impl Entry {
    pub fn new(body: Bytes, filled_at_ms: u64, fresh_ms: u64) -> Entry {
        Entry::fenced(body, filled_at_ms, fresh_ms, Arc::default(), 0, None)
    }

    pub fn fenced(
        body: Bytes,
        filled_at_ms: u64,
        fresh_ms: u64,
        deps: Arc<Deps>,
        local_fence: u64,
        redis_fence: Option<u64>,
    ) -> Entry {
        let etag = etag_of(&body);
        Entry {
            body,
            etag,
            filled_at_ms,
            fresh_ms,
            deps,
            local_fence,
            redis_fence,
        }
    }

    pub fn fresh_until_ms(&self) -> u64 {
        self.filled_at_ms.saturating_add(self.fresh_ms)
    }

    /// Whole seconds since the database read (the `Age` header).
    pub fn age_secs(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.filled_at_ms) / 1000
    }

    /// Remaining freshness in whole seconds, negative once stale (`Cache-Status` `ttl`).
    pub fn ttl_secs(&self, now_ms: u64) -> i64 {
        let remaining = self.fresh_until_ms() as i64 - now_ms as i64;
        remaining.div_euclid(1000)
    }

    /// What `memory` and `redis` weigh: the body, the dependencies and a fixed allowance.
    pub fn weight(&self) -> u32 {
        (self.body.len() + self.etag.len() + self.deps.weight() + 128).min(u32::MAX as usize) as u32
    }

    /// A text line `{redis fence} {dependency}...` (what Redis checks before answering; no
    /// fence is written as `u64::MAX`, which no check passes), then `GP`, version, fill time,
    /// freshness, ETag length and bytes, body.
    pub fn encode(&self) -> Vec<u8> {
        let etag = self.etag.as_bytes();
        let mut line = self.redis_fence.unwrap_or(u64::MAX).to_string();
        for dep in self.deps.names() {
            line.push(' ');
            line.push_str(dep);
        }
        line.push('\n');
        let mut out =
            BytesMut::with_capacity(line.len() + HEADER_LEN + etag.len() + self.body.len());
        out.put_slice(line.as_bytes());
        out.put_slice(MAGIC);
        out.put_u8(ENCODING_VERSION);
        out.put_u64(self.filled_at_ms);
        out.put_u64(self.fresh_ms);
        out.put_u16(etag.len() as u16);
        out.put_slice(etag);
        out.put_slice(&self.body);
        out.to_vec()
    }

    /// `None` for anything this version did not write (another release, a corrupt value).
    /// The local fence is 0: the reader sets its own.
    pub fn decode(bytes: &[u8]) -> Option<Entry> {
        let newline = bytes.iter().position(|b| *b == b'\n')?;
        let mut words = std::str::from_utf8(&bytes[..newline]).ok()?.split(' ');
        let redis_fence = Some(words.next()?.parse::<u64>().ok()?).filter(|f| *f != u64::MAX);
        let deps = Deps::from_names(words.map(str::to_string).collect());
        let mut buf = &bytes[newline + 1..];
        if buf.len() < HEADER_LEN || &buf[..2] != MAGIC || buf[2] != ENCODING_VERSION {
            return None;
        }
        buf.advance(3);
        let filled_at_ms = buf.get_u64();
        let fresh_ms = buf.get_u64();
        let etag_len = usize::from(buf.get_u16());
        if buf.len() < etag_len {
            return None;
        }
        let etag = HeaderValue::from_bytes(&buf[..etag_len]).ok()?;
        buf.advance(etag_len);
        let body = Bytes::copy_from_slice(buf);
        if etag != etag_of(&body) {
            return None;
        }
        Some(Entry {
            body,
            etag,
            filled_at_ms,
            fresh_ms,
            deps: Arc::new(deps),
            local_fence: 0,
            redis_fence,
        })
    }
}

/// A strong ETag: the first 128 bits of the body's SHA-256, base64url, quoted.
pub fn etag_of(body: &[u8]) -> HeaderValue {
    use base64::Engine;
    let digest = Sha256::digest(body);
    let text = format!(
        "\"{}\"",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
    );
    HeaderValue::from_str(&text).expect("base64 is a valid header value")
}

/// Whether `If-None-Match` (a list of entity tags, or `*`) matches `etag`, by the weak
/// comparison RFC 9110 prescribes for this header.
pub fn none_match(if_none_match: &[u8], etag: &HeaderValue) -> bool {
    let ours = strip_weak(etag.as_bytes());
    if_none_match
        .split(|b| *b == b',')
        .map(|tag| tag.trim_ascii())
        .any(|tag| tag == b"*" || strip_weak(tag) == ours)
}

fn strip_weak(tag: &[u8]) -> &[u8] {
    tag.strip_prefix(b"W/").unwrap_or(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_and_rejects_other_versions() {
        let entry = Entry::fenced(
            Bytes::from_static(b"{\"items\":[]}"),
            1_700_000_000_123,
            300_000,
            Arc::new(Deps::from_names(vec!["all".into(), "tag:auto:x".into()])),
            0,
            Some(42),
        );
        let bytes = entry.encode();
        assert_eq!(Entry::decode(&bytes), Some(entry.clone()));
        let binary = bytes.iter().position(|b| *b == b'\n').unwrap() + 1;
        let mut other = bytes.clone();
        other[binary + 2] = 2;
        assert_eq!(Entry::decode(&other), None);
        let mut corrupt = bytes;
        *corrupt.last_mut().unwrap() ^= 1;
        assert_eq!(Entry::decode(&corrupt), None);
        assert_eq!(Entry::decode(b"GP"), None);
    }

    #[test]
    fn age_and_ttl_in_whole_seconds() {
        let entry = Entry::new(Bytes::from_static(b"x"), 10_000, 300_000);
        assert_eq!(entry.age_secs(10_999), 0);
        assert_eq!(entry.age_secs(12_500), 2);
        assert_eq!(entry.ttl_secs(10_000), 300);
        assert_eq!(entry.ttl_secs(309_500), 0);
        assert_eq!(entry.ttl_secs(310_000), 0);
        assert_eq!(entry.ttl_secs(310_001), -1);
        assert_eq!(entry.age_secs(5_000), 0, "a clock behind the fill is age 0");
    }

    #[test]
    fn if_none_match_compares_weakly_and_accepts_lists() {
        let etag = etag_of(b"body");
        let tag = etag.to_str().unwrap().to_string();
        assert!(none_match(tag.as_bytes(), &etag));
        assert!(none_match(format!("\"x\", W/{tag}").as_bytes(), &etag));
        assert!(none_match(b"*", &etag));
        assert!(!none_match(b"\"other\"", &etag));
        assert!(!none_match(b"", &etag));
        assert_ne!(etag_of(b"body"), etag_of(b"body2"));
    }
}
