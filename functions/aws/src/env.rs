//! The one way functions, pollers and commands read their environment.
//!
//! Every variable follows the same rules: the value is trimmed, an empty (or blank) value counts
//! as unset, a value that is not UTF-8 is an error, and a value that does not parse is an error
//! naming the variable and the value. `BOREAS_PREFIX` defaults to [`DEFAULT_PREFIX`] and is
//! checked with [`prefix_problem`] before any name is derived from it.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Display;
use std::str::FromStr;

use crate::Error;
use crate::names::{DEFAULT_PREFIX, Names, prefix_problem};

/// The variable naming the installation's resource-name prefix.
pub const PREFIX: &str = "BOREAS_PREFIX";

/// Where variables are read from: the process, or a fixed set (tests, child processes).
#[derive(Debug, Clone)]
pub struct Env {
    fixed: Option<BTreeMap<String, OsString>>,
}

impl Env {
    /// The process's environment.
    #[must_use]
    pub fn process() -> Self {
        Self { fixed: None }
    }

    /// Exactly `vars`, nothing from the process.
    pub fn from_vars<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<OsString>,
    {
        Self {
            fixed: Some(
                vars.into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        }
    }

    fn raw(&self, name: &str) -> Option<OsString> {
        match &self.fixed {
            None => std::env::var_os(name),
            Some(vars) => vars.get(name).cloned(),
        }
    }

    /// The trimmed value of `name`; `None` when it is unset, empty or only whitespace.
    ///
    /// # Errors
    /// [`Error::Env`] when the value is not UTF-8.
    pub fn get(&self, name: &str) -> Result<Option<String>, Error> {
        let Some(raw) = self.raw(name) else {
            return Ok(None);
        };
        let text = raw
            .into_string()
            .map_err(|_| invalid(name, "is not valid UTF-8"))?;
        let trimmed = text.trim();
        Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
    }

    /// The value of `name`, which must be set; `purpose` says what it is for, as in
    /// "it names the deployment state machine".
    ///
    /// # Errors
    /// [`Error::Env`] when the variable is unset (or empty) or not UTF-8.
    pub fn require(&self, name: &str, purpose: &str) -> Result<String, Error> {
        self.get(name)?
            .ok_or_else(|| invalid(name, format!("is not set; {purpose}")))
    }

    /// The value of `name` parsed as a `T`; `None` when unset. `expected` describes a valid
    /// value for the error, as in "a positive whole number of seconds".
    ///
    /// # Errors
    /// [`Error::Env`] naming the variable and the value when it does not parse.
    pub fn parse<T>(&self, name: &str, expected: &str) -> Result<Option<T>, Error>
    where
        T: FromStr,
        T::Err: Display,
    {
        let Some(text) = self.get(name)? else {
            return Ok(None);
        };
        text.parse()
            .map(Some)
            .map_err(|e| invalid(name, format!("is {text:?}, not {expected} ({e})")))
    }

    /// The installation's resource names, from `BOREAS_PREFIX` (default [`DEFAULT_PREFIX`]).
    ///
    /// # Errors
    /// [`Error::Env`] when the prefix is not a valid prefix (see [`prefix_problem`]).
    pub fn names(&self) -> Result<Names, Error> {
        let prefix = self
            .get(PREFIX)?
            .unwrap_or_else(|| DEFAULT_PREFIX.to_owned());
        match prefix_problem(&prefix) {
            Some(problem) => Err(invalid(PREFIX, format!("is {prefix:?}: {problem}"))),
            None => Ok(Names::new(&prefix)),
        }
    }
}

fn invalid(name: &str, problem: impl Into<String>) -> Error {
    Error::Env {
        name: name.to_owned(),
        problem: problem.into(),
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;
    use std::os::unix::ffi::OsStringExt;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env {
        Env::from_vars(vars.iter().copied())
    }

    fn message(result: Result<impl std::fmt::Debug, Error>) -> String {
        let err = result.expect_err("an error");
        assert_eq!(err.error_type(), "Env");
        err.to_string()
    }

    #[test]
    fn values_are_trimmed() {
        let env = env(&[("A", "  queue-url \n")]);
        assert_eq!(env.get("A").unwrap().as_deref(), Some("queue-url"));
    }

    #[test]
    fn empty_and_blank_values_count_as_unset() {
        let env = env(&[("EMPTY", ""), ("BLANK", " \t\n")]);
        for name in ["EMPTY", "BLANK", "MISSING"] {
            assert_eq!(env.get(name).unwrap(), None, "{name}");
            assert_eq!(env.parse::<u32>(name, "a number").unwrap(), None, "{name}");
        }
        assert_eq!(
            message(env.require("BLANK", "it names the state machine")),
            "environment variable BLANK is not set; it names the state machine"
        );
    }

    #[test]
    fn a_value_that_is_not_utf8_is_an_error_naming_the_variable() {
        let env = Env::from_vars([("A", OsString::from_vec(vec![b'a', 0xff]))]);
        assert_eq!(
            message(env.get("A")),
            "environment variable A is not valid UTF-8"
        );
    }

    #[test]
    fn typed_values_parse_and_a_bad_one_names_the_variable_and_the_value() {
        let env = env(&[("N", " 7 "), ("ZERO", "0"), ("WORD", "seven")]);
        assert_eq!(
            env.parse::<NonZeroU32>("N", "a positive whole number")
                .unwrap(),
            NonZeroU32::new(7)
        );
        let zero = message(env.parse::<NonZeroU32>("ZERO", "a positive whole number"));
        assert!(
            zero.starts_with("environment variable ZERO is \"0\", not a positive whole number ("),
            "{zero}"
        );
        let word = message(env.parse::<u64>("WORD", "a whole number of seconds"));
        assert!(
            word.starts_with(
                "environment variable WORD is \"seven\", not a whole number of seconds ("
            ),
            "{word}"
        );
    }

    #[test]
    fn the_prefix_defaults_to_boreas_when_unset_or_blank() {
        for env in [env(&[]), env(&[(PREFIX, " ")])] {
            assert_eq!(env.names().unwrap().prefix(), DEFAULT_PREFIX);
        }
        assert_eq!(
            env(&[(PREFIX, " team-a ")]).names().unwrap().prefix(),
            "team-a"
        );
    }

    #[test]
    fn an_invalid_prefix_is_refused_before_any_name_is_derived() {
        let err = message(env(&[(PREFIX, "Team_A")]).names());
        assert!(
            err.starts_with("environment variable BOREAS_PREFIX is \"Team_A\": "),
            "{err}"
        );
        assert!(err.contains(&prefix_problem("Team_A").unwrap()), "{err}");
        let long = "p".repeat(crate::names::MAX_PREFIX_LEN + 1);
        assert!(env(&[(PREFIX, long.as_str())]).names().is_err());
    }

    #[test]
    fn a_fixed_set_reads_nothing_from_the_process() {
        // PATH is set in every test run; a fixed set does not see it.
        assert!(Env::process().get("PATH").unwrap().is_some());
        assert_eq!(env(&[]).get("PATH").unwrap(), None);
    }
}
