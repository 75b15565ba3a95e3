//! Errors found in a `boreas.yaml`, each with its position and field path.

use std::fmt;

use super::yaml::Pos;

/// One problem in a `boreas.yaml`.
///
/// Displays as `LINE:COL: PATH: MESSAGE`, for example
/// `12:9: apps[2].rollout.batches[1]: "120%" is over 100%`; callers put `FILE:` in front.
/// Problems of the YAML text itself (syntax, tags) have an empty path and display as
/// `LINE:COL: MESSAGE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1, counted in characters.
    pub column: usize,
    /// Field path like `apps[2].rollout.batches[1]`; empty for YAML syntax problems.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(pos: Pos, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            line: pos.line,
            column: pos.column,
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a `boreas.yaml`, sorted by position; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", lines(.errors))]
pub struct ConfigErrors {
    errors: Vec<ConfigError>,
}

fn lines(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigErrors {
    /// Sorts by position; errors at the same position keep the order they were found in.
    pub(crate) fn new(mut errors: Vec<ConfigError>) -> Self {
        errors.sort_by_key(|e| (e.line, e.column));
        Self { errors }
    }

    /// The errors, in source order.
    pub fn errors(&self) -> &[ConfigError] {
        &self.errors
    }

    /// Consumes the list.
    pub fn into_errors(self) -> Vec<ConfigError> {
        self.errors
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_line_column_path_message() {
        let e = ConfigError::new(
            Pos {
                line: 12,
                column: 9,
            },
            "apps[2].rollout.batches[1]",
            "\"120%\" is over 100%",
        );
        assert_eq!(
            e.to_string(),
            "12:9: apps[2].rollout.batches[1]: \"120%\" is over 100%"
        );
        let e = ConfigError::new(Pos { line: 1, column: 2 }, "", "YAML syntax error: x");
        assert_eq!(e.to_string(), "1:2: YAML syntax error: x");
    }

    #[test]
    fn errors_are_sorted_by_position_and_stable() {
        let at = |line, column, m: &str| ConfigError::new(Pos { line, column }, "p", m);
        let all = ConfigErrors::new(vec![
            at(3, 1, "c"),
            at(1, 5, "b"),
            at(1, 2, "a"),
            at(3, 1, "d"),
        ]);
        let order: Vec<&str> = all.errors().iter().map(|e| e.message.as_str()).collect();
        assert_eq!(order, ["a", "b", "c", "d"]);
        assert_eq!(
            all.to_string(),
            "1:2: p: a\n1:5: p: b\n3:1: p: c\n3:1: p: d"
        );
    }
}
