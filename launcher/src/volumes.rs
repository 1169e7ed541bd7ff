//! `-v SRC:DST[:OPTIONS]`, checked on the host before anything runs: the
//! spec's form, DST's shape, that SRC exists, and that `:idmap` can be
//! had. nsinit gets SRC as an absolute path with every symlink resolved
//! (SRC is the caller's own path, so following its symlinks is what the
//! caller asked for); DST is resolved later, inside the rootfs, by nsinit.

use shared::volume::{self, Volume};

use crate::error::{io_why, Error};

/// The volumes of `-v`, in the order given, SRC made absolute.
/// `real_root`: nslaunch runs as real root; `userns`: the container gets
/// a user namespace (all but `--userns host`).
pub fn validate(specs: &[String], real_root: bool, userns: bool) -> Result<Vec<Volume>, Error> {
    let mut out = Vec::new();
    for spec in specs {
        let bad = |why: String| Error::Usage(format!("-v {spec}: {why}"));
        let mut v = Volume::parse_cli(spec).map_err(bad)?;
        if v.idmap {
            if let Some(why) = idmap_refusal(real_root, userns) {
                return Err(bad(why.into()));
            }
        }
        let src = std::fs::canonicalize(&v.src)
            .map_err(|e| bad(format!("SRC {}: {}", v.src, io_why(&e))))?;
        v.src = src
            .into_os_string()
            .into_string()
            .map_err(|_| bad("SRC's absolute path is not valid UTF-8".into()))?;
        out.push(v);
    }
    volume::check_unique(&out).map_err(|e| Error::Usage(format!("-v: {e}")))?;
    Ok(out)
}

/// Why `:idmap` cannot be had, if it cannot: an idmapped mount needs
/// CAP_SYS_ADMIN on the host, and a user namespace whose maps it goes
/// through.
fn idmap_refusal(real_root: bool, userns: bool) -> Option<&'static str> {
    if !real_root {
        Some(
            "only real root can make idmapped mounts (they need CAP_SYS_ADMIN on the host); \
             drop :idmap",
        )
    } else if !userns {
        Some(
            "--userns host has no user namespace to map through (the volume's owners are \
             the host's as they are); drop :idmap",
        )
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idmap_needs_real_root_and_a_user_namespace() {
        assert!(idmap_refusal(true, true).is_none());
        assert!(idmap_refusal(false, true)
            .unwrap()
            .contains("only real root"));
        assert!(idmap_refusal(true, false)
            .unwrap()
            .contains("--userns host"));
    }

    #[test]
    fn an_idmap_refused_here_names_the_volume() {
        let e = validate(&["/:/data:ro,idmap".into()], false, true).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("-v /:/data:ro,idmap: only real root"),
            "{e}"
        );
        let ok = validate(&["/:/data:idmap,ro".into()], true, true).unwrap();
        assert!(ok[0].idmap && ok[0].read_only);
    }
}
