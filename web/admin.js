// Konsult's administration screens: sign-in for admins, accounts and their import, classes and
// subjects, the consultation record with its CSV export, the summary report, the links on /help
// and the audit log. A plain module over the HTTP API (docs/protocol.md, "HTTP").

const TOKEN_KEY = 'konsult.admin.token';
const LANG_KEY = 'konsult.lang';

const WORDS = {
  ru: {
    skip: 'Перейти к содержимому', adminTitle: 'администрирование', sections: 'Разделы',
    navUsers: 'Пользователи', navClasses: 'Классы и предметы', navRecord: 'Журнал консультаций',
    navSummary: 'Отчёт', navLinks: 'Ссылки на /help', navAudit: 'Журнал действий',
    logout: 'Выйти', loginTitle: 'Вход для администрации', login: 'Логин', password: 'Пароль',
    signIn: 'Войти', toClient: 'Учителям и ученикам — на главную страницу Konsult',
    notAdmin: 'Здравствуйте, {name}! Эта страница — для администрации школы. Ваша работа в Konsult — на главной странице.',
    wrongPassword: 'Неверный логин или пароль.', expired: 'Сеанс истёк: войдите снова.',
    searchLabel: 'Поиск по логину или имени', role: 'Роль', class: 'Класс', state: 'Состояние',
    any: 'Все', activeOnly: 'Активные', inactiveOnly: 'Отключённые', find: 'Найти',
    name: 'Имя', subjects: 'Предметы', actions: 'Действия', addUser: 'Добавить пользователя',
    fullName: 'Фамилия, имя, отчество', classForStudents: 'Класс (для учеников)',
    subjectCodes: 'Предметы (коды через пробел, для учителей)',
    passwordOptional: 'Пароль (пусто — создать автоматически)', create: 'Создать',
    importTitle: 'Импорт из электронного журнала (CSV)',
    importHelp: 'Файл CSV с заголовком: login, name, role и, если нужно, class, subjects, password (через «,» или «;»). Сначала Konsult покажет, что будет создано, и все ошибки по строкам; ничего не записывается, пока вы не подтвердите.',
    chooseFile: 'Файл CSV', check: 'Проверить', willBeCreated: 'Будут созданы', line: 'Строка',
    importConfirm: 'Импортировать', cancel: 'Отмена',
    passwordsOnce: 'Пароли показаны один раз: сохраните их и раздайте ученикам и учителям.',
    downloadPasswords: 'Скачать пароли (CSV)', done: 'Готово', classes: 'Классы',
    students: 'Учеников', subjectsTitle: 'Предметы', code: 'Код', subjectName: 'Название',
    staff: 'Преподают', saveSubject: 'Добавить или переименовать',
    classesHelp: 'Класс появляется, когда в нём есть ученик: его задают при добавлении или импорте учеников.',
    from: 'С', to: 'По', form: 'Форма', mode: 'Вид', teacher: 'Учитель', subject: 'Предмет',
    outcome: 'Итог', show: 'Показать', exportCsv: 'Скачать CSV', when: 'Когда', topic: 'Тема',
    studentsList: 'Ученики', wait: 'Ожидание', duration: 'Длительность',
    summaryTitle: 'Отчёт о консультациях', linksTitle: 'Полезные ссылки на странице /help',
    linksHelp: 'Ссылки видны всем на публичной странице', addLink: 'Добавить ссылку',
    save: 'Сохранить', auditHelp: 'Каждое действие администрации: кто, что и когда. Журнал нельзя изменить или удалить.',
    who: 'Кто', what: 'Что', target: 'Над чем', details: 'Подробности', more: 'Показать ещё',
    yes: 'Да', newPassword: 'Новый пароль', copy: 'Копировать', copied: 'Скопировано.',
    shownOnce: 'Пароль показан один раз. Передайте его владельцу учётной записи.',
    roleAny: 'Любая', roleChoose: 'Выберите роль', classAny: 'Любой', formAny: 'Любая',
    modeAny: 'Любой', staffAny: 'Любой', subjectAny: 'Любой', outcomeAny: 'Любой',
    student: 'Ученик', teacherRole: 'Учитель', support: 'Психолог', admin: 'Администратор',
    individual: 'Индивидуальная', group: 'Групповая', frontal: 'Фронтальная',
    online: 'онлайн', offline: 'офлайн', in_progress: 'идёт', held: 'состоялась',
    deferred: 'отложена', cancelled: 'отменена', active: 'активен', inactive: 'отключён',
    resetPassword: 'Сбросить пароль', deactivate: 'Отключить', activate: 'Включить',
    resetFor: 'Сбросить пароль пользователя {login}', deactivateFor: 'Отключить {login}',
    activateFor: 'Включить {login}',
    confirmReset: 'Сбросить пароль пользователя {login}? Старый пароль перестанет работать.',
    confirmDeactivate: 'Отключить учётную запись {login}? Пользователь не сможет войти, его соединения закроются.',
    confirmActivate: 'Включить учётную запись {login}?',
    passwordFor: 'Пользователь: {login}', usersFound: 'Найдено: {n}', nobody: 'Никого не найдено.',
    created: 'Пользователь {login} создан.', createdWithPassword: 'Пользователь {login} создан. Пароль показан один раз.',
    deactivated: '{login} отключён.', activated: '{login} включён.',
    previewOk: 'Ошибок нет. Будет создано: {n}.', previewBad: 'Ошибок: {e}. Ничего не записано: исправьте файл и проверьте снова.',
    lineError: 'Строка {line}: {message}', imported: 'Импортировано: {n}.',
    notUtf8: 'Файл прочитан в кодировке Windows-1251.', emptyFile: 'Файл пуст.',
    showStudents: 'Ученики класса {class}', edit: 'Изменить', editSubject: 'Изменить предмет {code}',
    subjectSaved: 'Предмет {code} сохранён.', recordCount: 'Консультаций: {n}.',
    confidential: 'конфиденциально', none: '—', minutes: '{n} мин', seconds: '{n} с',
    exported: 'Файл CSV сохранён.', total: 'Всего: {total}; состоялось: {held}, отложено: {deferred}, отменено: {cancelled}, идёт: {in_progress}; минут: {minutes}.',
    byForm: 'По формам', byTeacher: 'По учителям', byMonth: 'По месяцам',
    tallyTotal: 'Всего', minutesCol: 'Минут', linkTitle: 'Название', linkUrl: 'Адрес (https://…)',
    up: 'Выше', down: 'Ниже', remove: 'Удалить', linkN: 'Ссылка {n}', linksSaved: 'Ссылки сохранены: {n}.',
    noEntries: 'Записей нет.', supportConfidential: 'служба сопровождения (конфиденциально)',
    failed: 'Не получилось: {message}', forbidden: 'Нет прав на это действие.',
    network: 'Нет связи с сервером.',
    'action.user.create': 'Создан пользователь', 'action.users.import': 'Импорт пользователей',
    'action.user.password_reset': 'Сброшен пароль', 'action.user.deactivate': 'Учётная запись отключена',
    'action.user.activate': 'Учётная запись включена', 'action.hours.set': 'Изменены часы консультаций',
    'action.subject.put': 'Предмет добавлен или переименован', 'action.help_links.put': 'Изменены ссылки на /help',
    'action.consultations.export': 'Выгрузка журнала консультаций (CSV)',
  },
  en: {
    skip: 'Skip to content', adminTitle: 'administration', sections: 'Sections',
    navUsers: 'Users', navClasses: 'Classes and subjects', navRecord: 'Consultation record',
    navSummary: 'Report', navLinks: 'Links on /help', navAudit: 'Audit log',
    logout: 'Sign out', loginTitle: 'Administration sign-in', login: 'Login', password: 'Password',
    signIn: 'Sign in', toClient: 'Teachers and students: go to the Konsult home page',
    notAdmin: 'Hello, {name}! This page is for the school administration. Your work in Konsult is on the home page.',
    wrongPassword: 'Wrong login or password.', expired: 'Your session has expired: please sign in again.',
    searchLabel: 'Search by login or name', role: 'Role', class: 'Class', state: 'State',
    any: 'All', activeOnly: 'Active', inactiveOnly: 'Deactivated', find: 'Search',
    name: 'Name', subjects: 'Subjects', actions: 'Actions', addUser: 'Add a user',
    fullName: 'Full name', classForStudents: 'Class (students)',
    subjectCodes: 'Subjects (codes separated by spaces, teachers)',
    passwordOptional: 'Password (empty: generate one)', create: 'Create',
    importTitle: 'Import from the electronic journal (CSV)',
    importHelp: 'A CSV file with a header: login, name, role and, when needed, class, subjects, password (separated by "," or ";"). Konsult first shows what would be created and every error by line; nothing is written until you confirm.',
    chooseFile: 'CSV file', check: 'Check', willBeCreated: 'Will be created', line: 'Line',
    importConfirm: 'Import', cancel: 'Cancel',
    passwordsOnce: 'The passwords are shown once: save them and hand them out.',
    downloadPasswords: 'Download passwords (CSV)', done: 'Done', classes: 'Classes',
    students: 'Students', subjectsTitle: 'Subjects', code: 'Code', subjectName: 'Name',
    staff: 'Taught by', saveSubject: 'Add or rename',
    classesHelp: 'A class exists once it has a student: set it when adding or importing students.',
    from: 'From', to: 'To', form: 'Form', mode: 'Mode', teacher: 'Teacher', subject: 'Subject',
    outcome: 'Outcome', show: 'Show', exportCsv: 'Download CSV', when: 'When', topic: 'Topic',
    studentsList: 'Students', wait: 'Wait', duration: 'Duration',
    summaryTitle: 'Consultation report', linksTitle: 'Useful links on the /help page',
    linksHelp: 'Everyone sees these links on the public page', addLink: 'Add a link',
    save: 'Save', auditHelp: 'Every action of the administration: who, what and when. Nobody can edit or delete it.',
    who: 'Who', what: 'What', target: 'Target', details: 'Details', more: 'Show more',
    yes: 'Yes', newPassword: 'New password', copy: 'Copy', copied: 'Copied.',
    shownOnce: 'The password is shown once. Hand it to the account\'s owner.',
    roleAny: 'Any', roleChoose: 'Choose a role', classAny: 'Any', formAny: 'Any',
    modeAny: 'Any', staffAny: 'Anyone', subjectAny: 'Any', outcomeAny: 'Any',
    student: 'Student', teacherRole: 'Teacher', support: 'Psychologist', admin: 'Administrator',
    individual: 'Individual', group: 'Group', frontal: 'Whole class',
    online: 'online', offline: 'offline', in_progress: 'in progress', held: 'held',
    deferred: 'deferred', cancelled: 'cancelled', active: 'active', inactive: 'deactivated',
    resetPassword: 'Reset password', deactivate: 'Deactivate', activate: 'Activate',
    resetFor: 'Reset the password of {login}', deactivateFor: 'Deactivate {login}',
    activateFor: 'Activate {login}',
    confirmReset: 'Reset the password of {login}? The old password stops working.',
    confirmDeactivate: 'Deactivate {login}? They cannot sign in and their connections close.',
    confirmActivate: 'Activate {login}?',
    passwordFor: 'User: {login}', usersFound: 'Found: {n}', nobody: 'Nobody found.',
    created: 'User {login} created.', createdWithPassword: 'User {login} created. The password is shown once.',
    deactivated: '{login} deactivated.', activated: '{login} activated.',
    previewOk: 'No errors. To be created: {n}.', previewBad: 'Errors: {e}. Nothing was written: fix the file and check it again.',
    lineError: 'Line {line}: {message}', imported: 'Imported: {n}.',
    notUtf8: 'The file was read as Windows-1251.', emptyFile: 'The file is empty.',
    showStudents: 'Students of {class}', edit: 'Edit', editSubject: 'Edit subject {code}',
    subjectSaved: 'Subject {code} saved.', recordCount: 'Consultations: {n}.',
    confidential: 'confidential', none: '—', minutes: '{n} min', seconds: '{n} s',
    exported: 'CSV file saved.', total: 'Total: {total}; held: {held}, deferred: {deferred}, cancelled: {cancelled}, in progress: {in_progress}; minutes: {minutes}.',
    byForm: 'By form', byTeacher: 'By teacher', byMonth: 'By month',
    tallyTotal: 'Total', minutesCol: 'Minutes', linkTitle: 'Title', linkUrl: 'Address (https://…)',
    up: 'Up', down: 'Down', remove: 'Remove', linkN: 'Link {n}', linksSaved: 'Links saved: {n}.',
    noEntries: 'No entries.', supportConfidential: 'support service (confidential)',
    failed: 'That did not work: {message}', forbidden: 'You may not do this.',
    network: 'The server cannot be reached.',
    'action.user.create': 'User created', 'action.users.import': 'Users imported',
    'action.user.password_reset': 'Password reset', 'action.user.deactivate': 'Account deactivated',
    'action.user.activate': 'Account activated', 'action.hours.set': 'Consultation hours changed',
    'action.subject.put': 'Subject added or renamed', 'action.help_links.put': 'Links on /help changed',
    'action.consultations.export': 'Consultation record exported (CSV)',
  },
};

