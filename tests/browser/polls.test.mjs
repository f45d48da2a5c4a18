// A poll in a group lesson: the teacher, on a desktop screen, asks a single-choice question;
// three students on phones answer with the buttons (one changes its answer); the teacher's page
// counts them live, with who answered what; the teacher closes the poll showing the results,
// and each student's page shows them. The teacher also makes a student a co-host from the
// roster and takes it back.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, launchBrowser, loginAs, startServer } from './lib.mjs';

const started = Date.now();
const server = await startServer();
const browser = await launchBrowser();
const shot = (page, name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
const desktop = { viewport: { width: 1280, height: 800 } };
const phone = { viewport: { width: 360, height: 740 } };

/// The counts the page shows, option by option.
async function shownCounts(page, scope) {
  return page.locator(`${scope} .poll-count .poll-number`).allTextContents();
}

try {
  const teacher = await loginAs(browser, server.url, 'teacher1', desktop);
  const students = [];
  for (const n of [1, 2, 3]) students.push(await loginAs(browser, server.url, `student${n}`, phone));

  await teacher.selectOption('#create-form', 'group');
  await teacher.selectOption('#create-subject', 'math');
  await teacher.fill('#create-title', 'Уравнения');
  await teacher.selectOption('#create-class', '9A');
  await teacher.fill('#create-search', 'ученик 1');
  for (const name of ['Ученик 1']) {
    const box = teacher.getByRole('checkbox', { name: `${name} 9A`, exact: true });
    await box.check();
  }
  for (const name of ['Ученик 2', 'Ученик 3']) {
    await teacher.fill('#create-search', name);
    await teacher.getByRole('checkbox', { name: `${name} 9A`, exact: true }).check();
  }
  await teacher.waitForSelector('.chosen-count:has-text("Выбрано: 3")');
  await teacher.click('#create-submit');
  await teacher.waitForSelector('.session');
  for (const student of students) {
    await student.click('.invites button[data-session]');
    await student.waitForSelector('.session');
  }
  await teacher.waitForFunction(() => document.querySelectorAll('.roster .member').length === 4);
  // Students have no poll button.
  assert.equal(await students[0].locator('.poll-new').count(), 0, 'a student cannot ask a poll');

  // A co-host from the roster, and back.
  const second = teacher.locator('.roster .member', { hasText: 'Ученик 2' });
  await second.locator('button.cohost').click();
  await students[1].waitForSelector('.roster .member .badges:has-text("соведущий")');
  await students[1].waitForSelector('.roster .member .moderation');
  await teacher.locator('.roster .member', { hasText: 'Ученик 2' }).locator('button.cohost').click();
  await students[1].waitForFunction(() => !document.querySelector('.roster .member .moderation'));

  // The teacher asks.
  await teacher.click('.poll-new');
  await teacher.fill('#poll-question', 'Сколько корней у x² = 4?');
  await teacher.fill('#poll-option-0', 'Один');
  await teacher.fill('#poll-option-1', 'Два');
  await teacher.click('.poll-add-option');
  await teacher.fill('#poll-option-2', 'Ни одного');
  await teacher.click('.poll-ask');
  await teacher.waitForSelector('.poll.open .poll-live');

  for (const student of students) {
    await student.waitForSelector('.poll.open .poll-question:has-text("Сколько корней у x² = 4?")');
    const box = await student.locator('.poll.open .poll-choice').first().boundingBox();
    assert.ok(box.height >= 40, `a choice is ${box.height} px tall on a phone`);
  }
  await students[0].getByRole('button', { name: 'Один', exact: true }).click();
  await students[1].getByRole('button', { name: 'Два', exact: true }).click();
  await students[2].getByRole('button', { name: 'Два', exact: true }).click();
  await students[0].waitForSelector('.poll-choice.chosen:has-text("Один")');
  // The first student changes its mind.
  await students[0].getByRole('button', { name: 'Два', exact: true }).click();
  await students[0].waitForSelector('.poll-choice.chosen:has-text("Два")');

  await teacher.waitForFunction(() => [...document.querySelectorAll('.poll.open .poll-count .poll-number')]
    .map((n) => n.textContent).join() === '0,3,0');
  assert.deepEqual(await shownCounts(teacher, '.poll.open'), ['0', '3', '0']);
  await teacher.waitForSelector('.poll.open .poll-voters:has-text("3")');
  const who = await teacher.locator('.poll.open .poll-count[data-choice="1"] .poll-who').textContent();
  for (const name of ['Ученик 1', 'Ученик 2', 'Ученик 3']) assert.ok(who.includes(name), `${name} in "${who}"`);
  for (const student of students) assert.equal(await student.locator('.poll-live').count(), 0, 'students see no live counts');
  await shot(teacher, 'polls-teacher');

  // Closed with the results shown to everyone.
  assert.equal(await teacher.isChecked('.poll-publish'), true);
  await teacher.click('.poll-close');
  for (const student of students) {
    await student.waitForSelector('.poll.closed .poll-counts');
    assert.deepEqual(await shownCounts(student, '.poll.closed'), ['0', '3', '0']);
  }
  await shot(students[2], 'polls-student');
  // The thread keeps the result.
  await students[0].waitForSelector('.session .messages:has-text("Сколько корней у x² = 4?")');
  await students[0].waitForSelector('.session .messages:has-text("Два: 3")');

  for (const page of [teacher, ...students]) assert.deepEqual(page.errors, []);
  console.log(`polls: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await browser.close();
  server.stop();
}
