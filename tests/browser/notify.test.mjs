// System notifications and the tab's title, in Chromium against the real server: no page asks
// for permission on load or at sign-in; a teacher is asked on first switching to "available", a
// student on their first help request. A teacher whose tab is hidden gets a notification for a
// real student's offer (clicking it puts the keyboard on "accept") and for a message in the
// inbox (clicking it opens the thread); a student with a hidden tab gets one when a teacher
// accepts the request, when their request reaches the head of the queue (the one ahead was
// accepted; clicking it shows the place) and when a deferred question is answered. The title
// counts the threads with unread messages and drops as they are read. Students' teacher lists,
// loaded before, show a teacher who took a request busy at once and free once it ends, also
// on a list whose connection dropped and resumed meanwhile.
//
// The page's tab is hidden by an init script that overrides `document.visibilityState` and
// fires `visibilitychange`; another init script wraps `window.Notification` so that each
// notification is recorded while the real one is still made, and counts permission requests.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, launchBrowser, loginAs, startServer } from './lib.mjs';

/// Runs in each page before its scripts: a switch for the tab's visibility, and a record of
/// the notifications made and the permission requests.
function recordNotifications() {
  let hidden = false;
  Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => hidden });
  Object.defineProperty(Document.prototype, 'visibilityState', { configurable: true, get: () => (hidden ? 'hidden' : 'visible') });
  window.testHide = (value) => {
    hidden = value;
    document.dispatchEvent(new Event('visibilitychange'));
  };
  const Real = window.Notification;
  const record = { made: [], asks: 0, objects: new Map() };
  window.testNotifications = record;
  class Recorded extends Real {
    constructor(title, options = {}) {
      super(title, options);
      record.made.push({ title, body: options.body ?? '', tag: options.tag ?? '', visibility: document.visibilityState, permission: Real.permission });
      record.objects.set(options.tag ?? '', this);
    }
  }
  Object.defineProperty(Recorded, 'permission', { get: () => Real.permission });
  Recorded.requestPermission = (...args) => {
    record.asks += 1;
    return Real.requestPermission(...args);
  };
  window.Notification = Recorded;
}

