//! What the admin's filters and forms choose from: the classes, subjects and staff, loaded from
//! the server, and the `<select data-options=...>` lists drawn from them. The subjects' names
//! are the ones every page shows (`subjectName` in i18n.js).

import { h } from '../dom.js';
import { setSubjectNames, subjectName, t } from '../i18n.js';
import { api } from './api.js';
import { $ } from './page.js';

const ROLES = ['student', 'teacher', 'support', 'admin'];
const FORMS = ['individual', 'group', 'frontal'];
const MODES = ['online', 'offline'];
const OUTCOMES = ['held', 'in_progress', 'deferred', 'cancelled'];

/// The lists as last loaded.
export const directories = {
  /// `[{class, students}]`
  classes: [],
  /// `[{code, name, staff}]`, by name
  subjects: [],
  /// Teachers and support staff, by name.
  staff: [],
};

export function roleName(role) {
  return t(`admin.role.${role}`);
}

function optionLists() {
  const roles = ROLES.map((r) => [r, roleName(r)]);
  return {
    roles: [['', t('admin.role_any')], ...roles],
    rolesRequired: [['', t('admin.role_choose')], ...roles],
    classes: [['', t('admin.class_any')], ...directories.classes.map((c) => [c.class, c.class])],
    forms: [['', t('admin.form_any')], ...FORMS.map((f) => [f, t(`admin.form.${f}`)])],
    modes: [['', t('admin.mode_any')], ...MODES.map((m) => [m, t(`admin.mode.${m}`)])],
    staff: [['', t('admin.staff_any')], ...directories.staff.map((u) => [u.login, `${u.name} (${u.login})`])],
    subjects: [['', t('admin.subject_any')], ...directories.subjects.map((s) => [s.code, subjectName(s.code)])],
    outcomes: [['', t('admin.outcome_any')], ...OUTCOMES.map((o) => [o, t(`admin.outcome.${o}`)])],
  };
}

/// Fills every `<select data-options=...>`, keeping what was chosen.
export function fillSelects() {
  const lists = optionLists();
  for (const select of document.querySelectorAll('select[data-options]')) {
    const chosen = select.value;
    select.replaceChildren(...lists[select.dataset.options].map(([value, label]) => h('option', { value }, label)));
    if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
  }
  $('#new-role').required = true;
}

/// Classes, subjects and staff, for the filters.
export async function loadDirectories() {
  const [classes, subjects, staff] = await Promise.all([
    api('GET', '/api/admin/classes'),
    api('GET', '/api/admin/subjects'),
    api('GET', '/api/admin/users?role=teacher'),
  ]);
  const support = await api('GET', '/api/admin/users?role=support');
  directories.classes = classes.classes;
  directories.subjects = subjects.subjects;
  directories.staff = [...staff.users, ...support.users].sort((a, b) => a.name.localeCompare(b.name));
  setSubjectNames(directories.subjects);
  fillSelects();
}