const ROLE_WORD = { student: 'student', teacher: 'teacherRole', support: 'support', admin: 'admin' };

const state = {
  lang: localStorage.getItem(LANG_KEY) === 'en' ? 'en' : 'ru',
  token: sessionStorage.getItem(TOKEN_KEY),
  view: null,
  classes: [],
  subjects: [],
  staff: [],
  users: [],
  importText: null,
  importPasswords: [],
  links: [],
  auditBefore: null,
};

const $ = (selector) => document.querySelector(selector);

/// A word in the current language, with `{name}` holes filled from `vars`.
function t(key, vars = {}) {
  const text = WORDS[state.lang][key] ?? WORDS.ru[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ''));
}

/// Builds an element: `el('td', {class: 'x'}, 'text', child)`; text is never parsed as HTML.
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, '');
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function say(text) {
  const status = $('#status');
  status.textContent = '';
  // A fresh text node makes screen readers announce a repeated message too.
  requestAnimationFrame(() => { status.textContent = text; });
}

class ApiFailure extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/// Calls the HTTP API with the admin's token. A string body is sent as CSV, anything else as JSON.
async function api(method, path, body, { accept } = {}) {
  const headers = {};
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (accept) headers.Accept = accept;
  let payload;
  if (typeof body === 'string') {
    headers['Content-Type'] = 'text/csv; charset=utf-8';
    payload = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload });
  } catch {
    throw new ApiFailure(0, 'unavailable', t('network'));
  }
  if (!response.ok) {
    let data = {};
    try { data = await response.json(); } catch { /* not JSON */ }
    if (response.status === 401 && path !== '/api/login') {
      signOut(t('expired'));
    }
    throw new ApiFailure(response.status, data.code ?? 'internal', data.message ?? response.statusText);
  }
  return accept === 'text/csv' ? response.blob() : response.json();
}

