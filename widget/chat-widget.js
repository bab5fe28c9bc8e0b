// The reference visitor chat widget: one dependency-free ES module, no build step.
//
//   import { mountChatWidget } from "./chat-widget.js";
//   mountChatWidget(element, { supabaseUrl: "http://127.0.0.1:54321", supabaseKey: "..." });
//
// It speaks only to the two edge functions (CONTRACT §4-§6), never to the chat tables:
// handle-chat-message sends (one clientMessageId per message, reused by every retry) and
// chat-visitor-sync polls every 2 s (long-poll when the answer offers it). The session
// `{conversationId, conversationToken}` lives in localStorage under
// `tradeitm_chat_session_v1`, beside a random visitor id, as the seed's widget keeps them,
// with the functions URL it belongs to (`apiUrl`): the token only ever goes back there.
// Every text reaches the page through textContent, never as HTML.

export const SESSION_KEY = "tradeitm_chat_session_v1";
export const VISITOR_KEY = "tradeitm_chat_visitor_id";
const SEND_ATTEMPTS = 3;
const LONG_POLL_SECONDS = 20;
const LABELS = { visitor: "You", ai: "Assistant", team: "Team", system: "System" };
const STATE_TEXT = {
  escalated: "A member of our team has been notified and will reply here.",
  resolved: "This conversation is resolved. Write again if you need more help.",
  closed: "This conversation is closed. Write again if you need more help.",
};

/** The headers for a key: always `apikey`; a legacy JWT key (anon) also as Bearer, as
 * supabase-js sends it; a publishable key (`sb_publishable_...`) is not a JWT and goes
 * only as `apikey`. */
export function keyHeaders(key) {
  const headers = { apikey: key, "Content-Type": "application/json" };
  if (key.startsWith("eyJ")) headers.Authorization = `Bearer ${key}`;
  return headers;
}

/** Both lists deduplicated by id (the later copy wins), ordered by (createdAt, id). */
export function mergeMessages(existing, incoming) {
  const byId = new Map(existing.map((m) => [m.id, m]));
  for (const m of incoming) byId.set(m.id, m);
  return [...byId.values()].sort(compareMessages);
}

function compareMessages(a, b) {
  const [am, af] = instant(a.createdAt);
  const [bm, bf] = instant(b.createdAt);
  if (am !== bm) return am - bm;
  if (af !== bf) return af - bf;
  return String(a.id) < String(b.id) ? -1 : String(a.id) > String(b.id) ? 1 : 0;
}

// [milliseconds, fraction below the millisecond]: PostgreSQL keeps microseconds, Date.parse
// only milliseconds, and two messages of one millisecond must keep the server's order.
function instant(text) {
  const parts = /^(.+T\d\d:\d\d:\d\d)(?:\.(\d+))?(.*)$/.exec(String(text));
  if (!parts) return [Number.NEGATIVE_INFINITY, 0];
  const digits = (parts[2] || "").padEnd(9, "0");
  const ms = Date.parse(`${parts[1]}.${digits.slice(0, 3)}${parts[3] || "Z"}`);
  return [Number.isNaN(ms) ? Number.NEGATIVE_INFINITY : ms, Number(digits.slice(3, 9))];
}

