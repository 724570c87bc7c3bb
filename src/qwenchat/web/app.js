// The playground page: wires the settings panel, the conversation list, the composer and
// the log to the API client, and runs one streamed request at a time.
//
// A turn: the request is built (and checked) before the user's message joins the
// conversation; the answer streams into an AnswerView; when the stream ends (completed,
// stopped or failed) the answer is kept with its stats and exact request, and the log is
// redrawn from the stored conversation, which is the one source of truth.

import { ApiClient, ApiError } from "./api.js";
import { StreamedAnswer } from "./answer.js";
import { Notice } from "./notice.js";
import { loadVendor } from "./render.js";
import { buildRequest, parseSchema, parseTools, SettingsError } from "./request.js";
import { Store } from "./store.js";
import { AnswerView, conversationViews, el, userView } from "./view.js";

const EXAMPLE_TOOL = [{
  type: "function",
  function: {
    name: "get_weather",
    description: "The current weather in a city.",
    parameters: {
      type: "object",
      properties: { city: { type: "string", description: "The city, e.g. Paris" } },
      required: ["city"],
    },
  },
}];

const $ = (id) => document.getElementById(id);
const baseUrl = new URL("compatible-mode/v1", window.location.href).href;
const store = new Store();
const api = new ApiClient(baseUrl, store.apiKey);
let running = null; // {controller, view} while a request streams
const notice = new Notice($("notice"), $("notice-text"), $("notice-key"));

function settingInputs() {
  return document.querySelectorAll("[data-setting]");
}

function readSetting(input) {
  return input.type === "checkbox" ? input.checked : input.value;
}

// --- settings ----------------------------------------------------------------------------

function checkJsonFields() {
  const checks = [
    ["tools", () => parseTools(store.settings.tools)],
    ["schema", () => parseSchema(store.settings.schema)],
    ["extra", () => store.settings.extra.trim() && JSON.parse(store.settings.extra)],
  ];
  for (const [name, check] of checks) {
    let message = "";
    try {
      check();
    } catch (error) {
      message = error.message;
    }
    $(`${name}-error`).textContent = message;
    $(name).setAttribute("aria-invalid", String(Boolean(message)));
  }
}

function refreshToolChoices() {
  const select = $("tool-choice");
  let names = [];
  try {
    names = parseTools(store.settings.tools).map((tool) => tool.function.name);
  } catch {
    // the tools box says what is wrong; keep the fixed choices meanwhile
  }
  const fixed = ["auto", "none", "required"];
  select.replaceChildren(...fixed.map((v) => el("option", { value: v }, v)),
    ...names.map((name) => el("option", { value: name }, `function ${name}`)));
  const wanted = store.settings.toolChoice;
  select.value = [...fixed, ...names].includes(wanted) ? wanted : "auto";
}

function bindSettings() {
  for (const input of settingInputs()) {
    const name = input.dataset.setting;
    if (input.type === "checkbox") input.checked = Boolean(store.settings[name]);
    else if (name !== "model") input.value = store.settings[name] ?? "";
    input.addEventListener(input.tagName === "SELECT" ? "change" : "input", () => {
      store.settings[name] = readSetting(input);
      saveSettings();
      if (name === "tools") refreshToolChoices();
      checkJsonFields();
    });
  }
  refreshToolChoices();
  checkJsonFields();
  $("example-tool").addEventListener("click", () => {
    $("tools").value = JSON.stringify(EXAMPLE_TOOL, null, 2);
    $("tools").dispatchEvent(new Event("input"));
  });
}

function saveSettings() {
  try {
    store.saveSettings();
  } catch (error) {
    notice.show(`The settings could not be saved in this browser: ${error.message}`);
  }
}

// --- API key and models ------------------------------------------------------------------

async function loadModels() {
  const select = $("model");
  try {
    const ids = await api.models();
    select.replaceChildren(...ids.map((id) => el("option", { value: id }, id)));
    if (!ids.includes(store.settings.model)) store.settings.model = ids[0] || "";
    select.value = store.settings.model;
    $("key-status").textContent = api.apiKey ? "The server accepts this key." : "";
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      $("key-status").textContent = api.apiKey ? "The server rejected this key."
        : "This server requires an API key.";
    }
    notice.showError(error);
    return false;
  }
}

function focusKey() {
  openPanel("settings");
  $("api-key").focus();
}

function bindKey() {
  $("api-key").value = store.apiKey;
  const save = async () => {
    const stored = store.setApiKey($("api-key").value.trim());
    api.apiKey = store.apiKey;
    notice.hide();
    if (await loadModels()) $("message").focus();
    if (!stored) {
      notice.show("This browser would not store the key: it is used until the page closes.");
    }
  };
  $("save-key").addEventListener("click", save);
  $("api-key").addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      save();
    }
  });
  $("forget-key").addEventListener("click", () => {
    $("api-key").value = "";
    store.setApiKey("");
    api.apiKey = "";
    $("key-status").textContent = "The key is forgotten.";
  });
  $("notice-key").addEventListener("click", focusKey);
  $("notice-close").addEventListener("click", () => notice.hide());
}

