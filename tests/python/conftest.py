"""Starts a fake OpenAI upstream and a Tollgate gateway (real binaries, loopback ports) for the
SDK tests. The binaries come from TOLLGATE_BIN and FAKE_UPSTREAM_BIN (set by scripts/python-tests)."""

import os
import re
import subprocess
import tempfile
import time

import pytest

MASTER = "sk-python-suite-master"


def _wait_for(proc, pattern, stream, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = stream.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError(f"process exited early with {proc.returncode}")
            continue
        m = re.search(pattern, line)
        if m:
            return m.group(1)
    raise RuntimeError(f"timed out waiting for {pattern!r}")


# Model name -> (wire of its fake upstream, the deployment's `model:`).
PROVIDERS = {
    "gpt-4o": ("openai", "openai/gpt-4o"),
    "claude": ("anthropic", "anthropic/claude-sonnet-4-5"),
    "azure-gpt": ("azure", "azure/gpt-4o"),
    "gemini": ("gemini", "gemini/gemini-2.5-flash"),
    "cohere": ("cohere", "cohere/command-a-03-2025"),
    "bedrock": ("bedrock", "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0"),
    "vertex-gemini": ("vertex-gemini", "vertex_ai/gemini-2.5-flash"),
    "vertex-claude": ("vertex-anthropic", "vertex_ai/claude-sonnet-4-5@20250929"),
}

# Deployment parameters besides `model` and `api_base`, by wire (the fake Bedrock checks SigV4
# with AWS's example key pair; the Vertex fronts print their service-account file).
PARAMS = {
    "bedrock": "aws_access_key_id: AKIDEXAMPLE, aws_secret_access_key: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', aws_region_name: us-east-1",
}
DEFAULT_PARAMS = "api_key: sk-up, api_version: '2024-10-21'"


def _start_fake(wire):
    proc = subprocess.Popen([os.environ["FAKE_UPSTREAM_BIN"], "--wire", wire], stdout=subprocess.PIPE, text=True)
    url = _wait_for(proc, r"listening on (http://\S+)", proc.stdout)
    if wire.startswith("vertex-"):
        account = _wait_for(proc, r"service account at (\S+)", proc.stdout)
        PARAMS[wire] = f"vertex_project: fake-project, vertex_location: us-central1, vertex_credentials: '{account}'"
    return proc, url


@pytest.fixture(scope="session")
def upstreams():
    started = {wire: _start_fake(wire) for wire in {w for w, _ in PROVIDERS.values()}}
    yield {wire: url for wire, (_, url) in started.items()}
    for proc, _ in started.values():
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def upstream(upstreams):
    return upstreams["openai"]


@pytest.fixture(scope="session")
def gateway(upstream, upstreams):
    work = tempfile.mkdtemp(prefix="tollgate-py-")
    config = os.path.join(work, "config.yaml")
    with open(config, "w") as f:
        f.write(
            "model_list:\n"
            f"  - model_name: gpt-4o\n    litellm_params: {{model: openai/gpt-4o, api_base: '{upstream}', api_key: sk-up}}\n"
            f"  - model_name: text-embedding-3-small\n    litellm_params: {{model: openai/text-embedding-3-small, api_base: '{upstream}', api_key: sk-up}}\n"
        )
        for name, (wire, model) in PROVIDERS.items():
            if name == "gpt-4o":
                continue
            f.write(
                f"  - model_name: {name}\n    litellm_params: {{model: '{model}', api_base: '{upstreams[wire]}', "
                f"{PARAMS.get(wire, DEFAULT_PARAMS)}}}\n"
            )
        f.write("general_settings:\n  proxy_batch_write_at: 0.05\n")
    env = dict(
        os.environ,
        LITELLM_MASTER_KEY=MASTER,
        DATABASE_URL=f"sqlite://{work}/t.db",
        TOLLGATE_JOURNAL_DIR=os.path.join(work, "journal"),
        TOLLGATE_LOG="info",
    )
    proc = subprocess.Popen(
        [os.environ["TOLLGATE_BIN"], "serve", "--config", config, "--port", "0", "--host", "127.0.0.1"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    addr = _wait_for(proc, r"listening on (http://\S+)", proc.stderr)
    yield addr
    proc.terminate()
    proc.wait(timeout=30)
