// The conversation log's DOM: user messages and answers (reasoning, markdown, tool-call
// cards, the parsed JSON answer, stats, the request as code).
//
// Every element is built with createElement and textContent; the only HTML inserted comes
// from render.js (sanitized markdown, highlight.js output). An AnswerView follows a stream:
// update() repaints at most once per animation frame.

import { checkJson, highlight, LiveMarkdown, renderMarkdown } from "./render.js";
import { requestFor } from "./request.js";
import { curlSnippet, pythonSnippet } from "./snippets.js";

/** document.createElement with attributes/properties and children. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name in node && !name.startsWith("aria-") && !name.startsWith("data-")) {
      node[name] = value;
    } else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function format(value, digits, unit = "") {
  return value === null || value === undefined ? "–" : `${value.toFixed(digits)}${unit}`;
}

/** The stats line under an answer, as a description list. */
export function statsList(stats) {
  const count = (value) => (value === null || value === undefined ? "–" : String(value));
  const items = [
    ["Tokens in", count(stats.promptTokens)], ["Cached", count(stats.cachedTokens)],
    ["Tokens out", count(stats.completionTokens)], ["Reasoning", count(stats.reasoningTokens)],
    ["First token", format(stats.ttftSeconds, 2, " s")],
    ["Speed", format(stats.tokensPerSecond, 1, " tok/s")],
    ["Finish", stats.finishReason || "–"],
  ];
  return el("dl", { class: "stats" }, ...items.flatMap(([name, value]) => [
    el("div", {}, el("dt", {}, name), el("dd", { "data-stat": name }, value)),
  ]));
}

function copyButton(label, text) {
  const button = el("button", { type: "button", class: "small" }, label);
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text());
    } catch {
      // no clipboard API outside secure contexts (http:// on another host): select instead
      const area = el("textarea", { class: "offscreen", value: text(), "aria-hidden": "true" });
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  });
  return button;
}

/**
 * The request of an answer as curl and Python. `request()` gives the request; the snippets
 * are made (and highlighted) when first opened, since the log is redrawn every turn and
 * most are never looked at.
 */
export function requestSnippets(baseUrl, request) {
  const details = el("details", { class: "request" }, el("summary", {}, "Request as code"));
  details.addEventListener("toggle", () => {
    if (details.querySelector(".snippet")) return;
    const body = request();
    const snippets = [
      ["curl", "bash", curlSnippet(`${baseUrl}/chat/completions`, body)],
      ["Python", "python", pythonSnippet(baseUrl, body)],
    ];
    for (const [name, language, text] of snippets) {
      const code = el("code", { class: `language-${language}` }, text);
      highlight(code, language);
      details.append(el("section", { class: "snippet", "aria-label": `${name} snippet` },
        el("div", { class: "snippet-head" }, el("h3", {}, name),
          copyButton(`Copy ${name}`, () => text)),
        el("pre", { tabIndex: 0 }, code)));
    }
  });
  return details;
}

/** The parsed JSON answer and whether it meets the request's schema. */
function structuredAnswer(content, responseFormat) {
  const schema = responseFormat.type === "json_schema" ? responseFormat.json_schema?.schema : null;
  const { parsed, valid, errors } = checkJson(content, schema);
  let verdict = "Parsed as JSON (no schema to check).";
  if (parsed === undefined) verdict = "The answer is not JSON.";
  else if (valid === true) verdict = "Valid JSON: the answer matches the schema.";
  else if (valid === false) verdict = "The answer does not match the schema.";
  const state = parsed === undefined || valid === false ? "invalid" : "valid";
  const section = el("section", { class: `structured ${state}`, "aria-label": "JSON answer" },
    el("p", { class: "verdict", "data-valid": String(state === "valid") }, verdict));
  if (errors.length) section.append(el("ul", {}, ...errors.map((e) => el("li", {}, e))));
  if (parsed !== undefined) {
    const code = el("code", { class: "language-json" }, JSON.stringify(parsed, null, 2));
    highlight(code, "json");
    section.append(el("pre", { tabIndex: 0 }, code));
  }
  return section;
}

function prettyArguments(text) {
  try {
    return { text: JSON.stringify(JSON.parse(text || "{}"), null, 2), valid: true };
  } catch {
    return { text, valid: false };
  }
}

/** One tool call as a card: name, id, arguments, and its result (or a box to type it). */
function toolCard(call, result, editable) {
  const args = prettyArguments(call.function.arguments);
  const code = el("code", { class: "language-json" }, args.text);
  if (args.valid) highlight(code, "json");
  const label = `Tool call ${call.function.name}`;
  const card = el("section", { class: "tool-call", "aria-label": label },
    el("div", { class: "tool-head" }, el("span", { class: "tool-name" }, call.function.name),
      el("code", { class: "call-id" }, call.id)),
    el("pre", { tabIndex: 0 }, code));
  if (!args.valid) card.append(el("p", { class: "warning" }, "The arguments are not valid JSON."));
  if (result !== undefined) {
    card.append(el("div", { class: "tool-result" }, el("h3", {}, "Result"),
      el("pre", { tabIndex: 0 }, el("code", {}, result))));
  } else if (editable) {
    const id = `result-${call.id}`;
    card.append(el("div", { class: "tool-result" },
      el("label", { htmlFor: id }, `Result of ${call.function.name}`),
      el("textarea", { id, rows: 3, required: true, "data-call-id": call.id,
        placeholder: "What the tool returned (text or JSON)" })));
  }
  return card;
}

