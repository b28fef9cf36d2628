//! Tables that fit the terminal without breaking what people copy: URLs, ids and times are
//! never split, prose is shortened with "…" (or wrapped between words), and columns that
//! still do not fit are dropped: those empty in the rows shown first, then in each table's
//! stated order.

use std::io::IsTerminal;

use comfy_table::{presets, Cell, ColumnConstraint, ContentArrangement, Width};
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// How a column gives way when the table is too wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Shown in full or not at all: URLs, ids, numbers, times.
    Whole,
    /// Prose cut short with "…", one line per row.
    Shorten,
    /// Prose wrapped onto more lines, between words: a word (a path, a URL) is never split.
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
    pub const fn always(header: &'static str, fit: Fit) -> Column {
        Column {
            header,
            fit,
            drop_rank: None,
        }
    }

    /// The narrowest this column gets before it is dropped instead.
    fn min_width(&self, measure: &Measure) -> usize {
        let natural = measure.natural;
        match self.fit {
            Fit::Whole => natural,
            Fit::Shorten => natural.min(self.header.width().max(12)),
            Fit::Wrap => natural
                .min(self.header.width().max(20))
                .max(measure.longest_word),
        }
    }
}

/// What a column's cells need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Measure {
    /// The widest cell, header included.
    pub natural: usize,
    /// The widest word of any cell: a wrapped column is never narrower.
    pub longest_word: usize,
    /// Every cell is blank or `-`: leaving the column out hides nothing.
    pub empty: bool,
}

impl Measure {
    fn of(header: &str, cells: &[&str]) -> Measure {
        Measure {
            natural: cells
                .iter()
                .map(|cell| cell.width())
                .chain([header.width()])
                .max()
                .unwrap_or(0),
            longest_word: cells
                .iter()
                .flat_map(|cell| cell.split_whitespace())
                .map(UnicodeWidthStr::width)
                .max()
                .unwrap_or(0),
            empty: cells.iter().all(|cell| matches!(cell.trim(), "" | "-")),
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
         long text is shortened with \"…\", and columns that still do not fit are left out: \
         first those empty in every row shown, then in this order: {}. -o json has every field.",
        drop_order(columns)
    )
}

/// Where the table is going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The width to fit, when known.
    pub width: Option<usize>,
    /// Borders (a terminal), or bare columns (a pipe).
    pub borders: bool,
    /// Bold headers (a terminal without `NO_COLOR`).
    pub bold: bool,
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
            borders: terminal,
            bold: terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    /// Bare columns at any width: what a pipe gets.
    pub const fn plain(width: Option<usize>) -> Target {
        Target {
            width,
            borders: false,
            bold: false,
        }
    }

    /// Characters a table of `columns` visible columns spends beyond its cells' content.
    fn overhead(&self, columns: usize) -> usize {
        // One space of padding each side of a cell; a bordered table adds a line between
        // columns and one at each edge.
        2 * columns + if self.borders { columns + 1 } else { 0 }
    }
}

/// A rendered table and the columns with something in them it had to leave out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    pub dropped: Vec<&'static str>,
}

/// Each column's content width, or `None` where it is dropped. Columns empty in every row go
/// first (they hide nothing), then the others in their rank order.
pub fn layout(columns: &[Column], measures: &[Measure], target: Target) -> Vec<Option<usize>> {
    let natural: Vec<usize> = measures.iter().map(|m| m.natural).collect();
    let mut widths: Vec<Option<usize>> = natural.iter().copied().map(Some).collect();
    let Some(available) = target.width else {
        return widths;
    };
    let min: Vec<usize> = columns
        .iter()
        .zip(measures)
        .map(|(c, m)| c.min_width(m))
        .collect();
    let needed = |widths: &[Option<usize>]| {
        let visible: Vec<usize> = (0..widths.len()).filter(|&i| widths[i].is_some()).collect();
        visible.iter().map(|&i| min[i]).sum::<usize>() + target.overhead(visible.len())
    };
    let mut drop_order: Vec<usize> = (0..columns.len())
        .filter(|&i| columns[i].drop_rank.is_some())
        .collect();
    drop_order.sort_by_key(|&i| (!measures[i].empty, columns[i].drop_rank));
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

/// `text` in at most `width` columns, ending in "…" when cut. Cut between grapheme clusters,
/// each measured whole (an emoji with its variation selector is two columns, not one).
pub fn shorten(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for grapheme in text.graphemes(true) {
        let w = grapheme.width();
        if used + w + 1 > width {
            break;
        }
        out.push_str(grapheme);
        used += w;
    }
    out.push('…');
    out
}

/// Every cell is made one line and safe to print by the one sanitiser.
pub use super::safe::one_line;

/// `text` in lines of at most `width` columns, broken between words only: a word wider than
/// `width` gets a line of its own, whole.
pub fn wrap(text: &str, width: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.width() + 1 + word.width() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines.join("\n")
}

/// What each column's cells need.
fn measure(columns: &[Column], rows: &[Vec<String>]) -> Vec<Measure> {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let cells: Vec<&str> = rows
                .iter()
                .map(|row| row.get(i).map_or("", String::as_str))
                .collect();
            Measure::of(c.header, &cells)
        })
        .collect()
}

