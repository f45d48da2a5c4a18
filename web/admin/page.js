//! What the admin screens share on the page: finding elements, the status line, drawing a
//! screen with its failure said, tables drawn as cards on a phone, filter forms, and files the
//! browser saves.

import { h } from '../dom.js';
import { ApiFailure, failure } from './api.js';

export const $ = (selector) => document.querySelector(selector);

/// Puts `text` on the status line, which screen readers announce.
export function say(text) {
  const status = $('#status');
  status.textContent = '';
  // A fresh text node makes screen readers announce a repeated message too.
  requestAnimationFrame(() => { status.textContent = text; });
}

/// Runs a screen's drawing; a call that failed is said on the status line.
export async function draw(render) {
  try {
    await render();
  } catch (e) {
    // A 401 has already led back to the sign-in form, which says why.
    if (e instanceof ApiFailure) {
      if (e.status !== 401) say(failure(e));
    } else {
      throw e;
    }
  }
}

/// Gives each body cell of a table its column's name, which a phone shows beside the value
/// when the rows are drawn as cards.
export function labelCells(table) {
  const names = [...table.querySelectorAll('thead th')].map((th) => th.textContent);
  for (const row of table.tBodies[0].rows) {
    [...row.cells].forEach((cell, i) => cell.setAttribute('data-label', names[i] ?? ''));
  }
}

/// A filter form as a query string: every named field that is filled in.
export function filterQuery(form) {
  const query = new URLSearchParams();
  for (const field of form.elements) {
    if (field.name && field.value.trim()) query.set(field.name, field.value.trim());
  }
  return query;
}

/// The dates of a filter form for a file's name: `2026-09-01_2026-12-31`, or `all`.
export function rangeName(form) {
  return [form.elements.from.value, form.elements.to.value].filter(Boolean).join('_') || 'all';
}

export function csvCell(value) {
  const text = String(value ?? '');
  return /[",;\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/// Lines of cells as a CSV file's bytes.
export function csvFile(lines, { bom = false } = {}) {
  const text = lines.map((cells) => cells.map(csvCell).join(',')).join('\r\n');
  // A byte order mark so that spreadsheets open the Cyrillic text as UTF-8.
  return new Blob([`${bom ? '\ufeff' : ''}${text}\r\n`], { type: 'text/csv;charset=utf-8' });
}

/// Saves a file the browser made, through a temporary link.
export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
