//! Every fuzz target under `cargo test`: the checked-in corpus (`fuzz/corpus/<target>/`,
//! minimised by `cargo fuzz cmin`) and every input that ever failed a target
//! (`fuzz/regressions/<target>/`) are replayed, then a short seeded mutation
//! run starts from it (bit flips, byte edits, truncation, splices), so CI exercises each target
//! without libFuzzer's instrumented build. `WEIR_FUZZ_ITERATIONS` sets the mutation count per
//! target (default 1,500); a failing input is written to `target/fuzz-failures/` for replay with
//! `scripts/fuzz.sh` or a new corpus file.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The inputs of `target` in `fuzz/<kind>/<target>/` (none if the folder does not exist).
fn inputs(kind: &str, target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// The corpus (libFuzzer's minimised one, seeds included) and the regression inputs: every
/// input that ever failed a target, kept apart so that `cargo fuzz cmin` cannot drop them.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let mut all = inputs("corpus", target);
    assert!(!all.is_empty(), "fuzz/corpus/{target} has no seeds");
    all.extend(inputs("regressions", target));
    all
}

/// Runs `f` on `input`; on a panic, saves the input and fails naming it.
fn run(target: &str, f: fn(&[u8]), input: &[u8]) {
    if catch_unwind(AssertUnwindSafe(|| f(input))).is_err() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/fuzz-failures");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{target}-{:016x}", fnv(input)));
        std::fs::write(&path, input).unwrap();
        panic!("{target} failed on the input saved as {}", path.display());
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One mutation of `input`, sometimes spliced with `other`.
fn mutate(rng: &mut StdRng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let len = out.len();
        match rng.random_range(0..7) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                out[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                out[i] = rng.random();
            }
            2 => {
                let i = rng.random_range(0..=len);
                out.insert(i, rng.random());
            }
            3 if len > 0 => {
                let i = rng.random_range(0..len);
                out.remove(i);
            }
            4 => out.truncate(rng.random_range(0..=len)),
            5 if !other.is_empty() => {
                let (i, j) = (rng.random_range(0..=len), rng.random_range(0..other.len()));
                out.truncate(i);
                out.extend_from_slice(&other[j..]);
            }
            6 if len > 0 => {
                // Interesting integers: lengths and counts at their edges.
                let i = rng.random_range(0..len);
                out[i] = *[0u8, 1, 0x7f, 0x80, 0xff]
                    .get(rng.random_range(0..5))
                    .unwrap();
            }
            _ => {}
        }
    }
    out
}

#[test]
fn every_target_has_a_corpus_and_a_libfuzzer_target() {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    for (name, _) in weir_fuzz::TARGETS {
        assert!(
            fuzz.join("corpus").join(name).is_dir(),
            "no corpus for {name}"
        );
        assert!(
            fuzz.join("fuzz_targets")
                .join(format!("{name}.rs"))
                .is_file(),
            "no fuzz/fuzz_targets/{name}.rs"
        );
    }
}

#[test]
fn every_target_survives_its_corpus_and_mutations_of_it() {
    let iterations: usize = std::env::var("WEIR_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    for (name, f) in weir_fuzz::TARGETS {
        let seeds = corpus(name);
        for s in &seeds {
            run(name, f, s);
        }
        run(name, f, &[]);
        let mut rng = StdRng::seed_from_u64(fnv(name.as_bytes()));
        for _ in 0..iterations {
            let a = &seeds[rng.random_range(0..seeds.len())];
            let b = &seeds[rng.random_range(0..seeds.len())];
            run(name, f, &mutate(&mut rng, a, b));
        }
    }
}
