//! The student's home: teachers with subjects, status and hours; the help request form; the
//! queue position and estimate; invitations; booking a time in a teacher's hours and the
//! student's bookings; the inbox; the calendar feed; the way to ask the psychologist
//! anonymously, and, on the anonymous identity's home, what anonymity means.

import { h, replace } from './dom.js';
import { subjectName, t } from './i18n.js';
import { formatMoment, weekdayName } from './locale.js';
import { Inbox } from './chat.js';
import { createBooking } from './booking.js';
import { createCalendar } from './calendar.js';

export function createStudentHome(app) {
  const state = { teachers: [], request: null, notice: '', invites: new Map() };
  const el = h('div', { class: 'home student' });
  const conn = app.conn;
  let inbox = new Inbox(app);

  const teachersEl = h('section', { class: 'card teachers', 'aria-labelledby': 'teachers-heading' });
  const queueEl = h('section', { class: 'card queue-status', 'aria-labelledby': 'queue-heading', hidden: true });
  const queueLive = h('div', { 'aria-live': 'polite', role: 'status', id: 'queue-live' });
  const noticeEl = h('p', { class: 'notice', role: 'status', 'aria-live': 'polite', id: 'student-notice' });
  const invitesEl = h('section', { class: 'card invites', 'aria-labelledby': 'invites-heading', hidden: true });
  let askEl;
  /// On the student's own home: the way to an anonymous question. On the anonymous identity's
  /// home: what anonymity means and its limit.
  const anonEl = h('section', { class: 'card anonymous', 'aria-labelledby': 'anon-heading' });
  const anonymous = Boolean(app.user.anonymous);
  // An anonymous identity asks the support service and nothing else: no bookings, no calendar.
  const booking = anonymous ? null : createBooking(app);
  const calendar = anonymous ? null : createCalendar(app);

  function renderAnonymous() {
    const explained = [h('p', {}, t('anon.means')), h('p', {}, t('anon.limit'))];
    if (anonymous) {
      replace(anonEl, h('h2', { id: 'anon-heading' }, t('anon.mode')), ...explained,
        h('button', { type: 'button', id: 'anon-leave', onclick: () => app.leaveAnonymous() }, t('anon.leave')));
      return;
    }
    const showClass = h('input', { type: 'checkbox', id: 'anon-show-class' });
    const error = h('p', { class: 'error', role: 'alert' });
    const go = async () => {
      error.textContent = '';
      try {
        await app.enterAnonymous(showClass.checked);
      } catch (err) {
        error.textContent = err.code === 'anonymous_blocked' ? t('anon.blocked') : app.errorText(err);
      }
    };
    replace(anonEl, h('h2', { id: 'anon-heading' }, t('anon.heading')), ...explained,
      h('label', { class: 'inline' }, showClass, ' ', t('anon.show_class')),
      h('button', { type: 'button', id: 'anon-start', onclick: go }, t('anon.start')), error);
  }

  async function loadTeachers() {
    try {
      const reply = await conn.request({ type: 'list_teachers' });
      state.teachers = reply.teachers;
      reply.teachers.forEach(app.learn);
      renderTeachers();
      renderAskOptions();
    } catch (err) {
      replace(teachersEl, app.errorText(err));
    }
  }

  function hoursText(hours) {
    return hours.map((s) => `${weekdayName(s.weekday)} ${s.start}–${s.end}`).join(', ');
  }

  function renderTeachers() {
    const items = state.teachers.map((teacher) => h('li', { class: 'teacher', 'data-user': teacher.id },
      h('span', { class: 'name' }, teacher.name), ' ',
      h('span', { class: `status status-${teacher.status}` }, t('status.' + teacher.status)),
      h('span', { class: 'subjects' }, teacher.subjects.map(subjectName).join(', ')),
      teacher.hours?.length ? h('span', { class: 'hours' }, t('teachers.hours', { hours: hoursText(teacher.hours) })) : null,
      booking && teacher.hours?.length
        ? h('button', { type: 'button', class: 'book-open', 'aria-label': t('book.open.label', { name: teacher.name }), onclick: () => booking.open(teacher) }, t('book.open'))
        : null));
    replace(teachersEl, h('h2', { id: 'teachers-heading' }, t('teachers.heading')),
      items.length ? h('ul', { class: 'teacher-list' }, items) : h('p', {}, t('teachers.none')));
  }

  const ask = {};
  function renderAsk() {
    ask.subject = h('select', { id: 'ask-subject', name: 'subject', required: true, onchange: renderTeacherOptions });
    ask.form = h('select', { id: 'ask-form', name: 'form' },
      ['individual', 'group'].map((f) => h('option', { value: f }, t('form.' + f))));
    ask.online = h('input', { type: 'radio', name: 'mode', id: 'ask-online', value: 'online', checked: true });
    ask.offline = h('input', { type: 'radio', name: 'mode', id: 'ask-offline', value: 'offline' });
    ask.topic = h('textarea', { id: 'ask-topic', name: 'topic', rows: 2, maxlength: 500, required: true });
    ask.teacher = h('select', { id: 'ask-teacher', name: 'teacher' });
    ask.error = h('p', { class: 'error', role: 'alert' });
    askEl = h('form', { class: 'card ask', 'aria-labelledby': 'ask-heading' },
      h('h2', { id: 'ask-heading' }, t('ask.heading')),
      h('label', { for: 'ask-subject' }, t('ask.subject')), ask.subject,
      h('label', { for: 'ask-form' }, t('ask.form')), ask.form,
      h('fieldset', {}, h('legend', {}, t('ask.mode')),
        h('label', { class: 'inline' }, ask.online, ' ', t('mode.online')),
        h('label', { class: 'inline' }, ask.offline, ' ', t('mode.offline'))),
      h('label', { for: 'ask-topic' }, t('ask.topic')), ask.topic,
      h('label', { for: 'ask-teacher' }, t('ask.teacher')), ask.teacher,
      h('button', { type: 'submit', class: 'primary', id: 'ask-submit' }, t('ask.submit')),
      ask.error);
    askEl.addEventListener('submit', submitRequest);
    renderAskOptions();
  }

  function renderAskOptions() {
    if (!ask.subject) return;
    const chosen = ask.subject.value;
    // An anonymous identity asks the support service only.
    const subjects = [...new Set(state.teachers.flatMap((x) => x.subjects))]
      .filter((s) => !anonymous || s === 'support').sort();
    replace(ask.subject, subjects.map((s) => h('option', { value: s, selected: s === chosen }, subjectName(s))));
    renderTeacherOptions();
  }

  function renderTeacherOptions() {
    const chosen = ask.teacher.value;
    const subject = ask.subject.value;
    replace(ask.teacher, h('option', { value: '' }, t('subject.any')),
      state.teachers.filter((x) => x.subjects.includes(subject)).map((x) => h('option', { value: x.id, selected: String(x.id) === chosen }, `${x.name} (${t('status.' + x.status)})`)));
  }

  async function submitRequest(event) {
    event.preventDefault();
    app.notifier.ask();
    ask.error.textContent = '';
    const msg = {
      type: 'request_help',
      subject: ask.subject.value,
      form: ask.form.value,
      mode: ask.offline.checked ? 'offline' : 'online',
      topic: ask.topic.value.trim(),
    };
    if (ask.teacher.value) msg.teacher = Number(ask.teacher.value);
    if (anonymous) msg.anonymous = true;
    try {
      await conn.request(msg);
      ask.topic.value = '';
    } catch (err) {
      ask.error.textContent = err.code === 'conflict' ? t('ask.conflict') : err.code === 'not_found' ? t('ask.not_found') : app.errorText(err);
    }
  }

  function renderQueue() {
    const r = state.request;
    queueEl.hidden = !r;
    if (askEl) askEl.hidden = Boolean(r);
    if (!r) {
      replace(queueEl, queueLive);
      replace(queueLive);
      return;
    }
    const eta = r.eta_secs !== undefined && r.eta_secs !== null ? t('queue.eta', { count: Math.max(1, Math.round(r.eta_secs / 60)) }) : '';
    replace(queueLive, h('p', { class: 'position', id: 'queue-position', 'data-position': r.position }, t('queue.position', { position: r.position }), ' ', eta));
    replace(queueEl, h('h2', { id: 'queue-heading' }, t('queue.heading'), ': ', subjectName(r.subject)), queueLive,
      h('button', { type: 'button', id: 'queue-cancel', onclick: cancelRequest }, t('queue.cancel')));
  }

  async function cancelRequest() {
    if (!state.request) return;
    try {
      await conn.request({ type: 'cancel_request', request: state.request.id });
    } catch (err) {
      setNotice(app.errorText(err));
    }
  }

  function setNotice(text) {
    state.notice = text;
    noticeEl.textContent = text;
  }

  function renderInvites() {
    invitesEl.hidden = state.invites.size === 0;
    replace(invitesEl, h('h2', { id: 'invites-heading' }, t('invites.heading')),
      h('ul', {}, [...state.invites.values()].map(({ session, from }) => h('li', {},
        t('invite.text', { from: from?.name ?? '', title: session.title }), ' ',
        h('button', { type: 'button', class: 'primary', 'data-session': session.id, onclick: () => join(session.id) }, t('invite.join'))))));
  }

  async function join(id) {
    try {
      await conn.request({ type: 'join_session', session: id });
      state.invites.delete(id);
      renderInvites();
    } catch (err) {
      setNotice(app.errorText(err));
      state.invites.delete(id);
      renderInvites();
    }
  }

  conn.on('presence', (m) => {
    const teacher = state.teachers.find((x) => x.id === m.user);
    if (teacher) {
      teacher.status = m.status;
      renderTeachers();
      renderTeacherOptions();
    } else {
      loadTeachers();
    }
  });
  const onQueued = (m) => {
    const previous = state.request?.position;
    state.request = m.request;
    renderQueue();
    if (previous !== m.request.position) app.announce(t('queue.position', { position: m.request.position }));
  };
  conn.on('request_queued', (m) => { setNotice(''); onQueued(m); });
  conn.on('queue_position', onQueued);
  conn.on('request_cancelled', () => {
    state.request = null;
    renderQueue();
    setNotice(t('queue.cancelled'));
  });
  conn.on('request_deferred', (m) => {
    state.request = null;
    renderQueue();
    setNotice(t('deferred.' + m.reason, { next: formatMoment(m.next_available) }));
    inbox.load().then(() => inbox.openThread(m.thread));
  });
  conn.on('request_answered', () => setNotice(t('answered')));
  conn.on('session_started', (m) => {
    state.request = null;
    state.invites.delete(m.session.id);
    renderQueue();
    renderInvites();
  });
  conn.on('session_invite', (m) => {
    app.learn(m.from);
    state.invites.set(m.session.id, m);
    renderInvites();
    app.announce(t('invite.text', { from: m.from?.name ?? '', title: m.session.title }), true);
  });
  conn.on('session_ended', (m) => {
    // A booked slot that passed without the teacher and the student meeting: its question
    // stays in the chat.
    if (state.invites.has(m.session) && m.reason === 'missed') setNotice(t('session.ended.missed'));
    state.invites.delete(m.session);
    renderInvites();
  });
  // `presence` reaches the connection that asked for the list: a new one, resumed too, asks
  // again (and learns what changed while it was away).
  conn.on('welcome', () => loadTeachers());

  function rerender() {
    renderTeachers();
    renderAsk();
    renderQueue();
    renderInvites();
    renderAnonymous();
    inbox.render();
    booking?.rerender();
    calendar?.rerender();
    noticeEl.textContent = state.notice;
    replace(el, noticeEl, ...(anonymous ? [anonEl] : []), queueEl, invitesEl, askEl, booking?.listEl, teachersEl,
      booking?.pickerEl, inbox.el, calendar?.el, ...(anonymous ? [] : [anonEl]));
  }

  rerender();
  loadTeachers();
  return {
    el,
    rerender,
    refresh: () => { inbox.load(); booking?.load(); },
    openThread: (id) => inbox.openThread(id),
    showBookings: () => booking?.listEl.querySelector('h2')?.focus(),
  };
}