/// The words for a failed call, for an error line or the status line.
function failure(error) {
  if (error.code === 'forbidden') return t('forbidden');
  return t('failed', { message: error.message });
}

function reportTo(target) {
  return (error) => {
    if (target) target.textContent = failure(error);
    else say(failure(error));
  };
}

// ---------------------------------------------------------------- language

function applyLanguage() {
  document.documentElement.lang = state.lang;
  document.title = `Konsult — ${t('adminTitle')}`;
  for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll('[data-i18n-label]')) {
    node.setAttribute('aria-label', t(node.dataset.i18nLabel));
  }
  const switcher = $('#lang');
  switcher.textContent = state.lang === 'ru' ? 'English' : 'Русский';
  switcher.lang = state.lang === 'ru' ? 'en' : 'ru';
  fillSelects();
}

function switchLanguage() {
  state.lang = state.lang === 'ru' ? 'en' : 'ru';
  localStorage.setItem(LANG_KEY, state.lang);
  applyLanguage();
  if (state.view && state.view !== 'login') render(state.view);
}

// ---------------------------------------------------------------- select options

function optionLists() {
  return {
    roles: [['', t('roleAny')], ...Object.keys(ROLE_WORD).map((r) => [r, t(ROLE_WORD[r])])],
    rolesRequired: [['', t('roleChoose')], ...Object.keys(ROLE_WORD).map((r) => [r, t(ROLE_WORD[r])])],
    classes: [['', t('classAny')], ...state.classes.map((c) => [c.class, c.class])],
    forms: [['', t('formAny')], ...['individual', 'group', 'frontal'].map((f) => [f, t(f)])],
    modes: [['', t('modeAny')], ...['online', 'offline'].map((m) => [m, t(m)])],
    staff: [['', t('staffAny')], ...state.staff.map((u) => [u.login, `${u.name} (${u.login})`])],
    subjects: [['', t('subjectAny')], ...state.subjects.map((s) => [s.code, s.name])],
    outcomes: [['', t('outcomeAny')], ...['held', 'in_progress', 'deferred', 'cancelled'].map((o) => [o, t(o)])],
  };
}

