//! splitmix64, the generator behind `seed`'s rows and `email`'s texts, mixes and orders:
//! small, fast, and good enough to spread rows and pick words.
//!
//! It bounds numbers two ways, [`Rng::below`] (multiply-shift, `seed`'s) and [`Rng::index`]
//! (modulo, `email`'s), and starts two ways, [`Rng::new`] and [`Rng::warmed`]: each command
//! keeps the one it was written with, so a given `--rng-seed` yields the data it always has.

#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Starts at `seed` as it is.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// Starts at `seed` and drops the first output.
    pub fn warmed(seed: u64) -> Self {
        let mut rng = Rng(seed);
        rng.next();
        rng
    }

    /// A generator for one (stream, index, part), independent of every other.
    pub fn for_item(seed: u64, a: u64, b: u64) -> Self {
        Rng::warmed(
            seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F).rotate_left(17),
        )
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`, by multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        u64::try_from((u128::from(self.next()) * u128::from(n)) >> 64).unwrap_or(0)
    }

    /// In `0..n` (n > 0), by modulo.
    pub fn index(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// In `low..=high`.
    pub fn range(&mut self, low: usize, high: usize) -> usize {
        low + self.index(high - low + 1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }

    /// A value drawn in proportion to its weight.
    pub fn pick_weighted<'a>(&mut self, weighted: &[(&'a str, u64)]) -> &'a str {
        let total: u64 = weighted.iter().map(|(_, w)| w).sum();
        let mut roll = self.below(total);
        for (value, weight) in weighted {
            if roll < *weight {
                return value;
            }
            roll -= weight;
        }
        weighted.last().map_or("", |(value, _)| value)
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.index(i + 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn the_same_seed_gives_the_same_numbers() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        assert_eq!((0..8).map(|_| a.next()).collect::<Vec<_>>(), (0..8).map(|_| b.next()).collect::<Vec<_>>());
    }

    #[test]
    fn a_warmed_generator_is_one_step_ahead() {
        let mut plain = Rng::new(7);
        plain.next();
        assert_eq!(Rng::warmed(7).next(), plain.next());
    }

    #[test]
    fn bounded_numbers_stay_in_bounds() {
        let mut rng = Rng::new(1);
        for _ in 0..1000 {
            assert!(rng.below(10) < 10);
            assert!(rng.index(10) < 10);
            assert!((3..=5).contains(&rng.range(3, 5)));
            assert!((0.0..1.0).contains(&rng.unit()));
        }
    }

    #[test]
    fn a_weight_of_zero_is_never_picked() {
        let mut rng = Rng::new(3);
        for _ in 0..1000 {
            assert_eq!(rng.pick_weighted(&[("never", 0), ("always", 5)]), "always");
        }
    }
}
