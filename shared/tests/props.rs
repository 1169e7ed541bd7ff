//! Property tests of every parser of user input in `shared`, through its
//! public API only: volume specs, tmpfs options, `-e` and env files, id
//! maps and /etc/subuid, durations, signal names, booleans, signal
//! rewrites and capabilities.
//!
//! For each: arbitrary text never panics; what a renderer writes parses
//! back to the same value; a refusal is an `Err` of one line, which names
//! the input (or the part of it that is wrong) wherever the parser is
//! handed the whole of it. Bounded: 256 cases a property, well under a
//! few seconds in all.

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::Config;

use shared::caps::{self, CapSet};
use shared::env;
use shared::idmap::{self, IdRange, Mode, SubRange};
use shared::settings::{parse_bool, parse_duration, parse_rewrite};
use shared::signals;
use shared::tmpfs::Tmpfs;
use shared::volume::{self, Volume};

fn config() -> Config {
    Config {
        cases: 256,
        // Nothing written into the source tree; a failure prints its case.
        failure_persistence: None,
        ..Config::default()
    }
}

/// An error a user sees: something, on one line.
fn one_line(e: &str) -> bool {
    !e.trim().is_empty() && !e.contains('\n')
}

/// Text that is mostly the characters a parser splits on, so that the
/// interesting shapes come up often; and now and then anything at all.
fn texty(alphabet: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::string::string_regex(alphabet).unwrap(),
        1 => any::<String>(),
    ]
}

/// A path as a user may write it for DST: slashes, dots, names.
fn dst_text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("(/{1,2}(\\.{1,2}|[a-z]{1,3}|proc)){0,4}/?").unwrap()
}