/// Fills every `<select data-options=...>`, keeping what was chosen.
function fillSelects() {
  const lists = optionLists();
  for (const select of document.querySelectorAll('select[data-options]')) {
    const chosen = select.value;
    select.replaceChildren(...lists[select.dataset.options].map(([value, label]) => el('option', { value }, label)));
    if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
  }
  $('#new-role').required = true;
}

/// Classes, subjects and staff, for the filters.
async function loadDirectories() {
  const [classes, subjects, staff] = await Promise.all([
    api('GET', '/api/admin/classes'),
    api('GET', '/api/admin/subjects'),
    api('GET', '/api/admin/users?role=teacher'),
  ]);
  const support = await api('GET', '/api/admin/users?role=support');
  state.classes = classes.classes;
  state.subjects = subjects.subjects;
  state.staff = [...staff.users, ...support.users].sort((a, b) => a.name.localeCompare(b.name));
  fillSelects();
}

// ---------------------------------------------------------------- sign-in and navigation

function showOnly(view) {
  for (const section of document.querySelectorAll('.view')) section.hidden = section.id !== `view-${view}`;
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.dataset.view === view) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  state.view = view;
}

function signOut(message) {
  state.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  $('#nav').hidden = true;
  $('#logout').hidden = true;
  showOnly('login');
  $('#login-error').textContent = message ?? '';
  $('#login-login').focus();
}

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  const error = $('#login-error');
  error.textContent = '';
  const body = { login: form.elements.login.value.trim(), password: form.elements.password.value };
  let answer;
  try {
    answer = await api('POST', '/api/login', body);
  } catch (e) {
    error.textContent = e.code === 'unauthorized' ? t('wrongPassword') : failure(e);
    return;
  }
  form.elements.password.value = '';
  if (answer.user.role !== 'admin') {
    error.textContent = t('notAdmin', { name: answer.user.name });
    return;
  }
  state.token = answer.token;
  sessionStorage.setItem(TOKEN_KEY, answer.token);
  await enter();
}

