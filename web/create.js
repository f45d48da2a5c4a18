//! The teacher's form that starts a group or frontal session: a class (or all), a name search
//! in the school's directory (`GET /api/students`), ticked students kept across searches, the
//! whole class for a frontal session, and queued requests to pull in.

import { h, replace } from './dom.js';
import { subjectName, t } from './i18n.js';

/// Pause after typing before the directory is asked.
const SEARCH_DELAY_MS = 250;

/// `app` gives the connection and token; `queuedRequests()` the queue entries the teacher sees.
export function createSessionForm(app, subjects, queuedRequests) {
  const state = {
    form: 'group', subject: subjects[0] ?? '', title: '', class: '', wholeClass: false, q: '',
    classes: [], found: [], more: false, loaded: false, failed: false,
    chosen: new Map(), pulled: new Set(), error: '',
  };
  const el = h('form', { class: 'card create', 'aria-labelledby': 'create-heading', novalidate: true });
  el.addEventListener('submit', submit);
  const parts = {};
  let searchSeq = 0;
  let searchTimer;

  function render() {
    parts.form = h('select', { id: 'create-form', onchange: (e) => setForm(e.target.value) },
      ['group', 'frontal'].map((f) => h('option', { value: f, selected: f === state.form }, t('form.' + f))));
    parts.subject = h('select', { id: 'create-subject', onchange: (e) => { state.subject = e.target.value; } },
      subjects.map((s) => h('option', { value: s, selected: s === state.subject }, subjectName(s))));
    parts.title = h('input', {
      id: 'create-title', maxlength: 500, required: true, value: state.title,
      oninput: (e) => { state.title = e.target.value; },
    });
    parts.class = h('select', { id: 'create-class', onchange: (e) => setClass(e.target.value) },
      h('option', { value: '', selected: state.class === '' }, t('create.all_classes')),
      state.classes.map((c) => h('option', { value: c.class, selected: c.class === state.class },
        t('create.class_option', { class: c.class, count: c.students }))));
    parts.whole = h('input', {
      type: 'checkbox', id: 'create-whole-class', checked: state.wholeClass, disabled: state.class === '',
      'aria-describedby': 'create-whole-hint',
      onchange: (e) => { state.wholeClass = e.target.checked; },
    });
    parts.search = h('input', {
      type: 'search', id: 'create-search', value: state.q, autocomplete: 'off',
      'aria-controls': 'create-results', 'aria-describedby': 'create-found',
      oninput: (e) => { state.q = e.target.value; scheduleSearch(); },
      // Enter searches at once rather than starting the session.
      onkeydown: (e) => { if (e.key === 'Enter') { e.preventDefault(); search(); } },
    });
    parts.found = h('p', { id: 'create-found', class: 'hint', role: 'status', 'aria-live': 'polite' });
    parts.results = h('ul', { id: 'create-results', class: 'pick-list', 'aria-labelledby': 'create-pick-legend' });
    parts.chosen = h('div', { class: 'chosen', 'aria-live': 'polite' });
    parts.queue = h('fieldset', { class: 'students' });
    parts.error = h('p', { class: 'error', role: 'alert' }, state.error);
    replace(el,
      h('h2', { id: 'create-heading' }, t('create.heading')),
      h('label', { for: 'create-form' }, t('create.form')), parts.form,
      h('label', { for: 'create-subject' }, t('create.subject')), parts.subject,
      h('label', { for: 'create-title' }, t('create.title')), parts.title,
      h('fieldset', { class: 'pick' },
        h('legend', { id: 'create-pick-legend' }, t('create.pick')),
        h('label', { for: 'create-class' }, t('create.class')), parts.class,
        h('label', { class: 'inline' }, parts.whole, ' ', t('create.whole_class')),
        h('p', { id: 'create-whole-hint', class: 'hint' }, t('create.whole_class_hint')),
        h('label', { for: 'create-search' }, t('create.search')), parts.search,
        parts.found, parts.results, parts.chosen),
      parts.queue,
      h('button', { type: 'submit', class: 'primary', id: 'create-submit' }, t('create.submit')),
      parts.error);
    renderFound();
    renderChosen();
    renderQueue();
  }

  function setForm(form) {
    state.form = form;
    // Frontal means the whole class, as the school plans it; a group is usually a few students.
    state.wholeClass = form === 'frontal' && state.class !== '';
    parts.whole.checked = state.wholeClass;
  }

  function setClass(cls) {
    state.class = cls;
    state.wholeClass = cls !== '' && (state.form === 'frontal' || state.wholeClass);
    parts.whole.disabled = cls === '';
    parts.whole.checked = state.wholeClass;
    search();
  }

  function renderFound() {
    let text = '';
    if (state.failed) text = t('create.search_failed');
    else if (state.loaded) {
      text = state.found.length === 0 ? t('create.none_found')
        : state.more ? t('create.found_more', { count: state.found.length })
          : t('create.found', { count: state.found.length });
    }
    parts.found.textContent = text;
    replace(parts.results, state.found.map((s) => h('li', {},
      h('label', { class: 'inline' },
        h('input', {
          type: 'checkbox', value: s.id, checked: state.chosen.has(s.id),
          onchange: (e) => toggle(s, e.target.checked),
        }), ' ', s.name, ' ', h('span', { class: 'class' }, s.class ?? '')))));
  }

  function toggle(student, on) {
    if (on) state.chosen.set(student.id, student);
    else state.chosen.delete(student.id);
    renderChosen();
  }

  function renderChosen() {
    const chosen = [...state.chosen.values()];
    replace(parts.chosen,
      h('p', { class: 'chosen-count' }, t('create.chosen', { count: chosen.length })),
      chosen.length ? h('ul', { class: 'chips' }, chosen.map((s) => h('li', {},
        h('button', {
          type: 'button', class: 'chip', 'aria-label': t('create.unchoose', { name: s.name }),
          onclick: () => unchoose(s.id),
        }, s.name, ' ×')))) : null);
  }

  function unchoose(id) {
    state.chosen.delete(id);
    const box = parts.results.querySelector(`input[value="${id}"]`);
    if (box) box.checked = false;
    renderChosen();
    parts.search.focus();
  }

  function renderQueue() {
    const entries = queuedRequests();
    replace(parts.queue, h('legend', {}, t('create.students')),
      entries.length ? entries.map((r) => h('label', { class: 'inline' },
        h('input', {
          type: 'checkbox', value: r.id, checked: state.pulled.has(r.id),
          onchange: (e) => { if (e.target.checked) state.pulled.add(r.id); else state.pulled.delete(r.id); },
        }), ' ',
        `${r.student.name} (${subjectName(r.subject)})`)) : h('p', {}, t('queue.empty')));
  }

  async function api(path) {
    const res = await fetch(path, { headers: { Authorization: `Bearer ${app.token}` } });
    if (!res.ok) throw new Error(`${path}: ${res.status}`);
    return res.json();
  }

  async function loadClasses() {
    try {
      state.classes = (await api('/api/classes')).classes;
      const focused = document.activeElement === parts.class;
      replace(parts.class, h('option', { value: '', selected: state.class === '' }, t('create.all_classes')),
        state.classes.map((c) => h('option', { value: c.class, selected: c.class === state.class },
          t('create.class_option', { class: c.class, count: c.students }))));
      if (focused) parts.class.focus();
    } catch {
      // The list of all students still works without the classes.
    }
  }

  function scheduleSearch() {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(search, SEARCH_DELAY_MS);
  }

  async function search() {
    clearTimeout(searchTimer);
    const seq = ++searchSeq;
    const params = new URLSearchParams();
    if (state.class) params.set('class', state.class);
    if (state.q.trim()) params.set('q', state.q.trim());
    try {
      const body = await api(`/api/students?${params}`);
      if (seq !== searchSeq) return;
      Object.assign(state, { found: body.students, more: body.more, loaded: true, failed: false });
    } catch {
      if (seq !== searchSeq) return;
      Object.assign(state, { found: [], more: false, loaded: true, failed: true });
    }
    renderFound();
  }

  async function submit(event) {
    event.preventDefault();
    state.error = '';
    parts.error.textContent = '';
    const title = state.title.trim();
    const invite = [...state.chosen.keys()];
    const pulled = [...state.pulled];
    const wholeClass = state.wholeClass && state.class !== '';
    if (!title) return fail(t('create.need_title'), parts.title);
    if (!invite.length && !pulled.length && !wholeClass) return fail(t('create.need_students'), parts.search);
    const msg = { type: 'create_session', form: state.form, subject: state.subject, title };
    if (wholeClass) msg.class = state.class;
    if (invite.length) msg.invite = invite;
    if (pulled.length) msg.from_requests = pulled;
    try {
      await app.conn.request(msg);
      state.chosen.clear();
      state.pulled.clear();
      state.title = '';
      render();
    } catch (err) {
      fail(app.errorText(err));
    }
  }

  function fail(text, focus) {
    state.error = text;
    parts.error.textContent = text;
    focus?.focus();
  }

  render();
  return {
    el,
    rerender: render,
    /// The queue changed: the pull-in list follows it, dropping requests that left.
    queueChanged() {
      const ids = new Set(queuedRequests().map((r) => r.id));
      for (const id of state.pulled) if (!ids.has(id)) state.pulled.delete(id);
      renderQueue();
    },
    load() {
      loadClasses();
      search();
    },
  };
}
