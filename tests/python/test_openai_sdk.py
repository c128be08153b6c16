"""The official openai SDK against Tollgate: what a client sees."""

import httpx
import openai
import pytest

from conftest import MASTER, PROVIDERS


def client(gateway, key=MASTER):
    return openai.OpenAI(base_url=f"{gateway}/v1", api_key=key, max_retries=0)


def new_key(gateway, **body):
    r = httpx.post(f"{gateway}/key/generate", json=body, headers={"Authorization": f"Bearer {MASTER}"})
    r.raise_for_status()
    return r.json()["key"]


def test_chat(gateway):
    r = client(gateway).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert r.object == "chat.completion"
    assert r.choices[0].message.content
    assert r.usage.total_tokens > 0


def test_chat_with_raw_headers(gateway):
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    assert float(raw.headers["x-litellm-response-cost"]) > 0
    assert raw.headers["x-litellm-model-group"] == "gpt-4o"


def test_chat_stream(gateway):
    chunks = list(
        client(gateway).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert all(c.usage is None for c in chunks)


def test_chat_stream_with_usage(gateway):
    chunks = list(
        client(gateway).chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    usage = [c.usage for c in chunks if c.usage is not None]
    assert len(usage) == 1 and usage[0].total_tokens > 0


def test_embeddings(gateway):
    r = client(gateway).embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(r.data) == 2 and r.data[0].embedding


def test_models_are_filtered(gateway):
    ids = sorted(m.id for m in client(gateway).models.list())
    assert ids == sorted([*PROVIDERS, "text-embedding-3-small"])
    limited = new_key(gateway, models=["gpt-4o"])
    assert [m.id for m in client(gateway, limited).models.list()] == ["gpt-4o"]


def test_bad_key(gateway):
    with pytest.raises(openai.AuthenticationError):
        client(gateway, "sk-not-a-real-key-000").chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
        )


def test_unknown_model(gateway):
    with pytest.raises(openai.BadRequestError) as e:
        client(gateway).chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert "Invalid model name" in str(e.value)


def test_model_not_allowed(gateway):
    key = new_key(gateway, models=["text-embedding-3-small"])
    with pytest.raises(openai.AuthenticationError) as e:
        client(gateway, key).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert "not allowed to access model" in str(e.value)


def test_rate_limited(gateway):
    key = new_key(gateway, rpm_limit=1)
    c = client(gateway, key)
    c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.RateLimitError):
        c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])


def test_budget_exceeded(gateway):
    key = new_key(gateway, max_budget=0)
    with pytest.raises(openai.BadRequestError) as e:
        client(gateway, key).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert "Budget has been exceeded" in str(e.value)
