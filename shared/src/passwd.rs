//! The container's own /etc/passwd, read by hand: nsinit is a static glibc
//! binary and must never call NSS (`getpwnam`), and the host's user database
//! says nothing about the container's.

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

/// HOME for `uid` as docker chooses it: the passwd entry's home directory,
/// else `/` (and `/root` for uid 0 when the rootfs has no passwd entry).
pub fn home_for_uid(passwd_text: Option<&str>, uid: u32) -> String {
    let found = passwd_text
        .map(parse)
        .unwrap_or_default()
        .into_iter()
        .find(|e| e.uid == uid)
        .map(|e| e.home)
        .filter(|h| !h.is_empty());
    match found {
        Some(home) => home,
        None if uid == 0 => "/root".to_string(),
        None => "/".to_string(),
    }
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

    #[test]
    fn home_follows_passwd_then_defaults() {
        assert_eq!(home_for_uid(Some(ETC), 1000), "/srv/web");
        assert_eq!(home_for_uid(Some(ETC), 0), "/root");
        assert_eq!(home_for_uid(Some(ETC), 4242), "/");
        assert_eq!(home_for_uid(None, 0), "/root");
        assert_eq!(
            home_for_uid(Some("root:x:0:0::/home/r:/bin/sh"), 0),
            "/home/r"
        );
    }
}
