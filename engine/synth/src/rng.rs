//! A small deterministic generator (SplitMix64), so a seed means the same telemetry on every
//! machine and every version of Weir's dependencies.

/// SplitMix64: fast, tiny state, good enough statistics for workloads (not for secrets).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`; equal seeds give equal sequences.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5eed_1ab5_0000_0001)
    }

    /// The next 64 random bits.
    #[allow(
        clippy::should_implement_trait,
        reason = "an infinite generator, not an iterator a caller could exhaust or collect"
    )]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.f64().max(f64::MIN_POSITIVE);
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Exponential with mean `mean`.
    pub fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.f64()).ln()
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next() % n as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// A uniformly chosen element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A log-normal duration in ns with the given median, spread by `sigma`.
    pub fn latency(&mut self, median_ns: f64, sigma: f64) -> u64 {
        (median_ns.ln() + sigma * self.normal()).exp().min(60e9) as u64
    }

    /// `n` random bytes, never all zero (valid OTLP trace and span ids).
    pub fn id(&mut self, n: usize) -> Vec<u8> {
        let mut out: Vec<u8> = (0..n).map(|_| self.next() as u8).collect();
        if out.iter().all(|b| *b == 0) {
            out[n - 1] = 1;
        }
        out
    }
}
