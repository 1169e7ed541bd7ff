//! User and group id maps: the `inside outside count` triples of
//! `/proc/<pid>/uid_map` and `gid_map`, the subordinate ranges of
//! `/etc/subuid` and `/etc/subgid`, and the maps each `--userns` mode
//! gives. All pure: `launcher/src/userns.rs` reads the files and writes
//! the maps.

use std::fmt;
use std::str::FromStr;

/// One line of a map: ids `inside..inside+count` in the namespace are
/// `outside..outside+count` in the parent namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

impl IdRange {
    /// The text the kernel expects, one line.
    pub fn line(&self) -> String {
        format!("{} {} {}\n", self.inside, self.outside, self.count)
    }

    fn covers_inside(&self, id: u32) -> bool {
        id >= self.inside && (id - self.inside) < self.count
    }

    fn covers_outside(&self, id: u32) -> bool {
        id >= self.outside && (id - self.outside) < self.count
    }
}

/// `INSIDE:OUTSIDE:COUNT`, as `--uid-map` / `--gid-map` take it.
impl FromStr for IdRange {
    type Err = String;

    fn from_str(s: &str) -> Result<IdRange, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let [inside, outside, count] = parts.as_slice() else {
            return Err("expected INSIDE:OUTSIDE:COUNT".into());
        };
        let num = |what: &str, v: &str| {
            v.parse::<u32>()
                .map_err(|_| format!("{what} {v:?} is not a number from 0 to 4294967295"))
        };
        Ok(IdRange {
            inside: num("INSIDE", inside)?,
            outside: num("OUTSIDE", outside)?,
            count: num("COUNT", count)?,
        })
    }
}

impl fmt::Display for IdRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.inside, self.outside, self.count)
    }
}

/// Parse the kernel's rendering of a map (whitespace-separated triples).
pub fn parse_map(text: &str) -> Vec<IdRange> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace().map(|f| f.parse::<u32>());
            match (it.next(), it.next(), it.next()) {
                (Some(Ok(inside)), Some(Ok(outside)), Some(Ok(count))) => Some(IdRange {
                    inside,
                    outside,
                    count,
                }),
                _ => None,
            }
        })
        .collect()
}

/// Whether `id` inside the namespace is mapped by `map`.
pub fn maps_inside(map: &[IdRange], id: u32) -> bool {
    map.iter().any(|r| r.covers_inside(id))
}

/// The id inside the namespace that the parent's `outside` is, if mapped.
pub fn inside_of(map: &[IdRange], outside: u32) -> Option<u32> {
    map.iter()
        .find(|r| r.covers_outside(outside))
        .and_then(|r| r.inside.checked_add(outside - r.outside))
}

/// The id in the parent namespace that `inside` is, if mapped.
pub fn outside_of(map: &[IdRange], inside: u32) -> Option<u32> {
    map.iter()
        .find(|r| r.covers_inside(inside))
        .and_then(|r| r.outside.checked_add(inside - r.inside))
}

/// The most lines the kernel takes in one map (Linux 4.15+).
pub const MAX_LINES: usize = 340;

/// What the kernel would refuse in a map, said before anything runs:
/// a zero count, a range past 4294967294 (the last id, 4294967295, is
/// "no id"), ranges that overlap inside or outside, too many lines.
pub fn check_map(map: &[IdRange]) -> Result<(), String> {
    if map.is_empty() {
        return Err("the map is empty".into());
    }
    if map.len() > MAX_LINES {
        return Err(format!(
            "{} ranges; the kernel takes at most {MAX_LINES}",
            map.len()
        ));
    }
    for r in map {
        if r.count == 0 {
            return Err(format!("{r}: COUNT must be above 0"));
        }
        for (what, start) in [("INSIDE", r.inside), ("OUTSIDE", r.outside)] {
            if u64::from(start) + u64::from(r.count) > u64::from(u32::MAX) {
                return Err(format!(
                    "{r}: {what}+COUNT goes past 4294967295 (ids are 32-bit)"
                ));
            }
        }
    }
    for (i, a) in map.iter().enumerate() {
        for b in &map[..i] {
            let overlap = |x: u32, y: u32| {
                let (x, y) = (u64::from(x), u64::from(y));
                x < y + u64::from(b.count) && y < x + u64::from(a.count)
            };
            if overlap(a.inside, b.inside) {
                return Err(format!("{b} and {a} overlap inside the container"));
            }
            if overlap(a.outside, b.outside) {
                return Err(format!("{b} and {a} overlap on the host"));
            }
        }
    }
    Ok(())
}

