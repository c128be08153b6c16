//! Runs a fake upstream on a loopback port until killed, for suites outside Rust (the Python
//! SDK tests). `--wire openai|azure|anthropic|gemini|cohere|bedrock|vertex-gemini|vertex-anthropic`
//! picks the wire format (default `openai`). Prints `listening on <base url>` once it accepts
//! connections. `bedrock` is the fake Bedrock runtime (AWS's example key pair, `us-east-1`);
//! the `vertex-*` wires put the Vertex front before a Gemini or Anthropic fake and then print
//! `service account at <path>` (a key file whose token endpoint is the front).

use std::io::Write as _;

use tollgate_testkit::{FakeBedrock, FakeUpstream, FakeVertex, Wire};

/// Whatever runs (fakes stop when dropped), kept alive until the process is told to stop.
type Running = Box<dyn std::any::Any>;

async fn start(name: &str) -> Option<(Running, String, Option<String>)> {
    Some(match name {
        "bedrock" => {
            let f = FakeBedrock::start().await;
            let url = f.url();
            (Box::new(f) as Running, url, None)
        }
        "vertex-gemini" | "vertex-anthropic" => {
            let wire = if name == "vertex-gemini" {
                Wire::Gemini
            } else {
                Wire::Anthropic
            };
            let inner = FakeUpstream::start_as(wire).await;
            let front = FakeVertex::start(&inner.url()).await;
            let (url, account) = (front.url(), front.credentials_path());
            (Box::new((inner, front)) as Running, url, Some(account))
        }
        other => {
            let f = FakeUpstream::start_as(Wire::parse(other)?).await;
            let url = f.url();
            (Box::new(f) as Running, url, None)
        }
    })
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args
        .iter()
        .position(|a| a == "--wire")
        .and_then(|i| args.get(i + 1))
        .map_or("openai", String::as_str);
    let mut out = std::io::stdout();
    let Some((running, url, account)) = start(name).await else {
        let _ = writeln!(std::io::stderr(), "unknown wire {name:?}");
        std::process::exit(2);
    };
    let _ = writeln!(out, "listening on {url}");
    if let Some(path) = account {
        let _ = writeln!(out, "service account at {path}");
    }
    let _ = out.flush();
    let _ = tokio::signal::ctrl_c().await;
    drop(running);
}
