// The request built from the playground's settings (src/qwenchat/web/request.js).
import assert from "node:assert/strict";
import test from "node:test";

import {
  buildRequest, DEFAULT_SETTINGS, parseSchema, parseTools, requestFor, SettingsError,
  storedRequest,
} from "../web/request.js";

const USER = [{ role: "user", content: "Hi" }];
const settings = (changes) => ({ ...DEFAULT_SETTINGS, model: "qwen-plus", ...changes });
const TOOL = { type: "function", function: { name: "get_weather", parameters: { type: "object" } } };

test("defaults send only the model, the messages and streaming with usage", () => {
  assert.deepEqual(buildRequest(settings({}), USER), { model: "qwen-plus", messages: USER,
    stream: true, stream_options: { include_usage: true } });
});

test("sampling, system prompt and thinking fields", () => {
  const body = buildRequest(settings({ systemPrompt: "Be brief.", temperature: "0.3",
    topP: "0.9", maxTokens: "64", thinking: "on", thinkingBudget: "50" }), USER);
  assert.deepEqual(body.messages[0], { role: "system", content: "Be brief." });
  assert.equal(body.temperature, 0.3);
  assert.equal(body.top_p, 0.9);
  assert.equal(body.max_tokens, 64);
  assert.equal(body.enable_thinking, true);
  assert.equal(body.thinking_budget, 50);
  const off = buildRequest(settings({ thinking: "off", thinkingBudget: "50" }), USER);
  assert.equal(off.enable_thinking, false);
  assert.equal("thinking_budget" in off, false);
});

test("tools in any of the pasted shapes; a forced choice resets after a tool result", () => {
  assert.deepEqual(parseTools(JSON.stringify(TOOL)), [TOOL]);
  assert.deepEqual(parseTools(JSON.stringify([TOOL.function])), [TOOL]);
  assert.throws(() => parseTools("[1]"), SettingsError);
  const forced = settings({ tools: JSON.stringify([TOOL]), toolChoice: "get_weather" });
  assert.deepEqual(buildRequest(forced, USER).tool_choice,
    { type: "function", function: { name: "get_weather" } });
  const history = [...USER,
    { role: "assistant", content: "", tool_calls: [{ id: "c1", type: "function",
      function: { name: "get_weather", arguments: "{}" } }], meta: { stats: {} } },
    { role: "tool", tool_call_id: "c1", content: "sunny" }];
  const next = buildRequest(forced, history);
  assert.equal("tool_choice" in next, false);
  assert.equal("meta" in next.messages[1], false);
});

test("a schema alone or in OpenAI's wrapper; bad JSON names its field", () => {
  const schema = { type: "object", properties: { a: { type: "integer" } } };
  assert.deepEqual(parseSchema(JSON.stringify(schema)), { name: "answer", strict: true, schema });
  assert.deepEqual(parseSchema(JSON.stringify({ name: "n", schema, strict: false })),
    { name: "n", strict: false, schema });
  const body = buildRequest(settings({ responseFormat: "json_schema",
    schema: JSON.stringify(schema) }), USER);
  assert.equal(body.response_format.type, "json_schema");
  for (const [field, changes] of [["schema", { responseFormat: "json_schema", schema: "{" }],
    ["tools", { tools: "[" }], ["extra", { extra: "[]" }], ["temperature", { temperature: "x" }],
    ["model", { model: "" }]]) {
    assert.throws(() => buildRequest(settings(changes), USER),
      (error) => error instanceof SettingsError && error.field === field);
  }
});

test("more fields merge last; reasoning goes back only with preserve_thinking", () => {
  const history = [...USER, { role: "assistant", content: "A", reasoning_content: "R" },
    { role: "user", content: "More" }];
  const plain = buildRequest(settings({ extra: '{"seed": 7}' }), history);
  assert.equal(plain.seed, 7);
  assert.equal("reasoning_content" in plain.messages[1], false);
  const kept = buildRequest(settings({ extra: '{"preserve_thinking": true}' }), history);
  assert.equal(kept.messages[1].reasoning_content, "R");
});

test("the playground's own fields and unknown tool choices are refused, naming the field", () => {
  for (const extra of ['{"stream": false}', '{"messages": []}', '{"model": "x"}']) {
    assert.throws(() => buildRequest(settings({ extra }), USER),
      (error) => error instanceof SettingsError && error.field === "extra");
  }
  assert.throws(() => buildRequest(settings({ tools: JSON.stringify([TOOL]),
    toolChoice: "gone" }), USER),
  (error) => error instanceof SettingsError && error.field === "toolChoice");
});

test("a kept request without its messages is rebuilt exactly from the history", () => {
  const history = [...USER, { role: "assistant", content: "A", reasoning_content: "R",
    meta: { stats: {} } }, { role: "user", content: "More" }];
  for (const changes of [{ systemPrompt: "Be brief." }, { extra: '{"preserve_thinking": true}' },
    {}]) {
    const body = buildRequest(settings(changes), history);
    const kept = storedRequest(body);
    assert.equal("messages" in kept, false);
    assert.deepEqual(requestFor(JSON.parse(JSON.stringify(kept)), history), body);
  }
});