/// The first range of `map` an unprivileged user may not install, if any:
/// one may map its own id (a single id) and ids from its subordinate
/// ranges, as newuidmap/newgidmap allow.
pub fn first_not_allowed(map: &[IdRange], own: u32, subs: &[SubRange]) -> Option<IdRange> {
    map.iter().copied().find(|r| {
        let own_only = r.count == 1 && r.outside == own;
        !own_only && !covered(subs, r.outside, r.count)
    })
}

/// Whether `start..start+count` lies in the union of `subs`.
fn covered(subs: &[SubRange], start: u32, count: u32) -> bool {
    let (mut at, end) = (u64::from(start), u64::from(start) + u64::from(count));
    while at < end {
        match subs
            .iter()
            .find(|s| u64::from(s.start) <= at && at < s.end())
        {
            Some(s) => at = s.end(),
            None => return false,
        }
    }
    true
}

/// Whether the map is one line mapping `own` alone: the only map an
/// unprivileged process may write itself; anything else goes through
/// newuidmap/newgidmap.
pub fn is_own_only(map: &[IdRange], own: u32) -> bool {
    matches!(map, [r] if r.count == 1 && r.outside == own)
}

/// The whole 32-bit id space mapped onto itself: what the initial user
/// namespace shows (`--userns host`).
pub const IDENTITY: IdRange = IdRange {
    inside: 0,
    outside: 0,
    count: u32::MAX,
};

/// One range of /etc/subuid or /etc/subgid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubRange {
    pub start: u32,
    pub count: u32,
}

impl SubRange {
    fn end(&self) -> u64 {
        u64::from(self.start) + u64::from(self.count)
    }
}

/// The last id a map may hold: 4294967295 (`(uid_t) -1`) is "no id".
pub const LAST_ID: u32 = u32::MAX - 1;

/// One `owner:start:count` line of a subordinate id file as written: its
/// number (from 1) and its numbers as 64-bit, so that a range that runs
/// past the last id shows as such instead of wrapping.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SubLine {
    number: usize,
    owner: String,
    start: u64,
    count: u64,
}

impl SubLine {
    /// The range, if it lies within the 32-bit ids (up to [`LAST_ID`]).
    fn range(&self) -> Option<SubRange> {
        (self.end() <= u64::from(LAST_ID) + 1).then_some(SubRange {
            start: self.start as u32,
            count: self.count as u32,
        })
    }

    fn end(&self) -> u64 {
        self.start.saturating_add(self.count)
    }
}

/// Every `owner:start:count` line; comments, malformed lines and zero
/// counts are skipped, as shadow's tools do.
fn sub_lines(text: &str) -> Vec<SubLine> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with('#'))
        .filter_map(|(i, l)| {
            let f: Vec<&str> = l.trim().split(':').collect();
            match f.as_slice() {
                [owner, start, count] if !owner.is_empty() => Some(SubLine {
                    number: i + 1,
                    owner: owner.to_string(),
                    start: start.parse::<u64>().ok()?,
                    count: count.parse::<u64>().ok().filter(|c| *c > 0)?,
                }),
                _ => None,
            }
        })
        .collect()
}

/// Every usable `owner:start:count` line of a subordinate id file, in
/// order; comments, malformed lines and ranges past the last id are
/// skipped (see [`check_subids_of`] for the ones that concern a user).
pub fn parse_subids(text: &str) -> Vec<(String, SubRange)> {
    sub_lines(text)
        .into_iter()
        .filter_map(|l| Some((l.owner.clone(), l.range()?)))
        .collect()
}

/// Whether a line names the user (`alice:...`) or gives its uid.
fn names(owner: &str, name: Option<&str>, uid: &str) -> bool {
    Some(owner) == name || owner == uid
}

/// The ranges of a user, whose lines may name it (`alice:...`) or give its
/// uid (`1000:...`).
pub fn subids_of(text: &str, name: Option<&str>, uid: u32) -> Vec<SubRange> {
    let uid = uid.to_string();
    parse_subids(text)
        .into_iter()
        .filter(|(owner, _)| names(owner, name, &uid))
        .map(|(_, r)| r)
        .collect()
}

