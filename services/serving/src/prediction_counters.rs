//! Prediction counters of a deployment, kept on the predict path without a lock: per served
//! role (champion, challenger), the predictions made and failed since the deployment was loaded
//! in this process, and a sliding window of the last 60 seconds that the live rate is read from.
//! A record is a few atomic adds and one compare-and-swap; concurrent predictions never wait
//! for each other. Each process counts its own: a restart starts at zero.
//!
//! Time is a whole number of seconds passed in by the caller ([`now_seconds`] in the service),
//! so the window's arithmetic is tested exactly without sleeping.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use lathe_contract::serving::v1 as pb;

/// The seconds the sliding window spans.
pub const WINDOW_SECONDS: u64 = 60;

const COUNT_BITS: u32 = 32;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

/// Seconds since this process first read the clock: monotonic, so a wall-clock step never
/// empties or doubles the window.
pub fn now_seconds() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_secs()
}

/// The counts of the last [`WINDOW_SECONDS`] seconds, one bucket per second (second `s` in
/// bucket `s % 60`). A bucket is one word: the second it counts (high 32 bits, wrapping) and its
/// count (low 32 bits, saturating), so a bucket left from a minute ago is reset and added to in
/// one compare-and-swap, and a reader never sees a count with another second's stamp.
pub struct RateWindow {
    buckets: [AtomicU64; WINDOW_SECONDS as usize],
}

