//! A mount as an OCI bundle's `config.json` lists it, in a form nsinit
//! takes on its command line (`--mount SPEC`): what the launcher reads
//! from `mounts[]` (destination, type, source, options) becomes a
//! [`MountSpec`], rendered into one argument and parsed back by nsinit.
//! Pure: the option table and the round trip are unit-tested here.

use std::fmt;
use std::str::FromStr;

/// Mount flags (`MS_*` bits) an option sets or clears.
pub const RDONLY: u64 = libc::MS_RDONLY;
pub const NOSUID: u64 = libc::MS_NOSUID;
pub const NODEV: u64 = libc::MS_NODEV;
pub const NOEXEC: u64 = libc::MS_NOEXEC;

/// Propagation of a mount, as its options ask (`rprivate`, `rslave` ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Private,
    Slave,
    Shared,
    Unbindable,
}

impl Propagation {
    /// The `MS_*` bit of this propagation.
    pub fn ms_flag(self) -> u64 {
        match self {
            Propagation::Private => libc::MS_PRIVATE,
            Propagation::Slave => libc::MS_SLAVE,
            Propagation::Shared => libc::MS_SHARED,
            Propagation::Unbindable => libc::MS_UNBINDABLE,
        }
    }

    /// mount(8)'s name for it (`--make-shared`).
    pub fn name(self) -> &'static str {
        match self {
            Propagation::Private => "private",
            Propagation::Slave => "slave",
            Propagation::Shared => "shared",
            Propagation::Unbindable => "unbindable",
        }
    }

    fn code(self) -> char {
        match self {
            Propagation::Private => 'p',
            Propagation::Slave => 's',
            Propagation::Shared => 'S',
            Propagation::Unbindable => 'u',
        }
    }

    fn from_code(c: char) -> Option<Propagation> {
        Some(match c {
            'p' => Propagation::Private,
            's' => Propagation::Slave,
            'S' => Propagation::Shared,
            'u' => Propagation::Unbindable,
            _ => return None,
        })
    }

    /// `rootfsPropagation` or a mount option's name.
    pub fn parse(name: &str) -> Option<(Propagation, bool)> {
        let (p, recursive) = match name.strip_prefix('r') {
            Some(rest) => (rest, true),
            None => (name, false),
        };
        let p = match p {
            "private" => Propagation::Private,
            "slave" => Propagation::Slave,
            "shared" => Propagation::Shared,
            "unbindable" => Propagation::Unbindable,
            _ => return None,
        };
        Some((p, recursive))
    }
}

/// One mount of the container, after `/` is bound and before the masks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MountSpec {
    /// Absolute path inside the container.
    pub target: String,
    /// The filesystem type; "bind" for a bind mount.
    pub fstype: String,
    /// The source: a host path for a bind, else the device name shown in
    /// /proc/mounts.
    pub source: String,
    /// `MS_*` flags to set (ro, nosuid, nodev, noexec, atime ...).
    pub flags: u64,
    /// A bind of everything mounted below the source too (`rbind`).
    pub recursive: bool,
    /// The propagation asked for, and whether it applies to the whole tree.
    pub propagation: Option<(Propagation, bool)>,
    /// Filesystem options passed to the kernel as they are (`mode=755`).
    pub data: String,
    /// `tmpcopyup`: copy what the target held into the new tmpfs.
    pub copy_up: bool,
}

impl MountSpec {
    pub fn is_bind(&self) -> bool {
        self.fstype == "bind"
    }

