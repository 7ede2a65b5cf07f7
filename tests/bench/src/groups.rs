//! The scenarios grouped by `spin up` configuration: one `spin up` per group, the two
//! fixtures measured in each.

use crate::scenarios::{Config, NOOP, ONE_READ, SCENARIOS, Scenario, is_fixture};

/// The scenarios of one `spin up`: the fixtures, then the selected others, in table order.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The configuration they share.
    pub config: Config,
    /// [`NOOP`], [`ONE_READ`], then the others.
    pub scenarios: Vec<&'static Scenario>,
}

/// Groups `selected` by configuration, in the order each configuration first appears in
/// [`SCENARIOS`]; every group measures the two fixtures first.
pub fn groups(selected: &[&'static Scenario]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for scenario in SCENARIOS.iter().filter(|s| selected.contains(s)) {
        let at = match groups.iter().position(|g| g.config == scenario.config) {
            Some(at) => at,
            None => {
                groups.push(Group {
                    config: scenario.config,
                    scenarios: vec![&NOOP, &ONE_READ],
                });
                groups.len() - 1
            }
        };
        if !is_fixture(scenario) {
            groups[at].scenarios.push(scenario);
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::find;

    fn named(names: &[&str]) -> Vec<&'static Scenario> {
        names.iter().map(|n| find(n).expect("a scenario")).collect()
    }

    fn names(group: &Group) -> Vec<&str> {
        group.scenarios.iter().map(|s| s.name).collect()
    }

    #[test]
    fn scenarios_of_one_configuration_share_one_group_behind_the_fixtures() {
        let groups = groups(&named(&[
            "verify-malformed",
            "verify-valid",
            "authorize-valid",
        ]));
        assert_eq!(groups.len(), 1);
        assert_eq!(
            names(&groups[0]),
            [
                "noop",
                "one-read",
                "verify-valid",
                "verify-malformed",
                "authorize-valid"
            ]
        );
    }

    #[test]
    fn each_configuration_gets_its_own_group_with_its_own_fixtures() {
        let groups = groups(&named(&[
            "verify-valid-100k",
            "verify-valid-cache",
            "verify-valid",
        ]));
        let configs: Vec<Config> = groups.iter().map(|g| g.config).collect();
        let config = |name| find(name).unwrap().config;
        assert_eq!(
            configs,
            [
                config("verify-valid"),
                config("verify-valid-cache"),
                config("verify-valid-100k")
            ]
        );
        assert!(configs[0] != configs[1] && configs[1] != configs[2]);
        for group in &groups {
            assert_eq!(names(group)[..2], ["noop", "one-read"]);
            assert_eq!(group.scenarios.len(), 3);
        }
    }

    #[test]
    fn selecting_only_the_fixtures_measures_them_once() {
        let groups = groups(&named(&["one-read", "noop"]));
        assert_eq!(groups.len(), 1);
        assert_eq!(names(&groups[0]), ["noop", "one-read"]);
    }
}
