//! Repositories as Boreas registers them, pure: their identity and the checks a registration
//! passes before anything is stored.
//!
//! Identity. A repository is its provider, the host that serves it and the full name its
//! provider's payloads carry (`owner/name`; GitLab `group/sub/…/name`). Its id is `host/full
//! name`, lowercased (`github.com/acme/shop`, `gitlab.example.com:8443/group/sub/app`): the three
//! forges compare names without regard to case, and two repositories of the same full name on
//! two hosts (github.com and a GitHub Enterprise Server) are two repositories. The provider is a
//! property of the record, checked against the webhook route a delivery arrives on.
//!
//! Every check names the field it is about, so that an API can answer `400` with it and nothing
//! invalid is ever stored: a stored record can always be used.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::webhook::{Provider, RefTriggers, TriggerError};

/// Most path segments of a GitLab full name: a top-level group, 20 levels of subgroups, the project.
pub const MAX_GITLAB_SEGMENTS: usize = 22;
/// Longest path segment accepted (GitLab's limit; GitHub and Gitea allow less).
const MAX_SEGMENT: usize = 255;
/// Longest host (DNS name plus port).
const MAX_HOST: usize = 260;

/// Where a repository lives: the host serving it and its full name there.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoRef {
    /// Host, lowercased, with a port unless it is the scheme's default (`ghe.example.com:8443`).
    pub host: String,
    /// Full name as the provider spells it (`Acme/Shop`).
    pub full_name: String,
}

impl RepoRef {
    /// The repository id: `host/full_name`, lowercased.
    pub fn id(&self) -> String {
        repository_id(&self.host, &self.full_name)
    }
}

impl fmt::Display for RepoRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.host, self.full_name)
    }
}

/// The id of the repository `full_name` on `host`.
pub fn repository_id(host: &str, full_name: &str) -> String {
    format!("{host}/{full_name}").to_ascii_lowercase()
}

/// How a URL reaches its repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `https://`
    Https,
    /// `http://` (loopback hosts only)
    Http,
    /// `file://` (a local path: the local platform; the Lambda planner has no git to read one)
    File,
}

/// The parts of a clone or web URL that Boreas reads.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Url<'a> {
    scheme: Scheme,
    has_userinfo: bool,
    /// Lowercased, default port dropped; `localhost` for `file://` URLs without one.
    host: String,
    path: &'a str,
    has_query: bool,
}

/// Why a URL is not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
enum UrlProblem {
    Ssh,
    Scheme,
    Userinfo,
    Host(String),
    Query,
    Path,
    PlainHttp,
}

impl fmt::Display for UrlProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ssh => f.write_str(
                "is an ssh URL; the planner fetches over HTTPS (give the https clone URL, with a \
                 token for a private repository)",
            ),
            Self::Scheme => f.write_str("is not an https:// (or local http:// or file://) URL"),
            Self::Userinfo => f.write_str(
                "carries a user name or password; give the URL without them and register the \
                 credential separately, so it is kept as a secret",
            ),
            Self::Host(why) => write!(f, "has no usable host: {why}"),
            Self::Query => f.write_str("has a query or fragment"),
            Self::Path => f.write_str("names no repository path"),
            Self::PlainHttp => f.write_str(
                "is plain http to a host that is not this machine; use https so that the \
                 credential and the code travel encrypted",
            ),
        }
    }
}

