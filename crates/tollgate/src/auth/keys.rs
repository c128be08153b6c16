//! Virtual key values: generation, hashing and display. The store keeps only the lowercase hex
//! SHA-256 of the whole key string, exactly as LiteLLM does, so imported keys keep working.

use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

/// Shortest custom key accepted.
pub const MIN_CUSTOM_KEY_LEN: usize = 16;

/// A new key: `sk-` and 22 URL-safe characters (128 random bits).
pub fn generate() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "sk-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The stored form of a key: lowercase hex SHA-256 of the full string.
pub fn hash(raw: &str) -> String {
    hex::encode(Sha256::digest(raw.as_bytes()))
}

/// Whether `s` looks like a stored hash rather than a raw key.
pub fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Accepts a raw key or its hash (LiteLLM accepts both wherever a key is named).
pub fn to_hash(raw_or_hash: &str) -> String {
    if raw_or_hash.starts_with("sk-") || !is_hash(raw_or_hash) {
        hash(raw_or_hash)
    } else {
        raw_or_hash.to_ascii_lowercase()
    }
}

/// `sk-...abcd`: what the API shows of a key after creation.
pub fn display_name(raw: &str) -> String {
    let tail: String = raw
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("sk-...{tail}")
}

/// `sk-x****abcd`, for error messages about a key that was passed in.
pub fn masked(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    if chars.len() <= 8 {
        return "****".into();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_litellms_shape() {
        let k = generate();
        assert!(k.starts_with("sk-"));
        assert_eq!(k.len(), 25);
        assert!(k[3..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(generate(), k);
    }

    #[test]
    fn hash_is_sha256_hex_of_the_whole_key() {
        // echo -n sk-1234 | sha256sum
        assert_eq!(
            hash("sk-1234"),
            "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"
        );
        assert_eq!(to_hash("sk-1234"), hash("sk-1234"));
        assert_eq!(to_hash(&hash("sk-1234").to_uppercase()), hash("sk-1234"));
    }

    #[test]
    fn names_and_masks_show_only_the_tail() {
        assert_eq!(display_name("sk-abcdefgh1234"), "sk-...1234");
        assert_eq!(masked("sk-abcdefgh1234"), "sk-a****1234");
        assert_eq!(masked("short"), "****");
    }
}
