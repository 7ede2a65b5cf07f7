//! The addresses a key may be used from: an allowlist of IPv4 and IPv6 CIDR blocks.
//!
//! An administrator sends CIDR blocks (`10.0.0.0/8`, `2001:db8::/32`) or bare addresses (a
//! single host); [`IpAllowlist::parse`] normalises them and SQLite keeps the canonical strings
//! ([`IpAllowlist::entries`]). An empty list admits any address.
//!
//! # Encoded layout
//!
//! The verification record holds the list as one line that [`allows`] scans without
//! allocating ([`IpAllowlist::encode`] writes it):
//!
//! ```text
//! 0a000000/8 20010db8000000000000000000000000/32 c0a80001/32
//! ```
//!
//! * entries are separated by one space, in the order of the canonical list;
//! * an entry is `HEX/PREFIX`: the block's network in lowercase hexadecimal, 8 digits for
//!   IPv4 and 32 for IPv6 (so the length tells the family), then `/` and the prefix length in
//!   decimal without leading zeros, at most 32 or 128; host bits are zero;
//! * an empty line is the empty list: any address, even none;
//! * `-` alone is a list that admits no address, which only [`IpAllowlist::meet`] makes (two
//!   lists without a common address).
//!
//! The line never holds a line break. [`allows`] refuses every address when any entry of a
//! non-empty line departs from this layout (fail closed).

use crate::error::Error;
use serde::Serialize;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Most entries an allowlist may hold.
pub const MAX_ENTRIES: usize = 100;
/// The request field, named in every error.
const FIELD: &str = "ip_allowlist";
/// The encoded line of a list that admits no address.
const DENY_ALL_MARKER: &str = "-";
/// Separates the entries of an encoded line.
const ENTRY_SEPARATOR: char = ' ';
/// Separates an address from its prefix length, in both forms.
const PREFIX_SEPARATOR: char = '/';
/// Longest prefix length, in digits.
const MAX_PREFIX_DIGITS: usize = 3;
/// The prefix length of `::ffff:0:0/96`, the IPv6 block holding the IPv4-mapped addresses.
const IPV4_MAPPED_PREFIX: u8 = 96;
/// Most characters of a refused entry repeated in an error.
const SHOWN_CHARS: usize = 100;

/// A normalised allowlist (parse-don't-validate): distinct CIDR blocks in the order given, or
/// the list admitting no address that [`IpAllowlist::meet`] can give. Serializes as a JSON
/// array of canonical strings. The default is the empty list, which admits any address.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IpAllowlist {
    blocks: Vec<Block>,
    /// Set with no blocks: the meet of two lists without a common address. Kept apart from
    /// the empty list, which admits everything.
    deny_all: bool,
}

impl IpAllowlist {
    /// Parses what an administrator sent (the items of the JSON array): CIDR blocks or bare
    /// addresses, IPv4 or IPv6, at most [`MAX_ENTRIES`]. Refuses (422, naming the field and the
    /// entry) empty strings, whitespace, IPv4 octets with leading zeros, zone ids
    /// (`fe80::1%eth0`), a prefix length with a sign or leading zeros (`/08`) or longer than
    /// the family's addresses.
    pub fn parse(entries: &[String]) -> Result<Self, Error> {
        if entries.len() > MAX_ENTRIES {
            return Err(Error::invalid(format!(
                "{FIELD} may hold at most {MAX_ENTRIES} entries (got {})",
                entries.len()
            )));
        }
        let mut blocks = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let block = Block::parse(entry)
                .map_err(|problem| Error::invalid(format!("{FIELD}[{index}]: {problem}")))?;
            if !blocks.contains(&block) {
                blocks.push(block);
            }
        }
        Ok(Self {
            blocks,
            deny_all: false,
        })
    }

    /// Canonical strings, in the order given, exact duplicates (after normalisation) removed:
    /// always `address/prefix` (a bare IPv4 address gets `/32`, IPv6 `/128`), host bits
    /// cleared (`10.1.2.3/8` is `10.0.0.0/8`), IPv6 in RFC 5952 form, and an IPv4-mapped
    /// block `::ffff:a.b.c.d/n` with n ≥ 96 written as the IPv4 block `a.b.c.d/(n-96)`.
    /// None for the list admitting no address, which has no list form (see [`Self::encode`]).
    pub fn entries(&self) -> Vec<String> {
        self.blocks.iter().map(Block::to_string).collect()
    }

    /// Whether the list is empty, i.e. admits any address (false for the list admitting none).
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty() && !self.deny_all
    }

    /// Reads back the canonical strings as SQLite holds them; `None` if one is not exactly as
    /// [`Self::entries`] writes it (or repeats an earlier one).
    pub fn from_canonical(entries: &[String]) -> Option<Self> {
        let list = Self::parse(entries).ok()?;
        let canonical = list.blocks.len() == entries.len()
            && list
                .blocks
                .iter()
                .zip(entries)
                .all(|(block, entry)| block.to_string() == *entry);
        canonical.then_some(list)
    }

    /// The line of the verification record read by [`allows`] (layout in the module docs):
    /// empty for the empty list, `-` for the list admitting no address.
    pub fn encode(&self) -> String {
        if self.deny_all {
            return DENY_ALL_MARKER.to_owned();
        }
        let longest_entry = Family::V6.hex_digits() + 1 + MAX_PREFIX_DIGITS + 1;
        let mut line = String::with_capacity(self.blocks.len() * longest_entry);
        for (i, block) in self.blocks.iter().enumerate() {
            if i > 0 {
                line.push(ENTRY_SEPARATOR);
            }
            block.encode_into(&mut line);
        }
        line
    }

    /// The list admitting exactly the addresses that both `self` and `other` admit. The empty
    /// list leaves the other side as it is; two lists without a common address give the list
    /// admitting none.
    ///
    /// Two blocks either nest or are disjoint, so the common part of two lists is the narrower
    /// block of every overlapping pair: every block of `self` inside a block of `other`, then
    /// every block of `other` inside a block of `self` that the kept blocks do not already
    /// cover. The result may hold more than [`MAX_ENTRIES`] blocks (up to twice as many).
    pub fn meet(&self, other: &Self) -> Self {
        if self.is_empty() {
            return other.clone();
        }
        if other.is_empty() {
            return self.clone();
        }
        let within = |block: &Block, list: &[Block]| list.iter().any(|outer| outer.covers(block));
        let mut blocks: Vec<Block> = self
            .blocks
            .iter()
            .filter(|block| within(block, &other.blocks))
            .copied()
            .collect();
        for block in &other.blocks {
            if within(block, &self.blocks) && !within(block, &blocks) {
                blocks.push(*block);
            }
        }
        Self {
            deny_all: blocks.is_empty(),
            blocks,
        }
    }
}

