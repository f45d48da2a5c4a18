// A student asks the psychologist anonymously: the student's page explains what anonymity
// means and its limit, switches to the anonymous identity, and asks the support service
// online; the psychologist sees "Анонимно" with the class the student chose to show, answers
// in the session's chat, and never receives the student's name or login on their socket; the
// student reveals their name with one button and the psychologist reads it; and every admin
// route (the record, its CSV, the report, the audit log, a thread read) shows nobody, before
// the reveal and after.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, launchBrowser, loginAs, startServer } from './lib.mjs';

const started = Date.now();
const server = await startServer();
const browser = await launchBrowser();
const shot = (page, name) => page.screenshot({ path: join(artifacts, `anonymous-${name}.png`), fullPage: true });

async function api(path, token, accept = 'application/json') {
  const res = await fetch(server.url + path, { headers: { Authorization: `Bearer ${token}`, Accept: accept } });
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return res.text();
}

/// What an admin can see of the anonymous consultation, by every route, as text.
async function adminViews(admin, adminPage, thread) {
  const views = {};
  for (const path of ['/api/consultations', '/api/consultations/summary', '/api/admin/audit?limit=1000']) {
    views[path] = await api(path, admin);
  }
  views['record CSV'] = await api('/api/consultations', admin, 'text/csv');
  views['report CSV'] = await api('/api/consultations/summary', admin, 'text/csv');
  // The admin's own page asks for the thread over its socket, as the client would.
  views['thread history'] = await adminPage.evaluate(async (thread) => {
    const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/ws`);
    const replies = [];
    await new Promise((resolve, reject) => {
      ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', v: 1, token: sessionStorage.getItem('konsult.token') }));
      ws.onmessage = (e) => {
        const msg = JSON.parse(e.data);
        replies.push(msg);
        if (msg.type === 'welcome') {
          ws.send(JSON.stringify({ type: 'history', thread, rid: 1 }));
          ws.send(JSON.stringify({ type: 'threads', rid: 2 }));
        }
        if (replies.filter((m) => m.re !== undefined).length === 2) resolve();
      };
      ws.onerror = reject;
    });
    ws.close();
    return JSON.stringify(replies.filter((m) => m.re !== undefined));
  }, thread);
  return views;
}

function assertNobody(views, who, when) {
  for (const [route, text] of Object.entries(views)) {
    assert.ok(!text.includes(who.name), `${when}: ${route} names the student`);
    assert.ok(!text.includes(who.login), `${when}: ${route} has the student's login`);
  }
  assert.match(views['thread history'], /"code":"not_found"/, `${when}: an admin reads the psychologist's thread`);
  const rows = JSON.parse(views['/api/consultations']).consultations;
  assert.ok(rows.length >= 1, `${when}: the consultation is in the record`);
  for (const row of rows) {
    assert.equal(row.confidential, true, `${when}: ${JSON.stringify(row)}`);
    assert.ok(!row.students?.length, `${when}: ${JSON.stringify(row)}`);
  }
}

try {
  const psychologist = await loginAs(browser, server.url, 'psychologist1');
  // Every message the psychologist's page receives, to check what it was told.
  const heard = [];
  psychologist.rewriteFromServer = (msg) => {
    heard.push(msg);
    return msg;
  };
  await psychologist.click('#availability');
  await psychologist.waitForSelector('#availability[aria-checked=true]');

  const student = await loginAs(browser, server.url, 'student1', { viewport: { width: 390, height: 844 } });
  const header = await student.textContent('#header-user');
  const who = { login: 'student1', name: header.replace(/\s*\(.*\)\s*$/, '').trim() };
  assert.ok(who.name.length > 2, `the student's name from the header: ${header}`);

  // The way in explains, in two lines, what anonymity means and where it ends.
  const card = student.locator('.card.anonymous');
  await card.waitFor();
  assert.match(await card.textContent(), /не ваше имя/);
  assert.match(await card.textContent(), /опасность.*решаете вы/s);
  await shot(student, 'student-home');
  await student.check('#anon-show-class');
  await student.click('#anon-start');
  await student.waitForSelector('#anon-leave');
  assert.match(await student.textContent('#header-user'), /Анонимно/);
  assert.match(await student.textContent('.card.anonymous'), /опасность/);
  const subjects = await student.$$eval('#ask-subject option', (options) => options.map((o) => o.value));
  assert.deepEqual(subjects, ['support'], 'an anonymous identity asks the psychologist only');
  await shot(student, 'anonymous-home');

  await student.fill('#ask-topic', 'Мне тревожно перед контрольными');
  await student.click('#ask-submit');
  const offer = await psychologist.waitForSelector('.offer');
  const offerText = await offer.textContent();
  assert.match(offerText, /Анонимно \(9A\)/);
  assert.ok(!offerText.includes(who.name));
  await shot(psychologist, 'offer');
  await psychologist.click('.offer .offer-accept');
  await Promise.all([psychologist.waitForSelector('.session'), student.waitForSelector('.session')]);

  await psychologist.fill('.session .chat-text', 'Здравствуй. Расскажи, что тебя тревожит?');
  await psychologist.click('.session .chat-send');
  await student.waitForSelector('.session .message:not(.pending) >> text=что тебя тревожит');
  await student.fill('.session .chat-text', 'Перед каждой контрольной не могу уснуть.');
  await student.click('.session .chat-send');
  const line = psychologist.locator('.session .message', { hasText: 'не могу уснуть' });
  await line.waitFor();
  assert.equal((await line.locator('.from').textContent()).trim(), 'Анонимно');
  await psychologist.waitForSelector('.session .chat-block');
  await shot(psychologist, 'session-before-reveal');

  const before = JSON.stringify(heard);
  assert.ok(!before.includes(who.name), "the psychologist's socket carried the student's name");
  assert.ok(!before.includes(who.login), "the psychologist's socket carried the student's login");
  const thread = heard.find((m) => m.type === 'session_started')?.session?.thread;
  assert.ok(Number.isInteger(thread), 'the session has a thread');

  const adminPage = await loginAs(browser, server.url, 'admin');
  const admin = await adminPage.evaluate(() => sessionStorage.getItem('konsult.token'));
  assertNobody(await adminViews(admin, adminPage, thread), who, 'before the reveal');

  // The student tells who they are with one button; the psychologist reads it in the chat.
  await student.click('.session .chat-reveal');
  await psychologist.waitForSelector(`.session .message >> text=Ученик назвал себя: ${who.name} (9A)`);
  await student.waitForSelector('.session .chat-reveal', { state: 'detached' });
  await shot(psychologist, 'session-after-reveal');
  assertNobody(await adminViews(admin, adminPage, thread), who, 'after the reveal');

  await psychologist.click('.session .leave');
  await student.waitForSelector('.home.student');
  await student.click('#anon-leave');
  await student.waitForSelector('#anon-start');
  assert.ok((await student.textContent('#header-user')).includes(who.name));

  assert.deepEqual(psychologist.errors, []);
  assert.deepEqual(student.errors, []);
  assert.deepEqual(adminPage.errors, []);
  console.log(`anonymous: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await browser.close();
  server.stop();
}
