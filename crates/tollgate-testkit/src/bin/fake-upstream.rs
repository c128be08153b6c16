//! Runs a fake upstream on a loopback port until killed, for suites outside Rust (the Python
//! SDK tests). `--wire openai|azure|anthropic|gemini|cohere` picks the wire format (default
//! `openai`). Prints `listening on <base url>` once it accepts connections.

use std::io::Write as _;

use tollgate_testkit::{FakeUpstream, Wire};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args
        .iter()
        .position(|a| a == "--wire")
        .and_then(|i| args.get(i + 1))
        .map_or("openai", String::as_str);
    let mut out = std::io::stdout();
    let Some(wire) = Wire::parse(name) else {
        let _ = writeln!(std::io::stderr(), "unknown wire {name:?}");
        std::process::exit(2);
    };
    let fake = FakeUpstream::start_as(wire).await;
    let _ = writeln!(out, "listening on {}", fake.url());
    let _ = out.flush();
    let _ = tokio::signal::ctrl_c().await;
    drop(fake);
}
