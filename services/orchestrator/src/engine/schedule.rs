//! When a cron schedule fires, in its time zone.

use chrono::{Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};

use crate::definition::{CronSchedule, Schedule};

/// The first time the schedule fires strictly after `after_ms` (ms since the epoch), or `None`
/// when it never fires in the next eight years (e.g. `0 0 30 2 *`).
pub fn next_fire(schedule: &Schedule, after_ms: i64) -> Option<i64> {
    let after = Utc.timestamp_millis_opt(after_ms).single()?;
    let local = after.with_timezone(&schedule.time_zone).naive_local();
    let mut day = local.date();
    for _ in 0..(366 * 8) {
        if day_matches(&schedule.cron, day) {
            for &hour in &schedule.cron.hours {
                for &minute in &schedule.cron.minutes {
                    let time = day.and_hms_opt(u32::from(hour), u32::from(minute), 0)?;
                    let Some(utc) = resolve(schedule, time) else {
                        continue;
                    };
                    if utc > after_ms {
                        return Some(utc);
                    }
                }
            }
        }
        day = day.succ_opt()?;
    }
    None
}

/// Every fire time in `(after_ms, until_ms]`, at most `limit` of them (the latest ones).
pub fn fires_between(schedule: &Schedule, after_ms: i64, until_ms: i64, limit: usize) -> Vec<i64> {
    let mut fires = Vec::new();
    let mut cursor = after_ms;
    while let Some(next) = next_fire(schedule, cursor) {
        if next > until_ms {
            break;
        }
        fires.push(next);
        if fires.len() > limit {
            fires.remove(0);
        }
        cursor = next;
    }
    fires
}

fn day_matches(cron: &CronSchedule, day: NaiveDate) -> bool {
    let month = u8::try_from(day.month()).unwrap_or(0);
    if !cron.months.contains(&month) {
        return false;
    }
    let dom = cron.days_of_month.contains(&u8::try_from(day.day()).unwrap_or(0));
    let dow = cron
        .days_of_week
        .contains(&u8::try_from(day.weekday().num_days_from_sunday()).unwrap_or(0));
    if cron.day_fields_both_restricted {
        dom || dow
    } else {
        dom && dow
    }
}

/// A local wall-clock time as UTC ms: a time skipped by a DST change fires at the end of the
/// gap (as cron does), an ambiguous one at its first occurrence.
fn resolve(schedule: &Schedule, time: NaiveDateTime) -> Option<i64> {
    match schedule.time_zone.from_local_datetime(&time) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.timestamp_millis()),
        LocalResult::None => {
            let later = time + Duration::hours(1);
            let later = later.with_minute(0)?;
            match schedule.time_zone.from_local_datetime(&later) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.timestamp_millis()),
                LocalResult::None => None,
            }
        }
    }
}
