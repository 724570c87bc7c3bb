// JSON answers checked against the request's schema (src/qwenchat/web/render.js), with the
// validator of the playground's bundle (vendor.js, built by scripts/web_assets.sh).
import assert from "node:assert/strict";
import test from "node:test";

import { checkJson, loadVendor, stableCut } from "../web/render.js";

const SCHEMA = {
  type: "object",
  properties: { name: { type: "string" }, age: { type: "integer", minimum: 0 } },
  required: ["name", "age"],
  additionalProperties: false,
};

test("the bundle loads", async () => {
  assert.equal(await loadVendor(), true);
});

test("a matching answer is valid", () => {
  const result = checkJson('{"name": "Ada", "age": 36}', SCHEMA);
  assert.deepEqual(result, { parsed: { name: "Ada", age: 36 }, valid: true, errors: [] });
});

test("a mismatch names where and why", () => {
  const result = checkJson('{"name": "Ada", "age": -1.5, "x": 1}', SCHEMA);
  assert.equal(result.valid, false);
  const text = result.errors.join("\n");
  assert.match(text, /^#\/age: Instance type "number" is invalid/m);
  assert.match(text, /^#\/age: -1.5 is less than 0/m);
  assert.match(text, /^the answer: Property "x" does not match/m);
});

test("text that is not JSON, and no schema", () => {
  const broken = checkJson('{"name": ', SCHEMA);
  assert.equal(broken.parsed, undefined);
  assert.equal(broken.valid, false);
  assert.match(broken.errors[0], /^Not valid JSON/);
  assert.deepEqual(checkJson("[1]", null), { parsed: [1], valid: null, errors: [] });
});

test("stable cuts fall after blank lines outside fenced code", () => {
  assert.equal(stableCut("a\n\nb"), 3);
  assert.equal(stableCut("no blank line yet\nstill"), 0);
  assert.equal(stableCut("a\n\n"), 3);
  const fenced = "```py\nx = 1\n\ny = 2\n```\n\nafter";
  assert.equal(stableCut(fenced), fenced.indexOf("after"));
  const open = "text\n\n```\ncode\n\nstill code";
  assert.equal(stableCut(open), "text\n\n".length);
  const mixed = "~~~\n```\n\n~~~\n\nx"; // a backtick line does not close a tilde fence
  assert.equal(stableCut(mixed), mixed.indexOf("x"));
});

test("cutting a growing text step by step finds the cuts of cutting it whole", () => {
  const text = "# T\n\npara one\n\n```js\nlet a;\n\nlet b;\n```\n\n- x\n- y\n\nend";
  let cut = 0;
  for (let length = 0; length <= text.length; length += 1) {
    cut = stableCut(text.slice(0, length), cut);
    assert.equal(cut, stableCut(text.slice(0, length)), `at ${length}`);
  }
});
