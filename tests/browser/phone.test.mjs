// The student's main screens on a 360x740 phone: the teachers list and the ask form, a session
// with video and chat, and the threads. On each: nothing to scroll sideways, and every control
// (button, field, link) at least 40 px in both directions and labelled for screen readers.
// Screenshots go with the others.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { assertLabelled } from './admin-lib.mjs';
import { artifacts, launchBrowser, loginAs, startServer, waitForFrames } from './lib.mjs';

const started = Date.now();
const server = await startServer();
const browser = await launchBrowser();
const phone = { viewport: { width: 360, height: 740 } };
const shot = (page, name) => page.screenshot({ path: join(artifacts, `phone-${name}.png`), fullPage: true });

/// What breaks the phone layout on the page now: its width past the viewport, the elements
/// that stick out, and the visible controls smaller than 40 px.
async function phoneProblems(page) {
  return page.evaluate(() => {
    const width = window.innerWidth;
    const name = (e) => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}${e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\s+/).join('.') : ''} "${(e.textContent || e.getAttribute('aria-label') || '').trim().slice(0, 30)}"`;
    const visible = (e) => {
      const r = e.getBoundingClientRect();
      return r.width > 0 && r.height > 0 && r.right > 0 && r.bottom > 0 && getComputedStyle(e).visibility !== 'hidden';
    };
    const wide = [...document.querySelectorAll('body *')].filter(visible)
      .filter((e) => e.getBoundingClientRect().right > width + 0.5)
      .map((e) => `${name(e)} right ${Math.round(e.getBoundingClientRect().right)}`);
    const small = [...document.querySelectorAll('button, a[href], input:not([type=radio]):not([type=checkbox]):not(.sr-only), select, textarea, label.button, label.inline')]
      .filter(visible)
      .filter((e) => {
        const r = e.getBoundingClientRect();
        return r.height < 40 || r.width < 40;
      })
      .map((e) => `${name(e)} ${Math.round(e.getBoundingClientRect().width)}x${Math.round(e.getBoundingClientRect().height)}`);
    return { scroll: document.documentElement.scrollWidth, width, wide: wide.slice(0, 8), small };
  });
}

async function assertPhone(page, screen) {
  const p = await phoneProblems(page);
  assert.ok(p.scroll <= p.width, `${screen}: ${p.scroll}px wide in ${p.width}px: ${p.wide.join('; ')}`);
  assert.deepEqual(p.small, [], `${screen}: controls under 40 px`);
  await assertLabelled(page);
  await shot(page, screen);
}

try {
  const teacher = await loginAs(browser, server.url, 'teacher1');
  await teacher.click('#availability');
  await teacher.waitForSelector('#availability[aria-checked=true]');
  const student = await loginAs(browser, server.url, 'student1', phone);

  // The teachers list and the ask form.
  await student.waitForSelector('.teacher-list .teacher .status-available');
  await assertPhone(student, 'home');

  // The threads: an offline question becomes one, opened with its messages and composer.
  await student.selectOption('#ask-subject', 'math');
  await student.check('#ask-offline');
  await student.fill('#ask-topic', 'Проверьте, пожалуйста, домашнее задание №12');
  await student.click('#ask-submit');
  await student.waitForSelector('.home .chat .chat-text');
  await student.fill('.home .chat .chat-text', 'Фото решения пришлю сюда.');
  await student.click('.home .chat .chat-send');
  await student.waitForSelector('.home .message.mine:not(.pending)');
  await assertPhone(student, 'thread');

  // A session with video and chat.
  await student.check('#ask-online');
  await student.fill('#ask-topic', 'Разберём задачу по видео');
  await student.click('#ask-submit');
  await teacher.click('.offer .offer-accept');
  await student.waitForSelector('.session');
  await waitForFrames(student);
  await teacher.fill('.session .chat-text', 'Покажите условие задачи.');
  await teacher.click('.session .chat-send');
  await student.waitForSelector('.session .message:not(.pending) >> text=Покажите условие');
  await assertPhone(student, 'session');

  for (const page of [teacher, student]) assert.deepEqual(page.errors, []);
  console.log(`phone: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await browser.close();
  server.stop();
}
