//! A small mutation fuzzer for the parsers, on the stable toolchain: each
//! input is a seed (a valid example) mutated a few times by byte-level
//! operations that parsers trip on (flips, inserts of delimiters and digits,
//! deletions, duplications, splices of two seeds, truncations), or random
//! bytes. Not coverage-guided (that needs a nightly toolchain here); the
//! seeds and the delimiter-aware mutations stand in for it.
//!
//! `CIRRUS_FUZZ_ITERATIONS` sets the inputs per target (default 4,000: a
//! second or so in a debug build, as the test command runs it);
//! `CIRRUS_FUZZ_SEED` replays a run (the seed is printed at the start).

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::time::Instant;

/// Bytes that split fields in the formats fuzzed here.
const INTERESTING: &[u8] = b"\r\n \t:;,=-*/?#\"'\\0123456789abcdefABCDEFxX\x00\x7f\xff";

/// Runs `check` on generated inputs derived from `seeds`; `check` panics
/// on a broken invariant (a parser's own panic counts too). Returns how
/// many inputs ran.
pub fn fuzz(name: &str, seeds: &[&[u8]], mut check: impl FnMut(&[u8])) -> u64 {
    let iterations: u64 = std::env::var("CIRRUS_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4_000);
    let seed: u64 = std::env::var("CIRRUS_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("fuzz {name}: {iterations} inputs, CIRRUS_FUZZ_SEED={seed}");
    let mut rng = SmallRng::seed_from_u64(seed);
    let started = Instant::now();
    let mut input = Vec::with_capacity(4096);
    for _ in 0..iterations {
        generate(&mut rng, seeds, &mut input);
        check(&input);
    }
    let took = started.elapsed();
    eprintln!(
        "fuzz {name}: {iterations} inputs in {:.1} s ({:.0}/s), nothing found",
        took.as_secs_f64(),
        iterations as f64 / took.as_secs_f64().max(1e-9)
    );
    iterations
}

fn generate(rng: &mut SmallRng, seeds: &[&[u8]], out: &mut Vec<u8>) {
    out.clear();
    if seeds.is_empty() || rng.gen_ratio(1, 16) {
        let len = rng.gen_range(0..256);
        out.extend((0..len).map(|_| rng.r#gen::<u8>()));
        return;
    }
    out.extend_from_slice(seeds[rng.gen_range(0..seeds.len())]);
    // Mostly one mutation, so most inputs stay close enough to the format
    // to reach past its first check; sometimes a few.
    let mutations = if rng.gen_bool(0.5) { 1 } else { rng.gen_range(2..=4) };
    for _ in 0..mutations {
        mutate(rng, seeds, out);
    }
}

fn mutate(rng: &mut SmallRng, seeds: &[&[u8]], out: &mut Vec<u8>) {
    let at = |rng: &mut SmallRng, len: usize| rng.gen_range(0..=len);
    match rng.gen_range(0..8) {
        0 if !out.is_empty() => {
            let i = rng.gen_range(0..out.len());
            out[i] ^= 1 << rng.gen_range(0..8);
        }
        1 => {
            let i = at(rng, out.len());
            let b = INTERESTING[rng.gen_range(0..INTERESTING.len())];
            out.insert(i, b);
        }
        2 if !out.is_empty() => {
            let i = rng.gen_range(0..out.len());
            let n = rng.gen_range(1..=(out.len() - i).min(16));
            out.drain(i..i + n);
        }
        3 if !out.is_empty() => {
            let i = rng.gen_range(0..out.len());
            let n = rng.gen_range(1..=(out.len() - i).min(64));
            let copy: Vec<u8> = out[i..i + n].to_vec();
            let j = at(rng, out.len());
            for _ in 0..rng.gen_range(1..=8) {
                out.splice(j..j, copy.iter().copied());
            }
        }
        4 => {
            let other = seeds[rng.gen_range(0..seeds.len())];
            let from = rng.gen_range(0..=other.len());
            let cut = at(rng, out.len());
            out.truncate(cut);
            out.extend_from_slice(&other[from..]);
        }
        5 => {
            let cut = at(rng, out.len());
            out.truncate(cut);
        }
        6 if !out.is_empty() => {
            let i = rng.gen_range(0..out.len());
            out[i] = rng.r#gen();
        }
        _ => {
            // A long run of one interesting byte: lengths, counts, repetition.
            let b = INTERESTING[rng.gen_range(0..INTERESTING.len())];
            let i = at(rng, out.len());
            let n = rng.gen_range(1..512);
            out.splice(i..i, std::iter::repeat_n(b, n));
        }
    }
}

/// A deterministic source of choices for a check that needs more than the
/// input (where to split it, a length), derived from the input itself.
pub fn choices(input: &[u8]) -> SmallRng {
    let mut seed = 0xcbf2_9ce4_8422_2325u64;
    for &b in input {
        seed = (seed ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    SmallRng::seed_from_u64(seed)
}
