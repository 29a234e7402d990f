// The chat widget in Debian's chromium against a real braid: a visitor on a site's page,
// an agent over REST, and a network that the tests cut between the page and Braid.
//
//   cargo build --bin braid && (cd tests/browser && npm ci && npm test)
//
// BRAID_BIN overrides the binary (default target/debug/braid), CHROMIUM the browser.
// WIDGET_JS=path serves that file to the page instead of the binary's widget.js, to work
// on the widget without rebuilding braid.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { after, before, describe, test } = require('node:test');
const { chromium } = require('playwright-core');
const { eventually, signIdentity, sleep, startStack } = require('./harness');

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
let main, server, proxy, site, page0, agent, browser;

before(async () => {
  main = await startStack();
  ({ server, proxy, site, page: page0, agent } = main);
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  await main?.close();
});

/** Runs a scenario; on failure, adds what braid logged and what the page said. */
function scenario(name, fn) {
  test(name, async () => {
    const context = await browser.newContext();
    if (process.env.WIDGET_JS) {
      await context.route('**/widget/v1/widget.js', (route) =>
        route.fulfill({ contentType: 'text/javascript', body: fs.readFileSync(process.env.WIDGET_JS) }));
    }
    const said = [];
    context.on('page', (p) => {
      p.on('console', (m) => said.push(`console.${m.type()}: ${m.text()}`));
      p.on('pageerror', (e) => said.push(`pageerror: ${e.stack}`));
    });
    try {
      await fn(context);
      const errors = said.filter((line) => line.startsWith('pageerror'));
      assert.deepEqual(errors, [], 'the widget threw on the page');
    } catch (e) {
      e.message += `\n--- page:\n${said.join('\n')}\n--- braid (last lines):\n${server.log.join('').split('\n').slice(-40).join('\n')}`;
      throw e;
    } finally {
      await context.close();
    }
  });
}

/** A visitor on the site's page; `frames` records what went over the widget's sockets. */
async function visit(context, { identity, on = main } = {}) {
  const page = await context.newPage();
  page.frames = [];
  page.sockets = [];
  page.on('websocket', (ws) => {
    page.sockets.push(ws.url());
    ws.on('framesent', (f) => page.frames.push({ out: true, data: String(f.payload) }));
    ws.on('framereceived', (f) => page.frames.push({ out: false, data: String(f.payload) }));
  });
  await page.goto(on.page.url);
  await page.waitForFunction(() => window.Braid && window.Braid.version === 1);
  if (identity) await page.evaluate((t) => window.Braid.identify(t), identity);
  await page.locator('[data-testid=launcher]').click();
  await page.locator('[data-testid=panel][data-state=online]').waitFor({ state: 'visible' });
  return page;
}

async function say(page, text) {
  await page.locator('[data-testid=input]').fill(text);
  await page.locator('[data-testid=send]').click();
}

/** The messages the panel shows, in order. */
function shown(page) {
  return page.locator('[data-testid=message]').evaluateAll((items) => items.map((li) => ({
    id: li.getAttribute('data-message-id'),
    direction: li.getAttribute('data-direction'),
    text: li.querySelector('[data-testid=message-text]').textContent,
    pending: li.hasAttribute('data-pending'),
  })));
}

const texts = (items, direction) => items.filter((m) => m.direction === direction).map((m) => m.text);

/** Waits until the panel shows `text` as a stored message (it has the server's id). */
function waitShown(page, text, direction) {
  return eventually(`the panel to show ${direction} ${JSON.stringify(text)}`, async () =>
    (await shown(page)).find((m) => m.text === text && m.direction === direction && m.id && !m.pending));
}

function state(page) {
  return page.locator('[data-testid=panel]').getAttribute('data-state');
}

