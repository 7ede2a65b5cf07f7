//! Method access authorizations and company access restrictions.
//!
//! A grant is an exact method name (`employees.read`), a group wildcard (`payroll.*`, every
//! method whose name starts with `payroll.`) or `*` (every method). No grant means no access.
//! Companies are either `all` (every company, including ones registered later) or a list.

use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The grant covering every method.
pub const ALL_METHODS: &str = "*";
const GROUP_SUFFIX: &str = ".*";
/// Longest accepted method name or grant.
pub const MAX_METHOD_LEN: usize = 100;
/// Longest accepted company id.
pub const MAX_COMPANY_ID_LEN: usize = 64;
/// Most grants a key may hold.
pub const MAX_GRANTS: usize = 500;
/// Most companies a key may be restricted to.
pub const MAX_COMPANIES: usize = 1000;

/// A dotted lower-case API method name such as `payroll.payslips.read`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct MethodName(String);

impl MethodName {
    /// Accepts segments of `[a-z][a-z0-9_-]*` joined by single dots, at most 100 characters.
    pub fn parse(text: &str) -> Option<Self> {
        is_method_name(text).then(|| Self(text.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MethodName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks the method-name grammar without allocating (used on the verify hot path).
pub fn is_method_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_METHOD_LEN
        && text.split('.').all(|segment| {
            let mut bytes = segment.bytes();
            matches!(bytes.next(), Some(b'a'..=b'z'))
                && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
        })
}

/// One method access authorization: an exact name, a group wildcard or everything.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MethodGrant {
    /// Exactly this method.
    Exact(MethodName),
    /// Every method whose name starts with this prefix followed by a dot.
    Group(MethodName),
    /// Every method.
    All,
}

impl MethodGrant {
    /// Parses `name`, `group.*` or `*`.
    pub fn parse(text: &str) -> Option<Self> {
        if text == ALL_METHODS {
            return Some(Self::All);
        }
        if let Some(prefix) = text.strip_suffix(GROUP_SUFFIX) {
            return MethodName::parse(prefix).map(Self::Group);
        }
        MethodName::parse(text).map(Self::Exact)
    }

    /// Whether this grant allows `method`.
    pub fn covers(&self, method: &str) -> bool {
        grant_covers(&self.to_string(), method)
    }
}

impl fmt::Display for MethodGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(name) => f.write_str(name.as_str()),
            Self::Group(prefix) => write!(f, "{prefix}{GROUP_SUFFIX}"),
            Self::All => f.write_str(ALL_METHODS),
        }
    }
}

/// Whether a stored grant string allows `method` (no allocation: the verify hot path).
pub fn grant_covers(grant: &str, method: &str) -> bool {
    if grant == ALL_METHODS || grant == method {
        return true;
    }
    match grant.strip_suffix('*') {
        Some(prefix) if prefix.ends_with('.') => method.starts_with(prefix),
        _ => false,
    }
}

/// Whether every method the grant `inner` allows is also allowed by the grant `outer` (both
/// stored grant strings). [`grant_covers`] answers it when given a grant as the method: a
/// grant's text is a method name, `group.*` (which starts with `group.`), or `*`, so
/// `outer` covers that text exactly when it covers every method `inner` allows.
pub fn grant_includes(outer: &str, inner: &str) -> bool {
    grant_covers(outer, inner)
}

/// The grants allowing exactly the methods that both `mine` and `theirs` allow, in the order
/// of `mine` then `theirs`, without duplicates.
///
/// Two grants share methods only when one includes the other (an exact name is in a group,
/// a group is in a shorter group, everything is in `*`): the shared part is then the
/// narrower of the two. So the meet is every grant of one side included in a grant of the
/// other; a grant of `theirs` already covered by the kept grants adds nothing and is left out.
pub fn meet_grants(mine: &[String], theirs: &[String]) -> Vec<String> {
    let within = |grant: &str, set: &[String]| set.iter().any(|g| grant_includes(g, grant));
    let mut out: Vec<String> = Vec::with_capacity(mine.len().min(theirs.len()));
    for grant in mine {
        if within(grant, theirs) && !out.contains(grant) {
            out.push(grant.clone());
        }
    }
    for grant in theirs {
        if within(grant, mine) && !within(grant, &out) {
            out.push(grant.clone());
        }
    }
    out
}

/// An opaque company id of the platform: 1–64 characters of `A–Z a–z 0–9 . _ : -`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct CompanyId(String);