fn parse_url(url: &str) -> Result<Url<'_>, UrlProblem> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("ssh://") || lower.starts_with("git@") || lower.starts_with("git+ssh://") {
        return Err(UrlProblem::Ssh);
    }
    let (scheme, rest) = if lower.starts_with("https://") {
        (Scheme::Https, &url[8..])
    } else if lower.starts_with("http://") {
        (Scheme::Http, &url[7..])
    } else if lower.starts_with("file://") {
        (Scheme::File, &url[7..])
    } else {
        return Err(UrlProblem::Scheme);
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let has_query = path.contains(['?', '#']) || authority.contains(['?', '#']);
    let (has_userinfo, hostport) = match authority.rsplit_once('@') {
        Some((_, h)) => (true, h),
        None => (false, authority),
    };
    let host = if scheme == Scheme::File && hostport.is_empty() {
        "localhost".to_owned()
    } else {
        let default_port = match scheme {
            Scheme::Https => Some("443"),
            Scheme::Http => Some("80"),
            Scheme::File => None,
        };
        normalize_host(hostport, default_port).map_err(UrlProblem::Host)?
    };
    Ok(Url {
        scheme,
        has_userinfo,
        host,
        path,
        has_query,
    })
}

/// Lowercases a `host[:port]`, dropping `default_port`; refuses anything that is not a DNS name
/// or IPv4 address with an optional port.
fn normalize_host(hostport: &str, default_port: Option<&str>) -> Result<String, String> {
    if hostport.is_empty() {
        return Err("it is empty".to_owned());
    }
    if hostport.len() > MAX_HOST {
        return Err(format!("it is longer than {MAX_HOST} characters"));
    }
    let (name, port) = match hostport.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (hostport, None),
    };
    let valid_name = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !valid_name {
        return Err(format!(
            "{hostport:?} is not a host name (letters, digits, '-' and '.') with an optional :port"
        ));
    }
    let name = name.to_ascii_lowercase();
    match port {
        None => Ok(name),
        Some(p) if Some(p) == default_port => Ok(name),
        Some(p) if p.parse::<u16>().is_ok_and(|n| n > 0) => Ok(format!("{name}:{p}")),
        Some(p) => Err(format!("port {p:?} is not a number from 1 to 65535")),
    }
}

/// The host of a repository's web or clone URL (`https://GHE.example.com:443/acme/shop` →
/// `ghe.example.com`), as its id uses it; `None` when the URL is not an http(s) or file URL with
/// a valid host.
pub fn host_of(url: &str) -> Option<String> {
    parse_url(url).ok().map(|u| u.host)
}

/// Whether `host` (as [`host_of`] gives it) is this machine.
fn is_loopback(host: &str) -> bool {
    let name = host.rsplit_once(':').map_or(host, |(n, _)| n);
    name == "localhost" || name.starts_with("127.")
}

/// Checks the URL of a service Boreas sends a credential to (a GitHub REST API base): https, or
/// http to this machine, with a host and without user name, password, query or fragment.
pub fn check_service_url(url: &str) -> Result<(), String> {
    let parsed = parse_url(url).map_err(|p| format!("{url:?} {p}"))?;
    let problem = if parsed.scheme == Scheme::File {
        Some(UrlProblem::Scheme)
    } else if parsed.has_userinfo {
        Some(UrlProblem::Userinfo)
    } else if parsed.has_query {
        Some(UrlProblem::Query)
    } else if parsed.scheme == Scheme::Http && !is_loopback(&parsed.host) {
        Some(UrlProblem::PlainHttp)
    } else {
        None
    };
    problem.map_or(Ok(()), |p| Err(format!("{url:?} {p}")))
}

/// What a registration asks to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration<'a> {
    /// The git host that sends the webhooks.
    pub provider: Provider,
    /// The full name the provider's payloads carry.
    pub full_name: &'a str,
    /// The host webhooks name the repository under; default: the clone URL's.
    pub host: Option<&'a str>,
    /// Where the planner fetches from.
    pub clone_url: &'a str,
    /// `refs/tags/<glob>` and `refs/heads/<branch>` patterns; empty: every tag.
    pub triggers: &'a [String],
    /// The kind of git credential given, if any.
    pub credential: Option<CredentialKind>,
}

/// The kinds of git credential a repository can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// An HTTPS access token sent as the password of basic authentication (GitHub fine-grained
    /// PAT, GitLab project or deploy token, Gitea access token).
    Token,
    /// A GitHub App: installation tokens minted from its private key.
    GithubApp,
}

