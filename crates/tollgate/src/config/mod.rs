//! Configuration: LiteLLM's `config.yaml` and the environment.
