//! The classes and subjects screen: each class with its number of students (a button lists
//! them on the users screen), each subject with its name and staff, and the form that adds a
//! subject or renames it. The name saved here is the one every page shows.

import { h } from '../dom.js';
import { subjectName, t } from '../i18n.js';
import { api, failure } from './api.js';
import { directories, loadDirectories } from './directories.js';
import { $, say } from './page.js';

export async function render() {
  await loadDirectories();
  $('#classes-table tbody').replaceChildren(...directories.classes.map((c) => h('tr', {},
    h('th', { scope: 'row' }, c.class),
    h('td', {}, c.students),
    h('td', {}, h('button', { type: 'button', onclick: () => showClass(c.class) }, t('admin.show_students', { class: c.class }))))));
  $('#subjects-table tbody').replaceChildren(...directories.subjects.map((s) => h('tr', { 'data-code': s.code },
    h('td', {}, h('code', {}, s.code)),
    h('td', {}, subjectName(s.code)),
    h('td', {}, s.staff),
    h('td', {}, h('button', { type: 'button', 'aria-label': t('admin.edit_subject', { code: s.code }), onclick: () => editSubject(s) }, t('admin.edit'))))));
}

/// Lists a class's students on the users screen.
function showClass(name) {
  const form = $('#users-search');
  form.reset();
  form.elements.class.value = name;
  form.elements.role.value = 'student';
  location.hash = '#users';
}

function editSubject(subject) {
  const form = $('#subject-form');
  form.elements.code.value = subject.code;
  form.elements.name.value = subject.name;
  form.elements.name.focus();
  form.elements.name.select();
}

async function saveSubject(event) {
  event.preventDefault();
  const form = event.target;
  const error = $('#subject-error');
  error.textContent = '';
  const code = form.elements.code.value.trim().toLowerCase();
  try {
    await api('PUT', `/api/admin/subjects/${encodeURIComponent(code)}`, { name: form.elements.name.value.trim() });
    form.reset();
    say(t('admin.subject_saved', { code }));
    await render();
  } catch (e) {
    error.textContent = failure(e);
  }
}

export function wire() {
  $('#subject-form').addEventListener('submit', saveSubject);
}
