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
        let body = &self.req.body;
        let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            body
        };
        serde_json::from_slice(text).map_err(|e| Error::BadRequest {
            code: "bad_json",
            message: format!("request body: {e}"),
        })
    }
}

pub(crate) fn bad_query(message: String) -> Error {
    Error::BadRequest {
        code: "bad_query",
        message,
    }
}
