use super::keys::{EncodedKeys, Key, KeyNumbers};

/// The entity rows of one feature view grouped by join key, each group sorted by event time, so
/// that a source row finds the entity rows it may serve with one hash lookup and a binary search.
pub(super) struct EntityIndex {
    groups: KeyNumbers,
    /// Group `g` spans `offsets[g]..offsets[g + 1]` of `rows` and `times`.
    offsets: Vec<usize>,
    rows: Vec<u32>,
    times: Vec<i64>,
}

/// The entity rows sharing one key, ascending by event time (ties in input order).
pub(super) struct Group<'a> {
    pub rows: &'a [u32],
    pub times: &'a [i64],
}

impl EntityIndex {
    /// `times[row]` is the event time of entity row `row` in microseconds; rows without a key
    /// are left out and so never match.
    pub(super) fn build(keys: &EncodedKeys, times: &[i64]) -> EntityIndex {
        let mut groups = KeyNumbers::default();
        let mut members: Vec<(u32, i64, u32)> = Vec::with_capacity(times.len());
        for (row, &time) in times.iter().enumerate() {
            let Some(key) = keys.get(row) else { continue };
            members.push((groups.number(key), time, row as u32));
        }
        members.sort_unstable();
        let mut offsets = Vec::with_capacity(groups.len() + 1);
        offsets.push(0);
        for (position, pair) in members.windows(2).enumerate() {
            if pair[0].0 != pair[1].0 {
                offsets.push(position + 1);
            }
        }
        if !members.is_empty() {
            offsets.push(members.len());
        }
        EntityIndex {
            groups,
            offsets,
            rows: members.iter().map(|member| member.2).collect(),
            times: members.iter().map(|member| member.1).collect(),
        }
    }

    /// How many distinct keys there are; groups are numbered `0..groups()`.
    pub(super) fn groups(&self) -> u32 {
        (self.offsets.len().saturating_sub(1)) as u32
    }

    pub(super) fn group_of(&self, key: Key<'_>) -> Option<u32> {
        self.groups.get(key)
    }

    pub(super) fn group(&self, group: u32) -> Group<'_> {
        let span = self.offsets[group as usize]..self.offsets[group as usize + 1];
        Group {
            rows: &self.rows[span.clone()],
            times: &self.times[span],
        }
    }
}