/// Lays `rows` out under `columns` for `target`.
pub fn render(columns: &[Column], rows: Vec<Vec<String>>, target: Target) -> Rendered {
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|row| row.iter().map(|cell| one_line(cell)).collect())
        .collect();
    let measures = measure(columns, &rows);
    let widths = layout(columns, &measures, target);
    let text = draw(columns, &widths, rows, target);
    let dropped = (0..columns.len())
        .filter(|&i| widths[i].is_none() && !measures[i].empty)
        .map(|i| columns[i].header)
        .collect();
    Rendered { text, dropped }
}

/// The table itself: the visible columns at their widths, prose shortened to fit.
fn draw(
    columns: &[Column],
    widths: &[Option<usize>],
    rows: Vec<Vec<String>>,
    target: Target,
) -> String {
    let visible: Vec<(usize, usize)> = widths
        .iter()
        .enumerate()
        .filter_map(|(i, w)| w.map(|w| (i, w)))
        .collect();
    let mut table = comfy_table::Table::new();
    table.set_content_arrangement(ContentArrangement::Disabled);
    table.load_preset(if target.borders {
        presets::UTF8_FULL_CONDENSED
    } else {
        presets::NOTHING
    });
    // A list of name/value pairs has no header row.
    if columns.iter().any(|c| !c.header.is_empty()) {
        table.set_header(visible.iter().map(|&(i, _)| {
            let header = Cell::new(columns[i].header);
            match target.bold {
                true => header.add_attribute(comfy_table::Attribute::Bold),
                false => header,
            }
        }));
    }
    for row in rows {
        table.add_row(visible.iter().map(|&(i, width)| {
            let cell = row.get(i).map(String::as_str).unwrap_or("");
            match columns[i].fit {
                Fit::Shorten => shorten(cell, width),
                Fit::Wrap => wrap(cell, width),
                Fit::Whole => cell.to_string(),
            }
        }));
    }
    for (position, &(_, width)) in visible.iter().enumerate() {
        let padded = u16::try_from(width + 2).unwrap_or(u16::MAX);
        if let Some(column) = table.column_mut(position) {
            column.set_constraint(ColumnConstraint::Absolute(Width::Fixed(padded)));
        }
    }
    // The borderless preset pads every line; trailing blanks only get in a pipe's way.
    table
        .to_string()
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

/// One record's fields: a row under its headers when that fits `target`, else one
/// `NAME  value` line per field.
pub fn render_record(fields: &[(&'static str, String)], target: Target) -> String {
    let across: Vec<Column> = fields
        .iter()
        .map(|(name, _)| Column::always(name, Fit::Whole))
        .collect();
    let row: Vec<String> = fields.iter().map(|(_, value)| one_line(value)).collect();
    // Measured, not rendered: a terminal's bold headers carry escape codes of no width.
    let needed = measure(&across, std::slice::from_ref(&row))
        .iter()
        .map(|m| m.natural)
        .sum::<usize>()
        + target.overhead(across.len());
    if target.width.is_none_or(|width| needed <= width) {
        return render(&across, vec![row], target).text;
    }
    let down = [
        Column::always("", Fit::Whole),
        Column::always("", Fit::Shorten),
    ];
    let rows = fields
        .iter()
        .map(|(name, value)| vec![name.to_string(), value.clone()])
        .collect();
    render(&down, rows, target).text
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN_70: Target = Target::plain(Some(70));

    /// Columns of these widths, with content.
    fn full(natural: &[usize]) -> Vec<Measure> {
        natural
            .iter()
            .map(|&natural| Measure {
                natural,
                longest_word: natural,
                empty: false,
            })
            .collect()
    }

    #[test]
    fn shortening_marks_the_cut() {
        assert_eq!(shorten("a short one", 20), "a short one");
        assert_eq!(shorten("a rather long description", 10), "a rather …");
        assert_eq!(shorten("日本語のテキスト", 7), "日本語…");
    }

    #[test]
    fn columns_go_in_their_rank_order_and_prose_shrinks_first() {
        let columns = [
            Column::always("URL", Fit::Whole),
            Column::shorten("DESCRIPTION", 2),
            Column::whole("WHEN", 1),
        ];
        // 60 + 40 + 23 with padding is far over 70: WHEN goes first, then the description
        // shrinks to what is left.
        let widths = layout(&columns, &full(&[60, 40, 23]), PLAIN_70);
        assert_eq!(widths, vec![Some(60), None, None]);
        let widths = layout(&columns, &full(&[40, 40, 23]), PLAIN_70);
        assert_eq!(widths, vec![Some(40), Some(26), None]);
        let widths = layout(&columns, &full(&[40, 40, 10]), PLAIN_70);
        assert_eq!(widths, vec![Some(40), Some(14), Some(10)]);
        let widths = layout(&columns, &full(&[20, 40, 10]), PLAIN_70);
        assert_eq!(widths, vec![Some(20), Some(34), Some(10)]);
        // No width to fit: everything in full.
        let unlimited = Target::plain(None);
        assert_eq!(
            layout(&columns, &full(&[60, 40, 23]), unlimited),
            vec![Some(60), Some(40), Some(23)]
        );
    }

    #[test]
    fn an_empty_column_goes_before_any_with_content() {
        let columns = [
            Column::always("URL", Fit::Whole),
            Column::whole("WHEN", 1),
            Column::whole("WHY", 2),
        ];
        let mut measures = full(&[40, 23, 10]);
        // 40 + 23 + 10 with padding is 79: one column must go.
        assert_eq!(
            layout(&columns, &measures, PLAIN_70),
            vec![Some(40), None, Some(10)]
        );
        measures[2].empty = true;
        assert_eq!(
            layout(&columns, &measures, PLAIN_70),
            vec![Some(40), Some(23), None],
            "the empty WHY goes, though WHEN ranks first"
        );
        // With room for everything, an empty column stays where it is.
        assert_eq!(
            layout(&columns, &measures, Target::plain(Some(100))),
            vec![Some(40), Some(23), Some(10)]
        );
        let rows = vec![vec!["u".repeat(40), "t".repeat(23), "-".into()]];
        let rendered = render(&columns, rows, PLAIN_70);
        assert!(rendered.dropped.is_empty(), "nothing with content left out");
        assert!(!rendered.text.contains("WHY"), "{}", rendered.text);
    }

    #[test]
    fn wrapped_prose_never_splits_a_word() {
        let path = "sqlite:///var/lib/a/rather/long/path/gisttrack.db";
        let text = format!("database {path} (SQLite); migrations applied");
        let wrapped = wrap(&text, 20);
        assert_eq!(
            wrapped.lines().collect::<Vec<_>>(),
            ["database", path, "(SQLite); migrations", "applied"]
        );
        let columns = [
            Column::always("PART", Fit::Whole),
            Column::always("DETAIL", Fit::Wrap),
        ];
        let rendered = render(&columns, vec![vec!["database".into(), text]], PLAIN_70);
        assert!(
            rendered.text.lines().any(|line| line.contains(path)),
            "{}",
            rendered.text
        );
        for line in rendered.text.lines() {
            assert!(line.width() <= 70, "{line:?}");
        }
    }

    #[test]
    fn a_kept_column_stays_even_when_nothing_fits() {
        let columns = [Column::always("URL", Fit::Whole), Column::whole("ID", 1)];
        assert_eq!(
            layout(&columns, &full(&[90, 32]), PLAIN_70),
            vec![Some(90), None]
        );
    }

    #[test]
    fn rendered_tables_never_exceed_the_width_when_they_can_fit() {
        let columns = [
            Column::always("URL", Fit::Whole),
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
                borders: styled,
                bold: styled,
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
    fn text_from_anyone_cannot_steer_the_terminal() {
        assert_eq!(
            one_line("ab\u{1b}]52;c;aGk=\u{7}\n\u{202e}rtl\tend"),
            "ab\u{FFFD}]52;c;aGk=\u{FFFD} \u{FFFD}rtl end"
        );
        // An emoji with its variation selector is two columns, cut whole.
        let cut = shorten("ok ❤️❤️❤️ done", 6);
        assert!(cut.width() <= 6, "{cut:?}");
        assert_eq!(cut, "ok ❤️…");
    }

    #[test]
    fn a_bold_header_does_not_make_a_record_stand_down() {
        let fields = [
            ("USERS CHECKED", "3".to_string()),
            ("FAILED", "0".to_string()),
        ];
        let bold = Target {
            width: Some(30),
            borders: true,
            bold: true,
        };
        assert_eq!(
            render_record(&fields, bold).lines().count(),
            5,
            "across, in a box"
        );
    }

    #[test]
    fn a_record_too_wide_to_lie_across_stands_down() {
        let fields = [
            ("USERS CHECKED", "3".to_string()),
            ("ACTIVITIES CREATED", "2".to_string()),
        ];
        let wide = render_record(&fields, Target::plain(Some(120)));
        assert_eq!(wide.lines().count(), 2, "{wide}");
        let narrow = render_record(&fields, Target::plain(Some(20)));
        assert_eq!(
            narrow.lines().map(str::trim).collect::<Vec<_>>(),
            ["USERS CHECKED       3", "ACTIVITIES CREATED  2"]
        );
    }
}
