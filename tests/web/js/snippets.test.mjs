// The request as curl and Python (src/qwenchat/web/snippets.js): both run the exact body.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import test from "node:test";

import { curlSnippet, pythonLiteral, pythonSnippet } from "../web/snippets.js";

const BODY = {
  model: "qwen-plus",
  messages: [{ role: "user", content: "It's \"quoted\" and\nmultiline: $HOME `x` \\ ü" }],
  stream: true, stream_options: { include_usage: true }, temperature: 0.5,
  enable_thinking: false, thinking_budget: 10, response_format: null, tools: [],
};

test("curl's URL and -d argument come through a real shell byte for byte", () => {
  const snippet = curlSnippet("http://h/v1/chat/completions?a='b'", BODY);
  const [url] = snippet.split("\n")[0].slice("curl ".length).split(" \\");
  const data = snippet.slice(snippet.indexOf("  -d ") + "  -d ".length);
  const out = spawnSync("bash", ["-c", `printf '%s\\0' ${url} ${data}`], { encoding: "utf8" });
  assert.equal(out.status, 0, out.stderr);
  const [gotUrl, gotData] = out.stdout.split("\0");
  assert.equal(gotUrl, "http://h/v1/chat/completions?a='b'");
  assert.deepEqual(JSON.parse(gotData), BODY);
  assert.match(snippet, /Bearer \$DASHSCOPE_API_KEY/);
});

test("Python literals evaluate to the same value", () => {
  const code = `import json, sys\nvalue = ${pythonLiteral(BODY)}\nsys.stdout.write(json.dumps(value))`;
  const out = spawnSync("python3", ["-c", code], { encoding: "utf8" });
  assert.equal(out.status, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout), BODY);
});

test("the Python snippet compiles and puts DashScope's own fields in extra_body", () => {
  const code = pythonSnippet("http://h/compatible-mode/v1", BODY);
  assert.match(code, /extra_body=\{\n\s+"enable_thinking": False,\n\s+"thinking_budget": 10,/);
  assert.doesNotMatch(code, /^\s+enable_thinking=/m);
  const out = spawnSync("python3", ["-c", "import ast, sys; ast.parse(sys.stdin.read())"],
    { input: code, encoding: "utf8" });
  assert.equal(out.status, 0, out.stderr);
});
