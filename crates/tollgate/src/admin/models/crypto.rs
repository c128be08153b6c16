//! Encryption of upstream secrets stored with database models: NaCl's secretbox
//! (XSalsa20-Poly1305) under the SHA-256 of `LITELLM_SALT_KEY` (or of the master key), the
//! nonce prepended and the whole URL-safe base64 encoded, as LiteLLM stores them.

use base64::Engine as _;
use crypto_secretbox::aead::{Aead, AeadCore, KeyInit, OsRng};
use crypto_secretbox::XSalsa20Poly1305;
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 24;

/// Encrypts and decrypts stored secrets.
pub struct SecretBox {
    cipher: XSalsa20Poly1305,
}

/// A stored secret could not be read back (wrong salt key, or damaged).
#[derive(Debug, thiserror::Error)]
#[error("cannot decrypt a stored secret: {0}")]
pub struct CryptoError(&'static str);

impl SecretBox {
    pub fn new(salt: &str) -> Self {
        let key = Sha256::digest(salt.as_bytes());
        Self {
            cipher: XSalsa20Poly1305::new(&key),
        }
    }

    pub fn encrypt(&self, plain: &str) -> Result<String, CryptoError> {
        let nonce = XSalsa20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(&nonce, plain.as_bytes())
            .map_err(|_| CryptoError("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(base64::engine::general_purpose::URL_SAFE.encode(out))
    }

    pub fn decrypt(&self, token: &str) -> Result<String, CryptoError> {
        let bytes = base64::engine::general_purpose::URL_SAFE
            .decode(token.trim())
            .map_err(|_| CryptoError("not base64"))?;
        if bytes.len() <= NONCE_LEN {
            return Err(CryptoError("too short"));
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(nonce.into(), sealed)
            .map_err(|_| CryptoError("wrong key or damaged value"))?;
        String::from_utf8(plain).map_err(|_| CryptoError("not text"))
    }
}

/// Whether a `litellm_params` field holds a secret. Prices (`input_cost_per_token`, ...) and
/// token counts are not secrets, though their names mention tokens.
pub fn is_secret(field: &str) -> bool {
    ["key", "secret", "token", "credentials", "password"]
        .iter()
        .any(|w| field.contains(w))
        && !matches!(field, "max_tokens" | "key_alias")
        && !field.contains("cost")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_key() {
        let b = SecretBox::new("salt");
        let sealed = b.encrypt("sk-upstream").unwrap();
        assert!(!sealed.contains("sk-upstream"));
        assert_ne!(sealed, b.encrypt("sk-upstream").unwrap());
        assert_eq!(b.decrypt(&sealed).unwrap(), "sk-upstream");
        assert!(SecretBox::new("other").decrypt(&sealed).is_err());
        assert!(b.decrypt("short").is_err());
    }

    #[test]
    fn secret_fields() {
        assert!(is_secret("api_key"));
        assert!(is_secret("aws_secret_access_key"));
        assert!(is_secret("vertex_credentials"));
        assert!(!is_secret("api_base"));
        assert!(!is_secret("max_tokens"));
        assert!(is_secret("aws_session_token"));
        assert!(!is_secret("input_cost_per_token"));
        assert!(!is_secret("output_cost_per_token"));
    }
}
