//! Invalidation on writes (invariant 2): database triggers append change events to an outbox
//! (`migrations/0005_change_events.sql`); every proxy's [`consumer`] applies them to Redis and
//! to its own [`generations`]; every entry carries its [`deps`] and the fences read before its
//! SQL, and answers only while none of its dependencies was invalidated after them.
//!
//! - [`deps`]: what an entry depends on, as the triggers name it (pure).
//! - [`generations`]: the in-process fence for the memory tier (pure).
//! - [`position`]: reading the outbox without skipping late-committing events (pure).
//! - [`consumer`]: LISTEN + outbox reads, applied to both tiers.

pub mod consumer;
pub mod deps;
pub mod generations;
pub mod position;
