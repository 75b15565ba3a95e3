//! `boreas provision` against the emulator started by this test process: it creates everything the
//! template declares, a second run changes nothing, drift is corrected, bad definitions are refused
//! before anything is created, and template and provisioning stay in parity.

mod common;

use std::collections::BTreeSet;

use aws_sdk_sqs::types::QueueAttributeName;
use boreas_aws::emulator;
use boreas_aws::emulator::unique_prefix;
use boreas_aws::names::Names;
use boreas_aws::provision::{Provisioned, SUBSTITUTION_KEYS, placeholders, provision};
use common::{project_asl, template_facts};

/// Deployment `id` of the example plan to staging, succeeded as the previous release recorded
/// it (the status only: no release of its apps).
async fn succeeded(store: &boreas_aws::store::DynamoStore, id: &str) {
    use boreas_aws::store::{Store, Transition};
    use boreas_core::deployment::DeploymentStatus;
    use boreas_test_support::records;
    store
        .create_deployment(&records::new_deployment(
            id,
            records::example_plan("staging", "v1"),
        ))
        .await
        .unwrap();
    for to in [DeploymentStatus::Running, DeploymentStatus::Succeeded] {
        store
            .transition_deployment(id, &Transition::to(to, records::at(3)))
            .await
            .unwrap();
    }
}

async fn sdk() -> aws_config::SdkConfig {
    boreas_aws::sdk_config(Some(emulator::shared().await.endpoint())).await
}

async fn secure_string(cfg: &aws_config::SdkConfig, name: &str) -> String {
    aws_sdk_ssm::Client::new(cfg)
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .expect("parameter exists")
        .parameter
        .and_then(|p| p.value)
        .expect("parameter value")
}

#[tokio::test]
async fn a_second_run_changes_nothing_and_duplicates_nothing() {
    let cfg = sdk().await;
    let names = Names::new(&unique_prefix('t'));
    let asl = project_asl();

    let first = provision(&cfg, &names, &asl).await.expect("first run");
    assert!(!first.changes.is_empty());
    let admin = secure_string(&cfg, &names.admin_token_param()).await;
    let webhook = secure_string(
        &cfg,
        &names.webhook_secret_param(boreas_aws::provision::DEMO_REPOSITORY),
    )
    .await;
    assert_eq!(admin.len(), 64, "32 random bytes, hex");
    assert_ne!(admin, webhook);

    let second = provision(&cfg, &names, &asl).await.expect("second run");
    assert_eq!(
        second.changes,
        Vec::<String>::new(),
        "the second run changed things"
    );
    assert_eq!(
        serde_json::to_string_pretty(&first).unwrap(),
        serde_json::to_string_pretty(&second).unwrap()
    );
    // Secrets are generated only once.
    assert_eq!(secure_string(&cfg, &names.admin_token_param()).await, admin);
    assert_eq!(
        secure_string(
            &cfg,
            &names.webhook_secret_param(boreas_aws::provision::DEMO_REPOSITORY)
        )
        .await,
        webhook
    );

    // Nothing duplicated: exactly the twelve queues (six and their dead-letter queues) and one
    // state machine of this prefix.
    let sqs = aws_sdk_sqs::Client::new(&cfg);
    let urls = sqs
        .list_queues()
        .queue_name_prefix(format!("{}-", names.prefix()))
        .send()
        .await
        .unwrap()
        .queue_urls
        .unwrap_or_default();
    assert_eq!(urls.len(), 12, "{urls:?}");
    let sfn = aws_sdk_sfn::Client::new(&cfg);
    let machines = sfn.list_state_machines().send().await.unwrap();
    let ours: Vec<_> = machines
        .state_machines()
        .iter()
        .filter(|m| m.name() == names.state_machine())
        .collect();
    assert_eq!(ours.len(), 1);
    let ssm = aws_sdk_ssm::Client::new(&cfg);
    let params = ssm
        .get_parameters_by_path()
        .path(format!("/{}", names.prefix()))
        .recursive(true)
        .send()
        .await
        .unwrap();
    assert_eq!(params.parameters().len(), 2);

    // The queues carry their redrive policy; the table its TTL.
    let plan = &first.queues["plan"];
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&plan.url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let redrive: serde_json::Value =
        serde_json::from_str(&attrs[&QueueAttributeName::RedrivePolicy]).unwrap();
    assert!(
        redrive["deadLetterTargetArn"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{}", plan.dlq_name)),
        "{redrive}"
    );
    assert_eq!(attrs[&QueueAttributeName::VisibilityTimeout], "720");
    let dynamodb = aws_sdk_dynamodb::Client::new(&cfg);
    let ttl = dynamodb
        .describe_time_to_live()
        .table_name(names.table())
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|t| t.attribute_name()),
        Some("expires_at")
    );

    // The substitutions follow the contract.
    let endpoint = emulator::shared().await.endpoint();
    assert_eq!(first.substitutions["TableName"], names.table());
    assert_eq!(
        first.substitutions["QueueUrlPrefix"],
        format!("{endpoint}/123456789012/{}-", names.prefix())
    );
    assert_eq!(
        first.substitutions["EventsQueueUrl"],
        first.queues["events"].url
    );
    let definition = sfn
        .describe_state_machine()
        .state_machine_arn(&first.state_machine_arn)
        .send()
        .await
        .unwrap()
        .definition;
    assert!(placeholders(&definition).is_empty(), "{definition}");
    assert!(definition.contains(&first.substitutions["QueueUrlPrefix"]));
}

