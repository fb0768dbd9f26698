// The chat page: parley.js from the same server (no CDN), every user text through textContent.
import { connect } from "/parley/parley.js";

const $ = (id) => document.getElementById(id);
const state = {
  socket: null, nick: "", room: "", rooms: [], welcomed: false,
  typing: new Map(), typingSent: false, typingTimer: 0,
  /** Unread messages per room other than the shown one (from the server's `activity`). */
  unread: new Map(),
  /** New messages below the view while the reader is scrolled up. */
  unseen: 0,
  /** Whether the view follows new messages: the reader is at the bottom of the list. */
  following: true,
  /** Who this page lists as online; kept while disconnected (shown as stale). */
  listed: new Set(),
  /** Those listed whose connection was lost and who may still come back (the server's `away`). */
  away: new Set(),
  /** Messages of the shown room replayed after a recovered reconnection, until `welcome`. */
  missed: 0,
  recovering: false,
  /** After a reconnection: people listed before it who have not come back yet (see presence). */
  returning: new Set(),
  returningTimer: 0,
  resyncing: false,
};

/** How close to the bottom (in CSS pixels) still counts as "at the bottom". */
const bottomSlack = 40;
/**
 * How long, after this page reconnects, people it listed before are expected back. A server
 * restart drops everyone at once and remembers nobody: their pages reconnect within a few
 * seconds (parley.js backs off up to 5 s), and their comeback is not news to this page.
 */
const returnGrace = 30000;

// A random key for this page load: after a dropped connection the page may take its own
// nickname back from its stale connection (the server checks the key).
const key = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");

// MARK: login

$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.socket?.disconnect();
  state.welcomed = false;
  $("login-error").textContent = "";
  $("join").disabled = true;
  state.socket = start($("nickname").value);
});

function start(nickname) {
  const socket = connect("/parley", { query: { token: nickname, key }, autoConnect: false });
  socket.on("connect", () => {
    setStatus("connected", "connected");
    // Recovered (Protocol.md 5.5): the events missed meanwhile come next, in order, each once,
    // then `welcome`. Otherwise the next presence is the server's list after this connection.
    state.recovering = socket.recovered;
    state.missed = 0;
    $("status").dataset.recovered = String(socket.recovered);
    if (!socket.recovered) state.resyncing = true;
  });
  socket.on("connect_error", (error) => {
    if (!state.welcomed) {
      $("login-error").textContent = socket.active ? `Cannot reach the server (${error.message}); retrying…` : error.message;
      $("join").disabled = socket.active;
    } else if (!socket.active) {
      setStatus("offline", "disconnected", `Refused: ${error.message} Reload the page to join again.`);
    }
  });
  socket.on("disconnect", (reason) => {
    state.typing.clear();
    renderTyping();
    $("users").classList.add("stale");     // until the server says again who is online
    if (socket.active) setStatus("reconnecting", "reconnecting…", "Connection lost: reconnecting…");
    else setStatus("offline", "disconnected", `Disconnected (${reason}). Reload the page to join again.`);
  });
  socket.on("reconnect_attempt", (attempt) =>
    setStatus("reconnecting", "reconnecting…", `Connection lost: reconnecting (attempt ${attempt})…`));
  socket.on("reconnect_failed", () => setStatus("offline", "disconnected", "Could not reconnect. Reload the page to try again."));
  socket.on("welcome", welcome);
  socket.on("presence", presence);
  socket.on("message", (message) => {
    if (message.room !== state.room) return;
    if (state.recovering) state.missed += 1;
    addMessage(message, { live: true });
  });
  socket.on("activity", ({ room }) => {
    if (room === state.room) return;
    state.unread.set(room, (state.unread.get(room) ?? 0) + 1);
    renderRooms();
  });
  socket.on("typing", typing);
  socket.connect();
  return socket;
}

/**
 * Every (re)connection starts with `welcome`. A new session joins its room (rooms belong to a
 * session); a recovered one is still in it and has just been given what it missed.
 */
function welcome({ nick, rooms, limits, recovered }) {
  if (recovered && state.welcomed) {
    state.recovering = false;
    const missed = state.missed;
    addNotice(missed === 0 ? "reconnected" : `reconnected: ${missed} message${missed === 1 ? "" : "s"} came in while away`);
    renderUsers();
    return;
  }
  state.welcomed = true;
  state.nick = nick;
  state.rooms = rooms;
  $("login").hidden = true;
  $("app").hidden = false;
  $("me").textContent = nick;
  $("join").disabled = false;
  $("text").maxLength = limits.message;
  renderRooms();
  join(state.room || rooms[0]);
  if (matchMedia("(min-width: 641px)").matches) $("text").focus();   // no keyboard popping up on phones
}

// MARK: rooms and messages