/// Opens the screens once a token is known; a token that no longer works leads back to sign-in.
async function enter() {
  try {
    await loadDirectories();
  } catch (e) {
    if (e.status !== 401) signOut(failure(e));
    return;
  }
  $('#nav').hidden = false;
  $('#logout').hidden = false;
  const wanted = location.hash.slice(1);
  const view = VIEWS[wanted] ? wanted : 'users';
  if (location.hash !== `#${view}`) history.replaceState(null, '', `#${view}`);
  await open(view);
}

async function open(view) {
  showOnly(view);
  await render(view);
  $(`#view-${view} h1`).focus();
}

async function render(view) {
  try {
    await VIEWS[view]();
  } catch (e) {
    if (e instanceof ApiFailure) say(failure(e));
    else throw e;
  }
}

const VIEWS = {
  users: renderUsers,
  classes: renderClasses,
  record: renderRecord,
  summary: renderSummary,
  links: renderLinks,
  audit: renderAudit,
};

// ---------------------------------------------------------------- dialogs

/// Asks a yes/no question in a modal dialog; resolves to true for yes.
function confirmAction(text) {
  const dialog = $('#confirm');
  $('#confirm-text').textContent = text;
  dialog.returnValue = '';
  dialog.showModal();
  $('#confirm-no').focus();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'yes'), { once: true });
  });
}

/// Shows a password once, in a modal dialog.
function showSecret(login, password) {
  const dialog = $('#secret');
  $('#secret-who').textContent = t('passwordFor', { login });
  $('#secret-value').textContent = password;
  dialog.showModal();
  $('#secret-close').focus();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      $('#secret-value').textContent = '';
      resolve();
    }, { once: true });
  });
}

async function copySecret() {
  try {
    await navigator.clipboard.writeText($('#secret-value').textContent);
    say(t('copied'));
  } catch {
    const range = document.createRange();
    range.selectNodeContents($('#secret-value'));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
  }
}

// ---------------------------------------------------------------- users

function roleName(role) {
  return t(ROLE_WORD[role] ?? role);
}

function subjectName(code) {
  return state.subjects.find((s) => s.code === code)?.name ?? code;
}

async function renderUsers() {
  const form = $('#users-search');
  const query = new URLSearchParams();
  for (const name of ['q', 'role', 'class', 'active']) {
    const value = form.elements[name].value.trim();
    if (value) query.set(name, value);
  }
  const { users } = await api('GET', `/api/admin/users?${query}`);
  state.users = users;
  $('#users-count').textContent = users.length ? t('usersFound', { n: users.length }) : t('nobody');
  $('#users-table tbody').replaceChildren(...users.map(userRow));
}

function userRow(user) {
  const toggle = user.active
    ? el('button', { type: 'button', class: 'danger', 'aria-label': t('deactivateFor', { login: user.login }), onclick: () => toggleActive(user) }, t('deactivate'))
    : el('button', { type: 'button', 'aria-label': t('activateFor', { login: user.login }), onclick: () => toggleActive(user) }, t('activate'));
  return el('tr', { 'data-login': user.login, class: user.active ? null : 'inactive' },
    el('td', {}, el('code', {}, user.login)),
    el('td', {}, user.name),
    el('td', {}, roleName(user.role)),
    el('td', {}, user.class ?? ''),
    el('td', {}, user.subjects.map(subjectName).join(', ')),
    el('td', {}, user.active ? t('active') : t('inactive')),
    el('td', { class: 'row-actions' },
      el('button', { type: 'button', 'aria-label': t('resetFor', { login: user.login }), onclick: () => resetPassword(user) }, t('resetPassword')),
      toggle));
}

async function resetPassword(user) {
  if (!await confirmAction(t('confirmReset', { login: user.login }))) return;
  try {
    const answer = await api('POST', `/api/admin/users/${user.id}/password`);
    await showSecret(answer.login, answer.password);
  } catch (e) {
    say(failure(e));
  }
}

async function toggleActive(user) {
  const activate = !user.active;
  const question = activate ? 'confirmActivate' : 'confirmDeactivate';
  if (!await confirmAction(t(question, { login: user.login }))) return;
  try {
    await api('POST', `/api/admin/users/${user.id}/${activate ? 'activate' : 'deactivate'}`);
    say(t(activate ? 'activated' : 'deactivated', { login: user.login }));
    await renderUsers();
    $(`#users-table tr[data-login="${CSS.escape(user.login)}"] .row-actions button:last-child`)?.focus();
  } catch (e) {
    say(failure(e));
  }
}

