//! Instants as Unix seconds, read and written as RFC 3339 (UTC, `Z`).

use std::fmt;

/// An instant, in whole seconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Seconds in a UTC day.
pub const SECONDS_PER_DAY: i64 = 86_400;
/// Earliest accepted instant: 1970-01-01T00:00:00Z.
const MIN_SECONDS: i64 = 0;
/// Latest accepted instant: 9999-12-31T23:59:59Z.
const MAX_SECONDS: i64 = 253_402_300_799;

impl Timestamp {
    /// The current time from the system clock.
    pub fn now() -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Self(secs)
    }

    /// Wraps Unix seconds.
    pub const fn from_unix(secs: i64) -> Self {
        Self(secs)
    }

    /// Unix seconds.
    pub const fn unix(self) -> i64 {
        self.0
    }

    /// This instant plus `secs` seconds (saturating).
    pub const fn plus_seconds(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs))
    }

    /// The month this instant falls in, UTC, counted from January 1970 (month 0).
    pub fn month_index(self) -> i64 {
        let (year, month, _) = civil_from_days(self.0.div_euclid(SECONDS_PER_DAY));
        (year - 1970) * 12 + month - 1
    }

    /// The first instant of a month counted as [`Timestamp::month_index`] does.
    pub fn month_start(index: i64) -> Self {
        let (year, month) = (1970 + index.div_euclid(12), index.rem_euclid(12) + 1);
        Self(days_from_civil(year, month, 1) * SECONDS_PER_DAY)
    }

    /// Parses an RFC 3339 date-time (`2027-01-31T12:00:00Z`, `…+02:00`, optional fraction,
    /// which is truncated to whole seconds). Years 1970 to 9999.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.len() < 20 {
            return None;
        }
        let num = |range: std::ops::Range<usize>| -> Option<i64> {
            let part = b.get(range)?;
            if !part.iter().all(u8::is_ascii_digit) {
                return None;
            }
            Some(
                part.iter()
                    .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')),
            )
        };
        if b[4] != b'-'
            || b[7] != b'-'
            || !matches!(b[10], b'T' | b't')
            || b[13] != b':'
            || b[16] != b':'
        {
            return None;
        }
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return None;
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let mut rest = &b[19..];
        if rest.first() == Some(&b'.') {
            let digits = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return None;
            }
            rest = &rest[1 + digits..];
        }
        let offset = match rest {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let digits = [*h1, *h2, *m1, *m2];
                if !digits.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                let h = i64::from(h1 - b'0') * 10 + i64::from(h2 - b'0');
                let m = i64::from(m1 - b'0') * 10 + i64::from(m2 - b'0');
                if h > 23 || m > 59 {
                    return None;
                }
                let total = h * 3600 + m * 60;
                if *sign == b'+' { total } else { -total }
            }
            _ => return None,
        };
        let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
            - offset;
        (MIN_SECONDS..=MAX_SECONDS)
            .contains(&secs)
            .then_some(Self(secs))
    }
}

impl fmt::Display for Timestamp {
    /// Formats as RFC 3339 in UTC with a `Z` suffix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    /// Reads an RFC 3339 instant (see [`Timestamp::parse_rfc3339`]).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse_rfc3339(&text)
            .ok_or_else(|| serde::de::Error::custom("expected an RFC 3339 instant"))
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (inverse of `days_from_civil`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Option<i64> {
        Timestamp::parse_rfc3339(text).map(Timestamp::unix)
    }

    #[test]
    fn an_instant_reads_back_from_its_json_form_and_nothing_else_does() {
        let at = Timestamp::from_unix(1_795_733_675);
        let json = serde_json::to_string(&at).unwrap();
        assert_eq!(json, "\"2026-11-26T22:54:35Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), at);
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
        assert!(serde_json::from_str::<Timestamp>("1795733675").is_err());
    }

    #[test]
    fn the_epoch_and_known_instants_parse_to_their_unix_seconds() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse("2000-03-01T00:00:00Z"), Some(951_868_800));
        assert_eq!(parse("2026-11-26T22:54:35Z"), Some(1_795_733_675));
        assert_eq!(parse("9999-12-31T23:59:59Z"), Some(MAX_SECONDS));
    }

    #[test]
    fn offsets_are_applied_and_fractions_truncated() {
        assert_eq!(parse("2026-11-27T00:54:35+02:00"), Some(1_795_733_675));
        assert_eq!(parse("2026-11-26T20:54:35-02:00"), Some(1_795_733_675));
        assert_eq!(parse("2026-11-26T22:54:35.999Z"), Some(1_795_733_675));
        assert_eq!(parse("2026-11-26t22:54:35z"), Some(1_795_733_675));
    }

    #[test]
    fn impossible_or_sloppy_dates_are_refused() {
        for bad in [
            "",
            "2026-11-26",
            "2026-11-26 22:54:35Z",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-10T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-11-26T24:00:00Z",
            "2026-11-26T23:60:00Z",
            "2026-11-26T23:59:60Z",
            "2026-11-26T22:54:35",
            "2026-11-26T22:54:35+0200",
            "2026-11-26T22:54:35.Z",
            "2026-11-26T22:54:35Zjunk",
            "1969-12-31T23:59:59Z",
            "+2026-11-26T22:54:35Z",
            "２０２６-11-26T22:54:35Z",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(parse("2024-02-29T00:00:00Z"), Some(1_709_164_800));
    }

    #[test]
    fn months_are_counted_from_january_1970_and_start_at_midnight_utc() {
        let feb_2028 = Timestamp::from_unix(parse("2028-02-29T23:59:59Z").unwrap());
        assert_eq!(feb_2028.month_index(), 58 * 12 + 1);
        assert_eq!(
            Timestamp::month_start(feb_2028.month_index()).unix(),
            parse("2028-02-01T00:00:00Z").unwrap()
        );
        assert_eq!(
            Timestamp::month_start(feb_2028.month_index() + 1).unix(),
            parse("2028-03-01T00:00:00Z").unwrap()
        );
        assert_eq!(Timestamp::from_unix(0).month_index(), 0);
    }

    #[test]
    fn formatting_round_trips_through_parsing() {
        for secs in [
            0,
            1,
            59,
            86_399,
            86_400,
            951_868_800,
            1_795_733_675,
            MAX_SECONDS,
        ] {
            let text = Timestamp::from_unix(secs).to_string();
            assert_eq!(parse(&text), Some(secs), "{text}");
        }
        assert_eq!(
            Timestamp::from_unix(1_795_733_675).to_string(),
            "2026-11-26T22:54:35Z"
        );
    }
}
