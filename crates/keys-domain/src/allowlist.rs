//! The addresses a key may be used from: an allowlist of IPv4 and IPv6 CIDR blocks.
//!
//! An administrator sends CIDR blocks (`10.0.0.0/8`, `2001:db8::/32`) or bare addresses (a
//! single host); [`IpAllowlist::parse`] normalises them and SQLite keeps the canonical strings
//! ([`IpAllowlist::entries`]). An empty list admits any address.
//!
//! # Encoded layout
//!
//! The verification record holds the list as one line that [`allows`] searches without
//! allocating ([`IpAllowlist::encode`] writes it). `10.0.0.0/8`, `2001:db8::/32` and
//! `2001:db8:1::1` are:
//!
//! ```text
//! 1,1,1;0a000000/08 20010db800000000/032 20010db8000100000000000000000001/128
//! ```
//!
//! * a header `A,B,C;`: how many entries of each form follow, in this order: IPv4, IPv6 with a
//!   prefix of at most 64, other IPv6;
//! * the entries, separated by one space: `HEX/PREFIX`, the top bits of the block's network in
//!   lowercase hexadecimal (8 digits for IPv4, 16 for the short IPv6 form, its top 64 bits,
//!   32 for the long one), `/`, and the prefix length zero-padded to 2 digits for IPv4 and 3
//!   for IPv6. Host bits are zero;
//! * only the blocks no other block of the list covers (a list admits the union of its
//!   blocks, so the covered ones add nothing), which makes them disjoint, and within each
//!   form sorted by network;
//! * an empty line is the empty list: any address, even none; `-` alone is a list that admits
//!   no address, which only [`IpAllowlist::meet`] makes (two lists without a common address).
//!
//! Fixed widths and sorted, disjoint blocks let [`allows`] find the one block that can hold
//! the caller's address by binary search: about seven entries of a hundred are read. A line
//! whose header or length departs from the layout admits nothing, and so does any entry read
//! that departs from it (fail closed): no damaged entry ever admits an address.

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
const ENTRY_SEPARATOR: u8 = b' ';
/// Ends the header of an encoded line.
const HEADER_END: u8 = b';';
/// Separates the counts of the header.
const COUNT_SEPARATOR: char = ',';
/// The longest header: three counts of at most three digits.
const MAX_HEADER: usize = 12;
/// Separates an address from its prefix length, in both forms.
const PREFIX_SEPARATOR: char = '/';
/// [`PREFIX_SEPARATOR`] as the byte the hot path looks for.
const PREFIX_SEPARATOR_BYTE: u8 = PREFIX_SEPARATOR as u8;
/// Digits of the prefix length of an encoded IPv4 block (zero-padded: `08`).
const V4_PREFIX_DIGITS: usize = 2;
/// Digits of the prefix length of an encoded IPv6 block (zero-padded: `048`).
const V6_PREFIX_DIGITS: usize = 3;
/// The prefix length of `::ffff:0:0/96`, the IPv6 block holding the IPv4-mapped addresses.
const IPV4_MAPPED_PREFIX: u8 = 96;
/// Hexadecimal digits of an encoded IPv4 network (32 bits).
const V4_HEX_DIGITS: usize = 8;
/// Hexadecimal digits of an encoded IPv6 network whose prefix is at most
/// [`V6_SHORT_PREFIX`]: its top 64 bits, the others being zero.
const V6_SHORT_HEX_DIGITS: usize = 16;
/// Longest prefix of an IPv6 network written in the short form.
const V6_SHORT_PREFIX: u16 = 64;
/// Hexadecimal digits of any other encoded IPv6 network (128 bits).
const V6_HEX_DIGITS: usize = 32;
/// Hexadecimal digits decoded at once by [`allows`]: an IPv4 network, a quarter of an IPv6 one.
const HEX_CHUNK: usize = 8;
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
    /// the family's addresses, and a block with host bits set (`10.1.2.3/8`: the answer names
    /// `10.0.0.0/8`).
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
    /// always `address/prefix` (a bare IPv4 address gets `/32`, IPv6 `/128`), IPv6 in RFC
    /// 5952 form, and an IPv4-mapped
    /// block `::ffff:a.b.c.d/n` with n ≥ 96 written as the IPv4 block `a.b.c.d/(n-96)`.
    /// No strings for the list admitting no address, which has no list form (see
    /// [`Self::encode`]).
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
        if self.blocks.is_empty() {
            return String::new();
        }
        // The blocks no other block covers, by form, each form by network.
        let mut kept: Vec<Block> = self
            .blocks
            .iter()
            .filter(|b| !self.blocks.iter().any(|o| o != *b && o.covers(b)))
            .copied()
            .collect();
        kept.sort_by_key(|b| (Form::of(b), b.network));
        let count = |form: Form| kept.iter().filter(|b| Form::of(b) == form).count();
        let longest_entry = V6_HEX_DIGITS + 1 + V6_PREFIX_DIGITS + 1;
        let mut line = String::with_capacity(MAX_HEADER + kept.len() * longest_entry);
        let counts = Form::ALL.map(|form| count(form).to_string());
        line.push_str(&counts.join(&COUNT_SEPARATOR.to_string()));
        line.push(char::from(HEADER_END));
        for (i, block) in kept.iter().enumerate() {
            if i > 0 {
                line.push(char::from(ENTRY_SEPARATOR));
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
    let Some((counts, body)) = header(encoded.as_bytes()) else {
        return false;
    };
    // The length the counts give, with one separator between entries.
    let width = |form: Form| form.hex_digits() + 1 + form.family().prefix_digits();
    let expected: usize = Form::ALL
        .iter()
        .zip(counts)
        .map(|(form, n)| n * (width(*form) + 1))
        .sum();
    if expected == 0 || body.len() != expected - 1 {
        return false;
    }
    let mut start = 0;
    for (form, n) in Form::ALL.into_iter().zip(counts) {
        // The last entry has no separator after it: a section may end one byte early.
        let end = (start + n * (width(form) + 1)).min(body.len());
        let section = body.get(start.min(end)..end).unwrap_or_default();
        start += n * (width(form) + 1);
        if form.family() != family {
            continue;
        }
        let found = match form {
            Form::V4 => search::<V4_HEX_DIGITS>(section, n, form, address),
            Form::V6Short => search::<V6_SHORT_HEX_DIGITS>(section, n, form, address),
            Form::V6Long => search::<V6_HEX_DIGITS>(section, n, form, address),
        };
        match found {
            Some(true) => return true,
            Some(false) => {}
            None => return false,
        }
    }
    false
}

/// The three forms of an encoded entry, in the order of the line's sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Form {
    V4,
    V6Short,
    V6Long,
}

