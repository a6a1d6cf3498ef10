//! The cache as values, without I/O: entries and their encoding, freshness at a given moment,
//! the `Cache-Status` vocabulary, the Redis circuit breaker, and the clock they are all handed.

pub mod breaker;
pub mod clock;
pub mod entry;
pub mod freshness;
pub mod status;

pub use entry::Entry;
pub use freshness::{Policy, State};
pub use status::{Outcome, Tier};
