//! Shared core of the scx_mimic lab.
//!
//! This crate is linked by both binaries: the scheduler `scx_mimic` (which also links
//! scx_rustland_core and its fixed 64 MiB heap) and the lab tool `mimic` (tracer, polars, linfa).
//! It therefore depends on nothing heavy and allocates nothing on the scheduler's hot path.
//!
//! * [`features`]: the feature contract, one definition for the tracer and the scheduler;
//!   [`bpf_view`]: the scheduler's adapter from the BPF side's counters to it;
//!   [`replay`]: tracer events → decisions and dataset rows, through the contract.
//! * [`model`]: the model file format and its allocation-free inference.
//! * [`policy`]: the heuristic and the learned policy behind one interface.
//! * [`table`], [`task`], [`cpuset`], [`stats`], [`fsutil`]: the per-task table, the task
//!   view, the CPUs the scheduler may target, its counters, atomic file writes.

pub mod bpf_view;
pub mod cpuset;
pub mod features;
pub mod fsutil;
pub mod model;
pub mod policy;
pub mod parity;
pub mod replay;
pub mod stats;
pub mod table;
pub mod task;

pub use task::Task;
