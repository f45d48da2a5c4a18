// Helpers of the administration and /help browser tests: HTTP calls as the admin screens'
// users make them, a consultation held over real WebSockets from a Chromium page, and checks
// that a page is labelled, fits its viewport and logged no errors.
import assert from 'node:assert/strict';

/// `POST /api/login`; returns the HTTP status and the answer.
export async function login(url, loginName, password) {
  const r = await fetch(`${url}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ login: loginName, password }),
  });
  return { status: r.status, body: await r.json() };
}

/// A token for an account whose login must succeed.
export async function token(url, loginName, password = 'demo') {
  const { status, body } = await login(url, loginName, password);
  assert.equal(status, 200, `${loginName} logs in: ${JSON.stringify(body)}`);
  return body.token;
}

/// An HTTP call with a bearer token; returns the status and the JSON answer.
export async function call(url, method, path, bearer, body) {
  const r = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

/// A teacher and a student hold an individual online consultation, both speaking the
/// WebSocket protocol from inside a Chromium page of the server's origin. Resolves when the
/// teacher has ended the session.
export async function holdConsultation(page, { teacherToken, studentToken, subject, topic }) {
  return page.evaluate(async ({ teacherToken, studentToken, subject, topic }) => {
    const connect = (tokenValue) => new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://${location.host}/ws`);
      const inbox = [];
      let wake = () => {};
      let rid = 0;
      ws.onmessage = (event) => { inbox.push(JSON.parse(event.data)); wake(); };
      ws.onerror = () => reject(new Error('the WebSocket failed'));
      const next = (test, what) => new Promise((done, fail) => {
        const timer = setTimeout(() => fail(new Error(`no ${what} within 10 s: ${JSON.stringify(inbox)}`)), 10000);
        const look = () => {
          const i = inbox.findIndex(test);
          if (i >= 0) {
            clearTimeout(timer);
            done(inbox.splice(i, 1)[0]);
          }
        };
        wake = look;
        look();
      });
      const request = async (message) => {
        rid += 1;
        const mine = `r${rid}`;
        ws.send(JSON.stringify({ ...message, rid: mine }));
        const reply = await next((m) => m.re === mine, `reply to ${message.type}`);
        if (reply.type === 'error') throw new Error(`${message.type}: ${reply.code} ${reply.message}`);
        return reply;
      };
      ws.onopen = async () => {
        ws.send(JSON.stringify({ type: 'hello', v: 1, token: tokenValue }));
        try {
          await next((m) => m.type === 'welcome', 'welcome');
          resolve({ ws, next, request });
        } catch (e) {
          reject(e);
        }
      };
    });
    const teacher = await connect(teacherToken);
    const student = await connect(studentToken);
    await teacher.request({ type: 'set_status', status: 'available' });
    await student.request({ type: 'request_help', subject, form: 'individual', mode: 'online', topic });
    const offer = await teacher.next((m) => m.type === 'help_offer', 'help_offer');
    const started = await teacher.request({ type: 'accept', request: offer.request.id });
    const session = started.session ?? (await teacher.next((m) => m.type === 'session_started', 'session_started')).session;
    await student.next((m) => m.type === 'session_started', 'the student\'s session_started');
    await teacher.request({ type: 'end_session', session: session.id });
    await student.next((m) => m.type === 'session_ended', 'session_ended');
    teacher.ws.close();
    student.ws.close();
    return session.id;
  }, { teacherToken, studentToken, subject, topic });
}

/// A student asks a question offline over a real WebSocket from inside a Chromium page of the
/// server's origin; it becomes a deferred request with its thread. Resolves to the thread's id.
export async function askOffline(page, { studentToken, subject, topic }) {
  return page.evaluate(async ({ studentToken, subject, topic }) => new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${location.host}/ws`);
    const timer = setTimeout(() => reject(new Error('no request_deferred within 10 s')), 10000);
    ws.onerror = () => reject(new Error('the WebSocket failed'));
    ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', v: 1, token: studentToken }));
    ws.onmessage = (event) => {
      const m = JSON.parse(event.data);
      if (m.type === 'welcome') {
        ws.send(JSON.stringify({ type: 'request_help', subject, form: 'individual', mode: 'offline', topic, rid: 'ask' }));
      } else if (m.type === 'error') {
        clearTimeout(timer);
        reject(new Error(`request_help: ${m.code} ${m.message}`));
      } else if (m.type === 'request_deferred') {
        clearTimeout(timer);
        ws.close();
        resolve(m.thread);
      }
    };
  }), { studentToken, subject, topic });
}

/// Every form control is labelled and every button has a name a screen reader can say.
export async function assertLabelled(page) {
  const unlabelled = await page.evaluate(() => {
    const visible = (e) => e.getClientRects().length > 0;
    const controls = [...document.querySelectorAll('input, select, textarea')]
      .filter((e) => e.type !== 'hidden' && visible(e))
      .filter((e) => e.labels.length === 0 && !e.getAttribute('aria-label'));
    const buttons = [...document.querySelectorAll('button, a[href]')]
      .filter(visible)
      .filter((e) => !(e.getAttribute('aria-label') || e.textContent.trim()));
    return [...controls, ...buttons].map((e) => e.outerHTML.slice(0, 120));
  });
  assert.deepEqual(unlabelled, [], 'every control has a label');
}

/// The page is no wider than its viewport (nothing to scroll sideways on a phone).
export async function assertFits(page) {
  const { scroll, width } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    width: window.innerWidth,
  }));
  assert.ok(scroll <= width, `the page is ${scroll}px wide in a ${width}px viewport`);
}

/// Collects uncaught errors and console errors (CSP refusals among them) of a page.
export function watchErrors(page) {
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`${m.text()} ${m.location().url ?? ''}`.trim());
  });
  return errors;
}

/// Windows-1251 bytes of a text of ASCII and Russian letters, as older journals export.
export function windows1251(text) {
  const bytes = [];
  for (const ch of text) {
    const code = ch.codePointAt(0);
    if (code < 0x80) bytes.push(code);
    else if (code >= 0x410 && code <= 0x44f) bytes.push(code - 0x350);
    else if (code === 0x401) bytes.push(0xa8);
    else if (code === 0x451) bytes.push(0xb8);
    else throw new Error(`no Windows-1251 byte for ${ch}`);
  }
  return Buffer.from(bytes);
}
