//! The scalar forms of `boreas.yaml`: durations (`"1h30m"`), batch sizes (`3`, `"25%"`) and
//! pauses (`"5m"`, `"manual"`, `"none"`). One grammar serves the YAML parser, serde (plans travel
//! as JSON) and the JSON Schema, so all three accept the same texts.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::model::{BatchSize, DurationSpec, Pause};

/// Longest accepted duration: one year, the longest wait and task timeout Step Functions allows.
pub const MAX_DURATION_SECONDS: u64 = 365 * 24 * 3600;

/// Regular expression (JSON Schema dialect) of a duration.
const DURATION_PATTERN: &str = "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$";
/// Regular expression (JSON Schema dialect) of a percentage batch, 1% to 100%.
const PERCENT_PATTERN: &str = "^(100|[1-9][0-9]?)%$";

impl FromStr for DurationSpec {
    type Err = String;

    /// Parses `30s`, `5m`, `1h`, `1h30m`, `2h5m10s`: units in the order h, m, s, each at most once.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let malformed =
            || format!("expected a duration like \"30s\", \"5m\" or \"1h30m\", found {text:?}");
        let mut total: u64 = 0;
        let mut number: Option<u64> = None;
        // Rank of the last unit seen; units must strictly follow h < m < s.
        let mut last_rank = 0;
        for c in text.chars() {
            if let Some(digit) = c.to_digit(10) {
                let n = number
                    .unwrap_or(0)
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(u64::from(digit)));
                // An overflowing number is certainly longer than the maximum.
                number = Some(n.unwrap_or(u64::MAX));
                continue;
            }
            let (rank, unit_seconds) = match c {
                'h' => (1, 3600),
                'm' => (2, 60),
                's' => (3, 1),
                _ => return Err(malformed()),
            };
            let Some(n) = number.take() else {
                return Err(malformed());
            };
            if rank <= last_rank {
                return Err(malformed());
            }
            last_rank = rank;
            total = total.saturating_add(n.saturating_mul(unit_seconds));
        }
        if number.is_some() || last_rank == 0 {
            return Err(malformed());
        }
        if total > MAX_DURATION_SECONDS {
            return Err(format!(
                "{text:?} is longer than the maximum of 8760h (one year)"
            ));
        }
        Ok(Self(total))
    }
}

impl FromStr for BatchSize {
    type Err = String;

    /// Parses a host count (`3`) or a percentage (`25%`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let malformed =
            || format!("expected a host count like 1 or a percentage like \"25%\", found {text:?}");
        let (digits, percent) = match text.strip_suffix('%') {
            Some(digits) => (digits, true),
            None => (text, false),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        // Digits only, so the only parse failure left is overflow.
        let value = digits.parse::<u64>().unwrap_or(u64::MAX);
        if percent {
            match value {
                0 => Err(format!("{text:?} is empty: a batch needs at least 1%")),
                1..=100 => Ok(Self::Percent(u8::try_from(value).unwrap_or(100))),
                _ => Err(format!("{text:?} is over 100%")),
            }
        } else {
            batch_count(value)
        }
    }
}

/// Validates a host-count batch.
pub(crate) fn batch_count(value: u64) -> Result<BatchSize, String> {
    match u32::try_from(value) {
        Ok(0) => Err("a batch of 0 hosts deploys nothing: counts start at 1".to_owned()),
        Ok(n) => Ok(BatchSize::Count(n)),
        Err(_) => Err(format!(
            "{value} hosts is more than a batch can hold ({})",
            u32::MAX
        )),
    }
}

impl FromStr for Pause {
    type Err = String;

    /// Parses `manual`, `none` or a duration.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "manual" => Ok(Self::Manual),
            "none" => Ok(Self::None),
            _ => text.parse().map(Self::Wait).map_err(|_| {
                format!("expected a duration like \"5m\", \"manual\" or \"none\", found {text:?}")
            }),
        }
    }
}

impl Serialize for DurationSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Serialize for BatchSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Count(n) => serializer.serialize_u32(*n),
            Self::Percent(_) => serializer.collect_str(self),
        }
    }
}

impl Serialize for Pause {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Deserializes any of the three from a string via `FromStr`; `BatchSize` also takes integers.
struct ScalarVisitor<T>(std::marker::PhantomData<T>);

impl<T> Visitor<'_> for ScalarVisitor<T>
where
    T: FromStr<Err = String> + Expecting,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::from_count(v).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
        }
    }
}

/// What a scalar type accepts besides strings, and how serde describes it.
trait Expecting: Sized {
    const EXPECTING: &'static str;
    fn from_count(v: u64) -> Result<Self, String>;
}

impl Expecting for DurationSpec {
    const EXPECTING: &'static str = "a duration like \"30s\", \"5m\" or \"1h30m\"";
    fn from_count(v: u64) -> Result<Self, String> {
        Err(format!(
            "expected a duration like \"30s\", \"5m\" or \"1h30m\", found the number {v}"
        ))
    }
}

impl Expecting for BatchSize {
    const EXPECTING: &'static str = "a host count like 1 or a percentage like \"25%\"";
    fn from_count(v: u64) -> Result<Self, String> {
        batch_count(v)
    }
}

impl Expecting for Pause {
    const EXPECTING: &'static str = "a duration like \"5m\", \"manual\" or \"none\"";
    fn from_count(v: u64) -> Result<Self, String> {
        Err(format!(
            "expected a duration like \"5m\", \"manual\" or \"none\", found the number {v}"
        ))
    }
}

impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor(std::marker::PhantomData))
    }
}

impl<'de> Deserialize<'de> for BatchSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor(std::marker::PhantomData))
    }
}

impl<'de> Deserialize<'de> for Pause {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor(std::marker::PhantomData))
    }
}

impl JsonSchema for DurationSpec {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: hours, minutes and seconds in that order, each optional, for example \"30s\", \"5m\" or \"1h30m\". At most 8760h (one year).",
            "type": "string",
            "pattern": DURATION_PATTERN,
            "minLength": 2,
            "examples": ["30s", "5m", "1h30m"],
        })
    }
}

impl JsonSchema for BatchSize {
    fn schema_name() -> Cow<'static, str> {
        "BatchSize".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Cumulative size of a batch: a host count (PM apps only) or a percentage of the app's targets.",
            "oneOf": [
                {
                    "description": "This many hosts in total once the batch is done.",
                    "type": "integer",
                    "minimum": 1,
                    "maximum": u32::MAX,
                },
                {
                    "description": "This share of the targets in total once the batch is done, \"1%\" to \"100%\".",
                    "type": "string",
                    "pattern": PERCENT_PATTERN,
                },
            ],
            "examples": [1, "25%", "100%"],
        })
    }
}

impl JsonSchema for Pause {
    fn schema_name() -> Cow<'static, str> {
        "Pause".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        // The branches exclude each other (the duration pattern matches neither word), so
        // `anyOf` means the same as `oneOf` and is cheaper for editors to check.
        json_schema!({
            "description": "What happens after each batch but the last.",
            "anyOf": [
                {
                    "description": "Wait until a person approves the gate.",
                    "const": "manual",
                },
                {
                    "description": "Go straight on.",
                    "const": "none",
                },
                generator.subschema_for::<DurationSpec>(),
            ],
        })
    }
}
