//! User and group id maps: the `inside outside count` triples of
//! `/proc/<pid>/uid_map` and `gid_map`.

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

/// The whole 32-bit id space mapped onto itself: what real root gets until
/// a narrower default is chosen (container root is host root).
pub const IDENTITY: IdRange = IdRange {
    inside: 0,
    outside: 0,
    count: u32::MAX,
};

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
    fn single_root_mapping() {
        assert_eq!(root_is(1000).line(), "0 1000 1\n");
        assert!(!maps_inside(&[root_is(1000)], 5));
        assert!(maps_inside(&[IDENTITY], 5));
        assert!(maps_inside(&[IDENTITY], u32::MAX - 1));
    }
}