#[tokio::test]
async fn drift_is_corrected() {
    let cfg = sdk().await;
    let names = Names::new(&unique_prefix('t'));
    let asl = project_asl();
    let first = provision(&cfg, &names, &asl).await.expect("first run");

    let sqs = aws_sdk_sqs::Client::new(&cfg);
    sqs.set_queue_attributes()
        .queue_url(&first.queues["events"].url)
        .attributes(QueueAttributeName::VisibilityTimeout, "5")
        .send()
        .await
        .unwrap();
    let again = provision(&cfg, &names, &asl).await.expect("second run");
    assert_eq!(
        again.changes,
        vec![format!(
            "updated VisibilityTimeout of queue {}",
            names.events_queue()
        )]
    );
    let visibility = sqs
        .get_queue_attributes()
        .queue_url(&first.queues["events"].url)
        .attribute_names(QueueAttributeName::VisibilityTimeout)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
        .remove(&QueueAttributeName::VisibilityTimeout);
    assert_eq!(visibility.as_deref(), Some("180"));
}

async fn table_exists(cfg: &aws_config::SdkConfig, names: &Names) -> bool {
    aws_sdk_dynamodb::Client::new(cfg)
        .describe_table()
        .table_name(names.table())
        .send()
        .await
        .is_ok()
}

#[tokio::test]
async fn a_missing_definition_fails_before_anything_is_created() {
    let cfg = sdk().await;
    let names = Names::new(&unique_prefix('t'));
    let missing = std::env::temp_dir().join(format!("{}-none/deployment.asl.json", names.prefix()));
    let err = provision(&cfg, &names, &missing).await.unwrap_err();
    assert_eq!(err.error_type(), "Io");
    assert!(err.to_string().contains(missing.to_str().unwrap()), "{err}");
    assert!(!table_exists(&cfg, &names).await);
}