async function join(room) {
  try {
    const joined = await state.socket.emitWithAck("join", room);
    // Back in the same room after a reconnection: keep what is shown, add what is new.
    const same = joined.room === state.room;
    const shown = same ? [...$("messages").children].map((item) => Number(item.dataset.time ?? 0)) : [];
    const since = Math.max(0, ...shown);
    if (!same) {
      $("messages").replaceChildren();
      state.following = true;
      state.unseen = 0;
    }
    state.room = joined.room;
    state.unread.delete(joined.room);
    state.typing.clear();
    renderTyping();
    renderRooms();
    $("room-title").textContent = "# " + joined.room;
    $("text").placeholder = `Message #${joined.room}`;
    $("empty").textContent = `No messages in #${joined.room} yet. Say hello!`;
    for (const message of joined.history) if (message.time > since) addMessage(message, { live: same });
    renderEmpty();
    if (!same) scrollToBottom();
  } catch (error) {
    $("send-error").textContent = error.message;
  }
}

function renderRooms() {
  $("rooms").replaceChildren(...state.rooms.map((room) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.room = room;
    const unread = room === state.room ? 0 : state.unread.get(room) ?? 0;
    button.className = "room" + (room === state.room ? " active" : "") + (unread > 0 ? " unread" : "");
    const name = document.createElement("span");
    name.className = "room-name";
    name.textContent = "# " + room;
    button.append(name);
    if (unread > 0) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = unread > 99 ? "99+" : String(unread);
      badge.title = `${unread} unread`;
      button.append(badge);
    }
    button.addEventListener("click", () => { if (room !== state.room) join(room); });
    item.append(button);
    return item;
  }));
}

function addMessage({ author, text, time }, { live }) {
  const list = $("messages");
  const item = document.createElement("li");
  item.className = author === state.nick ? "message mine" : "message";
  const previous = list.lastElementChild;
  if (previous?.dataset.author === author && time - Number(previous.dataset.time) < 120000
      && sameDay(new Date(time), new Date(Number(previous.dataset.time)))) item.classList.add("continued");
  item.dataset.author = author;
  item.dataset.time = String(time);
  const avatar = document.createElement("span");
  avatar.className = "avatar";
  avatar.textContent = Array.from(author)[0]?.toUpperCase() ?? "?";
  avatar.style.setProperty("--hue", String(hue(author)));
  const meta = document.createElement("div");
  meta.className = "meta";
  const name = document.createElement("span");
  name.className = "author";
  name.textContent = author;
  const stamp = document.createElement("time");
  stamp.dateTime = new Date(time).toISOString();
  stamp.textContent = formatTime(time);
  stamp.title = new Date(time).toLocaleString();
  meta.append(name, stamp);
  const body = document.createElement("div");
  body.className = "text";
  body.textContent = text;
  item.append(avatar, meta, body);
  appendToMessages(item, { live, own: author === state.nick });
  renderEmpty();
}

function addNotice(text) {
  const item = document.createElement("li");
  item.className = "notice";
  item.textContent = text;
  appendToMessages(item, { live: false, own: false });
}

/**
 * Appends to the conversation. A reader at the bottom follows it; a reader scrolled up to
 * read history stays where they are, and a new message shows the "new messages" button.
 * One's own message always brings the view down to it.
 */
function appendToMessages(item, { live, own }) {
  const list = $("messages");
  const follow = isAtBottom(list);
  list.append(item);
  if (follow || own) {
    scrollToBottom();
  } else if (live && item.classList.contains("message")) {
    state.unseen += 1;
    renderJump();
  }
}

function isAtBottom(list) {
  return list.scrollHeight - list.scrollTop - list.clientHeight < bottomSlack;
}

function scrollToBottom() {
  const list = $("messages");
  list.scrollTop = list.scrollHeight;
  state.following = true;
  state.unseen = 0;
  renderJump();
}

function renderJump() {
  const jump = $("jump");
  jump.hidden = state.unseen === 0;
  jump.textContent = state.unseen === 1 ? "1 new message ↓" : `${state.unseen} new messages ↓`;
}

function renderEmpty() {
  $("empty").hidden = $("messages").querySelector(".message") !== null;
}

$("messages").addEventListener("scroll", () => {
  state.following = isAtBottom($("messages"));
  if (state.following && state.unseen > 0) {
    state.unseen = 0;
    renderJump();
  }
}, { passive: true });

$("jump").addEventListener("click", scrollToBottom);

// When the list's box changes (a phone's keyboard opens, the window is resized, the banner
// comes and goes) a reader who was at the bottom stays at the bottom.
new ResizeObserver(() => { if (state.following) $("messages").scrollTop = $("messages").scrollHeight; }).observe($("messages"));

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("text");
  const text = input.value;
  if (!text.trim() || !state.socket) return;
  stopTyping();
  try {
    await state.socket.emitWithAck("message", { room: state.room, text });
    input.value = "";
    $("send-error").textContent = "";
  } catch (error) {
    $("send-error").textContent = error.message;
  }
});

// MARK: presence and typing

