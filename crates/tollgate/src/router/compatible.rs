//! The OpenAI-compatible family, as data: a `model:` prefix, the default base URL, and the
//! environment variable that holds the provider's key. A `model_list` entry may override the
//! base URL with `api_base` and the key with `api_key`.

/// `(prefix, default base URL ("" = api_base required), key variable ("" = none))`.
pub const PROVIDERS: &[(&str, &str, &str)] = &[
    ("openai", "https://api.openai.com/v1", "OPENAI_API_KEY"),
    (
        "text-completion-openai",
        "https://api.openai.com/v1",
        "OPENAI_API_KEY",
    ),
    ("custom_openai", "", ""),
    ("openai_like", "", ""),
    ("litellm_proxy", "", "LITELLM_PROXY_API_KEY"),
    ("hosted_vllm", "", "HOSTED_VLLM_API_KEY"),
    ("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    ("mistral", "https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
    (
        "deepseek",
        "https://api.deepseek.com/v1",
        "DEEPSEEK_API_KEY",
    ),
    (
        "together_ai",
        "https://api.together.xyz/v1",
        "TOGETHERAI_API_KEY",
    ),
    (
        "fireworks_ai",
        "https://api.fireworks.ai/inference/v1",
        "FIREWORKS_AI_API_KEY",
    ),
    (
        "openrouter",
        "https://openrouter.ai/api/v1",
        "OPENROUTER_API_KEY",
    ),
    ("xai", "https://api.x.ai/v1", "XAI_API_KEY"),
    (
        "perplexity",
        "https://api.perplexity.ai",
        "PERPLEXITYAI_API_KEY",
    ),
    (
        "deepinfra",
        "https://api.deepinfra.com/v1/openai",
        "DEEPINFRA_API_KEY",
    ),
    ("cerebras", "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY"),
    (
        "nvidia_nim",
        "https://integrate.api.nvidia.com/v1",
        "NVIDIA_NIM_API_KEY",
    ),
    (
        "sambanova",
        "https://api.sambanova.ai/v1",
        "SAMBANOVA_API_KEY",
    ),
    ("ollama", "http://localhost:11434/v1", ""),
    ("ollama_chat", "http://localhost:11434/v1", ""),
    ("lm_studio", "http://localhost:1234/v1", "LM_STUDIO_API_KEY"),
];

/// The default base URL and key variable of a prefix, if it is in the family.
pub fn lookup(prefix: &str) -> Option<(&'static str, &'static str)> {
    PROVIDERS
        .iter()
        .find(|(name, _, _)| *name == prefix)
        .map(|(_, base, key)| (*base, *key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_unique_and_bases_are_urls() {
        let mut names: Vec<&str> = PROVIDERS.iter().map(|p| p.0).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), PROVIDERS.len());
        for (_, base, _) in PROVIDERS {
            assert!(base.is_empty() || base.starts_with("http"), "{base}");
        }
        assert_eq!(
            lookup("groq"),
            Some(("https://api.groq.com/openai/v1", "GROQ_API_KEY"))
        );
        assert_eq!(lookup("anthropic"), None);
    }
}
