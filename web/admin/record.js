//! The consultation record (item 13 of the regulation): the filters, a row per consultation
//! (a confidential one without its subject, topic and people), and its export as CSV.

import { h } from '../dom.js';
import { subjectName, t } from '../i18n.js';
import { formatDateTime } from '../locale.js';
import { api, failure } from './api.js';
import { $, download, draw, filterQuery, labelCells, rangeName, say } from './page.js';

/// Rows drawn at most: a whole year of a big school belongs in the CSV file, not in a table.
const RECORD_SHOWN = 500;

/// A moment the server gives with the school's offset, in the school's zone and the page's words.
function when(iso) {
  return iso ? h('time', { datetime: iso }, formatDateTime(iso)) : t('admin.none');
}

function span(secs) {
  if (secs === null || secs === undefined) return t('admin.none');
  return secs >= 60 ? t('admin.minutes', { n: Math.round(secs / 60) }) : t('admin.seconds', { n: secs });
}

export async function render() {
  const query = filterQuery($('#record-filters'));
  const { consultations } = await api('GET', `/api/consultations?${query}`);
  const count = t('admin.record_count', { n: consultations.length });
  $('#record-count').textContent = consultations.length > RECORD_SHOWN
    ? `${count} ${t('admin.record_first', { n: RECORD_SHOWN })}`
    : count;
  $('#record-table tbody').replaceChildren(...consultations.slice(0, RECORD_SHOWN).map((c) => {
    // A node can stand in one cell only: each hidden cell gets its own.
    const hidden = () => (c.confidential ? h('em', {}, t('admin.confidential')) : null);
    return h('tr', { 'data-id': c.id, 'data-outcome': c.outcome },
      h('td', { class: 'nowrap' }, when(c.started_at ?? c.requested_at)),
      h('td', {}, `${t(`admin.form.${c.form}`)}, ${t(`admin.mode.${c.mode}`)}`),
      h('td', {}, hidden() ?? subjectName(c.subject)),
      h('td', {}, hidden() ?? c.topic ?? ''),
      h('td', {}, hidden() ?? c.staff ?? t('admin.none')),
      h('td', {}, hidden() ?? c.students.join(', ')),
      h('td', {}, span(c.wait_secs)),
      h('td', {}, span(c.duration_secs)),
      h('td', {}, t(`admin.outcome.${c.outcome}`)));
  }));
  labelCells($('#record-table'));
}

async function exportRecord() {
  const form = $('#record-filters');
  try {
    const blob = await api('GET', `/api/consultations?${filterQuery(form)}`, undefined, { accept: 'text/csv' });
    download(blob, `konsult-consultations-${rangeName(form)}.csv`);
    say(t('admin.exported'));
  } catch (e) {
    say(failure(e));
  }
}

export function wire() {
  $('#record-filters').addEventListener('submit', (e) => { e.preventDefault(); draw(render); });
  $('#record-csv').addEventListener('click', exportRecord);
}
