//! The set of CPUs the scheduler may send tasks to directly.
//!
//! scx_rustland_core gives every CPU its own dispatch queue, and a CPU consumes it only once
//! sched_ext counts the CPU as online. A CPU that is coming online is already idle (the idle
//! picker may return it) but does not consume its queue yet — while the hotplug steps before
//! that point wait for tasks (kthreadd, RCU) that would sit in exactly that queue: the system
//! stalls until the watchdog ejects the scheduler (seen in `make vm-test-faults`). So the
//! scheduler targets the CPUs it read as online, and reads the set again when the BPF side counts
//! a hotplug event (its `cpu_online`/`cpu_offline` callbacks). A CPU going offline stops taking
//! tasks long before the kernel says so; the BPF side hands its queue to the other CPUs then
//! (PATCH.md changes 5 and 14), whatever this set still says.

/// Up to 1024 CPUs (the size of scx_rustland_core's CPU range).
pub const MAX_CPUS: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuSet {
    bits: [u64; MAX_CPUS / 64],
}

impl Default for CpuSet {
    fn default() -> Self {
        CpuSet { bits: [0; MAX_CPUS / 64] }
    }
}

impl CpuSet {
    /// Parse the kernel's CPU list format ("0-3,5,7-8"), e.g. /sys/devices/system/cpu/online.
    pub fn parse(text: &str) -> Result<CpuSet, String> {
        let mut s = CpuSet::default();
        for part in text.trim().split(',').filter(|p| !p.is_empty()) {
            let (a, b) = match part.split_once('-') {
                Some((a, b)) => (a, b),
                None => (part, part),
            };
            let num = |x: &str| -> Result<usize, String> {
                let n: usize = x.trim().parse().map_err(|_| format!("bad CPU number {x:?} in CPU list {text:?}"))?;
                if n >= MAX_CPUS {
                    return Err(format!("CPU {n} out of range (max {}) in CPU list {text:?}", MAX_CPUS - 1));
                }
                Ok(n)
            };
            let (a, b) = (num(a)?, num(b)?);
            if a > b {
                return Err(format!("bad range {part:?} in CPU list {text:?}"));
            }
            for c in a..=b {
                s.bits[c / 64] |= 1 << (c % 64);
            }
        }
        Ok(s)
    }

    /// The CPUs online now (read before the scheduler attaches).
    pub fn online() -> Result<CpuSet, String> {
        let path = "/sys/devices/system/cpu/online";
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        CpuSet::parse(&text).map_err(|e| format!("{path}: {e}"))
    }

    pub fn contains(&self, cpu: i32) -> bool {
        cpu >= 0 && (cpu as usize) < MAX_CPUS && self.bits[cpu as usize / 64] & (1 << (cpu as usize % 64)) != 0
    }

    pub fn len(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kernel_cpu_list_format() {
        let s = CpuSet::parse("0-3,5,7-8\n").unwrap();
        assert_eq!(s.len(), 7);
        for c in [0, 1, 2, 3, 5, 7, 8] {
            assert!(s.contains(c), "{c}");
        }
        for c in [-1, 4, 6, 9, 1023, 5000] {
            assert!(!s.contains(c), "{c}");
        }
        assert_eq!(CpuSet::parse("0").unwrap().len(), 1);
        assert!(CpuSet::parse("").unwrap().is_empty());
    }

    #[test]
    fn bad_lists_are_refused_with_the_text() {
        assert!(CpuSet::parse("0-x").unwrap_err().contains("\"x\""));
        assert!(CpuSet::parse("3-1").unwrap_err().contains("bad range"));
        assert!(CpuSet::parse("2048").unwrap_err().contains("out of range"));
    }
}
