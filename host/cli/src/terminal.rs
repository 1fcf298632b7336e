//! Everything sandpipe writes for people goes through here: stdout and stderr writes that
//! survive a reader that went away, one decision on colour, and tables that fit the width.
//!
//! Rust ignores SIGPIPE, so a write into a pipe whose reader has gone (`sandpipe executions
//! list | head -1`) fails with EPIPE, and `println!` panics on it. Setting SIGPIPE back to its
//! default would end the process there as it ends `cat`, but the same process talks to
//! sockets (the git daemon, an HTTP server) whose peer hanging up must be an error to handle,
//! not the end of the process. So stdout is written only through [`outln!`], [`out!`] and
//! [`stdout`], which end the process themselves when its reader has gone, and stderr only
//! through [`errln!`], which never fails.

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::sync::OnceLock;

use comfy_table::{ColumnConstraint, ContentArrangement, Width, presets};

/// The exit status when stdout's reader has gone: 141, 128 + SIGPIPE, what the shell reports
/// for `cat`, `ls` or `git log` cut short by a closed pipe in the same place. Not 0 (ripgrep's
/// choice): `sandpipe run … | head` would then exit 0 for a pipeline that failed, and a script
/// under `set -o pipefail` could not tell "sandpipe was cut short" from "sandpipe succeeded".
pub const CLOSED_PIPE_EXIT: i32 = 141;

/// `println!` onto stdout, ending the process quietly if its reader has gone.
macro_rules! outln {
    () => {
        $crate::terminal::write_out(format_args!("\n"))
    };
    ($($arg:tt)+) => {
        $crate::terminal::write_out(format_args!("{}\n", format_args!($($arg)+)))
    };
}

/// `print!` onto stdout, ending the process quietly if its reader has gone.
macro_rules! out {
    ($($arg:tt)+) => {
        $crate::terminal::write_out(format_args!($($arg)+))
    };
}

/// `eprintln!` that never panics: a stderr nobody reads loses the line, and the command goes
/// on to the end and exit status it would have had.
macro_rules! errln {
    ($($arg:tt)+) => {
        $crate::terminal::write_err(format_args!("{}\n", format_args!($($arg)+)))
    };
}

pub(crate) use {errln, out, outln};

/// What [`outln!`] and [`out!`] do: write and flush, so a failure shows here and not at exit.
pub fn write_out(args: fmt::Arguments) {
    let written = {
        let mut stdout = io::stdout().lock();
        stdout.write_fmt(args).and_then(|()| stdout.flush())
    };
    if let Err(error) = written {
        stdout_failed(error);
    }
}

/// What [`errln!`] does. Stderr is where sandpipe says what went wrong; when nobody reads it
/// there is nowhere to say that writing it failed either.
pub fn write_err(args: fmt::Arguments) {
    let _ = io::stderr().lock().write_fmt(args);
}

/// Stdout's reader has gone: end as a closed pipe ends other commands, without a word. Any
/// other failure (a full disk under `>`) is said on stderr.
fn stdout_failed(error: io::Error) -> ! {
    if error.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(CLOSED_PIPE_EXIT);
    }
    errln!("sandpipe: cannot write to stdout: {error}");
    std::process::exit(1);
}

