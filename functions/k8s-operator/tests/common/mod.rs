//! Shared by the operator's tests: a provisioned emulator prefix, a fixture cluster with an app's
//! stable Deployment, the product state machine's input for a Kubernetes app, and operators.

#![allow(dead_code)] // each test file uses a different subset

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use boreas_aws::names::Names;
use boreas_aws::orchestrator::SfnOrchestrator;
use boreas_aws::queues::{Queues, SqsQueues};
use boreas_aws::secrets::SsmSecrets;
use boreas_core::command::{K8sWorkload, SCHEMA_VERSION, Workload};
use boreas_core::config::{AppKind, OnFailure, Unreachable};
use boreas_core::execution::{AppInput, BatchInput, ExecutionInput, RollbackInput, StageInput};
use boreas_core::plan::PausePlan;
use boreas_k8s_fixture::{FixtureCluster, FixtureOptions};
use boreas_k8s_operator::{Clusters, Operator};
use boreas_test_support::emulator::Prefix;
use boreas_test_support::sfn::{open_freeze_checks, start_as_api, wait_finished};
use serde_json::{Value, json};

pub(crate) const CLUSTER: &str = "c1";
pub(crate) const NS: &str = "shop";

/// The app's stable Deployment as a user would have created it.
pub(crate) fn stable(name: &str, replicas: u32, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": name, "image": image,
                    "env": [{"name": "MODE", "value": "prod"}],
                }]}
            }
        }
    })
}

/// A provisioned prefix on the shared emulator with the cluster's queue and its kubeconfig in SSM.
pub(crate) struct Platform {
    pub(crate) config: aws_config::SdkConfig,
    pub(crate) names: Names,
    pub(crate) state_machine_arn: String,
    pub(crate) queue_url: String,
    pub(crate) inventory_url: String,
    pub(crate) cluster: FixtureCluster,
}

impl Platform {
    pub(crate) async fn start(options: FixtureOptions) -> Platform {
        let Prefix {
            sdk: config,
            names,
            provisioned,
        } = Prefix::shared('k').await;
        let queues = SqsQueues::from_config(&config);
        let queue_url = queues
            .ensure_queue(&names.k8s_queue(CLUSTER))
            .await
            .unwrap();
        let inventory_url = queues.queue_url(&names.inventory_queue()).await.unwrap();
        let cluster = FixtureCluster::start_with(options).await;
        // The state machine asks before every later batch whether a freeze window stops it; none
        // does here. The task ends with the test's runtime (the prefix is the test's own).
        open_freeze_checks(
            aws_sdk_sqs::Client::new(&config),
            aws_sdk_sfn::Client::new(&config),
            provisioned.queues["analysis"].url.clone(),
            Arc::default(),
        );
        aws_sdk_ssm::Client::new(&config)
            .put_parameter()
            .name(names.kubeconfig_param(CLUSTER))
            .value(cluster.kubeconfig(NS))
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .unwrap();
        Platform {
            config,
            names,
            state_machine_arn: provisioned.state_machine_arn,
            queue_url,
            inventory_url,
            cluster,
        }
    }

    /// The Lambda's operator: cluster credentials from SSM.
    pub(crate) fn lambda_operator(&self, timeout: Duration) -> Operator {
        Operator {
            clusters: Clusters::Ssm {
                secrets: Arc::new(SsmSecrets::from_config(&self.config)),
                names: self.names.clone(),
            },
            orchestrator: Arc::new(self.orchestrator()),
            queues: Arc::new(SqsQueues::from_config(&self.config)),
            inventory_queue_url: self.inventory_url.clone(),
            rollout_timeout: timeout,
        }
    }

    /// The in-cluster operator: one fixed client (here from the fixture's kubeconfig).
    pub(crate) async fn poller_operator(&self, timeout: Duration) -> Operator {
        let client = boreas_k8s_operator::operator::client_from_kubeconfig(
            &self.cluster.kubeconfig(NS),
            "the fixture",
        )
        .await
        .unwrap();
        Operator {
            clusters: Clusters::Fixed {
                name: CLUSTER.to_owned(),
                client,
            },
            ..self.lambda_operator(timeout)
        }
    }

