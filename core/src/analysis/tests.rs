use proptest::prelude::*;

use super::*;

fn value(v: f64) -> Measurement {
    Measurement::Value {
        value: v,
        samples: None,
    }
}

fn error() -> Measurement {
    Measurement::Error {
        message: "connection refused".into(),
    }
}

/// The verdict of `measurements` taken until the check is decided; the tally with it.
fn run(measurements: &[Measurement], condition: Condition, limits: &Limits) -> (Standing, Tally) {
    let mut tally = Tally::default();
    for m in measurements {
        tally = tally.with(judge(m, condition, limits));
        if let Standing::Decided(_) = tally.standing(limits) {
            break;
        }
    }
    (tally.standing(limits), tally)
}

#[test]
fn conditions_read_as_written_and_say_what_is_wrong() {
    for (text, condition) in [
        ("< 0.01", Condition::Below(0.01)),
        ("<=0.5", Condition::AtMost(0.5)),
        ("> 1", Condition::Above(1.0)),
        (">= 0.99", Condition::AtLeast(0.99)),
        ("== 0", Condition::Equal(0.0)),
        ("0.9..1", Condition::Within(0.9, 1.0)),
        (" 200 .. 299 ", Condition::Within(200.0, 299.0)),
    ] {
        assert_eq!(Condition::parse(text), Ok(condition), "{text}");
        assert_eq!(Condition::parse(&condition.to_string()), Ok(condition));
    }
    assert_eq!(
        Condition::parse("< lots"),
        Err("\"lots\" is not a finite number".into())
    );
    assert_eq!(
        Condition::parse("1..0"),
        Err("the range 1..0 is empty: put the lower bound first".into())
    );
    assert_eq!(
        Condition::parse("< NaN"),
        Err("\"NaN\" is not a finite number".into())
    );
    assert!(
        Condition::parse("about 3")
            .unwrap_err()
            .contains("is not a condition: write `< x`")
    );
    let json: Condition = serde_json::from_str("\">= 0.99\"").unwrap();
    assert_eq!(json, Condition::AtLeast(0.99));
    assert!(serde_json::from_str::<Condition>("\"=> 1\"").is_err());
}

#[test]
fn ranges_include_both_bounds() {
    let c = Condition::Within(0.9, 1.0);
    assert!(c.holds(0.9) && c.holds(1.0) && c.holds(0.95));
    assert!(!c.holds(0.899) && !c.holds(1.001));
}

#[test]
fn no_data_too_few_samples_and_nan_follow_the_policy() {
    let c = Condition::Below(0.01);
    let few = Measurement::Value {
        value: 0.0,
        samples: Some(3),
    };
    let enough = Measurement::Value {
        value: 0.0,
        samples: Some(30),
    };
    for (policy, expected) in [
        (NoData::Inconclusive, Outcome::Inconclusive),
        (NoData::Fail, Outcome::Fail),
        (NoData::Pass, Outcome::Pass),
    ] {
        let limits = Limits {
            no_data: policy,
            min_samples: Some(10),
            ..Limits::default()
        };
        assert_eq!(judge(&Measurement::NoData, c, &limits), expected);
        assert_eq!(judge(&value(f64::NAN), c, &limits), expected, "no traffic");
        assert_eq!(judge(&few, c, &limits), expected, "too few samples");
        assert_eq!(judge(&enough, c, &limits), Outcome::Pass);
        assert_eq!(judge(&error(), c, &limits), Outcome::Error, "never a pass");
    }
    assert_eq!(Limits::default().no_data, NoData::Inconclusive);
}

