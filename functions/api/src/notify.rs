//! The installation's default notification rules: read by anyone signed in, replaced by an
//! admin (audited). The notifier applies them to every deployment whose version's `boreas.yaml`
//! has no `notifications` section.

use std::time::SystemTime;

use boreas_api_types as wire;
use boreas_aws::store::{NotificationDefaults, rfc3339};
use boreas_core::notify::default_rule_problems;

use crate::call::Call;
use crate::{Api, Error};

fn wire_defaults(d: Option<NotificationDefaults>) -> wire::NotificationDefaults {
    match d {
        Some(d) => wire::NotificationDefaults {
            rules: d.rules,
            updated_at: Some(d.updated_at),
            updated_by: Some(d.updated_by),
        },
        None => wire::NotificationDefaults {
            rules: Vec::new(),
            updated_at: None,
            updated_by: None,
        },
    }
}

pub(crate) async fn defaults(
    api: &Api,
    _call: &Call<'_>,
) -> Result<wire::NotificationDefaults, Error> {
    Ok(wire_defaults(api.store.notification_defaults().await?))
}

pub(crate) async fn set_defaults(
    api: &Api,
    call: &Call<'_>,
    body: wire::NotificationDefaultsRequest,
) -> Result<wire::NotificationDefaults, Error> {
    let who = call.who()?;
    let problems = default_rule_problems(&body.rules);
    if !problems.is_empty() {
        return Err(Error::bad_request(problems.join("; ")));
    }
    let defaults = NotificationDefaults {
        rules: body.rules,
        updated_at: rfc3339(SystemTime::now()),
        updated_by: who.name.clone(),
    };
    api.store.put_notification_defaults(&defaults).await?;
    let sinks: Vec<&str> = defaults.rules.iter().map(|r| r.sink.as_str()).collect();
    api.audit(
        who,
        "notify.defaults",
        &format!("{} rules: {}", defaults.rules.len(), sinks.join(", ")),
    )
    .await?;
    Ok(wire_defaults(Some(defaults)))
}