const started = Date.now();
const server = await startServer();
const browser = await launchBrowser();
const shot = (page, name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
const asks = (page) => page.evaluate(() => window.testNotifications.asks);
const made = (page) => page.evaluate(() => window.testNotifications.made);
const hide = (page, value) => page.evaluate((v) => window.testHide(v), value);
/// Waits for a notification whose title has `title` (and whose body is `body`, if given), and
/// returns it.
async function notification(page, title, body) {
  try {
    const handle = await page.waitForFunction(([want, text]) => window.testNotifications.made
      .find((n) => n.title.includes(want) && (text === undefined || n.body === text)), [title, body], { timeout: 30000, polling: 200 });
    return handle.jsonValue();
  } catch (e) {
    throw new Error(`no notification "${title}" ${body ?? ''}; made: ${JSON.stringify(await made(page))}; ${e.message}`);
  }
}
/// Clicks a notification, as a person would on the system's banner.
const click = (page, tag) => page.evaluate((t) => window.testNotifications.objects.get(t).dispatchEvent(new Event('click')), tag);
const BASE_TITLE = 'Konsult: консультации';
/// Puts the notification permission back to "ask" for a page's context (granting camera and
/// microphone refused every other permission), as a browser that was never asked has it.
async function notAskedYet(page) {
  const cdp = await page.context().newCDPSession(page);
  const { targetInfo } = await cdp.send('Target.getTargetInfo');
  await cdp.send('Browser.setPermission', {
    permission: { name: 'notifications' }, setting: 'prompt', origin: server.url, browserContextId: targetInfo.browserContextId,
  });
}

try {
  // Nothing is asked on page load or at sign-in, granted or not.
  const teacher = await loginAs(browser, server.url, 'teacher1', { permissions: ['notifications'], initScript: recordNotifications });
  const otherTeacher = await loginAs(browser, server.url, 'teacher3', { initScript: recordNotifications, beforeGoto: notAskedYet });
  const student = await loginAs(browser, server.url, 'student1', { initScript: recordNotifications, beforeGoto: notAskedYet });
  const writer = await loginAs(browser, server.url, 'student2', { permissions: ['notifications'], initScript: recordNotifications });
  const secondWriter = await loginAs(browser, server.url, 'student3', { initScript: recordNotifications, beforeGoto: notAskedYet });
  await student.waitForSelector('.teacher-list .teacher');
  await otherTeacher.waitForSelector('#availability');
  for (const page of [teacher, otherTeacher, student, writer, secondWriter]) {
    assert.equal(await asks(page), 0, 'no permission is asked on page load');
  }
  for (const page of [otherTeacher, student, secondWriter]) {
    assert.equal(await page.evaluate(() => Notification.permission), 'default', 'not asked yet');
  }
  assert.equal(await teacher.title(), BASE_TITLE);

  // A teacher not asked yet is asked on first switching to "available", and only then.
  await otherTeacher.click('#availability');
  await otherTeacher.waitForSelector('#availability[aria-checked=true]');
  assert.equal(await asks(otherTeacher), 1, 'asked on first switching to available');
  await otherTeacher.click('#availability');
  await otherTeacher.waitForSelector('#availability[aria-checked=false]');
  await otherTeacher.click('#availability');
  await otherTeacher.waitForSelector('#availability[aria-checked=true]');
  assert.equal(await asks(otherTeacher), 1, 'asked once');

  // The teacher is available; their tab goes behind another.
  await teacher.click('#availability');
  await teacher.waitForSelector('#availability[aria-checked=true]');
  await hide(teacher, true);
  assert.equal(await teacher.evaluate(() => document.visibilityState), 'hidden');

  // A real student asks for help, and is asked for permission at that moment.
  await student.selectOption('#ask-subject', 'math');
  await student.fill('#ask-topic', 'Дискриминант');
  await student.click('#ask-submit');
  await student.waitForSelector('#queue-position');
  assert.equal(await asks(student), 1, 'a student is asked on their first help request');

  const offer = await notification(teacher, 'Новый запрос: Ученик 1');
  assert.match(offer.tag, /^offer-\d+$/);
  assert.match(offer.body, /Дискриминант/);
  assert.equal(offer.visibility, 'hidden');
  assert.equal(offer.permission, 'granted');
  await teacher.waitForSelector(`.offer[data-request="${offer.tag.slice(6)}"]`);
  await shot(teacher, 'notify-offer-teacher');
  // The notification itself is the system's, outside the page: its record, as a picture.
  const evidence = await browser.newPage({ viewport: { width: 640, height: 220 } });
  await evidence.setContent(`<html lang="ru"><body style="font:16px sans-serif;margin:24px">
    <p style="color:#555">Notification made in the teacher's hidden tab (visibilityState: ${offer.visibility}, permission: ${offer.permission}), as recorded by the test:</p>
    <div style="border:1px solid #bbb;border-radius:8px;padding:12px 16px;box-shadow:0 2px 6px #0003;max-width:520px">
    <b id="title"></b><p id="body" style="margin:6px 0 0"></p><small id="tag" style="color:#777"></small></div></body></html>`);
  await evidence.evaluate((n) => {
    document.getElementById('title').textContent = n.title;
    document.getElementById('body').textContent = n.body;
    document.getElementById('tag').textContent = `tag: ${n.tag}`;
  }, offer);
  await evidence.screenshot({ path: join(artifacts, 'notify-offer-notification.png') });
  await evidence.close();

  // The student's tab goes behind too, with permission now given; clicking the teacher's
  // notification brings the offer forward with the keyboard on "accept".
  await student.context().grantPermissions(['notifications'], { origin: server.url });
  await hide(student, true);
  await click(teacher, offer.tag);
  await hide(teacher, false);
  await teacher.waitForFunction((id) => document.activeElement?.matches(`.offer[data-request="${id}"] .offer-accept`), offer.tag.slice(6));
  await teacher.keyboard.press('Enter');
  const accepted = await notification(student, 'Учитель принял ваш запрос');
  assert.match(accepted.tag, /^session-\d+$/);
  assert.equal(accepted.body, 'Анна Петровна Смирнова');
  await teacher.waitForSelector('.session button.leave');
  await teacher.click('.session button.leave');
  await teacher.waitForSelector('.home.teacher');
  await hide(student, false);
  await student.waitForSelector('.home.student');

  // Two deferred questions with a message each: the hidden teacher hears of each message, and
  // the title counts the two unread threads.
  await hide(teacher, true);
  for (const [page, topic, text] of [
    [writer, 'Задача про рычаг', 'Не понимаю, где ось.'],
    [secondWriter, 'Задача про блок', 'Сколько тут блоков?'],
  ]) {
    await page.waitForSelector('.teacher-list .teacher');
    await page.selectOption('#ask-subject', 'physics');
    await page.check('#ask-offline');
    await page.fill('#ask-topic', topic);
    await page.click('#ask-submit');
    const panel = page.locator('.inbox .chat');
    await panel.locator('.chat-text').fill(text);
    await panel.locator('.chat-send').click();
    await panel.locator('.message.mine:not(.pending)', { hasText: text }).waitFor();
  }
  // The teacher has not met these students: the thread's title says whose it is.
  const first = await notification(teacher, 'Новое сообщение: Физика: Задача про рычаг', 'Не понимаю, где ось.');
  assert.match(first.tag, /^thread-\d+$/);
  await notification(teacher, 'Новое сообщение: Физика: Задача про блок', 'Сколько тут блоков?');
  await teacher.waitForFunction((base) => document.title === `(2) ${base}`, BASE_TITLE, { timeout: 15000 });

  // Clicking the first opens its thread; read, the count drops to one.
  await hide(writer, true);
  await click(teacher, first.tag);
  await hide(teacher, false);
  const thread = teacher.locator('.inbox .chat');
  await thread.locator('.message >> text=Не понимаю, где ось.').waitFor();
  await teacher.waitForFunction((base) => document.title === `(1) ${base}`, BASE_TITLE, { timeout: 15000 });

  // The answer reaches the student whose tab is hidden.
  await thread.locator('.chat-text').fill('Ось проходит через точку опоры.');
  await thread.locator('.chat-send').click();
  const answered = await notification(writer, 'Учитель ответил на ваш вопрос');
  assert.match(answered.tag, /^thread-\d+$/);
  assert.equal(await writer.title(), `(1) ${BASE_TITLE}`, 'the answer is an unread thread for the student');
  await click(writer, answered.tag);
  await hide(writer, false);
  await writer.locator('.inbox .chat .message >> text=Ось проходит через точку опоры.').waitFor();
  await writer.waitForFunction((base) => document.title === base, BASE_TITLE, { timeout: 15000 });
  await shot(writer, 'notify-answered-student');

  // A student second in a queue, in a hidden tab, hears when their request reaches its head
  // (the one before them was accepted), when a teacher is offered it, and when one accepts it.
  const ahead = await loginAs(browser, server.url, 'student4', { permissions: ['notifications'], initScript: recordNotifications });
  const behind = await loginAs(browser, server.url, 'student5', { permissions: ['notifications'], initScript: recordNotifications });
  for (const [page, topic] of [[ahead, 'Причастный оборот'], [behind, 'Деепричастия']]) {
    await page.waitForSelector('.teacher-list .teacher');
    await page.selectOption('#ask-subject', 'russian');
    await page.fill('#ask-topic', topic);
    await page.click('#ask-submit');
    await page.waitForSelector('#queue-position');
  }
  await behind.waitForSelector('#queue-position[data-position="2"]');
  await hide(behind, true);
  const aheadOffer = otherTeacher.locator('.offer', { hasText: 'Ученик 4' });
  await aheadOffer.locator('.offer-accept').click();
  await otherTeacher.waitForSelector('.session button.leave');
  // The teacher in a consultation is busy on the lists loaded before it began: of the student
  // waiting in the teacher's queue and of one who only has the list open.
  const elenaShown = (page, who, status) => page.waitForSelector(`.teacher-list .teacher:has-text("Кузнецова") .status-${status}`, { timeout: 15000 })
    .catch((e) => { throw new Error(`${who}'s list does not show the teacher ${status}: ${e.message}`); });
  await elenaShown(behind, 'student5 (in her queue)', 'busy');
  await elenaShown(student, 'student1 (the list open)', 'busy');
  const head = await notification(behind, 'Вы первый в очереди', 'Русский язык');
  assert.match(head.tag, /^request-\d+$/);
  assert.equal(head.visibility, 'hidden');
  await behind.waitForSelector('#queue-position[data-position="1"]');
  // Clicking it brings the tab forward on the queue's place.
  await click(behind, head.tag);
  await hide(behind, false);
  await behind.locator('.queue-status', { hasText: 'Вы в очереди: место 1.' }).waitFor();
  await shot(behind, 'notify-first-in-queue-student');
  // The student with the list open loses the connection and resumes; the list still follows.
  const cut = Date.now();
  await student.cutConnection();
  for (let waited = 0; !student.socketLog.some((m) => m.type === 'welcome' && m.resumed && m.at > cut); waited += 100) {
    assert.ok(waited < 15000, `no resumed welcome: ${JSON.stringify(student.socketLog.slice(-5))}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // The teacher ends the session and takes the next request, the hidden student's.
  await hide(behind, true);
  await otherTeacher.click('.session button.leave');
  await otherTeacher.waitForSelector('.home.teacher');
  // The free teacher is offered the hidden student's request: the student hears it now.
  const offered = await notification(behind, 'Учитель сейчас примет ваш запрос');
  assert.equal(offered.tag, head.tag, 'the same request');
  await elenaShown(behind, 'student5 (in her queue)', 'available');
  await elenaShown(student, 'student1 (resumed)', 'available');
  await otherTeacher.locator('.offer', { hasText: 'Ученик 5' }).locator('.offer-accept').click();
  const turn = await notification(behind, 'Учитель принял ваш запрос');
  assert.match(turn.tag, /^session-\d+$/);
  assert.equal(turn.body, 'Елена Сергеевна Кузнецова');
  await hide(behind, false);
  await behind.waitForSelector('.session');

  // Nothing was shown while a tab was in front.
  for (const page of [teacher, student, writer, ahead, behind]) {
    for (const n of await made(page)) assert.equal(n.visibility, 'hidden', JSON.stringify(n));
  }
  for (const page of [teacher, otherTeacher, student, writer, secondWriter, ahead, behind]) assert.deepEqual(page.errors, []);
  console.log(`notify: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await browser.close();
  server.stop();
}