#[tokio::test]
async fn an_unknown_placeholder_fails_before_anything_is_created() {
    let cfg = sdk().await;
    let names = Names::new(&unique_prefix('t'));
    let dir = std::env::temp_dir().join(format!("{}-asl", names.prefix()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("deployment.asl.json");
    std::fs::write(
        &path,
        r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Result":"${TableNme}","End":true}}}"#,
    )
    .unwrap();
    let err = provision(&cfg, &names, &path).await.unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(err.error_type(), "InvalidInput");
    assert!(err.to_string().contains("\"TableNme\""), "{err}");
    assert!(!table_exists(&cfg, &names).await);
}

/// Every table, index, queue, bucket, state machine, substitution key and SSM parameter of the
/// template has a local counterpart, and the other way round.
#[tokio::test]
async fn provisioning_matches_the_template() {
    let cfg = sdk().await;
    let names = Names::new(&unique_prefix('t'));
    let asl = project_asl();
    let p: Provisioned = provision(&cfg, &names, &asl).await.expect("provision");
    let facts = template_facts(names.prefix());

    let tables: BTreeSet<String> = facts["tables"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(tables, BTreeSet::from([p.table.clone()]), "tables");
    let indexes: BTreeSet<String> = facts["tables"][&p.table]["indexes"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(indexes, p.indexes.iter().cloned().collect(), "indexes");

    let template_queues = facts["queues"].as_object().unwrap();
    let mut local_queues = BTreeSet::new();
    for q in p.queues.values() {
        local_queues.insert(q.name.clone());
        local_queues.insert(q.dlq_name.clone());
        assert_eq!(
            template_queues[&q.name]["visibility_timeout"], q.visibility_timeout_secs,
            "visibility timeout of {}",
            q.name
        );
        assert_eq!(template_queues[&q.name]["dlq"], q.dlq_name);
        assert_eq!(
            template_queues[&q.name]["max_receive_count"], q.max_receive_count,
            "receives before the dead-letter queue of {}",
            q.name
        );
    }
    let template_queue_names: BTreeSet<String> = template_queues.keys().cloned().collect();
    assert_eq!(template_queue_names, local_queues, "queues");

    let buckets: BTreeSet<String> = p.buckets.values().cloned().collect();
    let template_buckets: BTreeSet<String> = facts["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(template_buckets, buckets, "buckets");

    let machines = facts["state_machines"].as_object().unwrap();
    assert_eq!(machines.len(), 1);
    let (machine, spec) = machines.iter().next().unwrap();
    assert!(
        p.state_machine_arn
            .ends_with(&format!(":stateMachine:{machine}")),
        "{}",
        p.state_machine_arn
    );
    let template_keys: BTreeSet<String> = spec["substitution_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    let local_keys: BTreeSet<String> = p.substitutions.keys().cloned().collect();
    assert_eq!(template_keys, local_keys, "substitution keys");
    assert_eq!(
        local_keys,
        SUBSTITUTION_KEYS.iter().map(|k| (*k).to_owned()).collect()
    );

    // SSM: each name the template publishes is provisioned (a path: some parameter under it), and
    // each provisioned parameter is one the template publishes.
    let template_ssm: Vec<String> = facts["ssm_parameters"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let covers = |t: &str, local: &str| {
        if t.ends_with('/') {
            local.starts_with(t)
        } else {
            local == t
        }
    };
    for t in &template_ssm {
        assert!(
            p.parameters.values().any(|l| covers(t, l)),
            "template SSM name {t} has no local parameter ({:?})",
            p.parameters
        );
    }
    for l in p.parameters.values() {
        assert!(
            template_ssm.iter().any(|t| covers(t, l)),
            "local parameter {l} is not in the template ({template_ssm:?})"
        );
    }
}

/// The state machine definition's placeholders are exactly the template's substitution keys.
#[test]
fn definition_placeholders_match_the_template() {
    let definition = std::fs::read_to_string(project_asl()).expect("read the definition");
    let facts = template_facts("boreas");
    let template_keys: Vec<String> =
        facts["state_machines"]["boreas-deployment"]["substitution_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect();
    assert_eq!(placeholders(&definition), template_keys);
}

/// A table made before `gsi2` to `gsi4` existed gets them, and its versions and deployments get
/// their keys, so the lists by repository, environment and status find what was stored before;
/// its releases and inventories are projected for the app views.
#[tokio::test]
async fn an_older_table_gets_the_new_indexes_and_its_items_their_keys() {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType,
    };
    use boreas_aws::store::{DeploymentFilter, DynamoStore, PageRequest, Store, Transition};
    use boreas_core::deployment::DeploymentStatus;
    use boreas_test_support::records;

    let cfg = sdk().await;
    let names = Names::new(&unique_prefix('u'));
    let ddb = aws_sdk_dynamodb::Client::new(&cfg);
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    // The table as the previous release created it: `gsi1` only.
    ddb.create_table()
        .table_name(names.table())
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(["pk", "sk", "gsi1pk", "gsi1sk"].map(attr).to_vec()))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("gsi1")
                .key_schema(key("gsi1pk", KeyType::Hash))
                .key_schema(key("gsi1sk", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let store = DynamoStore::from_config(&cfg, names.table());
    store
        .put_version(&records::version("shop", "v1", "c1"))
        .await
        .unwrap();
    let plan = boreas_core::plan::Plan {
        environment: "prod".into(),
        version: "v1".into(),
        stages: Vec::new(),
        skipped: Vec::new(),
    };
    let new = records::new_deployment("dep-old", plan);
    store.create_deployment(&new).await.unwrap();
    store
        .transition_deployment(
            "dep-old",
            &Transition::to(DeploymentStatus::Running, records::at(2)),
        )
        .await
        .unwrap();
    // A release and an inventory from before the app projection existed.
    succeeded(&store, "dep-ok").await;
    store
        .upsert_agent(&boreas_aws::store::Agent {
            apps: serde_json::json!([{"app": "api", "version": "v1", "healthy": true}]),
            ..records::agent("staging", "h1", "api")
        })
        .await
        .unwrap();
    for sk in ["META", "ENV#staging", "HOST#staging#h1"] {
        ddb.delete_item()
            .table_name(names.table())
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S("APP#api".into()),
            )
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk.into()))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(store.app_records("api").await.unwrap(), Default::default());
    // Written by the previous release: no keys of the indexes it did not have.
    for (pk, sk) in [
        ("REPO#shop", "VERSION#v1"),
        ("DEP#dep-old", "META"),
        ("DEP#dep-ok", "META"),
    ] {
        ddb.update_item()
            .table_name(names.table())
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk.into()))
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk.into()))
            .update_expression("REMOVE gsi2pk, gsi2sk, gsi3pk, gsi3sk, gsi4pk, gsi4sk")
            .send()
            .await
            .unwrap();
    }
    // Upgrading records needs the indexes first (provisioning or the stack adds them).
    let err = boreas_aws::provision::upgrade_table(&cfg, &names.table())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("it has no index gsi2"), "{err}");
    let p = provision(&cfg, &names, &project_asl())
        .await
        .expect("provision");
    assert_eq!(p.indexes, ["gsi1", "gsi2", "gsi3", "gsi4"]);
    for change in [
        "added index gsi2",
        "added index gsi3",
        "added index gsi4",
        "gave 3 existing items",
        "projected 2 existing deployments and agents",
    ] {
        assert!(
            p.changes.iter().any(|c| c.starts_with(change)),
            "{change}: {:?}",
            p.changes
        );
    }
    let page = PageRequest::first(10);
    let versions = store.list_versions(Some("shop"), &page).await.unwrap();
    assert_eq!(versions.items.len(), 1);
    for (filter, want) in [
        (
            DeploymentFilter {
                environment: Some("prod".into()),
                ..DeploymentFilter::default()
            },
            ["dep-old"].as_slice(),
        ),
        (
            DeploymentFilter {
                status: Some(DeploymentStatus::Running),
                ..DeploymentFilter::default()
            },
            &["dep-old"],
        ),
        (
            DeploymentFilter {
                repository: Some("shop".into()),
                ..DeploymentFilter::default()
            },
            &["dep-ok", "dep-old"],
        ),
    ] {
        let found = store.list_deployments(&filter, &page).await.unwrap();
        let mut ids: Vec<&str> = found.items.iter().map(|d| d.id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, want, "{filter:?}");
    }
    let api = store.app_records("api").await.unwrap();
    assert_eq!(
        (
            api.environments[0]
                .release
                .as_ref()
                .map(|r| r.deployment.as_str()),
            api.hosts[0].version.as_deref()
        ),
        (Some("dep-ok"), Some("v1"))
    );
    assert_eq!(store.app_names(&page).await.unwrap().items.len(), 4);
    // Nothing left to do on the next run.
    let again = provision(&cfg, &names, &project_asl())
        .await
        .expect("provision");
    assert!(again.changes.is_empty(), "{:?}", again.changes);
}

/// Where the SAM stack manages the table (it adds indexes but cannot rewrite items),
/// `upgrade_table` gives older records their index keys and projects the app views, once; it
/// names a missing table instead of creating one.
#[tokio::test]
async fn upgrade_table_brings_the_records_of_a_managed_table_up_to_date() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use boreas_aws::provision::upgrade_table;
    use boreas_aws::store::{DeploymentFilter, DynamoStore, PageRequest, Store};

    let cfg = sdk().await;
    let names = Names::new(&unique_prefix('g'));
    let err = upgrade_table(&cfg, &names.table()).await.unwrap_err();
    assert_eq!(err.error_type(), "NotFound", "{err}");
    assert!(err.to_string().contains(&names.table()), "{err}");

    provision(&cfg, &names, &project_asl())
        .await
        .expect("provision");
    assert_eq!(
        upgrade_table(&cfg, &names.table()).await.unwrap(),
        Vec::<String>::new()
    );
    let store = DynamoStore::from_config(&cfg, names.table());
    succeeded(&store, "dep-1").await;
    // As the previous release left them: no repository index key, no projection.
    let ddb = aws_sdk_dynamodb::Client::new(&cfg);
    ddb.update_item()
        .table_name(names.table())
        .key("pk", AttributeValue::S("DEP#dep-1".into()))
        .key("sk", AttributeValue::S("META".into()))
        .update_expression("REMOVE gsi4pk, gsi4sk")
        .send()
        .await
        .unwrap();
    ddb.delete_item()
        .table_name(names.table())
        .key("pk", AttributeValue::S("PROJECTION#apps".into()))
        .key("sk", AttributeValue::S("META".into()))
        .send()
        .await
        .unwrap();
    let by_repo = DeploymentFilter {
        repository: Some("shop".into()),
        ..DeploymentFilter::default()
    };
    let page = PageRequest::first(10);
    assert!(
        store
            .list_deployments(&by_repo, &page)
            .await
            .unwrap()
            .items
            .is_empty()
    );

    let changes = upgrade_table(&cfg, &names.table()).await.unwrap();
    assert!(
        changes[0].starts_with("gave 1 existing items") && changes[1].starts_with("projected 1"),
        "{changes:?}"
    );
    assert_eq!(
        store
            .list_deployments(&by_repo, &page)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let api = store.app_records("api").await.unwrap();
    assert_eq!(
        api.environments[0]
            .release
            .as_ref()
            .map(|r| r.deployment.as_str()),
        Some("dep-1")
    );
    assert_eq!(
        upgrade_table(&cfg, &names.table()).await.unwrap(),
        Vec::<String>::new()
    );
}
