//! What people read on a terminal: its width (`TIOCGWINSZ` through `rustix`, which `std` lacks),
//! and long lines wrapped under it at spaces with their indentation, so the terminal never wraps a
//! line itself (a wrapped bar cannot be redrawn, a wrapped table or log line loses its shape).
//! Colour codes count for nothing in a line's width.
//!
//! Written here rather than taken from a crate (`textwrap`): what is needed is a greedy break at
//! spaces with a hanging indent, a few lines, against a crate and its Unicode tables.

use std::io::IsTerminal;

/// The columns of the terminal on `fd`, `None` when it is not a terminal.
fn columns_of(fd: impl std::os::fd::AsFd + IsTerminal) -> Option<usize> {
    if !fd.is_terminal() {
        return None;
    }
    match rustix::termios::tcgetwinsize(fd) {
        Ok(w) if w.ws_col > 0 => Some(w.ws_col as usize),
        _ => Some(
            std::env::var("COLUMNS")
                .ok()
                .and_then(|c| c.parse::<usize>().ok())
                .unwrap_or(80),
        ),
    }
}

/// The width of the terminal on stderr, `None` when stderr is not one.
pub fn stderr_columns() -> Option<usize> {
    columns_of(std::io::stderr())
}

/// The width of the terminal on stdout, `None` when stdout is not one (a file, a pipe: lines are
/// left whole for whoever reads them).
pub fn stdout_columns() -> Option<usize> {
    columns_of(std::io::stdout())
}

/// How many columns `s` takes: its characters, colour codes (`ESC [ … m`) left out.
pub fn visible_len(s: &str) -> usize {
    let mut n = 0;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            n += 1;
        }
    }
    n
}

/// `line` in lines narrower than `width`, broken at spaces, each continuation indented as the line
/// is plus two (an `error:` line's under its text); a word longer than the room stays whole on its
/// own line.
pub fn wrap(line: &str, width: usize) -> Vec<String> {
    let room = width.saturating_sub(1).max(20);
    if visible_len(line) <= room {
        return vec![line.to_string()];
    }
    let lead = line.len() - line.trim_start().len();
    let indent = if line.starts_with("error: ") { 7 } else { lead + 2 };
    let mut out: Vec<String> = Vec::new();
    let mut cur = " ".repeat(lead);
    let mut empty = true;
    for word in line[lead..].split(' ') {
        let n = visible_len(word);
        if !empty && visible_len(&cur) + 1 + n > room {
            out.push(cur);
            cur = " ".repeat(indent);
            empty = true;
        }
        if !empty {
            cur.push(' ');
        }
        cur.push_str(word);
        empty = false;
    }
    out.push(cur);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A long line is broken at spaces under 80 columns, its continuations indented (an `error:`
    /// line's under its text); a short one and a word longer than the room stay whole; colour codes
    /// take no room.
    #[test]
    fn long_lines_wrap_under_the_width_with_their_indent() {
        let line = "error: 127.0.0.1:9: unreachable: 8 connections in a row were refused, so it was \
                    given up for this run (is the registry running, and is the address right?)";
        let lines = wrap(line, 80);
        assert!(lines.len() > 1, "{lines:#?}");
        assert!(lines.iter().all(|l| l.chars().count() < 80), "{lines:#?}");
        assert!(lines[1..]
            .iter()
            .all(|l| l.starts_with("       ") && !l.starts_with("        ")));
        assert_eq!(
            lines.join(" ").split_whitespace().collect::<Vec<_>>(),
            line.split_whitespace().collect::<Vec<_>>()
        );
        let indented = format!(
            "       so 150 images were not verified there: {}",
            "a, ".repeat(30)
        );
        let lines = wrap(indented.trim_end(), 80);
        assert!(
            lines[1..].iter().all(|l| l.starts_with("         ")),
            "{lines:#?}"
        );
        assert_eq!(wrap("OK: 5 images promoted", 80), ["OK: 5 images promoted"]);
        let long = "x".repeat(100);
        assert_eq!(
            wrap(&format!("see {long} now"), 80),
            ["see".to_string(), format!("  {long}"), "  now".to_string()]
        );
        let coloured = format!("\u{1b}[32m INFO\u{1b}[0m {}", "y".repeat(70));
        assert_eq!(visible_len(&coloured), 76);
        assert_eq!(wrap(&coloured, 80), vec![coloured]);
    }
}
