//! RFC 3339 timestamps on the hot path: parsing the form Chirp sends and writing the form dedup
//! keys hash, both without chrono's general-purpose (and allocating) machinery.
//!
//! Both are exact shortcuts: [`deserialize`] gives what chrono's `Deserialize` gives, errors
//! included, and [`Rfc3339`] writes the bytes of chrono's
//! `to_rfc3339_opts(SecondsFormat::AutoSi, true)`. The tests compare them with chrono.

use std::fmt::{self, Write as _};

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use serde::Deserialize;
use serde::de::{self, Deserializer, IntoDeserializer};

/// Deserializes an optional timestamp as chrono's `Option<DateTime<Utc>>` does, parsing the
/// usual `2024-01-15T12:00:00.000Z` form without chrono's parser.
///
/// For `#[serde(default, deserialize_with = "...")]` on `Option<DateTime<Utc>>` fields.
pub(super) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    Ok(Option::<Timestamp>::deserialize(deserializer)?.map(|Timestamp(t)| t))
}

/// A timestamp deserialized like chrono's `DateTime<Utc>`.
pub(super) struct Timestamp(DateTime<Utc>);

impl From<Timestamp> for DateTime<Utc> {
    fn from(Timestamp(t): Timestamp) -> Self {
        t
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TimestampVisitor).map(Self)
    }
}

struct TimestampVisitor;

impl de::Visitor<'_> for TimestampVisitor {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // chrono's, for the same type errors.
        f.write_str("an RFC 3339 formatted date and time string")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<DateTime<Utc>, E> {
        match parse_utc(value) {
            Some(t) => Ok(t),
            // Every other form, and every error, is chrono's.
            None => DateTime::<Utc>::deserialize(value.into_deserializer()),
        }
    }
}

/// Parses exactly `YYYY-MM-DDTHH:MM:SS[.F]Z` with 1 to 9 fractional digits, the form Chirp
/// sends. `None` for anything else (other offsets, lowercase or space separators, a leap second,
/// more digits, an invalid date...), which chrono's parser then handles; whatever this accepts,
/// chrono reads as the same instant.
fn parse_utc(s: &str) -> Option<DateTime<Utc>> {
    let (b'Z', b) = s.as_bytes().split_last()? else {
        return None;
    };
    let (fixed, frac) = b.split_at_checked(19)?;
    if [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')]
        .iter()
        .any(|&(at, sep)| fixed[at] != sep)
    {
        return None;
    }
    let field = |at: usize, len: usize| number(&fixed[at..at + len]);
    let (year, month, day) = (field(0, 4)?, field(5, 2)?, field(8, 2)?);
    let (hour, minute, second) = (field(11, 2)?, field(14, 2)?, field(17, 2)?);
    let nano = match frac {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            // `digits.len()` is at most 9, so this cannot overflow or underflow.
            number(digits)? * 10_u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    if second > 59 {
        return None; // a leap second: chrono's rules
    }
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?
        .and_hms_nano_opt(hour, minute, second, nano)
        .map(|t| t.and_utc())
}

/// The value of a run of ASCII digits (at most 9, so it fits).
fn number(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
    })
}

/// A timestamp written as chrono's `to_rfc3339_opts(SecondsFormat::AutoSi, true)` writes it
/// (`2024-01-15T12:00:05Z`, `2024-01-15T12:00:05.250Z`), on the stack.
pub(super) struct Rfc3339 {
    buf: [u8; Self::CAPACITY],
    len: usize,
}

impl Rfc3339 {
    /// The longest form: `+262143-12-31T23:59:60.999999999Z` (chrono's largest year, signed).
    const CAPACITY: usize = 33;

    /// Formats `t`.
    pub(super) fn new(t: DateTime<Utc>) -> Self {
        // The naive form's accessors skip the (zero) offset arithmetic of `DateTime`'s.
        let t = t.naive_utc();
        let mut out = Self {
            buf: [0; Self::CAPACITY],
            len: 0,
        };
        let year = t.year();
        match u16::try_from(year) {
            Ok(year @ 0..=9999) => {
                out.two_digits(year / 100);
                out.two_digits(year % 100);
            }
            // ISO 8601's explicit sign for years outside 0..=9999, as chrono writes it. It
            // fits, so the write does not fail.
            _ => write!(out, "{year:+05}").unwrap_or_default(),
        }
        // chrono keeps a leap second as a second of 59 with a nanosecond of 1e9 or more.
        let (mut second, mut nano) = (t.second(), t.nanosecond());
        if nano >= 1_000_000_000 {
            second += 1;
            nano -= 1_000_000_000;
        }
        for (sep, value) in [
            (b'-', t.month()),
            (b'-', t.day()),
            (b'T', t.hour()),
            (b':', t.minute()),
            (b':', second),
        ] {
            out.push(sep);
            // All below 100.
            out.two_digits(value as u16);
        }
        if nano != 0 {
            let (value, digits) = if nano % 1_000_000 == 0 {
                (nano / 1_000_000, 3)
            } else if nano % 1_000 == 0 {
                (nano / 1_000, 6)
            } else {
                (nano, 9)
            };
            out.push(b'.');
            out.digits(value, digits);
        }
        out.push(b'Z');
        out
    }

