//! Tables that fit the terminal without breaking what people copy: URLs, ids and times are
//! never split, prose is shortened with "…" (or wrapped), and columns that still do not fit
//! are dropped in each table's stated order.

use std::io::IsTerminal;

use comfy_table::{presets, Cell, ColumnConstraint, ContentArrangement, Width};
use unicode_width::UnicodeWidthStr;

/// How a column gives way when the table is too wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Shown in full or not at all: URLs, ids, numbers, times.
    Whole,
    /// Prose cut short with "…", one line per row.
    Shorten,
    /// Prose wrapped onto more lines.
    Wrap,
}

/// One column: its header, how it fits, and when it goes.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub header: &'static str,
    pub fit: Fit,
    /// Columns that do not fit are dropped lowest rank first; `None` is never dropped.
    pub drop_rank: Option<u8>,
}

impl Column {
    /// A column shown in full, dropped at `rank` when there is no room.
    pub const fn whole(header: &'static str, rank: u8) -> Column {
        Column {
            header,
            fit: Fit::Whole,
            drop_rank: Some(rank),
        }
    }

    /// A column shortened with "…", dropped at `rank` when even that is too wide.
    pub const fn shorten(header: &'static str, rank: u8) -> Column {
        Column {
            header,
            fit: Fit::Shorten,
            drop_rank: Some(rank),
        }
    }

    /// A column that stays however narrow the terminal.
    pub const fn kept(self) -> Column {
        Column {
            drop_rank: None,
            ..self
        }
    }

    /// A column whose prose wraps instead of being shortened.
    pub const fn wrapped(self) -> Column {
        Column {
            fit: Fit::Wrap,
            ..self
        }
    }

    /// The narrowest this column gets before it is dropped instead.
    fn min_width(&self, natural: usize) -> usize {
        match self.fit {
            Fit::Whole => natural,
            Fit::Shorten => natural.min(self.header.width().max(12)),
            Fit::Wrap => natural.min(self.header.width().max(20)),
        }
    }
}

/// The headers of the columns that can be left out, in the order they go: for `--help`.
pub fn drop_order(columns: &[Column]) -> String {
    let mut droppable: Vec<&Column> = columns.iter().filter(|c| c.drop_rank.is_some()).collect();
    droppable.sort_by_key(|c| c.drop_rank);
    droppable
        .iter()
        .map(|c| c.header)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `--help` paragraph that says how a command's table fits a narrow terminal.
pub fn fitting_help(about: &str, columns: &[Column]) -> String {
    format!(
        "{about}\n\nThe table fits the terminal (or COLUMNS): URLs, ids and times are never split, \
         long text is shortened with \"…\", and columns that still do not fit are left out in \
         this order: {}. -o json has every field.",
        drop_order(columns)
    )
}

/// Where the table is going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The width to fit, when known.
    pub width: Option<usize>,
    /// Borders and bold headers (a terminal), or bare columns (a pipe, `NO_COLOR`).
    pub styled: bool,
}

impl Target {
    /// stdout: `COLUMNS` when set (so a pipe can ask for a width), else the terminal's width;
    /// no limit when piped.
    pub fn stdout() -> Target {
        let terminal = std::io::stdout().is_terminal();
        let columns = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<usize>().ok())
            .filter(|&c| c > 0);
        let width = columns.or_else(|| {
            terminal
                .then(|| comfy_table::Table::new().width())
                .flatten()
                .map(usize::from)
        });
        Target {
            width,
            styled: terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    /// Characters a table of `columns` visible columns spends beyond its cells' content.
    fn overhead(&self, columns: usize) -> usize {
        // One space of padding each side of a cell; a bordered table adds a line between
        // columns and one at each edge.
        2 * columns + if self.styled { columns + 1 } else { 0 }
    }
}

/// A rendered table and the columns it had to leave out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    pub dropped: Vec<&'static str>,
}

