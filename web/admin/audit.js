//! The audit log: every action of the administration, newest first, a page at a time, read-only.

import { h } from '../dom.js';
import { hasString, t } from '../i18n.js';
import { formatDateTime } from '../locale.js';
import { api, failure } from './api.js';
import { $, labelCells, say } from './page.js';

const AUDIT_PAGE = 100;

/// The oldest entry shown, where the next page begins.
let before = null;

/// An entry's details as `key: value` lines, nested keys joined with dots, empty values left out.
function detailLines(value, prefix = '') {
  if (value === null || value === undefined || value === '') return [];
  if (typeof value !== 'object' || Array.isArray(value)) {
    const text = Array.isArray(value) ? value.join(', ') : String(value);
    return [prefix ? `${prefix}: ${text}` : text];
  }
  return Object.entries(value).flatMap(([key, inner]) => detailLines(inner, prefix ? `${prefix}.${key}` : key));
}

function auditRow(entry) {
  const details = detailLines(entry.details).join('\n');
  const action = `admin.action.${entry.action}`;
  return h('tr', { 'data-action': entry.action },
    h('td', {}, h('time', { datetime: new Date(entry.ts).toISOString() }, formatDateTime(entry.ts))),
    h('td', {}, entry.actor_login ?? t('admin.none')),
    h('td', {}, hasString(action) ? t(action) : '', ' ', h('code', {}, entry.action)),
    h('td', {}, entry.target ?? ''),
    h('td', {}, details ? h('code', { class: 'details' }, details) : ''));
}

/// Draws the newest page of entries, or with `more` adds the page after those shown.
export async function render(more = false) {
  const query = new URLSearchParams({ limit: AUDIT_PAGE });
  if (more && before) query.set('before', before);
  const { entries } = await api('GET', `/api/admin/audit?${query}`);
  const body = $('#audit-table tbody');
  const rows = entries.map(auditRow);
  if (more) body.append(...rows);
  else body.replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { colspan: 5 }, t('admin.no_entries')))]));
  labelCells($('#audit-table'));
  before = entries.length ? entries[entries.length - 1].id : null;
  $('#audit-more').hidden = entries.length < AUDIT_PAGE;
}

export function wire() {
  $('#audit-more').addEventListener('click', () => render(true).catch((e) => say(failure(e))));
}
