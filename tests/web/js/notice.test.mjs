// Errors in plain words (src/qwenchat/web/notice.js).
import assert from "node:assert/strict";
import test from "node:test";

import { ApiError } from "../web/api.js";
import { describeError, Notice } from "../web/notice.js";

test("each status gets its sentence with the status, code and message", () => {
  const cases = [
    [new ApiError(401, "invalid_api_key", "Incorrect API key provided."),
      "The server did not accept the API key (401 invalid_api_key: Incorrect API key " +
      "provided.). Enter a valid key."],
    [new ApiError(403, "access_denied", "No."), "This key may not use this model (403 access_denied: No.)."],
    [new ApiError(429, "limit_requests", "Slow down.", 3), "Rate limited (429 limit_requests: Slow down.)."],
    [new ApiError(429, "insufficient_quota", "Spent."),
      "Rate limited (429 insufficient_quota: Spent.). No retry time was given: the key's quota " +
      "may be spent."],
    [new ApiError(400, "invalid_parameter_error", "Range of top_p should be (0.0, 1.0]"),
      "The server refused the request (400 invalid_parameter_error: Range of top_p should be " +
      "(0.0, 1.0])."],
    [new ApiError(0, "network_error", "Could not reach the server (x)."),
      "The request failed (network_error: Could not reach the server (x).)."],
    [new TypeError("boom"), "Something went wrong: boom"],
  ];
  for (const [error, sentence] of cases) assert.equal(describeError(error), sentence);
});

test("a retry time is counted down; a 401 offers the key", () => {
  const region = { hidden: true };
  const text = { textContent: "" };
  const retry = { textContent: "" };
  const keyButton = { hidden: true };
  const notice = new Notice(region, text, retry, keyButton);
  notice.showError(new ApiError(429, "limit_requests", "Slow down.", 42.2));
  assert.equal(region.hidden, false);
  assert.equal(keyButton.hidden, true);
  assert.equal(text.textContent, "Rate limited (429 limit_requests: Slow down.).");
  assert.equal(retry.textContent, "Retry in 43 s."); // beside the alert, not inside it
  notice.showError(new ApiError(401, "invalid_api_key", "Incorrect API key provided."));
  assert.equal(keyButton.hidden, false);
  assert.equal(retry.textContent, "");
  notice.hide();
  assert.equal(region.hidden, true);
});