#[test]
fn limits_decide_early_and_the_end_needs_a_measured_pass() {
    let c = Condition::Below(0.01);
    let limits = Limits {
        count: 5,
        failure_limit: 1,
        ..Limits::default()
    };
    // The second fail passes the limit of one: decided at once, not after five.
    let (standing, tally) = run(
        &[value(0.0), value(0.2), value(0.0), value(0.3), value(0.0)],
        c,
        &limits,
    );
    assert_eq!(standing, Standing::Decided(Outcome::Fail));
    assert_eq!(tally.measured, 4);
    // One fail is tolerated.
    let (standing, _) = run(
        &[value(0.0), value(0.2), value(0.0), value(0.0), value(0.0)],
        c,
        &limits,
    );
    assert_eq!(standing, Standing::Decided(Outcome::Pass));
    // Too few measurements yet.
    let (standing, _) = run(&[value(0.0)], c, &limits);
    assert_eq!(standing, Standing::Measuring);
    // Errors: five in a row pass the default limit of four; errors apart do not.
    let (standing, tally) = run(
        &vec![error(); 6],
        c,
        &Limits {
            count: 10,
            ..limits
        },
    );
    assert_eq!(standing, Standing::Decided(Outcome::Error));
    assert_eq!(tally.errors_in_a_row, 5);
    let apart = [error(), value(0.0), error(), value(0.0), error()];
    let (standing, _) = run(&apart, c, &limits);
    assert_eq!(standing, Standing::Decided(Outcome::Pass));
    // A run in which every measurement erred is not a pass, even within the limits.
    let (standing, _) = run(&[error(), error()], c, &Limits { count: 2, ..limits });
    assert_eq!(standing, Standing::Decided(Outcome::Error));
    // Nor one with no data where no data is tolerated as inconclusive.
    let tolerant = Limits {
        count: 2,
        inconclusive_limit: 2,
        ..limits
    };
    let (standing, _) = run(&[Measurement::NoData, Measurement::NoData], c, &tolerant);
    assert_eq!(standing, Standing::Decided(Outcome::Inconclusive));
}

#[test]
fn verdicts_decide_the_rollout_unless_it_is_a_dry_run() {
    let live = Limits::default();
    let dry = Limits {
        dry_run: true,
        ..live
    };
    for (verdict, expected) in [
        (Outcome::Pass, Decision::Proceed),
        (Outcome::Inconclusive, Decision::AskPerson),
        (Outcome::Fail, Decision::RollBack),
        (Outcome::Error, Decision::RollBack),
    ] {
        assert_eq!(decision(verdict, &live), expected);
        assert_eq!(decision(verdict, &dry), Decision::Proceed);
    }
}

#[test]
fn a_verdict_names_the_check_the_last_value_and_the_condition() {
    let c = Condition::Below(0.01);
    let tally = Tally::default()
        .with(Outcome::Pass)
        .with(Outcome::Fail)
        .with(Outcome::Fail);
    assert_eq!(
        verdict_message("error-rate", Outcome::Fail, &value(0.042), c, &tally),
        "check error-rate failed: 0.042, wanted < 0.01 (2 of 3 measurements failed)"
    );
    let erred = Tally::default().with(Outcome::Error);
    assert_eq!(
        verdict_message(
            "latency",
            Outcome::Error,
            &error(),
            Condition::AtMost(0.3),
            &erred
        ),
        "check latency could not measure: error: connection refused, wanted <= 0.3 (1 of 1 \
         measurements erred)"
    );
    let few = Measurement::Value {
        value: 0.0,
        samples: Some(2),
    };
    assert_eq!(
        verdict_message(
            "error-rate",
            Outcome::Inconclusive,
            &few,
            c,
            &Tally::default().with(Outcome::Inconclusive)
        ),
        "check error-rate is inconclusive: 0 (2 samples), wanted < 0.01 (1 of 1 measurements \
         inconclusive)"
    );
}

fn measurement() -> impl Strategy<Value = Measurement> {
    prop_oneof![
        (-1.0f64..1.0, proptest::option::of(0u64..100))
            .prop_map(|(value, samples)| Measurement::Value { value, samples }),
        Just(value(f64::NAN)),
        Just(Measurement::NoData),
        Just(error()),
    ]
}

