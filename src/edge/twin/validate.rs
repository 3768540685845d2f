//! KubeEdge's twin input rules: key and value charset and length, and the
//! value types (`ValidateValue`). hive applies them to every write,
//! including KubeEdge's unchecked case (an expected value written to a
//! twin that had none is type-checked here too).
//!
//! Owns: those rules. Must not do I/O.

pub const KEY_REASON: &str = "The key of twin must only include upper or lowercase letters, number, english, and special letter - _ . , : / @ # and the length of key should be less than 128 bytes";
pub const VALUE_REASON: &str = "The value of twin must only include upper or lowercase letters, number, english, and special letter - _ . , : / @ # and the length of value should be less than 512 bytes";

fn charset_ok(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.,:/@#".contains(&b))
}

pub fn key_ok(k: &str) -> bool {
    charset_ok(k, 128)
}

/// An empty value is allowed and not charset-checked.
pub fn value_ok(v: &str) -> bool {
    v.is_empty() || charset_ok(v, 512)
}

/// Check `v` against `ty`; the error is KubeEdge's reason text.
pub fn typed(ty: &str, v: &str) -> Result<(), &'static str> {
    match ty {
        "" | "string" | "deleted" => Ok(()),
        "int" | "integer" => v.parse::<i64>().map(|_| ()).map_err(|_| "the value is not int or integer"),
        "float" => v.parse::<f64>().map(|_| ()).map_err(|_| "the value is not float"),
        "boolean" => matches!(v, "true" | "false").then_some(()).ok_or("the bool value must be true or false"),
        _ => Err("the value type is not allowed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_values_and_types_follow_kubeedge() {
        assert!(key_ok("temperature") && key_ok("a-b_c.d,e:f/g@h#1") && !key_ok("") && !key_ok("a b") && !key_ok(&"k".repeat(129)));
        for ok in ["", "-1.5", "1e5", "2024-05-29T16:26:43Z", "23.5"] {
            assert!(value_ok(ok), "{ok}");
        }
        for bad in ["23.5 C", "+1", "1e+5", "{\"a\":1}", "ä", &"v".repeat(513)] {
            assert!(!value_ok(bad), "{bad}");
        }
        assert!(typed("float", "23.5").is_ok() && typed("float", "hot").is_err());
        assert!(typed("int", "-3").is_ok() && typed("integer", "3.5").is_err());
        assert_eq!(typed("boolean", "True"), Err("the bool value must be true or false"));
        assert_eq!(typed("double", "1"), Err("the value type is not allowed"));
        assert_eq!(typed("bytes", "1"), Err("the value type is not allowed"));
        assert!(typed("", "anything").is_ok() && typed("string", "x").is_ok());
    }
}
