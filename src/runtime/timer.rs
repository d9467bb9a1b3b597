//! A hashed timing wheel with intrusive links: deadlines live in the connection
//! table itself, so arming a timer never allocates and costs O(1).
//!
//! Deadlines are only ever checked lazily: a connection stays in the slot it was
//! filed under while its deadline moves later, and is refiled when that slot
//! comes round. Moving a deadline earlier refiles it at once.

pub const NONE: u32 = u32::MAX;

/// Link fields each timed entry carries.
#[derive(Clone, Copy, Debug)]
pub struct TimerLinks {
    pub deadline_ms: u64,
    filed_slot: u32,
    prev: u32,
    next: u32,
}

impl Default for TimerLinks {
    fn default() -> Self {
        TimerLinks {
            deadline_ms: u64::MAX,
            filed_slot: NONE,
            prev: NONE,
            next: NONE,
        }
    }
}

impl TimerLinks {
    pub fn is_armed(&self) -> bool {
        self.filed_slot != NONE
    }
}

pub struct TimerWheel {
    heads: Box<[u32]>,
    tick_ms: u64,
    /// Every tick before this one has been processed; this one may hold
    /// entries due later within it.
    next_tick: u64,
}

impl TimerWheel {
    pub fn new(slot_count: usize, tick_ms: u64, now_ms: u64) -> TimerWheel {
        assert!(slot_count.is_power_of_two() && tick_ms > 0);
        TimerWheel {
            heads: vec![NONE; slot_count].into_boxed_slice(),
            tick_ms,
            next_tick: now_ms / tick_ms,
        }
    }

    fn slot_of(&self, deadline_ms: u64) -> u32 {
        // Deadlines in the past land in the next slot to be processed.
        let tick = (deadline_ms / self.tick_ms).max(self.next_tick);
        (tick as usize & (self.heads.len() - 1)) as u32
    }

    /// Sets `entries[index]`'s deadline, refiling only when it moves earlier
    /// than the slot it is filed under can notice.
    pub fn arm(&mut self, entries: &mut [TimerLinks], index: u32, deadline_ms: u64) {
        let links = entries[index as usize];
        if links.is_armed() && deadline_ms >= links.deadline_ms {
            entries[index as usize].deadline_ms = deadline_ms;
            return;
        }
        self.disarm(entries, index);
        self.file(entries, index, deadline_ms);
    }

    fn file(&mut self, entries: &mut [TimerLinks], index: u32, deadline_ms: u64) {
        let slot = self.slot_of(deadline_ms);
        let head = self.heads[slot as usize];
        entries[index as usize] = TimerLinks {
            deadline_ms,
            filed_slot: slot,
            prev: NONE,
            next: head,
        };
        if head != NONE {
            entries[head as usize].prev = index;
        }
        self.heads[slot as usize] = index;
    }

    pub fn disarm(&mut self, entries: &mut [TimerLinks], index: u32) {
        let links = entries[index as usize];
        if !links.is_armed() {
            return;
        }
        if links.prev != NONE {
            entries[links.prev as usize].next = links.next;
        } else {
            self.heads[links.filed_slot as usize] = links.next;
        }
        if links.next != NONE {
            entries[links.next as usize].prev = links.prev;
        }
        entries[index as usize] = TimerLinks::default();
    }

