//! Integration tests: the real `terraform` CLI drives the provider binary against a real
//! gateway on loopback.

#[cfg(test)]
mod data_sources;
#[cfg(test)]
mod example;
#[cfg(test)]
mod harness;
#[cfg(test)]
mod lifecycle;
#[cfg(test)]
mod regressions;
#[cfg(test)]
mod walk;
