//! The published JSON Schema (`schema/boreas.schema.json`) is the one generated from the model,
//! and the example config fits it.
//!
//! Regenerate after changing the model:
//! `BOREAS_UPDATE_SCHEMA=1 cargo test -p boreas-core --test schema`

use serde_json::Value;

fn schema_path() -> String {
    format!(
        "{}/../schema/boreas.schema.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn generated() -> String {
    let mut text = serde_json::to_string_pretty(&boreas_core::config::json_schema())
        .expect("schema serializes");
    text.push('\n');
    text
}

#[test]
fn committed_schema_is_current() {
    let path = schema_path();
    let fresh = generated();
    if std::env::var_os("BOREAS_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &fresh).unwrap_or_else(|e| panic!("{path}: {e}"));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{path} is stale or missing; regenerate it with:\n    BOREAS_UPDATE_SCHEMA=1 cargo test -p boreas-core --test schema"
    );
}

/// `examples/boreas.yaml` as JSON: plain scalars typed by the YAML 1.2 core schema.
fn example_as_json() -> Value {
    let path = format!("{}/../examples/boreas.yaml", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    yaml_to_json(&source)
}

fn yaml_to_json(source: &str) -> Value {
    use saphyr_parser::{Event, Parser, ScalarStyle};
    enum Open {
        List(Vec<Value>),
        Map(serde_json::Map<String, Value>, Option<String>),
    }
    let mut stack: Vec<Open> = Vec::new();
    let mut root = Value::Null;
    for event in Parser::new_from_str(source) {
        let (event, _) = event.expect("valid YAML");
        let value = match event {
            Event::Scalar(text, style, _, _) => {
                if style != ScalarStyle::Plain {
                    Value::String(text.into_owned())
                } else if let Ok(n) = text.parse::<i64>() {
                    Value::from(n)
                } else if let Ok(b) = text.parse::<bool>() {
                    Value::Bool(b)
                } else if matches!(text.as_ref(), "" | "~" | "null") {
                    Value::Null
                } else {
                    Value::String(text.into_owned())
                }
            }
            Event::SequenceStart(..) => {
                stack.push(Open::List(Vec::new()));
                continue;
            }
            Event::MappingStart(..) => {
                stack.push(Open::Map(serde_json::Map::new(), None));
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Open::List(items)) => Value::Array(items),
                Some(Open::Map(map, _)) => Value::Object(map),
                None => unreachable!("end without start"),
            },
            _ => continue,
        };
        match stack.last_mut() {
            None => root = value,
            Some(Open::List(items)) => items.push(value),
            Some(Open::Map(map, key)) => match key.take() {
                Some(k) => {
                    map.insert(k, value);
                }
                None => *key = Some(value.as_str().expect("string keys").to_owned()),
            },
        }
    }
    root
}

/// A small JSON Schema checker for the keywords the generated schema uses, except `pattern`
/// (that needs a regex engine; `parse` checks those rules). Returns the failing locations.
struct Checker<'a> {
    root: &'a Value,
}