impl CredentialKind {
    /// `token` or `github_app`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::GithubApp => "github_app",
        }
    }
}

/// One thing wrong with a request, and which field it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field (`full_name`, `triggers[1]`, `credential.kind`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl FieldError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A registration that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Host and full name.
    pub repo: RepoRef,
    /// How the clone URL reaches the repository.
    pub scheme: Scheme,
}

impl Checked {
    /// The repository id.
    pub fn id(&self) -> String {
        self.repo.id()
    }
}

/// Checks a registration; every problem found, each naming its field.
pub fn check(reg: &Registration<'_>) -> Result<Checked, Vec<FieldError>> {
    let mut errors = Vec::new();
    if let Err(message) = check_full_name(reg.provider, reg.full_name) {
        errors.push(FieldError::new("full_name", message));
    }
    let clone = match parse_url(reg.clone_url) {
        Ok(url) => {
            let problem = if url.has_userinfo {
                Some(UrlProblem::Userinfo)
            } else if url.has_query {
                Some(UrlProblem::Query)
            } else if url.path.trim_matches('/').is_empty() {
                Some(UrlProblem::Path)
            } else if url.scheme == Scheme::Http && !is_loopback(&url.host) {
                Some(UrlProblem::PlainHttp)
            } else {
                None
            };
            match problem {
                Some(p) => {
                    errors.push(FieldError::new("clone_url", p.to_string()));
                    None
                }
                None => Some(url),
            }
        }
        Err(p) => {
            errors.push(FieldError::new("clone_url", p.to_string()));
            None
        }
    };
    let host = match reg.host {
        Some(h) => match normalize_host(h.trim(), None) {
            Ok(h) => Some(h),
            Err(why) => {
                errors.push(FieldError::new("host", why));
                None
            }
        },
        None => clone.as_ref().map(|u| u.host.clone()),
    };
    for (i, pattern) in reg.triggers.iter().enumerate() {
        if let Err(message) = check_trigger(pattern) {
            errors.push(FieldError::new(format!("triggers[{i}]"), message));
        }
    }
    if let Some(kind) = reg.credential {
        if kind == CredentialKind::GithubApp && reg.provider != Provider::GitHub {
            errors.push(FieldError::new(
                "credential.kind",
                format!(
                    "a GitHub App credential needs provider github, not {}",
                    reg.provider
                ),
            ));
        }
        if clone.as_ref().is_some_and(|u| u.scheme == Scheme::File) {
            errors.push(FieldError::new(
                "credential",
                "a file:// clone URL takes no credential; credentials are sent over http(s)",
            ));
        }
    }
    match (clone, host) {
        (Some(url), Some(host)) if errors.is_empty() => Ok(Checked {
            repo: RepoRef {
                host,
                full_name: reg.full_name.to_owned(),
            },
            scheme: url.scheme,
        }),
        _ => Err(errors),
    }
}

/// Checks a full name the way its provider names repositories: `owner/name` for GitHub and
/// Gitea, `group/…/name` with up to [`MAX_GITLAB_SEGMENTS`] segments for GitLab; each segment of
/// letters, digits, `_`, `-` and `.`.
pub fn check_full_name(provider: Provider, full_name: &str) -> Result<(), String> {
    let segments: Vec<&str> = full_name.split('/').collect();
    let (least, most, form) = match provider {
        Provider::GitHub | Provider::Gitea => (2, 2, "owner/name"),
        Provider::GitLab => (2, MAX_GITLAB_SEGMENTS, "group/…/name"),
    };
    if !(least..=most).contains(&segments.len()) {
        return Err(format!(
            "{full_name:?} is not of the form {form} that {provider} payloads carry{}",
            if provider == Provider::GitLab {
                format!(" (at most {MAX_GITLAB_SEGMENTS} segments)")
            } else {
                String::new()
            }
        ));
    }
    for segment in segments {
        let valid = !segment.is_empty()
            && segment.len() <= MAX_SEGMENT
            && segment != "."
            && segment != ".."
            && !segment.starts_with('-')
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !valid {
            return Err(format!(
                "segment {segment:?} of {full_name:?} is not 1 to {MAX_SEGMENT} letters, digits, \
                 '_', '-' and '.' (not starting with '-', not '.' or '..')"
            ));
        }
    }
    if full_name.to_ascii_lowercase().ends_with(".git") {
        return Err(format!(
            "{full_name:?} ends in .git; give the name without it, as payloads carry it"
        ));
    }
    Ok(())
}