impl Default for RateWindow {
    fn default() -> Self {
        RateWindow {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl RateWindow {
    /// Counts `n` at second `now_seconds`.
    pub fn add(&self, n: u64, now_seconds: u64) {
        if n == 0 {
            return;
        }
        let now = stamp_of(now_seconds);
        let bucket = &self.buckets[(now_seconds % WINDOW_SECONDS) as usize];
        let mut current = bucket.load(Ordering::Relaxed);
        loop {
            let (stamp, count) = split(current);
            let next = if stamp == now {
                join(now, count.saturating_add(n))
            } else if count == 0 || age(now, stamp) < u32::MAX / 2 {
                // Never counted, or last a minute or more ago: this second starts afresh.
                join(now, n)
            } else {
                // A caller a minute ahead of this one (stalled between reading the clock and
                // counting) holds the bucket: this count is too old for the window.
                return;
            };
            match bucket.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    /// The count of the window ending at second `now_seconds`, that second included.
    pub fn sum(&self, now_seconds: u64) -> u64 {
        let now = stamp_of(now_seconds);
        self.buckets
            .iter()
            .map(|bucket| split(bucket.load(Ordering::Relaxed)))
            .filter(|(stamp, _)| age(now, *stamp) < WINDOW_SECONDS as u32)
            .map(|(_, count)| count)
            .sum()
    }
}

fn stamp_of(seconds: u64) -> u32 {
    (seconds & u64::from(u32::MAX)) as u32
}

/// Seconds from `stamp` to `now`; huge when `stamp` is later than `now`.
fn age(now: u32, stamp: u32) -> u32 {
    now.wrapping_sub(stamp)
}

fn split(word: u64) -> (u32, u64) {
    ((word >> COUNT_BITS) as u32, word & COUNT_MASK)
}

fn join(stamp: u32, count: u64) -> u64 {
    (u64::from(stamp) << COUNT_BITS) | count.min(COUNT_MASK)
}

/// The role of the version that made a prediction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServedRole {
    Champion,
    Challenger,
}

/// One role's predictions: made and failed, in total and in the last minute.
#[derive(Default)]
pub struct RoleCounters {
    predictions_total: AtomicU64,
    errors_total: AtomicU64,
    predictions: RateWindow,
    errors: RateWindow,
}

impl RoleCounters {
    /// `rows` predictions made at second `now_seconds`.
    pub fn answered(&self, rows: u64, now_seconds: u64) {
        self.predictions_total.fetch_add(rows, Ordering::Relaxed);
        self.predictions.add(rows, now_seconds);
    }

    /// `rows` predictions failed at second `now_seconds`.
    pub fn failed(&self, rows: u64, now_seconds: u64) {
        self.errors_total.fetch_add(rows, Ordering::Relaxed);
        self.errors.add(rows, now_seconds);
    }

    /// The counts at second `now_seconds` of a role serving `version`, counted since second
    /// `since_seconds`.
    pub fn stats(&self, version: u64, since_seconds: u64, now_seconds: u64) -> pb::deployment::RoleStats {
        let predictions_last_minute = self.predictions.sum(now_seconds);
        // The current second counts as a whole one, so the first second never divides by zero.
        let covered = (now_seconds.saturating_sub(since_seconds) + 1).min(WINDOW_SECONDS);
        pb::deployment::RoleStats {
            version,
            predictions_total: self.predictions_total.load(Ordering::Relaxed),
            errors_total: self.errors_total.load(Ordering::Relaxed),
            predictions_last_minute,
            errors_last_minute: self.errors.sum(now_seconds),
            per_second: predictions_last_minute as f64 / covered as f64,
        }
    }
}

/// A deployment's counters, from the second it was loaded in this process.
pub struct DeploymentCounters {
    since_seconds: u64,
    champion: RoleCounters,
    challenger: RoleCounters,
}

impl DeploymentCounters {
    pub fn new(now_seconds: u64) -> DeploymentCounters {
        DeploymentCounters {
            since_seconds: now_seconds,
            champion: RoleCounters::default(),
            challenger: RoleCounters::default(),
        }
    }

    pub fn role(&self, role: ServedRole) -> &RoleCounters {
        match role {
            ServedRole::Champion => &self.champion,
            ServedRole::Challenger => &self.challenger,
        }
    }

    /// The counts at second `now_seconds`, for the champion serving `champion` and the
    /// challenger serving `challenger` (none when it has no version loaded).
    pub fn stats(
        &self,
        champion: u64,
        challenger: Option<u64>,
        now_seconds: u64,
    ) -> pb::deployment::DeploymentStats {
        pb::deployment::DeploymentStats {
            champion: Some(self.champion.stats(champion, self.since_seconds, now_seconds)),
            challenger: challenger
                .map(|version| self.challenger.stats(version, self.since_seconds, now_seconds)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_sums_the_last_sixty_seconds_and_drops_older_buckets() {
        let window = RateWindow::default();
        window.add(5, 1_000);
        window.add(2, 1_000);
        window.add(3, 1_030);
        window.add(4, 1_059);
        assert_eq!(window.sum(1_059), 14, "seconds 1000..=1059 are the last minute");
        assert_eq!(window.sum(1_060), 7, "second 1000 has left the window");
        assert_eq!(window.sum(1_089), 7);
        assert_eq!(window.sum(1_090), 4, "second 1030 has left the window");
        assert_eq!(window.sum(1_118), 4);
        assert_eq!(window.sum(1_119), 0, "everything expired");
        assert_eq!(window.sum(5_000), 0);
    }

    #[test]
    fn a_bucket_reused_a_minute_later_counts_only_its_new_second() {
        let window = RateWindow::default();
        window.add(7, 10);
        // Second 70 lands in the bucket of second 10 (70 % 60 == 10).
        window.add(1, 70);
        assert_eq!(window.sum(70), 1, "the old count of the bucket is gone");
        window.add(2, 70);
        assert_eq!(window.sum(70), 3);
        // Many laps later, the same bucket again.
        window.add(4, 10 + 60 * 1_000);
        assert_eq!(window.sum(10 + 60 * 1_000), 4);
    }

    #[test]
    fn a_count_older_than_the_bucket_it_lands_in_is_dropped_from_the_window() {
        let window = RateWindow::default();
        window.add(3, 130);
        // A caller that read the clock at second 70 counts after second 130 took its bucket.
        window.add(9, 70);
        assert_eq!(window.sum(130), 3);
    }

    #[test]
    fn the_window_reads_the_same_across_the_32_bit_wrap_of_its_stamps() {
        let window = RateWindow::default();
        let wrap = 1u64 << 32;
        window.add(1, wrap - 2);
        window.add(2, wrap - 1);
        window.add(3, wrap);
        window.add(4, wrap + 1);
        assert_eq!(window.sum(wrap + 1), 10);
        assert_eq!(window.sum(wrap + 57), 10);
        assert_eq!(window.sum(wrap + 58), 9, "second wrap - 2 has left the window");
        assert_eq!(window.sum(wrap + 60), 4);
        assert_eq!(window.sum(wrap + 61), 0);
    }

    #[test]
    fn a_bucket_count_saturates_instead_of_spilling_into_its_stamp() {
        let window = RateWindow::default();
        window.add(COUNT_MASK - 1, 5);
        window.add(10, 5);
        assert_eq!(window.sum(5), COUNT_MASK);
        assert_eq!(window.sum(64), COUNT_MASK, "still stamped with second 5");
        assert_eq!(window.sum(65), 0);
    }

    #[test]
    fn the_rate_divides_by_the_part_of_the_minute_the_counts_cover() {
        let counters = RoleCounters::default();
        let since = 500;
        counters.answered(10, 500);
        // In the first second: 10 predictions over 1 second.
        assert_eq!(counters.stats(1, since, 500).per_second, 10.0);
        counters.answered(30, 519);
        // 20 seconds covered (500..=519).
        let at_519 = counters.stats(1, since, 519);
        assert_eq!(at_519.predictions_last_minute, 40);
        assert_eq!(at_519.per_second, 2.0);
        // A full minute covered: 60 seconds, whatever the counters' age.
        let at_559 = counters.stats(1, since, 559);
        assert_eq!(
            (at_559.predictions_last_minute, at_559.per_second),
            (40, 40.0 / 60.0)
        );
        let at_560 = counters.stats(1, since, 560);
        assert_eq!((at_560.predictions_last_minute, at_560.per_second), (30, 0.5));
        let later = counters.stats(1, since, 1_000);
        assert_eq!(
            (
                later.predictions_total,
                later.predictions_last_minute,
                later.per_second
            ),
            (40, 0, 0.0),
            "totals stay when the window empties"
        );
    }

    #[test]
    fn errors_and_roles_are_counted_apart() {
        let counters = DeploymentCounters::new(0);
        counters.role(ServedRole::Champion).answered(8, 3);
        counters.role(ServedRole::Champion).failed(2, 3);
        counters.role(ServedRole::Challenger).answered(5, 4);
        let stats = counters.stats(2, Some(1), 4);
        let champion = stats.champion.expect("champion");
        assert_eq!(
            (
                champion.version,
                champion.predictions_total,
                champion.errors_total,
                champion.predictions_last_minute,
                champion.errors_last_minute,
                champion.per_second
            ),
            (2, 8, 2, 8, 2, 8.0 / 5.0)
        );
        let challenger = stats.challenger.expect("challenger");
        assert_eq!(
            (
                challenger.version,
                challenger.predictions_total,
                challenger.errors_total
            ),
            (1, 5, 0)
        );
        assert!(counters.stats(2, None, 4).challenger.is_none());
    }

    #[test]
    fn concurrent_records_are_all_counted() {
        let counters = RoleCounters::default();
        std::thread::scope(|scope| {
            for thread in 0..4u64 {
                let counters = &counters;
                scope.spawn(move || {
                    for i in 0..10_000u64 {
                        // Each bucket's first add replaces its initial stamp: the threads race
                        // on that reset as well as on the adds.
                        counters.answered(1, 100 + (i + thread) % 2);
                    }
                });
            }
        });
        let stats = counters.stats(1, 100, 101);
        assert_eq!(
            (stats.predictions_total, stats.predictions_last_minute),
            (40_000, 40_000)
        );
    }
}