/// The first line of the user's whose range runs past the last id
/// (4294967294; ids are 32-bit, and the kernel refuses such a map where
/// arithmetic on it would wrap): `Err((line number, why))`.
pub fn check_subids_of(text: &str, name: Option<&str>, uid: u32) -> Result<(), (usize, String)> {
    let uid = uid.to_string();
    match sub_lines(text)
        .into_iter()
        .find(|l| names(&l.owner, name, &uid) && l.range().is_none())
    {
        Some(l) => Err((
            l.number,
            format!(
                "{}:{}:{} runs past {LAST_ID}, the last id (ids are 32-bit): \
                 START+COUNT may be at most {}",
                l.owner,
                l.start,
                l.count,
                u64::from(LAST_ID) + 1
            ),
        )),
        None => Ok(()),
    }
}

/// The start of a free block of 65536 ids at or above 100000 (above every
/// range in `text`), to suggest in `usermod --add-subuids` hints.
pub fn free_block(texts: &[&str]) -> u32 {
    let end = texts
        .iter()
        .flat_map(|t| sub_lines(t))
        .filter(|l| l.start < u64::from(AUTO_BLOCK.start))
        .map(|l| l.end())
        .max()
        .unwrap_or(0);
    end.max(100_000).min(u64::from(AUTO_BLOCK.start - SUBIDS)) as u32
}

/// How many container ids (besides one's own) the subordinate modes map:
/// 1..65536 for `subids`, as rootless podman does.
pub const SUBIDS: u32 = 65536;

/// Real root's subordinate block when /etc/subuid has no line for root:
/// the last 65536 ids of the range systemd sets aside for containers
/// (524288-1879048191, <https://systemd.io/UIDS-GIDS/>), far above what
/// useradd hands out (100000-600100000).
pub const AUTO_BLOCK: SubRange = SubRange {
    start: 0x6fff_0000,
    count: SUBIDS,
};

/// Real root's subordinate ranges: root's own lines (`root:` or `0:`) if
/// there are any, else [`AUTO_BLOCK`], unless another user's range
/// overlaps it (then `Err` names that line).
pub fn root_subids(text: &str) -> Result<Vec<SubRange>, String> {
    let own = subids_of(text, Some("root"), 0);
    if !own.is_empty() {
        return Ok(own);
    }
    let block = AUTO_BLOCK;
    // Every line, a range past the last id too: shadow's newuidmap
    // would let its owner map the part of the block it covers.
    match sub_lines(text)
        .into_iter()
        .find(|l| l.start < block.end() && u64::from(block.start) < l.end())
    {
        Some(l) => Err(format!(
            "{}:{}:{} overlaps nslaunch's default block for root ({}-{})",
            l.owner,
            l.start,
            l.count,
            block.start,
            block.end() - 1
        )),
        None => Ok(vec![block]),
    }
}

/// Give inside ids from `next` upwards, skipping `skip`, the first `n`
/// ids of `subs` (in file order), as map lines.
fn lay(subs: &[SubRange], mut next: u32, skip: Option<u32>, mut n: u32) -> Vec<IdRange> {
    let mut out = Vec::new();
    for s in subs {
        // Never past the last id, whatever `subs` holds (a parsed range
        // never runs past it): no addition below can wrap.
        let room_outside = (u64::from(LAST_ID) + 1 - u64::from(s.start)).min(u64::from(s.count));
        let (mut outside, mut left) = (s.start, (room_outside as u32).min(n));
        n -= left;
        while left > 0 {
            if Some(next) == skip {
                next += 1;
            }
            // Up to the skipped id, if it comes within this piece.
            let room = match skip {
                Some(k) if k > next => (k - next).min(left),
                _ => left,
            };
            out.push(IdRange {
                inside: next,
                outside,
                count: room,
            });
            next += room;
            outside += room;
            left -= room;
        }
        if n == 0 {
            break;
        }
    }
    out
}

/// The `--userns` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Real root's default: container ids 0..65535 are an unprivileged
    /// host block, and the rootfs and volumes are idmapped mounts so that
    /// their files keep the owners they have on disk.
    Auto,
    /// The caller is root inside, alone: `0 <id> 1`.
    Root,
    /// The caller keeps its own id inside; the others come from its
    /// subordinate ranges when it has some.
    KeepId,
    /// The caller is root inside, 1..65536 are subordinate ids.
    Subids,
    /// No user namespace (real root only).
    Host,
}

