//! The statuses of Boreas's records, shared by the functions that write them, the state machine
//! (`statemachine/deployment.asl.json` writes the same names into the table, see
//! `tests/statemachine_statuses.rs`), the api that serves them and the clients that show them.
//!
//! A deployment's own status and its lifecycle rules are [`crate::deployment::DeploymentStatus`].

string_enum! {
    /// Where intake and planning left a version.
    VersionStatus {
        /// Recorded from a webhook, not planned yet.
        Received => "received",
        /// Planned: deployments exist.
        Planned => "planned",
        /// Its `boreas.yaml` does not validate.
        InvalidConfig => "invalid_config",
        /// Planning failed for another reason (fetch, history).
        PlanFailed => "plan_failed",
    }
}

string_enum! {
    /// Progress of one app within a deployment.
    AppStatus {
        /// Waiting for its stage.
        Pending => "pending",
        /// Rolling out.
        Running => "running",
        /// Every target runs the version.
        Succeeded => "succeeded",
        /// A target failed; finished batches are being rolled back.
        RollingBack => "rolling_back",
        /// Rolled back cleanly.
        RolledBack => "rolled_back",
        /// Failed and could not be rolled back cleanly.
        Failed => "failed",
    }
}

string_enum! {
    /// Progress of one gray batch.
    BatchStatus {
        /// Deploying.
        Running => "running",
        /// Every target of the batch succeeded.
        Succeeded => "succeeded",
        /// A target of the batch failed.
        Failed => "failed",
    }
}

string_enum! {
    /// Progress of one target (a host or a workload).
    TargetStatus {
        /// Deploying.
        Running => "running",
        /// Runs the version.
        Succeeded => "succeeded",
        /// The deployment failed on it.
        Failed => "failed",
        /// Going back to the previous version.
        RollingBack => "rolling_back",
        /// Back on the previous version.
        RolledBack => "rolled_back",
        /// Going back failed too.
        RollbackFailed => "rollback_failed",
        /// Sent nothing: its agent was unreachable and the app's rollout skips such hosts. It
        /// keeps the version it ran.
        Skipped => "skipped",
        /// Failed, and its app's rollout waits for an approver's decision (retry, skip, roll
        /// back) before the batch goes on.
        Paused => "paused",
    }
}

string_enum! {
    /// An approver's answer to a host that failed under `rollout.on_failure: pause`.
    FailureAction {
        /// Send the host its deploy again (a new attempt).
        Retry => "retry",
        /// Leave the host as it is (`skipped`, listed with the deployment) and go on.
        Skip => "skip",
        /// Fail the target: the app rolls back as if it had not paused.
        Rollback => "rollback",
    }
}

string_enum! {
    /// State of a manual gate.
    GateStatus {
        /// Waiting for a person.
        Waiting => "waiting",
        /// Approved: the rollout goes on.
        Approved => "approved",
        /// Rejected: the rollout stops.
        Rejected => "rejected",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The serde name and the record name come from different places in the macro.
    fn round_trips<T>(all: &[T])
    where
        T: Copy + PartialEq + std::fmt::Debug + std::fmt::Display + serde::Serialize,
        T: serde::de::DeserializeOwned,
    {
        for v in all {
            let json = serde_json::to_value(v).unwrap();
            assert_eq!(json, v.to_string(), "{v:?}");
            assert_eq!(serde_json::from_value::<T>(json).unwrap(), *v);
        }
    }

    #[test]
    fn names_round_trip() {
        round_trips(VersionStatus::ALL);
        round_trips(AppStatus::ALL);
        round_trips(BatchStatus::ALL);
        round_trips(TargetStatus::ALL);
        round_trips(GateStatus::ALL);
        round_trips(FailureAction::ALL);
        for s in TargetStatus::ALL {
            assert_eq!(TargetStatus::parse(s.as_str()), Some(*s));
        }
        assert_eq!(GateStatus::parse("open"), None);
    }
}
