//! A staff member's weekly consultation hours (`GET`/`PUT /api/hours`): one row per slot
//! (subject, weekday, start, end, online or offline), added, removed and saved together.

import { h, replace } from './dom.js';
import { subjectName, t } from './i18n.js';
import { timeInput, weekdayName } from './locale.js';

const WEEKDAYS = [1, 2, 3, 4, 5, 6, 7];

/// `onSaved` hears that the hours were stored (the slots cut from them changed).
export function createHoursEditor(app, subjects, { onSaved = () => {} } = {}) {
  let slots = [];
  let loaded = false;
  const el = h('section', { class: 'card hours-editor', 'aria-labelledby': 'hours-heading' });
  const status = h('p', { class: 'notice', role: 'status', 'aria-live': 'polite', id: 'hours-status' });
  const error = h('p', { class: 'error', role: 'alert', id: 'hours-error' });

  async function call(method, body) {
    const res = await fetch('/api/hours', {
      method,
      headers: { Authorization: `Bearer ${app.token}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const reply = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(reply.message ?? String(res.status));
    return reply.hours ?? [];
  }

  async function load() {
    try {
      slots = await call('GET');
      loaded = true;
      render();
    } catch (err) {
      error.textContent = app.errorText(err);
    }
  }

  /// Reads the rows back into `slots`, so a re-render keeps what was typed.
  function collect() {
    slots = [...el.querySelectorAll('.slot')].map((row) => ({
      subject: row.querySelector('.slot-subject').value,
      weekday: Number(row.querySelector('.slot-weekday').value),
      start: row.querySelector('.slot-start').value,
      end: row.querySelector('.slot-end').value,
      mode: row.querySelector('.slot-mode').value,
    }));
  }

  function row(slot, i) {
    const id = (name) => `slot-${i}-${name}`;
    const field = (name, label, control) => h('span', { class: 'slot-field' }, h('label', { for: id(name) }, label), control);
    return h('li', {},
      h('fieldset', { class: 'slot' },
        h('legend', {}, t('hours.slot', { n: i + 1 })),
        field('subject', t('create.subject'), h('select', { id: id('subject'), class: 'slot-subject' },
          subjects.map((s) => h('option', { value: s, selected: s === slot.subject }, subjectName(s))))),
        field('weekday', t('hours.weekday'), h('select', { id: id('weekday'), class: 'slot-weekday' },
          WEEKDAYS.map((d) => h('option', { value: d, selected: d === slot.weekday }, weekdayName(d, 'long'))))),
        field('start', t('hours.start'), timeInput({ id: id('start'), class: 'slot-start', value: slot.start, required: true })),
        field('end', t('hours.end'), timeInput({ id: id('end'), class: 'slot-end', value: slot.end, required: true })),
        field('mode', t('ask.mode'), h('select', { id: id('mode'), class: 'slot-mode' },
          ['online', 'offline'].map((m) => h('option', { value: m, selected: m === slot.mode }, t('mode.' + m))))),
        h('button', { type: 'button', class: 'slot-remove', onclick: () => remove(i) }, t('hours.remove', { n: i + 1 }))));
  }

  function add() {
    collect();
    slots.push({ subject: subjects[0] ?? '', weekday: 1, start: '15:00', end: '16:00', mode: 'online' });
    render();
    el.querySelector(`#slot-${slots.length - 1}-subject`)?.focus();
  }

  function remove(i) {
    collect();
    slots.splice(i, 1);
    render();
    el.querySelector('.hours-add')?.focus();
  }

  async function save(event) {
    event.preventDefault();
    collect();
    error.textContent = '';
    status.textContent = '';
    try {
      slots = await call('PUT', slots);
      render();
      status.textContent = t('hours.saved');
      onSaved();
    } catch (err) {
      error.textContent = app.errorText(err);
    }
  }

  function render() {
    const form = h('form', { class: 'hours-form' },
      loaded && slots.length === 0 ? h('p', {}, t('hours.none')) : null,
      h('ol', { class: 'slots' }, slots.map(row)),
      h('button', { type: 'button', class: 'hours-add', onclick: add }, t('hours.add')),
      h('button', { type: 'submit', class: 'primary hours-save' }, t('hours.save')));
    form.addEventListener('submit', save);
    replace(el, h('h2', { id: 'hours-heading' }, t('hours.heading')), form, status, error);
  }

  render();
  return {
    el,
    load,
    /// Renders again (a language switch), keeping what was typed.
    rerender: () => {
      if (el.querySelector('.slot')) collect();
      render();
    },
  };
}
