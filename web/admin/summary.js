//! The summary report: consultations counted by form, by teacher and by month for a span of
//! dates, printable and saved as CSV the way the screen shows it.

import { h } from '../dom.js';
import { t } from '../i18n.js';
import { api } from './api.js';
import { $, csvFile, download, draw, filterQuery, rangeName } from './page.js';

const TALLY_COLUMNS = ['admin.tally_total', 'admin.col_held', 'admin.col_deferred', 'admin.col_cancelled', 'admin.col_in_progress', 'admin.minutes_col'];
const TALLY_KINDS = [['by_form', 'admin.by_form'], ['by_teacher', 'admin.by_teacher'], ['by_month', 'admin.by_month']];

/// The report last drawn, for its file.
let shown = null;

function tallyKey(kind, key) {
  if (kind === 'by_form') {
    const [form, mode] = key.split(' ');
    return `${t(`admin.form.${form}`)}, ${t(`admin.mode.${mode}`)}`;
  }
  if (kind === 'by_teacher' && key === 'support (confidential)') return t('admin.support_confidential');
  return key === '-' ? t('admin.none') : key;
}

function tallyCounts(row) {
  return [row.total, row.held, row.deferred, row.cancelled, row.in_progress, row.minutes];
}

function tallyTable(kind, title, tallies) {
  return h('section', { class: 'tally', 'data-kind': kind },
    h('h2', {}, title),
    h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, title), TALLY_COLUMNS.map((c) => h('th', { scope: 'col' }, t(c))))),
      h('tbody', {}, tallies.map((row) => h('tr', {},
        h('th', { scope: 'row' }, tallyKey(kind, row.key)),
        tallyCounts(row).map((n) => h('td', {}, n))))))));
}

export async function render() {
  const summary = await api('GET', `/api/consultations/summary?${filterQuery($('#summary-filters'))}`);
  shown = summary;
  $('#summary-total').textContent = t('admin.total', summary.total);
  $('#summary-tables').replaceChildren(...TALLY_KINDS.map(([kind, title]) => tallyTable(kind, t(title), summary[kind])));
}

/// The report as the screen shows it, one CSV line per row of its three tables.
function downloadSummary() {
  if (!shown) return;
  const lines = [[t('admin.section'), '', ...TALLY_COLUMNS.map((c) => t(c))]];
  for (const [kind, title] of TALLY_KINDS) {
    for (const row of shown[kind]) lines.push([t(title), tallyKey(kind, row.key), ...tallyCounts(row)]);
  }
  download(csvFile(lines, { bom: true }), `konsult-report-${rangeName($('#summary-filters'))}.csv`);
}

export function wire() {
  $('#summary-filters').addEventListener('submit', (e) => { e.preventDefault(); draw(render); });
  $('#summary-csv').addEventListener('click', downloadSummary);
  $('#summary-print').addEventListener('click', () => window.print());
}