impl Serialize for IpAllowlist {
    /// The canonical strings; fails for the list admitting no address, which `[]` (any
    /// address) would misrepresent.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.deny_all {
            return Err(serde::ser::Error::custom(
                "an allowlist admitting no address has no list form",
            ));
        }
        self.entries().serialize(s)
    }
}

/// The hot path: whether the encoded allowlist line `encoded` (as written by
/// [`IpAllowlist::encode`]) admits `ip`, the caller's address as a gateway sends it (a bare
/// IPv4 or IPv6 address; an IPv4-mapped IPv6 address `::ffff:1.2.3.4` is checked as IPv4).
///
/// An empty line admits any address, even when `ip` is `None` or malformed. A non-empty line
/// refuses `None`, a malformed `ip` and an address in none of its blocks. A malformed line,
/// or one malformed entry, admits nothing (fail closed). No allocation.
pub fn allows(encoded: &str, ip: Option<&str>) -> bool {
    if encoded.is_empty() {
        return true;
    }
    // The marker would fail to decode anyway; saying so keeps the meaning independent of it.
    if encoded == DENY_ALL_MARKER {
        return false;
    }
    let Some((family, address)) = ip.and_then(caller_address) else {
        return false;
    };
    // Every entry is decoded, even after a match, so that a damaged line admits nothing.
    let mut admitted = false;
    for entry in encoded.split(ENTRY_SEPARATOR) {
        let Some(block) = Block::decode(entry) else {
            return false;
        };
        admitted |= block.admits(family, address);
    }
    admitted
}

/// The family and the value of the caller's address; an IPv4-mapped IPv6 address is IPv4.
fn caller_address(ip: &str) -> Option<(Family, u128)> {
    let address = match ip.parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => (Family::V4, u32::from(v4).into()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => (Family::V4, u32::from(v4).into()),
            None => (Family::V6, u128::from(v6)),
        },
    };
    Some(address)
}

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    /// Bits of an address.
    const fn bits(self) -> u8 {
        match self {
            Self::V4 => 32,
            Self::V6 => 128,
        }
    }

    /// Hexadecimal digits of an encoded network.
    const fn hex_digits(self) -> usize {
        self.bits() as usize / 4
    }

    /// The family whose encoded networks have `digits` hexadecimal digits.
    fn of_hex_digits(digits: usize) -> Option<Self> {
        [Self::V4, Self::V6]
            .into_iter()
            .find(|family| family.hex_digits() == digits)
    }

    const fn name(self) -> &'static str {
        match self {
            Self::V4 => "IPv4",
            Self::V6 => "IPv6",
        }
    }
}

/// One CIDR block: its family, its network (host bits zero; an IPv4 one in the low 32 bits)
/// and its prefix length (at most the family's bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Block {
    family: Family,
    network: u128,
    prefix: u8,
}

impl Block {
    /// The block of `address` with this prefix length (at most the family's bits), host bits
    /// cleared.
    fn new(family: Family, address: u128, prefix: u8) -> Self {
        Self {
            family,
            network: address & mask(family, prefix),
            prefix,
        }
    }

