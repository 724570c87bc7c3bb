// The exact request of an answer as copyable `curl` and Python (official `openai` SDK) code.
//
// The key is never written into a snippet: both read DASHSCOPE_API_KEY from the
// environment, as DashScope's own examples do. Python passes the fields the SDK's create()
// does not know (enable_thinking, thinking_budget, ...) through extra_body.

const SDK_FIELDS = new Set([
  "model", "messages", "stream", "stream_options", "temperature", "top_p", "max_tokens",
  "max_completion_tokens", "n", "stop", "seed", "presence_penalty", "frequency_penalty",
  "logit_bias", "logprobs", "top_logprobs", "tools", "tool_choice", "parallel_tool_calls",
  "response_format", "user", "metadata", "modalities", "prediction", "service_tier", "store",
  "reasoning_effort", "audio", "web_search_options",
]);

function shellQuote(text) {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

/** The request as a curl command line. */
export function curlSnippet(url, body) {
  return [
    `curl ${shellQuote(url)} \\`,
    `  -H "Authorization: Bearer $DASHSCOPE_API_KEY" \\`,
    `  -H "Content-Type: application/json" \\`,
    `  -d ${shellQuote(JSON.stringify(body, null, 2))}`,
  ].join("\n");
}

/** `value` as a Python literal, indented like `json.dumps(indent=4)`. */
export function pythonLiteral(value, indent = "") {
  const inner = `${indent}    `;
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number" || typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    const items = value.map((item) => `${inner}${pythonLiteral(item, inner)}`);
    return `[\n${items.join(",\n")},\n${indent}]`;
  }
  const entries = Object.entries(value);
  if (!entries.length) return "{}";
  const items = entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${pythonLiteral(v, inner)}`);
  return `{\n${items.join(",\n")},\n${indent}}`;
}

/** The request as a Python script on the openai SDK that prints the streamed answer. */
export function pythonSnippet(baseUrl, body) {
  const known = Object.entries(body).filter(([name]) => SDK_FIELDS.has(name));
  const extra = Object.fromEntries(Object.entries(body).filter(([name]) => !SDK_FIELDS.has(name)));
  const args = known.map(([name, value]) => `    ${name}=${pythonLiteral(value, "    ")},`);
  if (Object.keys(extra).length) args.push(`    extra_body=${pythonLiteral(extra, "    ")},`);
  const streaming = body.stream ? [
    "for chunk in completion:",
    "    if chunk.choices:",
    "        delta = chunk.choices[0].delta",
    "        reasoning = getattr(delta, \"reasoning_content\", None)",
    "        print(reasoning or delta.content or \"\", end=\"\", flush=True)",
    "        for call in delta.tool_calls or []:",
    "            print(call.function.name or \"\", call.function.arguments or \"\", end=\"\")",
    "    elif chunk.usage:",
    "        print(\"\\n\", chunk.usage)",
  ] : ["print(completion.model_dump_json(indent=2))"];
  return [
    "import os",
    "",
    "from openai import OpenAI",
    "",
    "client = OpenAI(",
    `    base_url=${JSON.stringify(baseUrl)},`,
    "    api_key=os.environ.get(\"DASHSCOPE_API_KEY\", \"none\"),",
    ")",
    "completion = client.chat.completions.create(",
    ...args,
    ")",
    ...streaming,
  ].join("\n");
}
