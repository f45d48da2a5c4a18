//! The summary report: consultations counted by form, by teacher and by month for a span of
//! dates, with its four charts (admin/charts.js), printable, and saved as the server's CSV of
//! the same numbers.

import { h } from '../dom.js';
import { currentLang, t } from '../i18n.js';
import { api } from './api.js';
import { drawCharts } from './charts.js';
import { $, download, draw, filterQuery, rangeName } from './page.js';

const TALLY_COLUMNS = ['admin.tally_total', 'admin.col_held', 'admin.col_deferred', 'admin.col_cancelled', 'admin.col_in_progress', 'admin.minutes_col'];
const TALLY_KINDS = [['by_form', 'admin.by_form'], ['by_teacher', 'admin.by_teacher'], ['by_month', 'admin.by_month']];

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
    h('div', { class: 'table-wrap', role: 'region', tabindex: 0, 'aria-label': title }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, title), TALLY_COLUMNS.map((c) => h('th', { scope: 'col' }, t(c))))),
      h('tbody', {}, tallies.map((row) => h('tr', {},
        h('th', { scope: 'row' }, tallyKey(kind, row.key)),
        tallyCounts(row).map((n) => h('td', {}, n))))))));
}

export async function render() {
  const summary = await api('GET', `/api/consultations/summary?${filterQuery($('#summary-filters'))}`);
  $('#summary-total').textContent = t('admin.total', summary.total);
  drawCharts($('#summary-charts'), summary.charts);
  $('#summary-tables').replaceChildren(...TALLY_KINDS.map(([kind, title]) => tallyTable(kind, t(title), summary[kind])));
}

/// The report as the server writes it (the same computation as the screen's): a section per
/// table and per chart, in the language of the screen.
async function downloadSummary() {
  const query = filterQuery($('#summary-filters'));
  query.set('lang', currentLang());
  const file = await api('GET', `/api/consultations/summary?${query}`, undefined, { accept: 'text/csv' });
  download(file, `konsult-report-${rangeName($('#summary-filters'))}.csv`);
}

export function wire() {
  $('#summary-filters').addEventListener('submit', (e) => { e.preventDefault(); draw(render); });
  $('#summary-csv').addEventListener('click', () => draw(downloadSummary));
  $('#summary-print').addEventListener('click', () => window.print());
}
