//! How a deployment's plan is kept in its record: its JSON text while small (readable in the
//! console), zlib-compressed once large. A plan names every target twice (the app's rollout order
//! and its batch), so 1,000 apps of 10 hosts are about 1 MB of JSON, over DynamoDB's 400 KB item
//! limit, and about 45 KB compressed. A plan that does not fit even so is refused with
//! [`Error::TooLarge`] by both stores, before anything is written.

use std::io::{Read, Write};

use boreas_core::plan::Plan;
use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;

use crate::Error;

/// Plans whose JSON is longer than this are stored compressed.
const COMPRESS_OVER: usize = 64 * 1024;

/// The most bytes a stored plan may take: the item limit (400 KB) less room for the deployment's
/// other attributes (ids, times, an error message).
pub const PLAN_RECORD_LIMIT: usize = 350 * 1024;

/// The most bytes a compressed plan may inflate to: a bound on what a corrupt record can cost.
const INFLATED_LIMIT: u64 = 64 * 1024 * 1024;

/// A plan as its record holds it.
#[derive(Debug)]
pub(crate) enum StoredPlan {
    /// JSON text.
    Json(String),
    /// zlib-compressed JSON text.
    Compressed(Vec<u8>),
}

impl StoredPlan {
    /// Encodes the plan of deployment `id`, or refuses one too large for a record.
    pub(crate) fn encode(id: &str, plan: &Plan) -> Result<Self, Error> {
        let what = || format!("plan of deployment {id}");
        let json = serde_json::to_string(plan)
            .map_err(|e| Error::invalid_input(format!("{} does not serialise: {e}", what())))?;
        if json.len() <= COMPRESS_OVER {
            return Ok(Self::Json(json));
        }
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
        // Writing into a Vec cannot fail.
        let compressed = encoder
            .write_all(json.as_bytes())
            .and_then(|()| encoder.finish())
            .map_err(|e| Error::invalid_input(format!("{} does not compress: {e}", what())))?;
        if compressed.len() > PLAN_RECORD_LIMIT {
            return Err(Error::TooLarge {
                what: what(),
                size: compressed.len(),
                limit: PLAN_RECORD_LIMIT,
            });
        }
        Ok(Self::Compressed(compressed))
    }

    /// The JSON text of a compressed plan.
    pub(crate) fn inflate(bytes: &[u8]) -> Result<String, String> {
        let mut json = String::new();
        ZlibDecoder::new(bytes)
            .take(INFLATED_LIMIT + 1)
            .read_to_string(&mut json)
            .map_err(|e| format!("does not inflate: {e}"))?;
        if json.len() as u64 > INFLATED_LIMIT {
            return Err(format!("inflates past {INFLATED_LIMIT} bytes"));
        }
        Ok(json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boreas_test_support::records::{fleet_plan, unstorable_plan};

    #[test]
    fn small_plans_stay_json_text() {
        let p = fleet_plan("prod", 3, 2);
        let StoredPlan::Json(json) = StoredPlan::encode("d", &p).unwrap() else {
            panic!("a small plan is stored as text");
        };
        assert_eq!(json, serde_json::to_string(&p).unwrap());
    }

    #[test]
    fn a_thousand_apps_of_ten_hosts_fit_one_record_compressed() {
        let p = fleet_plan("prod", 1000, 10);
        let json = serde_json::to_string(&p).unwrap();
        let StoredPlan::Compressed(bytes) = StoredPlan::encode("d", &p).unwrap() else {
            panic!("a large plan is compressed");
        };
        assert!(
            json.len() > 400 * 1024,
            "uncompressed: {} bytes",
            json.len()
        );
        assert!(bytes.len() < PLAN_RECORD_LIMIT / 2, "{} bytes", bytes.len());
        eprintln!(
            "1,000 apps × 10 hosts: {} bytes of JSON, {} compressed",
            json.len(),
            bytes.len()
        );
        assert_eq!(StoredPlan::inflate(&bytes).unwrap(), json);
    }

    #[test]
    fn a_plan_too_large_even_compressed_is_refused_naming_its_size() {
        let p = unstorable_plan("prod");
        let err = StoredPlan::encode("dep-9", &p).unwrap_err();
        assert_eq!(err.error_type(), "TooLarge");
        let text = err.to_string();
        assert!(
            text.starts_with("plan of deployment dep-9 takes "),
            "{text}"
        );
        assert!(text.contains(&PLAN_RECORD_LIMIT.to_string()), "{text}");
    }

    #[test]
    fn a_corrupt_compressed_plan_is_an_error() {
        assert!(StoredPlan::inflate(b"not zlib").is_err());
    }
}
