// The playground's one alert: errors in plain words, with what to do next.
//
// A 401 offers to enter the key; a 429 (or 503) counts down the server's retry time; a 400
// shows the server's rule as DashScope words it. Nothing retries by itself: the person
// decides, the page only says when retrying can work.

import { ApiError } from "./api.js";

/** A sentence for `error`: what happened, with the status, code and the server's message. */
export function describeError(error) {
  if (!(error instanceof ApiError)) return `Something went wrong: ${error.message}`;
  const what = `${error.status ? `${error.status} ` : ""}${error.code}: ${error.message}`;
  if (error.status === 401) {
    return `The server did not accept the API key (${what}). Enter a valid key.`;
  }
  if (error.status === 403) return `This key may not use this model (${what}).`;
  if (error.status === 429) {
    return error.retryAfterSeconds === null
      ? `Rate limited (${what}). No retry time was given: the key's quota may be spent.`
      : `Rate limited (${what}).`;
  }
  if (error.status === 400) return `The server refused the request (${what}).`;
  return `The request failed (${what}).`;
}

/**
 * The notice: its text (an alert, announced once), the retry countdown beside it (not
 * announced, or it would be every second) and its "Enter API key" button.
 */
export class Notice {
  constructor(region, text, retry, keyButton) {
    this.region = region;
    this.text = text;
    this.retry = retry;
    this.keyButton = keyButton;
    this.timer = null;
  }

  /** Shows `message`; with `retryAfter` (seconds) it counts down to when retrying works. */
  show(message, { keyButton = false, retryAfter = null } = {}) {
    clearInterval(this.timer);
    this.region.hidden = false;
    this.keyButton.hidden = !keyButton;
    this.text.textContent = message;
    this.retry.textContent = "";
    if (retryAfter === null) return;
    const until = Date.now() + retryAfter * 1000;
    const paint = () => {
      const left = Math.ceil((until - Date.now()) / 1000);
      this.retry.textContent = left > 0 ? `Retry in ${left} s.` : "You can retry now.";
      if (left <= 0) clearInterval(this.timer);
    };
    paint();
    this.timer = setInterval(paint, 1000);
  }

  /** Shows what went wrong with a request. */
  showError(error) {
    const api = error instanceof ApiError;
    this.show(describeError(error), {
      keyButton: api && error.status === 401,
      retryAfter: api ? error.retryAfterSeconds : null,
    });
  }

  hide() {
    clearInterval(this.timer);
    this.region.hidden = true;
  }
}