/// Checks one trigger pattern: `refs/tags/<glob>` with a glob that compiles, or
/// `refs/heads/<branch>` with a valid branch name.
pub fn check_trigger(pattern: &str) -> Result<(), String> {
    if let Some(branch) = pattern.strip_prefix("refs/heads/") {
        return check_branch_name(branch)
            .map_err(|why| format!("{pattern:?}: branch {branch:?} {why}"));
    }
    match RefTriggers::from_patterns(&[pattern.to_owned()]) {
        Ok(_) => Ok(()),
        Err(e @ TriggerError::Pattern(_)) => {
            Err(format!("{e} (for example refs/tags/v* or refs/heads/main)"))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The rules of `git check-ref-format` that a branch name can break, plus no glob characters
/// (branch triggers match exactly).
fn check_branch_name(branch: &str) -> Result<(), &'static str> {
    if branch.is_empty() {
        return Err("is empty");
    }
    if branch
        .bytes()
        .any(|b| b.is_ascii_control() || b" ~^:?*[\\".contains(&b))
    {
        return Err("contains a space, a control character or one of ~ ^ : ? * [ \\");
    }
    if branch.contains("..") || branch.contains("@{") || branch.contains("//") {
        return Err("contains '..', '@{' or '//'");
    }
    if branch.starts_with('/')
        || branch.ends_with('/')
        || branch.ends_with('.')
        || branch == "@"
        || branch
            .split('/')
            .any(|c| c.starts_with('.') || c.ends_with(".lock"))
    {
        return Err("is not a valid git branch name");
    }
    Ok(())
}

/// One field to fill in on the provider's webhook form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SetupField {
    /// The field's label on the provider's form.
    pub field: String,
    /// What to enter or choose.
    pub value: String,
}

/// Where a provider's webhook form is.
pub fn setup_location(provider: Provider) -> &'static str {
    match provider {
        Provider::GitHub => "Repository → Settings → Webhooks → Add webhook",
        Provider::GitLab => "Project → Settings → Webhooks → Add new webhook",
        Provider::Gitea => "Repository → Settings → Webhooks → Add webhook → Gitea",
    }
}

