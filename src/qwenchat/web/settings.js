// The settings panel: every control marked data-setting="<key>" edits that key of the
// store's settings, saved as it changes. The JSON boxes (tools, schema, more fields) say
// inline what is wrong with them; the tool-choice menu lists the functions of the tools box.
// The chosen model's card (qwenchat's cards carry `capabilities`) adapts the thinking and
// length controls: its defaults and limits are shown, and what it refuses is disabled.

import { parseSchema, parseTools } from "./request.js";
import { el } from "./view.js";

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

const FIXED_CHOICES = ["auto", "none", "required"];
const $ = (id) => document.getElementById(id);

function checkJsonFields(settings) {
  const checks = [
    ["tools", () => parseTools(settings.tools)],
    ["schema", () => parseSchema(settings.schema)],
    ["extra", () => settings.extra.trim() && JSON.parse(settings.extra)],
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

/** Lists the tools' functions as choices; a chosen function that is gone becomes "auto". */
function refreshToolChoices(settings) {
  let names = [];
  try {
    names = parseTools(settings.tools).map((tool) => tool.function.name);
  } catch {
    return; // the tools box says what is wrong; the menu stays as it was meanwhile
  }
  const select = $("tool-choice");
  select.replaceChildren(...FIXED_CHOICES.map((v) => el("option", { value: v }, v)),
    ...names.map((name) => el("option", { value: name }, `function ${name}`)));
  if (![...FIXED_CHOICES, ...names].includes(settings.toolChoice)) settings.toolChoice = "auto";
  select.value = settings.toolChoice;
}

/** Fills the panel from `store.settings` and keeps the two in step. */
export function bindSettings(store) {
  const settings = store.settings;
  for (const input of document.querySelectorAll("[data-setting]")) {
    const name = input.dataset.setting;
    if (input.type === "checkbox") input.checked = Boolean(settings[name]);
    else if (name !== "model") input.value = settings[name] ?? "";
    input.addEventListener(input.tagName === "SELECT" ? "change" : "input", () => {
      settings[name] = input.type === "checkbox" ? input.checked : input.value;
      if (name === "tools") refreshToolChoices(settings);
      checkJsonFields(settings);
      store.saveSettings();
    });
  }
  refreshToolChoices(settings);
  checkJsonFields(settings);
  $("example-tool").addEventListener("click", () => {
    $("tools").value = JSON.stringify(EXAMPLE_TOOL, null, 2);
    $("tools").dispatchEvent(new Event("input"));
  });
}

/** Adapts the thinking and length controls to the model `card` (any OpenAI card works). */
export function applyModel(card, store) {
  const settings = store.settings;
  const caps = card?.capabilities || {};
  const thinking = $("thinking");
  const mode = caps.thinking;
  const thinks = mode === "hybrid-on" || mode === "always";
  thinking.querySelector('[value="default"]').textContent = mode
    ? `Model default (${thinks ? "on" : "off"})` : "Model default";
  thinking.querySelector('[value="on"]').disabled = mode === "off";
  thinking.querySelector('[value="off"]').disabled = mode === "always";
  if (thinking.selectedOptions[0]?.disabled) {
    settings.thinking = "default";
    thinking.value = "default";
    store.saveSettings();
  }
  const limit = (id, value, what) => {
    $(id).placeholder = value ? `${what} (${value})` : what;
    if (value) $(id).max = String(value);
    else $(id).removeAttribute("max");
  };
  limit("max-tokens", caps.max_output_tokens, "Model maximum");
  limit("thinking-budget", caps.max_thinking_budget, "Model maximum");
  $("thinking-budget").disabled = mode === "off";
  $("tools-hint").textContent = caps.tools === false ? `${card.id} does not take tools.` : "";
}
