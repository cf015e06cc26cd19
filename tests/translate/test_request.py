"""Anthropic JSON in, OpenAI JSON out (protocol.md §5.1-§5.3, E1-E13, E22-E24, E36-E39)."""

from __future__ import annotations

from typing import Any

import pytest

from anthropic_proxy.translate import reasoning
from anthropic_proxy.translate.messages import NO_RESULT, backend_tool_name
from anthropic_proxy.translate.request import Target, UpstreamRequest, anthropic_to_openai_request

OR = Target(model="anthropic/claude-sonnet-4.6", cache_control=True, session_id="sess-1")
PLAIN = Target(model="llama3", openrouter=False)
IMG = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}}


def translate(body: dict[str, Any], target: Target = OR) -> UpstreamRequest:
    return anthropic_to_openai_request(
        {"model": "claude-sonnet-4-6", "max_tokens": 1024, **body}, target
    )


def chat(messages: list[dict[str, Any]], target: Target = OR, **body: Any) -> list[dict[str, Any]]:
    return list(translate({"messages": messages, **body}, target).body["messages"])


def tool_use(id: str, name: str = "Read", **input: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": id, "name": name, "input": input}


def result(id: str, content: Any = "done", **extra: Any) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": id, "content": content, **extra}


def test_string_system_and_user_content() -> None:
    assert chat([{"role": "user", "content": "hi"}], system="Be brief.") == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]


def test_e22_billing_header_dropped_e23_cache_control_kept_as_parts() -> None:
    system = [
        {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1; cch=abcde;"},
        {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
    ]
    out = translate({"system": system, "messages": [{"role": "user", "content": "hi"}]})
    assert out.body["messages"][0] == {
        "role": "system",
        "content": [
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}
        ],
    }
    assert any("billing-header" in c for c in out.changes)


def test_cache_control_stripped_for_backends_without_it() -> None:
    system = [
        {"type": "text", "text": "A", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "B"},
    ]
    assert chat([{"role": "user", "content": "x"}], PLAIN, system=system)[0] == {
        "role": "system",
        "content": "A\n\nB",
    }


def test_e1_e2_tool_results_come_first_then_text_and_images() -> None:
    messages = [
        {"role": "user", "content": "read both"},
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "Sure."}, tool_use("t1"), tool_use("t2", "Grep")],
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "<system-reminder>x</system-reminder>"},
                result("t2", "two"),
                result("t1", [{"type": "text", "text": "one"}]),
            ],
        },
    ]
    out = chat(messages)
    assert [m["role"] for m in out] == ["user", "assistant", "tool", "tool", "user"]
    assert out[1]["tool_calls"][1] == {
        "id": "t2",
        "type": "function",
        "function": {"name": "Grep", "arguments": "{}"},
    }
    assert [(m["tool_call_id"], m["content"]) for m in out[2:4]] == [("t1", "one"), ("t2", "two")]
    assert out[4] == {"role": "user", "content": "<system-reminder>x</system-reminder>"}


def test_e3_unanswered_call_gets_a_placeholder_and_orphan_result_becomes_text() -> None:
    messages = [
        {"role": "assistant", "content": [tool_use("t1")]},
        {"role": "user", "content": [{"type": "text", "text": "never mind"}]},
        {"role": "user", "content": [result("gone", "late")]},
    ]
    out = chat(messages)
    assert out[1] == {"role": "tool", "tool_call_id": "t1", "content": NO_RESULT}
    assert out[2]["role"] == "user" and "[tool result gone]\nlate" in str(out[2]["content"])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param("plain", "plain", id="string"),
        pytest.param([], "(empty)", id="empty-list"),
        pytest.param(None, "(empty)", id="missing"),
        pytest.param(
            [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], "a\nb", id="text-list"
        ),
    ],
)
def test_e4_tool_result_shapes(content: Any, expected: str) -> None:
    out = chat(
        [
            {"role": "assistant", "content": [tool_use("t1")]},
            {"role": "user", "content": [result("t1", content)]},
        ]
    )
    assert out[1]["content"] == expected


def test_e4_images_in_tool_results_go_to_a_user_message_after_the_tool_messages() -> None:
    shot = [{"type": "text", "text": "screenshot"}, IMG]
    out = chat(
        [
            {"role": "assistant", "content": [tool_use("t1")]},
            {"role": "user", "content": [result("t1", shot)]},
        ]
    )
    assert out[1] == {"role": "tool", "tool_call_id": "t1", "content": "screenshot"}
    assert out[2] == {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}}],
    }


