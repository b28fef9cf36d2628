//! Text from anyone (GitHub, Pipedrive) made safe to show: nothing in it can steer a
//! terminal, reorder a line or start a new one. Every line gisttrack prints, logs or sends
//! that carries such text goes through here.

/// True for a character that must not reach a terminal raw: a control character (an escape
/// sequence could retitle the terminal or write the clipboard; BEL rings; C1 controls act as
/// escapes on some terminals) or a bidirectional override or isolate (it reorders what
/// follows, so a line can say something other than what it holds).
pub fn steers(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// One line, safe to print: newlines and runs of blanks become single spaces, and the
/// characters [`steers`] names become U+FFFD.
pub fn one_line(text: &str) -> String {
    let safe: String = text
        .chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => ' ',
            c if steers(c) => '\u{FFFD}',
            c => c,
        })
        .collect();
    safe.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// JSON text with every character [`steers`] names written as a `\u` escape. serde_json
/// escapes C0 controls in strings itself (so a raw newline is layout) but writes DEL, C1
/// controls and bidirectional overrides raw; those can only stand inside strings, where the
/// escape keeps the value exactly.
pub(super) fn escape_json(text: String) -> String {
    let raw = |c: char| steers(c) && c != '\n';
    if !text.chars().any(raw) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if raw(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "ab\u{1b}]52;c;aGk=\u{7}\n\u{202e}rtl\tend\u{9b}31m\u{7f}\u{2066}x";

    #[test]
    fn a_line_keeps_its_text_and_loses_what_steers_a_terminal() {
        assert_eq!(
            one_line(HOSTILE),
            "ab\u{FFFD}]52;c;aGk=\u{FFFD} \u{FFFD}rtl end\u{FFFD}31m\u{FFFD}\u{FFFD}x"
        );
        assert_eq!(one_line("  plain   text \n"), "plain text");
    }

    #[test]
    fn json_keeps_every_value_and_writes_nothing_that_steers_raw() {
        let value = serde_json::json!({ "description": HOSTILE, "plain": "é ❤️" });
        let text = escape_json(serde_json::to_string_pretty(&value).unwrap());
        assert!(!text.chars().any(|c| steers(c) && c != '\n'), "{text:?}");
        assert!(text.contains("\\u202e") && text.contains("\\u009b") && text.contains("é ❤️"));
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value, "escapes, not replacements");
    }
}
