//! The command's environment: clean, like `docker run`'s, never the
//! caller's whole environment.

/// PATH inside the container (docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Build the environment the launcher hands to nsinit (and nsinit to the
/// command): PATH for the container, HOSTNAME, and TERM passed through from
/// the caller when set. HOME is added by nsinit once the container's own
/// /etc/passwd is visible (see [`with_home`]).
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

/// `env` with HOME set to `home` unless it already has a HOME.
pub fn with_home(mut env: Vec<(String, String)>, home: &str) -> Vec<(String, String)> {
    if !env.iter().any(|(k, _)| k == "HOME") {
        env.push(("HOME".to_string(), home.to_string()));
    }
    env
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

    #[test]
    fn home_is_added_once() {
        let env = with_home(container_env(None, "h"), "/root");
        assert_eq!(lookup(&env, "HOME"), Some("/root"));
        let env = with_home(env, "/elsewhere");
        assert_eq!(lookup(&env, "HOME"), Some("/root"));
    }
}
