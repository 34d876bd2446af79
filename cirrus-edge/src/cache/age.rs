//! `Age` (RFC 9111 §5.1, §4.2.3): what a response arrives with and what
//! the edge sends on. Ages are delta-seconds, capped at 2^31 (§1.2.2).

use crate::head::{Fields, Known};

/// The greatest age the edge represents; larger values and overflows become it.
pub(crate) const MAX_AGE: u64 = 1 << 31;

/// The `Age` a response arrived with: the first member of the field,
/// ignored (`None`) when it is not a non-negative integer, capped at 2^31.
pub(crate) fn received(headers: &Fields) -> Option<u64> {
    let first = headers.get(Known::Age)?.split(|b| *b == b',').next()?.trim_ascii();
    if first.is_empty() || !first.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        first
            .iter()
            .try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
            .map_or(MAX_AGE, |a| a.min(MAX_AGE)),
    )
}

/// `initial` plus `resident` seconds, without overflow.
pub(crate) fn add(initial: u64, resident: u64) -> u64 {
    initial.saturating_add(resident).min(MAX_AGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(values: &[&str]) -> Option<u64> {
        let mut h = Fields::new();
        for v in values {
            h.append(Known::Age, v).expect("test value");
        }
        received(&h)
    }

    #[test]
    fn received_ages_follow_rfc_9111() {
        assert_eq!(age(&[]), None, "missing");
        assert_eq!(age(&["120"]), Some(120));
        assert_eq!(age(&[" 7 "]), Some(7));
        assert_eq!(age(&["5, 9"]), Some(5), "a list: its first member");
        assert_eq!(age(&["3", "4"]), Some(3), "two fields: the first");
        assert_eq!(age(&["abc"]), None, "non-numeric: ignored");
        assert_eq!(age(&["-5"]), None, "negative: ignored");
        assert_eq!(age(&["1.5"]), None);
        assert_eq!(age(&[""]), None);
        assert_eq!(age(&["99999999999999999999999"]), Some(MAX_AGE), "overflow: 2^31");
        assert_eq!(age(&["2147483649"]), Some(MAX_AGE));
    }

    #[test]
    fn adding_resident_time_never_overflows() {
        assert_eq!(add(10, 5), 15);
        assert_eq!(add(MAX_AGE - 1, 10), MAX_AGE);
        assert_eq!(add(u64::MAX, u64::MAX), MAX_AGE);
    }
}