    /// Read an OCI mount: `options` are mount(8)'s names; the ones that
    /// are flags set or clear `MS_*` bits, `bind`/`rbind` make a bind,
    /// propagation names set the propagation, a few are handled by the
    /// engines before us and skipped, and the rest are the filesystem's
    /// own (`data`). Errors name the field at fault.
    pub fn from_oci(
        destination: &str,
        fstype: Option<&str>,
        source: Option<&str>,
        options: &[String],
    ) -> Result<MountSpec, String> {
        if !destination.starts_with('/') {
            return Err(format!(
                "mounts: destination {destination:?} must be an absolute path"
            ));
        }
        let mut m = MountSpec {
            target: normalize(destination),
            fstype: fstype.unwrap_or("").to_string(),
            source: source.unwrap_or("").to_string(),
            ..Default::default()
        };
        let mut data: Vec<&str> = Vec::new();
        for opt in options {
            let o = opt.as_str();
            if let Some((set, bit)) = flag_option(o) {
                if set {
                    m.flags |= bit;
                } else {
                    m.flags &= !bit;
                }
                continue;
            }
            if let Some(p) = Propagation::parse(o) {
                m.propagation = Some(p);
                continue;
            }
            match o {
                "bind" => m.fstype = "bind".into(),
                "rbind" => {
                    m.fstype = "bind".into();
                    m.recursive = true;
                }
                "tmpcopyup" => m.copy_up = true,
                // SELinux relabelling, chown to the container user, and
                // copy-up of volume content are done by the engines (podman)
                // before they call a runtime; the names are passed along.
                "z" | "Z" | "U" | "notmpcopyup" | "nocopy" | "copy" | "nocopyup" | "copy-symlink" => {}
                "idmap" | "ridmap" => {
                    return Err(format!(
                        "mounts: {destination}: option {o} (idmapped mounts from config.json) is not supported"
                    ))
                }
                "remount" => {
                    return Err(format!(
                        "mounts: {destination}: option remount is not supported"
                    ))
                }
                _ if o.starts_with("x-") => {}
                _ => data.push(o),
            }
        }
        if m.fstype.is_empty() {
            return Err(format!("mounts: {destination}: no type and no bind option"));
        }
        if m.is_bind() {
            if !m.source.starts_with('/') {
                return Err(format!(
                    "mounts: {destination}: the source of a bind mount must be an absolute path, got {:?}",
                    m.source
                ));
            }
            m.source = normalize(&m.source);
        } else if m.source.is_empty() {
            m.source = m.fstype.clone();
        }
        m.data = data.join(",");
        Ok(m)
    }
}

/// A mount(8) option that sets (`true`) or clears a flag.
fn flag_option(o: &str) -> Option<(bool, u64)> {
    Some(match o {
        "ro" => (true, RDONLY),
        "rw" => (false, RDONLY),
        "nosuid" => (true, NOSUID),
        "suid" => (false, NOSUID),
        "nodev" => (true, NODEV),
        "dev" => (false, NODEV),
        "noexec" => (true, NOEXEC),
        "exec" => (false, NOEXEC),
        "sync" => (true, libc::MS_SYNCHRONOUS),
        "async" => (false, libc::MS_SYNCHRONOUS),
        "dirsync" => (true, libc::MS_DIRSYNC),
        "mand" => (true, libc::MS_MANDLOCK),
        "nomand" => (false, libc::MS_MANDLOCK),
        "noatime" => (true, libc::MS_NOATIME),
        "atime" => (false, libc::MS_NOATIME),
        "nodiratime" => (true, libc::MS_NODIRATIME),
        "diratime" => (false, libc::MS_NODIRATIME),
        "relatime" => (true, libc::MS_RELATIME),
        "norelatime" => (false, libc::MS_RELATIME),
        "strictatime" => (true, libc::MS_STRICTATIME),
        "nostrictatime" => (false, libc::MS_STRICTATIME),
        "lazytime" => (true, libc::MS_LAZYTIME),
        "nolazytime" => (false, libc::MS_LAZYTIME),
        "silent" => (true, libc::MS_SILENT),
        "loud" => (false, libc::MS_SILENT),
        "nosymfollow" => (true, libc::MS_NOSYMFOLLOW),
        "symfollow" => (false, libc::MS_NOSYMFOLLOW),
        _ => return None,
    })
}

