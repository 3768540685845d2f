//! Kubernetes resource quantities (`100m`, `2`, `64Mi`, `1G`, `1.5Gi`,
//! `129e6`) as whole milli-units, for comparing requests with what a node
//! can allocate (scheduler) and requests with limits (QoS class).
//!
//! Owns: that parsing. Must not do I/O nor import either wing.

/// Largest quantity kept (10^30 milli-units); sums of such stay far from overflow.
pub const MAX: i128 = 1_000_000_000_000_000_000_000_000_000_000;

/// A quantity in thousandths of its unit (CPU `500m` → 500, memory `1Ki` → 1,024,000); None if it is not one.
pub fn milli(s: &str) -> Option<i128> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-')).unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    if num.is_empty() {
        return None;
    }
    let (scale_num, scale_den): (i128, i128) = match suffix {
        "" => (1000, 1),
        "m" => (1, 1),
        "k" => (1000 * 1000, 1),
        "M" => (1000 * 1_000_000, 1),
        "G" => (1000 * 1_000_000_000, 1),
        "T" => (1000 * 1_000_000_000_000, 1),
        "Ki" => (1000 << 10, 1),
        "Mi" => (1000 << 20, 1),
        "Gi" => (1000 << 30, 1),
        "Ti" => (1000 << 40, 1),
        "n" => (1, 1_000_000),
        "u" => (1, 1000),
        e if e.starts_with(['e', 'E']) => {
            let exp: u32 = e[1..].parse().ok().filter(|x| *x <= 18)?;
            (1000 * 10i128.pow(exp), 1)
        }
        _ => return None,
    };
    // Decimal number: integer and fraction parts, exactly.
    let (neg, digits) = match num.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, num.strip_prefix('+').unwrap_or(num)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if (int.is_empty() && frac.is_empty()) || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) || int.len() + frac.len() > 30 {
        return None;
    }
    let whole: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let frac_val: i128 = if frac.is_empty() { 0 } else { frac.parse().ok()? };
    let frac_den = 10i128.checked_pow(frac.len() as u32)?;
    let v = whole.checked_mul(scale_num)?.checked_add(frac_val.checked_mul(scale_num)? / frac_den)? / scale_den;
    Some(if neg { -v } else { v }.clamp(-MAX, MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_as_kubernetes_writes_them() {
        let cases = [
            ("100m", 100),
            ("2", 2000),
            ("0.5", 500),
            ("1Ki", 1_024_000),
            ("64Mi", 64 * 1_048_576 * 1000),
            ("1G", 1_000_000_000_000),
            ("129e6", 129_000_000_000),
        ];
        for (s, want) in cases {
            assert_eq!(milli(s), Some(want), "{s}");
        }
        assert_eq!(milli("1.5Gi"), Some(1536 * 1_048_576 * 1000));
        assert_eq!(milli("250000u"), Some(250));
        for bad in ["", "Mi", "1.2.3", "12XB", "1e99", "abc", "--1"] {
            assert_eq!(milli(bad), None, "{bad}");
        }
    }
}