impl Checker<'_> {
    fn check(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let Some(schema) = schema.as_object() else {
            return;
        };
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let target = self
                .root
                .pointer(reference.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("dangling $ref {reference}"));
            self.check(target, value, at, errors);
        }
        let mut local = Vec::new();
        let type_ok = |t: &str| match t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            other => panic!("type {other} not handled"),
        };
        match schema.get("type") {
            Some(Value::String(t)) if !type_ok(t) => local.push(format!("not of type {t}")),
            Some(Value::Array(ts)) if !ts.iter().any(|t| type_ok(t.as_str().unwrap_or(""))) => {
                local.push(format!("not of types {ts:?}"));
            }
            _ => {}
        }
        if let Some(c) = schema.get("const")
            && c != value
        {
            local.push(format!("is not {c}"));
        }
        if let (Some(min), Some(n)) = (
            schema.get("minimum").and_then(Value::as_f64),
            value.as_f64(),
        ) && n < min
        {
            local.push(format!("{n} < minimum {min}"));
        }
        if let (Some(max), Some(n)) = (
            schema.get("maximum").and_then(Value::as_f64),
            value.as_f64(),
        ) && n > max
        {
            local.push(format!("{n} > maximum {max}"));
        }
        if let Some(s) = value.as_str() {
            let len = s.chars().count() as u64;
            if schema
                .get("minLength")
                .and_then(Value::as_u64)
                .is_some_and(|m| len < m)
            {
                local.push("too short".into());
            }
            if schema
                .get("maxLength")
                .and_then(Value::as_u64)
                .is_some_and(|m| len > m)
            {
                local.push("too long".into());
            }
        }
        if let Some(items) = value.as_array() {
            if schema
                .get("minItems")
                .and_then(Value::as_u64)
                .is_some_and(|m| (items.len() as u64) < m)
            {
                local.push("too few items".into());
            }
            if schema.get("uniqueItems") == Some(&Value::Bool(true))
                && items
                    .iter()
                    .enumerate()
                    .any(|(i, a)| items[..i].contains(a))
            {
                local.push("items not unique".into());
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    self.check(item_schema, item, &format!("{at}/{i}"), errors);
                }
            }
        }
        let mut evaluated: Vec<String> = Vec::new();
        if let Some(object) = value.as_object() {
            let properties = schema.get("properties").and_then(Value::as_object);
            for name in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let name = name.as_str().unwrap_or_default();
                if !object.contains_key(name) {
                    local.push(format!("missing required {name}"));
                }
            }
            if schema
                .get("minProperties")
                .and_then(Value::as_u64)
                .is_some_and(|m| (object.len() as u64) < m)
            {
                local.push("too few properties".into());
            }
            for (key, item) in object {
                let path = format!("{at}/{key}");
                if let Some(names) = schema.get("propertyNames") {
                    self.check(names, &Value::String(key.clone()), &path, errors);
                }
                match properties.and_then(|p| p.get(key)) {
                    Some(property) => {
                        evaluated.push(key.clone());
                        self.check(property, item, &path, errors);
                    }
                    None => match schema.get("additionalProperties") {
                        Some(Value::Bool(false)) => local.push(format!("unknown property {key}")),
                        Some(extra @ Value::Object(_)) => {
                            evaluated.push(key.clone());
                            self.check(extra, item, &path, errors);
                        }
                        _ => {}
                    },
                }
            }
        }
        let passes = |s: &Value| {
            let mut e = Vec::new();
            self.check(s, value, at, &mut e);
            e.is_empty()
        };
        let branch_properties = |s: &Value| -> Vec<String> {
            s.get("properties")
                .and_then(Value::as_object)
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default()
        };
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for s in all {
                self.check(s, value, at, errors);
            }
        }
        if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
            let matching: Vec<&Value> = any.iter().filter(|s| passes(s)).collect();
            if matching.is_empty() {
                local.push("matches no anyOf branch".into());
            }
            matching
                .iter()
                .for_each(|s| evaluated.extend(branch_properties(s)));
        }
        if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
            let matching: Vec<&Value> = one.iter().filter(|s| passes(s)).collect();
            if matching.len() != 1 {
                local.push(format!("matches {} oneOf branches, not 1", matching.len()));
            }
            matching
                .iter()
                .for_each(|s| evaluated.extend(branch_properties(s)));
        }
        if let (Some(condition), Some(then)) = (schema.get("if"), schema.get("then"))
            && passes(condition)
        {
            self.check(then, value, at, errors);
        }
        if let Some(not) = schema.get("not")
            && passes(not)
        {
            local.push("matches a `not` schema".into());
        }
        if schema.get("unevaluatedProperties") == Some(&Value::Bool(false))
            && let Some(object) = value.as_object()
        {
            for key in object.keys().filter(|k| !evaluated.contains(k)) {
                local.push(format!("unevaluated property {key}"));
            }
        }
        errors.extend(local.into_iter().map(|why| format!("{at}: {why}")));
    }
}

fn schema_errors(value: &Value) -> Vec<String> {
    let schema = boreas_core::config::json_schema();
    let mut errors = Vec::new();
    Checker { root: &schema }.check(&schema, value, "", &mut errors);
    errors
}

#[test]
fn example_fits_the_schema() {
    assert_eq!(schema_errors(&example_as_json()), Vec::<String>::new());
}

