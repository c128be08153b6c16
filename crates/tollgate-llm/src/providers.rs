//! The registry of native providers by `model:` prefix: each prefix's adapter, default base URL
//! and key variable. (The OpenAI-compatible family, which needs no adapter, is data in the
//! gateway's router.)

use std::sync::Arc;

use crate::adapter::{KeyAuth, Provider};
use crate::anthropic::{self, AnthropicWire};
use crate::azure::{self, AzureWire};
use crate::cohere::{self, CohereWire};
use crate::gemini::{self, GeminiWire};

/// Per-deployment settings an adapter may need.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Azure's `api-version`.
    pub api_version: Option<String>,
    /// Authenticate with a bearer token (an Azure AD token) instead of the provider's key
    /// header.
    pub bearer: bool,
}

/// A native provider for a deployment.
#[derive(Debug, Clone)]
pub struct Native {
    pub provider: Provider,
    /// Base URL when the deployment gives none ("" = `api_base` required).
    pub default_base: &'static str,
    /// Environment variable holding the key when the deployment gives none ("" = none).
    pub key_var: &'static str,
}

/// The native provider behind a `model:` prefix, if there is one.
pub fn native(prefix: &str, options: &Options) -> Option<Native> {
    let (wire, auth, default_base, key_var): (Arc<dyn crate::adapter::Wire>, KeyAuth, _, _) =
        match prefix {
            "anthropic" => (
                Arc::new(AnthropicWire),
                KeyAuth::Header(anthropic::KEY_HEADER),
                anthropic::DEFAULT_BASE,
                "ANTHROPIC_API_KEY",
            ),
            "azure" => (
                Arc::new(AzureWire {
                    api_version: options
                        .api_version
                        .clone()
                        .unwrap_or_else(|| azure::DEFAULT_API_VERSION.into()),
                }),
                KeyAuth::Header(azure::KEY_HEADER),
                "",
                "AZURE_API_KEY",
            ),
            "gemini" => (
                Arc::new(GeminiWire),
                KeyAuth::Header(gemini::KEY_HEADER),
                gemini::DEFAULT_BASE,
                "GEMINI_API_KEY",
            ),
            "cohere" | "cohere_chat" => (
                Arc::new(CohereWire),
                KeyAuth::Bearer,
                cohere::DEFAULT_BASE,
                "COHERE_API_KEY",
            ),
            _ => return None,
        };
    let auth = if options.bearer {
        KeyAuth::Bearer
    } else {
        auth
    };
    let name = PREFIXES
        .iter()
        .find(|p| **p == prefix)
        .copied()
        .unwrap_or("native");
    Some(Native {
        provider: Provider {
            name,
            wire,
            auth: Arc::new(auth),
        },
        default_base,
        key_var,
    })
}

/// Every prefix [`native`] knows.
pub const PREFIXES: &[&str] = &["anthropic", "azure", "gemini", "cohere", "cohere_chat"];