describe('the chat widget in a browser', () => {
  test('braid serves this checkout\'s widget.js (a stale binary would test an old script)', async () => {
    const served = await fetch(`${server.url}/widget/v1/widget.js`);
    assert.equal(served.status, 200);
    assert.match(served.headers.get('content-type'), /javascript/);
    const source = fs.readFileSync(path.join(__dirname, '../../crates/braid-api/src/widget/widget.js'), 'utf8');
    assert.ok(await served.text() === source, 'rebuild braid: its widget.js differs from the source');
  });

  scenario('a visitor asks, the agent answers over REST, and the page shows the answer', async (context) => {
    const page = await visit(context);
    // Markup in a message is text, never HTML.
    const question = 'a: where is my order <img src=x onerror="window.pwned=1"> <b>#A-1</b>?';
    await say(page, question);
    await waitShown(page, question, 'inbound');
    const ticket = await agent.findTicketByText(question);
    assert.equal(ticket.channel, 'chat');

    await agent.reply(ticket.id, 'a: it ships today');
    await waitShown(page, 'a: it ships today', 'outbound');

    const items = await shown(page);
    assert.deepEqual(items.map((m) => [m.direction, m.text]), [['inbound', question], ['outbound', 'a: it ships today']]);
    assert.equal(await page.locator('[data-testid=messages] img, [data-testid=messages] b').count(), 0);
    assert.equal(await page.evaluate(() => window.pwned), undefined);
    // The site's stylesheet hides every div and button on the page; not ours.
    assert.ok(await page.locator('[data-testid=launcher]').isVisible());

    // Read receipts: the open panel tells braid the visitor saw the answer; a closed one
    // does not, until it is opened again.
    const seenFrames = () => page.frames.filter((f) => f.out).map((f) => JSON.parse(f.data)).filter((f) => f.type === 'seen');
    const answer = items[1];
    await eventually('a seen frame for the answer', () => seenFrames().some((f) => f.message_id === answer.id));
    await page.locator('[data-testid=close]').click();
    await agent.reply(ticket.id, 'a: anything else?');
    await eventually('the unread badge', () => page.locator('[data-testid=launcher][data-unread="1"]').count());
    await sleep(300);
    const later = (await shown(page)).find((m) => m.text === 'a: anything else?');
    assert.ok(later && later.id);
    assert.ok(!seenFrames().some((f) => f.message_id === later.id), 'seen sent while the panel was closed');
    await page.locator('[data-testid=launcher]').click();
    await eventually('a seen frame once opened', () => seenFrames().some((f) => f.message_id === later.id));

    // Coming back later (a reload): the same visitor, and the conversation is all there, once.
    const before = (await shown(page)).map((m) => [m.id, m.direction, m.text]);
    await page.reload();
    await page.locator('[data-testid=launcher]').click();
    await page.locator('[data-testid=panel][data-state=online]').waitFor();
    await waitShown(page, 'a: anything else?', 'outbound');
    assert.deepEqual((await shown(page)).map((m) => [m.id, m.direction, m.text]), before);
  });

  scenario('the agent reading the visitor\'s messages shows seen ticks up to the one read', async (context) => {
    const page = await visit(context);
    await say(page, 'h: one');
    await waitShown(page, 'h: one', 'inbound');
    await say(page, 'h: two');
    const two = await waitShown(page, 'h: two', 'inbound');
    const one = (await shown(page)).find((m) => m.text === 'h: one');
    const tick = (m) => page.locator(`[data-testid=message][data-message-id="${m.id}"] [data-testid=seen-tick]`);
    assert.equal(await tick(one).isVisible(), false);

    await agent.seen(one.id);
    await tick(one).waitFor({ state: 'visible' });
    await sleep(300);
    assert.equal(await tick(two).isVisible(), false, 'only up to the message read');
    await agent.seen(two.id);
    await tick(two).waitFor({ state: 'visible' });
  });

  scenario('after braid restarts, the replies sent meanwhile show once, in order, and nothing is repeated', async (context) => {
    const page = await visit(context);
    await say(page, 'b: first question');
    await waitShown(page, 'b: first question', 'inbound');
    const ticket = await agent.findTicketByText('b: first question');
    await agent.reply(ticket.id, 'b: first answer');
    await waitShown(page, 'b: first answer', 'outbound');
    const socketsBefore = page.sockets.length;

    // A crash; the page may not reach braid again until both replies are stored.
    proxy.cut();
    await server.kill();
    await page.locator('[data-testid=panel][data-state=reconnecting]').waitFor();
    assert.equal(await page.locator('[data-testid=connection-status]').textContent(), 'Reconnecting…');
    await server.start();
    await agent.login(main.admin.email, main.admin.password);
    await agent.reply(ticket.id, 'b: answer while down 1');
    await agent.reply(ticket.id, 'b: answer while down 2');
    await sleep(500);
    assert.equal(await state(page), 'reconnecting');
    assert.ok(!texts(await shown(page), 'outbound').includes('b: answer while down 1'));

    proxy.restore();
    await page.locator('[data-testid=panel][data-state=online]').waitFor({ timeout: 45000 });
    await waitShown(page, 'b: answer while down 2', 'outbound');
    await sleep(1000); // room for a duplicate to show up
    const items = await shown(page);
    assert.deepEqual(texts(items, 'outbound'), ['b: first answer', 'b: answer while down 1', 'b: answer while down 2']);
    assert.deepEqual(texts(items, 'inbound'), ['b: first question']);
    assert.equal(new Set(items.map((m) => m.id)).size, items.length, 'a message id shown twice');
    // It resumed after what it had, rather than starting over.
    const resumed = page.sockets.slice(socketsBefore).pop();
    assert.match(resumed, /[?&]after=[^&]+/);
  });

  scenario('a message sent while the socket is down, or whose ack was lost, is stored once', async (context) => {
    const page = await visit(context);
    await say(page, 'c: hello');
    await waitShown(page, 'c: hello', 'inbound');
    const ticket = await agent.findTicketByText('c: hello');
    const stored = async (text) => (await agent.messages(ticket.id)).filter((m) => m.text === text).length;

    // Down: the send waits, shown as pending, and goes out on reconnect.
    proxy.cut();
    await page.locator('[data-testid=panel][data-state=reconnecting]').waitFor();
    await say(page, 'c: sent while down');
    assert.ok((await shown(page)).find((m) => m.text === 'c: sent while down' && m.pending));
    await sleep(300);
    assert.equal(await stored('c: sent while down'), 0);
    proxy.restore();
    await waitShown(page, 'c: sent while down', 'inbound');

    // The server gets the send but its ack is lost: the retry carries the same
    // client_msg_id and the server keeps one message.
    proxy.mute();
    await say(page, 'c: ack lost');
    await eventually('braid to store the send', async () => (await stored('c: ack lost')) === 1);
    proxy.cut();
    await page.locator('[data-testid=panel][data-state=reconnecting]').waitFor();
    proxy.restore();
    await waitShown(page, 'c: ack lost', 'inbound');
    await sleep(1000);

    const sends = page.frames.filter((f) => f.out).map((f) => JSON.parse(f.data))
      .filter((f) => f.type === 'message' && f.text === 'c: ack lost');
    assert.equal(sends.length, 2, 'the send is retried once after the reconnect');
    assert.equal(sends[0].client_msg_id, sends[1].client_msg_id);
    for (const text of ['c: hello', 'c: sent while down', 'c: ack lost']) {
      assert.equal(await stored(text), 1, `${text} stored once`);
    }
    assert.deepEqual(texts(await shown(page), 'inbound'), ['c: hello', 'c: sent while down', 'c: ack lost']);
  });

  scenario('the network or the tab coming back reconnects at once, not after the backoff', async (context) => {
    const page = await visit(context);
    for (const comeBack of [
      () => window.dispatchEvent(new Event('online')),
      () => document.dispatchEvent(new Event('visibilitychange')),
    ]) {
      proxy.cut();
      await page.locator('[data-testid=panel][data-state=reconnecting]').waitFor();
      // Long enough for the backoff to grow past several seconds.
      await sleep(9000);
      proxy.restore();
      const before = page.sockets.length;
      await page.evaluate(comeBack);
      await page.locator('[data-testid=panel][data-state=online]').waitFor({ timeout: 2000 });
      assert.equal(page.sockets.length, before + 1);
    }
  });

  scenario('a socket refused for an expired visitor token gets a new session and carries on', async (context) => {
    // Its own braid, where visitor tokens live two seconds.
    const short = await startStack({ BRAID_CHAT_VISITOR_TOKEN_TTL_SECS: '2' });
    try {
      const sessions = [];
      context.on('response', (r) => {
        if (r.url().endsWith('/widget/v1/sessions') && r.request().method() === 'POST') sessions.push(r.status());
      });
      const page = await visit(context, { on: short });
      await say(page, 'g: hello');
      await waitShown(page, 'g: hello', 'inbound');
      const ticket = await short.agent.findTicketByText('g: hello');
      // The socket drops, and by the time it comes back the token has expired (and the
      // widget's own refresh, due five seconds in, failed while the network was cut).
      short.proxy.cut();
      await page.locator('[data-testid=panel][data-state=reconnecting]').waitFor();
      await sleep(6000);
      assert.deepEqual(sessions, [201]);
      short.proxy.restore();
      await page.evaluate(() => window.dispatchEvent(new Event('online')));
      await page.locator('[data-testid=panel][data-state=online]').waitFor({ timeout: 10000 });
      assert.ok(sessions.length >= 2 && sessions.every((s) => s === 201), `sessions: ${sessions}`);
      await short.agent.reply(ticket.id, 'g: still here');
      await waitShown(page, 'g: still here', 'outbound');
      assert.deepEqual(texts(await shown(page), 'inbound'), ['g: hello']);
    } finally {
      await short.close();
    }
  });

  scenario('a verified visitor whose token expired stays verified, proven again by the site\'s token', async (context) => {
    const short = await startStack({ BRAID_CHAT_VISITOR_TOKEN_TTL_SECS: '2' });
    try {
      const sessions = [];
      context.on('response', async (r) => {
        if (r.url().endsWith('/widget/v1/sessions') && r.request().method() === 'POST') sessions.push(await r.json());
      });
      const page = await context.newPage();
      await page.goto(short.page.url);
      await page.waitForFunction(() => window.Braid && window.Braid.version === 1);
      // The site hands the widget a way to get a token rather than one token.
      const token = signIdentity(short.site.secret, { sub: 'user-7', name: 'Bo', email: 'bo@example.org', email_verified: true });
      await page.evaluate((t) => window.Braid.identify(() => Promise.resolve(t)), token);
      await page.locator('[data-testid=launcher]').click();
      await page.locator('[data-testid=panel][data-state=online]').waitFor();
      await say(page, 'i: Bo here');
      await waitShown(page, 'i: Bo here', 'inbound');
      const ticket = await short.agent.findTicketByText('i: Bo here');

      short.proxy.cut();
      await page.locator('[data-testid=panel][data-state=reconnecting]').waitFor();
      await sleep(6000);
      short.proxy.restore();
      await page.evaluate(() => window.dispatchEvent(new Event('online')));
      await page.locator('[data-testid=panel][data-state=online]').waitFor({ timeout: 10000 });
      await short.agent.reply(ticket.id, 'i: still you, Bo');
      await waitShown(page, 'i: still you, Bo', 'outbound');
      assert.deepEqual(texts(await shown(page), 'inbound'), ['i: Bo here']);
      assert.ok(sessions.length >= 2, 'the session was refreshed');
      assert.deepEqual(new Set(sessions.map((x) => `${x.visitor.id} verified=${x.visitor.verified}`)).size, 1,
        `one verified visitor throughout: ${JSON.stringify(sessions.map((x) => x.visitor))}`);
      assert.equal(sessions[0].visitor.verified, true);
    } finally {
      await short.close();
    }
  });

  scenario('an agent typing shows the indicator, and it goes away with their reply', async (context) => {
    const page = await visit(context);
    await say(page, 'd: anyone there?');
    await waitShown(page, 'd: anyone there?', 'inbound');
    const ticket = await agent.findTicketByText('d: anyone there?');
    const indicator = page.locator('[data-testid=typing-indicator]');
    assert.equal(await indicator.isVisible(), false);

    await agent.typing(ticket, true);
    await indicator.waitFor({ state: 'visible' });
    assert.match(await indicator.textContent(), /typing/);
    await agent.reply(ticket.id, 'd: yes, here');
    await waitShown(page, 'd: yes, here', 'outbound');
    await indicator.waitFor({ state: 'hidden' });

    // The visitor typing reaches the server as typing frames (throttled, not per key).
    const from = page.frames.length;
    await page.locator('[data-testid=input]').pressSequentially('hello there', { delay: 20 });
    const typingFrames = () => page.frames.slice(from).filter((f) => f.out && JSON.parse(f.data).type === 'typing');
    await eventually('a typing frame', () => typingFrames().length > 0);
    assert.deepEqual(JSON.parse(typingFrames()[0].data), { type: 'typing', typing: true });
    assert.equal(typingFrames().length, 1, 'eleven keys in a quarter second: one typing frame');
  });

  scenario('a verified visitor sees their earlier conversation on a new device, and a stranger does not', async (context) => {
    // The server answers a new site with its first secret as `secret` (the contract
    // sketched a `secrets` list).
    const secret = site.secret || site.secrets[0];
    const ana = { sub: 'user-42', email: 'ana@example.org', email_verified: true, name: 'Ana' };
    const first = await visit(context, { identity: signIdentity(secret, ana) });
    await say(first, 'e: I am Ana');
    await waitShown(first, 'e: I am Ana', 'inbound');
    const ticket = await agent.findTicketByText('e: I am Ana');
    await agent.reply(ticket.id, 'e: hello Ana');
    await waitShown(first, 'e: hello Ana', 'outbound');
    const anaToken = await first.evaluate(() => localStorage.getItem(Object.keys(localStorage).find((k) => k.endsWith(':visitor_token'))));

    // Another browser: nothing in its storage, only the site's word for who this is.
    const elsewhere = await browser.newContext();
    try {
      const second = await visit(elsewhere, { identity: signIdentity(secret, ana) });
      await waitShown(second, 'e: hello Ana', 'outbound');
      const items = await shown(second);
      assert.deepEqual(items.filter((m) => m.text.startsWith('e: ')).map((m) => [m.direction, m.text]),
        [['inbound', 'e: I am Ana'], ['outbound', 'e: hello Ana']]);
    } finally {
      await elsewhere.close();
    }

    // Signing out on the site: the browser forgets Ana, and her thread leaves the page.
    await first.evaluate(() => window.Braid.identify(null));
    await first.locator('[data-testid=panel][data-state=online]').waitFor();
    await sleep(500);
    assert.deepEqual((await shown(first)).filter((m) => m.text.startsWith('e: ')), []);
    const afterToken = await first.evaluate(() => localStorage.getItem(Object.keys(localStorage).find((k) => k.endsWith(':visitor_token'))));
    assert.ok(afterToken && afterToken !== anaToken, 'a new anonymous visitor after signing out');

    const stranger = await browser.newContext();
    try {
      const third = await visit(stranger);
      await sleep(1000);
      assert.deepEqual((await shown(third)).filter((m) => m.text.startsWith('e: ')), []);
      // A token signed with another secret is refused, and shows nothing of Ana's.
      const forged = signIdentity({ kid: secret.kid, secret: 'not the secret' }, ana);
      await third.evaluate((t) => window.Braid.identify(t), forged);
      await sleep(1500);
      assert.deepEqual((await shown(third)).filter((m) => m.text.startsWith('e: ')), []);
    } finally {
      await stranger.close();
    }
  });

  scenario('a solved chat shows its survey as rating buttons, and the survey page records the click', async (context) => {
    const page = await visit(context);
    await say(page, 'h: all sorted, thanks');
    await waitShown(page, 'h: all sorted, thanks', 'inbound');
    const ticket = await agent.findTicketByText('h: all sorted, thanks');
    await agent.request('PATCH', '/v1/csat/settings', { enabled: true, delay_minutes: 0 });
    try {
      await agent.request('PATCH', `/v1/tickets/${ticket.id}`, { status: 'solved' });
      const good = page.locator('[data-testid=survey] [data-testid=rate-good]');
      await good.waitFor({ timeout: 15000 });
      const href = await good.getAttribute('href');
      assert.match(href, /\/csat\/v1\/csat1\.[^?]+\?rating=good$/);
      assert.equal(await good.getAttribute('target'), '_blank');
      assert.equal(await page.locator('[data-testid=survey] [data-testid=rate-bad]').count(), 1);

      // The link's page, in a real browser: its one script posts the clicked rating (a
      // scanner that only fetches the page rates nothing).
      const link = new URL(href);
      const survey = await context.newPage();
      await survey.goto(`${agent.baseUrl}${link.pathname}${link.search}`);
      await eventually('the rating recorded', async () =>
        (await agent.request('GET', `/v1/tickets/${ticket.id}/satisfaction`)).rating === 'good');
      await survey.locator('text=Thank you').waitFor();
    } finally {
      await agent.request('PATCH', '/v1/csat/settings', { enabled: false });
    }
  });
});
