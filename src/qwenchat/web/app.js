// The playground page: wires the conversation list, the composer and the log to the API
// client, and runs one streamed request at a time.
//
// A turn: the request is built (and checked) before anything changes; the conversation then
// takes the turn's messages and the answer streams into an AnswerView. When the stream ends:
// - with output (completed, stopped, or failed part-way), the answer is kept with its stats
//   and request (a cut-off stream loses tool calls it had not finished);
// - with none (refused, unreachable), the conversation goes back to what it was and the
//   typed message back into the box, so nothing is sent twice and nothing is lost.
// The log is then redrawn from the stored conversation, which is the one source of truth;
// while a stream runs, a redraw keeps its answer at the end of the log.

import { ApiClient, ApiError } from "./api.js";
import { StreamedAnswer } from "./answer.js";
import { Notice } from "./notice.js";
import { bindPanels, closePanels, openPanel } from "./panels.js";
import { loadVendor } from "./render.js";
import { buildRequest, SettingsError, storedRequest } from "./request.js";
import { applyModel, bindSettings } from "./settings.js";
import { Store } from "./store.js";
import { AnswerView, conversationViews, el, pendingCalls } from "./view.js";

const $ = (id) => document.getElementById(id);
const ui = {
  log: $("log"), empty: $("empty-log"), message: $("message"), send: $("send"),
  stop: $("stop"), regenerate: $("regenerate"), model: $("model"), apiKey: $("api-key"),
  keyStatus: $("key-status"), announce: $("announce"), list: $("conversation-list"),
};
const notice = new Notice($("notice"), $("notice-text"), $("notice-retry"), $("notice-key"));
const store = new Store((error) => {
  notice.show(`This browser would not store the playground's data: ${error.message}`);
});
const baseUrl = new URL("compatible-mode/v1", window.location.href).href;
const api = new ApiClient(baseUrl, store.apiKey);
let running = null; // {controller, view, conversation} while a request streams

// --- API key and models ------------------------------------------------------------------

let cards = new Map(); // model id -> its card, as /models gave it

async function loadModels() {
  try {
    cards = new Map((await api.models()).map((card) => [card.id, card]));
    const ids = [...cards.keys()];
    ui.model.replaceChildren(...ids.map((id) => el("option", { value: id }, id)));
    if (!ids.includes(store.settings.model)) store.settings.model = ids[0] || "";
    ui.model.value = store.settings.model;
    applyModel(cards.get(store.settings.model), store);
    ui.keyStatus.textContent = api.apiKey ? "The server accepts this key." : "";
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      ui.keyStatus.textContent = api.apiKey ? "The server rejected this key."
        : "This server requires an API key.";
    }
    notice.showError(error);
    return false;
  }
}

function bindKey() {
  ui.apiKey.value = store.apiKey;
  const save = async () => {
    const stored = store.setApiKey(ui.apiKey.value.trim());
    api.apiKey = store.apiKey;
    notice.hide();
    if (await loadModels()) ui.message.focus();
    if (!stored) notice.show("The key is used until this page closes, not stored.");
  };
  $("save-key").addEventListener("click", save);
  ui.apiKey.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      save();
    }
  });
  $("forget-key").addEventListener("click", () => {
    ui.apiKey.value = "";
    store.setApiKey("");
    api.apiKey = "";
    ui.keyStatus.textContent = "The key is forgotten.";
  });
  $("notice-key").addEventListener("click", () => {
    openPanel("settings");
    ui.apiKey.focus();
  });
  $("notice-close").addEventListener("click", () => notice.hide());
}

// --- conversations and the log -----------------------------------------------------------

function conversationItem(conversation) {
  const current = conversation.id === store.currentId;
  const open = el("button", { type: "button", class: "conversation",
    "aria-current": current ? "true" : null }, conversation.title);
  open.addEventListener("click", () => {
    if (running) return;
    store.open(conversation.id);
    closePanels(false);
    render();
    ui.message.focus();
  });
  const remove = el("button", { type: "button", class: "small danger",
    "aria-label": `Delete conversation: ${conversation.title}` }, "Delete");
  remove.addEventListener("click", () => {
    if (running?.conversation === conversation) return;
    store.remove(conversation.id);
    render();
    $("new-conversation").focus();
  });
  return el("li", {}, open, remove);
}

function renderLog() {
  const conversation = store.current();
  const views = conversation ? conversationViews(conversation, baseUrl) : [];
  if (running && running.conversation === conversation) views.push(running.view.root);
  ui.log.replaceChildren(...(views.length ? views : [ui.empty]));
  for (const button of ui.log.querySelectorAll(".tool-calls > .send-results")) {
    button.addEventListener("click", sendToolResults);
  }
  ui.log.lastElementChild?.scrollIntoView({ block: "end" });
}

