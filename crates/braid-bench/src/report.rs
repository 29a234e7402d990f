//! What the commands show: Markdown tables of results and progress bars while they work.

use indicatif::{ProgressBar, ProgressStyle};

/// A Markdown table: the first `left` columns aligned left, the others right.
#[derive(Debug)]
pub struct Table {
    header: Vec<String>,
    left: usize,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: ToString>(header: impl IntoIterator<Item = S>, left: usize) -> Self {
        Table { header: header.into_iter().map(|h| h.to_string()).collect(), left, rows: Vec::new() }
    }

    pub fn row<S: ToString>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(|c| c.to_string()).collect());
    }

    /// The table with every column padded to its widest cell, for reading in a terminal.
    pub fn padded(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        self.render(&widths)
    }

    /// The table with no padding, for pasting.
    pub fn compact(&self) -> String {
        self.render(&vec![1; self.header.len()])
    }

    fn render(&self, widths: &[usize]) -> String {
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(widths)
                .enumerate()
                .map(
                    |(i, (cell, &width))| {
                        if i < self.left { format!("{cell:<width$}") } else { format!("{cell:>width$}") }
                    },
                )
                .collect();
            format!("| {} |\n", padded.join(" | "))
        };
        let rule: Vec<String> = widths
            .iter()
            .enumerate()
            .map(|(i, w)| if i < self.left { "-".repeat(w + 2) } else { format!("{}:", "-".repeat(w + 1)) })
            .collect();
        let mut out = line(&self.header);
        out.push_str(&format!("|{}|\n", rule.join("|")));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

/// A progress bar of `len` steps drawn with the indicatif `template`.
pub fn progress_bar(len: u64, template: &str, prefix: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_owned());
    bar
}

/// The bar of a load run: requests answered and their rate.
pub fn requests_bar(len: u64, prefix: &str, prefix_width: usize) -> ProgressBar {
    progress_bar(
        len,
        &format!("{{prefix:>{prefix_width}}} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {{per_sec}}"),
        prefix,
    )
}

#[cfg(test)]
mod tests {
    use super::Table;

    fn table() -> Table {
        let mut table = Table::new(["scenario", "requests", "p50 ms"], 1);
        table.row(["thread, first page", "2000", "1.25"]);
        table.row(["reply", "20", "-"]);
        table
    }

    #[test]
    fn a_padded_table_lines_up_its_columns() {
        assert_eq!(
            table().padded(),
            "| scenario           | requests | p50 ms |\n\
             |--------------------|---------:|-------:|\n\
             | thread, first page |     2000 |   1.25 |\n\
             | reply              |       20 |      - |\n"
        );
    }

    #[test]
    fn a_compact_table_has_no_padding() {
        assert_eq!(
            table().compact(),
            "| scenario | requests | p50 ms |\n|---|--:|--:|\n| thread, first page | 2000 | 1.25 |\n| reply | 20 | - |\n"
        );
    }
}
