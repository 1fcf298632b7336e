//! The one policy for text that an action or an artifact controls — summaries, failure
//! messages, variable values, report names, external ids, zip entry names, object keys — on
//! its way to a terminal, a log, a record or a page.
//!
//! - Escape sequences a tool writes into its output (colours, titles) are dropped:
//!   [`strip_escapes`], for captured stdout and stderr.
//! - Every other control character is shown, not obeyed: `\n`, `\r`, `\t`, `\x1b`, `\u{202e}`
//!   ([`escape_controls`]). Bidirectional overrides count as controls, since they reorder
//!   what a reader sees. The result contains no control character, so escaping twice changes
//!   nothing.
//! - What is shown in a fixed space is clipped with a visible marker ([`clip`]).
//!
//! Everything here is one pass over the text: nothing an action returns can make printing
//! slow.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

/// Is `c` a character that changes how a terminal or a reader sees the text around it?
fn is_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
                | '\u{2028}' | '\u{2029}' | '\u{feff}'
        )
}

fn write_escaped(out: &mut impl fmt::Write, c: char) -> fmt::Result {
    match c {
        '\n' => out.write_str("\\n"),
        '\r' => out.write_str("\\r"),
        '\t' => out.write_str("\\t"),
        c if (c as u32) < 0x80 => write!(out, "\\x{:02x}", c as u32),
        c => write!(out, "\\u{{{:x}}}", c as u32),
    }
}

/// `text` with every control character shown as an escape (`\x1b`, `\n`); borrowed when
/// there is none.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    escape_where(text, is_control)
}

/// [`escape_controls`], but keeping line breaks: for multi-line text such as an error chain.
pub fn escape_controls_keep_lines(text: &str) -> Cow<'_, str> {
    escape_where(text, |c| c != '\n' && is_control(c))
}

fn escape_where(text: &str, escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    let Some(first) = text.find(&escape) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        if escape(c) {
            let _ = write_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Displays its text with control characters escaped, without allocating: for `format!`
/// arguments (`entry {}` with [`Escaped`] of a zip entry name).
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if is_control(c) {
                write_escaped(f, c)?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

/// A control character other than a new line or a tab: what could move a terminal's cursor
/// or rewrite a line, where text people write (a description) may still span lines.
pub fn is_layout_breaking(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// Text safe in XML character data and in a quoted attribute: `&`, `<`, `>`, `"` and `'`
/// escaped, and the control characters XML 1.0 forbids (all but tab, newline and carriage
/// return) replaced by U+FFFD.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// At most `max` characters of `text`; longer text ends with `…` and how much was left out.
pub fn clip(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((at, _)) => {
            let rest = text[at..].chars().count();
            Cow::Owned(format!("{}… [{rest} more characters]", &text[..at]))
        }
    }
}

/// Text for one line of fixed space (a table cell, a live line): escaped, then clipped.
pub fn one_line(text: &str, max: usize) -> String {
    clip(&escape_controls(text), max).into_owned()
}

/// Captured output (a tool's stdout or stderr) made safe to show: ANSI/VT escape sequences
/// (CSI, OSC, DCS and the like) dropped whole, carriage returns dropped (progress redraws),
/// tabs kept, every other control escaped, invalid UTF-8 replaced.
pub fn strip_escapes(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.peek() {
                // CSI: parameters and intermediates up to a final byte in @..~
                Some('[') => {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC and other string sequences: up to BEL or ESC \
                Some(']' | 'P' | 'X' | '^' | '_') => {
                    chars.next();
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' || (c == '\u{1b}' && chars.peek() == Some(&'\\')) {
                            chars.next_if_eq(&'\\');
                            break;
                        }
                    }
                }
                _ => {
                    chars.next();
                }
            },
            '\t' => out.push(c),
            '\r' => {}
            c if is_control(c) => {
                let _ = write_escaped(&mut out, c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_shown_not_obeyed() {
        let forged = "ok\x1b[2J\x1b]0;pwned\x07\r  ✔ [Deploy/Deploy] Succeeded\n\u{202e}evil";
        let shown = escape_controls(forged);
        assert_eq!(
            shown,
            "ok\\x1b[2J\\x1b]0;pwned\\x07\\r  ✔ [Deploy/Deploy] Succeeded\\n\\u{202e}evil"
        );
        assert!(!shown.chars().any(is_control));
        assert_eq!(
            escape_controls(&shown),
            shown,
            "escaping twice changes nothing"
        );
        assert!(matches!(escape_controls("plain ✔ text"), Cow::Borrowed(_)));
        assert_eq!(Escaped(forged).to_string(), shown);
        assert_eq!(escape_controls_keep_lines("a\nb\x00"), "a\nb\\x00");
        assert_eq!(escape_controls("\u{85}\u{7f}"), "\\u{85}\\x7f");
    }

    #[test]
    fn clipping_marks_what_it_left_out() {
        assert_eq!(clip("abcdef", 6), "abcdef");
        assert_eq!(clip("abcdef", 4), "abcd… [2 more characters]");
        assert_eq!(clip("ééé", 1), "é… [2 more characters]");
        assert_eq!(one_line("a\nbcdef", 3), "a\\n… [5 more characters]");
    }

    #[test]
    fn tool_output_loses_its_escape_sequences() {
        assert_eq!(strip_escapes(b"\x1b[31mred\x1b[0m plain"), "red plain");
        assert_eq!(strip_escapes(b"title\x1b]0;pwned\x07 ok"), "title ok");
        assert_eq!(strip_escapes(b"bell\x07 tab\tend\r"), "bell\\x07 tab\tend");
        assert_eq!(strip_escapes(b"bad \xff utf8"), "bad \u{fffd} utf8");
    }
}
