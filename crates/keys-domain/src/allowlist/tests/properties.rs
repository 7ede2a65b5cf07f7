//! Randomized checks of the allowlist on generated lists and nearby addresses: the meet
//! admits what both lists admit, and the encoded line agrees with a naive check.

use super::*;

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

/// The address `base` with some of its bits around bit `prefix` (from the top) flipped,
/// and maybe random host bits: near the block of `base` with that prefix, inside or out.
fn near(rng: &mut XorShift, base: u128, family: Family, prefix: u8) -> u128 {
    let bits = u64::from(family.bits());
    let (lo, hi) = (
        u64::from(prefix.saturating_sub(3)),
        bits.min(u64::from(prefix) + 2),
    );
    let mut address = base;
    for _ in 0..rng.below(3) {
        address ^= 1 << (bits - 1 - (lo + rng.below(hi - lo)));
    }
    if rng.below(2) == 0 {
        address ^= rng.wide() & !mask(family, prefix) & mask(family, family.bits());
    }
    address
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
        network.len() == caller.len() && (0..prefix).all(|i| bit(&network, i) == bit(&caller, i))
    })
}

fn v4_text(value: u128) -> String {
    Ipv4Addr::from(value as u32).to_string()
}

fn v6_text(value: u128) -> String {
    Ipv6Addr::from(value).to_string()
}

/// A random list of `n` blocks (half IPv4, prefixes of every length) and its blocks.
/// The addresses differ in a few bits only, so that blocks often nest.
fn random_list(rng: &mut XorShift, n: usize) -> (IpAllowlist, Vec<(Family, u128, u8)>) {
    const V4_BASE: u128 = 0x0a00_0000;
    const V4_VARYING: u128 = 0x00c0_0f03;
    const V6_BASE: u128 = 0x2001_0db8 << 96;
    const V6_VARYING: u128 = 0x0000_0000_c000_0000_0f00_0000_0000_0003;
    let mut texts = Vec::new();
    let mut blocks = Vec::new();
    for _ in 0..n {
        let (family, address) = if rng.below(2) == 0 {
            (Family::V4, V4_BASE | rng.wide() & V4_VARYING)
        } else {
            (Family::V6, V6_BASE | rng.wide() & V6_VARYING)
        };
        let prefix = rng.below(u64::from(family.bits()) + 1) as u8;
        let address = address & mask(family, prefix);
        let text = match family {
            Family::V4 => v4_text(address),
            Family::V6 => v6_text(address),
        };
        texts.push(format!("{text}/{prefix}"));
        blocks.push((family, address, prefix));
    }
    (IpAllowlist::parse(&texts).unwrap(), blocks)
}

/// Addresses near the blocks, inside and outside, written as a gateway would send them.
fn probes(rng: &mut XorShift, blocks: &[(Family, u128, u8)], n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let (family, base, prefix) = blocks[rng.below(blocks.len() as u64) as usize];
            let address = near(rng, base, family, prefix);
            match (family, rng.below(4)) {
                (Family::V4, 0) => format!("::ffff:{}", v4_text(address)),
                (Family::V4, _) => v4_text(address),
                (Family::V6, _) => v6_text(address),
            }
        })
        .collect()
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
