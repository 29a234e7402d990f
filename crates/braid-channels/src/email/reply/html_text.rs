//! HTML to readable plain text, for the parts an HTML split produces: paragraphs and `<div>`s
//! become lines, `<br>` breaks a line, list items get a dash, `<head>`, scripts and styles
//! are skipped. Walks the tree with an explicit stack, so any nesting depth costs no stack.

use markup5ever_rcdom::{Handle, NodeData};

/// Elements that start and end a line.
const BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "center",
    "dd",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "tr",
    "ul",
];
/// Blocks set apart by a blank line.
const PARAGRAPHS: &[&str] = &["p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "pre"];
const SKIPPED: &[&str] = &["head", "script", "style", "title", "template", "noscript"];

enum Step {
    Enter(Handle),
    Exit(&'static str),
}

/// The text of `roots` (in order), as lines.
pub fn to_text(roots: &[Handle]) -> String {
    convert(roots, false)
}

/// The same, with the lines inside `<blockquote>`s marked "> " per level, as a mail client
/// quotes in plain text, so the text rules can tell a quote answered inline from the answer.
pub fn to_text_marking_quotes(roots: &[Handle]) -> String {
    convert(roots, true)
}

fn convert(roots: &[Handle], mark_quotes: bool) -> String {
    let mut out = Writer { mark_quotes, ..Writer::default() };
    let mut stack: Vec<Step> = roots.iter().rev().cloned().map(Step::Enter).collect();
    while let Some(step) = stack.pop() {
        let node = match step {
            Step::Enter(node) => node,
            Step::Exit(name) => {
                match name {
                    "pre" => out.pre -= 1,
                    "blockquote" => {
                        out.line();
                        out.quote_depth -= 1;
                    }
                    n if PARAGRAPHS.contains(&n) => out.paragraph(),
                    _ => out.line(),
                }
                continue;
            }
        };
        match &node.data {
            NodeData::Text { contents } => out.text(&contents.borrow()),
            NodeData::Element { name, .. } => {
                let name: &str = &name.local;
                if SKIPPED.contains(&name) {
                    continue;
                }
                match name {
                    "br" => out.push_break(),
                    "li" => {
                        out.line();
                        out.raw("- ");
                    }
                    "td" | "th" => out.raw(" "),
                    "blockquote" => {
                        out.line();
                        out.quote_depth += 1;
                    }
                    "pre" => {
                        out.paragraph();
                        out.pre += 1;
                    }
                    n if PARAGRAPHS.contains(&n) => out.paragraph(),
                    n if BLOCKS.contains(&n) => out.line(),
                    _ => {}
                }
                if let Some(block) = BLOCKS.iter().find(|b| **b == name) {
                    stack.push(Step::Exit(block));
                }
                stack.extend(node.children.borrow().iter().rev().cloned().map(Step::Enter));
            }
            NodeData::Document => stack.extend(node.children.borrow().iter().rev().cloned().map(Step::Enter)),
            _ => {}
        }
    }
    out.finish()
}

#[derive(Default)]
struct Writer {
    text: String,
    /// Inside this many `<pre>`s: whitespace is kept.
    pre: usize,
    /// A collapsed space is owed before the next word.
    space: bool,
    /// Mark lines inside `quote_depth` blockquotes with "> " each.
    mark_quotes: bool,
    quote_depth: usize,
}

impl Writer {
    fn at_line_start(&self) -> bool {
        self.text.is_empty() || self.text.ends_with('\n')
    }

    /// At a line's start inside blockquotes, their markers.
    fn marker(&mut self) {
        if self.mark_quotes && self.quote_depth > 0 && self.at_line_start() {
            for _ in 0..self.quote_depth {
                self.text.push_str("> ");
            }
        }
    }

    fn text(&mut self, s: &str) {
        if self.pre > 0 {
            for (i, line) in s.split('\n').enumerate() {
                if i > 0 {
                    self.text.push('\n');
                }
                if !line.is_empty() {
                    self.marker();
                }
                self.text.push_str(line);
            }
            return;
        }
        for (i, word) in s.split(|c: char| c.is_whitespace() || c == '\u{a0}').enumerate() {
            if i > 0 {
                self.space = true;
            }
            if word.is_empty() {
                continue;
            }
            if self.space && !self.at_line_start() {
                self.text.push(' ');
            }
            self.marker();
            self.space = false;
            self.text.push_str(word);
        }
    }

    fn raw(&mut self, s: &str) {
        self.marker();
        self.text.push_str(s);
        self.space = false;
    }

    fn push_break(&mut self) {
        self.text.push('\n');
        self.space = false;
    }

    fn line(&mut self) {
        if !self.at_line_start() {
            self.text.push('\n');
        }
        self.space = false;
    }

    fn paragraph(&mut self) {
        self.line();
        if !self.text.is_empty() && !self.text.ends_with("\n\n") {
            self.text.push('\n');
        }
    }

    /// Lines trimmed, runs of blank lines made one, blank edges gone.
    fn finish(self) -> String {
        let mut out = String::with_capacity(self.text.len());
        let mut blank_run = 0;
        for line in self.text.lines().map(str::trim_end) {
            if line.trim().is_empty() {
                blank_run += 1;
                continue;
            }
            if !out.is_empty() {
                out.push_str(if blank_run > 0 { "\n\n" } else { "\n" });
            }
            blank_run = 0;
            out.push_str(line);
        }
        out
    }
}