impl Form {
    const ALL: [Self; 3] = [Self::V4, Self::V6Short, Self::V6Long];

    fn of(block: &Block) -> Self {
        match (block.family, block.family.hex_digits(block.prefix.into())) {
            (Family::V4, _) => Self::V4,
            (Family::V6, V6_SHORT_HEX_DIGITS) => Self::V6Short,
            (Family::V6, _) => Self::V6Long,
        }
    }

    const fn family(self) -> Family {
        match self {
            Self::V4 => Family::V4,
            Self::V6Short | Self::V6Long => Family::V6,
        }
    }

    const fn hex_digits(self) -> usize {
        match self {
            Self::V4 => V4_HEX_DIGITS,
            Self::V6Short => V6_SHORT_HEX_DIGITS,
            Self::V6Long => V6_HEX_DIGITS,
        }
    }
}

/// The header's three counts and the entries after it.
fn header(line: &[u8]) -> Option<([usize; 3], &[u8])> {
    let end = line
        .iter()
        .take(MAX_HEADER)
        .position(|b| *b == HEADER_END)?;
    let text = std::str::from_utf8(&line[..end]).ok()?;
    let mut counts = [0usize; 3];
    let mut parts = text.split(COUNT_SEPARATOR);
    for count in &mut counts {
        let part = parts.next()?;
        // Decimal without sign or leading zero (`0` alone is zero).
        if part.is_empty() || (part.len() > 1 && part.starts_with('0')) {
            return None;
        }
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *count = part.parse().ok()?;
    }
    parts.next().is_none().then_some((counts, &line[end + 1..]))
}