/**
 * The server's list of who is online, with who just joined or left.
 *
 * A join is news only for someone this page did not list: after a reconnection (this page's or
 * the server's: a restarted server remembers nobody and hears everyone join again), people
 * listed before it come back without a "joined" line. Those not back within `returnGrace` are
 * then reported as gone. People whose connection was lost, and whose session the server keeps
 * for them to recover, are listed as away (`away`) until they are back or reported as gone.
 */
function presence({ users, away, joined, left }) {
  const online = new Set(users);
  state.away = new Set(away ?? []);
  if (state.resyncing) {
    state.resyncing = false;
    state.returning = new Set([...state.listed].filter((user) => !online.has(user) && user !== state.nick));
    clearTimeout(state.returningTimer);
    if (state.returning.size > 0) state.returningTimer = setTimeout(returnGraceOver, returnGrace);
  }
  const back = new Set([...state.returning].filter((user) => online.has(user)));
  for (const user of back) state.returning.delete(user);
  if (joined && joined !== state.nick && !state.listed.has(joined) && !back.has(joined)) addNotice(`${joined} joined`);
  if (left && left !== state.nick && state.listed.has(left)) {
    addNotice(`${left} left`);
    state.typing.delete(left);
    renderTyping();
  }
  state.listed = online;
  renderUsers();
}

function returnGraceOver() {
  for (const user of state.returning) addNotice(`${user} left`);
  state.returning.clear();
  renderUsers();
}

function renderUsers() {
  $("users").classList.remove("stale");
  const count = String([...state.listed].filter((user) => !state.away.has(user)).length);
  $("online-count").textContent = count;
  $("people-count").textContent = count;
  const names = [...state.listed, ...state.returning].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
  $("users").replaceChildren(...names.map((user) => {
    const item = document.createElement("li");
    const dot = document.createElement("span");
    dot.className = "dot";
    const name = document.createElement("span");
    name.textContent = user;
    item.append(dot, name);
    if (user === state.nick) item.classList.add("self");
    if (!state.listed.has(user) || state.away.has(user)) {
      item.classList.add("away");
      item.title = "reconnecting";
    }
    return item;
  }));
}

// Leaving the page is leaving the chat (close 1000): the server announces it at once, instead of
// keeping the session for a recovery that will not come. Back from the browser's page cache,
// the page joins again.
addEventListener("pagehide", () => state.socket?.disconnect());
addEventListener("pageshow", (event) => { if (event.persisted && state.welcomed) state.socket?.connect(); });

// The online list on a phone: a panel opened from the top bar.
function setPeopleOpen(open) {
  $("app").classList.toggle("people-open", open);
  $("people-toggle").setAttribute("aria-expanded", String(open));
}
$("people-toggle").addEventListener("click", () => setPeopleOpen(!$("app").classList.contains("people-open")));
$("people-close").addEventListener("click", () => setPeopleOpen(false));
$("app").querySelector(".main").addEventListener("click", (event) => {
  if (!event.target.closest("#people-toggle")) setPeopleOpen(false);
});

$("text").addEventListener("input", () => {
  if (!state.socket?.connected) return;
  if (!state.typingSent) state.socket.volatile.emit("typing", true);
  state.typingSent = true;
  clearTimeout(state.typingTimer);
  state.typingTimer = setTimeout(stopTyping, 2000);
});

function stopTyping() {
  clearTimeout(state.typingTimer);
  if (state.typingSent) state.socket?.volatile.emit("typing", false);
  state.typingSent = false;
}

function typing({ nick, typing: isTyping }) {
  clearTimeout(state.typing.get(nick));
  if (isTyping) state.typing.set(nick, setTimeout(() => { state.typing.delete(nick); renderTyping(); }, 5000));
  else state.typing.delete(nick);
  renderTyping();
}

function renderTyping() {
  const names = [...state.typing.keys()];
  $("typing").textContent = names.length === 0 ? ""
    : names.length === 1 ? `${names[0]} is typing…`
    : names.length === 2 ? `${names[0]} and ${names[1]} are typing…`
    : "Several people are typing…";
}

// MARK: helpers

/**
 * A message's time as people read it: "14:05" today, "Yesterday 14:05", "3 Mar, 14:05" this
 * year, "3 Mar 2024, 14:05" before. Exported for the page's tests.
 */
export function formatTime(time, now = new Date()) {
  const date = new Date(time);
  const clock = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (sameDay(date, now)) return clock;
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (sameDay(date, yesterday)) return `Yesterday ${clock}`;
  const day = date.getFullYear() === now.getFullYear()
    ? date.toLocaleDateString([], { day: "numeric", month: "short" })
    : date.toLocaleDateString([], { day: "numeric", month: "short", year: "numeric" });
  return `${day}, ${clock}`;
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

function setStatus(name, label, banner = "") {
  $("status").dataset.state = name;
  $("status").textContent = label;
  $("banner").textContent = banner;
  $("banner").hidden = banner === "";
}

function hue(text) {
  let hash = 0;
  for (const character of text) hash = (hash * 31 + character.codePointAt(0)) % 360;
  return hash;
}
