//! Timestamps: the ILPv4 17-digit form and the legacy GeneralizedTime form.
//!
//! ILPv4 writes `expiresAt` as 17 ASCII digits `YYYYMMDDHHmmSSfff` (UTC) with
//! no length prefix. The legacy packets, CLP and BTP write a var-octet-string
//! holding `YYYYMMDDHHmmSS.fffZ`. Both carry milliseconds; [`Timestamp`]
//! holds milliseconds since the Unix epoch for any instant of the years
//! 0000 to 9999, the range both forms can express.
//!
//! Strict decoding accepts only real calendar instants (month 1–12, a day
//! that exists in that month, hour ≤ 23, minute and second ≤ 59), so every
//! accepted timestamp re-encodes to the same digits. Lenient decoding
//! normalizes out-of-range fields the way JavaScript's `Date.UTC` does
//! (month 13 is January of the next year, second 60 the next minute).

use crate::Mode;

/// An instant with millisecond precision, between 0000-01-01T00:00:00.000Z
/// and 9999-12-31T23:59:59.999Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    unix_ms: i64,
}

const MS_PER_DAY: i64 = 86_400_000;

/// Calendar fields of an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    millisecond: i64,
}

/// Days from 1970-01-01 to the given proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses `N` ASCII digits.
fn digits(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(bytes.iter().fold(0i64, |acc, &b| acc * 10 + i64::from(b - b'0')))
}

fn push_digits(out: &mut [u8], value: i64) {
    let mut v = value;
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

impl Timestamp {
    /// The earliest representable instant, 0000-01-01T00:00:00.000Z.
    pub const MIN: Timestamp = Timestamp {
        unix_ms: -62_167_219_200_000,
    };
    /// The latest representable instant, 9999-12-31T23:59:59.999Z.
    pub const MAX: Timestamp = Timestamp {
        unix_ms: 253_402_300_799_999,
    };

    /// The instant `unix_ms` milliseconds after 1970-01-01T00:00:00Z, or
    /// `None` outside [`Timestamp::MIN`]..=[`Timestamp::MAX`].
    pub const fn from_unix_ms(unix_ms: i64) -> Option<Self> {
        if unix_ms < Self::MIN.unix_ms || unix_ms > Self::MAX.unix_ms {
            None
        } else {
            Some(Self { unix_ms })
        }
    }

    /// Milliseconds since 1970-01-01T00:00:00Z (negative before it).
    pub const fn unix_ms(self) -> i64 {
        self.unix_ms
    }

    fn civil(self) -> Civil {
        let days = self.unix_ms.div_euclid(MS_PER_DAY);
        let ms_of_day = self.unix_ms.rem_euclid(MS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: ms_of_day / 3_600_000,
            minute: ms_of_day / 60_000 % 60,
            second: ms_of_day / 1000 % 60,
            millisecond: ms_of_day % 1000,
        }
    }

    fn from_civil(c: Civil, mode: Mode) -> Option<Self> {
        match mode {
            Mode::Strict => {
                let valid = (1..=12).contains(&c.month)
                    && (1..=days_in_month(c.year, c.month)).contains(&c.day)
                    && c.hour <= 23
                    && c.minute <= 59
                    && c.second <= 59;
                if !valid {
                    return None;
                }
                let days = days_from_civil(c.year, c.month, c.day);
                Self::from_unix_ms(
                    days * MS_PER_DAY + c.hour * 3_600_000 + c.minute * 60_000 + c.second * 1000 + c.millisecond,
                )
            }
            Mode::Lenient => {
                // Date.UTC: fold the month into the year, then add every
                // other field as an offset from the first of that month.
                let year = c.year + (c.month - 1).div_euclid(12);
                let month = (c.month - 1).rem_euclid(12) + 1;
                let days = days_from_civil(year, month, 1) + c.day - 1;
                Self::from_unix_ms(
                    days * MS_PER_DAY + c.hour * 3_600_000 + c.minute * 60_000 + c.second * 1000 + c.millisecond,
                )
            }
        }
    }

    /// Parses the ILPv4 form, 17 ASCII digits `YYYYMMDDHHmmSSfff`.
    pub fn from_ilp_digits(input: &[u8; 17], mode: Mode) -> Option<Self> {
        // One check for all 17 digits, then plain arithmetic per field
        // (this runs on every Prepare decoded).
        let all_digits = input.iter().fold(true, |ok, b| ok & b.is_ascii_digit());
        if !all_digits {
            return None;
        }
        let d = |i: usize| i64::from(input[i] - b'0');
        let civil = Civil {
            year: d(0) * 1000 + d(1) * 100 + d(2) * 10 + d(3),
            month: d(4) * 10 + d(5),
            day: d(6) * 10 + d(7),
            hour: d(8) * 10 + d(9),
            minute: d(10) * 10 + d(11),
            second: d(12) * 10 + d(13),
            millisecond: d(14) * 100 + d(15) * 10 + d(16),
        };
        Self::from_civil(civil, mode)
    }

    /// The ILPv4 form, 17 ASCII digits `YYYYMMDDHHmmSSfff`.
    pub fn to_ilp_digits(self) -> [u8; 17] {
        let c = self.civil();
        let mut out = [0u8; 17];
        push_digits(&mut out[0..4], c.year);
        push_digits(&mut out[4..6], c.month);
        push_digits(&mut out[6..8], c.day);
        push_digits(&mut out[8..10], c.hour);
        push_digits(&mut out[10..12], c.minute);
        push_digits(&mut out[12..14], c.second);
        push_digits(&mut out[14..17], c.millisecond);
        out
    }

    /// Parses the GeneralizedTime form `YYYYMMDDHHmmSS.fffZ` (19 bytes).
    pub fn from_generalized_time(input: &[u8], mode: Mode) -> Option<Self> {
        let input: &[u8; 19] = input.try_into().ok()?;
        if input[14] != b'.' || input[18] != b'Z' {
            return None;
        }
        let mut ilp = [0u8; 17];
        ilp[..14].copy_from_slice(&input[..14]);
        ilp[14..].copy_from_slice(&input[15..18]);
        Self::from_ilp_digits(&ilp, mode)
    }

    /// The GeneralizedTime form `YYYYMMDDHHmmSS.fffZ` (19 bytes).
    pub fn to_generalized_time(self) -> [u8; 19] {
        let ilp = self.to_ilp_digits();
        let mut out = [0u8; 19];
        out[..14].copy_from_slice(&ilp[..14]);
        out[14] = b'.';
        out[15..18].copy_from_slice(&ilp[14..]);
        out[18] = b'Z';
        out
    }

    /// Parses ISO-8601 UTC with milliseconds, exactly `YYYY-MM-DDTHH:mm:SS.fffZ`
    /// (the form JavaScript's `Date.prototype.toISOString` writes).
    pub fn parse_iso8601(input: &str) -> Option<Self> {
        let b: &[u8; 24] = input.as_bytes().try_into().ok()?;
        let separators = [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'.'),
            (23, b'Z'),
        ];
        if separators.iter().any(|&(i, c)| b[i] != c) {
            return None;
        }
        let civil = Civil {
            year: digits(&b[0..4])?,
            month: digits(&b[5..7])?,
            day: digits(&b[8..10])?,
            hour: digits(&b[11..13])?,
            minute: digits(&b[14..16])?,
            second: digits(&b[17..19])?,
            millisecond: digits(&b[20..23])?,
        };
        Self::from_civil(civil, Mode::Strict)
    }

    /// Converts to a [`std::time::SystemTime`].
    pub fn to_system_time(self) -> std::time::SystemTime {
        let magnitude = std::time::Duration::from_millis(self.unix_ms.unsigned_abs());
        if self.unix_ms >= 0 {
            std::time::UNIX_EPOCH + magnitude
        } else {
            std::time::UNIX_EPOCH - magnitude
        }
    }
}

