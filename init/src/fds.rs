//! The descriptors nslaunch hands nsinit by number (`--report-fd`,
//! `--job-control-fd`, `--console-socket`, `--tree`, `--overlay-dir-fd`).
//! Some are adopted as `OwnedFd` (`sys::take_inherited_fd`), the others
//! used and closed by number; either way each number may stand for one
//! thing only, or a drop of one would close another under our feet. So a
//! number named twice is refused before any is taken.

use shared::spec::InitArgs;

use crate::error::Error;

/// Every descriptor named on the command line, with the option that
/// names it as the user wrote it (`--tree /=5`).
fn named(args: &InitArgs) -> Vec<(String, i32)> {
    let one = |flag: &str, fd: Option<i32>| fd.map(|fd| (format!("{flag} {fd}"), fd));
    one("--report-fd", args.report_fd)
        .into_iter()
        .chain(one("--job-control-fd", args.job_control_fd))
        .chain(one("--console-socket", args.console_socket))
        .chain(args.tree.iter().map(|t| (format!("--tree {t}"), t.fd)))
        .chain(one("--overlay-dir-fd", args.overlay_dir_fd))
        .chain(one("--sync-fd", args.sync_fd))
        .chain(one("--start-fifo-fd", args.start_fifo_fd))
        .chain(one("--seccomp-fd", args.seccomp_fd))
        .chain(one("--init-fd", args.init_fd))
        .collect()
}

/// Refuse a descriptor number given to two options (or twice to one).
pub fn check_distinct(args: &InitArgs) -> Result<(), Error> {
    let all = named(args);
    for (i, (second, fd)) in all.iter().enumerate() {
        if let Some((first, _)) = all[..i].iter().find(|(_, f)| f == fd) {
            return Err(Error::Usage(format!(
                "{second}: descriptor {fd} is already {first}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::spec::TreeFd;

    fn tree(dst: &str, fd: i32) -> TreeFd {
        TreeFd {
            dst: dst.into(),
            fd,
        }
    }

    #[test]
    fn each_number_stands_for_one_thing() {
        let ok = InitArgs {
            report_fd: Some(3),
            job_control_fd: Some(4),
            console_socket: Some(5),
            tree: vec![tree("/", 6), tree("/v", 7)],
            overlay_dir_fd: Some(8),
            ..Default::default()
        };
        assert!(check_distinct(&ok).is_ok());
        let cases = [
            (
                InitArgs {
                    console_socket: Some(5),
                    tree: vec![tree("/", 5)],
                    ..Default::default()
                },
                "--tree /=5: descriptor 5 is already --console-socket 5",
            ),
            (
                InitArgs {
                    report_fd: Some(3),
                    job_control_fd: Some(3),
                    ..Default::default()
                },
                "--job-control-fd 3: descriptor 3 is already --report-fd 3",
            ),
            (
                InitArgs {
                    tree: vec![tree("/", 6)],
                    overlay_dir_fd: Some(6),
                    ..Default::default()
                },
                "--overlay-dir-fd 6: descriptor 6 is already --tree /=6",
            ),
            (
                InitArgs {
                    tree: vec![tree("/", 6), tree("/v", 6)],
                    ..Default::default()
                },
                "--tree /v=6: descriptor 6 is already --tree /=6",
            ),
        ];
        for (args, want) in cases {
            let err = check_distinct(&args).unwrap_err().to_string();
            assert_eq!(err, want);
        }
    }
}
