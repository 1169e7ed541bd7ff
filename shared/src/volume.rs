//! Volumes: `-v SRC:DST[:ro|:rw]` as `docker run` takes them, and the same
//! form in nsinit's `--volume`, where SRC is an absolute host path.
//!
//! DST is a path inside the container. It is normalised here (repeated and
//! trailing slashes and `.` dropped) and refused when it is relative, is `/`
//! itself or has a `..` in it: nsinit resolves it inside the rootfs, so a
//! `..` could never climb out, but a user who writes one meant something
//! this cannot give.

use std::fmt;
use std::str::FromStr;

/// One bind mount from the host into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// The host path (absolute in nsinit's argv; as typed on nslaunch's).
    pub src: String,
    /// The normalised absolute path inside the container.
    pub dst: String,
    pub read_only: bool,
}

impl Volume {
    /// A user's `-v` value, by docker's rules: `SRC:DST` or `SRC:DST:MODE`
    /// with MODE `ro` or `rw`, so neither path may contain a colon. SRC is
    /// returned as typed (the launcher checks and resolves it).
    pub fn parse_cli(spec: &str) -> Result<Volume, String> {
        let parts: Vec<&str> = spec.split(':').collect();
        let (src, dst, mode) = match parts.as_slice() {
            [src, dst] => (*src, *dst, None),
            [src, dst, mode] => (*src, *dst, Some(*mode)),
            _ => {
                return Err(format!(
                    "expected SRC:DST[:ro|:rw], got {} colon-separated fields",
                    parts.len()
                ))
            }
        };
        if src.is_empty() {
            return Err("SRC (the host path) is empty".into());
        }
        Ok(Volume {
            src: src.to_string(),
            dst: normalize_dst(dst)?,
            read_only: parse_mode(mode)?,
        })
    }

    /// Nesting depth of DST: `/a` is 1, `/a/b` is 2. Mounting in order of
    /// depth puts a volume on `/a` before one on `/a/b`, which must land on
    /// top of it, whatever order they were given in (as docker does).
    pub fn depth(&self) -> usize {
        self.dst.split('/').filter(|c| !c.is_empty()).count()
    }
}

fn parse_mode(mode: Option<&str>) -> Result<bool, String> {
    match mode {
        None | Some("rw") => Ok(false),
        Some("ro") => Ok(true),
        Some(other) => Err(format!("unknown mode {other:?} (use ro or rw)")),
    }
}

/// DST made canonical: absolute, no empty or `.` components, no trailing
/// slash; `..` and `/` itself are refused.
pub fn normalize_dst(dst: &str) -> Result<String, String> {
    if dst.is_empty() {
        return Err("DST (the path in the container) is empty".into());
    }
    if !dst.starts_with('/') {
        return Err(format!(
            "DST {dst} must be an absolute path in the container"
        ));
    }
    let mut out = String::new();
    for part in dst.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if part == ".." {
            return Err(format!("DST {dst} must not contain \"..\""));
        }
        out.push('/');
        out.push_str(part);
    }
    if out.is_empty() {
        return Err("DST cannot be / (the container's root)".into());
    }
    if out == "/proc" || out.starts_with("/proc/") {
        return Err(format!(
            "DST {dst}: /proc is the container's own (a proc of its PID namespace, \
             with the kernel's settings read-only)"
        ));
    }
    Ok(out)
}

/// Two volumes on the same DST: the second would hide the first.
pub fn check_unique(volumes: &[Volume]) -> Result<(), String> {
    for (i, v) in volumes.iter().enumerate() {
        if volumes[..i].iter().any(|w| w.dst == v.dst) {
            return Err(format!("{} is the target of more than one volume", v.dst));
        }
    }
    Ok(())
}

/// nsinit's form: `SRC:DST[:ro|:rw]` with SRC absolute. SRC is the part
/// before DST's colon, split from the right, so a resolved host path may
/// contain colons (DST never does).
impl FromStr for Volume {
    type Err = String;

    fn from_str(s: &str) -> Result<Volume, String> {
        let (rest, read_only) = match s.rsplit_once(':') {
            Some((rest, mode @ ("ro" | "rw"))) => (rest, mode == "ro"),
            _ => (s, false),
        };
        let (src, dst) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("{s}: expected SRC:DST[:ro|:rw]"))?;
        if !src.starts_with('/') {
            return Err(format!("{s}: SRC must be an absolute host path"));
        }
        Ok(Volume {
            src: src.to_string(),
            dst: normalize_dst(dst).map_err(|e| format!("{s}: {e}"))?,
            read_only,
        })
    }
}

impl fmt::Display for Volume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = if self.read_only { "ro" } else { "rw" };
        write!(f, "{}:{}:{mode}", self.src, self.dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(src: &str, dst: &str, ro: bool) -> Volume {
        Volume {
            src: src.into(),
            dst: dst.into(),
            read_only: ro,
        }
    }

    #[test]
    fn docker_forms() {
        assert_eq!(
            Volume::parse_cli("./d:/data").unwrap(),
            vol("./d", "/data", false)
        );
        assert_eq!(
            Volume::parse_cli("d:/data:ro").unwrap(),
            vol("d", "/data", true)
        );
        assert_eq!(
            Volume::parse_cli("/d:/a//b/./:rw").unwrap(),
            vol("/d", "/a/b", false)
        );
    }

    #[test]
    fn malformed_specs_say_what_is_wrong() {
        for (spec, want) in [
            ("", "fields"),
            ("justone", "fields"),
            ("a:/b:ro:x", "fields"),
            (":/data", "SRC"),
            ("d:", "DST"),
            ("d:data", "absolute"),
            ("d:/data:rx", "mode"),
            ("d:/../etc", ".."),
            ("d:/a/../../b", ".."),
            ("d:/", "/"),
            ("d:/./", "/"),
            ("d:/proc", "/proc is the container's own"),
            ("d:/proc/sys/kernel/", "/proc is the container's own"),
        ] {
            let e = Volume::parse_cli(spec).unwrap_err();
            assert!(e.contains(want), "{spec:?}: {e}");
        }
        assert_eq!(Volume::parse_cli("d:/procfs").unwrap().dst, "/procfs");
    }

    #[test]
    fn nsinit_form_round_trips_even_with_colons_in_src() {
        for v in [
            vol("/home/u/a:b", "/data", true),
            vol("/x", "/y", false),
            vol("/x:ro", "/y", false),
        ] {
            assert_eq!(v.to_string().parse::<Volume>().unwrap(), v);
        }
        assert_eq!("/s:/d".parse::<Volume>().unwrap(), vol("/s", "/d", false));
        assert!("rel:/d".parse::<Volume>().is_err());
        assert!("/s:rel".parse::<Volume>().is_err());
        assert!("/s".parse::<Volume>().is_err());
    }

    #[test]
    fn duplicates_and_depth() {
        let a = vol("/1", "/a", false);
        let b = vol("/2", "/a/b", false);
        assert!(check_unique(&[a.clone(), b.clone()]).is_ok());
        let e = check_unique(&[a.clone(), b.clone(), vol("/3", "/a", true)]).unwrap_err();
        assert!(e.contains("/a "), "{e}");
        assert_eq!((a.depth(), b.depth()), (1, 2));
    }
}