/// `/a//b/` as `/a/b`; `.` components dropped (`..` is left for the
/// executor, which resolves inside the rootfs).
fn normalize(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

/// Escape `%` and `:` (the field separator) and control bytes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '%' || c == ':' || c.is_control() {
            for b in c.to_string().bytes() {
                out.push_str(&format!("%{b:02x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn unescape(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad escape at byte {i}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 after unescaping".to_string())
}

/// `TARGET:TYPE:SOURCE:FLAGS:EXTRA:DATA`, fields escaped (`%XX`): FLAGS in
/// hex; EXTRA holds `r` for a recursive bind, `c` for copy-up, and the
/// propagation as `R` (whole tree) or `P` (this mount) and a code: `p`
/// private, `s` slave, `S` shared, `u` unbindable.
impl fmt::Display for MountSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut extra = String::new();
        if self.recursive {
            extra.push('r');
        }
        if self.copy_up {
            extra.push('c');
        }
        if let Some((p, rec)) = self.propagation {
            extra.push(if rec { 'R' } else { 'P' });
            extra.push(p.code());
        }
        write!(
            f,
            "{}:{}:{}:{:x}:{}:{}",
            escape(&self.target),
            escape(&self.fstype),
            escape(&self.source),
            self.flags,
            extra,
            escape(&self.data)
        )
    }
}

impl FromStr for MountSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<MountSpec, String> {
        let bad = |why: String| format!("{s}: {why}");
        let fields: Vec<&str> = s.split(':').collect();
        let [target, fstype, source, flags, extra, data] = fields.as_slice() else {
            return Err(bad("expected TARGET:TYPE:SOURCE:FLAGS:EXTRA:DATA".into()));
        };
        let mut m = MountSpec {
            target: unescape(target).map_err(&bad)?,
            fstype: unescape(fstype).map_err(&bad)?,
            source: unescape(source).map_err(&bad)?,
            flags: u64::from_str_radix(flags, 16).map_err(|_| bad("bad flags".into()))?,
            data: unescape(data).map_err(&bad)?,
            ..Default::default()
        };
        if !m.target.starts_with('/') || m.fstype.is_empty() {
            return Err(bad("the target must be absolute and the type given".into()));
        }
        let mut chars = extra.chars();
        while let Some(c) = chars.next() {
            match c {
                'r' => m.recursive = true,
                'c' => m.copy_up = true,
                'R' | 'P' => {
                    let p = chars
                        .next()
                        .and_then(Propagation::from_code)
                        .ok_or_else(|| bad("bad propagation".into()))?;
                    m.propagation = Some((p, c == 'R'));
                }
                _ => return Err(bad(format!("unknown extra {c:?}"))),
            }
        }
        Ok(m)
    }
}

/// A device node of the container (an OCI bundle's `linux.devices`, and
/// the defaults every container gets): for nsinit's `--device`, as
/// `PATH:KIND:MAJOR:MINOR:MODE:UID:GID` (MODE in octal; MODE, UID and GID
/// may be empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSpec {
    pub path: String,
    /// `c`, `b` or `p`.
    pub kind: char,
    pub major: u64,
    pub minor: u64,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_default();
        write!(
            f,
            "{}:{}:{}:{}:{}:{}:{}",
            escape(&self.path),
            self.kind,
            self.major,
            self.minor,
            self.mode.map(|m| format!("{m:o}")).unwrap_or_default(),
            opt(self.uid),
            opt(self.gid)
        )
    }
}

