//! Rendering for people: comfy-table tables sized to the terminal, or stable JSON.

use std::io::{IsTerminal, Write};

use comfy_table::{presets, Cell, ContentArrangement, Table};
use serde::Serialize;

/// `-o, --output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

/// A table that fits the terminal; plain columns when piped or when `NO_COLOR` is set.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let styled = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut table = Table::new();
    if styled {
        table
            .load_preset(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic);
        table.set_header(
            headers
                .iter()
                .map(|h| Cell::new(h).add_attribute(comfy_table::Attribute::Bold)),
        );
    } else {
        table
            .load_preset(presets::NOTHING)
            .set_content_arrangement(ContentArrangement::Disabled);
        table.set_header(headers.iter().map(Cell::new));
    }
    for row in rows {
        table.add_row(row);
    }
    let text = table.to_string();
    // The borderless preset pads every line; trailing blanks only get in a pipe's way.
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Pretty JSON (without a trailing newline; [`print`] ends the line).
pub fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into())
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth reporting.
pub fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
}

/// An RFC 3339 time as people read it in a table: `2026-11-29 11:00:35 UTC`, or `never`.
/// (JSON keeps the full timestamp.)
pub fn when(rfc3339: Option<&str>) -> String {
    match rfc3339 {
        None => "never".into(),
        Some(text) => match (text.get(..10), text.get(11..19)) {
            (Some(date), Some(time)) if text.ends_with('Z') => format!("{date} {time} UTC"),
            _ => text.to_string(),
        },
    }
}

/// A cell for an optional value.
pub fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::when;

    #[test]
    fn times_read_plainly_in_tables() {
        assert_eq!(
            when(Some("2026-11-29T11:00:35.884Z")),
            "2026-11-29 11:00:35 UTC"
        );
        assert_eq!(when(None), "never");
        assert_eq!(when(Some("odd")), "odd", "anything else is shown as it is");
    }
}
