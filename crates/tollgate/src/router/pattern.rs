//! Model-name patterns with `*` wildcards, as keys, teams and `model_list` use them.

/// Whether `name` matches `pattern`; `*` matches any run of characters.
pub fn matches(pattern: &str, name: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == name;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wildcards() {
        assert!(matches("*", "anything"));
        assert!(matches("openai/*", "openai/gpt-4o"));
        assert!(!matches("openai/*", "anthropic/claude"));
        assert!(matches("gpt-4*", "gpt-4o-mini"));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(!matches("a*b*c", "axxc"));
        assert!(!matches("ab*ba", "aba"));
        assert!(matches("gpt-4o", "gpt-4o"));
        assert!(!matches("gpt-4o", "gpt-4o-mini"));
    }

    proptest! {
        #[test]
        fn a_name_matches_itself_and_star(name in "[a-z0-9/._-]{0,30}") {
            prop_assert!(matches(&name, &name));
            prop_assert!(matches("*", &name));
            let prefix: String = name.chars().take(3).collect();
            let pattern = format!("{}*", prefix);
            prop_assert!(matches(&pattern, &name));
        }
    }
}
