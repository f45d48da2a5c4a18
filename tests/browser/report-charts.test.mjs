// The report's four charts, tried as a deputy head would in headless Chromium against the real
// binary: consultations are made over real WebSockets (two held online, two offline questions
// of which one is answered), the admin opens the report, and each chart is drawn (its canvas
// painted in its series' colours) with the numbers the API gave; the same on a 360 px phone,
// in English, and printed on A4. Screenshots and the PDF go to the artifacts folder.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { artifacts, launchBrowser, startServer } from './lib.mjs';
import { assertFits, call, holdConsultation, token, watchErrors } from './admin-lib.mjs';

const server = await startServer();
const browser = await launchBrowser();
const shot = (page, name) => page.screenshot({ path: join(artifacts, `report-charts-${name}.png`), fullPage: true });
const step = (what) => console.log(`report-charts: ${what}`);
const KINDS = ['weekly_by_form', 'wait_by_subject', 'load_by_teacher', 'offline_answered'];

/// Two offline questions from students, deferred to threads; `answerer` answers the first.
async function askOffline(page, { askers, answerer }) {
  return page.evaluate(async ({ askers, answerer }) => {
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
          if (i >= 0) { clearTimeout(timer); done(inbox.splice(i, 1)[0]); }
        };
        wake = look;
        look();
      });
      const request = async (message) => {
        rid += 1;
        ws.send(JSON.stringify({ ...message, rid: `r${rid}` }));
        const reply = await next((m) => m.re === `r${rid}`, `reply to ${message.type}`);
        if (reply.type === 'error') throw new Error(`${message.type}: ${reply.code} ${reply.message}`);
        return reply;
      };
      ws.onopen = async () => {
        ws.send(JSON.stringify({ type: 'hello', v: 1, token: tokenValue }));
        try { await next((m) => m.type === 'welcome', 'welcome'); resolve({ ws, next, request }); } catch (e) { reject(e); }
      };
    });
    const threads = [];
    for (const { token, subject } of askers) {
      const student = await connect(token);
      await student.request({ type: 'request_help', subject, form: 'individual', mode: 'offline', topic: 'Задача' });
      threads.push((await student.next((m) => m.type === 'request_deferred', 'request_deferred')).thread);
      student.ws.close();
    }
    const teacher = await connect(answerer);
    await teacher.request({ type: 'send', thread: threads[0], client_id: 'answer-1', text: 'Смотри: I = U / R' });
    teacher.ws.close();
    return threads;
  }, { askers, answerer });
}