async function addUser(event) {
  event.preventDefault();
  const form = event.target;
  const error = $('#add-user-error');
  error.textContent = '';
  const body = {
    login: form.elements.login.value.trim(),
    name: form.elements.name.value.trim(),
    role: form.elements.role.value,
    class: form.elements.class.value.trim() || null,
    subjects: form.elements.subjects.value.split(/[\s,;]+/).filter(Boolean),
    password: form.elements.password.value || null,
  };
  try {
    const answer = await api('POST', '/api/admin/users', body);
    form.reset();
    if (answer.password) {
      say(t('createdWithPassword', { login: answer.user.login }));
      await showSecret(answer.user.login, answer.password);
    } else {
      say(t('created', { login: answer.user.login }));
    }
    await loadDirectories();
    await renderUsers();
  } catch (e) {
    error.textContent = failure(e);
  }
}

// ---------------------------------------------------------------- import

/// Reads the chosen file as text: UTF-8, or Windows-1251 as older journals export it.
async function readCsv(file) {
  const bytes = await file.arrayBuffer();
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), legacy: false };
  } catch {
    return { text: new TextDecoder('windows-1251').decode(bytes), legacy: true };
  }
}

async function previewImport(event) {
  event.preventDefault();
  const file = $('#import-file').files[0];
  if (!file) return;
  $('#import-done').hidden = true;
  const { text, legacy } = await readCsv(file);
  if (!text.trim()) {
    say(t('emptyFile'));
    return;
  }
  let preview;
  try {
    preview = await api('POST', '/api/admin/users/import?dry_run=true', text);
  } catch (e) {
    say(failure(e));
    return;
  }
  state.importText = preview.ok ? text : null;
  const summary = preview.ok
    ? t('previewOk', { n: preview.rows.length })
    : t('previewBad', { e: preview.errors.length });
  $('#import-summary').textContent = legacy ? `${t('notUtf8')} ${summary}` : summary;
  $('#import-summary').className = preview.ok ? 'ok' : 'error';
  $('#import-errors').replaceChildren(...preview.errors.map((e) =>
    el('li', { 'data-line': e.line }, t('lineError', { line: e.line, message: e.message }))));
  $('#import-rows tbody').replaceChildren(...preview.rows.map((r) => el('tr', {},
    el('td', {}, r.line), el('td', {}, el('code', {}, r.login)), el('td', {}, r.name),
    el('td', {}, roleName(r.role)), el('td', {}, r.class ?? ''),
    el('td', {}, r.subjects.map(subjectName).join(', ')))));
  $('#import-confirm').disabled = !preview.ok;
  $('#import-preview').hidden = false;
  $('#import-summary').focus();
}

async function confirmImport() {
  if (!state.importText) return;
  try {
    const answer = await api('POST', '/api/admin/users/import', state.importText);
    state.importText = null;
    state.importPasswords = answer.passwords;
    $('#import-preview').hidden = true;
    $('#import-form').reset();
    $('#import-done-text').textContent = t('imported', { n: answer.created });
    $('#import-passwords tbody').replaceChildren(...answer.passwords.map((p) =>
      el('tr', {}, el('td', {}, el('code', {}, p.login)), el('td', {}, el('code', {}, p.password)))));
    $('#import-passwords').hidden = answer.passwords.length === 0;
    $('#import-download').hidden = answer.passwords.length === 0;
    $('#import-done').hidden = false;
    say(t('imported', { n: answer.created }));
    await loadDirectories();
    await renderUsers();
    $('#import-download').focus();
  } catch (e) {
    say(failure(e));
  }
}

function cancelImport() {
  state.importText = null;
  $('#import-preview').hidden = true;
  $('#import-form').reset();
  $('#import-file').focus();
}

function closeImport() {
  state.importPasswords = [];
  $('#import-passwords tbody').replaceChildren();
  $('#import-done').hidden = true;
  $('#import-file').focus();
}

