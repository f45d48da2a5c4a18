// An attachment's upload shows its progress and can be cancelled or retried: a student on a slow
// link (Chromium's network throttling through CDP) attaches a 3 MB PDF to a deferred question,
// sees the labelled bar move, cancels it (the server keeps no file and no row), loses the
// network on the next try (the row fails with a retry button), retries once the link is back,
// and sends the message with the file; then the words in English.
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { artifacts, launchBrowser, loginAs, startServer } from './lib.mjs';

const started = Date.now();
const server = await startServer();
const browser = await launchBrowser();
const shot = (page, name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
const step = (what) => console.log(`upload: ${what}`);

// A 3 MB PDF: the server reads the type from the first bytes.
const PDF = Buffer.concat([Buffer.from('%PDF-1.4\n% homework scan\n'), Buffer.alloc(3 * 1024 * 1024, 0x20)]);
const file = { name: 'homework.pdf', mimeType: 'application/pdf', buffer: PDF };

/// Every file under `dir` (none when it does not exist).
function filesUnder(dir) {
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/// A counter of the server's Prometheus text, 0 when it has not been counted yet.
async function counter(line) {
  const text = await (await fetch(server.metricsUrl)).text();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found ? Number(found.split(' ').pop()) : 0;
}

/// The page's network, through the DevTools protocol: bytes a second up, or offline.
async function network(cdp, { offline = false, upload = -1 } = {}) {
  await cdp.send('Network.emulateNetworkConditions', {
    offline, latency: offline ? 0 : 20, downloadThroughput: -1, uploadThroughput: upload,
  });
}

/// The bar's value now.
const barValue = (page) => page.evaluate(() => document.querySelector('.uploads progress')?.value ?? null);

try {
  const student = await loginAs(browser, server.url, 'student3');
  const cdp = await student.context().newCDPSession(student);
  await cdp.send('Network.enable');

  step('a deferred question opens its thread with the composer');
  await student.selectOption('#ask-subject', 'math');
  await student.check('#ask-offline');
  await student.fill('#ask-topic', 'Проверьте домашнюю работу');
  await student.click('#ask-submit');
  const panel = student.locator('.inbox .chat');
  await panel.waitFor();
  const fileInput = panel.locator('input[type=file]:not([capture])');

  step('on a slow link the bar moves, labelled with the file name');
  await network(cdp, { upload: 192 * 1024 });
  await fileInput.setInputFiles(file);
  const bar = panel.getByRole('progressbar', { name: 'Загрузка файла homework.pdf' });
  await bar.waitFor();
  await student.waitForFunction(() => document.querySelector('.uploads progress')?.value >= 5, null, { polling: 100, timeout: 30000 });
  const first = await barValue(student);
  await student.waitForFunction((seen) => document.querySelector('.uploads progress')?.value > seen, first, { polling: 100, timeout: 30000 });
  const second = await barValue(student);
  assert.ok(second > first && second < 100, `the bar moved: ${first} → ${second}`);
  const shown = await student.evaluate(() => {
    const row = document.querySelector('.uploads .upload');
    return { value: row.querySelector('progress').value, text: row.querySelector('.upload-percent').textContent };
  });
  assert.equal(shown.text, `${shown.value}%`, 'the figure matches the bar');
  await shot(student, 'upload-progress');

  step('cancel: the row goes, the server keeps nothing');
  const refusedBefore = await counter('konsult_errors_total{code="bad_request"}');
  await panel.getByRole('button', { name: 'Отменить загрузку файла homework.pdf' }).click();
  await panel.locator('.upload').waitFor({ state: 'detached' });
  await student.locator('.upload-area [role=status]', { hasText: 'Загрузка файла homework.pdf отменена.' }).waitFor();
  // The server saw the body end early and refused it: only then is "nothing kept" a fact.
  for (const deadline = Date.now() + 30000; await counter('konsult_errors_total{code="bad_request"}') <= refusedBefore;) {
    assert.ok(Date.now() < deadline, 'the server never saw the cancelled upload end');
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.deepEqual(filesUnder(join(server.data, 'attachments')), [], 'no file, not even a temporary one');
  assert.equal(await counter('konsult_attachments_stored_total'), 0, 'no attachment recorded');
  assert.equal(await panel.locator('.attached').textContent(), '', 'nothing attached');

  step('the network drops: the row fails and offers a retry');
  await network(cdp, { offline: true });
  await fileInput.setInputFiles(file);
  const retry = panel.getByRole('button', { name: 'Повторить загрузку файла homework.pdf' });
  await retry.waitFor();
  assert.match(await panel.locator('.upload-error').textContent(), /Не удалось загрузить homework\.pdf: нет связи с сервером/);

  step('the link is back: the retry uploads the same file');
  await network(cdp, { upload: 1024 * 1024 });
  await retry.click();
  await panel.locator('.attached', { hasText: 'homework.pdf' }).waitFor({ timeout: 60000 });
  await panel.locator('.upload').waitFor({ state: 'detached' });
  assert.equal(await counter('konsult_attachments_stored_total'), 1);
  assert.equal(filesUnder(join(server.data, 'attachments')).length, 1);
  await network(cdp);
  await panel.locator('.chat-text').fill('Скан домашней работы');
  await panel.locator('.chat-send').click();
  const sent = panel.locator('.message.mine:not(.pending) .attachment button', { hasText: 'homework.pdf' });
  await sent.waitFor();
  assert.match(await sent.textContent(), /homework\.pdf \(3073 KB\)/);

  step('in English');
  await student.click('#lang');
  await student.waitForSelector('html[lang=en]');
  const panelEn = student.locator('.inbox .chat');
  if (!(await panelEn.count())) await student.locator('.inbox button.thread').first().click();
  await network(cdp, { offline: true });
  await panelEn.locator('input[type=file]:not([capture])').setInputFiles({ ...file, name: 'essay.pdf' });
  await panelEn.getByRole('button', { name: 'Retry the upload of essay.pdf' }).waitFor();
  assert.match(await panelEn.locator('.upload-error').textContent(), /Could not upload essay\.pdf: no connection to the server/);
  await panelEn.getByRole('button', { name: 'Remove essay.pdf' }).click();
  await panelEn.locator('.upload').waitFor({ state: 'detached' });
  await network(cdp);

  assert.deepEqual(student.errors.filter((e) => !/ERR_INTERNET_DISCONNECTED|Failed to load resource/.test(e)), []);
  console.log(`upload: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await browser.close();
  server.stop();
}