impl CompanyId {
    /// Parses a company id.
    pub fn parse(text: &str) -> Option<Self> {
        is_company_id(text).then(|| Self(text.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CompanyId {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        if is_company_id(&value) {
            Ok(Self(value))
        } else {
            Err("company ids are 1-64 characters of A-Z a-z 0-9 . _ : -, not `.` or `..`".into())
        }
    }
}

/// Checks the company-id grammar without allocating.
pub fn is_company_id(text: &str) -> bool {
    (1..=MAX_COMPANY_ID_LEN).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
        // Dot segments: a URL path cannot name them (`/companies/..` is the parent path).
        && text != "."
        && text != ".."
}

/// Which companies a key may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompanyScope {
    /// Every company, including ones registered later.
    All,
    /// Only these companies (possibly none).
    Only(Vec<CompanyId>),
}

impl CompanyScope {
    /// Sorted, without duplicates.
    pub fn normalized(self) -> Self {
        match self {
            Self::All => Self::All,
            Self::Only(mut list) => {
                list.sort_unstable();
                list.dedup();
                Self::Only(list)
            }
        }
    }

    /// The companies both `self` and `other` allow: `all` leaves the other side as it is; two
    /// lists keep the ids of `self` that `other` lists too, in the order of `self`.
    pub fn meet(&self, other: &Self) -> Self {
        match (self, other) {
            (Self::All, scope) | (scope, Self::All) => scope.clone(),
            (Self::Only(mine), Self::Only(theirs)) => {
                // Stored lists are sorted (`normalized`): a binary search each, rather than a
                // set, which would cost the admin components kilobytes of code.
                let sorted = theirs.is_sorted();
                let listed = |c: &CompanyId| {
                    if sorted {
                        theirs.binary_search(c).is_ok()
                    } else {
                        theirs.contains(c)
                    }
                };
                Self::Only(mine.iter().filter(|c| listed(c)).cloned().collect())
            }
        }
    }

    /// The scope once `company` leaves the registry: a list loses it (and may become empty,
    /// reaching no company); `all` stays `all`, which covers companies registered later.
    pub fn without(&self, company: &str) -> Self {
        match self {
            Self::All => Self::All,
            Self::Only(list) => Self::Only(
                list.iter()
                    .filter(|c| c.as_str() != company)
                    .cloned()
                    .collect(),
            ),
        }
    }

    /// Whether every company `self` allows is allowed by `other` too.
    pub fn is_within(&self, other: &Self) -> bool {
        match (self, other) {
            (_, Self::All) => true,
            (Self::All, Self::Only(_)) => false,
            (Self::Only(mine), Self::Only(theirs)) => mine.iter().all(|c| theirs.contains(c)),
        }
    }
}

impl Serialize for CompanyScope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::All => s.serialize_str("all"),
            Self::Only(list) => list.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for CompanyScope {
    /// Reads `"all"` or an array of company ids. A hand-written visitor rather than an
    /// untagged enum: it keeps the verify-key component small.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ScopeVisitor;
        impl<'de> serde::de::Visitor<'de> for ScopeVisitor {
            type Value = CompanyScope;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "\"all\" or an array of company ids (1-64 characters of A-Z a-z 0-9 . _ : -)",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<CompanyScope, E> {
                if v == "all" {
                    Ok(CompanyScope::All)
                } else {
                    Err(E::invalid_value(
                        serde::de::Unexpected::Other("a string other than \"all\""),
                        &self,
                    ))
                }
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<CompanyScope, A::Error> {
                let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_COMPANIES));
                while let Some(id) = seq.next_element::<CompanyId>()? {
                    list.push(id);
                }
                Ok(CompanyScope::Only(list))
            }
        }
        d.deserialize_any(ScopeVisitor)
    }
}

/// Checks grants against the method catalog: every exact grant must name a catalog method
/// and every wildcard must cover at least one. Returns the offending grants.
pub fn unknown_grants<'a>(
    grants: &'a [MethodGrant],
    catalog: &[MethodName],
) -> Vec<&'a MethodGrant> {
    grants
        .iter()
        .filter(|grant| match grant {
            MethodGrant::Exact(name) => !catalog.contains(name),
            wildcard => !catalog.iter().any(|m| wildcard.covers(m.as_str())),
        })
        .collect()
}

/// Sorts and deduplicates grants.
pub fn normalize_grants(mut grants: Vec<MethodGrant>) -> Vec<MethodGrant> {
    grants.sort_unstable();
    grants.dedup();
    grants
}

