//! YAML text → a small tree of nodes that remember where they were written.
//!
//! Built on `saphyr-parser`'s events so every node keeps its line and column. Scalars stay
//! untyped text (plus whether they were written plain): the decoder in `parse.rs` knows which
//! type each field expects and interprets plain scalars by the YAML 1.2 core schema.
//! Duplicate mapping keys are kept here and reported by the decoder, which knows their path.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

use super::error::ConfigError;

/// Aliases may expand a document to at most this many nodes, so an "alias bomb" (nested
/// aliases doubling at each level) is rejected instead of exhausting memory.
const MAX_NODES: usize = 500_000;

/// The largest `boreas.yaml` read, in bytes (1 MiB); a real one is a few KiB.
pub(crate) const MAX_SOURCE_BYTES: usize = 1024 * 1024;

/// Aliases may expand a document to at most this much text (scalars and keys, in bytes), so one
/// large scalar referenced many times cannot expand a 1 MiB file to gigabytes.
pub(crate) const MAX_EXPANDED_BYTES: usize = 4 * 1024 * 1024;

/// A position in the source, both 1-based; columns count characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

impl Pos {
    fn of(span: Span) -> Self {
        Self {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

/// One YAML node and where it starts.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) pos: Pos,
    pub(crate) value: Value,
}

/// The content of a node.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// Text; `plain` when written without quotes or block style (so `3`, `true`, `~` are typed).
    Scalar {
        text: String,
        plain: bool,
    },
    Sequence(Vec<Node>),
    /// Entries in source order, duplicates included.
    Mapping(Vec<Entry>),
}

/// One `key: value` of a mapping.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) key_pos: Pos,
    pub(crate) value: Node,
}

/// How much a subtree holds: its nodes and the bytes of its scalars and keys.
#[derive(Debug, Clone, Copy, Default)]
struct Size {
    nodes: usize,
    bytes: usize,
}

impl Node {
    /// The size of this subtree, counting itself.
    fn size(&self) -> Size {
        match &self.value {
            Value::Scalar { text, .. } => Size {
                nodes: 1,
                bytes: text.len(),
            },
            Value::Sequence(items) => {
                items
                    .iter()
                    .map(Self::size)
                    .fold(Size { nodes: 1, bytes: 0 }, |a, b| Size {
                        nodes: a.nodes + b.nodes,
                        bytes: a.bytes + b.bytes,
                    })
            }
            Value::Mapping(entries) => entries.iter().fold(Size { nodes: 1, bytes: 0 }, |a, e| {
                let v = e.value.size();
                Size {
                    nodes: a.nodes + 1 + v.nodes,
                    bytes: a.bytes + e.key.len() + v.bytes,
                }
            }),
        }
    }
}

