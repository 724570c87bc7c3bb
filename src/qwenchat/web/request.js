// The chat request the playground sends, built from its settings and a conversation.
//
// Rules kept here:
// - Empty fields are left out, so the server's (DashScope's) defaults apply.
// - Thinking: "default" sends no enable_thinking; a budget is sent unless thinking is off.
// - Tools may be pasted as an array of OpenAI tools, one tool, or bare function definitions.
// - A forced tool_choice ("required" or a named function) applies until the model has called
//   a tool: the request that carries the tool results goes out with "auto", or the model
//   would be forced to call again forever (agent loops reset it the same way).
// - The schema box takes a JSON Schema, or OpenAI's {name, schema, strict} wrapper.
// - "More fields" is a JSON object merged last: any other DashScope field (seed, stop, ...),
//   but not the fields the playground itself owns (model, messages, stream, stream_options).
// - History messages lose the playground's own annotations; reasoning goes back only with
//   preserve_thinking, as DashScope ignores it otherwise.
// - An answer keeps its request without the messages (they are the conversation before it,
//   kept anyway): requestFor() puts them back, so storage grows with the conversation, not
//   with its square.

export const DEFAULT_SETTINGS = Object.freeze({
  model: "",
  systemPrompt: "",
  thinking: "default",
  thinkingBudget: "",
  temperature: "",
  topP: "",
  maxTokens: "",
  tools: "",
  toolChoice: "auto",
  parallelToolCalls: false,
  responseFormat: "text",
  schema: "",
  extra: "",
});

/** A setting that cannot be sent; `field` names the settings key to point the user at. */
export class SettingsError extends Error {
  constructor(field, message) {
    super(message);
    this.name = "SettingsError";
    this.field = field;
  }
}

function parseJson(field, text, what) {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new SettingsError(field, `${what} is not valid JSON: ${error.message}`);
  }
}

function number(field, text, what) {
  if (String(text).trim() === "") return undefined;
  const value = Number(text);
  if (!Number.isFinite(value)) throw new SettingsError(field, `${what} must be a number.`);
  return value;
}

/** The tools of the tools box as OpenAI function tools ([] when empty). */
export function parseTools(text) {
  if (!text.trim()) return [];
  let tools = parseJson("tools", text, "The tools box");
  if (!Array.isArray(tools)) tools = [tools];
  return tools.map((tool, i) => {
    if (tool && tool.type === "function" && tool.function) return tool;
    if (tool && typeof tool.name === "string") return { type: "function", function: tool };
    throw new SettingsError("tools", `Tool ${i + 1} is not a function tool: expected ` +
      `{"type": "function", "function": {"name": ..., "parameters": {...}}}.`);
  });
}

/** The json_schema object of the schema box (null when empty). */
export function parseSchema(text) {
  if (!text.trim()) return null;
  const value = parseJson("schema", text, "The JSON schema");
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    throw new SettingsError("schema", "The JSON schema must be a JSON object.");
  }
  if (value.schema && typeof value.schema === "object") {
    return { name: value.name || "answer", strict: value.strict ?? true, schema: value.schema };
  }
  return { name: "answer", strict: true, schema: value };
}

const OWNED = ["model", "messages", "stream", "stream_options"];

function toolChoice(settings, messages, tools) {
  const choice = settings.toolChoice || "auto";
  const forced = choice !== "auto" && choice !== "none";
  if (forced && messages.at(-1)?.role === "tool") return "auto";
  if (choice === "auto" || choice === "none" || choice === "required") return choice;
  if (!tools.some((tool) => tool.function.name === choice)) {
    throw new SettingsError("toolChoice", `Tool choice names ${choice}, which is not a tool.`);
  }
  return { type: "function", function: { name: choice } };
}

/** The conversation as sent: without the playground's annotations. */
export function wireMessages(messages, preserveThinking = false) {
  return messages.map((message) => {
    const { meta: _meta, reasoning_content: reasoning, ...wire } = message;
    if (preserveThinking && reasoning) wire.reasoning_content = reasoning;
    return wire;
  });
}

/** What an answer keeps of its request: all but the messages, plus the system prompt. */
export function storedRequest(request) {
  const { messages, ...rest } = request;
  const system = messages[0]?.role === "system" ? messages[0].content : null;
  return { ...rest, system };
}

/** The exact request an answer came from: `stored` with `history` (what came before it). */
export function requestFor(stored, history) {
  const { model, system, ...rest } = stored;
  const messages = [...(system === null || system === undefined ? []
    : [{ role: "system", content: system }]), ...wireMessages(history, rest.preserve_thinking)];
  return { model, messages, ...rest };
}

/** The request body for `messages` (the conversation so far) under `settings`. */
export function buildRequest(settings, messages) {
  const extra = settings.extra.trim()
    ? parseJson("extra", settings.extra, "More request fields") : {};
  if (!extra || typeof extra !== "object" || Array.isArray(extra)) {
    throw new SettingsError("extra", "More request fields must be a JSON object.");
  }
  const owned = OWNED.filter((name) => name in extra);
  if (owned.length) {
    throw new SettingsError("extra", `More request fields cannot set ${owned.join(", ")}: ` +
      "the playground sets them.");
  }
  if (!settings.model) throw new SettingsError("model", "Choose a model first.");
  const system = settings.systemPrompt.trim()
    ? [{ role: "system", content: settings.systemPrompt }] : [];
  const body = {
    model: settings.model,
    messages: [...system, ...wireMessages(messages, extra.preserve_thinking)],
    stream: true,
    stream_options: { include_usage: true },
  };
  const sampling = {
    temperature: number("temperature", settings.temperature, "Temperature"),
    top_p: number("topP", settings.topP, "top_p"),
    max_tokens: number("maxTokens", settings.maxTokens, "max_tokens"),
  };
  for (const [name, value] of Object.entries(sampling)) if (value !== undefined) body[name] = value;
  if (settings.thinking !== "default") body.enable_thinking = settings.thinking === "on";
  const budget = number("thinkingBudget", settings.thinkingBudget, "The thinking budget");
  if (budget !== undefined && settings.thinking !== "off") body.thinking_budget = budget;
  const tools = parseTools(settings.tools);
  if (tools.length) {
    body.tools = tools;
    const choice = toolChoice(settings, messages, tools);
    if (choice !== "auto") body.tool_choice = choice;
    if (settings.parallelToolCalls) body.parallel_tool_calls = true;
  }
  if (settings.responseFormat === "json_object") {
    body.response_format = { type: "json_object" };
  } else if (settings.responseFormat === "json_schema") {
    const schema = parseSchema(settings.schema);
    if (!schema) throw new SettingsError("schema", "Enter a JSON schema, or choose plain text.");
    body.response_format = { type: "json_schema", json_schema: schema };
  }
  return Object.assign(body, extra);
}