def test_is_error_is_kept_visible() -> None:
    out = chat(
        [
            {"role": "assistant", "content": [tool_use("t1")]},
            {"role": "user", "content": [result("t1", "boom", is_error=True)]},
        ]
    )
    assert out[1]["content"] == "Error: boom"


def test_e5_system_message_between_call_and_result_waits_for_the_answers() -> None:
    messages = [
        {"role": "assistant", "content": [tool_use("t1")]},
        {"role": "system", "content": "hook said hi"},
        {"role": "user", "content": [result("t1")]},
    ]
    out = chat(messages)
    assert [m["role"] for m in out] == ["assistant", "tool", "user"]
    assert out[2]["content"] == "<system-reminder>\nhook said hi\n</system-reminder>"


def test_e6_empty_text_dropped_and_tool_only_assistant_has_null_content() -> None:
    out = chat(
        [
            {
                "role": "user",
                "content": [{"type": "text", "text": "  "}, {"type": "text", "text": "q"}],
            },
            {"role": "assistant", "content": [{"type": "text", "text": ""}, tool_use("t1")]},
        ]
    )
    assert out[0] == {"role": "user", "content": "q"}
    assert out[1]["content"] is None


def test_e7_consecutive_user_turns_merge() -> None:
    assert chat([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]) == [
        {"role": "user", "content": "a\n\nb"}
    ]


def test_e8_e9_images_and_documents() -> None:
    pdf = {
        "type": "document",
        "title": "spec.pdf",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBER"},
    }
    text_doc = {
        "type": "document",
        "title": "Notes",
        "source": {"type": "text", "media_type": "text/plain", "data": "hello"},
    }
    url_image = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    out = chat([{"role": "user", "content": [IMG, url_image, pdf, text_doc]}])
    assert out[0]["content"] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {
            "type": "file",
            "file": {"filename": "spec.pdf", "file_data": "data:application/pdf;base64,JVBER"},
        },
        {"type": "text", "text": "Notes\n\nhello"},
    ]


def test_e13_long_tool_names_are_shortened_everywhere_and_mapped_back() -> None:
    long_name = "mcp__some_server__" + "very_long_tool_name_" * 4
    short = backend_tool_name(long_name)
    out = translate(
        {
            "messages": [
                {"role": "assistant", "content": [tool_use("t1", long_name)]},
                {"role": "user", "content": [result("t1")]},
            ],
            "tools": [{"name": long_name, "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "tool", "name": long_name},
        }
    )
    assert len(short) == 64 and short != long_name
    assert out.body["tools"][0]["function"]["name"] == short
    assert out.body["messages"][0]["tool_calls"][0]["function"]["name"] == short
    assert out.body["tool_choice"] == {"type": "function", "function": {"name": short}}
    assert out.tool_names == {short: long_name}


def test_e12_tool_names_keep_their_case() -> None:
    out = translate(
        {
            "messages": [{"role": "user", "content": "x"}],
            "tools": [
                {
                    "name": "Bash",
                    "description": "Run",
                    "input_schema": {"type": "object", "properties": {}},
                    "type": "custom",
                    "cache_control": {"type": "ephemeral"},
                }
            ],
        }
    )
    assert out.body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "Bash",
                "parameters": {"type": "object", "properties": {}},
                "description": "Run",
            },
            "cache_control": {"type": "ephemeral"},
        }
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        pytest.param({"type": "auto"}, {"tool_choice": "auto"}, id="auto"),
        pytest.param({"type": "any"}, {"tool_choice": "required"}, id="any"),
        pytest.param({"type": "none"}, {"tool_choice": "none"}, id="none"),
        pytest.param(
            {"type": "tool", "name": "Bash"},
            {"tool_choice": {"type": "function", "function": {"name": "Bash"}}},
            id="tool",
        ),
        pytest.param(
            {"type": "auto", "disable_parallel_tool_use": True},
            {"tool_choice": "auto", "parallel_tool_calls": False},
            id="no-parallel",
        ),
    ],
)
def test_tool_choice(choice: dict[str, Any], expected: dict[str, Any]) -> None:
    body = translate(
        {
            "messages": [{"role": "user", "content": "x"}],
            "tools": [{"name": "Bash", "input_schema": {"type": "object"}}],
            "tool_choice": choice,
        }
    ).body
    assert {k: body[k] for k in ("tool_choice", "parallel_tool_calls") if k in body} == expected