/// A container being read.
enum Frame {
    Sequence {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    Mapping {
        pos: Pos,
        anchor: usize,
        entries: Vec<Entry>,
        key: Option<(String, Pos)>,
    },
}

/// Reads one YAML document. `Ok(None)` means the source holds no document at all (empty or only
/// comments). Syntax errors end reading at once (one error, at the parser's position); other
/// problems (tags, complex keys, several documents) are all collected.
pub(crate) fn read(source: &str) -> Result<Option<Node>, Vec<ConfigError>> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(vec![ConfigError::new(
            Pos { line: 1, column: 1 },
            "",
            format!(
                "the file is {} bytes long; at most {MAX_SOURCE_BYTES} bytes (1 MiB) are read",
                source.len()
            ),
        )]);
    }
    let mut errors = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, (Node, Size)> = HashMap::new();
    let mut nodes = 0usize;
    // Text held by the tree: the source's own text plus every alias's copy.
    let mut bytes = source.len();
    let mut root: Option<Node> = None;
    let mut documents = 0usize;

    for event in Parser::new_from_str(source) {
        let (event, span) = match event {
            Ok(event) => event,
            Err(e) => {
                let m = e.marker();
                let pos = Pos {
                    line: m.line(),
                    column: m.col() + 1,
                };
                return Err(vec![ConfigError::new(
                    pos,
                    "",
                    format!("YAML syntax error: {}", e.info()),
                )]);
            }
        };
        let pos = Pos::of(span);
        let done = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents == 2 {
                    errors.push(ConfigError::new(
                        pos,
                        "",
                        "a second YAML document; boreas.yaml must hold exactly one",
                    ));
                }
                None
            }
            Event::Scalar(text, style, anchor, tag) => {
                let mut plain = style == ScalarStyle::Plain;
                if let Some(tag) = tag {
                    if is_core(&tag, "str") {
                        // `!!str 3` is the string "3".
                        plain = false;
                    } else {
                        errors.push(tag_error(pos, &tag));
                    }
                }
                let node = Node {
                    pos,
                    value: Value::Scalar {
                        text: text.into_owned(),
                        plain,
                    },
                };
                Some((node, anchor))
            }
            Event::SequenceStart(anchor, tag) => {
                check_container_tag(&mut errors, pos, tag.as_deref(), "seq");
                stack.push(Frame::Sequence {
                    pos,
                    anchor,
                    items: Vec::new(),
                });
                None
            }
            Event::MappingStart(anchor, tag) => {
                check_container_tag(&mut errors, pos, tag.as_deref(), "map");
                stack.push(Frame::Mapping {
                    pos,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Sequence { pos, anchor, items }) => Some((
                    Node {
                        pos,
                        value: Value::Sequence(items),
                    },
                    anchor,
                )),
                Some(Frame::Mapping {
                    pos,
                    anchor,
                    entries,
                    ..
                }) => Some((
                    Node {
                        pos,
                        value: Value::Mapping(entries),
                    },
                    anchor,
                )),
                None => None,
            },
            Event::Alias(id) => match anchors.get(&id) {
                Some((node, size)) => {
                    nodes += size.nodes;
                    bytes += size.bytes;
                    if nodes > MAX_NODES {
                        return Err(vec![ConfigError::new(
                            pos,
                            "",
                            format!("aliases expand the document past {MAX_NODES} nodes"),
                        )]);
                    }
                    if bytes > MAX_EXPANDED_BYTES {
                        return Err(vec![ConfigError::new(
                            pos,
                            "",
                            format!(
                                "aliases expand the document past {MAX_EXPANDED_BYTES} bytes of text"
                            ),
                        )]);
                    }
                    // The copy starts where the alias is written; its insides stay where
                    // they were written.
                    let mut node = node.clone();
                    node.pos = pos;
                    Some((node, 0))
                }
                None => {
                    errors.push(ConfigError::new(pos, "", "alias to an unknown anchor"));
                    None
                }
            },
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => None,
        };
        let Some((node, anchor)) = done else { continue };
        nodes += 1;
        if nodes > MAX_NODES {
            return Err(vec![ConfigError::new(
                pos,
                "",
                format!("the document has more than {MAX_NODES} nodes"),
            )]);
        }
        if anchor != 0 {
            let size = node.size();
            anchors.insert(anchor, (node.clone(), size));
        }
        match stack.last_mut() {
            None => {
                if root.is_none() {
                    root = Some(node);
                }
            }
            Some(Frame::Sequence { items, .. }) => items.push(node),
            Some(Frame::Mapping { entries, key, .. }) => match key.take() {
                Some((key, key_pos)) => entries.push(Entry {
                    key,
                    key_pos,
                    value: node,
                }),
                None => match node.value {
                    Value::Scalar { text, .. } => *key = Some((text, node.pos)),
                    Value::Sequence(_) | Value::Mapping(_) => {
                        errors.push(ConfigError::new(
                            node.pos,
                            "",
                            "a mapping key must be a plain string, not a list or mapping",
                        ));
                        // Keep the value that follows paired with something.
                        *key = Some((String::new(), node.pos));
                    }
                },
            },
        }
    }
    if errors.is_empty() {
        Ok(root)
    } else {
        Err(errors)
    }
}

fn is_core(tag: &Tag, name: &str) -> bool {
    tag.is_yaml_core_schema() && tag.suffix == name
}

fn check_container_tag(errors: &mut Vec<ConfigError>, pos: Pos, tag: Option<&Tag>, name: &str) {
    if let Some(tag) = tag.filter(|t| !is_core(t, name)) {
        errors.push(tag_error(pos, tag));
    }
}

