//! `--tmpfs DST[:OPTIONS]`: a new, empty tmpfs on DST inside the
//! container, as `docker run --tmpfs` takes it. DST follows the rules of a
//! volume's DST (absolute, no `..`, not `/`); OPTIONS is a comma-separated
//! list of `size=N[k|m|g|%]`, `mode=OCTAL`, `nr_inodes=N[k|m|g]`,
//! `uid=N`, `gid=N`, `ro`/`rw` and `exec`/`noexec`. The mount is always
//! nosuid and nodev, and noexec unless `exec` is given (docker's default).
//!
//! The same text is nslaunch's `--tmpfs` and nsinit's; [`Tmpfs`]'s
//! `Display` is its canonical form (options in a fixed order).

use std::fmt;
use std::str::FromStr;

use crate::volume::normalize_dst;

/// One tmpfs to mount in the container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tmpfs {
    /// The normalised absolute path inside the container.
    pub dst: String,
    /// `size=`, as given (`64m`, `50%`, `1048576`).
    pub size: Option<String>,
    /// `mode=`, the permissions of the tmpfs's root.
    pub mode: Option<u32>,
    /// `nr_inodes=`, as given.
    pub nr_inodes: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub read_only: bool,
    pub exec: bool,
}

impl Tmpfs {
    /// The data string for mount(2): `size=64m,mode=1777` (no flags).
    pub fn data(&self) -> String {
        let mut out = Vec::new();
        if let Some(s) = &self.size {
            out.push(format!("size={s}"));
        }
        if let Some(m) = self.mode {
            out.push(format!("mode={m:o}"));
        }
        if let Some(n) = &self.nr_inodes {
            out.push(format!("nr_inodes={n}"));
        }
        if let Some(u) = self.uid {
            out.push(format!("uid={u}"));
        }
        if let Some(g) = self.gid {
            out.push(format!("gid={g}"));
        }
        out.join(",")
    }

    /// Nesting depth of DST (see `Volume::depth`).
    pub fn depth(&self) -> usize {
        self.dst.split('/').filter(|c| !c.is_empty()).count()
    }
}

/// A number with an optional binary suffix (k, m, g, and `%` when
/// `percent`): what tmpfs takes for size= and nr_inodes=.
fn check_amount(key: &str, value: &str, percent: bool) -> Result<(), String> {
    let digits = value.trim_end_matches(|c: char| {
        matches!(c, 'k' | 'K' | 'm' | 'M' | 'g' | 'G') || (percent && c == '%')
    });
    let suffix_len = value.len() - digits.len();
    let ok = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && suffix_len <= 1;
    if ok {
        Ok(())
    } else {
        let form = if percent { "N[k|m|g|%]" } else { "N[k|m|g]" };
        Err(format!("{key}={value}: expected {form}"))
    }
}

fn parse_id(key: &str, value: &str) -> Result<u32, String> {
    value
        .parse::<u32>()
        .ok()
        .filter(|id| *id != u32::MAX)
        .ok_or_else(|| format!("{key}={value}: expected a number below 4294967295"))
}

impl FromStr for Tmpfs {
    type Err = String;

