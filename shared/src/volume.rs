//! Volumes: `-v SRC:DST[:OPTIONS]` as `docker run` and `podman run` take
//! them (OPTIONS, comma-separated: `ro` or `rw`, and podman's `idmap`), and
//! the same form in nsinit's `--volume`, where SRC is an absolute host path.
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
    /// `:idmap`: the volume is an idmapped mount through the container's
    /// id maps, so its files keep their on-disk owners inside (real root
    /// only; nslaunch makes it and passes it to nsinit as a `--tree`).
    pub idmap: bool,
}

impl Volume {
    /// A user's `-v` value, by docker's rules: `SRC:DST` or
    /// `SRC:DST:OPTIONS` (see [`Options::parse`]), so neither path may
    /// contain a colon. SRC is returned as typed (the launcher checks and
    /// resolves it).
    pub fn parse_cli(spec: &str) -> Result<Volume, String> {
        let parts: Vec<&str> = spec.split(':').collect();
        let (src, dst, opts) = match parts.as_slice() {
            [src, dst] => (*src, *dst, Options::default()),
            [src, dst, opts] => (*src, *dst, Options::parse(opts)?),
            _ => {
                return Err(format!(
                    "expected SRC:DST[:OPTIONS], got {} colon-separated fields",
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
            read_only: opts.read_only,
            idmap: opts.idmap,
        })
    }

    /// Nesting depth of DST: `/a` is 1, `/a/b` is 2. Mounting in order of
    /// depth puts a volume on `/a` before one on `/a/b`, which must land on
    /// top of it, whatever order they were given in (as docker does).
    pub fn depth(&self) -> usize {
        self.dst.split('/').filter(|c| !c.is_empty()).count()
    }
}

/// A volume's OPTIONS, podman's way: comma-separated, in any order, each
/// at most once: `ro` or `rw` (the default), and `idmap`. So `ro,idmap`
/// and `idmap,ro` are the same.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Options {
    read_only: bool,
    idmap: bool,
}

impl Options {
    fn parse(text: &str) -> Result<Options, String> {
        let mut out = Options::default();
        let mut seen: Vec<&str> = Vec::new();
        for opt in text.split(',') {
            let kind = match opt {
                "ro" | "rw" => "ro/rw",
                "idmap" => "idmap",
                "" => return Err(format!("empty option in {text:?} (use ro, rw or idmap)")),
                o if o.starts_with("idmap=") => {
                    return Err(format!(
                        "{o:?}: an idmap of its own is not supported; :idmap maps through \
                         the container's own id maps"
                    ))
                }
                o => return Err(format!("unknown option {o:?} (use ro, rw or idmap)")),
            };
            if seen.contains(&kind) {
                return Err(format!("{text:?}: give {kind} once"));
            }
            seen.push(kind);
            match opt {
                "ro" => out.read_only = true,
                "idmap" => out.idmap = true,
                _ => {}
            }
        }
        Ok(out)
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

/// nsinit's form: `SRC:DST[:OPTIONS]` with SRC absolute. SRC is the part
/// before DST's colon, split from the right, so a resolved host path may
/// contain colons (DST never does, nor OPTIONS: a last field that is not
/// OPTIONS is DST).
impl FromStr for Volume {
    type Err = String;

    fn from_str(s: &str) -> Result<Volume, String> {
        let (rest, opts) = match s.rsplit_once(':') {
            Some((rest, last)) if !last.starts_with('/') => {
                (rest, Options::parse(last).map_err(|e| format!("{s}: {e}"))?)
            }
            _ => (s, Options::default()),
        };
        let (src, dst) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("{s}: expected SRC:DST[:OPTIONS]"))?;
        if !src.starts_with('/') {
            return Err(format!("{s}: SRC must be an absolute host path"));
        }
        Ok(Volume {
            src: src.to_string(),
            dst: normalize_dst(dst).map_err(|e| format!("{s}: {e}"))?,
            read_only: opts.read_only,
            idmap: opts.idmap,
        })
    }
}

impl fmt::Display for Volume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = if self.read_only { "ro" } else { "rw" };
        let idmap = if self.idmap { ",idmap" } else { "" };
        write!(f, "{}:{}:{mode}{idmap}", self.src, self.dst)
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
            idmap: false,
        }
    }

    fn idmapped(src: &str, dst: &str, ro: bool) -> Volume {
        Volume {
            idmap: true,
            ..vol(src, dst, ro)
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
    fn podmans_options_in_any_order() {
        for (spec, want) in [
            ("d:/data:idmap", idmapped("d", "/data", false)),
            ("d:/data:ro,idmap", idmapped("d", "/data", true)),
            ("d:/data:idmap,ro", idmapped("d", "/data", true)),
            ("d:/data:rw,idmap", idmapped("d", "/data", false)),
            ("d:/data:idmap,rw", idmapped("d", "/data", false)),
        ] {
            assert_eq!(Volume::parse_cli(spec).unwrap(), want, "{spec}");
        }
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
            ("d:/data:rx", "unknown option \"rx\""),
            ("d:/data:ro,rw", "give ro/rw once"),
            ("d:/data:ro,ro", "give ro/rw once"),
            ("d:/data:idmap,idmap", "give idmap once"),
            ("d:/data:ro,", "empty option"),
            ("d:/data:", "empty option"),
            ("d:/data:ro,idmap,x", "unknown option \"x\""),
            ("d:/data:idmap=uids=0-1-10", "not supported"),
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
            idmapped("/x:ro,idmap", "/y", true),
            idmapped("/x", "/y", false),
        ] {
            assert_eq!(v.to_string().parse::<Volume>().unwrap(), v);
        }
        assert_eq!("/s:/d".parse::<Volume>().unwrap(), vol("/s", "/d", false));
        assert!("rel:/d".parse::<Volume>().is_err());
        assert!("/s:rel".parse::<Volume>().is_err());
        assert!("/s".parse::<Volume>().is_err());
        assert!("/s:/d:rx".parse::<Volume>().is_err());
        assert_eq!(
            "/s:/d:idmap,ro".parse::<Volume>().unwrap(),
            idmapped("/s", "/d", true)
        );
        assert_eq!(idmapped("/s", "/d", true).to_string(), "/s:/d:ro,idmap");
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
