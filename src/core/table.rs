//! A bounded, pre-allocated per-task table keyed by pid.
//!
//! The scheduler keeps per-task history (vruntime, burst averages, …) in user space, after
//! `BpfScheduler::init` has locked memory and forbidden `mmap`: so the table allocates all its
//! memory up front and never grows. Tasks come and go without telling us; when the table is 3/4
//! full, entries not touched during the last `capacity / 2` operations are evicted (a stale
//! entry costs only history: the task starts again as a new one).

/// Open-addressing hash table (linear probing) from pid to `V`.
pub struct TaskTable<V: Copy + Default> {
    slots: Vec<Slot<V>>,
    spare: Vec<Slot<V>>,
    mask: usize,
    len: usize,
    tick: u64,
    evicted: u64,
}

#[derive(Clone, Copy, Default)]
struct Slot<V> {
    /// 0 marks an empty slot: pid 0 is the idle task, never queued to a scheduler.
    pid: i32,
    seen: u64,
    val: V,
}

impl<V: Copy + Default> TaskTable<V> {
    /// A table for about `capacity * 3 / 4` live tasks; `capacity` is rounded up to a power of 2.
    pub fn with_capacity(capacity: usize) -> Self {
        let cap = capacity.max(16).next_power_of_two();
        Self {
            slots: vec![Slot::default(); cap],
            spare: vec![Slot::default(); cap],
            mask: cap - 1,
            len: 0,
            tick: 0,
            evicted: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Entries evicted for staleness so far.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    fn home(&self, pid: i32) -> usize {
        // Fibonacci hashing: pids are dense and sequential, spread them over the table.
        ((pid as u32 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & self.mask
    }

    fn find(&self, pid: i32) -> Option<usize> {
        let mut i = self.home(pid);
        loop {
            match self.slots[i].pid {
                0 => return None,
                p if p == pid => return Some(i),
                _ => i = (i + 1) & self.mask,
            }
        }
    }

    /// The entry for `pid`, if present (does not count as a touch).
    pub fn get(&self, pid: i32) -> Option<&V> {
        self.find(pid).map(|i| &self.slots[i].val)
    }

    /// The entry for `pid`, inserting `V::default()` if absent; the bool is true for a new entry.
    /// pid 0 (and negative pids) are not valid keys and panic in debug builds.
    pub fn entry(&mut self, pid: i32) -> (&mut V, bool) {
        debug_assert!(pid > 0, "pid {pid} is not a valid task key");
        self.tick += 1;
        if let Some(i) = self.find(pid) {
            self.slots[i].seen = self.tick;
            return (&mut self.slots[i].val, false);
        }
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.evict_stale();
        }
        let mut i = self.home(pid);
        while self.slots[i].pid != 0 {
            i = (i + 1) & self.mask;
        }
        self.slots[i] = Slot { pid, seen: self.tick, val: V::default() };
        self.len += 1;
        (&mut self.slots[i].val, true)
    }

    /// Forget `pid` (the task exited). Returns whether it was present.
    pub fn remove(&mut self, pid: i32) -> bool {
        let Some(mut hole) = self.find(pid) else { return false };
        // Backward-shift deletion keeps probe chains intact without tombstones.
        let mut j = hole;
        loop {
            j = (j + 1) & self.mask;
            if self.slots[j].pid == 0 {
                break;
            }
            let home = self.home(self.slots[j].pid);
            // Move slot j into the hole if its home is not cyclically in (hole, j].
            let in_range = if hole <= j { hole < home && home <= j } else { hole < home || home <= j };
            if !in_range {
                self.slots[hole] = self.slots[j];
                hole = j;
            }
        }
        self.slots[hole] = Slot::default();
        self.len -= 1;
        true
    }

    /// Drop entries not touched in the last `capacity / 2` operations, rebuilding into the
    /// pre-allocated spare array (no allocation). At most capacity/2 distinct pids can have been
    /// touched in that window, so this always frees room.
    fn evict_stale(&mut self) {
        let window = (self.slots.len() / 2) as u64;
        let cutoff = self.tick.saturating_sub(window);
        for s in self.spare.iter_mut() {
            *s = Slot::default();
        }
        let mut kept = 0;
        for k in 0..self.slots.len() {
            let s = self.slots[k];
            if s.pid == 0 {
                continue;
            }
            if s.seen <= cutoff {
                self.evicted += 1;
                continue;
            }
            let mut i = self.home(s.pid);
            while self.spare[i].pid != 0 {
                i = (i + 1) & self.mask;
            }
            self.spare[i] = s;
            kept += 1;
        }
        std::mem::swap(&mut self.slots, &mut self.spare);
        self.len = kept;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove_round_trip() {
        let mut t: TaskTable<u64> = TaskTable::with_capacity(64);
        for pid in 1..=40 {
            let (v, new) = t.entry(pid);
            assert!(new);
            *v = pid as u64 * 10;
        }
        assert_eq!(t.len(), 40);
        for pid in 1..=40 {
            assert_eq!(t.get(pid), Some(&(pid as u64 * 10)));
        }
        // Remove every other pid; the rest must still be found (probe chains intact).
        for pid in (1..=40).step_by(2) {
            assert!(t.remove(pid));
            assert!(!t.remove(pid));
        }
        for pid in 1..=40 {
            assert_eq!(t.get(pid).is_some(), pid % 2 == 0, "pid {pid}");
        }
        let (v, new) = t.entry(2);
        assert!(!new);
        assert_eq!(*v, 20);
    }

    #[test]
    fn never_grows_and_keeps_recently_used_tasks() {
        let mut t: TaskTable<u32> = TaskTable::with_capacity(256);
        let cap = t.capacity();
        // A hot task touched constantly while 100k short-lived pids come and go unannounced.
        for pid in 2..100_000 {
            *t.entry(1).0 += 1;
            t.entry(pid);
            assert!(t.len() * 4 <= cap * 3, "table over 3/4 full at pid {pid}");
        }
        assert_eq!(t.capacity(), cap, "table must never reallocate");
        assert_eq!(t.get(1), Some(&99_998), "the hot task lost its history");
        assert!(t.evicted() > 90_000);
    }

    #[test]
    fn colliding_keys_survive_removal_of_their_neighbours() {
        let mut t: TaskTable<i32> = TaskTable::with_capacity(16);
        // With 16 slots, many pids share a home slot; exercise wrap-around chains.
        let pids: Vec<i32> = (1..=12).map(|k| k * 16).collect();
        for &p in &pids {
            *t.entry(p).0 = p;
        }
        for &p in pids.iter().take(6) {
            assert!(t.remove(p));
        }
        for &p in pids.iter().skip(6) {
            assert_eq!(t.get(p), Some(&p));
        }
    }
}
