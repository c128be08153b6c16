"""The official openai and anthropic SDKs against Tollgate, for every provider's fake upstream:
OpenAI-format and Anthropic-format clients, streaming and not, tool calls, counted tokens, and
errors in Anthropic's envelope."""

import anthropic
import openai
import pytest

from conftest import MASTER, PROVIDERS

MODELS = list(PROVIDERS)
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def oa(gateway):
    return openai.OpenAI(base_url=f"{gateway}/v1", api_key=MASTER, max_retries=0)


def an(gateway, key=MASTER):
    return anthropic.Anthropic(base_url=gateway, api_key=key, max_retries=0)


@pytest.mark.parametrize("model", MODELS)
def test_openai_sdk_chat(gateway, model):
    r = oa(gateway).chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0


@pytest.mark.parametrize("model", MODELS)
def test_openai_sdk_stream(gateway, model):
    chunks = list(
        oa(gateway).chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert [c.usage for c in chunks if c.usage][0].total_tokens > 0


@pytest.mark.parametrize("model", MODELS)
def test_anthropic_sdk_messages(gateway, model):
    m = an(gateway).messages.create(
        model=model, max_tokens=100, system="Be brief.", messages=[{"role": "user", "content": "hi"}]
    )
    assert m.type == "message" and m.role == "assistant"
    assert m.content[0].type == "text" and m.content[0].text
    assert m.stop_reason == "end_turn"
    assert m.usage.output_tokens > 0


@pytest.mark.parametrize("model", MODELS)
def test_anthropic_sdk_stream(gateway, model):
    with an(gateway).messages.stream(
        model=model, max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("model", MODELS)
def test_anthropic_sdk_tool_round_trip(gateway, model):
    client = an(gateway)
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.messages.create(model=model, max_tokens=100, tools=[WEATHER], messages=messages)
    # The fakes answer with text unless told to call tools; send a tool turn back either way.
    messages += [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny"}]},
    ]
    second = client.messages.create(model=model, max_tokens=100, tools=[WEATHER], messages=messages)
    assert first.content and second.content


def test_anthropic_sdk_count_tokens(gateway):
    r = an(gateway).messages.count_tokens(model="claude", messages=[{"role": "user", "content": "hello there"}])
    assert r.input_tokens > 0


def test_anthropic_sdk_sees_its_own_errors(gateway):
    with pytest.raises(anthropic.AuthenticationError) as e:
        an(gateway, key="sk-not-a-key").messages.create(
            model="claude", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert e.value.body["type"] == "error"
    with pytest.raises(anthropic.BadRequestError):
        an(gateway).messages.create(model="nope", max_tokens=10, messages=[{"role": "user", "content": "hi"}])


def test_anthropic_sdk_lists_models(gateway):
    ids = sorted(m.id for m in an(gateway).models.list())
    assert ids == sorted([*PROVIDERS, "text-embedding-3-small"])
