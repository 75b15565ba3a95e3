//! Decoding and validation of `boreas.yaml`: node tree → [`Config`], collecting every error.
//!
//! Each field is decoded by hand so an error can name its exact position and path, and so one
//! bad field never hides the others: decoders return `None` after recording an error and the
//! walk goes on. Cross-field rules (kinds and sections, names of environments, dependencies and
//! their cycles) run on whatever decoded.

use std::collections::{BTreeMap, HashMap, HashSet};

use globset::Glob;

use super::error::{ConfigError, ConfigErrors};
use super::model::{
    App, AppKind, ArtifactSpec, BatchSize, Config, DurationSpec, Environment, HealthCheck,
    HealthSpec, HostRef, K8sSpec, Pause, PmSpec, Rollout, RunSpec, Triggers,
};
use super::scalar::batch_count;
use super::yaml::{self, Entry, Node, Pos, Value};

/// Longest app, environment, host, group or cluster name: they become parts of queue names
/// (SQS allows 80 characters) and gate ids.
pub const MAX_NAME_LEN: usize = 40;

/// Whether `name` is a valid app, environment, host, group or cluster name:
/// 1 to 40 of `a-z`, `0-9` and `-`, starting and ending with a letter or digit.
pub fn is_valid_name(name: &str) -> bool {
    is_label(name, MAX_NAME_LEN)
}

/// Lowercase letters, digits and inner `-`, at most `max` long (a DNS-1123 label when 63).
fn is_label(name: &str, max: usize) -> bool {
    let bytes = name.as_bytes();
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= max
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes.iter().all(|b| edge(b) || *b == b'-')
}

/// Reads and validates a `boreas.yaml`. On failure returns every problem found, sorted by
/// position.
pub fn parse(source: &str) -> Result<Config, ConfigErrors> {
    let root = match yaml::read(source) {
        Ok(Some(root)) => root,
        Ok(None) => {
            return Err(ConfigErrors::new(vec![ConfigError::new(
                Pos { line: 1, column: 1 },
                "",
                "the file is empty; expected a mapping with `environments` and `apps`",
            )]));
        }
        Err(errors) => return Err(ConfigErrors::new(errors)),
    };
    let mut decoder = Decoder::default();
    let config = decoder.config(&root);
    match config {
        Some(config) if decoder.errors.is_empty() => Ok(config),
        _ => Err(ConfigErrors::new(decoder.errors)),
    }
}

fn field(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// The type a plain scalar has under the YAML 1.2 core schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plain {
    Null,
    Bool(bool),
    Int,
    Float,
    Str,
}

fn plain_type(text: &str) -> Plain {
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
fn describe(node: &Node) -> String {
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

fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    suggest(word, candidates)
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

/// A mapping whose keys were checked against the allowed ones; first occurrences only.
struct Fields<'a> {
    pos: Pos,
    path: String,
    entries: Vec<&'a Entry>,
}

impl<'a> Fields<'a> {
    fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries.iter().find(|e| e.key == key).map(|e| &e.value)
    }

    fn key_pos(&self, key: &str) -> Option<Pos> {
        self.entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.key_pos)
    }

    fn path(&self, key: &str) -> String {
        field(&self.path, key)
    }
}

/// What was learned about one app for the checks that span apps.
struct AppRefs {
    /// The name, position and path, when the name is valid.
    name: Option<(String, Pos, String)>,
    /// The name as written, when it is a string but not a valid name.
    invalid_name: Option<String>,
    /// Dependency name, its position and path.
    depends_on: Vec<(String, Pos, String)>,
}

#[derive(Default)]
struct Decoder {
    errors: Vec<ConfigError>,
}

impl Decoder {
    fn error(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        self.errors.push(ConfigError::new(pos, path, message));
    }

