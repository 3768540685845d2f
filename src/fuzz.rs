//! A small seeded mutation fuzzer for the parsers that take bytes from
//! outside (tunnel frames, MQTT packets and topics, twin payloads, API
//! paths, selectors and bodies), on stable Rust and in the normal test run.
//! Each target starts from seeds built in code plus the files kept under
//! `tests/corpus/<target>/`, mutates them (bit flips, interesting bytes,
//! inserts, deletes, duplicated runs, splices of two inputs) with a fixed
//! seed, and fails on the first panic or broken property, printing the
//! input. Bounded by a count (`HIVE_FUZZ_ITERS`, default 20,000 per target;
//! `HIVE_FUZZ_SEED` picks another seed); `HIVE_FUZZ_SAVE=1` writes the
//! inputs that reached an outcome not seen before into the corpus.
//!
//! Owns: the mutation loop. Must not know any parser.

use std::collections::BTreeSet;
use std::path::PathBuf;

pub struct Fuzzer {
    name: &'static str,
    rng: fastrand::Rng,
    corpus: Vec<Vec<u8>>,
    /// Outcome labels reached (a stand-in for coverage).
    pub outcomes: BTreeSet<String>,
    pub execs: u64,
}

fn corpus_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(name)
}

const INTERESTING: &[u8] = &[0, 1, 0x7f, 0x80, 0xff, b'/', b'#', b'+', b'$', b'~', b'"', b'{', b'}', b'%', b'=', b',', b'\\', b'.'];

impl Fuzzer {
    /// A fuzzer for `name`, seeded with `seeds` and the kept corpus.
    pub fn new(name: &'static str, seeds: Vec<Vec<u8>>) -> Fuzzer {
        let seed = std::env::var("HIVE_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_u64);
        let mut corpus = seeds;
        if let Ok(dir) = std::fs::read_dir(corpus_dir(name)) {
            let mut files: Vec<PathBuf> = dir.filter_map(|e| Some(e.ok()?.path())).collect();
            files.sort();
            corpus.extend(files.iter().filter_map(|f| std::fs::read(f).ok()));
        }
        if corpus.is_empty() {
            corpus.push(Vec::new());
        }
        Fuzzer { name, rng: fastrand::Rng::with_seed(seed), corpus, outcomes: BTreeSet::new(), execs: 0 }
    }

    /// Run `target` on every corpus entry, then on `HIVE_FUZZ_ITERS`
    /// mutations. `target` returns a label for what the input reached (an
    /// error kind, a parsed kind) and panics on a broken property.
    pub fn run(&mut self, mut target: impl FnMut(&[u8]) -> String) {
        let iters: u64 = std::env::var("HIVE_FUZZ_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(20_000);
        let save = std::env::var("HIVE_FUZZ_SAVE").is_ok_and(|v| v == "1");
        for i in 0..self.corpus.len() {
            let input = self.corpus[i].clone();
            self.one(&mut target, &input, false);
        }
        for _ in 0..iters {
            let input = self.mutate();
            if self.one(&mut target, &input, save) && self.corpus.len() < 4096 {
                self.corpus.push(input);
            }
        }
        eprintln!("fuzz {}: {} executions, {} distinct outcomes, corpus {}", self.name, self.execs, self.outcomes.len(), self.corpus.len());
    }

    /// Returns whether the input reached a new outcome.
    fn one(&mut self, target: &mut impl FnMut(&[u8]) -> String, input: &[u8], save: bool) -> bool {
        self.execs += 1;
        let label = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target(input))) {
            Ok(l) => l,
            Err(_) => panic!("fuzz {}: input {:?} (as text: {:?}) panicked", self.name, input, String::from_utf8_lossy(input)),
        };
        let new = self.outcomes.insert(label);
        if new && save {
            let dir = corpus_dir(self.name);
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(dir.join(format!("{:04}", self.outcomes.len())), input);
        }
        new
    }

    fn mutate(&mut self) -> Vec<u8> {
        let mut v = self.corpus[self.rng.usize(..self.corpus.len())].clone();
        for _ in 0..self.rng.usize(1..=4) {
            let len = v.len();
            match self.rng.u8(..7) {
                0 if len > 0 => {
                    let i = self.rng.usize(..len);
                    v[i] ^= 1 << self.rng.u8(..8);
                }
                1 if len > 0 => {
                    let i = self.rng.usize(..len);
                    v[i] = INTERESTING[self.rng.usize(..INTERESTING.len())];
                }
                2 => {
                    let i = self.rng.usize(..=len);
                    let b = if self.rng.bool() { INTERESTING[self.rng.usize(..INTERESTING.len())] } else { self.rng.u8(..) };
                    v.insert(i, b);
                }
                3 if len > 0 => {
                    let a = self.rng.usize(..len);
                    let b = (a + self.rng.usize(1..=16)).min(len);
                    v.drain(a..b);
                }
                4 if len > 0 => {
                    let a = self.rng.usize(..len);
                    let b = (a + self.rng.usize(1..=32)).min(len);
                    let run = v[a..b].to_vec();
                    let at = self.rng.usize(..=v.len());
                    v.splice(at..at, run);
                }
                5 => {
                    let other = &self.corpus[self.rng.usize(..self.corpus.len())];
                    let cut = self.rng.usize(..=v.len());
                    let from = self.rng.usize(..=other.len());
                    v.truncate(cut);
                    v.extend_from_slice(&other[from..]);
                }
                _ if len > 0 => {
                    // A length-like byte pushed to an extreme.
                    let i = self.rng.usize(..len);
                    v[i] = if self.rng.bool() { 0xff } else { 0 };
                }
                _ => v.push(self.rng.u8(..)),
            }
        }
        v.truncate(1 << 16);
        v
    }
}
