//! The teacher's home: the availability switch, incoming offers (with a sound), the queues of
//! their subjects with "take next", the day's bookings beside them, the form that starts a group
//! or frontal session, the inbox of deferred requests and threads, the weekly consultation hours
//! with the rules of booking them, and the calendar feed.

import { beep, h, replace } from './dom.js';
import { subjectName, t } from './i18n.js';
import { weekdayName } from './locale.js';
import { Inbox } from './chat.js';
import { createHoursEditor } from './hours.js';
import { createSessionForm } from './create.js';
import { createDayBookings } from './day-bookings.js';
import { createBookingRules } from './booking-rules.js';
import { createCalendar } from './calendar.js';

export function createTeacherHome(app) {
  const conn = app.conn;
  const subjects = app.user.subjects ?? [];
  const state = { status: 'away', offers: new Map(), queues: new Map(), notice: '', invites: new Map() };
  const el = h('div', { class: 'home teacher' });
  const inbox = new Inbox(app);
  // Consultation hours, and the bookings of them, are for teachers and support staff, not for
  // an admin on this screen.
  const staff = ['teacher', 'support'].includes(app.user.role);
  const rules = staff ? createBookingRules(app) : null;
  const hours = staff ? createHoursEditor(app, subjects, { onSaved: () => rules.load() }) : null;
  const dayBookings = staff ? createDayBookings(app) : null;
  const calendar = staff ? createCalendar(app) : null;
  const statusEl = h('section', { class: 'card availability' });
  const offersEl = h('section', { class: 'card offers', 'aria-labelledby': 'offers-heading' });
  const offersLive = h('div', { 'aria-live': 'assertive', role: 'status', id: 'offers-live' });
  const queuesEl = h('section', { class: 'card queues', 'aria-labelledby': 'queues-heading' });
  const noticeEl = h('p', { class: 'notice', role: 'status', 'aria-live': 'polite' });
  const invitesEl = h('section', { class: 'card invites', hidden: true });
  const create = createSessionForm(app, subjects, () => [...state.queues.values()].flatMap((q) => q.requests));

  function renderStatus() {
    const select = h('select', { id: 'status-select', onchange: (e) => setStatus(e.target.value) },
      ['available', 'busy', 'away'].map((s) => h('option', { value: s, selected: s === state.status }, t('status.' + s))));
    const toggle = h('button', {
      type: 'button', id: 'availability', role: 'switch', class: 'switch',
      'aria-checked': state.status === 'available' ? 'true' : 'false',
      onclick: () => setStatus(state.status === 'available' ? 'away' : 'available'),
    }, t('status.available'));
    replace(statusEl, h('label', { for: 'status-select' }, t('status.label')), select, toggle);
  }

  async function setStatus(status) {
    if (status === 'available') app.notifier.ask();
    try {
      await conn.request({ type: 'set_status', status });
      state.status = status;
    } catch (err) {
      setNotice(app.errorText(err));
    }
    renderStatus();
  }

  async function loadOwnStatus() {
    try {
      const reply = await conn.request({ type: 'list_teachers' });
      reply.teachers.forEach(app.learn);
      const me = reply.teachers.find((x) => x.id === app.user.id);
      if (me && me.status !== 'offline') state.status = me.status;
      renderStatus();
    } catch {
      // The switch still works; it shows the last known state.
    }
  }

  function renderOffers() {
    const now = Date.now();
    const offers = [...state.offers.values()];
    replace(offersLive, offers.length ? '' : t('offers.none'));
    replace(offersEl, h('h2', { id: 'offers-heading' }, t('offers.heading')), offersLive,
      h('ul', { class: 'offer-list' }, offers.map(({ request, deadline }) => h('li', { class: 'offer', 'data-request': request.id },
        h('p', {}, t('offer.text', {
          // An anonymous student shows the class only when they chose to.
          student: request.student.anonymous && request.student.class ? `${request.student.name} (${request.student.class})` : request.student.name,
          subject: subjectName(request.subject),
          form: t('form.' + request.form), mode: t('mode.' + request.mode), topic: request.topic,
        })),
        h('span', { class: 'expires' }, t('offer.expires', { secs: Math.max(0, Math.round((deadline - now) / 1000)) })), ' ',
        h('button', { type: 'button', class: 'primary offer-accept', onclick: () => answer('accept', request.id) }, t('offer.accept')), ' ',
        h('button', { type: 'button', class: 'offer-decline', onclick: () => answer('decline', request.id) }, t('offer.decline'))))));
  }

  async function answer(kind, id) {
    state.offers.delete(id);
    renderOffers();
    try {
      await conn.request({ type: kind, request: id });
    } catch (err) {
      setNotice(app.errorText(err));
    }
  }

  function renderQueues() {
    const blocks = subjects.map((subject) => {
      const q = state.queues.get(subject) ?? { requests: [], total: 0 };
      return h('div', { class: 'queue', 'data-subject': subject },
        h('h3', {}, subjectName(subject), ' ', h('span', { class: 'count' }, t('queue.total', { total: q.total }))),
        q.requests.length
          ? h('ol', {}, q.requests.map((r) => h('li', {}, t('queue.entry', {
            position: r.position, student: r.student.name, topic: r.topic, minutes: Math.floor(r.waiting_secs / 60),
          }))))
          : h('p', {}, t('queue.empty')),
        h('button', { type: 'button', class: 'take-next', disabled: q.total === 0, onclick: () => takeNext(subject) }, t('queue.take_next', { subject: subjectName(subject) })));
    });
    replace(queuesEl, h('h2', { id: 'queues-heading' }, t('queues.heading')), blocks);
    create.queueChanged();
  }

  async function loadQueues() {
    try {
      const reply = await conn.request({ type: 'list_queue' });
      const bySubject = new Map(subjects.map((s) => [s, { requests: [], total: 0 }]));
      for (const r of reply.requests) {
        const q = bySubject.get(r.subject) ?? { requests: [], total: 0 };
        q.requests.push(r);
        q.total += 1;
        bySubject.set(r.subject, q);
      }
      state.queues = bySubject;
      reply.requests.forEach((r) => app.learn(r.student));
      renderQueues();
    } catch {
      // Pushes keep the queues current.
    }
  }

  async function takeNext(subject) {
    try {
      await conn.request({ type: 'take_next', subject });
    } catch (err) {
      setNotice(err.code === 'not_found' ? t('queue.nobody') : app.errorText(err));
    }
  }

  function renderInvites() {
    invitesEl.hidden = state.invites.size === 0;
    replace(invitesEl, h('h2', {}, t('invites.heading')),
      h('ul', {}, [...state.invites.values()].map(({ session, from }) => h('li', {},
        t('invite.text', { from: from?.name ?? '', title: session.title }), ' ',
        h('button', { type: 'button', class: 'primary', 'data-session': session.id, onclick: () => conn.request({ type: 'join_session', session: session.id }).catch((e) => setNotice(app.errorText(e))) }, t('invite.join'))))));
  }

  function setNotice(text) {
    state.notice = text;
    noticeEl.textContent = text;
  }

  conn.on('help_offer', (m) => {
    app.learn(m.request.student);
    state.offers.set(m.request.id, { request: m.request, deadline: Date.now() + (m.expires_in ?? 30) * 1000 });
    renderOffers();
    beep();
    app.announce(t('offer.new', { student: m.request.student.name }), true);
  });
  conn.on('offer_withdrawn', (m) => {
    state.offers.delete(m.request);
    renderOffers();
  });
  conn.on('queue', (m) => {
    if (!m.subject) return;
    m.requests.forEach((r) => app.learn(r.student));
    state.queues.set(m.subject, { requests: m.requests, total: m.total });
    renderQueues();
  });
  conn.on('presence', (m) => {
    if (m.user === app.user.id && m.status !== 'offline') {
      state.status = m.status;
      renderStatus();
    }
  });
  conn.on('session_started', (m) => {
    state.invites.delete(m.session.id);
    renderInvites();
  });
  // A booked slot's session invites its staff member too, at the slot's time.
  conn.on('session_invite', (m) => {
    app.learn(m.from);
    const known = state.invites.has(m.session.id);
    state.invites.set(m.session.id, m);
    renderInvites();
    if (!known) {
      beep();
      app.announce(t('invite.text', { from: m.from?.name ?? '', title: m.session.title }), true);
    }
  });
  conn.on('session_ended', (m) => {
    if (!state.invites.has(m.session)) return;
    if (m.reason === 'missed') setNotice(t('session.ended.missed'));
    state.invites.delete(m.session);
    renderInvites();
  });
  conn.on('hours_reminder', ({ slot }) => {
    const text = t('hours.reminder', { subject: subjectName(slot.subject), weekday: weekdayName(slot.weekday), start: slot.start, end: slot.end });
    setNotice(text);
    beep();
    app.announce(text, true);
  });
  conn.on('welcome', (m) => {
    if (!m.resumed) {
      state.offers.clear();
      renderOffers();
      loadQueues();
      loadOwnStatus();
    }
  });
  const ticker = setInterval(() => {
    if (!el.isConnected || state.offers.size === 0) return;
    const now = Date.now();
    for (const [id, offer] of state.offers) if (offer.deadline < now) state.offers.delete(id);
    for (const span of offersEl.querySelectorAll('.offer .expires')) {
      const id = Number(span.closest('.offer').dataset.request);
      const offer = state.offers.get(id);
      if (offer) span.textContent = t('offer.expires', { secs: Math.max(0, Math.round((offer.deadline - now) / 1000)) });
    }
    if ([...offersEl.querySelectorAll('.offer')].length !== state.offers.size) renderOffers();
  }, 1000);

  function rerender() {
    renderStatus();
    renderOffers();
    renderQueues();
    create.rerender();
    renderInvites();
    inbox.render();
    hours?.rerender();
    dayBookings?.rerender();
    rules?.rerender();
    calendar?.rerender();
    noticeEl.textContent = state.notice;
    replace(el, noticeEl, statusEl, offersEl, invitesEl, queuesEl, dayBookings?.el, create.el, inbox.el, hours?.el,
      rules?.el, calendar?.el);
  }

  rerender();
  hours?.load();
  rules?.load();
  create.load();
  loadOwnStatus();
  loadQueues();
  return {
    el,
    rerender,
    refresh: () => { inbox.load(); loadQueues(); dayBookings?.load(); },
    stop: () => clearInterval(ticker),
    openThread: (id) => inbox.openThread(id),
    showBookings: () => dayBookings?.el.querySelector('h2')?.focus(),
  };
}