    fn orchestrator(&self) -> SfnOrchestrator {
        SfnOrchestrator::from_config(
            &self.config,
            &self.state_machine_arn,
            self.names.plans_bucket(),
        )
    }

    /// Starts the product state machine on `input`, the way the api does.
    pub(crate) async fn execute(&self, input: &ExecutionInput) -> String {
        start_as_api(
            &aws_sdk_dynamodb::Client::new(&self.config),
            &self.orchestrator(),
            &self.names,
            input,
        )
        .await
    }

    /// Status and error of the execution once it is no longer running.
    pub(crate) async fn finished(&self, arn: &str, limit: Duration) -> (String, Option<String>) {
        let (status, error) =
            wait_finished(&aws_sdk_sfn::Client::new(&self.config), arn, limit).await;
        (status.as_str().to_owned(), error)
    }

    /// An attribute of the deployment's target record of `app` in the cluster.
    pub(crate) async fn target_attr(
        &self,
        deployment_id: &str,
        app: &str,
        attr: &str,
    ) -> Option<String> {
        let item = aws_sdk_dynamodb::Client::new(&self.config)
            .get_item()
            .table_name(self.names.table())
            .key("pk", AttributeValue::S(format!("DEP#{deployment_id}")))
            .key("sk", AttributeValue::S(format!("TARGET#{app}#{CLUSTER}")))
            .send()
            .await
            .unwrap();
        item.item()?.get(attr)?.as_s().ok().cloned()
    }

    /// Every inventory event on the events queue so far (other events are left alone).
    pub(crate) async fn inventories(&self) -> Vec<Value> {
        let queues = SqsQueues::from_config(&self.config);
        let mut out = Vec::new();
        loop {
            let options = boreas_aws::queues::ReceiveOptions {
                wait: Duration::from_secs(1),
                max_messages: 10,
                visibility: Some(Duration::from_secs(30)),
            };
            let batch = queues.receive(&self.inventory_url, &options).await.unwrap();
            if batch.is_empty() {
                return out;
            }
            for m in batch {
                let v: Value = serde_json::from_str(&m.body).unwrap();
                if v["type"] == "inventory" {
                    out.push(v);
                }
            }
        }
    }

    /// `(spec.replicas, image)` of a Deployment in the fixture cluster.
    pub(crate) fn shape(&self, name: &str) -> Option<(u64, String)> {
        let d = self.cluster.get(NS, name)?;
        Some((
            d["spec"]["replicas"].as_u64().unwrap(),
            d["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap()
                .to_owned(),
        ))
    }
}

fn workload(app: &str, image: &str) -> Workload {
    Workload::K8s(K8sWorkload {
        namespace: NS.into(),
        deployment: app.into(),
        container: app.into(),
        image: image.into(),
    })
}

/// One Kubernetes app in the cluster, from `previous` to `version` in batches of `weights`.
pub(crate) fn input(
    id: &str,
    app: &str,
    version: &str,
    previous: &str,
    weights: &[u8],
) -> ExecutionInput {
    ExecutionInput {
        schema_version: SCHEMA_VERSION,
        deployment_id: id.into(),
        environment: "prod".into(),
        version: version.into(),
        stages: vec![StageInput {
            index: 0,
            parallelism: 1,
            apps: vec![AppInput {
                app: app.into(),
                kind: AppKind::K8s,
                parallelism: 1,
                heartbeat_seconds: 10,
                timeout_seconds: 120,
                unreachable: Unreachable::Fail,
                on_failure: OnFailure::Rollback,
                workload: workload(app, &format!("shop/{app}:{version}")),
                rollback: RollbackInput {
                    to_version: Some(previous.into()),
                    workload: Some(workload(app, &format!("shop/{app}:{previous}"))),
                },
                last_batch: u32::try_from(weights.len() - 1).unwrap(),
                batches: weights
                    .iter()
                    .enumerate()
                    .map(|(i, w)| BatchInput {
                        index: u32::try_from(i).unwrap(),
                        key: format!("{i:04}"),
                        targets: vec![CLUSTER.into()],
                        weight: Some(*w),
                        analysis: false,
                        pause: PausePlan::None,
                    })
                    .collect(),
            }],
        }],
    }
}
