// Turning model text into something to look at: markdown (sanitized, code highlighted) and
// JSON answers parsed and checked against the request's schema.
//
// The libraries come from vendor.js (marked, DOMPurify, highlight.js, @cfworker/json-schema),
// loaded once with a dynamic import so that a server without that bundle still serves a
// working page: text then shows as plain text and schemas go unchecked, and it says so.
// Model output is untrusted: the HTML marked makes is sanitized before it reaches the page
// (and the page's Content-Security-Policy stops anything sanitizing missed from running).

let vendor = null;

// Markdown may carry raw HTML: only content-like HTML survives. No ids, names or data-*
// (they could shadow the page's own elements), no controls or forms (they could pose as
// the page's), no styles.
const SANITIZE = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ["form", "input", "textarea", "button", "select", "option", "label", "style",
    "dialog"],
  FORBID_ATTR: ["id", "name", "style", "for", "form", "tabindex"],
  ALLOW_DATA_ATTR: false,
  SANITIZE_NAMED_PROPS: true,
};

/** Loads the bundle; false when it is missing (the page then falls back to plain text). */
export async function loadVendor() {
  try {
    vendor = await import("./vendor.js");
    vendor.marked.use({ gfm: true, breaks: false });
    return true;
  } catch (error) {
    console.warn("playground: vendor.js did not load, showing plain text", error);
    return false;
  }
}

/**
 * Puts `text` into `element` as markdown (or plain text without the bundle). Code blocks are
 * highlighted unless `streaming`: a long answer is re-rendered on every frame while it
 * streams, and highlighting each time would grow with the square of its length.
 */
export function renderMarkdown(element, text, streaming = false) {
  if (!vendor) {
    element.textContent = text;
    element.classList.add("plain");
    return;
  }
  const html = vendor.marked.parse(text);
  element.innerHTML = vendor.DOMPurify.sanitize(html, SANITIZE);
  for (const link of element.querySelectorAll("a[href]")) {
    link.target = "_blank";
    link.rel = "noopener noreferrer";
  }
  if (!streaming) for (const block of element.querySelectorAll("pre code")) highlight(block);
}

/**
 * Where `text` can be cut so that the part before never changes its rendering: after the
 * last blank line outside a fenced code block, searching from `from` (a cut made earlier,
 * so outside any fence). Returns `from` when there is no such line.
 */
export function stableCut(text, from = 0) {
  let cut = from;
  let fence = null; // the fence that opened the code block we are in
  let start = from;
  while (start < text.length) {
    const end = text.indexOf("\n", start);
    if (end < 0) break; // the last line may still grow
    const line = text.slice(start, end);
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === null && marker) fence = marker;
    else if (fence !== null && marker && marker[0] === fence[0] && marker.length >= fence.length
      && !line.trim().slice(marker.length)) fence = null;
    else if (fence === null && !line.trim()) cut = end + 1;
    start = end + 1;
  }
  return cut;
}

/**
 * Markdown that grows while it streams. Rendering the whole text on every frame costs
 * its length each time; here the blocks before the last stable cut are rendered once and
 * kept, and only the tail is rendered again. The finished answer is rendered whole.
 */
export class LiveMarkdown {
  constructor(element) {
    this.element = element;
    this.tail = document.createElement("div");
    this.done = 0;
    element.replaceChildren(this.tail);
  }

  update(text) {
    const cut = stableCut(text, this.done);
    if (cut > this.done) {
      const block = document.createElement("div");
      renderMarkdown(block, text.slice(this.done, cut), true);
      this.tail.before(block);
      this.done = cut;
    }
    renderMarkdown(this.tail, text.slice(this.done), true);
  }
}

/** Highlights one <code> element, by its language-* class when highlight.js knows it. */
export function highlight(code, language = null) {
  if (!vendor) return;
  const named = language || [...code.classList].find((c) => c.startsWith("language-"))
    ?.slice("language-".length);
  const known = named && vendor.hljs.getLanguage(named);
  const result = known ? vendor.hljs.highlight(code.textContent, { language: named })
    : vendor.hljs.highlightAuto(code.textContent);
  code.innerHTML = result.value; // highlight.js escapes the text it wraps
  code.classList.add("hljs");
}

/**
 * A JSON answer checked: {parsed, valid, errors}. `parsed` is undefined when the text is not
 * JSON; `valid` is null when there is no schema to check against (or no validator).
 */
export function checkJson(text, schema) {
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { parsed: undefined, valid: false, errors: [`Not valid JSON: ${error.message}`] };
  }
  if (!schema || !vendor) return { parsed, valid: null, errors: [] };
  try {
    const result = new vendor.Validator(schema, "2020-12", false).validate(parsed);
    // the validator also reports each enclosing object and array a failure sits in
    const leaves = result.errors.filter((e) => !["properties", "items"].includes(e.keyword));
    const errors = (leaves.length ? leaves : result.errors).map((e) =>
      `${e.instanceLocation === "#" ? "the answer" : e.instanceLocation}: ${e.error}`);
    return { parsed, valid: result.valid, errors };
  } catch (error) {
    return { parsed, valid: null, errors: [`The schema could not be used: ${error.message}`] };
  }
}
