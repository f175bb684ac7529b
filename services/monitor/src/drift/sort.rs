//! Sorting f64 samples exactly, in the order of `sort_unstable_by(f64::total_cmp)` (`-0.0`
//! before `0.0`, NaN by sign and payload), faster than a comparison sort on the
//! million-value samples drift compares: a least-significant-digit radix sort over the
//! total-order key of each value, and for a sample's finite values a bucketing by value
//! with a small sort per bucket.

/// Bits per radix digit: 2,048 buckets, six passes over 64-bit keys.
const DIGIT_BITS: usize = 11;
const DIGITS: usize = 64_usize.div_ceil(DIGIT_BITS);
const BUCKETS: usize = 1 << DIGIT_BITS;
const MASK: u64 = BUCKETS as u64 - 1;
/// Up to this many values a comparison sort of the keys beats six passes over 16 KiB tables.
const SMALL: usize = 1_024;
/// Values per bucket [`sorted_finite`] aims at.
const VALUES_PER_BUCKET: usize = 32;

/// The counts of every digit value at every digit position of a set of keys.
type DigitCounts = [[usize; BUCKETS]; DIGITS];

/// The key whose unsigned order is `f64::total_cmp`'s: negative values have every bit
/// flipped, the others only the sign bit.
fn order_key(value: f64) -> u64 {
    let bits = value.to_bits();
    if bits >> 63 == 1 { !bits } else { bits | 1 << 63 }
}

fn from_order_key(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 { key & !(1 << 63) } else { !key })
}

fn digit(key: u64, position: usize) -> usize {
    ((key >> (position * DIGIT_BITS)) & MASK) as usize
}

fn count_digits(counts: &mut DigitCounts, key: u64) {
    for (position, table) in counts.iter_mut().enumerate() {
        table[digit(key, position)] += 1;
    }
}

/// Sorts `values` in place in `f64::total_cmp` order.
pub fn radix_sort(values: &mut [f64]) {
    let mut counts = Box::new([[0; BUCKETS]; DIGITS]);
    let keys: Vec<u64> = values
        .iter()
        .map(|&value| {
            let key = order_key(value);
            count_digits(&mut counts, key);
            key
        })
        .collect();
    for (slot, key) in values.iter_mut().zip(sort_keys(keys, &counts)) {
        *slot = from_order_key(key);
    }
}

/// The finite values of `raw` (NaN and ±inf dropped), sorted ascending, with one buffer of
/// their size and a table of bucket bounds: a pass for the range, one to count the values per
/// equal-width bucket of it, one to place each value's key in its bucket, then each bucket
/// (a few dozen values, in cache) sorted on its own. The bucket of a value never decreases
/// with the value, so the buckets in order are the sorted sample. Without a finite,
/// non-empty range (all values equal) the radix sort does it.
pub fn sorted_finite(raw: &[f64]) -> Vec<f64> {
    let (mut finite, mut min, mut max) = (0_usize, f64::INFINITY, f64::NEG_INFINITY);
    for &value in raw.iter().filter(|value| value.is_finite()) {
        finite += 1;
        min = min.min(value);
        max = max.max(value);
    }
    let buckets = finite.div_ceil(VALUES_PER_BUCKET);
    let scale = buckets as f64 / (max - min);
    if finite <= SMALL || !(scale.is_finite() && scale > 0.0) {
        return radix_sorted_finite(raw);
    }
    let bucket_of = |value: f64| (((value - min) * scale) as usize).min(buckets - 1);
    let mut starts = vec![0_usize; buckets + 1];
    for &value in raw.iter().filter(|value| value.is_finite()) {
        starts[bucket_of(value) + 1] += 1;
    }
    for bucket in 1..=buckets {
        starts[bucket] += starts[bucket - 1];
    }
    let mut next = starts.clone();
    let mut keys = vec![0_u64; finite];
    for &value in raw.iter().filter(|value| value.is_finite()) {
        let bucket = bucket_of(value);
        keys[next[bucket]] = order_key(value);
        next[bucket] += 1;
    }
    for bounds in starts.windows(2) {
        keys[bounds[0]..bounds[1]].sort_unstable();
    }
    // Same size and alignment: the collect reuses the keys' buffer.
    keys.into_iter().map(from_order_key).collect()
}

/// [`sorted_finite`] by the radix sort: one pass to copy and count digits, then the passes.
fn radix_sorted_finite(raw: &[f64]) -> Vec<f64> {
    let mut counts = Box::new([[0; BUCKETS]; DIGITS]);
    let mut keys = Vec::with_capacity(raw.len());
    for &value in raw {
        if value.is_finite() {
            let key = order_key(value);
            count_digits(&mut counts, key);
            keys.push(key);
        }
    }
    sort_keys(keys, &counts).into_iter().map(from_order_key).collect()
}