fn limits() -> impl Strategy<Value = Limits> {
    (
        1u32..8,
        0u32..4,
        0u32..4,
        0u32..6,
        prop_oneof![
            Just(NoData::Fail),
            Just(NoData::Inconclusive),
            Just(NoData::Pass)
        ],
        proptest::option::of(0u64..50),
        any::<bool>(),
    )
        .prop_map(
            |(
                count,
                failure_limit,
                inconclusive_limit,
                consecutive_error_limit,
                no_data,
                min_samples,
                dry_run,
            )| Limits {
                count,
                failure_limit,
                inconclusive_limit,
                consecutive_error_limit,
                no_data,
                min_samples,
                dry_run,
            },
        )
}

proptest! {
    #[test]
    fn a_pass_always_rests_on_a_measured_pass_and_within_every_limit(
        ms in proptest::collection::vec(measurement(), 0..12),
        limits in limits(),
        bound in -0.5f64..0.5,
    ) {
        let c = Condition::Below(bound);
        let (standing, tally) = run(&ms, c, &limits);
        if standing == Standing::Decided(Outcome::Pass) {
            prop_assert!(tally.passes >= 1);
            prop_assert!(tally.fails <= limits.failure_limit);
            prop_assert!(tally.inconclusives <= limits.inconclusive_limit);
            prop_assert!(tally.measured >= limits.count);
        }
        // Nothing is decided before `count` measurements unless a limit was passed.
        if let Standing::Decided(verdict) = standing && tally.measured < limits.count {
            prop_assert!(verdict != Outcome::Pass);
        }
        // Only errors, or only missing data: never a pass, whatever the policy but `pass`.
        let only_errors = vec![error(); ms.len().max(1)];
        let (standing, _) = run(&only_errors, c, &limits);
        prop_assert!(standing != Standing::Decided(Outcome::Pass));
    }

    #[test]
    fn a_dry_run_never_stops_a_rollout_and_a_live_one_never_passes_a_fail(
        ms in proptest::collection::vec(measurement(), 1..12),
        limits in limits(),
    ) {
        let c = Condition::AtMost(0.0);
        let (standing, _) = run(&ms, c, &limits);
        if let Standing::Decided(verdict) = standing {
            let d = decision(verdict, &limits);
            if limits.dry_run {
                prop_assert_eq!(d, Decision::Proceed);
            } else {
                prop_assert_eq!(d == Decision::Proceed, verdict == Outcome::Pass);
            }
        }
    }

    #[test]
    fn a_failed_check_stays_failed_whatever_comes_after(
        ms in proptest::collection::vec(measurement(), 0..10),
        more in proptest::collection::vec(measurement(), 0..10),
        limits in limits(),
    ) {
        let c = Condition::Below(0.0);
        let judged = |t: Tally, m: &Measurement| t.with(judge(m, c, &limits));
        let tally = ms.iter().fold(Tally::default(), judged);
        if tally.standing(&limits) == Standing::Decided(Outcome::Fail) {
            let later = more.iter().fold(tally, judged);
            prop_assert_eq!(later.standing(&limits), Standing::Decided(Outcome::Fail));
        }
    }
}

mod runs {
    use serde_json::json;

    use super::super::run::*;
    use super::*;
    use crate::config::{AnalysisCheck, DurationSpec};

    fn check(condition: &str) -> AnalysisCheck {
        serde_json::from_value(json!({
            "name": "error-rate",
            "http": {"url": "http://127.0.0.1:1/m", "json_path": "$.v"},
            "condition": condition,
        }))
        .unwrap()
    }

    #[test]
    fn placeholders_are_filled_and_promql_braces_kept() {
        let targets = ["web.1".to_owned(), "web-2".to_owned()];
        let subject = Subject {
            app: "api",
            version: "v1.2",
            environment: "prod",
            targets: &targets,
            batch: 3,
        };
        assert_eq!(
            subject.fill(
                r#"sum(rate(http_requests_total{app="{app}",instance=~"{targets}",code=~"5.."}[1m])) {environment} {version} {batch} {other"#
            ),
            r#"sum(rate(http_requests_total{app="api",instance=~"web\\.1|web-2",code=~"5.."}[1m])) prod v1.2 3 {other"#
        );
        assert_eq!(subject.fill("{}{{app}}"), "{}{api}");
    }

