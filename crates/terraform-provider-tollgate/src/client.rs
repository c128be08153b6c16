//! HTTP client for the gateway's management API: JSON in, JSON out, admin key as bearer.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value as Json;

use crate::error::{Error, Result};

/// A configured connection to one gateway.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
}

impl Client {
    pub fn new(base: &str, key: Option<String>) -> Result<Client> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_owned(),
            key,
        })
    }

    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Json> {
        self.send(Method::GET, "GET", path, query, None).await
    }

    pub async fn post(&self, path: &str, body: &Json) -> Result<Json> {
        self.send(Method::POST, "POST", path, &[], Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Json) -> Result<Json> {
        self.send(Method::PATCH, "PATCH", path, &[], Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, body: &Json) -> Result<Json> {
        self.send(Method::DELETE, "DELETE", path, &[], Some(body))
            .await
    }

    /// Checks that `api_base` points at a gateway (a wrong path prefix would otherwise make
    /// every object look deleted).
    pub async fn check(&self) -> Result<()> {
        self.get("/health/liveliness", &[]).await.map(|_| ())
    }

    async fn send(
        &self,
        method: Method,
        name: &'static str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Json>,
    ) -> Result<Json> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = self.http.request(method.clone(), &url).query(query);
            if let Some(k) = &self.key {
                req = req.bearer_auth(k);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) if e.is_connect() && attempt < 3 => {
                    tokio::time::sleep(Duration::from_millis(300 * attempt)).await;
                    continue;
                }
                Err(source) => return Err(Error::Transport { url, source }),
            };
            let status = resp.status().as_u16();
            let text = resp.text().await.map_err(|source| Error::Transport {
                url: url.clone(),
                source,
            })?;
            let json: Json = serde_json::from_str(&text).unwrap_or(Json::String(text));
            if (200..300).contains(&status) {
                return Ok(json);
            }
            return Err(Error::from_envelope(name, path, status, &json));
        }
    }
}
