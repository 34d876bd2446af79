//! Path globs of cache rules (`*` within a segment, `**` across segments),
//! matched in time linear in the path whatever the pattern: a glob is a
//! small NFA whose state set is one `u128`, advanced once per path byte
//! (shift-and), so no pattern can make a request backtrack.

/// Longest glob a cache rule may have, in bytes: each byte is at most one
/// NFA state, and the states plus the accepting one fit in a `u128`.
pub const MAX_GLOB_LEN: usize = 127;

/// Most wildcards (`*` or `**`, each counting once) in one glob.
pub const MAX_GLOB_WILDCARDS: usize = 16;

/// Why a glob is refused, or `None` when it is within the limits.
pub(crate) fn glob_problem(pattern: &str) -> Option<String> {
    if pattern.len() > MAX_GLOB_LEN {
        return Some(format!("a glob may be at most {MAX_GLOB_LEN} bytes"));
    }
    let wildcards = Compiled::new(pattern.as_bytes()).wildcards;
    (wildcards > MAX_GLOB_WILDCARDS)
        .then(|| format!("a glob may have at most {MAX_GLOB_WILDCARDS} wildcards ('*' or '**')"))
}

/// True when `path` matches `pattern`: `*` matches any bytes but `/`, `**`
/// any bytes at all, every other byte itself. A pattern longer than
/// [`MAX_GLOB_LEN`] (refused by validation) matches nothing.
pub(crate) fn glob_matches(pattern: &str, path: &str) -> bool {
    if pattern.len() > MAX_GLOB_LEN {
        return false;
    }
    Compiled::new(pattern.as_bytes()).matches(path.as_bytes())
}

/// A glob as masks over its token positions: bit `i` of a state set means
/// "the first `i` tokens matched"; bit `len` is acceptance.
struct Compiled {
    /// Positions whose token is a literal, with that literal.
    literals: [(u8, u128); MAX_GLOB_LEN],
    literal_count: usize,
    /// Positions holding `*`.
    star: u128,
    /// Positions holding `**`.
    any: u128,
    /// Token count.
    len: usize,
    wildcards: usize,
}

impl Compiled {
    fn new(pattern: &[u8]) -> Self {
        let mut c = Compiled {
            literals: [(0, 0); MAX_GLOB_LEN],
            literal_count: 0,
            star: 0,
            any: 0,
            len: 0,
            wildcards: 0,
        };
        let mut i = 0;
        while i < pattern.len() && c.len < MAX_GLOB_LEN {
            let bit = 1u128 << c.len;
            if pattern[i] == b'*' {
                c.wildcards += 1;
                if pattern.get(i + 1) == Some(&b'*') {
                    c.any |= bit;
                    i += 1;
                } else {
                    c.star |= bit;
                }
            } else {
                c.add_literal(pattern[i], bit);
            }
            c.len += 1;
            i += 1;
        }
        c
    }

    /// Records `byte` at the position `bit`, one mask per distinct byte.
    fn add_literal(&mut self, byte: u8, bit: u128) {
        let known = &mut self.literals[..self.literal_count];
        match known.iter_mut().find(|(b, _)| *b == byte) {
            Some((_, mask)) => *mask |= bit,
            None => {
                self.literals[self.literal_count] = (byte, bit);
                self.literal_count += 1;
            }
        }
    }

    /// Adds the states reached by letting wildcards match nothing.
    fn closure(&self, mut states: u128) -> u128 {
        let wild = self.star | self.any;
        loop {
            let next = states | ((states & wild) << 1);
            if next == states {
                return states;
            }
            states = next;
        }
    }

    fn matches(&self, path: &[u8]) -> bool {
        // One table lookup per path byte instead of a scan of the literals.
        let mut by_byte = [0u128; 256];
        for &(byte, mask) in &self.literals[..self.literal_count] {
            by_byte[usize::from(byte)] = mask;
        }
        let mut states = self.closure(1);
        for &b in path {
            let mut next = ((states & by_byte[usize::from(b)]) << 1) | (states & self.any);
            if b != b'/' {
                next |= states & self.star;
            }
            if next == 0 {
                return false;
            }
            states = self.closure(next);
        }
        states & (1u128 << self.len) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, Instant};