/// What each chart shows: its number table's cells, and how many pixels of each series'
/// colour its canvas has.
async function drawn(page) {
  return page.evaluate((kinds) => kinds.map((kind) => {
    const figure = document.querySelector(`.chart[data-chart="${kind}"]`);
    const rows = [...figure.querySelectorAll('table tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent));
    const canvas = figure.querySelector('canvas');
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    const colours = [...figure.querySelectorAll('.swatch')].map((s) => s.dataset.colour);
    const painted = colours.map((hex) => {
      const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
      let count = 0;
      for (let i = 0; i < pixels.length; i += 4) {
        if (Math.abs(pixels[i] - r) < 8 && Math.abs(pixels[i + 1] - g) < 8 && Math.abs(pixels[i + 2] - b) < 8) count += 1;
      }
      return count;
    });
    return { kind, rows, painted, width: canvas.getBoundingClientRect().width, caption: figure.querySelector('figcaption').textContent };
  }), KINDS);
}

/// The tables of the charts as the API's series say they must read.
function expectedRows(charts, subjects) {
  const w = charts.weekly_by_form;
  return {
    weekly_by_form: w.weeks.map((week, i) => [week, ...w.series.map((s) => String(s.counts[i]))]),
    wait_by_subject: charts.wait_by_subject.map((s) => [subjects[s.subject], s.requests, s.median_secs, s.p90_secs].map(String)),
    load_by_teacher: charts.load_by_teacher.map((l) => [l.teacher, l.consultations, l.held, l.minutes].map(String)),
    offline_answered: charts.offline_answered.map((o) => [o.week, o.asked, o.within_day, o.later, o.unanswered, o.within_day_percent].map(String)),
  };
}

async function openReport(context) {
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto(`${server.url}/admin`);
  await page.locator('#login-form').getByLabel(/Логин|Login/).fill('admin');
  await page.locator('#login-form').getByLabel(/Пароль|Password/).fill('demo');
  await page.locator('#login-form button[type=submit]').click();
  await page.locator('#users-table tbody tr').first().waitFor();
  await page.locator('#nav a[data-view="summary"]').click();
  for (const kind of KINDS) await page.locator(`.chart[data-chart="${kind}"] canvas`).waitFor();
  return { page, errors };
}

try {
  step('consultations: two held online, two offline questions, one answered');
  const seed = await browser.newPage();
  await seed.goto(`${server.url}/help`);
  const teacher3 = await token(server.url, 'teacher3');
  for (const student of ['student9', 'student12']) {
    await holdConsultation(seed, { teacherToken: teacher3, studentToken: await token(server.url, student), subject: 'russian', topic: 'Причастия' });
  }
  await askOffline(seed, {
    askers: [{ token: await token(server.url, 'student10'), subject: 'physics' }, { token: await token(server.url, 'student11'), subject: 'math' }],
    answerer: await token(server.url, 'teacher1'),
  });
  await seed.close();

  const admin = await token(server.url, 'admin');
  let summary;
  for (let tries = 0; ; tries += 1) {
    summary = (await call(server.url, 'GET', '/api/consultations/summary', admin)).body;
    if (summary.total.total === 4 && summary.total.in_progress === 0) break;
    assert.ok(tries < 100, `the record has the four consultations: ${JSON.stringify(summary.total)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const { charts } = summary;
  assert.deepEqual(charts.offline_answered.map((o) => [o.asked, o.within_day, o.unanswered]), [[2, 1, 1]]);

  step('the report on a desktop: four charts, drawn with the API\'s numbers');
  const desktop = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const { page, errors } = await openReport(desktop);
  const shown = await drawn(page);
  const subjects = Object.fromEntries((await call(server.url, 'GET', '/api/admin/subjects', admin)).body.subjects.map((s) => [s.code, s.name]));
  const expected = expectedRows(charts, subjects);
  // Series in the order of each chart's legend: which have a value above zero.
  const some = (values) => values.some((v) => v > 0);
  const nonZero = {
    weekly_by_form: charts.weekly_by_form.series.map((s) => some(s.counts)),
    wait_by_subject: [some(charts.wait_by_subject.map((w) => w.median_secs)), some(charts.wait_by_subject.map((w) => w.p90_secs))],
    load_by_teacher: [some(charts.load_by_teacher.map((l) => l.consultations)), some(charts.load_by_teacher.map((l) => l.held))],
    offline_answered: ['within_day', 'later', 'unanswered'].map((k) => some(charts.offline_answered.map((o) => o[k]))),
  };
  assert.deepEqual(nonZero.offline_answered, [true, false, true]);
  for (const chart of shown) {
    assert.deepEqual(chart.rows, expected[chart.kind], `${chart.kind} shows the API's numbers`);
    assert.deepEqual(chart.painted.map((n) => n > 0), nonZero[chart.kind],
      `${chart.kind}: a series is painted when it has a value above zero: ${JSON.stringify(chart.painted)}`);
  }
  assert.deepEqual(shown.map((c) => c.caption), [
    'Консультации по неделям и формам', 'Время ожидания по предметам: медиана и 90-й процентиль',
    'Нагрузка по учителям', 'Офлайн-вопросы: ответ в течение суток',
  ]);
  await shot(page, 'desktop');

  step('printed on A4: every chart within the page\'s width, none split');
  await page.emulateMedia({ media: 'print' });
  await page.evaluate(() => window.dispatchEvent(new Event('beforeprint')));
  const printed = await drawn(page);
  for (const chart of printed) assert.ok(chart.width <= 645, `${chart.kind} is ${chart.width}px wide in print`);
  writeFileSync(join(artifacts, 'report-charts-a4.pdf'), await page.pdf({ format: 'A4', printBackground: true }));
  await shot(page, 'print');
  await page.evaluate(() => window.dispatchEvent(new Event('afterprint')));
  await page.emulateMedia({ media: 'screen' });

  step('in English');
  await page.locator('#lang').click();
  await page.locator('.chart figcaption', { hasText: 'Consultations per week by form' }).waitFor();
  const english = await drawn(page);
  assert.deepEqual(english.map((c) => c.caption), [
    'Consultations per week by form', 'Waiting time by subject: median and 90th percentile',
    'Load per teacher', 'Offline questions answered within a day',
  ]);
  await shot(page, 'english');
  assert.deepEqual(errors, [], 'no errors (CSP refusals among them) on the desktop');

  step('on a 360 px phone: the charts fit the screen');
  const phone = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const mobile = await openReport(phone);
  await assertFits(mobile.page);
  for (const chart of await drawn(mobile.page)) {
    assert.ok(chart.width <= 340, `${chart.kind} is ${chart.width}px wide on a phone`);
    assert.deepEqual(chart.rows.length, expected[chart.kind].length);
  }
  await shot(mobile.page, 'phone');
  assert.deepEqual(mobile.errors, [], 'no errors on the phone');
  step('ok');
} finally {
  await browser.close();
  server.stop();
}
