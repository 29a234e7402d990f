/*! Braid chat widget v1. No dependencies, no build step.
 *
 *   <script src="https://braid.example/widget/v1/widget.js" data-site-key="site_…" async></script>
 *
 * API (window.Braid): identify(token | () => token or Promise<token> | null), open(), close(),
 * on(event, fn) -> off().
 * Events: 'message' (a message object, either direction), 'status' (the ticket: {id, number,
 * status}), 'connection' ('connecting' | 'online' | 'reconnecting'), 'typing' ({name, typing}),
 * 'seen' (message_id). Calls made before the script loaded can be queued as
 * `window.Braid = {q: [['identify', token]]}`.
 *
 * Wire contract: /widget/v1/sessions, /widget/v1/messages and the socket /widget/v1/ws. The
 * server is the source of truth: messages are shown in the order of their positions, every
 * frame at or below the last position seen is a duplicate, and a send is retried with the
 * same client_msg_id until the server acknowledges it (the server dedupes on that id).
 */
(function () {
  'use strict';
  if (window.Braid && window.Braid.version) return; // loaded twice: keep the first

  var script = document.currentScript ||
    document.querySelector('script[src*="/widget/v1/widget.js"][data-site-key]');
  if (!script) return;
  // The server is wherever this script came from (a path prefix is kept).
  var src = script.src;
  var BASE = src.slice(0, src.indexOf('/widget/v1/'));
  var SITE_KEY = script.getAttribute('data-site-key');
  var STORE = 'braid:' + SITE_KEY;

  var ACK_TIMEOUT = 15000; // a send with no ack by then: the socket is presumed dead
  var TYPING_EVERY = 3000; // at most one typing=true per this many ms
  var TYPING_IDLE = 4000; // typing=false after this long without a keystroke
  var AGENT_TYPING_MAX = 10000; // hide the agent's indicator if its typing=false was lost

  // ---- state -------------------------------------------------------------------------
  var session = null; // the last POST /widget/v1/sessions answer
  var stale = false; // the server refused session.visitor_token: refresh before going on
  var identity = null; // identify()'s token, or a function that gets a fresh one
  var generation = 0; // bumped on identify(): answers for an older session are dropped
  var ws = null;
  var ready = false; // the socket has said 'ready'
  var connecting = false;
  var attempt = 0; // reconnect attempts since the last 'ready'
  var retryTimer = 0, refreshTimer = 0, readyTimer = 0, ackTimer = 0;
  var lastPos = null; // last durable position applied; null: history not loaded yet
  var byId = Object.create(null); // message id -> <li>
  var pending = load('pending') || []; // [{client_msg_id, text}] not acknowledged yet
  var pendingEl = Object.create(null); // client_msg_id -> <li>
  var seenUpTo = null; // the agent has read the visitor's messages up to this id
  var seenSent = null; // the last agent message we reported as seen
  var typingOn = false, typingSentAt = 0, typingIdle = 0, agentTypingTimer = 0;
  var isOpen = false, started = false;
  var handlers = Object.create(null);

  function load(k) {
    try { return JSON.parse(localStorage.getItem(STORE + ':' + k)); } catch (e) { return null; }
  }
  function save(k, v) {
    try {
      if (v == null) localStorage.removeItem(STORE + ':' + k);
      else localStorage.setItem(STORE + ':' + k, JSON.stringify(v));
    } catch (e) { /* storage may be off (private mode): run without it */ }
  }
  function emit(name, arg) {
    (handlers[name] || []).slice().forEach(function (fn) {
      try { fn(arg); } catch (e) { setTimeout(function () { throw e; }); }
    });
  }

  // Positions are opaque strings such as "812345.3"; they order by their dot-separated
  // numeric parts. Digit strings compare by length first so they never overflow a double.
  function cmpPos(a, b) {
    var x = String(a).split('.'), y = String(b).split('.');
    for (var i = 0; i < Math.max(x.length, y.length); i++) {
      var p = x[i] || '0', q = y[i] || '0';
      if (/^\d+$/.test(p) && /^\d+$/.test(q)) {
        p = p.replace(/^0+(?=\d)/, ''); q = q.replace(/^0+(?=\d)/, '');
        if (p.length !== q.length) return p.length < q.length ? -1 : 1;
      }
      if (p !== q) return p < q ? -1 : 1;
    }
    return 0;
  }

  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID();
    // Pages served over plain http are not a secure context and lack randomUUID.
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  // ---- HTTP ----------------------------------------------------------------------------
  function api(method, path, body, auth) {
    var headers = { 'content-type': 'application/json' };
    if (auth) headers.authorization = 'Bearer ' + session.visitor_token;
    return fetch(BASE + path, {
      method: method, headers: headers, credentials: 'omit',
      body: body ? JSON.stringify(body) : undefined
    }).then(function (r) {
      if (r.status === 204) return null;
      return r.json().catch(function () { return null; }).then(function (j) {
        if (r.ok) return j;
        var err = new Error((j && (j.detail || j.title)) || 'HTTP ' + r.status);
        err.status = r.status;
        throw err;
      });
    });
  }

  // The identity token now: identify() takes a token, or a function that returns one (or
  // a promise of one), which is asked again whenever a session is made or refreshed.
  function identityNow() {
    if (typeof identity !== 'function') return Promise.resolve(identity);
    return Promise.resolve().then(identity).catch(function () { return null; });
  }

  // Creates or refreshes the session. The server refreshes an anonymous visitor from their
  // visitor_token alone, but a verified one only with an identity token beside it (alone,
  // their token yields a new anonymous visitor). A stored visitor_token goes with a new
  // identity only if it is anonymous (the server then links the two): a verified visitor's
  // token never travels with someone else's identity. When the server refuses a try, the
  // next in line is tried, ending with a new anonymous visitor, so a stale token never
  // wedges the chat.
  function ensureSession(force) {
    if (session && !force) return Promise.resolve();
    var gen = generation;
    return identityNow().then(function (idt) {
      if (gen !== generation) throw new Error('superseded');
      return createSession(idt);
    });
  }

  function createSession(idt) {
    var token = (session && session.visitor_token) || load('visitor_token');
    var verified = session ? session.visitor && session.visitor.verified : load('verified');
    var tries = [];
    if (idt && token && (session || !verified)) tries.push({ identity_token: idt, visitor_token: token });
    if (idt) tries.push({ identity_token: idt });
    if (token && !verified) tries.push({ visitor_token: token });
    tries.push({});
    var gen = generation;
    function attempt(i) {
      var body = tries[i];
      body.site_key = SITE_KEY;
      return api('POST', '/widget/v1/sessions', body).catch(function (e) {
        var refused = e.status >= 400 && e.status < 500 && e.status !== 429;
        if (!refused || i === tries.length - 1 || gen !== generation) throw e;
        if (body.identity_token) emit('error', { code: 'identity_refused', detail: e.message });
        return attempt(i + 1);
      });
    }
    return attempt(0).then(function (s) {
      if (gen !== generation) throw new Error('superseded');
      // Another visitor than before (a verified one that could not be proven again): what
      // the page shows was theirs, so start the thread over.
      var changed = session && session.visitor && s.visitor && session.visitor.id !== s.visitor.id;
      session = s;
      stale = false;
      if (changed) {
        resetThread();
        if (ws) ws.close(4000, 'another visitor');
      }
      save('visitor_token', s.visitor_token);
      save('verified', !!(s.visitor && s.visitor.verified));
      scheduleRefresh();
    });
  }

  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    var exp = session.expires_at;
    exp = typeof exp === 'number' ? (exp < 1e12 ? exp * 1000 : exp) : Date.parse(exp);
    if (!exp) return;
    // A minute before expiry (or at 90% of a short life), never in a tight loop.
    var left = exp - Date.now();
    var wait = Math.max(5000, Math.min(left - 60000, left * 0.9));
    refreshTimer = setTimeout(function () {
      ensureSession(true).catch(function () { /* the socket's 4001 will retry */ });
    }, Math.min(wait, 2147483647));
  }

  // The history on first connect. Its frames all carry the position the server read
  // before loading them, so they skip the position check (ids dedupe them); the socket then
  // resumes after that position.
  function loadHistory() {
    var gen = generation;
    return api('GET', '/widget/v1/messages', null, true).then(function (r) {
      if (gen !== generation) throw new Error('superseded');
      (r.data || []).forEach(function (f) { onFrame(f, true); });
      lastPos = r.position || '0.0';
    });
  }

  // ---- socket --------------------------------------------------------------------------
  function connect() {
    if (ws || connecting || !started) return;
    clearTimeout(retryTimer);
    connecting = true;
    var gen = generation;
    ensureSession(stale)
      .then(function () { return lastPos == null ? loadHistory() : null; })
      .then(function () {
        connecting = false;
        if (gen === generation) openSocket();
      }, function (e) {
        connecting = false;
        if (gen !== generation) return;
        if (e.status === 401) stale = true; // refresh on the next try
        retry();
      });
  }

  function openSocket() {
    var url = BASE.replace(/^http/, 'ws') + '/widget/v1/ws' +
      (lastPos ? '?after=' + encodeURIComponent(lastPos) : '');
    var sock = ws = new WebSocket(url);
    var gen = generation;
    sock.onopen = function () {
      if (sock !== ws) return;
      sock.send(JSON.stringify({ type: 'auth', token: session.visitor_token }));
      // No 'ready' in time: treat as a dead connection.
      readyTimer = setTimeout(function () { sock.close(4000, 'no ready'); }, 15000);
    };
    sock.onmessage = function (ev) {
      if (sock !== ws) return;
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      onFrame(f);
    };
    sock.onclose = function (ev) {
      if (sock !== ws) return;
      ws = null; ready = false;
      clearTimeout(readyTimer); clearTimeout(ackTimer);
      showAgentTyping(false);
      if (gen !== generation || !started) return;
      if (ev.code === 4001) {
        // Bad or expired token: refresh the session, then straight back (once; then back off).
        stale = true;
        retry(attempt === 0 ? 0 : undefined);
      } else if (ev.code === 4008) {
        retry(0); // too slow: resume after the last position right away
      } else {
        retry();
      }
    };
  }

  // Exponential backoff with jitter: 0.25–0.5 s, 0.5–1 s, 1–2 s … 15–30 s, so that many
  // widgets dropped at once by a restart do not come back in step.
  function retry(delay) {
    setState('reconnecting');
    if (delay == null) delay = Math.min(30000, 500 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2);
    attempt++;
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, delay);
  }

  // Called when the network or the tab comes back: do not wait out the backoff.
  function reconnectNow() {
    if (started && !ws && !connecting) { attempt = 0; connect(); }
  }

  function send(frame) {
    if (ws && ready && ws.readyState === 1) { ws.send(JSON.stringify(frame)); return true; }
    return false;
  }

  // ---- frames --------------------------------------------------------------------------
  function onFrame(f, history) {
    switch (f.type) {
      case 'ready':
        // Its position is where the replay starts or ends; the replayed frames carry their
        // own, so lastPos moves only with them.
        ready = true; attempt = 0;
        clearTimeout(readyTimer);
        setState('online');
        pending.forEach(function (p) { sendPending(p); });
        reportSeen();
        return;
      case 'sent':
        settle(f.client_msg_id, f.message);
        return;
      case 'typing':
        showAgentTyping(f.typing, f.name);
        emit('typing', { name: f.name, typing: f.typing });
        return;
      case 'error':
        // A send the server refused for good (too long, say) is not retried; one it could
        // not take now (rate_limited, unavailable, internal) is, a little later.
        var p = pending.filter(function (x) { return x.client_msg_id === f.client_msg_id; })[0];
        if (p && /^(rate_limited|unavailable|internal)$/.test(f.code)) {
          setTimeout(function () { if (pending.indexOf(p) >= 0) sendPending(p); }, 3000 + Math.random() * 3000);
        } else if (p) {
          if (pendingEl[p.client_msg_id]) pendingEl[p.client_msg_id].setAttribute('data-failed', '');
          settle(p.client_msg_id, null);
        }
        emit('error', { code: f.code, detail: f.detail });
        return;
    }
    // Durable frames: anything at or below the last position is a replay we already have.
    if (f.position != null && !history) {
      if (lastPos != null && cmpPos(f.position, lastPos) <= 0) return;
      lastPos = String(f.position);
    }
    if (f.type === 'message' || f.type === 'message_updated') {
      showMessage(f.message, f.type === 'message');
    } else if (f.type === 'status') {
      emit('status', f.ticket);
    } else if (f.type === 'seen') {
      seenUpTo = f.message_id;
      applySeen();
      emit('seen', f.message_id);
    }
  }

  // ---- sending -------------------------------------------------------------------------
  function submit(text) {
    text = text.trim();
    if (!text) return;
    var p = { client_msg_id: 'c-' + uuid(), text: text };
    pending.push(p);
    save('pending', pending);
    pendingEl[p.client_msg_id] = render({ direction: 'inbound', text: text, author: { kind: 'customer' } }, p.client_msg_id);
    stopTyping();
    if (!started) start(); else sendPending(p);
  }

  function sendPending(p) {
    if (!send({ type: 'message', client_msg_id: p.client_msg_id, text: p.text })) return;
    // An ack that never comes means a half-open socket: drop it; the reconnect resends.
    clearTimeout(ackTimer);
    ackTimer = setTimeout(function () { if (pending.length && ws) ws.close(4000, 'no ack'); }, ACK_TIMEOUT);
  }

  // The server acknowledged a send (a 'sent' frame, or the message itself came back).
  function settle(cid, message) {
    if (!cid) return;
    var before = pending.length;
    pending = pending.filter(function (p) { return p.client_msg_id !== cid; });
    if (pending.length !== before) save('pending', pending);
    if (!pending.length) clearTimeout(ackTimer);
    var li = pendingEl[cid];
    delete pendingEl[cid];
    if (!li) return;
    if (message && byId[message.id] && byId[message.id] !== li) { li.remove(); return; }
    li.removeAttribute('data-pending');
    if (message) { li.setAttribute('data-message-id', message.id); byId[message.id] = li; }
    applySeen();
  }

  function stopTyping() {
    clearTimeout(typingIdle);
    if (typingOn) { typingOn = false; send({ type: 'typing', typing: false }); }
  }
  function onKeystroke() {
    if (!input.value.trim()) { stopTyping(); return; }
    var now = Date.now();
    if (!typingOn || now - typingSentAt > TYPING_EVERY) {
      if (send({ type: 'typing', typing: true })) { typingOn = true; typingSentAt = now; }
    }
    clearTimeout(typingIdle);
    typingIdle = setTimeout(stopTyping, TYPING_IDLE);
  }

  // Tell the agent we read their latest message, only when a person can see it.
  function reportSeen() {
    if (!isOpen || document.visibilityState !== 'visible') return;
    var last = list.querySelectorAll('[data-direction="outbound"][data-message-id]');
    var id = last.length && last[last.length - 1].getAttribute('data-message-id');
    if (id && id !== seenSent && send({ type: 'seen', message_id: id })) seenSent = id;
  }

  // ---- UI ------------------------------------------------------------------------------
  var CSS = ':host{all:initial}[hidden]{display:none!important}*{box-sizing:border-box;font:14px/1.4 system-ui,sans-serif}' +
    '.l{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;' +
    'background:#2b5cd6;color:#fff;font-size:24px;cursor:pointer;box-shadow:0 2px 8px #0004;z-index:2147483646}' +
    '.l[data-unread]:after{content:attr(data-unread);position:absolute;top:-4px;right:-4px;background:#d33;' +
    'border-radius:9px;padding:0 6px;font-size:12px}' +
    '.p{position:fixed;right:20px;bottom:88px;width:340px;max-width:calc(100vw - 40px);height:460px;' +
    'max-height:calc(100vh - 110px);display:flex;flex-direction:column;background:#fff;color:#222;' +
    'border-radius:10px;box-shadow:0 4px 24px #0005;overflow:hidden;z-index:2147483647}' +
    '.p[hidden]{display:none}header{display:flex;align-items:center;padding:10px 12px;background:#2b5cd6;color:#fff}' +
    'header b{flex:1;font-weight:600}header button{background:none;border:0;color:#fff;font-size:18px;cursor:pointer}' +
    '.s{padding:4px 12px;background:#fff3cd;font-size:12px}.s:empty{display:none}' +
    'ul{flex:1;overflow-y:auto;margin:0;padding:10px;list-style:none}' +
    'li{max-width:80%;margin:4px 0;padding:6px 10px;border-radius:10px;white-space:pre-wrap;overflow-wrap:anywhere}' +
    'li[data-direction=inbound]{margin-left:auto;background:#2b5cd6;color:#fff}' +
    'li[data-direction=outbound]{background:#eef0f4}li[data-pending]{opacity:.6}li[data-failed]{background:#c33}' +
    '.r a{display:inline-block;margin:6px 6px 0 0;padding:4px 10px;border:1px solid #bbb;border-radius:6px;color:inherit;text-decoration:none}' +
    'li small{display:block;font-size:11px;opacity:.75}.t{padding:0 12px 4px;font-size:12px;color:#666}' +
    'form{display:flex;border-top:1px solid #ddd}textarea{flex:1;border:0;padding:10px;resize:none;height:44px}' +
    'form button{border:0;background:none;color:#2b5cd6;font-weight:600;padding:0 14px;cursor:pointer}';

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text) e.textContent = text;
    return e;
  }

  // A custom element name, so no site rule for div & co. can reach the host.
  var host = el('braid-widget', {});
  var root = host.attachShadow({ mode: 'open' }); // open: tests and a11y tools can see in
  var launcher = el('button', { class: 'l', type: 'button', 'data-testid': 'launcher', 'aria-label': 'Chat with us' }, '💬');
  var panel = el('section', { class: 'p', hidden: '', 'data-testid': 'panel', 'data-state': 'idle', role: 'dialog', 'aria-label': 'Chat' });
  var head = el('header');
  var closeBtn = el('button', { type: 'button', 'data-testid': 'close', 'aria-label': 'Close' }, '×');
  var statusLine = el('div', { class: 's', 'data-testid': 'connection-status', role: 'status' });
  var list = el('ul', { 'data-testid': 'messages', 'aria-live': 'polite' });
  var typing = el('div', { class: 't', hidden: '', 'data-testid': 'typing-indicator' });
  var form = el('form');
  var input = el('textarea', { 'data-testid': 'input', placeholder: 'Write a message…', 'aria-label': 'Message' });
  var sendBtn = el('button', { type: 'submit', 'data-testid': 'send' }, 'Send');
  head.append(el('b', {}, 'Chat'), closeBtn);
  form.append(input, sendBtn);
  panel.append(head, statusLine, list, typing, form);
  // A constructed sheet is not an inline style, so a strict site CSP does not block it.
  try {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } catch (e) {
    root.append(el('style', {}, CSS));
  }
  root.append(launcher, panel);

  function setState(s) {
    if (panel.getAttribute('data-state') === s) return;
    panel.setAttribute('data-state', s);
    statusLine.textContent = s === 'reconnecting' ? 'Reconnecting…' : s === 'connecting' ? 'Connecting…' : '';
    emit('connection', s);
  }

  // One <li> per message; the text goes in with textContent only.
  function render(m, cid) {
    var li = el('li', { 'data-testid': 'message', 'data-direction': m.direction });
    if (cid) { li.setAttribute('data-client-msg-id', cid); li.setAttribute('data-pending', ''); }
    if (m.direction === 'outbound' && m.author && m.author.name) li.append(el('small', {}, m.author.name));
    li.append(el('span', { 'data-testid': 'message-text' }, String(m.text || '')));
    // A satisfaction survey: two rating buttons, each opening the survey page.
    if (m.survey && /^https?:\/\//.test(m.survey.good) && /^https?:\/\//.test(m.survey.bad)) {
      var rate = el('div', { class: 'r', 'data-testid': 'survey' });
      rate.append(
        el('a', { href: m.survey.good, target: '_blank', rel: 'noopener noreferrer', 'data-testid': 'rate-good' }, '👍 Good'),
        el('a', { href: m.survey.bad, target: '_blank', rel: 'noopener noreferrer', 'data-testid': 'rate-bad' }, '👎 Bad'));
      li.append(rate);
    }
    if (m.direction === 'inbound') li.append(el('small', { 'data-testid': 'seen-tick', hidden: '' }, '✓✓ Seen'));
    list.append(li);
    list.scrollTop = list.scrollHeight;
    return li;
  }

  function showMessage(m, isNew) {
    // Our own send coming back: its pending <li> becomes the message.
    if (m.client_msg_id && pendingEl[m.client_msg_id]) settle(m.client_msg_id, m);
    var li = byId[m.id];
    if (li) {
      // Already shown (an update, or a 'sent' ack came first): refresh the text, and keep
      // the list in position order by moving a newly positioned message to the end.
      li.querySelector('[data-testid=message-text]').textContent = String(m.text || '');
      if (!isNew || li.hasAttribute('data-positioned')) return;
      list.append(li);
    } else {
      if (!isNew) return; // an update of a message never shown
      li = render(m);
      li.setAttribute('data-message-id', m.id);
      byId[m.id] = li;
    }
    li.setAttribute('data-positioned', '');
    if (m.direction === 'outbound') {
      showAgentTyping(false);
      // Count live arrivals only, not the history loaded on start.
      if (!isOpen && ready) launcher.setAttribute('data-unread', (+launcher.getAttribute('data-unread') || 0) + 1);
    }
    applySeen();
    reportSeen();
    emit('message', m);
  }

  // The agent read every visitor message up to seenUpTo, in display order.
  function applySeen() {
    var mark = seenUpTo && byId[seenUpTo];
    if (!mark) return;
    var items = list.children, on = true;
    for (var i = 0; i < items.length && on; i++) {
      if (items[i] === mark) on = false;
      var tick = items[i].querySelector('[data-testid=seen-tick]');
      if (tick && items[i].hasAttribute('data-message-id')) { tick.hidden = false; items[i].setAttribute('data-seen', ''); }
    }
  }

  function showAgentTyping(on, name) {
    clearTimeout(agentTypingTimer);
    typing.hidden = !on;
    typing.textContent = on ? (name || 'Agent') + ' is typing…' : '';
    if (on) agentTypingTimer = setTimeout(showAgentTyping, AGENT_TYPING_MAX, false);
  }

  function resetThread() {
    list.textContent = '';
    byId = Object.create(null);
    lastPos = null; seenUpTo = null; seenSent = null;
    // Unacknowledged sends stay and are shown again; they go out once connected.
    pendingEl = Object.create(null);
    pending.forEach(function (p) {
      pendingEl[p.client_msg_id] = render({ direction: 'inbound', text: p.text }, p.client_msg_id);
    });
  }

  function start() {
    if (!started) { started = true; setState('connecting'); }
    connect();
  }

  function setOpen(open) {
    isOpen = open;
    panel.hidden = !open;
    launcher.setAttribute('aria-expanded', String(open));
    if (open) {
      launcher.removeAttribute('data-unread');
      start();
      reportSeen();
      input.focus();
    }
  }

  launcher.addEventListener('click', function () { setOpen(!isOpen); });
  closeBtn.addEventListener('click', function () { setOpen(false); });
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    submit(input.value);
    input.value = '';
  });
  input.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
  });
  input.addEventListener('input', onKeystroke);
  window.addEventListener('online', reconnectNow);
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'visible') { reconnectNow(); reportSeen(); }
  });

  // ---- public API ----------------------------------------------------------------------
  resetThread(); // shows sends left unacknowledged by the previous page

  var queued = window.Braid && window.Braid.q;
  var Braid = window.Braid = {
    version: 1,
    // A signed identity token from the site's backend (or a function returning a fresh one,
    // which lets a verified session outlive one token): the session is created anew for
    // that person, and the history reloaded, since a verified visitor may see more.
    // identify(null) when the person signs out: this browser forgets the visitor.
    identify: function (token) {
      identity = token || null;
      if (!token) { save('visitor_token', null); save('verified', null); pending = []; save('pending', null); }
      generation++;
      session = null;
      stale = false;
      if (ws) { var old = ws; ws = null; ready = false; old.close(1000, 'identify'); }
      connecting = false;
      attempt = 0;
      resetThread();
      started = false;
      start();
    },
    open: function () { setOpen(true); },
    close: function () { setOpen(false); },
    on: function (name, fn) {
      (handlers[name] = handlers[name] || []).push(fn);
      return function () { Braid.off(name, fn); };
    },
    off: function (name, fn) {
      handlers[name] = (handlers[name] || []).filter(function (h) { return h !== fn; });
    }
  };

  function mount() {
    document.body.append(host);
    // A returning visitor (or one with unsent messages) connects at once to get replies
    // that arrived meanwhile; a new one only when they open the panel.
    if (load('visitor_token') || pending.length) start();
    if (Array.isArray(queued)) queued.forEach(function (c) { Braid[c[0]].apply(Braid, c.slice(1)); });
    window.dispatchEvent(new Event('braid:ready'));
  }
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);
})();
