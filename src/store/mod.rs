//! I/O adapters. [`postgres`] is the only place that speaks SQL.

pub mod postgres;
