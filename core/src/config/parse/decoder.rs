//! Decoder basics: the error list, field access and the scalar and list rules every section
//! shares (strings, names, booleans, counts, durations, globs, templates, per-environment lists).
//!
//! Decoders return `None` after recording an error, so the walk goes on and one bad field never
//! hides the others.

use std::collections::{BTreeMap, HashMap};

use globset::Glob;

use crate::config::error::ConfigError;
use crate::config::model::DurationSpec;
use crate::config::yaml::{Entry, Node, Pos, Value};

/// Longest app, environment, host, group or cluster name: they become parts of queue names
/// (SQS allows 80 characters) and gate ids.
pub const MAX_NAME_LEN: usize = 40;

/// Whether `name` is a valid app, environment, host, group or cluster name:
/// 1 to 40 of `a-z`, `0-9` and `-`, starting and ending with a letter or digit.
pub fn is_valid_name(name: &str) -> bool {
    is_label(name, MAX_NAME_LEN)
}

/// Lowercase letters, digits and inner `-`, at most `max` long (a DNS-1123 label when 63).
pub(super) fn is_label(name: &str, max: usize) -> bool {
    let bytes = name.as_bytes();
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= max
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes.iter().all(|b| edge(b) || *b == b'-')
}

fn field(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

pub(super) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// The type a plain scalar has under the YAML 1.2 core schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plain {
    Null,
    Bool(bool),
    Int,
    Float,
    Str,
}

pub(super) fn plain_type(text: &str) -> Plain {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Plain::Null,
        "true" | "True" | "TRUE" => return Plain::Bool(true),
        "false" | "False" | "FALSE" => return Plain::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return Plain::Float,
        _ => {}
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(unsigned)
        || text
            .strip_prefix("0o")
            .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| (b'0'..=b'7').contains(&b)))
        || text
            .strip_prefix("0x")
            .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Plain::Int;
    }
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (unsigned, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, frac)) => {
            (whole.is_empty() || digits(whole))
                && (frac.is_empty() || digits(frac))
                && !(whole.is_empty() && frac.is_empty())
        }
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    if mantissa_ok && exponent_ok && (mantissa.contains('.') || exponent.is_some()) {
        return Plain::Float;
    }
    Plain::Str
}

/// How a node reads in an error message.
pub(super) fn describe(node: &Node) -> String {
    match &node.value {
        Value::Mapping(_) => "a mapping".to_owned(),
        Value::Sequence(_) => "a list".to_owned(),
        Value::Scalar { text, plain } => {
            let shown = if text.chars().count() > 40 {
                format!("{}…", text.chars().take(40).collect::<String>())
            } else {
                text.clone()
            };
            match plain.then(|| plain_type(text)) {
                Some(Plain::Null) => "nothing (null)".to_owned(),
                Some(Plain::Bool(b)) => format!("the boolean {b}"),
                Some(Plain::Int | Plain::Float) => format!("the number {shown}"),
                Some(Plain::Str) | None => format!("the string {shown:?}"),
            }
        }
    }
}

/// The closest of `candidates` to `word`, if close enough to be a likely typo.
fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).clamp(1, 3);
    // A shortened or lengthened name (`parallel`, `production`) counts as close too.
    let affix =
        |c: &str| c.len().min(word.len()) >= 3 && (c.starts_with(word) || word.starts_with(c));
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= limit || affix(c))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

pub(super) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    suggest(word, candidates)
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

/// A mapping whose keys were checked against the allowed ones; first occurrences only.
pub(super) struct Fields<'a> {
    pub(super) pos: Pos,
    pub(super) path: String,
    pub(super) entries: Vec<&'a Entry>,
}

impl<'a> Fields<'a> {
    pub(super) fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries.iter().find(|e| e.key == key).map(|e| &e.value)
    }

    pub(super) fn key_pos(&self, key: &str) -> Option<Pos> {
        self.entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.key_pos)
    }

    pub(super) fn path(&self, key: &str) -> String {
        field(&self.path, key)
    }
}

