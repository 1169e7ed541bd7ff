//! An OCI hook that nsinit runs itself (`startContainer`: inside the
//! container, once started, just before the process is exec'd), on its
//! command line as `--start-hook SPEC`: `PATH:TIMEOUT:ARGS:ENV`, ARGS and
//! ENV comma-separated, every field escaped (`%XX` for `%`, `:`, `,` and
//! control bytes). Pure, with its round trip unit-tested.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HookSpec {
    /// Resolved in the container (after pivot_root).
    pub path: String,
    /// argv, argv\[0\] included.
    pub args: Vec<String>,
    /// The whole environment, `KEY=VALUE`.
    pub env: Vec<String>,
    /// Seconds; none means no limit.
    pub timeout: Option<u32>,
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | ':' | ',') || c.is_control() {
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
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let v = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad escape at byte {i}"))?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "not UTF-8".to_string())
}

fn list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| escape(i))
        .collect::<Vec<_>>()
        .join(",")
}

fn unlist(s: &str) -> Result<Vec<String>, String> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',').map(unescape).collect()
}

impl fmt::Display for HookSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}",
            escape(&self.path),
            self.timeout.map(|t| t.to_string()).unwrap_or_default(),
            list(&self.args),
            list(&self.env)
        )
    }
}

impl FromStr for HookSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<HookSpec, String> {
        let bad = |why: String| format!("{s}: {why}");
        let f: Vec<&str> = s.split(':').collect();
        let [path, timeout, args, env] = f.as_slice() else {
            return Err(bad("expected PATH:TIMEOUT:ARGS:ENV".into()));
        };
        let path = unescape(path).map_err(&bad)?;
        if !path.starts_with('/') {
            return Err(bad("the path must be absolute".into()));
        }
        Ok(HookSpec {
            path,
            timeout: if timeout.is_empty() {
                None
            } else {
                Some(timeout.parse().map_err(|_| bad("bad timeout".into()))?)
            },
            args: unlist(args).map_err(&bad)?,
            env: unlist(env).map_err(&bad)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_then_parse_is_identity() {
        for h in [
            HookSpec {
                path: "/bin/hook".into(),
                ..Default::default()
            },
            HookSpec {
                path: "/usr/bin/a:b".into(),
                args: vec!["a:b".into(), "x,y".into(), "100%".into(), "".into()],
                env: vec!["PATH=/bin:/usr/bin".into(), "NL=a\nb".into()],
                timeout: Some(5),
            },
        ] {
            let text = h.to_string();
            assert!(!text.contains('\n'));
            assert_eq!(text.parse::<HookSpec>(), Ok(h), "{text}");
        }
        for bad in ["", "rel:::", "/x:abc::", "/x:::%zz", "/x::"] {
            assert!(bad.parse::<HookSpec>().is_err(), "{bad}");
        }
    }
}