    /// Processes every tick up to `now_ms`, calling `expire` for each entry whose
    /// deadline has passed (already disarmed when called). Entries filed early
    /// with a later deadline are refiled.
    pub fn advance(
        &mut self,
        entries: &mut [TimerLinks],
        now_ms: u64,
        mut expire: impl FnMut(u32),
    ) {
        let now_tick = now_ms / self.tick_ms;
        // Bound the catch-up: one full turn visits every slot.
        let turns = (now_tick + 1)
            .saturating_sub(self.next_tick)
            .min(self.heads.len() as u64);
        for step in 0..turns {
            let tick = self.next_tick + step;
            let slot = (tick as usize) & (self.heads.len() - 1);
            let mut cursor = self.heads[slot];
            while cursor != NONE {
                let next = entries[cursor as usize].next;
                let deadline_ms = entries[cursor as usize].deadline_ms;
                if deadline_ms <= now_ms {
                    self.disarm(entries, cursor);
                    expire(cursor);
                } else if deadline_ms / self.tick_ms != tick {
                    // Not yet due, so its tick is at least `now_tick`, and not this
                    // one: later than `tick`, never behind `next_tick`, so filing it
                    // under its own tick is exact (its slot comes round again).
                    debug_assert!(deadline_ms / self.tick_ms > tick);
                    self.disarm(entries, cursor);
                    self.file(entries, cursor, deadline_ms);
                }
                cursor = next;
            }
        }
        // The current tick stays open: entries due later within it are found
        // on the next call.
        self.next_tick = self.next_tick.max(now_tick);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_each_entry_once_at_its_deadline() {
        let mut entries = vec![TimerLinks::default(); 4];
        let mut wheel = TimerWheel::new(8, 10, 0);
        wheel.arm(&mut entries, 0, 25);
        wheel.arm(&mut entries, 1, 500); // beyond one turn of the wheel (80 ms)
        wheel.arm(&mut entries, 2, 35);
        wheel.arm(&mut entries, 2, 15); // moved earlier: refiled
        let mut fired = Vec::new();
        wheel.advance(&mut entries, 20, |i| fired.push((i, 20)));
        wheel.advance(&mut entries, 30, |i| fired.push((i, 30)));
        for now in (40..=600).step_by(10) {
            wheel.advance(&mut entries, now, |i| fired.push((i, now)));
        }
        assert_eq!(fired, vec![(2, 20), (0, 30), (1, 500)]);
    }

    #[test]
    fn later_deadline_is_lazily_respected_and_disarm_removes() {
        let mut entries = vec![TimerLinks::default(); 2];
        let mut wheel = TimerWheel::new(16, 10, 0);
        wheel.arm(&mut entries, 0, 50);
        wheel.arm(&mut entries, 0, 300);
        wheel.arm(&mut entries, 1, 50);
        wheel.disarm(&mut entries, 1);
        let mut fired = Vec::new();
        for now in (10..=400).step_by(10) {
            wheel.advance(&mut entries, now, |i| fired.push((i, now)));
        }
        assert_eq!(fired, vec![(0, 300)]);
    }

    /// Random arms, disarms and advances against a map of deadlines: every entry fires
    /// exactly at the first `advance` whose `now_ms` has reached its deadline, never
    /// earlier, never twice, and the links stay a consistent list in every slot.
    #[test]
    fn matches_a_plain_map_of_deadlines_under_random_operations() {
        const ENTRIES: usize = 12;
        let mut rng = 0x9e37_79b9_7f4a_7c15u64; // xorshift64*: deterministic, no dependency
        let mut next = move |bound: u64| {
            rng ^= rng >> 12;
            rng ^= rng << 25;
            rng ^= rng >> 27;
            rng.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound
        };
        for round in 0..200 {
            let (slots, tick_ms) = ([4, 8, 16][round % 3], [1, 10, 7][round % 3]);
            let mut now_ms = next(1_000);
            let mut wheel = TimerWheel::new(slots, tick_ms, now_ms);
            let mut entries = vec![TimerLinks::default(); ENTRIES];
            let mut model: [Option<u64>; ENTRIES] = [None; ENTRIES];
            for _ in 0..300 {
                let index = next(ENTRIES as u64) as usize;
                match next(10) {
                    0..=4 => {
                        // Earlier, later, past and far beyond one turn of the wheel.
                        let span_ms = [3, 40, 400, 4_000][next(4) as usize];
                        let deadline_ms = (now_ms + next(span_ms)).saturating_sub(next(5));
                        wheel.arm(&mut entries, index as u32, deadline_ms);
                        model[index] = Some(deadline_ms);
                    }
                    5 => {
                        wheel.disarm(&mut entries, index as u32);
                        model[index] = None;
                    }
                    _ => {
                        now_ms += [0, 1, 5, 30, 500][next(5) as usize];
                        let mut fired = Vec::new();
                        wheel.advance(&mut entries, now_ms, |i| fired.push(i as usize));
                        fired.sort_unstable();
                        let due: Vec<usize> = (0..ENTRIES)
                            .filter(|&i| model[i].is_some_and(|d| d <= now_ms))
                            .collect();
                        assert_eq!(fired, due, "round {round} at {now_ms} ms");
                        for i in due {
                            model[i] = None;
                        }
                    }
                }
                for (i, links) in entries.iter().enumerate() {
                    assert_eq!(links.is_armed(), model[i].is_some(), "entry {i}");
                    if let Some(deadline_ms) = model[i] {
                        assert_eq!(links.deadline_ms, deadline_ms);
                    }
                }
                assert_lists_consistent(&wheel, &entries);
            }
        }
    }

    /// Every armed entry is in exactly the list of the slot it says, linked both ways.
    fn assert_lists_consistent(wheel: &TimerWheel, entries: &[TimerLinks]) {
        let mut seen = vec![false; entries.len()];
        for (slot, &head) in wheel.heads.iter().enumerate() {
            let (mut prev, mut cursor) = (NONE, head);
            while cursor != NONE {
                let links = entries[cursor as usize];
                assert!(!seen[cursor as usize], "entry {cursor} listed twice");
                seen[cursor as usize] = true;
                assert_eq!(links.filed_slot as usize, slot);
                assert_eq!(links.prev, prev);
                (prev, cursor) = (cursor, links.next);
            }
        }
        for (i, links) in entries.iter().enumerate() {
            assert_eq!(seen[i], links.is_armed(), "entry {i}");
        }
    }

    #[test]
    fn a_long_pause_still_fires_everything_due() {
        let mut entries = vec![TimerLinks::default(); 3];
        let mut wheel = TimerWheel::new(8, 10, 0);
        wheel.arm(&mut entries, 0, 30);
        wheel.arm(&mut entries, 1, 70);
        wheel.arm(&mut entries, 2, 5000);
        let mut fired = Vec::new();
        wheel.advance(&mut entries, 1000, |i| fired.push(i));
        fired.sort();
        assert_eq!(fired, vec![0, 1]);
        wheel.advance(&mut entries, 5000, |i| fired.push(i));
        assert_eq!(fired, vec![0, 1, 2]);
    }
}
