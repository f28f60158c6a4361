//! The guest side: what runs inside the sched_ext kernel that virtme-ng booted (the host side,
//! which boots it, is `crate::vm`).
//!
//! * [`system`]: sched_ext's state, the kernel log, what every guest job does first;
//! * [`sched`]: the scheduler under test as a process — start, wait until in charge, stop, kill;
//! * [`gate`]: the scheduler gate of `make vm-test`, judged by [`verdict`];
//! * [`faults`]: the fault checks of `make vm-test-faults`, one file per kind of fault;
//! * [`probe`]: a wakeup-latency probe.
//!
//! (The benchmarks' guest runner, `crate::bench::guest`, uses [`system`] and [`sched`] too.)

pub mod faults;
pub mod gate;
pub mod probe;
pub mod sched;
pub mod system;
pub mod verdict;
