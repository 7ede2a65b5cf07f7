//! Unit tests of [`crate::allowlist`].

use super::*;

mod properties;

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

#[test]
fn eight_digits_decode_at_once_exactly_when_each_is_lowercase_hexadecimal() {
    for lane in 0..HEX_CHUNK {
        for byte in 0..=u8::MAX {
            let mut digits = *b"0123abcf";
            digits[lane] = byte;
            let expected = std::str::from_utf8(&digits)
                .ok()
                .filter(|t| t.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
                .map(|t| u32::from_str_radix(t, 16).unwrap());
            assert_eq!(hex_chunk(digits), expected, "{digits:?}");
        }
    }
    assert_eq!(hex_chunk(*b"ffffffff"), Some(u32::MAX));
    assert_eq!(hex_chunk(*b"00000000"), Some(0));
    assert_eq!(hex_chunk(*b"0a0b0c0d"), Some(0x0a0b_0c0d));
}

#[test]
fn bare_addresses_become_single_host_blocks() {
    assert_eq!(
        canonical(&["192.168.1.10", "2001:db8::1", "10.0.0.0/8"]),
        ["192.168.1.10/32", "2001:db8::1/128", "10.0.0.0/8"]
    );
}

#[test]
fn a_block_with_host_bits_is_refused_with_the_block_it_would_be() {
    for (entry, block) in [
        ("10.1.2.3/8", "10.0.0.0/8"),
        ("192.168.77.200/20", "192.168.64.0/20"),
        ("10.1.2.3/0", "0.0.0.0/0"),
        ("2001:db8:abcd:12::9/33", "2001:db8:8000::/33"),
        ("::ffff:10.1.2.3/104", "10.0.0.0/8"),
    ] {
        let refused = refusal(&[entry]);
        assert!(refused.contains("host bits"), "{entry}: {refused}");
        assert!(
            refused.contains(&format!("`{block}`")),
            "{entry}: {refused}"
        );
    }
    assert_eq!(canonical(&["192.168.64.0/20"]), ["192.168.64.0/20"]);
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
            "10.0.0.0/8",
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
            "::ffff:10.0.0.0/104",
            "::ffff:0:0/96",
            "::ffff:c000:0200/127"
        ]),
        ["192.0.2.1/32", "10.0.0.0/8", "0.0.0.0/0", "192.0.2.0/31"]
    );
    assert_eq!(
        canonical(&["::fffe:0:0/95", "::/80"]),
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
        "192.168.0.1",
        "10.0.0.0/8",
        "10.9.0.0/16",
        "2001:db8:1::/48",
        "2001:db8::1",
        "2001:db8:0:0:8000::/65",
    ]);
    // Covered blocks left out (10.9.0.0/16 is in 10.0.0.0/8), each form sorted.
    assert_eq!(
        list.encode(),
        "2,1,2;0a000000/08 c0a80001/32 20010db800010000/048 \
         20010db8000000000000000000000001/128 20010db8000000008000000000000000/065"
    );
    assert_eq!(
        self::list(&["::/0", "0.0.0.0/0", "10.0.0.0/8", "2001:db8::/32"]).encode(),
        "1,1,0;00000000/00 0000000000000000/000"
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
    let list = list(&["2001:db8:1::/48", "2001:db8::7", "2001:db8:0:2:8000::/65"]);
    for (ip, admitted) in [
        ("2001:db8:0:2:7fff:ffff:ffff:ffff", false),
        ("2001:db8:0:2:8000::", true),
        ("2001:db8:0:2:ffff:ffff:ffff:ffff", true),
        ("2001:db8:0:3::", false),
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
    let good = "1,1,0;0a000000/08 20010db800000000/032";
    assert!(allows(good, Some("10.1.1.1")));
    assert!(allows(good, Some("2001:db8::1")));
    for line in [
        // The header.
        "0a000000/08 20010db800000000/032",
        "2,1,0;0a000000/08 20010db800000000/032",
        "1,0,0;0a000000/08 20010db800000000/032",
        "1,1,1;0a000000/08 20010db800000000/032",
        "01,1,0;0a000000/08 20010db800000000/032",
        "+1,1,0;0a000000/08 20010db800000000/032",
        "1,1;0a000000/08 20010db800000000/032",
        "1,1,0,0;0a000000/08 20010db800000000/032",
        " 1,1,0;0a000000/08 20010db800000000/032",
        "0,0,0;",
        // The length the header gives.
        "1,1,0;0a000000/08 20010db800000000/032 ",
        "1,1,0; 0a000000/08 20010db800000000/032",
        "1,1,0;0a000000/08  20010db800000000/032",
        "1,1,0;0a000000/08 20010db800000000/0032",
        "1,1,0;0a000000/08\n20010db800000000/032",
        "1,1,0;0a000000/8 20010db800000000/032",
        // The entry read, at its place.
        "1,1,0;0A000000/08 20010db800000000/032",
        "1,1,0;+a000000/08 20010db800000000/032",
        "1,1,0;0a00000g/08 20010db800000000/032",
        "1,1,0;0a000000/+8 20010db800000000/032",
        "1,1,0;0a000000/ 8 20010db800000000/032",
        "1,1,0;0a000000/33 20010db800000000/032",
        "1,1,0;0a010000/08 20010db800000000/032",
        "1,1,0;0a000000-08 20010db800000000/032",
        "1,1,0;0a000000/08-20010db800000000/032",
        "10.0.0.0/8",
        "[\"10.0.0.0/8\"]",
    ] {
        assert!(!allows(line, Some("10.1.1.1")), "{line:?}");
    }
    // A damaged IPv6 entry refuses the IPv6 callers that read it.
    for line in [
        "1,1,0;0a000000/08 20010db80000000g/032",
        "1,1,0;0a000000/08 20010db800000000/065",
        "1,1,0;0a000000/08 20010db800000001/032",
        "1,1,0;0a000000/08 2001:db8:000000/032",
    ] {
        assert!(!allows(line, Some("2001:db8::1")), "{line:?}");
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
    let list = list(&["10.0.0.0/8", "2001:DB8::1"]);
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
