//! Shared core of the scx_mimic lab.
//!
//! This crate is linked by both binaries: the scheduler `scx_mimic` (which also links
//! scx_rustland_core and its fixed 64 MiB heap) and the lab tool `mimic` (tracer, polars, linfa).
//! It therefore depends on nothing heavy and allocates nothing on the scheduler's hot path.

pub mod cpuset;
pub mod features;
pub mod fsutil;
pub mod model;
pub mod policy;
pub mod replay;
pub mod stats;
pub mod table;
pub mod task;

pub use task::Task;
