//! Times as people read and write them on a command line: durations
//! (`500ms`, `30s`, `2m`, `1h`, `90d`, or a bare number of seconds) and
//! instants in RFC 3339.

use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `500ms`, `30s`, `2m`, `1h`, `90d`, or a bare number of seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 30s"))?;
    let seconds_per = match unit.trim() {
        "ms" => return Ok(Duration::from_millis(n)),
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => return Err(format!("{s:?}: unknown unit {other:?} (use ms, s, m, h or d)")),
    };
    n.checked_mul(seconds_per)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is too long"))
}

/// Unix seconds as RFC 3339 in UTC (`2026-12-06T01:02:03Z`).
pub(crate) fn rfc3339(unix_secs: u64) -> String {
    rfc3339_ms(unix_secs.saturating_mul(1000))
}

/// Unix milliseconds as RFC 3339 in UTC, with milliseconds when not whole.
pub(crate) fn rfc3339_ms(unix_ms: u64) -> String {
    let nanos = i128::from(unix_ms) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{unix_ms} ms"))
}

/// An instant given as RFC 3339 (`2027-03-01T00:00:00Z`), as a duration
/// from `now_secs` (`90d`), or as Unix seconds (a bare number, as before);
/// returned in Unix seconds.
pub(crate) fn parse_instant_at(s: &str, now_secs: u64) -> Result<u64, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map_err(|_| format!("{s:?} is too large"));
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return u64::try_from(t.unix_timestamp()).map_err(|_| format!("{s:?} is before 1970"));
    }
    let d = parse_duration(s)
        .map_err(|_| format!("{s:?} is neither an RFC 3339 time (2027-03-01T00:00:00Z) nor a duration (90d)"))?;
    Ok(now_secs.saturating_add(d.as_secs()))
}

/// [`parse_instant_at`] from the current time (a clap value parser).
pub(crate) fn parse_instant(s: &str) -> Result<u64, String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    parse_instant_at(s, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_read_and_written() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(parse_instant_at("2023-11-14T22:13:20Z", 0), Ok(1_700_000_000));
        assert_eq!(parse_instant_at("2023-11-14T23:13:20+01:00", 0), Ok(1_700_000_000));
        assert_eq!(parse_instant_at("90d", 1000), Ok(1000 + 90 * 86_400));
        assert_eq!(
            parse_instant_at("1700000000", 5),
            Ok(1_700_000_000),
            "Unix seconds, as before"
        );
        assert!(parse_instant_at("next tuesday", 0).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3h"), Ok(Duration::from_secs(3 * 3600)));
        assert_eq!(parse_duration("90d"), Ok(Duration::from_secs(90 * 86_400)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3w").is_err());
        assert!(parse_duration("99999999999999999d").is_err());
    }
}
