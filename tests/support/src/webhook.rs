//! Webhook deliveries as the three providers send them: their published payloads (the fixtures
//! under `fixtures/webhooks`, byte for byte as published), tag pushes made from them, and the
//! headers that sign a body with a repository's secret.

use std::path::PathBuf;

use boreas_core::webhook::{Provider, sign};
use serde_json::Value;

const ZERO: &str = "0000000000000000000000000000000000000000";

/// A published payload, byte for byte: `path` under `fixtures/webhooks` (`github/ping.json`).
pub fn fixture(path: &str) -> Vec<u8> {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/webhooks")
        .join(path);
    std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// A published payload as JSON.
pub fn fixture_json(path: &str) -> Value {
    serde_json::from_slice(&fixture(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The push of a new tag `tag` on `commit` of `repository`, as `provider` sends it: the
/// provider's published tag push (for Gitea, which publishes only a branch push, that one) with
/// every field Boreas reads set to this tag, commit and repository; the rest as published.
pub fn tag_push(provider: Provider, repository: &str, tag: &str, commit: &str) -> Value {
    let short_name = repository.rsplit('/').next().unwrap_or(repository);
    let mut payload = fixture_json(match provider {
        Provider::GitHub => "github/push-tag-created-ghes-35.json",
        Provider::GitLab => "gitlab/tag-push.json",
        Provider::Gitea => "gitea/push.json",
    });
    payload["ref"] = format!("refs/tags/{tag}").into();
    payload["before"] = ZERO.into();
    payload["after"] = commit.into();
    match provider {
        Provider::GitHub => {
            payload["head_commit"]["id"] = commit.into();
            payload["repository"]["full_name"] = repository.into();
            payload["repository"]["name"] = short_name.into();
        }
        Provider::GitLab => {
            payload["checkout_sha"] = commit.into();
            payload["project"]["path_with_namespace"] = repository.into();
            payload["project"]["name"] = short_name.into();
        }
        Provider::Gitea => {
            payload["repository"]["full_name"] = repository.into();
            payload["repository"]["name"] = short_name.into();
        }
    }
    payload
}

/// The event name a provider delivers a tag push under.
pub fn tag_push_event(provider: Provider) -> &'static str {
    match provider {
        Provider::GitHub | Provider::Gitea => "push",
        Provider::GitLab => "Tag Push Hook",
    }
}

/// The headers a provider sends with delivery `delivery` of `body` as `event`: the event, the
/// delivery id, and the proof that the sender knows `secret` (GitLab sends the secret itself).
pub fn signed_headers(
    provider: Provider,
    event: &str,
    delivery: &str,
    body: &[u8],
    secret: &str,
) -> [(&'static str, String); 3] {
    [
        (provider.event_header(), event.to_owned()),
        (provider.delivery_header(), delivery.to_owned()),
        (
            provider.signature_header(),
            sign(provider, body, secret.as_bytes()),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use boreas_core::webhook::{RefKind, Webhook, parse, verify_signature};

    use super::*;

    const COMMIT: &str = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3";

    #[test]
    fn every_provider_s_tag_push_reads_as_that_tag_commit_and_repository() {
        for provider in Provider::ALL {
            let payload = tag_push(provider, "acme/shop", "v2.0.1", COMMIT);
            let body = serde_json::to_vec(&payload).unwrap();
            let headers =
                signed_headers(provider, tag_push_event(provider), "d-1", &body, "s3cret");
            assert_eq!(
                headers.each_ref().map(|(name, _)| *name),
                [
                    provider.event_header(),
                    provider.delivery_header(),
                    provider.signature_header()
                ]
            );
            verify_signature(provider, Some(&headers[2].1), &body, b"s3cret")
                .unwrap_or_else(|e| panic!("{provider}: {e}"));
            assert!(verify_signature(provider, Some(&headers[2].1), &body, b"other").is_err());
            let Webhook::Push(push) = parse(provider, &headers[0].1, &headers[1].1, &payload)
                .unwrap_or_else(|e| panic!("{provider}: {e}"))
            else {
                panic!("{provider}: not a push");
            };
            assert_eq!(
                (
                    push.repository.as_str(),
                    push.ref_kind,
                    push.ref_name.as_str(),
                    push.commit.as_deref(),
                    push.created,
                    push.deleted
                ),
                (
                    "acme/shop",
                    RefKind::Tag,
                    "v2.0.1",
                    Some(COMMIT),
                    true,
                    false
                ),
                "{provider}"
            );
        }
    }
}