/// Each column's content width, or `None` where it is dropped.
pub fn layout(columns: &[Column], natural: &[usize], target: Target) -> Vec<Option<usize>> {
    let mut widths: Vec<Option<usize>> = natural.iter().copied().map(Some).collect();
    let Some(available) = target.width else {
        return widths;
    };
    let min: Vec<usize> = columns
        .iter()
        .zip(natural)
        .map(|(c, &n)| c.min_width(n))
        .collect();
    let needed = |widths: &[Option<usize>]| {
        let visible: Vec<usize> = (0..widths.len()).filter(|&i| widths[i].is_some()).collect();
        visible.iter().map(|&i| min[i]).sum::<usize>() + target.overhead(visible.len())
    };
    let mut drop_order: Vec<usize> = (0..columns.len())
        .filter(|&i| columns[i].drop_rank.is_some())
        .collect();
    drop_order.sort_by_key(|&i| columns[i].drop_rank);
    for i in drop_order {
        if needed(&widths) <= available {
            break;
        }
        widths[i] = None;
    }
    // What is left after every visible column's minimum goes, in turns, to the columns that
    // give way, up to their natural width.
    let mut spare = available.saturating_sub(needed(&widths));
    for (i, width) in widths.iter_mut().enumerate() {
        if let Some(width) = width {
            *width = min[i];
        }
    }
    let growable: Vec<usize> = (0..columns.len())
        .filter(|&i| widths[i].is_some() && columns[i].fit != Fit::Whole)
        .collect();
    while spare > 0 {
        let wanting: Vec<usize> = growable
            .iter()
            .copied()
            .filter(|&i| widths[i] < Some(natural[i]))
            .collect();
        if wanting.is_empty() {
            break;
        }
        let share = (spare / wanting.len()).max(1);
        for i in wanting {
            let width = widths[i].as_mut().expect("visible");
            let grow = share.min(natural[i] - *width).min(spare);
            *width += grow;
            spare -= grow;
        }
    }
    widths
}

