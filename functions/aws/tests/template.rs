//! `infra/template.yaml`: cfn-lint is clean, the SAM transform succeeds offline, and the template keeps
//! the platform contract (names, table keys, queues with DLQs, visibility timeouts, SQS sources).

mod common;

use std::collections::BTreeSet;

use boreas_aws::names::Names;
use boreas_aws::provision::{
    ANALYSIS_MAX_RECEIVE_COUNT, GSI1, GSI2, GSI3, GSI4, K8S_MAX_RECEIVE_COUNT, MAX_RECEIVE_COUNT,
    NOTIFY_MAX_RECEIVE_COUNT, SUBSTITUTION_KEYS, TTL_ATTRIBUTE,
};
use common::{project_asl, run, stdout_of_success, template, template_facts, venv_bin};
use serde_json::Value;

#[test]
fn cfn_lint_is_clean() {
    let template = template();
    let out = run(&venv_bin("cfn-lint"), &[template.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "cfn-lint found problems ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn transform(asl: &str) -> Value {
    let script = common::root().join("infra/sam_transform.py");
    let template = template();
    let out = stdout_of_success(
        &venv_bin("python"),
        &[
            script.to_str().unwrap(),
            template.to_str().unwrap(),
            "--asl",
            asl,
            "--param",
            "DashboardOrigin=https://boreas.example.com",
        ],
    );
    serde_json::from_str(&out).expect("the transform prints JSON")
}

fn resources_of_type<'a>(cfn: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    cfn["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect()
}

#[test]
fn sam_transform_succeeds_offline() {
    let cfn = transform(project_asl().to_str().unwrap());

    let functions = resources_of_type(&cfn, "AWS::Lambda::Function");
    let ids: BTreeSet<&str> = functions.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        BTreeSet::from([
            "AnalysisFunction",
            "ApiFunction",
            "DashboardPublisher",
            "IntakeFunction",
            "K8sOperatorFunction",
            "NotifierFunction",
            "PlannerFunction",
            "RecorderFunction"
        ])
    );
    for (id, f) in &functions {
        assert_eq!(f["Properties"]["Runtime"], "provided.al2023", "{id}");
        assert_eq!(f["Properties"]["Handler"], "bootstrap", "{id}");
    }
    let k8s = functions
        .iter()
        .find(|(id, _)| id.as_str() == "K8sOperatorFunction")
        .unwrap();
    assert_eq!(k8s.1["Condition"], "K8sOperatorEnabled");

    let mappings = resources_of_type(&cfn, "AWS::Lambda::EventSourceMapping");
    assert_eq!(
        mappings.len(),
        6,
        "planner, recorder (events, inventory), notifier, analysis and k8s operator"
    );
    for (id, m) in &mappings {
        assert_eq!(
            m["Properties"]["FunctionResponseTypes"],
            serde_json::json!(["ReportBatchItemFailures"]),
            "{id}"
        );
    }

    // The HTTP API routes both paths to the right functions.
    let api = resources_of_type(&cfn, "AWS::ApiGatewayV2::Api");
    assert_eq!(api.len(), 1);
    let paths = &api[0].1["Properties"]["Body"]["paths"];
    let webhook = &paths["/webhooks/{provider}"]["post"]["x-amazon-apigateway-integration"];
    assert!(
        webhook["uri"].to_string().contains("IntakeFunction"),
        "{webhook}"
    );
    let any = &paths["/api/{proxy+}"]["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"];
    assert!(any["uri"].to_string().contains("ApiFunction"), "{any}");
    let cors = &api[0].1["Properties"]["Body"]["x-amazon-apigateway-cors"];
    // The given origin, else the dashboard's own CloudFront domain.
    assert_eq!(
        cors["allowOrigins"],
        serde_json::json!([{"Fn::If": [
            "DashboardOriginGiven",
            "https://boreas.example.com",
            {"Fn::Sub": "https://${DashboardDistribution.DomainName}"}
        ]}])
    );

    // The dashboard bucket stays private and is readable by its CloudFront distribution only.
    let distributions = resources_of_type(&cfn, "AWS::CloudFront::Distribution");
    assert_eq!(distributions.len(), 1);
    let policy = &cfn["Resources"]["DashboardBucketPolicy"]["Properties"]["PolicyDocument"];
    let grants: Vec<&Value> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .collect();
    assert_eq!(grants.len(), 1, "{policy}");
    assert_eq!(
        grants[0]["Principal"]["Service"],
        "cloudfront.amazonaws.com"
    );
    assert_eq!(grants[0]["Action"], "s3:GetObject");

    let machines = resources_of_type(&cfn, "AWS::StepFunctions::StateMachine");
    assert_eq!(machines.len(), 1);
    let props = &machines[0].1["Properties"];
    let keys: BTreeSet<&str> = props["DefinitionSubstitutions"]
        .as_object()
        .expect("DefinitionSubstitutions")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, BTreeSet::from(SUBSTITUTION_KEYS));
    assert!(props.get("DefinitionString").is_some(), "{props}");
}