function render() {
  ui.list.replaceChildren(...store.conversations.map(conversationItem));
  renderLog();
  const busy = running !== null;
  ui.send.disabled = busy;
  ui.stop.hidden = !busy;
  ui.regenerate.disabled = busy || !store.current()?.messages.length;
  ui.log.setAttribute("aria-busy", String(busy));
}

// --- a turn ------------------------------------------------------------------------------

function requestOrSay(messages) {
  try {
    return buildRequest(store.settings, messages);
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    notice.show(error.message);
    if (error.field !== "model") openPanel("settings");
    document.querySelector(`[data-setting="${error.field}"]`)?.focus();
    return null;
  }
}

/**
 * Sends `messages` (the conversation plus what this turn adds) and streams the answer.
 * `draft` is the composer text the turn took, given back if the request gets no answer.
 */
async function run(conversation, messages, draft = "") {
  const request = requestOrSay(messages);
  if (request === null) {
    if (draft && !ui.message.value) ui.message.value = draft;
    return;
  }
  notice.hide();
  const before = conversation.messages;
  conversation.messages = messages;
  const view = new AnswerView(request.model);
  running = { controller: new AbortController(), view, conversation };
  store.touch(conversation);
  render();
  const answer = new StreamedAnswer(performance.now());
  const meta = { model: request.model, request: storedRequest(request) };
  try {
    for await (const chunk of api.streamChat(request, running.controller.signal)) {
      answer.add(chunk, performance.now());
      view.update(answer);
    }
  } catch (error) {
    if (error.name === "AbortError") meta.stopped = true;
    else {
      meta.error = { status: error.status ?? 0, code: error.code ?? "", message: error.message };
      notice.showError(error);
    }
  }
  answer.end(performance.now());
  running = null;
  const message = answer.message(!meta.stopped && !meta.error);
  if (message.content || message.reasoning_content || message.tool_calls || meta.stopped) {
    conversation.messages.push({ ...message, meta: { ...meta, stats: answer.stats() } });
    ui.announce.textContent = meta.stopped ? "Answer stopped." : "Answer complete.";
  } else {
    conversation.messages = before;
    if (draft && !ui.message.value) ui.message.value = draft;
  }
  store.touch(conversation);
  render();
}

async function send(event) {
  event.preventDefault();
  const text = ui.message.value;
  if (running || !text.trim()) return;
  const conversation = store.ensureCurrent();
  if (pendingCalls(conversation.messages).length) {
    notice.show("The model is waiting for tool results: type them into the tool-call cards " +
      "and send them, or regenerate the answer.");
    ui.log.querySelector(".tool-result textarea")?.focus();
    return;
  }
  ui.message.value = "";
  await run(conversation, [...conversation.messages, { role: "user", content: text }], text);
}

async function regenerate() {
  const conversation = store.current();
  if (running || !conversation?.messages.length) return;
  const messages = [...conversation.messages];
  if (messages.at(-1).role === "assistant") messages.pop();
  await run(conversation, messages);
}

async function sendToolResults(event) {
  const conversation = store.current();
  if (running || !conversation) return;
  const boxes = [...event.target.closest(".tool-calls")
    .querySelectorAll(".tool-result textarea[data-call-id]")];
  const empty = boxes.find((box) => !box.value.trim());
  if (empty) {
    notice.show("Type each tool's result before sending.");
    empty.focus();
    return;
  }
  const results = boxes.map((box) => ({ role: "tool", tool_call_id: box.dataset.callId,
    content: box.value }));
  await run(conversation, [...conversation.messages, ...results]);
}

// --- start -------------------------------------------------------------------------------

function bindComposer() {
  $("composer").addEventListener("submit", send);
  ui.message.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) send(event);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.target.tagName === "SELECT") return;
    if (running) running.controller.abort();
    else closePanels();
  });
  ui.stop.addEventListener("click", () => running?.controller.abort());
  ui.regenerate.addEventListener("click", regenerate);
  $("new-conversation").addEventListener("click", () => {
    if (running) return;
    store.create();
    closePanels(false);
    render();
    ui.message.focus();
  });
}

async function start() {
  bindPanels();
  bindSettings(store);
  ui.model.addEventListener("change", () => applyModel(cards.get(ui.model.value), store));
  bindKey();
  bindComposer();
  render();
  await loadVendor();
  renderLog(); // again, now with markdown
  await loadModels();
  document.body.dataset.ready = "true";
}

start();