/// Stdout as a writer, for bytes copied whole (an object, a log): a failed write ends the
/// process as it does for [`outln!`], so the `io::Result`s it returns are always `Ok`.
pub struct Stdout(io::StdoutLock<'static>);

pub fn stdout() -> Stdout {
    Stdout(io::stdout().lock())
}

impl Write for Stdout {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self.0.write(bytes) {
            Err(error) if error.kind() != io::ErrorKind::Interrupted => stdout_failed(error),
            result => result,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().or_else(|error| stdout_failed(error))
    }
}

impl Drop for Stdout {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Where output goes, for the question whether to colour it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Whether to colour what goes to `stream`: never when NO_COLOR is set to anything but the
/// empty string (<https://no-color.org>); always when CLICOLOR_FORCE is set to anything but
/// the empty string or `0`; otherwise only onto a terminal that is not TERM=dumb. NO_COLOR
/// wins over CLICOLOR_FORCE, as anstream (clap, cargo) decides.
pub fn colour(stream: Stream) -> bool {
    static STDOUT: OnceLock<bool> = OnceLock::new();
    static STDERR: OnceLock<bool> = OnceLock::new();
    let (cell, is_terminal): (_, fn() -> bool) = match stream {
        Stream::Stdout => (&STDOUT, || io::stdout().is_terminal()),
        Stream::Stderr => (&STDERR, || io::stderr().is_terminal()),
    };
    *cell.get_or_init(|| {
        let var = |name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
        colour_wanted(
            var("NO_COLOR").as_deref(),
            var("CLICOLOR_FORCE").as_deref(),
            var("TERM").as_deref(),
            is_terminal(),
        )
    })
}

fn colour_wanted(
    no_color: Option<&str>,
    clicolor_force: Option<&str>,
    term: Option<&str>,
    is_terminal: bool,
) -> bool {
    if no_color.is_some_and(|v| !v.is_empty()) {
        return false;
    }
    if clicolor_force.is_some_and(|v| !v.is_empty() && v != "0") {
        return true;
    }
    is_terminal && term != Some("dumb")
}

/// What a coloured word says: it went well, it went badly, or neither (yet).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tone {
    Good,
    Bad,
    Muted,
}

impl Tone {
    fn style(self) -> console::Style {
        let style = console::Style::new();
        match self {
            Tone::Good => style.green(),
            Tone::Bad => style.red(),
            Tone::Muted => style.dim(),
        }
    }

    fn table_colour(self) -> comfy_table::Color {
        match self {
            Tone::Good => comfy_table::Color::Green,
            Tone::Bad => comfy_table::Color::Red,
            Tone::Muted => comfy_table::Color::Grey,
        }
    }
}

/// `text` in `tone`'s colour if what goes to `stream` is coloured, else `text` as it is.
pub fn paint(stream: Stream, tone: Tone, text: &str) -> String {
    if colour(stream) {
        tone.style().force_styling(true).apply_to(text).to_string()
    } else {
        text.to_string()
    }
}

/// The width tables on stdout are fitted to: the terminal's, else COLUMNS when it is set (so
/// a script or a test can ask for a width); `None`, nothing is wrapped or cut.
pub fn table_width() -> Option<usize> {
    if io::stdout().is_terminal()
        && let Some((_, columns)) = console::Term::stdout().size_checked()
    {
        return Some(columns.into());
    }
    std::env::var("COLUMNS")
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|&columns| columns > 0)
}

/// How a column's cells give way when the table must be narrower than they are.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fit {
    /// A name, an id, a status: never broken over lines. If the table cannot hold it, it is
    /// cut to no fewer than `keep` characters (the header's, if more), ending in `…`, and only
    /// once the text columns are as narrow as they go. An execution id cut so is still a
    /// prefix every command takes.
    Token { keep: usize },
    /// Broken over lines between words only, never inside one (a date and a time).
    Words,
    /// Free text, broken between words; only a word wider than the column is broken inside.
    Text,
}

/// The narrowest a text column is made before tokens are cut.
const TEXT_KEEP: usize = 10;
/// The narrowest anything is made, when even that is too wide for the terminal.
const LAST_RESORT: usize = 3;
const ELLIPSIS: &str = "…";

/// One cell of a [`Table`]: its text, and the tone to colour it in when stdout is coloured.
pub struct Cell {
    text: String,
    tone: Option<Tone>,
}

pub fn cell(text: impl fmt::Display) -> Cell {
    Cell {
        text: text.to_string(),
        tone: None,
    }
}

impl Cell {
    pub fn tone(self, tone: Tone) -> Cell {
        Cell {
            tone: Some(tone),
            ..self
        }
    }
}

