//! Every AWS resource name Boreas uses, derived from one prefix in one place.
//!
//! `infra/template.yaml` derives the same names from its `Prefix` parameter and `boreas provision`
//! creates them locally; a test checks that both agree. The state machine builds per-host and
//! per-cluster queue URLs from [`Names::queue_url_prefix`] with `States.Format`, so the queue names
//! here and the formats in `statemachine/deployment.asl.json` must keep the same shape.

/// The longest prefix accepted: keeps every derived name (queue names ≤ 80, bucket names ≤ 63)
/// within AWS limits with room for environment, host and cluster names.
pub const MAX_PREFIX_LEN: usize = 20;

/// The default prefix, used by the SAM template's `Prefix` parameter default too.
pub const DEFAULT_PREFIX: &str = "boreas";

/// The cluster whose command queue the SAM template (parameter `K8sCluster`'s default) and local
/// provisioning create for the Lambda operator. Every cluster has its own queue
/// ([`Names::k8s_queue`]); an in-cluster operator creates and polls its own.
pub const DEFAULT_K8S_CLUSTER: &str = "main";

/// Suffix of every dead-letter queue name.
const DLQ_SUFFIX: &str = "-dlq";

/// Resource names for one Boreas installation (one prefix).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Names {
    prefix: String,
}

/// Why a prefix is not usable; `None` when it is.
///
/// A prefix is 1 to [`MAX_PREFIX_LEN`] characters of lowercase ASCII letters, digits and `-`,
/// starting with a letter or digit (bucket names forbid upper case and a leading `-`).
#[must_use]
pub fn prefix_problem(prefix: &str) -> Option<String> {
    if prefix.is_empty() {
        return Some("the resource-name prefix is empty".to_owned());
    }
    if prefix.len() > MAX_PREFIX_LEN {
        return Some(format!(
            "the resource-name prefix {prefix:?} is {} characters long; at most {MAX_PREFIX_LEN} are allowed",
            prefix.len()
        ));
    }
    if let Some(bad) = prefix
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Some(format!(
            "the resource-name prefix {prefix:?} contains {bad:?}; only lowercase letters, digits and '-' are allowed"
        ));
    }
    if prefix.starts_with('-') || prefix.ends_with('-') {
        return Some(format!(
            "the resource-name prefix {prefix:?} must start and end with a letter or digit"
        ));
    }
    None
}

