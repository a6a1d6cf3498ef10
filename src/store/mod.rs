//! I/O adapters: [`memory`] (moka, L1), [`redis`] (deadpool-redis, L2) and [`postgres`], the
//! only place that speaks SQL.

pub mod memory;
pub mod postgres;
pub mod redis;