impl Mode {
    pub const NAMES: &'static str = "auto, root, keep-id, subids or host";
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Mode, String> {
        Ok(match s {
            "auto" => Mode::Auto,
            "root" => Mode::Root,
            "keep-id" => Mode::KeepId,
            "subids" => Mode::Subids,
            "host" => Mode::Host,
            _ => return Err(format!("unknown mode (use {})", Mode::NAMES)),
        })
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Auto => "auto",
            Mode::Root => "root",
            Mode::KeepId => "keep-id",
            Mode::Subids => "subids",
            Mode::Host => "host",
        })
    }
}

/// One map (uid or gid) for `mode`, for a caller whose id is `own` and
/// whose subordinate ranges are `subs`. `None` for [`Mode::Host`]. The
/// caller checks beforehand that `subs` is not empty where the mode needs
/// it ([`Mode::Subids`], [`Mode::Auto`]).
pub fn map_for(mode: Mode, own: u32, subs: &[SubRange]) -> Option<Vec<IdRange>> {
    Some(match mode {
        Mode::Host => return None,
        Mode::Root => vec![root_is(own)],
        Mode::Subids => {
            let mut m = vec![root_is(own)];
            m.extend(lay(subs, 1, None, SUBIDS));
            m
        }
        Mode::Auto => lay(subs, 0, None, SUBIDS),
        Mode::KeepId => {
            // As podman: the others fill 0.. around the caller's own id.
            let mut m = lay(subs, 0, Some(own), SUBIDS);
            m.push(IdRange {
                inside: own,
                outside: own,
                count: 1,
            });
            m.sort_by_key(|r| r.inside);
            m
        }
    })
}

/// Which id the launcher's cloned child takes inside the new namespace
/// before it execs nsinit, which must be able to reach the caller's files
/// (the rootfs, volumes) and must keep its capabilities:
/// - the caller's own id when it is mapped (it keeps its host access),
/// - else root (0) when mapped (real root under `auto`),
/// - else the lowest mapped id.
///
/// Returns `(id, switch)`: `switch` when the child must change to it.
pub fn init_id(map: &[IdRange], own: u32) -> (u32, bool) {
    if let Some(id) = inside_of(map, own) {
        return (id, false);
    }
    if maps_inside(map, 0) {
        return (0, true);
    }
    let lowest = map.iter().map(|r| r.inside).min().unwrap_or(0);
    (lowest, true)
}

