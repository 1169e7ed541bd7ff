//! `-v SRC:DST[:ro|:rw]`, checked on the host before anything runs: the
//! spec's form, DST's shape, and that SRC exists. nsinit gets SRC as an
//! absolute path with every symlink resolved (SRC is the caller's own
//! path, so following its symlinks is what the caller asked for); DST is
//! resolved later, inside the rootfs, by nsinit.

use shared::volume::{self, Volume};

use crate::error::{io_why, Error};

/// The volumes of `-v`, in the order given, SRC made absolute.
pub fn validate(specs: &[String]) -> Result<Vec<Volume>, Error> {
    let mut out = Vec::new();
    for spec in specs {
        let bad = |why: String| Error::Usage(format!("-v {spec}: {why}"));
        let mut v = Volume::parse_cli(spec).map_err(bad)?;
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
