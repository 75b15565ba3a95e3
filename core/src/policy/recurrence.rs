//! When a recurring freeze window starts: a cron expression or an RFC 5545 `RRULE`, both read
//! into one set of matching local times (minute, hour, day of month, month, weekday).
//!
//! Windows have no `DTSTART`, so an `RRULE` must name what `DTSTART` would otherwise supply: the
//! weekday of a weekly rule, the day of a monthly or yearly one. `BYHOUR` and `BYMINUTE` default
//! to 0. Rules that count occurrences from a start (`INTERVAL` above 1, `COUNT`, `BYSETPOS`,
//! ordinal `BYDAY` such as `-1FR`) are refused with a sentence that says so.

use jiff::civil::Date;

/// The local times at which a window starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recurrence {
    /// Bit `m` for minute `m` (0–59).
    minutes: u64,
    /// Bit `h` for hour `h` (0–23).
    hours: u32,
    /// Bit `d` for day of month `d` (1–31).
    month_days: u32,
    /// Bit `m` for month `m` (1–12).
    months: u16,
    /// Bit `0` for Monday … bit `6` for Sunday.
    weekdays: u8,
    /// Cron's rule: when both day fields are restricted, a day matching either one matches.
    either_day: bool,
}

const ALL_HOURS: u32 = (1 << 24) - 1;
// Days 1 to 31; bit 0 stands for no day.
const ALL_MONTH_DAYS: u32 = !1;
const ALL_MONTHS: u16 = ((1 << 13) - 1) & !1;
const ALL_WEEKDAYS: u8 = (1 << 7) - 1;

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
/// Cron counts weekdays from Sunday (0, and 7 again).
const CRON_DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
/// RFC 5545 weekday codes, from Monday.
const RRULE_DAYS: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