fn tag_error(pos: Pos, tag: &Tag) -> ConfigError {
    ConfigError::new(
        pos,
        "",
        format!("YAML tag {tag} is not supported in boreas.yaml"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(source: &str) -> Node {
        read(source).expect("valid YAML").expect("one document")
    }

    fn messages(source: &str) -> Vec<String> {
        read(source)
            .expect_err("invalid YAML")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn positions_are_one_based() {
        let node = root("a: 1\nb:\n  - x\n  - {c: d}\n");
        let Value::Mapping(entries) = &node.value else {
            panic!("mapping")
        };
        assert_eq!(entries[0].key, "a");
        assert_eq!(entries[0].key_pos, Pos { line: 1, column: 1 });
        assert_eq!(entries[0].value.pos, Pos { line: 1, column: 4 });
        let Value::Sequence(items) = &entries[1].value.value else {
            panic!("sequence")
        };
        assert_eq!(items[0].pos, Pos { line: 3, column: 5 });
        assert_eq!(items[1].pos, Pos { line: 4, column: 5 });
    }

    #[test]
    fn scalars_remember_quoting() {
        let node = root("a: 3\nb: \"3\"\nc: !!str 3\nd:\n");
        let Value::Mapping(entries) = &node.value else {
            panic!("mapping")
        };
        let plain: Vec<(bool, &str)> = entries
            .iter()
            .map(|e| match &e.value.value {
                Value::Scalar { text, plain } => (*plain, text.as_str()),
                _ => panic!("scalar"),
            })
            .collect();
        assert_eq!(
            plain,
            vec![(true, "3"), (false, "3"), (false, "3"), (true, "")]
        );
    }

    #[test]
    fn duplicate_keys_are_kept_for_the_decoder() {
        let node = root("a: 1\na: 2\n");
        let Value::Mapping(entries) = &node.value else {
            panic!("mapping")
        };
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn empty_source_has_no_document() {
        assert!(read("").expect("ok").is_none());
        assert!(read("# only a comment\n").expect("ok").is_none());
    }

    #[test]
    fn syntax_error_is_one_error_with_position() {
        let errors = messages("a: [1, 2\nb: 3\n");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("3:1: YAML syntax error:") || errors[0].starts_with("2:"),
            "{errors:?}"
        );
        let errors = messages("a:\n  b: 1\n c: 2\n");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("3:"), "{errors:?}");
    }

    #[test]
    fn aliases_copy_the_anchored_node() {
        let node = root("base: &r {pause: 5m}\nother: *r\n");
        let Value::Mapping(entries) = &node.value else {
            panic!("mapping")
        };
        let Value::Mapping(copied) = &entries[1].value.value else {
            panic!("mapping")
        };
        assert_eq!(copied[0].key, "pause");
        assert_eq!(entries[1].value.pos, Pos { line: 2, column: 8 });
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut source = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = i - 1;
            source.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let errors = messages(&source);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].contains("aliases expand the document past 500000 nodes"),
            "{errors:?}"
        );
    }

    #[test]
    fn aliases_of_a_large_scalar_are_refused_by_expanded_size() {
        // 512 KiB once, referenced 2,000 times: few nodes, about 1 GB of text.
        let big = "x".repeat(512 * 1024);
        let mut source = format!("a: &big {big}\nb: [");
        source.push_str(&vec!["*big"; 2000].join(", "));
        source.push_str("]\n");
        assert!(source.len() < MAX_SOURCE_BYTES);
        let errors = messages(&source);
        // The source holds 512 KiB + 12 KiB: the seventh alias (column 5 + 6 * 6) crosses 4 MiB.
        assert_eq!(
            errors,
            [format!(
                "2:41: aliases expand the document past {MAX_EXPANDED_BYTES} bytes of text"
            )]
        );
    }

    #[test]
    fn files_over_one_mib_are_refused_before_parsing() {
        let source = format!("a: {}\n", "x".repeat(MAX_SOURCE_BYTES));
        let errors = messages(&source);
        assert_eq!(
            errors,
            [format!(
                "1:1: the file is {} bytes long; at most {MAX_SOURCE_BYTES} bytes (1 MiB) are read",
                source.len()
            )]
        );
    }

    #[test]
    fn tags_other_than_core_ones_are_refused() {
        let errors = messages("a: !secret x\nb: !!map {c: 1}\n");
        assert_eq!(
            errors,
            vec!["1:4: YAML tag !secret is not supported in boreas.yaml"]
        );
    }

    #[test]
    fn second_document_is_refused() {
        let errors = messages("a: 1\n---\nb: 2\n");
        assert_eq!(
            errors,
            vec!["2:1: a second YAML document; boreas.yaml must hold exactly one"]
        );
    }

    #[test]
    fn complex_keys_are_refused() {
        let errors = messages("? [a, b]\n: 1\n");
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].ends_with("a mapping key must be a plain string, not a list or mapping"),
            "{errors:?}"
        );
    }
}
