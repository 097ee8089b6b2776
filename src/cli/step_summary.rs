//! `$GITHUB_STEP_SUMMARY`: when GitHub Actions sets it, `run` appends the run's Markdown
//! report (summary line, pivot grids, cells, what failed) to that file, so the job's page
//! shows it without an extra step. GitHub refuses a step summary over 1 MiB (and then
//! shows none), so what is appended is cut to fit what the file already holds, at a line,
//! with a closed code fence and a note saying where the whole report is.

use std::io::Write as _;
use std::path::Path;

/// GitHub's limit for one step's summary file.
pub const LIMIT: usize = 1024 * 1024;

/// Appends the report to the file `$GITHUB_STEP_SUMMARY` names, if any; a failure to write
/// is a warning (the run's own files are written already).
pub fn append_from_env(markdown: &str, report_path: &Path) {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return;
    };
    let path = Path::new(&path);
    if let Err(e) = append(path, markdown, report_path) {
        eprintln!(
            "warning: cannot append the summary to $GITHUB_STEP_SUMMARY ({}): {e}",
            path.display()
        );
    }
}

/// Appends `markdown`, bounded so that the file stays within [`LIMIT`].
pub fn append(path: &Path, markdown: &str, report_path: &Path) -> std::io::Result<()> {
    let already = match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => {
            return Err(std::io::Error::other("not a regular file"));
        }
        Ok(m) => usize::try_from(m.len()).unwrap_or(usize::MAX),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e),
    };
    let text = bounded(markdown, LIMIT.saturating_sub(already), report_path);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.flush()
}

/// `markdown` if it fits in `budget` bytes; else its first whole lines, a closed code
/// fence if the cut fell inside one, and a note — all within `budget`.
pub fn bounded(markdown: &str, budget: usize, report_path: &Path) -> String {
    let mut text = String::with_capacity(markdown.len().min(budget) + 1);
    if !markdown.starts_with('\n') {
        text.push('\n');
    }
    if text.len() + markdown.len() <= budget {
        text.push_str(markdown);
        return text;
    }
    let note = format!(
        "\n\n> **Summary cut here**: GitHub keeps at most 1 MiB of a step's summary. The whole report is `{}` in the run folder.\n",
        report_path.display()
    );
    const FENCE_CLOSE: &str = "```\n";
    let room = budget.saturating_sub(text.len() + note.len() + FENCE_CLOSE.len());
    let mut in_fence = false;
    let mut kept = 0;
    for line in markdown.split_inclusive('\n') {
        if kept + line.len() > room {
            break;
        }
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        kept += line.len();
    }
    text.push_str(&markdown[..kept]);
    if in_fence {
        text.push_str(FENCE_CLOSE);
    }
    if text.len() + note.len() <= budget {
        text.push_str(&note);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_reports_are_appended_whole() {
        let md = "## dockmatrix: demo\n\n**2 cells: 2 ✅ pass**\n";
        assert_eq!(
            bounded(md, LIMIT, Path::new("r/report.md")),
            format!("\n{md}")
        );
    }

    #[test]
    fn big_reports_are_cut_at_a_line_with_a_note_and_a_closed_fence() {
        let mut md = String::from("## dockmatrix: big\n\n");
        for i in 0..200 {
            md.push_str(&format!("| cell-{i} | ❌ fail |\n"));
        }
        md.push_str("```\n");
        for i in 0..200 {
            md.push_str(&format!("log line {i}\n"));
        }
        md.push_str("```\n");
        for budget in [600, 4000, 6000] {
            let out = bounded(&md, budget, Path::new("out/report.md"));
            assert!(out.len() <= budget, "{} > {budget}", out.len());
            assert!(out.contains("Summary cut here"), "{out}");
            assert!(out.contains("`out/report.md`"));
            let fences = out.lines().filter(|l| l.starts_with("```")).count();
            assert_eq!(fences % 2, 0, "unclosed fence at budget {budget}:\n{out}");
            // Cut at a line: every kept table row is whole.
            assert!(
                out.lines()
                    .filter(|l| l.starts_with("| cell-"))
                    .all(|l| l.ends_with("❌ fail |"))
            );
        }
    }

    #[test]
    fn appending_keeps_the_whole_file_within_the_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("summary.md");
        std::fs::write(&path, "x".repeat(LIMIT - 1000)).expect("write");
        let md = "| a | b |\n".repeat(500);
        append(&path, &md, Path::new("report.md")).expect("append");
        let len = std::fs::metadata(&path).expect("meta").len() as usize;
        assert!(len <= LIMIT, "{len}");
        assert!(
            std::fs::read_to_string(&path)
                .expect("read")
                .contains("Summary cut here")
        );
    }
}