    /// `DST[:OPTIONS]`. DST never contains a colon.
    fn from_str(s: &str) -> Result<Tmpfs, String> {
        let (dst, opts) = match s.split_once(':') {
            Some((d, o)) => (d, Some(o)),
            None => (s, None),
        };
        let mut t = Tmpfs {
            dst: normalize_dst(dst)?,
            ..Default::default()
        };
        let Some(opts) = opts else { return Ok(t) };
        if opts.is_empty() {
            return Err("no options after ':' (give DST alone, or DST:size=64m,...)".into());
        }
        for opt in opts.split(',') {
            let (key, value) = match opt.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (opt, None),
            };
            match (key, value) {
                ("size", Some(v)) => {
                    check_amount("size", v, true)?;
                    t.size = Some(v.to_string());
                }
                ("nr_inodes", Some(v)) => {
                    check_amount("nr_inodes", v, false)?;
                    t.nr_inodes = Some(v.to_string());
                }
                ("mode", Some(v)) => {
                    t.mode = Some(
                        u32::from_str_radix(v, 8)
                            .ok()
                            .filter(|m| *m <= 0o7777)
                            .ok_or_else(|| format!("mode={v}: expected octal, at most 7777"))?,
                    );
                }
                ("uid", Some(v)) => t.uid = Some(parse_id("uid", v)?),
                ("gid", Some(v)) => t.gid = Some(parse_id("gid", v)?),
                ("ro", None) => t.read_only = true,
                ("rw", None) => t.read_only = false,
                ("exec", None) => t.exec = true,
                ("noexec", None) => t.exec = false,
                _ => {
                    return Err(format!(
                        "unknown option {opt:?} (use size=, mode=, nr_inodes=, uid=, gid=, \
                         ro, rw, exec, noexec)"
                    ))
                }
            }
        }
        Ok(t)
    }
}

/// `DST[:OPTIONS]`, options in a fixed order; parses back to itself.
impl fmt::Display for Tmpfs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut opts = Vec::new();
        let data = self.data();
        if !data.is_empty() {
            opts.push(data);
        }
        if self.read_only {
            opts.push("ro".into());
        }
        if self.exec {
            opts.push("exec".into());
        }
        if opts.is_empty() {
            f.write_str(&self.dst)
        } else {
            write!(f, "{}:{}", self.dst, opts.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_forms_parse() {
        let t: Tmpfs = "/run".parse().unwrap();
        assert_eq!((t.dst.as_str(), t.data().as_str()), ("/run", ""));
        assert!(!t.read_only && !t.exec);
        let t: Tmpfs = "/tmp/x/:size=64m,mode=1777,exec,ro,nr_inodes=1k,uid=1000,gid=5"
            .parse()
            .unwrap();
        assert_eq!(t.dst, "/tmp/x");
        assert_eq!(t.data(), "size=64m,mode=1777,nr_inodes=1k,uid=1000,gid=5");
        assert!(t.read_only && t.exec);
        let t: Tmpfs = "/a:size=50%,noexec,rw".parse().unwrap();
        assert_eq!(t.size.as_deref(), Some("50%"));
        assert!(!t.read_only && !t.exec);
    }

    #[test]
    fn render_then_parse_is_identity() {
        for s in ["/run", "/a/b:size=1g,mode=700,ro,exec", "/x:uid=0,gid=0"] {
            let t: Tmpfs = s.parse().unwrap();
            assert_eq!(t.to_string(), s);
            assert_eq!(t.to_string().parse::<Tmpfs>(), Ok(t));
        }
    }

    #[test]
    fn bad_values_name_themselves() {
        for (s, want) in [
            ("run", "absolute"),
            ("/", "cannot be /"),
            ("/a/../b", ".."),
            ("", "empty"),
            ("/a:", "no options"),
            ("/a:size=lots", "size=lots"),
            ("/a:size=10%%", "size=10%%"),
            ("/a:nr_inodes=5%", "nr_inodes=5%"),
            ("/a:mode=999", "mode=999"),
            ("/a:mode=17777", "mode=17777"),
            ("/a:uid=-1", "uid=-1"),
            ("/a:gid=4294967295", "gid=4294967295"),
            ("/a:suid", "\"suid\""),
            ("/a:size", "\"size\""),
            ("/a:ro=1", "\"ro=1\""),
        ] {
            let e = s.parse::<Tmpfs>().unwrap_err();
            assert!(e.contains(want), "{s:?}: {e}");
        }
    }

    #[test]
    fn depth_counts_components() {
        assert_eq!("/a/b/c".parse::<Tmpfs>().unwrap().depth(), 3);
    }
}
