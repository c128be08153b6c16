//! Runs the fake OpenAI upstream on a loopback port until killed, for suites outside Rust
//! (the Python SDK tests). Prints `listening on <base url>` once it accepts connections.

use std::io::Write as _;

#[tokio::main]
async fn main() {
    let fake = tollgate_testkit::FakeOpenAi::start().await;
    let mut out = std::io::stdout();
    let _ = writeln!(out, "listening on {}", fake.url());
    let _ = out.flush();
    let _ = tokio::signal::ctrl_c().await;
    drop(fake);
}