/// `0 <id> 1`: the invoking user is root inside (`unshare --map-root-user`).
pub fn root_is(outside: u32) -> IdRange {
    IdRange {
        inside: 0,
        outside,
        count: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_rendering() {
        let m = parse_map("         0       1000          1\n         1     100000      65536\n");
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].outside, 100000);
        assert!(maps_inside(&m, 0));
        assert!(maps_inside(&m, 65536));
        assert!(!maps_inside(&m, 65537));
    }

    #[test]
    fn explicit_ranges_parse_and_print() {
        let r: IdRange = "0:1000:1".parse().unwrap();
        assert_eq!(r, root_is(1000));
        assert_eq!(r.to_string(), "0:1000:1");
        for bad in [
            "0:1000",
            "0:1000:1:2",
            "a:1:1",
            "0:-1:1",
            "0:1:4294967296",
            "",
        ] {
            assert!(bad.parse::<IdRange>().is_err(), "{bad}");
        }
    }

    fn r(inside: u32, outside: u32, count: u32) -> IdRange {
        IdRange {
            inside,
            outside,
            count,
        }
    }

    #[test]
    fn check_map_refuses_what_the_kernel_would() {
        assert!(check_map(&[r(0, 1000, 1), r(1, 100000, 65536)]).is_ok());
        assert!(check_map(&[IDENTITY]).is_ok());
        let err = |m: &[IdRange]| check_map(m).unwrap_err();
        assert!(err(&[]).contains("empty"));
        assert!(err(&[r(0, 1000, 0)]).contains("above 0"));
        assert!(err(&[r(4294967295, 0, 1)]).contains("32-bit"));
        assert!(err(&[r(0, 4294967290, 10)]).contains("OUTSIDE"));
        assert!(err(&[r(0, 1000, 1), r(0, 2000, 1)]).contains("inside"));
        assert!(err(&[r(0, 100, 10), r(10, 105, 1)]).contains("host"));
        assert!(err(&[r(5, 100, 10), r(0, 200, 6)]).contains("inside"));
        let many: Vec<IdRange> = (0..341).map(|i| r(i, 1000 + i, 1)).collect();
        assert!(err(&many).contains("340"));
    }

    const SUBUID: &str =
        "# comment\nalice:100000:65536\n1001:200000:10\n1001:200010:10\nbad\nbob:x:1\nzero:5:0\n";

    #[test]
    fn subid_lines_by_name_or_uid() {
        assert_eq!(
            subids_of(SUBUID, Some("alice"), 1000),
            [SubRange {
                start: 100000,
                count: 65536
            }]
        );
        assert_eq!(subids_of(SUBUID, Some("carol"), 1001).len(), 2);
        assert!(subids_of(SUBUID, Some("bob"), 7).is_empty());
        assert!(subids_of(SUBUID, Some("zero"), 7).is_empty());
        assert_eq!(free_block(&[SUBUID]), 200020);
        assert_eq!(free_block(&[""]), 100000);
    }

    #[test]
    fn allowed_ranges_are_own_id_and_subordinate_ids() {
        let subs = subids_of(SUBUID, None, 1001);
        assert_eq!(
            first_not_allowed(&[r(0, 1001, 1), r(1, 200000, 20)], 1001, &subs),
            None
        );
        // Two adjacent lines count as one range, as newuidmap sees them.
        assert_eq!(first_not_allowed(&[r(0, 200005, 10)], 1001, &subs), None);
        assert_eq!(
            first_not_allowed(&[r(0, 200000, 21)], 1001, &subs),
            Some(r(0, 200000, 21))
        );
        assert_eq!(
            first_not_allowed(&[r(0, 1001, 2)], 1001, &subs),
            Some(r(0, 1001, 2))
        );
        assert_eq!(
            first_not_allowed(&[r(0, 0, 1)], 1001, &[]),
            Some(r(0, 0, 1))
        );
        assert!(is_own_only(&[r(0, 1001, 1)], 1001));
        assert!(!is_own_only(&[r(0, 1001, 1), r(1, 200000, 1)], 1001));
    }

    #[test]
    fn subid_ranges_past_the_last_id_are_refused_with_their_line() {
        let text = "alice:100000:65536\n# c\nalice:4294967000:65536\nbob:4294901759:65536\n\
                    carol:4294967294:1\ndave:4294967295:1\neve:5000000000:1\n";
        // The wrapping line is alice's third: refused, by number.
        let (line, why) = check_subids_of(text, Some("alice"), 1000).unwrap_err();
        assert_eq!(line, 3);
        assert!(
            why.starts_with("alice:4294967000:65536 runs past 4294967294"),
            "{why}"
        );
        // Ending exactly at the last id is fine; one more is not.
        assert_eq!(check_subids_of(text, Some("bob"), 7), Ok(()));
        assert_eq!(check_subids_of(text, Some("carol"), 7), Ok(()));
        assert_eq!(check_subids_of(text, Some("dave"), 7).unwrap_err().0, 6);
        assert_eq!(check_subids_of(text, None, 0), Ok(()));
        // By uid, too, and a start past 32 bits.
        let by_uid = "1001:4294967295:2\n";
        assert_eq!(check_subids_of(by_uid, None, 1001).unwrap_err().0, 1);
        assert_eq!(check_subids_of(text, Some("eve"), 7).unwrap_err().0, 7);
        // Such lines never become ranges, so nothing downstream wraps.
        assert_eq!(subids_of(text, Some("alice"), 1000).len(), 1);
        assert!(subids_of(text, Some("dave"), 7).is_empty());
        assert_eq!(
            map_for(Mode::Subids, 1000, &subids_of(text, Some("bob"), 7)).unwrap(),
            [r(0, 1000, 1), r(1, 4294901759, 65536)]
        );
    }

    #[test]
    fn map_arithmetic_never_wraps() {
        // A range handed in by hand that runs past the last id is cut
        // there rather than wrapped.
        let past = [SubRange {
            start: 4294967290,
            count: 100,
        }];
        let m = map_for(Mode::Auto, 0, &past).unwrap();
        assert_eq!(m, [r(0, 4294967290, 5)]);
        assert!(check_map(&m).is_ok());
        let at_end = [SubRange {
            start: u32::MAX,
            count: 10,
        }];
        assert!(map_for(Mode::Auto, 0, &at_end).unwrap().is_empty());
        // Lookups in an unchecked map (from the kernel's text) never wrap.
        let wide = [r(10, 4294967200, 4294967295)];
        assert_eq!(outside_of(&wide, 10 + 200), None);
        assert_eq!(outside_of(&wide, 10 + 20), Some(4294967220));
        assert_eq!(inside_of(&[r(4294967200, 0, 4294967295)], 200), None);
        // A range past the last id that overlaps root's block is seen,
        // not skipped.
        let over = "eve:1879000000:3000000000\n";
        assert!(root_subids(over).unwrap_err().starts_with("eve:"));
        assert_eq!(free_block(&["eve:4294967000:65536\n"]), 100000);
    }

    #[test]
    fn root_uses_its_lines_else_the_block() {
        assert_eq!(root_subids(SUBUID).unwrap(), [AUTO_BLOCK]);
        let with_root = format!("{SUBUID}root:300000:65536\n");
        assert_eq!(root_subids(&with_root).unwrap()[0].start, 300000);
        let clash = format!("{SUBUID}eve:{}:10\n", AUTO_BLOCK.start + 100);
        assert!(root_subids(&clash).unwrap_err().starts_with("eve:"));
    }

    #[test]
    fn maps_per_mode() {
        let one = [SubRange {
            start: 100000,
            count: 65536,
        }];
        assert_eq!(map_for(Mode::Host, 1000, &one), None);
        assert_eq!(map_for(Mode::Root, 1000, &one).unwrap(), [r(0, 1000, 1)]);
        assert_eq!(
            map_for(Mode::Subids, 1000, &one).unwrap(),
            [r(0, 1000, 1), r(1, 100000, 65536)]
        );
        assert_eq!(map_for(Mode::Auto, 0, &one).unwrap(), [r(0, 100000, 65536)]);
        // keep-id: 0..999 and 1001..65536 from the block, 1000 itself.
        let keep = map_for(Mode::KeepId, 1000, &one).unwrap();
        assert_eq!(
            keep,
            [r(0, 100000, 1000), r(1000, 1000, 1), r(1001, 101000, 64536)]
        );
        assert!(check_map(&keep).is_ok());
        // Without subordinate ids, only the caller's own id.
        assert_eq!(
            map_for(Mode::KeepId, 1000, &[]).unwrap(),
            [r(1000, 1000, 1)]
        );
        // A caller whose id is above the block keeps it apart.
        assert_eq!(
            map_for(Mode::KeepId, 70000, &one).unwrap(),
            [r(0, 100000, 65536), r(70000, 70000, 1)]
        );
        // Fragmented ranges are laid end to end, 65536 ids in all.
        let frag = [
            SubRange {
                start: 5000,
                count: 10,
            },
            SubRange {
                start: 900000,
                count: 100000,
            },
        ];
        let m = map_for(Mode::Subids, 1000, &frag).unwrap();
        assert_eq!(m, [r(0, 1000, 1), r(1, 5000, 10), r(11, 900000, 65526)]);
        let keep = map_for(Mode::KeepId, 5, &frag).unwrap();
        assert_eq!(
            keep,
            [
                r(0, 5000, 5),
                r(5, 5, 1),
                r(6, 5005, 5),
                r(11, 900000, 65526)
            ]
        );
        assert!(check_map(&keep).is_ok());
    }

    #[test]
    fn the_init_keeps_the_callers_id_when_it_can() {
        assert_eq!(init_id(&[r(0, 1000, 1)], 1000), (0, false));
        assert_eq!(
            init_id(&[r(0, 100000, 1000), r(1000, 1000, 1)], 1000),
            (1000, false)
        );
        assert_eq!(init_id(&[r(0, 100000, 65536)], 0), (0, true));
        assert_eq!(init_id(&[r(5, 200000, 3)], 1000), (5, true));
        assert_eq!(inside_of(&[r(1, 100000, 10)], 100003), Some(4));
        assert_eq!(outside_of(&[r(1, 100000, 10)], 4), Some(100003));
        assert_eq!(outside_of(&[r(1, 100000, 10)], 11), None);
    }

    #[test]
    fn modes_by_name() {
        for m in [
            Mode::Auto,
            Mode::Root,
            Mode::KeepId,
            Mode::Subids,
            Mode::Host,
        ] {
            assert_eq!(m.to_string().parse::<Mode>(), Ok(m));
        }
        assert!("keepid".parse::<Mode>().is_err());
    }

    #[test]
    fn single_root_mapping() {
        assert_eq!(root_is(1000).line(), "0 1000 1\n");
        assert!(!maps_inside(&[root_is(1000)], 5));
        assert!(maps_inside(&[IDENTITY], 5));
        assert!(maps_inside(&[IDENTITY], u32::MAX - 1));
    }
}