/// What to enter on the provider's webhook form so that its deliveries reach `webhook_url` and
/// pass intake's checks. `secret` is shown when given (once, at registration or rotation).
pub fn setup_fields(
    provider: Provider,
    webhook_url: &str,
    secret: Option<&str>,
) -> Vec<SetupField> {
    let secret = secret.map_or_else(
        || {
            "the webhook secret given when the repository was added or its secret rotated"
                .to_owned()
        },
        str::to_owned,
    );
    let fields: Vec<(&str, String)> = match provider {
        Provider::GitHub => vec![
            ("Payload URL", webhook_url.to_owned()),
            ("Content type", "application/json".to_owned()),
            ("Secret", secret),
            ("SSL verification", "Enable SSL verification".to_owned()),
            (
                "Which events would you like to trigger this webhook?",
                "Just the push event".to_owned(),
            ),
            ("Active", "checked".to_owned()),
        ],
        Provider::GitLab => vec![
            ("URL", webhook_url.to_owned()),
            ("Secret token", secret),
            (
                "Trigger",
                "Push events (all branches) and Tag push events".to_owned(),
            ),
            ("SSL verification", "Enable SSL verification".to_owned()),
        ],
        Provider::Gitea => vec![
            ("Target URL", webhook_url.to_owned()),
            ("HTTP Method", "POST".to_owned()),
            ("POST Content Type", "application/json".to_owned()),
            ("Secret", secret),
            ("Trigger On", "Push Events".to_owned()),
            ("Branch filter", "*".to_owned()),
            ("Active", "checked".to_owned()),
        ],
    };
    fields
        .into_iter()
        .map(|(field, value)| SetupField {
            field: field.to_owned(),
            value,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg<'a>(provider: Provider, full_name: &'a str, clone_url: &'a str) -> Registration<'a> {
        Registration {
            provider,
            full_name,
            host: None,
            clone_url,
            triggers: &[],
            credential: None,
        }
    }

    fn fields(result: Result<Checked, Vec<FieldError>>) -> Vec<String> {
        result
            .expect_err("refused")
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn ids_are_host_and_full_name_lowercased() {
        let checked = check(&reg(
            Provider::GitHub,
            "Acme/Shop",
            "https://GitHub.com:443/Acme/Shop.git",
        ))
        .unwrap();
        assert_eq!(checked.repo.host, "github.com");
        assert_eq!(checked.repo.full_name, "Acme/Shop");
        assert_eq!(checked.id(), "github.com/acme/shop");
        assert_eq!(checked.scheme, Scheme::Https);
        let ghes = check(&reg(
            Provider::GitHub,
            "Acme/Shop",
            "https://ghe.example.com:8443/Acme/Shop.git",
        ))
        .unwrap();
        assert_eq!(ghes.id(), "ghe.example.com:8443/acme/shop");
        assert_ne!(ghes.id(), checked.id());
    }

    #[test]
    fn the_host_may_be_given_apart_from_the_clone_url() {
        let mut r = reg(
            Provider::GitLab,
            "g/app",
            "https://mirror.example.com/g/app.git",
        );
        r.host = Some("GitLab.Example.com");
        assert_eq!(check(&r).unwrap().id(), "gitlab.example.com/g/app");
        r.host = Some("bad host");
        assert_eq!(fields(check(&r)), ["host"]);
    }

    #[test]
    fn gitlab_names_nest_up_to_its_limit_and_others_take_two_segments() {
        let deep: Vec<String> = (1..MAX_GITLAB_SEGMENTS).map(|i| format!("g{i}")).collect();
        let name = format!("{}/app", deep.join("/"));
        assert!(check_full_name(Provider::GitLab, &name).is_ok());
        assert!(check_full_name(Provider::GitLab, &format!("x/{name}")).is_err());
        assert!(check_full_name(Provider::GitLab, "group1/group2/group3/grp2repo").is_ok());
        assert!(check_full_name(Provider::GitHub, "a/b/c").is_err());
        assert!(check_full_name(Provider::Gitea, "repo").is_err());
        for bad in ["a//b", "./b", "a/..", "a/b c", "-a/b", "a/b.git", "a/ü"] {
            assert!(check_full_name(Provider::GitHub, bad).is_err(), "{bad}");
        }
        assert!(check_full_name(Provider::GitHub, "Codertocat/Hello-World").is_ok());
        assert!(check_full_name(Provider::GitHub, "a_b/c.d").is_ok());
    }

    #[test]
    fn clone_urls_are_https_local_http_or_file_without_credentials() {
        let ok = [
            "https://github.com/acme/shop.git",
            "http://127.0.0.1:8080/acme/shop.git",
            "http://localhost/acme/shop.git",
            "file:///srv/git/shop",
        ];
        for url in ok {
            assert!(
                check(&reg(Provider::GitHub, "acme/shop", url)).is_ok(),
                "{url}"
            );
        }
        let refused = [
            ("git@github.com:acme/shop.git", "ssh URL"),
            ("ssh://git@github.com/acme/shop.git", "ssh URL"),
            ("ftp://x/acme/shop", "not an https://"),
            (
                "https://user:tok@github.com/acme/shop.git",
                "user name or password",
            ),
            (
                "https://x-access-token@github.com/acme/shop.git",
                "user name or password",
            ),
            ("http://github.com/acme/shop.git", "plain http"),
            ("https://github.com", "no repository path"),
            ("https://github.com/acme/shop.git?x=1", "query"),
            ("https:///acme/shop", "no usable host"),
            ("https://github.com:99999/acme/shop", "port"),
        ];
        for (url, why) in refused {
            let errors = check(&reg(Provider::GitHub, "acme/shop", url)).unwrap_err();
            assert_eq!(errors.len(), 1, "{url}: {errors:?}");
            assert_eq!(errors[0].field, "clone_url");
            assert!(errors[0].message.contains(why), "{url}: {}", errors[0]);
        }
        assert_eq!(host_of("file:///x"), Some("localhost".into()));
        assert_eq!(
            host_of("https://octocoders.github.io/Codertocat/Hello-World"),
            Some("octocoders.github.io".into())
        );
        assert_eq!(
            host_of("http://example.com:80/a"),
            Some("example.com".into())
        );
        assert_eq!(host_of("git@x:y"), None);
        assert!(check_service_url("https://ghe.example.com/api/v3").is_ok());
        assert!(check_service_url("http://127.0.0.1:9/api/v3").is_ok());
        for bad in [
            "http://ghe.example.com/api/v3",
            "https://u:p@ghe.example.com",
            "file:///x",
            "https://x/?a",
        ] {
            assert!(check_service_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn triggers_are_tag_globs_or_branches_each_named_by_index() {
        let triggers = [
            "refs/tags/v*".to_owned(),
            "v*".to_owned(),
            "refs/tags/v[".to_owned(),
            "refs/heads/main".to_owned(),
            "refs/heads/feat*".to_owned(),
            "refs/heads/".to_owned(),
            "refs/heads/a..b".to_owned(),
            "refs/heads/release/1.x".to_owned(),
        ];
        let mut r = reg(
            Provider::GitHub,
            "acme/shop",
            "https://github.com/acme/shop.git",
        );
        r.triggers = &triggers;
        let errors = check(&r).unwrap_err();
        let named: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            named,
            [
                "triggers[1]",
                "triggers[2]",
                "triggers[4]",
                "triggers[5]",
                "triggers[6]"
            ]
        );
        assert!(errors[0].message.contains("refs/tags/v*"), "{}", errors[0]);
        assert!(
            errors[1].message.contains("not a valid glob"),
            "{}",
            errors[1]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let triggers = ["nope".to_owned()];
        let r = Registration {
            provider: Provider::Gitea,
            full_name: "just-a-name",
            host: None,
            clone_url: "git@x:y.git",
            triggers: &triggers,
            credential: Some(CredentialKind::GithubApp),
        };
        assert_eq!(
            fields(check(&r)),
            ["full_name", "clone_url", "triggers[0]", "credential.kind"]
        );
        let mut local = reg(Provider::GitHub, "a/b", "file:///srv/a");
        local.credential = Some(CredentialKind::Token);
        assert_eq!(fields(check(&local)), ["credential"]);
    }

    #[test]
    fn setup_names_each_providers_fields() {
        let gh = setup_fields(Provider::GitHub, "https://x/webhooks/github", Some("s3"));
        assert_eq!(gh[0].value, "https://x/webhooks/github");
        assert!(
            gh.iter()
                .any(|f| f.field == "Content type" && f.value == "application/json")
        );
        assert!(gh.iter().any(|f| f.field == "Secret" && f.value == "s3"));
        let gl = setup_fields(Provider::GitLab, "u", None);
        assert!(
            gl.iter()
                .any(|f| f.field == "Trigger" && f.value.contains("Tag push"))
        );
        assert!(
            gl.iter()
                .any(|f| f.field == "Secret token" && f.value.contains("rotated"))
        );
        let gt = setup_fields(Provider::Gitea, "u", Some("s"));
        assert!(gt.iter().any(|f| f.field == "POST Content Type"));
        assert!(setup_location(Provider::Gitea).contains("Gitea"));
    }
}