    /// Parses one entry as an administrator sent it; the error says what is wrong with it.
    fn parse(entry: &str) -> Result<Self, String> {
        let shown: String = entry.chars().take(SHOWN_CHARS).collect();
        if entry.is_empty() {
            return Err("an empty string is not an IPv4 or IPv6 address or CIDR block".into());
        }
        if entry.contains(char::is_whitespace) {
            return Err(format!("`{shown}` must not contain whitespace"));
        }
        let (address, prefix) = match entry.split_once(PREFIX_SEPARATOR) {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (entry, None),
        };
        if address.contains('%') {
            return Err(format!(
                "`{shown}` has a zone id, which an allowlist cannot use"
            ));
        }
        let (family, value) = match address.parse::<IpAddr>() {
            Ok(IpAddr::V4(v4)) => (Family::V4, u128::from(u32::from(v4))),
            Ok(IpAddr::V6(v6)) => (Family::V6, u128::from(v6)),
            Err(_) => {
                return Err(format!(
                    "`{shown}` is not an IPv4 or IPv6 address or CIDR block"
                ));
            }
        };
        let prefix = match prefix {
            None => u16::from(family.bits()),
            Some(digits) => prefix_length(digits.as_bytes()).ok_or_else(|| {
                format!(
                    "`{shown}` has a malformed prefix length (decimal digits, \
                     without sign or leading zeros)"
                )
            })?,
        };
        let prefix = u8::try_from(prefix)
            .ok()
            .filter(|&p| p <= family.bits())
            .ok_or_else(|| {
                format!(
                    "prefix length {prefix} is longer than {} for {}",
                    family.bits(),
                    family.name()
                )
            })?;
        if family == Family::V6 && prefix >= IPV4_MAPPED_PREFIX {
            // The prefix keeps `::ffff:0:0/96` whole, so the block holds IPv4-mapped
            // addresses only: they are checked as IPv4, so it is written as IPv4.
            if let Some(v4) = Ipv6Addr::from(value).to_ipv4_mapped() {
                let v4 = u128::from(u32::from(v4));
                return Ok(Self::new(Family::V4, v4, prefix - IPV4_MAPPED_PREFIX));
            }
        }
        Ok(Self::new(family, value, prefix))
    }

    /// Reads one entry of an encoded line; `None` unless it is exactly as
    /// [`Block::encode_into`] writes it.
    fn decode(entry: &str) -> Option<Self> {
        let (hex, prefix) = entry.split_once(PREFIX_SEPARATOR)?;
        let family = Family::of_hex_digits(hex.len())?;
        let prefix = prefix_length(prefix.as_bytes())
            .and_then(|p| u8::try_from(p).ok())
            .filter(|&p| p <= family.bits())?;
        let network = hex_value(hex.as_bytes())?;
        (network & !mask(family, prefix) == 0).then_some(Self {
            family,
            network,
            prefix,
        })
    }

    /// Appends the encoded entry (layout in the module docs) to `line`.
    fn encode_into(&self, line: &mut String) {
        use std::fmt::Write as _;
        // Writing into a `String` cannot fail.
        let _ = write!(
            line,
            "{:0width$x}{PREFIX_SEPARATOR}{}",
            self.network,
            self.prefix,
            width = self.family.hex_digits()
        );
    }

    /// Whether this block holds `address` of `family`.
    fn admits(&self, family: Family, address: u128) -> bool {
        self.family == family && address & mask(family, self.prefix) == self.network
    }

    /// Whether every address of `other` is in this block.
    fn covers(&self, other: &Self) -> bool {
        self.prefix <= other.prefix && self.admits(other.family, other.network)
    }
}

impl fmt::Display for Block {
    /// The canonical string: `address/prefix`, IPv6 in RFC 5952 form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.family {
            // An IPv4 network holds 32 bits: the cast keeps all of them.
            Family::V4 => write!(f, "{}", Ipv4Addr::from(self.network as u32))?,
            Family::V6 => write!(f, "{}", Ipv6Addr::from(self.network))?,
        }
        write!(f, "{PREFIX_SEPARATOR}{}", self.prefix)
    }
}

/// The network mask of a prefix length (at most the family's bits), in the family's bits.
fn mask(family: Family, prefix: u8) -> u128 {
    let all = u128::MAX >> (128 - u32::from(family.bits()));
    // A zero prefix shifts by the whole width: no network bits.
    all & u128::MAX
        .checked_shl(u32::from(family.bits() - prefix))
        .unwrap_or(0)
}

