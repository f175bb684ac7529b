//! HyperLogLog with 4,096 registers (precision 12): a distinct count within about ±1.6% (one
//! standard error, 1.04/√4096), exact-looking for small counts (linear counting), mergeable
//! without loss (register-wise maximum), so tiles combine into a window's sketch in any order.
//!
//! A sketch starts sparse (the set registers only, 4 bytes each) and turns dense (4,096 bytes)
//! once that would be smaller; the estimate does not depend on the representation.

/// Register index bits.
const PRECISION: u32 = 12;
/// Registers.
pub const REGISTERS: usize = 1 << PRECISION;
/// A sparse sketch turns dense past this many set registers.
const SPARSE_LIMIT: usize = REGISTERS / 4;

#[derive(Debug, Clone, PartialEq)]
pub enum Hll {
    /// Set registers as `index << 8 | rank`, ascending by index, one entry per index.
    Sparse(Vec<u32>),
    Dense(Box<[u8]>),
}

impl Default for Hll {
    fn default() -> Self {
        Hll::Sparse(Vec::new())
    }
}

impl Hll {
    /// Adds one value by its 64-bit hash (see [`super::datum`]).
    pub fn insert(&mut self, hash: u64) {
        let index = (hash >> (64 - PRECISION)) as usize;
        // The rank of the remaining bits: leading zeros + 1, at most 64 - PRECISION + 1.
        let rest = (hash << PRECISION) | (1 << (PRECISION - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        self.set(index, rank);
    }

    fn set(&mut self, index: usize, rank: u8) {
        match self {
            Hll::Dense(registers) => registers[index] = registers[index].max(rank),
            Hll::Sparse(entries) => {
                let entry = (index as u32) << 8 | u32::from(rank);
                match entries.binary_search_by_key(&(index as u32), |e| e >> 8) {
                    Ok(at) => entries[at] = entries[at].max(entry),
                    Err(at) => {
                        entries.insert(at, entry);
                        if entries.len() > SPARSE_LIMIT {
                            self.densify();
                        }
                    }
                }
            }
        }
    }

    fn densify(&mut self) {
        if let Hll::Sparse(entries) = self {
            let mut registers = vec![0u8; REGISTERS].into_boxed_slice();
            for entry in entries.iter() {
                registers[(entry >> 8) as usize] = (entry & 0xff) as u8;
            }
            *self = Hll::Dense(registers);
        }
    }

    /// Takes in every value `other` has seen.
    pub fn merge(&mut self, other: &Hll) {
        match other {
            Hll::Sparse(entries) => {
                for entry in entries {
                    self.set((entry >> 8) as usize, (entry & 0xff) as u8);
                }
            }
            Hll::Dense(theirs) => {
                self.densify();
                if let Hll::Dense(mine) = self {
                    for (mine, theirs) in mine.iter_mut().zip(theirs.iter()) {
                        *mine = (*mine).max(*theirs);
                    }
                }
            }
        }
    }

    /// The estimated number of distinct values, rounded to the nearest integer.
    pub fn estimate(&self) -> i64 {
        let m = REGISTERS as f64;
        let (mut zeros, mut harmonic) = (REGISTERS, 0.0);
        let mut add = |rank: u8| harmonic += 2f64.powi(-i32::from(rank));
        match self {
            Hll::Sparse(entries) => {
                zeros -= entries.len();
                for entry in entries {
                    add((entry & 0xff) as u8);
                }
            }
            Hll::Dense(registers) => {
                zeros = registers.iter().filter(|&&r| r == 0).count();
                for &rank in registers.iter().filter(|&&r| r != 0) {
                    add(rank);
                }
            }
        }
        harmonic += zeros as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let raw = alpha * m * m / harmonic;
        let estimate = if raw <= 2.5 * m && zeros > 0 {
            // Small range: linear counting is the better estimate.
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        estimate.round() as i64
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Hll::Sparse(entries) => {
                out.push(0);
                out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
                for entry in entries {
                    out.extend_from_slice(&entry.to_le_bytes());
                }
            }
            Hll::Dense(registers) => {
                out.push(1);
                out.extend_from_slice(registers);
            }
        }
    }

    /// Reads a sketch [`encode`](Self::encode) wrote at the start of `bytes`; returns it and
    /// the bytes it took.
    pub fn decode(bytes: &[u8]) -> Option<(Hll, usize)> {
        match *bytes.first()? {
            0 => {
                let count = u32::from_le_bytes(bytes.get(1..5)?.try_into().ok()?) as usize;
                let body = bytes.get(5..5 + count.checked_mul(4)?)?;
                let entries: Vec<u32> = body
                    .chunks_exact(4)
                    .map(|c| u32::from_le_bytes(c.try_into().expect("four bytes")))
                    .collect();
                let ordered = entries.windows(2).all(|pair| pair[0] >> 8 < pair[1] >> 8);
                let in_range = entries.iter().all(|e| ((e >> 8) as usize) < REGISTERS);
                (ordered && in_range).then_some((Hll::Sparse(entries), 5 + count * 4))
            }
            1 => {
                let registers = bytes.get(1..1 + REGISTERS)?;
                Some((Hll::Dense(registers.into()), 1 + REGISTERS))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::datum::hash_int;
    use super::*;

    #[test]
    fn aggregation_hll_estimates_within_its_error_bound() {
        for distinct in [0i64, 1, 7, 100, 1_000, 20_000, 200_000] {
            let mut sketch = Hll::default();
            // Every value twice: a repeat is no new value.
            for _ in 0..2 {
                for value in 0..distinct {
                    sketch.insert(hash_int(value * 7919));
                }
            }
            let estimate = sketch.estimate();
            // Four standard errors (6.5%), plus one for tiny counts.
            let allowed = (distinct as f64 * 0.065).max(1.0);
            assert!(
                (estimate - distinct).abs() as f64 <= allowed,
                "{distinct} distinct values estimated as {estimate}"
            );
        }
    }

    #[test]
    fn aggregation_hll_merges_like_one_sketch_in_any_representation() {
        let (mut a, mut b, mut whole) = (Hll::default(), Hll::default(), Hll::default());
        for value in 0..5_000 {
            let hash = hash_int(value);
            if value % 3 == 0 { &mut a } else { &mut b }.insert(hash);
            whole.insert(hash);
        }
        let mut small = Hll::default();
        small.insert(hash_int(1));
        assert!(matches!(small, Hll::Sparse(_)) && matches!(whole, Hll::Dense(_)));
        let mut merged = small.clone();
        merged.merge(&a);
        merged.merge(&b);
        assert_eq!(merged.estimate(), whole.estimate());
        let mut other_way = b.clone();
        other_way.merge(&small);
        other_way.merge(&a);
        assert_eq!(other_way.estimate(), whole.estimate());
        for sketch in [&small, &whole, &a] {
            let mut bytes = Vec::new();
            sketch.encode(&mut bytes);
            bytes.push(9);
            let (decoded, used) = Hll::decode(&bytes).unwrap();
            assert_eq!((&decoded, used), (sketch, bytes.len() - 1));
        }
        assert!(Hll::decode(&[0, 2, 0, 0, 0, 1]).is_none());
    }
}
