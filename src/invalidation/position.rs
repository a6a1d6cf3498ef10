//! Where the consumer is in the outbox, such that no event is skipped.
//!
//! Outbox ids come from a sequence taken before commit, so id 10 can become visible after id 11
//! has been read: "read past the highest id seen" would skip it. Each read therefore also takes
//! the reading snapshot's horizon (`pg_current_snapshot()`: `xmin`, the oldest transaction still
//! running, and `xmax`, the first not yet started). A row that is not visible yet but has an id
//! at most the highest id read belongs to a transaction already running at that read, whose
//! xid is below that read's `xmax`. Once a later read's `xmin` passes that `xmax`, all those
//! transactions have ended, and that later read saw whatever they committed: every id up to
//! the earlier read's highest is settled.
//!
//! Each read asks for rows above the highest id seen, plus the rows of transactions that were
//! still running at the previous read (`xid >= xmin`), which is where late ids come from.
//! Pure: the SQL lives in `store::postgres::outbox`.

use std::collections::{BTreeSet, VecDeque};

/// A transaction snapshot's horizon, as 64-bit transaction ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Horizon {
    pub xmin: u64,
    pub xmax: u64,
}

#[derive(Debug)]
pub struct Position {
    /// Every id at or below this has been applied, or will never exist.
    settled: i64,
    /// Ids above `settled` already applied.
    applied: BTreeSet<i64>,
    /// The highest id read.
    highest: i64,
    /// `xmin` of the last read: rows of transactions from there on may still appear late.
    xmin: u64,
    /// (xmax of a complete read, the highest id then): settled once a read's xmin reaches xmax.
    pending: VecDeque<(u64, i64)>,
}

/// What to ask the outbox for next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ask {
    pub above: i64,
    pub xid_from: u64,
}

impl Position {
    /// Starts after `start`, with `horizon` read at the same time: rows of transactions running
    /// then are still read and applied, whatever their id (nothing is settled yet).
    pub fn new(start: i64, horizon: Horizon) -> Position {
        Position {
            settled: 0,
            applied: BTreeSet::new(),
            highest: start,
            xmin: horizon.xmin,
            pending: VecDeque::new(),
        }
    }

    pub fn ask(&self) -> Ask {
        Ask {
            above: self.highest,
            xid_from: self.xmin,
        }
    }

    pub fn settled(&self) -> i64 {
        self.settled
    }

    /// Takes one read's row ids (`complete` when the read was not cut by its limit) and returns
    /// the positions in `ids` of the rows not applied before, which the caller must now apply.
    pub fn accept(&mut self, horizon: Horizon, ids: &[i64], complete: bool) -> Vec<usize> {
        let mut new = Vec::new();
        for (i, &id) in ids.iter().enumerate() {
            if id > self.settled && self.applied.insert(id) {
                new.push(i);
            }
            self.highest = self.highest.max(id);
        }
        if !complete {
            // Rows beyond the limit remain: the caller reads again at once. xmin stays, so the
            // late rows of the earlier transactions are still asked for.
            return new;
        }
        self.pending.push_back((horizon.xmax, self.highest));
        while let Some(&(xmax, highest)) = self.pending.front() {
            if horizon.xmin < xmax {
                break;
            }
            self.settled = self.settled.max(highest);
            self.pending.pop_front();
        }
        let settled = self.settled;
        self.applied.retain(|id| *id > settled);
        self.xmin = horizon.xmin;
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(xmin: u64, xmax: u64) -> Horizon {
        Horizon { xmin, xmax }
    }

    #[test]
    fn a_lower_id_committed_late_is_still_applied() {
        let mut p = Position::new(0, h(100, 100));
        // Transaction 100 took id 1 and is still running; 101 took id 2 and committed.
        assert_eq!(p.accept(h(100, 102), &[2], true), vec![0]);
        assert_eq!(p.settled(), 0, "id 1 may still come");
        assert_eq!(
            p.ask(),
            Ask {
                above: 2,
                xid_from: 100
            }
        );
        // 100 commits: its row comes back through xid >= 100, with 2 again (already applied).
        assert_eq!(p.accept(h(102, 102), &[1, 2], true), vec![0]);
        assert_eq!(p.settled(), 2);
        assert_eq!(
            p.ask(),
            Ask {
                above: 2,
                xid_from: 102
            }
        );
    }

    #[test]
    fn rows_are_applied_once_across_reads() {
        let mut p = Position::new(5, h(10, 10));
        assert_eq!(p.accept(h(10, 12), &[6, 7], true), vec![0, 1]);
        assert_eq!(p.accept(h(11, 12), &[6, 7, 8], true), vec![2]);
        assert_eq!(p.accept(h(12, 12), &[7, 8], true), Vec::<usize>::new());
        assert_eq!(p.settled(), 8);
    }

    #[test]
    fn a_cut_read_does_not_settle_anything() {
        let mut p = Position::new(0, h(1, 1));
        assert_eq!(p.accept(h(50, 50), &[1, 2], false), vec![0, 1]);
        assert_eq!(p.settled(), 0);
        assert_eq!(
            p.ask(),
            Ask {
                above: 2,
                xid_from: 1
            }
        );
        assert_eq!(p.accept(h(50, 50), &[3], true), vec![0]);
        assert_eq!(p.settled(), 3);
    }

    #[test]
    fn late_rows_of_transactions_running_at_the_start_are_applied() {
        let mut p = Position::new(10, h(5, 5));
        assert_eq!(
            p.ask(),
            Ask {
                above: 10,
                xid_from: 5
            }
        );
        assert_eq!(p.accept(h(5, 6), &[9, 11], true), vec![0, 1]);
        assert_eq!(p.accept(h(6, 6), &[9, 11], true), Vec::<usize>::new());
        assert_eq!(p.settled(), 11);
    }
}
