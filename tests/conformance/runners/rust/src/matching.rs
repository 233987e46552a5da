//! The matching rules of tests/conformance/README.md, shared by every
//! runner: records match on the fields the expectation names, maps (the
//! fields `properties`, `changed` and `per_server`) and lists in full,
//! scalars by value.

use serde_json::Value;

const MAP_FIELDS: [&str; 3] = ["properties", "changed", "per_server"];

/// `expected` describes `actual`; `exact` compares objects key for key.
pub fn matches(expected: &Value, actual: &Value, exact: bool) -> bool {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            if exact && (e.len() != a.len() || !e.keys().all(|k| a.contains_key(k))) {
                return false;
            }
            e.iter().all(|(k, v)| a.get(k).is_some_and(|av| matches(v, av, MAP_FIELDS.contains(&k.as_str()))))
        }
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(e, a)| matches(e, a, exact))
        }
        (Value::Number(e), Value::Number(a)) => e.as_f64() == a.as_f64(),
        _ => expected == actual,
    }
}

/// Every expected item matches a distinct actual item, and none is left.
pub fn any_order(expected: &[Value], actual: &[Value]) -> bool {
    let mut left: Vec<&Value> = actual.iter().collect();
    for e in expected {
        match left.iter().position(|a| matches(e, a, false)) {
            Some(i) => {
                left.remove(i);
            }
            None => return false,
        }
    }
    left.is_empty()
}

/// Replaces `{id:NAME}` by the session's id, `{url:NAME}` by that peer's
/// URL (both looked up by `lookup(kind, name)`) and `{repeat:C:N}` by C N
/// times.
pub fn subst(text: &str, lookup: &dyn Fn(&str, &str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let Some(end) = tail.find('}') else { break };
        let inner = &tail[1..end];
        let parts: Vec<&str> = inner.split(':').collect();
        let replaced = match parts.as_slice() {
            [kind @ ("id" | "url"), name] => lookup(kind, name),
            ["repeat", c, n] => n.parse::<usize>().ok().map(|n| c.repeat(n)),
            _ => None,
        };
        match replaced {
            Some(r) => out.push_str(&r),
            None => out.push_str(&tail[..=end]),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_match_on_named_fields_maps_in_full() {
        let actual = json!({"type": "STATE", "properties": {"a": "1", "b": "2"}, "reason": null});
        assert!(matches(&json!({"type": "STATE"}), &actual, false));
        assert!(!matches(&json!({"properties": {"a": "1"}}), &actual, false));
        assert!(matches(&json!({"properties": {"a": "1", "b": "2"}}), &actual, false));
        assert!(!matches(&json!({"reason": "X"}), &actual, false));
        assert!(!matches(&json!([1]), &json!([1, 2]), false));
        assert!(!matches(&json!(true), &json!(1), false));
    }

    #[test]
    fn any_order_needs_a_distinct_match_each() {
        assert!(any_order(&[json!(1), json!(2)], &[json!(2), json!(1)]));
        assert!(!any_order(&[json!(1), json!(1)], &[json!(1), json!(2)]));
    }

    #[test]
    fn substitutes_ids_and_repeats() {
        let lookup = |kind: &str, n: &str| (n == "a").then(|| format!("{kind}-A"));
        assert_eq!(subst("x {id:a} {url:a} {repeat:z:3} {other}", &lookup), "x id-A url-A zzz {other}");
    }
}
