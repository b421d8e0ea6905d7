//! `fs chmod`, `fs chown`, `fs chgrp` (as `hdfs dfs`), and how a mode is shown (`ls`,
//! `stat %A`). With `-R` each path and everything below it, walked page by page.

use anyhow::bail;
use clap::Args;
use granary_client::protocol::{FileKind, FileStatus};
use granary_client::{FsPath, Granary, Permission};

use super::paths;

#[derive(Args)]
pub struct ChmodArgs {
    /// Also every file and directory below each path.
    #[arg(short = 'R', long)]
    recursive: bool,
    /// The mode: octal (755, 1777) or symbolic clauses ([ugoa]*[+-=][rwxXt]*, comma
    /// separated, e.g. u+x,g-w,o=r).
    mode: String,
    /// Files and directories to change (globs allowed).
    #[arg(required = true)]
    paths: Vec<String>,
}

#[derive(Args)]
pub struct ChownArgs {
    /// Also every file and directory below each path.
    #[arg(short = 'R', long)]
    recursive: bool,
    /// The new owner, or OWNER:GROUP to set both (`:GROUP` sets only the group).
    owner: String,
    /// Files and directories to change (globs allowed).
    #[arg(required = true)]
    paths: Vec<String>,
}

#[derive(Args)]
pub struct ChgrpArgs {
    /// Also every file and directory below each path.
    #[arg(short = 'R', long)]
    recursive: bool,
    /// The new group.
    group: String,
    /// Files and directories to change (globs allowed).
    #[arg(required = true)]
    paths: Vec<String>,
}

/// `drwxr-xr-x` / `-rw-r--r--`, with `t` for the sticky bit, as `hdfs dfs -ls`.
pub fn mode_string(status: &FileStatus) -> String {
    let kind = match status.kind {
        FileKind::Directory => 'd',
        FileKind::File => '-',
    };
    format!("{kind}{}", status.attrs.permission.symbolic())
}

pub async fn chmod(fs: &Granary, args: ChmodArgs) -> anyhow::Result<()> {
    let mode = Mode::parse(&args.mode)?;
    for path in paths::expand(fs, &args.paths).await? {
        for_each(fs, &path, args.recursive, |status| {
            let permission = mode.apply(&status);
            async move {
                fs.set_permission(&status.path, permission).await?;
                Ok(())
            }
        })
        .await?;
    }
    Ok(())
}

pub async fn chown(fs: &Granary, args: ChownArgs) -> anyhow::Result<()> {
    let (owner, group) = match args.owner.split_once(':') {
        Some((owner, group)) => (owner, Some(group).filter(|g| !g.is_empty())),
        None => (args.owner.as_str(), None),
    };
    let owner = Some(owner).filter(|o| !o.is_empty());
    if owner.is_none() && group.is_none() {
        bail!("chown: {:?} names neither an owner nor a group", args.owner);
    }
    for name in owner.iter().chain(group.iter()) {
        granary_client::permission::validate_name("user or group", name)?;
    }
    set_owner(fs, &args.paths, args.recursive, owner, group).await
}

pub async fn chgrp(fs: &Granary, args: ChgrpArgs) -> anyhow::Result<()> {
    granary_client::permission::validate_name("group", &args.group)?;
    set_owner(fs, &args.paths, args.recursive, None, Some(&args.group)).await
}

async fn set_owner(
    fs: &Granary,
    raw: &[String],
    recursive: bool,
    owner: Option<&str>,
    group: Option<&str>,
) -> anyhow::Result<()> {
    for path in paths::expand(fs, raw).await? {
        for_each(fs, &path, recursive, |status| async move {
            fs.set_owner(&status.path, owner, group).await?;
            Ok(())
        })
        .await?;
    }
    Ok(())
}

/// `change` on `path`, then, with `recursive`, on everything below it (preorder).
async fn for_each<'a, F, Fut>(
    fs: &'a Granary,
    path: &FsPath,
    recursive: bool,
    mut change: F,
) -> anyhow::Result<()>
where
    F: FnMut(FileStatus) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>> + 'a,
{
    let top = fs.stat(path).await?;
    let is_dir = top.kind == FileKind::Directory;
    change(top).await?;
    if !recursive || !is_dir {
        return Ok(());
    }
    let mut walk = fs.walk(path);
    while let Some(entry) = walk.next().await? {
        change(entry).await?;
    }
    Ok(())
}