/// `text` in at most `width` columns, ending in "…" when cut.
pub fn shorten(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// One line per cell: newlines and runs of blanks in a description become single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Lays `rows` out under `columns` for `target`.
pub fn render(columns: &[Column], rows: Vec<Vec<String>>, target: Target) -> Rendered {
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|row| row.iter().map(|cell| one_line(cell)).collect())
        .collect();
    let natural: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .filter_map(|row| row.get(i))
                .map(|cell| cell.width())
                .chain([c.header.width()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let widths = layout(columns, &natural, target);
    let visible: Vec<usize> = (0..columns.len())
        .filter(|&i| widths[i].is_some())
        .collect();

    let mut table = comfy_table::Table::new();
    table.set_content_arrangement(ContentArrangement::Disabled);
    table.load_preset(if target.styled {
        presets::UTF8_FULL_CONDENSED
    } else {
        presets::NOTHING
    });
    // A list of name/value pairs has no header row.
    if columns.iter().any(|c| !c.header.is_empty()) {
        table.set_header(visible.iter().map(|&i| {
            let header = Cell::new(columns[i].header);
            if target.styled {
                header.add_attribute(comfy_table::Attribute::Bold)
            } else {
                header
            }
        }));
    }
    for row in rows {
        table.add_row(visible.iter().map(|&i| {
            let cell = row.get(i).map(String::as_str).unwrap_or("");
            let width = widths[i].expect("visible");
            match columns[i].fit {
                Fit::Shorten => shorten(cell, width),
                Fit::Whole | Fit::Wrap => cell.to_string(),
            }
        }));
    }
    for (position, &i) in visible.iter().enumerate() {
        let width = widths[i].expect("visible");
        let padded = u16::try_from(width + 2).unwrap_or(u16::MAX);
        if let Some(column) = table.column_mut(position) {
            column.set_constraint(ColumnConstraint::Absolute(Width::Fixed(padded)));
        }
    }
    // The borderless preset pads every line; trailing blanks only get in a pipe's way.
    let text = table
        .to_string()
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n");
    let dropped = (0..columns.len())
        .filter(|&i| widths[i].is_none())
        .map(|i| columns[i].header)
        .collect();
    Rendered { text, dropped }
}

/// One record's fields: a row under its headers when that fits `target`, else one
/// `NAME  value` line per field.
pub fn render_record(fields: &[(&'static str, String)], target: Target) -> String {
    let across: Vec<Column> = fields
        .iter()
        .map(|(name, _)| Column::whole(name, 0).kept())
        .collect();
    let row = fields.iter().map(|(_, value)| value.clone()).collect();
    let text = render(&across, vec![row], target).text;
    let fits = target
        .width
        .is_none_or(|width| text.lines().all(|line| line.width() <= width));
    if fits {
        return text;
    }
    let down = [Column::whole("", 0).kept(), Column::shorten("", 0).kept()];
    let rows = fields
        .iter()
        .map(|(name, value)| vec![name.to_string(), value.clone()])
        .collect();
    render(&down, rows, target).text
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN_70: Target = Target {
        width: Some(70),
        styled: false,
    };

    #[test]
    fn shortening_marks_the_cut() {
        assert_eq!(shorten("a short one", 20), "a short one");
        assert_eq!(shorten("a rather long description", 10), "a rather …");
        assert_eq!(shorten("日本語のテキスト", 7), "日本語…");
    }

    #[test]
    fn columns_go_in_their_rank_order_and_prose_shrinks_first() {
        let columns = [
            Column::whole("URL", 0).kept(),
            Column::shorten("DESCRIPTION", 2),
            Column::whole("WHEN", 1),
        ];
        // 60 + 40 + 23 with padding is far over 70: WHEN goes first, then the description
        // shrinks to what is left.
        let widths = layout(&columns, &[60, 40, 23], PLAIN_70);
        assert_eq!(widths, vec![Some(60), None, None]);
        let widths = layout(&columns, &[40, 40, 23], PLAIN_70);
        assert_eq!(widths, vec![Some(40), Some(26), None]);
        let widths = layout(&columns, &[40, 40, 10], PLAIN_70);
        assert_eq!(widths, vec![Some(40), Some(14), Some(10)]);
        let widths = layout(&columns, &[20, 40, 10], PLAIN_70);
        assert_eq!(widths, vec![Some(20), Some(34), Some(10)]);
        // No width to fit: everything in full.
        let unlimited = Target {
            width: None,
            styled: false,
        };
        assert_eq!(
            layout(&columns, &[60, 40, 23], unlimited),
            vec![Some(60), Some(40), Some(23)]
        );
    }

    #[test]
    fn a_kept_column_stays_even_when_nothing_fits() {
        let columns = [Column::whole("URL", 0).kept(), Column::whole("ID", 1)];
        assert_eq!(layout(&columns, &[90, 32], PLAIN_70), vec![Some(90), None]);
    }

    #[test]
    fn rendered_tables_never_exceed_the_width_when_they_can_fit() {
        let columns = [
            Column::whole("URL", 0).kept(),
            Column::shorten("DESCRIPTION", 2),
            Column::whole("WHEN", 1),
        ];
        let url = "https://gist.github.com/octocat/aa5a315d61ae9438b18d";
        let rows = vec![vec![
            url.to_string(),
            "a description\nthat goes on and on and on".to_string(),
            "2026-11-29 11:00:35 UTC".to_string(),
        ]];
        for styled in [false, true] {
            let target = Target {
                width: Some(72),
                styled,
            };
            let rendered = render(&columns, rows.clone(), target);
            for line in rendered.text.lines() {
                assert!(line.width() <= 72, "{styled}: {line:?}");
            }
            assert!(rendered.text.contains(url), "{}", rendered.text);
            assert!(rendered.text.contains('…'), "{}", rendered.text);
            assert_eq!(rendered.dropped, vec!["WHEN"]);
        }
    }

    #[test]
    fn a_record_too_wide_to_lie_across_stands_down() {
        let fields = [
            ("USERS CHECKED", "3".to_string()),
            ("ACTIVITIES CREATED", "2".to_string()),
        ];
        let wide = render_record(
            &fields,
            Target {
                width: Some(120),
                styled: false,
            },
        );
        assert_eq!(wide.lines().count(), 2, "{wide}");
        let narrow = render_record(
            &fields,
            Target {
                width: Some(20),
                styled: false,
            },
        );
        assert_eq!(
            narrow.lines().map(str::trim).collect::<Vec<_>>(),
            ["USERS CHECKED       3", "ACTIVITIES CREATED  2"]
        );
    }
}
