// A streamed answer put together from chunks, and its stats (src/qwenchat/web/answer.js).
import assert from "node:assert/strict";
import test from "node:test";

import { StreamedAnswer } from "../web/answer.js";

const chunk = (delta, extra = {}) => ({ choices: [{ index: 0, delta, ...extra }] });

test("reasoning, content, finish reason and usage are gathered", () => {
  const answer = new StreamedAnswer(1000);
  answer.add(chunk({ role: "assistant" }), 1050);
  answer.add(chunk({ reasoning_content: "Think" }), 1200);
  answer.add(chunk({ reasoning_content: "ing." }), 1300);
  answer.add(chunk({ content: "Hi" }), 1400);
  answer.add(chunk({ content: "!" }, { finish_reason: "stop" }), 1500);
  answer.add({ choices: [], usage: { prompt_tokens: 12, completion_tokens: 5,
    prompt_tokens_details: { cached_tokens: 8 },
    completion_tokens_details: { reasoning_tokens: 3 } } }, 1510);
  answer.end(1600);
  assert.deepEqual(answer.message(), { role: "assistant", content: "Hi!",
    reasoning_content: "Thinking." });
  const stats = answer.stats();
  assert.equal(stats.promptTokens, 12);
  assert.equal(stats.cachedTokens, 8);
  assert.equal(stats.completionTokens, 5);
  assert.equal(stats.reasoningTokens, 3);
  assert.equal(stats.ttftSeconds, 0.2); // the role-only chunk is not a token
  assert.equal(stats.totalSeconds, 0.6);
  assert.equal(stats.tokensPerSecond, 4 / 0.4);
  assert.equal(stats.finishReason, "stop");
});

test("tool-call deltas merge by index", () => {
  const answer = new StreamedAnswer(0);
  answer.add(chunk({ tool_calls: [{ index: 0, id: "call_1", type: "function",
    function: { name: "get_weather", arguments: "" } }] }), 100);
  answer.add(chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }), 110);
  answer.add(chunk({ tool_calls: [{ index: 1, id: "call_2",
    function: { name: "get_time", arguments: "{}" } }] }), 120);
  answer.add(chunk({ tool_calls: [{ index: 0, function: { arguments: ' "Paris"}' } }] },
    { finish_reason: "tool_calls" }), 130);
  answer.add({ choices: [], usage: { prompt_tokens: 20, completion_tokens: 30 } }, 140);
  answer.end(200);
  const { tool_calls: calls } = answer.message();
  assert.deepEqual(calls.map((c) => [c.id, c.function.name, c.function.arguments]), [
    ["call_1", "get_weather", '{"city": "Paris"}'], ["call_2", "get_time", "{}"]]);
  // tool calls arrive whole: the rate covers the whole request
  assert.equal(answer.stats().tokensPerSecond, 30 / 0.2);
  assert.equal(answer.stats().ttftSeconds, 0.1);
});

test("without a usage chunk the counts are null, never zero", () => {
  const answer = new StreamedAnswer(0);
  answer.add(chunk({ content: "x" }), 10);
  answer.end(20);
  const stats = answer.stats();
  assert.equal(stats.completionTokens, null);
  assert.equal(stats.tokensPerSecond, null);
  assert.equal(stats.promptTokens, null);
});

test("a stream cut short keeps only whole tool calls", () => {
  const answer = new StreamedAnswer(0);
  answer.add(chunk({ tool_calls: [{ index: 0, id: "call_1",
    function: { name: "a", arguments: "{}" } }] }), 1);
  answer.add(chunk({ tool_calls: [{ index: 1, id: "call_2",
    function: { name: "b", arguments: '{"x": ' } }] }), 2);
  assert.deepEqual(answer.message(false).tool_calls.map((c) => c.id), ["call_1"]);
  assert.deepEqual(answer.message(true).tool_calls.map((c) => c.id), ["call_1", "call_2"]);
});