/// A parsed `chmod` mode.
enum Mode {
    Octal(Permission),
    Symbolic(Vec<Clause>),
}

/// One `[ugoa]*[+-=][rwxXt]*` clause.
struct Clause {
    /// The bits of the classes named (owner 0o700, group 0o070, other 0o007).
    who: u16,
    op: char,
    read: bool,
    write: bool,
    execute: bool,
    /// `X`: execute only for directories and entries someone may already execute.
    execute_if: bool,
    sticky: bool,
}

impl Mode {
    fn parse(text: &str) -> anyhow::Result<Self> {
        if text.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Mode::Octal(Permission::parse_octal(text)?));
        }
        let mut clauses = Vec::new();
        for part in text.split(',') {
            let bad =
                || anyhow::anyhow!("chmod: invalid mode {text:?} (expected e.g. 755 or u+x,g-w)");
            let op_at = part.find(['+', '-', '=']).ok_or_else(bad)?;
            let mut who = 0;
            for c in part[..op_at].chars() {
                who |= match c {
                    'u' => 0o700,
                    'g' => 0o070,
                    'o' => 0o007,
                    'a' => 0o777,
                    _ => return Err(bad()),
                };
            }
            let who = if who == 0 { 0o777 } else { who };
            let op = part[op_at..].chars().next().ok_or_else(bad)?;
            let mut clause = Clause {
                who,
                op,
                read: false,
                write: false,
                execute: false,
                execute_if: false,
                sticky: false,
            };
            for c in part[op_at + 1..].chars() {
                match c {
                    'r' => clause.read = true,
                    'w' => clause.write = true,
                    'x' => clause.execute = true,
                    'X' => clause.execute_if = true,
                    't' => clause.sticky = true,
                    _ => return Err(bad()),
                }
            }
            clauses.push(clause);
        }
        Ok(Mode::Symbolic(clauses))
    }

    fn apply(&self, status: &FileStatus) -> Permission {
        let clauses = match self {
            Mode::Octal(permission) => return *permission,
            Mode::Symbolic(clauses) => clauses,
        };
        let mut bits = status.attrs.permission.bits();
        for clause in clauses {
            let executable = status.kind == FileKind::Directory || bits & 0o111 != 0;
            let mut class = 0;
            if clause.read {
                class |= 0o444;
            }
            if clause.write {
                class |= 0o222;
            }
            if clause.execute || (clause.execute_if && executable) {
                class |= 0o111;
            }
            let mut change = class & clause.who;
            // The sticky bit is not a class's: `t` sets it whoever is named.
            if clause.sticky {
                change |= granary_client::permission::STICKY;
            }
            bits = match clause.op {
                '+' => bits | change,
                '-' => bits & !change,
                _ => (bits & !(clause.who | granary_client::permission::STICKY)) | change,
            };
        }
        Permission::new(bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(kind: FileKind, mode: u16) -> FileStatus {
        FileStatus {
            path: FsPath::parse("/f").unwrap(),
            kind,
            length: 0,
            replication: 1,
            block_size: 1,
            modified_ms: 0,
            lease_holder: None,
            attrs: granary_client::protocol::FileAttrs {
                permission: Permission::new(mode),
                ..Default::default()
            },
        }
    }

    fn applied(mode: &str, kind: FileKind, from: u16) -> String {
        Mode::parse(mode)
            .unwrap()
            .apply(&status(kind, from))
            .to_string()
    }

    #[test]
    fn symbolic_modes_change_what_they_name() {
        assert_eq!(applied("u+x,g-w,o=r", FileKind::File, 0o664), "744");
        assert_eq!(applied("a+t", FileKind::Directory, 0o777), "1777");
        assert_eq!(applied("+X", FileKind::Directory, 0o644), "755");
        assert_eq!(applied("+X", FileKind::File, 0o644), "644");
        assert_eq!(applied("go=", FileKind::File, 0o755), "700");
        assert_eq!(applied("1777", FileKind::File, 0o644), "1777");
        for bad in ["u+q", "z+x", "755x", "u", "99"] {
            assert!(Mode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn modes_show_as_ls_shows_them() {
        assert_eq!(
            mode_string(&status(FileKind::Directory, 0o1777)),
            "drwxrwxrwt"
        );
        assert_eq!(mode_string(&status(FileKind::File, 0o644)), "-rw-r--r--");
    }
}
