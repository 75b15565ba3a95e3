//! Who may do what through the API.

string_enum! {
    /// What an API token may do; each role includes the ones before it.
    Role {
        /// Read everything.
        Viewer => "viewer",
        /// Adjust and confirm plans, cancel.
        Deployer => "deployer",
        /// Decide manual gates.
        Approver => "approver",
        /// Everything, including tokens and version states.
        Admin => "admin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_by_what_they_include() {
        assert!(Role::Viewer < Role::Deployer);
        assert!(Role::Approver < Role::Admin);
        assert_eq!(Role::parse("approver"), Some(Role::Approver));
        assert_eq!(serde_json::to_value(Role::Admin).unwrap(), "admin");
    }
}
