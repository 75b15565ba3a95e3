//! A GitHub App for tests: its RSA key pair, made with openssl as GitHub hands one out (PKCS#1
//! PEM), and GitHub's answers to the two calls an App makes before it acts on a repository, its
//! JWT checked with the public key.

use std::process::Command;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::http::{Request, Response};

/// The id of the App's installation, on every repository it is installed on.
pub const INSTALLATION: u64 = 77;

/// The claims of a JWT the App signed.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    /// Issued at (seconds since the epoch).
    pub iat: u64,
    /// Expires at.
    pub exp: u64,
    /// The App's id.
    pub iss: String,
}

/// One App: its id and key pair. Its `Debug` form shows no key.
#[derive(Clone)]
pub struct GithubApp {
    /// The App's id.
    pub id: u64,
    /// Its private key, PEM, as it is stored in SSM.
    pub private_key_pem: String,
    decoding: DecodingKey,
}

impl std::fmt::Debug for GithubApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubApp")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl GithubApp {
    /// A new App `id` with a fresh 2048-bit key.
    ///
    /// # Panics
    /// When openssl fails.
    pub fn generate(id: u64) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "boreas-github-app-{}-{id}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let (key, public) = (dir.join("app.pem"), dir.join("app.pub.pem"));
        let (key_path, public_path) = (key.to_str().unwrap(), public.to_str().unwrap());
        for args in [
            vec!["genrsa", "-traditional", "-out", key_path, "2048"],
            vec!["rsa", "-in", key_path, "-pubout", "-out", public_path],
        ] {
            let out = Command::new("openssl").args(&args).output().unwrap();
            assert!(out.status.success(), "openssl {args:?}: {out:?}");
        }
        let private_key_pem = std::fs::read_to_string(&key).unwrap();
        let decoding = DecodingKey::from_rsa_pem(&std::fs::read(&public).unwrap()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        Self {
            id,
            private_key_pem,
            decoding,
        }
    }

    /// The claims of the App's JWT that `r` authenticates with, if its public key verifies it.
    pub fn claims(&self, r: &Request) -> Option<Claims> {
        let jwt = r.header("authorization")?.strip_prefix("Bearer ")?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[self.id.to_string()]);
        validation.set_required_spec_claims(&["exp", "iat", "iss"]);
        jsonwebtoken::decode::<Claims>(jwt, &self.decoding, &validation)
            .ok()
            .map(|d| d.claims)
    }

    /// GitHub's answer when `r` is one of the App's calls under any API base
    /// (`apps/get-repo-installation`, `apps/create-installation-access-token`): 401 without a JWT
    /// the App signed, its installation on each of `installed` (full names) and 404 on others,
    /// and `token` minted. `None` for any other request.
    pub fn answer(&self, r: &Request, installed: &[&str], token: &str) -> Option<Response> {
        let path = r.target.split('?').next().unwrap_or(&r.target);
        let minting = format!("/app/installations/{INSTALLATION}/access_tokens");
        let repository = path
            .strip_suffix("/installation")
            .and_then(|p| p.split_once("/repos/"))
            .map(|(_, full_name)| full_name);
        if repository.is_none() && !path.ends_with(&minting) {
            return None;
        }
        if self.claims(r).is_none() {
            return Some(Response::json(
                401,
                serde_json::json!({"message": "A JSON web token could not be decoded"}),
            ));
        }
        Some(match (r.method.as_str(), repository) {
            ("GET", Some(name)) if installed.contains(&name) => Response::json(
                200,
                serde_json::json!({"id": INSTALLATION, "app_id": self.id, "target_type": "Organization"}),
            ),
            ("POST", None) => Response::json(
                201,
                serde_json::json!({
                    "token": token, "expires_at": "2099-01-01T00:00:00Z",
                    "permissions": r.json()["permissions"], "repository_selection": "selected"
                }),
            ),
            _ => Response::json(404, serde_json::json!({"message": "Not Found"})),
        })
    }
}