impl FromStr for DeviceSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<DeviceSpec, String> {
        let bad = || format!("{s}: expected PATH:KIND:MAJOR:MINOR:MODE:UID:GID");
        let f: Vec<&str> = s.split(':').collect();
        let [path, kind, major, minor, mode, uid, gid] = f.as_slice() else {
            return Err(bad());
        };
        let opt = |v: &str, radix: u32| -> Result<Option<u32>, String> {
            if v.is_empty() {
                Ok(None)
            } else {
                u32::from_str_radix(v, radix).map(Some).map_err(|_| bad())
            }
        };
        let kind = match *kind {
            "c" => 'c',
            "b" => 'b',
            "p" => 'p',
            _ => return Err(bad()),
        };
        let path = unescape(path)?;
        if !path.starts_with("/dev/") {
            return Err(format!("{s}: the path must be under /dev"));
        }
        Ok(DeviceSpec {
            path,
            kind,
            major: major.parse().map_err(|_| bad())?,
            minor: minor.parse().map_err(|_| bad())?,
            mode: opt(mode, 8)?,
            uid: opt(uid, 10)?,
            gid: opt(gid, 10)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn podman_mounts() {
        let proc_ = MountSpec::from_oci(
            "/proc",
            Some("proc"),
            Some("proc"),
            &opts(&["nosuid", "noexec", "nodev"]),
        )
        .unwrap();
        assert_eq!(proc_.flags, NOSUID | NOEXEC | NODEV);
        assert_eq!(proc_.data, "");
        let dev = MountSpec::from_oci(
            "/dev",
            Some("tmpfs"),
            Some("tmpfs"),
            &opts(&["nosuid", "strictatime", "mode=755", "size=65536k"]),
        )
        .unwrap();
        assert_eq!(dev.flags, NOSUID | libc::MS_STRICTATIME);
        assert_eq!(dev.data, "mode=755,size=65536k");
        let vol = MountSpec::from_oci(
            "/data/",
            Some("bind"),
            Some("/home/u/vol"),
            &opts(&["rbind", "ro", "rprivate", "nosuid", "z"]),
        )
        .unwrap();
        assert!(vol.is_bind() && vol.recursive);
        assert_eq!(vol.target, "/data");
        assert_eq!(vol.flags, RDONLY | NOSUID);
        assert_eq!(vol.propagation, Some((Propagation::Private, true)));
        let etc = MountSpec::from_oci(
            "/etc/hosts",
            None,
            Some("/run/x/hosts"),
            &opts(&["bind", "rw"]),
        )
        .unwrap();
        assert!(etc.is_bind() && !etc.recursive);
        let tmp = MountSpec::from_oci(
            "/tmp",
            Some("tmpfs"),
            Some("tmpfs"),
            &opts(&["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]),
        )
        .unwrap();
        assert!(tmp.copy_up);
    }

    #[test]
    fn refusals_name_the_mount() {
        for (dst, ty, src, o, want) in [
            ("rel", Some("tmpfs"), None, &[][..], "absolute"),
            ("/x", None, None, &[], "no type"),
            ("/x", Some("bind"), Some("rel"), &[], "absolute path"),
            ("/x", Some("bind"), Some("/s"), &["idmap"], "idmap"),
        ] {
            let e = MountSpec::from_oci(dst, ty, src, &opts(o)).unwrap_err();
            assert!(e.contains(want) && e.contains(dst), "{e}");
        }
    }

    #[test]
    fn render_then_parse_is_identity() {
        let cases = [
            MountSpec::from_oci("/proc", Some("proc"), None, &[]).unwrap(),
            MountSpec::from_oci(
                "/a:b/%c",
                Some("bind"),
                Some("/host/with:colon %25\nnl"),
                &opts(&["rbind", "ro", "rslave", "noexec"]),
            )
            .unwrap(),
            MountSpec::from_oci(
                "/run",
                Some("tmpfs"),
                Some("tmpfs"),
                &opts(&["tmpcopyup", "mode=755,uid=0", "slave"]),
            )
            .unwrap(),
        ];
        for m in cases {
            let text = m.to_string();
            assert!(!text.contains('\n'));
            assert_eq!(text.parse::<MountSpec>().unwrap(), m, "{text}");
        }
        for bad in [
            "",
            "/x:tmpfs",
            "x:tmpfs:t:0::",
            "/x:tmpfs:t:zz::",
            "/x:tmpfs:t:0:Q:",
            "/x:tmpfs:t:0::%zz",
        ] {
            assert!(bad.parse::<MountSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn devices_round_trip() {
        let d = DeviceSpec {
            path: "/dev/fuse".into(),
            kind: 'c',
            major: 10,
            minor: 229,
            mode: Some(0o666),
            uid: None,
            gid: Some(5),
        };
        assert_eq!(d.to_string(), "/dev/fuse:c:10:229:666::5");
        assert_eq!(d.to_string().parse::<DeviceSpec>(), Ok(d));
        for bad in [
            "/etc/x:c:1:1:::",
            "/dev/x:q:1:1:::",
            "/dev/x:c:1",
            "/dev/x:c:a:1:::",
        ] {
            assert!(bad.parse::<DeviceSpec>().is_err(), "{bad}");
        }
    }
}