function csvCell(value) {
  const text = String(value ?? '');
  return /[",;\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/// Saves a file the browser made, through a temporary link.
function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = el('a', { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function downloadPasswords() {
  const lines = ['login,password', ...state.importPasswords.map((p) => `${csvCell(p.login)},${csvCell(p.password)}`)];
  download(new Blob([`${lines.join('\r\n')}\r\n`], { type: 'text/csv;charset=utf-8' }), 'konsult-passwords.csv');
}

// ---------------------------------------------------------------- classes and subjects

async function renderClasses() {
  await loadDirectories();
  $('#classes-table tbody').replaceChildren(...state.classes.map((c) => el('tr', {},
    el('th', { scope: 'row' }, c.class),
    el('td', {}, c.students),
    el('td', {}, el('button', { type: 'button', onclick: () => showClass(c.class) }, t('showStudents', { class: c.class }))))));
  $('#subjects-table tbody').replaceChildren(...state.subjects.map((s) => el('tr', { 'data-code': s.code },
    el('td', {}, el('code', {}, s.code)),
    el('td', {}, s.name),
    el('td', {}, s.staff),
    el('td', {}, el('button', { type: 'button', 'aria-label': t('editSubject', { code: s.code }), onclick: () => editSubject(s) }, t('edit'))))));
}

async function showClass(name) {
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
    say(t('subjectSaved', { code }));
    await renderClasses();
  } catch (e) {
    error.textContent = failure(e);
  }
}

// ---------------------------------------------------------------- the record

function recordQuery(form) {
  const query = new URLSearchParams();
  for (const field of form.elements) {
    if (field.name && field.value.trim()) query.set(field.name, field.value.trim());
  }
  return query;
}

function when(iso) {
  // The server gives times in the school's zone: show them as they are.
  return iso ? iso.slice(0, 16).replace('T', ' ') : t('none');
}

function span(secs) {
  if (secs === null || secs === undefined) return t('none');
  return secs >= 60 ? t('minutes', { n: Math.round(secs / 60) }) : t('seconds', { n: secs });
}

async function renderRecord() {
  const query = recordQuery($('#record-filters'));
  const { consultations } = await api('GET', `/api/consultations?${query}`);
  $('#record-count').textContent = t('recordCount', { n: consultations.length });
  $('#record-table tbody').replaceChildren(...consultations.map((c) => {
    const hidden = c.confidential ? el('em', {}, t('confidential')) : null;
    return el('tr', { 'data-id': c.id, 'data-outcome': c.outcome },
      el('td', {}, when(c.started_at ?? c.requested_at)),
      el('td', {}, `${t(c.form)}, ${t(c.mode)}`),
      el('td', {}, hidden ?? subjectName(c.subject)),
      el('td', {}, hidden ?? c.topic ?? ''),
      el('td', {}, hidden ?? c.staff ?? t('none')),
      el('td', {}, hidden ?? c.students.join(', ')),
      el('td', {}, span(c.wait_secs)),
      el('td', {}, span(c.duration_secs)),
      el('td', {}, t(c.outcome)));
  }));
}

async function exportRecord() {
  const form = $('#record-filters');
  const query = recordQuery(form);
  try {
    const blob = await api('GET', `/api/consultations?${query}`, undefined, { accept: 'text/csv' });
    const range = [form.elements.from.value, form.elements.to.value].filter(Boolean).join('_') || 'all';
    download(blob, `konsult-consultations-${range}.csv`);
    say(t('exported'));
  } catch (e) {
    say(failure(e));
  }
}

// ---------------------------------------------------------------- the summary

function tallyKey(kind, key) {
  if (kind === 'by_form') {
    const [form, mode] = key.split(' ');
    return `${t(form)}, ${t(mode)}`;
  }
  if (kind === 'by_teacher' && key === 'support (confidential)') return t('supportConfidential');
  return key === '-' ? t('none') : key;
}

function tallyTable(kind, title, tallies) {
  const head = ['tallyTotal', 'held', 'deferred', 'cancelled', 'in_progress', 'minutesCol'];
  return el('section', { class: 'tally', 'data-kind': kind },
    el('h2', {}, title),
    el('div', { class: 'table-wrap' }, el('table', {},
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, title), head.map((h) => el('th', { scope: 'col' }, t(h))))),
      el('tbody', {}, tallies.map((row) => el('tr', {},
        el('th', { scope: 'row' }, tallyKey(kind, row.key)),
        [row.total, row.held, row.deferred, row.cancelled, row.in_progress, row.minutes].map((n) => el('td', {}, n))))))));
}

async function renderSummary() {
  const query = recordQuery($('#summary-filters'));
  const summary = await api('GET', `/api/consultations/summary?${query}`);
  $('#summary-total').textContent = t('total', summary.total);
  $('#summary-tables').replaceChildren(
    tallyTable('by_form', t('byForm'), summary.by_form),
    tallyTable('by_teacher', t('byTeacher'), summary.by_teacher),
    tallyTable('by_month', t('byMonth'), summary.by_month));
}

// ---------------------------------------------------------------- links on /help

/// Keeps what was typed into the link rows before they are redrawn.
function readLinks() {
  return [...document.querySelectorAll('#links-list li')].map((li) => ({
    title: li.querySelector('[name=title]').value,
    url: li.querySelector('[name=url]').value,
  }));
}