    /// The formatted bytes.
    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn push(&mut self, byte: u8) {
        self.buf[self.len] = byte;
        self.len += 1;
    }

    fn two_digits(&mut self, value: u16) {
        self.digits(u32::from(value), 2);
    }

    /// Writes `value` zero-padded to `width` digits (`value` has at most `width` digits).
    fn digits(&mut self, mut value: u32, width: usize) {
        let end = self.len + width;
        for slot in self.buf[self.len..end].iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
        self.len = end;
    }
}

impl fmt::Write for Rfc3339 {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDateTime, SecondsFormat, TimeDelta};

    use super::*;

    /// chrono's own deserialization, the reference.
    fn chrono_parse(s: &str) -> Result<DateTime<Utc>, String> {
        serde_json::from_value::<DateTime<Utc>>(s.into()).map_err(|e| e.to_string())
    }

    fn ours(s: &str) -> Result<DateTime<Utc>, String> {
        serde_json::from_value::<Timestamp>(s.into())
            .map(|Timestamp(t)| t)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn parses_as_chrono_does() {
        let mut inputs = Vec::new();
        for year in ["0000", "0001", "1900", "2000", "2023", "2024", "9999"] {
            for month in ["00", "01", "02", "04", "12", "13"] {
                for day in ["00", "01", "28", "29", "30", "31", "32"] {
                    inputs.push(format!("{year}-{month}-{day}T12:00:00Z"));
                }
            }
        }
        for time in [
            "00:00:00", "23:59:59", "24:00:00", "23:60:00", "23:59:60", "12:3a:00", "1:00:00",
        ] {
            inputs.push(format!("2024-01-15T{time}Z"));
        }
        for frac in [
            "",
            ".",
            ".1",
            ".12",
            ".123",
            ".000",
            ".000001",
            ".123456789",
            ".1234567891",
        ] {
            inputs.push(format!("2024-01-15T12:00:05{frac}Z"));
        }
        inputs.extend(
            [
                "2024-01-15T12:00:05.000Z",
                "2024-01-15t12:00:05Z",
                "2024-01-15 12:00:05Z",
                "2024-01-15T12:00:05z",
                "2024-01-15T12:00:05+00:00",
                "2024-01-15T13:00:05.5+01:00",
                "2024-01-15T12:00:05 Z",
                "2024-01-15T12:00:05UTC",
                "2016-12-31T23:59:60.5Z",
                "+2024-01-15T12:00:05Z",
                "-0001-01-15T12:00:05Z",
                "12024-01-15T12:00:05Z",
                "2024-01-15T12:00:05",
                "2024-01-15T12:00:05ZZ",
                "2024-01-15",
                "",
                "yesterday",
                "２０２４-01-15T12:00:05Z",
            ]
            .map(str::to_owned),
        );
        for input in &inputs {
            assert_eq!(ours(input), chrono_parse(input), "{input}");
        }
        assert!(parse_utc("2024-01-15T12:00:05.250Z").is_some());

        // Type errors read as chrono's.
        for value in [serde_json::json!(5), serde_json::json!(["x"])] {
            assert_eq!(
                serde_json::from_value::<Timestamp>(value.clone())
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                serde_json::from_value::<DateTime<Utc>>(value)
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            );
        }
    }

    #[test]
    fn formats_as_chrono_does() {
        let base = NaiveDate::from_ymd_opt(2024, 1, 15)
            .unwrap()
            .and_hms_opt(12, 0, 5)
            .unwrap()
            .and_utc();
        let mut times = vec![
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            DateTime::<Utc>::UNIX_EPOCH,
            NaiveDateTime::MIN.and_utc(),
            NaiveDate::from_ymd_opt(-1, 12, 31)
                .unwrap()
                .and_hms_opt(23, 59, 59)
                .unwrap()
                .and_utc(),
            NaiveDate::from_ymd_opt(0, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc(),
            NaiveDate::from_ymd_opt(9999, 12, 31)
                .unwrap()
                .and_hms_nano_opt(23, 59, 59, 999_999_999)
                .unwrap()
                .and_utc(),
            NaiveDate::from_ymd_opt(10000, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc(),
            // Leap seconds.
            NaiveDate::from_ymd_opt(2016, 12, 31)
                .unwrap()
                .and_hms_nano_opt(23, 59, 59, 1_000_000_000)
                .unwrap()
                .and_utc(),
            NaiveDate::from_ymd_opt(2016, 12, 31)
                .unwrap()
                .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
                .unwrap()
                .and_utc(),
        ];
        for nanos in [1, 10, 1_000, 1_001, 120_000, 250_000_000, 999_999_999] {
            times.push(base + TimeDelta::nanoseconds(nanos));
        }
        for t in times {
            let expected = t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
            assert_eq!(
                std::str::from_utf8(Rfc3339::new(t).as_bytes()).unwrap(),
                expected
            );
        }
    }
}
