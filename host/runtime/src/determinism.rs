//! Deterministic actions (`--deterministic`): the guest's clocks fixed at the execution's
//! recorded start and its random bytes drawn from a seed of the execution and the action,
//! so the same inputs give the same outputs even for code that reads the time or asks for
//! randomness. Not for secrets: anyone with the record can compute the stream.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand_core::TryRng;
use sha2::{Digest, Sha256};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtxBuilder};

/// What fixes one action call's clocks and randomness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Determinism {
    /// The wall clock's reading: the execution's recorded start, since the Unix epoch.
    pub start: Duration,
    /// Seeds the random streams.
    pub seed: [u8; 32],
}

/// How far the monotonic clock moves each time it is read: time passes (a loop waiting
/// for it ends) by the same steps in every run.
const MONOTONIC_STEP_NANOS: u64 = 1_000_000;

impl Determinism {
    /// The determinism of one action of one execution: the seed is the SHA-256 of the
    /// execution id, stage and action, so actions differ from each other and every run of
    /// the same execution (a replay keeps the recorded id in the seed) draws the same.
    pub fn for_action(start: Duration, seed_of: &str, stage: &str, action: &str) -> Self {
        let mut hash = Sha256::new();
        for part in [seed_of, stage, action] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part.as_bytes());
        }
        Determinism {
            start,
            seed: hash.finalize().into(),
        }
    }

    pub(crate) fn apply(&self, wasi: &mut WasiCtxBuilder) {
        wasi.wall_clock(FixedWallClock(self.start))
            .monotonic_clock(SteppingClock(AtomicU64::new(0)))
            .secure_random(SeededStream::new(self.seed, b"secure"))
            .insecure_random(SeededStream::new(self.seed, b"insecure"))
            .insecure_random_seed(u128::from_le_bytes(
                self.seed[..16].try_into().expect("16 bytes"),
            ));
    }
}

struct FixedWallClock(Duration);

impl HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        self.0
    }
}

struct SteppingClock(AtomicU64);

impl HostMonotonicClock for SteppingClock {
    fn resolution(&self) -> u64 {
        MONOTONIC_STEP_NANOS
    }

    fn now(&self) -> u64 {
        self.0.fetch_add(MONOTONIC_STEP_NANOS, Ordering::Relaxed)
    }
}

/// SHA-256 in counter mode over the seed: block n is SHA-256(seed ‖ label ‖ n).
struct SeededStream {
    seed: [u8; 32],
    label: &'static [u8],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl SeededStream {
    fn new(seed: [u8; 32], label: &'static [u8]) -> Self {
        SeededStream {
            seed,
            label,
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }

    fn next_byte(&mut self) -> u8 {
        if self.used == self.block.len() {
            let mut hash = Sha256::new();
            hash.update(self.seed);
            hash.update(self.label);
            hash.update(self.counter.to_le_bytes());
            self.block = hash.finalize().into();
            self.counter += 1;
            self.used = 0;
        }
        self.used += 1;
        self.block[self.used - 1]
    }
}

impl TryRng for SeededStream {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut bytes = [0; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut bytes = [0; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Infallible> {
        for byte in dest {
            *byte = self.next_byte();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_action_draws_the_same_bytes_and_others_differ() {
        let draw = |action: &str| {
            let d = Determinism::for_action(Duration::from_secs(1), "exec", "Build", action);
            let mut stream = SeededStream::new(d.seed, b"secure");
            let mut bytes = [0u8; 100];
            stream.try_fill_bytes(&mut bytes).unwrap();
            bytes
        };
        assert_eq!(draw("A"), draw("A"));
        assert_ne!(draw("A"), draw("B"));
        // Stage and action boundaries are part of the seed: "ab"+"c" is not "a"+"bc".
        assert_ne!(
            Determinism::for_action(Duration::ZERO, "x", "ab", "c").seed,
            Determinism::for_action(Duration::ZERO, "x", "a", "bc").seed
        );
    }

    #[test]
    fn the_monotonic_clock_moves_by_fixed_steps() {
        let clock = SteppingClock(AtomicU64::new(0));
        assert_eq!(clock.now(), 0);
        assert_eq!(clock.now(), MONOTONIC_STEP_NANOS);
    }
}
