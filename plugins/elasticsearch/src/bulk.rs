//! The `_bulk` request body and what its response says about each item.

use serde_json::Value;
use weir_plugin::http::{HttpError, Response};
use weir_plugin::{ExportError, Sent};

/// A document's id: a hash of its index and content, so that sending it again (after a
/// timeout, or a retry of the whole batch) finds it already there (409) instead of indexing a
/// copy.
pub(crate) fn id(index: &str, doc: &str) -> String {
    // FNV-1a, 128 bits as two 64-bit lanes with different offsets.
    let lane = |seed: u64| {
        let mut h = seed;
        for b in index.bytes().chain([0]).chain(doc.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    };
    format!(
        "{:016x}{:016x}",
        lane(0xcbf2_9ce4_8422_2325),
        lane(0x8422_2325_cbf2_9ce4)
    )
}

/// The NDJSON body: a `create` action (which data streams require and indices accept) with the
/// document's [`id`], and the document, per item; every line ends with `\n`, the last one too.
pub(crate) fn body(docs: &[(String, Value)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (index, doc) in docs {
        let doc = doc.to_string();
        let action = serde_json::json!({ "create": { "_index": index, "_id": id(index, &doc) } });
        out.extend_from_slice(action.to_string().as_bytes());
        out.push(b'\n');
        out.extend_from_slice(doc.as_bytes());
        out.push(b'\n');
    }
    out
}

/// What a bulk response says about each item, in request order.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Items {
    /// Items refused for load (429, 5xx): worth sending again.
    pub retry: Vec<usize>,
    /// Items refused for good, with `type: reason`.
    pub failed: Vec<(usize, String)>,
}

/// Reads a bulk response for `n` items. `Err` if it is not one.
pub(crate) fn items(response: &[u8], n: usize) -> Result<Items, String> {
    let v: Value =
        serde_json::from_slice(response).map_err(|e| format!("not a bulk response: {e}"))?;
    let mut out = Items::default();
    if v["errors"] == Value::Bool(false) {
        return Ok(out);
    }
    let items = v["items"]
        .as_array()
        .ok_or("a bulk response without items")?;
    if items.len() != n {
        return Err(format!(
            "the bulk response has {} items for {n} sent",
            items.len()
        ));
    }
    for (i, item) in items.iter().enumerate() {
        // One key: the action (`create`, `index` …).
        let Some(result) = item.as_object().and_then(|o| o.values().next()) else {
            continue;
        };
        let status = result["status"].as_u64().unwrap_or(0);
        // 409: a document with this id exists: an earlier send of this very item got through.
        if (200..300).contains(&status) || status == 409 {
            continue;
        }
        if status == 429 || status >= 500 {
            out.retry.push(i);
        } else {
            let e = &result["error"];
            let why = format!(
                "{} {}: {}",
                status,
                e["type"].as_str().unwrap_or("error"),
                e["reason"].as_str().unwrap_or("")
            );
            out.failed.push((i, why));
        }
    }
    Ok(out)
}

/// How a request goes out: `weir_plugin::http::post`, or a script in tests.
pub(crate) type Post<'a> =
    dyn FnMut(&str, &[(&str, &str)], &[u8]) -> Result<Response, HttpError> + 'a;

/// Sends `docs` in one bulk request, then again only the items refused for load, up to
/// `retries` more times. A request that fails as a whole on the first try is retryable (nothing
/// was indexed); once some items are indexed, what still fails is reported as rejected rather
/// than having Weir send the whole batch again.
pub(crate) fn send_all(
    url: &str,
    headers: &[(&str, &str)],
    mut docs: Vec<(String, Value)>,
    retries: u32,
    post: &mut Post<'_>,
) -> Result<Sent, ExportError> {
    let mut rejected = 0u64;
    let mut why: Vec<String> = Vec::new();
    for attempt in 0..=retries {
        if docs.is_empty() {
            break;
        }
        let first = attempt == 0;
        let outcome = post(url, headers, &body(&docs))
            .map_err(ExportError::from)
            .and_then(|r| r.outcome_retrying_5xx().map(|_| r));
        let response = match outcome {
            Ok(r) => r,
            Err(e) if first => return Err(e),
            Err(e) => {
                rejected += docs.len() as u64;
                why.push(format!("{} items not sent again: {e:?}", docs.len()));
                docs.clear();
                break;
            }
        };
        let found = match items(&response.body, docs.len()) {
            Ok(f) => f,
            Err(e) if first => return Err(ExportError::Rejected(e)),
            Err(e) => {
                rejected += docs.len() as u64;
                why.push(e);
                docs.clear();
                break;
            }
        };
        rejected += found.failed.len() as u64;
        if let Some((_, first_reason)) = found.failed.first() {
            why.push(format!(
                "{} items refused, e.g. {first_reason}",
                found.failed.len()
            ));
        }
        docs = found
            .retry
            .iter()
            .filter_map(|&i| docs.get(i).cloned())
            .collect();
        if !docs.is_empty() && attempt < retries {
            weir_plugin::http::sleep_ms(100 << attempt.min(3));
        }
    }
    if !docs.is_empty() {
        rejected += docs.len() as u64;
        why.push(format!(
            "{} items still refused for load after {retries} retries",
            docs.len()
        ));
    }
    Ok(if rejected > 0 {
        Sent::partial(rejected, why.join("; "))
    } else {
        Sent::all()
    })
}

/// Standard base64 with padding (for HTTP Basic auth).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(A[(n >> shift & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
