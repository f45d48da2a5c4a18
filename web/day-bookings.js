//! A staff member's bookings of one day beside the queue ("Записи на сегодня", with the previous
//! and next day), kept current by `booking_changed`, and cancelling one with a reason the student
//! is told.

import { h, keepFocus, replace } from './dom.js';
import { subjectName, t } from './i18n.js';
import { addDays, formatDay, formatSpan, formatWhen, schoolToday } from './locale.js';

export function createDayBookings(app) {
  const conn = app.conn;
  const me = app.user.id;
  /// `cancelling` is the booking whose reason is being typed; `reason` what was typed.
  const state = { day: schoolToday(), bookings: [], loaded: false, notice: '', cancelling: null, reason: '' };
  const el = h('section', { class: 'card day-bookings', 'aria-labelledby': 'day-bookings-heading' });
  const noticeEl = h('p', { class: 'notice', role: 'status', 'aria-live': 'polite', id: 'day-bookings-notice' });
  const error = h('p', { class: 'error', role: 'alert', id: 'day-bookings-error' });
  let loading = null;

  async function load() {
    const mine = conn.request({ type: 'bookings', day: state.day });
    loading = mine;
    try {
      const reply = await mine;
      if (loading !== mine) return;
      state.bookings = reply.bookings;
      state.loaded = true;
      reply.bookings.forEach((b) => app.learn(b.student));
      error.textContent = '';
    } catch (err) {
      if (loading !== mine) return;
      error.textContent = app.errorText(err);
    }
    render();
  }

  function go(day) {
    state.day = day;
    state.loaded = false;
    state.cancelling = null;
    state.bookings = [];
    render();
    load();
  }

  function studentName(student) {
    return student.class ? `${student.name} (${student.class})` : student.name;
  }

  function render() {
    const today = schoolToday();
    const heading = t(state.day === today ? 'day.heading.today' : 'day.heading', { day: formatDay(state.day) });
    const nav = h('div', { class: 'week-nav' },
      h('button', { type: 'button', id: 'day-prev', onclick: () => go(addDays(state.day, -1)) }, t('day.prev')),
      // The heading names the day; a screen reader hears the new one as the buttons move.
      h('span', { class: 'sr-only', id: 'day-label', 'aria-live': 'polite' }, heading),
      h('button', { type: 'button', id: 'day-next', onclick: () => go(addDays(state.day, 1)) }, t('day.next')),
      state.day === today ? null : h('button', { type: 'button', id: 'day-today', onclick: () => go(today) }, t('day.today')));
    const items = state.bookings.map((b) => {
      const cancelled = b.status === 'cancelled';
      const begun = Date.parse(b.start) <= Date.now();
      return h('li', { class: `booking${cancelled ? ' cancelled' : ''}`, 'data-booking': b.id, 'data-start': b.start, 'data-status': b.status },
        h('p', { class: 'booking-when' }, formatSpan(b.start, b.end), ' ', h('strong', {}, studentName(b.student))),
        h('p', {}, subjectName(b.subject), ', ', t('form.' + b.form)),
        h('p', { class: 'booking-topic' }, t('booking.topic', { topic: b.topic })),
        cancelled ? h('p', { class: 'booking-status' }, b.reason ? t('day.cancelled.reason', { reason: b.reason }) : t('day.cancelled')) : null,
        !cancelled && !begun && state.cancelling !== b.id
          ? h('button', { type: 'button', class: 'booking-cancel', id: `day-cancel-${b.id}`, 'aria-label': t('day.cancel.label', { student: b.student.name, when: formatSpan(b.start, b.end) }), onclick: () => startCancel(b) }, t('booking.cancel'))
          : null,
        state.cancelling === b.id ? cancelForm(b) : null);
    });
    keepFocus(el, () => replace(el, h('h2', { id: 'day-bookings-heading', tabindex: -1 }, heading), nav, noticeEl,
      items.length ? h('ol', { class: 'booking-list' }, items) : h('p', {}, state.loaded ? t('day.none') : t('slots.loading')),
      error), () => el.querySelector('h2'));
    noticeEl.textContent = state.notice;
  }

  function startCancel(booking) {
    state.cancelling = booking.id;
    state.reason = '';
    render();
    el.querySelector(`#cancel-reason-${booking.id}`)?.focus();
  }

  function cancelForm(booking) {
    const id = `cancel-reason-${booking.id}`;
    const reason = h('textarea', { id, rows: 2, maxlength: 500, oninput: (e) => { state.reason = e.target.value; } });
    reason.value = state.reason;
    const form = h('form', { class: 'booking-form' },
      h('label', { for: id }, t('day.reason')), reason,
      h('button', { type: 'submit', class: 'danger cancel-confirm', id: `cancel-confirm-${booking.id}` }, t('day.cancel.confirm')),
      h('button', { type: 'button', class: 'cancel-back', id: `cancel-back-${booking.id}`, onclick: () => { state.cancelling = null; render(); el.querySelector(`#day-cancel-${booking.id}`)?.focus(); } }, t('day.cancel.back')));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const msg = { type: 'cancel_booking', booking: booking.id };
      const text = reason.value.trim();
      if (text) msg.reason = text;
      error.textContent = '';
      try {
        await conn.request(msg);
        state.cancelling = null;
        setNotice(t('day.cancel.done', { student: booking.student.name, when: formatWhen(booking) }));
      } catch (err) {
        error.textContent = err.code === 'booking_locked' ? t('day.error.booking_locked')
          : err.code === 'not_found' ? t('booking.error.not_found') : app.errorText(err);
      }
      await load();
    });
    return form;
  }

  function setNotice(text, urgent = false) {
    state.notice = text;
    noticeEl.textContent = text;
    if (text) app.announce(text, urgent);
  }

  conn.on('booking_changed', ({ booking, change }) => {
    app.learn(booking.student);
    load();
    // What the student did is told; what this staff member did on another device is not news.
    const byMe = change === 'cancelled' && booking.cancelled_by === me;
    if (!byMe) setNotice(t('day.change.' + change, { student: booking.student.name, when: formatWhen(booking) }), true);
  });
  conn.on('welcome', () => load());

  render();
  load();
  return { el, load, rerender: render };
}