/** A user message. */
export function userView(message) {
  return el("article", { class: "message user", "aria-label": "Your message" },
    el("div", { class: "who" }, "You"), el("div", { class: "text" }, message.content));
}

/** An answer: built empty for a stream, or from a kept message. */
export class AnswerView {
  constructor(model) {
    this.reasoningBody = el("div", { class: "markdown" });
    this.reasoningSummary = el("summary", {}, "Reasoning");
    this.reasoning = el("details", { class: "reasoning", open: true, hidden: true },
      this.reasoningSummary, this.reasoningBody);
    this.content = el("div", { class: "content markdown" });
    this.tools = el("div", { class: "tool-calls" });
    this.extra = el("div", { class: "after" });
    this.state = el("span", { class: "state" });
    this.root = el("article", { class: "message assistant", "aria-label": "Answer" },
      el("div", { class: "who" }, model || "Assistant", this.state),
      this.reasoning, this.content, this.tools, this.extra);
    this.userToggled = false;
    this.reasoning.querySelector("summary").addEventListener("click", () => {
      this.userToggled = true;
    });
    this.frame = null;
    this.live = null; // the LiveMarkdown of each part, made at the first repaint
  }

  /** Repaints from a StreamedAnswer on the next animation frame. */
  update(answer) {
    if (this.frame !== null) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      this.live ??= { reasoning: new LiveMarkdown(this.reasoningBody),
        content: new LiveMarkdown(this.content) };
      this.reasoning.hidden = !answer.reasoning;
      if (answer.reasoning) {
        this.live.reasoning.update(answer.reasoning);
        this.reasoningSummary.textContent = answer.content ? "Reasoning" : "Reasoning…";
        // the reasoning folds away once the answer starts, unless the reader opened it
        if (answer.content && !this.userToggled) this.reasoning.open = false;
      }
      this.live.content.update(answer.content);
      const calls = answer.toolCalls.filter(Boolean);
      this.tools.replaceChildren(...calls.map((call) => toolCard(call, undefined, false)));
      this.root.classList.add("streaming");
    });
  }

  /**
   * Shows a kept message: its tool calls with their results (`results`: id -> text), boxes
   * for the missing results when `editable`, and the request rebuilt from `history` (the
   * conversation before it).
   */
  show(message, { results, editable, baseUrl, history }) {
    if (this.frame !== null) cancelAnimationFrame(this.frame);
    this.frame = null;
    const meta = message.meta || {};
    const reasoning = message.reasoning_content || "";
    this.reasoning.hidden = !reasoning;
    if (reasoning) renderMarkdown(this.reasoningBody, reasoning);
    renderMarkdown(this.content, message.content || "");
    if (!this.userToggled && message.content) this.reasoning.open = false;
    if (meta.stats?.reasoningTokens) {
      this.reasoningSummary.textContent = `Reasoning (${meta.stats.reasoningTokens} tokens)`;
    }
    const calls = message.tool_calls || [];
    this.tools.replaceChildren(
      ...calls.map((call) => toolCard(call, results.get(call.id), editable)));
    if (editable && calls.some((call) => !results.has(call.id))) {
      this.tools.append(el("button", { type: "button", class: "primary send-results" },
        calls.length > 1 ? "Send tool results" : "Send tool result"));
    }
    const format = meta.request?.response_format;
    const parts = [];
    if (format && format.type !== "text" && message.content && !meta.error) {
      parts.push(structuredAnswer(message.content, format));
    }
    if (meta.stopped) this.state.textContent = " · stopped";
    if (meta.error) {
      parts.push(el("p", { class: "warning" }, `Interrupted: ${meta.error.message}`));
    }
    if (meta.stats) parts.push(statsList(meta.stats));
    if (meta.request) {
      parts.push(requestSnippets(baseUrl, () => requestFor(meta.request, history)));
    }
    this.extra.replaceChildren(...parts);
  }
}

/**
 * The tool calls that still wait for results: those of the last assistant message, when
 * only tool messages follow it (the server refuses any other order).
 */
export function pendingCalls(messages) {
  const last = messages.findLastIndex((m) => m.role === "assistant");
  if (last < 0 || messages.slice(last + 1).some((m) => m.role !== "tool")) return [];
  const answered = new Set(messages.slice(last + 1).map((m) => m.tool_call_id));
  return (messages[last].tool_calls || []).filter((call) => !answered.has(call.id));
}

/** The whole log of `conversation`: results are shown inside their tool-call cards. */
export function conversationViews(conversation, baseUrl) {
  const { messages } = conversation;
  const results = new Map(messages.filter((m) => m.role === "tool")
    .map((m) => [m.tool_call_id, m.content]));
  const waiting = pendingCalls(messages).length > 0;
  const last = messages.findLastIndex((m) => m.role === "assistant");
  return messages.flatMap((message, index) => {
    if (message.role === "user") return [userView(message)];
    if (message.role !== "assistant") return [];
    const view = new AnswerView(message.meta?.model);
    view.show(message, { results, editable: waiting && index === last, baseUrl,
      history: messages.slice(0, index) });
    return [view.root];
  });
}
