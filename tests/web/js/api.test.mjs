// The SSE parser and the retry time read from headers (src/qwenchat/web/api.js).
import assert from "node:assert/strict";
import test from "node:test";

import { retryAfterSeconds, SseParser } from "../web/api.js";

const STREAM = 'data: {"a":1}\n\ndata: {"b":"x\\ny"}\r\n\r\n: a comment\n\ndata:[DONE]\n\n';

test("the same payloads however the stream is split", () => {
  const whole = new SseParser().feed(STREAM);
  assert.deepEqual(whole, ['{"a":1}', '{"b":"x\\ny"}', "[DONE]"]);
  for (let cut = 0; cut <= STREAM.length; cut += 1) {
    for (let second = cut; second <= STREAM.length; second += 7) {
      const parser = new SseParser();
      const got = [STREAM.slice(0, cut), STREAM.slice(cut, second), STREAM.slice(second)]
        .flatMap((part) => parser.feed(part));
      assert.deepEqual(got, whole, `split at ${cut} and ${second}`);
    }
  }
});

test("an unfinished event waits for its blank line", () => {
  const parser = new SseParser();
  assert.deepEqual(parser.feed('data: {"a":1}\n'), []);
  assert.deepEqual(parser.feed("\n"), ['{"a":1}']);
});

test("retry-after-ms wins over Retry-After; none gives null", () => {
  assert.equal(retryAfterSeconds(new Headers({ "retry-after-ms": "1500", "retry-after": "2" })), 1.5);
  assert.equal(retryAfterSeconds(new Headers({ "retry-after": "7" })), 7);
  assert.equal(retryAfterSeconds(new Headers()), null);
});

test("CRLF line ends split anywhere keep multi-line data whole", () => {
  const stream = "data: first\r\ndata: second\r\n\r\ndata: [DONE]\r\n\r\n";
  for (let cut = 0; cut <= stream.length; cut += 1) {
    const parser = new SseParser();
    const got = [stream.slice(0, cut), stream.slice(cut)].flatMap((part) => parser.feed(part));
    assert.deepEqual(got, ["first\nsecond", "[DONE]"], `split at ${cut}`);
  }
});