proptest! {
    #![proptest_config(config())]

    // ---- volumes: -v SRC:DST[:ro|:rw] and nsinit's --volume ----

    #[test]
    fn volume_specs_never_panic(s in texty("[a-z/.:]{0,24}")) {
        if let Err(e) = Volume::parse_cli(&s) {
            prop_assert!(one_line(&e), "{s:?}: {e:?}");
        }
        // nsinit's form names the whole spec in every refusal.
        if let Err(e) = s.parse::<Volume>() {
            prop_assert!(one_line(&e) && e.contains(&s), "{s:?}: {e:?}");
        }
    }

    #[test]
    fn a_volume_renders_to_what_nsinit_parses_back(
        src in "/[a-zA-Z0-9._ :-]{0,12}",
        dst in dst_text(),
        mode in prop_oneof![Just(""), Just(":ro"), Just(":rw")],
    ) {
        let given = format!("{src}:{dst}{mode}");
        match given.parse::<Volume>() {
            Ok(v) => {
                prop_assert_eq!(&v.src, &src);
                prop_assert_eq!(v.to_string().parse::<Volume>(), Ok(v.clone()));
                // Without a colon in SRC, it is also a valid -v.
                if !src.contains(':') {
                    prop_assert_eq!(Volume::parse_cli(&given), Ok(v));
                }
            }
            // Only DST can be wrong here, and the refusal names it.
            Err(e) => prop_assert!(
                e.contains(&given) && volume::normalize_dst(&dst).is_err(),
                "{given:?}: {e:?}"
            ),
        }
    }

    #[test]
    fn dst_normalises_to_a_canonical_absolute_path(dst in dst_text()) {
        match volume::normalize_dst(&dst) {
            Ok(n) => {
                prop_assert!(n.starts_with('/') && !n.ends_with('/') && !n.contains("//"), "{n}");
                prop_assert!(n.split('/').skip(1).all(|c| c != "." && c != ".."), "{n}");
                prop_assert_eq!(volume::normalize_dst(&n), Ok(n.clone()));
            }
            Err(e) => {
                prop_assert!(one_line(&e), "{dst:?}: {e:?}");
                let has_dotdot = dst.split('/').any(|c| c == "..");
                let bare = dst.split('/').all(|c| c.is_empty() || c == ".");
                let proc = e.contains("/proc");
                prop_assert!(dst.is_empty() || has_dotdot || bare || proc, "{dst:?}: {e:?}");
                if has_dotdot {
                    prop_assert!(e.contains(&dst), "{dst:?}: {e:?}");
                }
            }
        }
    }

    // ---- --tmpfs DST[:OPTIONS] ----

    #[test]
    fn tmpfs_specs_never_panic(s in texty("[a-z/0-9=,:%]{0,30}")) {
        if let Err(e) = s.parse::<Tmpfs>() {
            prop_assert!(one_line(&e), "{s:?}: {e:?}");
            // A bad option is named as given.
            if let Some((_, opts)) = s.split_once(':') {
                if volume::normalize_dst(s.split(':').next().unwrap_or("")).is_ok()
                    && !opts.is_empty()
                {
                    // As given, or quoted as Rust quotes it (escaping what
                    // it does not print as is).
                    let named = |o: &str| e.contains(o) || e.contains(&format!("{o:?}"));
                    prop_assert!(
                        opts.split(',').any(|o| !o.is_empty() && named(o))
                            || opts.split(',').any(str::is_empty),
                        "{s:?}: {e:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_tmpfs_renders_to_what_parses_back(t in tmpfs()) {
        prop_assert_eq!(t.to_string().parse::<Tmpfs>(), Ok(t));
    }

    // ---- -e KEY[=VALUE] and --env-file ----

    #[test]
    fn env_args_never_panic_and_split_at_the_first_equals(s in texty("[A-Z=a ]{0,12}")) {
        match env::parse_env_arg(&s, |_| Some("CALLER".into())) {
            Ok(Some((k, v))) => {
                prop_assert!(!k.is_empty());
                match s.split_once('=') {
                    Some((key, value)) => prop_assert_eq!((k.as_str(), v.as_str()), (key, value)),
                    None => prop_assert_eq!((k.as_str(), v.as_str()), (s.as_str(), "CALLER")),
                }
            }
            Ok(None) => prop_assert!(false, "the caller has every variable"),
            Err(e) => prop_assert!(one_line(&e) && s.starts_with('=') || s.is_empty(), "{s:?}: {e:?}"),
        }
    }

    #[test]
    fn an_env_file_renders_to_what_parses_back(
        vars in proptest::collection::vec((env_key(), "[^\\n\\r]{0,12}"), 0..8),
        comments in proptest::collection::vec("#[^\\n\\r]{0,8}|[ \\t]*", 0..4),
    ) {
        let mut text = String::new();
        for (i, (k, v)) in vars.iter().enumerate() {
            if let Some(c) = comments.get(i) {
                text.push_str(c);
                text.push('\n');
            }
            text.push_str(&format!("{k}={v}\n"));
        }
        let mut want = Vec::new();
        for (k, v) in &vars {
            env::set(&mut want, k, v);
        }
        prop_assert_eq!(env::parse_env_file(&text, |_| None), Ok(want));
    }

    #[test]
    fn env_files_never_panic_and_refusals_name_a_bad_line(text in texty("[A-Z= #\\n\\t]{0,40}")) {
        if let Err(e) = env::parse_env_file(&text, |_| None) {
            prop_assert!(one_line(&e), "{text:?}: {e:?}");
            let n: usize = e
                .strip_prefix("line ")
                .and_then(|r| r.split(':').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no line number: {e:?}"));
            let line = text.lines().nth(n - 1).unwrap_or("");
            let line = if n == 1 { line.trim_start_matches('\u{feff}') } else { line };
            let key = line.trim_start().split('=').next().unwrap_or("");
            prop_assert!(key.is_empty() || key.contains(char::is_whitespace), "{text:?}: {e:?}");
        }
    }

    // ---- id maps (--uid-map), the kernel's maps, /etc/subuid ----

    #[test]
    fn id_ranges_render_to_what_parses_back(inside: u32, outside: u32, count: u32) {
        let r = IdRange { inside, outside, count };
        prop_assert_eq!(r.to_string().parse::<IdRange>(), Ok(r));
        prop_assert_eq!(idmap::parse_map(&r.line()), vec![r]);
    }

    #[test]
    fn id_range_text_never_panics(s in texty("[0-9:a-]{0,24}")) {
        if let Err(e) = s.parse::<IdRange>() {
            prop_assert!(one_line(&e), "{s:?}: {e:?}");
            // A bad number is named.
            let fields: Vec<&str> = s.split(':').collect();
            if fields.len() == 3 {
                prop_assert!(
                    fields.iter().any(|f| f.parse::<u32>().is_err() && e.contains(&format!("{f:?}"))),
                    "{s:?}: {e:?}"
                );
            }
        }
    }

    #[test]
    fn kernel_maps_parse_back_as_the_kernel_prints_them(
        ranges in proptest::collection::vec(any::<(u32, u32, u32)>(), 0..6),
    ) {
        let text: String = ranges
            .iter()
            .map(|(i, o, c)| format!("{i:>10} {o:>10} {c:>10}\n"))
            .collect();
        let want: Vec<IdRange> = ranges
            .iter()
            .map(|&(inside, outside, count)| IdRange { inside, outside, count })
            .collect();
        prop_assert_eq!(idmap::parse_map(&text), want);
        // And any text at all: no panic.
        let _ = idmap::parse_map(&format!("{text}{}", ranges.len()));
    }

    #[test]
    fn maps_are_checked_without_panicking(
        map in proptest::collection::vec(any::<(u32, u32, u32)>(), 0..5),
    ) {
        let map: Vec<IdRange> = map
            .into_iter()
            .map(|(inside, outside, count)| IdRange { inside, outside, count })
            .collect();
        if let Err(e) = idmap::check_map(&map) {
            prop_assert!(one_line(&e), "{map:?}: {e:?}");
        }
    }

    #[test]
    fn subid_files_render_to_what_parses_back(
        lines in proptest::collection::vec(
            (owner(), 0..=idmap::LAST_ID).prop_flat_map(|(o, start)| {
                (Just(o), Just(start), 1..=idmap::LAST_ID - start + 1)
            }),
            0..6,
        ),
    ) {
        let text: String = lines
            .iter()
            .map(|(o, s, c)| format!("{o}:{s}:{c}\n"))
            .collect();
        let want: Vec<(String, SubRange)> = lines
            .iter()
            .map(|(o, start, count)| (o.clone(), SubRange { start: *start, count: *count }))
            .collect();
        prop_assert_eq!(idmap::parse_subids(&text), want);
    }

    #[test]
    fn subid_files_never_panic(text in texty("[a-z0-9:#\\n ]{0,60}"), uid: u32) {
        let _ = idmap::parse_subids(&text);
        let _ = idmap::subids_of(&text, Some("a"), uid);
        let _ = idmap::free_block(&[&text]);
        if let Err(e) = idmap::root_subids(&text) {
            // It names the line in the way.
            prop_assert!(one_line(&e), "{text:?}: {e:?}");
            let named = e.split(' ').next().unwrap_or("");
            prop_assert!(
                idmap::parse_subids(&text)
                    .iter()
                    .any(|(o, r)| named == format!("{o}:{}:{}", r.start, r.count)),
                "{text:?}: {e:?}"
            );
        }
    }

    #[test]
    fn modes_render_to_what_parses_back(s in texty("[a-z-]{0,8}")) {
        for m in [Mode::Auto, Mode::Root, Mode::KeepId, Mode::Subids, Mode::Host] {
            prop_assert_eq!(m.to_string().parse::<Mode>(), Ok(m));
        }
        if let Err(e) = s.parse::<Mode>() {
            prop_assert!(one_line(&e), "{s:?}: {e:?}");
        }
    }

    /// Subordinate ranges that end at or below 4294967295 (the last id)
    /// give maps the kernel takes, for every mode, when they neither
    /// overlap each other nor hold the caller's own id.
    #[test]
    fn modes_give_maps_the_kernel_takes(
        own: u32,
        subs in proptest::collection::vec((any::<u32>(), 1..=70_000u32), 1..4),
    ) {
        let subs: Vec<SubRange> = subs
            .into_iter()
            .map(|(start, count)| SubRange { start: start.min(u32::MAX - count), count })
            .collect();
        let end = |s: &SubRange| u64::from(s.start) + u64::from(s.count);
        let disjoint = subs.iter().enumerate().all(|(i, a)| {
            subs[..i].iter().all(|b| end(a) <= u64::from(b.start) || end(b) <= u64::from(a.start))
        });
        let holds_own = subs.iter().any(|s| u64::from(s.start) <= u64::from(own) && u64::from(own) < end(s));
        for mode in [Mode::Auto, Mode::Root, Mode::KeepId, Mode::Subids] {
            let map = idmap::map_for(mode, own, &subs).expect("a map");
            if disjoint && !holds_own {
                prop_assert_eq!(idmap::check_map(&map), Ok(()), "{:?} {:?}", mode, map);
            }
        }
    }

    /// Whatever /etc/subuid says, the maps' arithmetic never wraps: a
    /// range that runs past 4294967295 must be refused, not mapped (it
    /// panicked on overflow in a debug build, and wrapped in release).
    #[test]
    fn subid_ranges_past_the_last_id_never_wrap(
        start in (u32::MAX - 70_000)..=u32::MAX,
        count in 1..=70_000u32,
        own: u32,
    ) {
        let text = format!("a:{start}:{count}\n");
        let subs = idmap::subids_of(&text, Some("a"), own);
        for mode in [Mode::Auto, Mode::KeepId, Mode::Subids] {
            let map = std::panic::catch_unwind(|| idmap::map_for(mode, own, &subs));
            prop_assert!(map.is_ok(), "{mode:?} {text:?}: the arithmetic overflowed");
            if let Ok(Some(map)) = map {
                let past = map.iter().any(|r| {
                    u64::from(r.outside) + u64::from(r.count) > u64::from(u32::MAX)
                });
                prop_assert!(!past, "{mode:?} {text:?}: {map:?}");
            }
        }
    }

    // ---- durations, booleans, signals, rewrites ----

    #[test]
    fn durations_never_panic_and_refusals_quote_the_input(s in texty("[0-9.a-z ]{0,10}")) {
        if let Err(e) = parse_duration(&s) {
            prop_assert!(one_line(&e) && e.contains(&format!("{s:?}")), "{s:?}: {e:?}");
        }
    }

    #[test]
    fn whole_durations_parse_exactly(n in 0u64..=31_536_000, unit in 0usize..4) {
        let (text, want) = match unit {
            0 => (format!("{n}"), Duration::from_secs(n)),
            1 => (format!("{n}s"), Duration::from_secs(n)),
            2 => (format!("{n}ms"), Duration::from_millis(n)),
            _ => (format!("{}m", n / 60), Duration::from_secs(n / 60 * 60)),
        };
        prop_assert_eq!(parse_duration(&text), Ok(want), "{}", text);
    }

    #[test]
    fn booleans_in_any_case_and_spacing(
        word in prop_oneof![
            Just(("1", true)), Just(("true", true)), Just(("yes", true)), Just(("on", true)),
            Just(("0", false)), Just(("false", false)), Just(("no", false)), Just(("off", false)),
        ],
        upper in proptest::collection::vec(any::<bool>(), 5),
        pad in "[ \\t]{0,2}",
        other in texty("[a-z0-9 ]{0,6}"),
    ) {
        let (w, want) = word;
        let cased: String = w
            .chars()
            .zip(upper.iter().cycle())
            .map(|(c, u)| if *u { c.to_ascii_uppercase() } else { c })
            .collect();
        prop_assert_eq!(parse_bool(&format!("{pad}{cased}{pad}")), Ok(want));
        if let Err(e) = parse_bool(&other) {
            prop_assert!(one_line(&e), "{other:?}: {e:?}");
        }
    }

    #[test]
    fn signal_names_never_panic_and_refusals_quote_the_input(
        s in texty("(SIG|sig)?(RTMIN|RTMAX|TERM|[A-Z0-9]{1,4})([+-][0-9]{1,3})?"),
        zero: bool,
    ) {
        if let Err(e) = signals::parse(&s, zero) {
            prop_assert!(one_line(&e) && e.contains(&format!("{s:?}")), "{s:?}: {e:?}");
        }
    }

    #[test]
    fn every_signal_name_parses_back(n in 1..=libc::SIGRTMAX(), lower: bool, bare: bool) {
        let name = signals::name(n);
        prop_assert_eq!(signals::parse(&name, false), Ok(n), "{}", name);
        let mut other = if bare { name.trim_start_matches("SIG").to_string() } else { name.clone() };
        if lower {
            other = other.to_lowercase();
        }
        prop_assert_eq!(signals::parse(&other, false), Ok(n), "{}", other);
        prop_assert_eq!(signals::parse(&n.to_string(), false), Ok(n));
    }

    #[test]
    fn rewrites_render_to_what_parses_back(from in 1..=libc::SIGRTMAX(), to in 0..=libc::SIGRTMAX()) {
        let text = format!(
            "{}:{}",
            signals::name(from),
            if to == 0 { "0".to_string() } else { signals::name(to) }
        );
        match parse_rewrite(&text) {
            Ok(got) => prop_assert_eq!(got, (from, to)),
            Err(e) => {
                prop_assert!(
                    [libc::SIGKILL, libc::SIGSTOP, libc::SIGCHLD].contains(&from),
                    "{text}: {e}"
                );
                prop_assert!(one_line(&e) && e.contains("SIG"), "{text}: {e}");
            }
        }
    }

    #[test]
    fn rewrite_text_never_panics(s in texty("[A-Za-z0-9:+-]{0,12}")) {
        if let Err(e) = parse_rewrite(&s) {
            prop_assert!(one_line(&e), "{s:?}: {e:?}");
        }
    }

    // ---- capabilities: --cap-add, --cap-drop and nsinit's --caps ----

    #[test]
    fn every_capability_name_parses_back(i in 0..caps::NAMES.len(), prefix: bool, lower: bool) {
        let mut name = caps::name(i as u32);
        if prefix {
            name = format!("CAP_{name}");
        }
        if lower {
            name = name.to_lowercase();
        }
        prop_assert_eq!(caps::number(&name), Ok(i as u32), "{}", name);
    }

    #[test]
    fn capability_sets_render_to_what_parses_back(bits: u64) {
        let set = CapSet::from_bits(bits).intersect(CapSet::all_known());
        prop_assert_eq!(set.to_string().parse::<CapSet>(), Ok(set));
    }

    #[test]
    fn capability_names_never_panic_and_refusals_name_them(
        adds in proptest::collection::vec(texty("(CAP_)?[A-Za-z_]{0,10}"), 0..3),
        drops in proptest::collection::vec(texty("(CAP_)?[A-Za-z_]{0,10}"), 0..3),
    ) {
        for n in adds.iter().chain(&drops) {
            if let Err(e) = caps::number(n) {
                prop_assert!(one_line(&e) && e.contains(&format!("{n:?}")), "{n:?}: {e:?}");
            }
        }
        match caps::tweak(CapSet::docker_default(), &adds, &drops) {
            Ok(set) => prop_assert_eq!(set.intersect(CapSet::all_known()), set),
            Err(e) => {
                prop_assert!(one_line(&e), "{e:?}");
                let named = adds
                    .iter()
                    .map(|n| format!("--cap-add {n}:"))
                    .chain(drops.iter().map(|n| format!("--cap-drop {n}:")))
                    .any(|flag| e.starts_with(&flag));
                prop_assert!(named, "{adds:?} {drops:?}: {e:?}");
            }
        }
        if let Err(e) = adds.join(",").parse::<CapSet>() {
            prop_assert!(one_line(&e), "{e:?}");
        }
    }
}

/// A variable name as env files hold them.
fn env_key() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,8}"
}

/// An owner in /etc/subuid: a user name or a uid.
fn owner() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_][a-z0-9_-]{0,10}",
        any::<u32>().prop_map(|u| u.to_string())
    ]
}

/// Any tmpfs nslaunch could be given.
fn tmpfs() -> impl Strategy<Value = Tmpfs> {
    let amount = |pct: bool| {
        let suffix = if pct { "[kKmMgG%]?" } else { "[kKmMgG]?" };
        proptest::option::of(
            proptest::string::string_regex(&format!("[0-9]{{1,6}}{suffix}")).unwrap(),
        )
    };
    (
        "(/[a-z]{1,4}){1,3}",
        amount(true),
        proptest::option::of(0u32..=0o7777),
        amount(false),
        proptest::option::of(0..u32::MAX),
        proptest::option::of(0..u32::MAX),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_filter("not /proc", |t| {
            t.0 != "/proc" && !t.0.starts_with("/proc/")
        })
        .prop_map(
            |(dst, size, mode, nr_inodes, uid, gid, read_only, exec)| Tmpfs {
                dst,
                size,
                mode,
                nr_inodes,
                uid,
                gid,
                read_only,
                exec,
            },
        )
}
