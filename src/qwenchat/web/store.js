// What the playground keeps in the browser's localStorage, and nowhere else: the
// conversations, the settings and the API key (each under its own key, so forgetting the
// key touches nothing else). A conversation is a list of API messages; assistant messages
// carry a `meta` object (stats, the exact request, validation) that is never sent.

import { DEFAULT_SETTINGS } from "./request.js";

const CONVERSATIONS = "qwenchat.playground.conversations";
const SETTINGS = "qwenchat.playground.settings";
const API_KEY = "qwenchat.playground.apiKey";

function read(key, fallback) {
  try { // storage may be unreadable (disabled, or full of another version's data)
    const text = localStorage.getItem(key);
    return text === null ? fallback : JSON.parse(text);
  } catch {
    return fallback; // start afresh
  }
}

function newId() {
  return crypto.randomUUID ? crypto.randomUUID()
    : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/** The conversations, settings and key, saved on every change. */
export class Store {
  /** `onSaveError(error)` is told when the browser refuses to store something. */
  constructor(onSaveError = () => {}) {
    this.onSaveError = onSaveError;
    const saved = read(CONVERSATIONS, null);
    const list = Array.isArray(saved?.list) ? saved.list : [];
    this.conversations = list.filter((c) => c && typeof c.id === "string"
      && Array.isArray(c.messages));
    this.currentId = saved?.current || null;
    const settings = read(SETTINGS, null);
    this.settings = { ...DEFAULT_SETTINGS, ...(settings && typeof settings === "object"
      ? settings : {}) };
    const key = read(API_KEY, "");
    this.apiKey = typeof key === "string" ? key : "";
    if (!this.current()) this.currentId = this.conversations[0]?.id || null;
  }

  /** The open conversation (null before the first message). */
  current() {
    return this.conversations.find((c) => c.id === this.currentId) || null;
  }

  /** The open conversation, made when there is none yet. */
  ensureCurrent() {
    return this.current() || this.create();
  }

  create() {
    const conversation = { id: newId(), title: "New conversation", updated: Date.now(),
      messages: [] };
    this.conversations.unshift(conversation);
    this.currentId = conversation.id;
    this.saveConversations();
    return conversation;
  }

  open(id) {
    this.currentId = id;
    this.saveConversations();
  }

  remove(id) {
    this.conversations = this.conversations.filter((c) => c.id !== id);
    if (this.currentId === id) this.currentId = this.conversations[0]?.id || null;
    this.saveConversations();
  }

  /** Records a change to `conversation` (titled after its first user message). */
  touch(conversation) {
    const first = conversation.messages.find((m) => m.role === "user");
    if (first) {
      const text = first.content.replace(/\s+/g, " ").trim();
      conversation.title = text.length > 48 ? `${text.slice(0, 47)}…` : text || "Untitled";
    }
    conversation.updated = Date.now();
    this.conversations.sort((a, b) => b.updated - a.updated);
    this.saveConversations();
  }

  saveConversations() {
    this.write(CONVERSATIONS, { list: this.conversations, current: this.currentId });
  }

  saveSettings() {
    this.write(SETTINGS, this.settings);
  }

  /** Uses `key` from now on; false when the browser would not store it for next time. */
  setApiKey(key) {
    this.apiKey = key;
    if (key) return this.write(API_KEY, key);
    try {
      localStorage.removeItem(API_KEY);
    } catch {
      // nothing was stored
    }
    return true;
  }

  /** Stores `value` under `key`; false (and onSaveError told) when the browser refuses. */
  write(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify(value));
      return true;
    } catch (error) {
      this.onSaveError(error); // storage full or disabled: the page goes on without it
      return false;
    }
  }
}
