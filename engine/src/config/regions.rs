//! The AWS regions eksmgr knows, offline: the partitions the AWS SDK for Rust is built with,
//! each with its regions and the pattern its region names follow, and the check of a
//! configured region against them ([`check`]) with the known regions closest to a misspelt one
//! ([`closest`]).
//!
//! The data is the SDK's own: every `aws-sdk-*` crate embeds the same `partitions.json`
//! (smithy-rs's copy of the endpoint partitions, in the generated `src/endpoint_lib.rs`, the
//! `DEFAULT_PARTITION_RESOLVER`), which its endpoint resolver matches a region against: first
//! the region lists, then each partition's `regionRegex`. No public API of the SDK exposes it,
//! so the lists and patterns are copied here from the crates of this build (aws-sdk-sts 1.97,
//! aws-sdk-eks 1.122); the global pseudo-regions (`aws-global` ...) are left out, as no EKS
//! cluster or state bucket lives there. The regions and their names:
//! <https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html>.
//!
//! A region in no list but of a partition's pattern may be a region opened after this build,
//! or a typo: the pattern alone accepts `us-nowhere-9`. AWS names a region after its
//! geographic area and a compass direction (`us-east-1`, `ap-southeast-7`, `ca-central-1`), so
//! a region of a partition's pattern whose middle word is such a direction is taken as a newer
//! region (a warning: the configuration still validates), and anything else is refused with
//! the known regions closest to it.

/// An AWS partition: its id, the region names its pattern allows, and its regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// `aws`, `aws-cn`, `aws-us-gov` ...
    pub id: &'static str,
    /// The partition's `regionRegex`, `^(P1|P2|...)\-\w+\-\d+$`, as its alternatives `P1`,
    /// `P2` ...: a region of the partition is one of them, a dash, a word, a dash and a number.
    pub prefixes: &'static [&'static str],
    /// The regions of the partition, sorted.
    pub regions: &'static [&'static str],
}

/// The partitions of the AWS SDK this eksmgr is built with (see the module documentation).
pub const PARTITIONS: &[Partition] = &[
    Partition {
        id: "aws",
        // ^(us|eu|ap|sa|ca|me|af|il|mx)\-\w+\-\d+$
        prefixes: &["us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx"],
        regions: &[
            "af-south-1",
            "ap-east-1",
            "ap-east-2",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ap-south-1",
            "ap-south-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ap-southeast-4",
            "ap-southeast-5",
            "ap-southeast-6",
            "ap-southeast-7",
            "ca-central-1",
            "ca-west-1",
            "eu-central-1",
            "eu-central-2",
            "eu-north-1",
            "eu-south-1",
            "eu-south-2",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "il-central-1",
            "me-central-1",
            "me-south-1",
            "mx-central-1",
            "sa-east-1",
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
        ],
    },
    Partition {
        id: "aws-cn",
        // ^cn\-\w+\-\d+$
        prefixes: &["cn"],
        regions: &["cn-north-1", "cn-northwest-1"],
    },
    Partition {
        id: "aws-eusc",
        // ^eusc\-(de)\-\w+\-\d+$
        prefixes: &["eusc-de"],
        regions: &["eusc-de-east-1"],
    },
    Partition {
        id: "aws-iso",
        // ^us\-iso\-\w+\-\d+$
        prefixes: &["us-iso"],
        regions: &["us-iso-east-1", "us-iso-west-1"],
    },
    Partition {
        id: "aws-iso-b",
        // ^us\-isob\-\w+\-\d+$
        prefixes: &["us-isob"],
        regions: &["us-isob-east-1", "us-isob-west-1"],
    },
    Partition {
        id: "aws-iso-e",
        // ^eu\-isoe\-\w+\-\d+$
        prefixes: &["eu-isoe"],
        regions: &["eu-isoe-west-1"],
    },
    Partition {
        id: "aws-iso-f",
        // ^us\-isof\-\w+\-\d+$
        prefixes: &["us-isof"],
        regions: &["us-isof-east-1", "us-isof-south-1"],
    },
    Partition {
        id: "aws-us-gov",
        // ^us\-gov\-\w+\-\d+$
        prefixes: &["us-gov"],
        regions: &["us-gov-east-1", "us-gov-west-1"],
    },
];

/// The compass directions AWS names regions after (the middle word of `us-east-1`).
const DIRECTIONS: &[&str] = &[
    "east",
    "west",
    "north",
    "south",
    "central",
    "northeast",
    "northwest",
    "southeast",
    "southwest",
];

