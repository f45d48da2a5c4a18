//! Importing accounts from the school's electronic journal (CSV) on the users screen: a
//! preview with every error by line that writes nothing, then the import with its progress
//! (import-progress.js) and summary, whose generated passwords are shown once and can be saved
//! as a file.

import { h } from '../dom.js';
import { subjectName, t } from '../i18n.js';
import { api, failure } from './api.js';
import { loadDirectories, roleName } from './directories.js';
import { importWithProgress, showSummary } from './import-progress.js';
import { $, csvFile, download, say } from './page.js';
import { render as renderUsers } from './users.js';

const pending = {
  /// The checked file's text, while it may be imported.
  text: null,
  /// The passwords of the last import, for the file.
  passwords: [],
};

/// Reads the chosen file as text: UTF-8, or Windows-1251 as older journals export it.
async function readCsv(file) {
  const bytes = await file.arrayBuffer();
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), legacy: false };
  } catch {
    return { text: new TextDecoder('windows-1251').decode(bytes), legacy: true };
  }
}

async function check(event) {
  event.preventDefault();
  const file = $('#import-file').files[0];
  if (!file) return;
  $('#import-done').hidden = true;
  const { text, legacy } = await readCsv(file);
  if (!text.trim()) {
    say(t('admin.empty_file'));
    return;
  }
  let answer;
  try {
    answer = await api('POST', '/api/admin/users/import?dry_run=true', text);
  } catch (e) {
    say(failure(e));
    return;
  }
  pending.text = answer.ok ? text : null;
  const summary = answer.ok
    ? t('admin.preview_ok', { n: answer.rows.length })
    : t('admin.preview_bad', { e: answer.errors.length });
  $('#import-summary').textContent = legacy ? `${t('admin.not_utf8')} ${summary}` : summary;
  $('#import-summary').className = answer.ok ? 'ok' : 'error';
  $('#import-rows caption').textContent = answer.ok ? t('admin.will_be_created') : t('admin.good_lines');
  $('#import-errors').replaceChildren(...answer.errors.map((e) =>
    h('li', { 'data-line': e.line }, t('admin.line_error', { line: e.line, message: e.message }))));
  $('#import-rows tbody').replaceChildren(...answer.rows.map((r) => h('tr', {},
    h('td', {}, r.line), h('td', {}, h('code', {}, r.login)), h('td', {}, r.name),
    h('td', {}, roleName(r.role)), h('td', {}, r.class ?? ''),
    h('td', {}, r.subjects.map(subjectName).join(', ')))));
  $('#import-confirm').disabled = !answer.ok;
  $('#import-preview').hidden = false;
  $('#import-summary').focus();
}

async function importChecked() {
  if (!pending.text) return;
  const text = pending.text;
  pending.text = null;
  $('#import-preview').hidden = true;
  try {
    const answer = await importWithProgress(text);
    pending.passwords = answer.passwords ?? [];
    $('#import-form').reset();
    const result = showSummary(answer);
    $('#import-done-text').textContent = result;
    $('#import-done-text').className = answer.ok ? 'ok' : 'error';
    $('#import-passwords tbody').replaceChildren(...pending.passwords.map((p) =>
      h('tr', {}, h('td', {}, h('code', {}, p.login)), h('td', {}, h('code', {}, p.password)))));
    const none = pending.passwords.length === 0;
    $('#import-passwords').hidden = none;
    $('#import-passwords').closest('.table-wrap').hidden = none;
    $('#import-done [data-i18n="admin.passwords_once"]').hidden = none;
    $('#import-download').hidden = none;
    $('#import-done').hidden = false;
    say(result);
    if (answer.ok) {
      await loadDirectories();
      await renderUsers();
    }
    ($('#import-download').hidden ? $('#import-close') : $('#import-download')).focus();
  } catch (e) {
    // The import did not finish: the checked file may be imported again.
    pending.text = text;
    $('#import-preview').hidden = false;
    say(failure(e));
  }
}

function cancelImport() {
  pending.text = null;
  $('#import-preview').hidden = true;
  $('#import-form').reset();
  $('#import-file').focus();
}

function closeDone() {
  pending.passwords = [];
  $('#import-passwords tbody').replaceChildren();
  $('#import-done').hidden = true;
  $('#import-file').focus();
}

function downloadPasswords() {
  const lines = [['login', 'password'], ...pending.passwords.map((p) => [p.login, p.password])];
  download(csvFile(lines), 'konsult-passwords.csv');
}

export function wire() {
  $('#import-form').addEventListener('submit', check);
  $('#import-confirm').addEventListener('click', importChecked);
  $('#import-cancel').addEventListener('click', cancelImport);
  $('#import-download').addEventListener('click', downloadPasswords);
  $('#import-close').addEventListener('click', closeDone);
  $('#import-summary').tabIndex = -1;
}