/// Searches a section of `n` sorted, disjoint entries of `form` (each `DIGITS` hexadecimal
/// digits wide) for the block holding `address`: `Some(found)`, or `None` when an entry read
/// is damaged. Reads about log2(n) entries.
fn search<const DIGITS: usize>(
    section: &[u8],
    n: usize,
    form: Form,
    address: u128,
) -> Option<bool> {
    let stride = DIGITS + 1 + form.family().prefix_digits() + 1;
    let entry = |i: usize| -> Option<Entry> {
        let at = section.get(i * stride..)?;
        let (hex, [PREFIX_SEPARATOR_BYTE, after @ ..]) = at.split_first_chunk::<DIGITS>()? else {
            return None;
        };
        let (entry, tail) = Entry::decode(form.family(), hex, after)?;
        matches!(tail, [] | [ENTRY_SEPARATOR, ..]).then_some(entry)
    };
    // The last entry whose network is at most the address is the only one that can hold it.
    let (mut low, mut high) = (0, n);
    let mut candidate = None;
    while low < high {
        let middle = low + (high - low) / 2;
        let e = entry(middle)?;
        if e.network <= address {
            low = middle + 1;
            candidate = Some(e);
        } else {
            high = middle;
        }
    }
    Some(candidate.is_some_and(|e| e.holds(address)))
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

    /// Hexadecimal digits of an encoded network with this prefix length: the top bits that
    /// may be network bits, in whole chunks.
    const fn hex_digits(self, prefix: u16) -> usize {
        match self {
            Self::V4 => V4_HEX_DIGITS,
            Self::V6 if prefix <= V6_SHORT_PREFIX => V6_SHORT_HEX_DIGITS,
            Self::V6 => V6_HEX_DIGITS,
        }
    }

    /// Digits of the prefix length of an encoded block.
    const fn prefix_digits(self) -> usize {
        match self {
            Self::V4 => V4_PREFIX_DIGITS,
            Self::V6 => V6_PREFIX_DIGITS,
        }
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
    /// cleared (what [`Block::parse`] refuses to do silently).
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
        let (block, address) = match Ipv6Addr::from(value).to_ipv4_mapped() {
            // The prefix keeps `::ffff:0:0/96` whole, so the block holds IPv4-mapped
            // addresses only: they are checked as IPv4, so it is written as IPv4.
            Some(v4) if family == Family::V6 && prefix >= IPV4_MAPPED_PREFIX => {
                let v4 = u128::from(u32::from(v4));
                (Self::new(Family::V4, v4, prefix - IPV4_MAPPED_PREFIX), v4)
            }
            _ => (Self::new(family, value, prefix), value),
        };
        if block.network != address {
            // `10.1.2.3/8` is most likely a typo for a host or for `10.0.0.0/8`: widening it
            // silently would admit what the administrator did not mean to.
            return Err(format!(
                "`{shown}` has host bits set: write the block as `{block}`, or the address \
                 alone"
            ));
        }
        Ok(block)
    }

    /// Appends the encoded entry (layout in the module docs) to `line`.
    fn encode_into(&self, line: &mut String) {
        use std::fmt::Write as _;
        let digits = self.family.hex_digits(self.prefix.into());
        // The digits are the top bits of the network.
        let shown = self.network >> (u32::from(self.family.bits()) - 4 * digits as u32);
        // Writing into a `String` cannot fail.
        let _ = write!(
            line,
            "{shown:0digits$x}{PREFIX_SEPARATOR}{:0width$}",
            self.prefix,
            width = self.family.prefix_digits()
        );
    }

    /// Whether this block holds `address` of `family`.
    fn admits(&self, family: Family, address: u128) -> bool {
        self.family == family && (address ^ self.network) & mask(family, self.prefix) == 0
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

/// An entry of an encoded line as [`allows`] reads it: a block's network and mask.
struct Entry {
    network: u128,
    mask: u128,
}

impl Entry {
    /// Reads an entry of `family` whose network digits `hex` were followed by the prefix
    /// separator and then `after`, exactly as [`Block::encode_into`] writes it; returns it
    /// with the rest of the line.
    #[inline(always)]
    fn decode<'a, const DIGITS: usize>(
        family: Family,
        hex: &[u8; DIGITS],
        after: &'a [u8],
    ) -> Option<(Self, &'a [u8])> {
        // A digit left in `tail` fails the caller's test of what follows the entry.
        let (prefix, tail) = match family {
            Family::V4 => padded_prefix::<V4_PREFIX_DIGITS>(after)?,
            Family::V6 => padded_prefix::<V6_PREFIX_DIGITS>(after)?,
        };
        // Within the family's bits, in the one form `encode_into` writes for it.
        if prefix > u16::from(family.bits()) || family.hex_digits(prefix) != DIGITS {
            return None;
        }
        // The digits are the top bits of the network: checked in their own width, then moved up.
        let width = 4 * DIGITS as u32;
        let (value, mask) = (hex_value(hex)?, top_bits(width, prefix.into()));
        let shift = u32::from(family.bits()) - width;
        (value & !mask == 0).then_some((
            Self {
                network: value << shift,
                mask: mask << shift,
            },
            tail,
        ))
    }

    /// Whether the entry's block holds `address` (of the entry's family).
    #[inline(always)]
    fn holds(&self, address: u128) -> bool {
        (address ^ self.network) & self.mask == 0
    }
}

/// The network mask of a prefix length (at most the family's bits), in the family's bits.
fn mask(family: Family, prefix: u8) -> u128 {
    top_bits(family.bits().into(), prefix.into())
}

/// Ones in the top `n` (at most `width`) of the low `width` bits, for a width of 32, 64 or
/// 128. Built from 64-bit halves: a 128-bit shift by a variable amount is a library call in
/// the size-optimised build, and this runs for every entry on the hot path.
#[inline(always)]
fn top_bits(width: u32, n: u32) -> u128 {
    // The top `n` of 64 bits; a shift by 64 would overflow.
    let top = |n: u32| if n >= 64 { u64::MAX } else { !(u64::MAX >> n) };
    if width > 64 {
        u128::from(top(n)) << 64 | u128::from(top(n.saturating_sub(64)))
    } else {
        u128::from(top(n) >> (64 - width))
    }
}

/// A prefix length as an administrator writes it: `0`, or one to three decimal digits without
/// a leading zero. Written out rather than `str::parse`, which accepts a `+`.
fn prefix_length(digits: &[u8]) -> Option<u16> {
    let value = |d: &u8| u16::from(d - b'0');
    match digits {
        [b'0'] => Some(0),
        [a @ b'1'..=b'9'] => Some(value(a)),
        [a @ b'1'..=b'9', b @ b'0'..=b'9'] => Some(value(a) * 10 + value(b)),
        [a @ b'1'..=b'9', b @ b'0'..=b'9', c @ b'0'..=b'9'] => {
            Some(value(a) * 100 + value(b) * 10 + value(c))
        }
        _ => None,
    }
}

/// The prefix length at the front of an encoded entry's `text`, written with exactly
/// `DIGITS` decimal digits, and the rest of `text`. A fixed width: no search for the end of
/// the number on the hot path.
#[inline(always)]
fn padded_prefix<const DIGITS: usize>(text: &[u8]) -> Option<(u16, &[u8])> {
    let (digits, rest) = text.split_first_chunk::<DIGITS>()?;
    let value = |d: &u8| u16::from(d - b'0');
    // Written out rather than looped over: the size-optimised build keeps loops as loops.
    let prefix = match digits.as_slice() {
        [a @ b'0'..=b'9', b @ b'0'..=b'9'] => value(a) * 10 + value(b),
        [a @ b'0'..=b'9', b @ b'0'..=b'9', c @ b'0'..=b'9'] => {
            value(a) * 100 + value(b) * 10 + value(c)
        }
        _ => return None,
    };
    Some((prefix, rest))
}

/// The value of 8, 16 or 32 lowercase hexadecimal digits, decoded a chunk at a time: the hot
/// path reads up to a few thousand digits per call.
#[inline(always)]
fn hex_value<const DIGITS: usize>(digits: &[u8; DIGITS]) -> Option<u128> {
    let (chunks, []) = digits.as_chunks::<HEX_CHUNK>() else {
        return None;
    };
    // Written out rather than looped over: the size-optimised build keeps loops as loops.
    match chunks {
        [chunk] => hex_chunk(*chunk).map(u128::from),
        [high, low] => hex_pair(high, low).map(u128::from),
        [a, b, c, d] => Some(u128::from(hex_pair(a, b)?) << 64 | u128::from(hex_pair(c, d)?)),
        _ => None,
    }
}

/// The value of two chunks of lowercase hexadecimal digits, `high` then `low`.
#[inline(always)]
fn hex_pair(high: &[u8; HEX_CHUNK], low: &[u8; HEX_CHUNK]) -> Option<u64> {
    Some(u64::from(hex_chunk(*high)?) << 32 | u64::from(hex_chunk(*low)?))
}

/// The value of eight lowercase hexadecimal digits, `None` if one is anything else. All eight
/// bytes are handled at once as the lanes of a `u64` (SWAR), without a branch per digit:
/// byte-at-a-time decoding took most of the time of [`allows`]. Inlined by force: the
/// size-optimised build would call it for every chunk.
#[inline(always)]
fn hex_chunk(digits: [u8; HEX_CHUNK]) -> Option<u32> {
    /// 0x01 in every byte lane.
    const LANES: u64 = u64::MAX / 0xff;
    /// The low nibble of every lane.
    const NIBBLES: u64 = LANES * 0x0f;
    // The first digit in the top lane, so that the digits read as a number.
    let x = u64::from_be_bytes(digits);
    // Read every lane as a digit: a digit's value is its low nibble, a letter's its low
    // nibble plus 9 (bit 6 marks a letter). No lane carries into the next.
    let values = ((x & NIBBLES) + (x >> 6 & LANES) * 9) & NIBBLES;
    // Accept only if writing the values back as lowercase hexadecimal gives the same bytes:
    // the lanes holding 10 to 15 are written from `a`, the others from `0`.
    let letters = (values + LANES * 6) >> 4 & LANES;
    if values + LANES * u64::from(b'0') + letters * u64::from(b'a' - b'9' - 1) != x {
        return None;
    }
    // Pack the eight nibbles: pairs into bytes, bytes into halfwords, halfwords into a word.
    let bytes = (values | values >> 4) & 0x00ff_00ff_00ff_00ff;
    let halfwords = (bytes | bytes >> 8) & 0x0000_ffff_0000_ffff;
    Some((halfwords | halfwords >> 16) as u32)
}

#[cfg(test)]
mod tests;
