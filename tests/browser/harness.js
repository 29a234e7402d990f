// What the browser tests stand on: a real `braid serve` over a temporary SQLite file, a TCP
// proxy in front of it that the tests can cut (the page reaches Braid only through it), a
// static page on another origin that embeds the widget, and an agent's REST client.
'use strict';

const { spawn, execFile } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { promisify } = require('node:util');

const REPO = path.resolve(__dirname, '..', '..');
const BIN = process.env.BRAID_BIN || path.join(REPO, 'target', 'debug', 'braid');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Polls `check` until it returns a truthy value; fails with `what` and the last value. */
async function eventually(what, check, timeout = 15000) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}; last: ${last instanceof Error ? last.stack : JSON.stringify(last)}`);
    }
    await sleep(100);
  }
}

/** One braid process over one data directory; it can be killed and started again. */
class BraidServer {
  constructor(dir, port, env = {}) {
    this.dir = dir;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.log = [];
    this.env = {
      ...process.env,
      BRAID_DATABASE_URL: `sqlite://${dir}/braid.db`,
      BRAID_LISTEN: `127.0.0.1:${port}`,
      BRAID_DATA_DIR: dir,
      BRAID_LOG: process.env.BRAID_LOG || 'warn',
      ...env,
    };
  }

  static async create(env) {
    if (!fs.existsSync(BIN)) throw new Error(`no braid binary at ${BIN}: run \`cargo build --bin braid\` or set BRAID_BIN`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-browser-'));
    return new BraidServer(dir, await freePort(), env);
  }

  async adminCreate(email, password) {
    await promisify(execFile)(BIN, ['admin', 'create', '--email', email, '--password', password], { env: this.env });
  }

  async start() {
    const child = spawn(BIN, ['serve'], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exited = new Promise((resolve) => child.on('exit', resolve));
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding('utf8');
      stream.on('data', (d) => this.log.push(d));
    }
    let gone = false;
    this.exited.then(() => { gone = true; });
    await eventually('braid to answer /healthz', async () => {
      if (gone) throw new Error(`braid exited early:\n${this.log.join('')}`);
      const r = await fetch(`${this.url}/healthz`);
      return r.ok;
    }, 30000);
  }

  /** SIGKILL: no graceful close frames, exactly like a crash. */
  async kill() {
    if (!this.child) return;
    this.child.kill('SIGKILL');
    await this.exited;
    this.child = null;
  }

  async stop() {
    if (!this.child) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child && this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
    this.child = null;
  }

  cleanup() {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A TCP proxy the page talks to instead of braid. `cut()` destroys every connection and
 * refuses new ones (the browser sees the socket die, code 1006); `mute()` keeps passing the
 * browser's bytes to braid but drops braid's answers (a send reaches the server, its ack
 * never comes back); `restore()` lets everything through again.
 */
class Proxy {
  constructor(targetPort) {
    this.targetPort = targetPort;
    this.mode = 'pass';
    this.sockets = new Set();
    this.server = net.createServer((client) => this.accept(client));
  }

  async listen() {
    this.port = await freePort();
    await new Promise((r) => this.server.listen(this.port, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${this.port}`;
  }

  accept(client) {
    if (this.mode === 'cut') return client.destroy();
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    const pair = { client, upstream };
    this.sockets.add(pair);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(pair);
    };
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => { if (this.mode === 'pass') client.write(d); });
    client.on('close', drop);
    upstream.on('close', drop);
    client.on('error', drop);
    upstream.on('error', drop);
  }

  cut() {
    this.mode = 'cut';
    for (const { client, upstream } of this.sockets) {
      client.destroy();
      upstream.destroy();
    }
    this.sockets.clear();
  }

  mute() { this.mode = 'mute'; }

  restore() { this.mode = 'pass'; }

  close() {
    this.cut();
    return new Promise((r) => this.server.close(r));
  }
}

/** A site on its own origin whose page embeds the widget from `scriptBase`; set `siteKey`. */
async function startPage(scriptBase) {
  const port = await freePort();
  const page = { url: `http://127.0.0.1:${port}/`, origin: `http://127.0.0.1:${port}`, siteKey: null };
  const html = () => `<!doctype html>
<html><head><meta charset="utf-8"><title>Acme</title>
<style>/* a careless site stylesheet: the widget lives in a shadow root and must not care */
  div, section, ul, li, button, form, textarea { display: none !important; color: red !important; }</style>
<script>
  window.__events = [];
  addEventListener('braid:ready', () => {
    for (const name of ['message', 'status', 'connection', 'typing'])
      Braid.on(name, (x) => __events.push({ name, x }));
  });
</script>
<script src="${scriptBase}/widget/v1/widget.js" data-site-key="${page.siteKey}" async></script>
</head><body><h1>Acme shop</h1></body></html>`;
  const server = http.createServer((req, res) => {
    if (req.url === '/' || req.url.startsWith('/?')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(html());
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  page.close = () => new Promise((r) => server.close(r));
  return page;
}

/** The agent's side, over the public REST API. */
class Agent {
  constructor(baseUrl) {
    this.baseUrl = baseUrl;
  }

  async request(method, route, body) {
    const headers = { 'content-type': 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const r = await fetch(this.baseUrl + route, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${route} -> ${r.status}: ${text}`);
    return text ? JSON.parse(text) : null;
  }

  async login(email, password) {
    const { access_token } = await this.request('POST', '/v1/auth/login', { email, password });
    this.token = access_token;
  }

  createSite(origin) {
    return this.request('POST', '/v1/chat/sites', {
      name: 'Acme web', slug: 'acme-web', allowed_origins: [origin], strict: false,
    });
  }

  async messages(ticketId) {
    const all = [];
    let cursor = '';
    for (;;) {
      const page = await this.request('GET', `/v1/tickets/${ticketId}/messages?limit=200${cursor && `&cursor=${encodeURIComponent(cursor)}`}`);
      all.push(...page.data);
      if (!page.next_cursor) return all;
      cursor = page.next_cursor;
    }
  }

  /** The chat ticket holding a message with this exact text (texts are unique per test). */
  findTicketByText(text) {
    return eventually(`a chat ticket with the message ${JSON.stringify(text)}`, async () => {
      const tickets = await this.request('GET', '/v1/tickets?channel=chat&sort=-updated_at&limit=200');
      for (const ticket of tickets.data) {
        const messages = await this.messages(ticket.id);
        if (messages.some((m) => m.text === text)) return ticket;
      }
      return null;
    });
  }

  /**
   * The agent is typing in this ticket: a `typing` frame on the agents' live stream
   * (`/v1/stream`), which braid passes on to the visitor and never stores.
   */
  async typing(ticket, typing) {
    if (!this.stream) {
      const socket = new WebSocket(`${this.baseUrl.replace(/^http/, 'ws')}/v1/stream`);
      this.stream = socket;
      await new Promise((resolve, reject) => {
        socket.onopen = () => socket.send(JSON.stringify({ type: 'auth', token: this.token }));
        socket.onmessage = (e) => { if (JSON.parse(e.data).type === 'ready') resolve(); };
        socket.onerror = () => reject(new Error('the agent stream failed'));
        socket.onclose = (e) => reject(new Error(`the agent stream closed: ${e.code} ${e.reason}`));
      });
      socket.onclose = () => { if (this.stream === socket) this.stream = null; };
    }
    this.stream.send(JSON.stringify({ type: 'typing', customer_id: ticket.customer_id, ticket_id: ticket.id, typing }));
  }

  close() {
    this.stream?.close();
    this.stream = null;
  }

  /** The agent read the customer's messages up to this one (the visitor's read receipt). */
  seen(messageId) {
    return this.request('POST', `/v1/messages/${messageId}/seen`);
  }

  reply(ticketId, text) {
    return this.request('POST', `/v1/tickets/${ticketId}/replies`, { text, channel: 'chat' });
  }
}

/** An HS256 JWT as the site's backend would sign it. */
function signIdentity({ kid, secret }, claims) {
  const b64 = (x) => Buffer.from(JSON.stringify(x)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const body = `${b64({ alg: 'HS256', kid })}.${b64({ iat: now, exp: now + 300, ...claims })}`;
  const mac = crypto.createHmac('sha256', secret).update(body).digest('base64url');
  return `${body}.${mac}`;
}

const ADMIN = { email: 'admin@example.org', password: 'browser tests password 1' };

/**
 * Everything one scenario needs: braid (with extra settings in `env`), the proxy in front of
 * it, a signed-in agent, a chat site, and that site's page.
 */
async function startStack(env) {
  const stack = { admin: ADMIN };
  stack.server = await BraidServer.create(env);
  await stack.server.adminCreate(ADMIN.email, ADMIN.password);
  await stack.server.start();
  stack.proxy = new Proxy(stack.server.port);
  await stack.proxy.listen();
  stack.page = await startPage(stack.proxy.url);
  stack.agent = new Agent(stack.server.url);
  await stack.agent.login(ADMIN.email, ADMIN.password);
  stack.site = await stack.agent.createSite(stack.page.origin);
  stack.page.siteKey = stack.site.site_key;
  stack.close = async () => {
    stack.agent.close();
    await stack.page.close();
    await stack.proxy.close();
    await stack.server.stop();
    stack.server.cleanup();
  };
  return stack;
}

module.exports = {
  startStack, BraidServer, Proxy, Agent, startPage, signIdentity, eventually, sleep, freePort };