    fn expected(&mut self, node: &Node, path: &str, expected: &str) {
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
    fn mapping<'a>(&mut self, node: &'a Node, path: &str, what: &str) -> Option<Vec<&'a Entry>> {
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
    fn fields<'a>(&mut self, node: &'a Node, path: &str, allowed: &[&str]) -> Option<Fields<'a>> {
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

    fn required<'a>(&mut self, fields: &Fields<'a>, key: &str) -> Option<&'a Node> {
        let node = fields.get(key);
        if node.is_none() {
            self.error(fields.pos, &fields.path(key), "required field is missing");
        }
        node
    }

    fn string(&mut self, node: &Node, path: &str) -> Option<String> {
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
    fn word(&mut self, node: &Node, path: &str) -> Option<String> {
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

    fn name(&mut self, node: &Node, path: &str, what: &str) -> Option<String> {
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

    fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
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
    fn count(&mut self, node: &Node, path: &str, min: u32) -> Option<u32> {
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

    fn list<'a>(&mut self, node: &'a Node, path: &str, what: &str) -> Option<&'a [Node]> {
        match &node.value {
            Value::Sequence(items) => Some(items),
            _ => {
                self.expected(node, path, what);
                None
            }
        }
    }

    /// A list that must have at least one item.
    fn nonempty_list<'a>(
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
    fn duration(&mut self, node: &Node, path: &str) -> Option<DurationSpec> {
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

    /// Collects `T`s from every item; `None` if any item failed.
    fn each<T>(
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
    fn unique(
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

    fn config(&mut self, root: &Node) -> Option<Config> {
        if !matches!(root.value, Value::Mapping(_)) {
            self.expected(root, "", "a mapping with `environments` and `apps`");
            return None;
        }
        let f = self.fields(root, "", &["environments", "triggers", "apps"])?;
        let environments = match self.required(&f, "environments") {
            Some(node) => self.environments(node, "environments"),
            None => None,
        };
        // Host and cluster keys are checked against the environments that decoded, if the list did.
        let env_names: Option<Vec<String>> =
            environments.as_ref().and_then(|(_, names)| names.clone());
        let triggers = match f.get("triggers") {
            Some(node) => self.triggers(node, "triggers"),
            None => Some(Triggers::default()),
        };
        let apps = match self.required(&f, "apps") {
            Some(node) => self.apps(node, "apps", env_names.as_deref()),
            None => None,
        };
        Some(Config {
            environments: environments?.0.into_iter().collect::<Option<Vec<_>>>()?,
            triggers: triggers?,
            apps: apps?,
        })
    }

    /// The environments (`None` entries failed) and the declared names, unless one of them is
    /// unreadable (then checking `pm.hosts` keys against them would mislead).
    #[allow(clippy::type_complexity)]
    fn environments(
        &mut self,
        node: &Node,
        path: &str,
    ) -> Option<(Vec<Option<Environment>>, Option<Vec<String>>)> {
        let items = self.nonempty_list(
            node,
            path,
            "a list of environments",
            "at least one environment is required",
        )?;
        let mut seen = HashMap::new();
        let mut out = Vec::new();
        let mut names = Some(Vec::new());
        for (i, item) in items.iter().enumerate() {
            let path = index(path, i);
            let Some(f) = self.fields(item, &path, &["name", "auto_confirm"]) else {
                out.push(None);
                names = None;
                continue;
            };
            let node = self.required(&f, "name");
            let name = node.and_then(|n| self.name(n, &f.path("name"), "environment name"));
            if name.is_none() {
                names = None;
            }
            // A repeated name is still declared; only its second declaration is wrong.
            let name = name.zip(node).filter(|(name, n)| {
                self.unique(&mut seen, name, n.pos, &f.path("name"), "environment name")
            });
            let name = name.map(|(name, _)| name);
            if let (Some(name), Some(names)) = (&name, &mut names) {
                names.push(name.clone());
            }
            let auto_confirm = match f.get("auto_confirm") {
                Some(n) => self.boolean(n, &f.path("auto_confirm")),
                None => Some(false),
            };
            out.push(
                name.zip(auto_confirm)
                    .map(|(name, auto_confirm)| Environment { name, auto_confirm }),
            );
        }
        Some((out, names))
    }

    fn triggers(&mut self, node: &Node, path: &str) -> Option<Triggers> {
        let f = self.fields(node, path, &["tags", "branches"])?;
        let tags = match f.get("tags") {
            Some(n) => self.glob(n, &f.path("tags")).map(Some),
            None => Some(None),
        };
        let branches = match f.get("branches") {
            Some(n) => {
                let path = f.path("branches");
                self.list(n, &path, "a list of branch names")
                    .and_then(|items| self.each(items, &path, |d, item, path| d.branch(item, path)))
            }
            None => Some(Vec::new()),
        };
        Some(Triggers {
            tags: tags?,
            branches: branches?,
        })
    }

    fn branch(&mut self, node: &Node, path: &str) -> Option<String> {
        let name = self.word(node, path)?;
        // The rules of `git check-ref-format` that a typo is likely to break.
        let bad = name.starts_with(['-', '/', '.'])
            || name.ends_with(['/', '.'])
            || name.ends_with(".lock")
            || name.contains("..")
            || name.contains("//")
            || name.contains("@{")
            || name
                .chars()
                .any(|c| c.is_control() || matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\'));
        if bad {
            self.error(
                node.pos,
                path,
                format!("{name:?} is not a valid git branch name"),
            );
            return None;
        }
        Some(name)
    }

    fn glob(&mut self, node: &Node, path: &str) -> Option<String> {
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

    fn path_glob(&mut self, node: &Node, path: &str) -> Option<String> {
        let text = self.glob(node, path)?;
        if text.starts_with('/') || text.starts_with("./") {
            self.error(
                node.pos,
                path,
                format!(
                    "{text:?}: paths are relative to the repository root; drop the leading \"{}\"",
                    if text.starts_with('/') { "/" } else { "./" }
                ),
            );
            return None;
        }
        Some(text)
    }

    fn apps(
        &mut self,
        node: &Node,
        path: &str,
        environments: Option<&[String]>,
    ) -> Option<Vec<App>> {
        let items =
            self.nonempty_list(node, path, "a list of apps", "at least one app is required")?;
        let mut apps = Vec::new();
        let mut refs = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let (app, r) = self.app(item, &index(path, i), environments);
            ok &= app.is_some();
            apps.extend(app);
            refs.push(r);
        }
        self.dependencies(&refs);
        ok.then_some(apps)
    }

    fn app(
        &mut self,
        node: &Node,
        path: &str,
        environments: Option<&[String]>,
    ) -> (Option<App>, AppRefs) {
        let mut refs = AppRefs {
            name: None,
            invalid_name: None,
            depends_on: Vec::new(),
        };
        let Some(f) = self.fields(
            node,
            path,
            &[
                "name",
                "kind",
                "paths",
                "depends_on",
                "follow_dependencies",
                "rollout",
                "pm",
                "k8s",
            ],
        ) else {
            return (None, refs);
        };
        let name = self
            .required(&f, "name")
            .and_then(|n| self.name(n, &f.path("name"), "app name"));
        match (&name, f.get("name")) {
            (Some(name), Some(n)) => refs.name = Some((name.clone(), n.pos, f.path("name"))),
            (
                None,
                Some(Node {
                    value: Value::Scalar { text, .. },
                    ..
                }),
            ) => {
                refs.invalid_name = Some(text.clone());
            }
            _ => {}
        }
        let kind = self.required(&f, "kind").and_then(|n| {
            let path = f.path("kind");
            match &n.value {
                Value::Scalar { text, .. } if text == "pm" => Some(AppKind::Pm),
                Value::Scalar { text, .. } if text == "k8s" => Some(AppKind::K8s),
                _ => {
                    let hint = match &n.value {
                        Value::Scalar { text, .. } => did_you_mean(text, ["pm", "k8s"]),
                        _ => String::new(),
                    };
                    self.error(
                        n.pos,
                        &path,
                        format!("expected `pm` or `k8s`, found {}{hint}", describe(n)),
                    );
                    None
                }
            }
        });
        let paths = match f.get("paths") {
            Some(n) => {
                let path = f.path("paths");
                self.list(n, &path, "a list of path globs")
                    .and_then(|items| {
                        self.each(items, &path, |d, item, path| d.path_glob(item, path))
                    })
            }
            None => Some(Vec::new()),
        };
        let depends_on = match f.get("depends_on") {
            Some(n) => self.depends_on(n, &f.path("depends_on"), name.as_deref(), &mut refs),
            None => Some(Vec::new()),
        };
        let follow_dependencies = match f.get("follow_dependencies") {
            Some(n) => self.boolean(n, &f.path("follow_dependencies")),
            None => Some(false),
        };
        let rollout = match f.get("rollout") {
            Some(n) => self.rollout(n, &f.path("rollout"), kind),
            None => Some(Rollout::default()),
        };
        let pm = f.get("pm").map(|n| self.pm(n, &f.path("pm"), environments));
        let k8s = f
            .get("k8s")
            .map(|n| self.k8s(n, &f.path("k8s"), environments));
        let sections_ok = match kind {
            Some(kind) => self.sections(&f, kind),
            None => false,
        };
        let app = Some(()).and_then(|()| {
            Some(App {
                name: name?,
                kind: kind?,
                paths: paths?,
                depends_on: depends_on?,
                follow_dependencies: follow_dependencies?,
                rollout: rollout?,
                pm: pm.map_or(Some(None), |pm| pm.map(Some))?,
                k8s: k8s.map_or(Some(None), |k8s| k8s.map(Some))?,
            })
        });
        (app.filter(|_| sections_ok), refs)
    }

    /// The section named by the kind must be there, the other must not.
    fn sections(&mut self, f: &Fields<'_>, kind: AppKind) -> bool {
        let (own, other) = match kind {
            AppKind::Pm => ("pm", "k8s"),
            AppKind::K8s => ("k8s", "pm"),
        };
        let mut ok = true;
        if f.get(own).is_none() {
            self.error(
                f.pos,
                &f.path(own),
                format!("required field is missing: a `{kind}` app needs a `{own}` section"),
            );
            ok = false;
        }
        if let Some(pos) = f.key_pos(other) {
            self.error(
                pos,
                &f.path(other),
                format!("a `{kind}` app takes no `{other}` section; remove it or change `kind`"),
            );
            ok = false;
        }
        ok
    }

    fn depends_on(
        &mut self,
        node: &Node,
        path: &str,
        own: Option<&str>,
        refs: &mut AppRefs,
    ) -> Option<Vec<String>> {
        let items = self.list(node, path, "a list of app names")?;
        let mut seen = HashMap::new();
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let path = index(path, i);
            let Some(name) = self.string(item, &path) else {
                ok = false;
                continue;
            };
            if own == Some(name.as_str()) {
                self.error(item.pos, &path, format!("app {name:?} depends on itself"));
                ok = false;
            } else if self.unique(&mut seen, &name, item.pos, &path, "dependency") {
                refs.depends_on.push((name.clone(), item.pos, path));
                out.push(name);
            } else {
                ok = false;
            }
        }
        ok.then_some(out)
    }

    fn rollout(&mut self, node: &Node, path: &str, kind: Option<AppKind>) -> Option<Rollout> {
        let f = self.fields(
            node,
            path,
            &["batches", "pause", "parallelism", "heartbeat", "timeout"],
        )?;
        let defaults = Rollout::default();
        let batches = match f.get("batches") {
            Some(n) => self.batches(n, &f.path("batches"), kind),
            None => Some(defaults.batches),
        };
        let pause = match f.get("pause") {
            Some(n) => self.pause(n, &f.path("pause")),
            None => Some(Pause::None),
        };
        let parallelism = match f.get("parallelism") {
            Some(n) => self.count(n, &f.path("parallelism"), 1),
            None => Some(defaults.parallelism),
        };
        let heartbeat = match f.get("heartbeat") {
            Some(n) => self.duration(n, &f.path("heartbeat")),
            None => Some(defaults.heartbeat),
        };
        let timeout = match f.get("timeout") {
            Some(n) => self.duration(n, &f.path("timeout")),
            None => Some(defaults.timeout),
        };
        if let (Some(h), Some(t)) = (heartbeat, timeout)
            && h >= t
        {
            // Step Functions requires a task's heartbeat to be shorter than its timeout.
            let key = if f.get("heartbeat").is_some() {
                "heartbeat"
            } else {
                "timeout"
            };
            let pos = f.get(key).map_or(f.pos, |n| n.pos);
            self.error(
                pos,
                &f.path(key),
                format!("heartbeat ({h}) must be shorter than timeout ({t})"),
            );
            return None;
        }
        Some(Rollout {
            batches: batches?,
            pause: pause?,
            parallelism: parallelism?,
            heartbeat: heartbeat?,
            timeout: timeout?,
        })
    }

    fn batches(
        &mut self,
        node: &Node,
        path: &str,
        kind: Option<AppKind>,
    ) -> Option<Vec<BatchSize>> {
        let items = self.nonempty_list(
            node,
            path,
            "a list of batch sizes",
            "at least one batch is required; the last must be \"100%\"",
        )?;
        let mut decoded: Vec<Option<BatchSize>> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = index(path, i);
            let size = self.batch(item, &path);
            if let (Some(BatchSize::Count(n)), Some(AppKind::K8s)) = (size, kind) {
                self.error(
                    item.pos,
                    &path,
                    format!("a host count ({n}) makes no sense for a k8s app: its batches set the share of replicas on the new version; use a percentage like \"10%\""),
                );
                decoded.push(None);
                continue;
            }
            decoded.push(size);
        }
        let mut ok = decoded.iter().all(Option::is_some);
        // Batches are cumulative: each must reach further than the one before.
        let mut previous: Option<BatchSize> = None;
        for (i, (size, item)) in decoded.iter().zip(items).enumerate() {
            let Some(size) = *size else { continue };
            let path = index(path, i);
            match (previous, size) {
                (Some(BatchSize::Percent(_)), BatchSize::Count(n)) => {
                    self.error(item.pos, &path, format!("host count {n} follows a percentage; put host counts before percentages (a count cannot be compared with a share of hosts)"));
                    ok = false;
                }
                (Some(BatchSize::Count(a)), BatchSize::Count(b)) if b <= a => {
                    self.error(item.pos, &path, format!("{b} is not more than the batch before it ({a}); batches are cumulative and must increase"));
                    ok = false;
                }
                (Some(BatchSize::Percent(a)), BatchSize::Percent(b)) if b <= a => {
                    self.error(item.pos, &path, format!("\"{b}%\" is not more than the batch before it (\"{a}%\"); batches are cumulative and must increase"));
                    ok = false;
                }
                _ => {}
            }
            previous = Some(size);
        }
        if let (Some(Some(last)), Some(item)) = (decoded.last(), items.last())
            && *last != BatchSize::Percent(100)
        {
            let shown = match last {
                BatchSize::Count(n) => n.to_string(),
                BatchSize::Percent(_) => format!("\"{last}\""),
            };
            self.error(
                item.pos,
                &index(path, items.len() - 1),
                format!("the last batch must be \"100%\", found {shown}"),
            );
            ok = false;
        }
        ok.then(|| decoded.into_iter().flatten().collect())
    }

    fn batch(&mut self, node: &Node, path: &str) -> Option<BatchSize> {
        let result = match &node.value {
            Value::Scalar { text, plain: true } if plain_type(text) == Plain::Int => {
                match text.parse::<u64>() {
                    Ok(n) => batch_count(n),
                    Err(_) if text.starts_with('-') => {
                        Err(format!("{text} is negative: counts start at 1"))
                    }
                    Err(_) => Err(format!("expected a decimal host count, found {text}")),
                }
            }
            Value::Scalar { text, plain }
                if text.ends_with('%') && (!plain || plain_type(text) == Plain::Str) =>
            {
                text.parse::<BatchSize>()
            }
            _ => {
                self.expected(
                    node,
                    path,
                    "a host count like 1 or a percentage like \"25%\"",
                );
                return None;
            }
        };
        result
            .map_err(|message| self.error(node.pos, path, message))
            .ok()
    }

    fn pause(&mut self, node: &Node, path: &str) -> Option<Pause> {
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
        match text.parse::<Pause>() {
            Ok(Pause::Wait(DurationSpec(0))) => {
                self.error(
                    node.pos,
                    path,
                    format!("{text:?} pauses for no time; write \"none\" for no pause"),
                );
                None
            }
            Ok(pause) => Some(pause),
            Err(_) => {
                let message = match text.parse::<DurationSpec>() {
                    // The duration's own complaint (too long) is more precise.
                    Err(m) if m.contains("maximum") => m,
                    _ => format!(
                        "expected a duration like \"5m\", \"manual\" or \"none\", found {text:?}{}",
                        did_you_mean(&text, ["manual", "none"])
                    ),
                };
                self.error(node.pos, path, message);
                None
            }
        }
    }

    /// A mapping from declared environment names to lists, as `pm.hosts` and `k8s.clusters` are.
    fn per_environment<T>(
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

    fn pm(&mut self, node: &Node, path: &str, environments: Option<&[String]>) -> Option<PmSpec> {
        let f = self.fields(node, path, &["hosts", "artifact", "run", "health"])?;
        let hosts = self.required(&f, "hosts").and_then(|n| {
            self.per_environment(n, &f.path("hosts"), environments, "hosts", Self::hosts)
        });
        let artifact = self
            .required(&f, "artifact")
            .and_then(|n| self.artifact(n, &f.path("artifact")));
        let run = self
            .required(&f, "run")
            .and_then(|n| self.run(n, &f.path("run")));
        let health = self
            .required(&f, "health")
            .and_then(|n| self.health(n, &f.path("health")));
        Some(PmSpec {
            hosts: hosts?,
            artifact: artifact?,
            run: run?,
            health: health?,
        })
    }

    fn hosts(&mut self, items: &[Node], path: &str) -> Option<Vec<HostRef>> {
        let mut seen = HashMap::new();
        let mut ok = true;
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = index(path, i);
            let host = match &item.value {
                Value::Mapping(_) => self.fields(item, &path, &["group"]).and_then(|f| {
                    let group = self.required(&f, "group")?;
                    let name = self.name(group, &f.path("group"), "group name")?;
                    self.unique(
                        &mut seen,
                        &format!("group {name}"),
                        item.pos,
                        &path,
                        "entry",
                    )
                    .then_some(HostRef::Group { group: name })
                }),
                Value::Scalar { .. } => self.name(item, &path, "host name").and_then(|name| {
                    self.unique(&mut seen, &name, item.pos, &path, "host")
                        .then_some(HostRef::Host(name))
                }),
                Value::Sequence(_) => {
                    self.expected(item, &path, "a host name or {group: NAME}");
                    None
                }
            };
            match host {
                Some(host) => out.push(host),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn clusters(&mut self, items: &[Node], path: &str) -> Option<Vec<String>> {
        let mut seen = HashMap::new();
        self.each(items, path, |d, item, path| {
            let name = d.name(item, path, "cluster name")?;
            d.unique(&mut seen, &name, item.pos, path, "cluster")
                .then_some(name)
        })
    }

    /// A URL template: an allowed scheme and `{version}`, and no other placeholder.
    fn url_template(&mut self, node: &Node, path: &str) -> Option<String> {
        let url = self.word(node, path)?;
        const SCHEMES: [&str; 4] = ["s3://", "https://", "http://", "file://"];
        let mut ok = true;
        match SCHEMES.iter().find(|s| url.starts_with(*s)) {
            Some(scheme) if url.len() > scheme.len() => {}
            Some(_) => {
                self.error(
                    node.pos,
                    path,
                    format!("{url:?} has nothing after the scheme"),
                );
                ok = false;
            }
            None => {
                self.error(
                    node.pos,
                    path,
                    format!("{url:?} must start with s3://, https://, http:// or file://"),
                );
                ok = false;
            }
        }
        ok &= self.template(node, path, &url);
        ok.then_some(url)
    }

    /// Checks `{version}` is present and is the only placeholder.
    fn template(&mut self, node: &Node, path: &str, text: &str) -> bool {
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

    fn artifact(&mut self, node: &Node, path: &str) -> Option<ArtifactSpec> {
        let f = self.fields(node, path, &["url", "sha256", "sha256_url"])?;
        let url = self
            .required(&f, "url")
            .and_then(|n| self.url_template(n, &f.path("url")));
        let sha256 = f.get("sha256").map(|n| {
            let path = f.path("sha256");
            let text = self.string(n, &path)?;
            if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                Some(text.to_ascii_lowercase())
            } else {
                self.error(
                    n.pos,
                    &path,
                    format!(
                        "must be 64 hexadecimal characters (a SHA-256 digest), found {} characters",
                        text.chars().count()
                    ),
                );
                None
            }
        });
        let sha256_url = f
            .get("sha256_url")
            .map(|n| self.url_template(n, &f.path("sha256_url")));
        let exactly_one = match (&sha256, &sha256_url) {
            (Some(_), Some(_)) => {
                let pos = f.key_pos("sha256_url").unwrap_or(f.pos);
                self.error(
                    pos,
                    &f.path("sha256_url"),
                    "give either `sha256` or `sha256_url`, not both",
                );
                false
            }
            (None, None) => {
                self.error(f.pos, &f.path("sha256"), "required field is missing: give `sha256` or `sha256_url` so the download can be verified");
                false
            }
            _ => true,
        };
        let sha256 = sha256.map_or(Some(None), |s| s.map(Some))?;
        let sha256_url = sha256_url.map_or(Some(None), |s| s.map(Some))?;
        exactly_one.then_some(ArtifactSpec {
            url: url?,
            sha256,
            sha256_url,
        })
    }

    fn command(&mut self, node: &Node, path: &str) -> Option<Vec<String>> {
        let items = self.nonempty_list(
            node,
            path,
            "a list: the program and its arguments",
            "must list at least the program to run",
        )?;
        let args = self.each(items, path, |d, item, path| d.string(item, path))?;
        if args[0].is_empty() {
            self.error(
                items[0].pos,
                &index(path, 0),
                "the program must not be empty",
            );
            return None;
        }
        Some(args)
    }

    fn run(&mut self, node: &Node, path: &str) -> Option<RunSpec> {
        let f = self.fields(node, path, &["command", "systemd"])?;
        match (f.get("command"), f.get("systemd")) {
            (Some(_), Some(_)) => {
                let pos = f.key_pos("systemd").unwrap_or(f.pos);
                self.error(
                    pos,
                    &f.path("systemd"),
                    "give either `command` or `systemd`, not both",
                );
                None
            }
            (None, None) => {
                self.error(
                    f.pos,
                    path,
                    "give `command` (a list: program and arguments) or `systemd` (a unit name)",
                );
                None
            }
            (Some(n), None) => self
                .command(n, &f.path("command"))
                .map(|command| RunSpec::Command { command }),
            (None, Some(n)) => {
                let path = f.path("systemd");
                let unit = self.word(n, &path)?;
                let valid = unit.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.' | '@' | '\\')
                });
                if !valid || unit.starts_with('.') {
                    self.error(
                        n.pos,
                        &path,
                        format!("{unit:?} is not a valid systemd unit name"),
                    );
                    return None;
                }
                Some(RunSpec::Systemd { systemd: unit })
            }
        }
    }

    fn health(&mut self, node: &Node, path: &str) -> Option<HealthSpec> {
        let f = self.fields(
            node,
            path,
            &["http", "tcp", "command", "timeout", "retries"],
        )?;
        let mut probes: Vec<&str> = ["http", "tcp", "command"]
            .into_iter()
            .filter(|k| f.get(k).is_some())
            .collect();
        // The probe written second is the one reported as extra.
        probes.sort_by_key(|k| f.key_pos(k));
        let check = match (f.get("http"), f.get("tcp"), f.get("command")) {
            (None, None, None) => {
                self.error(
                    f.pos,
                    path,
                    "give one probe: `http` (a URL), `tcp` (host:port) or `command` (a list)",
                );
                None
            }
            (Some(n), None, None) => self
                .http_url(n, &f.path("http"))
                .map(|http| HealthCheck::Http { http }),
            (None, Some(n), None) => self
                .tcp_address(n, &f.path("tcp"))
                .map(|tcp| HealthCheck::Tcp { tcp }),
            (None, None, Some(n)) => self
                .command(n, &f.path("command"))
                .map(|command| HealthCheck::Command { command }),
            _ => {
                let second = probes[1];
                let pos = f.key_pos(second).unwrap_or(f.pos);
                self.error(
                    pos,
                    &f.path(second),
                    format!("give exactly one probe, found {}", probes.join(" and ")),
                );
                None
            }
        };
        let timeout = match f.get("timeout") {
            Some(n) => self.duration(n, &f.path("timeout")),
            None => Some(HealthSpec::default_timeout()),
        };
        let retries = match f.get("retries") {
            Some(n) => self.count(n, &f.path("retries"), 1),
            None => Some(HealthSpec::default_retries()),
        };
        Some(HealthSpec {
            check: check?,
            timeout: timeout?,
            retries: retries?,
        })
    }

    fn http_url(&mut self, node: &Node, path: &str) -> Option<String> {
        let url = self.word(node, path)?;
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        match rest {
            Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Some(url),
            _ => {
                self.error(
                    node.pos,
                    path,
                    format!("{url:?} must be an http:// or https:// URL with a host"),
                );
                None
            }
        }
    }

    fn tcp_address(&mut self, node: &Node, path: &str) -> Option<String> {
        let address = self.word(node, path)?;
        let valid = address.rsplit_once(':').is_some_and(|(host, port)| {
            let host_ok = match host.strip_prefix('[') {
                Some(v6) => v6.strip_suffix(']').is_some_and(|v6| !v6.is_empty()),
                None => !host.is_empty() && !host.contains(':'),
            };
            host_ok && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !valid {
            self.error(
                node.pos,
                path,
                format!(
                    "{address:?} must be host:port with a port from 1 to 65535, like 127.0.0.1:5432"
                ),
            );
            return None;
        }
        Some(address)
    }

    fn k8s(&mut self, node: &Node, path: &str, environments: Option<&[String]>) -> Option<K8sSpec> {
        let f = self.fields(
            node,
            path,
            &["clusters", "namespace", "deployment", "container", "image"],
        )?;
        let clusters = self.required(&f, "clusters").and_then(|n| {
            self.per_environment(
                n,
                &f.path("clusters"),
                environments,
                "clusters",
                Self::clusters,
            )
        });
        let namespace = match f.get("namespace") {
            Some(n) => self.k8s_name(n, &f.path("namespace"), "namespace", 63),
            None => Some(K8sSpec::default_namespace()),
        };
        let deployment = self
            .required(&f, "deployment")
            .and_then(|n| self.k8s_name(n, &f.path("deployment"), "Deployment name", 253));
        let container = self
            .required(&f, "container")
            .and_then(|n| self.k8s_name(n, &f.path("container"), "container name", 63));
        let image = self.required(&f, "image").and_then(|n| {
            let path = f.path("image");
            let image = self.word(n, &path)?;
            self.template(n, &path, &image).then_some(image)
        });
        Some(K8sSpec {
            clusters: clusters?,
            namespace: namespace?,
            deployment: deployment?,
            container: container?,
            image: image?,
        })
    }

    /// A Kubernetes object name: DNS-1123 labels (joined by dots when `max` > 63).
    fn k8s_name(&mut self, node: &Node, path: &str, what: &str, max: usize) -> Option<String> {
        let name = self.string(node, path)?;
        let valid = if max > 63 {
            name.len() <= max && name.split('.').all(|label| is_label(label, 63))
        } else {
            is_label(&name, max)
        };
        if valid {
            return Some(name);
        }
        let rule = if max > 63 {
            "lowercase letters, digits, '-' and '.'"
        } else {
            "lowercase letters, digits and '-'"
        };
        self.error(node.pos, path, format!("{name:?} is not a valid Kubernetes {what}: up to {max} {rule}, starting and ending with a letter or digit"));
        None
    }

    /// Names unique across apps, dependencies known, and no dependency cycles.
    fn dependencies(&mut self, apps: &[AppRefs]) {
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, app) in apps.iter().enumerate() {
            let Some((name, pos, path)) = &app.name else {
                continue;
            };
            match index.get(name.as_str()) {
                Some(&first) => {
                    let line = apps[first].name.as_ref().map_or(0, |n| n.1.line);
                    self.error(
                        *pos,
                        path,
                        format!("duplicate app name {name:?} (first at line {line})"),
                    );
                }
                None => {
                    index.insert(name, i);
                }
            }
        }
        let mut edges: Vec<Vec<(usize, usize)>> = vec![Vec::new(); apps.len()];
        for (i, app) in apps.iter().enumerate() {
            for (j, (target, pos, path)) in app.depends_on.iter().enumerate() {
                match index.get(target.as_str()) {
                    Some(&t) => edges[i].push((t, j)),
                    None if apps.iter().any(|a| a.invalid_name.as_ref() == Some(target)) => {
                        // It names an app whose name is invalid; that error says what to fix.
                    }
                    None => {
                        let hint = did_you_mean(target, index.keys().copied());
                        self.error(*pos, path, format!("unknown app {target:?}{hint}"));
                    }
                }
            }
        }
        // Only first occurrences of a name take part; a duplicate was reported above.
        for cycle in cycles(&edges, |i| {
            index.get(apps[i].name.as_ref().map_or("", |n| n.0.as_str())) == Some(&i)
        }) {
            let names: Vec<&str> = cycle
                .iter()
                .map(|(i, _)| apps[*i].name.as_ref().map_or("", |n| n.0.as_str()))
                .collect();
            let (first, dep) = cycle[0];
            let (_, pos, path) = &apps[first].depends_on[dep];
            self.error(
                *pos,
                path,
                format!("dependency cycle: {} -> {}", names.join(" -> "), names[0]),
            );
        }
    }
}

/// One cycle per strongly connected component with more than one app (self-dependencies are
/// refused earlier), as (app, index of the `depends_on` entry leading to the next app), starting
/// at the lowest app index so the report is stable.
fn cycles(
    edges: &[Vec<(usize, usize)>],
    included: impl Fn(usize) -> bool,
) -> Vec<Vec<(usize, usize)>> {
    let components = strongly_connected(edges, &included);
    let mut out = Vec::new();
    for component in components.into_iter().filter(|c| c.len() > 1) {
        let members: HashSet<usize> = component.iter().copied().collect();
        let start = *component.iter().min().unwrap_or(&0);
        // Breadth-first search inside the component for the shortest way back to `start`.
        let mut came_from: HashMap<usize, (usize, usize)> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        'search: while let Some(node) = queue.pop_front() {
            for &(next, dep) in &edges[node] {
                if !members.contains(&next) {
                    continue;
                }
                if next == start {
                    let mut cycle = vec![(node, dep)];
                    let mut at = node;
                    while at != start {
                        let (from, via) = came_from[&at];
                        cycle.push((from, via));
                        at = from;
                    }
                    cycle.reverse();
                    out.push(cycle);
                    break 'search;
                }
                if let std::collections::hash_map::Entry::Vacant(e) = came_from.entry(next) {
                    e.insert((node, dep));
                    queue.push_back(next);
                }
            }
        }
    }
    out.sort();
    out
}

/// Tarjan's algorithm, iterative so a long dependency chain cannot overflow the stack.
fn strongly_connected(
    edges: &[Vec<(usize, usize)>],
    included: &impl Fn(usize) -> bool,
) -> Vec<Vec<usize>> {
    let n = edges.len();
    let mut order = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next = 0;
    let mut components = Vec::new();
    for root in (0..n).filter(|&i| included(i)) {
        if order[root] != usize::MAX {
            continue;
        }
        let mut work = vec![(root, 0usize)];
        order[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut edge)) = work.last_mut() {
            if let Some(&(w, _)) = edges[v].get(*edge) {
                *edge += 1;
                if !included(w) {
                    continue;
                }
                if order[w] == usize::MAX {
                    order[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(order[w]);
                }
            } else {
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == order[v] {
                    let mut component = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        component.push(w);
                        if w == v {
                            break;
                        }
                    }
                    components.push(component);
                }
            }
        }
    }
    components
}