#[derive(Default)]
pub(super) struct Decoder {
    pub(super) errors: Vec<ConfigError>,
}

impl Decoder {
    pub(super) fn error(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        self.errors.push(ConfigError::new(pos, path, message));
    }

    pub(super) fn expected(&mut self, node: &Node, path: &str, expected: &str) {
        let found = describe(node);
        let hint = match &node.value {
            Value::Scalar { text, plain: true }
                if expected.contains("string")
                    && matches!(plain_type(text), Plain::Int | Plain::Float | Plain::Bool(_)) =>
            {
                " (quote it to use it as text)"
            }
            _ => "",
        };
        self.error(
            node.pos,
            path,
            format!("expected {expected}, found {found}{hint}"),
        );
    }

    /// Any mapping: reports duplicate keys, keeps first occurrences.
    pub(super) fn mapping<'a>(
        &mut self,
        node: &'a Node,
        path: &str,
        what: &str,
    ) -> Option<Vec<&'a Entry>> {
        let Value::Mapping(entries) = &node.value else {
            self.expected(node, path, what);
            return None;
        };
        let mut first: HashMap<&str, Pos> = HashMap::new();
        let mut kept = Vec::new();
        for entry in entries {
            if let Some(at) = first.get(entry.key.as_str()) {
                self.error(
                    entry.key_pos,
                    &field(path, &entry.key),
                    format!("duplicate key `{}` (first at line {})", entry.key, at.line),
                );
            } else {
                first.insert(&entry.key, entry.key_pos);
                kept.push(entry);
            }
        }
        Some(kept)
    }

    /// A mapping with a fixed set of fields; unknown ones are errors naming the allowed ones.
    pub(super) fn fields<'a>(
        &mut self,
        node: &'a Node,
        path: &str,
        allowed: &[&str],
    ) -> Option<Fields<'a>> {
        let entries = self.mapping(node, path, "a mapping")?;
        let mut known = Vec::new();
        for entry in entries {
            if allowed.contains(&entry.key.as_str()) {
                known.push(entry);
            } else {
                let hint = did_you_mean(&entry.key, allowed.iter().copied());
                let merge = if entry.key == "<<" {
                    " (YAML merge keys are not supported)"
                } else {
                    ""
                };
                self.error(
                    entry.key_pos,
                    &field(path, &entry.key),
                    format!(
                        "unknown field `{}`{hint}{merge}; allowed: {}",
                        entry.key,
                        allowed.join(", ")
                    ),
                );
            }
        }
        Some(Fields {
            pos: node.pos,
            path: path.to_owned(),
            entries: known,
        })
    }

    pub(super) fn required<'a>(&mut self, fields: &Fields<'a>, key: &str) -> Option<&'a Node> {
        let node = fields.get(key);
        if node.is_none() {
            self.error(fields.pos, &fields.path(key), "required field is missing");
        }
        node
    }

    pub(super) fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.value {
            Value::Scalar { text, plain } if !*plain || plain_type(text) == Plain::Str => {
                Some(text.clone())
            }
            _ => {
                self.expected(node, path, "a string");
                None
            }
        }
    }

    /// A string that is not empty and has no whitespace.
    pub(super) fn word(&mut self, node: &Node, path: &str) -> Option<String> {
        let text = self.string(node, path)?;
        if text.is_empty() {
            self.error(node.pos, path, "must not be empty");
            return None;
        }
        if text.chars().any(char::is_whitespace) {
            self.error(
                node.pos,
                path,
                format!("{text:?} must not contain whitespace"),
            );
            return None;
        }
        Some(text)
    }

    pub(super) fn name(&mut self, node: &Node, path: &str, what: &str) -> Option<String> {
        let text = self.string(node, path)?;
        if is_valid_name(&text) {
            return Some(text);
        }
        self.error(
            node.pos,
            path,
            format!(
                "{text:?} is not a valid {what}: use 1 to {MAX_NAME_LEN} lowercase letters, digits and '-', starting and ending with a letter or digit"
            ),
        );
        None
    }

    pub(super) fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        if let Value::Scalar { text, plain: true } = &node.value {
            if let Plain::Bool(b) = plain_type(text) {
                return Some(b);
            }
            // YAML 1.1 read these as booleans; YAML 1.2 (and so Boreas) reads strings.
            if ["yes", "no", "on", "off", "y", "n"].contains(&text.to_ascii_lowercase().as_str()) {
                let found = describe(node);
                self.error(
                    node.pos,
                    path,
                    format!("expected true or false, found {found} (YAML 1.2 reads it as text)"),
                );
                return None;
            }
        }
        self.expected(node, path, "true or false");
        None
    }

    /// A whole number of at least `min` that fits a `u32`.
    pub(super) fn count(&mut self, node: &Node, path: &str, min: u32) -> Option<u32> {
        let Value::Scalar { text, plain: true } = &node.value else {
            self.expected(node, path, "a whole number");
            return None;
        };
        if plain_type(text) != Plain::Int {
            self.expected(node, path, "a whole number");
            return None;
        }
        match text.parse::<i128>() {
            Ok(n) if n < i128::from(min) => {
                self.error(node.pos, path, format!("must be at least {min}, found {n}"));
                None
            }
            Ok(n) => match u32::try_from(n) {
                Ok(n) => Some(n),
                Err(_) => {
                    self.error(
                        node.pos,
                        path,
                        format!("must be at most {}, found {n}", u32::MAX),
                    );
                    None
                }
            },
            Err(_) => {
                self.error(
                    node.pos,
                    path,
                    format!("expected a decimal whole number, found {text}"),
                );
                None
            }
        }
    }

    pub(super) fn list<'a>(
        &mut self,
        node: &'a Node,
        path: &str,
        what: &str,
    ) -> Option<&'a [Node]> {
        match &node.value {
            Value::Sequence(items) => Some(items),
            _ => {
                self.expected(node, path, what);
                None
            }
        }
    }

    /// A list that must have at least one item.
    pub(super) fn nonempty_list<'a>(
        &mut self,
        node: &'a Node,
        path: &str,
        what: &str,
        empty: &str,
    ) -> Option<&'a [Node]> {
        let items = self.list(node, path, what)?;
        if items.is_empty() {
            self.error(node.pos, path, empty);
            return None;
        }
        Some(items)
    }

    /// A duration longer than zero.
    pub(super) fn duration(&mut self, node: &Node, path: &str) -> Option<DurationSpec> {
        if let Value::Scalar { text, plain: true } = &node.value
            && plain_type(text) == Plain::Int
        {
            self.error(
                node.pos,
                path,
                format!("{text} has no unit; write it like \"{text}s\" or \"{text}m\""),
            );
            return None;
        }
        let text = self.string(node, path)?;
        match text.parse::<DurationSpec>() {
            Ok(DurationSpec(0)) => {
                self.error(
                    node.pos,
                    path,
                    format!("{text:?} is no time at all; it must be longer than 0s"),
                );
                None
            }
            Ok(d) => Some(d),
            Err(message) => {
                self.error(node.pos, path, message);
                None
            }
        }
    }

    /// One of a fixed set of words (`rollback`, `pause`, …), with a hint for a near miss.
    pub(super) fn choice<T: Copy>(
        &mut self,
        node: &Node,
        path: &str,
        all: &[T],
        text_of: fn(T) -> &'static str,
    ) -> Option<T> {
        if let Value::Scalar { text, .. } = &node.value
            && let Some(&v) = all.iter().find(|v| text_of(**v) == text)
        {
            return Some(v);
        }
        let words: Vec<&str> = all.iter().map(|v| text_of(*v)).collect();
        let hint = match &node.value {
            Value::Scalar { text, .. } => did_you_mean(text, words.iter().copied()),
            _ => String::new(),
        };
        self.error(
            node.pos,
            path,
            format!(
                "expected one of {}, found {}{hint}",
                words
                    .iter()
                    .map(|w| format!("`{w}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                describe(node)
            ),
        );
        None
    }

    /// Collects `T`s from every item; `None` if any item failed.
    pub(super) fn each<T>(
        &mut self,
        items: &[Node],
        path: &str,
        mut decode: impl FnMut(&mut Self, &Node, &str) -> Option<T>,
    ) -> Option<Vec<T>> {
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match decode(self, item, &index(path, i)) {
                Some(v) => out.push(v),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// Reports a second occurrence of a name within one list.
    pub(super) fn unique(
        &mut self,
        seen: &mut HashMap<String, Pos>,
        name: &str,
        pos: Pos,
        path: &str,
        what: &str,
    ) -> bool {
        if let Some(first) = seen.get(name) {
            self.error(
                pos,
                path,
                format!("duplicate {what} {name:?} (first at line {})", first.line),
            );
            return false;
        }
        seen.insert(name.to_owned(), pos);
        true
    }

    pub(super) fn glob(&mut self, node: &Node, path: &str) -> Option<String> {
        let text = self.string(node, path)?;
        if text.is_empty() {
            self.error(node.pos, path, "an empty glob matches nothing");
            return None;
        }
        match Glob::new(&text) {
            Ok(_) => Some(text),
            Err(e) => {
                self.error(
                    node.pos,
                    path,
                    format!("{text:?} is not a valid glob: {}", e.kind()),
                );
                None
            }
        }
    }

    /// A mapping from declared environment names to lists, as `pm.hosts` and `k8s.clusters` are.
    pub(super) fn per_environment<T>(
        &mut self,
        node: &Node,
        path: &str,
        environments: Option<&[String]>,
        what: &str,
        mut decode: impl FnMut(&mut Self, &[Node], &str) -> Option<Vec<T>>,
    ) -> Option<BTreeMap<String, Vec<T>>> {
        let entries = self.mapping(
            node,
            path,
            &format!("a mapping from environment names to {what}"),
        )?;
        if entries.is_empty() {
            self.error(
                node.pos,
                path,
                format!("list the {what} of at least one environment"),
            );
            return None;
        }
        let mut out = BTreeMap::new();
        let mut ok = true;
        for entry in entries {
            let path = field(path, &entry.key);
            if let Some(environments) = environments
                && !environments.contains(&entry.key)
            {
                let hint = did_you_mean(&entry.key, environments.iter().map(String::as_str));
                self.error(
                    entry.key_pos,
                    &path,
                    format!(
                        "{:?} is not a declared environment{hint}; declared: {}",
                        entry.key,
                        environments.join(", ")
                    ),
                );
                ok = false;
            }
            let items = self.nonempty_list(
                &entry.value,
                &path,
                &format!("a list of {what}"),
                &format!("no {what} listed; remove the environment instead"),
            );
            match items.and_then(|items| decode(self, items, &path)) {
                Some(list) => {
                    out.insert(entry.key.clone(), list);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// Checks `{version}` is present and is the only placeholder.
    pub(super) fn template(&mut self, node: &Node, path: &str, text: &str) -> bool {
        let mut ok = true;
        let mut rest = text;
        while let Some(start) = rest.find('{') {
            let after = &rest[start + 1..];
            let Some(end) = after.find('}') else {
                self.error(node.pos, path, format!("{text:?} has an unclosed '{{'"));
                return false;
            };
            let placeholder = &after[..end];
            if placeholder != "version" {
                self.error(
                    node.pos,
                    path,
                    format!("unknown placeholder {{{placeholder}}}; only {{version}} is replaced"),
                );
                ok = false;
            }
            rest = &after[end + 1..];
        }
        if !text.contains("{version}") {
            self.error(node.pos, path, format!("{text:?} must contain {{version}}, which is replaced by the version being deployed"));
            ok = false;
        }
        ok
    }
}