/// A change of a key's method grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantsChange {
    /// Leaves them.
    Keep,
    /// Replaces them all.
    Replace(Vec<MethodGrant>),
    /// Adds some and removes others.
    Toggle {
        /// Grants added.
        add: Vec<MethodGrant>,
        /// Grants removed (exact grants: removing `payroll.*` leaves `payroll.payslips.read`).
        remove: Vec<MethodGrant>,
    },
}

impl GrantsChange {
    /// Adds `add` and removes `remove`; 422 when a grant is in both.
    pub fn toggle(add: Vec<MethodGrant>, remove: Vec<MethodGrant>) -> Result<Self, Error> {
        if let Some(both) = add.iter().find(|g| remove.contains(g)) {
            return Err(Error::invalid(format!(
                "`{both}` is both added and removed"
            )));
        }
        Ok(Self::Toggle { add, remove })
    }

    /// The grants it gives (to check against the catalog).
    pub fn given(&self) -> &[MethodGrant] {
        match self {
            Self::Keep => &[],
            Self::Replace(grants) | Self::Toggle { add: grants, .. } => grants,
        }
    }

    /// The grants of a key that had `current` after this change: sorted, each once.
    pub fn apply(&self, current: &[String]) -> Vec<String> {
        let text = |grants: &[MethodGrant]| grants.iter().map(ToString::to_string).collect();
        let mut methods: Vec<String> = match self {
            Self::Replace(grants) => text(grants),
            Self::Keep | Self::Toggle { .. } => current.to_vec(),
        };
        if let Self::Toggle { add, remove } = self {
            let remove: Vec<String> = text(remove);
            methods.retain(|m| !remove.contains(m));
            methods.extend(text(add));
        }
        methods.sort();
        methods.dedup();
        methods
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<MethodName> {
        list.iter().map(|n| MethodName::parse(n).unwrap()).collect()
    }

    #[test]
    fn method_names_are_dotted_lower_case_segments() {
        for good in ["employees.read", "payroll.payslips.read", "a", "a1.b_c.d-e"] {
            assert!(MethodName::parse(good).is_some(), "{good}");
        }
        for bad in [
            "",
            ".",
            "a.",
            ".a",
            "a..b",
            "Employees.read",
            "1a",
            "a.*",
            "*",
            "a b",
            "é.read",
        ] {
            assert!(MethodName::parse(bad).is_none(), "{bad}");
        }
        assert!(MethodName::parse(&"a".repeat(MAX_METHOD_LEN)).is_some());
        assert!(MethodName::parse(&"a".repeat(MAX_METHOD_LEN + 1)).is_none());
    }

    #[test]
    fn an_exact_grant_allows_only_that_method() {
        assert!(grant_covers("employees.read", "employees.read"));
        assert!(!grant_covers("employees.read", "employees.write"));
        assert!(!grant_covers("employees.read", "employees.read.all"));
        assert!(!grant_covers("employees", "employees.read"));
    }

    #[test]
    fn a_group_grant_allows_every_method_under_the_group_at_any_depth() {
        assert!(grant_covers("payroll.*", "payroll.payslips.read"));
        assert!(grant_covers("payroll.*", "payroll.read"));
        assert!(!grant_covers("payroll.*", "payroll"));
        assert!(!grant_covers("payroll.*", "payrollx.read"));
        assert!(!grant_covers("payroll.*", "employees.read"));
    }

    #[test]
    fn the_star_grant_covers_everything() {
        assert!(grant_covers("*", "anything.at.all"));
        assert!(grant_covers("*", "employees.read"));
    }

    #[test]
    fn grants_parse_and_print_back() {
        for text in ["employees.read", "payroll.*", "*"] {
            assert_eq!(MethodGrant::parse(text).unwrap().to_string(), text);
        }
        for bad in [
            "payroll.**",
            ".*",
            "payroll*",
            "*.read",
            "Payroll.*",
            "payroll.*.read",
        ] {
            assert!(MethodGrant::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn catalog_validation_names_unknown_methods_and_empty_wildcards() {
        let catalog = names(&["employees.read", "payroll.payslips.read"]);
        let grants: Vec<MethodGrant> = [
            "employees.read",
            "employees.write",
            "payroll.*",
            "absences.*",
            "*",
        ]
        .iter()
        .map(|g| MethodGrant::parse(g).unwrap())
        .collect();
        let unknown: Vec<String> = unknown_grants(&grants, &catalog)
            .iter()
            .map(|g| g.to_string())
            .collect();
        assert_eq!(unknown, ["employees.write", "absences.*"]);
        let star = [MethodGrant::All];
        assert_eq!(
            unknown_grants(&star, &[]).len(),
            1,
            "* covers nothing in an empty catalog"
        );
    }

    #[test]
    fn a_company_leaving_the_registry_leaves_every_list_but_not_all() {
        let only = |ids: &[&str]| {
            CompanyScope::Only(ids.iter().map(|i| CompanyId::parse(i).unwrap()).collect())
        };
        assert_eq!(only(&["ACME", "GLOBEX"]).without("ACME"), only(&["GLOBEX"]));
        assert_eq!(only(&["ACME"]).without("ACME"), only(&[]), "reaches none");
        assert_eq!(only(&["GLOBEX"]).without("ACME"), only(&["GLOBEX"]));
        assert_eq!(CompanyScope::All.without("ACME"), CompanyScope::All);
    }

    #[test]
    fn company_ids_follow_the_platform_grammar() {
        for good in [
            "ACME",
            "acme-01",
            "fr:siren:123456789",
            "a.b_c",
            "...",
            &"x".repeat(64),
        ] {
            assert!(CompanyId::parse(good).is_some(), "{good}");
        }
        for bad in ["", "a b", "a/b", "é", &"x".repeat(65), "a,b", ".", ".."] {
            assert!(CompanyId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn company_scope_reads_all_or_a_list_and_nothing_else() {
        let all: CompanyScope = serde_json::from_str("\"all\"").unwrap();
        assert_eq!(all, CompanyScope::All);
        let list: CompanyScope = serde_json::from_str("[\"B\",\"A\",\"B\"]").unwrap();
        assert_eq!(
            list.clone().normalized(),
            CompanyScope::Only(vec![
                CompanyId::parse("A").unwrap(),
                CompanyId::parse("B").unwrap()
            ])
        );
        for bad in ["\"ALL\"", "\"none\"", "3", "[\"a b\"]", "null", "{}"] {
            assert!(serde_json::from_str::<CompanyScope>(bad).is_err(), "{bad}");
        }
        assert_eq!(
            serde_json::to_string(&CompanyScope::All).unwrap(),
            "\"all\""
        );
    }

    fn grant_strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|g| g.to_string()).collect()
    }

    #[test]
    fn a_grant_includes_another_when_it_allows_every_method_the_other_allows() {
        for (outer, inner, included) in [
            ("*", "*", true),
            ("*", "payroll.*", true),
            ("*", "employees.read", true),
            ("payroll.*", "*", false),
            ("payroll.*", "payroll.*", true),
            ("payroll.*", "payroll.payslips.*", true),
            ("payroll.*", "payroll.payslips.read", true),
            ("payroll.payslips.*", "payroll.*", false),
            ("payroll.*", "payrollx.*", false),
            ("payroll.*", "payroll", false),
            ("employees.read", "employees.read", true),
            ("employees.read", "employees.*", false),
            ("employees", "employees.*", false),
        ] {
            assert_eq!(grant_includes(outer, inner), included, "{outer} ⊇ {inner}");
        }
    }

    #[test]
    fn the_meet_of_two_grant_lists_keeps_the_narrower_of_each_overlapping_pair() {
        for (mine, theirs, meet) in [
            (&["*"][..], &["employees.read"][..], &["employees.read"][..]),
            (&["employees.read"], &["*"], &["employees.read"]),
            (
                &["payroll.*"],
                &["payroll.payslips.*", "time.read"],
                &["payroll.payslips.*"],
            ),
            (
                &["payroll.payslips.read"],
                &["payroll.*"],
                &["payroll.payslips.read"],
            ),
            (
                &["employees.read", "payroll.*"],
                &["employees.read"],
                &["employees.read"],
            ),
            (
                &["employees.read"],
                &["employees.read", "payroll.*"],
                &["employees.read"],
            ),
            (&["a.*", "b.c"], &["a.b", "b.*"], &["b.c", "a.b"]),
            (&["a.*", "a.b"], &["a.*"], &["a.*", "a.b"]),
            (&["employees.read"], &["employees.write"], &[]),
            (&["payroll.*"], &["payrollx.*"], &[]),
            (&[], &["*"], &[]),
        ] {
            assert_eq!(
                meet_grants(&grant_strings(mine), &grant_strings(theirs)),
                grant_strings(meet),
                "{mine:?} ∧ {theirs:?}"
            );
        }
    }

    #[test]
    fn a_method_is_allowed_by_the_meet_of_two_grant_lists_exactly_when_both_allow_it() {
        let grants = ["*", "a.*", "a.b", "a.b.*", "a.bc", "ab.*", "b.a"];
        let methods = [
            "a", "a.b", "a.b.c", "a.b.c.d", "a.bc", "a.bcd", "a.x", "ab.c", "ab", "b.a", "b.b",
        ];
        let subset = |mask: u32| -> Vec<String> {
            (0..grants.len())
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| grants[i].to_owned())
                .collect()
        };
        let allows = |list: &[String], m: &str| list.iter().any(|g| grant_covers(g, m));
        for a in 0u32..(1 << grants.len()) {
            for b in 0u32..(1 << grants.len()) {
                let (mine, theirs) = (subset(a), subset(b));
                let meet = meet_grants(&mine, &theirs);
                for method in methods {
                    assert_eq!(
                        allows(&meet, method),
                        allows(&mine, method) && allows(&theirs, method),
                        "{mine:?} ∧ {theirs:?} = {meet:?} for {method}"
                    );
                }
                assert_eq!(
                    meet_grants(&mine, &mine),
                    mine,
                    "a list meets itself unchanged"
                );
            }
        }
    }

    #[test]
    fn the_meet_of_company_scopes_is_their_intersection_with_all_as_the_identity() {
        let only = |ids: &[&str]| {
            CompanyScope::Only(ids.iter().map(|c| CompanyId::parse(c).unwrap()).collect())
        };
        assert_eq!(
            CompanyScope::All.meet(&CompanyScope::All),
            CompanyScope::All
        );
        assert_eq!(CompanyScope::All.meet(&only(&["A"])), only(&["A"]));
        assert_eq!(
            only(&["A", "B"]).meet(&CompanyScope::All),
            only(&["A", "B"])
        );
        assert_eq!(only(&["A", "B"]).meet(&only(&["B", "C"])), only(&["B"]));
        assert_eq!(only(&["A"]).meet(&only(&["C"])), only(&[]));
        assert_eq!(
            only(&["A", "B", "C"]).meet(&only(&["C", "A"])),
            only(&["A", "C"]),
            "an unsorted list is searched all the same"
        );
        assert_eq!(only(&[]).meet(&CompanyScope::All), only(&[]));
    }

    #[test]
    fn scope_inclusion_orders_all_above_every_list() {
        let a = CompanyScope::Only(vec![CompanyId::parse("A").unwrap()]);
        let ab = CompanyScope::Only(vec![
            CompanyId::parse("A").unwrap(),
            CompanyId::parse("B").unwrap(),
        ]);
        assert!(a.is_within(&ab));
        assert!(!ab.is_within(&a));
        assert!(ab.is_within(&CompanyScope::All));
        assert!(!CompanyScope::All.is_within(&ab));
    }

    fn grants(texts: &[&str]) -> Vec<MethodGrant> {
        texts
            .iter()
            .map(|t| MethodGrant::parse(t).unwrap())
            .collect()
    }

    fn strings(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn a_replacement_gives_exactly_its_grants_sorted_once() {
        let change = GrantsChange::Replace(grants(&["payroll.*", "employees.read", "payroll.*"]));
        assert_eq!(
            change.apply(&strings(&["documents.read"])),
            strings(&["employees.read", "payroll.*"])
        );
        assert_eq!(change.given().len(), 3);
    }

    #[test]
    fn toggles_add_and_remove_exact_grants_and_keep_the_rest() {
        let change = GrantsChange::toggle(
            grants(&["absences.read", "employees.read"]),
            grants(&["payroll.*"]),
        )
        .unwrap();
        let current = strings(&["employees.read", "payroll.*", "payroll.payslips.read"]);
        assert_eq!(
            change.apply(&current),
            strings(&["absences.read", "employees.read", "payroll.payslips.read"])
        );
        assert_eq!(change.given(), grants(&["absences.read", "employees.read"]));
        assert_eq!(GrantsChange::Keep.apply(&current), current);
        assert!(GrantsChange::Keep.given().is_empty());
    }

    #[test]
    fn a_grant_both_added_and_removed_is_refused() {
        let err = GrantsChange::toggle(grants(&["a.b"]), grants(&["a.b"])).unwrap_err();
        assert_eq!(err.status(), 422);
        assert!(
            err.to_string().contains("`a.b` is both added and removed"),
            "{err}"
        );
    }
}