impl Names {
    /// Names for `prefix`.
    ///
    /// # Panics
    /// When `prefix` is not a valid prefix (see [`prefix_problem`]); check user input with
    /// [`prefix_problem`] first.
    #[must_use]
    pub fn new(prefix: &str) -> Self {
        if let Some(problem) = prefix_problem(prefix) {
            panic!("{problem}");
        }
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// The prefix itself.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The one DynamoDB table.
    #[must_use]
    pub fn table(&self) -> String {
        format!("{}-state", self.prefix)
    }

    /// The queue the intake function feeds and the planner consumes.
    #[must_use]
    pub fn plan_queue(&self) -> String {
        format!("{}-plan", self.prefix)
    }

    /// The platform events queue (gate tokens, terminal states), consumed by the recorder; only
    /// the state machine sends to it.
    #[must_use]
    pub fn events_queue(&self) -> String {
        format!("{}-events", self.prefix)
    }

    /// The queue agents and operators send inventories to, consumed by the recorder; the only
    /// queue they may send to.
    #[must_use]
    pub fn inventory_queue(&self) -> String {
        format!("{}-inventory", self.prefix)
    }

    /// The command queue of one Kubernetes cluster.
    #[must_use]
    pub fn k8s_queue(&self, cluster: &str) -> String {
        format!("{}-k8s-{cluster}", self.prefix)
    }

    /// The command queue of one PM host; with the default prefix these match `boreas-agent-*`.
    #[must_use]
    pub fn agent_queue(&self, env: &str, host: &str) -> String {
        format!("{}-agent-{env}-{host}", self.prefix)
    }

    /// The dead-letter queue of `queue` (any queue name above).
    #[must_use]
    pub fn dlq(queue: &str) -> String {
        format!("{queue}{DLQ_SUFFIX}")
    }

    /// The deployment state machine.
    #[must_use]
    pub fn state_machine(&self) -> String {
        format!("{}-deployment", self.prefix)
    }

    /// The bucket holding the static dashboard.
    #[must_use]
    pub fn dashboard_bucket(&self) -> String {
        format!("{}-dashboard", self.prefix)
    }

    /// The bucket holding PM artifacts.
    #[must_use]
    pub fn artifacts_bucket(&self) -> String {
        format!("{}-artifacts", self.prefix)
    }

    /// The bucket holding the slices of execution inputs (`executions/{deployment}/…`), which the
    /// state machine reads.
    #[must_use]
    pub fn plans_bucket(&self) -> String {
        format!("{}-plans", self.prefix)
    }

    /// The SSM SecureString holding the webhook secret of repository `repo` (its id).
    #[must_use]
    pub fn webhook_secret_param(&self, repo: &str) -> String {
        format!("/{}/webhook-secrets/{}", self.prefix, param_leaf(repo))
    }

    /// The SSM SecureString holding the git credential (a token or a GitHub App's private key)
    /// of repository `repo` (its id). Under its own path, so that only the planner reads it.
    #[must_use]
    pub fn git_credential_param(&self, repo: &str) -> String {
        format!("/{}/git-credentials/{}", self.prefix, param_leaf(repo))
    }

    /// The SSM SecureString holding a chat or webhook sink registered in the installation
    /// (its kind, URL and secret, [`boreas_core::notify::SinkSpec`]).
    #[must_use]
    pub fn notification_sink_param(&self, sink: &str) -> String {
        format!("/{}/notification-sinks/{sink}", self.prefix)
    }

    /// The queue the platform sends deployment events to, consumed by the notifier.
    #[must_use]
    pub fn notifications_queue(&self) -> String {
        format!("{}-notifications", self.prefix)
    }

    /// The queue the state machine sends analysis requests to, consumed by the analysis worker.
    #[must_use]
    pub fn analysis_queue(&self) -> String {
        format!("{}-analysis", self.prefix)
    }

    /// The SSM SecureString holding a metrics credential registered in the installation (the
    /// server it belongs to, and a bearer token or a user and password), named by checks.
    #[must_use]
    pub fn metrics_credential_param(&self, name: &str) -> String {
        format!("/{}/metrics-credentials/{name}", self.prefix)
    }

    /// The SSM SecureString holding the admin API token.
    #[must_use]
    pub fn admin_token_param(&self) -> String {
        format!("/{}/api-tokens/admin", self.prefix)
    }

    /// The SSM SecureString holding the kubeconfig the Kubernetes operator uses for `cluster`.
    #[must_use]
    pub fn kubeconfig_param(&self, cluster: &str) -> String {
        format!("/{}/k8s-clusters/{cluster}/kubeconfig", self.prefix)
    }

    /// The `QueueUrlPrefix` substitution: the account's queue-URL base (`https://sqs.REGION.amazonaws.com/ACCOUNT`
    /// or `http://127.0.0.1:PORT/ACCOUNT`, with or without a trailing `/`) followed by `{prefix}-`.
    #[must_use]
    pub fn queue_url_prefix(&self, queue_url_base: &str) -> String {
        format!("{}/{}-", queue_url_base.trim_end_matches('/'), self.prefix)
    }
}

/// The last segment of a repository's parameter names: its id with every character SSM does not
/// allow in a name (and `/`, so that a GitLab name of any depth stays one level) as `_`, plus a
/// hash of the id, since that mapping alone could make two ids one name.
fn param_leaf(repo: &str) -> String {
    use sha2::Digest;
    let readable: String = repo
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(200)
        .collect();
    let hash = sha2::Sha256::digest(repo.as_bytes());
    let suffix: String = hash[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("{readable}-{suffix}")
}

impl Default for Names {
    fn default() -> Self {
        Self::new(DEFAULT_PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_contract() {
        let n = Names::new("boreas");
        assert_eq!(n.table(), "boreas-state");
        assert_eq!(n.plan_queue(), "boreas-plan");
        assert_eq!(n.events_queue(), "boreas-events");
        assert_eq!(n.k8s_queue("eu1"), "boreas-k8s-eu1");
        assert_eq!(n.k8s_queue(DEFAULT_K8S_CLUSTER), "boreas-k8s-main");
        assert_eq!(
            n.kubeconfig_param("eu1"),
            "/boreas/k8s-clusters/eu1/kubeconfig"
        );
        assert_eq!(n.agent_queue("prod", "web-1"), "boreas-agent-prod-web-1");
        assert_eq!(Names::dlq(&n.plan_queue()), "boreas-plan-dlq");
        assert_eq!(n.state_machine(), "boreas-deployment");
        assert_eq!(n.dashboard_bucket(), "boreas-dashboard");
        assert_eq!(n.artifacts_bucket(), "boreas-artifacts");
        assert_eq!(
            n.webhook_secret_param("github.com/acme/shop"),
            "/boreas/webhook-secrets/github.com_acme_shop-c566806a55dc"
        );
        assert_eq!(
            n.git_credential_param("github.com/acme/shop"),
            "/boreas/git-credentials/github.com_acme_shop-c566806a55dc"
        );
        assert_eq!(n.admin_token_param(), "/boreas/api-tokens/admin");
        assert_eq!(
            n.queue_url_prefix("http://127.0.0.1:5000/123456789012/"),
            "http://127.0.0.1:5000/123456789012/boreas-"
        );
        assert_eq!(Names::default(), n);
    }

    /// SSM names allow `a-zA-Z0-9_.-/` and at most 15 levels; a GitLab name of 22 segments and a
    /// host with a port still make a one-level leaf, and ids that map to the same readable text
    /// keep distinct names.
    #[test]
    fn repository_parameters_are_valid_ssm_names_of_any_repository() {
        let n = Names::new("boreas");
        let deep = format!("gitlab.example.com:8443/{}/app", vec!["g"; 21].join("/"));
        for id in [deep.as_str(), "a_b/c", "a/b_c", "h/Ü/x"] {
            let name = n.webhook_secret_param(id);
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b)),
                "{name}"
            );
            assert_eq!(name.matches('/').count(), 3, "{name}");
            assert!(name.len() < 1011, "{name}");
        }
        assert_ne!(
            n.webhook_secret_param("a_b/c"),
            n.webhook_secret_param("a/b_c")
        );
    }

    #[test]
    fn bad_prefixes_are_explained() {
        assert!(prefix_problem("t3f9a2c").is_none());
        assert!(prefix_problem("").unwrap().contains("empty"));
        assert!(prefix_problem("Boreas").unwrap().contains("'B'"));
        assert!(prefix_problem("a_b").unwrap().contains("'_'"));
        assert!(prefix_problem("-ab").unwrap().contains("start and end"));
        assert!(
            prefix_problem("abcdefghijklmnopqrstu")
                .unwrap()
                .contains("21 characters")
        );
    }

    #[test]
    #[should_panic(expected = "only lowercase letters")]
    fn new_rejects_a_bad_prefix() {
        let _ = Names::new("UPPER");
    }
}