impl Recurrence {
    /// Reads a five-field cron expression (`minute hour day-of-month month day-of-week`, with
    /// `*`, lists, ranges, steps and English names) or one of `@yearly`, `@monthly`, `@weekly`,
    /// `@daily`, `@hourly`.
    pub fn cron(text: &str) -> Result<Self, String> {
        let expanded = match text.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other if other.starts_with('@') => {
                return Err(format!(
                    "unknown cron macro {other:?}; use @yearly, @monthly, @weekly, @daily or @hourly"
                ));
            }
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "a cron expression has 5 fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            ));
        }
        let minutes = cron_field(fields[0], "minute", 0, 59, &[])?;
        let hours = cron_field(fields[1], "hour", 0, 23, &[])?;
        let month_days = cron_field(fields[2], "day-of-month", 1, 31, &[])?;
        let months = cron_field(fields[3], "month", 1, 12, &MONTH_NAMES)?;
        let days = cron_field(fields[4], "day-of-week", 0, 7, &CRON_DAY_NAMES)?;
        // Sunday is 0 and 7 in cron; bit 6 here.
        let weekdays = (0..7u32)
            .filter(|d| days & (1 << d) != 0 || (*d == 0 && days & (1 << 7) != 0))
            .fold(0u8, |acc, d| acc | 1 << ((d + 6) % 7));
        let restricted = |f: &str| !f.starts_with('*');
        let recurrence = Self {
            minutes,
            hours: narrow(hours),
            month_days: narrow(month_days),
            months: narrow(months),
            weekdays,
            either_day: restricted(fields[2]) && restricted(fields[4]),
        };
        recurrence.occurs()
    }

    /// Reads an RFC 5545 recurrence rule, with or without its `RRULE:` prefix, for example
    /// `FREQ=WEEKLY;BYDAY=FR;BYHOUR=16`.
    pub fn rrule(text: &str) -> Result<Self, String> {
        let body = text.trim();
        let body = body.strip_prefix("RRULE:").unwrap_or(body);
        let mut freq = None;
        let mut by = Self {
            minutes: 1,
            hours: 1,
            month_days: ALL_MONTH_DAYS,
            months: ALL_MONTHS,
            weekdays: ALL_WEEKDAYS,
            either_day: false,
        };
        let (mut has_month_day, mut has_day, mut has_month, mut has_hour) =
            (false, false, false, false);
        let mut seen: Vec<&str> = Vec::new();
        for part in body.split(';').filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                return Err(format!("{part:?} is not a KEY=VALUE part of an RRULE"));
            };
            if seen.contains(&key) {
                return Err(format!("{key} appears twice"));
            }
            seen.push(key);
            match key {
                "FREQ" => freq = Some(value),
                "INTERVAL" if value == "1" => {}
                "INTERVAL" => {
                    return Err(
                        "INTERVAL above 1 counts from a start date, which a freeze window does not have; use BYDAY, BYMONTHDAY or BYMONTH"
                            .to_owned(),
                    );
                }
                "WKST" => {
                    rrule_list(value, "WKST", |v| day_code(v).map(|_| 0))?;
                }
                "BYSECOND" if value == "0" => {}
                "BYSECOND" => {
                    return Err("windows start on a whole minute: BYSECOND must be 0".to_owned());
                }
                "BYMINUTE" => by.minutes = rrule_list(value, key, |v| number(v, 0, 59))?,
                "BYHOUR" => {
                    by.hours = narrow(rrule_list(value, key, |v| number(v, 0, 23))?);
                    has_hour = true;
                }
                "BYMONTHDAY" => {
                    by.month_days = narrow(rrule_list(value, key, |v| {
                        if v.starts_with('-') {
                            Err(format!(
                                "negative BYMONTHDAY {v} is not supported; name the day"
                            ))
                        } else {
                            number(v, 1, 31)
                        }
                    })?);
                    has_month_day = true;
                }
                "BYMONTH" => {
                    by.months = narrow(rrule_list(value, key, |v| number(v, 1, 12))?);
                    has_month = true;
                }
                "BYDAY" => {
                    by.weekdays = narrow(rrule_list(value, key, day_code)?);
                    has_day = true;
                }
                "COUNT" | "UNTIL" => {
                    return Err(format!(
                        "{key} is not supported: a recurring window repeats for as long as it is declared; use `from` and `until` for a one-off window"
                    ));
                }
                "DTSTART" | "BYSETPOS" | "BYYEARDAY" | "BYWEEKNO" | "RDATE" | "EXDATE" => {
                    return Err(format!("{key} is not supported in a freeze window"));
                }
                other => return Err(format!("unknown RRULE part {other:?}")),
            }
        }
        let freq = freq.ok_or("an RRULE needs FREQ (DAILY, WEEKLY, MONTHLY, YEARLY or HOURLY)")?;
        match freq {
            "HOURLY" => {
                if !has_hour {
                    by.hours = ALL_HOURS;
                }
            }
            "DAILY" => {}
            "WEEKLY" if !has_day => {
                return Err("FREQ=WEEKLY needs BYDAY (for example BYDAY=FR): a window has no start date to take the weekday from".to_owned());
            }
            "WEEKLY" => {}
            "MONTHLY" if !has_month_day && !has_day => {
                return Err("FREQ=MONTHLY needs BYMONTHDAY or BYDAY: a window has no start date to take the day from".to_owned());
            }
            "MONTHLY" => {}
            "YEARLY" if !has_month || !(has_month_day || has_day) => {
                return Err("FREQ=YEARLY needs BYMONTH and BYMONTHDAY (or BYDAY): a window has no start date to take them from".to_owned());
            }
            "YEARLY" => {}
            "MINUTELY" | "SECONDLY" => {
                return Err(format!(
                    "FREQ={freq} is too frequent for a freeze window; use HOURLY or longer"
                ));
            }
            other => {
                return Err(format!(
                    "unknown FREQ {other:?}; use DAILY, WEEKLY, MONTHLY, YEARLY or HOURLY"
                ));
            }
        }
        by.occurs()
    }

    /// Refuses a rule that never matches a real date (`0 0 30 2 *`, `BYMONTH=4;BYMONTHDAY=31`).
    fn occurs(self) -> Result<Self, String> {
        // 29 February is the rarest real date; 2028 is a leap year, and every other month-day
        // pair occurs in a leap year. A weekday restriction narrows a day only under the AND rule.
        let start = Date::constant(2028, 1, 1);
        let any = (0..366).any(|n| {
            start
                .checked_add(jiff::Span::new().days(n))
                .is_ok_and(|d| self.day_of_month_matches(d))
        });
        if any {
            Ok(self)
        } else {
            Err(
                "the rule never matches a real date (check the day of month against the month)"
                    .to_owned(),
            )
        }
    }

    fn day_of_month_matches(&self, date: Date) -> bool {
        self.months & (1 << date.month()) != 0 && self.month_days & (1 << date.day()) != 0
    }

    /// Whether a window may start on `date` (local).
    pub(super) fn matches_date(&self, date: Date) -> bool {
        if self.months & (1 << date.month()) == 0 {
            return false;
        }
        let day = self.month_days & (1 << date.day()) != 0;
        let weekday = self.weekdays & (1 << date.weekday().to_monday_zero_offset()) != 0;
        if self.either_day {
            day || weekday
        } else {
            day && weekday
        }
    }

    /// The local start times of a matching day, earliest first.
    pub(super) fn times(&self) -> impl DoubleEndedIterator<Item = (i8, i8)> + '_ {
        (0..24i8)
            .filter(|h| self.hours & (1 << h) != 0)
            .flat_map(move |h| {
                (0..60i8)
                    .filter(move |m| self.minutes & (1 << m) != 0)
                    .map(move |m| (h, m))
            })
    }
}