/// A prefix length in decimal: `0`, or one to three digits without a leading zero. Written
/// out rather than `str::parse`, which accepts a `+`.
fn prefix_length(digits: &[u8]) -> Option<u16> {
    let canonical = match digits {
        [b'0'] => true,
        [b'1'..=b'9', rest @ ..] => {
            rest.len() < MAX_PREFIX_DIGITS && rest.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    };
    canonical.then(|| {
        digits
            .iter()
            .fold(0, |value, digit| value * 10 + u16::from(digit - b'0'))
    })
}

/// The value of lowercase hexadecimal digits (at most 32). Written out rather than
/// `u128::from_str_radix`, which accepts a `+` and capitals and is slower.
fn hex_value(digits: &[u8]) -> Option<u128> {
    digits.iter().try_fold(0u128, |value, &digit| {
        let nibble = match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            _ => return None,
        };
        Some(value << 4 | u128::from(nibble))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|e| e.to_string()).collect()
    }

    fn list(entries: &[&str]) -> IpAllowlist {
        IpAllowlist::parse(&strings(entries)).unwrap()
    }

    fn canonical(entries: &[&str]) -> Vec<String> {
        list(entries).entries()
    }

    fn refusal(entries: &[&str]) -> String {
        let err = IpAllowlist::parse(&strings(entries)).unwrap_err();
        assert_eq!((err.status(), err.code()), (422, "validation_failed"));
        err.to_string()
    }

    /// The decision as verify-key takes it: from the encoded line.
    fn admits(list: &IpAllowlist, ip: &str) -> bool {
        allows(&list.encode(), Some(ip))
    }

    /// A tiny xorshift64, for repeatable pseudo-random cases without a dependency.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn wide(&mut self) -> u128 {
            u128::from(self.next()) << 64 | u128::from(self.next())
        }
    }

    /// The address `base` with some of its bits, around bit `prefix` from the top, flipped:
    /// near the block of `base` with that prefix, inside or outside.
    fn near(rng: &mut XorShift, base: u128, bits: u8, prefix: u8) -> u128 {
        let mut address = base;
        for _ in 0..rng.below(3) {
            let lo = u64::from(prefix.saturating_sub(2));
            let hi = u64::from(bits).min(u64::from(prefix) + 3);
            let bit = (lo + rng.below(hi - lo)) as u32;
            if bit < u32::from(bits) {
                address ^= 1 << (u32::from(bits) - 1 - bit);
            }
        }
        if rng.below(2) == 0 {
            // Random host bits.
            address ^= rng.wide() & !mask_bits(bits, prefix);
        }
        address
            & mask_bits(bits, 0)
                .wrapping_neg()
                .wrapping_sub(1)
                .max(mask_bits(bits, bits))
    }

    fn mask_bits(bits: u8, prefix: u8) -> u128 {
        let family = if bits == 32 { Family::V4 } else { Family::V6 };
        mask(family, prefix)
    }

    /// A naive check of `ip` against canonical strings, bit by bit from std's octets.
    fn naive_allows(entries: &[String], ip: &str) -> bool {
        let caller: Vec<u8> = match ip.parse::<IpAddr>().unwrap() {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.octets().to_vec(),
                None => v6.octets().to_vec(),
            },
        };
        let bit = |bytes: &[u8], i: usize| bytes[i / 8] >> (7 - i % 8) & 1;
        entries.iter().any(|entry| {
            let (address, prefix) = entry.split_once('/').unwrap();
            let network: Vec<u8> = match address.parse::<IpAddr>().unwrap() {
                IpAddr::V4(v4) => v4.octets().to_vec(),
                IpAddr::V6(v6) => v6.octets().to_vec(),
            };
            let prefix: usize = prefix.parse().unwrap();
            network.len() == caller.len()
                && (0..prefix).all(|i| bit(&network, i) == bit(&caller, i))
        })
    }

    fn v4_text(value: u128) -> String {
        Ipv4Addr::from(value as u32).to_string()
    }

    fn v6_text(value: u128) -> String {
        Ipv6Addr::from(value).to_string()
    }

    /// A random list of `n` blocks (half IPv4, prefixes of every length) and its blocks.
    fn random_list(rng: &mut XorShift, n: usize) -> (IpAllowlist, Vec<(u8, u128, u8)>) {
        let mut texts = Vec::new();
        let mut blocks = Vec::new();
        for _ in 0..n {
            if rng.below(2) == 0 {
                // Few distinct high bits, so that random blocks often nest.
                let address = u128::from(rng.next() as u32 & 0xc0ff_ffff | 0x0a00_0000);
                let prefix = rng.below(33) as u8;
                texts.push(format!("{}/{prefix}", v4_text(address)));
                blocks.push((32, address, prefix));
            } else {
                let address = rng.wide() & !(u128::from(u64::MAX) << 64) | 0x2001_0db8 << 96;
                let prefix = rng.below(129) as u8;
                texts.push(format!("{}/{prefix}", v6_text(address)));
                blocks.push((128, address, prefix));
            }
        }
        (IpAllowlist::parse(&texts).unwrap(), blocks)
    }

    /// Addresses near the blocks, inside and outside, written as a gateway would send them.
    fn probes(rng: &mut XorShift, blocks: &[(u8, u128, u8)], n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                let (bits, base, prefix) = blocks[rng.below(blocks.len() as u64) as usize];
                let address = near(rng, base, bits, prefix);
                match (bits, rng.below(4)) {
                    (32, 0) => format!("::ffff:{}", v4_text(address)),
                    (32, _) => v4_text(address),
                    _ => v6_text(address),
                }
            })
            .collect()
    }

    #[test]
    fn bare_addresses_become_single_host_blocks() {
        assert_eq!(
            canonical(&["192.168.1.10", "2001:db8::1", "10.0.0.0/8"]),
            ["192.168.1.10/32", "2001:db8::1/128", "10.0.0.0/8"]
        );
    }

    #[test]
    fn host_bits_are_cleared() {
        assert_eq!(
            canonical(&[
                "10.1.2.3/8",
                "192.168.77.200/20",
                "10.1.2.3/0",
                "2001:db8:abcd:12::9/33"
            ]),
            [
                "10.0.0.0/8",
                "192.168.64.0/20",
                "0.0.0.0/0",
                "2001:db8:8000::/33"
            ]
        );
    }

    #[test]
    fn ipv6_blocks_are_written_in_rfc_5952_form() {
        assert_eq!(
            canonical(&[
                "2001:0DB8:0000:0000:0000:0000:0000:0001",
                "2001:db8:0:0:1:0:0:1/128",
                "::/0",
                "FE80::/10",
                "::1"
            ]),
            [
                "2001:db8::1/128",
                "2001:db8::1:0:0:1/128",
                "::/0",
                "fe80::/10",
                "::1/128"
            ]
        );
    }

    #[test]
    fn duplicates_after_normalisation_are_removed_keeping_the_first_place() {
        assert_eq!(
            canonical(&[
                "10.0.0.0/8",
                "192.0.2.1",
                "10.9.9.9/8",
                "192.0.2.1/32",
                "2001:DB8::/32",
                "::ffff:192.0.2.1",
                "2001:db8::/32",
                "10.0.0.0/9"
            ]),
            ["10.0.0.0/8", "192.0.2.1/32", "2001:db8::/32", "10.0.0.0/9"]
        );
    }

    #[test]
    fn ipv4_mapped_blocks_become_ipv4_blocks() {
        assert_eq!(
            canonical(&[
                "::ffff:192.0.2.1",
                "::ffff:10.1.2.3/104",
                "::ffff:0:0/96",
                "::ffff:c000:0201/127"
            ]),
            ["192.0.2.1/32", "10.0.0.0/8", "0.0.0.0/0", "192.0.2.0/31"]
        );
        assert_eq!(
            canonical(&["::ffff:10.1.2.3/95", "::ffff:0:0/80"]),
            ["::fffe:0:0/95", "::/80"],
            "a shorter prefix reaches beyond the mapped addresses: it stays IPv6"
        );
    }

    #[test]
    fn malformed_entries_are_refused_naming_the_field_and_the_entry() {
        for (entry, problem) in [
            (
                "",
                "an empty string is not an IPv4 or IPv6 address or CIDR block",
            ),
            (
                "10.0.0.300/8",
                "`10.0.0.300/8` is not an IPv4 or IPv6 address or CIDR block",
            ),
            (" 10.0.0.1", "` 10.0.0.1` must not contain whitespace"),
            ("10.0.0.1 ", "`10.0.0.1 ` must not contain whitespace"),
            ("10.0.0.0/ 8", "`10.0.0.0/ 8` must not contain whitespace"),
            ("10.0.\t0.1", "`10.0.\t0.1` must not contain whitespace"),
            ("10.0.0.0/8\n", "`10.0.0.0/8\n` must not contain whitespace"),
            (
                "010.0.0.1",
                "`010.0.0.1` is not an IPv4 or IPv6 address or CIDR block",
            ),
            (
                "10.0.0.01/32",
                "`10.0.0.01/32` is not an IPv4 or IPv6 address or CIDR block",
            ),
            (
                "1.2.3",
                "`1.2.3` is not an IPv4 or IPv6 address or CIDR block",
            ),
            (
                "[::1]",
                "`[::1]` is not an IPv4 or IPv6 address or CIDR block",
            ),
            (
                "2001:db8::g",
                "`2001:db8::g` is not an IPv4 or IPv6 address or CIDR block",
            ),
            ("/8", "`/8` is not an IPv4 or IPv6 address or CIDR block"),
            (
                "localhost",
                "`localhost` is not an IPv4 or IPv6 address or CIDR block",
            ),
            (
                "fe80::1%eth0",
                "`fe80::1%eth0` has a zone id, which an allowlist cannot use",
            ),
            (
                "fe80::%1/64",
                "`fe80::%1/64` has a zone id, which an allowlist cannot use",
            ),
        ] {
            assert_eq!(
                refusal(&["192.0.2.1", entry]),
                format!("ip_allowlist[1]: {problem}"),
                "{entry:?}"
            );
        }
        for entry in [
            "10.0.0.0/08",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "10.0.0.0/",
            "10.0.0.0/8/8",
            "10.0.0.0/x",
            "10.0.0.0/0x8",
            "2001:db8::/0032",
            "2001:db8::/1000",
        ] {
            assert_eq!(
                refusal(&[entry]),
                format!(
                    "ip_allowlist[0]: `{entry}` has a malformed prefix length (decimal \
                     digits, without sign or leading zeros)"
                )
            );
        }
    }

    #[test]
    fn a_long_refused_entry_is_shown_cut_short() {
        let entry = "9".repeat(10_000);
        let message = refusal(&[&entry]);
        assert!(message.contains(&"9".repeat(SHOWN_CHARS)));
        assert!(!message.contains(&"9".repeat(SHOWN_CHARS + 1)));
    }

    #[test]
    fn a_prefix_longer_than_the_family_s_addresses_is_refused() {
        assert_eq!(
            refusal(&["10.0.0.0/33"]),
            "ip_allowlist[0]: prefix length 33 is longer than 32 for IPv4"
        );
        assert_eq!(
            refusal(&["10.0.0.0/8", "2001:db8::/129"]),
            "ip_allowlist[1]: prefix length 129 is longer than 128 for IPv6"
        );
        assert_eq!(
            refusal(&["::ffff:10.0.0.0/999"]),
            "ip_allowlist[0]: prefix length 999 is longer than 128 for IPv6"
        );
        assert_eq!(
            canonical(&["10.0.0.1/32", "::1/128"]),
            ["10.0.0.1/32", "::1/128"]
        );
    }

    #[test]
    fn a_list_holds_at_most_100_entries() {
        let hosts: Vec<String> = (0..=MAX_ENTRIES).map(|i| format!("10.0.0.{i}")).collect();
        assert_eq!(
            IpAllowlist::parse(&hosts[..MAX_ENTRIES])
                .unwrap()
                .entries()
                .len(),
            MAX_ENTRIES
        );
        let err = IpAllowlist::parse(&hosts).unwrap_err();
        assert_eq!(
            (err.status(), err.to_string().as_str()),
            (422, "ip_allowlist may hold at most 100 entries (got 101)")
        );
        let repeated = vec!["10.0.0.1".to_string(); MAX_ENTRIES + 1];
        assert!(
            IpAllowlist::parse(&repeated).is_err(),
            "the limit counts the entries as sent"
        );
    }

    #[test]
    fn the_encoded_line_has_the_documented_layout() {
        let list = list(&[
            "10.1.2.3/8",
            "2001:db8::/32",
            "192.168.0.1",
            "::/0",
            "0.0.0.0/0",
        ]);
        assert_eq!(
            list.encode(),
            "0a000000/8 20010db8000000000000000000000000/32 c0a80001/32 \
             00000000000000000000000000000000/0 00000000/0"
        );
        assert_eq!(IpAllowlist::default().encode(), "");
        let hosts: Vec<String> = (0..MAX_ENTRIES)
            .map(|i| format!("2001:db8::{i:x}"))
            .collect();
        let line = IpAllowlist::parse(&hosts).unwrap().encode();
        assert!(!line.contains(['\n', '\r']));
        assert_eq!(line.split(' ').count(), MAX_ENTRIES);
    }

    #[test]
    fn an_empty_list_admits_any_address_even_a_missing_or_malformed_one() {
        let any = IpAllowlist::parse(&[]).unwrap();
        assert!(any.is_empty());
        assert_eq!(any, IpAllowlist::default());
        for ip in [
            Some("10.0.0.1"),
            Some("::1"),
            Some("not an address"),
            Some(""),
            None,
        ] {
            assert!(allows("", ip), "{ip:?}");
        }
    }

    #[test]
    fn a_non_empty_list_refuses_a_missing_or_malformed_caller_address() {
        let line = list(&["0.0.0.0/0", "::/0"]).encode();
        for ip in [
            None,
            Some(""),
            Some("not an address"),
            Some("10.0.0.1 "),
            Some("010.0.0.1"),
            Some("10.0.0.1/32"),
            Some("[::1]"),
            Some("fe80::1%eth0"),
            Some("10.0.0.1:443"),
        ] {
            assert!(!allows(&line, ip), "{ip:?}");
        }
        assert!(allows(&line, Some("10.0.0.1")));
        assert!(allows(&line, Some("fe80::1")));
    }

    #[test]
    fn an_ipv4_block_admits_its_first_and_last_address_and_nothing_just_outside() {
        let list = list(&["192.168.4.0/22", "10.0.0.7"]);
        for (ip, admitted) in [
            ("192.168.3.255", false),
            ("192.168.4.0", true),
            ("192.168.5.17", true),
            ("192.168.7.255", true),
            ("192.168.8.0", false),
            ("10.0.0.6", false),
            ("10.0.0.7", true),
            ("10.0.0.8", false),
            ("::ffff:192.168.7.255", true),
            ("::ffff:192.168.8.0", false),
            ("::ffff:10.0.0.7", true),
            ("::c0a8:400", false),
            ("2001:db8::1", false),
        ] {
            assert_eq!(admits(&list, ip), admitted, "{ip}");
        }
    }

    #[test]
    fn an_ipv6_block_admits_its_first_and_last_address_and_nothing_just_outside() {
        let list = list(&["2001:db8:1::/48", "2001:db8::7"]);
        for (ip, admitted) in [
            ("2001:db8:0:ffff:ffff:ffff:ffff:ffff", false),
            ("2001:db8:1::", true),
            ("2001:db8:1:2:3:4:5:6", true),
            ("2001:db8:1:ffff:ffff:ffff:ffff:ffff", true),
            ("2001:db8:2::", false),
            ("2001:db8::6", false),
            ("2001:DB8:0::7", true),
            ("2001:db8::8", false),
            ("32.1.13.184", false),
        ] {
            assert_eq!(admits(&list, ip), admitted, "{ip}");
        }
    }

    #[test]
    fn a_zero_prefix_block_admits_every_address_of_its_family_only() {
        let v4 = list(&["0.0.0.0/0"]);
        let v6 = list(&["::/0"]);
        for ip in ["0.0.0.0", "255.255.255.255", "10.1.2.3", "::ffff:10.1.2.3"] {
            assert!(admits(&v4, ip) && !admits(&v6, ip), "{ip}");
        }
        for ip in [
            "::",
            "::1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "::10.1.2.3",
        ] {
            assert!(admits(&v6, ip) && !admits(&v4, ip), "{ip}");
        }
    }

    #[test]
    fn the_deny_all_marker_admits_no_address() {
        for ip in [
            Some("10.0.0.1"),
            Some("::1"),
            Some("::ffff:10.0.0.1"),
            Some("x"),
            None,
        ] {
            assert!(!allows(DENY_ALL_MARKER, ip), "{ip:?}");
        }
    }

    #[test]
    fn a_malformed_line_admits_nothing() {
        let good = "0a000000/8";
        assert!(allows(good, Some("10.1.1.1")));
        for line in [
            "0a000000/8 garbage",
            "garbage 0a000000/8",
            "0a000000/8 ",
            " 0a000000/8",
            "0a000000/8  c0a80001/32",
            "0a000000/8\n",
            "0A000000/8",
            "+a000000/8",
            "0a000000/08",
            "0a000000/+8",
            "0a000000/33",
            "0a000000/",
            "0a000000",
            "0a00000/8",
            "00a000000/8",
            "0a010000/8",
            "0a000000/8/8",
            "0a000000/8 - ",
            "- 0a000000/8",
            "0a000000/8 00000000000000000000000000000000/129",
            "0a000000/8 0000000000000000000000000000000g/128",
            "10.0.0.0/8",
            "[\"10.0.0.0/8\"]",
        ] {
            assert!(!allows(line, Some("10.1.1.1")), "{line:?}");
        }
    }

    #[test]
    fn canonical_strings_read_back_and_nothing_else_does() {
        let stored = strings(&["10.0.0.0/8", "2001:db8::/32", "192.0.2.1/32", "0.0.0.0/0"]);
        let read = IpAllowlist::from_canonical(&stored).unwrap();
        assert_eq!(read.entries(), stored);
        assert_eq!(
            IpAllowlist::from_canonical(&[]),
            Some(IpAllowlist::default())
        );
        for bad in [
            "10.0.0.1",
            "10.1.0.0/8",
            "2001:DB8::/32",
            "2001:db8:0::/32",
            "::ffff:10.0.0.0/104",
            "10.0.0.0/08",
            "not an address",
        ] {
            assert_eq!(IpAllowlist::from_canonical(&strings(&[bad])), None, "{bad}");
        }
        assert_eq!(
            IpAllowlist::from_canonical(&strings(&["10.0.0.0/8", "10.0.0.0/8"])),
            None,
            "a repeated entry is not canonical"
        );
    }

    #[test]
    fn a_list_serializes_as_its_canonical_strings() {
        let list = list(&["10.1.2.3/8", "2001:DB8::1"]);
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            r#"["10.0.0.0/8","2001:db8::1/128"]"#
        );
        assert_eq!(
            serde_json::to_string(&IpAllowlist::default()).unwrap(),
            "[]"
        );
        let nothing = list.meet(&self::list(&["192.0.2.0/24"]));
        assert!(
            serde_json::to_string(&nothing).is_err(),
            "the list admitting nothing must never be written as [] (any address)"
        );
    }

    #[test]
    fn the_empty_list_meets_a_list_as_that_list() {
        let any = IpAllowlist::default();
        let some = list(&["10.0.0.0/8", "2001:db8::/32"]);
        assert_eq!(any.meet(&some), some);
        assert_eq!(some.meet(&any), some);
        assert_eq!(any.meet(&any), any);
        assert_eq!(some.meet(&some), some);
    }

    #[test]
    fn nested_blocks_meet_as_the_narrower() {
        let wide = list(&["10.0.0.0/8"]);
        let narrow = list(&["10.1.0.0/16"]);
        assert_eq!(wide.meet(&narrow), narrow);
        assert_eq!(narrow.meet(&wide), narrow);
        let host = list(&["2001:db8::1"]);
        assert_eq!(list(&["::/0"]).meet(&host), host);
    }

    #[test]
    fn lists_without_a_common_address_meet_as_the_list_admitting_none() {
        let nothing = list(&["10.0.0.0/8"]).meet(&list(&["192.168.0.0/16", "::/0"]));
        assert!(!nothing.is_empty());
        assert!(nothing.entries().is_empty());
        assert_eq!(nothing.encode(), DENY_ALL_MARKER);
        for ip in ["10.0.0.1", "192.168.0.1", "::1"] {
            assert!(!admits(&nothing, ip), "{ip}");
        }
        assert_eq!(nothing.meet(&IpAllowlist::default()), nothing);
        assert_eq!(IpAllowlist::default().meet(&nothing), nothing);
        assert_eq!(nothing.meet(&list(&["0.0.0.0/0"])), nothing);
        assert_eq!(list(&["::/0"]).meet(&nothing), nothing);
        assert_eq!(
            list(&["0.0.0.0/0"]).meet(&list(&["::/0"])),
            nothing,
            "the families never overlap"
        );
    }

    #[test]
    fn lists_meet_as_the_narrower_block_of_every_overlapping_pair() {
        let mine = list(&[
            "10.0.0.0/8",
            "192.168.1.0/24",
            "2001:db8::/32",
            "172.16.0.0/12",
        ]);
        let theirs = list(&[
            "10.1.0.0/16",
            "192.168.0.0/16",
            "10.2.3.4",
            "2001:db8:5::/48",
            "198.51.100.0/24",
        ]);
        assert_eq!(
            mine.meet(&theirs).entries(),
            [
                "192.168.1.0/24",
                "10.1.0.0/16",
                "10.2.3.4/32",
                "2001:db8:5::/48"
            ]
        );
        assert_eq!(
            theirs.meet(&mine).entries(),
            [
                "10.1.0.0/16",
                "10.2.3.4/32",
                "2001:db8:5::/48",
                "192.168.1.0/24"
            ]
        );
        assert_eq!(
            list(&["10.0.0.0/8", "10.1.0.0/16"])
                .meet(&list(&["10.0.0.0/8"]))
                .entries(),
            ["10.0.0.0/8", "10.1.0.0/16"],
            "a block of the receiver is kept as it is"
        );
        assert_eq!(
            list(&["10.0.0.0/8"])
                .meet(&list(&["10.0.0.0/8", "10.1.0.0/16"]))
                .entries(),
            ["10.0.0.0/8"],
            "a block of the other side already covered adds nothing"
        );
    }

    #[test]
    fn an_address_is_admitted_by_the_meet_exactly_when_both_lists_admit_it() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for round in 0..200 {
            let (mine, mine_blocks) = random_list(&mut rng, 1 + round % 6);
            let (theirs, theirs_blocks) = random_list(&mut rng, 1 + round % 5);
            let meet = mine.meet(&theirs);
            let all_blocks = [mine_blocks, theirs_blocks].concat();
            for ip in probes(&mut rng, &all_blocks, 20) {
                assert_eq!(
                    admits(&meet, &ip),
                    admits(&mine, &ip) && admits(&theirs, &ip),
                    "{:?} ∧ {:?} = {:?} for {ip}",
                    mine.entries(),
                    theirs.entries(),
                    meet.encode()
                );
            }
        }
    }

    #[test]
    fn the_encoded_line_agrees_with_a_naive_check_of_the_canonical_strings() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        let (mut hits, mut total) = (0, 0);
        for round in 0..40 {
            let (list, blocks) = random_list(&mut rng, 1 + round % 8);
            let stored = IpAllowlist::from_canonical(&list.entries()).unwrap();
            assert_eq!(stored, list, "canonical strings read back to the same list");
            let line = stored.encode();
            for ip in probes(&mut rng, &blocks, 10) {
                let expected = naive_allows(&list.entries(), &ip);
                assert_eq!(allows(&line, Some(&ip)), expected, "{line} for {ip}");
                hits += usize::from(expected);
                total += 1;
            }
        }
        assert!(
            (total / 4..total * 3 / 4).contains(&hits),
            "the probes hit and miss alike: {hits} of {total}"
        );
    }
}
