//! Habits from `hdfs dfs` on the command line: a dash before an fs command (`fs -ls`) gets a
//! hint, and Hadoop's single-dash long flags (`find -name`, `rm -skipTrash`) are accepted as
//! the double-dash flags clap parses.

use clap::CommandFactory;

/// `(fs command, Hadoop's flag, Granary's flag)`: Hadoop spellings rewritten before parsing.
/// clap reads a single-dash word as a run of one-letter flags, so these cannot be aliases.
const HADOOP_FLAGS: &[(&str, &str, &str)] = &[
    ("rm", "-skipTrash", "--skip-trash"),
    ("expunge", "-immediate", "--immediate"),
    ("find", "-name", "--name"),
    ("find", "-iname", "--iname"),
    ("find", "-type", "--type"),
    ("getmerge", "-nl", "--nl"),
    ("getmerge", "-skip-empty-file", "--skip-empty-file"),
];

/// The arguments with Hadoop's single-dash long flags of the fs command they follow rewritten
/// (`table` is [`HADOOP_FLAGS`], a parameter so the rule is testable on its own).
pub fn rewrite(args: Vec<String>, table: &[(&str, &str, &str)]) -> Vec<String> {
    let Some(at) = args.iter().position(|a| a == "fs") else {
        return args;
    };
    let Some(command) = args.get(at + 1).cloned() else {
        return args;
    };
    let mut past_options = false;
    args.into_iter()
        .enumerate()
        .map(|(i, arg)| {
            if i <= at + 1 || past_options {
                return arg;
            }
            if arg == "--" {
                past_options = true;
                return arg;
            }
            table
                .iter()
                .find(|(cmd, hadoop, _)| *cmd == command && *hadoop == arg)
                .map_or(arg, |(_, _, ours)| (*ours).to_string())
        })
        .collect()
}

/// The process's arguments as clap should see them.
pub fn args() -> Vec<String> {
    rewrite(std::env::args().collect(), HADOOP_FLAGS)
}

/// `granary fs -ls /`, typed from `hdfs dfs` habit: the dash names an fs command.
pub fn habit_hint(args: &[String]) -> Option<String> {
    let at = args.iter().position(|a| a == "fs")?;
    let typed = args.get(at + 1)?;
    let name = typed.strip_prefix('-')?;
    let fs = crate::Cli::command().find_subcommand("fs")?.clone();
    fs.find_subcommand(name)?;
    Some(format!(
        "unknown argument '{typed}'; did you mean `granary fs {name}`? (fs commands take no dash)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn rewrites_only_the_flags_of_the_command_given_and_not_after_a_double_dash() {
        let table = [("find", "-name", "--name")];
        assert_eq!(
            rewrite(
                strings(&["granary", "fs", "find", "/", "-name", "*.log"]),
                &table
            ),
            strings(&["granary", "fs", "find", "/", "--name", "*.log"])
        );
        assert_eq!(
            rewrite(strings(&["granary", "fs", "ls", "-name"]), &table),
            strings(&["granary", "fs", "ls", "-name"])
        );
        assert_eq!(
            rewrite(strings(&["granary", "fs", "find", "--", "-name"]), &table),
            strings(&["granary", "fs", "find", "--", "-name"])
        );
    }

    #[test]
    fn the_trash_flags_take_hadoops_spelling() {
        assert_eq!(
            rewrite(
                strings(&["granary", "fs", "rm", "-r", "-skipTrash", "/x"]),
                HADOOP_FLAGS
            ),
            strings(&["granary", "fs", "rm", "-r", "--skip-trash", "/x"])
        );
        assert_eq!(
            rewrite(
                strings(&["granary", "fs", "expunge", "-immediate"]),
                HADOOP_FLAGS
            ),
            strings(&["granary", "fs", "expunge", "--immediate"])
        );
    }
}