function randomId() {
  // crypto.randomUUID needs a secure context; getRandomValues works on any page.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// localStorage, or a page-lifetime stand-in where the browser refuses storage.
function openStorage() {
  try {
    const probe = "tradeitm_chat_probe";
    localStorage.setItem(probe, "1");
    localStorage.removeItem(probe);
    return localStorage;
  } catch {
    const items = new Map();
    return {
      getItem: (k) => (items.has(k) ? items.get(k) : null),
      setItem: (k, v) => items.set(k, String(v)),
      removeItem: (k) => items.delete(k),
    };
  }
}

class ChatError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }

  // A session the functions no longer accept. A 401 `unauthorized` is a refused API key,
  // not a refused session: clearing the conversation would not help.
  get sessionRefused() {
    return this.status === 403 || (this.status === 401 && this.code === "token_required");
  }

  // Worth the same request again: no answer at all, or the service is down for a while.
  get transient() {
    return this.status === 0 || this.status >= 500;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Mount the widget into `root` and start it; returns `{ stop() }`.
 * config: { supabaseUrl, supabaseKey, interval (ms, default 2000) }.
 */
export function mountChatWidget(root, config) {
  const ui = buildUi(root);
  const widget = new ChatWidget(ui, config);
  widget.start();
  return { stop: () => widget.stop() };
}

class ChatWidget {
  constructor(ui, { supabaseUrl, supabaseKey, interval = 2000 }) {
    this.ui = ui;
    this.functionsUrl = `${String(supabaseUrl || "").replace(/\/+$/, "")}/functions/v1`;
    this.key = supabaseKey || "";
    this.interval = interval;
    this.storage = openStorage();
    this.visitorId = this.storage.getItem(VISITOR_KEY) || `visitor-${randomId()}`;
    this.storage.setItem(VISITOR_KEY, this.visitorId);
    this.messages = [];
    this.conversationId = null;
    this.cursor = null;
    this.longPoll = false;
    this.pending = null; // {text, clientMessageId} of the message being sent, until it is stored
    this.blockedUntil = 0; // after a 429 on send: no Send before this time (ms)
    this.stopped = false;
    this.wake = null;
    this.syncs = { started: 0, done: 0 };
    this.statusFrom = null; // who wrote the status line: "send" (an error), "sync", "info"
  }

  start() {
    if (!this.key || !/^https?:\/\//.test(this.functionsUrl)) {
      this.status("The chat is not configured: pass ?url=<API URL>&key=<publishable key>.");
      this.ui.send.disabled = true;
      return;
    }
    this.ui.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.ui.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    this.loop();
  }

  stop() {
    this.stopped = true;
    this.wake?.();
  }

  // -- session ----------------------------------------------------------------------------

  loadSession() {
    try {
      const raw = JSON.parse(this.storage.getItem(SESSION_KEY) || "null");
      // As the seed's widget: a stored value of the wrong shape is no session at all.
      // A session belongs to the API that issued its token: one stored for another URL is
      // never sent (a page told to talk elsewhere must not carry this visitor's secret there).
      // The seed's widget stored no URL; such a session is taken as this API's.
      const ours = raw && (raw.apiUrl === undefined || raw.apiUrl === this.functionsUrl);
      if (ours && typeof raw.conversationId === "string") {
        const token = typeof raw.conversationToken === "string" ? raw.conversationToken : null;
        return { conversationId: raw.conversationId, conversationToken: token || null };
      }
    } catch {
      // unreadable JSON: no session
    }
    return null;
  }

  saveSession(conversationId, conversationToken) {
    const value = { conversationId, apiUrl: this.functionsUrl };
    if (conversationToken) value.conversationToken = conversationToken;
    this.storage.setItem(SESSION_KEY, JSON.stringify(value));
    this.adopt(conversationId);
  }

  clearSession() {
    this.storage.removeItem(SESSION_KEY); // the visitor id stays
    this.adopt(null);
  }

  // Start from scratch when the conversation changed (a reset, or another tab's session).
  adopt(conversationId) {
    if (conversationId === this.conversationId) return;
    this.conversationId = conversationId;
    this.messages = [];
    this.cursor = null;
    this.renderMessages();
    this.renderTyping({ isTyping: false });
    this.renderState(null);
  }

  // -- HTTP --------------------------------------------------------------------------------

  /** POST to a function as supabase-js does; every failure becomes a ChatError. */
  async post(name, body) {
    let response;
    try {
      response = await fetch(`${this.functionsUrl}/${name}`, {
        method: "POST",
        headers: keyHeaders(this.key),
        body: JSON.stringify(body),
        cache: "no-store",
      });
    } catch {
      throw new ChatError(0, "network", "the chat service cannot be reached");
    }
    let answer = null;
    try {
      answer = await response.json();
    } catch {
      // not JSON: judged by the status below
    }
    if (response.ok && answer && typeof answer === "object") return answer;
    const retryAfter = Number.parseInt(response.headers.get("Retry-After") || "", 10);
    throw new ChatError(
      response.ok ? 503 : response.status,
      (answer && answer.code) || "unexpected_status",
      (answer && typeof answer.error === "string" && answer.error) || `HTTP ${response.status}`,
      Number.isFinite(retryAfter) ? retryAfter : null,
    );
  }

  // -- sending -----------------------------------------------------------------------------

  async submit() {
    const text = this.ui.input.value.trim();
    if (!text || this.ui.form.dataset.busy === "true" || Date.now() < this.blockedUntil) return;
    // The same text sent again after a failure keeps its clientMessageId: the functions
    // store one message however often it arrives.
    if (!this.pending || this.pending.text !== text) {
      this.pending = { text, clientMessageId: randomId() };
    }
    this.setBusy(true);
    try {
      const restarted = await this.deliver(this.pending);
      this.pending = null;
      this.ui.input.value = ""; // only now: a failed send leaves the text where it was typed
      this.status(
        restarted
          ? "Your previous conversation could not be resumed; your message started a new one."
          : "",
        "info",
      );
    } catch (error) {
      this.showSendError(error);
    } finally {
      this.setBusy(false);
    }
  }

  /** Send until stored; true when the stored session was refused and a new one started. */
  async deliver(pending) {
    let restarted = false;
    for (let attempt = 0; ; attempt++) {
      const session = this.loadSession();
      try {
        await this.sendOnce(pending, session);
        return restarted;
      } catch (error) {
        if (!(error instanceof ChatError)) throw error;
        if (error.sessionRefused && session) {
          // The stored conversation is gone for this visitor (revoked, or not theirs):
          // drop it and carry the text into a new conversation, under a new id.
          this.clearSession();
          pending.clientMessageId = randomId();
          restarted = true;
          continue;
        }
        // Only an existing conversation makes a blind retry idempotent today: the
        // clientMessageId is unique per conversation, so a lost "create" answer is left to
        // the visitor's next Send (same text, same id) instead of a loop opening several.
        if (!error.transient || !session || attempt + 1 >= SEND_ATTEMPTS) throw error;
        const wait = 2 ** attempt;
        this.status(`Connection problem: retrying in ${wait} s…`);
        await sleep(wait * 1000);
      }
    }
  }

  async sendOnce(pending, session) {
    const body = {
      visitorId: this.visitorId,
      message: pending.text,
      clientMessageId: pending.clientMessageId,
    };
    if (session) {
      body.conversationId = session.conversationId;
      if (session.conversationToken) body.conversationToken = session.conversationToken;
    }
    const answer = await this.post("handle-chat-message", body);
    if (typeof answer.conversationId !== "string") {
      throw new ChatError(503, "bad_answer", "the chat service answered without a conversation");
    }
    // Rollout compatibility: a tokenless continue may be accepted without a new token.
    const token =
      answer.conversationToken || (session && session.conversationToken) || null;
    this.saveSession(answer.conversationId, token);
    this.renderState(answer.status ? { status: answer.status } : null);
    this.wake?.(); // sync now: the message and the reply show without waiting a tick
  }

  showSendError(error) {
    if (!(error instanceof ChatError)) {
      this.status("Not sent: something went wrong. Press Send to try again.");
    } else if (error.status === 429) {
      const wait = error.retryAfter ?? 60;
      this.status(`Too many messages: please wait ${wait} s, then send again.`);
      this.blockedUntil = Date.now() + wait * 1000;
      setTimeout(() => this.setBusy(this.ui.form.dataset.busy === "true"), wait * 1000);
    } else if (error.transient) {
      this.status("Not sent: the chat service is unavailable. Press Send to try again.");
    } else if (error.status === 401) {
      this.status("The chat is not available: the API key was refused.");
    } else {
      this.status(`Not sent: ${error.message}`);
    }
  }

  setBusy(busy) {
    this.ui.form.dataset.busy = String(busy);
    this.ui.input.readOnly = busy;
    this.ui.send.disabled = busy || Date.now() < this.blockedUntil;
  }

  // -- syncing -----------------------------------------------------------------------------

  async loop() {
    let failures = 0;
    while (!this.stopped) {
      const started = Date.now();
      let delay = this.interval;
      try {
        await this.syncOnce();
        if (failures) this.syncStatus("");
        failures = 0;
        // A long-poll answer came back as soon as something changed: ask again at once, but
        // never more often than the plain interval (a server without a listener answers
        // immediately, and this must not become a tight loop).
        if (this.longPoll) delay = Math.max(0, this.interval - (Date.now() - started));
      } catch (error) {
        if (!(error instanceof ChatError)) throw error;
        failures += 1;
        delay = this.syncError(error, failures);
      }
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  async syncOnce() {
    const session = this.loadSession();
    this.adopt(session ? session.conversationId : null);
    if (!session) return;
    const body = { conversationId: session.conversationId };
    if (session.conversationToken) body.conversationToken = session.conversationToken;
    else body.visitorId = this.visitorId; // a pre-cutover session resumes through bootstrap
    if (this.cursor) {
      body.since = this.cursor;
      if (this.longPoll) body.wait = LONG_POLL_SECONDS;
    }
    // Counters on the widget's element: tests wait for "the first sync that started after
    // X" by number instead of by time.
    this.ui.root.dataset.syncsStarted = String(++this.syncs.started);
    try {
      const answer = await this.post("chat-visitor-sync", body);
      if (this.conversationId === session.conversationId) this.apply(session, answer);
    } catch (error) {
      if (!(error instanceof ChatError && error.sessionRefused)) throw error;
      // A send may have replaced the session meanwhile: only the refused one is dropped.
      if (this.loadSession()?.conversationId === session.conversationId) {
        this.clearSession();
        this.status("Your previous conversation has ended. Send a message to start a new one.", "sync");
      }
    } finally {
      this.ui.root.dataset.syncsDone = String(++this.syncs.done);
    }
  }

  apply(session, answer) {
    if (!session.conversationToken && typeof answer.conversationToken === "string") {
      this.saveSession(session.conversationId, answer.conversationToken);
    }
    const count = this.messages.length;
    const typed = !this.ui.typing.hidden;
    if (Array.isArray(answer.messages) && answer.messages.length) {
      this.messages = mergeMessages(this.messages, answer.messages);
      this.renderMessages();
    }
    if (typeof answer.cursor === "string") this.cursor = answer.cursor;
    this.longPoll = answer.longPoll === true;
    this.renderTyping(answer.typing || { isTyping: false });
    this.renderState(answer.conversation || null);
    // Follow the conversation only when it moved, so reading older messages is not undone.
    if (this.messages.length !== count || typed === this.ui.typing.hidden) {
      this.ui.messages.scrollTop = this.ui.messages.scrollHeight;
    }
  }

  syncError(error, failures) {
    if (error.status === 429) {
      const wait = error.retryAfter ?? 10;
      this.syncStatus(`Too many requests: syncing again in ${wait} s.`);
      return wait * 1000;
    }
    if (error.status === 401) {
      this.syncStatus("The chat is not available: the API key was refused.");
      return 30000;
    }
    // Exponential with full jitter, capped: clients that failed together spread out.
    const wait = Math.ceil(Math.random() * Math.min(30, 2 ** failures));
    this.syncStatus(`Connection problem: retrying in ${wait} s…`);
    return wait * 1000;
  }

  // -- rendering (text only: textContent, never HTML) ------------------------------------

  status(text, from = "send") {
    this.ui.status.textContent = text;
    this.ui.status.hidden = !text;
    this.statusFrom = text ? from : null;
  }

  // A send's outcome outranks the sync loop's notices: "Not sent…" stays until the visitor
  // acts, and a recovered sync clears only what the sync said.
  syncStatus(text) {
    if (this.statusFrom !== "send") this.status(text, "sync");
  }

  renderMessages() {
    const list = this.ui.messages;
    const keep = new Map([...list.children].map((li) => [li.dataset.messageId, li]));
    for (const message of this.messages) {
      const item = keep.get(String(message.id)) || document.createElement("li");
      fillMessage(item, message);
      keep.delete(String(message.id));
      list.appendChild(item); // moves an existing item into its place in the order
    }
    for (const stale of keep.values()) stale.remove();
  }

  renderTyping(typing) {
    const on = typing.isTyping === true;
    this.ui.typing.hidden = !on;
    this.ui.typing.textContent = on ? `${typing.name || "Our team"} is typing…` : "";
  }

  renderState(conversation) {
    const status = conversation && typeof conversation.status === "string" ? conversation.status : "";
    this.ui.state.dataset.status = status;
    this.ui.state.textContent = STATE_TEXT[status] || "";
    this.ui.state.hidden = !STATE_TEXT[status];
  }
}

function fillMessage(item, message) {
  const kind = String(message.senderType || "");
  item.dataset.testid = "chat-message";
  item.dataset.messageId = String(message.id);
  item.dataset.senderType = kind;
  item.className = `chat-message chat-${kind}`;
  const label =
    kind === "visitor" ? "You" : message.senderName || LABELS[kind] || kind || "?";
  const who = document.createElement("span");
  who.className = "chat-who";
  who.textContent = label;
  const text = document.createElement("p");
  text.className = "chat-text";
  text.dataset.testid = "chat-text";
  text.textContent = String(message.text ?? "");
  const time = document.createElement("time");
  time.dateTime = String(message.createdAt || "");
  const [ms] = instant(message.createdAt);
  time.textContent = Number.isFinite(ms)
    ? new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : "";
  item.replaceChildren(who, text, time);
}

// Default looks, scoped to the widget; a page styles `.chat-*` further as it likes.
const STYLE = `
.chat-widget{font:15px/1.4 system-ui,sans-serif;display:flex;flex-direction:column;
  width:min(100%,380px);height:520px;border:1px solid #d0d4da;border-radius:12px;
  overflow:hidden;background:#fff;color:#1d2330}
.chat-title{padding:12px 16px;background:#1f3a5f;color:#fff;font-weight:600}
.chat-state{margin:0;padding:8px 16px;background:#fff4d6;font-size:13px}
.chat-messages{flex:1;overflow-y:auto;list-style:none;margin:0;padding:12px;
  display:flex;flex-direction:column;gap:8px}
.chat-message{max-width:80%;padding:6px 10px;border-radius:10px;background:#eef1f5;
  align-self:flex-start}
.chat-visitor{align-self:flex-end;background:#d8e8ff}
.chat-team{background:#dff5e3}
.chat-system{align-self:center;background:none;color:#5b6270;font-size:13px}
.chat-who{display:block;font-size:12px;font-weight:600;color:#5b6270}
.chat-text{margin:2px 0;white-space:pre-wrap;overflow-wrap:anywhere}
.chat-message time{font-size:11px;color:#8a909c}
.chat-typing,.chat-status{margin:0;padding:4px 16px;font-size:13px;color:#5b6270}
.chat-status{color:#a33}
.chat-form{display:flex;gap:8px;padding:10px;border-top:1px solid #e3e6ea}
.chat-input{flex:1;resize:none;font:inherit;padding:6px}
.chat-send{padding:0 16px;font:inherit}`;

function buildUi(root) {
  if (!document.getElementById("tradeitm-chat-style")) {
    const style = document.createElement("style");
    style.id = "tradeitm-chat-style";
    style.textContent = STYLE;
    document.head.append(style);
  }
  const make = (tag, testid, className) => {
    const node = document.createElement(tag);
    if (testid) node.dataset.testid = testid;
    if (className) node.className = className;
    return node;
  };
  const title = make("header", null, "chat-title");
  title.textContent = "Chat with us";
  const state = make("p", "chat-state", "chat-state");
  const messages = make("ol", "chat-messages", "chat-messages");
  messages.setAttribute("aria-live", "polite");
  const typing = make("p", "chat-typing", "chat-typing");
  const status = make("p", "chat-status", "chat-status");
  status.setAttribute("role", "status");
  const form = make("form", null, "chat-form");
  const input = make("textarea", "chat-input", "chat-input");
  input.rows = 2;
  input.maxLength = 4000;
  input.placeholder = "Type a message…";
  input.setAttribute("aria-label", "Message");
  const send = make("button", "chat-send", "chat-send");
  send.type = "submit";
  send.textContent = "Send";
  form.append(input, send);
  const widget = make("section", "chat-widget", "chat-widget");
  widget.append(title, state, messages, typing, status, form);
  root.replaceChildren(widget);
  state.hidden = typing.hidden = status.hidden = true;
  return { root: widget, state, messages, typing, status, form, input, send };
}