/// LSD radix sort of `keys` whose digits `counts` tallied; a position where every key has
/// the same digit is skipped.
fn sort_keys(mut keys: Vec<u64>, counts: &DigitCounts) -> Vec<u64> {
    let n = keys.len();
    if n <= SMALL {
        keys.sort_unstable();
        return keys;
    }
    let mut scratch = vec![0_u64; n];
    for (position, table) in counts.iter().enumerate() {
        if table[digit(keys[0], position)] == n {
            continue;
        }
        let mut next = [0_usize; BUCKETS];
        let mut start = 0;
        for (slot, &count) in next.iter_mut().zip(table) {
            *slot = start;
            start += count;
        }
        for &key in &keys {
            let bucket = digit(key, position);
            scratch[next[bucket]] = key;
            next[bucket] += 1;
        }
        std::mem::swap(&mut keys, &mut scratch);
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn by_total_cmp(values: &[f64]) -> Vec<u64> {
        let mut sorted = values.to_vec();
        sorted.sort_unstable_by(f64::total_cmp);
        sorted.into_iter().map(f64::to_bits).collect()
    }

    /// Any f64 bit pattern: negatives, zeros of both signs, subnormals, infinities, NaNs.
    fn any_bits() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<u64>().prop_map(f64::from_bits),
            (any::<bool>(), 0_u64..1 << 52)
                .prop_map(|(negative, mantissa)| { f64::from_bits(u64::from(negative) << 63 | mantissa) }),
            prop::sample::select(vec![0.0, -0.0, 1.0, -1.0, f64::MIN_POSITIVE, -f64::MIN_POSITIVE]),
            -1e3_f64..1e3,
        ]
    }

    #[test]
    fn keys_round_trip_and_order_like_total_cmp() {
        let values = [
            -f64::INFINITY,
            -1.5,
            -f64::MIN_POSITIVE,
            -0.0,
            0.0,
            5e-324,
            2.0,
            f64::INFINITY,
        ];
        for pair in values.windows(2) {
            assert!(order_key(pair[0]) < order_key(pair[1]), "{pair:?}");
        }
        for value in values {
            assert_eq!(from_order_key(order_key(value)).to_bits(), value.to_bits());
        }
    }

    #[test]
    fn sorted_finite_drops_missing_values_and_keeps_both_zeros() {
        let mut raw: Vec<f64> = (0..3_000)
            .map(|i| ((i * 7_919) % 3_001) as f64 - 1_500.0)
            .collect();
        raw.extend([f64::NAN, f64::INFINITY, -0.0, 0.0, f64::NEG_INFINITY]);
        let sorted = sorted_finite(&raw);
        let finite: Vec<f64> = raw.iter().copied().filter(|v| v.is_finite()).collect();
        assert_eq!(sorted.len(), finite.len());
        assert_eq!(
            sorted.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            by_total_cmp(&finite)
        );
    }

    proptest! {
        // Each case is thousands of generated values: fewer cases keep the test quick.
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn radix_sort_equals_sort_by_total_cmp(
            values in proptest::collection::vec(any_bits(), 0..3_000),
        ) {
            let mut sorted = values.clone();
            radix_sort(&mut sorted);
            let bits: Vec<u64> = sorted.iter().map(|v| v.to_bits()).collect();
            prop_assert_eq!(bits, by_total_cmp(&values));
        }

        #[test]
        fn bucketed_sorted_finite_equals_filter_then_sort(
            values in proptest::collection::vec(
                prop_oneof![
                    8 => -1e3_f64..1e3,
                    1 => prop::sample::select(vec![0.0, -0.0, 5e-324, -5e-324, 7.0, f64::NAN, f64::INFINITY]),
                    1 => prop::sample::select(vec![1e9, -1e12, f64::MAX / 4.0]),
                ],
                1_025..2_500,
            ),
            outliers in any::<bool>(),
        ) {
            // With outliers most values share one bucket; without, buckets hold a few each.
            let values: Vec<f64> = values.into_iter().filter(|v| outliers || v.abs() < 1e6).collect();
            let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
            let bits: Vec<u64> = sorted_finite(&values).iter().map(|v| v.to_bits()).collect();
            prop_assert_eq!(bits, by_total_cmp(&finite));
        }

        #[test]
        fn sorted_finite_equals_filter_then_sort(
            values in proptest::collection::vec(any_bits(), 0..3_000),
            repeats in 1_usize..4,
        ) {
            // Repeats make ties and runs of one digit, so passes are skipped.
            let raw: Vec<f64> = values.iter().flat_map(|&v| std::iter::repeat_n(v, repeats)).collect();
            let finite: Vec<f64> = raw.iter().copied().filter(|v| v.is_finite()).collect();
            let bits: Vec<u64> = sorted_finite(&raw).iter().map(|v| v.to_bits()).collect();
            prop_assert_eq!(bits, by_total_cmp(&finite));
        }
    }
}