function drawLinks(focus) {
  const rows = state.links.map((link, i) => {
    const n = i + 1;
    const move = (to) => () => {
      state.links = readLinks();
      const [moved] = state.links.splice(i, 1);
      state.links.splice(to, 0, moved);
      drawLinks(`#link-${to}-${to < i ? 'up' : 'down'}`);
    };
    return el('li', {},
      el('fieldset', {},
        el('legend', {}, t('linkN', { n })),
        el('div', { class: 'field' }, el('label', { for: `link-${i}-title` }, t('linkTitle')),
          el('input', { id: `link-${i}-title`, name: 'title', value: link.title, required: true, maxlength: 200 })),
        el('div', { class: 'field grow' }, el('label', { for: `link-${i}-url` }, t('linkUrl')),
          el('input', { id: `link-${i}-url`, name: 'url', type: 'url', value: link.url, required: true, maxlength: 2000, pattern: 'https?://.+' })),
        el('div', { class: 'row-actions' },
          el('button', { type: 'button', id: `link-${i}-up`, disabled: i === 0, 'aria-label': `${t('up')}: ${t('linkN', { n })}`, onclick: move(i - 1) }, '↑'),
          el('button', { type: 'button', id: `link-${i}-down`, disabled: i === state.links.length - 1, 'aria-label': `${t('down')}: ${t('linkN', { n })}`, onclick: move(i + 1) }, '↓'),
          el('button', {
            type: 'button', class: 'danger', 'aria-label': `${t('remove')}: ${t('linkN', { n })}`,
            onclick: () => {
              state.links = readLinks();
              state.links.splice(i, 1);
              drawLinks('#link-add');
            },
          }, t('remove')))));
  });
  $('#links-list').replaceChildren(...rows);
  const target = focus ? $(focus) : null;
  if (target?.disabled) target.closest('fieldset').querySelector('input').focus();
  else target?.focus();
}

async function renderLinks() {
  const { links } = await api('GET', '/api/admin/help-links');
  state.links = links;
  $('#links-error').textContent = '';
  drawLinks();
}

function addLink() {
  state.links = [...readLinks(), { title: '', url: 'https://' }];
  drawLinks(`#link-${state.links.length - 1}-title`);
}

async function saveLinks(event) {
  event.preventDefault();
  const links = readLinks().map((l) => ({ title: l.title.trim(), url: l.url.trim() }));
  const error = $('#links-error');
  error.textContent = '';
  try {
    const answer = await api('PUT', '/api/admin/help-links', links);
    state.links = answer.links;
    drawLinks();
    say(t('linksSaved', { n: answer.links.length }));
  } catch (e) {
    error.textContent = failure(e);
  }
}

// ---------------------------------------------------------------- the audit log

const AUDIT_PAGE = 100;

function auditRow(entry) {
  const details = entry.details && Object.keys(entry.details).length ? JSON.stringify(entry.details) : '';
  return el('tr', { 'data-action': entry.action },
    el('td', {}, new Date(entry.ts).toLocaleString(state.lang === 'ru' ? 'ru-RU' : 'en-GB')),
    el('td', {}, entry.actor_login ?? t('none')),
    el('td', {}, WORDS[state.lang][`action.${entry.action}`] ?? '', ' ', el('code', {}, entry.action)),
    el('td', {}, entry.target ?? ''),
    el('td', {}, details ? el('code', { class: 'details' }, details) : ''));
}

async function renderAudit(more = false) {
  const query = new URLSearchParams({ limit: AUDIT_PAGE });
  if (more && state.auditBefore) query.set('before', state.auditBefore);
  const { entries } = await api('GET', `/api/admin/audit?${query}`);
  const body = $('#audit-table tbody');
  const rows = entries.map(auditRow);
  if (more) body.append(...rows);
  else body.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 5 }, t('noEntries')))]));
  state.auditBefore = entries.length ? entries[entries.length - 1].id : null;
  $('#audit-more').hidden = entries.length < AUDIT_PAGE;
}

// ---------------------------------------------------------------- wiring

function wire() {
  $('#lang').addEventListener('click', switchLanguage);
  $('#logout').addEventListener('click', () => signOut());
  $('#login-form').addEventListener('submit', signIn);
  $('#users-search').addEventListener('submit', (e) => { e.preventDefault(); render('users'); });
  $('#add-user-form').addEventListener('submit', addUser);
  $('#import-form').addEventListener('submit', previewImport);
  $('#import-confirm').addEventListener('click', confirmImport);
  $('#import-cancel').addEventListener('click', cancelImport);
  $('#import-download').addEventListener('click', downloadPasswords);
  $('#import-close').addEventListener('click', closeImport);
  $('#subject-form').addEventListener('submit', saveSubject);
  $('#record-filters').addEventListener('submit', (e) => { e.preventDefault(); render('record'); });
  $('#record-csv').addEventListener('click', exportRecord);
  $('#summary-filters').addEventListener('submit', (e) => { e.preventDefault(); render('summary'); });
  $('#link-add').addEventListener('click', addLink);
  $('#links-form').addEventListener('submit', saveLinks);
  $('#audit-more').addEventListener('click', () => renderAudit(true).catch(reportTo()));
  $('#secret-copy').addEventListener('click', copySecret);
  $('#import-summary').tabIndex = -1;
  window.addEventListener('hashchange', () => {
    const view = location.hash.slice(1);
    if (state.token && VIEWS[view]) open(view);
  });
}

wire();
applyLanguage();
if (state.token) {
  enter();
} else {
  signOut();
}