// --- conversations and the log -----------------------------------------------------------

function renderConversations() {
  const list = $("conversation-list");
  list.replaceChildren(...store.conversations.map((conversation) => {
    const current = conversation.id === store.currentId;
    const open = el("button", { type: "button", class: "conversation",
      "aria-current": current ? "true" : null }, conversation.title);
    open.addEventListener("click", () => {
      if (running) return;
      store.open(conversation.id);
      closePanels();
      render();
    });
    const remove = el("button", { type: "button", class: "small danger",
      "aria-label": `Delete conversation: ${conversation.title}` }, "Delete");
    remove.addEventListener("click", () => {
      if (running && current) return;
      store.remove(conversation.id);
      render();
    });
    return el("li", {}, open, remove);
  }));
}

function renderLog() {
  const conversation = store.current();
  const views = conversation ? conversationViews(conversation, baseUrl) : [];
  $("log").replaceChildren(...(views.length ? views : [emptyLog]));
  for (const button of $("log").querySelectorAll(".send-results")) {
    button.addEventListener("click", sendToolResults);
  }
  $("log").lastElementChild?.scrollIntoView({ block: "end" });
}

function render() {
  renderConversations();
  renderLog();
  updateButtons();
}

function updateButtons() {
  const busy = running !== null;
  $("send").disabled = busy;
  $("stop").hidden = !busy;
  $("regenerate").disabled = busy || !store.current()?.messages.length;
  $("log").setAttribute("aria-busy", String(busy));
}

// --- a turn ------------------------------------------------------------------------------

function keep(conversation) {
  try {
    store.touch(conversation);
  } catch (error) {
    notice.show(`The conversation could not be saved in this browser: ${error.message}`);
  }
}

/** Sends `messages` (the conversation plus what this turn adds) and streams the answer. */
async function run(conversation, messages, onStarted = () => {}) {
  let request;
  try {
    request = buildRequest(store.settings, messages);
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    notice.show(error.message);
    if (error.field !== "model") openPanel("settings");
    document.querySelector(`[data-setting="${error.field}"]`)?.focus();
    return;
  }
  notice.hide();
  onStarted();
  conversation.messages = messages;
  keep(conversation);
  render();
  const view = new AnswerView(request.model);
  $("log").append(view.root);
  view.root.scrollIntoView({ block: "end" });
  running = { controller: new AbortController(), view };
  updateButtons();
  const answer = new StreamedAnswer(performance.now());
  const meta = { model: request.model, request };
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
  const message = answer.message();
  if (message.content || message.reasoning_content || message.tool_calls || meta.stopped) {
    conversation.messages.push({ ...message, meta: { ...meta, stats: answer.stats() } });
  }
  keep(conversation);
  render();
}

async function send(event) {
  event.preventDefault();
  const text = $("message").value;
  if (running || !text.trim()) return;
  const conversation = store.ensureCurrent();
  const messages = [...conversation.messages, { role: "user", content: text }];
  await run(conversation, messages, () => { $("message").value = ""; });
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
  const card = event.target.closest(".message");
  const boxes = [...card.querySelectorAll("textarea[data-call-id]")];
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

// --- panels (drawers on a phone) ---------------------------------------------------------

function openPanel(id) {
  const toggle = document.querySelector(`.panel-toggle[aria-controls="${id}"]`);
  $(id).classList.add("open");
  toggle.setAttribute("aria-expanded", "true");
}

function closePanels() {
  for (const toggle of document.querySelectorAll(".panel-toggle")) {
    toggle.setAttribute("aria-expanded", "false");
    $(toggle.getAttribute("aria-controls")).classList.remove("open");
  }
}

function bindPanels() {
  for (const close of document.querySelectorAll(".panel-close")) {
    close.addEventListener("click", () => {
      const id = close.closest(".panel").id;
      closePanels();
      document.querySelector(`.panel-toggle[aria-controls="${id}"]`).focus();
    });
  }
  for (const toggle of document.querySelectorAll(".panel-toggle")) {
    toggle.addEventListener("click", () => {
      const id = toggle.getAttribute("aria-controls");
      const open = !$(id).classList.contains("open");
      closePanels();
      if (open) openPanel(id);
    });
  }
}

// --- start -------------------------------------------------------------------------------

const emptyLog = $("empty-log");

async function start() {
  bindPanels();
  bindSettings();
  bindKey();
  $("composer").addEventListener("submit", send);
  $("message").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) send(event);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && running) running.controller.abort();
    else if (event.key === "Escape") closePanels();
  });
  $("stop").addEventListener("click", () => running?.controller.abort());
  $("regenerate").addEventListener("click", regenerate);
  $("new-conversation").addEventListener("click", () => {
    if (running) return;
    store.create();
    closePanels();
    render();
    $("message").focus();
  });
  render();
  await loadVendor();
  renderLog(); // again, now with markdown
  await loadModels();
  document.body.dataset.ready = "true";
}

start();