/// Keeps the low bits of a field's set: every value was range-checked.
fn narrow<T: TryFrom<u64>>(bits: u64) -> T {
    T::try_from(bits).unwrap_or_else(|_| unreachable!("values were range-checked"))
}

fn number(text: &str, min: u32, max: u32) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(n) => Err(format!("{n} is out of range {min}-{max}")),
        Err(_) => Err(format!("{text:?} is not a number")),
    }
}

fn day_code(text: &str) -> Result<u32, String> {
    if let Some(i) = RRULE_DAYS.iter().position(|d| *d == text) {
        return Ok(u32::try_from(i).unwrap_or_default());
    }
    if text.len() > 2 && RRULE_DAYS.contains(&&text[text.len() - 2..]) {
        return Err(format!(
            "ordinal BYDAY {text:?} is not supported; use a weekday (MO … SU) with BYMONTHDAY"
        ));
    }
    Err(format!(
        "{text:?} is not a weekday; use MO, TU, WE, TH, FR, SA or SU"
    ))
}

fn rrule_list(
    value: &str,
    key: &str,
    item: impl Fn(&str) -> Result<u32, String>,
) -> Result<u64, String> {
    if value.is_empty() {
        return Err(format!("{key} lists nothing"));
    }
    value.split(',').try_fold(0u64, |acc, v| {
        item(v)
            .map(|n| acc | 1 << n)
            .map_err(|e| format!("{key}: {e}"))
    })
}

/// One cron field as a bit set over `min..=max`.
fn cron_field(text: &str, what: &str, min: u32, max: u32, names: &[&str]) -> Result<u64, String> {
    let value = |v: &str| -> Result<u32, String> {
        let upper = v.to_ascii_uppercase();
        if let Some(i) = names.iter().position(|n| *n == upper) {
            // Month names count from 1, day names from 0.
            return Ok(u32::try_from(i).unwrap_or_default() + min);
        }
        number(v, min, max).map_err(|e| format!("{what} field: {e}"))
    };
    let mut bits = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => match step.parse::<u32>() {
                Ok(s) if s > 0 => (range, s),
                _ => {
                    return Err(format!(
                        "{what} field: step {step:?} must be a whole number above 0"
                    ));
                }
            },
            None => (item, 1),
        };
        let (low, high) = match range {
            "*" => (min, max),
            _ => match range.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                // `5/15` runs from 5 to the end, as in Vixie cron.
                None if item.contains('/') => (value(range)?, max),
                None => {
                    let v = value(range)?;
                    (v, v)
                }
            },
        };
        if low > high {
            return Err(format!("{what} field: range {range} runs backwards"));
        }
        bits |= (low..=high)
            .step_by(step as usize)
            .fold(0, |acc, v| acc | 1 << v);
    }
    Ok(bits)
}
