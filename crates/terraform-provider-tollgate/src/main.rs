//! `terraform-provider-tollgate`: the Terraform provider for the Tollgate gateway. Terraform
//! starts it; it prints the plugin handshake line and serves the plugin protocol.

mod client;
mod data;
mod engine;
mod error;
mod plugin;
mod provider;
mod resources;
mod spec;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    plugin::serve("tollgate", provider::Tollgate::default()).await
}
