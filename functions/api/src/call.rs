//! One routed request, as handlers see it: path parameters by name, query parameters already
//! checked against the route's, the caller, and the body decoded into the route's type.

use std::collections::BTreeMap;

use boreas_aws::store::{MAX_PAGE, PageRequest};
use serde::de::DeserializeOwned;

use crate::routes::{Route, template_params};
use crate::{ApiRequest, Caller, DEFAULT_LIMIT, Error};

/// A request matched to its route.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    req: &'a ApiRequest,
    route: &'static Route,
    params: Vec<String>,
    query: BTreeMap<&'a str, &'a str>,
    who: Option<Caller>,
}

impl<'a> Call<'a> {
    /// `req` matched to `route` with path `params` in template order; refuses a query parameter
    /// the route does not take, or one given twice.
    pub(crate) fn new(
        req: &'a ApiRequest,
        route: &'static Route,
        params: Vec<String>,
        who: Option<Caller>,
    ) -> Result<Self, Error> {
        let paging: &[&str] = if route.paged {
            &["limit", "cursor"]
        } else {
            &[]
        };
        let takes = |k: &str| route.query.iter().any(|p| p.name == k) || paging.contains(&k);
        let mut query = BTreeMap::new();
        for (k, v) in &req.query {
            if !takes(k) {
                let known: Vec<&str> = route
                    .query
                    .iter()
                    .map(|p| p.name)
                    .chain(paging.iter().copied())
                    .collect();
                let takes = if known.is_empty() {
                    "no query parameters".to_owned()
                } else {
                    known.join(", ")
                };
                return Err(bad_query(format!(
                    "unknown query parameter {k:?}; this route takes {takes}"
                )));
            }
            if query.insert(k.as_str(), v.as_str()).is_some() {
                return Err(bad_query(format!(
                    "query parameter {k:?} is given more than once"
                )));
            }
        }
        Ok(Self {
            req,
            route,
            params,
            query,
            who,
        })
    }

    /// The path parameter `name` of the route's template (decoded).
    pub(crate) fn param(&self, name: &str) -> &str {
        template_params(self.route.path)
            .zip(&self.params)
            .find_map(|(n, v)| (n == name).then_some(v.as_str()))
            .unwrap_or_default()
    }

    /// A query parameter the route takes, if given.
    pub(crate) fn query(&self, name: &str) -> Option<&'a str> {
        self.query.get(name).copied()
    }

    /// The `limit` and `cursor` of a list.
    pub(crate) fn page(&self) -> Result<PageRequest, Error> {
        let limit = match self.query("limit") {
            None => DEFAULT_LIMIT,
            Some(l) => l
                .parse::<u32>()
                .ok()
                .filter(|l| (1..=MAX_PAGE).contains(l))
                .ok_or_else(|| {
                    bad_query(format!(
                        "limit {l:?} is not a whole number from 1 to {MAX_PAGE}"
                    ))
                })?,
        };
        Ok(PageRequest {
            limit,
            cursor: self
                .query("cursor")
                .filter(|c| !c.is_empty())
                .map(str::to_owned),
        })
    }

    /// Who is calling; every route with a role has one.
    pub(crate) fn who(&self) -> Result<&Caller, Error> {
        self.who
            .as_ref()
            .ok_or_else(|| Error::Unauthorized("authentication required".into()))
    }

    /// The JSON body as `T`; an empty body reads as `{}`.
    pub(crate) fn body<T: DeserializeOwned>(&self) -> Result<T, Error> {
        self.decode(|e| e.to_string())
    }

    /// Like [`Call::body`], for bodies that carry secrets: a decoding error says what is wrong
    /// and where without quoting any value of the body.
    pub(crate) fn secret_body<T: DeserializeOwned>(&self) -> Result<T, Error> {
        self.decode(|e| without_quoted_values(&e.to_string()))
    }

    fn decode<T: DeserializeOwned>(
        &self,
        explain: impl Fn(&serde_json::Error) -> String,
    ) -> Result<T, Error> {
        let body = &self.req.body;
        let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            body
        };
        // The path names the field a value is wrong in (`provider`, `credential.kind`).
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(text)).map_err(
            |e| {
                let path = e.path().to_string();
                let at = if path == "." {
                    String::new()
                } else {
                    format!("{path}: ")
                };
                Error::BadRequest {
                    code: "bad_json",
                    message: format!("request body: {at}{}", explain(e.inner())),
                }
            },
        )
    }

    /// The scheme and authority the request was addressed to (`https://abc.execute-api.…`), as
    /// API Gateway passes them (`Host`, `X-Forwarded-Proto`) and the local server does too.
    pub(crate) fn public_base(&self) -> String {
        let header = |name: &str| {
            self.req
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let proto = header("x-forwarded-proto").unwrap_or("https");
        let host = header("host").unwrap_or("localhost");
        format!("{proto}://{host}")
    }
}

/// `text` with every double-quoted value (serde_json quotes the values it cannot read) replaced
/// by `"…"`; backquoted field names stay.
fn without_quoted_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut quoted = false;
    for c in text.chars() {
        match (c, quoted) {
            ('"', false) => {
                quoted = true;
                out.push_str("\"…");
            }
            ('"', true) => {
                quoted = false;
                out.push('"');
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

pub(crate) fn bad_query(message: String) -> Error {
    Error::BadRequest {
        code: "bad_query",
        message,
    }
}
