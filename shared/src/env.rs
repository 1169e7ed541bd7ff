//! The command's environment: clean, like `docker run`'s, never the
//! caller's whole environment. What the user adds comes on top, in
//! docker's order: the defaults, then `--env-file` files, then `-e`.

/// PATH inside the container (docker's default).
pub use base::command::DEFAULT_PATH;

/// Build the environment the launcher hands to nsinit (and nsinit to the
/// command): PATH for the container, HOSTNAME, and TERM passed through from
/// the caller when set. HOME is added by nsinit once the container's own
/// /etc/passwd is visible.
pub fn container_env(caller_term: Option<&str>, hostname: &str) -> Vec<(String, String)> {
    let mut env = vec![
        ("PATH".to_string(), DEFAULT_PATH.to_string()),
        ("HOSTNAME".to_string(), hostname.to_string()),
    ];
    if let Some(term) = caller_term {
        env.push(("TERM".to_string(), term.to_string()));
    }
    env
}

/// Set `key` to `value`: replace it where it is, else append it.
pub fn set(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    match env.iter_mut().find(|(k, _)| k == key) {
        Some(kv) => kv.1 = value.to_string(),
        None => env.push((key.to_string(), value.to_string())),
    }
}

/// One `-e` value: `KEY=VALUE`, or `KEY` alone for the caller's value
/// (`caller(KEY)`), which gives `None` when the caller has no such
/// variable (docker then sets nothing).
pub fn parse_env_arg(
    arg: &str,
    caller: impl Fn(&str) -> Option<String>,
) -> Result<Option<(String, String)>, String> {
    let (key, value) = match arg.split_once('=') {
        Some((k, v)) => (k, Some(v.to_string())),
        None => (arg, None),
    };
    if key.is_empty() {
        return Err("no variable name before the \"=\"".into());
    }
    Ok(value.or_else(|| caller(key)).map(|v| (key.to_string(), v)))
}

/// An `--env-file`, in docker's format: one `KEY=VALUE` per line (the value
/// taken as is, quotes and spaces included), `KEY` alone for the caller's
/// value, blank lines and lines starting with `#` skipped, leading
/// whitespace ignored. A name with whitespace in it or no name at all is
/// an error naming the line.
pub fn parse_env_file(
    text: &str,
    caller: impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let raw = if n == 0 {
            raw.trim_start_matches('\u{feff}')
        } else {
            raw
        };
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = line.split_once('=').map_or(line, |(k, _)| k);
        if key.is_empty() {
            return Err(format!("line {}: no variable name", n + 1));
        }
        if key.contains(char::is_whitespace) {
            return Err(format!(
                "line {}: variable name {key:?} contains whitespace",
                n + 1
            ));
        }
        if let Some((k, v)) = parse_env_arg(line, &caller)? {
            set(&mut out, &k, &v);
        }
    }
    Ok(out)
}

/// The value of `key` in `env`.
pub fn lookup<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
    env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_env_has_path_hostname_and_term() {
        let env = container_env(Some("xterm-256color"), "box");
        assert_eq!(lookup(&env, "PATH"), Some(DEFAULT_PATH));
        assert_eq!(lookup(&env, "HOSTNAME"), Some("box"));
        assert_eq!(lookup(&env, "TERM"), Some("xterm-256color"));
        assert_eq!(env.len(), 3);
        let env = container_env(None, "box");
        assert_eq!(lookup(&env, "TERM"), None);
    }

    fn caller(k: &str) -> Option<String> {
        (k == "FROM_CALLER").then(|| "c v".to_string())
    }

    #[test]
    fn env_args_like_docker() {
        let p = |a| parse_env_arg(a, caller);
        assert_eq!(p("A=1"), Ok(Some(("A".into(), "1".into()))));
        assert_eq!(p("A="), Ok(Some(("A".into(), "".into()))));
        assert_eq!(p("A=b=c"), Ok(Some(("A".into(), "b=c".into()))));
        assert_eq!(
            p("FROM_CALLER"),
            Ok(Some(("FROM_CALLER".into(), "c v".into())))
        );
        assert_eq!(p("UNSET_HERE"), Ok(None));
        assert!(p("=x").is_err());
        assert!(p("").is_err());
    }

    #[test]
    fn env_files_like_docker() {
        let text = "\u{feff}# comment\n\n  A=1\nB= spaced \"quoted\" \nFROM_CALLER\nNOT_SET\nA=2\n\t# indented comment\n";
        let env = parse_env_file(text, caller).unwrap();
        assert_eq!(
            env,
            [
                ("A".to_string(), "2".to_string()),
                ("B".to_string(), " spaced \"quoted\" ".to_string()),
                ("FROM_CALLER".to_string(), "c v".to_string()),
            ]
        );
        let e = parse_env_file("A=1\n=oops\n", caller).unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
        let e = parse_env_file("MY VAR=1\n", caller).unwrap_err();
        assert!(e.contains("whitespace"), "{e}");
    }

    #[test]
    fn set_replaces_in_place() {
        let mut env = container_env(None, "h");
        set(&mut env, "PATH", "/bin");
        set(&mut env, "NEW", "1");
        assert_eq!(env[0], ("PATH".to_string(), "/bin".to_string()));
        assert_eq!(lookup(&env, "NEW"), Some("1"));
        assert_eq!(env.len(), 3);
    }
}