#[test]
fn environment_policy_example_fits_the_schema_as_written_and_as_parsed() {
    let path = format!(
        "{}/../examples/environment-policy.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(schema_errors(&yaml_to_json(&source)), Vec::<String>::new());
    let config = boreas_core::config::parse(&source).expect("example is valid");
    let json = serde_json::to_value(&config).expect("serialize");
    assert_eq!(schema_errors(&json), Vec::<String>::new());
}

#[test]
fn parsed_config_serializes_into_the_schema() {
    let path = format!("{}/../examples/boreas.yaml", env!("CARGO_MANIFEST_DIR"));
    let config = boreas_core::config::parse(&std::fs::read_to_string(path).expect("example"))
        .expect("example is valid");
    let json = serde_json::to_value(&config).expect("serialize");
    assert_eq!(schema_errors(&json), Vec::<String>::new());
}

/// A named change that makes the example invalid.
type Mutation = (&'static str, fn(&mut Value));

#[test]
fn schema_refuses_what_parse_refuses() {
    let mutate = |edit: fn(&mut Value)| {
        let mut value = example_as_json();
        edit(&mut value);
        schema_errors(&value)
    };
    let cases: Vec<Mutation> = vec![
        ("unknown root field", |v| {
            v["extra"] = Value::from(1);
        }),
        ("no apps", |v| {
            v["apps"] = Value::Array(Vec::new());
        }),
        ("pm app without pm", |v| {
            v["apps"][1].as_object_mut().expect("app").remove("pm");
        }),
        ("pm app with k8s", |v| {
            v["apps"][1]["k8s"] = v["apps"][3]["k8s"].clone();
        }),
        ("k8s app with host count", |v| {
            v["apps"][3]["rollout"]["batches"][0] = Value::from(1);
        }),
        ("batch count 0", |v| {
            v["apps"][1]["rollout"]["batches"][0] = Value::from(0);
        }),
        ("parallelism 0", |v| {
            v["apps"][1]["rollout"]["parallelism"] = Value::from(0);
        }),
        ("two probes", |v| {
            v["apps"][1]["pm"]["health"]["tcp"] = Value::from("h:1");
        }),
        ("unknown health field", |v| {
            v["apps"][1]["pm"]["health"]["interval"] = Value::from("1s");
        }),
        ("both checksums", |v| {
            v["apps"][1]["pm"]["artifact"]["sha256"] = Value::from("a".repeat(64));
        }),
        ("run with both", |v| {
            v["apps"][1]["pm"]["run"]["command"] = serde_json::json!(["x"]);
        }),
        ("empty command", |v| {
            v["apps"][2]["pm"]["run"]["command"] = serde_json::json!([]);
        }),
        ("empty hosts", |v| {
            v["apps"][2]["pm"]["hosts"]["prod"] = serde_json::json!([]);
        }),
        ("long name", |v| {
            v["apps"][0]["name"] = Value::from("a".repeat(41));
        }),
        ("group with extra", |v| {
            v["apps"][2]["pm"]["hosts"]["prod"][0]["zone"] = Value::from("a");
        }),
    ];
    for (name, edit) in &cases {
        assert!(!mutate(*edit).is_empty(), "the schema accepts: {name}");
    }
}

/// Analysis checks as the parser reads them fit the schema, which refuses what it refuses.
#[test]
fn analysis_checks_fit_the_schema() {
    let with = |checks: Value| {
        let mut value = example_as_json();
        value["apps"][1]["analysis"] = checks;
        schema_errors(&value)
    };
    let good = serde_json::json!([
        {"name": "error-rate", "prometheus": {"url": "http://127.0.0.1:9090", "query": "sum(rate(x{app=\"{app}\"}[1m]))"},
         "condition": "< 0.01", "interval": "10s", "count": 3, "min_samples": 20},
        {"name": "alarm", "cloudwatch": {"alarm": "api-5xx"}},
        {"name": "p99", "cloudwatch": {"namespace": "Boreas/Demo", "metric": "Latency", "statistic": "p99"},
         "condition": "0..0.3", "dry_run": true},
        {"name": "ratio", "http": {"url": "http://h:8080/stats", "json_path": "$.requests[0].ok"},
         "condition": ">= 0.99", "no_data": "fail"},
    ]);
    assert_eq!(with(good.clone()), Vec::<String>::new());
    // And the parser reads the same checks (their YAML is their JSON).
    let mut config = example_as_json();
    config["apps"][1]["analysis"] = good.clone();
    let parsed = boreas_core::config::parse(&config.to_string()).expect("the checks parse");
    assert_eq!(parsed.apps[1].analysis.len(), 4);

    // Conditions and JSON paths are patterns, which this checker leaves to the parser.
    let refused = |edit: fn(&mut Value)| {
        let mut checks = good.clone();
        edit(&mut checks);
        with(checks)
    };
    for (what, edit) in [
        (
            "two sources",
            (|c: &mut Value| c[0]["http"] = c[3]["http"].clone()) as fn(&mut Value),
        ),
        ("no source", |c| {
            c[3].as_object_mut().unwrap().remove("http");
        }),
        ("count 0", |c| c[0]["count"] = Value::from(0)),
        ("unknown no_data", |c| {
            c[3]["no_data"] = Value::from("maybe");
        }),
        ("metric without statistic", |c| {
            c[2]["cloudwatch"]
                .as_object_mut()
                .unwrap()
                .remove("statistic");
        }),
    ] {
        assert!(!refused(edit).is_empty(), "{what} fits the schema");
    }
}