/// What a region name is to this build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionCheck {
    /// A region of the partition's list.
    Known(&'static Partition),
    /// In no list, but named like the partition's regions (its pattern, and a compass
    /// direction): a region newer than this build, or a typo.
    Unlisted(&'static Partition),
    /// Not a region of any partition.
    Unknown,
}

/// What `region` is: known, unlisted (newer than this build) or unknown (see the module
/// documentation).
pub fn check(region: &str) -> RegionCheck {
    if let Some(p) = PARTITIONS.iter().find(|p| p.regions.contains(&region)) {
        return RegionCheck::Known(p);
    }
    PARTITIONS
        .iter()
        .find_map(|p| {
            let word = p
                .prefixes
                .iter()
                .find_map(|prefix| pattern_word(region, prefix))?;
            DIRECTIONS
                .contains(&word)
                .then_some(RegionCheck::Unlisted(p))
        })
        .unwrap_or(RegionCheck::Unknown)
}

/// The word of `region` when it is `PREFIX-WORD-NUMBER` (`\w+` and `\d+` of the partition
/// pattern).
fn pattern_word<'r>(region: &'r str, prefix: &str) -> Option<&'r str> {
    let (word, number) = region
        .strip_prefix(prefix)?
        .strip_prefix('-')?
        .split_once('-')?;
    let is_word = !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let is_number = !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit());
    (is_word && is_number).then_some(word)
}

/// Up to `n` known regions closest to `region`: those of its geographic area (`us` in
/// `us-nowhere-9`) first, then by fewest character edits, then by name.
pub fn closest(region: &str, n: usize) -> Vec<&'static str> {
    let area = |r: &str| r.split('-').next().unwrap_or_default().to_string();
    let wanted = area(region);
    let mut all: Vec<(bool, usize, &'static str)> = PARTITIONS
        .iter()
        .flat_map(|p| p.regions.iter())
        .map(|r| (area(r) != wanted, edit_distance(region, r), *r))
        .collect();
    all.sort_unstable();
    all.into_iter().take(n).map(|(_, _, r)| r).collect()
}

/// The Levenshtein distance between `a` and `b`, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(check: RegionCheck) -> Option<&'static str> {
        match check {
            RegionCheck::Known(p) | RegionCheck::Unlisted(p) => Some(p.id),
            RegionCheck::Unknown => None,
        }
    }

    #[test]
    fn known_regions_are_found_in_their_partition() {
        for (region, id) in [
            ("us-east-1", "aws"),
            ("ap-southeast-7", "aws"),
            ("mx-central-1", "aws"),
            ("cn-northwest-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-isob-east-1", "aws-iso-b"),
            ("eusc-de-east-1", "aws-eusc"),
        ] {
            let c = check(region);
            assert!(matches!(c, RegionCheck::Known(_)), "{region}: {c:?}");
            assert_eq!(partition(c), Some(id), "{region}");
        }
    }

    #[test]
    fn a_region_named_like_a_partitions_regions_is_unlisted_not_unknown() {
        // Newer than this build, maybe: the partition's pattern and a compass direction.
        for (region, id) in [
            ("us-east-3", "aws"),
            ("eu-southwest-1", "aws"),
            ("ap-central-12", "aws"),
            ("cn-south-1", "aws-cn"),
            ("us-gov-central-1", "aws-us-gov"),
            ("us-iso-south-1", "aws-iso"),
        ] {
            let c = check(region);
            assert!(matches!(c, RegionCheck::Unlisted(_)), "{region}: {c:?}");
            assert_eq!(partition(c), Some(id), "{region}");
        }
    }

    #[test]
    fn a_region_of_no_partition_is_unknown() {
        for region in [
            // The aws pattern accepts it; no region is named so.
            "us-nowhere-9",
            "eu-wset-1",
            // No partition's pattern.
            "xx-east-1",
            "us-east",
            "us-east-1a",
            "us-gov-east",
            "aws-global",
            "",
        ] {
            assert_eq!(check(region), RegionCheck::Unknown, "{region}");
        }
    }

    #[test]
    fn the_closest_known_regions_come_first() {
        assert_eq!(closest("eu-wset-1", 1), ["eu-west-1"]);
        assert_eq!(closest("us-east-3", 2), ["us-east-1", "us-east-2"]);
        assert_eq!(closest("us-nowhere-9", 3).len(), 3);
        assert!(
            closest("us-nowhere-9", 3)
                .iter()
                .all(|r| r.starts_with("us-"))
        );
        // The area first, however far its regions are spelt.
        assert_eq!(closest("sa-nowhere-1", 1), ["sa-east-1"]);
        // No region of the area: the closest spelt.
        assert!(
            closest("xx-east-1", 3)
                .iter()
                .all(|r| r.ends_with("-east-1"))
        );
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn the_lists_are_sorted_and_named_by_their_partitions_pattern() {
        for p in PARTITIONS {
            assert!(p.regions.is_sorted(), "{}", p.id);
            for r in p.regions {
                assert!(
                    p.prefixes
                        .iter()
                        .any(|prefix| pattern_word(r, prefix).is_some()),
                    "{r} does not follow the pattern of {}",
                    p.id
                );
            }
        }
    }
}
