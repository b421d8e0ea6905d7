//! Every command in the README's command tables answers `--help` with a description for each
//! of its arguments and flags, so `--help` alone is enough to use it.

use std::process::Command;

use granary_integration_tests::granary_bin;

/// The command words of each README table row that names a `granary` command: `fs put` from
/// "| `granary fs put [-f] SRC... DST` | ...", and both commands of a row naming two
/// (`admin decommission DATANODE` / `recommission DATANODE`).
fn readme_commands() -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let mut commands = Vec::new();
    for row in readme.lines().filter(|l| l.starts_with("| `granary ")) {
        let cell = row.split(" | ").next().unwrap_or_default();
        let mut group: Option<String> = None;
        for form in cell.split("` / `") {
            let words: Vec<String> = form
                .trim_start_matches("| ")
                .trim_matches('`')
                .split_whitespace()
                .skip_while(|w| *w == "granary")
                .take_while(|w| is_command_word(w))
                .map(str::to_string)
                .collect();
            let words = match (&group, words.len()) {
                // "`recommission DATANODE`" continues the row's command group.
                (Some(group), 1) => vec![group.clone(), words[0].clone()],
                _ => words,
            };
            if let Some(first) = words.first() {
                group.get_or_insert_with(|| first.clone());
                commands.push(words);
            }
        }
    }
    commands.sort();
    commands.dedup();
    commands
}

/// `put`, `recover-lease`, `copyFromLocal`: not an argument (`SRC`, `[-f]`, `-e\|-d`).
fn is_command_word(word: &str) -> bool {
    word.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The entries of the `Arguments:` and `Options:` sections of a help text that have no
/// description, by name.
fn undescribed(help: &str) -> Vec<String> {
    let lines: Vec<&str> = help.lines().collect();
    let mut in_section = false;
    let mut missing = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !line.starts_with(' ') {
            in_section = matches!(line.trim_end(), "Arguments:" | "Options:");
            continue;
        }
        let entry = line.trim_start();
        // Entries are indented 2 spaces, or 6 for a long flag without a short one; wrapped
        // and next-line descriptions deeper.
        let is_entry = line.len() - entry.len() <= 6
            && (entry.starts_with('-') || entry.starts_with('<') || entry.starts_with('['));
        if !in_section || !is_entry {
            continue;
        }
        // Name and description are separated by two spaces or more; a long description may
        // start on the next line, indented deeper.
        let described_inline = entry.trim_end().contains("  ");
        let described_below = lines.get(i + 1).is_some_and(|next| {
            let rest = next.trim_start();
            !rest.is_empty() && next.len() - rest.len() > 6
        });
        if !described_inline && !described_below {
            missing.push(entry.trim_end().to_string());
        }
    }
    missing
}

#[test]
fn every_readme_command_describes_all_of_its_arguments() {
    let commands = readme_commands();
    assert!(
        commands.len() >= 30,
        "the README's tables name only {} commands: {commands:?}",
        commands.len()
    );
    let mut problems = Vec::new();
    for words in &commands {
        let out = Command::new(granary_bin())
            .args(words)
            .arg("--help")
            .env_remove("GRANARY_NAMENODE")
            .output()
            .expect("running granary");
        let help = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || !help.contains("Usage:") {
            problems.push(format!(
                "granary {} --help: exit {:?}: {}",
                words.join(" "),
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
            continue;
        }
        for entry in undescribed(&help) {
            problems.push(format!(
                "granary {}: {entry} has no description",
                words.join(" ")
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn the_checker_finds_an_undescribed_argument() {
    let help = "Usage: x\n\nArguments:\n  <SRC>\n  <DST>  Where to\n\nOptions:\n      --json\n  -f, --force\n          Overwrite\n  -h, --help  Print help\n";
    assert_eq!(undescribed(help), vec!["<SRC>", "--json"]);
}

#[test]
fn command_words_stop_at_the_first_argument() {
    for (word, is_command) in [
        ("put", true),
        ("recover-lease", true),
        ("copyFromLocal", true),
        ("SRC...", false),
        ("[-f]", false),
        ("-e\\|-d", false),
        ("get\\|enter\\|leave", false),
        ("(--kill", false),
    ] {
        assert_eq!(is_command_word(word), is_command, "{word}");
    }
}