def test_server_tools_web_search_becomes_the_web_plugin_others_dropped() -> None:
    tools = [
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
        {"type": "bash_20250124", "name": "bash"},
    ]
    out = translate({"messages": [{"role": "user", "content": "x"}], "tools": tools})
    assert out.body["plugins"] == [{"id": "web", "max_results": 5}] and "tools" not in out.body
    assert any("bash_20250124" in c for c in out.changes)


def test_sampling_stop_user_session_and_limits() -> None:
    out = translate(
        {
            "messages": [{"role": "user", "content": "x"}],
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 5,
            "stop_sequences": ["a", "b", "c", "d", "e"],
            "metadata": {"user_id": "u1"},
            "stream": True,
            "max_tokens": 1,
        }
    )
    body = out.body
    assert (body["temperature"], body["top_p"], body["top_k"]) == (0.2, 0.9, 5)
    assert body["stop"] == ["a", "b", "c", "d"] and out.stop_sequences == ("a", "b", "c", "d", "e")
    assert body["user"] == "u1" and body["session_id"] == "sess-1"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 16 and any("max_tokens 1 -> 16" in c for c in out.changes)


def test_generic_backend_gets_no_openrouter_extras() -> None:
    body = translate(
        {
            "messages": [{"role": "user", "content": "x"}],
            "top_k": 5,
            "thinking": {"type": "enabled", "budget_tokens": 10000},
        },
        PLAIN,
    ).body
    assert "top_k" not in body and "session_id" not in body and "reasoning" not in body
    assert body["reasoning_effort"] == "medium"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param(
            {"thinking": {"type": "enabled", "budget_tokens": 4000}},
            {"max_tokens": 4000},
            id="budget",
        ),
        pytest.param(
            {"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}},
            {"effort": "high"},
            id="adaptive",
        ),
        pytest.param(
            {"thinking": {"type": "adaptive", "display": "omitted"}},
            {"effort": "medium", "exclude": True},
            id="omitted",
        ),
        pytest.param({}, {"exclude": True}, id="E27-not-asked"),
        pytest.param({"thinking": {"type": "disabled"}}, {"exclude": True}, id="disabled"),
    ],
)
def test_thinking_to_reasoning(extra: dict[str, Any], expected: dict[str, Any]) -> None:
    out = translate({"messages": [{"role": "user", "content": "x"}], **extra})
    assert out.body["reasoning"] == expected
    assert out.thinking == (extra.get("thinking", {}).get("type") in ("enabled", "adaptive"))


def test_e24_reasoning_round_trip_through_the_signature() -> None:
    details = [{"type": "reasoning.text", "text": "plan", "signature": "prov-sig", "index": 0}]
    assistant = {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "plan", "signature": reasoning.pack(details)},
            {"type": "redacted_thinking", "data": "anthropic-opaque"},
            tool_use("t1"),
        ],
    }
    out = translate(
        {
            "messages": [
                {"role": "user", "content": "x"},
                assistant,
                {"role": "user", "content": [result("t1")]},
            ]
        }
    )
    assert out.body["messages"][1]["reasoning_details"] == details
    assert any("signed by another backend" in c for c in out.changes)


def test_e39_unknown_fields_are_dropped_and_listed() -> None:
    out = translate(
        {
            "messages": [{"role": "user", "content": "x"}],
            "context_management": {"edits": []},
            "speed": "fast",
            "service_tier": "auto",
            "cache_control": {"type": "ephemeral"},
        }
    )
    assert not {"context_management", "speed", "service_tier"} & out.body.keys()
    assert out.body["cache_control"] == {"type": "ephemeral"}
    assert {"dropped context_management", "dropped speed", "dropped service_tier"} <= set(
        out.changes
    )


def test_response_format_from_output_config() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    body = translate(
        {
            "messages": [{"role": "user", "content": "x"}],
            "output_config": {"format": {"type": "json_schema", "schema": schema}},
        }
    ).body
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": True},
    }


def test_no_messages_still_gives_a_user_message() -> None:
    assert chat([]) == [{"role": "user", "content": "(empty)"}]
