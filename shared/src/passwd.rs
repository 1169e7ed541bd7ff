//! The container's own /etc/passwd and /etc/group, read by hand: nsinit is
//! a static glibc binary and must never call NSS (`getpwnam`), and the
//! host's user database says nothing about the container's.

/// One line of /etc/passwd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

/// Parse /etc/passwd text, skipping comments and malformed lines.
pub fn parse(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 7 || f[0].is_empty() {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_string(),
                shell: f[6].to_string(),
            })
        })
        .collect()
}

/// One line of /etc/group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// Parse /etc/group text, skipping comments and malformed lines.
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 || f[0].is_empty() {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f[3]
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(String::from)
                    .collect(),
            })
        })
        .collect()
}

/// Who the command runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// The supplementary groups, the primary group first.
    pub groups: Vec<u32>,
    pub home: String,
}

/// A number, if `s` is all digits; `Err` if it is digits but no valid id
/// (4294967295 is "no id" to the kernel).
fn numeric(s: &str) -> Result<Option<u32>, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    match s.parse::<u32>() {
        Ok(n) if n != u32::MAX => Ok(Some(n)),
        _ => Err(format!("{s} is not a valid id (0 to 4294967294)")),
    }
}

/// Resolve `USER[:GROUP]` as `docker run -u` does, against the container's
/// own /etc/passwd and /etc/group (`None` when a file is missing):
/// - USER is a name, which must be in /etc/passwd, or a number, which need
///   not be; a number found there takes that entry's group and home;
/// - the primary group is GROUP (a name that must be in /etc/group, or any
///   number), else the passwd entry's, else `default_gid`;
/// - without GROUP the supplementary groups are the primary one and every
///   group that lists the user by name; with GROUP only that group;
/// - HOME is the passwd entry's home, else `/` (`/root` for uid 0).
pub fn resolve(
    spec: &str,
    passwd_text: Option<&str>,
    group_text: Option<&str>,
    default_gid: u32,
) -> Result<Identity, String> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user.is_empty() {
        return Err("no user name or id before the colon".into());
    }
    let users = passwd_text.map(parse).unwrap_or_default();
    let (uid, entry) = match numeric(user)? {
        Some(uid) => (uid, users.into_iter().find(|e| e.uid == uid)),
        None => {
            let e = users
                .into_iter()
                .find(|e| e.name == user)
                .ok_or_else(|| format!("no user {user:?} in the container's /etc/passwd"))?;
            (e.uid, Some(e))
        }
    };
    let groups = group_text.map(parse_group).unwrap_or_default();
    let (gid, supplementary) = match group {
        Some("") => return Err("no group name or id after the colon".into()),
        Some(g) => {
            let gid = match numeric(g)? {
                Some(n) => n,
                None => {
                    groups
                        .iter()
                        .find(|e| e.name == g)
                        .ok_or_else(|| format!("no group {g:?} in the container's /etc/group"))?
                        .gid
                }
            };
            (gid, vec![gid])
        }
        None => {
            let gid = entry.as_ref().map_or(default_gid, |e| e.gid);
            let mut list = vec![gid];
            if let Some(e) = &entry {
                for g in groups.iter().filter(|g| g.members.contains(&e.name)) {
                    if !list.contains(&g.gid) {
                        list.push(g.gid);
                    }
                }
            }
            (gid, list)
        }
    };
    let home = entry
        .map(|e| e.home)
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| if uid == 0 { "/root" } else { "/" }.to_string());
    Ok(Identity {
        uid,
        gid,
        groups: supplementary,
        home,
    })
}

/// The name of `uid` in the host's /etc/passwd, read by hand (no NSS:
/// both binaries are static).
pub fn host_name_of(uid: u32) -> Option<String> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    parse(&text)
        .into_iter()
        .find(|e| e.uid == uid)
        .map(|e| e.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETC: &str = "# comment\nroot:x:0:0:root:/root:/bin/ash\nbad line\n\
                       daemon:x:2:2:daemon:/sbin:/sbin/nologin\n\
                       web:x:1000:1000::/srv/web:/bin/sh\nbroken:x:notnum:1::/x:/y\n";

    #[test]
    fn parses_valid_lines_only() {
        let e = parse(ETC);
        assert_eq!(e.len(), 3);
        assert_eq!(e[2].name, "web");
        assert_eq!(e[2].uid, 1000);
        assert_eq!(e[2].home, "/srv/web");
    }

    const GROUP: &str = "root:x:0:\nwheel:x:10:root,web\nweb:x:1000:\n\
                         staff:x:50: web , other\n# x:x:1:web\nbad:x:y:web\n";

    #[test]
    fn parses_groups() {
        let g = parse_group(GROUP);
        assert_eq!(g.len(), 4);
        assert_eq!(g[1].members, ["root", "web"]);
        assert_eq!(g[3].members, ["web", "other"]);
    }

    fn id(uid: u32, gid: u32, groups: &[u32], home: &str) -> Identity {
        Identity {
            uid,
            gid,
            groups: groups.to_vec(),
            home: home.into(),
        }
    }

    #[test]
    fn resolves_like_docker_run_u() {
        let r = |spec| resolve(spec, Some(ETC), Some(GROUP), 0);
        assert_eq!(r("web"), Ok(id(1000, 1000, &[1000, 10, 50], "/srv/web")));
        assert_eq!(r("1000"), Ok(id(1000, 1000, &[1000, 10, 50], "/srv/web")));
        assert_eq!(r("root"), Ok(id(0, 0, &[0, 10], "/root")));
        // An explicit group is the only group.
        assert_eq!(r("web:staff"), Ok(id(1000, 50, &[50], "/srv/web")));
        assert_eq!(r("web:4242"), Ok(id(1000, 4242, &[4242], "/srv/web")));
        // Numbers need no entry; the group then defaults.
        assert_eq!(r("4242"), Ok(id(4242, 0, &[0], "/")));
        assert_eq!(r("4242:7"), Ok(id(4242, 7, &[7], "/")));
        assert_eq!(
            resolve("4242", Some(ETC), Some(GROUP), 99),
            Ok(id(4242, 99, &[99], "/"))
        );
        // No files at all: numbers still work.
        assert_eq!(resolve("5:6", None, None, 0), Ok(id(5, 6, &[6], "/")));
    }

    #[test]
    fn unknown_names_are_errors_naming_them() {
        let r = |spec| resolve(spec, Some(ETC), Some(GROUP), 0).unwrap_err();
        assert!(r("nobody-here").contains("\"nobody-here\" in the container's /etc/passwd"));
        assert!(r("web:nogroup").contains("\"nogroup\" in the container's /etc/group"));
        assert!(resolve("web", None, None, 0).is_err());
        assert!(r(":5").contains("no user"));
        assert!(r("web:").contains("no group"));
        assert!(r("4294967295").contains("not a valid id"));
        assert!(r("99999999999").contains("not a valid id"));
    }

    #[test]
    fn home_follows_passwd_then_defaults() {
        let home = |spec, text| resolve(spec, text, None, 0).unwrap().home;
        assert_eq!(home("1000", Some(ETC)), "/srv/web");
        assert_eq!(home("0", Some(ETC)), "/root");
        assert_eq!(home("4242", Some(ETC)), "/");
        assert_eq!(home("0", None), "/root");
        assert_eq!(home("0", Some("root:x:0:0::/home/r:/bin/sh")), "/home/r");
        assert_eq!(home("0", Some("root:x:0:0:::/bin/sh")), "/root");
    }
}
