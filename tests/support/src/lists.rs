//! One page of a list read the way the store reads every list, counting what DynamoDB bills:
//! the benchmarks compare the store's keyed reads with the filtered reads it made before.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

/// What one page cost: items returned, requests, items read (`ScannedCount`: before a filter).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListCost {
    /// Items returned.
    pub items: usize,
    /// Query requests sent.
    pub requests: usize,
    /// Items read, before the filter.
    pub read: usize,
}

/// One page of `page` items as a Query of `index` partition `partition`, newest first, with
/// `attribute = value` as a FilterExpression when given, `Limit` the items still missing, until
/// the page is full or the partition ends: the way the store reads every list (before `gsi2` and
/// `gsi3`, the filtered lists read `gsi1` with a filter).
///
/// # Panics
/// When a Query fails.
pub async fn list_page(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    index: &str,
    partition: &str,
    filter: Option<(&str, &str)>,
    page: usize,
) -> ListCost {
    let mut cost = ListCost::default();
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let mut query = client
            .query()
            .table_name(table)
            .index_name(index)
            .key_condition_expression(format!("{index}pk = :p"))
            .expression_attribute_values(":p", AttributeValue::S(partition.to_owned()))
            .scan_index_forward(false)
            .limit(i32::try_from(page - cost.items).unwrap())
            .set_exclusive_start_key(start);
        if let Some((attribute, value)) = filter {
            query = query
                .filter_expression("#a = :v")
                .expression_attribute_names("#a", attribute)
                .expression_attribute_values(":v", AttributeValue::S(value.to_owned()));
        }
        let out = query.send().await.expect("query");
        cost.requests += 1;
        cost.items += out.items().len();
        cost.read += usize::try_from(out.scanned_count).unwrap_or_default();
        match out.last_evaluated_key {
            Some(key) if cost.items < page && !key.is_empty() => start = Some(key),
            _ => return cost,
        }
    }
}