    #[test]
    fn measurements_fall_due_after_the_initial_delay_one_interval_apart() {
        let mut c = check("< 1");
        assert_eq!(due_after(&c, 0), 0);
        assert_eq!(due_after(&c, 2), 60, "the default interval is 30s");
        c.initial_delay = Some(DurationSpec(10));
        c.interval = DurationSpec(5);
        assert_eq!((due_after(&c, 0), due_after(&c, 3)), (10, 25));
    }

    #[test]
    fn json_paths_reach_fields_and_items() {
        let v = json!({"a": {"b": [{"c": 1.5}, {"c": "2"}]}, "n": null});
        assert_eq!(json_path(&v, "$.a.b[0].c"), Some(&json!(1.5)));
        assert_eq!(json_path(&v, "$.a.b[1].c"), Some(&json!("2")));
        assert_eq!(json_path(&v, "$"), Some(&v));
        for missing in ["$.a.x", "$.a.b[2]", "$.a.b[x]", "a.b", "$a", "$.a.b[0"] {
            assert_eq!(json_path(&v, missing), None, "{missing}");
        }
        assert_eq!(measure_json(json_path(&v, "$.a.b[1].c")), value(2.0));
        assert_eq!(measure_json(json_path(&v, "$.n")), Measurement::NoData);
        assert_eq!(measure_json(None), Measurement::NoData);
        assert!(matches!(
            measure_json(json_path(&v, "$.a")),
            Measurement::Error { .. }
        ));
        // Prometheus writes "NaN" for a rate without traffic: no data, not a pass.
        let nan = measure_json(Some(&json!("NaN")));
        assert_eq!(
            judge(&nan, Condition::Below(1.0), &Limits::default()),
            Outcome::Inconclusive
        );
    }

    #[test]
    fn a_run_rolls_back_if_any_check_does_and_asks_before_it_proceeds() {
        use Decision::*;
        assert_eq!(overall([]), Proceed);
        assert_eq!(overall([Proceed, AskPerson, Proceed]), AskPerson);
        assert_eq!(overall([AskPerson, RollBack, Proceed]), RollBack);
    }

    #[test]
    fn a_verdict_names_the_check_the_last_value_and_the_condition() {
        let mut c = check("< 0.01");
        let taken = [
            take(&c, value(0.001), "t0".into()),
            take(&c, value(0.042), "t1".into()),
        ];
        assert_eq!(
            standing(&c, &taken),
            Standing::Decided(Outcome::Fail),
            "one fail over a failure_limit of 0"
        );
        assert_eq!(
            message(&c, Outcome::Fail, &taken),
            "check error-rate failed: 0.042, wanted < 0.01 (1 of 2 measurements failed)"
        );
        assert_eq!(decision_of(&c, Outcome::Fail), Decision::RollBack);
        c.dry_run = true;
        assert!(message(&c, Outcome::Fail, &taken).ends_with("(dry run: the rollout goes on)"));
        assert_eq!(decision_of(&c, Outcome::Fail), Decision::Proceed);
        // An alarm has no condition: it must read 0 (OK).
        let alarm: AnalysisCheck = serde_json::from_value(json!({
            "name": "alarm", "cloudwatch": {"alarm": "api-5xx"}
        }))
        .unwrap();
        assert_eq!(condition_of(&alarm), Condition::Equal(0.0));
    }

    #[test]
    fn requests_round_trip_and_other_schema_versions_are_refused() {
        let r = Request::new("d1", "api", 2, "tok");
        assert_eq!(Request::from_json(&r.to_json()).unwrap(), r);
        let err = Request::from_json(
            r#"{"schema_version":9,"deployment_id":"d","app":"a","batch":0,"task_token":"t"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("schema_version 9"), "{err}");
    }
}