    /// The plain recursive definition, memoised so it is usable as a
    /// reference on short inputs.
    fn reference(pattern: &[u8], path: &[u8]) -> bool {
        fn go(p: &[u8], s: &[u8], memo: &mut std::collections::HashMap<(usize, usize), bool>) -> bool {
            if let Some(&r) = memo.get(&(p.len(), s.len())) {
                return r;
            }
            let r = match p {
                [] => s.is_empty(),
                [b'*', b'*', rest @ ..] => (0..=s.len()).any(|i| go(rest, &s[i..], memo)),
                [b'*', rest @ ..] => {
                    let end = s.iter().position(|&b| b == b'/').unwrap_or(s.len());
                    (0..=end).any(|i| go(rest, &s[i..], memo))
                }
                [c, rest @ ..] => s.first() == Some(c) && go(rest, &s[1..], memo),
            };
            memo.insert((p.len(), s.len()), r);
            r
        }
        go(pattern, path, &mut Default::default())
    }

    #[test]
    fn stars_stay_in_a_segment_and_double_stars_cross() {
        assert!(glob_matches("/img/*/thumb-*.png", "/img/a/thumb-1.png"));
        assert!(!glob_matches("/img/*/thumb-*.png", "/img/a/b/thumb-1.png"));
        assert!(glob_matches("/static/**", "/static/a/b/c.txt"));
        assert!(glob_matches("/static/**", "/static/"));
        assert!(!glob_matches("/static/**", "/static"));
        assert!(glob_matches("/**.js", "/a/b/app.js"));
        assert!(glob_matches("/*", "/"));
        assert!(!glob_matches("/*", "/a/"));
        assert!(glob_matches("/a***b", "/a/x/b"), "** then * still crosses");
        assert!(glob_matches("/exact", "/exact"));
        assert!(!glob_matches("/exact", "/exactly"));
    }

    #[test]
    fn the_reported_pathological_glob_is_instant() {
        let path = format!("/{}", "a".repeat(300));
        let start = Instant::now();
        assert!(!glob_matches("/**a**a**a**a**b", &path));
        assert!(start.elapsed() < Duration::from_millis(50));
    }

    #[test]
    fn limits_are_reported() {
        assert_eq!(glob_problem("/**/*.css"), None);
        assert!(glob_problem(&format!("/{}", "a".repeat(MAX_GLOB_LEN))).is_some());
        assert!(glob_problem(&"/*".repeat(MAX_GLOB_WILDCARDS + 1)).is_some());
        assert_eq!(glob_problem(&"/*".repeat(MAX_GLOB_WILDCARDS)), None);
        assert!(!glob_matches(
            &"/".repeat(MAX_GLOB_LEN + 1),
            &"/".repeat(MAX_GLOB_LEN + 1)
        ));
    }

    /// Fuzzed patterns and paths (`pattern NUL path`): the matcher agrees
    /// with the recursive definition, and validation never panics.
    #[test]
    fn fuzzed_globs_agree_with_the_definition() {
        let seeds: &[&[u8]] = &[
            b"/img/*/thumb-*.png\0/img/a/thumb-1.png",
            b"/**a**a**a**a**b\0/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            b"/static/**\0/static/a/b/c.txt",
            b"/*.css\0/a.css",
        ];
        cirrus_test_support::fuzz::fuzz("glob", seeds, |input| {
            let (pattern, path) = match input.iter().position(|&b| b == 0) {
                Some(i) => (&input[..i], &input[i + 1..]),
                None => (input, &b""[..]),
            };
            let (Ok(pattern), Ok(path)) = (std::str::from_utf8(pattern), std::str::from_utf8(path)) else {
                return;
            };
            let _ = glob_problem(pattern);
            let matched = glob_matches(pattern, path);
            // The reference is quadratic: compared on paths it can afford.
            if pattern.len() <= MAX_GLOB_LEN && path.len() <= 300 {
                assert_eq!(
                    matched,
                    reference(pattern.as_bytes(), path.as_bytes()),
                    "{pattern:?} against {path:?}"
                );
            }
        });
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn agrees_with_the_definition(pattern in "[ab/*]{0,24}", path in "[ab/]{0,40}") {
            prop_assert_eq!(glob_matches(&pattern, &path), reference(pattern.as_bytes(), path.as_bytes()));
        }

        /// Any pattern within the limits against an 8 KiB path: under a
        /// millisecond (the best of three runs, so a busy machine does not
        /// fail it; even an unoptimised build is far below).
        #[test]
        fn every_glob_matches_an_8_kib_path_in_under_a_millisecond(
            pattern in "/[ab/*]{0,126}",
            fill in prop::sample::select(vec![b'a', b'b', b'/']),
        ) {
            let mut path = vec![fill; 8192];
            path[0] = b'/';
            let path = String::from_utf8(path).expect("ASCII");
            let best = (0..3)
                .map(|_| {
                    let start = Instant::now();
                    std::hint::black_box(glob_matches(&pattern, &path));
                    start.elapsed()
                })
                .min()
                .unwrap_or_default();
            prop_assert!(best < Duration::from_millis(1), "{pattern:?}: {best:?}");
        }
    }
}
