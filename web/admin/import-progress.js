//! The import of a checked CSV file as it goes (`POST /api/admin/users/import?progress=true`,
//! one JSON line at a time): a <progress> bar with "n of m accounts" while the server makes
//! the accounts ready, then the summary the server ends with: accounts created, lines skipped,
//! errors by line. Its elements are made here and placed in the import card.

import { h, replace } from '../dom.js';
import { addStrings, t } from '../i18n.js';
import { apiLines } from './api.js';
import { $ } from './page.js';

addStrings({
  ru: {
    'admin.import_running': 'Идёт импорт: готовим учётные записи',
    'admin.import_count': '{done} из {total}',
    'admin.import_created': 'Создано учётных записей: {n}',
    'admin.import_skipped': 'Пропущено пустых строк: {n}',
    'admin.import_errors': 'Строк с ошибками: {n}',
    'admin.import_nothing': 'Ничего не импортировано: {message}',
    'admin.import_fix_lines': 'Ничего не импортировано: исправьте строки с ошибками и попробуйте снова.',
  },
  en: {
    'admin.import_running': 'Importing: preparing the accounts',
    'admin.import_count': '{done} of {total}',
    'admin.import_created': 'Accounts created: {n}',
    'admin.import_skipped': 'Blank lines skipped: {n}',
    'admin.import_errors': 'Lines with errors: {n}',
    'admin.import_nothing': 'Nothing was imported: {message}',
    'admin.import_fix_lines': 'Nothing was imported: fix the lines with errors and try again.',
  },
});

/// The bar, made on first use and kept before the import's result.
function panel() {
  let box = $('#import-progress');
  if (box) return box;
  box = h('div', { id: 'import-progress', hidden: true },
    h('label', { for: 'import-bar', id: 'import-bar-label' }),
    h('progress', { id: 'import-bar', max: 1, value: 0 }),
    h('span', { id: 'import-count', 'aria-hidden': 'true' }));
  $('#import-done').before(box);
  return box;
}

function showProgress(done, total) {
  const bar = $('#import-bar');
  bar.max = Math.max(total, 1);
  bar.value = done;
  bar.setAttribute('aria-valuetext', t('admin.import_count', { done, total }));
  $('#import-count').textContent = t('admin.import_count', { done, total });
}

/// Imports the checked `text`, showing the progress; resolves with the server's summary
/// `{ok, created, skipped, errors, passwords, code?, message?}`.
export async function importWithProgress(text) {
  const box = panel();
  $('#import-bar-label').textContent = t('admin.import_running');
  showProgress(0, 0);
  box.hidden = false;
  let summary = null;
  try {
    await apiLines('POST', '/api/admin/users/import?progress=true', text, (line) => {
      if ('done' in line) showProgress(line.done, line.total);
      else summary = line;
    });
  } finally {
    box.hidden = true;
  }
  if (!summary) throw new Error(t('admin.network'));
  return summary;
}

/// The summary's figures and every error by line, drawn after the result's first line.
export function showSummary(summary) {
  let list = $('#import-result');
  if (!list) {
    list = h('ul', { id: 'import-result' });
    $('#import-done-text').after(list);
  }
  const errors = summary.errors ?? [];
  replace(list,
    h('li', { 'data-figure': 'created' }, t('admin.import_created', { n: summary.created })),
    h('li', { 'data-figure': 'skipped' }, t('admin.import_skipped', { n: summary.skipped ?? 0 })),
    h('li', { 'data-figure': 'errors' }, t('admin.import_errors', { n: errors.length }),
      errors.length ? h('ul', { class: 'errors' }, errors.map((e) =>
        h('li', { 'data-line': e.line }, t('admin.line_error', { line: e.line, message: e.message })))) : null));
  if (summary.ok) return t('admin.imported', { n: summary.created });
  return errors.length ? t('admin.import_fix_lines') : t('admin.import_nothing', { message: summary.message ?? '' });
}
