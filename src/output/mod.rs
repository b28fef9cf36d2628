//! Rendering for people: comfy-table tables sized to the terminal, or stable JSON.

pub mod safe;
pub mod table;

use std::io::{IsTerminal, Write};

use serde::Serialize;

use crate::error::{Error, Result};
pub use safe::one_line;
pub use table::{Column, Fit};

/// `-o, --output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

/// A table for stdout, fitted to `COLUMNS` or the terminal (see [`table::Target::stdout`]).
/// Columns left out are named once on stderr, with where to see them.
pub fn table(columns: &[Column], rows: Vec<Vec<String>>) -> String {
    let target = table::Target::stdout();
    let rendered = table::render(columns, rows, target);
    if !rendered.dropped.is_empty() {
        eprintln!(
            "({} left out to fit {} columns; -o json shows every field)",
            rendered.dropped.join(", "),
            target.width.unwrap_or_default()
        );
    }
    rendered.text
}

/// One record for stdout: across when it fits, else one field per line.
pub fn record(fields: &[(&'static str, String)]) -> String {
    table::render_record(fields, table::Target::stdout())
}

/// A progress bar on stderr when it is a terminal (hidden otherwise): `{verb} [====>  ] 3/10`.
pub fn progress(verb: &str) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressStyle};
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {verb} [{{bar:30}}] {{pos}}/{{len}} {{wide_msg}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

/// Pretty JSON (without a trailing newline; [`print`] ends the line), with nothing in its
/// strings that steers a terminal left raw.
pub fn json<T: Serialize + ?Sized>(value: &T) -> String {
    safe::escape_json(serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into()))
}

/// Writes a line to stdout. A closed pipe (`| head`) is not an error worth reporting, as in
/// fd; any other failure (a full disk) is, or a script would take a cut-off answer for a
/// whole one.
pub fn print(text: &str) -> Result<()> {
    write(format!("{text}\n").as_bytes())
}

/// Writes bytes to stdout as they are, with [`print`]'s rule for errors.
pub fn write(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let written = out.write_all(bytes).and_then(|()| out.flush());
    match written {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Output(err)),
        _ => Ok(()),
    }
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

/// Up to `shown` names joined with commas, and how many more: "a, b and 3 more".
pub fn few(names: &[String], shown: usize) -> String {
    match names.len() {
        n if n <= shown => names.join(", "),
        n => format!("{} and {} more", names[..shown].join(", "), n - shown),
    }
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