/// ISO-8601 UTC with milliseconds: `2017-09-14T12:34:56.789Z`.
impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = self.civil();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            c.year, c.month, c.day, c.hour, c.minute, c.second, c.millisecond
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ilp_digits_round_trip_across_the_whole_range() {
        for ms in [
            Timestamp::MIN.unix_ms(),
            -1,
            0,
            1,
            1_505_392_496_789,
            951_782_400_000,
            Timestamp::MAX.unix_ms(),
        ] {
            let t = Timestamp::from_unix_ms(ms).unwrap();
            assert_eq!(Timestamp::from_ilp_digits(&t.to_ilp_digits(), Mode::Strict), Some(t));
            assert_eq!(
                Timestamp::from_generalized_time(&t.to_generalized_time(), Mode::Strict),
                Some(t)
            );
            assert_eq!(Timestamp::parse_iso8601(&t.to_string()), Some(t));
        }
        let t = Timestamp::from_unix_ms(1_505_392_496_789).unwrap();
        assert_eq!(&t.to_ilp_digits(), b"20170914123456789");
        assert_eq!(&t.to_generalized_time(), b"20170914123456.789Z");
        assert_eq!(t.to_string(), "2017-09-14T12:34:56.789Z");
        assert_eq!(Timestamp::from_unix_ms(Timestamp::MAX.unix_ms() + 1), None);
    }

    #[test]
    fn strict_mode_rejects_impossible_dates_and_lenient_mode_normalizes_them() {
        for bad in [
            b"20170229000000000",
            b"20171301000000000",
            b"20170100000000000",
            b"20170101240000000",
            b"20170101006000000",
            b"20170101000060000",
        ] {
            assert_eq!(Timestamp::from_ilp_digits(bad, Mode::Strict), None, "{bad:?}");
        }
        assert_eq!(
            Timestamp::from_ilp_digits(b"20171301000000000", Mode::Lenient),
            Timestamp::from_ilp_digits(b"20180101000000000", Mode::Strict)
        );
        assert_eq!(
            Timestamp::from_ilp_digits(b"20170229000000000", Mode::Lenient),
            Timestamp::from_ilp_digits(b"20170301000000000", Mode::Strict)
        );
        assert!(Timestamp::from_ilp_digits(b"2000022900000000a", Mode::Lenient).is_none());
        assert!(Timestamp::from_ilp_digits(b"20000229000000000", Mode::Strict).is_some());
        assert!(Timestamp::from_generalized_time(b"20170914123456.789", Mode::Strict).is_none());
        assert!(Timestamp::from_generalized_time(b"20170914123456,789Z", Mode::Strict).is_none());
    }
}