/// A table for stdout, fitted to [`table_width`] with its columns' [`Fit`]s, and coloured as
/// [`colour`] decides. comfy-table draws it and breaks text cells between words; which column
/// gets how much, and cutting tokens with an ellipsis, are decided here, since comfy-table's
/// dynamic arrangement would break a name or an id inside a word as readily as a sentence.
pub struct Table {
    columns: Vec<(&'static str, Fit)>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(columns: &[(&'static str, Fit)]) -> Table {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }

    /// The table drawn for stdout, without a final newline.
    pub fn render(&self) -> String {
        self.render_for(table_width(), colour(Stream::Stdout))
    }

    fn render_for(&self, width: Option<usize>, colour: bool) -> String {
        let mut table = comfy_table::Table::new();
        // The width and the colour are decided here, not by comfy-table looking at stdout.
        table
            .load_style(presets::UTF8_FULL_CONDENSED)
            .force_no_tty();
        if colour {
            table.enforce_styling().style_text_only();
        }
        // Each column costs its two spaces of padding and a border, plus one border more.
        let widths = width.map(|width| {
            layout(
                &self.needs(),
                width.saturating_sub(3 * self.columns.len() + 1),
            )
        });
        let fitted = |column: usize, text: &str| match (self.columns[column].1, &widths) {
            (Fit::Token { .. }, Some(widths)) => {
                console::truncate_str(text, widths[column], ELLIPSIS).into_owned()
            }
            _ => text.to_string(),
        };
        table.set_header(
            self.columns
                .iter()
                .enumerate()
                .map(|(column, (header, _))| fitted(column, header))
                .collect::<Vec<_>>(),
        );
        for row in &self.rows {
            table.add_row(
                row.iter()
                    .enumerate()
                    .map(|(column, cell)| {
                        let text = comfy_table::Cell::new(fitted(column, &cell.text));
                        match cell.tone {
                            Some(tone) if colour => text.fg(tone.table_colour()),
                            _ => text,
                        }
                    })
                    .collect::<Vec<_>>(),
            );
        }
        match (width, widths) {
            (Some(width), Some(widths)) => {
                table
                    .set_width(width.try_into().unwrap_or(u16::MAX))
                    .set_content_arrangement(ContentArrangement::Dynamic)
                    .set_constraints(widths.into_iter().map(|content| {
                        // The padding counts in an absolute width.
                        let width = (content + 2).try_into().unwrap_or(u16::MAX);
                        ColumnConstraint::Absolute(Width::Fixed(width))
                    }));
            }
            _ => {
                table.set_content_arrangement(ContentArrangement::Disabled);
            }
        }
        table.to_string()
    }

    /// What each column needs: all its text on one line, and the least it can do with.
    fn needs(&self) -> Vec<Need> {
        self.columns
            .iter()
            .enumerate()
            .map(|(column, (header, fit))| {
                let texts = || {
                    std::iter::once(*header).chain(
                        self.rows
                            .iter()
                            .filter_map(|r| r.get(column))
                            .map(|c| &*c.text),
                    )
                };
                let full = texts().map(console::measure_text_width).max().unwrap_or(0);
                let longest_word = texts()
                    .flat_map(|text| text.split(' '))
                    .map(console::measure_text_width)
                    .max()
                    .unwrap_or(0);
                let header_word = header
                    .split(' ')
                    .map(console::measure_text_width)
                    .max()
                    .unwrap_or(0);
                let header = console::measure_text_width(header);
                let (kind, keep, last) = match *fit {
                    Fit::Token { keep } => (Shrink::Token, keep.max(header), LAST_RESORT),
                    Fit::Words => (Shrink::Text, longest_word, longest_word),
                    // A header is never broken inside a word either.
                    Fit::Text => (
                        Shrink::Text,
                        TEXT_KEEP.max(header),
                        LAST_RESORT.max(header_word),
                    ),
                };
                Need {
                    full,
                    keep: keep.min(full),
                    last: last.min(full),
                    kind,
                }
            })
            .collect()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shrink {
    Token,
    Text,
}

/// A column's widths: all of it on one line, the least before tokens are cut (for text
/// columns) or that a token is cut to, and the least when nothing else helps.
#[derive(Clone, Copy, Debug)]
struct Need {
    full: usize,
    keep: usize,
    last: usize,
    kind: Shrink,
}

/// Content widths for columns with these needs in `available` characters: all on one line if
/// it fits; else text columns narrowed (widest first) to what they keep, then tokens cut to
/// what they keep, then text and then tokens to their last resort; wider than `available`
/// only when even that does not fit.
fn layout(needs: &[Need], available: usize) -> Vec<usize> {
    let mut widths: Vec<usize> = needs.iter().map(|n| n.full).collect();
    for (last_resort, kind) in [
        (false, Shrink::Text),
        (false, Shrink::Token),
        (true, Shrink::Text),
        (true, Shrink::Token),
    ] {
        let floor = |need: &Need| if last_resort { need.last } else { need.keep };
        let mut excess = widths.iter().sum::<usize>().saturating_sub(available);
        while excess > 0 {
            // The widest column that may still give a character; the rightmost of equals.
            let Some(widest) = (0..needs.len())
                .filter(|&i| needs[i].kind == kind)
                .filter(|&i| widths[i] > floor(&needs[i]))
                .max_by_key(|&i| (widths[i], i))
            else {
                break;
            };
            widths[widest] -= 1;
            excess -= 1;
        }
    }
    widths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_wins_and_clicolor_force_colours_a_pipe() {
        assert!(colour_wanted(None, None, Some("xterm"), true));
        assert!(!colour_wanted(None, None, Some("xterm"), false));
        assert!(!colour_wanted(None, None, Some("dumb"), true));
        assert!(!colour_wanted(Some("1"), None, None, true));
        assert!(colour_wanted(Some(""), None, None, true));
        assert!(colour_wanted(None, Some("1"), None, false));
        assert!(colour_wanted(None, Some("yes"), Some("dumb"), false));
        assert!(!colour_wanted(None, Some("0"), None, false));
        assert!(!colour_wanted(None, Some(""), None, false));
        assert!(!colour_wanted(Some("1"), Some("1"), None, true));
    }

    fn summary_table(details: &str) -> Table {
        let mut table = Table::new(&[
            ("Stage", Fit::Token { keep: 10 }),
            ("Action", Fit::Token { keep: 10 }),
            ("Provider", Fit::Token { keep: 12 }),
            ("Status", Fit::Token { keep: 10 }),
            ("Details", Fit::Text),
        ]);
        table.row(vec![
            cell("Build"),
            cell("CompileAndTest"),
            cell("Build/AWS/CodeBuild/1"),
            cell("Succeeded").tone(Tone::Good),
            cell(details),
        ]);
        table.row(vec![
            cell("Deploy"),
            cell("Publish"),
            cell("Deploy/AWS/S3/1"),
            cell("Failed").tone(Tone::Bad),
            cell("Access denied"),
        ]);
        table
    }

    /// The cells of each line of a drawn table.
    fn cells(drawn: &str) -> Vec<Vec<String>> {
        drawn
            .lines()
            .filter(|line| line.starts_with('│'))
            .map(|line| {
                line.trim_matches('│')
                    .split('┆')
                    .map(|cell| cell.trim().to_string())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn tokens_stay_whole_while_text_wraps_between_words() {
        let details = "Build succeeded: 120 tests passed in the unit suite and 14 in integration";
        let drawn = summary_table(details).render_for(Some(80), false);
        assert!(
            drawn.lines().all(|l| console::measure_text_width(l) <= 80),
            "{drawn}"
        );
        let lines = cells(&drawn);
        assert!(
            lines.iter().any(|l| l[2] == "Build/AWS/CodeBuild/1"),
            "{drawn}"
        );
        assert!(lines.iter().any(|l| l[1] == "CompileAndTest"), "{drawn}");
        // Every word of the details is on one line.
        let words: Vec<String> = lines[1..]
            .iter()
            .take_while(|l| l[0] != "Deploy")
            .flat_map(|l| l[4].split(' ').map(str::to_string).collect::<Vec<_>>())
            .filter(|w| !w.is_empty())
            .collect();
        assert_eq!(words.join(" "), details, "{drawn}");
    }

    #[test]
    fn a_narrow_table_cuts_tokens_with_an_ellipsis_never_over_lines() {
        let drawn = summary_table("Build succeeded").render_for(Some(60), false);
        assert!(
            drawn.lines().all(|l| console::measure_text_width(l) <= 60),
            "{drawn}"
        );
        for line in &cells(&drawn)[1..] {
            let provider = &line[2];
            assert!(
                provider.is_empty()
                    || ["Build/AWS/CodeBuild/1", "Deploy/AWS/S3/1"]
                        .iter()
                        .any(|p| p == provider
                            || provider.strip_suffix('…').is_some_and(|s| p.starts_with(s))),
                "{provider:?} in\n{drawn}"
            );
            assert!(
                ["", "Status", "Succeeded", "Failed"].contains(&&*line[3]),
                "{drawn}"
            );
        }
    }

    #[test]
    fn without_a_width_nothing_wraps() {
        let details = "word ".repeat(100);
        let drawn = summary_table(details.trim()).render_for(None, false);
        // Top, header, separator, two rows, bottom.
        assert_eq!(drawn.lines().count(), 6, "{drawn}");
    }

    #[test]
    fn colour_is_drawn_only_when_asked() {
        assert!(
            !summary_table("x")
                .render_for(Some(100), false)
                .contains('\u{1b}')
        );
        assert!(
            summary_table("x")
                .render_for(Some(100), true)
                .contains('\u{1b}')
        );
    }

    #[test]
    fn layout_narrows_text_first_then_tokens() {
        let token = |full, keep| Need {
            full,
            keep,
            last: LAST_RESORT,
            kind: Shrink::Token,
        };
        let text = |full| Need {
            full,
            keep: TEXT_KEEP.min(full),
            last: LAST_RESORT,
            kind: Shrink::Text,
        };
        let needs = [token(36, 9), token(9, 9), text(50)];
        assert_eq!(layout(&needs, 200), [36, 9, 50]);
        assert_eq!(layout(&needs, 60), [36, 9, 15]);
        assert_eq!(layout(&needs, 40), [21, 9, 10]);
        // Then text gives way before tokens are cut below what they keep.
        assert_eq!(layout(&needs, 25), [9, 9, 7]);
        // Too narrow for anything: the last resort, wider than asked.
        assert_eq!(layout(&needs, 5), [3, 3, 3]);
    }

    /// Every argument of every command says what it is in `--help`.
    #[test]
    fn every_argument_has_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if !["help", "version"].contains(&id) && arg.get_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in command.get_subcommands() {
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {} (the command)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(
            &<crate::Cli as clap::CommandFactory>::command(),
            "sandpipe",
            &mut missing,
        );
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }
}
