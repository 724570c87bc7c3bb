"""The playground end to end: headless Chromium drives the page a real `qwenchat serve` serves
at `/`, on the starter model, behind API keys — as a person would, by label and role.

Each test checks what the page shows and, through the answer's "Request as code" snippet,
the exact request it sent. Screenshots of the main states land in test-artifacts/playground/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from harness.qwenchat import ServerProcess, create_key
from playwright.sync_api import Locator, Page, expect
from tests.web.browser import save_screenshot

PERSON = {"type": "object", "properties": {"name": {"type": "string"},
                                           "age": {"type": "integer"}},
          "required": ["name", "age"]}


@dataclass(frozen=True)
class Playground:
    url: str
    key: str
    limited_key: str  # one request a minute


@pytest.fixture(scope="module")
def playground(starter_model: Path,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Playground]:
    """A server with keys (so they are required), the starter model behind every id."""
    home = tmp_path_factory.mktemp("playground")
    key = create_key(home, "browser")
    limited = create_key(home, "one-a-minute", "--rpm", "1")
    with ServerProcess(["--model", str(starter_model), "--threads", "1"], home,
                       home / "server.log") as proc:
        yield Playground(proc.url, key, limited)


def open_playground(page: Page, url: str, key: str | None) -> None:
    """Load the page and, when ``key`` is given, enter it as a user would."""
    page.goto(f"{url}/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    if key is not None:
        page.get_by_label("Key (kept in this browser only)").fill(key)
        page.get_by_role("button", name="Save key").click()


def choose(page: Page, label: str, value: str) -> None:
    page.get_by_label(label, exact=True).select_option(value)


def send(page: Page, text: str) -> Locator:
    """Type and send a message with Enter; the answer it starts."""
    answers = page.locator(".message.assistant")
    before = answers.count()
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_label("Message", exact=True).press("Enter")
    expect(answers).to_have_count(before + 1)
    return answers.nth(before)


def finished(answer: Locator) -> Locator:
    """``answer`` once its stream has ended (its stats are shown)."""
    expect(answer.locator(".stats")).to_be_visible()
    expect(answer).not_to_have_class(re.compile("streaming"))
    return answer


def stat(answer: Locator, name: str) -> str:
    return answer.locator(f'dd[data-stat="{name}"]').inner_text()


def sent_request(answer: Locator) -> dict[str, Any]:
    """The request body an answer came from, read back from its curl snippet."""
    answer.get_by_text("Request as code").click()
    curl = answer.get_by_role("region", name="curl snippet").locator("code").inner_text()
    quoted = curl[curl.index("-d '") + 4:curl.rindex("'")]
    body: dict[str, Any] = json.loads(quoted.replace("'\\''", "'"))
    return body


def test_a_message_streams_into_a_markdown_answer_with_stats(page: Page,
                                                             playground: Playground) -> None:
    origins: set[str] = set()
    page.on("request", lambda request: origins.add(re.sub(r"^(\w+://[^/]+).*", r"\1",
                                                            request.url)))
    open_playground(page, playground.url, playground.key)
    choose(page, "Model", "qwen-plus")
    page.get_by_label("max_tokens").fill("80")
    answer = send(page, "Write a Python function that adds two numbers, in a code block.")

    # text appears while the answer is still streaming, then the stream ends
    expect(answer).to_have_class(re.compile("streaming"))
    expect(answer.locator(".content")).not_to_be_empty()
    save_screenshot(page, "streaming")
    finished(answer)
    assert int(stat(answer, "Tokens out")) > 0
    assert int(stat(answer, "Tokens in")) > 0
    assert re.fullmatch(r"\d+\.\d\d s", stat(answer, "First token"))
    assert re.fullmatch(r"\d+\.\d tok/s", stat(answer, "Speed"))
    assert stat(answer, "Finish") in ("stop", "length")
    save_screenshot(page, "answer")

    request = sent_request(answer)
    assert request["model"] == "qwen-plus"
    assert request["max_tokens"] == 80
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}
    assert request["messages"][-1]["content"].startswith("Write a Python function")
    python = answer.get_by_role("region", name="Python snippet").inner_text()
    assert 'model="qwen-plus"' in python and "max_tokens=80" in python
    # the page and everything it loaded came from the server itself
    assert origins == {playground.url}


def test_conversations_are_kept_in_the_browser_and_deletable(page: Page,
                                                            playground: Playground) -> None:
    open_playground(page, playground.url, playground.key)
    page.get_by_label("max_tokens").fill("8")
    finished(send(page, "First conversation"))
    finished(send(page, "A second turn"))
    page.get_by_role("button", name="New conversation").click()
    finished(send(page, "Second conversation"))

    page.reload()  # everything comes back from the browser's storage
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    conversations = page.get_by_role("navigation", name="Conversations")
    expect(conversations.get_by_role("button", name="Delete conversation:")).to_have_count(2)
    conversations.get_by_role("button", name="First conversation", exact=True).click()
    expect(page.locator(".message.user")).to_have_count(2)
    expect(page.locator(".message.assistant .stats")).to_have_count(2)
    expect(page.get_by_label("Key (kept in this browser only)")).to_have_value(playground.key)

    conversations.get_by_role("button", name="Delete conversation: First conversation").click()
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(conversations.get_by_role("button", name="Delete conversation:")).to_have_count(1)
    expect(page.locator(".message.user .text")).to_have_text(["Second conversation"])


def test_thinking_toggle_and_budget_go_into_the_request(page: Page,
                                                        playground: Playground) -> None:
    open_playground(page, playground.url, playground.key)
    thinking = page.get_by_label("Thinking mode")
    # the controls follow the model card's capabilities: what the model refuses is disabled
    choose(page, "Model", "qwen-mt-plus")
    expect(thinking.locator('option[value="on"]')).to_be_disabled()
    expect(page.get_by_label("Thinking budget (tokens)")).to_be_disabled()
    expect(page.get_by_text("qwen-mt-plus does not take tools.")).to_be_visible()
    choose(page, "Model", "qwq-plus")
    expect(thinking.locator('option[value="off"]')).to_be_disabled()
    expect(thinking.locator('option[value="default"]')).to_have_text("Model default (on)")
    choose(page, "Model", "qwen-plus")
    expect(thinking.locator('option[value="default"]')).to_have_text("Model default (off)")
    expect(page.get_by_label("max_tokens")).to_have_attribute(
        "placeholder", re.compile(r"Model maximum \(\d+\)"))

    choose(page, "Model", "qwen3.6-plus")
    page.get_by_label("max_tokens").fill("16")
    choose(page, "Thinking mode", "on")
    page.get_by_label("Thinking budget (tokens)").fill("32")
    thinking = finished(send(page, "What is 2 + 2?"))
    request = sent_request(thinking)
    assert request["enable_thinking"] is True and request["thinking_budget"] == 32
    python = thinking.get_by_role("region", name="Python snippet").inner_text()
    assert re.search(r'extra_body=\{\s+"enable_thinking": True,\s+"thinking_budget": 32,', python)

    choose(page, "Thinking mode", "off")
    plain = finished(send(page, "And 3 + 3?"))
    request = sent_request(plain)
    assert request["enable_thinking"] is False and "thinking_budget" not in request
    # the starter's template knows nothing of thinking: its answers are all content
    expect(plain.locator(".content")).not_to_be_empty()


def test_a_forced_tool_call_is_a_card_continued_with_a_typed_result(
        page: Page, playground: Playground) -> None:
    open_playground(page, playground.url, playground.key)
    choose(page, "Model", "qwen-plus")
    page.get_by_role("button", name="Insert an example tool").click()
    choose(page, "Tool choice", "get_weather")
    first = finished(send(page, "What is the weather in Paris?"))

    card = first.get_by_role("region", name="Tool call get_weather")
    arguments = json.loads(card.locator("pre code").first.inner_text())
    assert isinstance(arguments["city"], str)
    assert stat(first, "Finish") == "tool_calls"
    call_id = card.locator(".call-id").inner_text()
    assert call_id.startswith("call_")
    save_screenshot(page, "tool-call")

    card.get_by_label("Result of get_weather").fill('{"temperature_c": 21, "sky": "clear"}')
    first.get_by_role("button", name="Send tool result").click()
    second = finished(page.locator(".message.assistant").nth(1))
    expect(card.locator(".tool-result pre")).to_have_text('{"temperature_c": 21, "sky": "clear"}')
    save_screenshot(page, "tool-result")

    request = sent_request(second)
    assistant, tool = request["messages"][-2:]
    assert assistant["tool_calls"][0]["id"] == call_id
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == arguments
    assert tool == {"role": "tool", "tool_call_id": call_id,
                    "content": '{"temperature_c": 21, "sky": "clear"}'}
    assert "tool_choice" not in request  # forced once, then the model may answer
    assert sent_request(first)["tool_choice"] == {"type": "function",
                                                   "function": {"name": "get_weather"}}


def test_a_json_schema_answer_is_shown_parsed_and_validated(page: Page,
                                                            playground: Playground) -> None:
    open_playground(page, playground.url, playground.key)
    choose(page, "Model", "qwen-plus")
    choose(page, "Answer format", "json_schema")
    page.get_by_label("JSON schema", exact=True).fill(json.dumps(PERSON))
    answer = finished(send(page, "Describe a person as JSON."))

    result = answer.get_by_role("region", name="JSON answer")
    expect(result.locator(".verdict")).to_have_text("Valid JSON: the answer matches the schema.")
    parsed = json.loads(result.locator("pre").inner_text())
    jsonschema.validate(parsed, PERSON)
    assert sent_request(answer)["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "answer", "strict": True, "schema": PERSON}}
    save_screenshot(page, "json-schema")


def test_a_wrong_key_is_a_plain_401_and_a_right_one_is_remembered(
        page: Page, playground: Playground) -> None:
    open_playground(page, playground.url, None)
    notice = page.get_by_role("alert")
    expect(notice).to_contain_text("401 invalid_api_key")
    expect(page.get_by_role("status").filter(has_text="requires an API key")).to_be_visible()

    page.get_by_label("Key (kept in this browser only)").fill("sk-not-a-real-key")
    page.get_by_role("button", name="Save key").click()
    expect(notice).to_contain_text("did not accept the API key (401 invalid_api_key: "
                                   "Incorrect API key provided.)")
    expect(page.get_by_role("button", name="Enter API key")).to_be_visible()
    expect(page.get_by_text("The server rejected this key.")).to_be_visible()
    save_screenshot(page, "wrong-key")

    page.get_by_label("Key (kept in this browser only)").fill(playground.key)
    page.get_by_role("button", name="Save key").click()
    expect(notice).to_be_hidden()
    expect(page.get_by_label("Model", exact=True).locator("option")).not_to_have_count(0)
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.get_by_text("The server accepts this key.")).to_be_visible()


def test_a_rate_limit_shows_when_to_retry(page: Page, playground: Playground) -> None:
    open_playground(page, playground.url, playground.limited_key)
    choose(page, "Model", "qwen-plus")
    page.get_by_label("max_tokens").fill("4")
    finished(send(page, "One"))
    page.get_by_label("Message", exact=True).fill("Two")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "Rate limited (429 limit_requests: Requests rate limit exceeded")
    countdown = re.compile(r"Retry in ([1-9]|[1-5]\d|60) s\.")
    expect(page.locator("#notice-retry")).to_have_text(countdown)
    save_screenshot(page, "rate-limited")


def test_a_refused_parameter_shows_the_rule(page: Page, playground: Playground) -> None:
    open_playground(page, playground.url, playground.key)
    choose(page, "Model", "qwen-plus")
    page.get_by_label("Temperature [0, 2)").fill("2.5")
    page.get_by_label("Message", exact=True).fill("Hello")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "The server refused the request (400 invalid_parameter_error: "
        "Temperature should be in [0.0, 2.0)")
    # nothing was kept of the refused turn: the message is back in the box to fix and resend
    expect(page.get_by_label("Message", exact=True)).to_have_value("Hello")
    expect(page.locator(".message")).to_have_count(0)
    page.get_by_label("Tool definitions (JSON)").fill("[{")
    expect(page.get_by_text("The tools box is not valid JSON")).to_be_visible()


def test_the_page_works_on_a_phone(phone_page: Page, playground: Playground) -> None:
    page = phone_page
    page.goto(f"{playground.url}/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.get_by_label("Key (kept in this browser only)")).to_be_hidden()  # in a drawer
    page.get_by_role("button", name="Enter API key").click()
    page.get_by_label("Key (kept in this browser only)").fill(playground.key)
    page.get_by_role("button", name="Save key").click()
    page.get_by_label("max_tokens").fill("24")
    save_screenshot(page, "phone-settings")
    page.get_by_role("button", name="Close settings").click()
    expect(page.get_by_label("Key (kept in this browser only)")).to_be_hidden()
    # an open drawer is modal: a tap beside it closes it and gives the focus back
    settings = page.get_by_role("button", name="Settings", exact=True)
    settings.click()
    expect(page.get_by_role("button", name="Close settings")).to_be_focused()
    page.mouse.click(10, 600)
    expect(page.get_by_label("Key (kept in this browser only)")).to_be_hidden()
    expect(settings).to_be_focused()

    answer = finished(send(page, "Say hello in three languages."))
    expect(answer.locator(".content")).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    for button in page.get_by_role("button").all():
        if button.is_visible():
            box = button.bounding_box()
            assert box is not None and box["height"] >= 32, button.inner_text()
    save_screenshot(page, "phone")


def test_without_its_bundle_the_page_still_chats_in_plain_text(page: Page,
                                                               playground: Playground) -> None:
    page.route("**/playground/vendor.js", lambda route: route.abort())
    open_playground(page, playground.url, playground.key)
    choose(page, "Model", "qwen-plus")
    page.get_by_label("max_tokens").fill("24")
    answer = finished(send(page, "Say **hello**."))
    expect(answer.locator(".content")).to_have_class(re.compile(r"\bplain\b"))
    expect(answer.locator(".content")).not_to_be_empty()
    assert int(stat(answer, "Tokens out")) > 0


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_accessibility_violations(page: Page, playground: Playground, axe_source: str,
                                     scheme: str) -> None:
    page.emulate_media(color_scheme=scheme)
    open_playground(page, playground.url, playground.key)
    choose(page, "Model", "qwen-plus")
    page.get_by_role("button", name="Insert an example tool").click()
    choose(page, "Tool choice", "required")
    answer = finished(send(page, "Weather in Rome?"))
    answer.get_by_text("Request as code").click()
    page.evaluate(axe_source)
    violations = page.evaluate("""async () => {
        const result = await axe.run(document, {runOnly: ["wcag2a", "wcag2aa", "wcag21aa"]});
        return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.length} nodes: ` +
            v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ") + ")");
    }""")
    save_screenshot(page, f"accessibility-{scheme}")
    assert violations == []


def test_stop_keeps_the_partial_answer_and_regenerate_replaces_it(
        page: Page, playground: Playground) -> None:
    open_playground(page, playground.url, playground.key)
    choose(page, "Model", "qwen-plus")
    page.get_by_label("max_tokens").fill("2000")
    answer = send(page, "Tell me a very long story about a lighthouse keeper.")
    expect(answer.locator(".content")).not_to_be_empty()
    page.get_by_role("button", name="Stop").click()
    stopped = finished(page.locator(".message.assistant").last)
    expect(stopped.locator(".state")).to_have_text("· stopped")
    assert stat(stopped, "Finish") == "–"
    assert stopped.locator(".content").inner_text().strip()
    expect(page.get_by_role("button", name="Stop")).to_be_hidden()

    page.get_by_label("max_tokens").fill("6")
    page.get_by_role("button", name="Regenerate").click()
    expect(page.locator(".message.assistant .state")).to_have_text([""])
    again = finished(page.locator(".message.assistant").last)
    expect(page.locator(".message.assistant")).to_have_count(1)
    assert stat(again, "Finish") == "length"
    assert sent_request(again)["messages"] == [
        {"role": "user", "content": "Tell me a very long story about a lighthouse keeper."}]


@pytest.fixture(scope="module")
def qwen3_playground(qwen3_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server on the Qwen3 fixture model (Qwen's template and think tokens, random
    weights) and no keys: what it writes is forced with a grammar, to show reasoning."""
    home = tmp_path_factory.mktemp("qwen3-playground")
    with ServerProcess(["--model", str(qwen3_model), "--threads", "1"], home,
                       home / "server.log") as proc:
        yield proc.url


def open_forcing(page: Page, url: str, model: str, output: str, max_tokens: int) -> None:
    """Open the playground (no key) set to make ``model`` write exactly ``output``."""
    open_playground(page, url, None)
    choose(page, "Model", model)
    page.get_by_label("max_tokens").fill(str(max_tokens))
    page.get_by_label("Any other field, as a JSON object").fill(
        json.dumps({"grammar": "root ::= " + json.dumps(output)}))


def test_reasoning_streams_into_a_collapsible_block(page: Page, qwen3_playground: str) -> None:
    output = ("<think>\nThe user asks about France.\n</think>\n\nParis is the **capital**."
              "\n\n```python\nprint('Paris')\n```")
    open_forcing(page, qwen3_playground, "qwen3.6-plus", output, 80)
    choose(page, "Thinking mode", "on")
    answer = finished(send(page, "What is the capital of France?"))

    reasoning = answer.locator("details.reasoning")
    expect(reasoning.locator(".markdown")).to_have_text("The user asks about France.")
    expect(answer.locator(".content strong")).to_have_text("capital")  # markdown rendered
    expect(answer.locator(".content p")).to_have_text("Paris is the capital.")
    code = answer.locator(".content pre code.language-python.hljs")  # highlighted
    expect(code).to_have_text("print('Paris')")
    expect(code.locator(".hljs-string")).to_have_text("'Paris'")
    assert int(stat(answer, "Reasoning")) > 0
    expect(reasoning.locator("summary")).to_have_text(re.compile(r"Reasoning \(\d+ tokens\)"))
    expect(reasoning).not_to_have_attribute("open", "")  # folded once the answer came
    reasoning.locator("summary").click()
    expect(reasoning).to_have_attribute("open", "")
    expect(reasoning.locator(".markdown")).to_be_visible()
    save_screenshot(page, "reasoning")

    choose(page, "Thinking mode", "off")
    plain = finished(send(page, "And of Italy?"))
    expect(plain.locator("details.reasoning")).to_be_hidden()
    assert sent_request(plain)["enable_thinking"] is False


def test_reasoning_is_shown_while_it_streams(page: Page, qwen3_playground: str) -> None:
    thinking = "I work through this one step at a time. " * 12
    output = f"<think>\n{thinking.strip()}\n</think>\n\nDone."
    open_forcing(page, qwen3_playground, "qwen3.6-plus", output, 20)
    choose(page, "Thinking mode", "on")
    answer = send(page, "Think it over.")
    reasoning = page.locator(".message.assistant.streaming details.reasoning")
    expect(reasoning.locator("summary")).to_have_text("Reasoning…")  # open while it streams
    expect(reasoning).to_have_attribute("open", "")
    expect(reasoning.locator(".markdown")).to_contain_text("I work through this")
    save_screenshot(page, "reasoning-streaming")
    finished(answer)
    expect(answer.locator(".content")).to_have_text("Done.")
    expect(answer.locator("details.reasoning .markdown")).to_have_text(thinking.strip())


def test_html_in_an_answer_cannot_act_or_pose_as_the_page(page: Page,
                                                          qwen3_playground: str) -> None:
    output = ('Look: <img src="x" onerror="document.title = \'owned\'"> '
              '<textarea id="message">posing</textarea><button id="send">Send</button> '
              '<a href="javascript:alert(1)">link</a> <b>bold</b>')
    open_forcing(page, qwen3_playground, "qwen-plus", output, 120)
    answer = finished(send(page, "Show me some HTML."))
    content = answer.locator(".content")
    expect(content.locator("b")).to_have_text("bold")  # content HTML stays
    expect(content.locator("textarea, button, [onerror], [id]")).to_have_count(0)
    assert content.locator("a").get_attribute("href") in (None, "")
    expect(page.locator("#message")).to_have_count(1)
    assert page.title() == "qwenchat playground"
    finished(send(page, "Again?"))  # the real composer still sends