#[test]
fn sam_transform_reports_a_missing_definition() {
    let script = common::root().join("infra/sam_transform.py");
    let template = template();
    let missing = std::env::temp_dir().join("boreas-no-such-dir/deployment.asl.json");
    let out = run(
        &venv_bin("python"),
        &[
            script.to_str().unwrap(),
            template.to_str().unwrap(),
            "--asl",
            missing.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(missing.to_str().unwrap()) && stderr.contains("does not exist"),
        "{stderr}"
    );
}

/// Analysis requests reach the worker only from the state machine; the worker reads only metrics
/// credentials, writes only its measurements (and a failed deployment's error), and sends
/// nothing to any queue.
#[test]
fn only_the_state_machine_asks_for_analysis_and_the_worker_reads_only_metrics_credentials() {
    let facts = template_facts("boreas");
    let queue = Names::new("boreas").analysis_queue();
    assert_eq!(
        facts["queue_policies"][&queue],
        serde_json::json!([{
            "effect": "Deny",
            "principal": "*",
            "actions": ["sqs:SendMessage"],
            "resources": [format!("arn-of:{queue}")],
            "condition": {"ArnNotEquals": {"aws:PrincipalArn": [
                "arn-of:generated-name-of:DeploymentStateMachineRole"
            ]}},
        }])
    );
    let machine = facts["state_machines"]["boreas-deployment"]["statements"]
        .as_array()
        .unwrap();
    let queue_arn = format!("arn-of:{queue}");
    assert!(
        resources_for(machine.iter(), "sqs:SendMessage")
            .into_iter()
            .any(|r| arn_matches(r, &queue_arn))
    );
    assert!(!allowed(
        &facts,
        "boreas-agent",
        &[],
        "sqs:SendMessage",
        &sqs_arn(&queue)
    ));
    let worker = "boreas-analysis";
    let statements = facts["functions"][worker]["statements"].as_array().unwrap();
    let grants = |action: &str, arn: &str| {
        resources_for(statements.iter(), action)
            .into_iter()
            .any(|r| arn_matches(r, arn))
    };
    let param = |path: &str| format!("arn:aws:ssm:us-east-1:123456789012:parameter{path}");
    assert!(grants(
        "ssm:GetParameter",
        &param("/boreas/metrics-credentials/prometheus")
    ));
    for path in [
        "/boreas/api-tokens/admin",
        "/boreas/webhook-secrets/github.com/acme/shop",
        "/boreas/git-credentials/github.com/acme/shop",
        "/boreas/notification-sinks/team-chat",
    ] {
        assert!(!grants("ssm:GetParameter", &param(path)), "{path}");
    }
    for action in ["sqs:SendMessage", "ssm:PutParameter", "dynamodb:DeleteItem"] {
        assert!(
            resources_for(statements.iter(), action).is_empty(),
            "the analysis worker may not {action}"
        );
    }
    // Its writes are held to its own records by the table's leading keys.
    let writes: Vec<&Value> = statements
        .iter()
        .filter(|s| {
            let actions = &s["actions"];
            ["dynamodb:PutItem", "dynamodb:UpdateItem"]
                .iter()
                .any(|a| actions.as_array().is_some_and(|v| v.iter().any(|x| x == a)))
        })
        .collect();
    assert_eq!(writes.len(), 2, "{writes:?}");
    for w in &writes {
        assert!(
            w["condition"].to_string().contains("dynamodb:LeadingKeys"),
            "{w}"
        );
    }
    // New items only in its measurements and in the holds of deployments a freeze pauses.
    let puts = writes
        .iter()
        .find(|w| w["actions"].to_string().contains("dynamodb:PutItem"))
        .unwrap();
    assert_eq!(
        puts["condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"],
        serde_json::json!(["ANALYSIS#*", "POLICY#*"]),
        "{puts}"
    );
    assert_eq!(
        facts["functions"][worker]["sqs_sources"][0]["queue"],
        queue.as_str()
    );
}

#[test]
fn template_names_match_names_rs() {
    for prefix in ["boreas", "t3f9a2c"] {
        let names = Names::new(prefix);
        let facts = template_facts(prefix);

        let tables: Vec<&String> = facts["tables"].as_object().unwrap().keys().collect();
        assert_eq!(tables, vec![&names.table()]);

        let queues: BTreeSet<String> = facts["queues"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let mut want = BTreeSet::new();
        for q in [
            names.plan_queue(),
            names.events_queue(),
            names.inventory_queue(),
            names.notifications_queue(),
            names.analysis_queue(),
            names.k8s_queue(boreas_aws::names::DEFAULT_K8S_CLUSTER),
        ] {
            want.insert(Names::dlq(&q));
            want.insert(q);
        }
        assert_eq!(queues, want);

        assert_eq!(
            facts["buckets"],
            serde_json::json!([
                names.artifacts_bucket(),
                names.dashboard_bucket(),
                names.plans_bucket()
            ])
        );
        let machines: Vec<&String> = facts["state_machines"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(machines, vec![&names.state_machine()]);
        assert_eq!(
            facts["ssm_parameters"]["AdminTokenParameterName"],
            names.admin_token_param()
        );
        // The path is what every repository's secret name starts with.
        let path = facts["ssm_parameters"]["WebhookSecretsPath"]
            .as_str()
            .unwrap();
        assert!(
            names
                .webhook_secret_param("github.com/acme/shop")
                .starts_with(path),
            "{path}"
        );

        // The agent and k8s policies and the state machine grant on these name patterns.
        let agent = names.agent_queue("prod", "web-1");
        assert!(agent.starts_with(&format!("{prefix}-agent-")), "{agent}");
    }
}

#[test]
fn table_has_the_contract_keys_index_ttl_and_pitr() {
    let facts = template_facts("boreas");
    let table = &facts["tables"]["boreas-state"];
    assert_eq!(
        table["keys"],
        serde_json::json!({"HASH": "pk", "RANGE": "sk"})
    );
    assert_eq!(
        table["indexes"],
        serde_json::json!({
            GSI1: {"HASH": "gsi1pk", "RANGE": "gsi1sk"},
            GSI2: {"HASH": "gsi2pk", "RANGE": "gsi2sk"},
            GSI3: {"HASH": "gsi3pk", "RANGE": "gsi3sk"},
            GSI4: {"HASH": "gsi4pk", "RANGE": "gsi4sk"},
        })
    );
    assert_eq!(table["ttl"], TTL_ATTRIBUTE);
    assert_eq!(table["pitr"], true);
}

#[test]
fn sqs_sources_report_partial_failures_and_outlast_their_functions() {
    let facts = template_facts("boreas");
    let queues = &facts["queues"];
    let mut consumed = BTreeSet::new();
    for (function, f) in facts["functions"].as_object().unwrap() {
        let timeout = f["timeout"].as_u64().unwrap();
        for source in f["sqs_sources"].as_array().unwrap() {
            let queue = source["queue"].as_str().unwrap();
            consumed.insert(queue.to_owned());
            assert_eq!(
                source["function_response_types"],
                serde_json::json!(["ReportBatchItemFailures"]),
                "{function} on {queue}"
            );
            let visibility = queues[queue]["visibility_timeout"].as_u64().unwrap();
            assert!(
                visibility >= 6 * timeout,
                "{queue}: visibility timeout {visibility}s < 6 × {function}'s timeout {timeout}s"
            );
        }
    }
    assert_eq!(
        consumed,
        BTreeSet::from([
            "boreas-analysis".into(),
            "boreas-events".into(),
            "boreas-inventory".into(),
            "boreas-k8s-main".into(),
            "boreas-notifications".into(),
            "boreas-plan".into()
        ])
    );
    // Every queue that is not itself a dead-letter queue has one.
    for (name, q) in queues.as_object().unwrap() {
        if name.ends_with("-dlq") {
            assert!(q["dlq"].is_null(), "{name}");
        } else {
            assert_eq!(q["dlq"], Names::dlq(name), "{name}");
        }
    }
}

/// The Lambda operator hands a command still rolling out back to its queue once per invocation:
/// the queue's dead-letter threshold leaves room for the longest rollout the function allows, plus
/// the receives any other command may need.
#[test]
fn the_cluster_queue_outlasts_the_longest_rollout_of_the_lambda_operator() {
    let facts = template_facts("boreas");
    let operator = &facts["functions"]["boreas-k8s-operator"];
    let timeout = operator["timeout"].as_u64().unwrap();
    let rollout: u64 = operator["environment"]["BOREAS_ROLLOUT_TIMEOUT_SECONDS"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Each invocation waits until 5 s (the operator's LAMBDA_RESERVE) before its deadline.
    let per_receive = timeout - 5;
    let receives = facts["queues"]["boreas-k8s-main"]["max_receive_count"]
        .as_u64()
        .unwrap();
    assert!(
        receives >= rollout.div_ceil(per_receive) + u64::from(MAX_RECEIVE_COUNT),
        "{receives} receives for a {rollout} s rollout in {per_receive} s slices"
    );
    assert_eq!(receives, u64::from(K8S_MAX_RECEIVE_COUNT));
    // The notifications queue leaves room for every retry of a sink (one receive each).
    assert_eq!(
        facts["queues"]["boreas-notifications"]["max_receive_count"],
        NOTIFY_MAX_RECEIVE_COUNT
    );
    // An analysis request comes back for each measurement and each heartbeat: the SQS maximum.
    assert_eq!(
        facts["queues"]["boreas-analysis"]["max_receive_count"],
        ANALYSIS_MAX_RECEIVE_COUNT
    );
    for (name, q) in facts["queues"].as_object().unwrap() {
        if !["boreas-k8s-main", "boreas-notifications", "boreas-analysis"].contains(&name.as_str())
            && !name.ends_with("-dlq")
        {
            assert_eq!(q["max_receive_count"], MAX_RECEIVE_COUNT, "{name}");
        }
    }
}

/// Every function's CodeUri is a crate of this workspace, and a named binary is that crate's.
#[test]
fn functions_point_at_workspace_crates() {
    let facts = template_facts("boreas");
    let infra = common::root().join("infra");
    for (function, f) in facts["functions"].as_object().unwrap() {
        let dir = infra.join(f["code_uri"].as_str().expect("CodeUri"));
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))
            .unwrap_or_else(|e| panic!("{function}: {}: {e}", dir.display()));
        if let Some(binary) = f["binary"].as_str() {
            assert!(
                manifest.contains(&format!("name = \"{binary}\""))
                    && dir.join("src/main.rs").exists(),
                "{function}: {} has no binary {binary}",
                dir.display()
            );
        }
    }
}

/// The dashboard is published by the DashboardSite custom resource: its function is invoked through
/// a stable alias, a new version re-publishes, and the function may write the dashboard bucket only.
#[test]
fn the_dashboard_site_is_published_by_its_own_function() {
    let cfn = transform(project_asl().to_str().unwrap());
    let resources = &cfn["Resources"];
    let sites = resources_of_type(&cfn, "Custom::DashboardSite");
    assert_eq!(sites.len(), 1, "one Custom::DashboardSite");
    let props = &sites[0].1["Properties"];
    assert_eq!(
        props["Bucket"],
        serde_json::json!({"Ref": "DashboardBucket"})
    );
    assert!(
        props["ApiUrl"]["Fn::Sub"]
            .as_str()
            .is_some_and(|url| url.starts_with("https://${HttpApi}.execute-api.")),
        "{props}"
    );
    let alias = props["ServiceToken"]["Ref"].as_str().expect("ServiceToken");
    assert_eq!(resources[alias]["Type"], "AWS::Lambda::Alias", "{alias}");
    assert_eq!(
        resources[alias]["Properties"]["FunctionName"],
        serde_json::json!({"Ref": "DashboardPublisher"})
    );
    let version = props["CodeVersion"]["Ref"].as_str().expect("CodeVersion");
    assert_eq!(
        resources[version]["Type"], "AWS::Lambda::Version",
        "{version}"
    );

    let function = &resources["DashboardPublisher"]["Properties"];
    let role = function["Role"]["Fn::GetAtt"][0].as_str().expect("a role");
    let policies = resources[role]["Properties"]["Policies"]
        .as_array()
        .expect("inline policies");
    let statements: Vec<&Value> = policies
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap())
        .collect();
    assert_eq!(
        statements,
        [
            &serde_json::json!({
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:DeleteObject"],
                "Resource": {"Fn::Sub": "${DashboardBucket.Arn}/*"}
            }),
            &serde_json::json!({
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": {"Fn::GetAtt": ["DashboardBucket", "Arn"]}
            }),
        ]
    );
}

#[test]
fn the_dashboard_publisher_ships_the_site_and_writes_only_the_dashboard_bucket() {
    for prefix in ["boreas", "t3f9a2c"] {
        let names = Names::new(prefix);
        let facts = template_facts(prefix);
        let function = format!("{prefix}-dashboard-publisher");
        let site = &facts["custom_resources"]["DashboardSite"];
        assert_eq!(site["type"], "Custom::DashboardSite");
        let props = &site["properties"];
        assert_eq!(props["Bucket"], names.dashboard_bucket());
        assert_eq!(props["ServiceToken"], format!("alias-of:{function}"));
        assert_eq!(props["CodeVersion"], format!("version-of:{function}"));

        let publisher = &facts["functions"][&function];
        assert_eq!(publisher["build_method"], "makefile", "{publisher}");
        assert!(publisher["auto_publish_alias"].is_string(), "{publisher}");
        let bucket = format!("arn-of:{}", names.dashboard_bucket());
        assert_eq!(
            publisher["statements"],
            serde_json::json!([
                {"actions": ["s3:DeleteObject", "s3:PutObject"], "resources": [format!("{bucket}/*")]},
                {"actions": ["s3:ListBucket"], "resources": [bucket]},
            ])
        );

        // SAM's makefile build runs `build-<logical id>`; the target packs the dashboard as site/.
        let makefile = common::root()
            .join("infra")
            .join(publisher["code_uri"].as_str().unwrap())
            .join("Makefile");
        let makefile = std::fs::read_to_string(&makefile)
            .unwrap_or_else(|e| panic!("{}: {e}", makefile.display()));
        assert!(
            makefile.contains("\nbuild-DashboardPublisher:")
                && makefile.contains("$(ARTIFACTS_DIR)/site"),
            "{makefile}"
        );
    }
}

/// Resolves IAM policy variables the way IAM does for a principal with `tags`; `None` when a
/// variable names a tag the principal lacks (IAM then matches nothing for that resource).
fn with_principal_tags(resource: &str, tags: &[(&str, &str)]) -> Option<String> {
    let mut out = resource.to_owned();
    while let Some(start) = out.find("${aws:PrincipalTag/") {
        let end = start + out[start..].find('}').expect("a closed policy variable");
        let key = &out[start + "${aws:PrincipalTag/".len()..end];
        let value = tags.iter().find(|(k, _)| *k == key)?.1;
        out.replace_range(start..=end, value);
    }
    Some(out)
}

/// Whether an IAM resource pattern (with `*` and `?`) matches `arn`.
fn arn_matches(pattern: &str, arn: &str) -> bool {
    let (p, a): (Vec<char>, Vec<char>) = (pattern.chars().collect(), arn.chars().collect());
    // Classic glob matching with backtracking over the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < a.len() {
        if i < p.len() && (p[i] == '?' || p[i] == a[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

/// Whether a principal with `tags` holding managed policy `policy` is allowed `action` on `arn`:
/// an Allow statement matches and no Deny statement does (IAM's explicit deny).
fn allowed(facts: &Value, policy: &str, tags: &[(&str, &str)], action: &str, arn: &str) -> bool {
    let matches = |effect: &str| {
        let statements = facts["managed_policies"][policy]
            .as_array()
            .unwrap_or_else(|| panic!("managed policy {policy}"))
            .iter()
            .filter(|st| st["effect"] == effect);
        resources_for(statements, action)
            .into_iter()
            .filter_map(|r| with_principal_tags(r, tags))
            .any(|r| arn_matches(&r, arn))
    };
    matches("Allow") && !matches("Deny")
}

/// The resources of those of `statements` that name `action`.
fn resources_for<'a>(statements: impl Iterator<Item = &'a Value>, action: &str) -> Vec<&'a str> {
    statements
        .filter(|st| {
            st["actions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a == action)
        })
        .flat_map(|st| st["resources"].as_array().unwrap())
        .map(|r| r.as_str().unwrap())
        .collect()
}

/// A host reads the `ssm:` values of its own environment's apps, and neither another
/// environment's nor any of Boreas's own secrets, whatever their path holds.
#[test]
fn a_host_reads_only_its_own_environments_ssm_values() {
    let facts = template_facts("boreas");
    let web1 = [("boreas-environment", "prod"), ("boreas-host", "web-1")];
    let param = |path: &str| format!("arn:aws:ssm:us-east-1:123456789012:parameter{path}");
    let read = |tags: &[(&str, &str)], path: &str| {
        allowed(
            &facts,
            "boreas-agent",
            tags,
            "ssm:GetParameter",
            &param(path),
        )
    };
    assert!(read(&web1, "/shop/prod/db-url"));
    for path in [
        "/shop/staging/db-url",
        "/shop/production/db-url",
        // Boreas's secrets, even where a repository's owner is named like the environment.
        "/boreas/webhook-secrets/github.com/prod/shop",
        "/boreas/git-credentials/github.com/prod/shop",
        "/boreas/api-tokens/admin",
    ] {
        assert!(!read(&web1, path), "{path}");
    }
    assert!(!read(&[], "/shop/prod/db-url"), "without its tags");
}

fn sqs_arn(queue: &str) -> String {
    format!("arn:aws:sqs:us-east-1:123456789012:{queue}")
}

/// One host's rights reach its own queue and nothing of another host's; it sends only to the
/// inventory queue, and may not change any queue's attributes. Same for an in-cluster operator
/// and its cluster's queue.
#[test]
fn each_host_and_cluster_may_use_only_its_own_queue_and_send_only_inventories() {
    let facts = template_facts("boreas");
    let names = Names::new("boreas");
    let inventory = format!("arn-of:{}", names.inventory_queue());
    let events = format!("arn-of:{}", names.events_queue());
    let web1 = [("boreas-environment", "prod"), ("boreas-host", "web-1")];
    let own = sqs_arn(&names.agent_queue("prod", "web-1"));
    let own_dlq = sqs_arn(&Names::dlq(&names.agent_queue("prod", "web-1")));
    for action in [
        "sqs:CreateQueue",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
    ] {
        assert!(
            allowed(&facts, "boreas-agent", &web1, action, &own),
            "{action}"
        );
        assert!(allowed(
            &facts,
            "boreas-agent",
            &web1,
            "sqs:CreateQueue",
            &own_dlq
        ));
        for other in [
            names.agent_queue("prod", "web-2"),
            names.agent_queue("prod", "web-10"),
            names.agent_queue("staging", "web-1"),
            // A name the host's own would be a prefix of.
            format!("{}-x", names.agent_queue("prod", "web-1")),
        ] {
            assert!(
                !allowed(&facts, "boreas-agent", &web1, action, &sqs_arn(&other)),
                "{action} on {other}"
            );
        }
        // Without its tags a principal matches no queue at all.
        assert!(
            !allowed(&facts, "boreas-agent", &[], action, &own),
            "{action}"
        );
    }
    let agent_statements = facts["managed_policies"]["boreas-agent"]
        .as_array()
        .unwrap();
    let sends: Vec<&Value> = agent_statements
        .iter()
        .filter(|st| {
            st["actions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a == "sqs:SendMessage")
        })
        .flat_map(|st| st["resources"].as_array().unwrap())
        .collect();
    assert_eq!(sends, [&Value::from(inventory.clone())]);

    let main = [("boreas-cluster", "main")];
    let own = sqs_arn(&names.k8s_queue("main"));
    assert!(allowed(
        &facts,
        "boreas-k8s-operator",
        &main,
        "sqs:ReceiveMessage",
        &own
    ));
    for other in ["main-2", "other"] {
        let arn = sqs_arn(&names.k8s_queue(other));
        assert!(!allowed(
            &facts,
            "boreas-k8s-operator",
            &main,
            "sqs:ReceiveMessage",
            &arn
        ));
    }
    for (policy, statements) in facts["managed_policies"].as_object().unwrap() {
        for st in statements.as_array().unwrap() {
            let actions = st["actions"].as_array().unwrap();
            assert!(
                !actions
                    .iter()
                    .any(|a| a == "sqs:SetQueueAttributes" || a == "sqs:*"),
                "{policy}: {st}"
            );
            if actions.iter().any(|a| a == "sqs:SendMessage") {
                assert_eq!(st["resources"], serde_json::json!([inventory]), "{policy}");
            }
            assert!(
                !st["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r == &Value::from(events.clone())),
                "{policy} reaches the platform events queue"
            );
        }
    }

    // The Lambda operator: its own cluster's queue and the inventory queue, nothing wider.
    let operator = &facts["functions"]["boreas-k8s-operator"]["statements"];
    let sqs: Vec<(Value, Value)> = operator
        .as_array()
        .unwrap()
        .iter()
        .filter(|st| {
            st["actions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a.as_str().unwrap().starts_with("sqs:"))
        })
        .map(|st| (st["actions"].clone(), st["resources"].clone()))
        .collect();
    assert_eq!(
        sqs,
        [
            (
                serde_json::json!([
                    "sqs:ChangeMessageVisibility",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:ReceiveMessage"
                ]),
                serde_json::json!([format!("arn-of:{}", names.k8s_queue("main"))])
            ),
            (
                serde_json::json!(["sqs:SendMessage"]),
                serde_json::json!([inventory])
            ),
        ]
    );
}

/// The platform events queue refuses every sender but the state machine's role, whatever
/// identity policies grant; the state machine sends there and never to the inventory queue.
#[test]
fn only_the_state_machine_sends_platform_events() {
    let facts = template_facts("boreas");
    let names = Names::new("boreas");
    assert_eq!(
        facts["queue_policies"][names.events_queue()],
        serde_json::json!([{
            "effect": "Deny",
            "principal": "*",
            "actions": ["sqs:SendMessage"],
            "resources": [format!("arn-of:{}", names.events_queue())],
            "condition": {"ArnNotEquals": {
                "aws:PrincipalArn": "arn-of:generated-name-of:DeploymentStateMachineRole"
            }},
        }])
    );
    // The role the condition names is the one SAM generates for the state machine.
    let cfn = transform(project_asl().to_str().unwrap());
    assert!(
        resources_of_type(&cfn, "AWS::IAM::Role")
            .iter()
            .any(|(id, _)| id.as_str() == "DeploymentStateMachineRole")
    );
}

/// The plans bucket holds the fleet's layout: the api and the planner (which start executions)
/// may only write execution inputs there, the state machine may only read them, and no other
/// principal of the stack may touch it.
#[test]
fn only_what_starts_executions_writes_their_inputs_and_only_the_state_machine_reads_them() {
    let facts = template_facts("boreas");
    let bucket = Names::new("boreas").plans_bucket();
    let grants = |statements: &Value| -> Vec<(String, String)> {
        statements
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|st| {
                let resources = st["resources"].as_array().unwrap().clone();
                st["actions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(move |a| {
                        resources
                            .clone()
                            .into_iter()
                            .map(move |r| (a.as_str().unwrap().to_owned(), r.to_string()))
                    })
                    .collect::<Vec<_>>()
            })
            // A wildcard resource would reach the bucket too.
            .filter(|(a, r)| a.starts_with("s3:") && (r.contains(&bucket) || r == "\"*\""))
            .collect()
    };
    let mut writers = Vec::new();
    for (function, f) in facts["functions"].as_object().unwrap() {
        let g = grants(&f["statements"]);
        if !g.is_empty() {
            assert_eq!(
                g,
                [(
                    "s3:PutObject".to_owned(),
                    format!("\"arn-of:{bucket}/executions/*\"")
                )],
                "{function}"
            );
            writers.push(function.clone());
        }
    }
    assert_eq!(writers, ["boreas-api", "boreas-planner"]);
    let machine = &facts["state_machines"]["boreas-deployment"];
    assert_eq!(
        grants(&machine["statements"]),
        [(
            "s3:GetObject".to_owned(),
            format!("\"arn-of:{bucket}/executions/*\"")
        )]
    );
    for (policy, statements) in facts["managed_policies"].as_object().unwrap() {
        let touches = statements.to_string().contains(&bucket);
        assert!(!touches, "worker policy {policy} names the plans bucket");
    }
}

/// `infra/samconfig.toml` keeps the README's `sam build && sam deploy` unattended: SAM's beta
/// features are on for build and sync (the functions' `rust-cargolambda` build method is one),
/// and the parameters it writes out are the template's, with the template's defaults.
#[test]
fn samconfig_runs_sam_unattended_with_the_template_parameters() {
    const READ: &str = r#"import json, shlex, sys, tomllib
from cfnlint.decode import cfn_yaml
conf = tomllib.load(open(sys.argv[1], "rb"))["default"]
template = cfn_yaml.load(sys.argv[2])
overrides = dict(p.split("=", 1) for p in shlex.split(conf["deploy"]["parameters"]["parameter_overrides"]))
print(json.dumps({
    "build": conf["build"]["parameters"], "sync": conf["sync"]["parameters"],
    "deploy": conf["deploy"]["parameters"], "overrides": overrides,
    "defaults": {k: str(v.get("Default")) for k, v in template["Parameters"].items()},
    "build_methods": sorted({str(r.get("Metadata", {}).get("BuildMethod")) for r in template["Resources"].values()
                             if r["Type"] == "AWS::Serverless::Function"}),
}))"#;
    let conf = common::root().join("infra/samconfig.toml");
    let out = stdout_of_success(
        &venv_bin("python"),
        &[
            "-c",
            READ,
            conf.to_str().unwrap(),
            template().to_str().unwrap(),
        ],
    );
    let facts: Value = serde_json::from_str(&out).unwrap();
    assert!(
        facts["build_methods"]
            .as_array()
            .unwrap()
            .contains(&"rust-cargolambda".into()),
        "{facts}"
    );
    for command in ["build", "sync"] {
        assert_eq!(facts[command]["beta_features"], true, "{command}: {facts}");
    }
    let capabilities = facts["deploy"]["capabilities"].as_str().unwrap();
    assert!(capabilities.contains("CAPABILITY_NAMED_IAM"), "{facts}");
    let overrides = facts["overrides"].as_object().unwrap();
    assert!(overrides.contains_key("Prefix"), "{facts}");
    for (name, value) in overrides {
        assert_eq!(
            &facts["defaults"][name], value,
            "samconfig.toml sets {name}={value}, the template's default differs or it has no such parameter"
        );
    }
}

/// Plan jobs and rechecks reach the planner only from intake (pushes), the api (grants, removed
/// windows), the recorder (outcomes) and the planner itself (timers): no worker, agent or operator
/// can make the planner start a deployment.
#[test]
fn only_intake_the_api_the_recorder_and_the_planner_send_plan_jobs_and_rechecks() {
    let facts = template_facts("boreas");
    let queue_arn = format!("arn-of:{}", Names::new("boreas").plan_queue());
    let mut sending: Vec<&str> = facts["functions"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, f)| {
            resources_for(
                f["statements"].as_array().unwrap().iter(),
                "sqs:SendMessage",
            )
            .into_iter()
            .any(|r| arn_matches(r, &queue_arn))
        })
        .map(|(name, _)| name.as_str())
        .collect();
    sending.sort_unstable();
    assert_eq!(
        sending,
        [
            "boreas-api",
            "boreas-intake",
            "boreas-planner",
            "boreas-recorder"
        ]
    );
    let machine = facts["state_machines"]["boreas-deployment"]["statements"]
        .as_array()
        .unwrap();
    assert!(
        !resources_for(machine.iter(), "sqs:SendMessage")
            .into_iter()
            .any(|r| arn_matches(r, &queue_arn))
    );
}

/// Notices reach the notifier only from the planner, the api, the recorder and the state machine
/// (whatever identity policies grant), and the notifier reads no secret but repositories' tokens and registered
/// sinks, and writes no queue.
#[test]
fn only_the_platform_announces_and_the_notifier_reads_only_its_own_secrets() {
    let facts = template_facts("boreas");
    let names = Names::new("boreas");
    let queue = names.notifications_queue();
    let senders = [
        "PlannerFunctionRole",
        "ApiFunctionRole",
        "RecorderFunctionRole",
        "DeploymentStateMachineRole",
    ]
    .map(|role| format!("arn-of:generated-name-of:{role}"));
    assert_eq!(
        facts["queue_policies"][&queue],
        serde_json::json!([{
            "effect": "Deny",
            "principal": "*",
            "actions": ["sqs:SendMessage"],
            "resources": [format!("arn-of:{queue}")],
            "condition": {"ArnNotEquals": {"aws:PrincipalArn": senders}},
        }])
    );
    let granted = |function: &str, action: &str| {
        let statements = facts["functions"][function]["statements"]
            .as_array()
            .unwrap();
        resources_for(statements.iter(), action)
    };
    let grants = |function: &str, action: &str, arn: &str| {
        granted(function, action)
            .into_iter()
            .any(|r| arn_matches(r, arn))
    };
    let queue_arn = format!("arn-of:{queue}");
    let mut sending: Vec<&str> = facts["functions"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .filter(|f| grants(f, "sqs:SendMessage", &queue_arn))
        .collect();
    sending.sort_unstable();
    assert_eq!(sending, ["boreas-api", "boreas-planner", "boreas-recorder"]);
    // The state machine announces finished batches.
    let machine = facts["state_machines"]["boreas-deployment"]["statements"]
        .as_array()
        .unwrap();
    assert!(
        resources_for(machine.iter(), "sqs:SendMessage")
            .into_iter()
            .any(|r| arn_matches(r, &queue_arn))
    );
    assert!(!allowed(
        &facts,
        "boreas-agent",
        &[],
        "sqs:SendMessage",
        &sqs_arn(&queue)
    ));

    let param = |path: &str| format!("arn:aws:ssm:us-east-1:123456789012:parameter{path}");
    let notifier = "boreas-notifier";
    assert!(grants(
        notifier,
        "ssm:GetParameter",
        &param("/boreas/git-credentials/github.com/acme/shop")
    ));
    assert!(grants(
        notifier,
        "ssm:GetParameter",
        &param("/boreas/notification-sinks/team-chat")
    ));
    for path in [
        "/boreas/api-tokens/admin",
        "/boreas/webhook-secrets/github.com/acme/shop",
    ] {
        assert!(
            !grants(notifier, "ssm:GetParameter", &param(path)),
            "{path}"
        );
    }
    for action in [
        "sqs:SendMessage",
        "ssm:PutParameter",
        "states:SendTaskSuccess",
        "dynamodb:PutItem",
    ] {
        assert!(
            granted(notifier, action).is_empty(),
            "the notifier may not {action}"
        );
    }
    assert_eq!(
        facts["functions"][notifier]["sqs_sources"][0]["queue"],
        queue.as_str()
    );
}
